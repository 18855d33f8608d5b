"""The Trainer: a jitted, sharded, checkpointed, CLU-metered loop over a Grain iterator."""

from __future__ import annotations

import contextlib
import dataclasses
import logging as std_logging
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import jax
import numpy as np
import optax
import orbax.checkpoint
from absl import logging
from flax import nnx
from jax.sharding import Mesh
from tqdm.auto import tqdm

from emutrain.train import sharding
from emutrain.train.callbacks import Callback
from emutrain.train.checkpoint import Checkpointer
from emutrain.train.metrics import NO_STEP, TrainMetrics
from emutrain.train.state import TrainState
from emutrain.train.step import make_train_step
from emutrain.train.writers import make_writer, member_scalars, split_eval_results

EvalFn = Callable[[nnx.Module], Mapping[str, Any]]

_ORBAX_DIR = os.path.dirname(os.path.dirname(orbax.checkpoint.__file__)) + os.sep


class _DropOrbaxInfo(std_logging.Filter):
    """Drops Orbax's INFO records (dozens per checkpoint save); its warnings and errors pass."""

    def filter(self, record: std_logging.LogRecord) -> bool:
        return record.levelno >= std_logging.WARNING or not record.pathname.startswith(_ORBAX_DIR)


@contextlib.contextmanager
def _quiet_orbax():
    """Only inside the block, Orbax's INFO logs are dropped from the absl logger (it logs through
    absl, shared with everything else, so the verbosity itself is left alone)."""
    logger = logging.get_absl_logger()
    log_filter = _DropOrbaxInfo()
    logger.addFilter(log_filter)
    try:
        yield
    finally:
        logger.removeFilter(log_filter)


class NonFiniteError(FloatingPointError):
    """Raised when a step's loss or gradient is NaN/Inf. `step` is that step (1-based update count);
    `state` is the last good state (after step `step - 1`), which was not checkpointed by the failure."""

    def __init__(self, step: int, state: TrainState, checkpoint_step: int | None):
        self.step = step
        self.state = state
        kept = "no checkpoint" if checkpoint_step is None else f"checkpoint of step {checkpoint_step}"
        super().__init__(
            f"non-finite loss or gradient at step {step}: training stopped, the {kept} is kept"
        )


@dataclasses.dataclass(frozen=True)
class FitResult:
    """What `Trainer.fit` returns.

    Attributes:
      state: the full train state after the last step (model parameters, optimizer state, step, key).
      losses: `(num_steps - first_step + 1,)` the training loss of every step run by this call;
        `(num_steps - first_step + 1, N)` for an ensemble of N members.
      first_step: the step number of `losses[0]` (1 for a fresh run, later after a resume).
      metrics: the values written at the last logged step.
    """

    state: TrainState
    losses: np.ndarray
    first_step: int
    metrics: dict

    @property
    def model(self) -> nnx.Module:
        return self.state.model


def _check_every(name: str, value: int | None, steps_per_dispatch: int) -> None:
    if value is None:
        return
    if value < 1 or value % steps_per_dispatch:
        raise ValueError(
            f"{name} must be a positive multiple of steps_per_dispatch ({steps_per_dispatch}), "
            f"got {value}"
        )


class Trainer:
    """Trains any NNX stepper with a training configuration on batches of windows from an iterator.

    Seed ensembles: `fit` an `emutrain.nn.Ensemble` (N independently initialized copies of a stepper)
    to train all members at once: the update is vmapped over members, each with its own optimizer
    state, on the same batches and RNG keys, so member i ends exactly where training
    `ensemble.member(i)` alone would (up to float rounding). Per-member metrics are written as
    `loss/member_i` (likewise `grad_norm`, `param_norm`) next to their mean under `loss`; `losses` is
    `(steps, N)`; checkpoints hold the stacked state. The non-finite guard is global: a NaN/Inf in any
    member stops the whole ensemble at that step. `eval_fn` and callbacks receive the whole ensemble.

    Args:
      configuration: a callable `(stepper, data, *, ref_stepper, residuum_fn, key) -> scalar` (an
        `emutrain.configurations` object); `data` is a window batch `(B, W, *spatial, C)`.
      optimizer: an Optax gradient transformation.
      ref_stepper, residuum_fn: passed to the configuration.
      learning_rate: the number or Optax schedule the optimizer uses, for the `learning_rate` metric;
        if None it is read from an `optax.inject_hyperparams` state when there is one.
      steps_per_dispatch: optimizer steps per host call (a `lax.scan` over that many stacked batches);
        results are identical for every value. Pays on GPU/TPU for small models; keep 1 on CPU, where
        XLA runs convolutions inside loops slowly.
      unroll: `lax.scan` unroll when `steps_per_dispatch > 1`.
      mesh: a mesh with a `data` axis (default: all devices). Parameters are replicated, batches split.
      workdir: where TensorBoard events, checkpoints (`<workdir>/checkpoints`) and evaluation arrays
        go. A workdir with a checkpoint is resumed from its latest complete one. None: nothing written.
      checkpoint_every, max_to_keep, best_metric, best_mode: checkpoint cadence (steps) and retention;
        a checkpoint is also saved at the last step. `best_metric` names a written metric (e.g. one of
        `eval_fn`'s) to keep the best checkpoints by.
      log_every: steps between metric writes (loss, grad_norm, param_norm, learning_rate averaged over
        the window, steps_per_second, examples_per_second); also the cadence of the non-finite check.
      eval_fn: `(model) -> dict` of scalars, images `(N, H, W, C)` and other arrays, run every
        `eval_every` steps and at the end.
      callbacks: `Callback`s run every `callback.every` steps.
      seed: seeds the per-step RNG keys handed to the configuration.
      config: JSON-serializable run config stored in every checkpoint.
      tensorboard: write TensorBoard events with CLU's writer and run CLU's `ReportProgress` (these
        import TensorFlow); otherwise log only.
      profile: capture a profiler trace of a few steps into the workdir (CLU `Profile`).
      progress_bar: show a tqdm progress bar (terminal or notebook).
    """

    def __init__(
        self,
        configuration: Callable[..., jax.Array],
        optimizer: optax.GradientTransformation,
        *,
        ref_stepper: Callable | None = None,
        residuum_fn: Callable | None = None,
        learning_rate: float | optax.Schedule | None = None,
        steps_per_dispatch: int = 1,
        unroll: int | bool = 1,
        mesh: Mesh | None = None,
        workdir: str | os.PathLike | None = None,
        checkpoint_every: int = 1000,
        max_to_keep: int | None = 3,
        best_metric: str | None = None,
        best_mode: str = "min",
        log_every: int = 100,
        eval_fn: EvalFn | None = None,
        eval_every: int | None = None,
        callbacks: Sequence[Callback] = (),
        seed: int = 0,
        config: Mapping[str, Any] | None = None,
        tensorboard: bool = True,
        profile: bool = False,
        progress_bar: bool = True,
    ):
        if steps_per_dispatch < 1:
            raise ValueError(f"steps_per_dispatch must be >= 1, got {steps_per_dispatch}")
        for name, value in (
            ("checkpoint_every", checkpoint_every if workdir is not None else None),
            ("log_every", log_every),
            ("eval_every", eval_every),
        ):
            _check_every(name, value, steps_per_dispatch)
        for callback in callbacks:
            if not isinstance(callback, Callback):
                raise TypeError(f"callbacks must have `every` and be callable, got {callback!r}")
            _check_every("callback.every", callback.every, steps_per_dispatch)
        if eval_fn is not None and eval_every is None:
            raise ValueError("eval_every must be given with eval_fn, got None")
        self.configuration = configuration
        self.optimizer = optimizer
        self.steps_per_dispatch = steps_per_dispatch
        self.mesh = sharding.make_data_mesh() if mesh is None else mesh
        self.workdir = None if workdir is None else os.path.abspath(os.fspath(workdir))
        self.checkpoint_every = checkpoint_every
        self.log_every = log_every
        self.eval_fn = eval_fn
        self.eval_every = eval_every
        self.callbacks = tuple(callbacks)
        self.seed = seed
        self.config = None if config is None else dict(config)
        self.tensorboard = tensorboard
        self.profile = profile
        self.progress_bar = progress_bar
        self.checkpointer = None
        if self.workdir is not None:
            with _quiet_orbax():
                self.checkpointer = Checkpointer(
                    os.path.join(self.workdir, "checkpoints"),
                    max_to_keep=max_to_keep,
                    best_metric=best_metric,
                    best_mode=best_mode,
                )
        self.train_step = make_train_step(
            configuration,
            optimizer,
            ref_stepper=ref_stepper,
            residuum_fn=residuum_fn,
            learning_rate=learning_rate,
            unroll=unroll,
            mesh=self.mesh,
        )

    def init(self, model: nnx.Module) -> TrainState:
        """A fresh train state for `model`, replicated on the mesh."""
        return sharding.replicate(
            TrainState.create(model, self.optimizer, key=self.seed), self.mesh
        )

    def restore(self, model_or_state: nnx.Module | TrainState, data_iter: Any = None) -> TrainState:
        """The latest checkpoint in the workdir restored onto the current mesh (and `data_iter` moved to
        its saved position); `model_or_state` gives the structure."""
        if self.checkpointer is None:
            raise ValueError("restore needs a workdir, got workdir=None")
        template = self._as_state(model_or_state)
        with _quiet_orbax():
            return self.checkpointer.restore(template, data_iter=data_iter)

    def _as_state(self, model_or_state: nnx.Module | TrainState) -> TrainState:
        if isinstance(model_or_state, TrainState):
            return sharding.replicate(model_or_state, self.mesh)
        if isinstance(model_or_state, nnx.Module):
            return self.init(model_or_state)
        raise TypeError(f"model must be an nnx.Module or a TrainState, got {type(model_or_state)}")

    def fit(
        self,
        model: nnx.Module | TrainState,
        data: Iterable[np.ndarray],
        *,
        num_steps: int,
    ) -> FitResult:
        """Trains until `num_steps` optimizer steps in total have been applied.

        Args:
          model: the NNX stepper to train (its values are the initial parameters), an
            `emutrain.nn.Ensemble` of steppers, or a `TrainState`.
          data: a Grain iterator (or iterable) of local window batches `(B_local, W, *spatial, C)`;
            every process passes its own shard. Checkpointing needs `get_state`/`set_state`.
          num_steps: total step count; with a checkpoint in the workdir, training resumes from it
            (state and data position) and runs the remaining steps.

        Raises:
          NonFiniteError: a loss or gradient became NaN/Inf; nothing after the last good checkpoint
            is saved.
        """
        iterator = data if hasattr(data, "__next__") else iter(data)
        if self.checkpointer is not None and not hasattr(iterator, "get_state"):
            raise TypeError(
                f"data must be a Grain iterator (get_state/set_state) when checkpointing, "
                f"got {type(iterator).__name__}"
            )
        state = self._as_state(model)
        checkpoint_step = None
        if self.checkpointer is not None and self.checkpointer.latest_step() is not None:
            checkpoint_step = self.checkpointer.latest_step()
            with _quiet_orbax():
                state = self.checkpointer.restore(state, data_iter=iterator)
            logging.info("resumed from the checkpoint of step %d", checkpoint_step)
        start = int(jax.device_get(state.step))
        k = self.steps_per_dispatch
        if num_steps < start or (num_steps - start) % k:
            raise ValueError(
                f"num_steps - start step ({start}) must be a non-negative multiple of "
                f"steps_per_dispatch ({k}), got num_steps={num_steps}"
            )
        with _quiet_orbax():
            return self._loop(state, iterator, start, num_steps, checkpoint_step)

    def _loop(self, state, iterator, start, num_steps, checkpoint_step) -> FitResult:
        k = self.steps_per_dispatch
        is_main = jax.process_index() == 0
        writer = make_writer(self.workdir, tensorboard=self.tensorboard)
        actions = self._periodic_actions(writer, num_steps) if is_main else []
        bar = tqdm(
            total=num_steps, initial=start, unit="step", desc="train",
            disable=not (self.progress_bar and is_main), dynamic_ncols=True,
        )
        if start == 0 and is_main:
            from clu import parameter_overview

            parameter_overview.log_parameter_overview(nnx.to_pure_dict(state.params))
        metrics = sharding.replicate(TrainMetrics.empty(state.num_members), self.mesh)
        # The hot loop carries flat leaves (see LeafTrainStep); `state` is rebuilt when the host needs it.
        state_leaves, state_def = jax.tree.flatten(state)
        metrics_leaves, metrics_def = jax.tree.flatten(metrics)
        losses, written, global_batch = [], {}, None
        step, last_time, last_step = start, time.perf_counter(), start
        try:
            while step < num_steps:
                local = np.stack([np.asarray(next(iterator)) for _ in range(k)])
                if global_batch is None:
                    global_batch = sharding.global_batch_size(local.shape[1])
                    sharding.check_batch_divisible(global_batch, self.mesh)
                batches = sharding.shard_stacked_batches(local, self.mesh)
                state_leaves, metrics_leaves, step_losses = self.train_step.on_leaves(
                    state_def, metrics_def, state_leaves, metrics_leaves, batches
                )
                losses.append(step_losses)
                step += k
                bar.update(k)
                for action in actions:
                    for s in range(step - k + 1, step + 1):
                        action(s)
                do_log = step % self.log_every == 0 or step == num_steps
                do_eval = self.eval_fn is not None and (
                    step % self.eval_every == 0 or step == num_steps
                )
                do_save = self.checkpointer is not None and (
                    step % self.checkpoint_every == 0 or step == num_steps
                )
                due = [c for c in self.callbacks if step % c.every == 0]
                if not (do_log or do_eval or do_save or due):
                    continue
                state = jax.tree.unflatten(state_def, state_leaves)
                metrics = jax.tree.unflatten(metrics_def, metrics_leaves)
                computed = jax.device_get(metrics.compute())
                bad = int(computed.pop("first_nonfinite_step"))
                if bad != NO_STEP:
                    if self.checkpointer is not None:
                        self.checkpointer.wait()
                        checkpoint_step = self.checkpointer.latest_step()
                    raise NonFiniteError(bad, state, checkpoint_step)
                values = {}
                if do_log:
                    now = time.perf_counter()
                    steps_per_second = (step - last_step) / (now - last_time)
                    last_time, last_step = now, step
                    values = member_scalars(computed)
                    values["steps_per_second"] = steps_per_second
                    values["examples_per_second"] = steps_per_second * global_batch
                    # fresh arrays each time: on several devices a replicated copy may share the
                    # source's buffer, which the step donates
                    metrics_leaves = jax.tree.leaves(
                        sharding.replicate(TrainMetrics.empty(state.num_members), self.mesh)
                    )
                    bar.set_postfix(loss=f"{values['loss']:.4g}", refresh=False)
                if do_eval:
                    values.update(self._evaluate(step, state, writer))
                for callback in due:
                    values.update(callback(step, state, values))
                if values:
                    writer.write_scalars(step, values)
                    written = values
                if do_save:
                    self.checkpointer.save(
                        state, data_iter=iterator, config=self.config, metrics=values or None
                    )
                    checkpoint_step = step
        finally:
            bar.close()
            writer.flush()
            if self.checkpointer is not None:
                self.checkpointer.wait()
        state = jax.tree.unflatten(state_def, state_leaves)
        per_member = () if state.num_members is None else (state.num_members,)
        all_losses = (
            np.concatenate(jax.device_get(losses)) if losses else np.zeros((0, *per_member), np.float32)
        )
        return FitResult(state=state, losses=all_losses, first_step=start + 1, metrics=written)

    def _evaluate(self, step: int, state: TrainState, writer: Any) -> dict:
        scalars, images, arrays = split_eval_results(self.eval_fn(state.model))
        if images:
            writer.write_images(step, images)
        if arrays and self.workdir is not None and jax.process_index() == 0:
            directory = os.path.join(self.workdir, "eval")
            os.makedirs(directory, exist_ok=True)
            np.savez(os.path.join(directory, f"step_{step}.npz"), **arrays)
        return scalars

    def _periodic_actions(self, writer: Any, num_steps: int) -> list:
        actions = []
        if self.tensorboard and self.workdir is not None:
            from clu import periodic_actions  # imports TensorFlow

            # Once a minute: the progress bar already shows the live rate, the log needs only a trace.
            actions.append(
                periodic_actions.ReportProgress(num_train_steps=num_steps, writer=writer, every_secs=60.0)
            )
            if self.profile:
                actions.append(
                    periodic_actions.Profile(
                        logdir=self.workdir, num_profile_steps=5, profile_duration_ms=None,
                        first_profile=10,
                    )
                )
        return actions
