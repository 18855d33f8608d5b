"""Cross-cutting stepper contract: batching, vmap, gradients, argument validation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import emutrain.physics as ep

N1, N2 = 16, 12
STEPPERS = {
    "advection": lambda: ep.Advection(1, 1.0, N1, 0.05, velocity=0.8),
    "diffusion": lambda: ep.Diffusion(2, 1.0, N2, 0.01, diffusivity=0.05),
    "advection_diffusion": lambda: ep.AdvectionDiffusion(1, 1.0, N1, 0.05),
    "dispersion": lambda: ep.Dispersion(1, 10.0, N1, 0.05),
    "hyper_diffusion": lambda: ep.HyperDiffusion(1, 1.0, N1, 0.05),
    "general": lambda: ep.GeneralLinearStepper(1, 1.0, N1, 0.05),
    "normalized": lambda: ep.NormalizedLinearStepper(1, N1),
    "difficulty": lambda: ep.DifficultyLinearStepper(1, N1, linear_difficulties=(0.0, -1.5, 0.5)),
    "difficulty_simple": lambda: ep.DifficultyLinearStepperSimple(1, N1, difficulty=-6.5, order=1),
    "burgers": lambda: ep.Burgers(1, 1.0, N1, 0.01),
    "burgers_2d": lambda: ep.Burgers(2, 1.0, N2, 0.01),
    "kdv": lambda: ep.KortewegDeVries(1, 20.0, N1, 0.01),
    "ks": lambda: ep.KuramotoSivashinsky(1, 20.0, N1, 0.05),
    "ks_conservative": lambda: ep.KuramotoSivashinskyConservative(1, 20.0, N1, 0.05),
    "navier_stokes": lambda: ep.NavierStokesVorticity(2, 1.0, N2, 0.01),
    "kolmogorov": lambda: ep.KolmogorovFlowVorticity(
        2, 2 * np.pi, N2, 0.01, diffusivity=0.05, injection_mode=2
    ),
    "anisotropic_diffusion": lambda: ep.Diffusion(2, 1.0, N2, 0.01, diffusivity=((0.05, 0.02), (0.02, 0.03))),
    "general_nonlinear": lambda: ep.GeneralNonlinearStepper(
        1,
        10.0,
        N1,
        0.02,
        linear_coefficients=(0.1, 0.0, 0.05, 0.0, -0.01),
        nonlinear_coefficients=(-0.2, -0.5, -0.3),
    ),
    "difficulty_nonlinear_2d": lambda: ep.DifficultyNonlinearStepper(
        2, N2, linear_difficulties=(0.0, 0.0, -1.2, 0.0, -15.0), nonlinear_difficulties=(0.0, 0.0, -6.0)
    ),
    "general_convection_2d": lambda: ep.GeneralConvectionStepper(
        2, 1.0, N2, 0.01, linear_coefficients=(0.0, 0.0, 0.05)
    ),
    "general_polynomial": lambda: ep.GeneralPolynomialStepper(1, 1.0, N1, 0.001),
    "fisher_kpp": lambda: ep.FisherKPP(1, 1.0, N1, 0.01),
    "gray_scott": lambda: ep.GrayScott(2, 1.0, N2, 1.0, diffusivity_1=2e-3, diffusivity_2=1e-3),
    "swift_hohenberg": lambda: ep.SwiftHohenberg(2, 10 * np.pi, N2, 0.05),
}


def _state(stepper, batch=(), seed=0, dtype=jnp.float32):
    rng = np.random.default_rng(seed)
    shape = batch + (stepper.num_points,) * stepper.num_spatial_dims + (stepper.num_channels,)
    u = rng.standard_normal(shape)
    # Band-limit (half the resolvable modes) so every stepper sees a smooth state.
    u = ep.map_between_resolutions(
        ep.map_between_resolutions(u, stepper.num_points // 2, num_spatial_dims=stepper.num_spatial_dims),
        stepper.num_points,
        num_spatial_dims=stepper.num_spatial_dims,
    )
    return jnp.asarray(0.5 * np.asarray(u), dtype)


# Linear steppers share one call path: two of them stand for all here (each case costs a few compilations).
BATCHING_CASES = [
    "difficulty_simple",
    "diffusion",
    "burgers_2d",
    "kdv",
    "ks",
    "ks_conservative",
    "navier_stokes",
    "kolmogorov",
    "general_convection_2d",
    "gray_scott",
]


@pytest.mark.parametrize("name", BATCHING_CASES)
def test_leading_axes_and_vmap(name):
    stepper = STEPPERS[name]()
    step = jax.jit(stepper)
    u = _state(stepper, batch=(2, 3))
    single = step(u[0, 0])
    assert single.shape == u.shape[2:] and single.dtype == u.dtype
    np.testing.assert_allclose(step(u[0, 0][None])[0], single, atol=1e-6)
    np.testing.assert_allclose(step(u), jax.vmap(jax.vmap(step))(u), atol=1e-6)


@pytest.mark.parametrize("name", sorted(STEPPERS))
def test_grad_through_20_steps_matches_finite_differences(name):
    stepper = STEPPERS[name]()
    with jax.enable_x64(True):
        u = _state(stepper, batch=(1,), dtype=jnp.float64)
        direction = _state(stepper, batch=(1,), seed=1, dtype=jnp.float64)
        weights = _state(stepper, batch=(1,), seed=2, dtype=jnp.float64)
        run = ep.rollout(stepper, 20)
        objective = jax.jit(lambda v: jnp.sum(weights * run(v)[:, -1]))
        grad = jax.jit(jax.grad(objective))(u)
        assert grad.dtype == jnp.float64
        eps = 1e-5
        fd = (objective(u + eps * direction) - objective(u - eps * direction)) / (2 * eps)
        np.testing.assert_allclose(jnp.vdot(grad, direction), fd, rtol=1e-6, atol=1e-9)


def test_float64_in_float64_out_and_coefficients_stay_constants():
    stepper = ep.Burgers(1, 1.0, N1, 0.01)
    with jax.enable_x64(True):
        u = _state(stepper, dtype=jnp.float64)
        assert stepper(u).dtype == jnp.float64
    u = _state(stepper)
    jaxpr = jax.make_jaxpr(stepper)(u)
    assert len(jaxpr.jaxpr.invars) == 1  # the state is the only traced input; coefficients are constants


BAD_CONSTRUCTORS = [
    ("num_points", lambda: ep.Burgers(1, 1.0, 3, 0.1)),
    ("num_points", lambda: ep.DifficultyLinearStepperSimple(1, 2, difficulty=-1.0)),
    ("dt", lambda: ep.Advection(1, 1.0, 16, 0.0)),
    ("dt", lambda: ep.KuramotoSivashinsky(1, 60.0, 16, -0.1)),
    ("domain_extent", lambda: ep.Diffusion(1, -1.0, 16, 0.1)),
    ("order", lambda: ep.Burgers(1, 1.0, 16, 0.1, etdrk=ep.ETDRKOptions(order=5))),
    ("order", lambda: ep.KortewegDeVries(1, 1.0, 16, 0.1, etdrk=ep.ETDRKOptions(order=-1))),
    ("order", lambda: ep.DifficultyLinearStepperSimple(1, 16, difficulty=1.0, order=-1)),
    ("num_spatial_dims", lambda: ep.NavierStokesVorticity(1, 1.0, 16, 0.1)),
    ("num_spatial_dims", lambda: ep.Advection(4, 1.0, 16, 0.1)),
    ("velocity", lambda: ep.Advection(2, 1.0, 16, 0.1, velocity=(1.0, 2.0, 3.0))),
    (
        "dealiasing_fraction",
        lambda: ep.Burgers(1, 1.0, 16, 0.1, etdrk=ep.ETDRKOptions(dealiasing_fraction=0.0)),
    ),
    ("injection_mode", lambda: ep.KolmogorovFlowVorticity(2, 1.0, 16, 0.1, injection_mode=8)),
    ("dt", lambda: ep.Burgers(1, 1.0, 16, float("inf"))),
    ("diffusivity", lambda: ep.Burgers(1, 1.0, 16, 0.1, diffusivity=float("nan"))),
    (
        "linear_coefficients",
        lambda: ep.GeneralLinearStepper(1, 1.0, 16, 0.1, linear_coefficients=(0.0, float("nan"))),
    ),
]


@pytest.mark.parametrize(
    "parameter,make", BAD_CONSTRUCTORS, ids=[f"{p}-{i}" for i, (p, _) in enumerate(BAD_CONSTRUCTORS)]
)
def test_bad_constructor_arguments_raise_naming_the_parameter(parameter, make):
    with pytest.raises(ValueError, match=parameter):
        make()


def test_bad_states_raise_naming_the_parameter():
    burgers_2d = ep.Burgers(2, 1.0, 16, 0.1)  # two channels
    with pytest.raises(ValueError, match=r"u must have shape.*num_channels=2"):
        burgers_2d(jnp.zeros((16, 16, 1)))
    with pytest.raises(ValueError, match=r"u must have shape.*num_points=16"):
        burgers_2d(jnp.zeros((4, 16, 8, 2)))
    with pytest.raises(ValueError, match="u must have shape"):
        ep.Advection(1, 1.0, 16, 0.1)(jnp.zeros((16,)))
    with pytest.raises(TypeError, match="floating"):
        ep.Advection(1, 1.0, 16, 0.1)(jnp.zeros((16, 1), jnp.int32))
