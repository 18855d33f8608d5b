"""Trains the experiment of a config file: `python pipelines/train.py [--config=configs/x.py[:variant]]
[--workdir=DIR]` (defaults: `configs/default.py`, `workdir/default`). Relative paths (the config file,
the workdir, `config.data_dir`, `config.dataset_dir`) are relative to the repository, wherever the job
is started from. Re-running with the same workdir resumes from its latest checkpoint and reuses the
datasets generated under `<workdir>/datasets` (or `config.dataset_dir`). E.g. one run of the
correction-learning study:

    python pipelines/train.py --config=configs/correction_learning.py:corrector_one_step \
        --workdir=workdir/correction_learning/corrector_one_step

Any scenario x architecture x training method x task (`configs/scenario.py`; quote the argument, since
`;` separates commands in a shell):

    python pipelines/train.py '--config=configs/scenario.py:diff_ks,Res;26;8;relu,sup;5' --workdir=workdir/ks
    python pipelines/train.py '--config=configs/scenario.py:diff_adv,Conv;34;10;relu,div;3,correct;sequential'
"""

import os

from absl import app, flags
from ml_collections import config_flags

from emutrain.experiment import train_and_evaluate
from emutrain.train.distributed import parse_flags

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
    os.chdir(_ROOT)  # relative paths of flags and config fields are relative to the repository
    app.run(main, flags_parser=parse_flags)
