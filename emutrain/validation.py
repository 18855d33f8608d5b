"""Argument checks shared by every layer, with one convention for exception types.

`TypeError` for a value of the wrong type (a bool where an int is wanted counts as a wrong type; so do
integer, bool and complex arrays where arithmetic needs floats); `ValueError` for a value of the right
type outside what is allowed (a negative size, NaN, an unknown name). Every message names the parameter,
the value received and what is allowed.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection
from typing import Any

import jax.numpy as jnp
import numpy as np

__all__ = [
    "check_int",
    "check_kind",
    "check_real",
    "check_choice",
    "check_floating",
]


def check_int(name: str, value: Any, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """`value` as a Python int; TypeError unless it is an integer (not a bool), ValueError outside
    `[minimum, maximum]`."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {value!r} of type {type(value).__name__}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def check_real(
    name: str,
    value: Any,
    *,
    positive: bool = False,
    non_negative: bool = False,
    allow_nonfinite: bool = False,
) -> float:
    """`value` as a Python float; TypeError unless it is a real number (not a bool), ValueError if it
    is NaN/Inf (unless `allow_nonfinite`) or breaks the requested sign."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} of type {type(value).__name__}")
    value = float(value)
    if not allow_nonfinite and not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if positive and not value > 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    if non_negative and not value >= 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


def check_choice(name: str, value: Any, choices: Collection[Any]) -> Any:
    """`value` if it is one of `choices`, else ValueError listing them."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")
    return value


def check_floating(name: str, array: Any) -> None:
    """TypeError unless `array` (anything with a `dtype`, or a pytree leaf) holds real floating-point
    values: integer and bool data would train with a zero gradient or truncate, complex data would give
    complex or negative losses."""
    dtype = getattr(array, "dtype", None)
    if dtype is None:
        dtype = np.asarray(array).dtype
    # jnp.issubdtype also knows the ml_dtypes floats (bfloat16, float8), which numpy does not count as
    # floating
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(
            f"{name} must hold real floating-point values (float16/bfloat16/float32/float64), got dtype "
            f"{dtype}; convert with .astype(np.float32)"
        )


def check_kind(name: str, kind: Any, value: Any) -> Any:
    """`value` converted to `kind`: ``bool``, ``int``, ``float``, ``str``, ``tuple[float, ...]``,
    ``tuple[float, float]`` or ``tuple[tuple[float, ...], ...]`` (sequences become tuples of floats);
    TypeError naming it, ValueError for a pair of another length."""
    if kind is bool:
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{name} must be a bool, got {value!r} of type {type(value).__name__}")
        return bool(value)
    if kind is int:
        return check_int(name, value)
    if kind is float:
        return check_real(name, value)
    if kind is str:
        if not isinstance(value, str):
            raise TypeError(f"{name} must be a str, got {value!r} of type {type(value).__name__}")
        return value
    if kind == tuple[tuple[float, ...], ...]:
        if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
            raise TypeError(f"{name} must be a tuple of tuples of real numbers, got {value!r}")
        return tuple(check_kind(name, tuple[float, ...], row) for row in value)
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        raise TypeError(
            f"{name} must be a tuple of real numbers, got {value!r} of type {type(value).__name__}"
        )
    items = tuple(value)
    for item in items:
        if isinstance(item, (bool, np.bool_)) or not isinstance(item, numbers.Real):
            raise TypeError(f"{name} must hold real numbers, got {value!r}")
    if kind == tuple[float, float] and len(items) != 2:
        raise ValueError(f"{name} must have 2 entries, got {value!r}")
    return tuple(float(v) for v in items)
