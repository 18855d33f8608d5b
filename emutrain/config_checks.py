"""Up-front checks of a run config (`configs/default.py`'s shape), naming the flag a user sets.

`train_and_evaluate` builds solvers, data, model and optimizer from many config fields; a bad value would
otherwise surface late (after data generation) and under an internal name (`sub_trajectory_len` for a
too long `num_rollout_steps`) or not at all (a negative learning rate trains uphill). `validate_config`
checks every field it knows before anything is built; messages start with the flag,
`--config.train.learning_rate must be > 0, got -1.0`. Fields the config does not have are skipped, so
configs of either schema pass: the scenario schema (`scenario`, `method`, `optimizer`, `train`, `eval`)
and the older explicit one (`physics`, `data`, `num_rollout_steps`, `configuration`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from emutrain import configurations, scenarios
from emutrain.validation import check_choice, check_int, check_real

__all__ = ["CONFIGURATION_NAMES", "REF_STEPPER_NAMES", "flag", "validate_config"]

CONFIGURATION_NAMES = ("supervised", "diverted_chain_branch_one", "diverted_chain")
REF_STEPPER_NAMES = ("reference", "coarse")
_MISSING = object()


def flag(field: str) -> str:
    """The command-line flag of a dotted config field: `flag("train.learning_rate")` is
    `"--config.train.learning_rate"`."""
    return f"--config.{field}"


def _get(config: Any, field: str) -> Any:
    """The value of a dotted field, or `_MISSING` when a section or the field is absent."""
    value = config
    for key in field.split("."):
        if value is None or not isinstance(value, Mapping) and not hasattr(value, "get"):
            return _MISSING
        value = value.get(key, _MISSING)
        if value is _MISSING:
            return _MISSING
    return value


def _check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r} of type {type(value).__name__}")
    return value


def validate_config(config: Any) -> None:
    """Checks the run config's fields up front; raises on the first bad one.

    Args:
      config: an `ml_collections.ConfigDict` (or nested mapping) shaped like `configs/default.py`'s.

    Raises:
      TypeError: a field of the wrong type (a bool or float where an int is wanted, a number where a
        bool is wanted), named by its flag.
      ValueError: a field out of range (non-positive sizes or learning rate, NaN/Inf physics, a rollout
        longer than the train trajectories, an unknown name), named by its flag.
    """
    ints = {
        "seed": 0,
        "num_rollout_steps": 1,
        "configuration.num_branch_steps": 1,
        "configuration.cut_bptt_every": 1,
        "physics.num_spatial_dims": 1,
        "physics.num_points": 4,
        "physics.order": 0,
        "data.num_train_samples": 1,
        "data.num_train_steps": 1,
        "data.train_seed": 0,
        "data.num_test_samples": 1,
        "data.num_test_steps": 1,
        "data.test_seed": 0,
        "model.hidden_channels": 1,
        "model.num_blocks": 0,
        "train.batch_size": 1,
        "train.num_steps": 0,
        "train.data_seed": 0,
        "train.steps_per_dispatch": 1,
        "train.log_every": 1,
        "train.checkpoint_every": 1,
        "eval.every": 1,
        "eval.num_steps": 1,
        "eval.batch_size": 1,
        "mesh.space": 1,
    }
    values = {}
    for field, minimum in ints.items():
        value = _get(config, field)
        if value is None and field == "eval.batch_size":
            continue  # None: the whole test set in one batch
        if value is not _MISSING:
            maximum = 3 if field == "physics.num_spatial_dims" else None
            values[field] = check_int(flag(field), value, minimum=minimum, maximum=maximum)
    max_to_keep = _get(config, "train.max_to_keep")
    if max_to_keep is not _MISSING and max_to_keep is not None:
        check_int(flag("train.max_to_keep"), max_to_keep, minimum=1)
    distributed = _get(config, "distributed")
    if isinstance(distributed, Mapping) or hasattr(distributed, "to_dict"):
        for field, minimum in (("distributed.num_processes", 1), ("distributed.process_id", 0)):
            value = _get(config, field)
            if value not in (_MISSING, None):
                check_int(flag(field), value, minimum=minimum)
        auto = _get(config, "distributed.auto")
        if auto is not _MISSING:
            _check_bool(flag("distributed.auto"), auto)
    elif distributed is not _MISSING:
        _check_bool(flag("distributed"), distributed)  # the older schema's switch
    for field in (
        "configuration.cut_div_chain",
        "configuration.cut_bptt",
        "train.tensorboard",
        "train.profile",
        "train.progress_bar",
        "resume_despite_config_change",
    ):
        value = _get(config, field)
        if value is not _MISSING:
            _check_bool(flag(field), value)
    learning_rate = _get(config, "train.learning_rate")
    if learning_rate is not _MISSING:
        check_real(flag("train.learning_rate"), learning_rate, positive=True)
    for field in ("physics.difficulty", "coarse.difficulty"):
        value = _get(config, field)
        if value is not _MISSING:
            check_real(flag(field), value)

    optimizer = _get(config, "optimizer")
    if isinstance(optimizer, Mapping) or hasattr(optimizer, "to_dict"):
        rate = optimizer.get("learning_rate", _MISSING)
        if rate is not _MISSING and not isinstance(rate, Mapping) and not hasattr(rate, "to_dict"):
            check_real(flag("optimizer.learning_rate"), rate, positive=True)
    overrides = _get(config, "scenario.overrides")
    if overrides not in (_MISSING, None):
        for key, value in overrides.items():
            if isinstance(value, float):  # physics coefficients, difficulties, proportions
                check_real(flag(f"scenario.overrides.{key}"), value)
    _check_method_horizon(config)

    name = _get(config, "configuration.name")
    if name is not _MISSING:
        check_choice(flag("configuration.name"), name, CONFIGURATION_NAMES)
    ref_stepper = _get(config, "configuration.ref_stepper")
    if ref_stepper is not _MISSING and name in ("diverted_chain_branch_one", "diverted_chain"):
        check_choice(flag("configuration.ref_stepper"), ref_stepper, REF_STEPPER_NAMES)
        if ref_stepper == "coarse" and _get(config, "coarse") in (None, _MISSING):
            raise ValueError(
                f"{flag('configuration.ref_stepper')}='coarse' needs a coarse solver, but {flag('coarse')} "
                "is None"
            )

    rollout = values.get("num_rollout_steps")
    if rollout is not None:
        branch = values.get("configuration.num_branch_steps")
        if name == "diverted_chain" and branch is not None and branch > rollout:
            raise ValueError(
                f"{flag('configuration.num_branch_steps')} must be <= {flag('num_rollout_steps')} "
                f"({rollout}), got {branch}"
            )
        horizon = values.get("data.num_train_steps")
        # supervised training compares R predicted steps with R + 1 stored time levels
        if name in (_MISSING, "supervised") and horizon is not None and rollout > horizon:
            raise ValueError(
                f"{flag('num_rollout_steps')} must be <= {flag('data.num_train_steps')} ({horizon}): a "
                f"supervised rollout of R steps needs train trajectories of at least R steps, got "
                f"{rollout}"
            )
    test_steps, eval_steps = values.get("data.num_test_steps"), values.get("eval.num_steps")
    if test_steps is not None and eval_steps is not None and eval_steps > test_steps:
        raise ValueError(
            f"{flag('eval.num_steps')} must be <= {flag('data.num_test_steps')} ({test_steps}), got "
            f"{eval_steps}"
        )
    num_steps, dispatch = values.get("train.num_steps"), values.get("train.steps_per_dispatch")
    if num_steps is not None and dispatch is not None and num_steps % dispatch:
        raise ValueError(
            f"{flag('train.num_steps')} must be a multiple of {flag('train.steps_per_dispatch')} "
            f"({dispatch}), got {num_steps}"
        )


def _check_method_horizon(config: Any) -> None:
    """With the scenario schema: `--config.method` must not roll out more steps than the train
    trajectories hold, `--config.eval.num_steps` not more than the test trajectories; the errors name
    these flags and the horizon flags instead of the windows' `sub_trajectory_len`."""
    name = _get(config, "scenario.name")
    if name is _MISSING or _get(config, "data_dir") not in (_MISSING, None):
        return
    overrides = _get(config, "scenario.overrides")
    overrides = {} if overrides in (_MISSING, None) else dict(overrides.items())
    try:
        scenario = scenarios.make(name, **overrides)
    except (TypeError, ValueError):
        return  # build_scenario reports a bad scenario, naming its fields
    method, from_method = _get(config, "method"), getattr(configurations, "from_method", None)
    if method is not _MISSING and from_method is not None:
        try:
            window = from_method(method).required_window_length
        except (TypeError, ValueError):
            window = None  # build_configuration reports a bad method
        horizon = scenario.train_temporal_horizon
        if window is not None and window > horizon + 1:
            raise ValueError(
                f"{flag('method')}={method!r} needs train windows of {window} time levels, but the train "
                f"trajectories have {horizon + 1} ({flag('scenario.overrides.train_temporal_horizon')}="
                f"{horizon}): shorten the rollout or lengthen the horizon"
            )
    eval_steps = _get(config, "eval.num_steps")
    if isinstance(eval_steps, int) and eval_steps > scenario.test_temporal_horizon:
        raise ValueError(
            f"{flag('eval.num_steps')} must be <= the test horizon "
            f"({flag('scenario.overrides.test_temporal_horizon')}={scenario.test_temporal_horizon}), got "
            f"{eval_steps}"
        )
