"""Nonlinear 1-3D steppers: Burgers, Korteweg-de Vries, Kuramoto-Sivashinsky (ETDRK, 2/3-dealiased).

Derivatives along axis ``d`` act as ``i k_d`` in Fourier space; products are formed in physical space from
the dealiased spectrum and transformed back; ``etdrk`` (:class:`~emutrain.physics.ETDRKOptions`) sets the
ETDRK order (0..4; 0 drops the nonlinearity) and the dealiasing (Orszag's 2/3 rule by default). Defaults
are the values standard in the field (those of the Exponax library).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from jax import Array

from emutrain.physics import terms
from emutrain.physics.stepper import Coefficient, SpectralStepper, as_bool, as_float

__all__ = ["Burgers", "KortewegDeVries", "KuramotoSivashinsky", "KuramotoSivashinskyConservative"]


class _Convection(SpectralStepper):
    """Conservative convection ``-b/2 div(u (x) u)`` (single channel: ``-b/2 sum_d d(u^2)/dx_d``)."""

    def _count_channels(self, physics: dict[str, Any]) -> int:
        return 1 if physics["single_channel"] else self.num_spatial_dims

    def _extra_arrays(self) -> dict[str, np.ndarray]:
        return terms.derivative_arrays(self)

    def _nonlinear(self, u_hat: Array, arrays: dict[str, Array]) -> Array:
        return terms.convection(
            self, u_hat, arrays, self.convection_scale, single_channel=self.single_channel, conservative=True
        )


class Burgers(_Convection):
    """Viscous Burgers equation, conservative form.

        u_t + b/2 div(u (x) u) = nu laplace u

    with ``convection_scale`` b (1 by default) and ``diffusivity`` nu (length^2/time, 0.1 by default). The
    state has ``num_spatial_dims`` channels (a velocity vector), or one with ``single_channel=True``, where
    the flux is ``b/2 sum_d d(u^2)/dx_d``. In 1D both read ``u_t + b/2 (u^2)_x = nu u_xx``.
    """

    coefficients = dict(
        diffusivity=Coefficient(0.1, as_float),
        convection_scale=Coefficient(1.0, as_float),
        single_channel=Coefficient(False, as_bool),
    )

    def _linear_operator(self) -> np.ndarray:
        return self.diffusivity * sum(self._ik(2))


class KortewegDeVries(_Convection):
    """Korteweg-de Vries equation, conservative form, with optional dissipation.

        u_t + b/2 (u^2)_x + xi u_xxx = nu u_xx - mu u_xxxx

    ``convection_scale`` b = -6, ``dispersivity`` xi = 1 (the classic ``u_t - 6 u u_x + u_xxx = 0``, whose
    solitons ``u = -c/2 sech^2(sqrt(c)/2 (x - c t))`` are negative), ``diffusivity`` nu = 0 and
    ``hyper_diffusivity`` mu = 0.01 (Exponax's default: a high-wavenumber damping that keeps long rollouts
    of the dispersive cascade stable at coarse resolution; set it to 0 for the inviscid equation). Typical
    setting: ``domain_extent = 20``, ``dt = 0.01``, ``N = 50..200``. In D dimensions the derivatives become
    ``sum_d d^j/dx_d^j`` (``laplace^2`` for the fourth order); channels as in :class:`Burgers`.
    """

    coefficients = dict(
        convection_scale=Coefficient(-6.0, as_float),
        dispersivity=Coefficient(1.0, as_float),
        hyper_diffusivity=Coefficient(0.01, as_float),
        diffusivity=Coefficient(0.0, as_float),
        single_channel=Coefficient(False, as_bool),
    )

    def _linear_operator(self) -> np.ndarray:
        laplace = sum(self._ik(2))
        return (
            -self.dispersivity * sum(self._ik(3))
            + self.diffusivity * laplace
            - self.hyper_diffusivity * laplace**2
        )


def _kuramoto_sivashinsky_linear(stepper: SpectralStepper) -> np.ndarray:
    """``-s laplace - f laplace^2``, the linear part of both Kuramoto-Sivashinsky forms."""
    laplace = sum(stepper._ik(2))
    return -stepper.second_order_scale * laplace - stepper.fourth_order_scale * laplace**2


class KuramotoSivashinsky(SpectralStepper):
    """Kuramoto-Sivashinsky equation, combustion (gradient) form, single channel.

        u_t + b/2 |grad u|^2 + s laplace u + f laplace^2 u = 0

    with ``gradient_norm_scale`` b, ``second_order_scale`` s and ``fourth_order_scale`` f (all 1). Modes
    with ``|k| < 1`` grow, so the dynamics become chaotic once the domain holds several unstable wavelengths;
    ``domain_extent = 60`` with ``dt = 0.1`` and ``N = 64..128`` is the usual 1D setting. The spatial mean
    of ``|grad u|^2`` is removed from the nonlinearity: it only drives the (dynamically inert) mean of
    ``u``, which would otherwise drift linearly in time.
    """

    coefficients = dict(
        gradient_norm_scale=Coefficient(1.0, as_float),
        second_order_scale=Coefficient(1.0, as_float),
        fourth_order_scale=Coefficient(1.0, as_float),
    )

    _linear_operator = _kuramoto_sivashinsky_linear

    def _extra_arrays(self) -> dict[str, np.ndarray]:
        return terms.derivative_arrays(self)

    def _nonlinear(self, u_hat: Array, arrays: dict[str, Array]) -> Array:
        return terms.quadratic_gradient(self, u_hat, arrays, (0.0, 0.0, -self.gradient_norm_scale))


class KuramotoSivashinskyConservative(_Convection):
    """Kuramoto-Sivashinsky equation, conservative (Burgers-like) form.

        u_t + b/2 (u^2)_x + s u_xx + f u_xxxx = 0

    with ``convection_scale`` b, ``second_order_scale`` s and ``fourth_order_scale`` f (all 1); it is the
    spatial derivative of the combustion form and conserves the mean. In D dimensions: ``laplace``,
    ``laplace^2`` and the convection term of :class:`Burgers` (``num_spatial_dims`` channels, or one with
    ``single_channel=True``).
    """

    coefficients = dict(
        convection_scale=Coefficient(1.0, as_float),
        second_order_scale=Coefficient(1.0, as_float),
        fourth_order_scale=Coefficient(1.0, as_float),
        single_channel=Coefficient(False, as_bool),
    )

    _linear_operator = _kuramoto_sivashinsky_linear
