"""2D incompressible Navier-Stokes in vorticity form (ETDRK, 2/3-dealiased), single channel ``omega``.

    omega_t + b (u . grad omega) = nu laplace omega + lambda omega + f

Velocity from the stream function: ``-laplace psi = omega``, ``u = (d psi/dy, -d psi/dx)`` (axis 0 is x,
axis 1 is y), so the velocity is divergence free. The advection term is computed in conservative form,
``div(u omega)``, which makes the mean of ``omega`` an exact invariant. ``b`` is
``vorticity_convection_scale``, ``nu`` the ``diffusivity`` (length^2/time), ``lambda`` the ``drag`` (1/time,
negative damps) and ``f`` the forcing.
"""

from __future__ import annotations

import numpy as np
from jax import Array

from emutrain.physics import spectral
from emutrain.physics.etdrk import ETDRKOptions
from emutrain.physics.stepper import SpectralStepper

__all__ = ["NavierStokesVorticity", "KolmogorovFlowVorticity"]


class _Vorticity2d(SpectralStepper):
    """Shared linear operator and advection term; subclasses choose the forcing."""

    def __init__(self, num_spatial_dims, domain_extent, num_points, dt, *, etdrk, physics):
        grid = (num_spatial_dims, domain_extent, num_points, dt)
        super().__init__(*grid, etdrk=etdrk, physics=physics, allowed_spatial_dims=(2,))

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

    def __init__(
        self,
        num_spatial_dims: int,
        domain_extent: float,
        num_points: int,
        dt: float,
        *,
        diffusivity: float = 0.01,
        vorticity_convection_scale: float = 1.0,
        drag: float = 0.0,
        etdrk: ETDRKOptions = ETDRKOptions(),
    ):
        physics = dict(
            diffusivity=float(diffusivity),
            vorticity_convection_scale=float(vorticity_convection_scale),
            drag=float(drag),
        )
        super().__init__(num_spatial_dims, domain_extent, num_points, dt, etdrk=etdrk, physics=physics)


class KolmogorovFlowVorticity(_Vorticity2d):
    """2D Navier-Stokes with Kolmogorov forcing: shear force ``F_x = s sin(k_f y)``, ``k_f = 2 pi n / L``.

    Its curl enters the vorticity equation as ``f = -s k_f cos(k_f y)``; ``injection_mode`` n = 4,
    ``injection_scale`` s = 1. Defaults nu = 1e-3 and drag ``lambda = -0.1`` (linear friction that lets the
    flow reach a statistically steady state), on the usual domain ``L = 2 pi``.
    """

    def __init__(
        self,
        num_spatial_dims: int,
        domain_extent: float,
        num_points: int,
        dt: float,
        *,
        diffusivity: float = 0.001,
        vorticity_convection_scale: float = 1.0,
        drag: float = -0.1,
        injection_mode: int = 4,
        injection_scale: float = 1.0,
        etdrk: ETDRKOptions = ETDRKOptions(),
    ):
        if (
            isinstance(injection_mode, bool)
            or not isinstance(injection_mode, (int, np.integer))
            or not 1 <= injection_mode < num_points // 2
        ):
            raise ValueError(f"injection_mode must be an int in [1, num_points // 2), got {injection_mode!r}")
        physics = dict(
            diffusivity=float(diffusivity),
            vorticity_convection_scale=float(vorticity_convection_scale),
            drag=float(drag),
            injection_mode=int(injection_mode),
            injection_scale=float(injection_scale),
        )
        super().__init__(num_spatial_dims, domain_extent, num_points, dt, etdrk=etdrk, physics=physics)

    def _forcing_hat(self) -> np.ndarray:
        y = np.arange(self.num_points) * (self.domain_extent / self.num_points)
        k_f = 2.0 * np.pi * self.injection_mode / self.domain_extent
        forcing = np.broadcast_to(
            -self.injection_scale * k_f * np.cos(k_f * y)[None, :, None],
            (self.num_points, self.num_points, 1),
        )
        return np.fft.rfftn(forcing, axes=(0, 1)).astype(np.complex128)
