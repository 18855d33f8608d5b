"""Reaction-diffusion steppers: Fisher-KPP, Gray-Scott (two species), Swift-Hohenberg (ETDRK, dealiased).

The split between the stiff linear part (integrated exactly) and the pointwise reaction (evaluated on the
dealiased state) follows the Exponax library, so that the same parameters give the same trajectories as
the APEBench scenarios built on it (up to the dealiasing cutoff: emutrain keeps modes
``|m| <= int(fraction * N // 2)``, one more per axis than Exponax for the same ``dealiasing_fraction``).
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np
from jax import Array

from emutrain.physics import terms
from emutrain.physics.coefficients import as_coefficients
from emutrain.physics.etdrk import ETDRKOptions
from emutrain.physics.stepper import Coefficient, SpectralStepper
from emutrain.validation import check_real

__all__ = ["FisherKPP", "GrayScott", "SwiftHohenberg"]


class _Reaction(SpectralStepper):
    def _laplace(self) -> np.ndarray:
        return sum(self._ik(2))


class FisherKPP(_Reaction):
    """Fisher-KPP equation ``u_t = nu laplace u + r u (1 - u)``.

    ``diffusivity`` nu (length^2/time, 0.01), ``reactivity`` r (1/time, 1). Linear part ``nu laplace + r``,
    nonlinear part ``-r u^2``. ``u = 0`` (unstable) and ``u = 1`` (stable) are fixed points and data in
    ``[0, 1]`` stay there; fronts invade ``u = 0`` at speed ``2 sqrt(r nu)``. State ``(..., *spatial, 1)``.
    """

    coefficients = dict(diffusivity=Coefficient(0.01, check_real), reactivity=Coefficient(1.0, check_real))

    def _linear_operator(self) -> np.ndarray:
        return self.diffusivity * self._laplace() + self.reactivity

    def _nonlinear(self, u_hat: Array, arrays: dict[str, Array]) -> Array:
        u = self._to_physical(arrays["dealias"] * u_hat)
        return -self.reactivity * self._to_fourier(u * u)


class GrayScott(_Reaction):
    """Gray-Scott reaction-diffusion of two species ``(u, v)`` (channels 0 and 1).

        u_t = nu_1 laplace u + f (1 - u) - u v^2
        v_t = nu_2 laplace v - (f + k) v + u v^2

    ``feed_rate`` f, ``kill_rate`` k (1/time), ``diffusivity_1`` / ``diffusivity_2`` (length^2/time). The
    linear part is the diffusion of each species; the reaction terms (including the linear ones, as in
    Exponax) are evaluated on the state dealiased with ``dealiasing_fraction`` = 1/2 (cubic
    nonlinearity). ``(u, v) = (1, 0)`` is a homogeneous steady state. Pearson's classification of the
    patterns (e.g. f = 0.04, k = 0.06, "theta") uses ``L = 2.5`` and time in the units of these rates.
    State ``(..., *spatial, 2)``.
    """

    coefficients = dict(
        diffusivity_1=Coefficient(2e-5, check_real),
        diffusivity_2=Coefficient(1e-5, check_real),
        feed_rate=Coefficient(0.04, check_real),
        kill_rate=Coefficient(0.06, check_real),
    )
    default_etdrk = ETDRKOptions(dealiasing_fraction=1 / 2)

    def _count_channels(self, physics: dict[str, Any]) -> int:
        return 2

    def _linear_operator(self) -> np.ndarray:
        laplace = self._laplace()
        return np.concatenate([self.diffusivity_1 * laplace, self.diffusivity_2 * laplace], axis=-1)

    def _nonlinear(self, uv_hat: Array, arrays: dict[str, Array]) -> Array:
        uv = self._to_physical(arrays["dealias"] * uv_hat)
        u, v = uv[..., 0:1], uv[..., 1:2]
        uvv = u * v * v
        f, k = self.feed_rate, self.kill_rate
        return self._to_fourier(jnp.concatenate([f * (1.0 - u) - uvv, -(f + k) * v + uvv], axis=-1))


class SwiftHohenberg(_Reaction):
    """Swift-Hohenberg equation ``u_t = r u - (k_c^2 + laplace)^2 u + sum_p c_p u^p``.

    ``reactivity`` r (0.7), ``critical_number`` ``k_c^2`` (1: the critical wavenumber is 1), and
    ``polynomial_coefficients`` ``(c_0, c_1, ...)`` (``(0, 0, 1, -1)``: ``u^2 - u^3``). Modes with
    ``r > (k_c^2 - |k|^2)^2`` grow and saturate into stripes or hexagons of wavelength ``2 pi / k_c``; for
    small r and ``u^2`` absent, stripes ``A cos(k_c x)`` have ``A^2 = 4 r / 3``. It is the gradient flow of
    ``F = mean(-r u^2 / 2 + ((k_c^2 + laplace) u)^2 / 2 - P(u))`` with ``P' = sum_p c_p u^p``, so ``F``
    never increases. The polynomial is evaluated on the dealiased state (``dealiasing_fraction`` = 1/2,
    cubic nonlinearity).
    State ``(..., *spatial, 1)``.
    """

    coefficients = dict(
        reactivity=Coefficient(0.7, check_real),
        critical_number=Coefficient(1.0, check_real),
        polynomial_coefficients=Coefficient((0.0, 0.0, 1.0, -1.0), as_coefficients),
    )
    default_etdrk = ETDRKOptions(dealiasing_fraction=1 / 2)

    def _linear_operator(self) -> np.ndarray:
        return self.reactivity - (self.critical_number + self._laplace()) ** 2

    def _nonlinear(self, u_hat: Array, arrays: dict[str, Array]) -> Array:
        return terms.polynomial(self, u_hat, arrays, self.polynomial_coefficients)
