"""Learning the first-order upwind (FOU) stencil with a linear kernel-2 convolution (1D, Dirichlet).

1D advection ``u_t + c u_x = 0`` with c = -0.1 on [0, 1] with homogeneous Dirichlet boundaries, 40 interior
points (dx = 1/41), dt = 0.1, so the Courant number is c dt / dx = -0.41 exactly. One trajectory of 100
FOU steps from the sine arc sin(pi x) is the data. The learner is a bias-free kernel-2 convolution aligned
on (center, right) with Dirichlet ghost cells; the FOU stencil it should find is
(1 + c dt/dx, -c dt/dx) = (0.59, 0.41). Supervised rollouts 1..4, full batch (every window each step),
Adam 1e-2 from (0.4, 0.5); the loss landscape is evaluated on a 50 x 50 grid of (center, right) weights.

Run it in the notebook ``colab/02_stencil_learning.ipynb``, which loads this file with
``get_config()`` (``get_config("quick")`` under ``EMUTRAIN_QUICK=1``):

    EMUTRAIN_QUICK=1 python -m pytest tests/test_notebooks.py -k 02_stencil_learning

or open the notebook in Jupyter / Colab (without EMUTRAIN_QUICK for the full run).
"""

import ml_collections


def get_config(variant: str | None = None) -> ml_collections.ConfigDict:
    """The full experiment; ``variant="quick"`` keeps rollouts 1-2 and a 20 x 20 landscape."""
    if variant not in (None, "", "quick"):
        raise ValueError(f"variant must be None or 'quick', got {variant!r}")
    config = ml_collections.ConfigDict()

    config.physics = ml_collections.ConfigDict()
    config.physics.domain_extent = 1.0
    config.physics.num_points = 40
    config.physics.dt = 0.1
    config.physics.velocity = -0.1
    config.physics.boundary = "dirichlet"
    config.physics.num_steps = 100

    config.model = ml_collections.ConfigDict()
    config.model.kernel_size = 2
    config.model.kernel_alignment = "right"
    config.model.init_stencil = (0.4, 0.5)

    config.landscape = ml_collections.ConfigDict()
    config.landscape.center_range = (0.0, 1.0)
    config.landscape.right_range = (0.0, 1.0)
    config.landscape.num = 50

    config.train = ml_collections.ConfigDict()
    config.train.rollouts = (1, 2, 3, 4)
    config.train.learning_rate = 1e-2
    config.train.num_steps = 3000
    # windows per batch; a batch larger than the window set means full-batch training
    config.train.batch_size = 200
    config.train.data_seed = 0
    config.train.tolerance = 1e-3

    if variant == "quick":
        config.train.rollouts = (1, 2)
        config.landscape.num = 20
    return config
