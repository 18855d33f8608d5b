"""Every configuration and option equals a plain float64 Python-loop transcription of the loss semantics
of docs/architecture.md."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conf_problem import (
    assert_same,
    ic,
    physics_window,
    ref_stepper,
    residuum_fn,
    sg,
    value_and_grad,
    window,
)

from emutrain.configurations import (
    Composite,
    DivertedChain,
    DivertedChainBranchOne,
    MixChainPostPhysics,
    Residuum,
    Supervised,
    TeacherForcing,
)
from emutrain.losses import MAELoss, MSELoss

R = 4
CUTS = [(False, 1), (True, 1), (True, 2), (True, 3)]
WEIGHTS = [None, (0.5, 1.5, -0.25, 2.0)]


def cut_here(cut_bptt, every, s, pushforward=0):
    return (cut_bptt and (s + 1) % every == 0) or s < pushforward


def loop_supervised(f, data, r, w, cut_bptt, every, loss, pushforward=0):
    u, total = ic(data), 0.0
    for t in range(r):
        u = f(u)
        total = total + w[t] * loss(u, data[:, t + 1])
        if cut_here(cut_bptt, every, t, pushforward):
            u = sg(u)
    return total


def loop_branch_one(f, data, r, w, cut_bptt, every, cut_div_chain, loss):
    u, total = ic(data), 0.0
    for t in range(r):
        target = ref_stepper(u)
        if cut_div_chain:
            target = sg(target)
        u = f(u)
        total = total + w[t] * loss(u, target)
        if cut_here(cut_bptt, every, t):
            u = sg(u)
    return total


def loop_diverted(f, data, r, nb, w, v, cut_bptt, every, cut_div_chain, loss):
    m, total = ic(data), 0.0
    for t in range(r - nb + 1):
        p = m
        q = sg(m) if cut_div_chain else m
        branch = 0.0
        for b in range(nb):
            p = f(p)
            q = ref_stepper(q)
            branch = branch + v[b] * loss(p, q)
            if cut_here(cut_bptt, every, t + b):
                p = sg(p)
        total = total + w[t] * branch
        m = f(m)
        if cut_here(cut_bptt, every, t):
            m = sg(m)
    return total


def loop_mix(f, data, r, num_post, w, cut_bptt, every, loss):
    u, total = ic(data), 0.0
    for t in range(r):
        u = f(u)
        total = total + w[t] * loss(u, data[:, t + 1])
        if cut_here(cut_bptt, every, t):
            u = sg(u)
    for j in range(num_post):
        u = ref_stepper(u)
        total = total + w[r + j] * loss(u, data[:, r + j + 1])
    return total


def loop_residuum(f, data, r, w, cut_bptt, every, cut_prev, cut_next, loss):
    p, total = ic(data), 0.0
    for t in range(r):
        n = f(p)
        total = total + w[t] * loss(residuum_fn(sg(n) if cut_next else n, sg(p) if cut_prev else p))
        p = n
        if cut_here(cut_bptt, every, t):
            p = sg(p)
    return total


def loop_teacher(f, data, r, reset_every, w, cut_bptt, every, loss):
    u, total = ic(data), 0.0
    for t in range(r):
        if t % reset_every == 0:
            u = data[:, t]
        u = f(u)
        total = total + w[t] * loss(u, data[:, t + 1])
        if cut_here(cut_bptt, every, t):
            u = sg(u)
    return total


def ones_or(w, n):
    return np.ones(n) if w is None else w


@pytest.mark.parametrize("cut_bptt,every", CUTS)
@pytest.mark.parametrize("weights", WEIGHTS)
def test_supervised(cut_bptt, every, weights):
    data = window(R + 2)  # longer windows are allowed; only the first R+1 levels are used
    conf = Supervised(R, time_level_weights=weights, cut_bptt=cut_bptt, cut_bptt_every=every)
    expected = value_and_grad(
        lambda f: loop_supervised(f, data, R, ones_or(weights, R), cut_bptt, every, MSELoss())
    )
    assert_same(value_and_grad(lambda f: conf(f, data)), expected)


@pytest.mark.parametrize("r,pushforward", [(1, 0), (3, 1), (4, 2)])
def test_supervised_rollout_lengths_pushforward_and_loss(r, pushforward):
    data = window(r + 1, seed=1)
    conf = Supervised(r, pushforward_steps=pushforward, time_level_loss=MAELoss())
    expected = value_and_grad(
        lambda f: loop_supervised(f, data, r, np.ones(r), False, 1, MAELoss(), pushforward)
    )
    assert_same(value_and_grad(lambda f: conf(f, data)), expected)


@pytest.mark.parametrize("cut_bptt,every", CUTS)
@pytest.mark.parametrize("cut_div_chain", [False, True])
def test_diverted_chain_branch_one(cut_bptt, every, cut_div_chain):
    data = window(1)
    weights = WEIGHTS[1]
    conf = DivertedChainBranchOne(
        R, time_level_weights=weights, cut_bptt=cut_bptt, cut_bptt_every=every, cut_div_chain=cut_div_chain
    )
    expected = value_and_grad(
        lambda f: loop_branch_one(f, data, R, weights, cut_bptt, every, cut_div_chain, MSELoss())
    )
    assert_same(value_and_grad(lambda f: conf(f, data, ref_stepper=ref_stepper)), expected)


@pytest.mark.parametrize(
    "nb,cut_bptt,every,cut_div_chain,weighted",
    [
        (nb, c, k, d, wt)
        for nb, (c, k), d, wt in itertools.product([2, 3], CUTS, [False, True], [False, True])
        if (wt != d) and (nb == 3 or k == 2)  # every cut pattern with B=3; B=2 with every=2
    ],
)
def test_diverted_chain(nb, cut_bptt, every, cut_div_chain, weighted):
    data = window(1, seed=2)
    num_starts = R - nb + 1
    w = np.linspace(0.5, 2.0, num_starts) if weighted else None
    v = np.linspace(1.5, -0.5, nb) if weighted else None
    conf = DivertedChain(
        R,
        nb,
        time_level_weights=w,
        branch_level_weights=v,
        cut_bptt=cut_bptt,
        cut_bptt_every=every,
        cut_div_chain=cut_div_chain,
    )
    expected = value_and_grad(
        lambda f: loop_diverted(
            f, data, R, nb, ones_or(w, num_starts), ones_or(v, nb), cut_bptt, every, cut_div_chain, MSELoss()
        )
    )
    assert_same(value_and_grad(lambda f: conf(f, data, ref_stepper=ref_stepper)), expected)


@pytest.mark.parametrize("cut_bptt,every,num_post", [(False, 1, 1), (True, 1, 2), (True, 2, 2)])
def test_mix_chain_post_physics(cut_bptt, every, num_post):
    r = 3
    data = window(r + num_post + 1, seed=3)
    w = np.linspace(2.0, 0.5, r + num_post)
    conf = MixChainPostPhysics(r, num_post, time_level_weights=w, cut_bptt=cut_bptt, cut_bptt_every=every)
    expected = value_and_grad(lambda f: loop_mix(f, data, r, num_post, w, cut_bptt, every, MSELoss()))
    assert_same(value_and_grad(lambda f: conf(f, data, ref_stepper=ref_stepper)), expected)


@pytest.mark.parametrize(
    "cut_prev,cut_next,cut_bptt,every",
    [(False, False, False, 1), (True, False, True, 2), (False, True, False, 1), (True, True, True, 3)],
)
def test_residuum(cut_prev, cut_next, cut_bptt, every):
    data = window(1, seed=4)
    w = WEIGHTS[1]
    conf = Residuum(
        R, cut_prev=cut_prev, cut_next=cut_next, time_level_weights=w, cut_bptt=cut_bptt, cut_bptt_every=every
    )
    expected = value_and_grad(
        lambda f: loop_residuum(f, data, R, w, cut_bptt, every, cut_prev, cut_next, MSELoss())
    )
    assert_same(value_and_grad(lambda f: conf(f, data, residuum_fn=residuum_fn)), expected)


@pytest.mark.parametrize(
    "reset_every,cut_bptt,every", [(1, False, 1), (2, True, 2), (3, False, 1), (5, True, 3)]
)
def test_teacher_forcing(reset_every, cut_bptt, every):
    data = window(R + 1, seed=5)
    w = WEIGHTS[1]
    conf = TeacherForcing(
        R, reset_every=reset_every, time_level_weights=w, cut_bptt=cut_bptt, cut_bptt_every=every
    )
    expected = value_and_grad(lambda f: loop_teacher(f, data, R, reset_every, w, cut_bptt, every, MSELoss()))
    assert_same(value_and_grad(lambda f: conf(f, data)), expected)


def test_composite():
    data = window(R + 1, seed=6)
    confs = (Supervised(2), DivertedChain(3, 2, cut_div_chain=True), Residuum(2, cut_next=True))
    weights = (0.5, 2.0, -1.5)
    conf = Composite(confs, weights)
    ones2 = np.ones(2)

    def loop(f):
        return (
            0.5 * loop_supervised(f, data, 2, ones2, False, 1, MSELoss())
            + 2.0 * loop_diverted(f, data, 3, 2, ones2, ones2[:2], False, 1, True, MSELoss())
            - 1.5 * loop_residuum(f, data, 2, ones2, False, 1, False, True, MSELoss())
        )

    assert conf.required_window_length == 3 and conf.needs_ref_stepper and conf.needs_residuum_fn
    got = value_and_grad(lambda f: conf(f, data, ref_stepper=ref_stepper, residuum_fn=residuum_fn))
    assert_same(got, value_and_grad(loop))


def test_pytree_state_sums_over_leaves():
    base = window(R + 1, seed=7, channels=3)
    data = {"u": base[..., :1], "v": base[..., 1:]}
    w = WEIGHTS[1]

    def tree_stepper(f):
        return lambda s: {
            "u": f(s["u"]),
            "v": 0.5 * f(s["v"]) + 0.1 * jnp.mean(s["u"], axis=1, keepdims=True),
        }

    conf = Supervised(R, time_level_weights=w, cut_bptt=True, cut_bptt_every=2)

    def loop(f):
        g = tree_stepper(f)
        u, total = jax.tree.map(lambda x: x[:, 0], data), 0.0
        for t in range(R):
            u = g(u)
            total = total + w[t] * sum(MSELoss()(u[name], data[name][:, t + 1]) for name in ("u", "v"))
            if (t + 1) % 2 == 0:
                u = jax.tree.map(sg, u)
        return total

    assert_same(value_and_grad(lambda f: conf(tree_stepper(f), data)), value_and_grad(loop))


def test_input_noise_is_keyed():
    data = window(R + 1, seed=8)
    key = jax.random.key(3)
    conf = Supervised(R, input_noise_std=0.1)
    noisy = data.at[:, 0].add(0.1 * jax.random.normal(jax.random.split(key, 1)[0], data[:, 0].shape))
    expected = value_and_grad(lambda f: loop_supervised(f, noisy, R, np.ones(R), False, 1, MSELoss()))
    assert_same(value_and_grad(lambda f: conf(f, data, key=key)), expected)
    other = value_and_grad(lambda f: conf(f, data, key=jax.random.key(4)))[0]
    assert abs(other - expected[0]) > 1e-6


def test_physics_data_is_reproduced_by_reference_stepper():
    data = physics_window(3)
    np.testing.assert_allclose(Supervised(2)(ref_stepper, data), 0.0, atol=1e-30)
