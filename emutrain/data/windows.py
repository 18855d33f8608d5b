"""Random-access source of sub-trajectory windows over a trajectory set, without copying windows.

A trajectory set is ``(S, T+1, *spatial, C)``: ``S`` trajectories of ``T+1`` snapshots, index 0 the
initial condition. A window of length ``W`` (``sub_trajectory_len``) starting at snapshot ``t`` of
trajectory ``s`` is ``data[s, t:t+W]``, shape ``(W, *spatial, C)``. The source maps a flat window index to
``(s, t)`` arithmetically and slices on demand, so its memory is that of the trajectory set: the
overlapping windows are never stored (storing them costs ``W`` times the data).
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from emutrain.typing import PyTree
from emutrain.validation import check_floating, check_int

__all__ = ["TrajectoryWindows"]


def _leaf_shape(leaf: Any) -> tuple[int, ...]:
    shape = getattr(leaf, "shape", None)
    if shape is None:
        raise TypeError(
            "trajectories leaves must be arrays with a shape (numpy array, np.memmap, or a lazy store "
            f"with shape and __getitem__ over integer arrays of trajectories), got {type(leaf).__name__}"
        )
    return tuple(int(d) for d in shape)


def _leaf_name(path: tuple) -> str:
    return "trajectories" + jax.tree_util.keystr(path)


def _check_leaf_dtype(name: str, leaf: Any) -> None:
    if getattr(leaf, "dtype", None) is None:  # np.asarray would read a whole lazy store to find it
        raise TypeError(
            f"{name} must have a dtype (numpy array, np.memmap or lazy store), got {type(leaf).__name__}"
        )
    check_floating(name, leaf)


def _gather(leaf: Any, trajectory: np.ndarray, time: np.ndarray, x_slab: slice) -> np.ndarray:
    """Reads ``leaf[trajectory[b], time[b, w], x_slab]`` for all b, w into a new array ``(B, W, ...)``."""
    if isinstance(leaf, np.ndarray):
        # One vectorized fancy-index gather per batch (also for np.memmap: reads only the windows, and
        # of each state only the rows of the slab, which are contiguous on disk).
        return leaf[trajectory[:, None], time, x_slab]
    if callable(getattr(leaf, "read_windows", None)):  # e.g. ConcatenatedTrajectories: only the windows
        return leaf.read_windows(trajectory, time, x_slab)
    # Lazy trajectory stores (e.g. ArrayRecord shards) read whole trajectories: each one once.
    unique, inverse = np.unique(trajectory, return_inverse=True)
    block = np.asarray(leaf[unique])
    return block[inverse.reshape(-1, 1), time, x_slab]


class TrajectoryWindows:
    """Grain random-access source of the sub-trajectory windows of a trajectory set.

    Args:
      trajectories: ``(S, T+1, *spatial, C)`` real floating-point array (numpy, ``np.memmap``, or a lazy
        store such as :class:`~emutrain.data.ArrayRecordTrajectories`), or a pytree of such leaves that
        all share ``S`` and ``T+1`` (e.g. ``{"state": ..., "params": ...}``). Per-trajectory quantities
        without a time axis (physics parameters ``(S, P)``) enter as a time-broadcast view,
        ``np.broadcast_to(params[:, None], (S, T+1, P))``, which costs no memory; every window then
        carries them as ``(W, P)``.
      sub_trajectory_len: window length ``W``, ``1 <= W <= T+1``.
      do_sub_stacking: if True, every stride-1 window ``t = 0 .. T+1-W`` of every trajectory is an
        item (``S * (T+2-W)`` items); if False only the window at ``t = 0`` (``S`` items).
      only_store_ic: if True an item holds just the first snapshot of its window, ``(1, *spatial, C)``
        (the time axis is kept so configurations always read the initial condition as ``data[:, 0]``);
        the number of items is unchanged.

    Raises:
      TypeError: a leaf holds integer, bool or complex values (naming the leaf and its dtype), or has
        no ``shape``/``dtype``.

    Items are windows ``(W, *spatial, C)`` (pytrees like ``trajectories``), ``W = 1`` with
    ``only_store_ic``. :meth:`read_batch` gathers a whole batch ``(B, W, *spatial, C)`` with one
    vectorized read per leaf; loaders should use it (about 20x faster than stacking single windows).
    """

    def __init__(
        self,
        trajectories: PyTree,
        sub_trajectory_len: int,
        *,
        do_sub_stacking: bool = True,
        only_store_ic: bool = False,
    ) -> None:
        paths_leaves, self._treedef = jax.tree_util.tree_flatten_with_path(trajectories)
        names = [_leaf_name(path) for path, _ in paths_leaves]
        # Device arrays are read on the host: one transfer here instead of one per batch.
        leaves = [np.asarray(leaf) if isinstance(leaf, jax.Array) else leaf for _, leaf in paths_leaves]
        if not leaves:
            raise ValueError("trajectories must contain at least one array, got an empty pytree")
        shapes = [_leaf_shape(leaf) for leaf in leaves]
        if jax.tree_util.treedef_is_leaf(self._treedef) and len(shapes[0]) < 4:
            # one bare array is a state trajectory set: at least one spatial axis and a channel axis
            raise ValueError(
                f"trajectories must have shape (S, T+1, *spatial, C) (at least 4 axes), got shape {shapes[0]}"
            )
        for shape in shapes:
            if len(shape) < 2:
                raise ValueError(
                    f"trajectories leaves must have shape (S, T+1, ...), got a leaf of shape {shape}"
                )
        for name, leaf in zip(names, leaves):
            # Integer windows would train with a zero gradient, complex ones give complex losses.
            _check_leaf_dtype(name, leaf)
        num_trajectories, num_snapshots = shapes[0][:2]
        for shape in shapes[1:]:
            if shape[:2] != (num_trajectories, num_snapshots):
                raise ValueError(
                    f"trajectories leaves must share (S, T+1), got leading shapes {[s[:2] for s in shapes]}"
                )
        if num_trajectories < 1:
            raise ValueError(f"trajectories must hold at least one trajectory, got S={num_trajectories}")
        sub_trajectory_len = check_int("sub_trajectory_len", sub_trajectory_len)
        if not 1 <= sub_trajectory_len <= num_snapshots:
            raise ValueError(
                f"sub_trajectory_len must be in [1, T+1] = [1, {num_snapshots}], got {sub_trajectory_len}"
            )
        self._leaves = leaves
        self.num_trajectories = num_trajectories
        self.num_snapshots = num_snapshots
        self.sub_trajectory_len = sub_trajectory_len
        self.do_sub_stacking = bool(do_sub_stacking)
        self.only_store_ic = bool(only_store_ic)
        self.windows_per_trajectory = num_snapshots - self.sub_trajectory_len + 1 if do_sub_stacking else 1
        self.window_len = 1 if only_store_ic else self.sub_trajectory_len

    def __len__(self) -> int:
        return self.num_trajectories * self.windows_per_trajectory

    def __repr__(self) -> str:
        return (
            f"TrajectoryWindows(S={self.num_trajectories}, T+1={self.num_snapshots}, "
            f"sub_trajectory_len={self.sub_trajectory_len}, do_sub_stacking={self.do_sub_stacking}, "
            f"only_store_ic={self.only_store_ic}, num_windows={len(self)})"
        )

    def window_position(self, indices: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
        """Maps window indices ``(B,)`` in ``[0, len)`` to ``(trajectory, start)`` arrays ``(B,)``."""
        indices = np.asarray(indices, dtype=np.int64)
        n = len(self)
        if indices.size and (indices.min() < 0 or indices.max() >= n):
            raise IndexError(
                f"window indices must be in [0, {n}), got range [{indices.min()}, {indices.max()}]"
            )
        return np.divmod(indices, self.windows_per_trajectory)

    def read_batch(self, indices: np.ndarray | list[int], *, x_slab: slice | None = None) -> PyTree:
        """Reads the windows ``indices`` ``(B,)`` as one batch ``(B, W, *spatial, C)`` per leaf; with
        ``x_slab`` only those indices of the first spatial axis, ``(B, W, len(x_slab), ...)``, of every
        leaf that has one (a memory-mapped ``.npy`` reads only the slab; an ArrayRecord store reads whole
        trajectories, one record each, and slices them)."""
        trajectory, start = self.window_position(np.asarray(indices).reshape(-1))
        time = start[:, None] + np.arange(self.window_len)
        slab = slice(None) if x_slab is None else x_slab
        leaves = [
            _gather(leaf, trajectory, time, slab if len(_leaf_shape(leaf)) > 3 else slice(None))
            for leaf in self._leaves
        ]
        return jax.tree.unflatten(self._treedef, leaves)

    def __getitem__(self, index: int) -> PyTree:
        """Window ``index`` as ``(W, *spatial, C)`` per leaf (a copy, never a view of the data)."""
        index = check_int("index", index)
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"index must be in [{-n}, {n}), got {index}")
        batch = self.read_batch(np.array([index % n]))
        return jax.tree.map(lambda x: x[0], batch)
