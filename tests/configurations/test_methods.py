"""Training methods by name: exact configurations, equal losses, a short training run each, bad strings."""

import jax
import numpy as np
import optax
import pytest
from flax import nnx

import emutrain.nn as enn
from emutrain.configurations import (
    Composite,
    DivertedChain,
    DivertedChainBranchOne,
    MixChainPostPhysics,
    Residuum,
    ResiduumFromRefStepper,
    Supervised,
    TeacherForcing,
    from_method,
)
from tests.configurations import conf_problem as cp

DIRECT = {
    "one": Supervised(1),
    "ONE": Supervised(1),
    "sup;3": Supervised(3),
    "sup;3;true": Supervised(3, cut_bptt=True),
    "sup;3;False": Supervised(3, cut_bptt=False),
    "div;2": DivertedChainBranchOne(2),
    "div;2;true": DivertedChainBranchOne(2, cut_bptt=True),
    "div;2;false;true": DivertedChainBranchOne(2, cut_div_chain=True),
    "Div;2;TRUE;TRUE": DivertedChainBranchOne(2, cut_bptt=True, cut_div_chain=True),
    "mix;2;1": MixChainPostPhysics(2, num_post_physics_steps=1),
    "res;2": ResiduumFromRefStepper(2),
    "tf;3;2": TeacherForcing(3, reset_every=2),
    "divchain;3;2": DivertedChain(3, num_branch_steps=2),
    "sup;3+0.5*div;3": Composite((Supervised(3), DivertedChainBranchOne(3)), weights=(1.0, 0.5)),
    " 2 * one + 1e-1*sup;2 + res;1 ": Composite(
        (Supervised(1), Supervised(2), ResiduumFromRefStepper(1)), weights=(2.0, 0.1, 1.0)
    ),
    "1e+1*one": Composite((Supervised(1),), weights=(10.0,)),
}


@pytest.mark.parametrize("spec", sorted(DIRECT))
def test_method_maps_to_the_configuration(spec):
    conf = from_method(spec)
    assert conf == DIRECT[spec]
    assert type(conf) is type(DIRECT[spec])


DATA = cp.physics_window(5, seed=1) + 0.01 * cp.window(5, seed=2)


def _loss(conf):
    return lambda stepper: conf(stepper, DATA, ref_stepper=cp.ref_stepper, residuum_fn=cp.residuum_fn)


@pytest.mark.parametrize(
    "spec", ["one", "sup;3;true", "Div;2;TRUE;TRUE", "mix;2;1", "tf;3;2", "divchain;3;2"]
)
def test_loss_equals_the_direct_configuration(spec):
    cp.assert_same(cp.value_and_grad(_loss(from_method(spec))), cp.value_and_grad(_loss(DIRECT[spec])), tol=0)


def test_composite_is_the_weighted_sum_of_its_parts():
    ours = cp.value_and_grad(_loss(from_method("sup;3+0.5*div;3")))
    cp.assert_same(ours, cp.value_and_grad(_loss(DIRECT["sup;3+0.5*div;3"])), tol=0)
    parts = [cp.value_and_grad(_loss(conf)) for conf in (Supervised(3), DivertedChainBranchOne(3))]
    cp.assert_same(ours, jax.tree.map(lambda a, b: a + 0.5 * b, *parts), tol=1e-12)


def test_res_equals_div_and_residuum_with_that_residuum_fn():
    res = cp.value_and_grad(_loss(from_method("res;2")))
    cp.assert_same(res, cp.value_and_grad(_loss(DIRECT["res;2"])), tol=0)
    # Residuum with rho(n, p) = n - P(p) exactly, and DivertedChainBranchOne in loss and gradient
    # (docs/architecture.md, "Loss semantics")
    cp.assert_same(res, cp.value_and_grad(_loss(Residuum(2))), tol=0)
    cp.assert_same(res, cp.value_and_grad(_loss(from_method("div;2"))))


def test_residuum_from_ref_stepper_needs_it():
    conf = from_method("res;2")
    assert conf.needs_ref_stepper and not conf.needs_residuum_fn
    with pytest.raises(ValueError, match="ref_stepper"):
        conf(cp.make_stepper(cp.params()), cp.window(3))


ALL_METHODS = [
    "one",
    "sup;2;true",
    "div;2;true;true",
    "mix;2;1",
    "res;2",
    "tf;2;1",
    "divchain;2;2",
    "sup;2+0.5*div;2",
]


@pytest.mark.parametrize("spec", ALL_METHODS)
def test_every_method_trains_a_tiny_resnet(spec):
    """Five Adam steps of a small ResNet on data of the reference stepper: finite losses and gradients, and
    the loss goes down. Op by op: compiling the rollouts costs far more than running them at this size."""
    net = enn.ResNet(1, 1, 1, hidden_channels=4, num_blocks=1, rngs=nnx.Rngs(0))
    graphdef, params = nnx.split(net, nnx.Param)
    data = cp.physics_window(4, seed=3)
    optimizer = optax.adam(1e-2)
    conf = from_method(spec)

    def loss_fn(p):
        return conf(nnx.merge(graphdef, p, copy=True), data, ref_stepper=cp.ref_stepper)

    p, state, values = params, optimizer.init(params), []
    with jax.disable_jit():
        for _ in range(5):
            value, grads = jax.value_and_grad(loss_fn)(p)
            norm = float(optax.tree.norm(grads))
            assert np.isfinite(float(value)) and np.isfinite(norm) and norm > 0
            updates, state = optimizer.update(grads, state, p)
            p = optax.apply_updates(p, updates)
            values.append(float(value))
    assert values[-1] < values[0], values


@pytest.mark.parametrize(
    "spec, message",
    [
        ("", "empty"),
        ("sup", "sup;T"),
        ("sup;0", "T must be an integer >= 1"),
        ("sup;two", "T must be an integer"),
        ("sup;3;yes", "CUT must be 'true' or 'false'"),
        ("div;3;true;maybe", "CUT_DIV"),
        ("div;3;true;true;true", "div;T"),
        ("one;1", "form one"),
        ("mix;3", "mix;T;P"),
        ("tf;3;0", "K must be"),
        ("divchain;2;3", "B must be <= T=2"),
        ("adam;3", "unknown method"),
        ("sup;3+", "empty term"),
        ("-1*sup;3", "WEIGHT"),
        ("x*sup;3", "WEIGHT must be a number"),
        ("nan*sup;3", "WEIGHT"),
        ("inf*sup;3", "WEIGHT must be a finite number"),
        ("0*sup;3", "not be zero for every term"),
        ("0*sup;3+0.0*div;3", "not be zero for every term"),
        ("0e5*one", "not be zero for every term"),
    ],
)
def test_bad_methods_list_the_valid_forms(spec, message):
    with pytest.raises(ValueError, match=message) as info:
        from_method(spec)
    for form in ("one", "sup;T[;CUT]", "div;T[;CUT[;CUT_DIV]]", "mix;T;P", "res;T", "tf;T;K", "divchain;T;B"):
        assert form in str(info.value)


def test_a_zero_weight_beside_a_positive_one_is_kept():
    composite = from_method("0*sup;3+0.5*div;3")
    assert composite.weights == (0.0, 0.5)
    assert composite.configurations == (Supervised(3), DivertedChainBranchOne(3))


def test_non_string_is_a_type_error():
    with pytest.raises(TypeError, match="spec"):
        from_method(3)
