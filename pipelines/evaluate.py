"""Evaluates the latest checkpoint of a training run on its test set: `python pipelines/evaluate.py
--workdir=DIR [--config=PATH_OR_NAME[:variant]]`, the same as `emutrain evaluate` (see `emutrain.cli`)."""

import sys

from emutrain.cli import main
from emutrain.cli.evaluate import evaluate_checkpoint, stored_config  # noqa: F401  (for scripts that load this file)

if __name__ == "__main__":
    main([sys.argv[0], "evaluate", *sys.argv[1:]])
