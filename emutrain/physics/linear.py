"""Linear steppers, integrated exactly in Fourier space (ETDRK0: ``u_hat <- exp(L dt) u_hat``).

Every equation is ``u_t = L u`` on ``[0, L)^D`` with one channel; derivatives along axis ``d`` act as
``(i k_d)^j``. The general form is

    u_t = a_0 u + sum_{j >= 1} a_j sum_d d^j u / dx_d^j.

Normalized and difficulty interfaces (domain_extent = 1, dt = 1; the rules of
:mod:`emutrain.physics.coefficients`): :func:`NormalizedLinearStepper`, :func:`DifficultyLinearStepper` and
:func:`DifficultyLinearStepperSimple` build a :class:`GeneralLinearStepper`. For advection ``gamma_1`` is the
CFL number: the state moves ``-gamma_1`` cells per step (``gamma_1 < 0`` moves right).

Fourth order in ``D > 1``: :class:`GeneralLinearStepper` and the normalized/difficulty constructors use
``sum_d d^4/dx_d^4``; :class:`HyperDiffusion` uses ``laplace^2`` (with mixed derivatives) by default.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.typing import ArrayLike

from emutrain.physics import spectral
from emutrain.physics.coefficients import as_coefficients, as_scalar, difficulties_to_normalized
from emutrain.physics.etdrk import ETDRKOptions
from emutrain.physics.stepper import (
    Coefficient,
    SpectralStepper,
    as_bool,
    real_scalar,
    validate_state,
)
from emutrain.validation import check_floating, check_int, check_real

__all__ = [
    "Advection",
    "AdvectionDiffusion",
    "DifficultyLinearStepper",
    "DifficultyLinearStepperSimple",
    "Diffusion",
    "Dispersion",
    "GeneralLinearStepper",
    "HyperDiffusion",
    "NormalizedLinearStepper",
    "Poisson",
]


def _per_axis(name: str, value: float | Sequence[float], stepper: SpectralStepper) -> tuple[float, ...]:
    """A scalar broadcast to every axis, or one value per axis."""
    num_spatial_dims = stepper.num_spatial_dims
    if np.ndim(value) == 0:
        return (check_real(name, as_scalar(value)),) * num_spatial_dims
    values = tuple(check_real(name, as_scalar(v)) for v in value)
    if len(values) != num_spatial_dims:
        raise ValueError(
            f"{name} must be a scalar or have num_spatial_dims={num_spatial_dims} entries, got {value!r}"
        )
    return values


class _LinearStepper(SpectralStepper):
    """One channel, integrated exactly (ETDRK order 0)."""

    default_etdrk = ETDRKOptions(order=0)
    takes_etdrk = False


def general_linear_operator(stepper: SpectralStepper, coefficients: Sequence[float]) -> np.ndarray:
    """``a_0 + sum_{j>=1} a_j sum_d (i k_d)^j``, ``(*spatial_rfft, 1)`` complex128, on ``stepper``'s grid."""
    op = np.zeros_like(stepper._ik(1)[0]) + coefficients[0]
    for j, a in enumerate(coefficients[1:], start=1):
        if a != 0.0:
            op = op + a * sum(stepper._ik(j))
    return op


class GeneralLinearStepper(_LinearStepper):
    """``u_t = a_0 u + sum_{j>=1} a_j sum_d d^j u/dx_d^j`` with ``linear_coefficients = (a_0, a_1, ...)``.

    E.g. ``(0, -c, nu)`` is advection with velocity ``c`` plus diffusion ``nu``. State ``(..., *spatial, 1)``.
    """

    coefficients = dict(
        linear_coefficients=Coefficient((0.0, -0.1, 0.01), as_coefficients),
    )

    def _linear_operator(self) -> np.ndarray:
        return general_linear_operator(self, self.linear_coefficients)


class Advection(_LinearStepper):
    """Advection ``u_t + c . grad u = 0`` with ``velocity`` c (scalar or one per axis, length/time)."""

    coefficients = dict(
        velocity=Coefficient(1.0, _per_axis, uses_grid=True),
    )

    def _linear_operator(self) -> np.ndarray:
        return -sum(c * ik for c, ik in zip(self.velocity, self._ik(1)))


def _diffusivity(
    name: str, value: object, stepper: SpectralStepper
) -> tuple[float, ...] | tuple[tuple[float, ...], ...]:
    """A scalar or per-axis diffusivity (tuple of floats), or a symmetric ``D x D`` matrix (tuple of rows)."""
    if np.ndim(value) < 2:
        return _per_axis(name, value, stepper)
    rows = tuple(
        tuple(check_real(name, as_scalar(v)) for v in row) for row in np.asarray(value, dtype=object)
    )
    num_spatial_dims = stepper.num_spatial_dims
    matrix = np.asarray(rows, dtype=float)
    if matrix.shape != (num_spatial_dims, num_spatial_dims):
        raise ValueError(
            f"diffusivity must be a scalar, num_spatial_dims={num_spatial_dims} values or a "
            f"{num_spatial_dims}x{num_spatial_dims} matrix, got shape {matrix.shape}"
        )
    if not np.allclose(matrix, matrix.T, rtol=1e-12, atol=0.0):
        raise ValueError(f"diffusivity matrix must be symmetric, got {rows!r}")
    return rows


class Diffusion(_LinearStepper):
    """Diffusion ``u_t = div(A grad u) = sum_{i,j} A_ij d^2 u/dx_i dx_j`` (``A``: length^2/time).

    ``diffusivity`` is a scalar nu (``A = nu I``), one value per axis (diagonal ``A``) or a symmetric
    ``D x D`` matrix (anisotropic diffusion; tuple of rows). A mode ``e^{i k.x}`` decays as
    ``exp(-k^T A k t)``. On modes that sit on the Nyquist frequency of axis ``i`` or ``j`` the mixed term
    ``A_ij`` (``i != j``) vanishes, as every odd derivative does there (that mode stands for ``+-k_N`` alike).
    """

    coefficients = dict(
        diffusivity=Coefficient(0.01, _diffusivity, uses_grid=True),
    )

    def _linear_operator(self) -> np.ndarray:
        if not isinstance(self.diffusivity[0], tuple):
            return sum(nu * ik2 for nu, ik2 in zip(self.diffusivity, self._ik(2)))
        ik, ik2 = self._ik(1), self._ik(2)
        op = sum(self.diffusivity[i][i] * ik2[i] for i in range(self.num_spatial_dims))
        for i in range(self.num_spatial_dims):
            for j in range(self.num_spatial_dims):
                if i != j and self.diffusivity[i][j] != 0.0:
                    op = op + self.diffusivity[i][j] * ik[i] * ik[j]
        return op


class AdvectionDiffusion(_LinearStepper):
    """Advection-diffusion ``u_t + c . grad u = nu laplace u`` (velocity c, diffusivity nu; scalars or per
    axis)."""

    coefficients = dict(
        velocity=Coefficient(1.0, _per_axis, uses_grid=True),
        diffusivity=Coefficient(0.01, _per_axis, uses_grid=True),
    )

    def _linear_operator(self) -> np.ndarray:
        adv = -sum(c * ik for c, ik in zip(self.velocity, self._ik(1)))
        return adv + sum(nu * ik2 for nu, ik2 in zip(self.diffusivity, self._ik(2)))


class Dispersion(_LinearStepper):
    """Dispersion ``u_t = sum_d xi_d d^3 u/dx_d^3``, ``dispersivity`` xi (scalar or per axis, length^3/time).

    A mode ``sin(k x)`` travels as ``sin(k x - xi k^3 t)``, i.e. with phase speed ``xi k^2``. With
    ``advect_on_diffusion=True`` the operator is the spatially mixed ``(xi . grad) laplace u``
    (``i (xi . k)(-|k|^2)`` in Fourier space); in 1D both are the same.
    """

    coefficients = dict(
        dispersivity=Coefficient(1.0, _per_axis, uses_grid=True),
        advect_on_diffusion=Coefficient(False, as_bool),
    )

    def _linear_operator(self) -> np.ndarray:
        if self.advect_on_diffusion:
            return sum(xi * ik for xi, ik in zip(self.dispersivity, self._ik(1))) * sum(self._ik(2))
        return sum(xi * ik3 for xi, ik3 in zip(self.dispersivity, self._ik(3)))


class HyperDiffusion(_LinearStepper):
    """Hyper-diffusion ``u_t = -mu laplace^2 u`` with ``hyper_diffusivity`` mu (length^4/time).

    Modes decay as ``exp(-mu |k|^4 t)``. With ``diffuse_on_diffuse=False`` the operator is
    ``-mu sum_d d^4 u/dx_d^4`` instead (no mixed derivatives; decay ``exp(-mu sum_d k_d^4 t)``), the default
    of the Exponax library and of :class:`GeneralLinearStepper`; in 1D both are the same.
    """

    coefficients = dict(
        hyper_diffusivity=Coefficient(0.0001, real_scalar),
        diffuse_on_diffuse=Coefficient(True, as_bool),
    )

    def _linear_operator(self) -> np.ndarray:
        if self.diffuse_on_diffuse:
            return -self.hyper_diffusivity * sum(self._ik(2)) ** 2
        return -self.hyper_diffusivity * sum(self._ik(4))


class NormalizedLinearStepper(GeneralLinearStepper):
    """:class:`GeneralLinearStepper` on the unit domain with unit time step: ``u_t = sum_j alpha_j sum_d
    d^j u/dx_d^j``, ``normalized_coefficients = (alpha_0, alpha_1, ...)``."""

    def __init__(
        self,
        num_spatial_dims: int,
        num_points: int,
        *,
        normalized_coefficients: Sequence[float] = (0.0, -0.5, 0.01),
    ):
        alphas = as_coefficients("normalized_coefficients", normalized_coefficients)
        super().__init__(num_spatial_dims, 1.0, num_points, 1.0, linear_coefficients=alphas)
        self._record(normalized_coefficients=alphas)


class DifficultyLinearStepper(GeneralLinearStepper):
    """:class:`GeneralLinearStepper` set by difficulties ``gamma_j = alpha_j N^j 2^(j-1) D`` (``gamma_0 =
    alpha_0``; unit domain, unit time step). ``gamma_1`` is the CFL number of advection: the default
    ``(0, -2)`` moves the state 2 cells to the right per step."""

    def __init__(
        self, num_spatial_dims: int, num_points: int, *, linear_difficulties: Sequence[float] = (0.0, -2.0)
    ):
        gammas = as_coefficients("linear_difficulties", linear_difficulties)
        alphas = difficulties_to_normalized(gammas, num_spatial_dims=num_spatial_dims, num_points=num_points)
        super().__init__(num_spatial_dims, 1.0, num_points, 1.0, linear_coefficients=alphas)
        self._record(linear_difficulties=gammas)


class DifficultyLinearStepperSimple(DifficultyLinearStepper):
    """:class:`DifficultyLinearStepper` with a single ``difficulty`` on the derivative of ``order``.

    ``DifficultyLinearStepperSimple(1, 48, difficulty=-6.5, order=1)`` moves a state 6.5 cells right per step.
    Here ``order`` is the derivative order (the integration is exact, ``etdrk.order`` 0).
    """

    def __init__(self, num_spatial_dims: int, num_points: int, *, difficulty: float = -2.0, order: int = 1):
        order = check_int("order", order, minimum=0)  # the derivative order
        difficulties = (0.0,) * order + (check_real("difficulty", as_scalar(difficulty)),)
        super().__init__(num_spatial_dims, num_points, linear_difficulties=difficulties)


@dataclasses.dataclass(frozen=True)
class Poisson:
    """Spectral Poisson solve with zero mean: returns ``u`` with ``-sum_d d^order u/dx_d^order = f``.

    ``order = 2`` solves ``-laplace u = f``; a mode ``e^{i k.x}`` of ``f`` is divided by ``|k|^2`` and the
    mean of ``f`` is dropped (periodic solutions exist only for zero-mean ``f``). For even ``order > 2``
    the operator is ``sum_d d^order/dx_d^order`` (no mixed derivatives), whose symbol
    ``(-1)^(order/2) sum_d k_d^order`` is divided out with the sign of the ``order = 2`` case, as the
    Exponax library does. Called on
    ``f`` of shape ``(..., *spatial, C)``; not a time stepper (no ``dt``). Immutable, hashable by its fields.
    """

    num_spatial_dims: int
    domain_extent: float
    num_points: int
    _: dataclasses.KW_ONLY
    order: int = 2
    num_channels: int = 1

    def __post_init__(self) -> None:
        checked = dict(
            num_spatial_dims=check_int("num_spatial_dims", self.num_spatial_dims, minimum=1, maximum=3),
            domain_extent=check_real("domain_extent", self.domain_extent, positive=True),
            num_points=check_int("num_points", self.num_points, minimum=4),
            order=check_int("order", self.order, minimum=2),
            num_channels=check_int("num_channels", self.num_channels, minimum=1),
        )
        if checked["order"] % 2:
            raise ValueError(f"order must be even, got {self.order}")
        for key, value in checked.items():
            object.__setattr__(self, key, value)
        op = sum(
            spectral.derivative_operator(
                self.num_spatial_dims, self.domain_extent, self.num_points, self.order
            )
        )
        object.__setattr__(self, "_inverse", np.where(op == 0, 0.0, -1.0 / np.where(op == 0, 1.0, op)))

    def __call__(self, f: ArrayLike) -> Array:
        """``(..., *spatial, C) -> (..., *spatial, C)``, same dtype."""
        f = validate_state(f, self.num_spatial_dims, self.num_points, self.num_channels, name="f")
        check_floating("f", f)
        real = jnp.float64 if f.dtype == jnp.float64 else jnp.float32
        f_hat = spectral.rfft_spatial(f.astype(real), self.num_spatial_dims)
        u_hat = f_hat * jnp.asarray(self._inverse, dtype=f_hat.dtype)
        return spectral.irfft_spatial(u_hat, self.num_spatial_dims, self.num_points).astype(f.dtype)
