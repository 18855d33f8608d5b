"""Reaction-diffusion steppers: fixed points, invariant ranges, homogeneous (ODE) solutions, the weakly
nonlinear Swift-Hohenberg amplitude, a Lyapunov functional, and ETDRK orders."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import emutrain.physics as ep


def _steps(stepper, u, num_steps):
    return jax.jit(lambda v: jax.lax.fori_loop(0, num_steps, lambda _, w: stepper(w), v))(u)


def _smooth(num_spatial_dims, num_points, seed=0, cutoff=4):
    """``(*spatial)`` float64 sum of random low modes scaled to max |u| = 1."""
    rng = np.random.default_rng(seed)
    x = np.asarray(ep.make_grid(num_spatial_dims, 1.0, num_points), np.float64)
    u = sum(
        rng.uniform(-1, 1)
        * np.sin(2 * np.pi * x @ rng.integers(-cutoff, cutoff + 1, num_spatial_dims) + rng.uniform(0, 6))
        for _ in range(6)
    )
    return u / np.max(np.abs(u))


def _rk4(rhs, y, t_final, num_steps):
    h = t_final / num_steps
    for _ in range(num_steps):
        k1 = rhs(y)
        k2 = rhs(y + h / 2 * k1)
        k3 = rhs(y + h / 2 * k2)
        k4 = rhs(y + h * k3)
        y = y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return y


# -- Fisher-KPP ------------------------------------------------------------------------------------------
def test_fisher_kpp_constant_states_zero_and_one_are_fixed_points():
    stepper = ep.FisherKPP(2, 1.0, 16, 0.05, diffusivity=0.004, reactivity=20.0)
    for value in (0.0, 1.0):
        out = _steps(stepper, jnp.full((3, 16, 16, 1), value, jnp.float32), 50)
        np.testing.assert_allclose(out, value, atol=1e-6)


def test_fisher_kpp_keeps_data_in_the_unit_interval_and_invades_zero():
    stepper = ep.FisherKPP(1, 1.0, 64, 0.01, diffusivity=0.002, reactivity=5.0)
    u0 = np.clip(_smooth(1, 64, cutoff=3) + 0.3, 0.0, 1.0)  # plateaus at 0 and 1
    u0 = np.asarray(
        ep.map_between_resolutions(
            ep.map_between_resolutions(u0[:, None], 16, num_spatial_dims=1), 64, num_spatial_dims=1
        )
    )
    u0 = (u0 - u0.min()) / (u0.max() - u0.min())  # smooth data spanning exactly [0, 1]
    traj = jax.jit(ep.rollout(stepper, 200, include_init=True))(jnp.asarray(u0[None], jnp.float32))[0]
    assert float(jnp.min(traj)) >= -1e-3 and float(jnp.max(traj)) <= 1 + 1e-3
    mean = np.asarray(jnp.mean(traj, axis=(1, 2)))
    assert np.all(np.diff(mean) >= -1e-6) and mean[-1] > 0.99  # the stable state u = 1 takes over


def test_fisher_kpp_homogeneous_state_follows_the_logistic_solution():
    r, u0, t_final = 3.0, 0.05, 1.0
    exact = u0 * np.exp(r * t_final) / (1 - u0 + u0 * np.exp(r * t_final))
    with jax.enable_x64(True):
        for order, tolerance in ((2, 1e-3), (4, 1e-7)):
            stepper = ep.FisherKPP(
                1, 1.0, 8, t_final / 50, diffusivity=0.01, reactivity=r, etdrk=ep.ETDRKOptions(order=order)
            )
            out = _steps(stepper, jnp.full((8, 1), u0, jnp.float64), 50)
            np.testing.assert_allclose(out, exact, rtol=tolerance)


# -- Gray-Scott ------------------------------------------------------------------------------------------
def test_gray_scott_homogeneous_steady_state_is_fixed():
    stepper = ep.GrayScott(2, 1.0, 16, 1.0)
    state = jnp.concatenate([jnp.ones((2, 16, 16, 1)), jnp.zeros((2, 16, 16, 1))], axis=-1)
    np.testing.assert_allclose(_steps(stepper, state, 100), state, atol=1e-6)


def test_gray_scott_homogeneous_state_follows_the_reaction_ode():
    f, k, t_final = 0.04, 0.06, 20.0

    def rhs(y):
        u, v = y
        return np.array([f * (1 - u) - u * v**2, -(f + k) * v + u * v**2])

    exact = _rk4(rhs, np.array([0.6, 0.3]), t_final, 4000)
    with jax.enable_x64(True):
        stepper = ep.GrayScott(
            2,
            1.0,
            8,
            t_final / 40,
            feed_rate=f,
            kill_rate=k,
            etdrk=ep.ETDRKOptions(order=4, dealiasing_fraction=1 / 2),
        )
        out = _steps(stepper, jnp.broadcast_to(jnp.asarray([0.6, 0.3], jnp.float64), (8, 8, 2)), 40)
        np.testing.assert_allclose(out, np.broadcast_to(exact, (8, 8, 2)), rtol=1e-6)


def test_gray_scott_linearization_about_the_trivial_state_decays_each_mode_exactly():
    """Near (1, 0) the perturbation (p, q) obeys p_t = nu_1 lap p - f p, q_t = nu_2 lap q - (f + k) q."""
    f, k, nu1, nu2, length, dt, n = 0.04, 0.06, 2e-3, 1e-3, 1.0, 0.5, 16
    stepper = ep.GrayScott(
        2,
        length,
        n,
        dt,
        diffusivity_1=nu1,
        diffusivity_2=nu2,
        feed_rate=f,
        kill_rate=k,
        etdrk=ep.ETDRKOptions(order=4, dealiasing_fraction=1 / 2),
    )
    grid = np.asarray(ep.make_grid(2, length, n), np.float64)
    kvec = 2 * np.pi / length * np.array([1.0, 2.0])
    mode = np.cos(grid @ kvec)
    eps = 1e-5
    with jax.enable_x64(True):
        state = jnp.asarray(np.stack([1 + eps * mode, eps * mode], axis=-1), jnp.float64)
        out = np.asarray(_steps(stepper, state, 10))
    t = 10 * dt
    np.testing.assert_allclose(
        (out[..., 0] - 1) / eps, np.exp(-(nu1 * kvec @ kvec + f) * t) * mode, atol=1e-4
    )
    np.testing.assert_allclose(out[..., 1] / eps, np.exp(-(nu2 * kvec @ kvec + f + k) * t) * mode, atol=1e-4)


# -- Swift-Hohenberg -------------------------------------------------------------------------------------
def test_swift_hohenberg_stripe_amplitude_matches_the_weakly_nonlinear_prediction():
    """``u_t = r u - (1 + d_xx)^2 u - u^3``: stripes ``A cos x`` with ``A^2 = 4 r / 3`` (the third harmonic
    the cubic excites lies above the 1/2-dealiasing cutoff here, so the prediction is exact)."""
    r, length, n = 0.1, 8 * np.pi, 32  # only the mode k = 1 (m = 4) is unstable on this domain
    x = np.arange(n) * length / n
    u0 = (0.05 * np.cos(x) + 0.02 * np.sin(0.75 * x) + 0.01 * np.cos(1.25 * x))[:, None]
    for dims in (1, 2):
        stepper = ep.SwiftHohenberg(dims, length, n, 0.5, reactivity=r, polynomial_coefficients=(0, 0, 0, -1))
        # stripes along x
        state = jnp.asarray(u0.reshape((n,) + (1,) * dims) * np.ones((n,) * dims + (1,)), jnp.float32)
        out = np.asarray(_steps(stepper, state, 800)).reshape(n, -1)[:, 0]
        amplitude = 2 * np.abs(np.fft.rfft(out)) / n
        np.testing.assert_allclose(amplitude[4], np.sqrt(4 * r / 3), rtol=1e-4)
        assert np.max(np.delete(amplitude, 4)) < 1e-3  # other modes (the damped third harmonic) are small


def test_swift_hohenberg_lyapunov_functional_never_increases():
    """The equation is the gradient flow of
    ``F = mean(-r u^2 / 2 + ((1 + lap) u)^2 / 2 - c_2 u^3 / 3 - c_3 u^4 / 4)``."""
    r, c2, c3, length, n = 0.3, 1.0, -1.0, 10 * np.pi, 32
    stepper = ep.SwiftHohenberg(
        2,
        length,
        n,
        0.1,
        reactivity=r,
        polynomial_coefficients=(0, 0, c2, c3),
        etdrk=ep.ETDRKOptions(dealiasing_fraction=1.0),
    )
    u0 = 0.3 * _smooth(2, n, cutoff=6)
    traj = jax.jit(ep.rollout(stepper, 300, include_init=True))(jnp.asarray(u0[None, ..., None], jnp.float32))
    traj = np.asarray(traj, np.float64)[0, ..., 0]
    laplace = ep.laplace_operator(2, length, n)[..., 0].real
    shifted = np.fft.irfft2((1 + laplace) * np.fft.rfft2(traj, axes=(-2, -1)), s=(n, n), axes=(-2, -1))
    energy = np.mean(-r * traj**2 / 2 + shifted**2 / 2 - c2 * traj**3 / 3 - c3 * traj**4 / 4, axis=(-2, -1))
    assert np.all(np.diff(energy) <= 1e-6), np.max(np.diff(energy))
    assert energy[-1] < energy[0] - 1e-3


# -- ETDRK orders ----------------------------------------------------------------------------------------
CONVERGENCE_CASES = {
    "fisher_kpp": (
        lambda dt, o: ep.FisherKPP(
            1, 1.0, 32, dt, diffusivity=0.005, reactivity=5.0, etdrk=ep.ETDRKOptions(order=o)
        ),
        1,
        0.4,
    ),
    "gray_scott": (
        lambda dt, o: ep.GrayScott(
            1,
            1.0,
            32,
            dt,
            diffusivity_1=2e-3,
            diffusivity_2=1e-3,
            etdrk=ep.ETDRKOptions(order=o, dealiasing_fraction=1 / 2),
        ),
        2,
        20.0,
    ),
    "swift_hohenberg": (
        lambda dt, o: ep.SwiftHohenberg(
            1, 10 * np.pi, 32, dt, etdrk=ep.ETDRKOptions(order=o, dealiasing_fraction=1 / 2)
        ),
        1,
        2.0,
    ),
}
MIN_ORDER = {2: 1.8, 4: 3.5}  # orders 1 and 3 of the integrator are covered by the Burgers/KdV tests


@pytest.mark.parametrize("name", sorted(CONVERGENCE_CASES))
def test_observed_etdrk_orders(name):
    make, channels, t_final = CONVERGENCE_CASES[name]
    with jax.enable_x64(True):
        u0 = np.stack([0.5 + 0.4 * _smooth(1, 32, seed=c, cutoff=3) for c in range(channels)], axis=-1)
        u0 = jnp.asarray(u0, jnp.float64)
        reference = _steps(make(t_final / 512, 4), u0, 512)
        for order, minimum in MIN_ORDER.items():
            errors = [
                float(jnp.max(jnp.abs(_steps(make(t_final / m, order), u0, m) - reference))) for m in (16, 32)
            ]
            observed = np.log2(errors[0] / errors[1])
            assert observed >= minimum, f"{name} ETDRK{order}: observed order {observed:.2f}, errors {errors}"


@pytest.mark.parametrize(
    "parameter,make",
    [
        ("reactivity", lambda: ep.FisherKPP(1, 1.0, 16, 0.1, reactivity=float("nan"))),
        ("feed_rate", lambda: ep.GrayScott(2, 1.0, 16, 1.0, feed_rate=float("inf"))),
        ("dt", lambda: ep.GrayScott(2, 1.0, 16, 0.0)),
        (
            "polynomial_coefficients",
            lambda: ep.SwiftHohenberg(2, 1.0, 16, 0.1, polynomial_coefficients=(0.0, float("nan"))),
        ),
        ("domain_extent", lambda: ep.SwiftHohenberg(2, -1.0, 16, 0.1)),
    ],
)
def test_bad_arguments_raise_value_error_naming_the_parameter(parameter, make):
    with pytest.raises(ValueError, match=parameter):
        make()


def test_gray_scott_needs_two_channels():
    with pytest.raises(ValueError, match="num_channels=2"):
        ep.GrayScott(2, 1.0, 16, 1.0)(jnp.ones((16, 16, 1)))
    with pytest.raises(TypeError, match="kill_rate"):
        ep.GrayScott(2, 1.0, 16, 1.0, kill_rate="0.06")
