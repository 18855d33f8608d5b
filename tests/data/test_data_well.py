"""WellWindows: windows equal to direct HDF5 slicing in The Well's order, stats.yaml normalization,
boundary conditions, conditioning, streaming through make_loader (resume, shards, pickling), bad input."""

import pickle
import subprocess
import sys
import textwrap

import grain
import h5py
import numpy as np
import pytest
import yaml

from emutrain.data import WellWindows, make_loader
from emutrain.data.hdf5 import read_slab

NX, NY = 6, 5
CHANNELS = [
    "density",
    "tracer",
    "velocity_x",
    "velocity_y",
    "stress_xx",
    "stress_xy",
    "stress_yx",
    "stress_yy",
]


def _dataset(group, name, data, *, time, sample, dims=(True, True)):
    dataset = group.create_dataset(name, data=data)
    dataset.attrs["time_varying"] = time
    dataset.attrs["sample_varying"] = sample
    dataset.attrs["dim_varying"] = list(dims)
    return dataset


def _boundaries(file, bc_types, masks):
    group = file.create_group("boundary_conditions")
    for dim, kind, mask in zip("xy", bc_types, masks):
        condition = group.create_group(f"{dim}_{kind.lower()}")
        condition.attrs["associated_dims"] = dim
        condition.attrs["bc_type"] = kind
        condition.attrs["sample_varying"] = False
        condition.attrs["time_varying"] = False
        condition.create_dataset("mask", data=mask)


def _masks(shape):
    """Masks that mark both ends of each axis, as a boundary on both sides."""
    masks = []
    for n in shape:
        mask = np.zeros(n, bool)
        mask[[0, -1]] = True
        masks.append(mask)
    return masks


def write_well(
    path,
    *,
    num_trajectories=2,
    num_steps=7,
    shape=(NX, NY),
    seed=0,
    grid_type="cartesian",
    bc_types=("PERIODIC", "WALL"),
    masks=None,
    density_dtype=np.float32,
    with_stress=True,
):
    """A file in The Well's format: time-varying density, tracer (constant along y), velocity and a
    sample-independent stress; a per-sample constant field, constant and time-varying scalars."""
    rng = np.random.default_rng(seed)
    nx, ny = shape
    n, t = num_trajectories, num_steps
    with h5py.File(path, "w") as f:
        f.attrs.update(dataset_name="toy", grid_type=grid_type, n_spatial_dims=2, n_trajectories=n, a=0.25)
        dimensions = f.create_group("dimensions")
        dimensions.attrs["spatial_dims"] = ["x", "y"]
        for key, value in (
            ("time", 0.1 * np.arange(t)),
            ("x", np.linspace(0, 1, nx)),
            ("y", np.linspace(0, 1, ny)),
        ):
            dimensions.create_dataset(key, data=value.astype(np.float32)).attrs["sample_varying"] = False
        _boundaries(f, bc_types, _masks(shape) if masks is None else masks)
        scalars = f.create_group("scalars")
        scalars.attrs["field_names"] = ["a", "b", "forcing"]
        _dataset(scalars, "a", np.float64(0.25), time=False, sample=False)
        _dataset(scalars, "b", rng.normal(size=n), time=False, sample=True)
        _dataset(scalars, "forcing", rng.normal(size=(n, t)), time=True, sample=True)
        t0 = f.create_group("t0_fields")
        t0.attrs["field_names"] = ["density", "mask", "tracer"]
        density = (rng.normal(size=(n, t, nx, ny)) * 3 + 1).astype(density_dtype)
        _dataset(t0, "density", density, time=True, sample=True)
        _dataset(t0, "mask", rng.normal(size=(n, nx, ny)).astype(np.float32), time=False, sample=True)
        tracer = rng.normal(size=(n, t, nx, 1)).astype(np.float32)
        _dataset(t0, "tracer", tracer, time=True, sample=True, dims=(True, False))
        t1 = f.create_group("t1_fields")
        t1.attrs["field_names"] = ["velocity"]
        velocity = (rng.normal(size=(n, t, nx, ny, 2)) * [1, 5] - [0, 2]).astype(np.float32)
        _dataset(t1, "velocity", velocity, time=True, sample=True)
        t2 = f.create_group("t2_fields")
        t2.attrs["field_names"] = ["stress"] if with_stress else []
        if with_stress:
            _dataset(
                t2, "stress", rng.normal(size=(t, nx, ny, 2, 2)).astype(np.float32), time=True, sample=False
            )


def make_dataset(root, *, files=(("b.hdf5", 3, 9), ("a.hdf5", 2, 7)), split="train", **kwargs):
    directory = root / "data" / split
    directory.mkdir(parents=True, exist_ok=True)
    for seed, (name, n, t) in enumerate(files):
        write_well(directory / name, num_trajectories=n, num_steps=t, seed=seed, **kwargs)
    return root


def direct_window(path, trajectory, start, length, stride):
    """The window read with plain h5py slicing and numpy, in The Well's channel order."""
    times = slice(start, start + (length - 1) * stride + 1, stride)
    with h5py.File(path) as f:
        density = f["t0_fields/density"][trajectory, times][..., None]
        tracer = np.broadcast_to(f["t0_fields/tracer"][trajectory, times], (length, NX, NY))[..., None]
        velocity = f["t1_fields/velocity"][trajectory, times]
        stress = f["t2_fields/stress"][times].reshape(length, NX, NY, 4)
    return np.concatenate([density, tracer, velocity, stress], axis=-1).astype(np.float32)


@pytest.fixture
def root(tmp_path):
    return make_dataset(tmp_path / "toy")


@pytest.mark.parametrize(("length", "stride"), [(3, 1), (3, 2), (1, 1)])
def test_windows_equal_direct_slicing_in_file_trajectory_start_order(root, length, stride):
    source = WellWindows(root, "train", window_length=length, dt_stride=stride)
    order = []
    for name, n, t in (("a.hdf5", 2, 7), ("b.hdf5", 3, 9)):  # files sorted by name
        order += [(name, s, start) for s in range(n) for start in range(t - stride * (length - 1))]
    assert len(source) == len(order)
    assert source.field_names == CHANNELS
    for index, (name, trajectory, start) in enumerate(order):
        file, s, t0 = source.locate(index)
        assert (source.files[file].endswith(name), s, t0) == (True, trajectory, start)
        window = source[index]
        assert window.shape == (length, NX, NY, 8) and window.dtype == np.float32
        path = root / "data" / "train" / name
        np.testing.assert_array_equal(window, direct_window(path, trajectory, start, length, stride))
    np.testing.assert_array_equal(source.read_batch([4, 0, 4]), np.stack([source[4], source[0], source[4]]))
    np.testing.assert_array_equal(source[-1], source[len(source) - 1])


def test_fields_selects_channels_in_well_order(root):
    source = WellWindows(root, "train", window_length=2, fields=["velocity", "density"])
    assert source.field_names == ["density", "velocity_x", "velocity_y"]
    np.testing.assert_array_equal(source[3], WellWindows(root, "train", window_length=2)[3][..., [0, 2, 3]])
    with pytest.raises(ValueError, match=r"fields must be .*'density'.*got \['pressure'\]"):
        WellWindows(root, "train", window_length=2, fields=["pressure"])


def _expanded(path):
    """Every time-varying field of a file broadcast to (N, T, NX, NY, components), and the constant one."""
    with h5py.File(path) as f:
        n, t = f["t0_fields/density"].shape[:2]
        return {
            "density": f["t0_fields/density"][()],
            "tracer": np.broadcast_to(f["t0_fields/tracer"][()], (n, t, NX, NY)),
            "velocity": f["t1_fields/velocity"][()],
            "stress": np.broadcast_to(f["t2_fields/stress"][()], (n, t, NX, NY, 2, 2)),
            "mask": f["t0_fields/mask"][()],
        }


def write_stats(root):
    """stats.yaml computed from the data as the windows see it: one number per scalar field, one per
    component of vectors and tensors."""
    files = sorted((root / "data" / "train").glob("*.hdf5"))
    expanded = [_expanded(p) for p in files]
    stats = {key: {} for key in ("mean", "std", "rms", "mean_delta", "std_delta", "rms_delta")}
    for name in expanded[0]:
        values = np.concatenate([e[name].reshape(-1, *e[name].shape[4:]) for e in expanded]).astype(
            np.float64
        )
        stats["mean"][name] = values.mean(0).tolist()
        stats["std"][name] = values.std(0).tolist()
        stats["rms"][name] = np.sqrt((values**2).mean(0)).tolist()
        if name != "mask":  # the statistics of time differences, which the_well also requires
            deltas = np.concatenate(
                [np.diff(e[name], axis=1).reshape(-1, *e[name].shape[4:]) for e in expanded]
            )
            stats["mean_delta"][name] = deltas.mean(0).tolist()
            stats["std_delta"][name] = deltas.std(0).tolist()
            stats["rms_delta"][name] = np.sqrt((deltas**2).mean(0)).tolist()
    (root / "stats.yaml").write_text(yaml.safe_dump(stats))
    return stats


def test_normalization_standardizes_every_channel_with_recomputed_stats(root):
    write_stats(root)
    every_snapshot = {
        mode: np.stack(list(WellWindows(root, "train", window_length=1, normalization=mode)))
        for mode in ("zscore", "rms")
    }
    zscore = every_snapshot["zscore"].reshape(-1, 8).astype(np.float64)
    np.testing.assert_allclose(zscore.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(zscore.std(0), 1, rtol=1e-5)
    rms = every_snapshot["rms"].reshape(-1, 8).astype(np.float64)
    np.testing.assert_allclose(np.sqrt((rms**2).mean(0)), 1, rtol=1e-5)


def test_normalization_matches_formula_and_floors_the_scale_at_min_std(root):
    stats = write_stats(root)
    stats["std"]["density"] = 0.0
    (root / "stats.yaml").write_text(yaml.safe_dump(stats))
    raw = WellWindows(root, "train", window_length=3)
    normalized = WellWindows(root, "train", window_length=3, normalization="zscore")
    mean = np.concatenate([np.ravel(stats["mean"][n]) for n in ("density", "tracer", "velocity", "stress")])
    std = np.concatenate([np.ravel(stats["std"][n]) for n in ("density", "tracer", "velocity", "stress")])
    std[0] = 1e-4
    np.testing.assert_allclose(normalized[5], (raw[5] - mean) / std, rtol=1e-5, atol=1e-5)
    rms_source = WellWindows(root, "train", window_length=3, normalization="rms", min_std=10.0)
    rms = np.concatenate([np.ravel(stats["rms"][n]) for n in ("density", "tracer", "velocity", "stress")])
    np.testing.assert_allclose(rms_source[5], raw[5] / np.maximum(rms, 10.0), rtol=1e-6)


def test_conditioning_reads_constant_fields_and_scalars(root):
    write_stats(root)
    source = WellWindows(root, "train", window_length=3, dt_stride=2)
    file, trajectory, start = source.locate(20)
    assert source.constant_field_names == ["mask"]
    assert source.scalar_names == ["forcing"] and source.constant_scalar_names == ["a", "b"]
    item = source.conditioning(20)
    with h5py.File(source.files[file]) as f:
        np.testing.assert_array_equal(item["constant_fields"], f["t0_fields/mask"][trajectory][..., None])
        np.testing.assert_allclose(item["constant_scalars"], [0.25, f["scalars/b"][trajectory]], rtol=1e-6)
        forcing = f["scalars/forcing"][trajectory, start : start + 5 : 2]
        np.testing.assert_allclose(item["scalars"][:, 0], forcing, rtol=1e-6)
    np.testing.assert_allclose(item["time"], 0.1 * np.array([start, start + 2, start + 4]), rtol=1e-6)
    normalized = WellWindows(root, "train", window_length=3, dt_stride=2, normalization="rms").conditioning(
        20
    )
    rms = yaml.safe_load((root / "stats.yaml").read_text())["rms"]["mask"]
    np.testing.assert_allclose(normalized["constant_fields"], item["constant_fields"] / rms, rtol=1e-6)


@pytest.mark.parametrize("normalization", [None, "rms"])
def test_conditioning_channels_follow_the_fields_at_every_time_level(root, normalization):
    write_stats(root)
    kwargs = dict(window_length=3, dt_stride=2, normalization=normalization)
    plain = WellWindows(root, "train", **kwargs)
    source = WellWindows(root, "train", conditioning=True, **kwargs)
    assert source.conditioning_names == ["mask", "a", "b"]
    indices = [20, 0, len(source) - 1, 20]
    batch = source.read_batch(indices)
    assert batch.shape == (4, 3, 6, 5, 8 + 3)
    np.testing.assert_array_equal(batch[..., :8], plain.read_batch(indices))
    for window, index in zip(batch, indices):
        item = source.conditioning(index)
        expected = np.concatenate(
            [item["constant_fields"], np.broadcast_to(item["constant_scalars"], (6, 5, 2))], -1
        )
        for level in window:
            np.testing.assert_array_equal(level[..., 8:], expected)
    np.testing.assert_array_equal(source[20], batch[0])
    with pytest.raises(TypeError, match="conditioning must be a bool, got 1"):
        WellWindows(root, "train", window_length=2, conditioning=1)


@pytest.mark.parametrize(
    ("bc_types", "masks", "conditions", "mode"),
    [
        (("PERIODIC", "WALL"), None, (("periodic", "periodic"), ("wall", "wall")), None),
        (("PERIODIC", "PERIODIC"), None, (("periodic", "periodic"),) * 2, "periodic"),
        # the_well's dummy data: periodic masks that mark no boundary point leave the sides open
        (("PERIODIC", "PERIODIC"), [np.zeros(NX, bool), np.zeros(NY, bool)], (("open", "open"),) * 2, "open"),
        (
            ("OPEN", "WALL"),
            [np.ones(NX, bool), np.r_[True, np.zeros(NY - 1, bool)]],
            (("open",) * 2, ("wall", "open")),
            None,
        ),
    ],
)
def test_boundary_conditions_map_to_periodic_wall_open(tmp_path, bc_types, masks, conditions, mode):
    root = make_dataset(tmp_path, files=(("a.hdf5", 1, 4),), bc_types=bc_types, masks=masks)
    source = WellWindows(root, "train", window_length=2)
    assert source.boundary_conditions == conditions
    assert source.boundary_mode == mode


def test_resume_mid_epoch_is_exact_and_the_source_pickles(root):
    source = WellWindows(root, "train", window_length=3)
    kwargs = dict(batch_size=4, seed=5, num_steps=12, shard_index=0, shard_count=1)
    iterator = iter(make_loader(source, **kwargs))
    for _ in range(5):  # 31 windows: 7 batches per epoch
        next(iterator)
    state = iterator.get_state()
    remaining = np.stack(list(iterator))
    assert source._files.num_open() == 2
    restored_source = pickle.loads(pickle.dumps(source))
    assert restored_source._files.num_open() == 0
    restored = iter(make_loader(restored_source, **kwargs))
    restored.set_state(state)
    np.testing.assert_array_equal(np.stack(list(restored)), remaining)
    assert remaining.shape == (7, 4, 3, NX, NY, 8)


GRAIN_WORKERS_SCRIPT = textwrap.dedent(
    """
    import sys
    from absl import flags
    flags.FLAGS(sys.argv[:1])
    import os
    import time
    import grain
    import numpy as np
    from emutrain.data import WellWindows, make_loader

    PARENT = os.getpid()
    before = set(os.listdir("/dev/shm"))


    class Checked(WellWindows):
        def read_batch(self, indices, *, x_slab=None, shared_memory=False):
            # worker processes read into shared memory, the parent never
            if shared_memory != (os.getpid() != PARENT):
                raise AssertionError(f"shared_memory={shared_memory} in process {os.getpid()}")
            return super().read_batch(indices, x_slab=x_slab, shared_memory=shared_memory)


    source = Checked(sys.argv[1], "train", window_length=3)
    source[0]  # the parent holds open handles when the workers receive the source
    kwargs = dict(batch_size=4, seed=1, num_steps=10, shard_index=0, shard_count=1)
    threads = np.stack(list(make_loader(source, **kwargs)))
    workers = make_loader(source, **kwargs).mp_prefetch(grain.MultiprocessingOptions(num_workers=2))
    batches = list(workers)
    shared = all(isinstance(b, grain.multiprocessing.SharedMemoryArray) for b in batches)
    processes = np.stack(batches)
    endless = iter(make_loader(source, batch_size=4, seed=1, shard_index=0, shard_count=1).mp_prefetch(
        grain.MultiprocessingOptions(num_workers=2)))
    first = [next(endless) for _ in range(3)]
    endless.close()  # the batches read ahead are freed, none left in shared memory
    del batches, first  # the batches received are freed when dropped (by a Grain thread)
    time.sleep(1)
    left = {name for name in set(os.listdir("/dev/shm")) - before if name.startswith("psm_")}
    print(threads.shape, processes.shape, np.array_equal(threads, processes), shared, sorted(left))
    """
)


@pytest.mark.slow
def test_grain_worker_processes_read_the_same_batches_as_threads_into_shared_memory(root):
    out = subprocess.run(
        [sys.executable, "-c", GRAIN_WORKERS_SCRIPT, str(root)], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    shape = f"(10, 4, 3, {NX}, {NY}, 8)"
    assert out.stdout.strip().splitlines()[-1] == f"{shape} {shape} True True []"


WORKER_RESUME_SCRIPT = textwrap.dedent(
    """
    import sys
    from absl import flags
    flags.FLAGS(sys.argv[:1])
    import numpy as np
    from emutrain.data import WellWindows, make_loader
    source = WellWindows(sys.argv[1], "train", window_length=3)
    kwargs = dict(batch_size=4, seed=3, num_steps=12, shard_index=0, shard_count=1)
    threads = np.stack(list(make_loader(source, **kwargs)))
    iterator = iter(make_loader(source, worker_processes=2, **kwargs))
    first = [next(iterator) for _ in range(5)]
    state = iterator.get_state()
    rest = np.stack(list(iterator))
    resumed = {}
    for workers in (3, 0):  # another number of workers, then prefetch threads, from the same state
        other = iter(make_loader(source, worker_processes=workers, **kwargs))
        other.set_state(state)
        resumed[workers] = np.stack(list(other))
    print(state, np.array_equal(np.concatenate([np.stack(first), rest]), threads),
          all(np.array_equal(r, threads[5:]) for r in resumed.values()))
    """
)


@pytest.mark.slow
def test_worker_processes_read_the_threads_batches_and_resume_with_any_number_of_workers(root):
    out = subprocess.run(
        [sys.executable, "-c", WORKER_RESUME_SCRIPT, str(root)], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "{'next_index': 5} True True"


def test_two_shards_are_disjoint_and_together_one_process(root):
    source = WellWindows(root, "train", window_length=3)
    first = source.read_batch(np.arange(len(source)))[:, 0, 0, 0, 0]  # density at the window start: distinct

    def ids(**kwargs):
        loader = make_loader(source, batch_size=kwargs.pop("batch_size"), seed=1, num_epochs=1, **kwargs)
        return [[int(np.flatnonzero(first == b)[0]) for b in batch[:, 0, 0, 0, 0]] for batch in loader]

    shard0 = ids(batch_size=3, shard_index=0, shard_count=2)
    shard1 = ids(batch_size=3, shard_index=1, shard_count=2)
    single = ids(batch_size=6, shard_index=0, shard_count=1)
    assert len(set(first)) == len(source) == 31  # 2 x 5 + 3 x 7
    assert not set(sum(shard0, [])) & set(sum(shard1, []))
    assert [a + b for a, b in zip(shard0, shard1, strict=True)] == single
    assert len(set(sum(single, []))) == 30  # 5 global batches of 6 distinct windows


def test_bad_directories_and_arguments_raise_naming_them(root, tmp_path):
    with pytest.raises(ValueError, match=r"split directory .*valid does not exist"):
        WellWindows(root, "valid", window_length=2)
    with pytest.raises(ValueError, match=r"split must be one of \('train', 'valid', 'test'\), got 'dev'"):
        WellWindows(root, "dev", window_length=2)
    with pytest.raises(ValueError, match=r"statistics file .*stats.yaml"):
        WellWindows(root, "train", window_length=2, normalization="zscore")
    with pytest.raises(ValueError, match=r"normalization must be one of"):
        WellWindows(root, "train", window_length=2, normalization="minmax")
    (root / "stats.yaml").write_text(yaml.safe_dump({"mean": {"density": 0.0}, "std": {}}))
    with pytest.raises(ValueError, match=r"stats.yaml: no 'std' statistics for field 'density'"):
        WellWindows(root, "train", window_length=2, normalization="zscore")
    stats = write_stats(root)
    stats["std"]["velocity"] = [1.0, 2.0, 3.0]
    (root / "stats.yaml").write_text(yaml.safe_dump(stats))
    with pytest.raises(
        ValueError, match=r"statistics of field 'velocity' have 3 values, expected 1 or one per"
    ):
        WellWindows(root, "train", window_length=2, normalization="zscore")
    with pytest.raises(
        ValueError, match=r"a.hdf5: trajectories of 7 snapshots are too short for window_length=5"
    ):
        WellWindows(root, "train", window_length=5, dt_stride=2)
    (tmp_path / "empty" / "data" / "test").mkdir(parents=True)
    with pytest.raises(ValueError, match="holds no .h5 or .hdf5 files"):
        WellWindows(tmp_path / "empty", "test", window_length=2)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"shape": (NX, NY + 1)},
            ValueError,
            r"b.hdf5: spatial_shape disagree with .*a.hdf5: \(6, 6\) != \(6, 5\)",
        ),
        ({"with_stress": False}, ValueError, r"b.hdf5: fields disagree with .*a.hdf5"),
        (
            {"density_dtype": np.int32},
            TypeError,
            r"b.hdf5: dataset '/t0_fields/density' must hold real.*int32",
        ),
        (
            {"grid_type": "equiangular"},
            ValueError,
            r"b.hdf5: grid_type 'equiangular' is not supported; allowed is 'cartesian'",
        ),
        (
            {"bc_types": ("PERIODIC", "ROBIN")},
            ValueError,
            r"b.hdf5: boundary condition 'y_robin' has bc_type 'ROBIN'",
        ),
    ],
)
def test_bad_files_raise_naming_the_file(tmp_path, kwargs, error, message):
    root = make_dataset(tmp_path, files=(("a.hdf5", 1, 5),))
    write_well(root / "data" / "train" / "b.hdf5", num_trajectories=1, num_steps=5, **kwargs)
    with pytest.raises(error, match=message):
        WellWindows(root, "train", window_length=2)


def test_nan_found_at_read_time_names_file_trajectory_and_time(root):
    with h5py.File(root / "data" / "train" / "b.hdf5", "r+") as f:
        f["t1_fields/velocity"][2, 6, 1, 1, 0] = np.nan
    source = WellWindows(root, "train", window_length=3, dt_stride=2)
    # b.hdf5 trajectory 2 comes after a.hdf5's 2 x 3 and b.hdf5's 2 x 5 windows; start 2 reads 2, 4, 6
    assert source.locate(6 + 10 + 2) == (1, 2, 2)
    with pytest.raises(
        ValueError, match=r"b.hdf5: field 'velocity' of trajectory 2 holds NaN or Inf at time index 6"
    ):
        source[6 + 10 + 2]
    source[6 + 10 + 3]  # starts at 3: reads 3, 5, 7


def test_read_slab_equals_h5py_indexing_and_converts_to_the_buffer_dtype(tmp_path):
    data = np.random.default_rng(0).standard_normal((3, 11, 4, 5, 2))
    with h5py.File(tmp_path / "slab.hdf5", "w") as f:
        f["x"] = data
        for key in [(1, slice(2, 9, 3)), (2, slice(0, 11)), (0,), (slice(0, 3, 2), 10), ()]:
            out = np.empty(f["x"][key].shape, np.float32)
            assert read_slab(f["x"], key, out) is out
            np.testing.assert_array_equal(out, f["x"][key].astype(np.float32))


@pytest.mark.parametrize("normalization", [None, "zscore"])
def test_x_slab_reads_that_slab_of_every_window(root, normalization):
    """Fields varying along X (density, the tracer constant along y, velocity, the sample-independent
    stress) are read as hyperslabs of X; the result is the slab of the whole windows."""
    if normalization:
        write_stats(root)
    source = WellWindows(root, "train", window_length=2, normalization=normalization)
    whole = source.read_batch([4, 0, 9])
    part = source.read_batch([4, 0, 9], x_slab=slice(2, 5))
    assert part.shape == (3, 2, 3, NY, 8)
    np.testing.assert_array_equal(part, whole[:, :, 2:5])


def test_shared_memory_batch_equals_the_plain_one(root):
    source = WellWindows(root, "train", window_length=2, conditioning=True)
    batch = source.read_batch([4, 0, 9], x_slab=slice(2, 5), shared_memory=True)
    batch.unlink_on_del()
    assert isinstance(batch, grain.multiprocessing.SharedMemoryArray)
    np.testing.assert_array_equal(batch, source.read_batch([4, 0, 9], x_slab=slice(2, 5)))


def test_the_building_process_never_reads_into_shared_memory(root):
    """``mp_prefetch`` enables shared-memory output on the loader in the main process too (before its
    workers receive it); batches read there stay ordinary arrays, which nothing would unlink."""
    source = WellWindows(root, "train", window_length=2)
    kwargs = dict(batch_size=3, seed=4, num_steps=3, shard_index=0, shard_count=1)
    loader = make_loader(source, **kwargs)
    loader.enable_shared_memory_output()
    batches = list(loader)
    assert all(type(batch) is np.ndarray for batch in batches)
    np.testing.assert_array_equal(np.stack(batches), np.stack(list(make_loader(source, **kwargs))))
