"""Grain loader of shuffled, fixed-shape window batches: per-epoch reshuffle, repeat, sharding, prefetch.

The stream is a ``grain.MapDataset`` whose item ``i`` is batch ``i`` of the whole run, converted to an
``IterDataset`` with threaded prefetch, or read by Grain worker processes. Batch ``i`` is computed from
``i`` alone (epoch, position in the epoch, a per-epoch permutation seeded by ``(seed, epoch)``), so the
iterator state is one integer and a restored iterator yields exactly the batches the interrupted one
would have, whoever reads them.
"""

from __future__ import annotations

import functools
import inspect
import math
import os
import sys
from dataclasses import dataclass
from typing import Protocol

import grain
import jax
import numpy as np
from absl import logging

from emutrain.data.windows import TrajectoryWindows
from emutrain.typing import PyTree
from emutrain.validation import check_floating, check_int

__all__ = ["make_loader", "WindowSource"]


class WindowSource(Protocol):
    """A Grain random-access source; :class:`TrajectoryWindows` also offers a vectorized ``read_batch``
    (and the HDF5 sources and :class:`TrajectoryWindows` its ``x_slab`` argument, which reads only a slab
    of the first spatial axis; the HDF5 sources its ``shared_memory`` argument, used by Grain worker
    processes)."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> PyTree: ...


def _check_source_dtype(source: WindowSource) -> None:
    """TypeError unless the windows hold real floating-point values; `TrajectoryWindows` checked its
    leaves on construction, any other source is checked on its first window."""
    if isinstance(source, TrajectoryWindows):
        return
    for path, leaf in jax.tree_util.tree_flatten_with_path(source[0])[0]:
        check_floating("source windows" + jax.tree_util.keystr(path), leaf)


@dataclass(frozen=True)
class _BatchIndices:
    """Maps a global batch number to the window indices ``(B,)`` this process reads for it.

    Epoch ``e`` visits the windows in the order ``perm_e`` (a permutation seeded by ``(seed, e)``,
    or the identity without shuffling). Global batch ``j`` of epoch ``e`` is
    ``perm_e[j*G:(j+1)*G]`` with ``G = batch_size * shard_count``; process ``p`` reads its ``p``-th
    slice of ``batch_size``. The processes' batches thus concatenate to the batch a single process
    with ``G`` would read, and the shards of an epoch are disjoint.
    """

    num_windows: int
    batch_size: int
    batches_per_epoch: int
    shard_index: int
    shard_count: int
    seed: int
    shuffle: bool

    @functools.lru_cache(maxsize=2)
    def permutation(self, epoch: int) -> np.ndarray:
        # A vectorized numpy permutation per epoch: Grain's element-wise index_shuffle costs ~60 us per
        # window here, which would cap the loader far below the speed of the batch gather.
        return np.random.default_rng([self.seed, epoch]).permutation(self.num_windows)

    def __call__(self, batch_number: int) -> np.ndarray:
        epoch, j = divmod(int(batch_number), self.batches_per_epoch)
        global_batch = self.batch_size * self.shard_count
        start = j * global_batch + self.shard_index * self.batch_size
        stop = min(start + self.batch_size, self.num_windows)
        if self.shuffle:
            return self.permutation(epoch)[start:stop]
        return np.arange(start, stop)


class _ReadBatch:
    """Reads batch number ``i`` from ``source``: vectorized with ``read_batch`` if it has one, else window
    by window; with ``x_slab`` only that slab of the first spatial axis (``read_batch(indices, x_slab=)``).

    With :attr:`shared_memory` set (by Grain's ``mp_prefetch``), a Grain worker process reads each batch
    straight into shared memory where the source can (``read_batch(..., shared_memory=True)``): Grain
    then passes it to the main process without copying it. The process that built the loader never
    does, so nothing it reads itself is left in shared memory.
    """

    def __init__(self, source: WindowSource, batch_indices: _BatchIndices, x_slab: slice | None = None):
        self.source = source
        self.batch_indices = batch_indices
        read_batch = getattr(source, "read_batch", None)
        self.vectorized = callable(read_batch)
        self.reads_to_shared_memory = (
            self.vectorized and "shared_memory" in inspect.signature(read_batch).parameters
        )
        self.x_slab = x_slab
        self.shared_memory = False
        self.builder_pid = os.getpid()

    def __call__(self, batch_number: int) -> PyTree:
        # One map stage for index computation and read: each Grain stage costs tens of microseconds.
        indices = self.batch_indices(batch_number)
        if not self.vectorized:
            windows = [self.source[int(i)] for i in indices]
            return jax.tree.map(lambda *xs: np.stack(xs), *windows)
        options = {} if self.x_slab is None else {"x_slab": self.x_slab}
        if self.to_shared_memory:
            options["shared_memory"] = True
        return self.source.read_batch(indices, **options)

    @property
    def to_shared_memory(self) -> bool:
        """Whether batches are read into shared memory (in a worker process, where Grain asked for it)."""
        return self.shared_memory and self.reads_to_shared_memory and os.getpid() != self.builder_pid


class _WindowBatches(grain.IterDataset):
    """The loader's stream: its parent's, plus Grain's shared-memory output protocol, which
    ``mp_prefetch`` calls (``enable_shared_memory_output``) to have worker processes read batches into
    shared memory."""

    def __init__(self, parent: grain.IterDataset, read: _ReadBatch) -> None:
        super().__init__(parent)
        self._read = read

    def __iter__(self) -> grain.DatasetIterator:
        if self._read.to_shared_memory:
            # A worker reads one batch at a time: its batches wait for the main process in Grain's queue,
            # which frees their shared memory when the workers stop, not in a thread read-ahead of its
            # own, which would leave them in shared memory.
            batches = self._parent.parents[0].to_iter_dataset(grain.ReadOptions(num_threads=0))
            return batches.__iter__()
        return self._parent.__iter__()

    def enable_shared_memory_output(self) -> None:
        self._read.shared_memory = True

    def __str__(self) -> str:
        return "WindowBatches"


class _WorkerBatches(grain.IterDataset):
    """The loader's stream read by ``num_workers`` Grain worker processes (:class:`_WorkerIterator`)."""

    def __init__(self, batches: grain.MapDataset, read: _ReadBatch, num_workers: int) -> None:
        super().__init__()
        self._batches, self._read, self._num_workers = batches, read, num_workers

    def __iter__(self) -> grain.DatasetIterator:
        return _WorkerIterator(self._batches, self._read, self._num_workers)

    def __str__(self) -> str:
        return f"WorkerBatches(num_workers={self._num_workers})"


class _WorkerIterator(grain.DatasetIterator):
    """Batches read by Grain worker processes (``mp_prefetch``), positioned like the threaded loader: the
    state is ``{"next_index": n}``, the number of the next batch, and ``set_state`` starts the workers
    again at that batch. A checkpoint thus resumes with any number of workers, or none."""

    def __init__(self, batches: grain.MapDataset, read: _ReadBatch, num_workers: int) -> None:
        super().__init__()
        self._batches, self._read, self._num_workers = batches, read, num_workers
        self._next_index = 0
        self._workers: grain.DatasetIterator | None = None

    def __next__(self) -> PyTree:
        if self._workers is None:
            batches = self._batches[self._next_index :].to_iter_dataset(grain.ReadOptions(num_threads=0))
            options = grain.MultiprocessingOptions(num_workers=self._num_workers)
            self._workers = iter(_WindowBatches(batches, self._read).mp_prefetch(options))
        batch = next(self._workers)
        self._next_index += 1
        return batch

    def get_state(self) -> dict[str, int]:
        return {"next_index": self._next_index}

    def set_state(self, state: dict[str, int]) -> None:
        self.close()
        self._next_index = check_int("next_index", state["next_index"], minimum=0)

    def close(self) -> None:
        """Stops the workers (and frees the batches they read ahead); the next batch starts them again."""
        if self._workers is not None:
            self._workers.close()
            self._workers = None


def _check_length(num_steps: int | None, num_epochs: int | None) -> tuple[int | None, int | None]:
    """``num_steps`` and ``num_epochs`` checked: at most one given, each an int >= 1."""
    if num_steps is not None and num_epochs is not None:
        raise ValueError(f"give at most one of num_steps and num_epochs, got {num_steps=} and {num_epochs=}")
    if num_steps is not None:
        num_steps = check_int("num_steps", num_steps, minimum=1)
    if num_epochs is not None:
        num_epochs = check_int("num_epochs", num_epochs, minimum=1)
    return num_steps, num_epochs


def _check_shard(
    shard_index: int | None, shard_count: int | None, drop_remainder: bool, num_windows: int
) -> tuple[int, int]:
    """This process's ``(shard_index, shard_count)``, defaulting to JAX's process index and count."""
    shard_count = (
        jax.process_count() if shard_count is None else check_int("shard_count", shard_count, minimum=1)
    )
    shard_index = (
        jax.process_index() if shard_index is None else check_int("shard_index", shard_index, minimum=0)
    )
    if shard_index >= shard_count:
        raise ValueError(f"shard_index must be in [0, shard_count={shard_count}), got {shard_index}")
    if not drop_remainder and shard_count > 1:
        raise ValueError(
            f"drop_remainder=False needs shard_count == 1 (equal batch counts on every process), "
            f"got shard_count={shard_count}"
        )
    if num_windows < shard_count:
        raise ValueError(f"the source has {num_windows} windows, fewer than shard_count={shard_count}")
    return shard_index, shard_count


def _check_x_slab(x_slab: slice | None, source: WindowSource) -> slice | None:
    """``x_slab`` checked: None, or a ``slice(start, stop)`` of the first spatial axis with
    ``0 <= start < stop``, on a source whose ``read_batch`` takes it."""
    if x_slab is None:
        return None
    if not isinstance(x_slab, slice):
        raise TypeError(f"x_slab must be a slice or None, got {x_slab!r} of type {type(x_slab).__name__}")
    start, stop, step = x_slab.start, x_slab.stop, x_slab.step
    if not (isinstance(start, int) and isinstance(stop, int) and step in (None, 1) and 0 <= start < stop):
        raise ValueError(f"x_slab must be slice(start, stop) with 0 <= start < stop, got {x_slab}")
    if not callable(getattr(source, "read_batch", None)):
        raise TypeError(
            f"x_slab={x_slab} needs a source with read_batch(indices, x_slab=...) (TrajectoryWindows, "
            f"WellWindows, PDEBenchWindows), got {type(source).__name__}"
        )
    return x_slab


def _fit_batch_size(batch_size: int, shard_count: int, num_windows: int) -> int:
    """``batch_size``, or the full set split over the shards when the global batch exceeds it (logged)."""
    if batch_size * shard_count <= num_windows:
        return batch_size
    full = num_windows // shard_count
    logging.warning(
        "batch_size=%d x shard_count=%d exceeds the %d windows of the source; using the full set, "
        "batch_size=%d per process",
        batch_size,
        shard_count,
        num_windows,
        full,
    )
    return full


def make_loader(
    source: WindowSource,
    *,
    batch_size: int,
    seed: int = 0,
    num_steps: int | None = None,
    num_epochs: int | None = None,
    shuffle: bool = True,
    drop_remainder: bool = True,
    shard_index: int | None = None,
    shard_count: int | None = None,
    x_slab: slice | None = None,
    prefetch_threads: int = 2,
    prefetch_buffer_size: int = 4,
    worker_processes: int = 0,
) -> grain.IterDataset:
    """A Grain ``IterDataset`` of window batches ``(B, W, *spatial, C)`` (pytrees like the source's items).

    Every epoch visits the source's windows in a new seeded order (``shuffle=True``; epoch ``e`` is
    seeded by ``(seed, e)``) and cuts it into batches of ``batch_size``. ``iter(loader)`` gives a
    ``grain.DatasetIterator`` whose ``get_state()``/``set_state()`` restore the exact next batch; save
    it with Orbax through ``grain.checkpoint.CheckpointSave`` / ``CheckpointRestore``.

    Args:
      source: random-access source of windows holding real floating-point values (integer, bool and
        complex windows raise TypeError); a ``read_batch(indices)`` method (as on
        :class:`TrajectoryWindows`) is used for one vectorized gather per batch.
      batch_size: windows per batch *per process*; the global batch is ``batch_size * shard_count``.
        If the global batch exceeds the number of windows it falls back to the full set
        (``batch_size = len(source) // shard_count``) with a logged warning.
      seed: shuffle seed in ``[0, 2**32)``; the same seed gives the identical stream.
      num_steps: exactly this many batches (as many epochs as needed, the last one cut short).
      num_epochs: this many full epochs. With neither, the stream is endless; both is an error.
      shuffle: if False every epoch reads the windows in index order.
      drop_remainder: if True (default) the last incomplete batch of each epoch is dropped, so every
        batch has the same shape (no recompiles). If False it is yielded with fewer windows (for
        evaluation passes over every window); only with a single shard.
      shard_index, shard_count: this process's share of every epoch (defaults
        ``jax.process_index()`` / ``jax.process_count()``). All processes must use the same seed.
        Processes that split every sample between them (a mesh whose ``space`` axis spans processes)
        share a data shard: ``emutrain.train.process_share`` gives both numbers and the slab.
      x_slab: ``slice(start, stop)`` of the first spatial axis ``X``: batches are
        ``(B, W, stop - start, ...)`` and only that slab of every window is read from the source
        (``read_batch(indices, x_slab=...)``); None reads whole windows.
      prefetch_threads, prefetch_buffer_size: Grain ``ReadOptions`` of the threaded prefetch.
      worker_processes: if > 0, this many Grain worker processes read the batches instead of prefetch
        threads (Grain's ``mp_prefetch``), the same batches in the same order; the iterator state is
        still the batch number, so a checkpoint resumes with any number of workers. With 2 or more, a
        source whose ``read_batch`` takes ``shared_memory`` (:class:`WellWindows`,
        :class:`PDEBenchWindows`) reads each batch straight into shared memory, which Grain hands to
        the main process without copying it (also when ``mp_prefetch`` is called on the loader).
    """
    num_windows = len(source)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    seed = check_int("seed", seed, minimum=0, maximum=2**32 - 1)
    num_steps, num_epochs = _check_length(num_steps, num_epochs)
    shard_index, shard_count = _check_shard(shard_index, shard_count, drop_remainder, num_windows)
    check_int("prefetch_threads", prefetch_threads, minimum=0)
    check_int("prefetch_buffer_size", prefetch_buffer_size, minimum=1)
    check_int("worker_processes", worker_processes, minimum=0)
    x_slab = _check_x_slab(x_slab, source)
    _check_source_dtype(source)
    batch_size = _fit_batch_size(batch_size, shard_count, num_windows)
    if drop_remainder:
        batches_per_epoch = num_windows // (batch_size * shard_count)
    else:
        batches_per_epoch = math.ceil(num_windows / batch_size)
    if num_steps is not None:
        total_batches = num_steps
    elif num_epochs is not None:
        total_batches = num_epochs * batches_per_epoch
    else:
        total_batches = sys.maxsize
    batch_indices = _BatchIndices(
        num_windows, batch_size, batches_per_epoch, shard_index, shard_count, seed, bool(shuffle)
    )
    read = _ReadBatch(source, batch_indices, x_slab)
    batches = grain.MapDataset.range(total_batches).map(read)
    if worker_processes:
        return _WorkerBatches(batches, read, worker_processes)
    options = grain.ReadOptions(num_threads=prefetch_threads, prefetch_buffer_size=prefetch_buffer_size)
    return _WindowBatches(batches.to_iter_dataset(options), read)
