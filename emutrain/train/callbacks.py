"""Callbacks run every `every` steps: `(step, state, metrics) -> dict` of extra metrics to write."""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

import jax
import numpy as np
import optax
import orbax.checkpoint as ocp
from flax import nnx

from emutrain.train.state import TrainState
from emutrain.train.writers import member_scalars


@runtime_checkable
class Callback(Protocol):
    """Anything with an `every` (steps) and a call `(step, state, metrics) -> dict`.

    `metrics` holds the values written at this step (training averages, evaluation results); the
    returned dict (scalars) is written under the same step.
    """

    every: int

    def __call__(
        self, step: int, state: TrainState, metrics: Mapping[str, Any]
    ) -> Mapping[str, Any]: ...


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


@dataclasses.dataclass(frozen=True)
class WeightNorm:
    """Global L2 norm of all parameters, `{"weight_norm": float}` (for an ensemble the mean over
    members, and `weight_norm/member_i`)."""

    every: int

    def __call__(self, step: int, state: TrainState, metrics: Mapping[str, Any]) -> dict:
        return member_scalars({"weight_norm": _on_members(state, lambda params, rest: optax.tree.norm(params))})


@dataclasses.dataclass(frozen=True)
class LossOnData:
    """Loss of `configuration` on fixed data `(B, W, *spatial, C)` (e.g. a validation set),
    written as `name` (for an ensemble the mean over members, and `name/member_i`)."""

    every: int
    configuration: Callable[..., jax.Array]
    data: Any
    name: str = "loss_on_data"
    ref_stepper: Callable | None = None
    residuum_fn: Callable | None = None

    @functools.cached_property
    def _fn(self):
        def losses(state, data):
            return _on_members(
                state, _loss_fn(self.configuration, self.ref_stepper, self.residuum_fn, state, data)
            )

        return jax.jit(losses)

    def __call__(self, step: int, state: TrainState, metrics: Mapping[str, Any]) -> dict:
        return member_scalars({self.name: self._fn(state, np.asarray(self.data))})


@dataclasses.dataclass(frozen=True)
class GradientNorm:
    """Global gradient norm of `configuration`'s loss on fixed data `(B, W, *spatial, C)`,
    written as `name` (for an ensemble each member's own gradient norm as `name/member_i`, and their
    mean)."""

    every: int
    configuration: Callable[..., jax.Array]
    data: Any
    name: str = "grad_norm_on_data"
    ref_stepper: Callable | None = None
    residuum_fn: Callable | None = None

    @functools.cached_property
    def _fn(self):
        def grad_norms(state, data):
            loss = _loss_fn(self.configuration, self.ref_stepper, self.residuum_fn, state, data)
            return _on_members(state, lambda params, rest: optax.tree.norm(jax.grad(loss)(params, rest)))

        return jax.jit(grad_norms)

    def __call__(self, step: int, state: TrainState, metrics: Mapping[str, Any]) -> dict:
        return member_scalars({self.name: self._fn(state, np.asarray(self.data))})


@dataclasses.dataclass(frozen=True)
class SaveModel:
    """Saves the model parameters (a plain dict) to `<directory>/step_<step>` with Orbax; restore
    with `load_params` and `nnx.update(model, params)`."""

    every: int
    directory: str | os.PathLike

    def __call__(self, step: int, state: TrainState, metrics: Mapping[str, Any]) -> dict:
        path = os.path.join(os.path.abspath(os.fspath(self.directory)), f"step_{step}")
        with ocp.StandardCheckpointer() as checkpointer:
            checkpointer.save(path, nnx.to_pure_dict(state.params), force=True)
        return {}


def load_params(path: str | os.PathLike) -> dict:
    """Reads parameters written by `SaveModel` as a plain nested dict (`nnx.update(model, ...)` takes it)."""
    with ocp.StandardCheckpointer() as checkpointer:
        return checkpointer.restore(os.path.abspath(os.fspath(path)))
