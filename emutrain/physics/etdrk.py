"""Exponential time differencing Runge-Kutta integrators (ETDRK0..4) for ``u_t = L u + N(u)``.

``L`` is diagonal in Fourier space; ``N`` is evaluated pseudo-spectrally. Schemes follow Cox & Matthews,
"Exponential time differencing for stiff systems", J. Comput. Phys. 176 (2002); ETDRK0 is the exact
solution of the linear part alone. The phi-like coefficients are evaluated by the contour-integral mean of
Kassam & Trefethen, "Fourth-order time-stepping for stiff PDEs", SIAM J. Sci. Comput. 26 (2005), which avoids
the cancellation of the closed forms near ``z = L dt = 0``. They are **kept complex**: dispersive or
advective operators have imaginary ``L``, and dropping the imaginary part of the coefficients reduces every
scheme to first order (e.g. on KdV).

Coefficients are computed once in NumPy (complex128) and cast to the state's complex dtype when a step runs.
:class:`ETDRKOptions` holds the integrator settings every spectral stepper takes.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np
from jax import Array

from emutrain.validation import check_int, check_real

__all__ = ["ETDRK_ORDERS", "ETDRKOptions", "etdrk_coefficients", "etdrk_step"]

ETDRK_ORDERS = (0, 1, 2, 3, 4)


@dataclasses.dataclass(frozen=True)
class ETDRKOptions:
    """Integrator settings of a spectral stepper (immutable, hashable; part of the stepper's identity).

    Attributes:
      order: ETDRK order, 0..4 (0 integrates the linear part exactly and drops the nonlinearity).
      dealiasing_fraction: low-pass fraction in ``(0, 1]`` applied to the state before nonlinear products
        (modes ``|m_d| <= int(fraction * (N // 2))`` are kept; 2/3 is Orszag's rule, 1/2 suits cubic terms).
      num_circle_points: points of the contour mean of the coefficients (>= 1).
      circle_radius: radius of that contour (> 0).
    """

    order: int = 2
    dealiasing_fraction: float = 2 / 3
    num_circle_points: int = 16
    circle_radius: float = 1.0

    def __post_init__(self):
        order = check_int("order", self.order, minimum=min(ETDRK_ORDERS), maximum=max(ETDRK_ORDERS))
        fraction = check_real("dealiasing_fraction", self.dealiasing_fraction)
        if not 0.0 < fraction <= 1.0:
            raise ValueError(f"dealiasing_fraction must be in (0, 1], got {fraction}")
        object.__setattr__(self, "order", order)
        object.__setattr__(self, "dealiasing_fraction", fraction)
        object.__setattr__(
            self, "num_circle_points", check_int("num_circle_points", self.num_circle_points, minimum=1)
        )
        object.__setattr__(
            self, "circle_radius", check_real("circle_radius", self.circle_radius, positive=True)
        )


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
