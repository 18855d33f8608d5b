"""Initial conditions, rollouts, sub-stepping, residua and resolution mapping."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import emutrain.physics as ep

KEY = jax.random.PRNGKey(42)


def _spectrum(u, num_spatial_dims):
    return np.abs(np.fft.rfftn(np.asarray(u, np.float64), axes=tuple(range(1, num_spatial_dims + 1))))


def test_truncated_fourier_series_set_statistics():
    dist = ep.RandomTruncatedFourierSeries(1, cutoff=5, max_one=True)
    ics = ep.build_ic_set(dist, num_points=32, num_samples=8, key=KEY)
    assert ics.shape == (8, 32, 1)
    np.testing.assert_allclose(jnp.max(jnp.abs(ics), axis=(1, 2)), 1.0, rtol=1e-6)
    np.testing.assert_allclose(jnp.mean(ics, axis=(1, 2)), 0.0, atol=1e-6)
    spectrum = _spectrum(ics, 1)
    # band-limited to cutoff
    assert np.all(spectrum[:, 6:] < 1e-4) and np.all(spectrum[:, 1:6].max(axis=1) > 1.0)
    assert not np.allclose(ics[0], ics[1])  # independent samples
    # reproducible
    np.testing.assert_array_equal(ics, ep.build_ic_set(dist, num_points=32, num_samples=8, key=KEY))
    with_mean = ep.build_ic_set(
        ep.RandomTruncatedFourierSeries(1, zero_mean=False), num_points=32, num_samples=8, key=KEY
    )
    assert np.min(np.abs(np.mean(with_mean, axis=(1, 2)))) > 1e-3


def test_two_dimensional_multichannel_distributions():
    for dist in (
        ep.RandomTruncatedFourierSeries(2, cutoff=3, num_channels=2),
        ep.GaussianRandomField(2, num_channels=2, max_one=True),
    ):
        ics = ep.build_ic_set(dist, num_points=16, num_samples=3, key=KEY)
        assert ics.shape == (3, 16, 16, 2)
        np.testing.assert_allclose(jnp.mean(ics, axis=(1, 2)), 0.0, atol=1e-6)
        assert not np.allclose(ics[..., 0], ics[..., 1])
    np.testing.assert_allclose(jnp.max(jnp.abs(ics), axis=(1, 2)), 1.0, rtol=1e-6)


def test_random_sine_waves_are_single_integer_modes():
    ics = ep.build_ic_set(ep.RandomSineWaves(1, cutoff=4), num_points=32, num_samples=6, key=KEY)
    spectrum = _spectrum(ics, 1)[..., 0]
    for s in spectrum:
        active = np.flatnonzero(s > 1e-3 * s.max())
        assert len(active) == 1 and 1 <= active[0] <= 4


def test_ic_arguments_are_validated():
    with pytest.raises(ValueError, match="cutoff"):
        ep.RandomTruncatedFourierSeries(1, cutoff=16)(32, key=KEY)
    with pytest.raises(ValueError, match="num_samples"):
        ep.build_ic_set(ep.RandomTruncatedFourierSeries(1), num_points=32, num_samples=0, key=KEY)
    with pytest.raises(ValueError, match="num_points"):
        ep.build_ic_set(ep.RandomTruncatedFourierSeries(1, cutoff=1), num_points=3, num_samples=2, key=KEY)


def test_rollout_repeat_and_residuum():
    # exactly two cells right per step
    stepper = ep.DifficultyLinearStepperSimple(1, 32, difficulty=-2.0, order=1)
    u0 = ep.build_ic_set(ep.RandomTruncatedFourierSeries(1, cutoff=4), num_points=32, num_samples=3, key=KEY)
    traj = ep.rollout(stepper, 5, include_init=True)(u0)
    assert traj.shape == (3, 6, 32, 1)
    for t in range(6):
        np.testing.assert_allclose(traj[:, t], jnp.roll(u0, 2 * t, axis=1), atol=1e-5)
    np.testing.assert_array_equal(ep.rollout(stepper, 5)(u0), traj[:, 1:])
    repeated = ep.repeat(stepper, 5)
    assert (
        repeated.dt == 5 * stepper.dt
        and repeated.num_points == 32
        and hash(repeated) == hash(ep.repeat(stepper, 5))
    )
    np.testing.assert_allclose(repeated(u0), traj[:, -1], atol=1e-5)
    rho = ep.residuum_from_stepper(stepper)
    np.testing.assert_allclose(rho(traj[:, 1:], traj[:, :-1]), 0.0, atol=1e-5)
    np.testing.assert_allclose(rho(traj[:, 0], traj[:, 0]), traj[:, 0] - traj[:, 1], atol=1e-6)
    with pytest.raises(ValueError, match="num_steps"):
        ep.rollout(stepper, 0)
    with pytest.raises(ValueError, match="num_substeps"):
        ep.repeat(stepper, 0)


@pytest.mark.parametrize("num_spatial_dims,coarse,fine", [(1, 16, 48), (1, 15, 32), (2, 12, 20)])
def test_resolution_mapping_round_trip_is_exact_for_band_limited_states(num_spatial_dims, coarse, fine):
    with jax.enable_x64(True):
        cutoff = (coarse - 1) // 2
        grid_c = np.asarray(ep.make_grid(num_spatial_dims, 1.0, coarse))
        grid_f = np.asarray(ep.make_grid(num_spatial_dims, 1.0, fine))
        rng = np.random.default_rng(0)
        modes = [
            (rng.uniform(-1, 1), rng.integers(-cutoff, cutoff + 1, num_spatial_dims), rng.uniform(0, 6.3))
            for _ in range(6)
        ]

        def field(g):
            return sum(a * np.cos(2 * np.pi * g @ k + p) for a, k, p in modes)[None, ..., None]

        u_c, u_f = jnp.asarray(field(grid_c)), jnp.asarray(field(grid_f))
        up = ep.map_between_resolutions(u_c, fine, num_spatial_dims=num_spatial_dims)
        np.testing.assert_allclose(up, u_f, atol=1e-12)  # exact interpolation of the band-limited field
        np.testing.assert_allclose(
            ep.map_between_resolutions(up, coarse, num_spatial_dims=num_spatial_dims), u_c, atol=1e-12
        )
        np.testing.assert_allclose(
            ep.map_between_resolutions(u_f, coarse, num_spatial_dims=num_spatial_dims), u_c, atol=1e-12
        )


def test_spectral_helpers():
    grid = ep.make_grid(2, 2.0, 8)
    assert grid.shape == (8, 8, 2)
    np.testing.assert_allclose(grid[3, 5], (0.75, 1.25))
    x = np.asarray(ep.make_grid(1, 2 * np.pi, 32))
    u = jnp.asarray(np.sin(3 * x))
    np.testing.assert_allclose(ep.derivative(u, 1, 2 * np.pi), 3 * np.cos(3 * x), atol=1e-4)
    np.testing.assert_allclose(ep.derivative(u, 1, 2 * np.pi, order=2), -9 * np.sin(3 * x), atol=1e-3)
    # The Nyquist mode is invisible to odd derivatives (its derivative is not representable on the grid).
    nyquist = jnp.asarray(np.cos(16 * x))
    np.testing.assert_allclose(ep.derivative(nyquist, 1, 2 * np.pi), 0.0, atol=1e-4)
    mask = ep.dealiasing_mask(1, 32)
    assert mask.shape == (17, 1) and mask[:11].all() and not mask[11:].any()
    k = ep.wavenumbers(2, 8, 2.0)
    assert len(k) == 2 and k[0].shape == (8, 5, 1)
    np.testing.assert_allclose(k[1][0, :, 0], np.pi * np.arange(5))
    u2 = jnp.ones((3, 8, 8, 2))
    assert ep.rfft_spatial(u2, 2).shape == (3, 8, 5, 2)
    np.testing.assert_allclose(ep.irfft_spatial(ep.rfft_spatial(u2, 2), 2, 8), u2, atol=1e-6)
