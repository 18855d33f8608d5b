"""Every supported scenario in quick form: finite float32 trajectories of the documented shape, and
deterministic data."""

import numpy as np
import pytest

from emutrain import scenarios

QUICK = dict(num_train_samples=2, train_temporal_horizon=2, num_test_samples=1, test_temporal_horizon=3)


def _quick(name, **extra):
    overrides = {**QUICK, "num_points": 16, **extra}
    if scenarios.make(name).num_warmup_steps:
        overrides["num_warmup_steps"] = 2
    if name == "phy_poisson":  # one solve per sample
        overrides.update(train_temporal_horizon=1, test_temporal_horizon=1)
    return scenarios.make(name, **overrides)


@pytest.mark.parametrize("name", scenarios.names())
def test_every_scenario_builds_and_produces_finite_trajectories(name):
    s = _quick(name)
    train, test = s.train_trajectories(), s.test_trajectories()
    spatial = (16,) * s.num_spatial_dims
    steps = (1, 1) if name == "phy_poisson" else (2, 3)
    assert train.shape == (2, steps[0] + 1, *spatial, s.num_channels) and train.dtype == np.float32
    assert test.shape == (1, steps[1] + 1, *spatial, s.num_channels) and test.dtype == np.float32
    assert np.isfinite(train).all() and np.isfinite(test).all()
    assert np.abs(train).max() > 0
    # Index 0 is the (warmed-up) initial condition; index 1 is one reference step from it.
    np.testing.assert_allclose(
        np.asarray(s.reference_stepper()(train[:, 0])), train[:, 1], rtol=1e-5, atol=1e-5
    )
    if name != "phy_poisson":
        assert np.asarray(s.coarse_stepper()(train[:, 0])).shape == train[:, 0].shape


@pytest.mark.parametrize("name", ["diff_adv", "diff_burgers", "diff_burgers_sc", "phy_adv_diff"])
@pytest.mark.parametrize("num_spatial_dims", [2, 3])
def test_higher_dimensions(name, num_spatial_dims):
    s = _quick(name, num_spatial_dims=num_spatial_dims, num_points=8)
    train = s.train_trajectories()
    channels = num_spatial_dims if name == "diff_burgers" else 1
    assert train.shape == (2, 3) + (8,) * num_spatial_dims + (channels,)
    assert np.isfinite(train).all()


def test_same_seed_same_data_different_seed_different_data():
    s = _quick("diff_ks")
    a, b = s.train_trajectories(), scenarios.make("diff_ks", **s.to_dict()).train_trajectories()
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, s.replace(train_seed=1).train_trajectories())
    assert not np.allclose(a[:, 0], s.test_trajectories()[:1, 0])  # train and test seeds differ
    # A sample range gives the same rows as the full set.
    np.testing.assert_array_equal(s.trajectories("train", sample_range=(1, 2)), a[1:2])


def test_warmup_is_applied_before_recording():
    s = _quick("diff_ks")  # two warm-up steps
    cold = s.initial_conditions("train", warmup=False)
    warm = s.initial_conditions("train")
    step = s.reference_stepper()
    np.testing.assert_allclose(warm, np.asarray(step(step(cold))), rtol=1e-5, atol=1e-6)
