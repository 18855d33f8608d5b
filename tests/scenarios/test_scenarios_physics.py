"""Each scenario's steppers against an independent computation.

Linear scenarios: the exact Fourier solution, with the coefficients written out by hand from APEBench's
definitions (difficulty gamma_j = alpha_j N^j 2^(j-1) D for j >= 1, alpha_0 = gamma_0; Exponax applies
the zeroth-order term once per axis, D a_0). Nonlinear scenarios: the emutrain stepper built by hand
from the same mapping. (The side-by-side comparison with APEBench itself needs APEBench's own
environment and is reported separately.)
"""

import jax
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
    s = scenarios.make(
        "diff_four", num_spatial_dims=num_spatial_dims, num_points=num_points, diffusion_gamma=0.5
    )
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
    u = np.asarray(
        physics.map_between_resolutions(
            physics.map_between_resolutions(u, 8, num_spatial_dims=2), 20, num_spatial_dims=2
        )
    )
    # velocity (0.05, -0.1), dt = 0.1, L = 1, N = 20: (0.1, -0.2) cells per step, (1, -2) cells in 10 steps
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
    return int(
        np.abs(
            physics.integer_wavenumbers(1, num_points)[0][physics.dealiasing_mask(1, num_points, fraction)]
        ).max()
    )


@pytest.mark.parametrize("num_points", [16, 32, 48, 64, 96, 160])
def test_dealiasing_keeps_exponax_modes(num_points):
    # Exponax keeps |m| <= 2/3 (N//2) - 1.
    expected = int(np.floor(2 / 3 * (num_points // 2) - 1))
    assert _kept_modes(_physics.emutrain_dealiasing_fraction(2 / 3, num_points), num_points) == expected


def _assert_same_step(a, b, u, atol=1e-6):
    np.testing.assert_allclose(np.asarray(jax.jit(a)(u)), np.asarray(jax.jit(b)(u)), atol=atol)


def _smooth(num_spatial_dims, num_points, channels, seed=0):
    """A band-limited state with max |u| = 1 per channel, ``(*spatial, C)``: a sum of low modes."""
    rng = np.random.default_rng(seed)
    x = np.arange(num_points) / num_points
    grids = np.meshgrid(*([x] * num_spatial_dims), indexing="ij")
    u = np.zeros((num_points,) * num_spatial_dims + (channels,))
    for c in range(channels):
        for _ in range(4):
            m = rng.integers(-3, 4, size=num_spatial_dims)
            u[..., c] += rng.uniform(-1, 1) * np.cos(
                2 * np.pi * sum(mi * g for mi, g in zip(m, grids)) + rng.uniform(0, 6.3)
            )
        u[..., c] /= np.abs(u[..., c]).max()
    return u.astype(np.float32)


def test_difficulty_nonlinear_scenarios_match_hand_built_steppers():
    n = 64
    fraction = 20.5 / 32  # keeps |m| <= 20 = floor(2/3 * 32 - 1)
    u = _smooth(1, n, 1)
    ks = scenarios.make("diff_ks", num_points=n)
    by_hand = physics.KuramotoSivashinsky(
        1,
        1.0,
        n,
        1.0,
        gradient_norm_scale=6.0 / n**2,
        second_order_scale=1.2 / (n**2 * 2),
        fourth_order_scale=15.0 / (n**4 * 8),
        etdrk=physics.ETDRKOptions(dealiasing_fraction=fraction),
    )
    _assert_same_step(ks.reference_stepper(), by_hand, u)
    kdv = scenarios.make("diff_kdv", num_points=n)
    by_hand = physics.KortewegDeVries(
        1,
        1.0,
        n,
        1.0,
        convection_scale=2.0 / n,
        dispersivity=14.0 / (n**3 * 4),
        hyper_diffusivity=9.0 / (n**4 * 8),
        diffusivity=0.0,
        single_channel=True,
        etdrk=physics.ETDRKOptions(dealiasing_fraction=fraction),
    )
    _assert_same_step(kdv.reference_stepper(), by_hand, u)
    coarse_by_hand = physics.KortewegDeVries(
        1,
        1.0,
        n,
        1.0,
        convection_scale=1.0 / n,
        dispersivity=7.0 / (n**3 * 4),
        hyper_diffusivity=4.5 / (n**4 * 8),
        diffusivity=0.0,
        single_channel=True,
        etdrk=physics.ETDRKOptions(dealiasing_fraction=fraction),
    )
    _assert_same_step(kdv.coarse_stepper(), coarse_by_hand, u)
    cons = scenarios.make("diff_ks_cons", num_points=n)
    by_hand = physics.KuramotoSivashinskyConservative(
        1,
        1.0,
        n,
        1.0,
        convection_scale=1.0 / n,
        second_order_scale=2.0 / (n**2 * 2),
        fourth_order_scale=18.0 / (n**4 * 8),
        etdrk=physics.ETDRKOptions(dealiasing_fraction=fraction),
    )
    _assert_same_step(cons.reference_stepper(), by_hand, u)


@pytest.mark.parametrize("num_spatial_dims", [2, 3])
def test_burgers_scenarios_in_higher_dimensions(num_spatial_dims):
    d, n = num_spatial_dims, 16
    fraction = 4.5 / 8  # keeps |m| <= 4 = floor(2/3 * 8 - 1)
    multi = scenarios.make("diff_burgers", num_spatial_dims=d, num_points=n, num_substeps=2)
    by_hand = physics.repeat(
        physics.Burgers(
            d,
            1.0,
            n,
            1.0,
            diffusivity=0.75 / (n**2 * 2 * d),
            convection_scale=0.75 / (n * d),
            etdrk=physics.ETDRKOptions(dealiasing_fraction=fraction),
        ),
        2,
    )
    _assert_same_step(multi.reference_stepper(), by_hand, _smooth(d, n, d))
    single = scenarios.make("norm_burgers_sc", num_spatial_dims=d, num_points=n)
    by_hand = physics.Burgers(
        d,
        1.0,
        n,
        1.0,
        diffusivity=3e-5,
        convection_scale=0.0125,
        single_channel=True,
        etdrk=physics.ETDRKOptions(dealiasing_fraction=fraction),
    )
    _assert_same_step(single.reference_stepper(), by_hand, _smooth(d, n, 1))


def test_physical_nonlinear_scenarios_halve_dt_for_the_coarse_stepper():
    n = 48
    fraction = 15.5 / 24
    s = scenarios.make("phy_ks", num_points=n)
    ks = dict(
        gradient_norm_scale=1.0,
        second_order_scale=1.0,
        fourth_order_scale=1.0,
        etdrk=physics.ETDRKOptions(dealiasing_fraction=fraction),
    )
    u = 2 * _smooth(1, n, 1)
    _assert_same_step(s.reference_stepper(), physics.KuramotoSivashinsky(1, 60.0, n, 0.1, **ks), u)
    _assert_same_step(s.coarse_stepper(), physics.KuramotoSivashinsky(1, 60.0, n, 0.05, **ks), u)


def test_vorticity_scenarios_use_the_curl_convention():
    n = 32
    fraction = 9.5 / 16
    turbulence = scenarios.make("phy_decay_turb", num_points=n)
    by_hand = physics.NavierStokesVorticity(
        2, 1.0, n, 0.1, diffusivity=1e-4, etdrk=physics.ETDRKOptions(dealiasing_fraction=fraction)
    )
    w = _smooth(2, n, 1)
    _assert_same_step(turbulence.reference_stepper(), by_hand, w)
    # Kolmogorov flow: the same flow as APEBench's injection_scale s is emutrain's injection_scale -s, and
    # Exponax's drag acts once per axis (2 * drag).
    flow = scenarios.make("phy_kolm_flow", num_points=n, num_substeps=2)
    by_hand = physics.repeat(
        physics.KolmogorovFlowVorticity(
            2,
            2 * np.pi,
            n,
            0.05,
            diffusivity=1e-2,
            drag=-0.2,
            injection_scale=-1.0,
            etdrk=physics.ETDRKOptions(dealiasing_fraction=fraction),
        ),
        2,
    )
    _assert_same_step(flow.reference_stepper(), by_hand, w)
    # Trajectories store curl u of the flow started from APEBench's draw: the negated draw.
    s = scenarios.make("phy_decay_turb", num_points=n, num_test_samples=1, test_temporal_horizon=1)
    draw = np.asarray(
        scenarios.ic.build_ic_set(
            s.ic_distribution(), num_points=n, num_samples=1, key=jax.random.PRNGKey(773)
        )
    )
    np.testing.assert_allclose(s.test_trajectories()[:, 0], -draw, atol=0)


def test_fisher_scenarios_are_fisher_kpp():
    n = 48
    fraction = 15.5 / 24
    u = 0.5 + 0.5 * _smooth(1, n, 1)
    # diff_fisher in 1D: u_t = 0.02 u - 0.02 u^2 + alpha_2 u_xx = r u (1 - u) + nu u_xx.
    s = scenarios.make("diff_fisher", num_points=n)
    by_hand = physics.FisherKPP(
        1,
        1.0,
        n,
        1.0,
        diffusivity=0.2 / (n**2 * 2),
        reactivity=0.02,
        etdrk=physics.ETDRKOptions(dealiasing_fraction=fraction),
    )
    _assert_same_step(s.reference_stepper(), by_hand, u)
    s = scenarios.make("phy_fisher", num_points=n)
    by_hand = physics.FisherKPP(
        1,
        1.0,
        n,
        0.001,
        diffusivity=0.004,
        reactivity=20.0,
        etdrk=physics.ETDRKOptions(dealiasing_fraction=fraction),
    )
    _assert_same_step(s.reference_stepper(), by_hand, u)
    coarse = physics.FisherKPP(
        1,
        1.0,
        n,
        0.0005,
        diffusivity=0.004,
        reactivity=20.0,
        etdrk=physics.ETDRKOptions(dealiasing_fraction=fraction),
    )
    _assert_same_step(s.coarse_stepper(), coarse, u)


def test_fisher_drag_acts_once_per_axis_in_2d():
    # norm_fisher in 2D: Exponax's drag term is D * alpha_0 = 0.04, the quadratic -0.02 u^2 stays.
    s = scenarios.make("norm_fisher", num_spatial_dims=2, num_points=16)
    by_hand = physics.NormalizedNonlinearStepper(
        2,
        16,
        normalized_linear_coefficients=(0.04, 0.0, 4e-6),
        normalized_nonlinear_coefficients=(-0.02, 0.0, 0.0),
        etdrk=physics.ETDRKOptions(dealiasing_fraction=4.5 / 8),
    )
    _assert_same_step(s.reference_stepper(), by_hand, 0.5 + 0.5 * _smooth(2, 16, 1))


@pytest.mark.parametrize("num_spatial_dims", [2, 3])
def test_ks_and_kdv_in_higher_dimensions_use_axis_wise_fourth_derivatives(num_spatial_dims):
    d, n = num_spatial_dims, 16
    fraction = 4.5 / 8
    s = scenarios.make("diff_ks", num_spatial_dims=d, num_points=n)
    by_hand = physics.GeneralNonlinearStepper(
        d,
        1.0,
        n,
        1.0,
        linear_coefficients=(0.0, 0.0, -1.2 / (n**2 * 2 * d), 0.0, -15.0 / (n**4 * 8 * d)),
        nonlinear_coefficients=(0.0, 0.0, -6.0 / (n**2 * d)),
        etdrk=physics.ETDRKOptions(dealiasing_fraction=fraction),
    )
    u = _smooth(d, n, 1)
    _assert_same_step(s.reference_stepper(), by_hand, u)
    # The fourth-order term is sum_d d^4/dx_d^4: a mode (1, 1, ...) decays like sum_d k_d^4, not |k|^4.
    linear_only = scenarios.make("diff_hyp_diff", num_spatial_dims=d, num_points=n)
    cos, _ = _mode(d, n, (1,) * d)
    out = np.asarray(linear_only.reference_stepper()(cos[..., None].astype(np.float32)))[..., 0]
    rate = -4.0 / (n**4 * 8 * d) * d * (2 * np.pi) ** 4
    np.testing.assert_allclose(out, np.exp(rate) * cos, atol=1e-6)


def test_reaction_scenarios_match_hand_built_steppers():
    n = 16
    half = 3.5 / 8  # Exponax's 1/2 keeps |m| <= 3 on N = 16
    gs = scenarios.make("phy_gs", num_points=n)
    by_hand = physics.repeat(
        physics.GrayScott(
            2,
            1.0,
            n,
            1.0,
            diffusivity_1=2e-5,
            diffusivity_2=1e-5,
            feed_rate=0.04,
            kill_rate=0.06,
            etdrk=physics.ETDRKOptions(dealiasing_fraction=half),
        ),
        10,
    )
    uv = np.stack(
        [1 - 0.5 * (1 + _smooth(2, n, 1)[..., 0]), 0.25 * (1 + _smooth(2, n, 1, seed=1)[..., 0])], axis=-1
    )
    _assert_same_step(gs.reference_stepper(), by_hand, uv, atol=2e-6)
    sh = scenarios.make("phy_sh", num_points=n)
    by_hand = physics.repeat(
        physics.SwiftHohenberg(
            2,
            10 * np.pi,
            n,
            0.02,
            reactivity=0.7,
            critical_number=1.0,
            etdrk=physics.ETDRKOptions(dealiasing_fraction=half),
        ),
        5,
    )
    _assert_same_step(sh.reference_stepper(), by_hand, _smooth(2, n, 1))


def test_gray_scott_initial_state_is_one_minus_blob_and_blob():
    s = scenarios.make("phy_gs", num_points=32, num_train_samples=2, train_temporal_horizon=1)
    ic = s.initial_conditions("train")
    assert ic.shape == (2, 32, 32, 2)
    # (1 - blob, another blob): far from the centres (0.4..0.6) u = 1 and v = 0, peaks inside.
    np.testing.assert_allclose(ic[:, 0, 0], [[1.0, 0.0]] * 2, atol=1e-6)
    assert (ic >= 0.0).all() and (ic <= 1.0).all()
    assert (ic[..., 0].min(axis=(1, 2)) < 0.5).all() and (ic[..., 1].max(axis=(1, 2)) > 0.5).all()


def test_poisson_solves_minus_laplace():
    s = scenarios.make("phy_poisson", num_spatial_dims=2, num_points=16, num_test_samples=2)
    trajectories = s.test_trajectories()
    assert trajectories.shape == (2, 2, 16, 16, 1)
    cos, _ = _mode(2, 16, (2, 1))
    out = np.asarray(s.reference_stepper()(cos[..., None].astype(np.float32)))[..., 0]
    k2 = (2 * np.pi * 2 / 10.0) ** 2 + (2 * np.pi / 10.0) ** 2  # domain_extent 10
    np.testing.assert_allclose(out, cos / k2, atol=1e-5)


def test_anisotropic_diffusion_and_mixed_dispersion_are_exact():
    n = 16
    cos, sin = _mode(2, n, (2, 1))
    k = 2 * np.pi * np.array([2.0, 1.0])
    s = scenarios.make("phy_aniso_diff", num_points=n)
    a = np.array([[0.001, 0.0005], [0.0005, 0.002]])
    out = np.asarray(s.reference_stepper()(cos[..., None].astype(np.float32)))[..., 0]
    np.testing.assert_allclose(out, np.exp(-0.1 * k @ a @ k) * cos, atol=1e-6)
    s = scenarios.make("phy_mix_disp", num_points=n)
    # xi (1 . grad) laplace: symbol xi (i sum k_d)(-|k|^2); a cosine becomes cos(phase - theta).
    theta = -0.00025 * k.sum() * (k @ k) * 0.001
    out = np.asarray(s.reference_stepper()(cos[..., None].astype(np.float32)))[..., 0]
    np.testing.assert_allclose(out, np.cos(theta) * cos - np.sin(theta) * sin, atol=1e-5)


def _normalized_linear(s):
    """The scenario's linear coefficients as (coefficients, domain_extent, dt), converted here by hand."""
    d, n = s.num_spatial_dims, s.num_points
    if s.name.startswith("diff_"):
        gammas = s.gammas
        return (
            (gammas[0],) + tuple(g / (n**j * 2 ** (j - 1) * d) for j, g in enumerate(gammas) if j > 0),
            1.0,
            1.0,
        )
    if s.name.startswith("norm_"):
        return s.alphas, 1.0, 1.0
    return s.a_coefs, s.domain_extent, s.dt


_LINEAR_KINDS = ("lin", "lin_simple", "adv", "diff", "adv_diff", "disp", "hyp_diff", "hypdiff", "four")
LINEAR = [n for n in scenarios.names() if n.split("_", 1)[1] in _LINEAR_KINDS]


@pytest.mark.parametrize("name", LINEAR)
def test_every_linear_scenario_is_its_exact_fourier_solution(name):
    s = scenarios.make(name, num_points=24)
    coefficients, extent, dt = _normalized_linear(s)
    if name.startswith("phy_"):
        coarse = (coefficients, dt * 0.5)
    else:
        coarse = (tuple(0.5 * c for c in coefficients), dt)
    _check_linear(s, coefficients, extent, dt, coarse)


NONLINEAR = ["diff_nonlin", "diff_burgers_sc", "norm_nonlin", "norm_burgers_sc", "norm_kdv", "norm_ks",
             "phy_nonlin", "phy_burgers_sc", "phy_kdv"]  # fmt: skip


@pytest.mark.parametrize("name", NONLINEAR)
def test_every_single_channel_nonlinear_scenario_matches_the_generic_stepper(name):
    n = 32
    s = scenarios.make(name, num_points=n)
    if name.startswith("diff_"):
        linear, _, _ = _normalized_linear(s)
        b = (s.deltas[0], s.deltas[1] / n, s.deltas[2] / n**2)
        extent, dt = 1.0, 1.0
    elif name.startswith("norm_"):
        linear, b, extent, dt = s.alphas, s.betas, 1.0, 1.0
    else:
        linear, b, extent, dt = s.a_coefs, s.b_coefs, s.domain_extent, s.dt
    by_hand = physics.GeneralNonlinearStepper(
        1,
        extent,
        n,
        dt,
        linear_coefficients=linear,
        nonlinear_coefficients=b,
        etdrk=physics.ETDRKOptions(dealiasing_fraction=9.5 / 16),
    )
    _assert_same_step(s.reference_stepper(), by_hand, _smooth(1, n, 1))


@pytest.mark.parametrize(
    "name", ["diff_conv", "norm_conv", "norm_ks_cons", "phy_conv", "phy_burgers", "phy_ks_cons"]
)
def test_every_convection_scenario_matches_the_generic_stepper(name):
    n = 32
    s = scenarios.make(name, num_points=n)
    if name.startswith("diff_"):
        linear, _, _ = _normalized_linear(s)
        scale, extent, dt = -s.convection_delta / n, 1.0, 1.0
    elif name.startswith("norm_"):
        linear, scale, extent, dt = s.alphas, -s.convection_beta, 1.0, 1.0
    else:
        linear, scale, extent, dt = s.a_coefs, -s.convection_coef, s.domain_extent, s.dt
    by_hand = physics.GeneralConvectionStepper(
        1, extent, n, dt, linear_coefficients=linear, convection_scale=scale, conservative=True,
        etdrk=physics.ETDRKOptions(dealiasing_fraction=9.5 / 16),
    )  # fmt: skip
    _assert_same_step(s.reference_stepper(), by_hand, _smooth(1, n, 1))
    if name == "norm_ks_cons":  # APEBench 0.1.1 declares convection_delta but steps with convection_beta
        assert s.replace(convection_delta=1.0).reference_stepper() == s.reference_stepper()
