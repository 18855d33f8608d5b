"""An APEBench 0.1.1 scenario as an experiment: scenario, network, training method, task and optimizer.

The variant string is the scenario name, optionally followed by APEBench's network, training-method and
task strings, and optionally by ``quick`` (a smoke-test size), separated by commas:

    python pipelines/train.py --config=configs/scenario.py:diff_ks --workdir=workdir/diff_ks
    python pipelines/train.py --config='configs/scenario.py:diff_ks,Res;26;8;relu,sup;5' --workdir=workdir/res
    python pipelines/train.py --config='configs/scenario.py:diff_adv,Conv;34;10;relu,one,correct;sequential'
    python pipelines/train.py --config=configs/scenario.py:diff_burgers,quick --workdir=workdir/quick

(quote arguments holding ``;``, which a shell reads as a command separator). ``config.scenario.overrides``
holds every field of the scenario (APEBench's defaults, or the quick sizes), so any of them can be set
from the command line, e.g. ``--config.scenario.overrides.num_points=64``; pick the scenario with the
variant, not with ``--config.scenario.name``. The strings are set with ``--config.network=...``,
``--config.method=...``, ``--config.optimizer=...``.

Strings (APEBench's grammar, defaults as in APEBench's ``BaseScenario.__call__``):

* network: ``Conv;34;10;relu`` (width, depth, activation), ``Res;26;8;relu``, ``UNet;12;2;relu``,
  ``FNO;12;18;4;gelu``, ``Dil;2;32;2;relu``, ``MLP;64;3;relu``, ``Pure;3``, ...
* method: ``one`` (one-step supervised), ``sup;T[;CUT_BPTT]`` (T-step supervised rollout), ``div;T[;CUT_BPTT
  [;CUT_DIV_CHAIN]]`` (diverted chain, branch one, against the reference stepper).
* task: ``predict`` (the network is the stepper) or ``correct;MODE`` (the network corrects the scenario's
  coarse stepper).
* optimizer: ``adam;NUM_STEPS;warmup_cosine;INIT_LR;PEAK_LR;WARMUP_STEPS`` (the scenario's
  ``optim_config``); ``config.train.num_steps`` is its NUM_STEPS.
"""

import ml_collections
from ml_collections import config_dict

from emutrain import scenarios

DEFAULT_NETWORK = "Conv;34;10;relu"
DEFAULT_METHOD = "one"
DEFAULT_TASK = "predict"
QUICK_OPTIMIZER = "adam;20;warmup_cosine;0.0;1e-3;5"


def _parse_variant(variant: str | None) -> tuple[str, list[str], bool]:
    if not variant:
        raise ValueError(
            "configs/scenario.py needs a variant 'NAME[,NETWORK[,METHOD[,TASK]]][,quick]', e.g. 'diff_ks' or "
            f"'diff_ks,Res;26;8;relu,sup;5'; scenario names: {scenarios.names()}"
        )
    parts = [p.strip() for p in variant.split(",")]
    quick = "quick" in parts
    parts = [p for p in parts if p != "quick"]
    if not parts or len(parts) > 4 or not all(parts):
        raise ValueError(f"variant must be 'NAME[,NETWORK[,METHOD[,TASK]]][,quick]', got {variant!r}")
    return parts[0], parts[1:], quick


def _quick_overrides(scenario: scenarios.Scenario) -> dict:
    """A few small trajectories on a coarse grid; warm-up shortened but kept where the scenario has one."""
    return {
        "num_points": 32 if scenario.num_spatial_dims == 1 else 16,
        "num_train_samples": 4,
        "train_temporal_horizon": 10,
        "num_test_samples": 2,
        "test_temporal_horizon": 10,
        "num_warmup_steps": min(scenario.num_warmup_steps, 10),
        "optim_config": QUICK_OPTIMIZER,
        "batch_size": 4,
    }


def get_config(variant: str | None = None) -> ml_collections.ConfigDict:
    """The experiment of scenario ``variant`` (see the module docstring)."""
    name, strings, quick = _parse_variant(variant)
    scenario = scenarios.make(name)  # validates the name
    network = strings[0] if len(strings) > 0 else DEFAULT_NETWORK
    method = strings[1] if len(strings) > 1 else DEFAULT_METHOD
    task = strings[2] if len(strings) > 2 else DEFAULT_TASK
    if quick:
        scenario = scenarios.make(name, **_quick_overrides(scenario))

    config = ml_collections.ConfigDict()
    config.quick = quick
    config.seed = 0
    # Multi-process runs (emutrain.train.initialize_distributed): any of the first four fields set ->
    # jax.distributed.initialize with them; auto=True -> cluster auto-detection (Cloud TPU, SLURM, ...).
    config.distributed = ml_collections.ConfigDict()
    config.distributed.coordinator_address = config_dict.placeholder(str)  # "host:port" of process 0
    config.distributed.num_processes = config_dict.placeholder(int)
    config.distributed.process_id = config_dict.placeholder(int)
    config.distributed.local_device_ids = config_dict.placeholder(str)  # e.g. "0,1"
    config.distributed.auto = False

    # emutrain.scenarios.make(config.scenario.name, **config.scenario.overrides)
    config.scenario = ml_collections.ConfigDict()
    config.scenario.name = name
    config.scenario.overrides = ml_collections.ConfigDict(scenario.to_dict())
    config.scenario.data_format = "npy"  # datasets on disk: "npy" or "array_record"
    config.data_dir = config_dict.placeholder(str)  # the user's own train/ and test/ trajectories instead
    # where datasets are generated; None: <workdir>/datasets
    config.dataset_dir = config_dict.placeholder(str)

    config.network = network
    config.method = method
    config.task = task
    config.ref_stepper = "reference"  # the ref_stepper of div/mix/residuum methods: "reference" or "coarse"
    config.optimizer = scenario.optim_config

    config.train = ml_collections.ConfigDict()
    config.train.batch_size = scenario.batch_size
    config.train.num_steps = scenario.num_training_steps
    config.train.num_seeds = 1  # networks trained at once, initialization seeds seed, seed + 1, ...
    config.train.log_every = scenario.record_loss_every
    config.train.checkpoint_every = max(1, scenario.num_training_steps // 4)
    config.train.data_seed = 0
    config.train.steps_per_dispatch = 1
    config.train.max_to_keep = 2
    config.train.tensorboard = True
    config.train.profile = False
    config.train.progress_bar = not quick

    config.eval = ml_collections.ConfigDict()
    config.eval.every = config.train.num_steps if quick else config.train.checkpoint_every
    config.eval.num_steps = scenario.test_temporal_horizon
    config.eval.batch_size = scenario.num_test_samples
    config.eval.metrics = scenario.report_metrics
    config.eval.num_sample_rollouts = scenario.num_trjs_returned
    config.eval.vlim = scenario.vlim
    return config
