"""Shared pieces of the HDF5 window sources: lazily opened files, window counts, read-time checks.

The sources over public datasets (:class:`~emutrain.data.WellWindows`,
:class:`~emutrain.data.PDEBenchWindows`) keep only file paths and small metadata; each process opens
its own read-only ``h5py.File`` handles on first use, so the sources pickle (Grain worker processes) and
their host memory does not grow with the dataset.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

import h5py
import numpy as np
from grain.multiprocessing import SharedMemoryArray

__all__ = [
    "Hyperslab",
    "LazyH5Files",
    "attr_names",
    "check_finite",
    "check_finite_window",
    "check_float_dataset",
    "empty_batch",
    "num_window_starts",
    "read_slab",
    "time_slice",
]


class LazyH5Files:
    """Read-only ``h5py.File`` handles opened on first use, per process; pickles as its paths only.

    A handle inherited through ``fork`` is never reused (HDF5 handles are not fork-safe): a process
    whose id differs from the opener's opens its own.
    """

    def __init__(self, paths: Sequence[str | os.PathLike]) -> None:
        self.paths = tuple(str(path) for path in paths)
        self._files: dict[int, h5py.File] = {}
        self._datasets: dict[tuple[int, str], h5py.Dataset] = {}
        self._pid = os.getpid()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> h5py.File:
        # Loader prefetch threads share the handles: the lock keeps one handle per file and process.
        with self._lock:
            if self._pid != os.getpid():
                self._files, self._datasets, self._pid = {}, {}, os.getpid()
            handle = self._files.get(index)
            if handle is None:
                handle = self._files[index] = h5py.File(self.paths[index], "r")
            return handle

    def dataset(self, index: int, name: str) -> h5py.Dataset:
        """The dataset ``name`` of file ``index``, looked up once per process (a lookup costs more
        than reading a small slice)."""
        dataset = self._datasets.get((index, name)) if self._pid == os.getpid() else None
        if dataset is None:
            dataset = self._datasets[(index, name)] = self[index][name]
        return dataset

    def num_open(self) -> int:
        """How many files this process holds open."""
        return len(self._files) if self._pid == os.getpid() else 0

    def close(self) -> None:
        """Closes this process's handles; later reads reopen them."""
        with self._lock:
            if self._pid == os.getpid():
                for handle in self._files.values():
                    handle.close()
            self._files, self._datasets, self._pid = {}, {}, os.getpid()

    def __getstate__(self) -> dict[str, Any]:
        return {"paths": self.paths}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["paths"])


def attr_names(value: Any) -> list[str]:
    """An HDF5 attribute holding one name or a list of names (str or bytes) as a list of str."""
    if isinstance(value, (str, bytes)):
        value = [value]
    return [item.decode() if isinstance(item, bytes) else str(item) for item in np.ravel(value)]


def check_float_dataset(path: str, name: str, dataset: h5py.Dataset) -> None:
    """TypeError unless ``dataset`` holds real floating-point values, naming the file and dataset."""
    if not np.issubdtype(dataset.dtype, np.floating):
        raise TypeError(
            f"{path}: dataset {name!r} must hold real floating-point values (float16/32/64), "
            f"got dtype {dataset.dtype}"
        )


def num_window_starts(path: str, num_steps: int, window_length: int, dt_stride: int) -> int:
    """Start times of windows of ``window_length`` snapshots ``dt_stride`` apart in ``num_steps``
    snapshots; ValueError naming ``path`` if there is none."""
    count = num_steps - dt_stride * (window_length - 1)
    if count < 1:
        raise ValueError(
            f"{path}: trajectories of {num_steps} snapshots are too short for window_length={window_length} "
            f"with dt_stride={dt_stride} (needs (window_length - 1) * dt_stride + 1 <= {num_steps})"
        )
    return count


def time_slice(start: int, window_length: int, dt_stride: int) -> slice:
    """The snapshots ``start, start + dt_stride, ...`` of one window."""
    return slice(start, start + (window_length - 1) * dt_stride + 1, dt_stride)


def check_finite_window(window: np.ndarray, where: str, start: int, dt_stride: int) -> None:
    """ValueError naming ``where`` (file, field, trajectory) and the time index of the first snapshot of a
    window ``(W, ...)``, read from time ``start`` every ``dt_stride``, that holds NaN or Inf."""
    finite = np.isfinite(window).reshape(window.shape[0], -1).all(axis=1)
    if not finite.all():
        step = int(np.argmin(finite))
        raise ValueError(f"{where} holds NaN or Inf at time index {start + step * dt_stride}")


def check_finite(array: np.ndarray, where: str) -> None:
    """ValueError naming ``where`` unless ``array`` (data without a time axis) is finite."""
    if not np.isfinite(array).all():
        raise ValueError(f"{where} holds NaN or Inf")


def empty_batch(shape: tuple[int, ...], shared_memory: bool = False) -> np.ndarray:
    """An uninitialized float32 batch ``shape``; with ``shared_memory`` a
    ``grain.multiprocessing.SharedMemoryArray``, which a Grain worker process hands to the main process
    without copying it."""
    return SharedMemoryArray(shape, np.float32) if shared_memory else np.empty(shape, np.float32)


class Hyperslab:
    """Blocks of one shape read from HDF5 datasets at any start: ``count[i]`` elements ``stride[i]``
    apart along each axis, straight into a C-contiguous array (converted to its dtype by HDF5).

    One selection and one low-level read per block, reusing the memory dataspace: h5py's own indexing
    and ``read_direct`` spend more time building selections than HDF5 spends copying a window of a few
    hundred KB from the page cache.

    Args:
      count: elements read along every axis of the dataset (1 for an axis indexed with an int).
      stride: steps between them (>= 1).
      shape: the shape of the arrays read into (same number of elements as ``count``; e.g. without the
        axes of ``count`` 1); ``count`` if None.
    """

    def __init__(
        self, count: Sequence[int], stride: Sequence[int], shape: Sequence[int] | None = None
    ) -> None:
        self.count = tuple(int(c) for c in count)
        self.stride = tuple(int(s) for s in stride)
        self.shape = self.count if shape is None else tuple(shape)
        self._memory = h5py.h5s.create_simple(self.shape)

    def read(self, dataset: h5py.Dataset, start: Sequence[int], out: np.ndarray) -> np.ndarray:
        """Reads the block of ``dataset`` whose first element is at ``start`` (one index per axis) into
        ``out`` (C-contiguous, of :attr:`shape`) and returns it."""
        space = dataset.id.get_space()
        space.select_hyperslab(tuple(start), self.count, self.stride)
        dataset.id.read(self._memory, space, out)
        return out


def read_slab(dataset: h5py.Dataset, key: tuple[int | slice, ...], out: np.ndarray) -> np.ndarray:
    """Reads ``dataset[key]`` straight into ``out`` and returns it (one :class:`Hyperslab` read).

    Args:
      dataset: an HDF5 dataset ``(*lead, *rest)``.
      key: one int or ``slice(start, stop, step)`` (step >= 1, bounds in range) per leading axis;
        every later axis is read whole.
      out: a C-contiguous array of ``dataset[key]``'s number of elements (its shape may differ, e.g.
        keep the axes that ``key`` indexes with an int).
    """
    starts, counts, strides = [], [], []
    for size, item in zip(dataset.shape, key):
        if isinstance(item, slice):
            start, stop, step = item.indices(size)
            starts.append(start)
            counts.append(len(range(start, stop, step)))
            strides.append(step)
        else:
            starts.append(int(item))
            counts.append(1)
            strides.append(1)
    rest = dataset.shape[len(key) :]
    slab = Hyperslab((*counts, *rest), (*strides, *(1,) * len(rest)), out.shape)
    return slab.read(dataset, (*starts, *(0,) * len(rest)), out)
