"""The jitted train step: several optimizer steps per host call over a stack of batches."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx
from jax.sharding import Mesh

from emutrain.train import sharding
from emutrain.train.metrics import NO_STEP, TrainMetrics
from emutrain.train.state import TrainState


def learning_rate_of(
    opt_state: Any, step: jax.Array, learning_rate: float | optax.Schedule | None
) -> jax.Array:
    """The learning rate used at `step`: from `learning_rate` (a number or an Optax schedule) if given,
    otherwise the `learning_rate` hyperparameter of an `optax.inject_hyperparams` state, otherwise NaN."""
    if callable(learning_rate):
        return jnp.asarray(learning_rate(step), jnp.float32)
    if learning_rate is not None:
        return jnp.asarray(learning_rate, jnp.float32)
    found = optax.tree_utils.tree_get(opt_state, "learning_rate", None)
    return jnp.asarray(jnp.nan if found is None else found, jnp.float32)


def make_train_step(
    configuration: Callable[..., jax.Array],
    optimizer: optax.GradientTransformation,
    *,
    ref_stepper: Callable | None = None,
    residuum_fn: Callable | None = None,
    learning_rate: float | optax.Schedule | None = None,
    unroll: int | bool = 1,
    mesh: Mesh | None = None,
) -> LeafTrainStep:
    """Builds `train_step(state, metrics, batches) -> (state, metrics, losses)`.

    `batches` is `(K, B, W, *spatial, C)`: K optimizer steps run in one call (a `lax.scan` when K > 1),
    bit-identical to K calls with one batch each. `losses` is `(K,)`, the loss of each step.

    Ensembles (a state of an `emutrain.nn.Ensemble`, `state.num_members = N`): the whole update (loss,
    gradient, optimizer) is `jax.vmap`ped over the member axis, every member seeing the same batch and
    RNG key, so member i follows the trajectory it would follow trained alone; `losses` is `(K, N)`.

    Non-finite guard: a step whose loss or gradient norm is NaN/Inf (in any member of an ensemble) is
    not applied, and once `metrics.first_nonfinite_step` records one, every later step is skipped too,
    so the returned state is the last good one and the host can name the exact failing step.

    With a `mesh`, the state and metrics are replicated on it and `batches` split on its `data` axis
    (`jit` in_shardings; the batches may then be host numpy arrays).

    The model is rebuilt inside the loss with `nnx.merge(..., copy=True)` from parameters differentiated
    by `jax.value_and_grad`; this works in both NNX graph and tree modes and inside `lax.scan`.
    """

    def one_step(carry: tuple[TrainState, TrainMetrics], batch: jax.Array):
        state, metrics = carry
        key, step_key = jax.random.split(state.key)

        def update(params, rest, opt_state):
            def loss_fn(params):
                model, stepper = state.rebuild(params, rest)
                loss = configuration(
                    stepper, batch, ref_stepper=ref_stepper, residuum_fn=residuum_fn, key=step_key
                )
                _, _, new_rest = nnx.split(model, nnx.Param, ...)
                return loss, new_rest

            (loss, new_rest), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
            updates, new_opt_state = optimizer.update(grads, opt_state, params)
            new_params = optax.apply_updates(params, updates)
            return loss, optax.tree.norm(grads), new_params, new_rest, new_opt_state

        if state.num_members is not None:
            # Each member sees the same batch and key, with its own parameters and optimizer state.
            update = jax.vmap(update)
        loss, grad_norm, params, rest, opt_state = update(state.params, state.rest, state.opt_state)
        finite = jnp.all(jnp.isfinite(loss) & jnp.isfinite(grad_norm))
        applied = finite & (metrics.first_nonfinite_step.step == NO_STEP)
        candidate = state.replace(
            step=state.step + 1, params=params, rest=rest, opt_state=opt_state, key=key
        )
        new_state = jax.tree.map(lambda new, old: jnp.where(applied, new, old), candidate, state)
        param_norm = optax.tree.norm if state.num_members is None else jax.vmap(optax.tree.norm)
        learning_rate_now = learning_rate_of(state.opt_state, state.step, learning_rate)
        metrics = metrics.merge(
            TrainMetrics.from_step(
                loss=loss,
                grad_norm=grad_norm,
                param_norm=param_norm(new_state.params),
                # an ensemble's injected hyperparameters are per member, all equal
                learning_rate=jnp.mean(learning_rate_now),
                step=state.step + 1,
                finite=finite,
                applied=applied,
            )
        )
        return (new_state, metrics), loss

    def train_step(state: TrainState, metrics: TrainMetrics, batches: jax.Array):
        if batches.shape[0] == 1:
            # No loop for one step per call: XLA:CPU runs convolutions in a rolled loop much slower.
            (state, metrics), loss = one_step((state, metrics), batches[0])
            return state, metrics, loss[None]
        (state, metrics), losses = jax.lax.scan(one_step, (state, metrics), batches, unroll=unroll)
        return state, metrics, losses

    return LeafTrainStep(train_step, mesh)


class LeafTrainStep:
    """A jitted `train_step(state, metrics, batches)` that can also run on flattened leaves.

    Calling it with pytrees is the convenient form. `on_leaves` is the Trainer's hot path: NNX state
    holds `Variable` objects whose Python-level flattening and unflattening cost about as much as the
    whole step of a small 1D model on CPU, so the loop keeps the state as a flat list of arrays and the
    pytrees are rebuilt only inside the trace (once) and when the host needs them (logging,
    checkpoints, evaluation). Both forms donate the state and metrics buffers.
    """

    def __init__(self, train_step: Callable, mesh: Mesh | None = None):
        def on_leaves(state_def, metrics_def, state_leaves, metrics_leaves, batches):
            state = jax.tree.unflatten(state_def, state_leaves)
            metrics = jax.tree.unflatten(metrics_def, metrics_leaves)
            state, metrics, losses = train_step(state, metrics, batches)
            return jax.tree.leaves(state), jax.tree.leaves(metrics), losses

        in_shardings = None
        if mesh is not None:
            replicated = sharding.replicated(mesh)
            in_shardings = (replicated, replicated, sharding.stacked_batch_sharding(mesh))
        self._on_leaves = jax.jit(
            on_leaves, static_argnums=(0, 1), donate_argnums=(2, 3), in_shardings=in_shardings
        )

    def on_leaves(
        self, state_def: Any, metrics_def: Any, state_leaves: list, metrics_leaves: list, batches: jax.Array
    ) -> tuple[list, list, jax.Array]:
        """`(state_leaves, metrics_leaves, losses)` after the steps: the leaves of the new state and
        metrics, in the order of the given treedefs (`jax.tree.flatten` of a state and metrics)."""
        return self._on_leaves(state_def, metrics_def, state_leaves, metrics_leaves, batches)

    def __call__(
        self, state: TrainState, metrics: TrainMetrics, batches: jax.Array
    ) -> tuple[TrainState, TrainMetrics, jax.Array]:
        state_leaves, state_def = jax.tree.flatten(state)
        metrics_leaves, metrics_def = jax.tree.flatten(metrics)
        state_leaves, metrics_leaves, losses = self.on_leaves(
            state_def, metrics_def, state_leaves, metrics_leaves, batches
        )
        return jax.tree.unflatten(state_def, state_leaves), jax.tree.unflatten(metrics_def, metrics_leaves), losses
