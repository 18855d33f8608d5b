"""Quickstart: a linear kernel-2 convolution learns 1D periodic advection at CFL -0.75.

The data are exact (Fourier-spectral) advection trajectories on N = 30 periodic points shifting by
CFL = -0.75 cells per step (the custom scenario ``periodic_advection``): 20 trajectories of 100 snapshots
(99 steps) from zero-mean truncated Fourier series with wavenumbers 1..5 (uniform amplitudes in [-1, 1],
uniform phases). A bias-free kernel-2 convolution on (center, right) with periodic wrap
(``Stencil;2;right``, init seed 73) is trained with Supervised rollout 1, 5 and 20 (Adam 1e-2, 1000
steps, batch 32, shuffle seed 42); the distance of the learned weights to the upwind stencil
(1 + CFL, -CFL) = (0.25, 0.75) shrinks as the rollout grows. Each rollout is one run, the variant
``rollout_<R>`` (default ``rollout_1``), optionally followed by ``,quick`` (8 trajectories of 50 steps):

    python pipelines/train.py --config=configs/quickstart.py:rollout_5 --workdir=workdir/quickstart_5

The notebook ``colab/03_quickstart.ipynb`` trains all three with ``emutrain.experiment.train_and_evaluate``
and compares the distances with those of the reference implementation (``REFERENCE_DISTANCES``).
"""

import ml_collections

from emutrain.config_files import run_variant
from emutrain.schema import default_config, scenario_config

ROLLOUTS = (1, 5, 20)
# distances of the reference implementation (same problem, its own initialisation and data)
REFERENCE_DISTANCES = (0.033, 0.025, 0.017)


def _parse_variant(variant: str | None) -> tuple[int, bool]:
    valid = [f"rollout_{r}" for r in ROLLOUTS]
    run, quick = run_variant(variant, valid, default=valid[0])
    return int(run.split("_")[1]), quick


def get_config(variant: str | None = None) -> ml_collections.ConfigDict:
    """The run of one rollout length (see the module docstring)."""
    rollout, quick = _parse_variant(variant)
    config = default_config()
    config.scenario = scenario_config(
        "periodic_advection",
        num_points=30,
        cfl=-0.75,
        ic_cutoff=5,
        ic_amplitude_range=(-1.0, 1.0),
        num_train_samples=8 if quick else 20,
        train_temporal_horizon=50 if quick else 99,
        train_seed=0,
        num_test_samples=4,
        test_temporal_horizon=50,
        test_seed=1,
        optim_config="adam;1_000;constant;1e-2",
        batch_size=32,
    )
    config.network = "Stencil;2;right"  # bias-free, (center, right), periodic wrap
    config.seed = 73
    config.method = f"sup;{rollout}"
    config.train.data_seed = 42
    config.train.log_every = 100
    config.train.checkpoint_every = 1_000
    config.train.tensorboard = False
    config.train.progress_bar = not quick
    config.eval.every = 1_000
    return config
