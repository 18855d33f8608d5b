"""Scenario datasets on disk: generated once, keyed by the data fields, split over processes, reloadable."""

import json

import numpy as np
import pytest

from emutrain import data, scenarios
from emutrain.scenarios import _dataset as dataset_module

SMALL = dict(
    num_points=16, num_train_samples=5, train_temporal_horizon=3, num_test_samples=2, test_temporal_horizon=4
)


@pytest.fixture
def counter(monkeypatch):
    calls = []
    generate = dataset_module._generate

    def counting(*args):
        calls.append(args[1:4])
        return generate(*args)

    monkeypatch.setattr(dataset_module, "_generate", counting)
    return calls


def test_generated_once_and_equal_to_trajectories(tmp_path, counter):
    s = scenarios.make("diff_adv", **SMALL)
    first = s.dataset(tmp_path)
    assert counter == [("train", 0, 5), ("test", 0, 2)]
    second = s.dataset(tmp_path)
    assert counter == [("train", 0, 5), ("test", 0, 2)]  # reused, not regenerated
    assert first == second
    train, test = first.load_train(), first.load_test()
    assert train.shape == (5, 4, 16, 1) and test.shape == (2, 5, 16, 1) and train.dtype == np.float32
    np.testing.assert_array_equal(train, s.train_trajectories())
    np.testing.assert_array_equal(test, s.test_trajectories())
    assert first.train_path.parent == tmp_path / "diff_adv"


def test_data_key_tracks_exactly_the_data_fields(tmp_path):
    s = scenarios.make("diff_adv", **SMALL)
    key = scenarios.data_key(s, "train")
    # Fields that change the data give a new key (and directory) ...
    for change in (
        dict(advection_gamma=-2.0),
        dict(train_seed=1),
        dict(num_points=32),
        dict(num_train_samples=6),
        dict(ic_config="grf;3.0;true;true"),
        dict(num_warmup_steps=1),
    ):
        assert scenarios.data_key(s.replace(**change), "train") != key, change
    # ... training settings, the coarse proportion and the other split's settings do not.
    for change in (
        dict(batch_size=3),
        dict(optim_config="adam;5;constant;1e-3"),
        dict(coarse_proportion=0.25),
        dict(test_seed=5),
        dict(num_test_samples=3),
    ):
        assert scenarios.data_key(s.replace(**change), "train") == key, change
    assert scenarios.data_key(s, "test") != key
    assert len(key) == 12 and int(key, 16) >= 0


def test_changed_field_gives_new_directory(tmp_path, counter):
    s = scenarios.make("diff_adv", **SMALL)
    a = s.dataset(tmp_path, splits=("train",))
    b = s.replace(train_seed=1).dataset(tmp_path, splits=("train",))
    assert a.train_path != b.train_path and len(counter) == 2
    assert not np.allclose(a.load_train(), b.load_train())


def test_two_processes_write_disjoint_shards(tmp_path, counter):
    # Kuramoto-Sivashinsky with warm-up: nonlinear, so a shard must be simulated in the same blocks as the
    # full set to be bit-identical (XLA's batched FFTs round differently for different batch sizes).
    s = scenarios.make("diff_ks", **SMALL, num_warmup_steps=2)
    s.dataset(tmp_path, process_index=0, process_count=2, chunk_size=2)
    paths = s.dataset(tmp_path, splits=("train",), process_index=1, process_count=2, chunk_size=2)
    assert counter == [("train", 0, 3), ("test", 0, 1), ("train", 3, 5)]
    shards = sorted(p.name for p in paths.train_path.iterdir())
    assert shards == ["samples-000000-000003", "samples-000003-000005"]
    np.testing.assert_array_equal(paths.load_train(), s.train_trajectories(chunk_size=2))
    # The test split's second half was never written: reading it says so.
    with pytest.raises(ValueError, match=r"cover samples \[0, 1\) of 2"):
        paths.load_test()
    single = s.dataset(tmp_path / "one", splits=("train",), chunk_size=2)
    np.testing.assert_array_equal(single.load_train(), paths.load_train())
    # joined lazily: the shards stay memory-mapped; windows and slabs read from them equal the joined array's
    lazy = paths.load("train", lazy=True)
    assert isinstance(lazy, data.ConcatenatedTrajectories)
    assert all(isinstance(part, np.memmap) for part in lazy.parts)
    np.testing.assert_array_equal(np.asarray(lazy), paths.load_train())
    windows = data.TrajectoryWindows(lazy, 2).read_batch([11, 0, 5], x_slab=slice(8, 16))
    whole = data.TrajectoryWindows(paths.load_train(), 2).read_batch([11, 0, 5])
    np.testing.assert_array_equal(windows, whole[:, :, 8:])


def test_metadata_records_fields_seeds_versions(tmp_path):
    s = scenarios.make("diff_adv", **SMALL)
    paths = s.dataset(tmp_path, splits=("test",))
    _, meta = scenarios.load_dataset(paths.test_path)
    assert meta["scenario"] == "diff_adv" and meta["split"] == "test" and meta["seed"] == 773
    assert meta["fields"]["advection_gamma"] == -4.0 and meta["fields"]["num_points"] == 16
    assert meta["sample_range"] == [0, 2] and meta["data_key"] == scenarios.data_key(s, "test")
    assert set(meta["versions"]) == {"emutrain", "jax", "numpy"}
    shard = next(paths.test_path.iterdir())
    assert json.loads((shard / "metadata.json").read_text())["arrays"]["trajectories"]["shape"] == [
        2,
        5,
        16,
        1,
    ]


def test_array_record_format(tmp_path):
    s = scenarios.make("diff_adv", **SMALL)
    paths = s.dataset(tmp_path, splits=("train",), format="array_record", process_count=2)
    paths = s.dataset(tmp_path, splits=("train",), format="array_record", process_index=1, process_count=2)
    np.testing.assert_array_equal(paths.load_train(), s.train_trajectories())


def test_load_users_own_directory(tmp_path):
    trajectories = np.random.default_rng(0).normal(size=(3, 6, 8, 1)).astype(np.float32)
    data.save_trajectories(tmp_path / "mine", trajectories, {"note": "my solver"})
    loaded, meta = scenarios.load_dataset(tmp_path / "mine")
    np.testing.assert_array_equal(loaded, trajectories)
    assert meta["note"] == "my solver"
    with pytest.raises(FileNotFoundError):
        scenarios.load_dataset(tmp_path / "nothing")


def test_bad_arguments(tmp_path):
    s = scenarios.make("diff_adv", **SMALL)
    with pytest.raises(ValueError, match="process_index"):
        s.dataset(tmp_path, process_index=2, process_count=2)
    with pytest.raises(ValueError, match="format"):
        s.dataset(tmp_path, format="hdf5")
    with pytest.raises(ValueError, match="split"):
        s.dataset(tmp_path, splits=("valid",))
