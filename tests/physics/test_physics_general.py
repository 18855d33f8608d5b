"""Generic nonlinear, convection and polynomial steppers: identities with the named steppers, the
normalized/difficulty mappings, the conservative vs advective convection forms, and ETDRK orders."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import emutrain.physics as ep


def _steps(stepper, u, num_steps):
    return jax.jit(lambda v: jax.lax.fori_loop(0, num_steps, lambda _, w: stepper(w), v))(u)


def _smooth(num_spatial_dims, num_points, num_channels=1, seed=0, cutoff=4):
    """``(*spatial, C)`` float64 sum of random low modes with max |u| = 1 per channel."""
    rng = np.random.default_rng(seed)
    x = np.asarray(ep.make_grid(num_spatial_dims, 1.0, num_points), np.float64)
    channels = []
    for _ in range(num_channels):
        u = sum(
            rng.uniform(-1, 1)
            * np.sin(2 * np.pi * x @ rng.integers(-cutoff, cutoff + 1, num_spatial_dims) + rng.uniform(0, 6))
            for _ in range(6)
        )
        channels.append(u / np.max(np.abs(u)))
    return np.stack(channels, axis=-1)


IDENTITIES = [
    (
        "nonlinear_is_single_channel_burgers_2d",
        lambda: ep.GeneralNonlinearStepper(
            2, 1.0, 16, 0.05, linear_coefficients=(0, 0, 0.01), nonlinear_coefficients=(0, -0.8, 0)
        ),
        lambda: ep.Burgers(2, 1.0, 16, 0.05, diffusivity=0.01, convection_scale=0.8, single_channel=True),
    ),
    (
        "nonlinear_is_kuramoto_sivashinsky_1d",
        lambda: ep.GeneralNonlinearStepper(
            1, 30.0, 32, 0.1, linear_coefficients=(0, 0, -1, 0, -1), nonlinear_coefficients=(0, 0, -1)
        ),
        lambda: ep.KuramotoSivashinsky(1, 30.0, 32, 0.1),
    ),
    (
        "conservative_convection_is_burgers_2d",
        lambda: ep.GeneralConvectionStepper(
            2, 1.0, 16, 0.05, linear_coefficients=(0, 0, 0.01), convection_scale=0.5, conservative=True
        ),
        lambda: ep.Burgers(2, 1.0, 16, 0.05, diffusivity=0.01, convection_scale=0.5),
    ),
    (
        "polynomial_is_fisher_kpp_1d",
        lambda: ep.GeneralPolynomialStepper(
            1, 1.0, 32, 0.01, linear_coefficients=(5.0, 0, 0.002), polynomial_coefficients=(0, 0, -5.0)
        ),
        lambda: ep.FisherKPP(1, 1.0, 32, 0.01, diffusivity=0.002, reactivity=5.0),
    ),
    (
        "quadratic_nonlinear_is_fisher_kpp_2d",
        lambda: ep.GeneralNonlinearStepper(
            2, 1.0, 16, 0.01, linear_coefficients=(5.0, 0, 0.002), nonlinear_coefficients=(-5.0, 0, 0)
        ),
        lambda: ep.FisherKPP(2, 1.0, 16, 0.01, diffusivity=0.002, reactivity=5.0),
    ),
    (
        "normalized_nonlinear_is_general",
        lambda: ep.NormalizedNonlinearStepper(
            1,
            32,
            normalized_linear_coefficients=ep.normalize_coefficients(
                (0.1, 0, -1, 0, -1), domain_extent=30.0, dt=0.1
            ),
            normalized_nonlinear_coefficients=ep.normalize_nonlinear_coefficients(
                (-0.1, -0.5, -1), domain_extent=30.0, dt=0.1
            ),
        ),
        lambda: ep.GeneralNonlinearStepper(
            1, 30.0, 32, 0.1, linear_coefficients=(0.1, 0, -1, 0, -1), nonlinear_coefficients=(-0.1, -0.5, -1)
        ),
    ),
    (
        "difficulty_nonlinear_is_normalized",
        lambda: ep.DifficultyNonlinearStepper(
            2,
            16,
            linear_difficulties=(0.05, 0, 1.5),
            nonlinear_difficulties=(-0.05, -1.5, 2.0),
            maximum_absolute=2.0,
        ),
        lambda: ep.NormalizedNonlinearStepper(
            2,
            16,
            normalized_linear_coefficients=(0.05, 0, 1.5 / (16**2 * 2 * 2)),
            normalized_nonlinear_coefficients=(-0.05, -1.5 / (2.0 * 16 * 2), 2.0 / (2.0 * 16**2 * 2)),
        ),
    ),
    (
        "difficulty_convection_is_general",
        lambda: ep.DifficultyConvectionStepper(
            2, 16, linear_difficulties=(0, 0, 1.5), convection_difficulty=1.5, conservative=True
        ),
        lambda: ep.GeneralConvectionStepper(
            2,
            1.0,
            16,
            1.0,
            linear_coefficients=(0, 0, 1.5 / (16**2 * 2 * 2)),
            convection_scale=1.5 / (16 * 2),
            conservative=True,
        ),
    ),
    (
        "normalized_convection_is_general",
        lambda: ep.NormalizedConvectionStepper(
            1,
            32,
            normalized_linear_coefficients=(0, 0, 0.002 * 0.1 / 4.0),
            normalized_convection_scale=0.5 * 0.1 / 2.0,
        ),
        lambda: ep.GeneralConvectionStepper(
            1, 2.0, 32, 0.1, linear_coefficients=(0, 0, 0.002), convection_scale=0.5
        ),
    ),
    (
        "difficulty_polynomial_is_normalized",
        lambda: ep.DifficultyPolynomialStepper(
            1, 32, linear_difficulties=(0.01, 0, 0.3), polynomial_difficulties=(0, 0.002, -0.01)
        ),
        lambda: ep.NormalizedPolynomialStepper(
            1,
            32,
            normalized_linear_coefficients=(0.01, 0, 0.3 / (32**2 * 2)),
            normalized_polynomial_coefficients=(0, 0.002, -0.01),
        ),
    ),
]


@pytest.mark.parametrize("name,make_a,make_b", IDENTITIES, ids=[c[0] for c in IDENTITIES])
def test_generic_stepper_equals_its_named_or_mapped_counterpart(name, make_a, make_b):
    a, b = make_a(), make_b()
    assert (a.num_spatial_dims, a.num_points, a.num_channels) == (
        b.num_spatial_dims,
        b.num_points,
        b.num_channels,
    )
    u0 = jnp.asarray(_smooth(a.num_spatial_dims, a.num_points, a.num_channels), jnp.float32)
    if "fisher" in name:
        u0 = 0.5 + 0.4 * u0
    np.testing.assert_allclose(_steps(a, u0, 5), _steps(b, u0, 5), atol=2e-6)


def test_nonlinear_difficulty_mappings_round_trip_with_hand_values():
    betas = ep.nonlinear_difficulties_to_normalized(
        (0.3, -1.5, 6.0), num_spatial_dims=2, num_points=32, maximum_absolute=2.0
    )
    np.testing.assert_allclose(betas, (0.3, -1.5 / (2 * 32 * 2), 6.0 / (2 * 32**2 * 2)))
    np.testing.assert_allclose(
        ep.normalized_to_nonlinear_difficulties(
            betas, num_spatial_dims=2, num_points=32, maximum_absolute=2.0
        ),
        (0.3, -1.5, 6.0),
    )
    normalized = ep.normalize_nonlinear_coefficients((2.0, -6.0, -1.0), domain_extent=50.0, dt=0.1)
    np.testing.assert_allclose(normalized, (0.2, -6.0 * 0.1 / 50, -0.1 / 2500))
    np.testing.assert_allclose(
        ep.denormalize_nonlinear_coefficients(normalized, domain_extent=50.0, dt=0.1), (2.0, -6.0, -1.0)
    )


@pytest.mark.parametrize("single_channel", [True, False])
def test_advective_and_conservative_convection_agree_on_resolved_modes_1d(single_channel):
    """In 1D ``u u_x = (u^2)_x / 2``: products of dealiased fields alias only onto the removed modes."""
    n = 32
    kwargs = dict(
        linear_coefficients=(0, 0, 0.01),
        convection_scale=1.0,
        single_channel=single_channel,
        etdrk=ep.ETDRKOptions(order=1),
    )
    advective = ep.GeneralConvectionStepper(1, 1.0, n, 0.01, **kwargs)
    conservative = ep.GeneralConvectionStepper(1, 1.0, n, 0.01, conservative=True, **kwargs)
    u = jnp.asarray(_smooth(1, n, cutoff=8), jnp.float32)
    a, c = (np.fft.rfft(np.asarray(s(u)), axis=0) / n for s in (advective, conservative))
    kept = int(2 / 3 * (n // 2)) + 1
    np.testing.assert_allclose(a[:kept], c[:kept], atol=1e-6)
    assert np.max(np.abs(a[kept:] - c[kept:])) > 1e-5  # the forms do differ on the removed modes


def test_conservative_convection_is_half_the_advective_one_for_divergence_free_2d_velocity():
    """``b/2 div(u (x) u) = b/2 (u . grad) u`` when ``div u = 0``: conservative with scale 2b equals
    advective with scale b (the Exponax convention; in 1D the two forms agree at equal scale)."""
    n = 16
    psi = _smooth(2, n, cutoff=3)[..., 0]
    psi_hat = np.fft.rfft2(psi)
    ik = ep.derivative_operator(2, 1.0, n)
    u = np.stack(
        [np.fft.irfft2(ik[1][..., 0] * psi_hat, s=(n, n)), np.fft.irfft2(-ik[0][..., 0] * psi_hat, s=(n, n))],
        axis=-1,
    )
    u = jnp.asarray(u / np.max(np.abs(u)), jnp.float32)
    kwargs = dict(linear_coefficients=(0, 0, 0.01), etdrk=ep.ETDRKOptions(order=1))
    advective = ep.GeneralConvectionStepper(2, 1.0, n, 0.01, convection_scale=1.0, **kwargs)(u)
    conservative = ep.GeneralConvectionStepper(
        2, 1.0, n, 0.01, convection_scale=2.0, conservative=True, **kwargs
    )(u)
    # modes <= 3 per axis: the products are alias free on this grid, so the identity holds on every mode
    np.testing.assert_allclose(advective, conservative, atol=2e-6)
    unequal = ep.GeneralConvectionStepper(2, 1.0, n, 0.01, convection_scale=1.0, conservative=True, **kwargs)(
        u
    )
    assert float(jnp.max(jnp.abs(unequal - advective))) > 1e-3


CONVERGENCE_CASES = {
    # every nonlinear term at once, real linear operator
    "general_nonlinear": lambda dt, order: ep.GeneralNonlinearStepper(
        1,
        10.0,
        32,
        dt,
        linear_coefficients=(0.1, 0.0, 0.05, 0.0, -0.01),
        nonlinear_coefficients=(-0.2, -0.5, -0.3),
        etdrk=ep.ETDRKOptions(order=order),
    ),
    "advective_convection": lambda dt, order: ep.GeneralConvectionStepper(
        1,
        1.0,
        32,
        dt,
        linear_coefficients=(0.0, 0.0, 0.01),
        convection_scale=1.0,
        etdrk=ep.ETDRKOptions(order=order),
    ),
    "polynomial": lambda dt, order: ep.GeneralPolynomialStepper(
        1,
        1.0,
        32,
        dt,
        linear_coefficients=(1.0, 0.0, 0.005),
        polynomial_coefficients=(0.1, 0.0, 0.5, -1.0),
        etdrk=ep.ETDRKOptions(order=order),
    ),
}
MIN_ORDER = {2: 1.8, 4: 3.5}  # orders 1 and 3 of the integrator are covered by the Burgers/KdV tests


@pytest.mark.parametrize("name", sorted(CONVERGENCE_CASES))
def test_observed_etdrk_orders(name):
    make, t_final, coarse = CONVERGENCE_CASES[name], 0.4, 16
    with jax.enable_x64(True):
        u0 = jnp.asarray(_smooth(1, 32, cutoff=3), jnp.float64)
        reference = _steps(make(t_final / 512, 4), u0, 512)
        for order, minimum in MIN_ORDER.items():
            errors = [
                float(jnp.max(jnp.abs(_steps(make(t_final / m, order), u0, m) - reference)))
                for m in (coarse, 2 * coarse)
            ]
            observed = np.log2(errors[0] / errors[1])
            assert observed >= minimum, f"{name} ETDRK{order}: observed order {observed:.2f}, errors {errors}"


@pytest.mark.parametrize(
    "parameter,make",
    [
        (
            "nonlinear_coefficients",
            lambda: ep.GeneralNonlinearStepper(1, 1.0, 16, 0.1, nonlinear_coefficients=(0.0, 1.0)),
        ),
        (
            "nonlinear_difficulties",
            lambda: ep.DifficultyNonlinearStepper(1, 16, nonlinear_difficulties=(0.0, float("nan"), 0.0)),
        ),
        ("maximum_absolute", lambda: ep.DifficultyConvectionStepper(1, 16, maximum_absolute=0.0)),
        (
            "convection_scale",
            lambda: ep.GeneralConvectionStepper(1, 1.0, 16, 0.1, convection_scale=float("inf")),
        ),
        (
            "polynomial_coefficients",
            lambda: ep.GeneralPolynomialStepper(1, 1.0, 16, 0.1, polynomial_coefficients=()),
        ),
        ("dt", lambda: ep.GeneralPolynomialStepper(1, 1.0, 16, -0.1)),
    ],
)
def test_bad_arguments_raise_value_error_naming_the_parameter(parameter, make):
    with pytest.raises(ValueError, match=parameter):
        make()


def test_wrong_channel_count_raises():
    with pytest.raises(ValueError, match="num_channels=2"):
        ep.GeneralConvectionStepper(2, 1.0, 16, 0.1)(jnp.zeros((16, 16, 1)))
    with pytest.raises(TypeError, match="convection_scale"):
        ep.GeneralConvectionStepper(1, 1.0, 16, 0.1, convection_scale=True)
