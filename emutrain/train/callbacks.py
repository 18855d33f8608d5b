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


def _loss(configuration, ref_stepper, residuum_fn, graphdef, params, rest, data):
    model = nnx.merge(graphdef, params, rest, copy=True)
    return configuration(model, data, ref_stepper=ref_stepper, residuum_fn=residuum_fn)


@dataclasses.dataclass(frozen=True)
class WeightNorm:
    """Global L2 norm of all parameters, `{"weight_norm": float}`."""

    every: int

    def __call__(self, step: int, state: TrainState, metrics: Mapping[str, Any]) -> dict:
        return {"weight_norm": float(optax.tree.norm(state.params))}


@dataclasses.dataclass(frozen=True)
class LossOnData:
    """Loss of `configuration` on fixed data `(B, W, *spatial, C)` (e.g. a validation set),
    written as `name`."""

    every: int
    configuration: Callable[..., jax.Array]
    data: Any
    name: str = "loss_on_data"
    ref_stepper: Callable | None = None
    residuum_fn: Callable | None = None

    @functools.cached_property
    def _fn(self):
        return jax.jit(
            functools.partial(_loss, self.configuration, self.ref_stepper, self.residuum_fn),
            static_argnums=0,
        )

    def __call__(self, step: int, state: TrainState, metrics: Mapping[str, Any]) -> dict:
        data = np.asarray(self.data)
        return {self.name: float(self._fn(state.graphdef, state.params, state.rest, data))}


@dataclasses.dataclass(frozen=True)
class GradientNorm:
    """Global gradient norm of `configuration`'s loss on fixed data `(B, W, *spatial, C)`,
    written as `name`."""

    every: int
    configuration: Callable[..., jax.Array]
    data: Any
    name: str = "grad_norm_on_data"
    ref_stepper: Callable | None = None
    residuum_fn: Callable | None = None

    @functools.cached_property
    def _fn(self):
        loss = functools.partial(_loss, self.configuration, self.ref_stepper, self.residuum_fn)

        def grad_norm(graphdef, params, rest, data):
            grads = jax.grad(loss, argnums=1)(graphdef, params, rest, data)
            return optax.tree.norm(grads)

        return jax.jit(grad_norm, static_argnums=0)

    def __call__(self, step: int, state: TrainState, metrics: Mapping[str, Any]) -> dict:
        data = np.asarray(self.data)
        return {self.name: float(self._fn(state.graphdef, state.params, state.rest, data))}


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
