"""The train state: everything a run needs to continue, as one pytree."""

from __future__ import annotations

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax
from flax import nnx

from emutrain.nn import Ensemble


class TrainState(flax.struct.PyTreeNode):
    """Model parameters and other model state, optimizer state, step and RNG key of one run.

    For an `emutrain.nn.Ensemble` of N members every leaf of `params`, `rest` and `opt_state` carries a
    leading member axis `(N, ...)`: each member has its own optimizer state, as if trained alone.

    Attributes:
      step: `()` int32, number of optimizer updates applied so far.
      params: the model's `nnx.Param` state (the differentiated leaves).
      rest: every other model state (batch statistics, counters, RNG streams).
      opt_state: the Optax optimizer state for `params`.
      key: `(2,)` uint32 raw PRNG key; each step splits it and hands one half to the configuration.
      graphdef: the model's static structure (not a pytree leaf).
      num_members: N for an `emutrain.nn.Ensemble`, None for any other model (not a pytree leaf).
    """

    step: jax.Array
    params: nnx.State
    rest: nnx.State
    opt_state: Any
    key: jax.Array
    graphdef: Any = flax.struct.field(pytree_node=False)
    num_members: int | None = flax.struct.field(pytree_node=False, default=None)

    @classmethod
    def create(
        cls, model: nnx.Module, optimizer: optax.GradientTransformation, *, key: jax.Array | int
    ) -> TrainState:
        """Splits `model` into parameters and other state and initializes `optimizer` on the parameters
        (one optimizer state per member for an `emutrain.nn.Ensemble`).

        Args:
          model: any NNX stepper, or an `emutrain.nn.Ensemble` of steppers.
          optimizer: an Optax gradient transformation.
          key: a seed (int) or a raw `(2,)` uint32 key (`jax.random.PRNGKey`).
        """
        graphdef, params, rest = nnx.split(model, nnx.Param, ...)
        if isinstance(key, int):
            key = jax.random.PRNGKey(key)
        num_members = model.num_members if isinstance(model, Ensemble) else None
        init = optimizer.init if num_members is None else jax.vmap(optimizer.init)
        return cls(
            step=jnp.zeros((), jnp.int32),
            params=params,
            rest=rest,
            opt_state=init(params),
            key=jnp.asarray(key, jnp.uint32),
            graphdef=graphdef,
            num_members=num_members,
        )

    @property
    def model(self) -> nnx.Module:
        """A fresh NNX module holding this state's parameters (a copy: editing it leaves the state alone);
        the whole `Ensemble` for an ensemble (`.member(i)` gives member i)."""
        return nnx.merge(self.graphdef, self.params, self.rest, copy=True)

    def rebuild(self, params: nnx.State, rest: nnx.State) -> tuple[nnx.Module, nnx.Module]:
        """`(model, stepper)` rebuilt from `params` and `rest` (copies): the stepper a configuration
        trains is `model` itself, or for an ensemble the single member that `params`/`rest` (sliced
        to one member, without the member axis) describe; `model` is what to split the new state from."""
        model = nnx.merge(self.graphdef, params, rest, copy=True)
        return model, (model if self.num_members is None else model.members)
