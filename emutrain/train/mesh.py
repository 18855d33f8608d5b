"""The 2D device mesh ``(data, space)``: batches split over ``data``, every sample split over ``space``.

A batch of windows ``(B, W, X, Y[, Z], C)`` is split on ``B`` over ``data`` and on ``X`` (the first spatial
axis) over ``space``; parameters and optimizer state are replicated. Inside a step the Trainer enters the
mesh as JAX's context mesh (``jax.set_mesh``), which is the only hint the layers and physics read:
convolutions then exchange halos between neighbouring slabs (``emutrain.nn.spatial``) and spectral
transforms run as slab-decomposed FFTs (``emutrain.physics.distributed_fft``). With ``space=1`` everything
is exactly the data-parallel behaviour of :func:`emutrain.train.sharding.make_data_mesh`.

With several processes the ``space`` axis may span processes (2 processes x 4 devices: mesh (1, 8) splits
every sample over both): :func:`process_share` says which data shard and which slab of ``X`` this
process's devices hold, and the loader reads exactly that block of every batch (``make_loader``'s
``shard_index``/``shard_count`` and ``x_slab``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import jax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from emutrain.physics.distributed_fft import SPACE_AXIS
from emutrain.train.sharding import DATA_AXIS, ProcessShare, make_data_mesh, process_share
from emutrain.validation import check_int

__all__ = [
    "SPACE_AXIS",
    "ProcessShare",
    "make_mesh",
    "process_share",
    "mesh_context",
    "space_size",
    "spatial_batch_sharding",
    "spatially_sharded",
    "traced_in",
]


def make_mesh(data: int | None = None, space: int = 1, *, devices: Any = None) -> Mesh:
    """A mesh with axes ``(data, space)`` over ``devices`` (default: every device of every process).

    ``data`` defaults to ``len(devices) // space``; ``data * space`` must equal the device count. With
    ``space=1`` this is :func:`make_data_mesh` (a 1D ``data`` mesh). Both axes are ``Auto`` (see
    ``make_data_mesh``). Neighbouring ``space`` indices are adjacent devices, so halo exchanges stay between
    neighbours. With several processes, devices are taken in process order, so a process's devices are
    neighbours on the mesh: ``space`` spans processes when it is larger than the local device count (each
    process then holds one slab of ``X`` of the samples of its data row, see :func:`process_share`).
    """
    devices = jax.devices() if devices is None else list(devices)
    check_int("space", space, minimum=1)
    if data is None:
        if len(devices) % space:
            raise ValueError(f"space must divide the number of devices ({len(devices)}), got space={space}")
        data = len(devices) // space
    check_int("data", data, minimum=1)
    if data * space != len(devices):
        raise ValueError(
            f"data * space must equal the number of devices ({len(devices)}), got data={data}, space={space}"
        )
    if space == 1:
        return make_data_mesh(devices)
    auto = jax.sharding.AxisType.Auto
    return jax.make_mesh((data, space), (DATA_AXIS, SPACE_AXIS), axis_types=(auto, auto), devices=devices)


def space_size(mesh: Mesh | None) -> int:
    """The size of ``mesh``'s ``space`` axis (1 for a data-only mesh or None)."""
    if mesh is None or SPACE_AXIS not in mesh.axis_names:
        return 1
    return int(mesh.shape[SPACE_AXIS])


def spatial_batch_sharding(
    mesh: Mesh, ndim: int, *, batch_axis: int = 0, spatial_axis: int = 1
) -> NamedSharding:
    """Sharding of an ``ndim`` array with its batch axis on ``data`` and ``spatial_axis`` on ``space``
    (a state batch ``(B, X, ..., C)``: the defaults; a window batch ``(B, W, X, ..., C)``:
    ``spatial_axis=2``)."""
    spec = [None] * ndim
    spec[batch_axis] = DATA_AXIS
    if space_size(mesh) > 1:
        spec[spatial_axis] = SPACE_AXIS
    return NamedSharding(mesh, PartitionSpec(*spec))


@contextlib.contextmanager
def mesh_context(mesh: Mesh | None) -> Iterator[None]:
    """``jax.set_mesh(mesh)`` when ``mesh`` has ``space > 1`` (the layers and physics then run on slabs);
    otherwise nothing, so data-only runs trace exactly as before."""
    if space_size(mesh) > 1:
        with jax.set_mesh(mesh):
            yield
    else:
        yield


@contextlib.contextmanager
def traced_in(mesh: Mesh | None) -> Iterator[None]:
    """:func:`mesh_context` for use inside a function being traced by ``jax.jit`` (where ``jax.set_mesh`` is
    refused): the abstract mesh, which is all the layers read. Use it around the body of a jitted function
    whose mesh is fixed (the train step), since the compile cache does not see it."""
    if space_size(mesh) > 1:
        with jax.sharding.use_abstract_mesh(mesh.abstract_mesh):
            yield
    else:
        yield


def spatially_sharded(fn: Callable, mesh: Mesh | None) -> Callable:
    """``fn`` called inside :func:`mesh_context` (for evaluation rollouts and other jitted user functions:
    trace and call them through the wrapper). JAX keys its compile cache on the context mesh."""

    def wrapped(*args, **kwargs):
        with mesh_context(mesh):
            return fn(*args, **kwargs)

    return wrapped
