"""From a scenario's coefficients to emutrain steppers, with APEBench 0.1.1's (Exponax 0.1's) conventions.

Each builder returns a zero-argument factory of the emutrain stepper (``functools.partial``), so a
scenario checks that its physics is supported without computing the integrator's coefficients.

Conventions of Exponax that the mapping reproduces, each stated once here:

* Linear part ``sum_j a_j sum_d (i k_d)^j``: the ``j = 0`` term is summed over the axes too, so the
  zeroth-order coefficient acts as ``D a_0``; emutrain's linear steppers apply ``a_0`` once. The same holds
  for the drag of Exponax's Kolmogorov flow (``2 * drag``).
* Difficulty -> normalized: ``alpha_0 = gamma_0`` (not ``gamma_0 / (2^-1 D)``), ``alpha_j = gamma_j /
  (N^j 2^(j-1) D)``; nonlinear ``beta_0 = delta_0``, ``beta_1 = delta_1 / (N D)``, ``beta_2 = delta_2 /
  (N^2 D)`` (maximum absolute value 1).
* The general nonlinear stepper reads ``u_t = L u + b_0 u^2 + b_1/2 (1 . grad)(u^2) + b_2/2 |grad u|^2``
  (nonlinear terms on the right-hand side); the convection stepper reads ``u_t + b/2 div(u (x) u) = L u``.
* Dealiasing keeps ``|m_d| <= fraction (N//2) - 1`` (emutrain keeps ``|m_d| <= int(fraction (N//2))``), so
  the emutrain fraction is chosen to keep the same modes.
* A fourth-order linear term is ``sum_d d^4/dx_d^4`` (emutrain's generic steppers do the same; its KdV and
  Kuramoto-Sivashinsky steppers use ``laplace^2``, equal in 1D only), so the generic steppers serve here.
* Not reproduced (emutrain keeps the accurate convention, DESIGN.md section 5): Exponax 0.1 takes the real
  part of the ETDRK coefficients, which drops the integrator to first order when the linear operator is
  complex (odd derivatives: KdV's dispersion, advection in a nonlinear scenario); emutrain keeps them
  complex, so those scenarios differ at O(dt) of the nonlinear term. Exponax also keeps ``i k`` on the
  Nyquist mode where emutrain zeroes odd derivatives (invisible for band-limited states).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

from emutrain import physics

__all__ = [
    "difficulty_to_normalized",
    "emutrain_dealiasing_fraction",
    "linear_stepper",
    "convection_stepper",
    "nonlinear_stepper",
    "polynomial_stepper",
    "ode_options",
    "Unsupported",
]


class Unsupported(NotImplementedError):
    """A valid APEBench configuration whose physics emutrain cannot step yet."""


def difficulty_to_normalized(
    gammas: Sequence[float], *, num_spatial_dims: int, num_points: int
) -> tuple[float, ...]:
    """``alpha_0 = gamma_0``, ``alpha_j = gamma_j / (N^j 2^(j-1) D)`` (Exponax's rule)."""
    alphas = [g / (num_points**j * 2.0 ** (j - 1) * num_spatial_dims) for j, g in enumerate(gammas)]
    if alphas:
        alphas[0] = float(gammas[0])
    return tuple(alphas)


def difficulty_to_normalized_nonlinear(
    deltas: Sequence[float], *, num_spatial_dims: int, num_points: int
) -> tuple[float, float, float]:
    """``beta_0 = delta_0``, ``beta_1 = delta_1 / (N D)``, ``beta_2 = delta_2 / (N^2 D)``."""
    d0, d1, d2 = deltas
    return (float(d0), d1 / (num_points * num_spatial_dims), d2 / (num_points**2 * num_spatial_dims))


def emutrain_dealiasing_fraction(fraction: float, num_points: int) -> float:
    """The emutrain ``dealiasing_fraction`` keeping the modes Exponax keeps for ``fraction``."""
    kept = math.floor(fraction * (num_points // 2) - 1)
    if kept < 0:
        raise Unsupported(f"dealiasing_fraction={fraction} keeps no mode on num_points={num_points}")
    return min(1.0, (kept + 0.5) / (num_points // 2))


def _exponax_linear(coefficients: Sequence[float], num_spatial_dims: int) -> tuple[float, ...]:
    coefficients = tuple(float(c) for c in coefficients) or (0.0,)
    return (num_spatial_dims * coefficients[0],) + coefficients[1:]


def linear_stepper(
    num_spatial_dims: int, domain_extent: float, num_points: int, dt: float, coefficients: Sequence[float]
):
    """Exponax's ``GeneralLinearStepper``: ``u_t = sum_j a_j sum_d d^j u/dx_d^j`` (one channel)."""
    return functools.partial(
        physics.GeneralLinearStepper,
        num_spatial_dims,
        domain_extent,
        num_points,
        dt,
        linear_coefficients=_exponax_linear(coefficients, num_spatial_dims),
    )


def ode_options(
    num_points: int, order: int, dealiasing_fraction: float, num_circle_points: int, circle_radius: float
) -> dict:
    return dict(
        order=order,
        dealiasing_fraction=emutrain_dealiasing_fraction(dealiasing_fraction, num_points),
        num_circle_points=int(num_circle_points),
        circle_radius=circle_radius,
    )


def convection_stepper(
    num_spatial_dims: int,
    domain_extent: float,
    num_points: int,
    dt: float,
    *,
    coefficients: Sequence[float],
    convection_scale: float,
    conservative: bool,
    order: int,
    dealiasing_fraction: float,
    num_circle_points: int,
    circle_radius: float,
):
    """Exponax's ``GeneralConvectionStepper``: ``u_t + b/2 div(u (x) u) = L u`` (``conservative``) or
    ``u_t + b (u . grad) u = L u``, ``D`` channels."""
    return functools.partial(
        physics.GeneralConvectionStepper,
        num_spatial_dims,
        domain_extent,
        num_points,
        dt,
        linear_coefficients=_exponax_linear(coefficients, num_spatial_dims),
        convection_scale=convection_scale,
        conservative=conservative,
        **ode_options(num_points, order, dealiasing_fraction, num_circle_points, circle_radius),
    )


def nonlinear_stepper(
    num_spatial_dims: int,
    domain_extent: float,
    num_points: int,
    dt: float,
    *,
    coefficients: Sequence[float],
    nonlinear_coefficients: Sequence[float],
    order: int,
    dealiasing_fraction: float,
    num_circle_points: int,
    circle_radius: float,
):
    """Exponax's ``GeneralNonlinearStepper`` (single channel):
    ``u_t = L u + b_0 u^2 + b_1/2 (1 . grad)(u^2) + b_2/2 |grad u|^2``."""
    return functools.partial(
        physics.GeneralNonlinearStepper,
        num_spatial_dims,
        domain_extent,
        num_points,
        dt,
        linear_coefficients=_exponax_linear(coefficients, num_spatial_dims),
        nonlinear_coefficients=tuple(float(b) for b in nonlinear_coefficients),
        **ode_options(num_points, order, dealiasing_fraction, num_circle_points, circle_radius),
    )


def polynomial_stepper(
    num_spatial_dims: int,
    domain_extent: float,
    num_points: int,
    dt: float,
    *,
    coefficients: Sequence[float],
    polynomial_coefficients: Sequence[float],
    order: int,
    dealiasing_fraction: float,
    num_circle_points: int,
    circle_radius: float,
):
    """Exponax's ``GeneralPolynomialStepper``: ``u_t = L u + sum_p c_p u^p`` (single channel)."""
    return functools.partial(
        physics.GeneralPolynomialStepper,
        num_spatial_dims,
        domain_extent,
        num_points,
        dt,
        linear_coefficients=_exponax_linear(coefficients, num_spatial_dims),
        polynomial_coefficients=tuple(float(c) for c in polynomial_coefficients),
        **ode_options(num_points, order, dealiasing_fraction, num_circle_points, circle_radius),
    )
