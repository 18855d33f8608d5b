"""Linear steppers against exact Fourier solutions, the difficulty mapping, and stepper identity."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import emutrain.physics as ep


def _modes_state(grid, modes):
    """``sum_m a_m sin(k_m . x + phi_m)`` on ``(*spatial, D)`` -> ``(*spatial, 1)`` (float64 NumPy)."""
    return sum(a * np.sin(grid @ np.asarray(k) + phi) for a, k, phi in modes)[..., None]


def _exact(grid, modes, symbol, t):
    """Exact solution of ``u_t = L u`` for a sum of sines: mode ``e^{i k.x}`` gets ``e^{symbol(k) t}``."""
    out = 0.0
    for a, k, phi in modes:
        out = out + a * np.imag(
            np.exp(1j * (grid @ np.asarray(k) + phi)) * np.exp(symbol(np.asarray(k, float)) * t)
        )
    return out[..., None]


def test_difficulty_advection_moves_six_and_a_half_cells_right_per_step():
    n = 48
    stepper = ep.DifficultyLinearStepperSimple(1, n, difficulty=-6.5, order=1)
    x = np.arange(n) / n

    def shape(s):
        return (
            np.sin(2 * np.pi * 3 * (x - s))
            + 0.5 * np.cos(2 * np.pi * 7 * (x - s))
            - 0.2 * np.sin(2 * np.pi * 11 * (x - s))
        )

    u = jnp.asarray(shape(0.0)[:, None], jnp.float32)
    expected = shape(6.5 / n)[:, None]
    out = stepper(u)
    assert out.dtype == jnp.float32
    rel = np.max(np.abs(np.asarray(out) - expected)) / np.max(np.abs(expected))
    assert rel <= 1e-5


TWO_PI = 2 * np.pi
L1, N1, DT = 2.0, 32, 0.3
K1 = [(1.0, (TWO_PI * 2 / L1,), 0.3), (0.4, (TWO_PI * 5 / L1,), 1.1)]
L2, N2 = 3.0, 16
K2 = [(1.0, (TWO_PI * 1 / L2, TWO_PI * 2 / L2), 0.2), (0.5, (TWO_PI * -3 / L2, TWO_PI * 1 / L2), 0.7)]

LINEAR_CASES = [
    ("advection_1d", 1, lambda: ep.Advection(1, L1, N1, DT, velocity=0.7), lambda k: -1j * 0.7 * k[0]),
    (
        "advection_2d",
        2,
        lambda: ep.Advection(2, L2, N2, DT, velocity=(0.7, -0.4)),
        lambda k: -1j * (0.7 * k[0] - 0.4 * k[1]),
    ),
    ("diffusion_1d", 1, lambda: ep.Diffusion(1, L1, N1, DT, diffusivity=0.05), lambda k: -0.05 * k[0] ** 2),
    (
        "diffusion_2d",
        2,
        lambda: ep.Diffusion(2, L2, N2, DT, diffusivity=(0.05, 0.02)),
        lambda k: -0.05 * k[0] ** 2 - 0.02 * k[1] ** 2,
    ),
    (
        "advection_diffusion_1d",
        1,
        lambda: ep.AdvectionDiffusion(1, L1, N1, DT, velocity=-1.3, diffusivity=0.02),
        lambda k: 1j * 1.3 * k[0] - 0.02 * k[0] ** 2,
    ),
    (
        "dispersion_1d",
        1,
        lambda: ep.Dispersion(1, L1, N1, DT, dispersivity=0.002),
        lambda k: -1j * 0.002 * k[0] ** 3,
    ),
    (
        "dispersion_2d",
        2,
        lambda: ep.Dispersion(2, L2, N2, DT, dispersivity=0.01),
        lambda k: -1j * 0.01 * (k[0] ** 3 + k[1] ** 3),
    ),
    (
        "hyper_diffusion_1d",
        1,
        lambda: ep.HyperDiffusion(1, L1, N1, DT, hyper_diffusivity=1e-4),
        lambda k: -1e-4 * k[0] ** 4,
    ),
    (
        "hyper_diffusion_2d",
        2,
        lambda: ep.HyperDiffusion(2, L2, N2, DT, hyper_diffusivity=1e-3),
        lambda k: -1e-3 * (k[0] ** 2 + k[1] ** 2) ** 2,
    ),
    (
        "anisotropic_diffusion_2d",
        2,
        lambda: ep.Diffusion(2, L2, N2, DT, diffusivity=((0.05, 0.02), (0.02, 0.03))),
        lambda k: -(0.05 * k[0] ** 2 + 2 * 0.02 * k[0] * k[1] + 0.03 * k[1] ** 2),
    ),
    (
        "mixed_dispersion_2d",
        2,
        lambda: ep.Dispersion(2, L2, N2, DT, dispersivity=(0.01, -0.004), advect_on_diffusion=True),
        lambda k: 1j * (0.01 * k[0] - 0.004 * k[1]) * -(k[0] ** 2 + k[1] ** 2),
    ),
    (
        "axis_hyper_diffusion_2d",
        2,
        lambda: ep.HyperDiffusion(2, L2, N2, DT, hyper_diffusivity=1e-3, diffuse_on_diffuse=False),
        lambda k: -1e-3 * (k[0] ** 4 + k[1] ** 4),
    ),
    (
        "general_1d",
        1,
        lambda: ep.GeneralLinearStepper(1, L1, N1, DT, linear_coefficients=(-0.1, 0.5, 0.01, 0.001)),
        lambda k: -0.1 + 0.5j * k[0] - 0.01 * k[0] ** 2 - 0.001j * k[0] ** 3,
    ),
]


@pytest.mark.parametrize("name,dims,make,symbol", LINEAR_CASES, ids=[c[0] for c in LINEAR_CASES])
def test_linear_stepper_matches_exact_fourier_solution(name, dims, make, symbol):
    stepper = make()
    length, modes = (L1, K1) if dims == 1 else (L2, K2)
    grid = np.asarray(ep.make_grid(dims, length, stepper.num_points), np.float64)
    u0 = jnp.asarray(_modes_state(grid, modes), jnp.float32)
    traj = ep.rollout(stepper, 3)(u0[None])[0]
    for t in range(3):
        expected = _exact(grid, modes, symbol, (t + 1) * DT)
        assert np.max(np.abs(np.asarray(traj[t]) - expected)) <= 2e-5 * np.max(np.abs(expected))


def test_normalized_and_difficulty_interfaces_follow_the_mapping():
    n, d = 40, 1
    gammas = (0.0, -2.5, 3.0)
    alphas = ep.difficulties_to_normalized(gammas, num_spatial_dims=d, num_points=n)
    np.testing.assert_allclose(alphas, (0.0, -2.5 / n, 3.0 / (n**2 * 2)))
    np.testing.assert_allclose(
        ep.normalized_to_difficulties(alphas, num_spatial_dims=d, num_points=n), gammas
    )
    length, dt = 3.0, 0.2
    coefs = ep.denormalize_coefficients(alphas, domain_extent=length, dt=dt)
    np.testing.assert_allclose(ep.normalize_coefficients(coefs, domain_extent=length, dt=dt), alphas)
    u = ep.RandomTruncatedFourierSeries(1, cutoff=8)(n, key=jax.random.PRNGKey(0))
    by_difficulty = ep.DifficultyLinearStepper(d, n, linear_difficulties=gammas)(u)
    by_normalized = ep.NormalizedLinearStepper(d, n, normalized_coefficients=alphas)(u)
    by_physics = ep.GeneralLinearStepper(d, length, n, dt, linear_coefficients=coefs)(u)
    np.testing.assert_allclose(by_difficulty, by_normalized, atol=1e-6)
    np.testing.assert_allclose(by_difficulty, by_physics, atol=1e-5)
    # gamma_2 diffusion: mode m decays by exp(-gamma_2 / (2 N^2) (2 pi m)^2) per step.
    diff = ep.DifficultyLinearStepperSimple(1, n, difficulty=3.0, order=2)
    x = np.arange(n) / n
    out = diff(jnp.asarray(np.sin(2 * np.pi * 4 * x)[:, None], jnp.float32))
    factor = math.exp(-3.0 / (2 * n**2) * (2 * np.pi * 4) ** 2)
    np.testing.assert_allclose(out[:, 0], factor * np.sin(2 * np.pi * 4 * x), atol=1e-6)


def test_steppers_are_immutable_and_hash_by_constructor_arguments():
    a = ep.DifficultyLinearStepperSimple(1, 48, difficulty=-6.5, order=1)
    b = ep.DifficultyLinearStepperSimple(1, 48, difficulty=-6.5, order=1)
    c = ep.DifficultyLinearStepperSimple(1, 48, difficulty=-6.0, order=1)
    assert a == b and hash(a) == hash(b) and a != c
    assert ep.Advection(1, 1.0, 16, 0.1) != ep.Diffusion(1, 1.0, 16, 0.1)
    with pytest.raises(AttributeError):
        a.dt = 2.0
    # Usable as a static jit argument: one compilation per distinct stepper.
    f = jax.jit(lambda u, s: s(u), static_argnums=1)
    u = jnp.zeros((48, 1))
    f(u, a), f(u, b)
    assert f._cache_size() == 1
    f(u, c)
    assert f._cache_size() == 2
