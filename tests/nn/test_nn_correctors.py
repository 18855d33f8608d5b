"""Correctors and PhysicsStepper: semantics, no physics in the state, gradients, no recompilation."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import emutrain.nn as enn
from emutrain.physics import DifficultyLinearStepperSimple


@dataclasses.dataclass(frozen=True)
class ShiftDecay:
    """Hashable stand-in physics: ``u -> decay * roll(u, 1)`` along the spatial axis of ``(..., N, C)``."""

    decay: float = 0.9

    def __call__(self, u):
        return self.decay * jnp.roll(u, 1, axis=-2)


def _net(seed=0):
    return enn.ResNet(1, 1, 1, hidden_channels=3, num_blocks=1, activation=jnp.tanh, rngs=nnx.Rngs(seed))


CORRECTORS = {
    "sequential": (enn.SequentialCorrector, lambda c, n, u: n(c(u))),
    "parallel": (enn.ParallelCorrector, lambda c, n, u: c(u) + n(u)),
    "bypass": (enn.SequentialWithBypass, lambda c, n, u: c(u) + n(c(u))),
}


@pytest.mark.parametrize("kind", sorted(CORRECTORS))
def test_corrector_formulas(kind):
    cls, formula = CORRECTORS[kind]
    physics, net = ShiftDecay(), _net()
    model = cls(physics, net)
    u = jax.random.normal(jax.random.key(0), (2, 16, 1))
    np.testing.assert_allclose(model(u), formula(physics, net, u), rtol=1e-6)
    assert isinstance(model.coarse, enn.PhysicsStepper)


def _param_paths(state):
    return {tuple(str(k) for k in path) for path, _ in nnx.to_flat_state(state)}


@pytest.mark.parametrize("cut", [False, True])
def test_gradient_state_has_no_physics_leaves(cut):
    physics = DifficultyLinearStepperSimple(1, 16, difficulty=-1.5, order=1)
    model = enn.SequentialWithBypass(physics, _net(), cut_coarse_gradient=cut)
    u = jax.random.normal(jax.random.key(0), (2, 16, 1))
    grads = nnx.grad(lambda m: jnp.mean(m(m(u)) ** 2))(model)
    assert _param_paths(grads) == {("net", *p) for p in _param_paths(nnx.state(model.net, nnx.Param))}
    assert len(jax.tree.leaves(grads)) == len(jax.tree.leaves(nnx.state(model.net, nnx.Param)))
    # nothing of the physics anywhere in the state (what a checkpoint stores)
    assert all(p[0] == "net" for p in _param_paths(nnx.state(model)))


def test_cut_removes_only_the_paths_through_the_coarse_solver():
    physics, u = ShiftDecay(), jax.random.normal(jax.random.key(0), (1, 16, 1))

    def input_grad(model):
        return jax.grad(lambda v: jnp.sum(model(v) ** 2))(u)

    # Sequential: every input path runs through the coarse solver.
    np.testing.assert_array_equal(
        input_grad(enn.SequentialCorrector(physics, _net(), cut_coarse_gradient=True)), 0
    )
    # Parallel: the cut leaves exactly the network path.
    par = enn.ParallelCorrector(physics, _net(), cut_coarse_gradient=True)
    c = physics(u)
    expected = jax.grad(lambda v: jnp.sum((c + par.net(v)) ** 2))(u)
    np.testing.assert_allclose(input_grad(par), expected, rtol=1e-6)

    def param_grads(model, steps):
        def loss(m):
            v = u
            for _ in range(steps):
                v = m(v)
            return jnp.sum(v**2)

        return jax.tree.leaves(nnx.grad(loss)(model))

    kept = enn.SequentialCorrector(physics, _net(), cut_coarse_gradient=False)
    cut = enn.SequentialCorrector(physics, _net(), cut_coarse_gradient=True)
    # One step: identical parameter gradients (the frozen solver has no parameters) ...
    for a, b in zip(param_grads(kept, 1), param_grads(cut, 1)):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    # ... two steps: the first step's contribution through the second coarse step is cut.
    assert not all(np.allclose(a, b) for a, b in zip(param_grads(kept, 2), param_grads(cut, 2)))
    np.testing.assert_allclose(kept(kept(u)), cut(cut(u)), rtol=1e-6)


@pytest.mark.parametrize("kind", sorted(CORRECTORS))
def test_gradient_through_coarse_solver_matches_finite_differences_x64(kind):
    with jax.enable_x64(True):
        physics = DifficultyLinearStepperSimple(1, 16, difficulty=-1.5, order=1)
        model = CORRECTORS[kind][0](physics, _net())
        u = jax.random.normal(jax.random.key(0), (1, 16, 1), dtype=jnp.float64)
        direction = jax.random.normal(jax.random.key(1), u.shape, dtype=jnp.float64)

        def loss(v):
            return jnp.sum(jnp.sin(model(model(v))))

        g = jax.grad(loss)(u)
        assert g.dtype == jnp.float64
        eps = 1e-6
        finite_difference = (loss(u + eps * direction) - loss(u - eps * direction)) / (2 * eps)
        np.testing.assert_allclose(jnp.vdot(g, direction), finite_difference, rtol=1e-7)


def test_physics_stepper_split_merge_jit_does_not_recompile():
    physics = DifficultyLinearStepperSimple(1, 16, difficulty=-1.5, order=1)
    model = enn.SequentialCorrector(physics, _net())
    traces = []

    def loss(params, rest, graphdef, u):
        traces.append(1)
        return jnp.mean(nnx.merge(graphdef, params, rest, copy=True)(u) ** 2)

    step = jax.jit(jax.value_and_grad(loss), static_argnums=2)
    u = jnp.ones((2, 16, 1))
    for _ in range(3):
        graphdef, params, rest = nnx.split(model, nnx.Param, ...)
        _, grads = step(params, rest, graphdef, u)
        nnx.update(model, jax.tree.map(lambda p, g: p - 0.1 * g, params, grads))
    assert len(traces) == 1
    assert jax.tree.leaves(rest) == []
    # an equal stepper built anew gives an equal graphdef: the compiled step is reused
    again = enn.SequentialCorrector(DifficultyLinearStepperSimple(1, 16, difficulty=-1.5, order=1), _net())
    g2, p2, r2 = nnx.split(again, nnx.Param, ...)
    step(p2, r2, g2, u)
    assert len(traces) == 1

    calls = []

    @nnx.jit
    def forward(m, v):
        calls.append(1)
        return m(v)

    forward(model, u)
    forward(model, u + 1)
    assert len(calls) == 1


def test_physics_stepper_validation():
    with pytest.raises(TypeError, match="stepper"):
        enn.PhysicsStepper(42)

    @dataclasses.dataclass
    class Unhashable:
        def __call__(self, u):
            return u

    with pytest.raises(TypeError, match="stepper"):
        enn.PhysicsStepper(Unhashable())
    with pytest.raises(TypeError, match="net"):
        enn.SequentialCorrector(ShiftDecay(), lambda u: u)
