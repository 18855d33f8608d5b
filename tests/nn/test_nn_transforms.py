"""Every module under jit, grad (split/merge train-step pattern and nnx.grad) and vmap; ensembles."""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import emutrain.nn as enn


@dataclasses.dataclass(frozen=True)
class Decay:
    def __call__(self, u):
        return 0.5 * u


R = nnx.Rngs
MODULES = {
    "Conv": (lambda: enn.Conv(1, 1, 2, boundary_mode="neumann", rngs=R(0)), (8, 1)),
    "PointwiseLinear": (lambda: enn.PointwiseLinear(1, 2, rngs=R(0)), (8, 1)),
    "SpectralConv": (lambda: enn.SpectralConv(1, 1, 2, modes=2, rngs=R(0)), (8, 1)),
    "Downsample": (lambda: enn.Downsample(1, 1, 2, rngs=R(0)), (8, 1)),
    "Upsample": (lambda: enn.Upsample(1, 1, 2, rngs=R(0)), (8, 1)),
    "MLP": (lambda: enn.MLP(1, 1, 1, num_points=8, width_size=4, rngs=R(0)), (8, 1)),
    "ConvNet": (
        lambda: enn.ConvNet(2, 1, 1, hidden_channels=2, depth=1, boundary_mode="dirichlet", rngs=R(0)),
        (4, 4, 1),
    ),
    "ResNet": (
        lambda: enn.ResNet(1, 1, 1, hidden_channels=2, num_blocks=1, compute_dtype=jnp.bfloat16, rngs=R(0)),
        (8, 1),
    ),
    "UNet": (lambda: enn.UNet(1, 1, 1, hidden_channels=2, num_levels=1, rngs=R(0)), (8, 1)),
    "DilatedResNet": (
        lambda: enn.DilatedResNet(1, 1, 1, hidden_channels=2, num_blocks=1, dilation_rates=(1, 2), rngs=R(0)),
        (8, 1),
    ),
    "FNO": (lambda: enn.FNO(1, 1, 1, hidden_channels=2, num_blocks=1, modes=2, rngs=R(0)), (8, 1)),
    "PhysicsStepper": (lambda: enn.PhysicsStepper(Decay()), (8, 1)),
    "SequentialCorrector": (
        lambda: enn.SequentialCorrector(Decay(), enn.ConvNet(1, 1, 1, hidden_channels=2, depth=1, rngs=R(0))),
        (8, 1),
    ),
    "ParallelCorrector": (
        lambda: enn.ParallelCorrector(
            Decay(), enn.ConvNet(1, 1, 1, hidden_channels=2, depth=1, rngs=R(0)), cut_coarse_gradient=True
        ),
        (8, 1),
    ),
    "SequentialWithBypass": (
        lambda: enn.SequentialWithBypass(
            Decay(), enn.ConvNet(1, 1, 1, hidden_channels=2, depth=1, rngs=R(0))
        ),
        (8, 1),
    ),
    "Ensemble": (
        lambda: enn.Ensemble(
            lambda rngs: enn.SequentialCorrector(
                Decay(), enn.ConvNet(1, 1, 1, hidden_channels=2, depth=1, rngs=rngs)
            ),
            2,
            rngs=R(0),
        ),
        (8, 1),
    ),
}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_under_jit_grad_vmap(name):
    build, core = MODULES[name]
    model = build()
    x = jax.random.normal(jax.random.key(0), (3, *core))
    # bf16 compute rounds differently when XLA fuses differently; float32 modules agree to 1e-5.
    tol = 2e-2 if name == "ResNet" else 1e-5
    out = nnx.jit(lambda m, v: m(v))(model, x)
    np.testing.assert_allclose(out, model(x), rtol=tol, atol=tol)

    # the train-step pattern: split, differentiate params with jax, merge(copy=True) inside the loss
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)

    def loss(p, v):
        return jnp.mean(nnx.merge(graphdef, p, rest, copy=True)(v) ** 2)

    value, grads = jax.jit(jax.value_and_grad(loss))(params, x)
    np.testing.assert_allclose(value, jnp.mean(out**2), rtol=tol)
    assert jax.tree.structure(grads) == jax.tree.structure(params)
    nnx_grads = nnx.jit(nnx.grad(lambda m, v: jnp.mean(m(v) ** 2)))(model, x)
    for a, b in zip(jax.tree.leaves(grads), jax.tree.leaves(nnx_grads)):
        np.testing.assert_allclose(a, b, rtol=tol, atol=1e-7)
    if name != "PhysicsStepper":
        assert any(np.any(g != 0) for g in jax.tree.leaves(grads))

    # vmap over an extra leading axis of the input equals applying to each slice
    stacked = jnp.stack([x, 2 * x])
    mapped = nnx.jit(nnx.vmap(lambda m, v: m(v), in_axes=(None, 0)))(model, stacked)
    np.testing.assert_allclose(mapped[0], out, rtol=tol, atol=tol)


def _ensemble(num_members=3):
    return enn.Ensemble(
        functools.partial(enn.ResNet, 1, 1, 1, hidden_channels=2, num_blocks=1), num_members, rngs=R(0)
    )


def test_ensemble_members_differ_and_match_standalone_members():
    ensemble = _ensemble()
    for leaf in jax.tree.leaves(nnx.state(ensemble, nnx.Param)):
        assert leaf.shape[0] == 3
        assert not np.allclose(leaf[0], leaf[1]) and not np.allclose(leaf[1], leaf[2])
    x = jax.random.normal(jax.random.key(0), (2, 8, 1))
    shared = ensemble(x)
    per_member = ensemble(jnp.stack([x, 2 * x, 3 * x]))
    assert shared.shape == per_member.shape == (3, 2, 8, 1)
    for i in range(3):
        np.testing.assert_allclose(shared[i], ensemble.member(i)(x), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(per_member[i], ensemble.member(i)((i + 1) * x), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="num_members"):
        ensemble(jnp.ones((2, 2, 8, 1)))


def test_ensemble_trains_each_member_as_if_alone():
    ensemble = _ensemble()
    data_in = jax.random.normal(jax.random.key(1), (3, 2, 8, 1))
    data_out = jax.random.normal(jax.random.key(2), (3, 2, 8, 1))
    optimizer = optax.adam(1e-2)

    @functools.partial(jax.jit, static_argnums=(0, 3))
    def update(graphdef, params, rest, reduce_members, x, y):
        def loss(p):
            squared = (nnx.merge(graphdef, p, rest, copy=True)(x) - y) ** 2
            # ensemble: sum over members of each member's mean loss, so member gradients do not mix
            return jnp.sum(jnp.mean(squared, axis=(1, 2, 3))) if reduce_members else jnp.mean(squared)

        updates, _ = optimizer.update(jax.grad(loss)(params), optimizer.init(params), params)
        return optax.apply_updates(params, updates)

    def step(model, reduce_members, x, y):
        graphdef, params, rest = nnx.split(model, nnx.Param, ...)
        return nnx.merge(graphdef, update(graphdef, params, rest, reduce_members, x, y), rest)

    members_before = [ensemble.member(i) for i in range(3)]
    trained = step(ensemble, True, data_in, data_out)
    changes = []
    for i in range(3):
        alone = step(members_before[i], False, data_in[i], data_out[i])
        for a, b in zip(
            jax.tree.leaves(nnx.state(trained.member(i), nnx.Param)),
            jax.tree.leaves(nnx.state(alone, nnx.Param)),
        ):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
        before = jax.tree.leaves(nnx.state(members_before[i], nnx.Param))
        after = jax.tree.leaves(nnx.state(trained.member(i), nnx.Param))
        changes.append(np.concatenate([np.ravel(a - b) for a, b in zip(after, before)]))
    assert not np.allclose(changes[0], changes[1]) and not np.allclose(changes[1], changes[2])
