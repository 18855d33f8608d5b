"""Trains the experiment of a config file: `python pipelines/train.py [--config=configs/x.py[:variant]]
[--workdir=DIR]` (defaults: `configs/default.py`, `workdir/default`). Re-running with the same workdir
resumes from its latest checkpoint. E.g. one run of the correction-learning study:

    python pipelines/train.py --config=configs/correction_learning.py:corrector_one_step \
        --workdir=workdir/correction_learning/corrector_one_step
"""

import os

from absl import app, flags
from ml_collections import config_flags

from emutrain.experiment import train_and_evaluate

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
config_flags.DEFINE_config_file(
    "config", os.path.join(_ROOT, "configs", "default.py"), "Experiment config file.", lock_config=True
)
flags.DEFINE_string("workdir", os.path.join("workdir", "default"), "Run directory.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    train_and_evaluate(flags.FLAGS.config, flags.FLAGS.workdir)


if __name__ == "__main__":
    app.run(main)
