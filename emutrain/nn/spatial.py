"""Layer kernels for inputs whose first spatial axis is split over the mesh axis ``space``.

Used by :class:`emutrain.nn.Conv` and :class:`emutrain.nn.SpectralConv` when JAX's context mesh
(``jax.set_mesh``, entered by the Trainer for a mesh with ``space > 1``) has a ``space`` axis; with no such
mesh the layers never reach this module. Each device works on its slab ``(b, N/S, *rest, C)``:

- convolutions exchange halos: the ``before``/``after`` cells a kernel reads beyond the slab come from the
  neighbouring slabs (``lax.ppermute``; cyclic for ``periodic``, with the boundary-mode ghost cells on the
  outermost slabs for ``dirichlet``/``neumann``), the other spatial axes are padded locally, then a VALID
  convolution runs on the slab. XLA's own partitioning of ``jnp.pad(mode="wrap")`` + convolution moves
  about half of every slab between devices instead of the halo alone (jax 0.10.2).
- the spectral convolution transforms the unsplit axes locally and keeps only the retained modes, gathers
  those few modes along the split axis (``all_gather`` of ``(b, N, 2m, ..., m, C)``), mixes them, and
  transforms back, each device producing only its own rows.

A layer falls back to its plain code (the compiler then partitions it, correct but communicating more)
when the split axis does not divide by ``S`` or a slab is thinner than the halo (the coarsest levels of a
deep UNet on many devices).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp

from emutrain.physics.distributed_fft import SPACE_AXIS, sharded_map, space_partitions

_PAD_MODES = {"periodic": "wrap", "dirichlet": "constant", "neumann": "reflect"}


def halo_applies(
    shape: Sequence[int], num_spatial_dims: int, before: int, after: int, stride: int, boundary_mode: str
) -> bool:
    """Whether a convolution of an input of ``shape`` ``(B, *spatial, C)`` can run by halo exchange."""
    first = len(shape) - num_spatial_dims - 1
    parts = space_partitions(shape, first)
    if parts == 1:
        return False
    local = shape[first] // parts
    # reflecting needs one cell more than the ghost width (the boundary cell is not mirrored)
    needed = max(before, after) + (boundary_mode == "neumann")
    return local >= needed and local % stride == 0


def _exchange(block: jax.Array, axis: int, before: int, after: int, boundary_mode: str) -> jax.Array:
    """The slab ``block`` extended along ``axis`` by ``before``/``after`` cells of its neighbours."""
    parts = jax.lax.axis_size(SPACE_AXIS)
    index = jax.lax.axis_index(SPACE_AXIS)
    periodic = boundary_mode == "periodic"
    right_shift = [(i, (i + 1) % parts) for i in range(parts) if periodic or i + 1 < parts]
    left_shift = [(i, (i - 1) % parts) for i in range(parts) if periodic or i > 0]
    n = block.shape[axis]
    pieces = [block]
    if before:
        halo = jax.lax.ppermute(
            jax.lax.slice_in_dim(block, n - before, n, axis=axis), SPACE_AXIS, right_shift
        )
        if boundary_mode == "neumann":
            ghost = jnp.flip(jax.lax.slice_in_dim(block, 1, before + 1, axis=axis), axis)
            halo = jnp.where(index == 0, ghost, halo)
        pieces.insert(0, halo)  # ppermute leaves zeros where nothing arrives: dirichlet ghosts
    if after:
        halo = jax.lax.ppermute(jax.lax.slice_in_dim(block, 0, after, axis=axis), SPACE_AXIS, left_shift)
        if boundary_mode == "neumann":
            ghost = jnp.flip(jax.lax.slice_in_dim(block, n - after - 1, n - 1, axis=axis), axis)
            halo = jnp.where(index == parts - 1, ghost, halo)
        pieces.append(halo)
    return jnp.concatenate(pieces, axis=axis)


def halo_conv(
    conv: Callable[[jax.Array, jax.Array], jax.Array],
    x: jax.Array,
    kernel: jax.Array,
    num_spatial_dims: int,
    before: int,
    after: int,
    boundary_mode: str,
) -> jax.Array:
    """``conv(padded, kernel)`` (a VALID convolution) on every slab of ``x`` ``(B, *spatial, C)`` padded by
    ``before``/``after`` cells per spatial axis: halo exchange on the split axis, local padding elsewhere."""
    d = num_spatial_dims
    first = x.ndim - d - 1

    def local(block, kernel):
        block = _exchange(block, first, before, after, boundary_mode)
        if d > 1 and (before or after):
            pad = [(0, 0)] * (first + 1) + [(before, after)] * (d - 1) + [(0, 0)]
            block = jnp.pad(block, pad, mode=_PAD_MODES[boundary_mode])
        return conv(block, kernel)

    # only the leading axis of the output shape matters for the spec, and it is the input's
    return sharded_map(local, x.shape, first, x.shape, first, num_replicated=1)(x, kernel)


def spectral_applies(shape: Sequence[int], num_spatial_dims: int) -> bool:
    """Whether a spectral convolution of ``(B, *spatial, C)`` can run on slabs (two or more spatial axes)."""
    return num_spatial_dims > 1 and space_partitions(shape, len(shape) - num_spatial_dims - 1) > 1


def _keep(h: jax.Array, axis: int, modes: int, last: bool) -> jax.Array:
    """Retained modes along ``axis``: ``[0, m)`` then ``[N - m, N)`` (on the rfft axis ``[0, m)`` only)."""
    low = jax.lax.slice_in_dim(h, 0, modes, axis=axis)
    if last:
        return low
    return jnp.concatenate(
        [low, jax.lax.slice_in_dim(h, h.shape[axis] - modes, h.shape[axis], axis=axis)], axis
    )


def _place(h: jax.Array, axis: int, modes: int, size: int, last: bool) -> jax.Array:
    """Inverse of :func:`_keep`: the retained modes put back into zeros of length ``size`` along ``axis``."""
    pad = [(0, 0)] * h.ndim
    if last:
        pad[axis] = (0, size - modes)
        return jnp.pad(h, pad)
    low = jax.lax.slice_in_dim(h, 0, modes, axis=axis)
    high = jax.lax.slice_in_dim(h, modes, 2 * modes, axis=axis)
    pad[axis] = (0, size - 2 * modes)
    return jnp.concatenate([jnp.pad(low, pad), high], axis=axis)


def spectral_conv(x: jax.Array, weights: jax.Array, modes: Sequence[int], out_channels: int) -> jax.Array:
    """The FNO spectral convolution of ``x`` ``(B, *spatial, C_in)`` split on its first spatial axis:
    retained modes ``(2*m_1, ..., 2*m_{D-1}, m_D)`` mixed by complex ``weights`` ``(..., C_in, C_out)``."""
    d = len(modes)
    spatial = x.shape[1:-1]
    rest_axes = tuple(range(2, d + 1))

    def local(block, weights):
        h = jnp.fft.rfftn(block, axes=rest_axes)
        for axis, m in zip(rest_axes, modes[1:]):
            h = _keep(h, axis, m, last=axis == d)
        h = jax.lax.all_gather(h, SPACE_AXIS, axis=1, tiled=True)
        h = _keep(jnp.fft.fft(h, axis=1), 1, modes[0], last=False)
        mixed = jnp.einsum("b...i,...io->b...o", h, weights)
        full = jnp.fft.ifft(_place(mixed, 1, modes[0], spatial[0], last=False), axis=1)
        rows = spatial[0] // jax.lax.axis_size(SPACE_AXIS)
        full = jax.lax.dynamic_slice_in_dim(full, jax.lax.axis_index(SPACE_AXIS) * rows, rows, axis=1)
        for axis, m, n in zip(rest_axes, modes[1:], spatial[1:]):
            size = n // 2 + 1 if axis == d else n
            full = _place(full, axis, m, size, last=axis == d)
        return jnp.fft.irfftn(full, s=spatial[1:], axes=rest_axes)

    out_shape = (*x.shape[:-1], out_channels)
    return sharded_map(local, x.shape, 1, out_shape, 1, num_replicated=1)(x, weights)
