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
* optimizer: ``adam;NUM_STEPS;warmup_cosine;INIT_LR;PEAK_LR;WARMUP_STEPS``; unset, the scenario's
  ``optim_config`` with ``config.train.num_steps`` as its NUM_STEPS (``--config.train.num_steps=300``
  shortens the whole schedule), set, exactly that schedule.

Fields left None take the scenario's values (``emutrain.schema.resolve_config``): batch size, number of
steps, optimizer, evaluation horizon; checkpoints and evaluations come every quarter of the run.
"""

import ml_collections

from emutrain import scenarios
from emutrain.schema import default_config, scenario_config

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
    config = default_config()  # APEBench's network, method and task: Conv;34;10;relu, one, predict
    config.scenario = scenario_config(name, **(_quick_overrides(scenario) if quick else {}))
    for field, value in zip(("network", "method", "task"), strings):
        config[field] = value
    config.train.log_every = scenario.record_loss_every
    config.train.progress_bar = not quick
    if quick:
        config.eval.every = 20  # once, at the end of the quick schedule
    return config
