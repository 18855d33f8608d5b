"""The stencil-learning and quickstart reference problems, small: their custom scenarios against the data
built by hand, and their acceptance criteria through `emutrain.experiment.train_and_evaluate` on the
``quick`` variants of their configs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import emutrain.physics as ep
from emutrain import scenarios
from emutrain.config_files import config_module, load_config
from emutrain.data import generate_trajectories
from emutrain.experiment import build_network, build_trajectories, train_and_evaluate


def _learned(name, rollout, workdir):
    config = load_config(name, f"rollout_{rollout},quick")
    config.train.progress_bar = False
    result = train_and_evaluate(config, workdir / f"{name}_{rollout}")
    assert result.losses.shape == (3_000 if name == "stencil_learning" else 1_000,)
    return np.asarray(result.model.kernel[...]).ravel()


def test_custom_scenarios_are_the_hand_built_problems():
    quick = load_config("quickstart", "rollout_1,quick")
    stepper = ep.Advection(1, 1.0, 30, 1.0, velocity=-0.75 / 30)
    ic = ep.RandomTruncatedFourierSeries(1, cutoff=5, amplitude_range=(-1.0, 1.0))
    by_hand = generate_trajectories(stepper, ic, num_samples=8, num_steps=50, key=jax.random.PRNGKey(0))
    np.testing.assert_array_equal(build_trajectories(quick, "train"), by_hand)
    # exact advection by -0.75 cells per step: the state moves right by 3 cells every 4 steps
    np.testing.assert_allclose(by_hand[:, 4], np.roll(by_hand[:, 0], -3, axis=1), atol=1e-5)
    stencil = load_config("stencil_learning", "rollout_1")
    upwind = ep.UpwindAdvection(1, 1.0, 40, 0.1, velocity=-0.1, boundary="dirichlet")
    np.testing.assert_allclose(upwind.cfl[0], -0.41, atol=1e-12)
    u0 = jnp.sin(np.pi * np.arange(1, 41) / 41)[None, :, None]
    expected = np.asarray(ep.rollout(upwind, 100, include_init=True)(u0))
    np.testing.assert_allclose(build_trajectories(stencil, "train"), expected, atol=1e-6)
    np.testing.assert_allclose(np.asarray(build_network(stencil).kernel[...]).ravel(), [0.4, 0.5])
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['bogus'\] for scenario 'periodic_advection'"):
        scenarios.make("periodic_advection", bogus=1)


@pytest.mark.slow
def test_stencil_learning_recovers_the_upwind_stencil_for_rollouts_1_and_2(tmp_path):
    module = config_module("stencil_learning")
    assert module.QUICK_ROLLOUTS == (1, 2)
    for rollout in module.QUICK_ROLLOUTS:
        np.testing.assert_allclose(_learned("stencil_learning", rollout, tmp_path), [0.59, 0.41],
                                   atol=module.TOLERANCE)


@pytest.mark.slow
def test_quickstart_distance_to_upwind_stencil_decreases_with_rollout(tmp_path):
    rollouts = config_module("quickstart").ROLLOUTS
    assert rollouts == (1, 5, 20)
    fou = np.array([1 - 0.75, 0.75])
    distances = [float(np.linalg.norm(_learned("quickstart", r, tmp_path) - fou)) for r in rollouts]
    assert distances[0] > distances[1] > distances[2], distances
    # all close to the stencil (the reference run: 0.033 / 0.025 / 0.017)
    assert distances[0] < 0.06 and distances[2] < 0.03, distances
