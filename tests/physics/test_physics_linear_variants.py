"""Anisotropic diffusion, the order-0 difficulty, and the spectral Poisson solve against exact answers."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import emutrain.physics as ep


def test_anisotropic_diffusion_3d_single_mode_decays_by_exp_minus_kT_A_k_t():
    length, n, dt = 2.0, 8, 0.7
    a = np.array([[0.03, 0.01, -0.005], [0.01, 0.02, 0.004], [-0.005, 0.004, 0.05]])
    stepper = ep.Diffusion(3, length, n, dt, diffusivity=tuple(map(tuple, a)))
    grid = np.asarray(ep.make_grid(3, length, n), np.float64)
    k = 2 * np.pi / length * np.array([1.0, -2.0, 3.0])
    u0 = np.cos(grid @ k + 0.4)[..., None]
    out = np.asarray(ep.rollout(stepper, 2)(jnp.asarray(u0, jnp.float32)[None])[0, -1])
    np.testing.assert_allclose(out, np.exp(-k @ a @ k * 2 * dt) * u0, atol=2e-6)


def test_diagonal_matrix_diffusivity_equals_per_axis_diffusivity():
    u = ep.RandomTruncatedFourierSeries(2, cutoff=4)(16, key=jax.random.PRNGKey(1))
    per_axis = ep.Diffusion(2, 1.0, 16, 0.1, diffusivity=(0.01, 0.002))
    matrix = ep.Diffusion(2, 1.0, 16, 0.1, diffusivity=((0.01, 0.0), (0.0, 0.002)))
    np.testing.assert_allclose(matrix(u), per_axis(u), atol=1e-7)
    assert matrix.diffusivity == ((0.01, 0.0), (0.0, 0.002)) and per_axis.diffusivity == (0.01, 0.002)


def test_order_zero_difficulty_is_the_normalized_rate():
    """gamma_0 = alpha_0 (no grid factor): a constant state grows by exactly exp(gamma_0) per step."""
    assert ep.difficulties_to_normalized((0.3, 2.0), num_spatial_dims=2, num_points=10) == (
        0.3,
        2.0 / (10 * 2),
    )
    assert ep.normalized_to_difficulties((0.3, 0.1), num_spatial_dims=2, num_points=10) == (0.3, 0.1 * 10 * 2)
    for dims in (1, 2):
        stepper = ep.DifficultyLinearStepper(dims, 12, linear_difficulties=(0.3, 0.0, 1.0))
        out = stepper(jnp.full((12,) * dims + (1,), 0.5, jnp.float32))
        np.testing.assert_allclose(out, 0.5 * np.exp(0.3), rtol=1e-6)


def test_poisson_inverts_the_negative_laplacian_and_drops_the_mean():
    length, n = 10.0, 16
    grid = np.asarray(ep.make_grid(2, length, n), np.float64)
    k = 2 * np.pi / length * np.array([2.0, -1.0])
    f = (1.5 + 3.0 * np.sin(grid @ k))[..., None]
    poisson = ep.Poisson(2, length, n)
    np.testing.assert_allclose(
        poisson(jnp.asarray(f, jnp.float32)), 3.0 * np.sin(grid @ k)[..., None] / (k @ k), atol=1e-6
    )
    # order 4: sum_d d^4 u / dx_d^4 has the symbol k_x^4 + k_y^4 (divided out with the sign of order 2)
    u4 = ep.Poisson(2, length, n, order=4)(jnp.asarray(f, jnp.float32)[None])[0]
    np.testing.assert_allclose(u4, -3.0 * np.sin(grid @ k)[..., None] / np.sum(k**4), atol=1e-6)
    assert ep.Poisson(2, length, n) == poisson and hash(ep.Poisson(2, length, n)) == hash(poisson)


@pytest.mark.parametrize(
    "parameter,make",
    [
        ("diffusivity", lambda: ep.Diffusion(2, 1.0, 16, 0.1, diffusivity=((0.01, 0.002), (0.0, 0.01)))),
        (
            "diffusivity",
            lambda: ep.Diffusion(2, 1.0, 16, 0.1, diffusivity=((0.01, 0.0, 0.0), (0.0, 0.01, 0.0))),
        ),
        ("diffusivity", lambda: ep.Diffusion(2, 1.0, 16, 0.1, diffusivity=float("nan"))),
        ("dispersivity", lambda: ep.Dispersion(2, 1.0, 16, 0.1, dispersivity=(1.0, float("inf")))),
        ("hyper_diffusivity", lambda: ep.HyperDiffusion(1, 1.0, 16, 0.1, hyper_diffusivity=float("nan"))),
        ("order", lambda: ep.Poisson(1, 1.0, 16, order=3)),
        ("domain_extent", lambda: ep.Poisson(1, 0.0, 16)),
    ],
)
def test_bad_linear_arguments_raise_value_error_naming_the_parameter(parameter, make):
    with pytest.raises(ValueError, match=parameter):
        make()
