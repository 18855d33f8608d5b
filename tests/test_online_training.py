"""Online training pieces: the pyqg-jax stepper bridge, the closure over a frozen solver, the config."""

import builtins

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import emutrain.nn as enn
import emutrain.physics as ep
from emutrain import config_files, schema
from emutrain.configurations import Supervised
from emutrain.experiment import build_coarse, build_model
from emutrain.physics import pyqg_bridge

# pyqg_jax asks for float64 arrays that its single-precision models truncate to float32 by design
pytestmark = pytest.mark.filterwarnings("ignore:Explicitly requested dtype:UserWarning")

def load_config(variant=None):
    return config_files.load_config("online_training", variant)


def zero_closure(coarse, seed=0):
    """ParallelCorrector over `coarse` whose ConvNet's last layer is zero: it adds exactly nothing."""
    net = enn.ConvNet(2, 1, 1, hidden_channels=4, depth=1, rngs=nnx.Rngs(seed))
    last = net.layers[-1]
    last.kernel[...] = jnp.zeros_like(last.kernel[...])
    last.bias[...] = jnp.zeros_like(last.bias[...])
    return enn.ParallelCorrector(coarse, net)


@pytest.fixture(scope="module")
def kolmogorov_window():
    """A `(2, 4, 16, 16, 1)` window batch of the coarse Kolmogorov solver from a smooth random state."""
    coarse = ep.KolmogorovFlowVorticity(2, 2 * np.pi, 16, 0.05, diffusivity=1e-2, injection_mode=2)
    u0 = ep.build_ic_set(
        ep.RandomTruncatedFourierSeries(2, cutoff=3, max_one=True),
        num_points=16,
        num_samples=2,
        key=jax.random.PRNGKey(0),
    )
    trajectory = jax.jit(ep.rollout(coarse, 3, include_init=True))(u0)
    return coarse, trajectory


def test_zero_closure_reproduces_the_coarse_solver(kolmogorov_window):
    coarse, window = kolmogorov_window
    model = zero_closure(coarse)
    u = window[:, 0]
    np.testing.assert_array_equal(np.asarray(jax.jit(model)(u)), np.asarray(jax.jit(coarse)(u)))
    # so its online-training loss against the coarse solver's own trajectory is exactly zero
    assert float(jax.jit(lambda w: Supervised(3)(model, w))(window)) == 0.0


def test_checkpointed_rollout_has_the_plain_loss_and_gradient(kolmogorov_window):
    """remat / sqrt chunking trade memory for recomputation: loss and gradient must not change."""
    coarse, window = kolmogorov_window
    target = window + 0.1 * jnp.sin(window)  # a target the coarse solver does not reproduce
    model = enn.ParallelCorrector(coarse, enn.ConvNet(2, 1, 1, hidden_channels=4, depth=1, rngs=nnx.Rngs(1)))
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)

    def loss(p, configuration):
        return configuration(nnx.merge(graphdef, p, rest, copy=True), target)

    results = [
        jax.jit(jax.value_and_grad(loss), static_argnums=1)(params, Supervised(3, **options))
        for options in ({}, {"remat": True, "checkpoint_chunk_size": "sqrt"})
    ]
    (value, grad), (checkpointed_value, checkpointed_grad) = results
    assert float(value) > 0
    assert max(float(jnp.abs(g).max()) for g in jax.tree.leaves(grad)) > 0
    np.testing.assert_allclose(float(checkpointed_value), float(value), rtol=1e-6)
    for a, b in zip(jax.tree.leaves(checkpointed_grad), jax.tree.leaves(grad)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-7)


def test_config_variants():
    module = config_files.config_module("online_training")
    assert module.PROBLEMS == ("qg", "kolmogorov") and module.MIN_LOSS_DROP == 10.0
    for problem in module.PROBLEMS:
        full, quick = load_config(problem), load_config(f"{problem},quick")
        for config in (full, quick):
            fine, coarse = config.scenario.overrides.fine_points, config.scenario.overrides.num_points
            assert fine > coarse and fine % coarse == 0
            rollout = int(config.method.split(";")[1])
            assert config.scenario.overrides.train_temporal_horizon >= rollout
            assert config.task.startswith("correct;")
        assert schema.resolve_config(quick).train.num_steps < schema.resolve_config(full).train.num_steps
    assert load_config("qg").task == "correct;tendency"
    assert load_config("kolmogorov").task == "correct;parallel"
    with pytest.raises(ValueError, match="variant"):
        load_config("huge")


def test_zero_spectral_closure_is_the_coarse_model(pyqg_jax):
    """`Spectral;8;zero` inside `correct;tendency` adds no tendency: the closure steps as the bare solver."""
    config = load_config("qg,quick")
    model, coarse = build_model(config), build_coarse(config)
    u = jax.random.normal(jax.random.PRNGKey(0), (1, 16, 16, 2))
    np.testing.assert_allclose(np.asarray(model(u)), np.asarray(coarse(u)), rtol=1e-6, atol=1e-6)


def test_missing_pyqg_raises_an_import_error_naming_the_extra(monkeypatch):
    real_import = builtins.__import__

    def no_pyqg(name, *args, **kwargs):
        if name == "pyqg_jax" or name.startswith("pyqg_jax."):
            raise ImportError("No module named 'pyqg_jax'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyqg)
    with pytest.raises(ImportError, match=r"emutrain\[qg\]"):
        pyqg_bridge.QGStepper(16, 3600.0)


@pytest.fixture(scope="module")
def pyqg_jax():
    return pytest.importorskip("pyqg_jax")


def test_qg_stepper_equals_pyqg_own_steps(pyqg_jax):
    stepper = pyqg_bridge.QGStepper(16, 3600.0, num_substeps=3, q_scale=1e-6)
    assert stepper.num_channels == 2
    u = stepper.initial_state(jax.random.key(1))[None]  # (1, 16, 16, 2)
    out = jax.jit(stepper)(u)[0]

    model = pyqg_jax.steppers.SteppedModel(
        model=stepper.model(), stepper=pyqg_jax.steppers.AB3Stepper(dt=3600.0)
    )

    @jax.jit
    def reference(q):
        state = stepper.model().create_initial_state(jax.random.key(7)).update(q=q)
        state = model.initialize_stepper_state(state)
        for _ in range(3):
            state = model.step_model(state)
        return state.state.q

    expected = jnp.moveaxis(reference(jnp.moveaxis(u[0], -1, 0) * 1e-6), 0, -1) / 1e-6
    np.testing.assert_allclose(
        np.asarray(out), np.asarray(expected), atol=1e-5 * float(jnp.abs(expected).max())
    )
    assert float(jnp.abs(out - u[0]).max()) > 1e-3  # the model did move the state


def test_qg_stepper_tendency(pyqg_jax):
    stepper = pyqg_bridge.QGStepper(16, 3600.0, num_substeps=2)
    u = stepper.initial_state(jax.random.key(0))[None]
    plain = jax.jit(stepper)(u)

    @jax.jit
    def moved(scale):
        return stepper(u, tendency=lambda v: scale * v)

    # a zero tendency changes nothing
    np.testing.assert_array_equal(np.asarray(moved(0.0)), np.asarray(plain))

    assert float(jnp.abs(moved(0.1) - plain).max()) > 1e-3
    # the tendency is differentiable through the solver: d/dscale of the output matches finite differences
    direction = jax.random.normal(jax.random.key(1), u.shape)
    grad = jax.jit(jax.grad(lambda s: jnp.sum(direction * moved(s))))(0.0)
    eps = 1e-2
    fd = (jnp.sum(direction * moved(eps)) - jnp.sum(direction * moved(-eps))) / (2 * eps)
    np.testing.assert_allclose(float(grad), float(fd), rtol=2e-2)


def test_qg_stepper_hash_and_validation(pyqg_jax):
    a = pyqg_bridge.QGStepper(16, 3600.0, num_substeps=2, beta=1.5e-11)
    b = pyqg_bridge.QGStepper(16, 3600.0, num_substeps=2, beta=1.5e-11)
    assert a == b and hash(a) == hash(b)
    assert a != pyqg_bridge.QGStepper(16, 3600.0, num_substeps=3, beta=1.5e-11)
    enn.PhysicsStepper(a)  # hashable, so it can be a static part of an NNX graph
    with pytest.raises(ValueError, match="num_points"):
        pyqg_bridge.QGStepper(15, 3600.0)
    with pytest.raises(ValueError, match="num_substeps"):
        pyqg_bridge.QGStepper(16, 3600.0, num_substeps=0)
    with pytest.raises(ValueError, match=r"u must have shape"):
        a(jnp.zeros((16, 16, 1)))
