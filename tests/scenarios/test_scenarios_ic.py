"""APEBench initial-condition strings: grammar, properties of each kind, and APEBench's own draws.

The recorded values were produced by APEBench 0.1.1 (Exponax 0.1.0, jax 0.10.2):
``ex.build_ic_set(scenario.get_ic_generator(), num_points=N, num_samples=2, key=PRNGKey(773))``.
"""

import jax
import numpy as np
import pytest

from emutrain.scenarios import ic


def _draw(config, num_spatial_dims=1, num_points=32, num_channels=1, num_samples=2, seed=773):
    distribution = ic.parse_ic_config(config, num_spatial_dims, num_channels)
    return np.asarray(
        ic.build_ic_set(
            distribution, num_points=num_points, num_samples=num_samples, key=jax.random.PRNGKey(seed)
        )
    )


def test_fourier_series_is_band_limited_zero_mean_max_one():
    u = _draw("fourier;3;true;true", num_points=32)
    assert u.shape == (2, 32, 1) and u.dtype == np.float32
    np.testing.assert_allclose(np.abs(u).max(axis=(1, 2)), 1.0, rtol=1e-6)
    spectrum = np.abs(np.fft.rfft(u[..., 0], axis=-1))
    np.testing.assert_allclose(spectrum[:, 0], 0.0, atol=1e-4)
    np.testing.assert_allclose(spectrum[:, 4:], 0.0, atol=1e-4)
    assert (spectrum[:, 1:4] > 1e-3).all()


def test_fourier_series_offset_without_zero_mean():
    u = _draw("fourier;3;false;false", num_points=32, num_samples=8)
    means = u.mean(axis=(1, 2))
    assert (np.abs(means) <= 0.5).all() and np.abs(means).max() > 1e-2


def test_clamp_maps_onto_the_interval():
    u = _draw("clamp;-2.0;3.0;fourier;5;false;false", num_spatial_dims=2, num_points=16)
    np.testing.assert_allclose(u.min(axis=(1, 2, 3)), -2.0, atol=1e-6)
    np.testing.assert_allclose(u.max(axis=(1, 2, 3)), 3.0, atol=1e-6)


def test_diffused_noise_is_diffused_white_noise():
    # The same normal draws, diffused by exp(-intensity |2 pi m|^2) by hand.
    key = jax.random.PRNGKey(773)
    _, sample_key = jax.random.split(key)
    (channel_key,) = jax.random.split(sample_key, 1)
    noise = np.asarray(jax.random.normal(channel_key, (32,)), dtype=np.float64)
    m = np.fft.rfftfreq(32, 1 / 32)
    expected = np.fft.irfft(np.fft.rfft(noise) * np.exp(-0.002 * (2 * np.pi * m) ** 2), n=32)
    expected -= expected.mean()
    u = _draw("diffused;0.002;true;false", num_points=32, num_samples=1)
    np.testing.assert_allclose(u[0, :, 0], expected, atol=2e-6)


def test_gaussian_random_field_power_law():
    u = _draw("grf;4.0;true;false", num_points=64, num_samples=64)
    power = (np.abs(np.fft.rfft(u[..., 0], axis=-1)) ** 2).mean(axis=0)
    # E|u_hat(m)|^2 proportional to |m|^-4: power(2) / power(8) = 4^4 = 256 (statistically, +-50%).
    assert 128 < power[2] / power[8] < 512
    np.testing.assert_allclose(u.mean(axis=(1, 2)), 0.0, atol=1e-6)


def test_channels_are_independent_draws():
    u = _draw("fourier;5;true;true", num_spatial_dims=2, num_points=16, num_channels=2)
    assert u.shape == (2, 16, 16, 2)
    assert not np.allclose(u[..., 0], u[..., 1])


def test_same_key_same_draws_and_samples_differ():
    a, b = _draw("grf;3.0;true;true"), _draw("grf;3.0;true;true")
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a[0], a[1])
    assert not np.allclose(a, _draw("grf;3.0;true;true", seed=774))


@pytest.mark.parametrize(
    "config, num_spatial_dims, num_points, expected",
    [
        ("fourier;5;true;true", 1, 160, [0.21934059, 0.20490029, 0.18713358, 0.16757183]),
        ("grf;3.0;true;true", 1, 160, [0.53884077, 0.51984191, 0.52815002, 0.54231429]),
        ("diffused;0.001;true;true", 1, 160, [-0.36284441, -0.38980991, -0.40989473, -0.41822356]),
        ("clamp;0.0;1.0;fourier;5;false;false", 2, 48, [0.57091159, 0.60581052, 0.62217516, 0.62536997]),
    ],
)
def test_matches_apebench_draws(config, num_spatial_dims, num_points, expected):
    u = _draw(config, num_spatial_dims, num_points, num_samples=1)
    np.testing.assert_allclose(u[0].reshape(-1)[:4], expected, atol=2e-6)


@pytest.mark.parametrize(
    "config, message",
    [
        ("sine;3;true;true", "unknown kind"),
        ("fourier;3;true", "fourier;PARAMETER;ZERO_MEAN;MAX_ONE"),
        ("fourier;0;true;true", "CUTOFF must be >= 1"),
        ("fourier;3;yes;true", "expected 'true' or 'false'"),
        ("grf;steep;true;true", "expected a float"),
        ("diffused;-1;true;true", "INTENSITY must be > 0"),
        ("clamp;1.0;0.0;fourier;5;true;true", "UPPER > LOWER"),
        ("clamp;0.0;1.0", "clamp;LOWER;UPPER;CONFIG"),
    ],
)
def test_bad_strings_name_the_problem(config, message):
    with pytest.raises(ValueError, match=message):
        ic.parse_ic_config(config, 1)
