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
    save_trajectories(
        tmp_path / "set", trajectories, METADATA, format=format, num_shards=2 if format != "npy" else 1
    )
    loaded, metadata = load_trajectories(tmp_path / "set", mmap=mmap)
    assert type(loaded) is kind
    assert loaded.shape == trajectories.shape and loaded.dtype == trajectories.dtype
    np.testing.assert_array_equal(loaded[np.arange(5)], trajectories)
    assert {k: metadata[k] for k in METADATA} == METADATA
    assert metadata["arrays"]["trajectories"]["shape"] == [5, 7, 6, 2]
    # Windows read from the stored set equal those of the in-memory set.
    indices = np.array([0, 9, 3, 24, 12, 12])
    np.testing.assert_array_equal(
        TrajectoryWindows(loaded, 3).read_batch(indices),
        TrajectoryWindows(trajectories, 3).read_batch(indices),
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
@pytest.mark.parametrize(("field", "value"), [("shape", [5, 8, 6, 2]), ("dtype", "<f8")])
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


@pytest.mark.parametrize("format", ["npy", "array_record"])
@pytest.mark.parametrize("dtype", [np.int32, np.bool_, np.complex64])
def test_non_floating_arrays_are_not_written(tmp_path, format, dtype):
    with pytest.raises(TypeError, match=rf"trajectories must hold real floating-point.*{np.dtype(dtype)}"):
        save_trajectories(tmp_path, np.zeros((2, 3, 4, 1), dtype), format=format)
    with pytest.raises(TypeError, match=r"trajectories\['params'\] must hold real floating-point.*int64"):
        save_trajectories(
            tmp_path, {"u": np.zeros((2, 3, 1)), "params": np.zeros((2, 3), np.int64)}, format=format
        )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("format", ["npy", "array_record"])
def test_non_floating_dtype_in_metadata_raises_on_load(tmp_path, trajectories, format):
    save_trajectories(tmp_path, trajectories, format=format)
    document = json.loads((tmp_path / "metadata.json").read_text())
    document["arrays"]["trajectories"]["dtype"] = "<i4"
    (tmp_path / "metadata.json").write_text(json.dumps(document))
    with pytest.raises(
        TypeError, match=r"arrays\.trajectories\.dtype in .*metadata\.json must hold real.*int32"
    ):
        load_trajectories(tmp_path)


def test_array_record_store_rejects_integer_dtype(tmp_path, trajectories):
    save_trajectories(tmp_path, trajectories, format="array_record")
    with pytest.raises(TypeError, match=r"ArrayRecordTrajectories dtype .* must hold real.*int32"):
        ArrayRecordTrajectories([tmp_path / "trajectories-00000-of-00001.array_record"], (5, 84), np.int32)


def _truncate(path, fraction):
    size = path.stat().st_size
    with open(path, "r+b") as file:
        file.truncate(int(size * fraction))


@pytest.mark.parametrize("mmap", [True, False])
@pytest.mark.parametrize("fraction", [0.02, 0.5, 0.99])  # inside the header, half the data, one value short
def test_truncated_npy_names_the_file(tmp_path, trajectories, mmap, fraction):
    save_trajectories(tmp_path, trajectories)
    path = tmp_path / "trajectories.npy"
    _truncate(path, fraction)
    with pytest.raises(ValueError, match=rf"cannot read {path}: \S") as info:
        load_trajectories(tmp_path, mmap=mmap)
    assert info.value.__cause__ is not None


@pytest.mark.parametrize("fraction", [0.0, 0.3, 0.5, 0.9, 0.999])
def test_truncated_array_record_shard_names_the_shard(tmp_path, trajectories, fraction):
    save_trajectories(tmp_path, trajectories, format="array_record", num_shards=2)
    shard = tmp_path / "trajectories-00001-of-00002.array_record"
    _truncate(shard, fraction)
    # A truncated shard once surfaced as a RuntimeError with an empty message.
    with pytest.raises(ValueError, match=rf"cannot read ArrayRecord shard {shard}: \S"):
        load_trajectories(tmp_path)


def test_corrupt_array_record_record_names_the_shard_when_read(tmp_path, trajectories):
    save_trajectories(tmp_path, trajectories, format="array_record", num_shards=2)
    shard = tmp_path / "trajectories-00001-of-00002.array_record"
    content = bytearray(shard.read_bytes())
    content[100:200] = bytes(100)  # inside the first chunk of records: the footer and index stay intact
    shard.write_bytes(bytes(content))
    with pytest.raises(ValueError, match=rf"cannot read trajectories \[3, 4\] from {shard}: .*hash mismatch"):
        load_trajectories(tmp_path)  # the finiteness scan reads every record
    store, _ = load_trajectories(tmp_path, check_finite=False)  # lazy: only shard 0's first record is read
    np.testing.assert_array_equal(store[np.array([0, 2])], trajectories[[0, 2]])
    assert store.shard_of(2).endswith("00000-of-00002.array_record") and store.shard_of(3) == str(shard)
    with pytest.raises(ValueError, match=rf"from {shard}: .*hash mismatch"):
        TrajectoryWindows(store, 3).read_batch(np.array([0, 15]))


def test_invalid_metadata_json_names_the_file(tmp_path, trajectories):
    save_trajectories(tmp_path, trajectories)
    meta = tmp_path / "metadata.json"
    meta.write_text(meta.read_text()[:-20])  # an interrupted write
    with pytest.raises(ValueError, match=rf"invalid dataset metadata {meta}: not valid JSON"):
        load_trajectories(tmp_path)
    meta.write_text("[1, 2]")
    with pytest.raises(ValueError, match=rf"{meta}: must hold a JSON object, got list"):
        load_trajectories(tmp_path)


@pytest.mark.parametrize("format", ["npy", "array_record"])
@pytest.mark.parametrize(
    "field",
    [
        "format",
        "structure",
        "arrays",
        "arrays.trajectories.shape",
        "arrays.trajectories.dtype",
        "arrays.trajectories.files",
    ],
)
def test_missing_metadata_field_names_file_and_field(tmp_path, trajectories, format, field):
    save_trajectories(tmp_path, trajectories, format=format)
    meta = tmp_path / "metadata.json"
    document = json.loads(meta.read_text())
    *parents, key = field.split(".")
    node = document
    for parent in parents:
        node = node[parent]
    del node[key]
    meta.write_text(json.dumps(document))
    expected = rf"invalid dataset metadata {meta}: field '?{field}'? (is missing|must describe)"
    with pytest.raises(ValueError, match=expected):
        load_trajectories(tmp_path)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("format", "hdf5", r"field 'format' must be one of \('npy', 'array_record'\), got 'hdf5'"),
        ("structure", "list", r"field 'structure' must be one of \('array', 'dict'\), got 'list'"),
        ("shape", [5, "7"], r"arrays\.trajectories\.shape must be a non-empty list of sizes"),
        ("dtype", "<q9", r"arrays\.trajectories\.dtype '<q9' is not a dtype"),
        ("files", [], r"arrays\.trajectories\.files must be a non-empty list"),
        ("files", ["gone.npy"], r"arrays\.trajectories\.files lists missing files"),
    ],
)
def test_malformed_metadata_field_names_file_and_field(tmp_path, trajectories, field, value, message):
    save_trajectories(tmp_path, trajectories)
    meta = tmp_path / "metadata.json"
    document = json.loads(meta.read_text())
    (document if field in ("format", "structure") else document["arrays"]["trajectories"])[field] = value
    meta.write_text(json.dumps(document))
    with pytest.raises(ValueError, match=rf"invalid dataset metadata {meta}: {message}"):
        load_trajectories(tmp_path)


def test_metadata_is_written_last_and_whole(tmp_path, trajectories):
    save_trajectories(tmp_path, trajectories, METADATA)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metadata.json", "trajectories.npy"]


def test_concatenated_trajectories_read_windows_and_slabs_like_the_joined_array(tmp_path):
    """Two shards, one memory-mapped .npy and one ArrayRecord store, joined lazily: windows, slabs of X,
    whole trajectories and np.asarray equal those of np.concatenate."""
    from emutrain.data import ConcatenatedTrajectories, TrajectoryWindows

    rng = np.random.default_rng(0)
    first, second = (rng.normal(size=(n, 5, 8, 3, 2)).astype(np.float32) for n in (3, 2))
    save_trajectories(tmp_path / "a", first)
    save_trajectories(tmp_path / "b", second, format="array_record")
    parts = [load_trajectories(tmp_path / name)[0] for name in ("a", "b")]
    assert isinstance(parts[0], np.memmap) and not isinstance(parts[1], np.ndarray)
    store, joined = ConcatenatedTrajectories(parts), np.concatenate([first, second])
    assert store.shape == joined.shape and store.dtype == np.float32 and len(store) == 5
    np.testing.assert_array_equal(np.asarray(store), joined)
    np.testing.assert_array_equal(store[4], joined[4])
    np.testing.assert_array_equal(store[-1], joined[-1])
    np.testing.assert_array_equal(store[np.array([[4, 0], [2, 3]])], joined[np.array([[4, 0], [2, 3]])])
    lazy, eager = TrajectoryWindows(store, 2), TrajectoryWindows(joined, 2)
    indices = [15, 0, 7, 19, 12]  # windows of both parts, out of order
    np.testing.assert_array_equal(lazy.read_batch(indices), eager.read_batch(indices))
    slab = lazy.read_batch(indices, x_slab=slice(4, 8))
    np.testing.assert_array_equal(slab, eager.read_batch(indices)[:, :, 4:8])
    with pytest.raises(IndexError, match=r"index must be in \[-5, 5\), got 5"):
        store[5]
    with pytest.raises(ValueError, match=r"parts must share their shape after the leading axis"):
        ConcatenatedTrajectories([first, second[:, :, :4]])
    with pytest.raises(ValueError, match="parts must hold at least one trajectory set"):
        ConcatenatedTrajectories([])
