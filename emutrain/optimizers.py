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

e.g. APEBench's default ``adam;10_000;warmup_cosine;0.0;1e-3;2_000``; :func:`parse_optimizer_string` reads
them (the scenarios' ``optim_config`` too). APEBench knows only ``adam``;
emutrain adds ``adamw``, ``sgd`` and ``lion`` (optax defaults), the schedule ``cosine;INIT`` (cosine decay
from INIT to 0 over NUM_STEPS) and ``exponential`` as another name of ``exp``.

**Mappings** (a dict or an ml_collections ConfigDict) for everything else::

    {"optimizer": "adamw", "weight_decay": 1e-4, "clip_global_norm": 1.0,
     "learning_rate": {"schedule": "warmup_cosine", "peak_value": 1e-3, "warmup_steps": 100}}

``optimizer``: one of :data:`OPTIMIZERS`; its keyword arguments (``b1``, ``b2``, ``eps``, ``weight_decay``,
``momentum``, ``nesterov``, as optax takes them) sit beside it: numbers as real numbers (``b1``, ``b2`` in
``[0, 1)``, the others ``>= 0``), ``nesterov`` (and a schedule's ``staircase``) as a bool or the string
``'true'`` / ``'false'`` in any case. ``learning_rate``: a number (constant) or a
mapping with ``schedule`` (one of :data:`SCHEDULES`) and that schedule's arguments; ``decay_steps``
defaults to ``num_steps``. ``clip_global_norm``: clip the gradient to this global norm before the update
(Pascanu et al., ICML 2013). Learning rates must be finite and non-negative (peak and constant values
positive); anything unknown raises ValueError naming the field and listing the valid names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import optax

from emutrain.validation import check_int, check_real

__all__ = ["OPTIMIZERS", "SCHEDULES", "make_optimizer", "make_schedule", "parse_optimizer_string"]

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
        staircase = _as_bool("staircase", take("staircase", False))
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


def _number(kind: type, *, rate: bool = False, positive: bool = False) -> Callable[[str, str], Any]:
    """A reader of one numeric field of an optimizer string: ``(where, token) -> value``."""

    def read(where: str, token: str) -> Any:
        try:
            value = kind(token)
        except ValueError:
            raise ValueError(
                f"{where} must be {'an int' if kind is int else 'a number'}, got {token!r}"
            ) from None
        return _rate(where, value, positive=positive) if rate else value

    return read


def _staircase(where: str, token: str) -> bool:
    if token not in ("True", "False"):
        raise ValueError(f"{where} must be 'True' or 'False' (as APEBench reads it), got {token!r}")
    return token == "True"


_EXPONENTIAL = (
    "exponential",
    (
        ("INIT", "init_value", _number(float, rate=True, positive=True)),
        ("TRANSITION_STEPS", "transition_steps", _number(int)),
        ("DECAY_RATE", "decay_rate", _number(float)),
        ("STAIRCASE", "staircase", _staircase),
    ),
)
_STRING_SCHEDULES: dict[str, tuple[str, tuple[tuple[str, str, Callable[[str, str], Any]], ...]]] = {
    "constant": ("constant", (("LR", "value", _number(float, rate=True, positive=True)),)),
    "exp": _EXPONENTIAL,
    "exponential": _EXPONENTIAL,
    "warmup_cosine": (
        "warmup_cosine",
        (
            ("INIT", "init_value", _number(float, rate=True)),
            ("PEAK", "peak_value", _number(float, rate=True, positive=True)),
            ("WARMUP_STEPS", "warmup_steps", _number(int)),
        ),
    ),
    "cosine": ("cosine", (("INIT", "init_value", _number(float, rate=True, positive=True)),)),
}
"""Schedule names of optimizer strings -> (schedule of :func:`make_schedule`, its fields in order)."""


def parse_optimizer_string(spec: str, *, label: str = "optimizer spec") -> dict[str, Any]:
    """``OPTIMIZER;NUM_STEPS;SCHEDULE;ARGS...`` (module docstring) as the arguments of :func:`make_optimizer`.

    Returns ``{"optimizer", "num_steps", "learning_rate": {"schedule", ...}}`` (``decay_steps`` set to
    NUM_STEPS where the schedule decays). ``label`` names the string in error messages.
    """
    if not isinstance(spec, str):
        raise TypeError(f"{label} must be a str, got {spec!r} of type {type(spec).__name__}")
    tokens = [token.strip() for token in spec.split(";")]
    forms = " | ".join(
        f"{name};{';'.join(f[0] for f in fields)}" for name, (_, fields) in _STRING_SCHEDULES.items()
    )
    if len(tokens) < 3:
        raise ValueError(f"{label} {spec!r} must have the form OPTIMIZER;NUM_STEPS;{forms}")
    name, schedule_name = tokens[0].lower(), tokens[2].lower()
    if name not in OPTIMIZERS:
        raise ValueError(
            f"OPTIMIZER of {label} {spec!r} must be one of {tuple(OPTIMIZERS)}, got {tokens[0]!r}"
        )
    steps = check_int("NUM_STEPS", _number(int)(f"NUM_STEPS of {label} {spec!r}", tokens[1]), minimum=1)
    if schedule_name not in _STRING_SCHEDULES:
        raise ValueError(
            f"SCHEDULE of {label} {spec!r} must be one of {tuple(_STRING_SCHEDULES)}, got {tokens[2]!r}"
        )
    schedule, fields = _STRING_SCHEDULES[schedule_name]
    if len(tokens) - 3 != len(fields):
        form = ";".join((schedule_name, *(f[0] for f in fields)))
        raise ValueError(f"the schedule of {label} {spec!r} must have the form {form}")
    learning_rate = {"schedule": schedule}
    for (field, key, read), token in zip(fields, tokens[3:]):
        learning_rate[key] = read(f"{field} of {label} {spec!r}", token)
    if schedule in ("cosine", "warmup_cosine"):
        learning_rate["decay_steps"] = steps
    return {"optimizer": name, "num_steps": steps, "learning_rate": learning_rate}


def _from_string(spec: str, num_steps: int | None) -> tuple[optax.GradientTransformation, optax.Schedule]:
    parsed = parse_optimizer_string(spec)
    steps = parsed["num_steps"]
    if num_steps is not None and num_steps != steps:
        raise ValueError(f"num_steps={num_steps} disagrees with NUM_STEPS={steps} in optimizer spec {spec!r}")
    schedule = make_schedule(parsed["learning_rate"], num_steps=steps)
    return OPTIMIZERS[parsed["optimizer"]](schedule), schedule


def _as_bool(key: str, value: Any) -> bool:
    """A real bool, or the strings 'true' / 'false' (any case); ValueError naming ``key`` otherwise."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ValueError(f"{key} must be a bool or 'true' / 'false', got {value!r}")


def _optimizer_args(name: str, args: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of optimizer ``name``, checked: b1/b2 in [0, 1), others >= 0, strict bools."""
    unknown = sorted(set(args) - set(_OPTIMIZER_ARGS[name]))
    if unknown:
        raise ValueError(
            f"unknown arguments {unknown} for optimizer {name!r}; valid: "
            f"{_OPTIMIZER_ARGS[name] + ('learning_rate', 'clip_global_norm')}"
        )
    checked = {}
    for key, value in args.items():
        if value is None:
            checked[key] = value
        elif key == "nesterov":
            checked[key] = _as_bool(key, value)
        else:
            checked[key] = check_real(key, value, non_negative=True)
            if key in ("b1", "b2") and not checked[key] < 1.0:
                raise ValueError(f"{key} must be in [0, 1), got {value!r}")
    return checked


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
    optimizer = OPTIMIZERS[name](schedule, **_optimizer_args(name, args))
    if clip is not None:
        clip = check_real("clip_global_norm", clip, positive=True)
        optimizer = optax.chain(optax.clip_by_global_norm(clip), optimizer)
    return optimizer, schedule
