"""Nonlinear steppers: ETDRK convergence orders, long-time behaviour, conservation and decay."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import emutrain.physics as ep


def _final_state(stepper, u0, num_steps):
    return jax.jit(lambda u: jax.lax.fori_loop(0, num_steps, lambda _, v: stepper(v), u))(u0)


CONVERGENCE_CASES = {
    # (class, domain_extent, final time, coarse step count, initial state on x in [0, L))
    "burgers": (
        ep.Burgers,
        1.0,
        0.2,
        32,
        lambda x, L: np.sin(2 * np.pi * x / L) + 0.5 * np.cos(4 * np.pi * x / L),
    ),
    "kdv": (
        ep.KortewegDeVries,
        8 * np.pi,
        1.0,
        64,
        lambda x, L: 0.5 * np.sin(2 * np.pi * x / L) + 0.3 * np.cos(4 * np.pi * x / L),
    ),
}
MIN_ORDER = {1: 0.9, 2: 1.8, 3: 2.7, 4: 3.5}


@pytest.mark.parametrize("name", sorted(CONVERGENCE_CASES))
def test_observed_etdrk_orders(name):
    """Halving dt divides the error against a fine ETDRK4 reference by ~2^order (complex coefficients)."""
    cls, length, t_final, steps, ic = CONVERGENCE_CASES[name]
    n = 64
    with jax.enable_x64(True):
        x = np.arange(n) * length / n
        u0 = jnp.asarray(ic(x, length)[:, None], jnp.float64)
        reference = _final_state(cls(1, length, n, t_final / 2048, etdrk=ep.ETDRKOptions(order=4)), u0, 2048)
        for order, minimum in MIN_ORDER.items():
            errors = [
                float(
                    jnp.max(
                        jnp.abs(
                            _final_state(
                                cls(1, length, n, t_final / m, etdrk=ep.ETDRKOptions(order=order)), u0, m
                            )
                            - reference
                        )
                    )
                )
                for m in (steps, 2 * steps)
            ]
            observed = np.log2(errors[0] / errors[1])
            assert observed >= minimum, f"{name} ETDRK{order}: observed order {observed:.2f}, errors {errors}"


def _random_modes(num_spatial_dims, num_points, cutoff, seed, num_samples=1):
    """``(S, *spatial, 1)`` float32 sums of random low modes (NumPy, no compilation)."""
    rng = np.random.default_rng(seed)
    x = np.asarray(ep.make_grid(num_spatial_dims, 1.0, num_points), np.float64)
    out = np.zeros((num_samples,) + x.shape[:-1])
    for s in range(num_samples):
        for _ in range(4 * num_spatial_dims):
            k = rng.integers(-cutoff, cutoff + 1, num_spatial_dims)
            out[s] += rng.uniform(-1, 1) * np.sin(2 * np.pi * x @ k + rng.uniform(0, 2 * np.pi))
    return jnp.asarray(out[..., None], jnp.float32)


def test_kuramoto_sivashinsky_stays_bounded_over_5000_steps():
    stepper = ep.KuramotoSivashinsky(1, 60.0, 64, 0.1)
    u0 = _random_modes(1, 64, 5, seed=0)
    traj = jax.jit(ep.rollout(stepper, 5000))(u0)
    amplitude = jnp.max(jnp.abs(traj), axis=(2, 3))
    assert bool(jnp.all(jnp.isfinite(traj)))
    # Chaotic but bounded: the O(1) initial state grows onto the KS attractor (|u| of a few units) and
    # stays there.
    assert float(jnp.max(amplitude)) < 20.0
    assert float(jnp.min(amplitude[:, -1000:])) > 1.0
    # The combustion form with the mean of |grad u|^2 removed conserves the mean.
    np.testing.assert_allclose(jnp.mean(traj[:, -1]), jnp.mean(u0), atol=1e-4)


def test_kuramoto_sivashinsky_conservative_is_the_derivative_of_the_combustion_form():
    """v = u_x maps combustion KS solutions to conservative KS solutions (1D, same grid and dt)."""
    length, n = 32.0, 64
    combustion = ep.KuramotoSivashinsky(
        1, length, n, 0.05, etdrk=ep.ETDRKOptions(order=4, dealiasing_fraction=1.0)
    )
    conservative = ep.KuramotoSivashinskyConservative(
        1, length, n, 0.05, etdrk=ep.ETDRKOptions(order=4, dealiasing_fraction=1.0)
    )
    with jax.enable_x64(True):
        x = np.arange(n) * length / n
        u = jnp.asarray((np.sin(2 * np.pi * x / length) + 0.3 * np.cos(6 * np.pi * x / length))[:, None])
        u_next = _final_state(combustion, u, 10)
        v_next = _final_state(conservative, ep.derivative(u, 1, length), 10)
        # Without dealiasing both are the same Galerkin-free collocation scheme up to the derivative's
        # aliasing.
        np.testing.assert_allclose(ep.derivative(u_next, 1, length), v_next, atol=2e-3)


def test_navier_stokes_vorticity_keeps_zero_mean_and_decays_without_forcing():
    stepper = ep.NavierStokesVorticity(2, 2 * np.pi, 32, 0.02, diffusivity=0.01)
    w0 = _random_modes(2, 32, 5, seed=3, num_samples=2)
    w0 = w0 - jnp.mean(w0, axis=(1, 2, 3), keepdims=True)
    traj = jax.jit(ep.rollout(stepper, 100, include_init=True))(w0)
    np.testing.assert_allclose(jnp.mean(traj, axis=(2, 3, 4)), 0.0, atol=1e-5)
    enstrophy = np.asarray(jnp.mean(traj**2, axis=(2, 3, 4)))
    # 2D enstrophy obeys dZ/dt = -2 nu |grad w|^2 < 0: strictly decreasing step by step.
    assert np.all(np.diff(enstrophy, axis=1) < 0)
    assert np.all(enstrophy[:, -1] < 0.9 * enstrophy[:, 0])


def test_laminar_kolmogorov_flow_converges_to_the_analytic_steady_state():
    """At low Reynolds number the flow settles on w = -s k_f cos(k_f y) / (nu k_f^2 - drag)."""
    nu, drag, mode, scale, length = 0.2, -0.1, 4, 1.0, 2 * np.pi
    stepper = ep.KolmogorovFlowVorticity(
        2, length, 32, 0.1, diffusivity=nu, drag=drag, injection_mode=mode, injection_scale=scale
    )
    w0 = 0.5 * _random_modes(2, 32, 3, seed=1)
    w0 = w0 - jnp.mean(w0)
    traj = jax.jit(ep.rollout(stepper, 600))(w0)
    y = np.asarray(ep.make_grid(2, length, 32))[..., 1:2]
    k_f = 2 * np.pi * mode / length
    steady = -scale * k_f * np.cos(k_f * y) / (nu * k_f**2 - drag)
    np.testing.assert_allclose(traj[0, -1], steady, atol=1e-4 * np.max(np.abs(steady)))
    enstrophy = np.asarray(jnp.mean(traj**2, axis=(2, 3, 4)))[0]
    np.testing.assert_allclose(enstrophy[300:450].mean(), enstrophy[450:].mean(), rtol=1e-4)


def test_turbulent_kolmogorov_flow_reaches_a_statistically_steady_state():
    stepper = ep.KolmogorovFlowVorticity(2, 2 * np.pi, 32, 0.025, diffusivity=0.01)
    w0 = 0.1 * _random_modes(2, 32, 3, seed=0, num_samples=2)
    traj = jax.jit(ep.rollout(stepper, 2400))(w0)
    assert bool(jnp.all(jnp.isfinite(traj)))
    enstrophy = np.asarray(jnp.mean(traj**2, axis=(2, 3, 4))).mean(axis=0)  # ensemble mean over 2 samples
    early, late_a, late_b = enstrophy[:20].mean(), enstrophy[1200:1800].mean(), enstrophy[1800:].mean()
    assert late_a > 10 * early  # the forcing has injected energy far above the small initial state
    # and the statistics of two late windows (t in [30, 45], [45, 60]) agree
    assert abs(late_a - late_b) <= 0.25 * late_b
