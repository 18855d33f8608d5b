"""Scenario dataset shards are checked against what was written: each carries the CRC-32C of its files,
verified on the first read in a process; a changed or truncated file is named, and `dataset` regenerates
that shard with a warning. Partial directories of killed generations are removed."""

import json
import logging
import os
import socket
import subprocess
import sys
import time

import google_crc32c
import numpy as np
import pytest

from emutrain import scenarios
from emutrain.data import shards
from emutrain.scenarios import _dataset as dataset_module

SMALL = dict(
    num_points=16, num_train_samples=5, train_temporal_horizon=3, num_test_samples=2, test_temporal_horizon=4
)


@pytest.fixture
def fresh_process(monkeypatch):
    """Forgets the shards this process verified, as a new process would; counts generations and
    checksum computations."""
    monkeypatch.setattr(shards, "_VERIFIED", set())
    calls = {"generate": [], "crc": []}
    generate, crc = dataset_module._generate, shards._crc32c

    def counting_generate(*args):
        calls["generate"].append(args[1:4])
        return generate(*args)

    def counting_crc(path, *args):
        calls["crc"].append(os.path.basename(path))
        return crc(path, *args)

    monkeypatch.setattr(dataset_module, "_generate", counting_generate)
    monkeypatch.setattr(shards, "_crc32c", counting_crc)
    return calls


def _shard(path):
    (shard,) = path.glob("samples-*")
    return shard


@pytest.mark.parametrize("data_format", ["npy", "array_record"])
def test_every_array_file_carries_its_crc32c(tmp_path, data_format):
    written = scenarios.make("diff_adv", **SMALL).dataset(tmp_path, format=data_format)
    for split in ("train", "test"):
        shard = _shard(written.path(split))
        checksums = json.loads((shard / "metadata.json").read_text())["checksums"]
        files = sorted(p.name for p in shard.iterdir() if p.name != "metadata.json")
        assert sorted(checksums) == files and len(files) == 1
        for name, value in checksums.items():
            assert value == f"{google_crc32c.value((shard / name).read_bytes()):08x}"


def _overwrite_same_size(path):
    """Replaces the array values of an `.npy` file with other finite values, keeping its size and header."""
    array = np.load(path, mmap_mode="r+")
    array[...] = np.asarray(array) + 1.0
    array.flush()
    del array


def test_a_same_size_overwrite_is_named_and_the_shard_regenerated(tmp_path, fresh_process, caplog):
    s = scenarios.make("diff_adv", **SMALL)
    written = s.dataset(tmp_path)
    path = _shard(written.train_path) / "trajectories.npy"
    size = path.stat().st_size
    _overwrite_same_size(path)
    assert path.stat().st_size == size
    fresh_process["generate"].clear()
    with pytest.raises(ValueError, match=f"dataset shard {path} has CRC-32C [0-9a-f]{{8}} but was written"):
        written.load_train()
    with caplog.at_level(logging.WARNING):
        regenerated = s.dataset(tmp_path)
    assert fresh_process["generate"] == [("train", 0, 5)]  # the test split was intact
    (record,) = [r for r in caplog.records if "regenerating" in r.getMessage()]
    assert str(path) in record.getMessage() and "changed or truncated" in record.getMessage()
    np.testing.assert_array_equal(regenerated.load_train(), s.train_trajectories())


def test_a_truncated_array_record_shard_is_regenerated(tmp_path, fresh_process, caplog):
    s = scenarios.make("diff_adv", **SMALL)
    s.dataset(tmp_path, format="array_record")
    (path,) = _shard(s.dataset(tmp_path).train_path).glob("*.array_record")
    path.write_bytes(path.read_bytes()[:-100])
    shards._VERIFIED.clear()
    fresh_process["generate"].clear()
    with caplog.at_level(logging.WARNING):
        regenerated = s.dataset(tmp_path, format="array_record")
    assert fresh_process["generate"] == [("train", 0, 5)]
    assert any(str(path) in r.getMessage() for r in caplog.records)
    np.testing.assert_array_equal(np.asarray(regenerated.load_train()), s.train_trajectories())


def test_each_shard_is_verified_once_per_process(tmp_path, fresh_process):
    s = scenarios.make("diff_adv", **SMALL)
    written = s.dataset(tmp_path)
    shards._VERIFIED.clear()
    fresh_process["crc"].clear()
    for _ in range(3):
        written.load_train()
        s.dataset(tmp_path)
    assert fresh_process["crc"] == ["trajectories.npy", "trajectories.npy"]  # train, then test


def test_shards_without_checksums_still_load(tmp_path, fresh_process):
    s = scenarios.make("diff_adv", **SMALL)
    written = s.dataset(tmp_path)
    meta_path = _shard(written.train_path) / "metadata.json"
    metadata = json.loads(meta_path.read_text())
    del metadata["checksums"]
    meta_path.write_text(json.dumps(metadata))
    shards._VERIFIED.clear()
    np.testing.assert_array_equal(written.load_train(), s.train_trajectories())


def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_partial_directories_of_killed_generations_are_removed(tmp_path, caplog):
    s = scenarios.make("diff_adv", **SMALL)
    split_dir = s.dataset(tmp_path, splits=()).train_path
    host, dead, alive = socket.gethostname(), _dead_pid(), os.getppid()
    names = {
        f".samples-000000-000005.partial-{dead}@{host}": False,  # a killed generation here
        f".samples-000000-000005.partial-{alive}@{host}": True,  # one still writing here
        f".samples-000000-000003.partial-{dead}@elsewhere": True,  # maybe still writing on another host
        ".samples-000003-000005.partial-4242@elsewhere": False,  # older than an hour
    }
    for name in names:
        (split_dir / name).mkdir(parents=True)
        (split_dir / name / "trajectories.npy").write_bytes(b"partial")
    old = time.time() - 2 * 3600
    os.utime(split_dir / ".samples-000003-000005.partial-4242@elsewhere", (old, old))
    with caplog.at_level(logging.WARNING):
        s.dataset(tmp_path, splits=("train",))
    kept = sorted(p.name for p in split_dir.iterdir())
    assert kept == sorted([name for name, stays in names.items() if stays] + ["samples-000000-000005"])
    assert len([r for r in caplog.records if "left by a killed dataset generation" in r.getMessage()]) == 2


def test_reading_a_complete_dataset_removes_a_killed_generations_leftovers(tmp_path):
    s = scenarios.make("diff_adv", **SMALL)
    split_dir = s.dataset(tmp_path, splits=("train",)).train_path
    leftover = split_dir / f".samples-000000-000005.partial-{_dead_pid()}@{socket.gethostname()}"
    leftover.mkdir()
    s.dataset(tmp_path, splits=())  # what an experiment does before it loads complete datasets
    assert not leftover.exists()
    assert sorted(p.name for p in split_dir.iterdir()) == ["samples-000000-000005"]


def test_an_experiment_reads_a_corrupted_cached_dataset_regenerated(tmp_path, fresh_process, caplog):
    from emutrain import experiment

    config = experiment.load_config("default", "quick")
    expected = np.array(experiment.build_trajectories(config, "train", dataset_dir=tmp_path))  # no memmap
    (path,) = tmp_path.glob("*/train-*/samples-*/trajectories.npy")
    _overwrite_same_size(path)
    shards._VERIFIED.clear()
    with caplog.at_level(logging.WARNING):
        again = experiment.build_trajectories(config, "train", dataset_dir=tmp_path)
    warning = f"regenerating the dataset shard {path.parent}: {path} has CRC-32C"
    assert any(r.getMessage().startswith(warning) for r in caplog.records)
    np.testing.assert_array_equal(again, expected)
