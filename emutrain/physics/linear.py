"""Linear steppers, integrated exactly in Fourier space (ETDRK0: ``u_hat <- exp(L dt) u_hat``).

Every equation is ``u_t = L u`` on ``[0, L)^D`` with one channel; derivatives along axis ``d`` act as
``(i k_d)^j``. The general form is

    u_t = a_0 u + sum_{j >= 1} a_j sum_d d^j u / dx_d^j.

Normalized and difficulty interfaces (domain_extent = 1, dt = 1): ``alpha_j = a_j dt / L^j`` and
``gamma_j = alpha_j N^j 2^(j-1) D``. For advection ``gamma_1`` is the CFL number: the state moves
``-gamma_1`` cells per step (``gamma_1 < 0`` moves right).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from emutrain.physics.stepper import SpectralStepper

__all__ = [
    "GeneralLinearStepper",
    "Advection",
    "Diffusion",
    "AdvectionDiffusion",
    "Dispersion",
    "HyperDiffusion",
    "NormalizedLinearStepper",
    "DifficultyLinearStepper",
    "DifficultyLinearStepperSimple",
    "normalize_coefficients",
    "denormalize_coefficients",
    "difficulties_to_normalized",
    "normalized_to_difficulties",
]


def _per_axis(name: str, value: float | Sequence[float], num_spatial_dims: int) -> tuple[float, ...]:
    """A scalar broadcast to every axis, or one value per axis."""
    if np.ndim(value) == 0:
        return (float(value),) * num_spatial_dims
    values = tuple(float(v) for v in value)
    if len(values) != num_spatial_dims:
        raise ValueError(f"{name} must be a scalar or have num_spatial_dims={num_spatial_dims} entries, got {value!r}")
    return values


def _coefficients(name: str, value: Sequence[float]) -> tuple[float, ...]:
    values = tuple(float(v) for v in np.atleast_1d(value))
    if not values:
        raise ValueError(f"{name} must have at least one entry, got {value!r}")
    return values


class _LinearStepper(SpectralStepper):
    def __init__(self, num_spatial_dims, domain_extent, num_points, dt, **physics):
        super().__init__(num_spatial_dims, domain_extent, num_points, dt, num_channels=1, order=0, physics=physics)

    def _general(self, coefficients: Sequence[float]) -> np.ndarray:
        """``a_0 + sum_{j>=1} a_j sum_d (i k_d)^j`` on ``(*spatial_rfft, 1)``."""
        op = np.zeros_like(self._ik(1)[0]) + coefficients[0]
        for j, a in enumerate(coefficients[1:], start=1):
            if a != 0.0:
                op = op + a * sum(self._ik(j))
        return op


class GeneralLinearStepper(_LinearStepper):
    """``u_t = a_0 u + sum_{j>=1} a_j sum_d d^j u/dx_d^j`` with ``linear_coefficients = (a_0, a_1, ...)``.

    E.g. ``(0, -c, nu)`` is advection with velocity ``c`` plus diffusion ``nu``. State ``(..., *spatial, 1)``.
    """

    def __init__(self, num_spatial_dims: int, domain_extent: float, num_points: int, dt: float, *, linear_coefficients: Sequence[float] = (0.0, -0.1, 0.01)):
        super().__init__(num_spatial_dims, domain_extent, num_points, dt, linear_coefficients=_coefficients("linear_coefficients", linear_coefficients))

    def _linear_operator(self) -> np.ndarray:
        return self._general(self.linear_coefficients)


class Advection(_LinearStepper):
    """Advection ``u_t + c . grad u = 0`` with ``velocity`` c (scalar or one per axis, length/time)."""

    def __init__(self, num_spatial_dims: int, domain_extent: float, num_points: int, dt: float, *, velocity: float | Sequence[float] = 1.0):
        super().__init__(num_spatial_dims, domain_extent, num_points, dt, velocity=_per_axis("velocity", velocity, num_spatial_dims))

    def _linear_operator(self) -> np.ndarray:
        return -sum(c * ik for c, ik in zip(self.velocity, self._ik(1)))


class Diffusion(_LinearStepper):
    """Diffusion ``u_t = sum_d nu_d d^2 u/dx_d^2`` with ``diffusivity`` nu (scalar or per axis, length^2/time)."""

    def __init__(self, num_spatial_dims: int, domain_extent: float, num_points: int, dt: float, *, diffusivity: float | Sequence[float] = 0.01):
        super().__init__(num_spatial_dims, domain_extent, num_points, dt, diffusivity=_per_axis("diffusivity", diffusivity, num_spatial_dims))

    def _linear_operator(self) -> np.ndarray:
        return sum(nu * ik2 for nu, ik2 in zip(self.diffusivity, self._ik(2)))


class AdvectionDiffusion(_LinearStepper):
    """Advection-diffusion ``u_t + c . grad u = nu laplace u`` (velocity c, diffusivity nu, scalar or per axis)."""

    def __init__(
        self,
        num_spatial_dims: int,
        domain_extent: float,
        num_points: int,
        dt: float,
        *,
        velocity: float | Sequence[float] = 1.0,
        diffusivity: float | Sequence[float] = 0.01,
    ):
        super().__init__(
            num_spatial_dims,
            domain_extent,
            num_points,
            dt,
            velocity=_per_axis("velocity", velocity, num_spatial_dims),
            diffusivity=_per_axis("diffusivity", diffusivity, num_spatial_dims),
        )

    def _linear_operator(self) -> np.ndarray:
        adv = -sum(c * ik for c, ik in zip(self.velocity, self._ik(1)))
        return adv + sum(nu * ik2 for nu, ik2 in zip(self.diffusivity, self._ik(2)))


class Dispersion(_LinearStepper):
    """Dispersion ``u_t = xi sum_d d^3 u/dx_d^3`` with ``dispersivity`` xi (length^3/time).

    A mode ``sin(k x)`` travels as ``sin(k x - xi k^3 t)``, i.e. with phase speed ``xi k^2``.
    """

    def __init__(self, num_spatial_dims: int, domain_extent: float, num_points: int, dt: float, *, dispersivity: float = 1.0):
        super().__init__(num_spatial_dims, domain_extent, num_points, dt, dispersivity=float(dispersivity))

    def _linear_operator(self) -> np.ndarray:
        return self.dispersivity * sum(self._ik(3))


class HyperDiffusion(_LinearStepper):
    """Hyper-diffusion ``u_t = -mu laplace^2 u`` with ``hyper_diffusivity`` mu (length^4/time): modes decay as ``exp(-mu |k|^4 t)``."""

    def __init__(self, num_spatial_dims: int, domain_extent: float, num_points: int, dt: float, *, hyper_diffusivity: float = 0.0001):
        super().__init__(num_spatial_dims, domain_extent, num_points, dt, hyper_diffusivity=float(hyper_diffusivity))

    def _linear_operator(self) -> np.ndarray:
        return -self.hyper_diffusivity * sum(self._ik(2)) ** 2


def normalize_coefficients(coefficients: Sequence[float], *, domain_extent: float, dt: float) -> tuple[float, ...]:
    """``alpha_j = a_j dt / L^j``."""
    return tuple(a * dt / domain_extent**j for j, a in enumerate(coefficients))


def denormalize_coefficients(normalized_coefficients: Sequence[float], *, domain_extent: float, dt: float) -> tuple[float, ...]:
    """``a_j = alpha_j L^j / dt`` (inverse of :func:`normalize_coefficients`)."""
    return tuple(a * domain_extent**j / dt for j, a in enumerate(normalized_coefficients))


def normalized_to_difficulties(normalized_coefficients: Sequence[float], *, num_spatial_dims: int, num_points: int) -> tuple[float, ...]:
    """``gamma_j = alpha_j N^j 2^(j-1) D``."""
    return tuple(a * num_points**j * 2.0 ** (j - 1) * num_spatial_dims for j, a in enumerate(normalized_coefficients))


def difficulties_to_normalized(linear_difficulties: Sequence[float], *, num_spatial_dims: int, num_points: int) -> tuple[float, ...]:
    """``alpha_j = gamma_j / (N^j 2^(j-1) D)`` (inverse of :func:`normalized_to_difficulties`)."""
    return tuple(g / (num_points**j * 2.0 ** (j - 1) * num_spatial_dims) for j, g in enumerate(linear_difficulties))


class NormalizedLinearStepper(_LinearStepper):
    """General linear stepper on the unit domain with unit time step: ``u_t = sum_j alpha_j sum_d d^j u/dx_d^j``.

    ``normalized_coefficients = (alpha_0, alpha_1, ...)``, ``alpha_j = a_j dt / L^j``.
    """

    def __init__(self, num_spatial_dims: int, num_points: int, *, normalized_coefficients: Sequence[float] = (0.0, -0.5, 0.01)):
        super().__init__(num_spatial_dims, 1.0, num_points, 1.0, normalized_coefficients=_coefficients("normalized_coefficients", normalized_coefficients))

    def _linear_operator(self) -> np.ndarray:
        return self._general(self.normalized_coefficients)


class DifficultyLinearStepper(_LinearStepper):
    """Linear stepper set by difficulties ``gamma_j = alpha_j N^j 2^(j-1) D`` (unit domain, unit time step).

    ``linear_difficulties = (gamma_0, gamma_1, ...)``; ``gamma_1`` is the CFL number of advection, the
    default ``(0, -2)`` moves the state 2 cells to the right per step.
    """

    def __init__(self, num_spatial_dims: int, num_points: int, *, linear_difficulties: Sequence[float] = (0.0, -2.0)):
        super().__init__(num_spatial_dims, 1.0, num_points, 1.0, linear_difficulties=_coefficients("linear_difficulties", linear_difficulties))

    @property
    def normalized_coefficients(self) -> tuple[float, ...]:
        return difficulties_to_normalized(self.linear_difficulties, num_spatial_dims=self.num_spatial_dims, num_points=self.num_points)

    def _linear_operator(self) -> np.ndarray:
        return self._general(self.normalized_coefficients)


class DifficultyLinearStepperSimple(DifficultyLinearStepper):
    """:class:`DifficultyLinearStepper` with a single difficulty ``difficulty`` on derivative ``order``.

    ``DifficultyLinearStepperSimple(1, 48, difficulty=-6.5, order=1)`` moves a state 6.5 cells right per step.
    Here ``order`` is the derivative order; the ``order`` attribute of every linear stepper is the ETDRK
    order, 0 (exact integration).
    """

    def __init__(self, num_spatial_dims: int, num_points: int, *, difficulty: float = -2.0, order: int = 1):
        if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 0:
            raise ValueError(f"order must be an int >= 0 (the derivative order), got {order!r}")
        difficulties = (0.0,) * order + (float(difficulty),)
        super().__init__(num_spatial_dims, num_points, linear_difficulties=difficulties)
