"""2D incompressible Navier-Stokes in vorticity form (ETDRK, 2/3-dealiased), single channel ``omega``.

    omega_t + b (u . grad omega) = nu laplace omega + lambda omega + f

Velocity from the stream function: ``-laplace psi = omega``, ``u = (d psi/dy, -d psi/dx)`` (axis 0 is x,
axis 1 is y), so the velocity is divergence free. The advection term is computed in conservative form,
``div(u omega)``, which makes the mean of ``omega`` an exact invariant. ``b`` is
``vorticity_convection_scale``, ``nu`` the ``diffusivity`` (length^2/time), ``lambda`` the ``drag`` (1/time,
negative damps) and ``f`` the forcing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from jax import Array

from emutrain.physics import spectral
from emutrain.physics.stepper import Coefficient, SpectralStepper, as_float

__all__ = ["NavierStokesVorticity", "KolmogorovFlowVorticity"]


class _Vorticity2d(SpectralStepper):
    """Shared linear operator and advection term; subclasses choose the forcing."""

    spatial_dims = (2,)

    def _linear_operator(self) -> np.ndarray:
        return (
            self.diffusivity * spectral.laplace_operator(2, self.domain_extent, self.num_points) + self.drag
        )

    def _forcing_hat(self) -> np.ndarray | None:
        return None

    def _extra_arrays(self) -> dict[str, np.ndarray]:
        ik_x, ik_y = self._ik(1)
        laplace = spectral.laplace_operator(2, self.domain_extent, self.num_points)
        inv_laplace = np.where(laplace == 0, 0.0, 1.0 / np.where(laplace == 0, 1.0, laplace))
        arrays = {"ik_x": ik_x, "ik_y": ik_y, "inv_laplace": inv_laplace}
        forcing = self._forcing_hat()
        if forcing is not None:
            arrays["forcing"] = forcing
        return arrays

    def _nonlinear(self, w_hat: Array, arrays: dict[str, Array]) -> Array:
        w_hat = arrays["dealias"] * w_hat
        psi_hat = -arrays["inv_laplace"] * w_hat
        u = self._to_physical(arrays["ik_y"] * psi_hat)
        v = self._to_physical(-arrays["ik_x"] * psi_hat)
        w = self._to_physical(w_hat)
        advection = arrays["ik_x"] * self._to_fourier(u * w) + arrays["ik_y"] * self._to_fourier(v * w)
        out = -self.vorticity_convection_scale * advection
        if "forcing" in arrays:
            out = out + arrays["forcing"]
        return out


class NavierStokesVorticity(_Vorticity2d):
    """Unforced 2D Navier-Stokes (decaying turbulence): ``f = 0``; defaults nu = 0.01, drag 0, b = 1."""

    coefficients = dict(
        diffusivity=Coefficient(0.01, as_float),
        vorticity_convection_scale=Coefficient(1.0, as_float),
        drag=Coefficient(0.0, as_float),
    )


def _injection_mode(name: str, value: Any, stepper: SpectralStepper) -> int:
    """A forcing wavenumber: an int in ``[1, num_points // 2)``."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, np.integer))
        or not 1 <= value < stepper.num_points // 2
    ):
        raise ValueError(f"{name} must be an int in [1, num_points // 2), got {value!r}")
    return int(value)


class KolmogorovFlowVorticity(_Vorticity2d):
    """2D Navier-Stokes with Kolmogorov forcing: shear force ``F_x = s sin(k_f y)``, ``k_f = 2 pi n / L``.

    Its curl enters the vorticity equation as ``f = -s k_f cos(k_f y)``; ``injection_mode`` n = 4,
    ``injection_scale`` s = 1. Defaults nu = 1e-3 and drag ``lambda = -0.1`` (linear friction that lets the
    flow reach a statistically steady state), on the usual domain ``L = 2 pi``.
    """

    coefficients = dict(
        diffusivity=Coefficient(0.001, as_float),
        vorticity_convection_scale=Coefficient(1.0, as_float),
        drag=Coefficient(-0.1, as_float),
        injection_mode=Coefficient(4, _injection_mode, uses_grid=True),
        injection_scale=Coefficient(1.0, as_float),
    )

    def _forcing_hat(self) -> np.ndarray:
        y = np.arange(self.num_points) * (self.domain_extent / self.num_points)
        k_f = 2.0 * np.pi * self.injection_mode / self.domain_extent
        forcing = np.broadcast_to(
            -self.injection_scale * k_f * np.cos(k_f * y)[None, :, None],
            (self.num_points, self.num_points, 1),
        )
        return np.fft.rfftn(forcing, axes=(0, 1)).astype(np.complex128)
