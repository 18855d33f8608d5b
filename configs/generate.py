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

import importlib.util
import os

import ml_collections


def get_config(variant: str | None = None) -> ml_collections.ConfigDict:
    """`configs/default.py`'s config (``variant="quick"``: its quick variant) with the number of plotted
    trajectories of the generation pipeline."""
    if variant not in (None, "", "quick"):
        raise ValueError(f"variant must be None or 'quick', got {variant!r}")
    # configs/default.py, loaded by path: config files are not a package.
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "default.py")
    spec = importlib.util.spec_from_file_location("emutrain_default_config", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = module.get_config(variant)
    config.num_plotted_trajectories = 3
    return config
