"""Learning the first-order upwind (FOU) stencil with a linear kernel-2 convolution (1D, Dirichlet).

1D advection ``u_t + c u_x = 0`` with c = -0.1 on [0, 1] with homogeneous Dirichlet boundaries, 40 interior
points (dx = 1/41), dt = 0.1, so the Courant number is c dt / dx = -0.41 exactly (the custom scenario
``dirichlet_upwind_advection``). One trajectory of 100 FOU steps from the sine arc sin(pi x) is the data
(train and test). The learner is a bias-free kernel-2 convolution aligned on (center, right) with
Dirichlet ghost cells, started at (0.4, 0.5) (``Stencil;2;right;0.4;0.5``); the FOU stencil it should find
is (1 + c dt/dx, -c dt/dx) = (0.59, 0.41). Each supervised rollout length R is one run, the variant
``rollout_<R>`` (default ``rollout_1``, R in ``ROLLOUTS``), optionally followed by ``,quick``: Adam 1e-2,
3000 steps, batches of 97 of the 97..100 windows (nearly full-batch).

    python pipelines/train.py --config=configs/stencil_learning.py:rollout_3 --workdir=workdir/stencil_3

The notebook ``colab/02_stencil_learning.ipynb`` trains rollouts 1-4 (1-2 in QUICK mode,
``QUICK_ROLLOUTS``) with ``emutrain.experiment.train_and_evaluate`` and draws the loss landscapes on a
grid of (center, right) weights (``LANDSCAPE``).
"""

import ml_collections

from emutrain.config_files import run_variant
from emutrain.schema import default_config, scenario_config

ROLLOUTS = (1, 2, 3, 4)
QUICK_ROLLOUTS = (1, 2)
INIT_STENCIL = (0.4, 0.5)
TOLERANCE = 1e-3  # max |learned - FOU| of every rollout
# (center, right) ranges of the loss landscapes and the grid points per axis (QUICK: QUICK_LANDSCAPE_NUM)
LANDSCAPE = {"center_range": (0.0, 1.0), "right_range": (0.0, 1.0), "num": 50}
QUICK_LANDSCAPE_NUM = 20


def _parse_variant(variant: str | None) -> tuple[int, bool]:
    valid = [f"rollout_{r}" for r in ROLLOUTS]
    run, quick = run_variant(variant, valid, default=valid[0])
    return int(run.split("_")[1]), quick


def get_config(variant: str | None = None) -> ml_collections.ConfigDict:
    """The run of one rollout length (see the module docstring); ``quick`` changes nothing but the bar:
    the problem is small already."""
    rollout, quick = _parse_variant(variant)
    config = default_config()
    config.scenario = scenario_config(
        "dirichlet_upwind_advection",
        num_points=40,
        domain_extent=1.0,
        dt=0.1,
        velocity=-0.1,
        optim_config="adam;3_000;constant;1e-2",
        batch_size=97,  # every rollout up to 4 has at least 97 windows of the 101 states
    )
    config.network = "Stencil;2;right;" + ";".join(str(w) for w in INIT_STENCIL)
    config.method = f"sup;{rollout}"
    config.train.log_every = 500
    config.train.checkpoint_every = 3_000
    config.train.tensorboard = False
    config.train.progress_bar = not quick
    config.eval.every = 3_000
    return config
