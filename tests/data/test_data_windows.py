"""TrajectoryWindows: window content against a brute-force reference, sizes, errors."""

import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emutrain.data import TrajectoryWindows


def brute_force_windows(data, window, do_sub_stacking, only_store_ic):
    """Every window of ``data`` ``(S, T+1, ...)`` in index order, built with explicit loops."""
    num_snapshots = data.shape[1]
    starts = range(num_snapshots - window + 1) if do_sub_stacking else range(1)
    length = 1 if only_store_ic else window
    return [data[s, t : t + length] for s in range(data.shape[0]) for t in starts]


@settings(max_examples=25, deadline=None)
@given(
    num_trajectories=st.integers(1, 4),
    num_snapshots=st.integers(1, 7),
    data=st.data(),
    do_sub_stacking=st.booleans(),
    only_store_ic=st.booleans(),
)
def test_windows_equal_brute_force_for_every_index(
    num_trajectories, num_snapshots, data, do_sub_stacking, only_store_ic
):
    window = data.draw(st.integers(1, num_snapshots), label="window")
    rng = np.random.default_rng(num_trajectories * 100 + num_snapshots)
    state = rng.normal(size=(num_trajectories, num_snapshots, 3, 2)).astype(np.float32)
    params = rng.normal(size=(num_trajectories, 2)).astype(np.float32)
    # Per-trajectory leaves enter as a zero-copy time-broadcast view.
    tree = {"state": state, "params": np.broadcast_to(params[:, None], (num_trajectories, num_snapshots, 2))}
    source = TrajectoryWindows(tree, window, do_sub_stacking=do_sub_stacking, only_store_ic=only_store_ic)

    reference_state = brute_force_windows(state, window, do_sub_stacking, only_store_ic)
    reference_params = brute_force_windows(tree["params"], window, do_sub_stacking, only_store_ic)
    assert len(source) == len(reference_state)
    for i, (ref_u, ref_p) in enumerate(zip(reference_state, reference_params)):
        item = source[i]
        np.testing.assert_array_equal(item["state"], ref_u)
        np.testing.assert_array_equal(item["params"], ref_p)
    order = rng.permutation(len(source))
    batch = source.read_batch(order)
    np.testing.assert_array_equal(batch["state"], np.stack([reference_state[i] for i in order]))
    np.testing.assert_array_equal(batch["params"], np.stack([reference_params[i] for i in order]))


def test_window_count_and_position():
    data = np.zeros((3, 11, 4, 1), np.float32)
    source = TrajectoryWindows(data, 4)
    assert len(source) == 3 * (11 - 4 + 1)
    trajectory, start = source.window_position(np.array([0, 7, 8, 23]))
    np.testing.assert_array_equal(trajectory, [0, 0, 1, 2])
    np.testing.assert_array_equal(start, [0, 7, 0, 7])
    assert len(TrajectoryWindows(data, 4, do_sub_stacking=False)) == 3
    ic_only = TrajectoryWindows(data, 4, only_store_ic=True)
    assert len(ic_only) == len(source) and ic_only[5].shape == (1, 4, 1)


def test_items_are_copies_and_negative_indices_wrap():
    data = np.arange(2 * 4 * 3, dtype=np.float32).reshape(2, 4, 3, 1)
    source = TrajectoryWindows(data, 2)
    item = source[-1]
    np.testing.assert_array_equal(item, data[1, 2:4])
    item[:] = -1.0
    assert data.min() == 0.0
    with pytest.raises(IndexError, match="index"):
        source[len(source)]


def test_building_the_source_allocates_no_windows():
    data = np.zeros((20, 201, 64, 1), np.float32)
    tracemalloc.start()
    source = TrajectoryWindows(data, 21)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # Materialized windows would take 21 x the data (19.5 MB); the source keeps only a reference.
    assert len(source) == 20 * 181
    assert peak < 0.05 * data.nbytes


@pytest.mark.parametrize("window", [0, -1, 6])
def test_sub_trajectory_len_out_of_range_raises(window):
    with pytest.raises(ValueError, match="sub_trajectory_len"):
        TrajectoryWindows(np.zeros((2, 5, 3, 1)), window)


def test_leaves_must_share_leading_axes():
    with pytest.raises(ValueError, match="share"):
        TrajectoryWindows({"a": np.zeros((2, 5, 3)), "b": np.zeros((2, 4, 3))}, 2)
    with pytest.raises(ValueError, match="shape"):
        TrajectoryWindows(np.zeros((5,)), 1)


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.bool_, np.complex64])
def test_non_floating_trajectories_raise_naming_the_dtype(dtype):
    # int32 windows used to train with a zero gradient: the source now refuses them.
    with pytest.raises(TypeError, match=rf"trajectories must hold real floating-point.*{np.dtype(dtype)}"):
        TrajectoryWindows(np.zeros((2, 5, 3, 1), dtype), 2)


def test_non_floating_leaf_of_a_pytree_is_named():
    tree = {"state": np.zeros((2, 5, 3, 1), np.float32), "params": np.zeros((2, 5, 2), np.int32)}
    with pytest.raises(TypeError, match=r"trajectories\['params'\] must hold real floating-point.*int32"):
        TrajectoryWindows(tree, 2)
    assert TrajectoryWindows({**tree, "params": tree["params"].astype(np.float16)}, 2)[0]["params"].shape == (
        2,
        2,
    )


def test_leaf_without_dtype_raises():
    class Store:
        shape = (2, 5, 3, 1)

    with pytest.raises(TypeError, match="must have a dtype"):
        TrajectoryWindows(Store(), 2)
