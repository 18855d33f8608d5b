"""The file layout of The Well's HDF5 files and its ``stats.yaml``, read and checked without the data.

A Well file holds ``n_trajectories`` trajectories of one PDE. Root attributes: ``dataset_name``,
``grid_type`` (only ``"cartesian"`` is supported here), ``n_spatial_dims``, ``n_trajectories``. Groups:

* ``dimensions``: attribute ``spatial_dims`` (e.g. ``["x", "y"]``) and the coordinates ``time`` (its last
  axis counts the snapshots) and one dataset per spatial dimension (its last axis is the resolution);
* ``t0_fields``, ``t1_fields``, ``t2_fields``: scalar, vector and rank-2 tensor fields, attribute
  ``field_names``; each dataset has attributes ``time_varying``, ``sample_varying`` and ``dim_varying`` and
  shape ``([n_trajectories,] [n_steps,] *spatial, *(n_spatial_dims,) * order)`` (size 1 along the spatial
  axes it does not vary along);
* ``scalars``: attribute ``field_names``, one dataset per scalar with ``time_varying``/``sample_varying``;
* ``boundary_conditions``: one group per condition with attributes ``bc_type`` (``WALL``, ``OPEN``,
  ``PERIODIC``) and ``associated_dims``, and a boolean ``mask`` over those dimensions.

A tensor field of order ``k`` flattens to ``n_spatial_dims ** k`` channels named ``{field}_{dims}``
(``velocity_x``, ``stress_xy``) in row-major order.
"""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import yaml

from emutrain.data.hdf5 import attr_names, check_float_dataset

__all__ = [
    "BOUNDARY_KINDS",
    "WellField",
    "WellFileLayout",
    "WellScalar",
    "check_same_layout",
    "load_well_stats",
    "read_well_layout",
]

BOUNDARY_KINDS = {"PERIODIC": "periodic", "WALL": "wall", "OPEN": "open"}


@dataclasses.dataclass(frozen=True)
class WellField:
    """One field: its ``name``, tensor ``order`` (0, 1, 2), flattened ``channels`` names, which axes it
    varies along, and its stored ``shape`` after the trajectory and time axes."""

    name: str
    order: int
    channels: tuple[str, ...]
    time_varying: bool
    sample_varying: bool
    dim_varying: tuple[bool, ...]
    shape: tuple[int, ...]

    @property
    def path(self) -> str:
        """The field's dataset in a file, e.g. ``"t1_fields/velocity"``."""
        return f"t{self.order}_fields/{self.name}"


@dataclasses.dataclass(frozen=True)
class WellScalar:
    """One scalar (a parameter or a time series): its ``name`` and which axes it varies along."""

    name: str
    time_varying: bool
    sample_varying: bool


@dataclasses.dataclass(frozen=True)
class WellFileLayout:
    """What one Well file holds, without its data; ``boundary_conditions`` is one ``(low, high)`` pair
    of ``"periodic" | "wall" | "open"`` per spatial axis."""

    path: str
    dataset_name: str
    spatial_dims: tuple[str, ...]
    spatial_shape: tuple[int, ...]
    num_trajectories: int
    num_steps: int
    fields: tuple[WellField, ...]
    scalars: tuple[WellScalar, ...]
    boundary_conditions: tuple[tuple[str, str], ...]


def _attr(path: str, obj: h5py.HLObject, name: str) -> Any:
    if name not in obj.attrs:
        raise ValueError(f"{path}: {obj.name!r} lacks the attribute {name!r} of The Well's file format")
    return obj.attrs[name]


def _group(path: str, file: h5py.File, name: str) -> h5py.Group:
    if name not in file:
        raise ValueError(f"{path}: missing group {name!r} of The Well's file format")
    return file[name]


def _read_field(path: str, dataset: h5py.Dataset, order: int, layout: dict[str, Any]) -> WellField:
    name = dataset.name.rsplit("/", 1)[-1]
    check_float_dataset(path, dataset.name, dataset)
    time_varying = bool(_attr(path, dataset, "time_varying"))
    sample_varying = bool(_attr(path, dataset, "sample_varying"))
    dims = layout["spatial_dims"]
    dim_varying = tuple(bool(v) for v in np.ravel(_attr(path, dataset, "dim_varying")))
    if len(dim_varying) != len(dims):
        raise ValueError(
            f"{path}: field {name!r} has dim_varying {dim_varying}, one entry per {dims} expected"
        )
    spatial = tuple(n if varying else 1 for n, varying in zip(layout["spatial_shape"], dim_varying))
    shape = spatial + (len(dims),) * order
    expected = (layout["num_trajectories"],) * sample_varying + (layout["num_steps"],) * time_varying + shape
    if tuple(dataset.shape) != expected:
        raise ValueError(
            f"{path}: field {name!r} has shape {tuple(dataset.shape)}, expected {expected} from "
            f"sample_varying={sample_varying}, time_varying={time_varying}, dim_varying={dim_varying}"
        )
    channels = tuple(
        f"{name}_{''.join(suffix)}" if suffix else name for suffix in itertools.product(dims, repeat=order)
    )
    return WellField(name, order, channels, time_varying, sample_varying, dim_varying, shape)


def _read_boundaries(path: str, file: h5py.File, dims: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """Per axis ``(low, high)``: open unless a condition covers that side (a wall must cover all of it)."""
    sides = [["open", "open"] for _ in dims]
    if "boundary_conditions" not in file:
        return tuple(tuple(pair) for pair in sides)
    for key, condition in file["boundary_conditions"].items():
        kind = attr_names(_attr(path, condition, "bc_type"))[0].upper()
        if kind not in BOUNDARY_KINDS:
            raise ValueError(
                f"{path}: boundary condition {key!r} has bc_type {kind!r}; "
                f"supported are {tuple(BOUNDARY_KINDS)}"
            )
        associated = attr_names(_attr(path, condition, "associated_dims"))
        mask = np.atleast_1d(np.asarray(condition["mask"][()], dtype=bool))
        reduce = np.all if kind == "WALL" else np.any
        for axis, dim in enumerate(associated):
            if dim not in dims:
                raise ValueError(f"{path}: boundary condition {key!r} names dimension {dim!r}, not in {dims}")
            for side, at in ((0, 0), (1, -1)):
                if reduce(np.take(mask, at, axis=axis)):
                    sides[dims.index(dim)][side] = BOUNDARY_KINDS[kind]
    return tuple(tuple(pair) for pair in sides)


def _read_scalars(path: str, file: h5py.File) -> tuple[WellScalar, ...]:
    if "scalars" not in file:
        return ()
    group = file["scalars"]
    scalars = []
    for name in attr_names(group.attrs.get("field_names", [])):
        dataset = group[name]
        check_float_dataset(path, dataset.name, dataset)
        time_varying = bool(_attr(path, dataset, "time_varying"))
        scalars.append(WellScalar(name, time_varying, bool(_attr(path, dataset, "sample_varying"))))
    return tuple(scalars)


def read_well_layout(path: str) -> WellFileLayout:
    """The layout of the Well file ``path``; ValueError/TypeError naming the file for what emutrain cannot
    read (a non-cartesian ``grid_type``, non-float fields, shapes that contradict the attributes)."""
    with h5py.File(path, "r") as file:
        grid_type = attr_names(file.attrs.get("grid_type", "cartesian"))[0]
        if grid_type != "cartesian":
            raise ValueError(f"{path}: grid_type {grid_type!r} is not supported; allowed is 'cartesian'")
        dimensions = _group(path, file, "dimensions")
        dims = tuple(attr_names(_attr(path, dimensions, "spatial_dims")))
        layout = {
            "spatial_dims": dims,
            "spatial_shape": tuple(int(dimensions[d].shape[-1]) for d in dims),
            "num_trajectories": int(_attr(path, file, "n_trajectories")),
            "num_steps": int(dimensions["time"].shape[-1]),
        }
        fields = []
        for order in range(3):
            group = _group(path, file, f"t{order}_fields")
            for name in attr_names(group.attrs.get("field_names", [])):
                fields.append(_read_field(path, group[name], order, layout))
        return WellFileLayout(
            path=path,
            dataset_name=attr_names(file.attrs.get("dataset_name", ""))[0],
            fields=tuple(fields),
            scalars=_read_scalars(path, file),
            boundary_conditions=_read_boundaries(path, file, dims),
            **layout,
        )


def check_same_layout(layouts: list[WellFileLayout]) -> None:
    """ValueError naming both files unless every file has the first one's grid, fields and scalars."""
    first = layouts[0]
    for other in layouts[1:]:
        for what in ("spatial_dims", "spatial_shape", "fields", "scalars"):
            mine, theirs = getattr(first, what), getattr(other, what)
            if mine != theirs:
                raise ValueError(
                    f"{other.path}: {what} disagree with {first.path}: {theirs} != {mine}; all files of a "
                    "split must share them"
                )


def _stat(stats_path: Path, stats: dict, key: str, field: str) -> np.ndarray:
    try:
        return np.asarray(stats[key][field], dtype=np.float32)
    except (KeyError, TypeError) as error:
        raise ValueError(f"{stats_path}: no {key!r} statistics for field {field!r}") from error


def load_well_stats(
    stats_path: Path, normalization: str, fields: tuple[WellField, ...], min_std: float
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per field ``(shift, scale)`` such that the normalized field is ``(x - shift) / scale``:
    ``zscore`` uses ``(mean, max(std, min_std))``, ``rms`` uses ``(0, max(rms, min_std))``; each
    broadcasts against the field's trailing tensor axes."""
    if not stats_path.is_file():
        raise ValueError(f"normalization={normalization!r} needs the statistics file {stats_path}, not found")
    with open(stats_path) as f:
        stats = yaml.safe_load(f)
    if not isinstance(stats, dict):
        raise ValueError(f"{stats_path}: expected a mapping of statistics, got {type(stats).__name__}")
    result = {}
    for field in fields:
        if normalization == "zscore":
            shift, scale = (
                _stat(stats_path, stats, "mean", field.name),
                _stat(stats_path, stats, "std", field.name),
            )
        else:
            scale = _stat(stats_path, stats, "rms", field.name)
            shift = np.zeros_like(scale)
        result[field.name] = (shift, np.maximum(scale, np.float32(min_std)))
    return result
