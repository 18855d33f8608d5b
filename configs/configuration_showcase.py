"""Configuration showcase: every training configuration on the same small problem.

1D periodic advection (scenario ``diff_adv`` with N = 32 and difficulty -0.75: the state moves 0.75 cells
per step, exact spectral solver), a small ConvNet emulator (``Conv;16;3;relu``: 16 channels, 3 hidden
layers of kernel 3, ReLU) trained from scratch by each configuration in turn with the same data (32
trajectories of 24 steps, seed 1; test: 16 of 50 steps, seed 2), optimizer (Adam 1e-3) and step budget
(1,500, batch 16); methods that need a ``ref_stepper`` get the scenario's reference stepper, the residuum
method its residuum ``rho(n, p) = n - P(p)``. Each configuration is one run, its method string in
``RUNS``; the variant is the run's name, optionally followed by ``,quick`` (a smoke run: 8 trajectories
of 8 steps, 30 steps of a narrower network):

    python pipelines/train.py --config=configs/configuration_showcase.py:residuum --workdir=workdir/residuum

``colab/04_configuration_showcase.ipynb`` trains all of them with ``emutrain.experiment.train_and_evaluate``
and rolls each out on the test trajectories (``REPORT_STEPS``).
"""

import ml_collections

from emutrain.config_files import run_variant
from emutrain.schema import default_config, scenario_config

# run -> training method of emutrain.configurations.from_method
RUNS = {
    "supervised_one_step": "one",
    "supervised_rollout": "sup;4",
    "supervised_cut_bptt": "sup;4;true",
    "diverted_chain_branch_one": "div;4",
    "diverted_chain": "divchain;4;2",
    "mix_chain_post_physics": "mix;2;2",
    "residuum": "res;4",
    "teacher_forcing": "tf;4;2",
    "composite": "one+0.25*div;4",
}
REPORT_STEPS = (1, 10, 50)
QUICK_REPORT_STEPS = (1, 10)


def get_config(variant: str | None = None) -> ml_collections.ConfigDict:
    """One run (see the module docstring); `variant` is `"<run>"` or `"<run>,quick"` (default
    `supervised_one_step`)."""
    run, quick = run_variant(variant, sorted(RUNS), default="supervised_one_step")
    config = default_config()
    config.scenario = scenario_config(
        "diff_adv",
        advection_gamma=-0.75,
        num_points=32,
        num_train_samples=8 if quick else 32,
        train_temporal_horizon=8 if quick else 24,
        train_seed=1,
        num_test_samples=4 if quick else 16,
        test_temporal_horizon=10 if quick else 50,
        test_seed=2,
        optim_config=f"adam;{30 if quick else 1_500};constant;1e-3",
        batch_size=16,
    )
    config.network = "Conv;8;1;relu" if quick else "Conv;16;3;relu"
    config.method = RUNS[run]
    config.train.log_every = 10 if quick else 100
    # one checkpoint and one evaluation, at the end
    config.train.checkpoint_every = config.eval.every = 30 if quick else 1_500
    config.train.tensorboard = False
    config.train.progress_bar = not quick
    return config
