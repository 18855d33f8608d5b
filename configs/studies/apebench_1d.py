"""APEBench's 1D study: six difficulty-based scenarios x five architectures, one-step training, 3 seeds.

    python pipelines/study.py --config=configs/studies/apebench_1d.py --workdir=workdir/apebench_1d
    python pipelines/study.py --config=configs/studies/apebench_1d.py:quick --workdir=/tmp/apebench_1d_quick

The full study uses APEBench 0.1.1's defaults for every run (10,000 Adam steps with a linear warm-up over
2,000 steps to 1e-3 and cosine decay, batch 20, N = 160 points, 50 training trajectories of 50 steps, 30
test trajectories of 200 steps); the three seeds of a combination train at once as one ensemble. ``:quick``
shrinks it to a smoke test (2 scenarios x 2 small networks x 2 seeds, 20 steps on 32 points) that runs in
the test suite. Override fields from the command line, e.g. ``--config.seeds='(0,)'`` or
``--config.overrides.num_points=64``; re-running with the same workdir resumes the study. Several
processes started on one workdir divide the combinations (``--workers=N`` submits N of them).
"""

import ml_collections
from ml_collections import config_dict

SCENARIOS = ("diff_adv", "diff_diff", "diff_disp", "diff_burgers", "diff_kdv", "diff_ks")
NETWORKS = ("Conv;34;10;relu", "Res;26;8;relu", "UNet;12;2;relu", "Dil;2;32;2;relu", "FNO;12;18;4;gelu")

QUICK_SCENARIOS = ("diff_adv", "diff_burgers")
QUICK_NETWORKS = ("Conv;8;2;relu", "Res;8;1;relu")
QUICK_OVERRIDES = {
    "num_points": 32,
    "num_train_samples": 4,
    "train_temporal_horizon": 10,
    "num_test_samples": 2,
    "test_temporal_horizon": 10,
    "optim_config": "adam;20;warmup_cosine;0.0;1e-3;5",
    "batch_size": 4,
}


def get_config(variant: str | None = None) -> ml_collections.ConfigDict:
    """The full study, or its smoke-test size with ``variant="quick"``."""
    if variant not in (None, "", "quick"):
        raise ValueError(f"variant must be empty or 'quick', got {variant!r}")
    quick = variant == "quick"
    config = ml_collections.ConfigDict()
    # tuples, not lists: the command line can override only tuples (--config.seeds='(0,)')
    config.scenarios = QUICK_SCENARIOS if quick else SCENARIOS
    config.tasks = ("predict",)
    config.networks = QUICK_NETWORKS if quick else NETWORKS
    config.methods = ("one",)
    config.seeds = (0, 1) if quick else (0, 1, 2)
    # Scenario fields for every scenario (emutrain.scenarios.make); empty: APEBench's defaults.
    config.overrides = ml_collections.ConfigDict(QUICK_OVERRIDES if quick else {})
    # None: each scenario's optim_config ("adam;10_000;warmup_cosine;0.0;1e-3;2_000")
    config.optimizer = config_dict.placeholder(str)
    config.ref_stepper = "reference"
    config.dataset_dir = config_dict.placeholder(str)  # None: <workdir>/datasets

    config.train = ml_collections.ConfigDict()
    config.train.num_steps = config_dict.placeholder(int)  # None: the optimizer's NUM_STEPS
    config.train.batch_size = config_dict.placeholder(int)  # None: the scenario's (20)
    config.train.data_seed = 0
    config.train.log_every = 5 if quick else 100
    config.train.checkpoint_every = 10 if quick else 2_500
    config.train.tensorboard = True
    config.train.progress_bar = not quick

    config.eval = ml_collections.ConfigDict()
    config.eval.num_steps = config_dict.placeholder(int)  # None: the scenario's test_temporal_horizon (200)
    config.eval.gmean_num_steps = 100
    config.eval.batch_size = config_dict.placeholder(int)

    config.plots = True
    # Workers sharing the workdir: a claim without a heartbeat for this long (s) is taken over.
    config.claim_timeout_s = 300.0
    # `--workers=N` (submitit): executor parameters, None: left out (emutrain.study.submit).
    config.submitit = ml_collections.ConfigDict()
    config.submitit.timeout_min = 24 * 60
    config.submitit.slurm_partition = config_dict.placeholder(str)
    config.submitit.gpus_per_node = config_dict.placeholder(int)
    config.submitit.cpus_per_task = config_dict.placeholder(int)
    config.submitit.mem_gb = config_dict.placeholder(float)
    return config
