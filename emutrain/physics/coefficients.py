"""Coefficient conversions between the physical, normalized and difficulty interfaces (Exponax's rules).

Linear part ``u_t = a_0 u + sum_{j>=1} a_j sum_d d^j u/dx_d^j`` on ``[0, L)^D`` with ``N`` points per axis
and time step ``dt``:

- normalized (unit domain, unit time step): ``alpha_j = a_j dt / L^j``;
- difficulty: ``gamma_j = alpha_j N^j 2^(j-1) D`` for ``j >= 1`` and ``gamma_0 = alpha_0`` (a rate per step
  does not depend on the grid). For advection ``gamma_1`` is the CFL number: the state moves ``-gamma_1``
  cells per step.

Nonlinear part ``(b_0, b_1, b_2)`` (quadratic, convection, gradient norm; see
:class:`~emutrain.physics.GeneralNonlinearStepper`): ``beta_j = b_j dt / L^j`` like the linear part, and
``delta_0 = beta_0``, ``delta_j = beta_j M N^j D`` for ``j = 1, 2`` with ``M = maximum_absolute`` (the
expected ``max |u|``). A convection scale converts like ``b_1``; polynomial coefficients ``c_p`` become
``c_p dt`` (their difficulty is that normalized value).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from emutrain.validation import check_int, check_real

__all__ = [
    "as_coefficients",
    "as_scalar",
    "normalize_coefficients",
    "denormalize_coefficients",
    "normalized_to_difficulties",
    "difficulties_to_normalized",
    "normalize_nonlinear_coefficients",
    "denormalize_nonlinear_coefficients",
    "normalized_to_nonlinear_difficulties",
    "nonlinear_difficulties_to_normalized",
    "convection_difficulty_to_normalized",
]


def as_scalar(value: object) -> object:
    """NumPy/JAX 0-d arrays as Python scalars (so the checks of `emutrain.validation` apply to them)."""
    return value.item() if hasattr(value, "item") and np.ndim(value) == 0 else value


def as_coefficients(name: str, value: Sequence[float] | float) -> tuple[float, ...]:
    """``value`` as a non-empty tuple of finite floats; TypeError / ValueError naming ``name``."""
    values = tuple(check_real(name, as_scalar(v)) for v in np.atleast_1d(np.asarray(value, dtype=object)))
    if not values:
        raise ValueError(f"{name} must have at least one entry, got {value!r}")
    return values


def _grid(num_spatial_dims: int, num_points: int) -> tuple[int, int]:
    return check_int("num_spatial_dims", num_spatial_dims, minimum=1), check_int(
        "num_points", num_points, minimum=1
    )


def normalize_coefficients(
    coefficients: Sequence[float], *, domain_extent: float, dt: float
) -> tuple[float, ...]:
    """``alpha_j = a_j dt / L^j``."""
    return tuple(a * dt / domain_extent**j for j, a in enumerate(coefficients))


def denormalize_coefficients(
    normalized_coefficients: Sequence[float], *, domain_extent: float, dt: float
) -> tuple[float, ...]:
    """``a_j = alpha_j L^j / dt`` (inverse of :func:`normalize_coefficients`)."""
    return tuple(a * domain_extent**j / dt for j, a in enumerate(normalized_coefficients))


def _difficulty_factor(j: int, num_spatial_dims: int, num_points: int) -> float:
    """``N^j 2^(j-1) D`` for ``j >= 1``; 1 for ``j = 0`` (a rate per unit step is its own difficulty)."""
    return 1.0 if j == 0 else num_points**j * 2.0 ** (j - 1) * num_spatial_dims


def normalized_to_difficulties(
    normalized_coefficients: Sequence[float], *, num_spatial_dims: int, num_points: int
) -> tuple[float, ...]:
    """``gamma_j = alpha_j N^j 2^(j-1) D`` for ``j >= 1``, ``gamma_0 = alpha_0``."""
    d, n = _grid(num_spatial_dims, num_points)
    alphas = as_coefficients("normalized_coefficients", normalized_coefficients)
    return tuple(a * _difficulty_factor(j, d, n) for j, a in enumerate(alphas))


def difficulties_to_normalized(
    linear_difficulties: Sequence[float], *, num_spatial_dims: int, num_points: int
) -> tuple[float, ...]:
    """``alpha_j = gamma_j / (N^j 2^(j-1) D)``, ``alpha_0 = gamma_0`` (inverse of
    :func:`normalized_to_difficulties`)."""
    d, n = _grid(num_spatial_dims, num_points)
    gammas = as_coefficients("linear_difficulties", linear_difficulties)
    return tuple(g / _difficulty_factor(j, d, n) for j, g in enumerate(gammas))


# The nonlinear coefficients normalize with the linear rule: beta_j = b_j dt / L^j.
normalize_nonlinear_coefficients = normalize_coefficients
denormalize_nonlinear_coefficients = denormalize_coefficients


def normalized_to_nonlinear_difficulties(
    normalized_nonlinear_coefficients: Sequence[float],
    *,
    num_spatial_dims: int,
    num_points: int,
    maximum_absolute: float = 1.0,
) -> tuple[float, ...]:
    """``delta_0 = beta_0``, ``delta_j = beta_j M N^j D`` for ``j = 1, 2``."""
    d, n = _grid(num_spatial_dims, num_points)
    m = check_real("maximum_absolute", maximum_absolute, positive=True)
    betas = as_coefficients("normalized_nonlinear_coefficients", normalized_nonlinear_coefficients)
    return tuple(b if j == 0 else b * m * n**j * d for j, b in enumerate(betas))


def nonlinear_difficulties_to_normalized(
    nonlinear_difficulties: Sequence[float],
    *,
    num_spatial_dims: int,
    num_points: int,
    maximum_absolute: float = 1.0,
) -> tuple[float, ...]:
    """``beta_0 = delta_0``, ``beta_j = delta_j / (M N^j D)`` (inverse of
    :func:`normalized_to_nonlinear_difficulties`)."""
    d, n = _grid(num_spatial_dims, num_points)
    m = check_real("maximum_absolute", maximum_absolute, positive=True)
    deltas = as_coefficients("nonlinear_difficulties", nonlinear_difficulties)
    return tuple(x if j == 0 else x / (m * n**j * d) for j, x in enumerate(deltas))


def convection_difficulty_to_normalized(
    convection_difficulty: float, *, num_spatial_dims: int, num_points: int, maximum_absolute: float = 1.0
) -> float:
    """``beta = delta / (M N D)``: a convection difficulty as the normalized convection scale."""
    delta = check_real("convection_difficulty", as_scalar(convection_difficulty))
    return nonlinear_difficulties_to_normalized(
        (0.0, delta),
        num_spatial_dims=num_spatial_dims,
        num_points=num_points,
        maximum_absolute=maximum_absolute,
    )[1]
