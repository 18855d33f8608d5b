"""Correction learning on 1D advection: the main job of the README.

A ResNet (`Res;32;2;relu`: 32 channels, 2 blocks, 12,513 parameters) post-processes the coarse stepper of
the scenario `diff_adv` (advection difficulty gamma_1 = -6.5 on N = 48 points, i.e. 6.5 cells per step;
the coarse stepper has half the difficulty, -3.25) to match the reference, trained with a 3-step
supervised rollout (`sup;3`) and Adam (3e-4, constant, batch 16, 10,000 steps) on 40 trajectories x 50
steps (seed 773) and evaluated on 200-step rollouts of 30 test trajectories (seed 774).

Run it (about a minute on a 2-core CPU):

    python pipelines/train.py

which is `python pipelines/train.py --config=configs/default.py --workdir=workdir/default` (paths
relative to the repository). A smoke run:

    python pipelines/train.py --config=configs/default.py:quick --workdir=workdir/quick

Any field can be overridden, e.g. `--config.train.num_steps=2000 --config.method=sup;5` or
`--config.method=div;3 --config.ref_stepper=coarse` (quote values with `;` in a shell). The schema is
that of every experiment (`emutrain.experiment`); `configs/scenario.py` builds it for any scenario.
"""

import ml_collections
from ml_collections import config_dict


def get_config(variant: str | None = None) -> ml_collections.ConfigDict:
    """The default experiment; `variant="quick"` shrinks data, network, steps and evaluation for a smoke
    run."""
    if variant not in (None, "", "quick"):
        raise ValueError(f"variant must be None or 'quick', got {variant!r}")
    config = ml_collections.ConfigDict()
    config.seed = 0
    # Resume although fields that change the model, data, optimizer or physics differ from the config stored
    # in the workdir's checkpoint (emutrain.train.checkpoint.check_resume lists them and stops otherwise).
    config.resume_despite_config_change = False
    # Multi-process runs (emutrain.train.initialize_distributed): any of the first four fields set ->
    # jax.distributed.initialize with them; auto=True -> cluster auto-detection (Cloud TPU, SLURM, ...).
    config.distributed = ml_collections.ConfigDict()
    config.distributed.coordinator_address = config_dict.placeholder(str)  # "host:port" of process 0
    config.distributed.num_processes = config_dict.placeholder(int)
    config.distributed.process_id = config_dict.placeholder(int)
    config.distributed.local_device_ids = config_dict.placeholder(str)  # e.g. "0,1"
    config.distributed.auto = False
    # Devices that share every sample (emutrain.train.make_mesh): each sample's first spatial axis is split
    # over `space` devices, the batch over the remaining device_count // space; e.g. --config.mesh.space=4.
    config.mesh = ml_collections.ConfigDict()
    config.mesh.space = 1

    # emutrain.scenarios.make(name, **overrides): reference gamma_1 -6.5 on 48 points (exact advection by
    # 6.5 cells per step), coarse stepper with coarse_proportion * gamma = -3.25.
    config.scenario = ml_collections.ConfigDict()
    config.scenario.name = "diff_adv"
    config.scenario.overrides = ml_collections.ConfigDict(
        {
            "advection_gamma": -6.5,
            "num_points": 48,
            "coarse_proportion": 0.5,
            "num_train_samples": 40,
            "train_temporal_horizon": 50,
            "train_seed": 773,
            "num_test_samples": 30,
            "test_temporal_horizon": 200,
            "test_seed": 774,
        }
    )
    config.scenario.data_format = "npy"  # datasets on disk: "npy" or "array_record"
    # A directory with the user's own train/ and test/ trajectories, read instead of the scenario's.
    config.data_dir = config_dict.placeholder(str)
    # Where the scenario's datasets are generated (once); None: <workdir>/datasets.
    config.dataset_dir = config_dict.placeholder(str)

    config.network = "Res;32;2;relu"  # emutrain.nn.from_spec
    config.task = "correct;sequential"  # network(coarse(u)); "predict" for a pure emulator
    config.method = "sup;3"  # emutrain.configurations.from_method: 3-step supervised rollout
    config.ref_stepper = "reference"  # the ref_stepper of methods that need one: "reference" or "coarse"
    # emutrain.optimizers.make_optimizer: a mapping (constant rate, independent of train.num_steps) or an
    # APEBench string such as "adam;10_000;warmup_cosine;0.0;1e-3;2_000".
    config.optimizer = ml_collections.ConfigDict({"optimizer": "adam", "learning_rate": 3e-4})

    config.train = ml_collections.ConfigDict()
    config.train.batch_size = 16
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
        config.scenario.overrides.update(num_train_samples=8, num_test_samples=4, test_temporal_horizon=20)
        config.network = "Res;8;1;relu"
        config.train.num_steps = 40
        config.train.log_every = 10
        config.train.checkpoint_every = 20
        config.eval.every = 20
        config.eval.num_steps = 20
        config.eval.batch_size = 4
    return config
