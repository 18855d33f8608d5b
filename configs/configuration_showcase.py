"""Configuration showcase: every training configuration on the same small problem.

1D periodic advection (N = 32, difficulty -0.75: the state moves 0.75 cells per step, exact spectral
solver), a small ConvNet emulator (16 channels, 3 hidden layers of kernel 3, ReLU) trained from
scratch by each configuration in turn with the same data, optimizer and step budget; ``ref_stepper``
is the physics stepper and ``residuum_fn`` its residuum ``rho(n, p) = n - P(p)``. Each configuration is
then rolled out on the test trajectories.

Run it (all configurations, under a minute on a 2-core CPU):

    jupyter nbconvert --to notebook --execute colab/04_configuration_showcase.ipynb \\
        --output /tmp/showcase.ipynb

which loads `get_config()`; `EMUTRAIN_QUICK=1` in the environment loads `get_config("quick")`, a smoke
run. One configuration alone: `get_config("residuum")`, or shrunk, `get_config("residuum,quick")`
(variants are comma-separated; names are the keys of `config.configurations`).
"""

import ml_collections

# name -> (configuration class in emutrain.configurations, its arguments); a Composite names its parts and
# their weights (ConfigDict keys are unordered, so parts go by name).
CONFIGURATIONS = {
    "supervised_one_step": ("Supervised", dict(num_rollout_steps=1)),
    "supervised_rollout": ("Supervised", dict(num_rollout_steps=4)),
    "supervised_cut_bptt": ("Supervised", dict(num_rollout_steps=4, cut_bptt=True, cut_bptt_every=2)),
    "diverted_chain_branch_one": ("DivertedChainBranchOne", dict(num_rollout_steps=4)),
    "diverted_chain": ("DivertedChain", dict(num_rollout_steps=4, num_branch_steps=2)),
    "mix_chain_post_physics": ("MixChainPostPhysics", dict(num_rollout_steps=2, num_post_physics_steps=2)),
    "residuum": ("Residuum", dict(num_rollout_steps=4)),
    "teacher_forcing": ("TeacherForcing", dict(num_rollout_steps=4, reset_every=2)),
    "composite": (
        "Composite",
        dict(
            parts={
                "one_step": ("Supervised", dict(num_rollout_steps=1)),
                "diverted": ("DivertedChainBranchOne", dict(num_rollout_steps=4)),
            },
            weights={"one_step": 1.0, "diverted": 0.25},
        ),
    ),
}


def _spec(kind: str, arguments: dict) -> ml_collections.ConfigDict:
    spec = ml_collections.ConfigDict({"kind": kind})
    for name, value in arguments.items():
        if name == "parts":
            spec.parts = ml_collections.ConfigDict({k: _spec(*part) for k, part in value.items()})
        elif name == "weights":
            spec.weights = ml_collections.ConfigDict(value)
        else:
            spec[name] = value
    return spec


def get_config(variant: str | None = None) -> ml_collections.ConfigDict:
    """All configurations; `variant` is a comma-separated list of `quick` (smoke run) and/or one
    configuration name (only that one)."""
    tokens = [t for t in (variant or "").split(",") if t]
    unknown = [t for t in tokens if t != "quick" and t not in CONFIGURATIONS]
    if unknown or sum(t in CONFIGURATIONS for t in tokens) > 1:
        raise ValueError(
            f"variant must be comma-separated 'quick' and at most one of {sorted(CONFIGURATIONS)}, "
            f"got {variant!r}"
        )
    config = ml_collections.ConfigDict()
    config.seed = 0

    config.physics = ml_collections.ConfigDict()
    config.physics.num_spatial_dims = 1
    config.physics.num_points = 32
    config.physics.difficulty = -0.75
    config.physics.order = 1

    config.data = ml_collections.ConfigDict()
    config.data.num_train_samples = 32
    config.data.num_train_steps = 24
    config.data.train_seed = 1
    config.data.num_test_samples = 16
    config.data.num_test_steps = 50
    config.data.test_seed = 2
    config.data.ic_cutoff = 5

    config.model = ml_collections.ConfigDict()
    config.model.hidden_channels = 16
    config.model.depth = 3
    config.model.kernel_size = 3

    config.train = ml_collections.ConfigDict()
    config.train.batch_size = 16
    config.train.learning_rate = 1e-3
    config.train.num_steps = 1_500
    config.train.data_seed = 0
    config.train.log_every = 100

    config.eval = ml_collections.ConfigDict()
    config.eval.num_steps = 50
    config.eval.report_steps = (1, 10, 50)

    names = [t for t in tokens if t in CONFIGURATIONS] or list(CONFIGURATIONS)
    config.names = tuple(names)  # display order (ConfigDict sorts its keys)
    config.configurations = ml_collections.ConfigDict({name: _spec(*CONFIGURATIONS[name]) for name in names})

    if "quick" in tokens:
        config.data.num_train_samples = 8
        config.data.num_train_steps = 8
        config.data.num_test_samples = 4
        config.data.num_test_steps = 10
        config.model.hidden_channels = 8
        config.model.depth = 1
        config.train.num_steps = 30
        config.train.log_every = 10
        config.eval.num_steps = 10
        config.eval.report_steps = (1, 10)
    return config
