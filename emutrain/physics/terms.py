"""Pseudo-spectral nonlinear terms shared by the steppers, one implementation per kind.

Each term maps a spectrum ``u_hat`` ``(..., *spatial_rfft, C)`` to the spectrum of the term, formed in
physical space from the dealiased state (``arrays["dealias"]``) of ``stepper`` (a
:class:`~emutrain.physics.SpectralStepper`, whose ``arrays`` hold the constants of
:func:`derivative_arrays`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from jax import Array

__all__ = ["derivative_arrays", "quadratic_gradient", "convection", "polynomial"]


def derivative_arrays(stepper) -> dict[str, np.ndarray]:
    """``ik{d}`` (first derivative along axis ``d``) and ``no_mean`` (1 but on the mean mode)."""
    arrays = {f"ik{d}": op for d, op in enumerate(stepper._ik(1))}
    no_mean = np.ones_like(arrays["ik0"])
    no_mean[(0,) * (stepper.num_spatial_dims + 1)] = 0.0
    arrays["no_mean"] = no_mean
    return arrays


def quadratic_gradient(
    stepper, u_hat: Array, arrays: dict[str, Array], coefficients: Sequence[float]
) -> Array:
    """``b_0 u^2 + b_1/2 sum_d d(u^2)/dx_d + b_2/2 (|grad u|^2 - mean)``, ``coefficients = (b_0, b_1, b_2)``.

    The mean of ``|grad u|^2`` would only drive the (inert) mean of ``u`` linearly in time; it is removed.
    """
    b0, b1, b2 = coefficients
    u_hat = arrays["dealias"] * u_hat
    out = 0.0
    if b0 != 0.0 or b1 != 0.0:
        u = stepper._to_physical(u_hat)
        u_sq_hat = stepper._to_fourier(u * u)
        # Fourier coefficients of u^2 serve both the quadratic and the conservative convection term.
        out = (
            out + (b0 + 0.5 * b1 * sum(arrays[f"ik{d}"] for d in range(stepper.num_spatial_dims))) * u_sq_hat
        )
    if b2 != 0.0:
        grad_sq = sum(
            stepper._to_physical(arrays[f"ik{d}"] * u_hat) ** 2 for d in range(stepper.num_spatial_dims)
        )
        out = out + 0.5 * b2 * arrays["no_mean"] * stepper._to_fourier(grad_sq)
    return out


def convection(
    stepper, u_hat: Array, arrays: dict[str, Array], scale: float, *, single_channel: bool, conservative: bool
) -> Array:
    """``-b/2 div(u (x) u)`` (``conservative``) or ``-b (u . grad) u`` with ``scale`` b; single channel:
    ``-b/2 sum_d d(u^2)/dx_d`` or ``-b u sum_d du/dx_d``."""
    dims = range(stepper.num_spatial_dims)
    ik = [arrays[f"ik{d}"] for d in dims]
    u_hat = arrays["dealias"] * u_hat
    u = stepper._to_physical(u_hat)
    if single_channel and conservative:
        return -0.5 * scale * sum(ik) * stepper._to_fourier(u * u)
    if single_channel:
        return -scale * stepper._to_fourier(u * sum(stepper._to_physical(k * u_hat) for k in ik))
    if conservative:
        # channel c: -b/2 sum_d d(u_d u_c)/dx_d
        return -0.5 * scale * sum(ik[d] * stepper._to_fourier(u * u[..., d : d + 1]) for d in dims)
    # channel c: -b sum_d u_d du_c/dx_d
    return -scale * stepper._to_fourier(
        sum(u[..., d : d + 1] * stepper._to_physical(ik[d] * u_hat) for d in dims)
    )


def polynomial(stepper, u_hat: Array, arrays: dict[str, Array], coefficients: Sequence[float]) -> Array:
    """``sum_p c_p u^p`` (Horner), ``coefficients = (c_0, c_1, ...)``."""
    u = stepper._to_physical(arrays["dealias"] * u_hat)
    value = coefficients[-1] + 0.0 * u
    for c in reversed(coefficients[:-1]):
        value = value * u + c
    return stepper._to_fourier(value)
