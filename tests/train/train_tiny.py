"""A tiny training problem (1D advection, N=16, a one-convolution stepper) shared by the train tests and
their subprocess runs."""

import grain
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from emutrain import configurations, data

NUM_POINTS = 16


def trajectories() -> np.ndarray:
    """`(6, 9, 16, 1)` trajectories of advection at CFL 1: the state shifts one cell right per step."""
    rng = np.random.default_rng(0)
    x = np.arange(NUM_POINTS) / NUM_POINTS
    modes = np.arange(1, 4)
    amplitudes = rng.normal(size=(6, 3, 1))
    phases = rng.uniform(0, 2 * np.pi, size=(6, 3, 1))
    ic = np.sum(amplitudes * np.sin(2 * np.pi * modes[None, :, None] * x + phases), axis=1)
    return np.stack([np.roll(ic, t, axis=-1) for t in range(9)], axis=1)[..., None].astype(np.float32)


def loader(batch_size: int = 8, seed: int = 3):
    """A fresh endless Grain loader of `(batch_size, 3, 16, 1)` windows."""
    return data.make_loader(data.TrajectoryWindows(trajectories(), 3), batch_size=batch_size, seed=seed)


class TinyStepper(nnx.Module):
    """`u + conv(u)` with one circular 3-point convolution: `(B, 16, 1) -> (B, 16, 1)`."""

    def __init__(self, rngs: nnx.Rngs):
        # No bias: the data are mean-free, so a bias gradient would be pure rounding noise, which
        # Adam's normalization turns into full-size steps that differ between compilations.
        self.conv = nnx.Conv(1, 1, kernel_size=(3,), padding="CIRCULAR", use_bias=False, rngs=rngs)

    def __call__(self, u: jax.Array) -> jax.Array:
        return u + self.conv(u)


def model(seed: int = 0) -> TinyStepper:
    return TinyStepper(nnx.Rngs(seed))


def configuration():
    return configurations.Supervised(2)


def optimizer():
    return optax.adam(1e-2)


MARKER = 1e4
"""A state value the `NaNOnMarker` stepper answers with NaN."""


class NaNOnMarker(nnx.Module):
    """Wraps a stepper; returns NaN wherever the input holds `MARKER`."""

    def __init__(self, net: nnx.Module):
        self.net = net

    def __call__(self, u: jax.Array) -> jax.Array:
        return jnp.where(u == MARKER, jnp.nan, self.net(u))


def marked_batches(num_batches: int, marked: int, batch_size: int = 8):
    """A Grain iterator over fixed batches (batch i feeds step i + 1); batch `marked` holds `MARKER`."""
    iterator = iter(loader(batch_size))
    batches = np.stack([next(iterator) for _ in range(num_batches)])
    batches[marked, 0, 0, 0, 0] = MARKER
    return iter(grain.MapDataset.source(batches).to_iter_dataset())
