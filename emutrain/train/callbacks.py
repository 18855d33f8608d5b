"""Ready-made hooks on the model: weight norm, loss and gradient norm on fixed data, parameter saves.

Each takes the cadence keywords of `emutrain.train.Hook` (`every_steps`, `every_secs`, `at_end`).
`compute(state)` gives the values a hook writes, for use outside a `fit`.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
import optax
import orbax.checkpoint as ocp
from flax import nnx

from emutrain.train.hooks import Hook, HookContext
from emutrain.train.state import TrainState
from emutrain.train.writers import member_scalars
from emutrain.typing import Stepper


def _on_members(state: TrainState, fn: Callable[[nnx.State, nnx.State], jax.Array]) -> jax.Array:
    """`fn(params, rest)` of the model, or of every ensemble member (vmapped, `(N,)`)."""
    if state.num_members is None:
        return fn(state.params, state.rest)
    return jax.vmap(fn)(state.params, state.rest)


def _loss_fn(configuration, ref_stepper, residuum_fn, state: TrainState, data):
    """`(params, rest) -> loss` of `configuration` on `data` for one model (or one member)."""

    def loss(params, rest):
        _, stepper = state.rebuild(params, rest)
        return configuration(stepper, data, ref_stepper=ref_stepper, residuum_fn=residuum_fn)

    return loss


@dataclasses.dataclass(eq=False)
class _StateHook(Hook):
    """A hook whose values are a function of the train state alone; by default it fires only on its
    cadence, not additionally at the end."""

    at_end: bool = dataclasses.field(default=False, kw_only=True)

    def compute(self, state: TrainState) -> dict[str, float]:
        raise NotImplementedError

    def __call__(self, step: int, context: HookContext) -> dict[str, float]:
        return self.compute(context.state)


@dataclasses.dataclass(eq=False)
class WeightNorm(_StateHook):
    """Global L2 norm of all parameters, `{"weight_norm": float}` (for an ensemble the mean over
    members, and `weight_norm/member_i`)."""

    def compute(self, state: TrainState) -> dict[str, float]:
        norms = _on_members(state, lambda params, rest: optax.tree.norm(params))
        return member_scalars({"weight_norm": norms})


@dataclasses.dataclass(eq=False)
class LossOnData(_StateHook):
    """Loss of `configuration` on fixed data `(B, W, *spatial, C)` (e.g. a validation set),
    written as `name` (for an ensemble the mean over members, and `name/member_i`)."""

    configuration: Callable[..., jax.Array]
    data: Any
    name: str = "loss_on_data"
    ref_stepper: Stepper | None = None
    residuum_fn: Callable | None = None

    @functools.cached_property
    def _fn(self):
        def losses(state, data):
            return _on_members(
                state, _loss_fn(self.configuration, self.ref_stepper, self.residuum_fn, state, data)
            )

        return jax.jit(losses)

    def compute(self, state: TrainState) -> dict[str, float]:
        return member_scalars({self.name: self._fn(state, np.asarray(self.data))})


@dataclasses.dataclass(eq=False)
class GradientNorm(_StateHook):
    """Global gradient norm of `configuration`'s loss on fixed data `(B, W, *spatial, C)`,
    written as `name` (for an ensemble each member's own gradient norm as `name/member_i`, and their
    mean)."""

    configuration: Callable[..., jax.Array]
    data: Any
    name: str = "grad_norm_on_data"
    ref_stepper: Stepper | None = None
    residuum_fn: Callable | None = None

    @functools.cached_property
    def _fn(self):
        def grad_norms(state, data):
            loss = _loss_fn(self.configuration, self.ref_stepper, self.residuum_fn, state, data)
            return _on_members(state, lambda params, rest: optax.tree.norm(jax.grad(loss)(params, rest)))

        return jax.jit(grad_norms)

    def compute(self, state: TrainState) -> dict[str, float]:
        return member_scalars({self.name: self._fn(state, np.asarray(self.data))})


@dataclasses.dataclass(eq=False)
class SaveModel(Hook):
    """Saves the model parameters (a plain dict) to `<directory>/step_<step>` with Orbax; restore
    with `load_params` and `nnx.update(model, params)`. Fires only on its cadence by default."""

    directory: str | os.PathLike
    at_end: bool = dataclasses.field(default=False, kw_only=True)

    def __call__(self, step: int, context: HookContext) -> None:
        path = os.path.join(os.path.abspath(os.fspath(self.directory)), f"step_{step}")
        with ocp.StandardCheckpointer() as checkpointer:
            checkpointer.save(path, nnx.to_pure_dict(context.state.params), force=True)


def load_params(path: str | os.PathLike) -> dict:
    """Reads parameters written by `SaveModel` as a plain nested dict (`nnx.update(model, ...)` takes it)."""
    with ocp.StandardCheckpointer() as checkpointer:
        return checkpointer.restore(os.path.abspath(os.fspath(path)))
