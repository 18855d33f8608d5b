"""A tiny differentiable problem shared by the configuration tests: 1D periodic, B=2, N=8, C=1."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from emutrain.configurations._base import time_level

B, N = 2, 8
sg = jax.lax.stop_gradient


def params() -> dict:
    return {"a": jnp.asarray(0.7), "k": jnp.asarray([0.15, -0.1, 0.2]), "c": jnp.asarray(0.3)}


def make_stepper(theta: dict):
    """A small nonlinear periodic stencil stepper ``(B, N, C) -> (B, N, C)`` closed over ``theta``."""

    def stepper(u):
        conv = (
            theta["k"][0] * jnp.roll(u, 1, axis=1)
            + theta["k"][1] * u
            + theta["k"][2] * jnp.roll(u, -1, axis=1)
        )
        return theta["a"] * u + conv + theta["c"] * jnp.tanh(u)

    return stepper


def ref_stepper(u):
    """A fixed nonlinear reference stepper (shift and a small nonlinearity)."""
    return 0.9 * jnp.roll(u, 1, axis=1) + 0.05 * jnp.sin(u)


def residuum_fn(n, p):
    return n - ref_stepper(p)


def window(w: int, seed: int = 0, channels: int = 1):
    return jnp.asarray(np.random.default_rng(seed).normal(size=(B, w, N, channels)))


def physics_window(w: int, seed: int = 0):
    """A window produced by the reference stepper from a random initial condition."""
    u = window(1, seed)[:, 0]
    levels = [u]
    for _ in range(w - 1):
        levels.append(ref_stepper(levels[-1]))
    return jnp.stack(levels, axis=1)


def ic(data):
    return time_level(data, 0)


def value_and_grad(loss_of_stepper):
    """Loss and gradient with respect to the stepper parameters of ``loss_of_stepper(stepper)``.

    Evaluated op by op (``jax.disable_jit``, where ``lax.scan`` runs its body in a Python loop): the
    configuration logic is checked here without an XLA compile per case; the compiled scan paths
    (unroll, remat, chunks) are checked against this in test_conf_scan.py.
    """
    with jax.disable_jit():
        return jax.value_and_grad(lambda theta: loss_of_stepper(make_stepper(theta)))(params())


def compiled_value_and_grad(*losses_of_stepper):
    """Loss and gradient of each ``loss_of_stepper`` in a single jitted function (one XLA compile)."""

    def all_losses(theta):
        return [jax.value_and_grad(lambda th: fn(make_stepper(th)))(theta) for fn in losses_of_stepper]

    return jax.jit(all_losses)(params())


def assert_same(vg1, vg2, tol=1e-10):
    (l1, g1), (l2, g2) = vg1, vg2
    assert jnp.result_type(l1) == jnp.float64
    np.testing.assert_allclose(l1, l2, rtol=tol, atol=tol)
    for a, b in zip(jax.tree.leaves(g1), jax.tree.leaves(g2)):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
