"""Correction learning on 1D advection: the main job of the README.

A ResNet (`Res;32;2;relu`: 32 channels, 2 blocks, 12,513 parameters) post-processes the coarse stepper of
the scenario `diff_adv` (advection difficulty gamma_1 = -6.5 on N = 48 points, i.e. 6.5 cells per step;
the coarse stepper has half the difficulty, -3.25) to match the reference, trained with a 3-step
supervised rollout (`sup;3`) and Adam (3e-4, constant, batch 16, 10,000 steps) on 40 trajectories x 50
steps (seed 773) and evaluated on 200-step rollouts of 30 test trajectories (seed 774).

Run it (about a minute on a 2-core CPU):

    python pipelines/train.py

which is `python pipelines/train.py --config=configs/default.py --workdir=workdir/default` (paths
relative to the current directory). A smoke run:

    python pipelines/train.py --config=configs/default.py:quick --workdir=workdir/quick

Any field can be overridden, e.g. `--config.train.num_steps=2000 --config.method=sup;5` or
`--config.method=div;3 --config.ref_stepper=coarse` (quote values with `;` in a shell). The schema is
that of every experiment (`emutrain.schema.default_config`); this file only chooses values. The learning
rate is the scenario's `optim_config` (whose NUM_STEPS `config.train.num_steps` replaces), e.g.
`--config.scenario.overrides.optim_config='adam;10_000;constant;1e-3'`.
"""

import ml_collections

from emutrain.schema import default_config, scenario_config


def get_config(variant: str | None = None) -> ml_collections.ConfigDict:
    """The default experiment; `variant="quick"` shrinks data, network, steps and evaluation for a smoke
    run."""
    if variant not in (None, "", "quick"):
        raise ValueError(f"variant must be None or 'quick', got {variant!r}")
    config = default_config()
    # reference gamma_1 -6.5 on 48 points (exact advection by 6.5 cells per step), coarse stepper with
    # coarse_proportion * gamma = -3.25; Adam at a constant 3e-4 with batches of 16
    config.scenario = scenario_config(
        "diff_adv",
        advection_gamma=-6.5,
        num_points=48,
        coarse_proportion=0.5,
        num_train_samples=40,
        train_temporal_horizon=50,
        train_seed=773,
        num_test_samples=30,
        test_temporal_horizon=200,
        test_seed=774,
        optim_config="adam;10_000;constant;3e-4",
        batch_size=16,
    )
    config.network = "Res;32;2;relu"  # emutrain.nn.from_spec
    config.task = "correct;sequential"  # network(coarse(u)); "predict" for a pure emulator
    config.method = "sup;3"  # emutrain.configurations.from_method: 3-step supervised rollout

    config.train.batch_size = 16
    config.train.num_steps = 10_000
    config.train.checkpoint_every = 2_500
    config.eval.every = 2_500
    config.eval.num_steps = 200
    config.eval.batch_size = 30

    if variant == "quick":
        config.scenario.overrides.update(num_train_samples=8, num_test_samples=4, test_temporal_horizon=20)
        config.network = "Res;8;1;relu"
        config.train.num_steps = 40
        config.train.log_every = 10
        config.train.checkpoint_every = 20
        config.eval.every = 20
        config.eval.num_steps = 20
        config.eval.batch_size = 4
    return config
