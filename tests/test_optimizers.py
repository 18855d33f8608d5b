"""Optimizers by name: schedule values by hand, first updates equal hand-built optax chains, bad specs."""

import math

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from emutrain.optimizers import make_optimizer, make_schedule, parse_optimizer_string

APEBENCH_DEFAULT = "adam;10_000;warmup_cosine;0.0;1e-3;2_000"


def _values(schedule, steps):
    return [float(schedule(step)) for step in steps]


def test_apebench_default_schedule_by_hand():
    _, schedule = make_optimizer(APEBENCH_DEFAULT)
    # linear warmup 0 -> 1e-3 over 2000 steps, then cosine 1e-3 -> 0 over the remaining 8000
    steps = [0, 500, 2000, 6000, 8000, 10_000, 12_000]
    expected = [0.0, 2.5e-4, 1e-3, 5e-4, 1e-3 * 0.5 * (1 + math.cos(math.pi * 0.75)), 0.0, 0.0]
    np.testing.assert_allclose(_values(schedule, steps), expected, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize(
    "spec, steps, expected",
    [
        ("adam;10;constant;3e-4", [0, 5, 100], [3e-4] * 3),
        # staircase=False: 1e-3 * 0.5 ** (step / 100); True: 0.5 ** floor(step / 100)
        ("adam;1000;exp;1e-3;100;0.5;False", [0, 50, 150], [1e-3, 1e-3 * 0.5**0.5, 1e-3 * 0.5**1.5]),
        ("adam;1000;exp;1e-3;100;0.5;True", [0, 50, 150, 200], [1e-3, 1e-3, 5e-4, 2.5e-4]),
        ("adam;1000;exponential;1e-3;100;0.5;True", [150], [5e-4]),
        ("adam;1_000;cosine;1e-3", [0, 500, 1000], [1e-3, 5e-4, 0.0]),
        ("ADAM;1000;Warmup_Cosine;1e-4;1e-3;100", [0, 50, 100, 550], [1e-4, 5.5e-4, 1e-3, 5e-4]),
    ],
)
def test_string_schedules_by_hand(spec, steps, expected):
    _, schedule = make_optimizer(spec)
    np.testing.assert_allclose(_values(schedule, steps), expected, rtol=1e-5, atol=1e-12)


def _updates(optimizer, num_steps=3):
    """Updates of ``optimizer`` on the gradients of a fixed quadratic, from fixed parameters."""
    params = {"w": jnp.array([1.0, -2.0, 3.0]), "b": jnp.array(0.5)}
    target = {"w": jnp.array([0.0, 1.0, 2.0]), "b": jnp.array(-1.0)}
    state = optimizer.init(params)
    out = []
    for _ in range(num_steps):
        grads = jax.tree.map(lambda p, t: 3.0 * (p - t), params, target)
        updates, state = optimizer.update(grads, state, params)
        params = optax.apply_updates(params, updates)
        out.append(updates)
    return out


def _assert_same_updates(ours, theirs):
    for a, b in zip(_updates(ours), _updates(theirs)):
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
            np.testing.assert_array_equal(x, y)


def test_apebench_string_updates_equal_hand_built_adam():
    optimizer, _ = make_optimizer(APEBENCH_DEFAULT)
    _assert_same_updates(optimizer, optax.adam(optax.warmup_cosine_decay_schedule(0.0, 1e-3, 2000, 10_000)))
    optimizer, _ = make_optimizer("sgd;100;constant;0.1")
    _assert_same_updates(optimizer, optax.sgd(0.1))
    # plain SGD: the first update is -lr * gradient, by hand
    first = _updates(optimizer, 1)[0]
    np.testing.assert_allclose(first["w"], -0.1 * 3.0 * np.array([1.0, -3.0, 1.0]), rtol=1e-6)


def test_mapping_updates_equal_hand_built_chains():
    spec = {
        "optimizer": "adamw",
        "weight_decay": 1e-2,
        "b1": 0.8,
        "clip_global_norm": 0.5,
        "learning_rate": {"schedule": "warmup_cosine", "peak_value": 1e-3, "warmup_steps": 2},
    }
    optimizer, schedule = make_optimizer(spec, num_steps=10)
    reference_schedule = optax.warmup_cosine_decay_schedule(0.0, 1e-3, 2, 10)
    assert _values(schedule, range(12)) == _values(reference_schedule, range(12))
    _assert_same_updates(
        optimizer,
        optax.chain(
            optax.clip_by_global_norm(0.5), optax.adamw(reference_schedule, b1=0.8, weight_decay=1e-2)
        ),
    )
    optimizer, _ = make_optimizer(
        {"optimizer": "sgd", "momentum": 0.9, "nesterov": True, "learning_rate": 0.1}
    )
    _assert_same_updates(optimizer, optax.sgd(0.1, momentum=0.9, nesterov=True))
    optimizer, _ = make_optimizer(
        {
            "optimizer": "lion",
            "learning_rate": {
                "schedule": "exponential",
                "init_value": 1e-4,
                "transition_steps": 10,
                "decay_rate": 0.9,
            },
        }
    )
    _assert_same_updates(optimizer, optax.lion(optax.exponential_decay(1e-4, 10, 0.9)))
    optimizer, _ = make_optimizer(ml_collections.ConfigDict({"optimizer": "adam", "learning_rate": 1e-3}))
    _assert_same_updates(optimizer, optax.adam(1e-3))


def test_clipping_bounds_the_first_update_norm():
    # SGD with lr 1: the update is the clipped gradient, of global norm exactly 0.5
    optimizer, _ = make_optimizer({"optimizer": "sgd", "learning_rate": 1.0, "clip_global_norm": 0.5})
    first = _updates(optimizer, 1)[0]
    np.testing.assert_allclose(float(optax.tree.norm(first)), 0.5, rtol=1e-6)


def test_cosine_and_constant_mappings():
    schedule = make_schedule({"schedule": "cosine", "init_value": 2e-3, "alpha": 0.1}, num_steps=100)
    np.testing.assert_allclose(
        _values(schedule, [0, 50, 100]), [2e-3, 2e-3 * (0.5 + 0.1 * 0.5), 2e-4], rtol=1e-5
    )
    assert _values(make_schedule({"schedule": "constant", "value": 0.25}), [0, 7]) == [0.25, 0.25]
    assert _values(make_schedule(0.5), [3]) == [0.5]


@pytest.mark.parametrize(
    "spec, num_steps, error, message",
    [
        ("adam;100;constant;-1e-3", None, ValueError, "LR of optimizer spec .* > 0"),
        ("adam;100;constant;nan", None, ValueError, "LR of optimizer spec .* finite"),
        ("adam;100;warmup_cosine;-0.1;1e-3;10", None, ValueError, "INIT"),
        ("adam;100;warmup_cosine;0.0;inf;10", None, ValueError, "PEAK"),
        ("adamx;100;constant;1e-3", None, ValueError, r"OPTIMIZER.*'adam', 'adamw', 'sgd', 'lion'"),
        ("adam;100;linear;1e-3", None, ValueError, r"SCHEDULE.*'constant', 'exp'.*'warmup_cosine'"),
        ("adam;100;constant", None, ValueError, "constant;LR"),
        ("adam;100;warmup_cosine;0.0;1e-3", None, ValueError, "warmup_cosine;INIT;PEAK;WARMUP_STEPS"),
        ("adam;ten;constant;1e-3", None, ValueError, "NUM_STEPS"),
        ("adam;100;exp;1e-3;10;0.5;true", None, ValueError, "'True' or 'False'"),
        ("adam;100;warmup_cosine;0.0;1e-3;100", None, ValueError, "warmup_steps"),
        ("adam;100;constant;1e-3", 200, ValueError, "NUM_STEPS=100"),
        ("adam", None, ValueError, "OPTIMIZER;NUM_STEPS"),
        (
            {"optimizer": "rmsprop", "learning_rate": 1e-3},
            None,
            ValueError,
            r"'adam', 'adamw', 'sgd', 'lion'",
        ),
        ({"optimizer": "adam"}, None, ValueError, "learning_rate"),
        ({"optimizer": "adam", "learning_rate": -1.0}, None, ValueError, "learning_rate .* > 0"),
        (
            {"optimizer": "adam", "learning_rate": float("nan")},
            None,
            ValueError,
            "learning_rate must be finite",
        ),
        (
            {"optimizer": "adam", "learning_rate": {"schedule": "step"}},
            None,
            ValueError,
            "'constant', 'cosine'",
        ),
        (
            {"optimizer": "adam", "learning_rate": {"schedule": "cosine", "init_value": 1e-3}},
            None,
            ValueError,
            "decay_steps",
        ),
        (
            {"optimizer": "adam", "learning_rate": {"schedule": "constant", "value": 1e-3, "peak": 2}},
            None,
            ValueError,
            "unknown keys",
        ),
        ({"optimizer": "adam", "learning_rate": 1e-3, "momentum": 0.9}, None, ValueError, "momentum"),
        (
            {"optimizer": "adam", "learning_rate": 1e-3, "clip_global_norm": 0.0},
            None,
            ValueError,
            "clip_global_norm",
        ),
        ({"optimizer": "adam", "learning_rate": True}, None, TypeError, "learning_rate"),
        (3.0, None, TypeError, "spec"),
    ],
)
def test_bad_specs(spec, num_steps, error, message):
    with pytest.raises(error, match=message):
        make_optimizer(spec, num_steps=num_steps)


@pytest.mark.parametrize(
    "value, expected", [(True, True), ("False", False), ("TRUE", True), ("false", False)]
)
def test_nesterov_is_parsed_strictly(value, expected):
    optimizer, _ = make_optimizer(
        {"optimizer": "sgd", "momentum": 0.9, "nesterov": value, "learning_rate": 0.1}
    )
    _assert_same_updates(optimizer, optax.sgd(0.1, momentum=0.9, nesterov=expected))


@pytest.mark.parametrize("value", ["no", "0", 1, 2.5])
def test_bad_booleans_raise_naming_the_key(value):
    with pytest.raises(ValueError, match="nesterov"):
        make_optimizer({"optimizer": "sgd", "momentum": 0.9, "nesterov": value, "learning_rate": 0.1})
    with pytest.raises(ValueError, match="staircase"):
        make_schedule(
            {
                "schedule": "exponential",
                "init_value": 1.0,
                "transition_steps": 1,
                "decay_rate": 0.5,
                "staircase": value,
            }
        )


@pytest.mark.parametrize("key, value", [("b1", 1.0), ("b2", 1.5), ("b1", -0.1)])
def test_adam_betas_must_lie_in_zero_one(key, value):
    with pytest.raises(ValueError, match=rf"{key} must be (in \[0, 1\)|>= 0), got {value}"):
        make_optimizer({"optimizer": "adam", key: value, "learning_rate": 1e-3})


def test_numbers_are_not_read_from_strings():
    with pytest.raises(TypeError, match="b1"):
        make_optimizer({"optimizer": "adam", "b1": "0.9", "learning_rate": 1e-3})


def test_one_parser_reads_the_strings_of_scenarios_and_optimizers():
    parsed = parse_optimizer_string("Adam;2_000;exp;1e-3;100;0.5;False")
    assert parsed == {
        "optimizer": "adam",
        "num_steps": 2000,
        "learning_rate": {
            "schedule": "exponential",
            "init_value": 1e-3,
            "transition_steps": 100,
            "decay_rate": 0.5,
            "staircase": False,
        },
    }
    assert parse_optimizer_string("sgd;10;warmup_cosine;0;1e-2;5")["learning_rate"] == {
        "schedule": "warmup_cosine",
        "init_value": 0.0,
        "peak_value": 1e-2,
        "warmup_steps": 5,
        "decay_steps": 10,
    }
    with pytest.raises(ValueError, match="WARMUP_STEPS of my_config 'adam;10;warmup_cosine;0;1e-2;5.5'"):
        parse_optimizer_string("adam;10;warmup_cosine;0;1e-2;5.5", label="my_config")
