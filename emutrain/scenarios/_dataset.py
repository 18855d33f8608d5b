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
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import jax
import numpy as np

from emutrain import __version__
from emutrain.data import load_trajectories, save_trajectories
from emutrain.scenarios._registry import VORTICITY_SCENARIOS
from emutrain.scenarios._scenario import TRAINING_FIELDS, Scenario
from emutrain.validation import check_choice, check_int

__all__ = ["DATA_VERSION", "ScenarioDataset", "data_key", "dataset", "load_dataset"]

DATA_VERSION = 1
"""Bumped whenever the generation procedure changes the arrays of an unchanged scenario."""

_SHARD_PREFIX = "samples-"
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

    def load(self, split: str, *, mmap: bool = True) -> np.ndarray:
        return load_dataset(self.path(split), mmap=mmap)[0]

    def load_train(self, *, mmap: bool = True) -> np.ndarray:
        return self.load("train", mmap=mmap)

    def load_test(self, *, mmap: bool = True) -> np.ndarray:
        return self.load("test", mmap=mmap)


def _shard_name(start: int, stop: int) -> str:
    return f"{_SHARD_PREFIX}{start:06d}-{stop:06d}"


def _generate(scenario: Scenario, split: str, start: int, stop: int, chunk_size: int) -> np.ndarray:
    return scenario.trajectories(split, sample_range=(start, stop), chunk_size=chunk_size)


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
    """
    check_int("process_count", process_count, minimum=1)
    check_int("process_index", process_index, minimum=0, maximum=process_count - 1)
    check_choice("format", format, ("npy", "array_record"))
    for split in splits:
        check_choice("split", split, tuple(_SPLIT_FIELDS))
    root = Path(workdir) / scenario.name
    paths = {split: root / f"{split}-{data_key(scenario, split)}" for split in _SPLIT_FIELDS}
    for split in splits:
        num_samples = scenario.split_settings(split)[0]
        share = np.array_split(np.arange(num_samples), process_count)[process_index]
        if share.size == 0:
            continue
        start, stop = int(share[0]), int(share[-1]) + 1
        key = data_key(scenario, split)
        shard = paths[split] / _shard_name(start, stop)
        if _shard_is_complete(shard, key):
            continue
        trajectories = _generate(scenario, split, start, stop, chunk_size)
        # Written next to its final name, then renamed: a reader never sees a half-written shard.
        partial = paths[split] / f".{shard.name}.partial-{os.getpid()}"
        shutil.rmtree(partial, ignore_errors=True)
        save_trajectories(partial, trajectories, _metadata(scenario, split, key, start, stop), format=format)
        shutil.rmtree(shard, ignore_errors=True)
        os.replace(partial, shard)
    return ScenarioDataset(scenario, paths["train"], paths["test"])


def load_dataset(path: str | os.PathLike, *, mmap: bool = True) -> tuple[np.ndarray, dict[str, Any]]:
    """Reads trajectories ``(S, T+1, *spatial, C)`` and their metadata from ``path``.

    ``path`` is either one dataset directory of :func:`emutrain.data.save_trajectories` (e.g. a user's own
    trajectories) or a split directory of :func:`dataset` holding ``samples-<start>-<stop>`` shards, which
    are concatenated in sample order (the metadata returned is the first shard's, with ``sample_range``
    covering all of them).

    Raises:
      FileNotFoundError: ``path`` holds neither.
      ValueError: the shards leave samples out or overlap, or disagree in shape.
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
        array, meta = load_trajectories(shard, mmap=mmap)
        arrays.append(array if isinstance(array, np.ndarray) else array[np.arange(len(array))])
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
    return (arrays[0] if len(arrays) == 1 else np.concatenate(arrays)), metadata
