"""PDEBenchWindows: the three PDEBench layouts, windows equal to direct HDF5 slicing, index order, split
sizes, streaming through make_loader (resume, shards, pickling), bad input."""

import pickle

import grain
import h5py
import numpy as np
import pytest

from emutrain.data import PDEBenchWindows, make_loader

N, T = 10, 8


def write_tensor(path, spatial=(16,), rng=None, dtype=np.float32):
    """Advection/Burgers layout: one array ``tensor`` (N, T, *spatial) and its coordinates."""
    rng = rng or np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        f["tensor"] = rng.normal(size=(N, T, *spatial)).astype(dtype)
        f["x-coordinate"] = np.linspace(0, 1, spatial[0], dtype=np.float32)
        f["t-coordinate"] = np.linspace(0, 2, T + 1, dtype=np.float32)
    return path


def write_fields(path, spatial=(8, 6), names=("Vy", "density", "Vx", "pressure")):
    """Compressible Navier-Stokes layout: one array per field (N, T, *spatial)."""
    rng = np.random.default_rng(1)
    with h5py.File(path, "w") as f:
        for name in names:
            f[name] = rng.normal(size=(N, T, *spatial)).astype(np.float32)
        f["x-coordinate"] = np.linspace(0, 1, spatial[0], dtype=np.float32)
        f["y-coordinate"] = np.linspace(0, 1, spatial[1], dtype=np.float32)
        f["t-coordinate"] = np.linspace(0, 1, T + 1, dtype=np.float32)
    return path


def write_groups(path, spatial=(8, 6), channels=2, num_samples=N):
    """Diffusion-reaction / shallow-water layout: one group per sample with ``data`` (T, *spatial, C)."""
    rng = np.random.default_rng(2)
    with h5py.File(path, "w") as f:
        for sample in range(num_samples):
            group = f.create_group(f"{sample:04d}")
            group["data"] = rng.normal(size=(T, *spatial, channels)).astype(np.float32)
            group["grid/x"] = np.linspace(-1, 1, spatial[0], dtype=np.float32)
            group["grid/y"] = np.linspace(-1, 1, spatial[1], dtype=np.float32)
            group["grid/t"] = np.linspace(0, 5, T, dtype=np.float32)
    return path


def direct(path, sample, times):
    """The window read by plain h5py slicing, channels-last, in PDEBench's field order."""
    with h5py.File(path) as f:
        if "tensor" in f:
            return f["tensor"][sample, times][..., None]
        names = [n for n in ("density", "pressure", "Vx", "Vy", "Vz") if n in f]
        if names:
            return np.stack([f[n][sample, times] for n in names], axis=-1)
        return f[f"{sample:04d}/data"][times]


LAYOUTS = {
    "tensor": (write_tensor, (16,), 1),
    "tensor_2d": (lambda p: write_tensor(p, (5, 4)), (5, 4), 1),
    "fields": (write_fields, (8, 6), 4),
    "groups": (write_groups, (8, 6), 2),
}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize(("split", "samples"), [("train", range(0, 9)), ("test", range(9, 10))])
@pytest.mark.parametrize(("length", "stride"), [(3, 1), (2, 3)])
def test_windows_equal_direct_slicing_in_sample_start_order(tmp_path, layout, split, samples, length, stride):
    write, spatial, channels = LAYOUTS[layout]
    path = write(tmp_path / "data.hdf5")
    source = PDEBenchWindows(path, split, window_length=length, dt_stride=stride)
    starts = T - stride * (length - 1)
    order = [(s, t) for s in samples for t in range(starts)]
    assert len(source) == len(order)
    for index, (sample, start) in enumerate(order):
        assert source.locate(index) == (sample, start)
        window = source[index]
        assert window.shape == (length, *spatial, channels) and window.dtype == np.float32
        np.testing.assert_array_equal(
            window, direct(path, sample, slice(start, start + (length - 1) * stride + 1, stride))
        )
    np.testing.assert_array_equal(source.read_batch([2, 0]), np.stack([source[2], source[0]]))


@pytest.mark.parametrize(
    ("fraction", "train", "test"), [(0.1, 9, 1), (0.25, 8, 2), (0.0, 10, 0), (0.96, 0, 10)]
)
def test_split_sizes_are_round_of_the_train_fraction(tmp_path, fraction, train, test):
    path = write_tensor(tmp_path / "data.hdf5")
    for split, count in (("train", train), ("test", test)):
        if count:
            source = PDEBenchWindows(path, split, window_length=T, test_fraction=fraction)
            assert len(source) == count and source.samples == (
                range(0, train) if split == "train" else range(train, N)
            )
        else:
            with pytest.raises(ValueError, match=f"split '{split}' with test_fraction={fraction} holds none"):
                PDEBenchWindows(path, split, window_length=T, test_fraction=fraction)


def test_coordinates_are_read_from_either_layout(tmp_path):
    flat = PDEBenchWindows(write_fields(tmp_path / "f.hdf5"), window_length=2).coordinates()
    assert sorted(flat) == ["t", "x", "y"] and flat["t"].shape == (T + 1,)
    grouped = PDEBenchWindows(write_groups(tmp_path / "g.hdf5"), window_length=2).coordinates()
    np.testing.assert_array_equal(grouped["x"], np.linspace(-1, 1, 8, dtype=np.float32))
    assert sorted(grouped) == ["t", "x", "y"]


def test_resume_mid_epoch_is_exact_and_the_source_pickles(tmp_path):
    source = PDEBenchWindows(write_groups(tmp_path / "g.hdf5"), window_length=3)  # 9 x 6 = 54 windows
    kwargs = dict(batch_size=5, seed=2, num_steps=25, shard_index=0, shard_count=1)
    iterator = iter(make_loader(source, **kwargs))
    for _ in range(13):  # into the second epoch of 10 batches
        next(iterator)
    state = iterator.get_state()
    remaining = np.stack(list(iterator))
    restored = iter(make_loader(pickle.loads(pickle.dumps(source)), **kwargs))
    restored.set_state(state)
    np.testing.assert_array_equal(np.stack(list(restored)), remaining)
    assert remaining.shape == (12, 5, 3, 8, 6, 2)


def test_two_shards_are_disjoint_and_together_one_process(tmp_path):
    source = PDEBenchWindows(write_tensor(tmp_path / "t.hdf5"), window_length=2)  # 9 x 7 = 63 windows
    first = source.read_batch(np.arange(len(source)))[:, 0, 0, 0]

    def ids(batch_size, shard_index, shard_count):
        loader = make_loader(
            source,
            batch_size=batch_size,
            seed=4,
            num_epochs=1,
            shard_index=shard_index,
            shard_count=shard_count,
        )
        return [[int(np.flatnonzero(first == v)[0]) for v in batch[:, 0, 0, 0]] for batch in loader]

    shard0, shard1, single = ids(4, 0, 2), ids(4, 1, 2), ids(8, 0, 1)
    assert len(set(first)) == 63
    assert not set(sum(shard0, [])) & set(sum(shard1, []))
    assert [a + b for a, b in zip(shard0, shard1, strict=True)] == single
    assert len(set(sum(single, []))) == 56  # 7 global batches of 8


def test_bad_files_and_arguments_raise_naming_them(tmp_path):
    with pytest.raises(ValueError, match=r"PDEBench file .*missing.hdf5 does not exist"):
        PDEBenchWindows(tmp_path / "missing.hdf5", window_length=2)
    path = write_tensor(tmp_path / "t.hdf5")
    with pytest.raises(
        ValueError, match=r"t.hdf5: trajectories of 8 snapshots are too short for window_length=9"
    ):
        PDEBenchWindows(path, window_length=9)
    with pytest.raises(ValueError, match=r"split must be one of \('train', 'test'\), got 'valid'"):
        PDEBenchWindows(path, "valid", window_length=2)
    with pytest.raises(ValueError, match=r"test_fraction must be in \[0, 1\), got 1.0"):
        PDEBenchWindows(path, window_length=2, test_fraction=1.0)
    ints = write_tensor(tmp_path / "i.hdf5", dtype=np.int32)
    with pytest.raises(TypeError, match=r"i.hdf5: dataset 'tensor' must hold real floating-point.*int32"):
        PDEBenchWindows(ints, window_length=2)
    with h5py.File(tmp_path / "other.hdf5", "w") as f:
        f["u"] = np.zeros((2, 3, 4))
    with pytest.raises(
        ValueError, match=r"other.hdf5: no PDEBench layout found; supported layouts are 'tensor'"
    ):
        PDEBenchWindows(tmp_path / "other.hdf5", window_length=2)


def test_fields_or_samples_of_differing_shapes_raise(tmp_path):
    path = write_fields(tmp_path / "f.hdf5")
    with h5py.File(path, "r+") as f:
        del f["pressure"]
        f["pressure"] = np.zeros((N, T, 8, 5), np.float32)
    with pytest.raises(ValueError, match=r"f.hdf5: the fields' shapes disagree"):
        PDEBenchWindows(path, window_length=2)
    path = write_groups(tmp_path / "g.hdf5", num_samples=3)
    with h5py.File(path, "r+") as f:
        del f["0002/data"]
        f["0002/data"] = np.zeros((T, 8, 5, 2), np.float32)
    with pytest.raises(ValueError, match=r"g.hdf5: sample '0002' has data of shape \(8, 8, 5, 2\)"):
        PDEBenchWindows(path, window_length=2)


def test_nan_found_at_read_time_names_file_trajectory_and_time(tmp_path):
    path = write_fields(tmp_path / "f.hdf5")
    with h5py.File(path, "r+") as f:
        f["Vx"][3, 5, 2, 2] = np.inf
    source = PDEBenchWindows(path, window_length=3, dt_stride=2)  # 4 windows per sample
    assert source.locate(13) == (3, 1)  # reads 1, 3, 5
    with pytest.raises(ValueError, match=r"f.hdf5: trajectory 3 holds NaN or Inf at time index 5"):
        source[13]
    source[12]  # reads 0, 2, 4


@pytest.mark.parametrize("layout", LAYOUTS)
def test_x_slab_reads_that_slab_of_every_window(tmp_path, layout):
    write, spatial, channels = LAYOUTS[layout]
    path = write(tmp_path / "data.hdf5")
    source = PDEBenchWindows(path, "train", window_length=3)
    whole = source.read_batch([5, 0, 7])
    slab = slice(1, spatial[0] // 2 + 1)
    part = source.read_batch([5, 0, 7], x_slab=slab)
    assert part.shape == (3, 3, spatial[0] // 2, *spatial[1:], channels)
    np.testing.assert_array_equal(part, whole[:, :, slab])


@pytest.mark.parametrize("layout", LAYOUTS)
def test_shared_memory_batch_equals_the_plain_one(tmp_path, layout):
    write, spatial, channels = LAYOUTS[layout]
    source = PDEBenchWindows(write(tmp_path / "data.hdf5"), "train", window_length=3, dt_stride=2)
    batch = source.read_batch([5, 0, 7], x_slab=slice(1, 3), shared_memory=True)
    batch.unlink_on_del()
    assert isinstance(batch, grain.multiprocessing.SharedMemoryArray)
    np.testing.assert_array_equal(batch, source.read_batch([5, 0, 7], x_slab=slice(1, 3)))
