"""Quickstart: a linear kernel-2 convolution learns 1D periodic advection at CFL -0.75.

The data are exact (Fourier-spectral) advection trajectories on N = 30 periodic points shifting by
CFL = -0.75 cells per step: 20 trajectories of 100 snapshots (99 steps) from zero-mean truncated Fourier
series with wavenumbers 1..5 (uniform amplitudes in [-1, 1], uniform phases). A bias-free kernel-2
convolution on (center, right) with periodic wrap (init seed 73) is trained with Supervised rollout 1, 5
and 20 (Adam 1e-2, 1000 steps, batch 32, shuffle seed 42); the distance of the learned weights to the
upwind stencil (1 + CFL, -CFL) = (0.25, 0.75) shrinks as the rollout grows.

Run it in the notebook ``colab/03_quickstart.ipynb``, which loads this file with ``get_config()``
(``get_config("quick")`` under ``EMUTRAIN_QUICK=1``):

    EMUTRAIN_QUICK=1 python -m pytest tests/test_notebooks.py -k 03_quickstart

or open the notebook in Jupyter / Colab (without EMUTRAIN_QUICK for the full run).
"""

import ml_collections


def get_config(variant: str | None = None) -> ml_collections.ConfigDict:
    """The full experiment; ``variant="quick"`` trains on 8 trajectories of 50 steps."""
    if variant not in (None, "", "quick"):
        raise ValueError(f"variant must be None or 'quick', got {variant!r}")
    config = ml_collections.ConfigDict()

    config.physics = ml_collections.ConfigDict()
    config.physics.num_points = 30
    config.physics.cfl = -0.75

    config.data = ml_collections.ConfigDict()
    config.data.num_trajectories = 20
    config.data.num_steps = 99
    config.data.ic_cutoff = 5
    config.data.ic_amplitude_range = (-1.0, 1.0)
    config.data.ic_seed = 0

    config.model = ml_collections.ConfigDict()
    config.model.kernel_size = 2
    config.model.kernel_alignment = "right"
    config.model.seed = 73

    config.train = ml_collections.ConfigDict()
    config.train.rollouts = (1, 5, 20)
    config.train.learning_rate = 1e-2
    config.train.num_steps = 1000
    config.train.batch_size = 32
    config.train.data_seed = 42

    # distances of the reference implementation (same problem, its own initialisation and data)
    config.reference_distances = (0.033, 0.025, 0.017)

    if variant == "quick":
        config.data.num_trajectories = 8
        config.data.num_steps = 50
    return config
