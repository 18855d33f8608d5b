"""The stencil-learning and quickstart reference problems, small: their acceptance criteria through the
public Trainer + TrajectoryWindows + make_loader API, on the ``quick`` variants of their configs."""

import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import emutrain.nn as enn
import emutrain.physics as ep
from emutrain.config_files import load_config
from emutrain.configurations import Supervised
from emutrain.data import TrajectoryWindows, generate_trajectories, make_loader
from emutrain.train import Trainer

CONFIGS = pathlib.Path(__file__).resolve().parents[1] / "configs"


def _config(name: str):
    return load_config(name, "quick")


def _stencil_conv(boundary_mode: str, kernel_alignment: str, rngs: nnx.Rngs) -> enn.Conv:
    return enn.Conv(
        1,
        1,
        1,
        kernel_size=2,
        boundary_mode=boundary_mode,
        kernel_alignment=kernel_alignment,
        use_bias=False,
        rngs=rngs,
    )


def _train(model, trajectories, rollout, train):
    """The learned kernel after `train.num_steps` steps of `Supervised(rollout)` (`train`: the config's
    train section: learning_rate, num_steps, batch_size, data_seed)."""
    windows = TrajectoryWindows(trajectories, rollout + 1)
    loader = make_loader(
        windows, batch_size=min(train.batch_size, len(windows)), seed=train.data_seed,
        num_steps=train.num_steps,
    )
    trainer = Trainer(
        Supervised(rollout),
        optax.adam(train.learning_rate),
        tensorboard=False,
        progress_bar=False,
        log_every=train.num_steps,
    )
    return np.asarray(trainer.fit(model, iter(loader), num_steps=train.num_steps).model.kernel[...]).ravel()


@pytest.mark.slow
def test_stencil_learning_recovers_the_upwind_stencil_for_rollouts_1_and_2():
    config = _config("stencil_learning")
    p = config.physics
    stepper = ep.UpwindAdvection(
        1, p.domain_extent, p.num_points, p.dt, velocity=p.velocity, boundary=p.boundary
    )
    cfl = stepper.cfl[0]
    exact = np.array([1 + cfl, -cfl])
    np.testing.assert_allclose(exact, [0.59, 0.41], atol=1e-12)
    x = np.arange(1, p.num_points + 1) * stepper.dx
    u0 = jnp.asarray(np.sin(np.pi * x), jnp.float32)[None, :, None]
    trajectories = np.asarray(ep.rollout(stepper, p.num_steps, include_init=True)(u0))
    assert config.train.rollouts == (1, 2)
    for rollout in config.train.rollouts:
        model = _stencil_conv(p.boundary, config.model.kernel_alignment, nnx.Rngs(0))
        model.kernel[...] = jnp.asarray(config.model.init_stencil, jnp.float32).reshape(2, 1, 1)
        learned = _train(model, trajectories, rollout, config.train)
        np.testing.assert_allclose(learned, exact, atol=config.train.tolerance)


@pytest.mark.slow
def test_quickstart_distance_to_upwind_stencil_decreases_with_rollout():
    config = _config("quickstart")
    n, cfl = config.physics.num_points, config.physics.cfl
    stepper = ep.Advection(1, 1.0, n, 1.0, velocity=cfl / n)
    ic = ep.RandomTruncatedFourierSeries(
        1, cutoff=config.data.ic_cutoff, amplitude_range=tuple(config.data.ic_amplitude_range)
    )
    trajectories = generate_trajectories(
        stepper,
        ic,
        num_samples=config.data.num_trajectories,
        num_steps=config.data.num_steps,
        key=jax.random.PRNGKey(config.data.ic_seed),
    )
    fou = np.array([1 + cfl, -cfl])
    distances = []
    for rollout in config.train.rollouts:
        model = _stencil_conv("periodic", config.model.kernel_alignment, nnx.Rngs(config.model.seed))
        learned = _train(model, trajectories, rollout, config.train)
        distances.append(float(np.linalg.norm(learned - fou)))
    assert config.train.rollouts == (1, 5, 20)
    assert distances[0] > distances[1] > distances[2], distances
    # all close to the stencil (the reference run: 0.033 / 0.025 / 0.017)
    assert distances[0] < 0.06 and distances[2] < 0.03, distances
