"""Nonlinear 1-3D steppers: Burgers, Korteweg-de Vries, Kuramoto-Sivashinsky (ETDRK, 2/3-dealiased).

Derivatives along axis ``d`` act as ``i k_d`` in Fourier space; products are formed in physical space from
the dealiased spectrum and transformed back; ``etdrk`` (:class:`~emutrain.physics.ETDRKOptions`) sets the
ETDRK order (0..4; 0 drops the nonlinearity) and the dealiasing (Orszag's 2/3 rule by default). Defaults
are the values standard in the field (those of the Exponax library).
"""

from __future__ import annotations

import numpy as np
from jax import Array

from emutrain.physics import terms
from emutrain.physics.etdrk import ETDRKOptions
from emutrain.physics.stepper import SpectralStepper

__all__ = ["Burgers", "KortewegDeVries", "KuramotoSivashinsky", "KuramotoSivashinskyConservative"]


class _Convection(SpectralStepper):
    """Conservative convection ``-b/2 div(u (x) u)`` (single channel: ``-b/2 sum_d d(u^2)/dx_d``)."""

    def __init__(self, num_spatial_dims, domain_extent, num_points, dt, *, etdrk, physics):
        single_channel = bool(physics.pop("single_channel"))
        physics = {k: float(v) for k, v in physics.items()} | {"single_channel": single_channel}
        channels = 1 if single_channel else num_spatial_dims
        grid = (num_spatial_dims, domain_extent, num_points, dt)
        super().__init__(*grid, num_channels=channels, etdrk=etdrk, physics=physics)

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

    def __init__(
        self,
        num_spatial_dims: int,
        domain_extent: float,
        num_points: int,
        dt: float,
        *,
        diffusivity: float = 0.1,
        convection_scale: float = 1.0,
        single_channel: bool = False,
        etdrk: ETDRKOptions = ETDRKOptions(),
    ):
        physics = dict(
            diffusivity=diffusivity,
            convection_scale=convection_scale,
            single_channel=single_channel,
        )
        super().__init__(num_spatial_dims, domain_extent, num_points, dt, etdrk=etdrk, physics=physics)

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

    def __init__(
        self,
        num_spatial_dims: int,
        domain_extent: float,
        num_points: int,
        dt: float,
        *,
        convection_scale: float = -6.0,
        dispersivity: float = 1.0,
        hyper_diffusivity: float = 0.01,
        diffusivity: float = 0.0,
        single_channel: bool = False,
        etdrk: ETDRKOptions = ETDRKOptions(),
    ):
        physics = dict(
            convection_scale=convection_scale,
            dispersivity=dispersivity,
            hyper_diffusivity=hyper_diffusivity,
            diffusivity=diffusivity,
            single_channel=single_channel,
        )
        super().__init__(num_spatial_dims, domain_extent, num_points, dt, etdrk=etdrk, physics=physics)

    def _linear_operator(self) -> np.ndarray:
        laplace = sum(self._ik(2))
        return (
            -self.dispersivity * sum(self._ik(3))
            + self.diffusivity * laplace
            - self.hyper_diffusivity * laplace**2
        )


class KuramotoSivashinsky(SpectralStepper):
    """Kuramoto-Sivashinsky equation, combustion (gradient) form, single channel.

        u_t + b/2 |grad u|^2 + s laplace u + f laplace^2 u = 0

    with ``gradient_norm_scale`` b, ``second_order_scale`` s and ``fourth_order_scale`` f (all 1). Modes
    with ``|k| < 1`` grow, so the dynamics become chaotic once the domain holds several unstable wavelengths;
    ``domain_extent = 60`` with ``dt = 0.1`` and ``N = 64..128`` is the usual 1D setting. The spatial mean
    of ``|grad u|^2`` is removed from the nonlinearity: it only drives the (dynamically inert) mean of
    ``u``, which would otherwise drift linearly in time.
    """

    def __init__(
        self,
        num_spatial_dims: int,
        domain_extent: float,
        num_points: int,
        dt: float,
        *,
        gradient_norm_scale: float = 1.0,
        second_order_scale: float = 1.0,
        fourth_order_scale: float = 1.0,
        etdrk: ETDRKOptions = ETDRKOptions(),
    ):
        physics = dict(
            gradient_norm_scale=float(gradient_norm_scale),
            second_order_scale=float(second_order_scale),
            fourth_order_scale=float(fourth_order_scale),
        )
        super().__init__(num_spatial_dims, domain_extent, num_points, dt, etdrk=etdrk, physics=physics)

    def _linear_operator(self) -> np.ndarray:
        laplace = sum(self._ik(2))
        return -self.second_order_scale * laplace - self.fourth_order_scale * laplace**2

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

    def __init__(
        self,
        num_spatial_dims: int,
        domain_extent: float,
        num_points: int,
        dt: float,
        *,
        convection_scale: float = 1.0,
        second_order_scale: float = 1.0,
        fourth_order_scale: float = 1.0,
        single_channel: bool = False,
        etdrk: ETDRKOptions = ETDRKOptions(),
    ):
        physics = dict(
            convection_scale=convection_scale,
            second_order_scale=second_order_scale,
            fourth_order_scale=fourth_order_scale,
            single_channel=single_channel,
        )
        super().__init__(num_spatial_dims, domain_extent, num_points, dt, etdrk=etdrk, physics=physics)

    def _linear_operator(self) -> np.ndarray:
        laplace = sum(self._ik(2))
        return -self.second_order_scale * laplace - self.fourth_order_scale * laplace**2
