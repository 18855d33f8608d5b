"""Runs a study (scenarios x tasks x networks x methods x seeds) and writes its tables and plots:
`python pipelines/study.py --config=configs/studies/apebench_1d.py[:quick] --workdir=DIR`. Running it
again with the same workdir skips the finished runs and resumes an interrupted one.
"""

from absl import app, flags
from ml_collections import config_flags

from emutrain.study import run_study

config_flags.DEFINE_config_file("config", None, "Study config file.", lock_config=True)
flags.DEFINE_string("workdir", None, "Study directory.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    run_study(flags.FLAGS.config, flags.FLAGS.workdir)


if __name__ == "__main__":
    app.run(main)
