"""Generic semi-linear steppers: an isotropic linear part plus a polynomial, convection or mixed nonlinearity.

Linear part (``linear_coefficients = (a_0, a_1, ...)``, as :class:`~emutrain.physics.GeneralLinearStepper`):
``a_0 u + sum_{j>=1} a_j sum_d d^j u/dx_d^j``. Three families, each with a physical interface, a normalized
one (unit domain, unit time step) and a difficulty one, with the parameters and sign conventions of the
Exponax library so that APEBench scenarios map onto them one to one:

- :class:`GeneralNonlinearStepper`, single channel, all terms on the right-hand side:
  ``u_t = lin(u) + b_0 u^2 + b_1/2 sum_d d(u^2)/dx_d + b_2/2 (|grad u|^2 - mean)``.
- :class:`GeneralConvectionStepper`, convection on the left-hand side with ``convection_scale`` b:
  ``u_t + b/2 div(u (x) u) = lin(u)`` (``conservative=True``) or ``u_t + b (u . grad) u = lin(u)``;
  ``num_spatial_dims`` channels, or one with ``single_channel=True``. The two forms agree in 1D; in
  ``D > 1``, ``div(u (x) u) = (u . grad) u + u div u``, so for divergence-free ``u`` the conservative
  term is half the advective one at equal b (the Exponax convention).
- :class:`GeneralPolynomialStepper`: ``u_t = lin(u) + sum_p c_p u^p``.

Normalization (``L`` domain extent, ``dt`` time step): ``alpha_j = a_j dt / L^j``, ``beta_0 = b_0 dt``,
``beta_1 = b_1 dt / L``, ``beta_2 = b_2 dt / L^2``, polynomial ``c_p dt``. Difficulties: ``gamma_j`` as in
:mod:`emutrain.physics.linear` (``gamma_0 = alpha_0``), ``delta_0 = beta_0``, ``delta_1 = beta_1 M N D``,
``delta_2 = beta_2 M N^2 D`` with ``M = maximum_absolute`` (the expected ``max |u|``), the convection
difficulty like ``delta_1``, polynomial difficulties equal to the normalized coefficients.

Nonlinear terms are formed from the dealiased state (``dealiasing_fraction``; emutrain keeps modes
``|m| <= int(fraction * N // 2)``, one more per axis than Exponax does for the same fraction).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from jax import Array

from emutrain.physics.linear import _coefficients, difficulties_to_normalized, general_linear_operator
from emutrain.physics.stepper import SpectralStepper
from emutrain.validation import check_real

__all__ = [
    "GeneralNonlinearStepper",
    "NormalizedNonlinearStepper",
    "DifficultyNonlinearStepper",
    "GeneralConvectionStepper",
    "NormalizedConvectionStepper",
    "DifficultyConvectionStepper",
    "GeneralPolynomialStepper",
    "NormalizedPolynomialStepper",
    "DifficultyPolynomialStepper",
    "normalize_nonlinear_coefficients",
    "denormalize_nonlinear_coefficients",
    "nonlinear_difficulties_to_normalized",
    "normalized_to_nonlinear_difficulties",
]


def _triple(name: str, value: Sequence[float]) -> tuple[float, float, float]:
    values = _coefficients(name, value)
    if len(values) != 3:
        raise ValueError(
            f"{name} must have exactly 3 entries (quadratic, convection, gradient norm), got {value!r}"
        )
    return values


def normalize_nonlinear_coefficients(
    nonlinear_coefficients: Sequence[float], *, domain_extent: float, dt: float
) -> tuple[float, ...]:
    """``(b_0, b_1, b_2) -> (b_0 dt, b_1 dt / L, b_2 dt / L^2)``."""
    return tuple(b * dt / domain_extent**j for j, b in enumerate(nonlinear_coefficients))


def denormalize_nonlinear_coefficients(
    normalized_nonlinear_coefficients: Sequence[float], *, domain_extent: float, dt: float
) -> tuple[float, ...]:
    """Inverse of :func:`normalize_nonlinear_coefficients`."""
    return tuple(b * domain_extent**j / dt for j, b in enumerate(normalized_nonlinear_coefficients))


def normalized_to_nonlinear_difficulties(
    normalized_nonlinear_coefficients: Sequence[float],
    *,
    num_spatial_dims: int,
    num_points: int,
    maximum_absolute: float = 1.0,
) -> tuple[float, ...]:
    """``delta_0 = beta_0``, ``delta_j = beta_j M N^j D`` for ``j = 1, 2``."""
    return tuple(
        b if j == 0 else b * maximum_absolute * num_points**j * num_spatial_dims
        for j, b in enumerate(normalized_nonlinear_coefficients)
    )


def nonlinear_difficulties_to_normalized(
    nonlinear_difficulties: Sequence[float],
    *,
    num_spatial_dims: int,
    num_points: int,
    maximum_absolute: float = 1.0,
) -> tuple[float, ...]:
    """Inverse of :func:`normalized_to_nonlinear_difficulties`."""
    return tuple(
        d if j == 0 else d / (maximum_absolute * num_points**j * num_spatial_dims)
        for j, d in enumerate(nonlinear_difficulties)
    )


class _Generic(SpectralStepper):
    """Constructor plumbing shared by the generic steppers; subclasses expose ``_linear_coefs``."""

    def __init__(
        self,
        num_spatial_dims,
        domain_extent,
        num_points,
        dt,
        *,
        num_channels=1,
        order,
        dealiasing_fraction,
        num_circle_points,
        circle_radius,
        **physics,
    ):
        super().__init__(
            num_spatial_dims,
            domain_extent,
            num_points,
            dt,
            num_channels=num_channels,
            order=order,
            dealiasing_fraction=dealiasing_fraction,
            num_circle_points=num_circle_points,
            circle_radius=circle_radius,
            physics=physics,
        )

    def _linear_operator(self) -> np.ndarray:
        return general_linear_operator(self, self._linear_coefs)

    def _extra_arrays(self) -> dict[str, np.ndarray]:
        arrays = {f"ik{d}": op for d, op in enumerate(self._ik(1))}
        no_mean = np.ones_like(arrays["ik0"])
        no_mean[(0,) * (self.num_spatial_dims + 1)] = 0.0
        arrays["no_mean"] = no_mean
        return arrays


# -- quadratic + single-channel convection + gradient norm ------------------------------------------------
class _NonlinearCombination(_Generic):
    def _nonlinear(self, u_hat: Array, arrays: dict[str, Array]) -> Array:
        b0, b1, b2 = self._nonlinear_coefs
        u_hat = arrays["dealias"] * u_hat
        out = 0.0
        if b0 != 0.0 or b1 != 0.0:
            u = self._to_physical(u_hat)
            u_sq_hat = self._to_fourier(u * u)
            # Fourier coefficients of u^2 serve both the quadratic and the conservative convection term.
            out = (
                out + (b0 + 0.5 * b1 * sum(arrays[f"ik{d}"] for d in range(self.num_spatial_dims))) * u_sq_hat
            )
        if b2 != 0.0:
            grad_sq = sum(
                self._to_physical(arrays[f"ik{d}"] * u_hat) ** 2 for d in range(self.num_spatial_dims)
            )
            # The mean of |grad u|^2 would only drive the (inert) mean of u linearly in time; it is removed.
            out = out + 0.5 * b2 * arrays["no_mean"] * self._to_fourier(grad_sq)
        return out


class GeneralNonlinearStepper(_NonlinearCombination):
    """``u_t = sum_j a_j sum_d d^j u/dx_d^j + b_0 u^2 + b_1/2 sum_d d(u^2)/dx_d + b_2/2 |grad u|^2``.

    ``linear_coefficients = (a_0, a_1, ...)``, ``nonlinear_coefficients = (b_0, b_1, b_2)``, every term on
    the right-hand side, so Burgers' convection has ``b_1 < 0``: the defaults ``(0, 0, 0.01)`` and
    ``(0, -1, 0)`` are single-channel Burgers with diffusivity 0.01 (``Burgers(..., single_channel=True)``).
    ``(0, 0, -1, 0, -1)`` with ``(0, 0, -1)`` is the Kuramoto-Sivashinsky equation (combustion form; in 1D
    :class:`~emutrain.physics.KuramotoSivashinsky`). The mean of ``|grad u|^2`` is removed.
    ``order`` is the ETDRK order (0..4), ``dealiasing_fraction`` the low-pass fraction applied before the
    products (2/3 by default), ``num_circle_points`` / ``circle_radius`` the contour of the ETDRK
    coefficients. State ``(..., *spatial, 1)``.
    """

    def __init__(
        self,
        num_spatial_dims: int,
        domain_extent: float,
        num_points: int,
        dt: float,
        *,
        linear_coefficients: Sequence[float] = (0.0, 0.0, 0.01),
        nonlinear_coefficients: Sequence[float] = (0.0, -1.0, 0.0),
        order: int = 2,
        dealiasing_fraction: float = 2 / 3,
        num_circle_points: int = 16,
        circle_radius: float = 1.0,
    ):
        super().__init__(
            num_spatial_dims,
            domain_extent,
            num_points,
            dt,
            order=order,
            dealiasing_fraction=dealiasing_fraction,
            num_circle_points=num_circle_points,
            circle_radius=circle_radius,
            linear_coefficients=_coefficients("linear_coefficients", linear_coefficients),
            nonlinear_coefficients=_triple("nonlinear_coefficients", nonlinear_coefficients),
        )

    @property
    def _linear_coefs(self) -> tuple[float, ...]:
        return self.linear_coefficients

    @property
    def _nonlinear_coefs(self) -> tuple[float, ...]:
        return self.nonlinear_coefficients


class NormalizedNonlinearStepper(_NonlinearCombination):
    """:class:`GeneralNonlinearStepper` on the unit domain with unit time step.

    ``normalized_linear_coefficients = (alpha_0, alpha_1, ...)``, ``normalized_nonlinear_coefficients =
    (beta_0, beta_1, beta_2)`` (see the module docstring for the mapping from physical coefficients).
    ``order`` is the ETDRK order (0..4), ``dealiasing_fraction`` the low-pass fraction applied before the
    products (2/3 by default), ``num_circle_points`` / ``circle_radius`` the contour of the ETDRK
    coefficients. State ``(..., *spatial, 1)``.
    """

    def __init__(
        self,
        num_spatial_dims: int,
        num_points: int,
        *,
        normalized_linear_coefficients: Sequence[float] = (0.0, 0.0, 0.1 * 0.1),
        normalized_nonlinear_coefficients: Sequence[float] = (0.0, -0.1, 0.0),
        order: int = 2,
        dealiasing_fraction: float = 2 / 3,
        num_circle_points: int = 16,
        circle_radius: float = 1.0,
    ):
        super().__init__(
            num_spatial_dims,
            1.0,
            num_points,
            1.0,
            order=order,
            dealiasing_fraction=dealiasing_fraction,
            num_circle_points=num_circle_points,
            circle_radius=circle_radius,
            normalized_linear_coefficients=_coefficients(
                "normalized_linear_coefficients", normalized_linear_coefficients
            ),
            normalized_nonlinear_coefficients=_triple(
                "normalized_nonlinear_coefficients", normalized_nonlinear_coefficients
            ),
        )

    @property
    def _linear_coefs(self) -> tuple[float, ...]:
        return self.normalized_linear_coefficients

    @property
    def _nonlinear_coefs(self) -> tuple[float, ...]:
        return self.normalized_nonlinear_coefficients


class DifficultyNonlinearStepper(_NonlinearCombination):
    """:class:`GeneralNonlinearStepper` set by difficulties (unit domain, unit time step).

    ``linear_difficulties = (gamma_0, gamma_1, ...)``, ``nonlinear_difficulties = (delta_0, delta_1,
    delta_2)`` with ``maximum_absolute`` M (see the module docstring). The defaults are single-channel
    Burgers at ``N = 48``: ``gamma_2 = 0.01 * 48^2 * 2``, ``delta_1 = -0.1 * 48``.
    ``order`` is the ETDRK order (0..4), ``dealiasing_fraction`` the low-pass fraction applied before the
    products (2/3 by default), ``num_circle_points`` / ``circle_radius`` the contour of the ETDRK
    coefficients. State ``(..., *spatial, 1)``.
    """

    def __init__(
        self,
        num_spatial_dims: int = 1,
        num_points: int = 48,
        *,
        linear_difficulties: Sequence[float] = (0.0, 0.0, 0.1 * 0.1 * 48**2 * 2),
        nonlinear_difficulties: Sequence[float] = (0.0, -0.1 * 48, 0.0),
        maximum_absolute: float = 1.0,
        order: int = 2,
        dealiasing_fraction: float = 2 / 3,
        num_circle_points: int = 16,
        circle_radius: float = 1.0,
    ):
        super().__init__(
            num_spatial_dims,
            1.0,
            num_points,
            1.0,
            order=order,
            dealiasing_fraction=dealiasing_fraction,
            num_circle_points=num_circle_points,
            circle_radius=circle_radius,
            linear_difficulties=_coefficients("linear_difficulties", linear_difficulties),
            nonlinear_difficulties=_triple("nonlinear_difficulties", nonlinear_difficulties),
            maximum_absolute=check_real("maximum_absolute", maximum_absolute, positive=True),
        )

    @property
    def normalized_linear_coefficients(self) -> tuple[float, ...]:
        return difficulties_to_normalized(
            self.linear_difficulties, num_spatial_dims=self.num_spatial_dims, num_points=self.num_points
        )

    @property
    def normalized_nonlinear_coefficients(self) -> tuple[float, ...]:
        return nonlinear_difficulties_to_normalized(
            self.nonlinear_difficulties,
            num_spatial_dims=self.num_spatial_dims,
            num_points=self.num_points,
            maximum_absolute=self.maximum_absolute,
        )

    @property
    def _linear_coefs(self) -> tuple[float, ...]:
        return self.normalized_linear_coefficients

    @property
    def _nonlinear_coefs(self) -> tuple[float, ...]:
        return self.normalized_nonlinear_coefficients


# -- convection -----------------------------------------------------------------------------------------
class _ConvectionFamily(_Generic):
    def __init__(
        self, num_spatial_dims, domain_extent, num_points, dt, *, single_channel, conservative, **kwargs
    ):
        super().__init__(
            num_spatial_dims,
            domain_extent,
            num_points,
            dt,
            num_channels=1 if single_channel else num_spatial_dims,
            single_channel=bool(single_channel),
            conservative=bool(conservative),
            **kwargs,
        )

    def _nonlinear(self, u_hat: Array, arrays: dict[str, Array]) -> Array:
        ik = [arrays[f"ik{d}"] for d in range(self.num_spatial_dims)]
        u_hat = arrays["dealias"] * u_hat
        u = self._to_physical(u_hat)
        b = self._convection_coef
        if self.single_channel and self.conservative:
            return -0.5 * b * sum(ik) * self._to_fourier(u * u)
        if self.single_channel:
            return -b * self._to_fourier(u * sum(self._to_physical(k * u_hat) for k in ik))
        if self.conservative:
            # channel c: -b/2 sum_d d(u_d u_c)/dx_d
            return (
                -0.5
                * b
                * sum(ik[d] * self._to_fourier(u * u[..., d : d + 1]) for d in range(self.num_spatial_dims))
            )
        # channel c: -b sum_d u_d du_c/dx_d
        return -b * self._to_fourier(
            sum(u[..., d : d + 1] * self._to_physical(ik[d] * u_hat) for d in range(self.num_spatial_dims))
        )


class GeneralConvectionStepper(_ConvectionFamily):
    """``u_t + b/2 div(u (x) u) = sum_j a_j sum_d d^j u/dx_d^j`` (``conservative=True``), or with the
    advective form ``b (u . grad) u`` (``conservative=False``, the default, as in Exponax).

    ``linear_coefficients = (a_0, a_1, ...)``, ``convection_scale`` b. The conservative form with
    ``(0, 0, nu)`` is :class:`~emutrain.physics.Burgers` with diffusivity nu and convection scale b.
    State ``(..., *spatial, D)`` (a velocity vector), or ``(..., *spatial, 1)`` with ``single_channel=True``
    (flux ``b/2 sum_d d(u^2)/dx_d``, or ``b u sum_d du/dx_d`` non-conservatively). ``order`` is the ETDRK
    order, ``dealiasing_fraction`` the low-pass fraction before the products (2/3 by default).
    """

    def __init__(
        self,
        num_spatial_dims: int,
        domain_extent: float,
        num_points: int,
        dt: float,
        *,
        linear_coefficients: Sequence[float] = (0.0, 0.0, 0.01),
        convection_scale: float = 1.0,
        single_channel: bool = False,
        conservative: bool = False,
        order: int = 2,
        dealiasing_fraction: float = 2 / 3,
        num_circle_points: int = 16,
        circle_radius: float = 1.0,
    ):
        super().__init__(
            num_spatial_dims,
            domain_extent,
            num_points,
            dt,
            single_channel=single_channel,
            conservative=conservative,
            order=order,
            dealiasing_fraction=dealiasing_fraction,
            num_circle_points=num_circle_points,
            circle_radius=circle_radius,
            linear_coefficients=_coefficients("linear_coefficients", linear_coefficients),
            convection_scale=check_real("convection_scale", convection_scale),
        )

    @property
    def _linear_coefs(self) -> tuple[float, ...]:
        return self.linear_coefficients

    @property
    def _convection_coef(self) -> float:
        return self.convection_scale


class NormalizedConvectionStepper(_ConvectionFamily):
    """:class:`GeneralConvectionStepper` on the unit domain with unit time step:
    ``normalized_linear_coefficients`` alpha_j and ``normalized_convection_scale`` ``beta_1 = b dt / L``.
    State ``(..., *spatial, D)`` (a velocity vector), or ``(..., *spatial, 1)`` with ``single_channel=True``
    (flux ``b/2 sum_d d(u^2)/dx_d``, or ``b u sum_d du/dx_d`` non-conservatively). ``order`` is the ETDRK
    order, ``dealiasing_fraction`` the low-pass fraction before the products (2/3 by default).
    """

    def __init__(
        self,
        num_spatial_dims: int,
        num_points: int,
        *,
        normalized_linear_coefficients: Sequence[float] = (0.0, 0.0, 0.01 * 0.1),
        normalized_convection_scale: float = 0.1,
        single_channel: bool = False,
        conservative: bool = False,
        order: int = 2,
        dealiasing_fraction: float = 2 / 3,
        num_circle_points: int = 16,
        circle_radius: float = 1.0,
    ):
        super().__init__(
            num_spatial_dims,
            1.0,
            num_points,
            1.0,
            single_channel=single_channel,
            conservative=conservative,
            order=order,
            dealiasing_fraction=dealiasing_fraction,
            num_circle_points=num_circle_points,
            circle_radius=circle_radius,
            normalized_linear_coefficients=_coefficients(
                "normalized_linear_coefficients", normalized_linear_coefficients
            ),
            normalized_convection_scale=check_real(
                "normalized_convection_scale", normalized_convection_scale
            ),
        )

    @property
    def _linear_coefs(self) -> tuple[float, ...]:
        return self.normalized_linear_coefficients

    @property
    def _convection_coef(self) -> float:
        return self.normalized_convection_scale


class DifficultyConvectionStepper(_ConvectionFamily):
    """:class:`GeneralConvectionStepper` set by ``linear_difficulties`` gamma_j and
    ``convection_difficulty`` ``delta_1 = beta_1 M N D`` (``M = maximum_absolute``; unit domain, unit time
    step).
    State ``(..., *spatial, D)`` (a velocity vector), or ``(..., *spatial, 1)`` with ``single_channel=True``
    (flux ``b/2 sum_d d(u^2)/dx_d``, or ``b u sum_d du/dx_d`` non-conservatively). ``order`` is the ETDRK
    order, ``dealiasing_fraction`` the low-pass fraction before the products (2/3 by default).
    """

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
        order: int = 2,
        dealiasing_fraction: float = 2 / 3,
        num_circle_points: int = 16,
        circle_radius: float = 1.0,
    ):
        super().__init__(
            num_spatial_dims,
            1.0,
            num_points,
            1.0,
            single_channel=single_channel,
            conservative=conservative,
            order=order,
            dealiasing_fraction=dealiasing_fraction,
            num_circle_points=num_circle_points,
            circle_radius=circle_radius,
            linear_difficulties=_coefficients("linear_difficulties", linear_difficulties),
            convection_difficulty=check_real("convection_difficulty", convection_difficulty),
            maximum_absolute=check_real("maximum_absolute", maximum_absolute, positive=True),
        )

    @property
    def normalized_linear_coefficients(self) -> tuple[float, ...]:
        return difficulties_to_normalized(
            self.linear_difficulties, num_spatial_dims=self.num_spatial_dims, num_points=self.num_points
        )

    @property
    def normalized_convection_scale(self) -> float:
        return self.convection_difficulty / (self.maximum_absolute * self.num_points * self.num_spatial_dims)

    @property
    def _linear_coefs(self) -> tuple[float, ...]:
        return self.normalized_linear_coefficients

    @property
    def _convection_coef(self) -> float:
        return self.normalized_convection_scale


# -- polynomial -----------------------------------------------------------------------------------------
class _PolynomialFamily(_Generic):
    def _nonlinear(self, u_hat: Array, arrays: dict[str, Array]) -> Array:
        u = self._to_physical(arrays["dealias"] * u_hat)
        coefs = self._polynomial_coefs
        value = coefs[-1] + 0.0 * u
        for c in reversed(coefs[:-1]):  # Horner
            value = value * u + c
        return self._to_fourier(value)


class GeneralPolynomialStepper(_PolynomialFamily):
    """``u_t = sum_j a_j sum_d d^j u/dx_d^j + sum_p c_p u^p``, ``polynomial_coefficients = (c_0, c_1, ...)``.

    The defaults ``(10, 0, 1)`` and ``(0, 0, -10)`` are Fisher-KPP ``u_t = laplace u + 10 u (1 - u)``.
    State ``(..., *spatial, 1)``. ``order`` is the ETDRK order; the polynomial is evaluated on the
    dealiased state (``dealiasing_fraction``, 2/3 by default; a cubic needs 1/2 to be alias free).
    """

    def __init__(
        self,
        num_spatial_dims: int,
        domain_extent: float,
        num_points: int,
        dt: float,
        *,
        linear_coefficients: Sequence[float] = (10.0, 0.0, 1.0),
        polynomial_coefficients: Sequence[float] = (0.0, 0.0, -10.0),
        order: int = 2,
        dealiasing_fraction: float = 2 / 3,
        num_circle_points: int = 16,
        circle_radius: float = 1.0,
    ):
        super().__init__(
            num_spatial_dims,
            domain_extent,
            num_points,
            dt,
            order=order,
            dealiasing_fraction=dealiasing_fraction,
            num_circle_points=num_circle_points,
            circle_radius=circle_radius,
            linear_coefficients=_coefficients("linear_coefficients", linear_coefficients),
            polynomial_coefficients=_coefficients("polynomial_coefficients", polynomial_coefficients),
        )

    @property
    def _linear_coefs(self) -> tuple[float, ...]:
        return self.linear_coefficients

    @property
    def _polynomial_coefs(self) -> tuple[float, ...]:
        return self.polynomial_coefficients


class NormalizedPolynomialStepper(_PolynomialFamily):
    """:class:`GeneralPolynomialStepper` on the unit domain with unit time step (``alpha_j``, ``c_p dt``)."""

    def __init__(
        self,
        num_spatial_dims: int,
        num_points: int,
        *,
        normalized_linear_coefficients: Sequence[float] = (10.0 * 0.001, 0.0, 1.0 * 0.001 / 10.0**2),
        normalized_polynomial_coefficients: Sequence[float] = (0.0, 0.0, -10.0 * 0.001),
        order: int = 2,
        dealiasing_fraction: float = 2 / 3,
        num_circle_points: int = 16,
        circle_radius: float = 1.0,
    ):
        super().__init__(
            num_spatial_dims,
            1.0,
            num_points,
            1.0,
            order=order,
            dealiasing_fraction=dealiasing_fraction,
            num_circle_points=num_circle_points,
            circle_radius=circle_radius,
            normalized_linear_coefficients=_coefficients(
                "normalized_linear_coefficients", normalized_linear_coefficients
            ),
            normalized_polynomial_coefficients=_coefficients(
                "normalized_polynomial_coefficients", normalized_polynomial_coefficients
            ),
        )

    @property
    def _linear_coefs(self) -> tuple[float, ...]:
        return self.normalized_linear_coefficients

    @property
    def _polynomial_coefs(self) -> tuple[float, ...]:
        return self.normalized_polynomial_coefficients


class DifficultyPolynomialStepper(_PolynomialFamily):
    """:class:`GeneralPolynomialStepper` set by ``linear_difficulties`` gamma_j and
    ``polynomial_difficulties`` (equal to the normalized polynomial coefficients ``c_p dt``)."""

    def __init__(
        self,
        num_spatial_dims: int = 1,
        num_points: int = 48,
        *,
        linear_difficulties: Sequence[float] = (10.0 * 0.001, 0.0, 1.0 * 0.001 / 10.0**2 * 48**2 * 2),
        polynomial_difficulties: Sequence[float] = (0.0, 0.0, -10.0 * 0.001),
        order: int = 2,
        dealiasing_fraction: float = 2 / 3,
        num_circle_points: int = 16,
        circle_radius: float = 1.0,
    ):
        super().__init__(
            num_spatial_dims,
            1.0,
            num_points,
            1.0,
            order=order,
            dealiasing_fraction=dealiasing_fraction,
            num_circle_points=num_circle_points,
            circle_radius=circle_radius,
            linear_difficulties=_coefficients("linear_difficulties", linear_difficulties),
            polynomial_difficulties=_coefficients("polynomial_difficulties", polynomial_difficulties),
        )

    @property
    def normalized_linear_coefficients(self) -> tuple[float, ...]:
        return difficulties_to_normalized(
            self.linear_difficulties, num_spatial_dims=self.num_spatial_dims, num_points=self.num_points
        )

    @property
    def _linear_coefs(self) -> tuple[float, ...]:
        return self.normalized_linear_coefficients

    @property
    def _polynomial_coefs(self) -> tuple[float, ...]:
        return self.polynomial_difficulties
