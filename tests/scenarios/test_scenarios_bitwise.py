"""Every scenario's reference and coarse steppers reproduce stored outputs bit for bit, and its fields,
defaults and derived coefficient tuples stored ones.

The stored arrays are the steppers applied once to a fixed smooth state of the scenario's shape (small
grids). Regenerate them only for an intended change of the physics or of the scenarios::

    PYTHONPATH=$PWD python tests/scenarios/test_scenarios_bitwise.py
"""

import functools
import json
import pathlib

import numpy as np
import pytest

from emutrain import scenarios

STORED = pathlib.Path(__file__).with_name("data") / "steppers_reference.npz"
FIELDS = pathlib.Path(__file__).with_name("data") / "scenario_fields.json"
_DERIVED = ("gammas", "alphas", "a_coefs", "deltas", "betas", "b_coefs", "poly_coefs")
_POINTS = {1: 32, 2: 16, 3: 8}
# The generic families also in 2D (their default is 1D), where the axis sums of the conversions matter.
_TWO_D = ("diff_lin", "diff_conv", "diff_nonlin", "norm_lin", "norm_conv", "norm_nonlin", "phy_nonlin")


@functools.cache
def _cases() -> dict[str, tuple[str, dict]]:
    cases = {}
    for name in scenarios.names():
        d = scenarios.make(name).num_spatial_dims
        cases[name] = (name, {"num_points": _POINTS[d]})
    for name in _TWO_D:
        cases[name + "|2d"] = (name, {"num_spatial_dims": 2, "num_points": _POINTS[2]})
    return cases


def _state(scenario, seed: int) -> np.ndarray:
    """A smooth state ``(*spatial, C)``: random Fourier modes ``|m_d| <= 3``, amplitude about 1."""
    d, n, c = scenario.num_spatial_dims, scenario.num_points, scenario.num_channels
    rng = np.random.default_rng(seed)
    grids = np.meshgrid(*([np.arange(n) / n] * d), indexing="ij")
    state = np.zeros((*grids[0].shape, c))
    for m in np.ndindex(*([7] * d)):
        phase = 2 * np.pi * sum((mi - 3) * g for mi, g in zip(m, grids))
        a, b = rng.normal(size=(2, c)) / (1 + sum(abs(mi - 3) for mi in m)) ** 2
        state += np.cos(phase)[..., None] * a + np.sin(phase)[..., None] * b
    if scenario.name.startswith("phy_gs"):
        state = 0.5 + 0.1 * state  # concentrations
    return state.astype(np.float32)


def _outputs(name: str, overrides: dict, seed: int) -> dict[str, np.ndarray]:
    scenario = scenarios.make(name, **overrides)
    state = _state(scenario, seed)
    out = {"reference": np.asarray(scenario.reference_stepper()(state))}
    if scenario.spec.has_coarse:
        out["coarse"] = np.asarray(scenario.coarse_stepper()(state))
    return out


def _generate() -> dict[str, np.ndarray]:
    arrays = {}
    for seed, (case, (name, overrides)) in enumerate(sorted(_cases().items())):
        for kind, value in _outputs(name, overrides, seed).items():
            arrays[f"{case}|{kind}"] = value
    return arrays


def _fields() -> dict:
    """Per scenario: its fields with their defaults (in order), derived coefficient tuples, dimensions."""
    document = {}
    for name in scenarios.names():
        s = scenarios.make(name)
        document[name] = dict(
            fields=list(type(s).fields().items()),
            derived={a: getattr(s, a) for a in _DERIVED if hasattr(s, a)},
            spatial_dims=s.spec.spatial_dims,
            has_coarse=s.spec.has_coarse,
        )
    return json.loads(json.dumps(document))


def test_fields_defaults_and_derived_coefficients_match_stored():
    assert _fields() == json.loads(FIELDS.read_text())


@pytest.fixture(scope="module")
def stored():
    with np.load(STORED) as data:
        return dict(data)


@pytest.mark.parametrize("case", sorted(_cases()))
def test_steppers_match_stored_outputs_bit_for_bit(case, stored):
    seed = sorted(_cases()).index(case)
    name, overrides = _cases()[case]
    outputs = _outputs(name, overrides, seed)
    assert sorted(f"{case}|{k}" for k in outputs) == sorted(k for k in stored if k.rsplit("|", 1)[0] == case)
    for kind, value in outputs.items():
        np.testing.assert_array_equal(value, stored[f"{case}|{kind}"])


def test_every_scenario_is_stored(stored):
    assert {k.rsplit("|", 1)[0] for k in stored} == set(_cases())
    assert set(scenarios.names()) <= {case.split("|")[0] for case in _cases()}


if __name__ == "__main__":
    STORED.parent.mkdir(exist_ok=True)
    np.savez_compressed(STORED, **_generate())
    FIELDS.write_text(json.dumps(_fields(), indent=0, sort_keys=True))
