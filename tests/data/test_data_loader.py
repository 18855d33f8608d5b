"""make_loader: epochs, seeds, per-epoch reshuffle, sharding, full-batch fallback, resumable state."""

import json
import logging
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from emutrain.data import TrajectoryWindows, make_loader

NUM_TRAJECTORIES, NUM_SNAPSHOTS, WINDOW = 4, 8, 3  # 4 x 6 = 24 windows


def labelled_source(num_trajectories=NUM_TRAJECTORIES, num_snapshots=NUM_SNAPSHOTS, window=WINDOW):
    """Windows whose first value identifies them: data[s, t] = s * 100 + t, so window i has value
    100 * s + t at its start with i = s * (T+2-W) + t."""
    s, t = np.meshgrid(np.arange(num_trajectories), np.arange(num_snapshots), indexing="ij")
    data = (100 * s + t).astype(np.float32)[..., None, None]  # (S, T+1, 1, 1)
    return TrajectoryWindows(data, window)


def window_ids(batch, windows_per_trajectory=NUM_SNAPSHOTS - WINDOW + 1):
    first = batch[:, 0, 0, 0].astype(int)
    return list((first // 100) * windows_per_trajectory + first % 100)


def stream(loader):
    return [window_ids(batch) for batch in loader]


def loader(source=None, **kwargs):
    kwargs = {"batch_size": 4, "seed": 0, "shard_index": 0, "shard_count": 1, **kwargs}
    return make_loader(labelled_source() if source is None else source, **kwargs)


def test_batches_hold_the_windows_they_name():
    source = labelled_source()
    for batch in loader(source, num_epochs=1):
        ids = window_ids(batch)
        np.testing.assert_array_equal(batch, source.read_batch(np.array(ids)))
        assert batch.shape == (4, WINDOW, 1, 1) and batch.dtype == np.float32


@pytest.mark.parametrize("batch_size", [4, 5])
def test_each_epoch_visits_every_window_once_in_a_new_order(batch_size):
    batches = stream(loader(batch_size=batch_size, num_epochs=3))
    per_epoch = 24 // batch_size
    assert len(batches) == 3 * per_epoch
    epochs = [sum(batches[e * per_epoch : (e + 1) * per_epoch], []) for e in range(3)]
    for order in epochs:
        assert len(set(order)) == len(order) == per_epoch * batch_size  # no repeats within an epoch
    if batch_size == 4:
        assert all(sorted(order) == list(range(24)) for order in epochs)
    assert epochs[0] != epochs[1] != epochs[2] != epochs[0]


def test_drop_remainder_false_yields_the_partial_last_batch():
    batches = stream(loader(batch_size=5, num_epochs=2, drop_remainder=False))
    assert [len(b) for b in batches] == [5, 5, 5, 5, 4] * 2
    assert sorted(sum(batches[:5], [])) == list(range(24))


def test_same_seed_same_stream_different_seed_different():
    assert stream(loader(seed=3, num_steps=12)) == stream(loader(seed=3, num_steps=12))
    assert stream(loader(seed=3, num_steps=12)) != stream(loader(seed=4, num_steps=12))


def test_no_shuffle_reads_in_index_order_every_epoch():
    batches = stream(loader(shuffle=False, num_epochs=2, batch_size=6))
    assert sum(batches, []) == list(range(24)) * 2


def test_num_steps_gives_exactly_that_many_batches_across_epochs():
    assert len(stream(loader(num_steps=17))) == 17  # 6 batches per epoch


def test_vectorized_and_window_by_window_paths_agree():
    class PerWindow:  # a plain Grain random-access source without read_batch
        def __init__(self, source):
            self.source = source

        def __len__(self):
            return len(self.source)

        def __getitem__(self, index):
            return self.source[index]

    source = labelled_source()
    fast = list(loader(source, num_steps=9))
    slow = list(loader(PerWindow(source), num_steps=9))
    for a, b in zip(fast, slow, strict=True):
        np.testing.assert_array_equal(a, b)


def test_two_processes_get_disjoint_shards_that_form_the_global_batch():
    shard0 = stream(loader(num_epochs=2, batch_size=3, shard_index=0, shard_count=2))
    shard1 = stream(loader(num_epochs=2, batch_size=3, shard_index=1, shard_count=2))
    single = stream(loader(num_epochs=2, batch_size=6))
    assert len(shard0) == len(shard1) == len(single) == 8
    for epoch in range(2):
        a = sum(shard0[4 * epoch : 4 * epoch + 4], [])
        b = sum(shard1[4 * epoch : 4 * epoch + 4], [])
        assert not set(a) & set(b)
        assert sorted(a + b) == list(range(24))
    # Global batch = concatenation of the per-process batches = the single-process batch of 2 x 3.
    assert [x + y for x, y in zip(shard0, shard1)] == single


def test_full_batch_fallback_warns_and_keeps_shapes(caplog):
    with caplog.at_level(logging.WARNING):
        batches = list(loader(batch_size=100, num_steps=3))
    assert "exceeds the 24 windows" in caplog.text
    assert [b.shape for b in batches] == [(24, WINDOW, 1, 1)] * 3
    assert all(sorted(window_ids(b)) == list(range(24)) for b in batches)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"num_steps": 0}, "num_steps"),
        ({"num_epochs": 0}, "num_epochs"),
        ({"num_steps": 2, "num_epochs": 2}, "num_steps"),
        ({"seed": -1}, "seed"),
        ({"shard_index": 2, "shard_count": 2}, "shard_index"),
        ({"shard_count": 2, "drop_remainder": False}, "drop_remainder"),
        ({"prefetch_threads": -1}, "prefetch_threads"),
        ({"worker_processes": -2}, "worker_processes"),
    ],
)
def test_bad_arguments_raise_naming_the_parameter(kwargs, name):
    with pytest.raises(ValueError, match=name):
        loader(**kwargs)


class _ListSource:
    """A plain random-access source (no ``read_batch``) over a list of windows."""

    def __init__(self, windows):
        self.windows = windows

    def __len__(self):
        return len(self.windows)

    def __getitem__(self, index):
        return self.windows[index]


@pytest.mark.parametrize("dtype", [np.int32, np.bool_, np.complex64])
def test_source_with_non_floating_windows_raises_naming_the_dtype(dtype):
    windows = [{"u": np.zeros((3, 2, 1), dtype)} for _ in range(8)]
    with pytest.raises(
        TypeError, match=rf"source windows\['u'\] must hold real floating-point.*{np.dtype(dtype)}"
    ):
        loader(_ListSource(windows))
    floats = [{"u": np.full((3, 2, 1), i, np.float32)} for i in range(8)]
    batches = list(loader(_ListSource(floats), shuffle=False, num_epochs=1))
    assert [batch["u"][:, 0, 0, 0].tolist() for batch in batches] == [[0, 1, 2, 3], [4, 5, 6, 7]]


RESUME_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    sys.path.insert(0, {test_dir!r})
    from test_data_loader import loader
    iterator = iter(loader(num_steps=15, seed=7, batch_size=5, prefetch_threads=2))
    if {use_orbax}:
        import grain, orbax.checkpoint as ocp
        ocp.Checkpointer(grain.checkpoint.CheckpointHandler()).restore(
            {path!r}, args=grain.checkpoint.CheckpointRestore(iterator))
    else:
        iterator.set_state(json.load(open({path!r})))
    np.save({out!r}, np.stack(list(iterator)))
    """
)


@pytest.mark.parametrize("use_orbax", [False, True])
def test_state_restored_in_a_fresh_process_yields_the_remaining_stream(tmp_path, use_orbax):
    iterator = iter(loader(num_steps=15, seed=7, batch_size=5, prefetch_threads=2))
    for _ in range(6):
        next(iterator)
    path = str(tmp_path / ("ckpt" if use_orbax else "state.json"))
    if use_orbax:
        import grain
        import orbax.checkpoint as ocp

        ocp.Checkpointer(grain.checkpoint.CheckpointHandler()).save(
            path, args=grain.checkpoint.CheckpointSave(iterator)
        )
    else:
        with open(path, "w") as f:
            json.dump(iterator.get_state(), f)
    remaining = np.stack(list(iterator))
    assert remaining.shape[0] == 9

    out = str(tmp_path / "resumed.npy")
    script = RESUME_SCRIPT.format(test_dir=os.path.dirname(__file__), use_orbax=use_orbax, path=path, out=out)
    subprocess.run([sys.executable, "-c", script], check=True, env={**os.environ, "JAX_PLATFORMS": "cpu"})
    np.testing.assert_array_equal(np.load(out), remaining)


def test_x_slabs_of_a_memory_mapped_dataset_concatenate_to_the_whole_batches(tmp_path):
    """Two processes splitting every sample along X read the same windows, each its half of X, straight
    from the memory-mapped .npy file: the bytes each batch holds are the slab's, half the windows'."""
    from emutrain.data import load_trajectories, save_trajectories

    rng = np.random.default_rng(0)
    save_trajectories(tmp_path, rng.normal(size=(3, 6, 8, 4, 2)).astype(np.float32))
    trajectories, _ = load_trajectories(tmp_path)
    assert isinstance(trajectories, np.memmap)
    source = TrajectoryWindows(trajectories, 2)
    whole = list(make_loader(source, batch_size=4, num_steps=5, shard_index=0, shard_count=1))
    halves = [
        list(make_loader(source, batch_size=4, num_steps=5, shard_index=0, shard_count=1, x_slab=slab))
        for slab in (slice(0, 4), slice(4, 8))
    ]
    for batch, low, high in zip(whole, *halves, strict=True):
        assert low.shape == high.shape == (4, 2, 4, 4, 2) and not isinstance(low, np.memmap)
        assert low.nbytes == batch.nbytes // 2
        np.testing.assert_array_equal(np.concatenate([low, high], axis=2), batch)


def test_x_slab_of_a_pytree_slices_only_leaves_with_a_spatial_axis():
    data = np.arange(2 * 4 * 6 * 1, dtype=np.float32).reshape(2, 4, 6, 1)
    params = np.broadcast_to(np.float32([[1.0, 2.0, 3.0]])[:, None], (2, 4, 3))
    batch = TrajectoryWindows({"state": data, "params": params}, 2).read_batch([0, 3], x_slab=slice(2, 5))
    np.testing.assert_array_equal(batch["state"], data[[0, 1]][:, :2, 2:5])
    np.testing.assert_array_equal(batch["params"], params[[0, 1], :2])


@pytest.mark.parametrize(
    ("x_slab", "error", "message"),
    [
        ((0, 2), TypeError, r"x_slab must be a slice or None, got \(0, 2\)"),
        (slice(2, 2), ValueError, r"x_slab must be slice\(start, stop\) with 0 <= start < stop"),
        (slice(0, 4, 2), ValueError, r"x_slab must be slice\(start, stop\) with 0 <= start < stop"),
    ],
)
def test_bad_x_slab_raises_naming_it(x_slab, error, message):
    with pytest.raises(error, match=message):
        loader(x_slab=x_slab)


def test_x_slab_needs_a_source_that_reads_slabs():
    with pytest.raises(TypeError, match=r"x_slab=slice\(0, 1, None\) needs a source with read_batch"):
        loader(_ListSource([np.zeros((3, 1, 1), np.float32)] * 4), x_slab=slice(0, 1))
