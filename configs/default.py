"""Correction learning on 1D advection: the main job of the README.

A ResNet (32 channels, 2 blocks) post-processes a coarse first-order solver with half the difficulty
(gamma -3.25) to match the reference (gamma -6.5, N = 48), trained with a 3-step supervised rollout on
40 trajectories x 50 steps and evaluated on 200-step rollouts of 30 test trajectories.

Run it (about a minute on a 2-core CPU):

    python pipelines/train.py

which is `python pipelines/train.py --config=configs/default.py --workdir=workdir/default`. A smoke run:

    python pipelines/train.py --config=configs/default.py:quick --workdir=workdir/quick

Any field can be overridden, e.g. `--config.train.num_steps=2000 --config.num_rollout_steps=5` or
`--config.configuration.name=diverted_chain_branch_one`.
"""

import ml_collections


def get_config(variant: str | None = None) -> ml_collections.ConfigDict:
    """The default experiment; `variant="quick"` shrinks data, steps and evaluation for a smoke run."""
    if variant not in (None, "", "quick"):
        raise ValueError(f"variant must be None or 'quick', got {variant!r}")
    config = ml_collections.ConfigDict()
    config.seed = 0
    # Resume although fields that change the model, data, optimizer or physics differ from the config stored
    # in the workdir's checkpoint (emutrain.train.checkpoint.check_resume lists them and stops otherwise).
    config.resume_despite_config_change = False
    config.distributed = False
    config.num_rollout_steps = 3

    # The training configuration (`emutrain.train.build_configuration`): "supervised",
    # "diverted_chain_branch_one" or "diverted_chain"; `num_branch_steps` and `cut_div_chain` are read by
    # the diverted chains, whose ref_stepper is the "reference" solver of the data or the "coarse" one.
    config.configuration = ml_collections.ConfigDict()
    config.configuration.name = "supervised"
    config.configuration.num_branch_steps = 1
    config.configuration.cut_div_chain = False
    config.configuration.cut_bptt = False
    config.configuration.cut_bptt_every = 1
    config.configuration.ref_stepper = "reference"

    config.physics = ml_collections.ConfigDict()
    config.physics.num_spatial_dims = 1
    config.physics.num_points = 48
    config.physics.difficulty = -6.5
    config.physics.order = 1

    config.coarse = ml_collections.ConfigDict()
    config.coarse.difficulty = -3.25

    config.data = ml_collections.ConfigDict()
    config.data.num_train_samples = 40
    config.data.num_train_steps = 50
    config.data.train_seed = 773
    config.data.num_test_samples = 30
    config.data.num_test_steps = 200
    config.data.test_seed = 774

    config.model = ml_collections.ConfigDict()
    config.model.hidden_channels = 32
    config.model.num_blocks = 2

    config.train = ml_collections.ConfigDict()
    config.train.batch_size = 16
    config.train.learning_rate = 3e-4
    config.train.num_steps = 10_000
    config.train.data_seed = 0
    config.train.steps_per_dispatch = 1
    config.train.log_every = 100
    config.train.checkpoint_every = 2_500
    config.train.max_to_keep = 2
    config.train.tensorboard = True
    config.train.profile = False
    config.train.progress_bar = True

    config.eval = ml_collections.ConfigDict()
    config.eval.every = 2_500
    config.eval.num_steps = 200
    config.eval.batch_size = 30

    if variant == "quick":
        config.data.num_train_samples = 8
        config.data.num_test_samples = 4
        config.data.num_test_steps = 20
        config.model.hidden_channels = 8
        config.model.num_blocks = 1
        config.train.num_steps = 40
        config.train.log_every = 10
        config.train.checkpoint_every = 20
        config.eval.every = 20
        config.eval.num_steps = 20
        config.eval.batch_size = 4
    return config
