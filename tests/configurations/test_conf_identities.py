"""The identities of docs/architecture.md, "Loss semantics", in loss and gradient; cut flags change
gradients only."""

from __future__ import annotations

import numpy as np
import pytest
from conf_problem import assert_same, physics_window, ref_stepper, residuum_fn, value_and_grad, window

from emutrain.configurations import (
    DivertedChain,
    DivertedChainBranchOne,
    MixChainPostPhysics,
    Residuum,
    Supervised,
    TeacherForcing,
)

R = 4
W = (0.5, 1.5, -0.25, 2.0)


def vg(conf, data):
    return value_and_grad(lambda f: conf(f, data, ref_stepper=ref_stepper, residuum_fn=residuum_fn))


@pytest.mark.parametrize("cut_div_chain,cut_bptt,every", [(False, False, 1), (True, True, 2)])
def test_diverted_chain_with_branch_one_is_branch_one(cut_div_chain, cut_bptt, every):
    opts = dict(time_level_weights=W, cut_div_chain=cut_div_chain, cut_bptt=cut_bptt, cut_bptt_every=every)
    data = window(1, seed=21)
    assert_same(vg(DivertedChain(R, 1, **opts), data), vg(DivertedChainBranchOne(R, **opts), data))


@pytest.mark.parametrize("cut_bptt,every", [(False, 1), (True, 2), (True, 3)])
def test_diverted_chain_with_full_branch_is_supervised_on_physics_data(cut_bptt, every):
    data = physics_window(R + 1, seed=22)
    opts = dict(cut_bptt=cut_bptt, cut_bptt_every=every)
    got = vg(DivertedChain(R, R, branch_level_weights=W, **opts), data)
    assert_same(got, vg(Supervised(R, time_level_weights=W, **opts), data))


@pytest.mark.parametrize("cut", [False, True])
def test_residuum_of_reference_step_is_branch_one(cut):
    data = window(1, seed=23)
    opts = dict(time_level_weights=W, cut_bptt=True, cut_bptt_every=2)
    got = vg(Residuum(R, cut_prev=cut, **opts), data)
    assert_same(got, vg(DivertedChainBranchOne(R, cut_div_chain=cut, **opts), data))


def test_teacher_forcing_without_resets_is_supervised():
    data = window(R + 1, seed=24)
    assert_same(
        vg(TeacherForcing(R, reset_every=R, time_level_weights=W), data),
        vg(Supervised(R, time_level_weights=W), data),
    )


def test_mix_chain_with_reference_stepper_as_network_is_supervised():
    data = window(R + 1, seed=25)
    mix = MixChainPostPhysics(2, 2, time_level_weights=W)
    sup = Supervised(R, time_level_weights=W)
    np.testing.assert_allclose(
        mix(ref_stepper, data, ref_stepper=ref_stepper), sup(ref_stepper, data), rtol=1e-12
    )


@pytest.mark.parametrize(
    "plain,cut",
    [
        (Supervised(R), Supervised(R, cut_bptt=True, cut_bptt_every=2, pushforward_steps=1)),
        (DivertedChain(R, 2), DivertedChain(R, 2, cut_bptt=True, cut_div_chain=True)),
        (Residuum(R), Residuum(R, cut_prev=True, cut_next=True, cut_bptt=True, cut_bptt_every=3)),
        (TeacherForcing(R, reset_every=2), TeacherForcing(R, reset_every=2, cut_bptt=True)),
    ],
)
def test_cut_flags_change_gradient_only(plain, cut):
    data = window(R + 1, seed=26)
    (l_plain, g_plain), (l_cut, g_cut) = vg(plain, data), vg(cut, data)
    np.testing.assert_allclose(l_cut, l_plain, rtol=1e-13)
    assert not np.allclose(g_cut["k"], g_plain["k"], rtol=1e-6)
