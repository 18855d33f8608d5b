"""FFTs of channels-last states whose first spatial axis is split over the mesh axis ``space``.

The only sharding hint is JAX's own context mesh (``jax.set_mesh``): when it has an axis named ``space``
of size ``S > 1`` and the first spatial axis of the input divides by ``S``, the transforms below run as a
slab decomposition inside ``jax.shard_map`` (the leading batch axis split over the other mesh axes, e.g.
``data``):

1. transform the unsplit spatial axes locally (``rfft`` on the last, ``fft`` on the others);
2. ``all_to_all``: gather the first spatial axis, split the second one (zero-padded to a multiple of ``S``
   when it is the ``N // 2 + 1`` axis of a 2D ``rfft``);
3. ``fft`` along the now local first axis;
4. ``all_to_all`` back, crop the padding: the spectrum comes out in the natural layout ``(..., *spatial_rfft,
   C)``, split over ``space`` on its first wavenumber axis, so spectral operators (NumPy constants) apply
   elementwise without communication.

Each device holds ``1/S`` of the state and of its spectrum throughout; XLA's own partitioning of
``jnp.fft`` on a split axis all-gathers the whole array instead (measured with jax 0.10.2, see
``tests/train/test_spatial_sharding.py``). Without such a mesh, with one spatial axis, or with a size that
does not divide, the functions are ``jnp.fft.rfftn`` / ``irfftn`` over the spatial axes: results agree with
them to float rounding.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from jax.sharding import PartitionSpec

SPACE_AXIS = "space"

__all__ = ["SPACE_AXIS", "block_spec", "irfftn", "rfftn", "sharded_map", "space_partitions"]


def space_partitions(shape: Sequence[int] = (), axis: int | None = None) -> int:
    """``S``, the size of the ``space`` axis of the context mesh (1 without one); with ``shape`` and
    ``axis``: 1 unless ``shape[axis]`` divides by ``S`` (then the sharded code path is usable)."""
    mesh = jax.sharding.get_abstract_mesh()
    if mesh.empty or SPACE_AXIS not in mesh.axis_names:
        return 1
    size = int(mesh.shape[SPACE_AXIS])
    if axis is not None and shape[axis] % size:
        return 1
    return size


def block_spec(shape: Sequence[int], axis: int) -> PartitionSpec:
    """The spec of an array whose axis ``axis`` is split over ``space`` and whose leading (batch) axis is
    split over the other mesh axes (e.g. ``data``) when its size divides by theirs, else replicated."""
    mesh = jax.sharding.get_abstract_mesh()
    others = tuple(name for name in mesh.axis_names if name != SPACE_AXIS)
    other_size = 1
    for name in others:
        other_size *= int(mesh.shape[name])
    lead = others if axis > 0 and others and shape[0] % other_size == 0 else None
    if axis == 0:
        return PartitionSpec(SPACE_AXIS)
    return PartitionSpec(lead, *([None] * (axis - 1)), SPACE_AXIS)


def sharded_map(
    fn: Callable,
    in_shape: Sequence[int],
    axis_in: int,
    out_shape: Sequence[int],
    axis_out: int,
    *,
    num_replicated: int = 0,
) -> Callable:
    """``fn`` on each device's block inside ``jax.shard_map`` over every axis of the context mesh: input
    axis ``axis_in`` and output axis ``axis_out`` split over ``space``, leading axes as in :func:`block_spec`;
    ``num_replicated`` further arguments (e.g. kernels) are whole on every device.

    Manual over all axes, not ``space`` only: XLA's partitioner all-gathers the batch axis of an FFT left
    to it.
    """
    in_spec, out_spec = block_spec(in_shape, axis_in), block_spec(out_shape, axis_out)
    if in_spec[0] != out_spec[0] and axis_in > 0 and axis_out > 0:
        out_spec = PartitionSpec(in_spec[0], *out_spec[1:])
    replicated = (PartitionSpec(),) * num_replicated
    return jax.shard_map(fn, in_specs=(in_spec, *replicated), out_specs=out_spec)


def _transpose_fft(h: jax.Array, axis: int, *, inverse: bool, num_parts: int) -> jax.Array:
    """Complex (i)FFT along the split axis ``axis`` of a local block, by two all-to-alls with axis + 1."""
    other = axis + 1
    n_other = h.shape[other]
    padded = -(-n_other // num_parts) * num_parts
    if padded != n_other:
        pad = [(0, 0)] * h.ndim
        pad[other] = (0, padded - n_other)
        h = jnp.pad(h, pad)
    h = jax.lax.all_to_all(h, SPACE_AXIS, split_axis=other, concat_axis=axis, tiled=True)
    h = (jnp.fft.ifft if inverse else jnp.fft.fft)(h, axis=axis)
    h = jax.lax.all_to_all(h, SPACE_AXIS, split_axis=axis, concat_axis=other, tiled=True)
    return jax.lax.slice_in_dim(h, 0, n_other, axis=other)


def rfftn(u: jax.Array, num_spatial_dims: int) -> jax.Array:
    """Real FFT over the spatial axes: ``(..., *spatial, C) -> (..., *spatial_rfft, C)`` (unnormalized),
    equal to ``jnp.fft.rfftn(u, axes=spatial)``; distributed over ``space`` when the context mesh has it."""
    d = num_spatial_dims
    first = u.ndim - d - 1
    local_axes = tuple(range(first + 1, u.ndim - 1))
    parts = space_partitions(u.shape, first) if d > 1 else 1
    if parts == 1:
        return jnp.fft.rfftn(u, axes=(first, *local_axes))

    def local(block):
        h = jnp.fft.rfftn(block, axes=local_axes)
        return _transpose_fft(h, first, inverse=False, num_parts=parts)

    return sharded_map(local, u.shape, first, u.shape, first)(u)


def irfftn(u_hat: jax.Array, num_spatial_dims: int, num_points: Sequence[int]) -> jax.Array:
    """Inverse of :func:`rfftn`: ``(..., *spatial_rfft, C) -> (..., *spatial, C)`` with spatial shape
    ``num_points``, equal to ``jnp.fft.irfftn(u_hat, s=num_points, axes=spatial)``."""
    d = num_spatial_dims
    s = tuple(num_points)
    first = u_hat.ndim - d - 1
    local_axes = tuple(range(first + 1, u_hat.ndim - 1))
    parts = space_partitions(u_hat.shape, first) if d > 1 else 1
    if parts == 1 or s[0] != u_hat.shape[first]:
        return jnp.fft.irfftn(u_hat, s=s, axes=(first, *local_axes))

    def local(block):
        h = _transpose_fft(block, first, inverse=True, num_parts=parts)
        return jnp.fft.irfftn(h, s=s[1:], axes=local_axes)

    return sharded_map(local, u_hat.shape, first, u_hat.shape, first)(u_hat)
