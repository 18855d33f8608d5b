"""Trains the experiment of a config: `python pipelines/train.py [--config=PATH_OR_NAME[:variant]]
[--workdir=DIR]`, the same as `emutrain train` (see `emutrain.cli`)."""

import sys

from emutrain.cli import main

if __name__ == "__main__":
    main([sys.argv[0], "train", *sys.argv[1:]])
