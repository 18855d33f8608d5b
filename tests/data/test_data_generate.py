"""generate_trajectories / pipelines/generate.py against exact advection shifts."""

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from emutrain import physics, scenarios
from emutrain.data import generate_trajectories

REPO = Path(__file__).resolve().parents[2]


def shifted(u, cells, num_steps):
    """``(S, N, C)`` -> ``(S, T+1, N, C)``: state t is ``u`` rolled ``t * cells`` points to the right."""
    return np.stack([np.roll(u, t * cells, axis=1) for t in range(num_steps + 1)], axis=1)


@pytest.fixture(scope="module")
def ic_distribution():
    return physics.RandomTruncatedFourierSeries(1, cutoff=3, max_one=True)


def test_advection_by_whole_cells_is_an_exact_shift(ic_distribution):
    # Difficulty -2 on N = 16: the state moves exactly 2 cells right per step.
    stepper = physics.DifficultyLinearStepperSimple(1, 16, difficulty=-2.0, order=1)
    key = jax.random.key(3)
    trajectories = generate_trajectories(
        stepper, ic_distribution, num_samples=5, num_steps=4, key=key, chunk_size=2
    )
    initial = np.asarray(physics.build_ic_set(ic_distribution, num_points=16, num_samples=5, key=key))
    assert trajectories.shape == (5, 5, 16, 1) and trajectories.dtype == np.float32
    np.testing.assert_allclose(trajectories, shifted(initial, 2, 4), atol=2e-5)
    warmed = generate_trajectories(
        stepper, ic_distribution, num_samples=5, num_steps=4, key=key, num_warmup_steps=3
    )
    np.testing.assert_allclose(warmed, shifted(np.roll(initial, 6, axis=1), 2, 4), atol=2e-5)


def test_fine_generation_coarsened_equals_the_coarse_shift(ic_distribution):
    # On 32 points difficulty -4 moves 4 fine cells = 2 coarse cells of the 16-point grid per step.
    fine = physics.DifficultyLinearStepperSimple(1, 32, difficulty=-4.0, order=1)
    key = jax.random.key(5)
    trajectories = generate_trajectories(
        fine, ic_distribution, num_samples=3, num_steps=3, key=key, coarsen_to=16
    )
    initial = physics.build_ic_set(ic_distribution, num_points=32, num_samples=3, key=key)
    coarse_initial = np.asarray(physics.map_between_resolutions(initial, 16, num_spatial_dims=1))
    assert trajectories.shape == (3, 4, 16, 1)
    np.testing.assert_allclose(trajectories, shifted(coarse_initial, 2, 3), atol=2e-5)


@pytest.mark.parametrize(("name", "value"), [("num_samples", 0), ("num_steps", -1), ("num_warmup_steps", -2)])
def test_bad_counts_raise_naming_the_parameter(ic_distribution, name, value):
    stepper = physics.DifficultyLinearStepperSimple(1, 16, difficulty=-2.0, order=1)
    kwargs = {"num_samples": 2, "num_steps": 2, "key": jax.random.key(0), name: value}
    with pytest.raises(ValueError, match=name):
        generate_trajectories(stepper, ic_distribution, **kwargs)


@dataclasses.dataclass(frozen=True)
class ConstantIC:
    """A hashable initial-condition distribution: ``(N, 1)`` filled with ones of ``dtype``."""

    dtype: str

    def __call__(self, num_points, *, key):
        del key
        return jnp.ones((num_points, 1), self.dtype)


@pytest.mark.parametrize("dtype", ["int32", "bool", "complex64"])
def test_non_floating_initial_conditions_raise_naming_the_dtype(dtype):
    stepper = physics.DifficultyLinearStepperSimple(1, 16, difficulty=-2.0, order=1)
    with pytest.raises(TypeError, match=rf"ic_distribution samples must hold real floating-point.*{dtype}"):
        generate_trajectories(stepper, ConstantIC(dtype), num_samples=2, num_steps=2, key=jax.random.key(0))
    trajectories = generate_trajectories(
        stepper, ConstantIC("float32"), num_samples=2, num_steps=2, key=jax.random.key(0)
    )
    np.testing.assert_allclose(trajectories, 1.0, atol=1e-6)  # advection keeps a constant state


def test_seeded_trajectories_are_the_advection_of_reproducible_initial_conditions():
    def generate():
        return generate_trajectories(
            physics.DifficultyLinearStepperSimple(1, 48, difficulty=-6.5, order=1),
            physics.RandomTruncatedFourierSeries(1, cutoff=5, max_one=True, zero_mean=True),
            num_samples=4,
            num_steps=10,
            key=jax.random.key(773),
        )

    train = generate()
    assert train.shape == (4, 11, 48, 1) and train.dtype == np.float32
    # 6.5 cells per step: the state after two steps is the initial one rolled by 13 cells
    np.testing.assert_allclose(train[:, 2], np.roll(train[:, 0], 13, axis=1), atol=2e-5)
    np.testing.assert_allclose(np.abs(train[:, 0]).max(axis=(1, 2)), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(train, generate())


def test_pipeline_writes_dataset_and_plot(tmp_path):
    subprocess.run(
        [
            sys.executable,
            str(REPO / "pipelines" / "generate.py"),
            "--config=configs/generate.py:quick",
            f"--workdir={tmp_path}",
            "--config.scenario.overrides.num_train_samples=2",
        ],
        cwd=tmp_path,  # the config path is relative to the repository, not the current directory
        check=True,
        capture_output=True,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )
    assert (tmp_path / "trajectories.png").stat().st_size > 1000
    # exactly what training writes and reads: Scenario.dataset's layout and arrays
    scenario = scenarios.make(
        "diff_adv",
        advection_gamma=-6.5,
        num_points=48,
        num_train_samples=2,
        train_temporal_horizon=50,
        train_seed=773,
        num_test_samples=4,
        test_temporal_horizon=20,
        test_seed=774,
    )
    split = tmp_path / "diff_adv" / f"train-{scenarios.data_key(scenario, 'train')}"
    metadata = json.loads((split / "samples-000000-000002" / "metadata.json").read_text())
    assert metadata["arrays"]["trajectories"]["shape"] == [2, 51, 48, 1]
    np.testing.assert_array_equal(scenarios.load_dataset(split)[0], scenario.train_trajectories())
