"""Bad arguments raise ValueError/TypeError naming the parameter, the value and what is allowed."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from conf_problem import ref_stepper, window

from emutrain.configurations import (
    Composite,
    DivertedChain,
    DivertedChainBranchOne,
    MixChainPostPhysics,
    Residuum,
    RolloutCurriculum,
    Supervised,
    TeacherForcing,
)


def identity(u):
    return u


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: Supervised(0), "num_rollout_steps must be >= 1, got 0"),
        (lambda: Supervised(2.0), "num_rollout_steps must be an int"),
        (lambda: Supervised(3, time_level_weights=(1.0, 2.0)), r"time_level_weights must have shape \(3,\)"),
        (lambda: DivertedChain(3, 4), "num_branch_steps must be <= num_rollout_steps=3, got 4"),
        (lambda: DivertedChain(3, 0), "num_branch_steps must be >= 1, got 0"),
        (
            lambda: DivertedChain(4, 2, time_level_weights=(1.0,) * 4),
            r"time_level_weights must have shape \(3,\)",
        ),
        (
            lambda: DivertedChain(4, 2, branch_level_weights=(1.0,) * 3),
            r"branch_level_weights must have shape \(2,\)",
        ),
        (
            lambda: MixChainPostPhysics(2, 1, time_level_weights=(1.0, 1.0)),
            r"time_level_weights must have shape \(3,\)",
        ),
        (lambda: TeacherForcing(3, reset_every=0), "reset_every must be >= 1, got 0"),
        (lambda: Supervised(3, cut_bptt_every=0), "cut_bptt_every must be >= 1, got 0"),
        (
            lambda: Supervised(3, pushforward_steps=3),
            "pushforward_steps must be < num_rollout_steps=3, got 3",
        ),
        (lambda: Supervised(3, input_noise_std=-1.0), "input_noise_std must be >= 0"),
        (lambda: Supervised(3, checkpoint_chunk_size=0), "checkpoint_chunk_size must be >= 1, got 0"),
        (lambda: Composite((Supervised(1),), (1.0, 2.0)), r"weights must have shape \(1,\)"),
        (lambda: Composite(()), "configurations must hold at least one"),
        (lambda: RolloutCurriculum(Supervised(1), (10,), (1,)), "num_rollout_steps must have len"),
    ],
)
def test_construction_errors(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


def test_window_too_short_names_data_and_length():
    with pytest.raises(ValueError, match=r"data must have a window length \(axis 1\) >= 4 .*got 3"):
        Supervised(3)(identity, window(3))
    with pytest.raises(ValueError, match=r"data must have a window length \(axis 1\) >= 5 .*got 4"):
        MixChainPostPhysics(2, 2)(identity, window(4), ref_stepper=ref_stepper)
    with pytest.raises(ValueError, match=r"data arrays must have shape \(B, W, \*spatial, C\)"):
        Supervised(1)(identity, jnp.zeros((2, 3)))


@pytest.mark.parametrize(
    "conf,match",
    [
        (DivertedChainBranchOne(2), "ref_stepper must be given for DivertedChainBranchOne, got None"),
        (DivertedChain(2, 2), "ref_stepper must be given for DivertedChain, got None"),
        (MixChainPostPhysics(1, 1), "ref_stepper must be given for MixChainPostPhysics, got None"),
        (Residuum(2), "residuum_fn must be given for Residuum, got None"),
    ],
)
def test_missing_ref_stepper_or_residuum_fn(conf, match):
    with pytest.raises(ValueError, match=match):
        conf(identity, window(3))


def test_noise_without_key():
    with pytest.raises(ValueError, match="key must be given when input_noise_std > 0"):
        Supervised(1, input_noise_std=0.1)(identity, window(2))


def test_required_window_lengths_and_flags():
    assert Supervised(3).required_window_length == 4
    assert TeacherForcing(3).required_window_length == 4
    assert MixChainPostPhysics(3, 2).required_window_length == 6
    assert DivertedChain(3, 2).required_window_length == 1
    assert DivertedChainBranchOne(3).required_window_length == 1
    assert Residuum(3).required_window_length == 1
    assert DivertedChain(3, 2).needs_ref_stepper and not Supervised(3).needs_ref_stepper
    assert Residuum(3).needs_residuum_fn and not Residuum(3).needs_ref_stepper


def test_rollout_curriculum_builds_one_configuration_per_length():
    curriculum = RolloutCurriculum(
        Supervised(1, cut_bptt=True), boundaries=(10, 30), num_rollout_steps=(1, 3, 5)
    )
    assert [curriculum.rollout_steps_at(s) for s in (0, 9, 10, 29, 30, 1000)] == [1, 1, 3, 3, 5, 5]
    assert curriculum(12) is curriculum(25)
    assert curriculum(12) == Supervised(3, cut_bptt=True)
    assert curriculum(40).required_window_length == 6 == curriculum.max_window_length
    assert hash(curriculum(12)) == hash(Supervised(3, cut_bptt=True))  # usable as a static jit argument
    # per-step weights cannot follow a changing rollout length: refused when the curriculum is built
    with pytest.raises(ValueError, match="time_level_weights must be None"):
        RolloutCurriculum(Supervised(1, time_level_weights=(1.0,)), boundaries=(5,), num_rollout_steps=(1, 2))


NON_FLOAT = [(np.int32, "int32"), (np.bool_, "bool"), (np.complex64, "complex64")]
EVERY_CONFIGURATION = [
    Supervised(2),
    TeacherForcing(2, reset_every=1),
    MixChainPostPhysics(1, 1),
    DivertedChainBranchOne(2),
    DivertedChain(2, 1),
    Residuum(2),
    Composite((Supervised(1), Residuum(1)), (1.0, 0.5)),
]


@pytest.mark.parametrize("dtype,name", NON_FLOAT)
@pytest.mark.parametrize("conf", EVERY_CONFIGURATION, ids=lambda conf: type(conf).__name__)
def test_non_float_data_is_rejected_naming_data_and_dtype(conf, dtype, name):
    # Integer windows trained with nRMSE exactly 1 and complex ones gave negative MSE: both must fail loudly.
    data = np.ones((2, 3, 8, 1), dtype=dtype)
    kwargs = {"ref_stepper": ref_stepper, "residuum_fn": lambda n, p: n - p}
    with pytest.raises(TypeError, match=rf"data must hold real floating-point values .*got dtype {name}"):
        conf(identity, data, **kwargs)
    # A pytree window is checked leaf by leaf.
    with pytest.raises(TypeError, match=rf"got dtype {name}"):
        conf(identity, {"u": np.ones((2, 3, 8, 1)), "v": data}, **kwargs)
    assert np.isfinite(conf(identity, data.real.astype(np.float64), **kwargs))
