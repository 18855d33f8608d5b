"""Trajectory sets on disk: ``.npy`` files (memory-mapped on load) or ArrayRecord shards, plus JSON metadata.

A dataset directory holds ``metadata.json`` and one array per name (``trajectories`` for a single
array, the dict keys for a dict of arrays), each ``(S, T+1, *spatial, C)`` or any shape with a leading
trajectory axis:

* ``format="npy"``: ``<name>.npy``; loaded memory-mapped by default, so the data can exceed RAM and
  pages are read only where windows are taken.
* ``format="array_record"``: ``<name>-<shard>-of-<num_shards>.array_record``, one record per
  trajectory (its raw C-order bytes); loaded lazily as :class:`ArrayRecordTrajectories` through
  ``grain.sources.ArrayRecordDataSource``.

``metadata.json`` records format, shapes and dtypes (checked against the files on load) next to the
caller's metadata (time step, physics parameters, seeds, generator version, ...).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["ArrayRecordTrajectories", "load_trajectories", "save_trajectories"]

METADATA_FILE = "metadata.json"
FORMATS = ("npy", "array_record")
_RESERVED_KEYS = ("format", "structure", "arrays")
_SINGLE_NAME = "trajectories"


class ArrayRecordTrajectories:
    """Lazy, read-only trajectory set ``(S, *shape)`` stored one trajectory per ArrayRecord record.

    ``store[i]`` reads trajectory ``i`` as ``shape``; ``store[indices]`` with an integer array reads
    ``(len(indices), *shape)``. Works as a leaf of :class:`~emutrain.data.TrajectoryWindows`.
    """

    def __init__(self, paths: list[str | os.PathLike], shape: tuple[int, ...], dtype: Any) -> None:
        import grain  # only stores on ArrayRecord need it

        self.paths = [str(p) for p in paths]
        self.shape = tuple(int(d) for d in shape)
        self.dtype = np.dtype(dtype)
        self.ndim = len(self.shape)
        self._source = grain.sources.ArrayRecordDataSource(self.paths)

    def __len__(self) -> int:
        return self.shape[0]

    def _decode(self, record: bytes) -> np.ndarray:
        return np.frombuffer(record, dtype=self.dtype).reshape(self.shape[1:])

    def __getitem__(self, index: int | np.ndarray) -> np.ndarray:
        if isinstance(index, (int, np.integer)):
            return self._decode(self._source[int(index)])
        indices = [int(i) for i in np.asarray(index).reshape(-1)]
        records = self._source.__getitems__(indices)
        return np.stack([self._decode(r) for r in records]).reshape(np.shape(index) + self.shape[1:])

    def __repr__(self) -> str:
        return f"ArrayRecordTrajectories(shape={self.shape}, dtype={self.dtype}, shards={len(self.paths)})"


def _as_named_arrays(trajectories: Any) -> tuple[str, dict[str, np.ndarray]]:
    if isinstance(trajectories, Mapping):
        if not trajectories:
            raise ValueError("trajectories must hold at least one array, got an empty dict")
        for name in trajectories:
            if not isinstance(name, str) or not name.isidentifier():
                raise ValueError(f"trajectories keys must be identifiers (file names), got {name!r}")
        return "dict", {name: np.asarray(a) for name, a in trajectories.items()}
    return "array", {_SINGLE_NAME: np.asarray(trajectories)}


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"metadata values must be JSON-serializable, got {type(value).__name__}")


def _shard_paths(directory: Path, name: str, num_shards: int) -> list[Path]:
    return [directory / f"{name}-{i:05d}-of-{num_shards:05d}.array_record" for i in range(num_shards)]


def save_trajectories(
    path: str | os.PathLike,
    trajectories: np.ndarray | Mapping[str, np.ndarray],
    metadata: Mapping[str, Any] | None = None,
    *,
    format: str = "npy",  # noqa: A002 - the storage format's name
    num_shards: int = 1,
) -> Path:
    """Writes a trajectory set ``(S, T+1, *spatial, C)`` (or a dict of such arrays) to directory ``path``.

    Args:
      path: dataset directory (created if needed).
      trajectories: one array or a dict name -> array, each with a leading trajectory axis.
      metadata: JSON-serializable description (``dt``, physics parameters, seeds, generator version,
        ...); the keys ``format``, ``structure`` and ``arrays`` are reserved.
      format: ``"npy"`` or ``"array_record"``.
      num_shards: ArrayRecord shard files per array (contiguous blocks of trajectories).

    Returns:
      The dataset directory.
    """
    if format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {format!r}")
    if isinstance(num_shards, bool) or not isinstance(num_shards, int) or num_shards < 1:
        raise ValueError(f"num_shards must be an int >= 1, got {num_shards!r}")
    metadata = dict(metadata or {})
    for key in _RESERVED_KEYS:
        if key in metadata:
            raise ValueError(f"metadata key {key!r} is reserved (one of {_RESERVED_KEYS})")
    structure, arrays = _as_named_arrays(trajectories)
    for name, array in arrays.items():
        if array.ndim < 1 or array.shape[0] < num_shards:
            raise ValueError(
                f"trajectories[{name!r}] of shape {array.shape} must have at least num_shards={num_shards} "
                "trajectories along its leading axis"
            )
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    described = {}
    for name, array in arrays.items():
        if format == "npy":
            np.save(directory / f"{name}.npy", array, allow_pickle=False)
            files = [f"{name}.npy"]
        else:
            from array_record.python.array_record_module import ArrayRecordWriter

            paths = _shard_paths(directory, name, num_shards)
            for shard_path, block in zip(paths, np.array_split(np.ascontiguousarray(array), num_shards)):
                writer = ArrayRecordWriter(str(shard_path), "group_size:1")
                for trajectory in block:
                    writer.write(trajectory.tobytes())
                writer.close()
            files = [p.name for p in paths]
        described[name] = {"shape": list(array.shape), "dtype": array.dtype.str, "files": files}
    document = {"format": format, "structure": structure, "arrays": described, **metadata}
    text = json.dumps(document, indent=2, default=_json_default)
    (directory / METADATA_FILE).write_text(text + "\n")
    return directory


def _check_finite(name: str, array: Any, chunk_bytes: int = 64 << 20) -> None:
    """Raises if ``array`` holds nan/inf; reads it in blocks of trajectories so a memmap stays on disk."""
    dtype = np.dtype(array.dtype)
    if not np.issubdtype(dtype, np.inexact):
        return
    per_trajectory = max(1, int(np.prod(array.shape[1:], dtype=np.int64)) * dtype.itemsize)
    step = max(1, chunk_bytes // per_trajectory)
    for start in range(0, array.shape[0], step):
        block = np.asarray(array[np.arange(start, min(start + step, array.shape[0]))])
        finite = np.isfinite(block).reshape(block.shape[0], -1).all(axis=1)
        if not finite.all():
            bad = start + int(np.argmin(finite))
            raise ValueError(
                f"trajectories[{name!r}] holds non-finite values (nan or inf), first in trajectory {bad}; "
                "pass check_finite=False to load anyway"
            )


def _check_against_metadata(name: str, description: Mapping[str, Any], shape, dtype) -> None:
    if list(description.get("shape", [])) != list(shape):
        raise ValueError(
            f"metadata arrays.{name}.shape is {description.get('shape')} but the stored array has shape "
            f"{list(shape)}"
        )
    if np.dtype(description.get("dtype")) != np.dtype(dtype):
        raise ValueError(
            f"metadata arrays.{name}.dtype is {description.get('dtype')!r} but the stored array has dtype "
            f"{np.dtype(dtype).str!r}"
        )


def load_trajectories(
    path: str | os.PathLike, *, mmap: bool = True, check_finite: bool = True
) -> tuple[Any, dict[str, Any]]:
    """Reads a dataset directory written by :func:`save_trajectories`.

    Args:
      path: dataset directory.
      mmap: ``.npy`` arrays are memory-mapped read-only (True) or read into memory (False).
        ArrayRecord arrays are always read lazily, one trajectory per record.
      check_finite: scan every array for nan/inf (block by block) and raise if any.

    Returns:
      ``(trajectories, metadata)``: the array (or dict of arrays, as saved) and the metadata dict.

    Raises:
      ValueError: the metadata disagrees with the stored arrays (naming the field), or non-finite data.
    """
    directory = Path(path)
    meta_path = directory / METADATA_FILE
    if not meta_path.is_file():
        raise FileNotFoundError(f"path {str(directory)!r} holds no {METADATA_FILE}")
    metadata = json.loads(meta_path.read_text())
    format = metadata.get("format")  # noqa: A001
    if format not in FORMATS:
        raise ValueError(f"metadata format must be one of {FORMATS}, got {format!r}")
    arrays = metadata.get("arrays")
    if not isinstance(arrays, dict) or not arrays:
        raise ValueError(f"metadata arrays must describe at least one array, got {arrays!r}")
    loaded = {}
    for name, description in arrays.items():
        files = [directory / f for f in description.get("files", [])]
        missing = [str(f) for f in files if not f.is_file()]
        if not files or missing:
            raise ValueError(f"metadata arrays.{name}.files lists missing files: {missing or files}")
        if format == "npy":
            array = np.load(files[0], mmap_mode="r" if mmap else None, allow_pickle=False)
            _check_against_metadata(name, description, array.shape, array.dtype)
        else:
            shape = tuple(description.get("shape", ()))
            store = ArrayRecordTrajectories(files, shape, description.get("dtype"))
            num_records = len(store._source)
            if num_records != (shape[0] if shape else -1):
                raise ValueError(
                    f"metadata arrays.{name}.shape is {list(shape)} but the shards hold {num_records} records"
                )
            record_bytes = len(store._source[0])
            expected = int(np.prod(shape[1:], dtype=np.int64)) * store.dtype.itemsize
            if record_bytes != expected:
                raise ValueError(
                    f"metadata arrays.{name}.shape/dtype {list(shape)} {store.dtype.str} need {expected} bytes "
                    f"per trajectory but the records hold {record_bytes}"
                )
            array = store
        if check_finite:
            _check_finite(name, array)
        loaded[name] = array
    if metadata.get("structure") == "array":
        if list(loaded) != [_SINGLE_NAME]:
            raise ValueError(f"metadata structure 'array' needs arrays == [{_SINGLE_NAME!r}], got {list(loaded)}")
        return loaded[_SINGLE_NAME], metadata
    return loaded, metadata
