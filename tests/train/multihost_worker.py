"""Subprocess entry of the multi-process tests: `pipelines/train.py` (same flags) that also writes what
`train_and_evaluate` returned as JSON.

Usage: python multihost_worker.py --out=OUT_JSON [--config=...] [--workdir=...] [--config.distributed.*=...]

OUT_JSON: `{"process_index", "process_count", "device_count", "losses", "first_step", "last_step",
"preempted"}`; `losses` are the per-step losses of this run (`result.losses`).
"""

import json
import os

import jax
from absl import app, flags
from ml_collections import config_flags

from emutrain.experiment import train_and_evaluate
from emutrain.train.distributed import parse_flags

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
config_flags.DEFINE_config_file("config", os.path.join(_ROOT, "configs", "default.py"), "Experiment config.")
flags.DEFINE_string("workdir", None, "Run directory.", required=True)
flags.DEFINE_string("out", None, "Where the JSON report goes.", required=True)


def main(argv):
    del argv
    result = train_and_evaluate(flags.FLAGS.config, flags.FLAGS.workdir)
    report = {
        "process_index": jax.process_index(),
        "process_count": jax.process_count(),
        "device_count": jax.device_count(),
        "losses": result.losses.tolist(),
        "first_step": result.first_step,
        "last_step": result.first_step + len(result.losses) - 1,
        "preempted": result.preempted,
    }
    with open(flags.FLAGS.out, "w") as file:
        json.dump(report, file)


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
