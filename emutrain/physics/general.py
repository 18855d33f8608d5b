"""Generic semi-linear steppers: an isotropic linear part plus a polynomial, convection or mixed nonlinearity.

Linear part (``linear_coefficients = (a_0, a_1, ...)``, as :class:`~emutrain.physics.GeneralLinearStepper`):
``a_0 u + sum_{j>=1} a_j sum_d d^j u/dx_d^j``. Three families with the parameters and sign conventions of
the Exponax library, so that APEBench scenarios map onto them one to one:

- :class:`GeneralNonlinearStepper`, single channel, all terms on the right-hand side:
  ``u_t = lin(u) + b_0 u^2 + b_1/2 sum_d d(u^2)/dx_d + b_2/2 (|grad u|^2 - mean)``.
- :class:`GeneralConvectionStepper`, convection on the left-hand side with ``convection_scale`` b:
  ``u_t + b/2 div(u (x) u) = lin(u)`` (``conservative=True``) or ``u_t + b (u . grad) u = lin(u)``;
  ``num_spatial_dims`` channels, or one with ``single_channel=True``. The two forms agree in 1D; in
  ``D > 1``, ``div(u (x) u) = (u . grad) u + u div u``, so for divergence-free ``u`` the conservative
  term is half the advective one at equal b (the Exponax convention).
- :class:`GeneralPolynomialStepper`: ``u_t = lin(u) + sum_p c_p u^p``.

Each family takes physical coefficients; ``Normalized*`` (unit domain, unit time step) and ``Difficulty*``
build the same stepper from the coefficients of :mod:`emutrain.physics.coefficients`. ``etdrk``
(:class:`~emutrain.physics.ETDRKOptions`) sets the integrator and the dealiasing of the nonlinear terms
(emutrain keeps modes ``|m| <= int(fraction * N // 2)``, one more per axis than Exponax does for the same
fraction).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from jax import Array

from emutrain.physics import coefficients as coefs
from emutrain.physics import terms
from emutrain.physics.etdrk import ETDRKOptions
from emutrain.physics.linear import general_linear_operator
from emutrain.physics.stepper import Coefficient, SpectralStepper, as_bool, real_scalar
from emutrain.validation import check_real

__all__ = [
    "DifficultyConvectionStepper",
    "DifficultyNonlinearStepper",
    "DifficultyPolynomialStepper",
    "GeneralConvectionStepper",
    "GeneralNonlinearStepper",
    "GeneralPolynomialStepper",
    "NormalizedConvectionStepper",
    "NormalizedNonlinearStepper",
    "NormalizedPolynomialStepper",
]


def _triple(name: str, value: Sequence[float]) -> tuple[float, float, float]:
    values = coefs.as_coefficients(name, value)
    if len(values) != 3:
        raise ValueError(
            f"{name} must have exactly 3 entries (quadratic, convection, gradient norm), got {value!r}"
        )
    return values


class _Generic(SpectralStepper):
    """The linear part of the generic steppers and the constants of their nonlinear terms."""

    def _linear_operator(self) -> np.ndarray:
        return general_linear_operator(self, self.linear_coefficients)

    def _extra_arrays(self) -> dict[str, np.ndarray]:
        return terms.derivative_arrays(self)


class GeneralNonlinearStepper(_Generic):
    """``u_t = sum_j a_j sum_d d^j u/dx_d^j + b_0 u^2 + b_1/2 sum_d d(u^2)/dx_d + b_2/2 |grad u|^2``.

    ``linear_coefficients = (a_0, a_1, ...)``, ``nonlinear_coefficients = (b_0, b_1, b_2)``, every term on
    the right-hand side, so Burgers' convection has ``b_1 < 0``: the defaults ``(0, 0, 0.01)`` and
    ``(0, -1, 0)`` are single-channel Burgers with diffusivity 0.01 (``Burgers(..., single_channel=True)``).
    ``(0, 0, -1, 0, -1)`` with ``(0, 0, -1)`` is the Kuramoto-Sivashinsky equation (combustion form; in 1D
    :class:`~emutrain.physics.KuramotoSivashinsky`). The mean of ``|grad u|^2`` is removed.
    State ``(..., *spatial, 1)``.
    """

    coefficients = dict(
        linear_coefficients=Coefficient((0.0, 0.0, 0.01), coefs.as_coefficients),
        nonlinear_coefficients=Coefficient((0.0, -1.0, 0.0), _triple),
    )

    def _nonlinear(self, u_hat: Array, arrays: dict[str, Array]) -> Array:
        return terms.quadratic_gradient(self, u_hat, arrays, self.nonlinear_coefficients)


class GeneralConvectionStepper(_Generic):
    """``u_t + b/2 div(u (x) u) = sum_j a_j sum_d d^j u/dx_d^j`` (``conservative=True``), or with the
    advective form ``b (u . grad) u`` (``conservative=False``, the default, as in Exponax).

    ``linear_coefficients = (a_0, a_1, ...)``, ``convection_scale`` b. The conservative form with
    ``(0, 0, nu)`` is :class:`~emutrain.physics.Burgers` with diffusivity nu and convection scale b.
    State ``(..., *spatial, D)`` (a velocity vector), or ``(..., *spatial, 1)`` with ``single_channel=True``
    (flux ``b/2 sum_d d(u^2)/dx_d``, or ``b u sum_d du/dx_d`` non-conservatively).
    """

    coefficients = dict(
        linear_coefficients=Coefficient((0.0, 0.0, 0.01), coefs.as_coefficients),
        convection_scale=Coefficient(1.0, real_scalar),
        single_channel=Coefficient(False, as_bool),
        conservative=Coefficient(False, as_bool),
    )

    def _count_channels(self, physics: dict[str, Any]) -> int:
        return 1 if physics["single_channel"] else self.num_spatial_dims

    def _nonlinear(self, u_hat: Array, arrays: dict[str, Array]) -> Array:
        return terms.convection(
            self,
            u_hat,
            arrays,
            self.convection_scale,
            single_channel=self.single_channel,
            conservative=self.conservative,
        )


class GeneralPolynomialStepper(_Generic):
    """``u_t = sum_j a_j sum_d d^j u/dx_d^j + sum_p c_p u^p``, ``polynomial_coefficients = (c_0, c_1, ...)``.

    The defaults ``(10, 0, 1)`` and ``(0, 0, -10)`` are Fisher-KPP ``u_t = laplace u + 10 u (1 - u)``.
    State ``(..., *spatial, 1)``. The polynomial is evaluated on the dealiased state (a cubic needs
    ``dealiasing_fraction=1/2`` to be alias free).
    """

    coefficients = dict(
        linear_coefficients=Coefficient((10.0, 0.0, 1.0), coefs.as_coefficients),
        polynomial_coefficients=Coefficient((0.0, 0.0, -10.0), coefs.as_coefficients),
    )

    def _nonlinear(self, u_hat: Array, arrays: dict[str, Array]) -> Array:
        return terms.polynomial(self, u_hat, arrays, self.polynomial_coefficients)


# -- normalized and difficulty interfaces: the steppers above on the unit domain with unit time step,
# recording the parameters they were given ------------------------------------------------------------
class NormalizedNonlinearStepper(GeneralNonlinearStepper):
    """:class:`GeneralNonlinearStepper` with ``alpha_j`` and ``(beta_0, beta_1, beta_2)``."""

    def __init__(
        self,
        num_spatial_dims: int,
        num_points: int,
        *,
        normalized_linear_coefficients: Sequence[float] = (0.0, 0.0, 0.1 * 0.1),
        normalized_nonlinear_coefficients: Sequence[float] = (0.0, -0.1, 0.0),
        etdrk: ETDRKOptions = ETDRKOptions(),
    ):
        alphas = coefs.as_coefficients("normalized_linear_coefficients", normalized_linear_coefficients)
        betas = _triple("normalized_nonlinear_coefficients", normalized_nonlinear_coefficients)
        unit = (num_spatial_dims, 1.0, num_points, 1.0)
        super().__init__(*unit, linear_coefficients=alphas, nonlinear_coefficients=betas, etdrk=etdrk)
        self._record(normalized_linear_coefficients=alphas, normalized_nonlinear_coefficients=betas)


class DifficultyNonlinearStepper(GeneralNonlinearStepper):
    """:class:`GeneralNonlinearStepper` with ``gamma_j`` and ``(delta_0, delta_1, delta_2)`` for
    ``maximum_absolute`` M. The defaults are single-channel Burgers at ``N = 48``."""

    def __init__(
        self,
        num_spatial_dims: int = 1,
        num_points: int = 48,
        *,
        linear_difficulties: Sequence[float] = (0.0, 0.0, 0.1 * 0.1 * 48**2 * 2),
        nonlinear_difficulties: Sequence[float] = (0.0, -0.1 * 48, 0.0),
        maximum_absolute: float = 1.0,
        etdrk: ETDRKOptions = ETDRKOptions(),
    ):
        grid = dict(num_spatial_dims=num_spatial_dims, num_points=num_points)
        gammas = coefs.as_coefficients("linear_difficulties", linear_difficulties)
        deltas = _triple("nonlinear_difficulties", nonlinear_difficulties)
        alphas = coefs.difficulties_to_normalized(gammas, **grid)
        betas = coefs.nonlinear_difficulties_to_normalized(deltas, maximum_absolute=maximum_absolute, **grid)
        unit = (num_spatial_dims, 1.0, num_points, 1.0)
        super().__init__(*unit, linear_coefficients=alphas, nonlinear_coefficients=betas, etdrk=etdrk)
        self._record(
            linear_difficulties=gammas,
            nonlinear_difficulties=deltas,
            maximum_absolute=float(maximum_absolute),
        )


class NormalizedConvectionStepper(GeneralConvectionStepper):
    """:class:`GeneralConvectionStepper` with ``alpha_j`` and the convection scale ``beta_1 = b dt / L``."""

    def __init__(
        self,
        num_spatial_dims: int,
        num_points: int,
        *,
        normalized_linear_coefficients: Sequence[float] = (0.0, 0.0, 0.01 * 0.1),
        normalized_convection_scale: float = 0.1,
        single_channel: bool = False,
        conservative: bool = False,
        etdrk: ETDRKOptions = ETDRKOptions(),
    ):
        alphas = coefs.as_coefficients("normalized_linear_coefficients", normalized_linear_coefficients)
        beta = check_real("normalized_convection_scale", coefs.as_scalar(normalized_convection_scale))
        form = dict(single_channel=single_channel, conservative=conservative)
        unit = (num_spatial_dims, 1.0, num_points, 1.0)
        super().__init__(*unit, linear_coefficients=alphas, convection_scale=beta, etdrk=etdrk, **form)
        self._record(normalized_linear_coefficients=alphas, normalized_convection_scale=beta)


class DifficultyConvectionStepper(GeneralConvectionStepper):
    """:class:`GeneralConvectionStepper` with ``gamma_j`` and ``convection_difficulty`` ``delta_1 = beta_1
    M N D`` (``M = maximum_absolute``)."""

    def __init__(
        self,
        num_spatial_dims: int = 1,
        num_points: int = 48,
        *,
        linear_difficulties: Sequence[float] = (0.0, 0.0, 4.5),
        convection_difficulty: float = 5.0,
        maximum_absolute: float = 1.0,
        single_channel: bool = False,
        conservative: bool = False,
        etdrk: ETDRKOptions = ETDRKOptions(),
    ):
        grid = dict(num_spatial_dims=num_spatial_dims, num_points=num_points)
        gammas = coefs.as_coefficients("linear_difficulties", linear_difficulties)
        delta = check_real("convection_difficulty", coefs.as_scalar(convection_difficulty))
        alphas = coefs.difficulties_to_normalized(gammas, **grid)
        beta = coefs.convection_difficulty_to_normalized(delta, maximum_absolute=maximum_absolute, **grid)
        form = dict(single_channel=single_channel, conservative=conservative)
        unit = (num_spatial_dims, 1.0, num_points, 1.0)
        super().__init__(*unit, linear_coefficients=alphas, convection_scale=beta, etdrk=etdrk, **form)
        self._record(
            linear_difficulties=gammas, convection_difficulty=delta, maximum_absolute=float(maximum_absolute)
        )


class NormalizedPolynomialStepper(GeneralPolynomialStepper):
    """:class:`GeneralPolynomialStepper` with ``alpha_j`` and ``c_p dt``."""

    def __init__(
        self,
        num_spatial_dims: int,
        num_points: int,
        *,
        normalized_linear_coefficients: Sequence[float] = (10.0 * 0.001, 0.0, 1.0 * 0.001 / 10.0**2),
        normalized_polynomial_coefficients: Sequence[float] = (0.0, 0.0, -10.0 * 0.001),
        etdrk: ETDRKOptions = ETDRKOptions(),
    ):
        alphas = coefs.as_coefficients("normalized_linear_coefficients", normalized_linear_coefficients)
        polynomial = coefs.as_coefficients(
            "normalized_polynomial_coefficients", normalized_polynomial_coefficients
        )
        unit = (num_spatial_dims, 1.0, num_points, 1.0)
        super().__init__(*unit, linear_coefficients=alphas, polynomial_coefficients=polynomial, etdrk=etdrk)
        self._record(normalized_linear_coefficients=alphas, normalized_polynomial_coefficients=polynomial)


class DifficultyPolynomialStepper(GeneralPolynomialStepper):
    """:class:`GeneralPolynomialStepper` with ``gamma_j`` and polynomial difficulties (``c_p dt``)."""

    def __init__(
        self,
        num_spatial_dims: int = 1,
        num_points: int = 48,
        *,
        linear_difficulties: Sequence[float] = (10.0 * 0.001, 0.0, 1.0 * 0.001 / 10.0**2 * 48**2 * 2),
        polynomial_difficulties: Sequence[float] = (0.0, 0.0, -10.0 * 0.001),
        etdrk: ETDRKOptions = ETDRKOptions(),
    ):
        gammas = coefs.as_coefficients("linear_difficulties", linear_difficulties)
        polynomial = coefs.as_coefficients("polynomial_difficulties", polynomial_difficulties)
        alphas = coefs.difficulties_to_normalized(
            gammas, num_spatial_dims=num_spatial_dims, num_points=num_points
        )
        unit = (num_spatial_dims, 1.0, num_points, 1.0)
        super().__init__(*unit, linear_coefficients=alphas, polynomial_coefficients=polynomial, etdrk=etdrk)
        self._record(linear_difficulties=gammas, polynomial_difficulties=polynomial)
