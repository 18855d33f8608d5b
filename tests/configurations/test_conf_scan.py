"""Compiled scan paths (unroll choices, per-step remat, chunked checkpointing) equal the op-by-op loss."""

from __future__ import annotations

import dataclasses

from conf_problem import (
    assert_same,
    compiled_value_and_grad,
    ref_stepper,
    residuum_fn,
    value_and_grad,
    window,
)

from emutrain.configurations import (
    Composite,
    DivertedChain,
    DivertedChainBranchOne,
    MixChainPostPhysics,
    Residuum,
    ScanOptions,
    Supervised,
    TeacherForcing,
    resolve_unroll,
)

VARIANTS = [
    dict(unroll=None),
    dict(unroll=2),
    dict(unroll=1, remat=True, checkpoint_chunk_size=2),
    dict(unroll=True, remat=True, checkpoint_chunk_size="sqrt"),
]


def check_variants(conf, data, variants, **call):
    confs = [dataclasses.replace(conf, **v) for v in variants]
    compiled = compiled_value_and_grad(*[lambda f, c=c: c(f, data, **call) for c in confs])
    expected = value_and_grad(lambda f: conf(f, data, **call))
    for got in compiled:
        assert_same(got, expected)


def test_supervised_scan_variants():
    conf = Supervised(5, time_level_weights=(1.0, 0.5, 2.0, -1.0, 0.25), cut_bptt=True, cut_bptt_every=2)
    check_variants(conf, window(6, seed=11), VARIANTS)


def test_diverted_chain_scan_variants():
    conf = DivertedChain(5, 2, cut_bptt=True, cut_bptt_every=3, branch_level_weights=(2.0, 0.5))
    check_variants(conf, window(1, seed=12), [VARIANTS[0], VARIANTS[2]], ref_stepper=ref_stepper)


def test_every_configuration_compiles_to_the_same_loss():
    data = window(5, seed=13)
    confs = [
        DivertedChainBranchOne(4, cut_div_chain=True, unroll=1, checkpoint_chunk_size=3),
        MixChainPostPhysics(2, 2, cut_bptt=True, unroll=1, remat=True),
        Residuum(4, cut_prev=True, unroll=2),
        TeacherForcing(4, reset_every=2, cut_bptt=True, cut_bptt_every=3, unroll=1),
        Composite((Supervised(2, unroll=1), DivertedChainBranchOne(2, unroll=1)), (0.5, 2.0)),
    ]
    call = dict(ref_stepper=ref_stepper, residuum_fn=residuum_fn)
    compiled = compiled_value_and_grad(*[lambda f, c=c: c(f, data, **call) for c in confs])
    for conf, got in zip(confs, compiled):
        assert_same(got, value_and_grad(lambda f: conf(f, data, **call)))


def test_backend_aware_default_unroll_and_chunk_sizes():
    # the tests run on CPU: full unroll (docs/architecture.md, "Measured facts")
    assert resolve_unroll(None) is True
    assert resolve_unroll(3) == 3
    assert ScanOptions(checkpoint_chunk_size="sqrt").chunk(200) == 15
    assert ScanOptions(checkpoint_chunk_size="sqrt").chunk(16) == 4
    assert ScanOptions(checkpoint_chunk_size=7).chunk(200) == 7
