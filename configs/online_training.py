"""Online training: a neural closure trained through many steps of a live, differentiable coarse solver.

Two problems (custom scenarios of ``emutrain.scenarios.closure_problems``), each with target trajectories
from a fine solver coarsened (Fourier truncation) to the training grid, and a small closure inside the
coarse solver trained with a long supervised rollout, gradients kept through every coarse solver step:

* ``qg``: pyqg-jax's two-layer quasi-geostrophic model (optional extra ``qg``, scenario ``qg_closure``),
  fine 128^2 coarsened to 32^2 (truncation, then the coarse model's spectral filter), dt = 3600 s; the
  closure is a linear spectral convolution (``Spectral;16;zero``, an FNO layer, zero-initialized) adding a
  PV tendency at every pyqg step (task ``correct;tendency``), 10-step rollouts (40 pyqg steps per loss).
* ``kolmogorov``: emutrain's ``KolmogorovFlowVorticity`` (scenario ``kolmogorov_closure``), fine 128^2
  (dt 0.005) coarsened to 32^2; the coarse solver takes one step of 10 fine time steps and a ConvNet
  (``Conv;32;3;relu``) adds a correction to every coarse step (``correct;parallel``), 12-step rollouts.

Both train with Adam and a cosine decay (the scenario's ``optim_config``). The variant is the problem,
optionally followed by ``,quick`` (smaller grids, data and training):

    python pipelines/train.py --config=configs/online_training.py:kolmogorov,quick --workdir=/tmp/ks

``colab/05_online_training.ipynb`` trains both with ``emutrain.experiment.train_and_evaluate`` and checks
that the training loss drops at least ``MIN_LOSS_DROP``-fold (``QUICK_MIN_LOSS_DROP`` in quick runs) and
that the closure beats the bare coarse solver on held-out rollouts.
"""

import ml_collections

from emutrain.config_files import run_variant
from emutrain.schema import default_config, scenario_config

PROBLEMS = ("qg", "kolmogorov")
MIN_LOSS_DROP = 10.0  # acceptance: first / last training loss
QUICK_MIN_LOSS_DROP = 1.5

_SCENARIOS = {
    "qg": ("qg_closure", {}, {
        "fine_points": 32, "num_points": 16, "num_warmup_steps": 20, "num_train_samples": 2,
        "num_test_samples": 1, "train_temporal_horizon": 16, "test_temporal_horizon": 16, "num_substeps": 2,
        "optim_config": "adam;40;cosine;3e-2", "batch_size": 2,
    }),
    "kolmogorov": ("kolmogorov_closure", {}, {
        "fine_points": 48, "num_points": 16, "fine_dt": 0.01, "num_substeps": 5, "diffusivity": 1e-2,
        "num_warmup_steps": 40, "num_train_samples": 3, "num_test_samples": 1, "train_temporal_horizon": 12,
        "test_temporal_horizon": 12, "optim_config": "adam;40;cosine;3e-3", "batch_size": 4,
    }),
}
_NUM_STEPS = {"qg": 200, "kolmogorov": 800}  # NUM_STEPS of the full optim_config
# problem -> (network, task, full rollout, quick network, quick rollout)
_MODELS = {
    "qg": ("Spectral;16;zero", "correct;tendency", 10, "Spectral;8;zero", 4),
    "kolmogorov": ("Conv;32;3;relu", "correct;parallel", 12, "Conv;8;2;relu", 4),
}


def get_config(variant: str | None = None) -> ml_collections.ConfigDict:
    """The run of one problem (see the module docstring): `variant` is `"<problem>"` or
    `"<problem>,quick"` (default `kolmogorov`)."""
    problem, quick = run_variant(variant, PROBLEMS, default="kolmogorov", noun="problem")
    name, full, small = _SCENARIOS[problem]
    network, task, rollout, quick_network, quick_rollout = _MODELS[problem]
    config = default_config()
    config.scenario = scenario_config(name, **(small if quick else full))
    config.network = quick_network if quick else network
    config.task = task
    config.method = f"sup;{quick_rollout if quick else rollout}"
    config.train.log_every = 10 if quick else 50
    # one checkpoint and one evaluation, at the end
    config.train.checkpoint_every = config.eval.every = 40 if quick else _NUM_STEPS[problem]
    config.train.tensorboard = False
    config.train.progress_bar = not quick
    return config
