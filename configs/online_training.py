"""Online training: a neural closure trained through many steps of a live, differentiable coarse solver.

Two problems, each with target trajectories from a fine solver coarsened (Fourier truncation) to the
training grid, and a small periodic ConvNet closure inside the coarse solver trained with a long
``Supervised`` rollout whose steps are checkpointed (``remat=True``, ``checkpoint_chunk_size="sqrt"``),
gradients kept through every coarse solver step:

* ``qg``: pyqg-jax's two-layer quasi-geostrophic model (optional extra ``qg``), fine 128^2 coarsened to
  32^2 (truncation, then the coarse model's spectral filter), dt = 3600 s; the closure is a linear
  spectral convolution (an FNO layer, zero-initialized) adding a PV tendency at every pyqg step.
* ``kolmogorov``: emutrain's ``KolmogorovFlowVorticity``, fine 128^2 (dt 0.005) coarsened to 32^2; the
  coarse solver takes one step of 10 fine time steps and the closure adds a correction to every coarse
  step (``ParallelCorrector``).

Run it in the notebook ``colab/05_online_training.ipynb``, which loads this file with ``get_config()``
(``get_config("quick")`` under ``EMUTRAIN_QUICK=1``):

    EMUTRAIN_QUICK=1 python -m pytest tests/test_notebooks.py -k 05_online_training

or open the notebook in Jupyter / Colab (without EMUTRAIN_QUICK for the full run).
"""

import ml_collections


def get_config(variant: str | None = None) -> ml_collections.ConfigDict:
    """The full experiment; ``variant="quick"`` shrinks grids, data and training for a smoke run."""
    if variant not in (None, "", "quick"):
        raise ValueError(f"variant must be None or 'quick', got {variant!r}")
    config = ml_collections.ConfigDict()

    qg = config.qg = ml_collections.ConfigDict()
    qg.fine_points = 128
    qg.coarse_points = 32
    qg.dt = 3600.0  # seconds, fine and coarse pyqg step
    qg.num_substeps = 4  # pyqg steps per stored snapshot (one coarse stepper call)
    qg.q_scale = 1e-6  # 1/s, the PV unit of the states
    qg.num_warmup_steps = 1000  # fine pyqg steps before recording
    qg.num_train_trajectories = 4
    qg.num_test_trajectories = 2
    qg.num_steps = 60  # stored snapshots per trajectory after the initial one
    qg.modes = 16  # Fourier modes per axis of the linear spectral closure (all of the 32^2 grid)
    qg.num_rollout_steps = 10  # = 40 pyqg steps through the solver per loss
    qg.batch_size = 4
    qg.learning_rate = 1e-2  # peak of a cosine decay
    qg.num_train_steps = 200
    qg.num_eval_steps = 60

    ks = config.kolmogorov = ml_collections.ConfigDict()
    ks.domain_extent = 6.283185307179586  # 2 pi
    ks.fine_points = 128
    ks.coarse_points = 32
    ks.fine_dt = 0.005
    ks.num_substeps = 10  # fine steps per coarse step: coarse dt = 0.05
    ks.diffusivity = 5e-3
    ks.ic_cutoff = 4
    ks.num_warmup_steps = 100  # coarse-step units (1000 fine steps) before recording
    ks.num_train_trajectories = 6
    ks.num_test_trajectories = 2
    ks.num_steps = 40
    ks.hidden_channels = 32
    ks.depth = 3
    ks.num_rollout_steps = 12
    ks.batch_size = 8
    ks.learning_rate = 3e-3  # peak of a cosine decay
    ks.num_train_steps = 800
    ks.num_eval_steps = 40

    config.seed = 0
    config.min_loss_drop = 10.0  # acceptance: first / last training loss

    if variant == "quick":
        qg.fine_points, qg.coarse_points, qg.modes = 32, 16, 8
        qg.num_warmup_steps = 20
        qg.num_train_trajectories, qg.num_test_trajectories = 2, 1
        qg.num_steps, qg.num_eval_steps = 16, 16
        qg.num_rollout_steps, qg.num_substeps = 4, 2
        qg.batch_size, qg.num_train_steps = 2, 40
        qg.learning_rate = 3e-2
        ks.fine_points, ks.coarse_points = 48, 16
        ks.fine_dt, ks.num_substeps = 0.01, 5
        ks.diffusivity = 1e-2
        ks.num_warmup_steps = 40
        ks.num_train_trajectories, ks.num_test_trajectories = 3, 1
        ks.num_steps, ks.num_eval_steps = 12, 12
        ks.hidden_channels, ks.depth = 8, 2
        ks.num_rollout_steps, ks.batch_size = 4, 4
        ks.num_train_steps = 40
        ks.learning_rate = 3e-3
        config.min_loss_drop = 1.5
    return config
