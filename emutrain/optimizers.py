"""Optimizers and learning-rate schedules by name: APEBench 0.1.1's strings and plain optax names.

:func:`make_optimizer` returns ``(optax.GradientTransformation, optax.Schedule)``; the schedule is the one the
optimizer uses (log it, plot it).

**APEBench strings** ``OPTIMIZER;NUM_STEPS;SCHEDULE;ARGS...`` (``;``-separated; numbers may contain ``_``;
the names are case-insensitive), read exactly as APEBench reads them:

==============================================  =========================================================
``constant;LR``                                 ``optax.constant_schedule(LR)``
``exp;INIT;TRANSITION_STEPS;DECAY_RATE;STAIR``  ``optax.exponential_decay(INIT, TRANSITION_STEPS, DECAY_RATE,
                                                staircase=STAIR == "True")``; ``STAIR`` must be ``True`` or
                                                ``False`` (APEBench reads any other text as ``False``)
``warmup_cosine;INIT;PEAK;WARMUP_STEPS``        ``optax.warmup_cosine_decay_schedule(INIT, PEAK, WARMUP_STEPS,
                                                decay_steps=NUM_STEPS)``: linear warmup from INIT to PEAK
                                                over WARMUP_STEPS steps, then a cosine decay to 0 at NUM_STEPS
==============================================  =========================================================

e.g. APEBench's default ``adam;10_000;warmup_cosine;0.0;1e-3;2_000``. APEBench knows only ``adam``;
emutrain adds ``adamw``, ``sgd`` and ``lion`` (optax defaults), the schedule ``cosine;INIT`` (cosine decay
from INIT to 0 over NUM_STEPS) and ``exponential`` as another name of ``exp``.

**Mappings** (a dict or an ml_collections ConfigDict) for everything else::

    {"optimizer": "adamw", "weight_decay": 1e-4, "clip_global_norm": 1.0,
     "learning_rate": {"schedule": "warmup_cosine", "peak_value": 1e-3, "warmup_steps": 100}}

``optimizer``: one of :data:`OPTIMIZERS`; its keyword arguments (``b1``, ``b2``, ``eps``, ``weight_decay``,
``momentum``, ``nesterov``, as optax takes them) sit beside it. ``learning_rate``: a number (constant) or a
mapping with ``schedule`` (one of :data:`SCHEDULES`) and that schedule's arguments; ``decay_steps``
defaults to ``num_steps``. ``clip_global_norm``: clip the gradient to this global norm before the update
(Pascanu et al., ICML 2013). Learning rates must be finite and non-negative (peak and constant values
positive); anything unknown raises ValueError naming the field and listing the valid names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import optax

from emutrain.validation import check_int, check_real

__all__ = ["OPTIMIZERS", "SCHEDULES", "make_optimizer", "make_schedule"]

OPTIMIZERS: dict[str, Callable[..., optax.GradientTransformation]] = {
    "adam": optax.adam,
    "adamw": optax.adamw,
    "sgd": optax.sgd,
    "lion": optax.lion,
}
_OPTIMIZER_ARGS = {
    "adam": ("b1", "b2", "eps"),
    "adamw": ("b1", "b2", "eps", "weight_decay"),
    "sgd": ("momentum", "nesterov"),
    "lion": ("b1", "b2", "weight_decay"),
}
SCHEDULES = ("constant", "cosine", "warmup_cosine", "exponential")
_STRING_SCHEDULES = {
    "constant": "constant;LR",
    "exp": "exp;INIT;TRANSITION_STEPS;DECAY_RATE;True|False",
    "exponential": "exponential;INIT;TRANSITION_STEPS;DECAY_RATE;True|False",
    "warmup_cosine": "warmup_cosine;INIT;PEAK;WARMUP_STEPS",
    "cosine": "cosine;INIT",
}


def _rate(name: str, value: Any, *, positive: bool = False) -> float:
    """A learning-rate value: finite, >= 0 (> 0 if ``positive``)."""
    value = check_real(name, value)
    if positive and not value > 0:
        raise ValueError(f"{name} must be a learning rate > 0, got {value}")
    if not value >= 0:
        raise ValueError(f"{name} must be a learning rate >= 0, got {value}")
    return value


def make_schedule(spec: float | Mapping[str, Any], *, num_steps: int | None = None) -> optax.Schedule:
    """A learning-rate schedule from a number (constant) or a mapping ``{"schedule": NAME, **arguments}``.

    ``constant``: ``value``. ``cosine``: ``init_value``, ``decay_steps`` (default ``num_steps``), ``alpha``
    (final fraction, default 0). ``warmup_cosine``: ``init_value`` (default 0), ``peak_value``,
    ``warmup_steps``, ``decay_steps`` (total steps including the warmup, default ``num_steps``), ``end_value``
    (default 0).
    ``exponential``: ``init_value``, ``transition_steps``, ``decay_rate``, ``staircase`` (default False),
    ``transition_begin`` (default 0), ``end_value`` (default None).
    """
    if not isinstance(spec, Mapping):
        return optax.constant_schedule(_rate("learning_rate", spec, positive=True))
    args = dict(spec)
    name = args.pop("schedule", None)
    if name not in SCHEDULES:
        raise ValueError(f"learning_rate['schedule'] must be one of {SCHEDULES}, got {name!r}")

    def take(key: str, default: Any = ...) -> Any:
        if key in args:
            return args.pop(key)
        if default is ...:
            raise ValueError(f"learning_rate['{key}'] must be given for the {name!r} schedule")
        return default

    def decay_steps() -> int:
        steps = take("decay_steps", num_steps)
        if steps is None:
            raise ValueError(
                f"learning_rate['decay_steps'] (or num_steps) must be given for the {name!r} schedule"
            )
        return check_int("decay_steps", steps, minimum=1)

    if name == "constant":
        schedule = optax.constant_schedule(_rate("value", take("value"), positive=True))
    elif name == "cosine":
        schedule = optax.cosine_decay_schedule(
            _rate("init_value", take("init_value"), positive=True),
            decay_steps(),
            alpha=check_real("alpha", take("alpha", 0.0)),
        )
    elif name == "warmup_cosine":
        init = _rate("init_value", take("init_value", 0.0))
        peak = _rate("peak_value", take("peak_value"), positive=True)
        warmup = check_int("warmup_steps", take("warmup_steps"), minimum=0)
        total = decay_steps()
        if total <= warmup:
            raise ValueError(
                f"decay_steps must be > warmup_steps={warmup} (it counts the warmup), got {total}"
            )
        end = _rate("end_value", take("end_value", 0.0))
        schedule = optax.warmup_cosine_decay_schedule(init, peak, warmup, total, end_value=end)
    else:
        init = _rate("init_value", take("init_value"), positive=True)
        transition = check_int("transition_steps", take("transition_steps"), minimum=1)
        rate = check_real("decay_rate", take("decay_rate"), positive=True)
        staircase = take("staircase", False)
        if not isinstance(staircase, bool):
            raise TypeError(f"staircase must be a bool, got {staircase!r}")
        end = take("end_value", None)
        schedule = optax.exponential_decay(
            init,
            transition,
            rate,
            staircase=staircase,
            transition_begin=check_int("transition_begin", take("transition_begin", 0), minimum=0),
            end_value=None if end is None else _rate("end_value", end),
        )
    if args:
        raise ValueError(f"learning_rate has unknown keys {sorted(args)} for the {name!r} schedule")
    return schedule


def _parse_number(spec: str, field: str, token: str, kind: type) -> Any:
    try:
        return kind(token)
    except ValueError:
        raise ValueError(
            f"{field} in optimizer spec {spec!r} must be {'an int' if kind is int else 'a number'}, "
            f"got {token!r}"
        ) from None


def _from_string(spec: str, num_steps: int | None) -> tuple[optax.GradientTransformation, optax.Schedule]:
    tokens = [token.strip() for token in spec.split(";")]
    forms = "OPTIMIZER;NUM_STEPS;" + " | ".join(_STRING_SCHEDULES.values())
    if len(tokens) < 3:
        raise ValueError(f"optimizer spec {spec!r} must have the form {forms}")
    name, schedule_name = tokens[0].lower(), tokens[2].lower()
    if name not in OPTIMIZERS:
        raise ValueError(
            f"OPTIMIZER in optimizer spec {spec!r} must be one of {tuple(OPTIMIZERS)}, got {tokens[0]!r}"
        )
    steps = check_int("NUM_STEPS", _parse_number(spec, "NUM_STEPS", tokens[1], int), minimum=1)
    if num_steps is not None and num_steps != steps:
        raise ValueError(f"num_steps={num_steps} disagrees with NUM_STEPS={steps} in optimizer spec {spec!r}")
    if schedule_name not in _STRING_SCHEDULES:
        raise ValueError(
            f"SCHEDULE in optimizer spec {spec!r} must be one of {tuple(_STRING_SCHEDULES)}, "
            f"got {tokens[2]!r}"
        )
    form = _STRING_SCHEDULES[schedule_name]
    args = tokens[3:]
    if len(args) != len(form.split(";")) - 1:
        raise ValueError(f"schedule in optimizer spec {spec!r} must have the form {form}")

    def number(i: int, field: str, *, positive: bool = False) -> float:
        value = _parse_number(spec, field, args[i], float)
        return _rate(f"{field} of optimizer spec {spec!r}", value, positive=positive)

    if schedule_name == "constant":
        schedule = {"schedule": "constant", "value": number(0, "LR", positive=True)}
    elif schedule_name == "cosine":
        schedule = {
            "schedule": "cosine",
            "init_value": number(0, "INIT", positive=True),
            "decay_steps": steps,
        }
    elif schedule_name == "warmup_cosine":
        schedule = {
            "schedule": "warmup_cosine",
            "init_value": number(0, "INIT"),
            "peak_value": number(1, "PEAK", positive=True),
            "warmup_steps": _parse_number(spec, "WARMUP_STEPS", args[2], int),
            "decay_steps": steps,
        }
    else:
        if args[3] not in ("True", "False"):
            raise ValueError(
                f"the staircase field of optimizer spec {spec!r} must be 'True' or 'False', got {args[3]!r}"
            )
        schedule = {
            "schedule": "exponential",
            "init_value": number(0, "INIT", positive=True),
            "transition_steps": _parse_number(spec, "TRANSITION_STEPS", args[1], int),
            "decay_rate": _parse_number(spec, "DECAY_RATE", args[2], float),
            "staircase": args[3] == "True",
        }
    schedule = make_schedule(schedule, num_steps=steps)
    return OPTIMIZERS[name](schedule), schedule


def make_optimizer(
    spec: str | Mapping[str, Any], *, num_steps: int | None = None
) -> tuple[optax.GradientTransformation, optax.Schedule]:
    """The optimizer and its learning-rate schedule for an APEBench string or a mapping (module docstring).

    ``num_steps`` (the length of training) is the default ``decay_steps`` of decaying schedules; an APEBench
    string carries its own, which ``num_steps`` must then equal if given.
    """
    if num_steps is not None:
        num_steps = check_int("num_steps", num_steps, minimum=1)
    if isinstance(spec, str):
        return _from_string(spec, num_steps)
    if hasattr(spec, "to_dict") and not isinstance(spec, Mapping):
        spec = spec.to_dict()  # ml_collections.ConfigDict
    if not isinstance(spec, Mapping):
        raise TypeError(f"spec must be an optimizer string or a mapping, got {spec!r}")
    args = dict(spec)
    name = args.pop("optimizer", None)
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {tuple(OPTIMIZERS)}, got {name!r}")
    if "learning_rate" not in args:
        raise ValueError(f"learning_rate must be given (a number or {{'schedule': one of {SCHEDULES}, ...}})")
    schedule = make_schedule(args.pop("learning_rate"), num_steps=num_steps)
    clip = args.pop("clip_global_norm", None)
    unknown = sorted(set(args) - set(_OPTIMIZER_ARGS[name]))
    if unknown:
        raise ValueError(
            f"unknown arguments {unknown} for optimizer {name!r}; valid: "
            f"{_OPTIMIZER_ARGS[name] + ('learning_rate', 'clip_global_norm')}"
        )
    for key in ("b1", "b2", "eps", "weight_decay", "momentum"):
        if key in args and args[key] is not None:
            check_real(key, args[key], non_negative=True)
    optimizer = OPTIMIZERS[name](schedule, **args)
    if clip is not None:
        clip = check_real("clip_global_norm", clip, positive=True)
        optimizer = optax.chain(optax.clip_by_global_norm(clip), optimizer)
    return optimizer, schedule
