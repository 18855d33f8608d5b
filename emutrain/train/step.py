"""The jitted train step (several optimizer steps per host call) and the live state the loop advances."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax.sharding import Mesh

from emutrain.configurations import RolloutCurriculum
from emutrain.train import mesh as spatial_mesh
from emutrain.train import sharding
from emutrain.train.metrics import NO_STEP, TrainMetrics
from emutrain.train.state import TrainState
from emutrain.validation import check_choice


def injected_learning_rate(opt_state: Any) -> jax.Array | None:
    """The `learning_rate` hyperparameter of an `optax.inject_hyperparams` state in `opt_state`, or
    None when the optimizer injects none (a plain `optax.adam(3e-4)` keeps its rate in a closure)."""
    # an injected schedule also keeps its own state under `learning_rate`: only the value is wanted
    return optax.tree_utils.tree_get(
        opt_state, "learning_rate", None, filtering=lambda _, value: isinstance(value, jax.Array)
    )


def learning_rate_of(
    opt_state: Any, step: jax.Array, learning_rate: float | optax.Schedule | None
) -> jax.Array:
    """The learning rate of the update that starts after `step` updates: `learning_rate(step)` for an
    Optax schedule, a given number as is, otherwise the injected hyperparameter of `opt_state` (pass the
    state that update returned: `inject_hyperparams` stores the rate it applied), otherwise NaN."""
    if callable(learning_rate):
        return jnp.asarray(learning_rate(step), jnp.float32)
    if learning_rate is not None:
        return jnp.asarray(learning_rate, jnp.float32)
    found = injected_learning_rate(opt_state)
    return jnp.asarray(jnp.nan if found is None else found, jnp.float32)


MEMBER_MODES = ("auto", "vmap", "loop")
# dispatches the host may queue ahead of the devices: enough to keep them busy, and a bound on the
# queue (XLA:CPU's simulated devices deadlock in collectives when hundreds of steps are queued)
MAX_DISPATCHES_IN_FLIGHT = 2


def _over_members(update: Callable, num_members: int, members: str) -> Callable:
    """`update` applied to every member of stacked `(N, ...)` arguments, stacking the results.

    "vmap" batches the members into one computation; "loop" traces one copy of `update` per member in
    the same jitted function. XLA:CPU runs a batched (grouped) convolution much slower than the separate
    ones (a 3-member ensemble step of a 1D ConvNet: 4.7 single steps vmapped, 2.5 as a loop; see
    `pipelines/benchmark_study.py`), while GPUs and TPUs run the batched one best; "auto" picks "loop"
    on CPU, "vmap" elsewhere.
    """
    if members == "auto":
        members = "loop" if jax.default_backend() == "cpu" else "vmap"
    if members == "vmap":
        return jax.vmap(update)

    def looped(*trees):
        outputs = [update(*jax.tree.map(lambda x: x[i], trees)) for i in range(num_members)]
        return jax.tree.map(lambda *xs: jnp.stack(xs), *outputs)

    return looped


def _update_fn(
    configuration: Callable[..., jax.Array],
    optimizer: optax.GradientTransformation,
    learning_rate: float | optax.Schedule | None,
    members: str,
) -> Callable:
    """`train_step(state, metrics, batches) -> (state, metrics, losses)` for one configuration."""

    def one_step(carry: tuple[TrainState, TrainMetrics], batch: jax.Array):
        state, metrics = carry
        key, step_key = jax.random.split(state.key)

        def update(params, rest, opt_state):
            def loss_fn(params):
                model, stepper = state.rebuild(params, rest)
                loss = configuration(stepper, batch, key=step_key)
                _, _, new_rest = nnx.split(model, nnx.Param, ...)
                return loss, new_rest

            (loss, new_rest), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
            updates, new_opt_state = optimizer.update(grads, opt_state, params)
            new_params = optax.apply_updates(params, updates)
            return loss, optax.tree.norm(grads), new_params, new_rest, new_opt_state

        if state.num_members is not None:
            # Each member sees the same batch and key, with its own parameters and optimizer state.
            update = _over_members(update, state.num_members, members)
        loss, grad_norm, params, rest, opt_state = update(state.params, state.rest, state.opt_state)
        # the new parameters too: a NaN/Inf learning rate gives a finite loss and gradient but NaN
        # parameters, which must not become the state
        params_finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(params)]))
        finite = jnp.all(jnp.isfinite(loss) & jnp.isfinite(grad_norm)) & params_finite
        applied = finite & (metrics.first_nonfinite_step.step == NO_STEP)
        candidate = state.replace(
            step=state.step + 1, params=params, rest=rest, opt_state=opt_state, key=key
        )
        new_state = jax.tree.map(lambda new, old: jnp.where(applied, new, old), candidate, state)
        param_norm = optax.tree.norm if state.num_members is None else jax.vmap(optax.tree.norm)
        learning_rate_now = learning_rate_of(opt_state, state.step, learning_rate)
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
        (state, metrics), losses = jax.lax.scan(one_step, (state, metrics), batches)
        return state, metrics, losses

    return train_step


class TrainStep:
    """The jitted update: `K` optimizer steps per call over a stack of batches `(K, B, W, *spatial, C)`
    (a `lax.scan` when K > 1). Every K gives each step the same batch and RNG key as K calls with one
    batch each, but XLA compiles the scanned body with other fusions, so the results agree to float
    rounding, not bit for bit (the default job: relative loss differences from 1e-7 at step 3, growing
    over a run; see `pipelines/benchmark_equivalence.py`). The same K is bit-identical run to run.

    Ensembles (a state of an `emutrain.nn.Ensemble`, `state.num_members = N`): the whole update (loss,
    gradient, optimizer) runs for every member, each seeing the same batch and RNG key, so member i
    follows the trajectory it would follow trained alone; losses are `(K, N)`. `members` says how:
    "vmap" (one batched computation), "loop" (one traced copy per member in the same jit) or "auto"
    (loop on CPU, where batched convolutions are slow; vmap on GPU/TPU).

    Non-finite guard: a step whose loss, gradient norm or new parameters are NaN/Inf (in any member of
    an ensemble) is not applied, and once `metrics.first_nonfinite_step` records one, every later step
    is skipped too, so the state is the last good one and the host can name the exact failing step.

    Curriculum: with an `emutrain.configurations.RolloutCurriculum` the configuration of step `s` (the
    update count before the dispatch) is `curriculum(s)`; one jitted function, hence one compile, per
    distinct rollout length.

    The step runs on flat leaves: NNX state holds `Variable` objects whose Python-level flattening and
    unflattening cost about as much as the whole step of a small 1D model on CPU, so `start` returns a
    `LiveState` that keeps the state as a flat list of arrays and rebuilds the pytree only when the
    host asks for it. With a `mesh` the state and metrics are replicated on it and batches split on its
    `data` axis, and on `space` (the first spatial axis) for a `make_mesh(space=...)` mesh (`jit`
    in_shardings; one process may pass host numpy batches). State and metrics buffers
    are donated.
    """

    def __init__(
        self,
        configuration: Callable[..., jax.Array] | RolloutCurriculum,
        optimizer: optax.GradientTransformation,
        *,
        learning_rate: float | optax.Schedule | None = None,
        mesh: Mesh | None = None,
        members: str = "auto",
    ):
        check_choice("members", members, MEMBER_MODES)
        self.configuration = configuration
        self.mesh = mesh
        self.learning_rate = learning_rate
        self._make = lambda conf: _update_fn(conf, optimizer, learning_rate, members)
        self._in_shardings = None
        if mesh is not None:
            replicated = sharding.replicated(mesh)
            self._in_shardings = (replicated, replicated, sharding.stacked_batch_sharding(mesh))
        self._compiled: dict[int, Callable] = {}
        self._dispatched: set[tuple] = set()
        if not isinstance(configuration, RolloutCurriculum):
            self._single = self._jit(self._make(configuration))

    def _jit(self, train_step: Callable) -> Callable:
        def on_leaves(state_def, metrics_def, state_leaves, metrics_leaves, batches):
            state = jax.tree.unflatten(state_def, state_leaves)
            metrics = jax.tree.unflatten(metrics_def, metrics_leaves)
            # a `space` axis: layers and physics run on slabs of each sample (emutrain.train.mesh)
            with spatial_mesh.traced_in(self.mesh):
                state, metrics, losses = train_step(state, metrics, batches)
            return jax.tree.leaves(state), jax.tree.leaves(metrics), losses

        return jax.jit(
            on_leaves, static_argnums=(0, 1), donate_argnums=(2, 3), in_shardings=self._in_shardings
        )

    def on_leaves_at(self, step: int) -> Callable:
        """The jitted `(state_def, metrics_def, state_leaves, metrics_leaves, batches) -> (state_leaves,
        metrics_leaves, losses)` for a dispatch starting after `step` updates."""
        if not isinstance(self.configuration, RolloutCurriculum):
            return self._single
        rollout = self.configuration.rollout_steps_at(step)
        if rollout not in self._compiled:
            self._compiled[rollout] = self._jit(self._make(self.configuration.at_rollout(rollout)))
        return self._compiled[rollout]

    def compiles(self, step: int, state_def: Any, batches: jax.Array | np.ndarray) -> bool:
        """Whether the dispatch after `step` updates compiles first: the first one of each rollout length
        of a curriculum, state structure and batch shape (later ones reuse the compiled function)."""
        return self._dispatch_key(step, state_def, batches) not in self._dispatched

    def _dispatch_key(self, step: int, state_def: Any, batches: jax.Array | np.ndarray) -> tuple:
        return id(self.on_leaves_at(step)), state_def, tuple(batches.shape), str(batches.dtype)

    def start(self, state: TrainState) -> LiveState:
        """A `LiveState` that advances `state` (which it donates: pass a copy you do not need)."""
        return LiveState(self, state)


class LiveState:
    """The train state during `fit`: flat state leaves, metric buffers and the losses of every step.

    `advance(batches)` queues one dispatch, then waits until at most `MAX_DISPATCHES_IN_FLIGHT` are
    unfinished; `state` is the `TrainState` after the last dispatch, built at
    most once per dispatch (and only valid until the next one: its buffers are donated);
    `pop_metrics()` computes the metrics accumulated since the last call and resets them.
    """

    def __init__(self, train_step: TrainStep, state: TrainState):
        self._train_step = train_step
        self._state_leaves, self._state_def = jax.tree.flatten(state)
        self._state: TrainState | None = state
        self.num_members = state.num_members
        self.step = int(jax.device_get(state.step))
        # no rate to report for an optimizer that keeps it in a closure: the metric is left out
        self.reports_learning_rate = (
            train_step.learning_rate is not None or injected_learning_rate(state.opt_state) is not None
        )
        self._metrics_leaves, self._metrics_def = jax.tree.flatten(self._empty_metrics())
        self._losses: list[jax.Array] = []

    def _empty_metrics(self) -> TrainMetrics:
        # fresh arrays each time: on several devices a replicated copy may share the source's buffer,
        # which the step donates
        empty = TrainMetrics.empty(self.num_members)
        return empty if self._train_step.mesh is None else sharding.replicate(empty, self._train_step.mesh)

    def advance(self, batches: jax.Array | np.ndarray) -> jax.Array:
        """Runs `K = batches.shape[0]` optimizer steps; returns their losses `(K,)` (`(K, N)`)."""
        step_fn = self._train_step.on_leaves_at(self.step)
        self._train_step._dispatched.add(self._train_step._dispatch_key(self.step, self._state_def, batches))
        self._state_leaves, self._metrics_leaves, losses = step_fn(
            self._state_def, self._metrics_def, self._state_leaves, self._metrics_leaves, batches
        )
        self._state = None
        self._losses.append(losses)
        if len(self._losses) > MAX_DISPATCHES_IN_FLIGHT:
            self._losses[-1 - MAX_DISPATCHES_IN_FLIGHT].block_until_ready()
        self.step += batches.shape[0]
        return losses

    @property
    def state(self) -> TrainState:
        if self._state is None:
            self._state = self._build_state()
        return self._state

    def _build_state(self) -> TrainState:
        return jax.tree.unflatten(self._state_def, self._state_leaves)

    def _metrics(self) -> TrainMetrics:
        return jax.tree.unflatten(self._metrics_def, self._metrics_leaves)

    def compiles(self, batches: jax.Array | np.ndarray) -> bool:
        """Whether `advance(batches)` compiles the train step first (see `TrainStep.compiles`)."""
        return self._train_step.compiles(self.step, self._state_def, batches)

    def first_nonfinite_step(self) -> int | None:
        """The first step whose loss or gradient was NaN/Inf since the last `pop_metrics`, or None."""
        bad = int(jax.device_get(self._metrics().first_nonfinite_step.step))
        return None if bad == NO_STEP else bad

    def pop_metrics(self) -> dict[str, np.ndarray]:
        """The averages since the last call (`loss`, `grad_norm`, `param_norm` scalars or `(N,)`) and
        the `learning_rate` of the latest step (left out when the optimizer has none to read: see
        `learning_rate_of`); the buffers start again empty."""
        computed = jax.device_get(self._metrics().compute())
        computed.pop("first_nonfinite_step")
        if not self.reports_learning_rate:
            computed.pop("learning_rate")
        self._metrics_leaves = jax.tree.leaves(self._empty_metrics())
        return computed

    def last_loss(self) -> float:
        """The loss of the latest step (the mean over members for an ensemble); NaN before any step."""
        if not self._losses:
            return float("nan")
        return float(np.mean(jax.device_get(self._losses[-1][-1])))

    def losses(self) -> np.ndarray:
        """`(num_steps_run,)` (`(num_steps_run, N)`) the loss of every step advanced so far."""
        if not self._losses:
            per_member = () if self.num_members is None else (self.num_members,)
            return np.zeros((0, *per_member), np.float32)
        return np.concatenate(jax.device_get(self._losses))
