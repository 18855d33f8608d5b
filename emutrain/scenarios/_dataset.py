"""Scenario trajectories on disk: generated once, keyed by everything that changes the data, sharded by
sample range so that several processes can share the work.

Layout (each shard a dataset directory of :func:`emutrain.data.save_trajectories`, ``.npy`` or
ArrayRecord, with the scenario's fields, seeds and versions in its ``metadata.json``)::

    <workdir>/<scenario name>/<split>-<data key>/samples-<start>-<stop>/

The data key is a hash of the scenario name, the split, every field that changes the split's arrays
(not the training settings, the coarse proportion or the other split's sizes and seed) and
:data:`DATA_VERSION`; changing any of them gives a new directory. Process ``i`` of ``n`` writes samples
``np.array_split(range(S), n)[i]``; readers (:func:`load_dataset`) concatenate the shards in order and
check that they cover every sample.

Integrity: each shard's ``metadata.json`` records the CRC-32C of every array file (``checksums``), verified
on the first read of the shard in a process (about 1.2 GB/s from the page cache with ``google_crc32c``'s
C implementation on a loaded 2-core machine; reads from disk are slower than that). A file that no
longer matches (changed, truncated) is reported naming it; :func:`dataset` regenerates such a shard with
a warning, :func:`load_dataset` raises. A shard is written into a hidden ``.<shard>.partial-<pid>@<host>``
directory and renamed; the partial directories of killed generations (dead owner on this host, or older
than an hour, since a partial directory lives only while its arrays are written) are removed by the next
:func:`dataset` call on that split.

Size: a process's share of a split is ``ceil(S / processes) x (T+1) x prod(spatial) x C x 4`` bytes
(:func:`share_nbytes`), held in memory while it is generated and written; :func:`dataset` refuses a share
the disk cannot hold before generating it (the experiment schema compares the shares with the host's
:func:`available_memory_bytes`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import socket
import time
from pathlib import Path
from typing import Any

import google_crc32c
import jax
import numpy as np
from absl import logging

from emutrain import __version__
from emutrain.data import ConcatenatedTrajectories, load_trajectories, save_trajectories
from emutrain.scenarios._registry import VORTICITY_SCENARIOS
from emutrain.scenarios._scenario import TRAINING_FIELDS, Scenario
from emutrain.validation import check_choice, check_int

__all__ = [
    "DATA_VERSION", "ScenarioDataset", "available_memory_bytes", "data_key", "dataset", "load_dataset",
    "share_nbytes",
]

DATA_VERSION = 1
"""Bumped whenever the generation procedure changes the arrays of an unchanged scenario."""

_SHARD_PREFIX = "samples-"
_PARTIAL = re.compile(r"\..+\.partial-(\d+)(?:@(.+))?")
_PARTIAL_MAX_AGE_S = 3600.0
_CHECKSUMS = "checksums"
_VERIFIED: set[tuple] = set()
"""The shards verified by this process, keyed by path and the size and modification time of each file."""
_SPLIT_FIELDS = {
    "train": ("num_train_samples", "train_temporal_horizon", "train_seed"),
    "test": ("num_test_samples", "test_temporal_horizon", "test_seed"),
}


def _data_fields(scenario: Scenario, split: str) -> dict[str, Any]:
    other = _SPLIT_FIELDS["test" if split == "train" else "train"]
    skip = set(TRAINING_FIELDS) | set(other) | {"coarse_proportion"}
    return {k: v for k, v in scenario.to_dict().items() if k not in skip}


def data_key(scenario: Scenario, split: str) -> str:
    """12 hex digits of a SHA-256 over the name, the split, the data fields and :data:`DATA_VERSION`."""
    check_choice("split", split, tuple(_SPLIT_FIELDS))
    document = {
        "scenario": scenario.name,
        "split": split,
        "fields": _data_fields(scenario, split),
        "data_version": DATA_VERSION,
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()[:12]


@dataclasses.dataclass(frozen=True)
class ScenarioDataset:
    """Where a scenario's splits live; ``load(split)`` reads one as ``(S, T+1, *spatial, C)``."""

    scenario: Scenario
    train_path: Path
    test_path: Path

    def path(self, split: str) -> Path:
        return {"train": self.train_path, "test": self.test_path}[
            check_choice("split", split, ("train", "test"))
        ]

    def load(self, split: str, *, mmap: bool = True, lazy: bool = False) -> np.ndarray:
        """The trajectories of ``split`` (``load_dataset``'s ``mmap`` and ``lazy``)."""
        return load_dataset(self.path(split), mmap=mmap, lazy=lazy)[0]

    def load_train(self, *, mmap: bool = True) -> np.ndarray:
        return self.load("train", mmap=mmap)

    def load_test(self, *, mmap: bool = True) -> np.ndarray:
        return self.load("test", mmap=mmap)


def share_nbytes(scenario: Scenario, split: str, *, process_count: int = 1) -> int:
    """Bytes of the largest share of `split` one process generates, float32 ``(S_share, T+1, *spatial, C)``:
    ``ceil(S / process_count) x (T+1) x prod(spatial) x C x 4`` (the whole share is in memory while it
    is written)."""
    num_samples, horizon, _ = scenario.split_settings(check_choice("split", split, tuple(_SPLIT_FIELDS)))
    share = -(-num_samples // check_int("process_count", process_count, minimum=1))
    points = scenario.num_points**scenario.num_spatial_dims
    return share * (horizon + 1) * points * scenario.num_channels * np.dtype(np.float32).itemsize


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


def _check_disk(scenario: Scenario, split: str, directory: Path, process_count: int) -> None:
    """Refuses a share that the file system under `directory` cannot hold, before anything is written."""
    needed = share_nbytes(scenario, split, process_count=process_count)
    existing = directory
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    free = shutil.disk_usage(existing).free
    if needed > free:
        field = _SPLIT_FIELDS[split][0]
        raise ValueError(
            f"{field}={getattr(scenario, field)}: the {split} set needs {needed / 1e9:.1f} GB on disk, "
            f"{existing} has {free / 1e9:.1f} GB free; lower {field} or {_SPLIT_FIELDS[split][1]}, or "
            "generate elsewhere"
        )


def _shard_name(start: int, stop: int) -> str:
    return f"{_SHARD_PREFIX}{start:06d}-{stop:06d}"


def _generate(scenario: Scenario, split: str, start: int, stop: int, chunk_size: int) -> np.ndarray:
    return scenario.trajectories(split, sample_range=(start, stop), chunk_size=chunk_size, progress=True)


def _metadata(scenario: Scenario, split: str, key: str, start: int, stop: int) -> dict[str, Any]:
    num_samples, horizon, seed = scenario.split_settings(split)
    stepper = scenario.reference_stepper()
    return {
        "generator": "emutrain.scenarios.dataset",
        "scenario": scenario.name,
        "split": split,
        "data_key": key,
        "data_version": DATA_VERSION,
        "seed": seed,
        "num_samples": num_samples,
        "temporal_horizon": horizon,
        "sample_range": [start, stop],
        "fields": scenario.to_dict(),
        "dt": getattr(stepper, "dt", None),
        "layout": "(S, T+1, *spatial, C), channels-last, index 0 = initial condition after warm-up",
        "vorticity_convention": "curl u (APEBench stores -curl u)"
        if scenario.name in VORTICITY_SCENARIOS
        else None,
        "versions": {"emutrain": __version__, "jax": jax.__version__, "numpy": np.__version__},
    }


def _shard_is_complete(path: Path, key: str) -> bool:
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


def _shard_problem(shard: Path) -> str | None:
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


def _remove_partials(split_dir: Path) -> None:
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


def _write_shard(
    scenario: Scenario, split: str, key: str, shard: Path, data_format: str, chunk_size: int
) -> None:
    """Generates the shard's samples and writes them (with checksums) next to ``shard``, then renames:
    a reader never sees a half-written shard."""
    start, stop = (int(v) for v in shard.name[len(_SHARD_PREFIX):].split("-"))
    trajectories = _generate(scenario, split, start, stop, chunk_size)
    partial = shard.parent / f".{shard.name}.partial-{os.getpid()}@{socket.gethostname()}"
    shutil.rmtree(partial, ignore_errors=True)
    save_trajectories(partial, trajectories, _metadata(scenario, split, key, start, stop), format=data_format)
    _add_checksums(partial)
    shutil.rmtree(shard, ignore_errors=True)
    os.replace(partial, shard)
    _VERIFIED.add(_file_key(shard, json.loads((shard / "metadata.json").read_text())))


def dataset(
    scenario: Scenario,
    workdir: str | os.PathLike,
    *,
    splits: tuple[str, ...] = ("train", "test"),
    format: str = "npy",  # noqa: A002 - the storage format's name, as in emutrain.data
    process_index: int = 0,
    process_count: int = 1,
    chunk_size: int = 64,
) -> ScenarioDataset:
    """Writes this process's share of each split under ``workdir`` unless it is there already.

    Args:
      scenario: the scenario.
      workdir: root directory; the splits go to ``<workdir>/<name>/<split>-<data key>/``.
      splits: which splits to generate (the paths of both are returned).
      format: ``"npy"`` or ``"array_record"``.
      process_index, process_count: this process writes samples ``np.array_split(range(S),
        process_count)[process_index]`` as one shard; run every index (in any order, on any machine
        sharing ``workdir``) before reading.
      chunk_size: samples simulated per compiled call. Every process must use the same value: the
        blocks are aligned to the sample index so that the shards are bit-identical to a single-process
        run, and a process simulates the whole blocks its share touches (shares smaller than
        ``chunk_size`` save no time).

    Returns:
      :class:`ScenarioDataset` with the split directories (readable once every process has run).

    Raises:
      ValueError: the file system under ``workdir`` cannot hold a share to write (:func:`share_nbytes`),
        naming the split's sample count; checked before the share is generated.
    """
    check_int("process_count", process_count, minimum=1)
    check_int("process_index", process_index, minimum=0, maximum=process_count - 1)
    check_choice("format", format, ("npy", "array_record"))
    for split in splits:
        check_choice("split", split, tuple(_SPLIT_FIELDS))
    root = Path(workdir) / scenario.name
    paths = {split: root / f"{split}-{data_key(scenario, split)}" for split in _SPLIT_FIELDS}
    for path in paths.values():  # also when only reading: leftovers of killed generations go
        _remove_partials(path)
    for split in splits:
        num_samples = scenario.split_settings(split)[0]
        share = np.array_split(np.arange(num_samples), process_count)[process_index]
        if share.size == 0:
            continue
        key = data_key(scenario, split)
        shard = paths[split] / _shard_name(int(share[0]), int(share[-1]) + 1)
        if _shard_is_complete(shard, key):
            problem = _shard_problem(shard)
            if problem is None:
                continue
            logging.warning("regenerating the dataset shard %s: %s", shard, problem)
        _check_disk(scenario, split, paths[split], process_count)
        _write_shard(scenario, split, key, shard, format, chunk_size)
    return ScenarioDataset(scenario, paths["train"], paths["test"])


def load_dataset(
    path: str | os.PathLike, *, mmap: bool = True, lazy: bool = False
) -> tuple[np.ndarray, dict[str, Any]]:
    """Reads trajectories ``(S, T+1, *spatial, C)`` and their metadata from ``path``.

    ``path`` is either one dataset directory of :func:`emutrain.data.save_trajectories` (e.g. a user's own
    trajectories) or a split directory of :func:`dataset` holding ``samples-<start>-<stop>`` shards, which
    are concatenated in sample order (the metadata returned is the first shard's, with ``sample_range``
    covering all of them). With ``lazy``, several shards are joined without reading them
    (:class:`emutrain.data.ConcatenatedTrajectories`: a window source then reads only its windows, or
    their slabs of ``X``); otherwise into one array in memory. One shard is returned as without
    ``lazy``.

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
        problem = _shard_problem(shard)
        if problem is not None:
            raise ValueError(f"dataset shard {problem}; generating it again (Scenario.dataset) replaces it")
        array, meta = load_trajectories(shard, mmap=mmap)
        if not (lazy and len(shards) > 1 or isinstance(array, np.ndarray)):  # joined lazily: stores stay
            array = array[np.arange(len(array))]
        arrays.append(array)
        metadatas.append(meta)
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
    if len({a.shape[1:] for a in arrays}) != 1:
        raise ValueError(
            f"shards of {str(directory)!r} disagree in trajectory shape: {[a.shape for a in arrays]}"
        )
    metadata = dict(metadatas[0], sample_range=[0, expected])
    if len(arrays) == 1:
        return arrays[0], metadata
    return (ConcatenatedTrajectories(arrays) if lazy else np.concatenate(arrays)), metadata
