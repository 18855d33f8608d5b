"""Fourier-space helpers on the periodic domain ``[0, L)^D`` with ``N`` points per axis.

States are channels-last, ``(..., *spatial, C)``; their real FFT over the spatial axes has shape
``(..., *spatial_rfft, C)`` with ``spatial_rfft = (N,) * (D - 1) + (N // 2 + 1,)``. Operators built here are
NumPy arrays of shape ``(*spatial_rfft, 1)`` (float64 / complex128) that broadcast against such spectra;
steppers cast them to the state's precision when they are called.

Nyquist handling: for even ``N`` the Nyquist mode of a real signal is real, and an odd derivative
``(i k)^j`` would make it imaginary; odd-order derivative operators therefore vanish on the Nyquist mode of
each axis (even orders keep it).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.typing import ArrayLike

from emutrain.physics import distributed_fft
from emutrain.validation import check_int, check_real

__all__ = [
    "dealiasing_mask",
    "derivative",
    "derivative_operator",
    "integer_wavenumbers",
    "irfft_spatial",
    "laplace_operator",
    "make_grid",
    "nyquist_mask",
    "rfft_spatial",
    "spatial_axes",
    "spatial_rfft_shape",
    "wavenumbers",
]


def spatial_axes(num_spatial_dims: int) -> tuple[int, ...]:
    """The spatial axes of a channels-last array ``(..., *spatial, C)`` as negative indices."""
    return tuple(range(-num_spatial_dims - 1, -1))


def spatial_rfft_shape(num_spatial_dims: int, num_points: int) -> tuple[int, ...]:
    """``(N,) * (D - 1) + (N // 2 + 1,)``: the spatial shape of a real FFT."""
    return (num_points,) * (num_spatial_dims - 1) + (num_points // 2 + 1,)


def rfft_spatial(u: ArrayLike, num_spatial_dims: int) -> Array:
    """Real FFT over the spatial axes: ``(..., *spatial, C) -> (..., *spatial_rfft, C)`` (unnormalized)."""
    # split over the context mesh's `space` axis when there is one (see distributed_fft)
    return distributed_fft.rfftn(jnp.asarray(u), num_spatial_dims)


def irfft_spatial(u_hat: ArrayLike, num_spatial_dims: int, num_points: int) -> Array:
    """Inverse of :func:`rfft_spatial`: ``(..., *spatial_rfft, C) -> (..., *spatial, C)``."""
    return distributed_fft.irfftn(jnp.asarray(u_hat), num_spatial_dims, (num_points,) * num_spatial_dims)


def integer_wavenumbers(num_spatial_dims: int, num_points: int) -> tuple[np.ndarray, ...]:
    """Per-axis integer wavenumbers, each of shape ``(*spatial_rfft, 1)`` (float64).

    Non-last axes follow ``fftfreq`` (Nyquist counted as ``-N/2``), the last axis ``rfftfreq`` (``+N/2``).
    """
    per_axis = [np.fft.fftfreq(num_points, 1.0 / num_points)] * (num_spatial_dims - 1)
    per_axis.append(np.fft.rfftfreq(num_points, 1.0 / num_points))
    grids = np.meshgrid(*per_axis, indexing="ij")
    return tuple(g[..., None] for g in grids)


def wavenumbers(num_spatial_dims: int, num_points: int, domain_extent: float) -> tuple[np.ndarray, ...]:
    """Per-axis angular wavenumbers ``2 pi m / L`` (1/length), each of shape ``(*spatial_rfft, 1)``."""
    return tuple(2.0 * np.pi / domain_extent * m for m in integer_wavenumbers(num_spatial_dims, num_points))


def nyquist_mask(num_spatial_dims: int, num_points: int) -> np.ndarray:
    """``(*spatial_rfft, 1)`` bool, False on modes that sit on the Nyquist frequency of any axis (even N)."""
    ms = integer_wavenumbers(num_spatial_dims, num_points)
    if num_points % 2:
        return np.ones(ms[0].shape, dtype=bool)
    return np.logical_and.reduce([np.abs(m) != num_points // 2 for m in ms])


def derivative_operator(
    num_spatial_dims: int, domain_extent: float, num_points: int, order: int = 1
) -> tuple[np.ndarray, ...]:
    """Per-axis spectral derivative operators ``(i k_d)^order``, each ``(*spatial_rfft, 1)`` complex128.

    Odd orders vanish on the Nyquist mode of their axis (see the module docstring).
    """
    if order < 0:
        raise ValueError(f"order must be >= 0, got {order}")
    ops = []
    for m, k in zip(
        integer_wavenumbers(num_spatial_dims, num_points),
        wavenumbers(num_spatial_dims, num_points, domain_extent),
    ):
        op = (1j * k) ** order
        if order % 2 and num_points % 2 == 0:
            op = np.where(np.abs(m) == num_points // 2, 0.0, op)
        ops.append(op.astype(np.complex128))
    return tuple(ops)


def laplace_operator(num_spatial_dims: int, domain_extent: float, num_points: int) -> np.ndarray:
    """Spectral Laplacian ``-|k|^2``, shape ``(*spatial_rfft, 1)``, complex128."""
    return sum(derivative_operator(num_spatial_dims, domain_extent, num_points, 2))


def dealiasing_mask(num_spatial_dims: int, num_points: int, fraction: float = 2 / 3) -> np.ndarray:
    """Low-pass mask keeping modes with ``|m_d| <= int(fraction * (N // 2))`` on every axis.

    ``fraction = 2/3`` is Orszag's rule, which removes the aliasing error of quadratic nonlinearities.
    Returns ``(*spatial_rfft, 1)`` bool.
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"dealiasing_fraction must be in (0, 1], got {fraction}")
    cutoff = int(fraction * (num_points // 2))
    return np.logical_and.reduce(
        [np.abs(m) <= cutoff for m in integer_wavenumbers(num_spatial_dims, num_points)]
    )


def derivative(
    u: ArrayLike, num_spatial_dims: int, domain_extent: float, *, axis: int = 0, order: int = 1
) -> Array:
    """Spectral derivative ``d^order u / dx_axis^order`` of ``(..., *spatial, C)`` states (same shape)."""
    u = jnp.asarray(u)
    if not 0 <= axis < num_spatial_dims:
        raise ValueError(f"axis must be in [0, {num_spatial_dims - 1}], got {axis}")
    num_points = u.shape[-2]
    op = derivative_operator(num_spatial_dims, domain_extent, num_points, order)[axis]
    u_hat = rfft_spatial(u, num_spatial_dims)
    return irfft_spatial(u_hat * jnp.asarray(op, dtype=u_hat.dtype), num_spatial_dims, num_points).astype(
        u.dtype
    )


def make_grid(num_spatial_dims: int, domain_extent: float, num_points: int) -> Array:
    """Cell-vertex grid of ``[0, L)^D`` without the right end point: ``(*spatial, D)``, ``x_i = L i / N``."""
    num_spatial_dims = check_int("num_spatial_dims", num_spatial_dims, minimum=1, maximum=3)
    domain_extent = check_real("domain_extent", domain_extent, positive=True)
    num_points = check_int("num_points", num_points, minimum=1)
    x = np.arange(num_points) * (domain_extent / num_points)
    grid = np.stack(np.meshgrid(*([x] * num_spatial_dims), indexing="ij"), axis=-1)
    return jnp.asarray(grid, dtype=jnp.result_type(float))
