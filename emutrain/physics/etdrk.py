"""Exponential time differencing Runge-Kutta integrators (ETDRK0..4) for ``u_t = L u + N(u)``.

``L`` is diagonal in Fourier space; ``N`` is evaluated pseudo-spectrally. Schemes follow Cox & Matthews,
"Exponential time differencing for stiff systems", J. Comput. Phys. 176 (2002); ETDRK0 is the exact
solution of the linear part alone. The phi-like coefficients are evaluated by the contour-integral mean of
Kassam & Trefethen, "Fourth-order time-stepping for stiff PDEs", SIAM J. Sci. Comput. 26 (2005), which avoids
the cancellation of the closed forms near ``z = L dt = 0``. They are **kept complex**: dispersive or
advective operators have imaginary ``L``, and dropping the imaginary part of the coefficients reduces every
scheme to first order (e.g. on KdV).

Coefficients are computed once in NumPy (complex128) and cast to the state's complex dtype when a step runs.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from jax import Array

__all__ = ["ETDRK_ORDERS", "etdrk_coefficients", "etdrk_step"]

ETDRK_ORDERS = (0, 1, 2, 3, 4)


def _contour_mean(
    fn: Callable[[np.ndarray], np.ndarray], z: np.ndarray, num_circle_points: int, circle_radius: float
) -> np.ndarray:
    """Mean of ``fn`` over a circle of points around each ``z``: equals ``fn(z)`` for analytic ``fn``."""
    theta = 2.0 * np.pi * (np.arange(1, num_circle_points + 1) - 0.5) / num_circle_points
    points = z[..., None] + circle_radius * np.exp(1j * theta)
    return np.mean(fn(points), axis=-1)


def etdrk_coefficients(
    linear_operator: np.ndarray,
    dt: float,
    order: int,
    *,
    num_circle_points: int = 16,
    circle_radius: float = 1.0,
) -> dict[str, np.ndarray]:
    """Coefficient arrays (complex128, shape of ``linear_operator``) of the ETDRK scheme of ``order``.

    Keys: ``exp`` (``e^z``) for every order; ``exp_half`` (``e^{z/2}``) and ``half`` for orders 3 and 4;
    and the nonlinear weights of each scheme. ``z = linear_operator * dt`` is dimensionless.
    """
    if order not in ETDRK_ORDERS:
        raise ValueError(f"order must be one of {ETDRK_ORDERS}, got {order}")
    z = np.asarray(linear_operator, dtype=np.complex128) * dt

    def mean(fn: Callable[[np.ndarray], np.ndarray], at: np.ndarray = z) -> np.ndarray:
        return dt * _contour_mean(fn, at, num_circle_points, circle_radius)

    def phi1(w: np.ndarray) -> np.ndarray:
        return (np.exp(w) - 1.0) / w

    coefs = {"exp": np.exp(z)}
    if order in (1, 2):
        coefs["phi1"] = mean(phi1)
    if order == 2:
        coefs["phi2"] = mean(lambda w: (np.exp(w) - 1.0 - w) / w**2)
    if order in (3, 4):
        coefs["exp_half"] = np.exp(z / 2)
        # (e^{z/2} - 1) / L = dt/2 * phi1(z/2)
        coefs["half"] = 0.5 * mean(phi1, z / 2)
        coefs["phi1"] = mean(phi1)
        coefs["f1"] = mean(lambda w: (-4.0 - w + np.exp(w) * (4.0 - 3.0 * w + w**2)) / w**3)
        coefs["f2"] = mean(lambda w: (2.0 + w + np.exp(w) * (w - 2.0)) / w**3)
        coefs["f3"] = mean(lambda w: (-4.0 - 3.0 * w - w**2 + np.exp(w) * (4.0 - w)) / w**3)
    return coefs


def etdrk_step(
    u_hat: Array, coefs: dict[str, Array], nonlinear: Callable[[Array], Array], order: int
) -> Array:
    """One ETDRK step in Fourier space: ``(..., *spatial_rfft, C) -> (..., *spatial_rfft, C)``.

    ``coefs`` are the arrays of :func:`etdrk_coefficients` already cast to ``u_hat``'s dtype; ``nonlinear``
    maps a spectrum to the spectrum of ``N(u)``.
    """
    e = coefs["exp"]
    if order == 0:
        return e * u_hat
    n_u = nonlinear(u_hat)
    if order == 1:
        return e * u_hat + coefs["phi1"] * n_u
    if order == 2:
        a = e * u_hat + coefs["phi1"] * n_u
        return a + coefs["phi2"] * (nonlinear(a) - n_u)
    e2, half = coefs["exp_half"], coefs["half"]
    if order == 3:
        a = e2 * u_hat + half * n_u
        n_a = nonlinear(a)
        b = e * u_hat + coefs["phi1"] * (2.0 * n_a - n_u)
        n_b = nonlinear(b)
        return e * u_hat + coefs["f1"] * n_u + 4.0 * coefs["f2"] * n_a + coefs["f3"] * n_b
    a = e2 * u_hat + half * n_u
    n_a = nonlinear(a)
    b = e2 * u_hat + half * n_a
    n_b = nonlinear(b)
    c = e2 * a + half * (2.0 * n_b - n_u)
    n_c = nonlinear(c)
    return e * u_hat + coefs["f1"] * n_u + 2.0 * coefs["f2"] * (n_a + n_b) + coefs["f3"] * n_c
