"""save_trajectories / load_trajectories: round trips for npy, mmap and ArrayRecord; validation on load."""

import json

import numpy as np
import pytest

from emutrain.data import ArrayRecordTrajectories, TrajectoryWindows, load_trajectories, save_trajectories

METADATA = {"dt": 0.1, "difficulty": -6.5, "seed": 773, "generator_version": "0.1.0", "params": [1.0, 2.0]}


@pytest.fixture
def trajectories():
    return np.random.default_rng(0).normal(size=(5, 7, 6, 2)).astype(np.float32)


@pytest.mark.parametrize(
    ("format", "mmap", "kind"),
    [("npy", False, np.ndarray), ("npy", True, np.memmap), ("array_record", True, ArrayRecordTrajectories)],
)
def test_round_trip(tmp_path, trajectories, format, mmap, kind):
    save_trajectories(tmp_path / "set", trajectories, METADATA, format=format, num_shards=2 if format != "npy" else 1)
    loaded, metadata = load_trajectories(tmp_path / "set", mmap=mmap)
    assert type(loaded) is kind
    assert loaded.shape == trajectories.shape and loaded.dtype == trajectories.dtype
    np.testing.assert_array_equal(loaded[np.arange(5)], trajectories)
    assert {k: metadata[k] for k in METADATA} == METADATA
    assert metadata["arrays"]["trajectories"]["shape"] == [5, 7, 6, 2]
    # Windows read from the stored set equal those of the in-memory set.
    indices = np.array([0, 9, 3, 24, 12, 12])
    np.testing.assert_array_equal(
        TrajectoryWindows(loaded, 3).read_batch(indices), TrajectoryWindows(trajectories, 3).read_batch(indices)
    )


@pytest.mark.parametrize("format", ["npy", "array_record"])
def test_dict_of_arrays_round_trip(tmp_path, trajectories, format):
    params = np.arange(5 * 3, dtype=np.float64).reshape(5, 3)
    save_trajectories(tmp_path, {"state": trajectories, "params": params}, {"dt": 0.5}, format=format)
    loaded, metadata = load_trajectories(tmp_path, mmap=False)
    assert set(loaded) == {"state", "params"} and metadata["dt"] == 0.5
    np.testing.assert_array_equal(loaded["state"][np.arange(5)], trajectories)
    np.testing.assert_array_equal(loaded["params"][np.arange(5)], params)


@pytest.mark.parametrize("format", ["npy", "array_record"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_values_raise_on_load(tmp_path, trajectories, format, bad):
    trajectories[3, 2, 1, 0] = bad
    save_trajectories(tmp_path, trajectories, format=format)
    with pytest.raises(ValueError, match=r"trajectories.*non-finite.*trajectory 3"):
        load_trajectories(tmp_path)
    loaded, _ = load_trajectories(tmp_path, check_finite=False)
    assert not np.isfinite(loaded[3]).all()


@pytest.mark.parametrize("format", ["npy", "array_record"])
@pytest.mark.parametrize(
    ("field", "value"), [("shape", [5, 8, 6, 2]), ("dtype", "<f8")]
)
def test_metadata_disagreeing_with_arrays_raises(tmp_path, trajectories, format, field, value):
    save_trajectories(tmp_path, trajectories, format=format)
    document = json.loads((tmp_path / "metadata.json").read_text())
    document["arrays"]["trajectories"][field] = value
    (tmp_path / "metadata.json").write_text(json.dumps(document))
    with pytest.raises(ValueError, match=r"arrays\.trajectories\.(shape|dtype)"):
        load_trajectories(tmp_path)


def test_bad_save_arguments_raise(tmp_path, trajectories):
    with pytest.raises(ValueError, match="format"):
        save_trajectories(tmp_path, trajectories, format="hdf5")
    with pytest.raises(ValueError, match="reserved"):
        save_trajectories(tmp_path, trajectories, {"arrays": 1})
    with pytest.raises(ValueError, match="num_shards"):
        save_trajectories(tmp_path, trajectories, format="array_record", num_shards=9)
    with pytest.raises(FileNotFoundError, match="metadata.json"):
        load_trajectories(tmp_path / "missing")
