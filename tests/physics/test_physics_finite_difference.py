"""First-order upwind advection: hand-computed steps, the seed's stencil, conservation, identity and
validation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import emutrain.physics as ep

X = np.array([1.0, 2.0, 3.0, 4.0], np.float32)


@pytest.mark.parametrize(
    "boundary, extent, dt, velocity, expected",
    [
        # periodic, dx = 1/4, cfl = 1 * 0.125 / 0.25 = 0.5: u_j <- 0.5 u_j + 0.5 u_{j-1}, u_{-1} = u_3 = 4
        ("periodic", 1.0, 0.125, 1.0, [2.5, 1.5, 2.5, 3.5]),
        # periodic, cfl = -0.5: u_j <- 0.5 u_j + 0.5 u_{j+1}, u_4 = u_0 = 1
        ("periodic", 1.0, 0.125, -1.0, [1.5, 2.5, 3.5, 2.5]),
        # dirichlet, dx = 1/5, cfl = -1 * 0.1 / 0.2 = -0.5: the right ghost value is 0
        ("dirichlet", 1.0, 0.1, -1.0, [1.5, 2.5, 3.5, 2.0]),
        # dirichlet, cfl = 0.25 * 0.8 / 0.2 = 1: u_j <- u_{j-1}, the left ghost value is 0
        ("dirichlet", 1.0, 0.8, 0.25, [0.0, 1.0, 2.0, 3.0]),
    ],
)
def test_one_step_by_hand(boundary, extent, dt, velocity, expected):
    stepper = ep.UpwindAdvection(1, extent, 4, dt, velocity=velocity, boundary=boundary)
    out = stepper(X[:, None])
    assert out.dtype == jnp.float32
    np.testing.assert_allclose(out[:, 0], expected, rtol=1e-6)


def test_seed_setting_is_the_059_041_stencil():
    # c = -0.1, dt = 0.1, 40 interior points of [0, 1]: dx = 1/41, cfl = -0.41 exactly.
    stepper = ep.UpwindAdvection(1, 1.0, 40, 0.1, velocity=-0.1, boundary="dirichlet")
    assert stepper.dx == pytest.approx(1 / 41)
    assert stepper.cfl[0] == pytest.approx(-0.41, abs=1e-12)
    u = np.random.default_rng(0).normal(size=(40, 1)).astype(np.float32)
    right = np.append(u[1:, 0], 0.0)
    np.testing.assert_allclose(stepper(u)[:, 0], 0.59 * u[:, 0] + 0.41 * right, rtol=1e-5, atol=1e-6)


def test_leading_axes_channels_and_2d_splitting():
    stepper = ep.UpwindAdvection(1, 1.0, 4, 0.125, velocity=-1.0, num_channels=2)
    u = jnp.stack([jnp.asarray(X), 10 * jnp.asarray(X)], axis=-1)
    batched = jnp.broadcast_to(u, (3, 2, 4, 2))
    out = stepper(batched)
    assert out.shape == (3, 2, 4, 2)
    np.testing.assert_allclose(out[2, 1, :, 1], 10 * np.array([1.5, 2.5, 3.5, 2.5]), rtol=1e-6)
    # velocity only along axis 0 of a 2D grid: every column steps like the 1D problem.
    stepper_2d = ep.UpwindAdvection(2, 1.0, 4, 0.125, velocity=(-1.0, 0.0))
    field = jnp.broadcast_to(jnp.asarray(X)[:, None], (4, 4))[..., None]
    np.testing.assert_allclose(stepper_2d(field)[:, 3, 0], [1.5, 2.5, 3.5, 2.5], rtol=1e-6)


def test_periodic_step_conserves_the_sum_and_is_jit_grad_safe():
    stepper = ep.UpwindAdvection(2, 2.0, 8, 0.05, velocity=(1.0, -2.0))
    u = jnp.asarray(np.random.default_rng(1).normal(size=(8, 8, 1)), jnp.float32)
    np.testing.assert_allclose(jnp.sum(jax.jit(stepper)(u)), jnp.sum(u), rtol=1e-5, atol=1e-5)
    # the step is linear: the gradient of sum(step(u)) is the column sum of the stencil, 1 per cell
    np.testing.assert_allclose(jax.grad(lambda v: jnp.sum(stepper(v)))(u), np.ones((8, 8, 1)), rtol=1e-6)


def test_identity_immutability_and_validation():
    a = ep.UpwindAdvection(1, 1.0, 40, 0.1, velocity=-0.1, boundary="dirichlet")
    b = ep.UpwindAdvection(1, 1.0, 40, 0.1, velocity=(-0.1,), boundary="dirichlet")
    assert a == b and hash(a) == hash(b) and a.velocity == (-0.1,)
    assert a != ep.UpwindAdvection(1, 1.0, 40, 0.1, velocity=-0.1)
    with pytest.raises(AttributeError):
        a.dt = 0.2
    with pytest.raises(ValueError, match="boundary"):
        ep.UpwindAdvection(1, 1.0, 8, 0.1, boundary="neumann")
    with pytest.raises(ValueError, match="velocity"):
        ep.UpwindAdvection(2, 1.0, 8, 0.1, velocity=(1.0, 2.0, 3.0))
    with pytest.raises(ValueError, match="num_points"):
        ep.UpwindAdvection(1, 1.0, 1, 0.1)
    with pytest.raises(ValueError, match="dt"):
        ep.UpwindAdvection(1, 1.0, 8, 0.0)
    with pytest.raises(ValueError, match=r"\(\.\.\., 40, 1\)"):
        a(jnp.ones((39, 1)))
