"""Time integration utilities around steppers: rollouts, sub-stepping, residua.

A stepper is any callable mapping a batched state ``(B, *spatial, C)`` to the next one.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
from jax import Array

from emutrain.typing import Stepper

__all__ = ["rollout", "repeat", "RepeatedStepper", "residuum_from_stepper", "StepperResiduum"]


def rollout(
    stepper: Stepper, num_steps: int, *, include_init: bool = False, unroll: int | bool = 1
) -> Callable[[Array], Array]:
    """Return ``u0 -> trajectory``: ``(B, *spatial, C) -> (B, T, *spatial, C)`` via ``lax.scan``.

    ``T = num_steps``, or ``num_steps + 1`` with ``include_init`` (index 0 is then ``u0``). ``unroll`` is
    passed to ``lax.scan`` (on XLA:CPU a fully unrolled scan of convolutions is much faster than a rolled
    one).
    """
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 1:
        raise ValueError(f"num_steps must be an int >= 1, got {num_steps!r}")

    def run(u0: Array) -> Array:
        u0 = jnp.asarray(u0)
        if u0.ndim < 2:
            raise ValueError(f"u0 must be batched, (B, *spatial, C), got shape {u0.shape}")

        def body(u, _):
            nxt = stepper(u)
            return nxt, nxt

        _, traj = jax.lax.scan(body, u0, None, length=num_steps, unroll=unroll)
        traj = jnp.moveaxis(traj, 0, 1)
        if include_init:
            traj = jnp.concatenate([u0[:, None], traj], axis=1)
        return traj

    return run


@dataclasses.dataclass(frozen=True)
class RepeatedStepper:
    """``stepper`` applied ``num_substeps`` times per call (hashable when ``stepper`` is)."""

    stepper: Stepper
    num_substeps: int

    def __post_init__(self):
        if (
            isinstance(self.num_substeps, bool)
            or not isinstance(self.num_substeps, int)
            or self.num_substeps < 1
        ):
            raise ValueError(f"num_substeps must be an int >= 1, got {self.num_substeps!r}")

    def __call__(self, u: Array) -> Array:
        """``(..., *spatial, C) -> (..., *spatial, C)``."""
        return jax.lax.fori_loop(0, self.num_substeps, lambda _, v: self.stepper(v), jnp.asarray(u))

    def __getattr__(self, name: str) -> Any:
        # Forward stepper metadata (num_spatial_dims, num_points, ...); dt is scaled by the substep count.
        if name.startswith("__") or name in ("stepper", "num_substeps"):
            raise AttributeError(name)
        value = getattr(self.stepper, name)
        return value * self.num_substeps if name == "dt" else value


def repeat(stepper: Stepper, num_substeps: int) -> RepeatedStepper:
    """A stepper applying ``stepper`` ``num_substeps`` times (e.g. a solver with ``dt / num_substeps``)."""
    return RepeatedStepper(stepper, num_substeps)


@dataclasses.dataclass(frozen=True)
class StepperResiduum:
    """``rho(next, prev) = next - P(prev)`` for a reference stepper ``P``, on arrays ``(B, *spatial, C)``."""

    stepper: Stepper

    def __call__(self, next_state: Array, prev_state: Array) -> Array:
        return jnp.asarray(next_state) - self.stepper(prev_state)


def residuum_from_stepper(stepper: Stepper) -> StepperResiduum:
    """The residuum function ``rho(n, p) = n - P(p)`` of the stepper ``P``."""
    return StepperResiduum(stepper)
