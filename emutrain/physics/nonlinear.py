"""Nonlinear 1-3D steppers: Burgers, Korteweg-de Vries, Kuramoto-Sivashinsky (ETDRK, 2/3-dealiased).

Derivatives along axis ``d`` act as ``i k_d`` in Fourier space; products are formed in physical space from
the dealiased spectrum (``dealiasing_fraction``, Orszag's 2/3 rule by default) and transformed back.
``order`` is the ETDRK order (0..4; 0 drops the nonlinearity). Defaults are the values standard in the
field (those of the Exponax library).
"""

from __future__ import annotations

import numpy as np
from jax import Array

from emutrain.physics.stepper import SpectralStepper

__all__ = ["Burgers", "KortewegDeVries", "KuramotoSivashinsky", "KuramotoSivashinskyConservative"]


class _Convection(SpectralStepper):
    """Shared conservative convection ``-b/2 div(u (x) u)`` (single-channel: ``-b/2 sum_d d(u^2)/dx_d``)."""

    def _convection(self, u_hat: Array, arrays: dict[str, Array]) -> Array:
        ik = [arrays[f"ik{d}"] for d in range(self.num_spatial_dims)]
        u = self._to_physical(arrays["dealias"] * u_hat)
        if self.single_channel:
            flux = self._to_fourier(u * u)
            return -0.5 * self.convection_scale * sum(ik) * flux
        # channel c: -b/2 sum_d d(u_d u_c)/dx_d
        return (
            -0.5
            * self.convection_scale
            * sum(ik[d] * self._to_fourier(u * u[..., d : d + 1]) for d in range(self.num_spatial_dims))
        )

    def _extra_arrays(self) -> dict[str, np.ndarray]:
        return {f"ik{d}": op for d, op in enumerate(self._ik(1))}

    def _nonlinear(self, u_hat: Array, arrays: dict[str, Array]) -> Array:
        return self._convection(u_hat, arrays)


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
            num_channels=1 if single_channel else num_spatial_dims,
            order=order,
            dealiasing_fraction=dealiasing_fraction,
            num_circle_points=num_circle_points,
            circle_radius=circle_radius,
            physics=dict(
                diffusivity=float(diffusivity),
                convection_scale=float(convection_scale),
                single_channel=bool(single_channel),
            ),
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
            num_channels=1 if single_channel else num_spatial_dims,
            order=order,
            dealiasing_fraction=dealiasing_fraction,
            num_circle_points=num_circle_points,
            circle_radius=circle_radius,
            physics=dict(
                convection_scale=float(convection_scale),
                dispersivity=float(dispersivity),
                hyper_diffusivity=float(hyper_diffusivity),
                diffusivity=float(diffusivity),
                single_channel=bool(single_channel),
            ),
        )

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
            num_channels=1,
            order=order,
            dealiasing_fraction=dealiasing_fraction,
            num_circle_points=num_circle_points,
            circle_radius=circle_radius,
            physics=dict(
                gradient_norm_scale=float(gradient_norm_scale),
                second_order_scale=float(second_order_scale),
                fourth_order_scale=float(fourth_order_scale),
            ),
        )

    def _linear_operator(self) -> np.ndarray:
        laplace = sum(self._ik(2))
        return -self.second_order_scale * laplace - self.fourth_order_scale * laplace**2

    def _extra_arrays(self) -> dict[str, np.ndarray]:
        arrays = {f"ik{d}": op for d, op in enumerate(self._ik(1))}
        no_mean = np.ones_like(arrays["ik0"])
        no_mean[(0,) * (self.num_spatial_dims + 1)] = 0.0
        arrays["no_mean"] = no_mean
        return arrays

    def _nonlinear(self, u_hat: Array, arrays: dict[str, Array]) -> Array:
        u_hat = arrays["dealias"] * u_hat
        grad_sq = sum(self._to_physical(arrays[f"ik{d}"] * u_hat) ** 2 for d in range(self.num_spatial_dims))
        return -0.5 * self.gradient_norm_scale * arrays["no_mean"] * self._to_fourier(grad_sq)


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
            num_channels=1 if single_channel else num_spatial_dims,
            order=order,
            dealiasing_fraction=dealiasing_fraction,
            num_circle_points=num_circle_points,
            circle_radius=circle_radius,
            physics=dict(
                convection_scale=float(convection_scale),
                second_order_scale=float(second_order_scale),
                fourth_order_scale=float(fourth_order_scale),
                single_channel=bool(single_channel),
            ),
        )

    def _linear_operator(self) -> np.ndarray:
        laplace = sum(self._ik(2))
        return -self.second_order_scale * laplace - self.fourth_order_scale * laplace**2
