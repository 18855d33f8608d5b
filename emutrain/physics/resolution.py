"""Spectral mapping of states between resolutions (fine <-> coarse) on the same periodic domain."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.typing import ArrayLike

from emutrain.physics import spectral

__all__ = ["map_between_resolutions"]


def _shared_indices(n_from: int, n_to: int, kept: int, last: bool) -> tuple[np.ndarray, np.ndarray]:
    """Indices (source, target) of the modes with ``|m| <= kept`` in FFT (or rFFT if ``last``) layout."""
    m = np.arange(kept + 1) if last else np.concatenate([np.arange(kept + 1), np.arange(-kept, 0)])
    return m % n_from, m % n_to


def map_between_resolutions(u: ArrayLike, num_points_new: int, *, num_spatial_dims: int) -> Array:
    """Resample ``(..., *spatial, C)`` states to ``num_points_new`` points per axis (Fourier truncation or
    zero-padding).

    Modes ``|m| <= (min(N, N_new) - 1) // 2`` on every axis are kept (the Nyquist mode of the smaller grid is
    dropped), so the map is exact for states band-limited below that and a coarse -> fine -> coarse round
    trip is the identity. Point values are preserved (the FFT normalization is rescaled).
    """
    u = jnp.asarray(u)
    if not isinstance(num_points_new, (int, np.integer)) or num_points_new < 4:
        raise ValueError(f"num_points_new must be an int >= 4, got {num_points_new!r}")
    d = num_spatial_dims
    spatial = u.shape[u.ndim - d - 1 : -1]
    if u.ndim < d + 1 or len(set(spatial)) != 1:
        raise ValueError(f"u must have shape (..., *spatial, C) with {d} equal spatial axes, got {u.shape}")
    n = spatial[0]
    if n == num_points_new:
        return u
    kept = (min(n, num_points_new) - 1) // 2
    u_hat = spectral.rfft_spatial(u, d)
    out_shape = (
        u_hat.shape[: u_hat.ndim - d - 1] + spectral.spatial_rfft_shape(d, num_points_new) + u_hat.shape[-1:]
    )
    index_from, index_to = [], []
    for axis in range(d):
        src, dst = _shared_indices(n, num_points_new, kept, last=axis == d - 1)
        shape = [1] * d
        shape[axis] = -1
        index_from.append(src.reshape(shape))
        index_to.append(dst.reshape(shape))
    lead = (Ellipsis,)
    block = u_hat[lead + tuple(index_from) + (slice(None),)]
    new_hat = jnp.zeros(out_shape, u_hat.dtype).at[lead + tuple(index_to) + (slice(None),)].set(block)
    new_hat = new_hat * (num_points_new / n) ** d
    return spectral.irfft_spatial(new_hat, d, num_points_new).astype(u.dtype)
