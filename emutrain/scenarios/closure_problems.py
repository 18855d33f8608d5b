"""The two closure problems of online training, registered as custom scenarios
(`emutrain.scenarios.register`): target trajectories of a fine solver coarsened (Fourier truncation) to
the training grid of ``num_points`` per axis, and a coarse solver on that grid that a network corrects.

* ``kolmogorov_closure``: emutrain's ``KolmogorovFlowVorticity`` on ``fine_points`` (time step
  ``fine_dt``), every ``num_substeps``-th state kept; the coarse stepper takes one step of
  ``num_substeps * fine_dt``.
* ``qg_closure``: pyqg-jax's two-layer quasi-geostrophic model (optional extra ``qg``) on ``fine_points``
  (time step ``dt``, seconds), every ``num_substeps``-th state kept as PV scaled by ``1 / q_scale`` and
  coarsened by truncation, then the coarse model's spectral filter; the coarse stepper runs
  ``num_substeps`` steps of the coarse pyqg model (``emutrain.physics.pyqg_bridge.QGStepper``).

The reference stepper of either is the fine solver seen on the coarse grid (refine, step, coarsen).
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

from emutrain import physics
from emutrain.data import generate_trajectories
from emutrain.scenarios.custom import CustomScenario, register

__all__ = ["KolmogorovClosure", "QGClosure"]


def _on_coarse_grid(fine_step, fine_points: int, coarse_points: int):
    """`fine_step` seen on the coarse grid: `(B, n, n, C) -> (B, n, n, C)`."""

    def step(u):
        fine = physics.map_between_resolutions(u, fine_points, num_spatial_dims=2)
        return physics.map_between_resolutions(fine_step(fine), coarse_points, num_spatial_dims=2)

    return step


@dataclasses.dataclass(frozen=True)
class KolmogorovClosure(CustomScenario):
    """Kolmogorov flow vorticity, fine ``fine_points``^2 coarsened to ``num_points``^2."""

    name: str = "kolmogorov_closure"
    num_spatial_dims: int = 2
    num_points: int = 32
    fine_points: int = 128
    domain_extent: float = 2 * math.pi
    fine_dt: float = 0.005
    num_substeps: int = 10  # fine steps per coarse step
    diffusivity: float = 5e-3
    ic_cutoff: int = 4
    num_warmup_steps: int = 100  # coarse-step units before recording
    num_train_samples: int = 6
    train_temporal_horizon: int = 40
    num_test_samples: int = 2
    test_temporal_horizon: int = 40
    optim_config: str = "adam;800;cosine;3e-3"
    batch_size: int = 8

    def _fine(self):
        fine = physics.KolmogorovFlowVorticity(
            2, self.domain_extent, self.fine_points, self.fine_dt, diffusivity=self.diffusivity
        )
        return physics.repeat(fine, self.num_substeps)

    def reference_stepper(self):
        return _on_coarse_grid(self._fine(), self.fine_points, self.num_points)

    def coarse_stepper(self):
        return physics.KolmogorovFlowVorticity(
            2, self.domain_extent, self.num_points, self.fine_dt * self.num_substeps,
            diffusivity=self.diffusivity,
        )

    def generate(self, split: str) -> np.ndarray:
        num_samples, horizon, seed = self.split_settings(split)
        ic = physics.RandomTruncatedFourierSeries(2, cutoff=self.ic_cutoff, max_one=True)
        return generate_trajectories(
            self._fine(), ic, num_samples=num_samples, num_steps=horizon, key=jax.random.PRNGKey(seed),
            num_warmup_steps=self.num_warmup_steps, coarsen_to=self.num_points,
        )


@dataclasses.dataclass(frozen=True)
class QGClosure(CustomScenario):
    """Two-layer quasi-geostrophic PV (pyqg-jax), fine ``fine_points``^2 coarsened to ``num_points``^2."""

    name: str = "qg_closure"
    num_spatial_dims: int = 2
    num_channels: int = 2
    num_points: int = 32
    fine_points: int = 128
    dt: float = 3600.0  # seconds, fine and coarse pyqg step
    num_substeps: int = 4  # pyqg steps per stored snapshot (one coarse stepper call)
    q_scale: float = 1e-6  # 1/s, the PV unit of the states
    num_warmup_steps: int = 1000  # fine pyqg steps before recording
    num_train_samples: int = 4
    train_temporal_horizon: int = 60
    num_test_samples: int = 2
    test_temporal_horizon: int = 60
    optim_config: str = "adam;200;cosine;1e-2"
    batch_size: int = 4

    def _stepper(self, points: int, num_substeps: int = 1):
        from emutrain.physics.pyqg_bridge import QGStepper

        return QGStepper(points, self.dt, num_substeps=num_substeps, q_scale=self.q_scale)

    def reference_stepper(self):
        fine = self._stepper(self.fine_points, self.num_substeps)
        return _on_coarse_grid(fine, self.fine_points, self.num_points)

    def coarse_stepper(self):
        return self._stepper(self.num_points, self.num_substeps)

    def _coarsen(self, q: jax.Array) -> jax.Array:
        """Truncation to the coarse grid, then the coarse model's spectral filter (pyqg-jax's
        "Operator1" coarsening): the coarsened state is what the coarse model can hold."""
        coarse_filter = self._stepper(self.num_points).model().filtr[..., None]
        q = physics.map_between_resolutions(q, self.num_points, num_spatial_dims=2)
        q_hat = jnp.fft.rfft2(q, axes=(0, 1)) * coarse_filter
        return jnp.fft.irfft2(q_hat, s=q.shape[:2], axes=(0, 1))

    def generate(self, split: str) -> np.ndarray:
        import pyqg_jax

        num_samples, horizon, seed = self.split_settings(split)
        model = pyqg_jax.steppers.SteppedModel(
            model=self._stepper(self.fine_points).model(), stepper=pyqg_jax.steppers.AB3Stepper(dt=self.dt)
        )

        def one(key):
            state = model.initialize_stepper_state(model.model.create_initial_state(key))
            state = jax.lax.fori_loop(0, self.num_warmup_steps, lambda i, s: model.step_model(s), state)

            def record(s, _):
                q = jnp.moveaxis(s.state.q, 0, -1) / self.q_scale
                s = jax.lax.fori_loop(0, self.num_substeps, lambda i, t: model.step_model(t), s)
                return s, self._coarsen(q)

            return jax.lax.scan(record, state, None, length=horizon + 1)[1]

        keys = jax.random.split(jax.random.key(seed), num_samples)
        return np.asarray(jax.jit(jax.vmap(one))(keys))


register(KolmogorovClosure.name, KolmogorovClosure)
register(QGClosure.name, QGClosure)
