"""Datasets of the default experiment (`configs/default.py`): scenario `diff_adv`, advection difficulty
-6.5 on 48 points, 40 training trajectories of 50 steps (seed 773) and 30 test trajectories of 200 steps
(seed 774), initial conditions from a truncated Fourier series scaled to max |u| = 1.

`pipelines/generate.py` accepts any experiment config and writes exactly the datasets training reads
(`Scenario.dataset`); this file is its default:

    python pipelines/generate.py --config=configs/generate.py --workdir=workdir/datasets

and a smoke run (8 + 4 trajectories of 50 and 20 steps) with:

    python pipelines/generate.py --config=configs/generate.py:quick --workdir=/tmp/generate_quick

Any field can be overridden, e.g. ``--config.scenario.overrides.num_train_samples=80``; training reuses
the datasets with ``--config.dataset_dir=workdir/datasets``.
"""

import ml_collections

from emutrain.config_files import load_config


def get_config(variant: str | None = None) -> ml_collections.ConfigDict:
    """`configs/default.py`'s config (``variant="quick"``: its quick variant)."""
    return load_config("default", variant)
