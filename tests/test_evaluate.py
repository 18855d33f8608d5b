"""Known answers for rollouts and their error over time (emutrain.evaluate)."""

import json
import os
import subprocess
import sys
import textwrap

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from emutrain.evaluate import Evaluation, RolloutMetrics, evaluate_rollout, make_eval_fn, rollout_trajectories
from emutrain.physics import DifficultyLinearStepperSimple

NUM_POINTS = 16
GRID = 2 * np.pi * np.arange(NUM_POINTS) / NUM_POINTS  # [0, 2 pi), right endpoint excluded


def shift_right(states):
    """Exact periodic advection by one cell per step: (B, N, C) -> (B, N, C)."""
    return jnp.roll(states, 1, axis=1)


def identity(states):
    return states


def advected_sines(shifts_per_step, num_steps, phases=None):
    """Unit sine (mode 1) moved ``c_s`` per step: ``(S, T+1, N, 1)``, ``u_s = sin(x - phi_s - c_s t)``."""
    shifts = np.asarray(shifts_per_step, dtype=np.float64)[:, None, None]
    phases = np.zeros_like(shifts) if phases is None else np.asarray(phases, dtype=np.float64)[:, None, None]
    times = np.arange(num_steps + 1)[None, :, None]
    return np.sin(GRID[None, None, :] - phases - shifts * times)[..., None].astype(np.float32)


def identity_nrmse(shift_per_step, num_steps):
    """nRMSE of the identity on a unit sine advected by c per step: |e^{i c t} - 1| = sqrt(2 - 2 cos(c t))."""
    t = np.arange(1, num_steps + 1)
    return np.sqrt(2.0 - 2.0 * np.cos(shift_per_step * t))


class Scale(nnx.Module):
    def __init__(self, factor):
        self.factor = nnx.Param(jnp.asarray(factor, jnp.float32))

    def __call__(self, states):
        return jnp.roll(states, 1, axis=1) * self.factor


def test_rollout_trajectories_shapes_and_values():
    ic = jnp.arange(2 * 5 * 1, dtype=jnp.float32).reshape(2, 5, 1)
    with_init = rollout_trajectories(shift_right, ic, 3)
    without_init = rollout_trajectories(shift_right, ic, 3, include_init=False, unroll=True)
    assert with_init.shape == (2, 4, 5, 1) and without_init.shape == (2, 3, 5, 1)
    for t in range(4):
        np.testing.assert_array_equal(with_init[:, t], np.roll(ic, t, axis=1))
    np.testing.assert_array_equal(without_init, with_init[:, 1:])


def test_exact_stepper_on_its_own_trajectories_has_zero_error():
    ic = np.random.default_rng(0).normal(size=(5, NUM_POINTS, 2)).astype(np.float32)
    references = rollout_trajectories(shift_right, ic, 6)
    result = evaluate_rollout(shift_right, references)
    assert result.sample_nrmse.shape == (5, 6) and result.mean_nrmse.shape == (6,)
    np.testing.assert_array_equal(result.sample_nrmse, 0.0)
    np.testing.assert_allclose(result.sample_correlation, 1.0, atol=1e-6)
    assert result.gmean_nrmse == 0.0


def test_identity_on_advected_sine_gives_analytic_nrmse_and_correlation():
    shift = 0.1
    references = advected_sines([shift] * 3, 20, phases=[0.0, 0.7, 2.0])
    result = evaluate_rollout(identity, references)
    t = np.arange(1, 21)
    np.testing.assert_allclose(result.mean_nrmse, identity_nrmse(shift, 20), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(result.mean_correlation, np.cos(shift * t), rtol=1e-5, atol=1e-6)


def test_physics_advection_stepper_exact_and_identity():
    # Difficulty gamma moves the state |gamma| cells per step: mode 1 turns by 2 pi * 2 / 16 per step.
    stepper = DifficultyLinearStepperSimple(1, NUM_POINTS, difficulty=-2.0, order=1)
    references = rollout_trajectories(stepper, advected_sines([0.0, 0.0], 0, phases=[0.0, 1.0])[:, 0], 5)
    np.testing.assert_array_equal(evaluate_rollout(stepper, references).sample_nrmse, 0.0)
    result = evaluate_rollout(identity, references)
    np.testing.assert_allclose(
        result.mean_nrmse, identity_nrmse(2 * np.pi * 2 / NUM_POINTS, 5), rtol=1e-5, atol=1e-6
    )


def test_geometric_mean_hand_computed():
    # Shift pi/3 per step: nRMSE = sqrt(2 - 2 cos(pi t / 3)) = 1, sqrt(3), 2 at t = 1, 2, 3.
    references = advected_sines([np.pi / 3], 3)
    result = evaluate_rollout(identity, references)
    np.testing.assert_allclose(result.mean_nrmse, [1.0, np.sqrt(3.0), 2.0], rtol=1e-5)
    assert result.gmean_num_steps == 3
    np.testing.assert_allclose(result.gmean_nrmse, 12.0 ** (1 / 6), rtol=1e-5)  # (1 * sqrt 3 * 2)^(1/3)
    two_steps = evaluate_rollout(identity, references, gmean_num_steps=2)
    np.testing.assert_allclose(two_steps.gmean_nrmse, 3.0 ** (1 / 4), rtol=1e-5)
    shorter = evaluate_rollout(identity, references, num_steps=1)
    np.testing.assert_allclose(shorter.mean_nrmse, [1.0], rtol=1e-5)
    assert shorter.gmean_num_steps == 1


def test_chunks_that_do_not_divide_the_set_count_every_sample_once():
    shifts = [
        0.05,
        0.1,
        0.2,
        0.3,
        0.4,
        0.5,
        0.6,
    ]  # a different error per sample: a dropped or doubled one shows
    references = advected_sines(shifts, 8)
    expected = np.stack([identity_nrmse(c, 8) for c in shifts])
    whole = evaluate_rollout(identity, references)
    chunked = evaluate_rollout(identity, references, batch_size=3)
    np.testing.assert_allclose(whole.sample_nrmse, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(whole.mean_nrmse, expected.mean(axis=0), rtol=1e-5, atol=1e-6)
    for name in ("sample_nrmse", "sample_correlation", "mean_nrmse", "mean_correlation"):
        np.testing.assert_allclose(getattr(chunked, name), getattr(whole, name), rtol=1e-6, atol=1e-7)
    assert chunked.gmean_nrmse == pytest.approx(whole.gmean_nrmse, rel=1e-6)


def test_one_trace_serves_every_chunk():
    traces = {"one": 0, "three": 0}

    def counting(key):
        def stepper(states):
            traces[key] += 1
            return states

        return stepper

    references = advected_sines([0.1] * 7, 4)
    evaluate_rollout(counting("one"), references)
    evaluate_rollout(counting("three"), references, batch_size=3)
    assert traces["three"] == traces["one"] >= 1


def test_nnx_module_stepper_reuses_its_compilation_across_parameter_values():
    traces = []

    class CountingScale(Scale):
        def __call__(self, states):
            traces.append(1)
            return super().__call__(states)

    ic = np.random.default_rng(1).normal(size=(4, NUM_POINTS, 1)).astype(np.float32)
    references = rollout_trajectories(shift_right, ic, 3)
    model = CountingScale(1.0)
    np.testing.assert_array_equal(evaluate_rollout(model, references, batch_size=3).sample_nrmse, 0.0)
    num_traces = len(traces)
    model.factor[...] = 2.0
    # u_t = 2^t * exact  =>  nRMSE_t = 2^t - 1.
    result = evaluate_rollout(model, references, batch_size=3)
    np.testing.assert_allclose(result.mean_nrmse, [1.0, 3.0, 7.0], rtol=1e-6)
    assert len(traces) == num_traces


def test_scalars_and_json():
    references = advected_sines([np.pi / 3], 12)
    result = evaluate_rollout(identity, references)
    scalars = result.scalars("eval/")
    assert set(scalars) == {
        "eval/gmean_nrmse_12",
        "eval/mean_nrmse",
        "eval/nrmse_step_1",
        "eval/nrmse_step_10",
        "eval/correlation_step_1",
        "eval/correlation_step_10",
    }
    assert scalars["eval/nrmse_step_1"] == pytest.approx(1.0, rel=1e-5)
    assert scalars["eval/correlation_step_10"] == pytest.approx(np.cos(10 * np.pi / 3), abs=1e-5)
    assert all(isinstance(v, float) for v in scalars.values())
    assert set(result.scalars("test_", steps=(2,))) >= {"test_nrmse_step_2", "test_gmean_nrmse_12"}
    loaded = json.loads(json.dumps(result.to_dict()))
    assert loaded["num_steps"] == 12 and loaded["num_samples"] == 1
    np.testing.assert_allclose(loaded["mean_nrmse"], result.mean_nrmse)


def test_eval_fn_returns_the_evaluation_of_evaluate_rollout_with_baselines():
    references = advected_sines([np.pi / 3, 0.1, 0.2], 4)
    eval_fn = make_eval_fn(references, batch_size=2, num_plot_samples=2, baselines={"coarse": shift_right})
    evaluation = eval_fn(identity)
    assert isinstance(evaluation, Evaluation)
    model = evaluate_rollout(identity, references)
    coarse = evaluate_rollout(shift_right, references)
    expected_scalars = {**model.scalars("eval/"), **coarse.scalars("eval/coarse/")}
    assert (
        set(evaluation.scalars())
        == set(expected_scalars)
        == {
            "eval/gmean_nrmse_4",
            "eval/mean_nrmse",
            "eval/nrmse_step_1",
            "eval/correlation_step_1",
            "eval/coarse/gmean_nrmse_4",
            "eval/coarse/mean_nrmse",
            "eval/coarse/nrmse_step_1",
            "eval/coarse/correlation_step_1",
        }
    )
    for name, value in evaluation.scalars().items():
        assert isinstance(value, float) and value == pytest.approx(expected_scalars[name], rel=1e-6, abs=1e-7)
    assert set(evaluation.scalars("x_", steps=(2,))) == {
        *model.scalars("x_", steps=(2,)),
        *coarse.scalars("x_coarse/", steps=(2,)),
    }
    arrays = evaluation.arrays()
    expected_arrays = {
        "eval/mean_nrmse_per_step": model.mean_nrmse,
        "eval/mean_correlation_per_step": model.mean_correlation,
        "eval/sample_nrmse": model.sample_nrmse,
        "eval/coarse/mean_nrmse_per_step": coarse.mean_nrmse,
        "eval/coarse/mean_correlation_per_step": coarse.mean_correlation,
    }
    assert set(arrays) == set(expected_arrays)
    for name, value in expected_arrays.items():
        np.testing.assert_allclose(arrays[name], value, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(
        arrays["eval/sample_nrmse"][0], [1.0, np.sqrt(3.0), 2.0, np.sqrt(3.0)], rtol=1e-5
    )
    assert set(evaluation.arrays("p/")) == {name.replace("eval/", "p/", 1) for name in expected_arrays}
    # The first two trajectories, their rollouts by the model (identity: the initial condition repeated).
    np.testing.assert_array_equal(evaluation.references, references[:2])
    np.testing.assert_array_equal(evaluation.predictions, np.repeat(references[:2, :1], 5, axis=1))


def test_baselines_are_evaluated_once_per_eval_fn():
    class CountingShift:
        """Unhashable, so every evaluation compiles, and so calls it, anew."""

        __hash__ = None

        def __init__(self):
            self.calls = 0

        def __call__(self, states):
            self.calls += 1
            return shift_right(states)

    baseline, model = CountingShift(), CountingShift()
    references = advected_sines([0.1, 0.2, 0.3], 3)
    eval_fn = make_eval_fn(references, baselines={"coarse": baseline}, num_plot_samples=0)
    assert baseline.calls == 0  # nothing runs when the function is made
    first = eval_fn(model)
    calls_per_evaluation = baseline.calls
    assert calls_per_evaluation >= 1 and model.calls == calls_per_evaluation
    second, third = eval_fn(model), eval_fn(identity)
    assert baseline.calls == calls_per_evaluation
    assert model.calls == 2 * calls_per_evaluation
    for evaluation in (second, third):
        np.testing.assert_array_equal(
            evaluation.baselines["coarse"].sample_nrmse, first.baselines["coarse"].sample_nrmse
        )
    np.testing.assert_array_equal(second.metrics.sample_nrmse, first.baselines["coarse"].sample_nrmse)
    np.testing.assert_allclose(third.metrics.mean_nrmse, evaluate_rollout(identity, references).mean_nrmse)
    assert first.predictions is None and first.references is None


def test_eval_fn_checks_its_arguments_when_made():
    references = advected_sines([np.pi / 3, 0.1, 0.2], 4)
    with pytest.raises(ValueError, match="num_plot_samples"):
        make_eval_fn(references, num_plot_samples=4)
    with pytest.raises(ValueError, match="num_steps"):
        make_eval_fn(references, num_steps=9)
    with pytest.raises(ValueError, match="baselines"):
        make_eval_fn(references, baselines={"a/b": identity})
    with pytest.raises(TypeError, match="baselines"):
        make_eval_fn(references, baselines={"coarse": 1.0})


def test_result_is_a_frozen_dataclass():
    result = evaluate_rollout(identity, advected_sines([0.1], 2))
    assert isinstance(result, RolloutMetrics)
    with pytest.raises(AttributeError):
        result.gmean_nrmse = 0.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_steps": 5}, "num_steps"),
        ({"num_steps": 0}, "num_steps"),
        ({"batch_size": 0}, "batch_size"),
        ({"gmean_num_steps": 0}, "gmean_num_steps"),
        ({"sharding": "data"}, "sharding"),
    ],
)
def test_bad_arguments_name_the_parameter(kwargs, match):
    references = advected_sines([0.1], 4)
    error = TypeError if "sharding" in kwargs else ValueError
    with pytest.raises(error, match=match):
        evaluate_rollout(identity, references, **kwargs)


def test_bad_shapes_name_the_parameter():
    with pytest.raises(ValueError, match="reference_trajectories"):
        evaluate_rollout(identity, np.zeros((3, 4, 16)))
    with pytest.raises(ValueError, match="num_steps"):
        rollout_trajectories(identity, np.zeros((3, 16, 1)), 0)
    with pytest.raises(ValueError, match="initial_states"):
        rollout_trajectories(identity, np.zeros((16, 1)), 2)


NON_FLOAT = [(np.int32, "int32"), (np.bool_, "bool"), (np.complex64, "complex64")]


@pytest.mark.parametrize(("dtype", "name"), NON_FLOAT)
def test_non_float_references_are_rejected_naming_the_argument_and_dtype(dtype, name):
    # int32 references used to give an nRMSE of exactly 1 and complex ones a negative MSE, silently.
    references = np.ones((2, 3, NUM_POINTS, 1), dtype=dtype)
    match = rf"reference_trajectories must hold real floating-point values .*got dtype {name}"
    with pytest.raises(TypeError, match=match):
        evaluate_rollout(identity, references)
    with pytest.raises(TypeError, match=match):
        make_eval_fn(references)
    with pytest.raises(TypeError, match=match):
        make_eval_fn(references, baselines={"coarse": identity}, num_plot_samples=0)


SHARDED_SCRIPT = textwrap.dedent(
    """
    import jax, jax.numpy as jnp, numpy as np
    from flax import nnx
    from emutrain.evaluate import evaluate_rollout, make_eval_fn, rollout_trajectories

    class Damped(nnx.Module):
        def __init__(self):
            self.factor = nnx.Param(jnp.asarray(1.5, jnp.float32))
        def __call__(self, x):
            return jnp.tanh(jnp.roll(x, 1, axis=1) * self.factor)

    assert jax.device_count() == 8
    ic = np.random.default_rng(0).normal(size=(30, 16, 2)).astype(np.float32)
    refs = np.asarray(rollout_trajectories(lambda x: jnp.roll(x, 1, axis=1), ic, 5))
    single = evaluate_rollout(Damped(), refs)  # one device, one unpadded chunk
    meshes = {"8": jax.make_mesh((8,), ("data",)), "4x2": jax.make_mesh((4, 2), ("data", "model"))}
    worst = 0.0
    for mesh_name, mesh in meshes.items():
        for batch_size in (30, 7):
            sharded = evaluate_rollout(Damped(), refs, batch_size=batch_size, sharding=mesh)
            assert sharded.sample_nrmse.shape == (30, 5), sharded.sample_nrmse.shape
            for name in ("sample_nrmse", "sample_correlation", "mean_nrmse", "mean_correlation"):
                a, b = getattr(sharded, name), getattr(single, name)
                message = f"{mesh_name} {batch_size} {name}"
                np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7, err_msg=message)
                worst = max(worst, float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-30))))
            assert abs(sharded.gmean_nrmse - single.gmean_nrmse) <= 1e-6 * single.gmean_nrmse
    identity = lambda x: x
    eval_fn = make_eval_fn(refs, batch_size=7, sharding=meshes["8"], baselines={"identity": identity})
    evaluation = eval_fn(Damped())
    np.testing.assert_allclose(evaluation.metrics.mean_nrmse, single.mean_nrmse, rtol=1e-6)
    baseline = evaluate_rollout(identity, refs).mean_nrmse
    np.testing.assert_allclose(evaluation.baselines["identity"].mean_nrmse, baseline, rtol=1e-6)
    # A sharding that splits a spatial axis of 16 points 3 ways cannot be padded on the batch axis.
    bad = jax.sharding.NamedSharding(jax.make_mesh((8,), ("x",)), jax.sharding.PartitionSpec(None, None, "x"))
    try:
        evaluate_rollout(Damped(), refs[:, :, :12], sharding=bad)
    except ValueError as error:
        assert "sharding" in str(error), error
    else:
        raise AssertionError("a sharding of 12 points over 8 devices must raise")
    print(f"max relative difference {worst:.3g}")
    print("OK")
    """
)


def test_any_batch_size_on_eight_devices_matches_one_device():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8", JAX_PLATFORMS="cpu")
    completed = subprocess.run(
        [sys.executable, "-c", SHARDED_SCRIPT], env=env, capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.strip().endswith("OK")


def test_num_channels_compares_the_first_channels_and_carries_the_others():
    rng = np.random.default_rng(0)
    references = rng.normal(size=(3, 5, 8, 3)).astype(np.float32)

    def stepper(u):  # decays the first two channels, reads and carries the third
        return jnp.concatenate([0.9 * u[..., :2] + 0.1 * u[..., 2:], u[..., 2:]], -1)

    ours = evaluate_rollout(stepper, references, num_channels=2, batch_size=2)
    carried = np.repeat(references[:, :1, ..., 2:], 5, axis=1)
    # the rollout with the third channel held at its initial value, compared on the first two
    states = [references[:, 0]]
    for _ in range(4):
        states.append(np.asarray(stepper(jnp.asarray(states[-1]))))
    predictions = np.stack(states, 1)
    np.testing.assert_array_equal(predictions[..., 2:], carried)
    difference = predictions[:, 1:, ..., :2] - references[:, 1:, ..., :2]
    error = np.linalg.norm(difference.reshape(3, 4, -1), axis=-1)
    norm = np.linalg.norm(references[:, 1:, ..., :2].reshape(3, 4, -1), axis=-1)
    np.testing.assert_allclose(ours.sample_nrmse, error / norm, rtol=1e-5)
    evaluation = make_eval_fn(references, num_channels=2)(stepper)
    np.testing.assert_allclose(evaluation.metrics.sample_nrmse, ours.sample_nrmse, rtol=1e-6)
    assert evaluation.predictions.shape == evaluation.references.shape == (1, 5, 8, 2)
    for bad in (0, 4):
        with pytest.raises(ValueError, match="num_channels must be"):
            evaluate_rollout(stepper, references, num_channels=bad)
