"""Data parallelism: one mesh axis `data` over all devices of all processes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from emutrain.physics.distributed_fft import SPACE_AXIS

DATA_AXIS = "data"


def make_data_mesh(devices: Any = None) -> Mesh:
    """A 1D mesh with axis `data` over `devices` (default: every device of every process).

    The axis is `Auto`: the train step runs arbitrary user steppers (FFTs, reshapes of the batch axis),
    and Auto lets the compiler propagate the batch sharding through them where Explicit sharding-in-types
    would reject some of them. Inputs are still placed exactly as the jitted step expects.
    """
    devices = jax.devices() if devices is None else list(devices)
    return jax.make_mesh(
        (len(devices),), (DATA_AXIS,), axis_types=(jax.sharding.AxisType.Auto,), devices=devices
    )


def replicated(mesh: Mesh) -> NamedSharding:
    """Every device holds the whole array (parameters, optimizer state, step, key)."""
    return NamedSharding(mesh, PartitionSpec())


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Places a copy of every leaf of `tree` replicated on `mesh` (a copy: the train step donates its
    input buffers, which must not delete the caller's arrays).

    The leaves are copied first: placing a single-device array on several devices shares its buffer
    with the copy on that device even with `may_alias=False` (jax 0.10.2), and donating that copy
    would delete the caller's array.
    """
    return jax.device_put(jax.tree.map(jnp.copy, tree), replicated(mesh), may_alias=False)


def stacked_batch_sharding(mesh: Mesh) -> NamedSharding:
    """Sharding of a `(K, B, ...)` stack of batches: the batch axis is split over `data`; with a `space`
    axis (`emutrain.train.mesh.make_mesh`) the first spatial axis of `(K, B, W, X, ..., C)` over `space`."""
    if SPACE_AXIS in mesh.axis_names and mesh.shape[SPACE_AXIS] > 1:
        return NamedSharding(mesh, PartitionSpec(None, DATA_AXIS, None, SPACE_AXIS))
    return NamedSharding(mesh, PartitionSpec(None, DATA_AXIS))


@dataclass(frozen=True)
class ProcessShare:
    """The block of every batch ``(B, W, X, ..., C)`` one process's devices hold on a mesh.

    The global batch is split into ``data_count`` shards on ``B`` (this process holds shard
    ``data_index``) and into ``space_count`` slabs on ``X`` (this process holds slab ``space_index``).
    One process, or a data-only mesh with one process per data shard: ``space_count = 1``.
    """

    data_index: int
    data_count: int
    space_index: int
    space_count: int

    def x_slab(self, size: int) -> slice:
        """The indices of ``X`` (of ``size`` points) this process holds; ValueError unless ``size``
        splits over ``space_count`` processes."""
        if size % self.space_count:
            raise ValueError(
                f"the first spatial axis X={size} must split evenly over the {self.space_count} processes "
                f"along the mesh axis {SPACE_AXIS!r}"
            )
        width = size // self.space_count
        return slice(self.space_index * width, (self.space_index + 1) * width)


def _held(positions: np.ndarray, size: int, axis: str) -> tuple[int, int]:
    """``(index, count)`` of the contiguous run of ``positions`` along a mesh axis of ``size``, one of
    ``count`` equal runs; ValueError for a process whose devices are scattered along it."""
    held = np.unique(positions)
    width = len(held)
    if size % width or held[0] % width or held[-1] - held[0] + 1 != width:
        raise ValueError(
            f"this process's devices must hold one contiguous block of the mesh axis {axis!r} of size "
            f"{size}, got positions {held.tolist()}"
        )
    return int(held[0]) // width, size // width


def process_share(mesh: Mesh) -> ProcessShare:
    """Which data shard and slab of ``X`` this process's devices hold on ``mesh`` (a ``(data, space)`` mesh
    of :func:`make_mesh` or a data-only one).

    Raises:
      ValueError: the process holds no device of the mesh, or its devices do not form one rectangular
        block of it, one of equal blocks along each axis (``mesh.devices`` in another order than
        process order).
    """
    own = jax.process_index()
    mine = np.array(
        [
            [device.process_index == own for device in row]
            for row in mesh.devices.reshape(mesh.shape[DATA_AXIS], -1)
        ]
    )
    if not mine.any():
        raise ValueError(
            f"this process (index {own}) holds none of the devices of the mesh {dict(mesh.shape)}"
        )
    rows, columns = np.nonzero(mine)
    data_index, data_count = _held(rows, mine.shape[0], DATA_AXIS)
    space_index, space_count = _held(columns, mine.shape[1], SPACE_AXIS)
    if mine.sum() != mine.shape[0] // data_count * (mine.shape[1] // space_count):
        raise ValueError(
            f"this process's {int(mine.sum())} devices must form one block of the mesh {dict(mesh.shape)}"
        )
    return ProcessShare(data_index, data_count, space_index, space_count)


def global_batch_size(local_batch_size: int, mesh: Mesh | None = None) -> int:
    """The batch size over all processes (each process loads `local_batch_size` examples; on a mesh
    whose `space` axis spans processes, the processes of one data shard load the same examples)."""
    count = jax.process_count() if mesh is None else process_share(mesh).data_count
    return local_batch_size * count


def check_batch_divisible(global_batch: int, mesh: Mesh) -> None:
    """Raises ValueError unless the global batch splits evenly over the mesh's `data` axis (all devices
    of a data-only mesh)."""
    size = mesh.shape[DATA_AXIS]
    if global_batch % size:
        raise ValueError(
            f"global batch size must be divisible by the number of devices ({size})"
            + (f" on the mesh axis {DATA_AXIS!r}" if size != mesh.size else "")
            + ", "
            f"got {global_batch}"
        )


def shard_stacked_batches(local: np.ndarray, mesh: Mesh) -> jax.Array | np.ndarray:
    """The batch argument of a train step jitted with `in_shardings=stacked_batch_sharding(mesh)`.

    Several processes: each process's `(K, B_local, W, X_local, ..., C)` block (its data shard and, on a
    mesh whose `space` axis spans processes, its slab of `X`; see `process_share`) assembled into one
    global `(K, B_global, W, X, ..., C)` array sharded on `data` (and `space`). One process: `local`
    itself, which the jitted step places by its `in_shardings` (about 10x cheaper than an explicit
    `device_put`, which costs as much as a whole step of a small model on CPU).
    """
    space = mesh.shape[SPACE_AXIS] if SPACE_AXIS in mesh.axis_names else 1
    if jax.process_count() == 1:
        share = ProcessShare(0, 1, 0, 1)
    else:
        share = process_share(mesh)
    if space > 1 and (local.ndim < 5 or local.shape[3] * share.space_count % space):
        raise ValueError(
            f"the first spatial axis of the batches (K, B, W, X, ..., C) must divide by the mesh axis "
            f"space={space}, got batches of shape {local.shape}"
            + (f" (slabs of X, one of {share.space_count} processes)" if share.space_count > 1 else "")
        )
    if jax.process_count() == 1:
        return local
    global_shape = (local.shape[0], local.shape[1] * share.data_count, *local.shape[2:])
    if share.space_count > 1:
        global_shape = (*global_shape[:3], local.shape[3] * share.space_count, *local.shape[4:])
    return jax.make_array_from_process_local_data(stacked_batch_sharding(mesh), local, global_shape)
