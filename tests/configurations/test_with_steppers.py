"""WithSteppers: a configuration holding its ref stepper and residuum function equals passing them."""

import dataclasses

import pytest

from emutrain.configurations import (
    DivertedChainBranchOne,
    Residuum,
    RolloutCurriculum,
    Supervised,
    WithSteppers,
)
from tests.configurations import conf_problem as cp


def _held(conf):
    held = WithSteppers(conf, ref_stepper=cp.ref_stepper, residuum_fn=cp.residuum_fn)
    return lambda stepper, data: held(stepper, data)


def _passed(conf):
    return lambda stepper, data: conf(stepper, data, ref_stepper=cp.ref_stepper, residuum_fn=cp.residuum_fn)


def _value_and_grad(loss):
    return cp.value_and_grad(lambda stepper: loss(stepper, cp.window(4)))


@pytest.mark.parametrize("conf", [DivertedChainBranchOne(3), Residuum(2), Supervised(2)])
def test_held_steppers_equal_passed_ones(conf):
    cp.assert_same(_value_and_grad(_held(conf)), _value_and_grad(_passed(conf)), tol=0)
    held = WithSteppers(conf, ref_stepper=cp.ref_stepper)
    assert held.required_window_length == conf.required_window_length
    assert held.needs_ref_stepper == conf.needs_ref_stepper
    assert held.needs_residuum_fn == conf.needs_residuum_fn
    assert held.describe_chain() == conf.describe_chain()


def test_a_curriculum_replaces_the_rollout_inside_and_keeps_the_steppers():
    held = WithSteppers(DivertedChainBranchOne(1), ref_stepper=cp.ref_stepper)
    curriculum = RolloutCurriculum(held, boundaries=(5,), num_rollout_steps=(1, 3))
    late = curriculum(7)
    assert late == dataclasses.replace(held, configuration=DivertedChainBranchOne(3))
    assert curriculum.max_window_length == DivertedChainBranchOne(3).required_window_length


def test_bad_arguments_are_type_errors():
    with pytest.raises(TypeError, match="configuration must be a configuration object"):
        WithSteppers(lambda stepper, data: 0.0)
    with pytest.raises(TypeError, match="ref_stepper must be callable or None"):
        WithSteppers(Supervised(1), ref_stepper=3)
    with pytest.raises(TypeError, match="configuration must be a Configuration or a WithSteppers"):
        nested = WithSteppers(WithSteppers(Supervised(1)))
        RolloutCurriculum(nested, boundaries=(1,), num_rollout_steps=(1, 2))
