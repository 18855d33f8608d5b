"""Gaussian-blob and clamped initial conditions against hand-computed states."""

import jax
import numpy as np
import pytest

import emutrain.physics as ep


def test_fixed_blob_matches_the_formula_and_its_one_complement():
    n = 16
    blobs = ep.RandomGaussianBlobs(
        2, position_range=(0.5, 0.5), variance_range=(0.01, 0.01), one_complement=(True, False)
    )
    assert blobs.num_channels == 2
    u = np.asarray(blobs(n, key=jax.random.PRNGKey(0)))
    x = np.arange(n) / n
    expected = np.exp(-((x[:, None] - 0.5) ** 2 + (x[None, :] - 0.5) ** 2) / (2 * 0.01))
    np.testing.assert_allclose(u[..., 1], expected, atol=1e-6)
    np.testing.assert_allclose(u[..., 0], 1 - expected, atol=1e-6)
    assert u[n // 2, n // 2, 1] == pytest.approx(1.0)


def test_random_blobs_average_and_stay_in_the_unit_interval():
    blobs = ep.RandomGaussianBlobs(3, num_blobs=3)
    u = np.asarray(blobs(12, key=jax.random.PRNGKey(4)))
    assert u.shape == (12, 12, 12, 1) and blobs.num_channels == 1
    assert 0.0 <= u.min() and u.max() <= 1.0
    # centres within 0.1 of x = 0.5 per axis and variances in [0.005, 0.01] bound every blob there from
    # below by exp(-0.5 * 3 * 0.1^2 / 0.005) = exp(-3); at the corner x = 0 from above by exp(-24)
    assert u[6, 6, 6, 0] >= np.exp(-3) and u[0, 0, 0, 0] <= np.exp(-24)
    # deterministic in the key
    np.testing.assert_array_equal(u, np.asarray(blobs(12, key=jax.random.PRNGKey(4))))


def test_clamped_ic_clips_to_the_limits_and_keeps_values_inside():
    base = ep.RandomTruncatedFourierSeries(1, cutoff=5, zero_mean=False)
    clamped = ep.ClampedIC(base, limits=(0.0, 1.0))
    key = jax.random.PRNGKey(2)
    raw, out = np.asarray(base(64, key=key)), np.asarray(clamped(64, key=key))
    np.testing.assert_array_equal(out, np.clip(raw, 0.0, 1.0))
    assert (raw < 0).any() or (raw > 1).any()  # the clipping is exercised
    assert clamped.num_spatial_dims == 1 and clamped.num_channels == 1


@pytest.mark.parametrize(
    "error,parameter,make",
    [
        (ValueError, "num_spatial_dims", lambda: ep.RandomGaussianBlobs(4)),
        (ValueError, "num_blobs", lambda: ep.RandomGaussianBlobs(2, num_blobs=0)),
        (ValueError, "variance_range", lambda: ep.RandomGaussianBlobs(2, variance_range=(0.0, 0.01))),
        (ValueError, "position_range", lambda: ep.RandomGaussianBlobs(2, position_range=(0.6, 0.4))),
        (TypeError, "one_complement", lambda: ep.RandomGaussianBlobs(2, one_complement=(1, 0))),
        (
            ValueError,
            "limits",
            lambda: ep.ClampedIC(ep.RandomTruncatedFourierSeries(1), limits=(1.0, float("nan"))),
        ),
        (TypeError, "distribution", lambda: ep.ClampedIC(3.0)),
    ],
)
def test_bad_arguments_raise_naming_the_parameter(error, parameter, make):
    with pytest.raises(error, match=parameter):
        make()
