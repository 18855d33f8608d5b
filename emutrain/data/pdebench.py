"""Grain random-access source of windows over one PDEBench HDF5 file, read lazily.

PDEBench stores its data sets in three layouts, recognised in this order:

* ``tensor``: one array ``(N, T, X[, Y, Z])`` of one channel (advection, Burgers, 1D diffusion-reaction,
  Darcy), with ``x-coordinate``, ``y-coordinate``, ``z-coordinate``, ``t-coordinate``;
* per-field arrays ``(N, T, X[, Y, Z])`` among ``density``, ``pressure``, ``Vx``, ``Vy``, ``Vz``
  (compressible Navier-Stokes), stacked as channels in that order, with the same coordinates;
* one group per sample (``0000``, ``0001``, ...) holding ``data`` ``(T, X[, Y], C)`` and ``grid/x``,
  ``grid/y``, ``grid/t`` (2D diffusion-reaction, shallow water).

Samples ``0 .. N-1`` split into ``"train"``, the first ``round((1 - test_fraction) * N)``, and
``"test"``, the rest. Item ``i`` runs over the split's samples, then the window start times.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import h5py
import numpy as np

from emutrain.data.hdf5 import (
    Hyperslab,
    LazyH5Files,
    check_finite_window,
    check_float_dataset,
    empty_batch,
    num_window_starts,
)
from emutrain.validation import check_choice, check_int, check_real

__all__ = ["PDEBenchWindows"]

FIELD_NAMES = ("density", "pressure", "Vx", "Vy", "Vz")
COORDINATES = {"x": "x-coordinate", "y": "y-coordinate", "z": "z-coordinate", "t": "t-coordinate"}
LAYOUTS = (
    "'tensor' (N, T, *spatial); per-field arrays among ('density', 'pressure', 'Vx', 'Vy', 'Vz'); "
    "or one group per sample holding 'data' (T, *spatial, C)"
)


@dataclasses.dataclass(frozen=True)
class PDEBenchLayout:
    """Which layout a file has: ``kind`` (``"tensor"``, ``"fields"``, ``"groups"``), the ``datasets``
    read (the tensor, the present fields, or the sample groups in order) and the trajectory shape."""

    kind: str
    datasets: tuple[str, ...]
    num_samples: int
    num_steps: int
    spatial_shape: tuple[int, ...]
    num_channels: int


def _array_layout(path: str, file: h5py.File, kind: str, names: tuple[str, ...]) -> PDEBenchLayout:
    shapes = {name: tuple(file[name].shape) for name in names}
    for name in names:
        check_float_dataset(path, name, file[name])
    if len(set(shapes.values())) > 1:
        raise ValueError(f"{path}: the fields' shapes disagree, {shapes}; they must share (N, T, *spatial)")
    shape = shapes[names[0]]
    if len(shape) < 3:
        raise ValueError(f"{path}: {names[0]!r} has shape {shape}, expected (N, T, *spatial)")
    return PDEBenchLayout(kind, names, shape[0], shape[1], shape[2:], len(names))


def _group_layout(path: str, file: h5py.File) -> PDEBenchLayout:
    keys = tuple(sorted(k for k, v in file.items() if isinstance(v, h5py.Group) and "data" in v))
    if not keys:
        raise ValueError(f"{path}: no PDEBench layout found; supported layouts are {LAYOUTS}")
    shape = tuple(file[keys[0]]["data"].shape)
    for key in keys:
        check_float_dataset(path, f"{key}/data", file[key]["data"])
        if tuple(file[key]["data"].shape) != shape:
            raise ValueError(
                f"{path}: sample {key!r} has data of shape {file[key]['data'].shape}, sample {keys[0]!r} "
                f"{shape}; every sample must share (T, *spatial, C)"
            )
    if len(shape) < 3:
        raise ValueError(f"{path}: sample data has shape {shape}, expected (T, *spatial, C)")
    return PDEBenchLayout("groups", keys, len(keys), shape[0], shape[1:-1], shape[-1])


def read_pdebench_layout(path: str) -> PDEBenchLayout:
    """The layout of the PDEBench file ``path``; ValueError if it has none of the three, TypeError for
    non-floating-point data (naming the file and dataset)."""
    with h5py.File(path, "r") as file:
        if "tensor" in file:
            return _array_layout(path, file, "tensor", ("tensor",))
        fields = tuple(name for name in FIELD_NAMES if name in file)
        if fields:
            return _array_layout(path, file, "fields", fields)
        return _group_layout(path, file)


class PDEBenchWindows:
    """Windows ``(window_length, *spatial, C)`` float32 of one PDEBench HDF5 file, streamed.

    Args:
      path: the ``.hdf5``/``.h5`` file.
      split: ``"train"`` (the first ``round((1 - test_fraction) * N)`` samples) or ``"test"`` (the rest).
      window_length: snapshots per window ``W >= 1``.
      dt_stride: time steps between the snapshots of a window.
      test_fraction: share of the samples held out for ``"test"``, in ``[0, 1)``.

    Raises:
      ValueError: a missing file, none of PDEBench's layouts, fields or samples of differing shapes, an
        empty split, a window longer than a trajectory; when reading, a window holding NaN or Inf
        (naming file, trajectory and time index).
      TypeError: non-floating-point data (naming the file and dataset).

    Only the path and layout are held; each process opens its own read-only handle on first read.
    """

    def __init__(
        self,
        path: str | Path,
        split: str = "train",
        *,
        window_length: int,
        dt_stride: int = 1,
        test_fraction: float = 0.1,
    ) -> None:
        path = str(path)
        self.split = check_choice("split", split, ("train", "test"))
        self.window_length = check_int("window_length", window_length, minimum=1)
        self.dt_stride = check_int("dt_stride", dt_stride, minimum=1)
        test_fraction = check_real("test_fraction", test_fraction, non_negative=True)
        if test_fraction >= 1:
            raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
        if not Path(path).is_file():
            raise ValueError(f"PDEBench file {path} does not exist")
        self.layout = read_pdebench_layout(path)
        num_train = round((1 - test_fraction) * self.layout.num_samples)
        self.samples = range(0, num_train) if split == "train" else range(num_train, self.layout.num_samples)
        if not len(self.samples):
            raise ValueError(
                f"{path}: split {split!r} with test_fraction={test_fraction} holds none of the "
                f"{self.layout.num_samples} samples"
            )
        self.windows_per_sample = num_window_starts(
            path, self.layout.num_steps, self.window_length, self.dt_stride
        )
        self._files = LazyH5Files([path])

    @property
    def path(self) -> str:
        return self._files.paths[0]

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        return self.layout.spatial_shape

    def __len__(self) -> int:
        return len(self.samples) * self.windows_per_sample

    def __repr__(self) -> str:
        return (
            f"PDEBenchWindows({self.path!r}, split={self.split!r}, layout={self.layout.kind!r}, "
            f"samples={len(self.samples)}, T={self.layout.num_steps}, spatial={self.spatial_shape}, "
            f"C={self.layout.num_channels}, window_length={self.window_length}, num_windows={len(self)})"
        )

    def locate(self, index: int) -> tuple[int, int]:
        """``(sample, start)`` of window ``index``: the sample in the file and the first time index."""
        index = check_int("index", index)
        if not 0 <= index < len(self):
            raise IndexError(f"window index must be in [0, {len(self)}), got {index}")
        position, start = divmod(index, self.windows_per_sample)
        return self.samples[position], start

    def coordinates(self) -> dict[str, np.ndarray]:
        """The grid's coordinate arrays stored in the file (``x``, ``y``, ``z``, ``t`` as present)."""
        file = self._files[0]
        if self.layout.kind == "groups":
            grid = file[self.layout.datasets[0]].get("grid", {})
            return {name: np.asarray(grid[name]) for name in ("x", "y", "z", "t") if name in grid}
        return {name: np.asarray(file[key]) for name, key in COORDINATES.items() if key in file}

    def _slab(self, x_slab: slice) -> tuple[Hyperslab, int]:
        """The hyperslab of one window's snapshots (of ``X`` only ``x_slab``) in one dataset of the
        file's layout, and the start of ``X``."""
        x = range(self.spatial_shape[0])[x_slab]
        spatial = (len(x), *self.spatial_shape[1:])
        stride = (self.dt_stride,) + (1,) * len(spatial)
        if self.layout.kind == "groups":  # (T, *spatial, C) per sample
            return Hyperslab((self.window_length, *spatial, self.layout.num_channels), (*stride, 1)), x.start
        # (N, T, *spatial), one array per channel
        shape = (self.window_length, *spatial)
        return Hyperslab((1, *shape), (1, *stride), shape), x.start

    def _read_into(
        self, out: np.ndarray, sample: int, start: int, slab: Hyperslab, x_start: int, buffer: np.ndarray
    ) -> None:
        """Writes the window of ``sample`` from time ``start`` into ``out`` ``(W, *spatial, C)``, each
        array of the file read into ``buffer`` ``(W, *spatial)`` and copied into its channel."""
        tail = (x_start,) + (0,) * (len(self.spatial_shape) - 1)
        if self.layout.kind == "groups":
            dataset = self._files.dataset(0, f"{self.layout.datasets[sample]}/data")
            slab.read(dataset, (start, *tail, 0), out)
            return
        for channel, name in enumerate(self.layout.datasets):
            slab.read(self._files.dataset(0, name), (sample, start, *tail), buffer)
            out[..., channel] = buffer

    def read_batch(
        self, indices: np.ndarray | list[int], *, x_slab: slice | None = None, shared_memory: bool = False
    ) -> np.ndarray:
        """The windows ``indices`` ``(B,)`` as one batch ``(B, W, *spatial, C)`` float32; with ``x_slab``
        only that slab of the first spatial axis is read, ``(B, W, len(x_slab), ...)``; with
        ``shared_memory`` the batch is a ``grain.multiprocessing.SharedMemoryArray``."""
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        x_slab = slice(None) if x_slab is None else x_slab
        slab, x_start = self._slab(x_slab)
        spatial = slab.shape[1 : 1 + len(self.spatial_shape)]
        shape = (len(indices), self.window_length, *spatial, self.layout.num_channels)
        out = empty_batch(shape, shared_memory)
        buffer = np.empty((self.window_length, *spatial), np.float32)
        for window, index in zip(out, indices):
            sample, start = self.locate(int(index))
            self._read_into(window, sample, start, slab, x_start, buffer)
        if not np.isfinite(out).all():
            for window, index in zip(out, indices):
                sample, start = self.locate(int(index))
                check_finite_window(window, f"{self.path}: trajectory {sample}", start, self.dt_stride)
        return out

    def __getitem__(self, index: int) -> np.ndarray:
        """Window ``index`` as ``(W, *spatial, C)`` float32."""
        index = check_int("index", index)
        return self.read_batch([index + len(self) if index < 0 else index])[0]
