"""Trajectory sets on disk as shards by sample range, so that several processes can share the writing.

A split directory holds ``samples-<start>-<stop>/`` shards, each a dataset directory of
:func:`emutrain.data.save_trajectories` (``.npy`` or ArrayRecord) whose ``metadata.json`` carries its
``sample_range``, the total ``num_samples`` and a ``data_key`` naming what it holds; readers
(:func:`load_dataset`) concatenate the shards in order and check that they cover every sample.

Integrity: each shard's ``metadata.json`` records the CRC-32C of every array file (``checksums``), verified
on the first read of the shard in a process (about 1.2 GB/s from the page cache with ``google_crc32c``'s
C implementation on a loaded 2-core machine; reads from disk are slower than that). A file that no
longer matches (changed, truncated) is reported naming it (:func:`shard_problem`). A shard is written
into a hidden ``.<shard>.partial-<pid>@<host>`` directory and renamed (:func:`write_shard`); the partial
directories of killed generations (dead owner on this host, or older than an hour, since a partial
directory lives only while its arrays are written) are removed by :func:`remove_partials`.
:func:`write_share` writes one process's shard of a split, unless it is there already.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import socket
import time
from pathlib import Path
from typing import Any, Callable

import google_crc32c
import numpy as np
from absl import logging

from emutrain.data.storage import ConcatenatedTrajectories, load_trajectories, save_trajectories
from emutrain.validation import check_choice

__all__ = [
    "DatasetSplits", "available_memory_bytes", "free_disk_bytes", "load_dataset", "remove_partials",
    "shard_problem", "write_shard", "write_share",
]

_SHARD_PREFIX = "samples-"
_PARTIAL = re.compile(r"\..+\.partial-(\d+)(?:@(.+))?")
_PARTIAL_MAX_AGE_S = 3600.0
_CHECKSUMS = "checksums"
_VERIFIED: set[tuple] = set()
"""The shards verified by this process, keyed by path and the size and modification time of each file."""


@dataclasses.dataclass(frozen=True)
class DatasetSplits:
    """Where the train and test splits of a dataset live; ``load(split)`` reads one as
    ``(S, T+1, *spatial, C)`` (:func:`load_dataset`)."""

    train_path: Path
    test_path: Path

    def path(self, split: str) -> Path:
        """The directory of ``split`` (``"train"`` or ``"test"``)."""
        return {"train": self.train_path, "test": self.test_path}[
            check_choice("split", split, ("train", "test"))
        ]

    def load(self, split: str, *, mmap: bool = True, lazy: bool = False) -> np.ndarray:
        """The trajectories of ``split``, memory-mapped unless ``mmap=False``; with ``lazy`` several shards
        are joined without reading them (:func:`load_dataset`)."""
        return load_dataset(self.path(split), mmap=mmap, lazy=lazy)[0]

    def load_train(self, *, mmap: bool = True) -> np.ndarray:
        """``load("train")``."""
        return self.load("train", mmap=mmap)

    def load_test(self, *, mmap: bool = True) -> np.ndarray:
        """``load("test")``."""
        return self.load("test", mmap=mmap)


def available_memory_bytes() -> int:
    """The host memory available to a new allocation (``MemAvailable``: free plus reclaimable cache)."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def free_disk_bytes(directory: Path) -> tuple[Path, int]:
    """The nearest existing directory at or above `directory` and the bytes free on its file system."""
    existing = directory
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    return existing, shutil.disk_usage(existing).free


def _shard_path(split_dir: Path, start: int, stop: int) -> Path:
    """The directory of the shard holding samples ``[start, stop)`` of the split in `split_dir`."""
    return split_dir / f"{_SHARD_PREFIX}{start:06d}-{stop:06d}"


def _shard_is_complete(path: Path, key: str) -> bool:
    """Whether the shard at `path` was written completely with data key `key`."""
    try:
        meta = json.loads((path / "metadata.json").read_text())
    except (OSError, ValueError):
        return False
    return meta.get("data_key") == key


def _crc32c(path: Path, block_bytes: int = 8 << 20) -> str:
    """The CRC-32C of the file's bytes, 8 hex digits (read in blocks: the file may exceed memory)."""
    crc = 0
    with open(path, "rb") as file:
        while block := file.read(block_bytes):
            crc = google_crc32c.extend(crc, block)
    return f"{crc:08x}"


def _array_files(metadata: dict[str, Any]) -> list[str]:
    return [name for array in metadata.get("arrays", {}).values() for name in array.get("files", [])]


def _file_key(shard: Path, metadata: dict[str, Any]) -> tuple:
    stats = [(shard / name).stat() for name in _array_files(metadata)]
    return (str(shard), *((stat.st_size, stat.st_mtime_ns) for stat in stats))


def _add_checksums(shard: Path) -> None:
    """Records the CRC-32C of each array file in the shard's ``metadata.json`` (rewritten atomically)."""
    path = shard / "metadata.json"
    metadata = json.loads(path.read_text())
    metadata[_CHECKSUMS] = {name: _crc32c(shard / name) for name in _array_files(metadata)}
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(metadata, indent=2) + "\n")
    os.replace(temporary, path)


def shard_problem(shard: Path) -> str | None:
    """What is wrong with the shard's array files against the checksums written with them, naming the
    file, or None (also for a shard written without checksums); verified once per process."""
    try:
        metadata = json.loads((shard / "metadata.json").read_text())
        key = _file_key(shard, metadata)
    except (OSError, ValueError, AttributeError):
        return None  # missing or malformed metadata and files: load_trajectories names what is wrong
    if key in _VERIFIED or _CHECKSUMS not in metadata:
        return None
    for name, expected in metadata[_CHECKSUMS].items():
        actual = _crc32c(shard / name)
        if actual != expected:
            return (
                f"{shard / name} has CRC-32C {actual} but was written with {expected} (changed or "
                "truncated since)"
            )
    _VERIFIED.add(key)
    return None


def remove_partials(split_dir: Path) -> None:
    """Removes the partial shard directories of killed generations (see the module docstring)."""
    host = socket.gethostname()
    for path in split_dir.glob(".*.partial-*") if split_dir.is_dir() else []:
        match = _PARTIAL.fullmatch(path.name)
        if match is None:
            continue
        pid, owner_host = int(match.group(1)), match.group(2)
        try:
            old = time.time() - path.stat().st_mtime > _PARTIAL_MAX_AGE_S
        except FileNotFoundError:
            continue
        if old or (owner_host == host and pid != os.getpid() and not _alive(pid)):
            logging.warning("removing %s, left by a killed dataset generation", path)
            shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_shard(shard: Path, trajectories: np.ndarray, metadata: dict[str, Any], data_format: str) -> None:
    """Writes `trajectories` and `metadata` (with checksums) next to ``shard``, then renames: a reader
    never sees a half-written shard. Interrupted (Ctrl-C), it removes what it wrote before re-raising."""
    partial = shard.parent / f".{shard.name}.partial-{os.getpid()}@{socket.gethostname()}"
    try:
        shutil.rmtree(partial, ignore_errors=True)
        save_trajectories(partial, trajectories, metadata, format=data_format)
        _add_checksums(partial)
    except KeyboardInterrupt:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    shutil.rmtree(shard, ignore_errors=True)
    os.replace(partial, shard)
    _VERIFIED.add(_file_key(shard, json.loads((shard / "metadata.json").read_text())))


def write_share(
    split_dir: Path,
    key: str,
    num_samples: int,
    *,
    process_index: int,
    process_count: int,
    generate: Callable[[int, int], np.ndarray],
    metadata: Callable[[int, int], dict[str, Any]],
    check_space: Callable[[], None],
    data_format: str,
) -> None:
    """Writes this process's shard of a split of `num_samples` samples into `split_dir`: samples
    ``[start, stop) = np.array_split(range(num_samples), process_count)[process_index]``, the arrays of
    ``generate(start, stop)`` with ``metadata(start, stop)`` (which must carry ``data_key`` `key`),
    unless a complete shard of `key` is there; one whose files no longer match their checksums is written
    again with a warning. `check_space` runs before anything is generated. Interrupted (Ctrl-C), it
    leaves no partial files and re-raises ``KeyboardInterrupt`` naming the shard."""
    share = np.array_split(np.arange(num_samples), process_count)[process_index]
    if share.size == 0:
        return
    start, stop = int(share[0]), int(share[-1]) + 1
    shard = _shard_path(split_dir, start, stop)
    if _shard_is_complete(shard, key):
        problem = shard_problem(shard)
        if problem is None:
            return
        logging.warning("regenerating the dataset shard %s: %s", shard, problem)
    check_space()
    try:
        write_shard(shard, generate(start, stop), metadata(start, stop), data_format)
    except KeyboardInterrupt:
        raise KeyboardInterrupt(f"dataset generation of {shard} stopped; partial files removed") from None


def load_dataset(
    path: str | os.PathLike, *, mmap: bool = True, lazy: bool = False
) -> tuple[np.ndarray, dict[str, Any]]:
    """Reads trajectories ``(S, T+1, *spatial, C)`` and their metadata from ``path``.

    ``path`` is either one dataset directory of :func:`emutrain.data.save_trajectories` (e.g. a user's own
    trajectories) or a split directory holding ``samples-<start>-<stop>`` shards (as
    :func:`emutrain.scenarios.dataset` writes them), which are concatenated in sample order (the metadata
    returned is the first shard's, with ``sample_range`` covering all of them). With ``lazy``, several
    shards are joined without reading them (:class:`emutrain.data.ConcatenatedTrajectories`: a window
    source then reads only its windows, or their slabs of ``X``); otherwise into one array in memory. One
    shard is returned as without ``lazy``.

    Raises:
      FileNotFoundError: ``path`` holds neither.
      ValueError: the shards leave samples out or overlap, or disagree in shape, or a shard's file no
        longer matches the checksum written with it (naming the file).
    """
    directory = Path(path)
    if (directory / "metadata.json").is_file():
        trajectories, metadata = load_trajectories(directory, mmap=mmap)
        return (
            np.asarray(trajectories) if not isinstance(trajectories, np.ndarray) else trajectories
        ), metadata
    shards = (
        sorted(p for p in directory.glob(f"{_SHARD_PREFIX}*") if p.is_dir()) if directory.is_dir() else []
    )
    if not shards:
        raise FileNotFoundError(
            f"path {str(directory)!r} holds neither metadata.json nor {_SHARD_PREFIX}* shards"
        )
    arrays, metadatas = [], []
    for shard in shards:
        problem = shard_problem(shard)
        if problem is not None:
            raise ValueError(f"dataset shard {problem}; generating it again (Scenario.dataset) replaces it")
        array, meta = load_trajectories(shard, mmap=mmap)
        if not (lazy and len(shards) > 1 or isinstance(array, np.ndarray)):  # joined lazily: stores stay
            array = array[np.arange(len(array))]
        arrays.append(array)
        metadatas.append(meta)
    expected = _check_coverage(directory, shards, metadatas)
    if len({a.shape[1:] for a in arrays}) != 1:
        raise ValueError(
            f"shards of {str(directory)!r} disagree in trajectory shape: {[a.shape for a in arrays]}"
        )
    metadata = dict(metadatas[0], sample_range=[0, expected])
    if len(arrays) == 1:
        return arrays[0], metadata
    return (ConcatenatedTrajectories(arrays) if lazy else np.concatenate(arrays)), metadata


def _check_coverage(directory: Path, shards: list[Path], metadatas: list[dict[str, Any]]) -> int:
    """The number of samples the shards cover, refused unless they cover all of them in order."""
    ranges = [tuple(m.get("sample_range", (0, 0))) for m in metadatas]
    expected = 0
    for (start, stop), shard in zip(ranges, shards):
        if start != expected:
            raise ValueError(
                f"shards of {str(directory)!r} do not cover samples [{expected}, {start}) (next shard "
                f"{shard.name}); run the missing processes first"
            )
        expected = stop
    total = metadatas[0].get("num_samples", expected)
    if expected != total:
        raise ValueError(
            f"shards of {str(directory)!r} cover samples [0, {expected}) of {total}; run the missing "
            "processes first"
        )
    return expected
