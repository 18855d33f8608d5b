"""Resume safety: the config stored in a checkpoint against the config of the run resuming from it.

A run may resume with another run length, cadence, process layout or mesh (`RESUME_SAFE_FIELDS`); any other
change (model, data, optimizer, physics, configuration, seeds) changes what is trained and is refused
with one line listing every changed field, unless the run config sets `RESUME_OVERRIDE_FIELD`.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from typing import Any

__all__ = [
    "RESUME_OVERRIDE_FIELD",
    "RESUME_SAFE_FIELDS",
    "ConfigChangedError",
    "check_resume_config",
    "config_changes",
]

RESUME_OVERRIDE_FIELD = "resume_despite_config_change"
"""The run-config field that, set to True, resumes although fields outside `RESUME_SAFE_FIELDS` changed."""

RESUME_SAFE_FIELDS = (
    "distributed",
    "mesh",
    RESUME_OVERRIDE_FIELD,
    "train.num_steps",
    "train.steps_per_dispatch",
    "train.log_every",
    "train.checkpoint_every",
    "train.max_to_keep",
    "train.tensorboard",
    "train.profile",
    "train.progress_bar",
    "eval.every",
    "eval.num_steps",
    "eval.batch_size",
)
"""Run-config fields that may change between a checkpoint and the run resuming from it: run length,
dispatch size (the same batches and keys, results equal to float rounding), logging/checkpoint/evaluation
cadence and evaluation size, output switches, the process layout (`distributed`) and the device mesh
(`mesh`: parameters are replicated, batches the same global ones). Everything else (model,
data, optimizer, physics, configuration, seeds) changes what is trained."""

_ABSENT = object()


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings as `{"a.b.c": leaf}`; an empty mapping is a leaf of its own."""
    if isinstance(tree, Mapping) and tree:
        flat = {}
        for key, value in tree.items():
            flat.update(_flatten(value, f"{prefix}{key}."))
        return flat
    return {prefix[:-1]: _normalize(tree)}


def _normalize(value: Any) -> Any:
    """JSON round trips turn tuples into lists: compare them as lists."""
    if isinstance(value, (tuple, list)):
        return [_normalize(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _normalize(v) for k, v in value.items()}
    return value


def _same(a: Any, b: Any) -> bool:
    """Equality of config values: numbers by value (1 == 1.0, NaN == NaN, but a bool is no number),
    lists element-wise, anything else by type and value."""
    if _is_number(a) and _is_number(b):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _ignored(field: str, ignore: Collection[str]) -> bool:
    return any(field == name or field.startswith(name + ".") for name in ignore)


def config_changes(
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any] | None,
    *,
    ignore: Collection[str] = RESUME_SAFE_FIELDS,
) -> list[str]:
    """The fields that differ between two (nested) run configs, as `"field: old -> new"` strings in
    sorted dotted-field order; a field only one side has shows `<absent>` on the other.

    Args:
      old, new: nested mappings (`ConfigDict.to_dict()`, or the JSON stored in a checkpoint; tuples
        and lists compare equal, NaN equals NaN, 1 equals 1.0 but not True).
      ignore: dotted field names (`"train.num_steps"`) or prefixes (`"eval"` covers `eval.*`) whose
        changes are allowed; default `RESUME_SAFE_FIELDS`.
    """
    if isinstance(ignore, str):
        raise TypeError(f"ignore must be a collection of field names, got the str {ignore!r}")
    flat_old = _flatten(old or {})
    flat_new = _flatten(new or {})
    flat_old.pop("", None)
    flat_new.pop("", None)
    changes = []
    for field in sorted(set(flat_old) | set(flat_new)):
        if _ignored(field, ignore):
            continue
        a, b = flat_old.get(field, _ABSENT), flat_new.get(field, _ABSENT)
        if a is _ABSENT or b is _ABSENT or not _same(a, b):
            show = lambda v: "<absent>" if v is _ABSENT else repr(v)  # noqa: E731
            changes.append(f"{field}: {show(a)} -> {show(b)}")
    return changes


class ConfigChangedError(ValueError):
    """The run config differs from the one stored in the checkpoint it would resume from."""

    def __init__(self, message: str, changes: list[str]):
        super().__init__(message)
        self.changes = changes


def check_resume_config(
    stored: Mapping[str, Any] | None,
    current: Mapping[str, Any],
    *,
    where: str = "the checkpoint",
    ignore: Collection[str] = RESUME_SAFE_FIELDS,
) -> list[str]:
    """Raises `ConfigChangedError` (one line listing every changed field as `field: old -> new`) when
    `current` changes fields outside `ignore` with respect to `stored`, unless
    `current[RESUME_OVERRIDE_FIELD]` is True; returns the changes (empty when `stored` is None: a
    checkpoint without a stored config has nothing to compare)."""
    if stored is None:
        return []
    changes = config_changes(stored, current, ignore=ignore)
    if changes and not current.get(RESUME_OVERRIDE_FIELD, False):
        raise ConfigChangedError(
            f"the config differs from the one stored in {where}: {'; '.join(changes)} -- resume with "
            f"the stored values, use a new workdir, or set --config.{RESUME_OVERRIDE_FIELD}=True",
            changes,
        )
    return changes
