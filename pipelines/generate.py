"""Generates the train/test datasets of an experiment config and plots a few trajectories:
`python pipelines/generate.py [--config=PATH_OR_NAME[:variant]] [--workdir=DIR]`, the same as
`emutrain generate` (see `emutrain.cli`)."""

import sys

from emutrain.cli import main

if __name__ == "__main__":
    main([sys.argv[0], "generate", *sys.argv[1:]])
