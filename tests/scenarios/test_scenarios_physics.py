"""Each scenario's steppers against an independent computation.

Linear scenarios: the exact Fourier solution, with the coefficients written out by hand from APEBench's
definitions (difficulty gamma_j = alpha_j N^j 2^(j-1) D for j >= 1, alpha_0 = gamma_0; Exponax applies
the zeroth-order term once per axis, D a_0). Nonlinear scenarios: the emutrain stepper built by hand
from the same mapping. (The side-by-side comparison with APEBench itself needs APEBench's own
environment and is reported separately.)
"""

import numpy as np
import pytest

from emutrain import physics, scenarios
from emutrain.scenarios import _physics


def _mode(num_spatial_dims, num_points, m):
    """``cos(2 pi m . x)`` and ``sin(2 pi m . x)`` on the unit grid, ``(*spatial,)``."""
    x = np.arange(num_points) / num_points
    grids = np.meshgrid(*([x] * num_spatial_dims), indexing="ij")
    phase = 2 * np.pi * sum(mi * g for mi, g in zip(m, grids))
    return np.cos(phase), np.sin(phase)


def _exact_mode_step(coefficients, m, domain_extent, dt, num_spatial_dims):
    """Growth factor ``exp(dt (D a_0 + sum_j a_j sum_d (i k_d)^j))`` of mode ``m``."""
    k = [2 * np.pi * mi / domain_extent for mi in m]
    rate = num_spatial_dims * coefficients[0] + sum(
        a * sum((1j * kd) ** j for kd in k) for j, a in enumerate(coefficients) if j > 0
    )
    return np.exp(rate * dt)


def _check_linear(scenario, coefficients, domain_extent, dt, coarse_dt_or_coefficients):
    d, n = scenario.num_spatial_dims, scenario.num_points
    m = (3, -2, 1)[:d]
    cos, sin = _mode(d, n, m)
    for stepper, (coefs, step) in (
        (scenario.reference_stepper(), (coefficients, dt)),
        (scenario.coarse_stepper(), coarse_dt_or_coefficients),
    ):
        g = _exact_mode_step(coefs, m, domain_extent, step, d)
        expected = g.real * cos - g.imag * sin  # Re(g exp(i k.x))
        out = np.asarray(stepper(cos[..., None].astype(np.float32)))[..., 0]
        np.testing.assert_allclose(out, expected, atol=2e-5 * max(1.0, np.abs(expected).max()))


@pytest.mark.parametrize("num_spatial_dims, num_points", [(1, 40), (2, 16), (3, 12)])
def test_difficulty_four_is_exact_fourier_solution(num_spatial_dims, num_points):
    s = scenarios.make("diff_four", num_spatial_dims=num_spatial_dims, num_points=num_points, diffusion_gamma=0.5)
    d, n = num_spatial_dims, num_points
    alphas = (0.0, -4.0 / (n * d), 0.5 / (n**2 * 2 * d), 4.0 / (n**3 * 4 * d), -4.0 / (n**4 * 8 * d))
    coarse = tuple(0.5 * a for a in alphas)
    _check_linear(s, alphas, 1.0, 1.0, (coarse, 1.0))


def test_difficulty_zeroth_order_term_acts_once_per_axis():
    s = scenarios.make("diff_lin", num_spatial_dims=2, num_points=16, gammas=(-0.1, -2.0, 1.0))
    alphas = (-0.1, -2.0 / (16 * 2), 1.0 / (16**2 * 2 * 2))
    _check_linear(s, alphas, 1.0, 1.0, (tuple(0.5 * a for a in alphas), 1.0))
    # A constant decays as exp(D gamma_0) per step: exp(-0.2).
    out = np.asarray(s.reference_stepper()(np.ones((16, 16, 1), np.float32)))
    np.testing.assert_allclose(out, np.exp(-0.2), rtol=1e-6)


def test_normalized_and_physical_linear_are_exact():
    s = scenarios.make("norm_four", num_points=40)
    alphas = (0.0, -0.025, 8e-4, 2.5e-7, -7.5e-10)
    _check_linear(s, alphas, 1.0, 1.0, (tuple(0.5 * a for a in alphas), 1.0))
    s = scenarios.make("phy_four", num_points=40)
    a = (0.0, -2500.0, 80.0, 0.025, -0.000075)
    _check_linear(s, a, 1.0, 1e-5, (a, 0.5e-5))  # physical: the coarse stepper halves dt
    s = scenarios.make("phy_lin", num_spatial_dims=3, num_points=12, a_coefs=(-0.5, 0.1, 0.001))
    _check_linear(s, (-0.5, 0.1, 0.001), 1.0, 0.1, ((-0.5, 0.1, 0.001), 0.05))


def test_difficulty_advection_moves_gamma_cells_per_step():
    s = scenarios.make("diff_adv", num_points=32, num_test_samples=2, test_temporal_horizon=3)
    trajectory = s.test_trajectories()
    for t in range(1, 4):  # gamma = -4: four cells to the right per step
        np.testing.assert_allclose(trajectory[:, t], np.roll(trajectory[:, 0], 4 * t, axis=1), atol=2e-6)
    coarse = np.asarray(s.coarse_stepper()(trajectory[:, 0]))
    np.testing.assert_allclose(coarse, np.roll(trajectory[:, 0], 2, axis=1), atol=2e-6)


def test_special_linear_physical_scenarios():
    s = scenarios.make("phy_unbal_adv", num_spatial_dims=2, num_points=20, advection_coef_vector=(0.05, -0.1))
    u = np.random.default_rng(0).normal(size=(20, 20, 1)).astype(np.float32)
    u = np.asarray(physics.map_between_resolutions(physics.map_between_resolutions(u, 8, num_spatial_dims=2), 20, num_spatial_dims=2))
    # velocity (0.05, -0.1) over dt = 0.1 on L = 1, N = 20: shifts of (0.1, -0.2) cells... use 10 steps: (1, -2) cells
    out = np.asarray(physics.repeat(s.reference_stepper(), 10)(u))
    np.testing.assert_allclose(out, np.roll(u, (1, -2), axis=(0, 1)), atol=2e-5)
    s = scenarios.make("phy_diag_diff", num_points=16)
    cos, _ = _mode(2, 16, (2, 1))
    out = np.asarray(s.reference_stepper()(cos[..., None].astype(np.float32)))[..., 0]
    rate = -(0.001 * (2 * np.pi * 2) ** 2 + 0.002 * (2 * np.pi) ** 2)
    np.testing.assert_allclose(out, np.exp(0.1 * rate) * cos, atol=1e-6)
    s = scenarios.make("phy_mix_hyp", num_points=16)
    out = np.asarray(s.coarse_stepper()(cos[..., None].astype(np.float32)))[..., 0]
    k2 = (2 * np.pi * 2) ** 2 + (2 * np.pi) ** 2
    np.testing.assert_allclose(out, np.exp(-0.000075 * k2**2 * 0.5e-5) * cos, atol=1e-6)


def _kept_modes(fraction, num_points):
    return int(np.abs(physics.integer_wavenumbers(1, num_points)[0][physics.dealiasing_mask(1, num_points, fraction)]).max())


@pytest.mark.parametrize("num_points", [16, 32, 48, 64, 96, 160])
def test_dealiasing_keeps_exponax_modes(num_points):
    # Exponax keeps |m| <= 2/3 (N//2) - 1.
    expected = int(np.floor(2 / 3 * (num_points // 2) - 1))
    assert _kept_modes(_physics.emutrain_dealiasing_fraction(2 / 3, num_points), num_points) == expected


def _assert_same_step(a, b, u, atol=1e-6):
    np.testing.assert_allclose(np.asarray(a(u)), np.asarray(b(u)), atol=atol)


def _smooth(num_spatial_dims, num_points, channels, seed=0):
    ic = scenarios.ic.parse_ic_config("fourier;4;true;true", num_spatial_dims, channels)
    import jax

    return np.asarray(ic(num_points, key=jax.random.PRNGKey(seed)))


def test_difficulty_nonlinear_scenarios_match_hand_built_steppers():
    n = 64
    fraction = 20.5 / 32  # keeps |m| <= 20 = floor(2/3 * 32 - 1)
    u = _smooth(1, n, 1)
    ks = scenarios.make("diff_ks", num_points=n)
    by_hand = physics.KuramotoSivashinsky(
        1, 1.0, n, 1.0, gradient_norm_scale=6.0 / n**2, second_order_scale=1.2 / (n**2 * 2),
        fourth_order_scale=15.0 / (n**4 * 8), dealiasing_fraction=fraction,
    )
    _assert_same_step(ks.reference_stepper(), by_hand, u)
    kdv = scenarios.make("diff_kdv", num_points=n)
    by_hand = physics.KortewegDeVries(
        1, 1.0, n, 1.0, convection_scale=2.0 / n, dispersivity=14.0 / (n**3 * 4), hyper_diffusivity=9.0 / (n**4 * 8),
        diffusivity=0.0, single_channel=True, dealiasing_fraction=fraction,
    )
    _assert_same_step(kdv.reference_stepper(), by_hand, u)
    coarse_by_hand = physics.KortewegDeVries(
        1, 1.0, n, 1.0, convection_scale=1.0 / n, dispersivity=7.0 / (n**3 * 4), hyper_diffusivity=4.5 / (n**4 * 8),
        diffusivity=0.0, single_channel=True, dealiasing_fraction=fraction,
    )
    _assert_same_step(kdv.coarse_stepper(), coarse_by_hand, u)
    cons = scenarios.make("diff_ks_cons", num_points=n)
    by_hand = physics.KuramotoSivashinskyConservative(
        1, 1.0, n, 1.0, convection_scale=1.0 / n, second_order_scale=2.0 / (n**2 * 2),
        fourth_order_scale=18.0 / (n**4 * 8), dealiasing_fraction=fraction,
    )
    _assert_same_step(cons.reference_stepper(), by_hand, u)


@pytest.mark.parametrize("num_spatial_dims", [2, 3])
def test_burgers_scenarios_in_higher_dimensions(num_spatial_dims):
    d, n = num_spatial_dims, 16
    fraction = 4.5 / 8  # keeps |m| <= 4 = floor(2/3 * 8 - 1)
    multi = scenarios.make("diff_burgers", num_spatial_dims=d, num_points=n, num_substeps=2)
    by_hand = physics.repeat(
        physics.Burgers(d, 1.0, n, 1.0, diffusivity=0.75 / (n**2 * 2 * d), convection_scale=0.75 / (n * d), dealiasing_fraction=fraction),
        2,
    )
    _assert_same_step(multi.reference_stepper(), by_hand, _smooth(d, n, d))
    single = scenarios.make("norm_burgers_sc", num_spatial_dims=d, num_points=n)
    by_hand = physics.Burgers(d, 1.0, n, 1.0, diffusivity=3e-5, convection_scale=0.0125, single_channel=True, dealiasing_fraction=fraction)
    _assert_same_step(single.reference_stepper(), by_hand, _smooth(d, n, 1))


def test_physical_nonlinear_scenarios_halve_dt_for_the_coarse_stepper():
    n = 48
    fraction = 15.5 / 24
    s = scenarios.make("phy_ks", num_points=n)
    ks = dict(gradient_norm_scale=1.0, second_order_scale=1.0, fourth_order_scale=1.0, dealiasing_fraction=fraction)
    u = 2 * _smooth(1, n, 1)
    _assert_same_step(s.reference_stepper(), physics.KuramotoSivashinsky(1, 60.0, n, 0.1, **ks), u)
    _assert_same_step(s.coarse_stepper(), physics.KuramotoSivashinsky(1, 60.0, n, 0.05, **ks), u)


def test_vorticity_scenarios_use_the_curl_convention():
    n = 32
    fraction = 9.5 / 16
    turbulence = scenarios.make("phy_decay_turb", num_points=n)
    by_hand = physics.NavierStokesVorticity(2, 1.0, n, 0.1, diffusivity=1e-4, dealiasing_fraction=fraction)
    w = _smooth(2, n, 1)
    _assert_same_step(turbulence.reference_stepper(), by_hand, w)
    # Kolmogorov flow: the same flow as APEBench's injection_scale s is emutrain's injection_scale -s.
    flow = scenarios.make("phy_kolm_flow", num_points=n, num_substeps=2)
    by_hand = physics.repeat(
        physics.KolmogorovFlowVorticity(2, 2 * np.pi, n, 0.05, diffusivity=1e-2, drag=-0.1, injection_scale=-1.0, dealiasing_fraction=fraction),
        2,
    )
    _assert_same_step(flow.reference_stepper(), by_hand, w)
    # Trajectories store curl u of the flow started from APEBench's draw: the negated draw.
    s = scenarios.make("phy_decay_turb", num_points=n, num_test_samples=1, test_temporal_horizon=1)
    draw = np.asarray(scenarios.ic.build_ic_set(s.ic_distribution(), num_points=n, num_samples=1, key=__import__("jax").random.PRNGKey(773)))
    np.testing.assert_allclose(s.test_trajectories()[:, 0], -draw, atol=0)
