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

Arrays must hold real floating-point values (TypeError otherwise, on save and on load). Every read
error names the file and the reason (ValueError): invalid or incomplete metadata, truncated ``.npy``
files, truncated or corrupt ArrayRecord shards.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from emutrain.validation import check_choice, check_floating, check_int

__all__ = ["ArrayRecordTrajectories", "ConcatenatedTrajectories", "load_trajectories", "save_trajectories"]

METADATA_FILE = "metadata.json"
FORMATS = ("npy", "array_record")
_RESERVED_KEYS = ("format", "structure", "arrays")
_SINGLE_NAME = "trajectories"


def _reason(error: BaseException) -> str:
    # riegeli raises some errors with an empty message
    return str(error) or f"{type(error).__name__} without a message (a truncated or corrupt file)"


def _count_records(path: str) -> int:
    """Records in the ArrayRecord file `path`; ValueError naming it if it cannot be read."""
    from array_record.python.array_record_module import ArrayRecordReader

    try:
        reader = ArrayRecordReader(path)
    except Exception as error:  # noqa: BLE001 - any reader failure becomes one message with the path
        raise ValueError(f"cannot read ArrayRecord shard {path}: {_reason(error)}") from error
    # A truncated file opens with ok() False and zero records; its reason is raised by close().
    count = reader.num_records() if reader.ok() else None
    try:
        reader.close()
    except Exception as error:  # noqa: BLE001
        raise ValueError(f"cannot read ArrayRecord shard {path}: {_reason(error)}") from error
    if count is None:
        raise ValueError(
            f"cannot read ArrayRecord shard {path}: the reader reports a truncated or corrupt file"
        )
    return count


class ArrayRecordTrajectories:
    """Lazy, read-only trajectory set ``(S, *shape)`` stored one trajectory per ArrayRecord record.

    ``store[i]`` reads trajectory ``i`` as ``shape``; ``store[indices]`` with an integer array reads
    ``(len(indices), *shape)``. Works as a leaf of :class:`~emutrain.data.TrajectoryWindows`.
    Construction opens every shard and checks that the shards hold ``S`` records; a read error names
    the shard (ValueError).
    """

    def __init__(self, paths: list[str | os.PathLike], shape: tuple[int, ...], dtype: Any) -> None:
        import grain  # only stores on ArrayRecord need it

        self.paths = [str(p) for p in paths]
        self.shape = tuple(int(d) for d in shape)
        self.dtype = np.dtype(dtype)
        self.ndim = len(self.shape)
        check_floating(
            f"ArrayRecordTrajectories dtype ({self.paths[0] if self.paths else 'no shards'})", self
        )
        if not self.paths or not self.shape:
            raise ValueError(
                f"ArrayRecordTrajectories needs shards and a shape (S, ...), got {paths}, {shape}"
            )
        counts = [_count_records(path) for path in self.paths]
        if sum(counts) != self.shape[0]:
            held = ", ".join(f"{path}: {count}" for path, count in zip(self.paths, counts))
            raise ValueError(
                f"shape {list(self.shape)} needs {self.shape[0]} records, the shards hold {held}"
            )
        self._first_record = np.cumsum([0, *counts])
        self._record_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize
        self._source = grain.sources.ArrayRecordDataSource(self.paths)

    def __len__(self) -> int:
        return self.shape[0]

    def shard_of(self, index: int) -> str:
        """The shard file holding trajectory ``index``."""
        return self.paths[int(np.searchsorted(self._first_record, index, side="right")) - 1]

    def _decode(self, index: int, record: bytes) -> np.ndarray:
        if len(record) != self._record_bytes:
            raise ValueError(
                f"record {index} of {self.shard_of(index)} holds {len(record)} bytes, shape "
                f"{list(self.shape[1:])} and dtype {self.dtype.str} need {self._record_bytes}"
            )
        return np.frombuffer(record, dtype=self.dtype).reshape(self.shape[1:])

    def _read(self, indices: list[int]) -> list[bytes]:
        try:
            return self._source.__getitems__(indices)
        except Exception as error:  # noqa: BLE001 - any reader failure becomes one message with the shard
            failure = error
        # Read shard by shard to name the one that fails.
        for shard in dict.fromkeys(self.shard_of(i) for i in indices):
            in_shard = [i for i in indices if self.shard_of(i) == shard]
            try:
                self._source.__getitems__(in_shard)
            except Exception as error:  # noqa: BLE001
                raise ValueError(
                    f"cannot read trajectories {in_shard} from {shard}: {_reason(error)}"
                ) from error
        shards = ", ".join(dict.fromkeys(self.shard_of(i) for i in indices))
        raise ValueError(f"cannot read trajectories {indices} from {shards}: {_reason(failure)}") from failure

    def __getitem__(self, index: int | np.ndarray) -> np.ndarray:
        if isinstance(index, (int, np.integer)):
            index = int(index)
            if not -len(self) <= index < len(self):
                raise IndexError(f"index must be in [{-len(self)}, {len(self)}), got {index}")
            index %= len(self)
            return self._decode(index, self._read([index])[0])
        indices = [int(i) for i in np.asarray(index).reshape(-1)]
        records = self._read(indices)
        decoded = [self._decode(i, r) for i, r in zip(indices, records)]
        return np.stack(decoded).reshape(np.shape(index) + self.shape[1:])

    def __repr__(self) -> str:
        return f"ArrayRecordTrajectories(shape={self.shape}, dtype={self.dtype}, shards={len(self.paths)})"


class ConcatenatedTrajectories:
    """Lazy, read-only concatenation of trajectory sets ``(S_i, *shape)`` along their leading axis.

    Joins the shards of a dataset without copying them: ``store[indices]`` reads only the trajectories
    asked for, and :meth:`read_windows` (which :class:`~emutrain.data.TrajectoryWindows` uses) only the
    windows of a batch, of a memory-mapped part only the slab of ``X`` asked for. ``np.asarray(store)``
    reads everything.

    Raises:
      ValueError: no parts, or parts whose shapes after the leading axis or dtypes differ.
    """

    def __init__(self, parts: list[Any]) -> None:
        if not parts:
            raise ValueError("parts must hold at least one trajectory set, got none")
        shapes = {tuple(part.shape[1:]) for part in parts}
        dtypes = {np.dtype(part.dtype) for part in parts}
        if len(shapes) != 1 or len(dtypes) != 1:
            raise ValueError(
                f"parts must share their shape after the leading axis and their dtype, got shapes "
                f"{[tuple(part.shape) for part in parts]} and dtypes {sorted(d.str for d in dtypes)}"
            )
        self.parts = list(parts)
        self._first = np.cumsum([0, *(len(part) for part in parts)])
        self.shape = (int(self._first[-1]), *shapes.pop())
        self.dtype = dtypes.pop()
        self.ndim = len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"ConcatenatedTrajectories(shape={self.shape}, dtype={self.dtype}, parts={len(self.parts)})"

    def _locate(self, trajectories: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        trajectories = np.asarray(trajectories, dtype=np.int64)
        if trajectories.size and (trajectories.min() < 0 or trajectories.max() >= len(self)):
            raise IndexError(f"trajectory indices must be in [0, {len(self)}), got {trajectories.tolist()}")
        part = np.searchsorted(self._first, trajectories, side="right") - 1
        return part, trajectories - self._first[part]

    def read_windows(
        self, trajectory: np.ndarray, time: np.ndarray, x_slab: slice = slice(None)
    ) -> np.ndarray:
        """``store[trajectory[b], time[b, w], x_slab]`` as ``(B, W, ...)`` (``trajectory`` ``(B,)``,
        ``time`` ``(B, W)``), each part read once."""
        part, local = self._locate(trajectory)
        out = None
        for index in np.unique(part):
            rows = np.nonzero(part == index)[0]
            source = self.parts[index]
            if isinstance(source, np.ndarray):
                block = source[local[rows, None], time[rows], x_slab]
            else:  # a lazy store reads whole trajectories
                block = np.asarray(source[local[rows]])[np.arange(len(rows))[:, None], time[rows], x_slab]
            if out is None:
                out = np.empty((len(trajectory), *block.shape[1:]), self.dtype)
            out[rows] = block
        return out

    def __getitem__(self, index: int | np.ndarray) -> np.ndarray:
        """Trajectory ``index`` ``(*shape)``, or trajectories ``index`` (an integer array)
        ``(*index.shape, *shape)``."""
        if isinstance(index, (int, np.integer)):
            index = int(index)
            if not -len(self) <= index < len(self):
                raise IndexError(f"index must be in [{-len(self)}, {len(self)}), got {index}")
            part, local = self._locate(np.array([index % len(self)]))
            return np.asarray(self.parts[int(part[0])][int(local[0])])
        indices = np.asarray(index).reshape(-1)
        part, local = self._locate(indices)
        out = np.empty((len(indices), *self.shape[1:]), self.dtype)
        for which in np.unique(part):
            rows = np.nonzero(part == which)[0]
            out[rows] = np.asarray(self.parts[which][local[rows]])
        return out.reshape(np.shape(index) + self.shape[1:])

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        """All trajectories in one array (reads every part)."""
        whole = np.concatenate([np.asarray(part) for part in self.parts])
        return whole if dtype is None else whole.astype(dtype)


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
      trajectories: one array or a dict name -> array, each with a leading trajectory axis and real
        floating-point values.
      metadata: JSON-serializable description (``dt``, physics parameters, seeds, generator version,
        ...); the keys ``format``, ``structure`` and ``arrays`` are reserved.
      format: ``"npy"`` or ``"array_record"``.
      num_shards: ArrayRecord shard files per array (contiguous blocks of trajectories).

    Returns:
      The dataset directory.

    Raises:
      TypeError: an array holds integer, bool or complex values (nothing is written).
    """
    check_choice("format", format, FORMATS)
    num_shards = check_int("num_shards", num_shards, minimum=1)
    metadata = dict(metadata or {})
    for key in _RESERVED_KEYS:
        if key in metadata:
            raise ValueError(f"metadata key {key!r} is reserved (one of {_RESERVED_KEYS})")
    structure, arrays = _as_named_arrays(trajectories)
    for name, array in arrays.items():
        check_floating("trajectories" if structure == "array" else f"trajectories[{name!r}]", array)
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
    # Written last and atomically: a crash leaves no metadata rather than a half-written one.
    temporary = directory / (METADATA_FILE + ".tmp")
    temporary.write_text(text + "\n")
    os.replace(temporary, directory / METADATA_FILE)
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


def _metadata_error(meta_path: Path, reason: str) -> ValueError:
    return ValueError(f"invalid dataset metadata {meta_path}: {reason}")


def _read_metadata(meta_path: Path) -> dict[str, Any]:
    """The parsed metadata with its reserved fields checked; ValueError naming the file otherwise."""
    try:
        metadata = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise _metadata_error(meta_path, f"not valid JSON ({error})") from error
    if not isinstance(metadata, dict):
        raise _metadata_error(meta_path, f"must hold a JSON object, got {type(metadata).__name__}")
    for field, allowed in (("format", FORMATS), ("structure", ("array", "dict"))):
        if field not in metadata:
            raise _metadata_error(meta_path, f"field {field!r} is missing")
        if metadata[field] not in allowed:
            raise _metadata_error(
                meta_path, f"field {field!r} must be one of {allowed}, got {metadata[field]!r}"
            )
    arrays = metadata.get("arrays")
    if not isinstance(arrays, dict) or not arrays:
        raise _metadata_error(meta_path, f"field 'arrays' must describe at least one array, got {arrays!r}")
    if metadata["structure"] == "array" and list(arrays) != [_SINGLE_NAME]:
        raise _metadata_error(
            meta_path, f"structure 'array' needs arrays == [{_SINGLE_NAME!r}], got {list(arrays)}"
        )
    return metadata


def _describe_array(
    meta_path: Path, name: str, description: Any
) -> tuple[tuple[int, ...], np.dtype, list[Path]]:
    """``(shape, dtype, files)`` of ``arrays.<name>``; ValueError naming the file and field, TypeError for
    a dtype that is not real floating-point."""
    field = f"arrays.{name}"
    if not isinstance(description, dict):
        raise _metadata_error(meta_path, f"{field} must be an object, got {description!r}")
    for key in ("shape", "dtype", "files"):
        if key not in description:
            raise _metadata_error(meta_path, f"field {field}.{key} is missing")
    shape, files = description["shape"], description["files"]
    if not isinstance(shape, list) or not shape or not all(type(d) is int and d >= 0 for d in shape):
        raise _metadata_error(meta_path, f"{field}.shape must be a non-empty list of sizes, got {shape!r}")
    try:
        dtype = np.dtype(description["dtype"])
    except TypeError as error:
        raise _metadata_error(
            meta_path, f"{field}.dtype {description['dtype']!r} is not a dtype ({error})"
        ) from error
    check_floating(f"{field}.dtype in {meta_path}", np.empty(0, dtype))
    if not isinstance(files, list) or not files or not all(isinstance(f, str) for f in files):
        raise _metadata_error(
            meta_path, f"{field}.files must be a non-empty list of file names, got {files!r}"
        )
    paths = [meta_path.parent / f for f in files]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise _metadata_error(meta_path, f"{field}.files lists missing files: {missing}")
    return tuple(shape), dtype, paths


def _load_npy(meta_path: Path, name: str, path: Path, shape: tuple[int, ...], dtype: np.dtype, mmap: bool):
    try:
        array = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise ValueError(f"cannot read {path}: {_reason(error)}") from error
    if array.shape != shape:
        raise ValueError(
            f"{meta_path}: metadata arrays.{name}.shape is {list(shape)} but {path} holds shape "
            f"{list(array.shape)}"
        )
    if array.dtype != dtype:
        raise ValueError(
            f"{meta_path}: metadata arrays.{name}.dtype is {dtype.str!r} but {path} holds dtype "
            f"{array.dtype.str!r}"
        )
    return array


def _load_array_record(
    meta_path: Path, name: str, paths: list[Path], shape: tuple[int, ...], dtype: np.dtype
):
    store = ArrayRecordTrajectories(paths, shape, dtype)
    if shape[0]:
        record_bytes = len(store._read([0])[0])
        if record_bytes != store._record_bytes:
            raise ValueError(
                f"{meta_path}: metadata arrays.{name}.shape/dtype {list(shape)} {dtype.str} need "
                f"{store._record_bytes} bytes per trajectory but the records of {paths[0]} hold "
                f"{record_bytes}"
            )
    return store


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
      FileNotFoundError: no ``metadata.json`` in ``path``.
      ValueError: naming the file and the reason: invalid JSON, a missing or malformed metadata field,
        a missing, truncated or corrupt array file, metadata that disagrees with the stored arrays, or
        non-finite data.
      TypeError: the stored arrays are not real floating-point.
    """
    directory = Path(path)
    meta_path = directory / METADATA_FILE
    if not meta_path.is_file():
        raise FileNotFoundError(f"path {str(directory)!r} holds no {METADATA_FILE}")
    metadata = _read_metadata(meta_path)
    loaded = {}
    for name, description in metadata["arrays"].items():
        shape, dtype, files = _describe_array(meta_path, name, description)
        if metadata["format"] == "npy":
            if len(files) != 1:
                raise _metadata_error(
                    meta_path, f"arrays.{name}.files must name one .npy file, got {len(files)}"
                )
            array = _load_npy(meta_path, name, files[0], shape, dtype, mmap)
        else:
            array = _load_array_record(meta_path, name, files, shape, dtype)
        if check_finite:
            _check_finite(name, array)
        loaded[name] = array
    if metadata["structure"] == "array":
        return loaded[_SINGLE_NAME], metadata
    return loaded, metadata
