"""From a scenario's coefficients to emutrain steppers, with APEBench 0.1.1's (Exponax 0.1's) conventions.

:func:`generic_stepper` returns a zero-argument factory of the emutrain stepper (``functools.partial``), so
a scenario checks that its physics is supported without computing the integrator's coefficients.

Conventions of Exponax that the mapping reproduces, each stated once here:

* Linear part ``sum_j a_j sum_d (i k_d)^j``: the ``j = 0`` term is summed over the axes too, so the
  zeroth-order coefficient acts as ``D a_0``; emutrain's linear steppers apply ``a_0`` once. The same holds
  for the drag of Exponax's Kolmogorov flow (``2 * drag``).
* Difficulty -> normalized: the conversions of :mod:`emutrain.physics.coefficients` (``alpha_0 = gamma_0``,
  not ``gamma_0 / (2^-1 D)``; nonlinear difficulties with maximum absolute value 1).
* The general nonlinear stepper reads ``u_t = L u + b_0 u^2 + b_1/2 (1 . grad)(u^2) + b_2/2 |grad u|^2``
  (nonlinear terms on the right-hand side); the convection stepper reads ``u_t + b/2 div(u (x) u) = L u``.
* Dealiasing keeps ``|m_d| <= fraction (N//2) - 1`` (emutrain keeps ``|m_d| <= int(fraction (N//2))``), so
  the emutrain fraction is chosen to keep the same modes.
* A fourth-order linear term is ``sum_d d^4/dx_d^4`` (emutrain's generic steppers do the same; its KdV and
  Kuramoto-Sivashinsky steppers use ``laplace^2``, equal in 1D only), so the generic steppers serve here.
* Not reproduced (emutrain keeps the accurate convention): Exponax 0.1 takes the real
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
    "GENERIC_STEPPERS",
    "Unsupported",
    "emutrain_dealiasing_fraction",
    "etdrk_options",
    "generic_stepper",
]

GENERIC_STEPPERS = {
    "linear": physics.GeneralLinearStepper,
    "convection": physics.GeneralConvectionStepper,
    "nonlinear": physics.GeneralNonlinearStepper,
    "polynomial": physics.GeneralPolynomialStepper,
}
"""Exponax's generic stepper of each kind -> the emutrain stepper that reproduces it."""


class Unsupported(NotImplementedError):
    """A valid APEBench configuration whose physics emutrain cannot step yet."""


def emutrain_dealiasing_fraction(fraction: float, num_points: int) -> float:
    """The emutrain ``dealiasing_fraction`` keeping the modes Exponax keeps for ``fraction``."""
    kept = math.floor(fraction * (num_points // 2) - 1)
    if kept < 0:
        raise Unsupported(f"dealiasing_fraction={fraction} keeps no mode on num_points={num_points}")
    return min(1.0, (kept + 0.5) / (num_points // 2))


def etdrk_options(
    num_points: int, order: int, dealiasing_fraction: float, num_circle_points: int, circle_radius: float
) -> physics.ETDRKOptions:
    """Exponax's integrator settings as emutrain's (the dealiasing fraction keeping the same modes)."""
    return physics.ETDRKOptions(
        order=order,
        dealiasing_fraction=emutrain_dealiasing_fraction(dealiasing_fraction, num_points),
        num_circle_points=int(num_circle_points),
        circle_radius=circle_radius,
    )


def generic_stepper(
    kind: str,
    num_spatial_dims: int,
    domain_extent: float,
    num_points: int,
    dt: float,
    linear: Sequence[float],
    **physics_keywords,
):
    """A factory of Exponax's generic stepper of ``kind`` (a key of :data:`GENERIC_STEPPERS`) with linear
    coefficients ``linear`` in Exponax's convention (``D a_0``) and the stepper's other keywords."""
    linear = tuple(float(c) for c in linear) or (0.0,)
    return functools.partial(
        GENERIC_STEPPERS[kind],
        num_spatial_dims,
        domain_extent,
        num_points,
        dt,
        linear_coefficients=(num_spatial_dims * linear[0],) + linear[1:],
        **physics_keywords,
    )
