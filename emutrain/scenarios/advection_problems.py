"""Two 1D advection problems of the stencil-learning notebooks, registered as custom scenarios
(`emutrain.scenarios.register`), so that their experiments are configs of the one schema:

* ``periodic_advection``: exact (Fourier-spectral) advection on ``num_points`` periodic points shifting by
  ``cfl`` cells per step, initial conditions from zero-mean truncated Fourier series (wavenumbers
  ``1..ic_cutoff``, amplitudes uniform in ``ic_amplitude_range``); its coarse stepper is the first-order
  upwind (FOU) scheme of the same Courant number, whose stencil on (center, right) is
  ``(1 + cfl, -cfl)`` for ``cfl < 0``.
* ``dirichlet_upwind_advection``: the FOU scheme itself on ``num_points`` interior points of
  ``[0, domain_extent]`` with homogeneous Dirichlet boundaries (``dt``, ``velocity``); every split is the
  one trajectory from the sine arc ``sin(pi x / domain_extent)``.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from emutrain import physics
from emutrain.data import generate_trajectories
from emutrain.scenarios.custom import CustomScenario, register

__all__ = ["DirichletUpwindAdvection", "PeriodicAdvection"]


@dataclasses.dataclass(frozen=True)
class PeriodicAdvection(CustomScenario):
    """Exact periodic advection by ``cfl`` cells per step (domain 1, dt 1)."""

    name: str = "periodic_advection"
    num_points: int = 30
    cfl: float = -0.75
    ic_cutoff: int = 5
    ic_amplitude_range: tuple[float, float] = (-1.0, 1.0)

    def _velocity(self) -> float:
        return self.cfl / self.num_points  # cells per step on a unit domain with dt = 1

    def reference_stepper(self) -> physics.Advection:
        return physics.Advection(1, 1.0, self.num_points, 1.0, velocity=self._velocity())

    def coarse_stepper(self) -> physics.UpwindAdvection:
        return physics.UpwindAdvection(1, 1.0, self.num_points, 1.0, velocity=self._velocity())

    def generate(self, split: str) -> np.ndarray:
        num_samples, horizon, seed = self.split_settings(split)
        ic = physics.RandomTruncatedFourierSeries(
            1, cutoff=self.ic_cutoff, amplitude_range=tuple(self.ic_amplitude_range)
        )
        return generate_trajectories(
            self.reference_stepper(), ic, num_samples=num_samples, num_steps=horizon,
            key=jax.random.PRNGKey(seed),
        )


@dataclasses.dataclass(frozen=True)
class DirichletUpwindAdvection(CustomScenario):
    """FOU advection with Dirichlet boundaries from the sine arc; Courant number ``velocity dt / dx``
    with ``dx = domain_extent / (num_points + 1)``."""

    name: str = "dirichlet_upwind_advection"
    num_points: int = 40
    domain_extent: float = 1.0
    dt: float = 0.1
    velocity: float = -0.1
    boundary_mode: str = "dirichlet"
    num_train_samples: int = 1
    train_temporal_horizon: int = 100
    num_test_samples: int = 1
    test_temporal_horizon: int = 100

    def reference_stepper(self) -> physics.UpwindAdvection:
        return physics.UpwindAdvection(
            1, self.domain_extent, self.num_points, self.dt, velocity=self.velocity, boundary="dirichlet"
        )

    def generate(self, split: str) -> np.ndarray:
        num_samples, horizon, _ = self.split_settings(split)
        stepper = self.reference_stepper()
        x = np.arange(1, self.num_points + 1) * stepper.dx  # the interior points
        arc = np.sin(np.pi * x / self.domain_extent).astype(np.float32)[None, :, None]  # (1, N, 1)
        trajectory = np.asarray(physics.rollout(stepper, horizon, include_init=True)(arc))
        return np.repeat(trajectory, num_samples, axis=0)


register(PeriodicAdvection.name, PeriodicAdvection)
register(DirichletUpwindAdvection.name, DirichletUpwindAdvection)
