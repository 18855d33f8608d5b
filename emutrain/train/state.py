"""The train state: everything a run needs to continue, as one pytree."""

from __future__ import annotations

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax
from flax import nnx


class TrainState(flax.struct.PyTreeNode):
    """Model parameters and other model state, optimizer state, step and RNG key of one run.

    Attributes:
      step: `()` int32, number of optimizer updates applied so far.
      params: the model's `nnx.Param` state (the differentiated leaves).
      rest: every other model state (batch statistics, counters, RNG streams).
      opt_state: the Optax optimizer state for `params`.
      key: `(2,)` uint32 raw PRNG key; each step splits it and hands one half to the configuration.
      graphdef: the model's static structure (not a pytree leaf).
    """

    step: jax.Array
    params: nnx.State
    rest: nnx.State
    opt_state: Any
    key: jax.Array
    graphdef: Any = flax.struct.field(pytree_node=False)

    @classmethod
    def create(
        cls, model: nnx.Module, optimizer: optax.GradientTransformation, *, key: jax.Array | int
    ) -> TrainState:
        """Splits `model` into parameters and other state and initializes `optimizer` on the parameters.

        Args:
          model: any NNX stepper.
          optimizer: an Optax gradient transformation.
          key: a seed (int) or a raw `(2,)` uint32 key (`jax.random.PRNGKey`).
        """
        graphdef, params, rest = nnx.split(model, nnx.Param, ...)
        if isinstance(key, int):
            key = jax.random.PRNGKey(key)
        return cls(
            step=jnp.zeros((), jnp.int32),
            params=params,
            rest=rest,
            opt_state=optimizer.init(params),
            key=jnp.asarray(key, jnp.uint32),
            graphdef=graphdef,
        )

    @property
    def model(self) -> nnx.Module:
        """A fresh NNX module holding this state's parameters (a copy: editing it leaves the state alone)."""
        return nnx.merge(self.graphdef, self.params, self.rest, copy=True)
