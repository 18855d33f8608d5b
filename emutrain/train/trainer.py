"""The Trainer: a jitted, sharded loop over a Grain iterator; everything else is a periodic hook."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import jax
import numpy as np
import optax
from absl import logging
from flax import nnx
from jax.sharding import Mesh

from emutrain.configurations import RolloutCurriculum
from emutrain.train import history, sharding
from emutrain.train.checkpoint import Checkpointer
from emutrain.train.console import ConsoleHook
from emutrain.train.hooks import (
    CheckpointHook,
    Hook,
    HookContext,
    LogHook,
    ProgressBarHook,
)
from emutrain.train.orbax_logs import quiet_orbax
from emutrain.train.preemption import PreemptionNotice
from emutrain.train.state import TrainState
from emutrain.train.step import TrainStep
from emutrain.train.writers import make_writer
from emutrain.validation import check_int


@dataclasses.dataclass(frozen=True)
class FitResult:
    """What `Trainer.fit` returns.

    Attributes:
      state: the full train state after the last step (model parameters, optimizer state, step, key).
      losses: `(num_steps - first_step + 1,)` the training loss of every step run by this call;
        `(num_steps - first_step + 1, N)` for an ensemble of N members.
      first_step: the step number of `losses[0]` (1 for a fresh run, later after a resume).
      metrics: the values written at the last step that wrote any.
      preempted: a SIGTERM or SIGINT (Ctrl-C) stopped the run before `num_steps` (after checkpointing
        the last step).
    """

    state: TrainState
    losses: np.ndarray
    first_step: int
    metrics: dict
    preempted: bool = False

    @property
    def model(self) -> nnx.Module:
        return self.state.model


def _with_defaults(
    hooks: Sequence[Hook], *, log_every: int | None, progress_bar: bool, workdir: str | None,
    checkpoint_every: int,
) -> list[Hook]:
    """`hooks` plus the default ones they do not replace, in firing order; checkpoint hooks without a
    directory get `<workdir>/checkpoints`."""
    for hook in hooks:
        if not isinstance(hook, Hook):
            raise TypeError(f"hooks must be Hook instances, got {hook!r}")
    defaults = [LogHook(log_every)] if log_every is not None else []
    defaults.append(ConsoleHook())
    if progress_bar:
        defaults.append(ProgressBarHook())
    if workdir is not None:
        defaults.append(CheckpointHook(every_steps=checkpoint_every))
    kept = [default for default in defaults if not any(isinstance(hook, type(default)) for hook in hooks)]
    hooks = sorted([*kept, *hooks], key=lambda hook: hook.order)
    for hook in hooks:
        if isinstance(hook, CheckpointHook) and hook.directory is None:
            if workdir is None:
                raise ValueError("CheckpointHook needs a directory or a Trainer workdir, got neither")
            hook.directory = os.path.join(workdir, "checkpoints")
    return hooks


class Trainer:
    """Trains any NNX stepper with a training configuration on batches of windows from an iterator.

    The loop only runs dispatches of `steps_per_dispatch` optimizer steps; logging, evaluation,
    checkpointing, progress output, profiling and user callbacks are `Hook`s (`emutrain.train.hooks`).
    By default the Trainer adds a `LogHook(log_every)`, a `ConsoleHook` (start banner, short loss and
    evaluation lines, end summary; `emutrain.train.console`), a `ProgressBarHook` if `progress_bar`,
    and with a `workdir` a `CheckpointHook(every_steps=
    checkpoint_every)` into `<workdir>/checkpoints`; a hook of one of these kinds in `hooks` replaces
    the default.

    Preemption: a SIGTERM or Ctrl-C during `fit` (main thread) lets the current dispatch finish, fires the
    hooks with `at_preemption` (logging, the checkpoint of that step, progress output) and returns a
    `FitResult` with `preempted=True`; running `fit` again resumes from that checkpoint. With several
    processes, JAX's preemption sync manager stops every process after the same dispatch, whichever
    of them got the SIGTERM (`emutrain.train.preemption`).

    Seed ensembles: `fit` an `emutrain.nn.Ensemble` (N independently initialized copies of a stepper)
    to train all members at once in one jitted update (vmapped over members on GPU/TPU, a loop of
    members on CPU: see `TrainStep`), each with its own optimizer state, on the same batches and RNG
    keys, so member i ends exactly where training `ensemble.member(i)` alone would (up to float
    rounding). Per-member metrics are written as
    `loss/member_i` (likewise `grad_norm`, `param_norm`) next to their mean under `loss`; `losses` is
    `(steps, N)`; checkpoints hold the stacked state. The non-finite guard is global: a NaN/Inf in any
    member stops the whole ensemble at that step. Hooks receive the whole ensemble.

    Args:
      configuration: a callable `(stepper, data, *, key) -> scalar` (an `emutrain.configurations`
        object; one that needs a reference stepper or a residuum function holds them,
        `emutrain.configurations.WithSteppers`), or a `RolloutCurriculum` of them (one compile per
        distinct rollout length; its boundaries must be multiples of `steps_per_dispatch`, and the data
        windows must have the curriculum's `max_window_length`). `data` is a window batch
        `(B, W, *spatial, C)`.
      optimizer: an Optax gradient transformation.
      learning_rate: the number or Optax schedule the optimizer uses, for the `learning_rate` metric
        (the rate of the last update before each write: `schedule(s - 1)` at step s); if None it is
        read from an `optax.inject_hyperparams` state when there is one, and otherwise not written.
      steps_per_dispatch: optimizer steps per host call (a `lax.scan` over that many stacked batches);
        every value feeds each step the same batch and RNG key, and the results agree to float
        rounding (bit-identical only for the same value; see `TrainStep`). Pays on GPU/TPU for small
        models; keep 1 on CPU, where XLA runs convolutions inside loops slowly.
      mesh: a mesh with a `data` axis (default: all devices). Parameters are replicated, batches split.
        A `make_mesh(space=S)` mesh also splits every sample's first spatial axis over S devices.
      seed: seeds the per-step RNG keys handed to the configuration.
      workdir: where TensorBoard events, checkpoints and evaluation outputs go; a workdir with a
        checkpoint is resumed from its latest complete one. None: nothing written.
      hooks: extra `Hook`s, e.g. `EvalHook(eval_fn, every_steps=...)`, `WeightNorm(every_steps=...)`.
      log_every: cadence (steps) of the default `LogHook`; None: no periodic metric writes.
      checkpoint_every: cadence (steps) of the default `CheckpointHook` (with a workdir).
      tensorboard: write TensorBoard event files (`emutrain.train.tensorboard.TensorBoardWriter`, which
        imports no TensorFlow) besides the log lines; otherwise log only.
      progress_bar: show a tqdm progress bar (terminal or notebook).
      metrics_jsonl: also append every written scalar, with its step and wall time, to
        `<workdir>/metrics.jsonl` (`emutrain.train.writers.JsonlWriter`).
    """

    clock: Callable[[], float] = staticmethod(time.perf_counter)
    """The clock of `every_secs` cadences and steps/s (seconds); replaceable, e.g. in tests."""

    def __init__(
        self,
        configuration: Callable[..., jax.Array] | RolloutCurriculum,
        optimizer: optax.GradientTransformation,
        *,
        learning_rate: float | optax.Schedule | None = None,
        steps_per_dispatch: int = 1,
        mesh: Mesh | None = None,
        seed: int = 0,
        workdir: str | os.PathLike | None = None,
        hooks: Sequence[Hook] = (),
        log_every: int | None = 100,
        checkpoint_every: int = 1000,
        tensorboard: bool = True,
        progress_bar: bool = True,
        metrics_jsonl: bool = False,
    ):
        self.steps_per_dispatch = check_int("steps_per_dispatch", steps_per_dispatch, minimum=1)
        boundaries = configuration.boundaries if isinstance(configuration, RolloutCurriculum) else ()
        if any(boundary % steps_per_dispatch for boundary in boundaries):
            raise ValueError(
                f"curriculum boundaries must be multiples of steps_per_dispatch ({steps_per_dispatch}), "
                f"got {boundaries}"
            )
        self.seed = check_int("seed", seed, minimum=0)
        self.mesh = sharding.make_data_mesh() if mesh is None else mesh
        self.workdir = None if workdir is None else os.path.abspath(os.fspath(workdir))
        self.tensorboard = tensorboard
        self.metrics_jsonl = metrics_jsonl
        self.optimizer = optimizer
        self.train_step = TrainStep(configuration, optimizer, learning_rate=learning_rate, mesh=self.mesh)
        self.hooks = _with_defaults(
            hooks, log_every=log_every, progress_bar=progress_bar, workdir=self.workdir,
            checkpoint_every=checkpoint_every,
        )
        checkpoints = [hook for hook in self.hooks if isinstance(hook, CheckpointHook)]
        self._checkpoint_hook = checkpoints[0] if checkpoints else None

    @property
    def checkpointer(self) -> Checkpointer | None:
        """The `Checkpointer` runs resume from (of the first `CheckpointHook`), or None."""
        return None if self._checkpoint_hook is None else self._checkpoint_hook.checkpointer

    def init(self, model: nnx.Module) -> TrainState:
        """A fresh train state for `model`, replicated on the mesh (copies: `fit` never touches the
        caller's arrays)."""
        return sharding.replicate(TrainState.create(model, self.optimizer, key=self.seed), self.mesh)

    def restore(self, model_or_state: nnx.Module | TrainState, data_iter: Any = None) -> TrainState:
        """The latest checkpoint restored onto the current mesh (and `data_iter` moved to its saved
        position); `model_or_state` gives the structure."""
        if self.checkpointer is None:
            raise ValueError("restore needs a workdir or a CheckpointHook, got neither")
        with quiet_orbax():
            return self.checkpointer.restore(self._as_state(model_or_state), data_iter=data_iter)

    def _as_state(self, model_or_state: nnx.Module | TrainState) -> TrainState:
        if isinstance(model_or_state, TrainState):
            return sharding.replicate(model_or_state, self.mesh)
        if isinstance(model_or_state, nnx.Module):
            return self.init(model_or_state)
        raise TypeError(f"model must be an nnx.Module or a TrainState, got {type(model_or_state)}")

    def fit(self, model: nnx.Module | TrainState, data: Iterable[np.ndarray], *, num_steps: int) -> FitResult:
        """Trains until `num_steps` optimizer steps in total have been applied.

        Args:
          model: the NNX stepper to train (its values are the initial parameters, left untouched), an
            `emutrain.nn.Ensemble` of steppers, or a `TrainState`.
          data: a Grain iterator (or iterable) of local window batches `(B_local, W, *spatial, C)`;
            every process passes its own shard. Checkpointing needs `get_state`/`set_state`. An
            iterator made here from an iterable is closed when training ends.
          num_steps: total step count; with a checkpoint, training resumes from it (state and data
            position) and runs the remaining steps (none when it is of step `num_steps`: the console
            then says the run is complete and recalls the values stored with its checkpoints).

        Raises:
          NonFiniteError: a loss or gradient became NaN/Inf; nothing after the last good checkpoint
            is saved.
        """
        owned = not hasattr(data, "__next__")  # an iterator made here is closed here
        iterator = iter(data) if owned else data
        if self.checkpointer is not None and not hasattr(iterator, "get_state"):
            raise TypeError(
                f"data must be a Grain iterator (get_state/set_state) when checkpointing, "
                f"got {type(iterator).__name__}"
            )
        state = self._as_state(model)
        if self.checkpointer is not None and self.checkpointer.latest_step() is not None:
            with quiet_orbax():
                state = self.checkpointer.restore(state, data_iter=iterator)
            logging.info("resumed from the checkpoint of step %d", self.checkpointer.latest_step())
        start = int(jax.device_get(state.step))
        if num_steps < start or (num_steps - start) % self.steps_per_dispatch:
            raise ValueError(
                f"num_steps - start step ({start}) must be a non-negative multiple of "
                f"steps_per_dispatch ({self.steps_per_dispatch}), got num_steps={num_steps}"
            )
        # what steps after `start` wrote before a kill: each step once, no half-written checkpoint
        history.rewind(self.workdir, start, metrics_jsonl=self.metrics_jsonl,
                       checkpoint_dir=None if self.checkpointer is None else self.checkpointer.directory)
        try:
            with quiet_orbax():
                return self._loop(self.train_step.start(state), iterator, num_steps)
        finally:
            if owned and hasattr(iterator, "close"):
                iterator.close()  # stops prefetch threads and worker processes, frees their read-ahead

    def _loop(self, live: Any, iterator: Iterator, num_steps: int) -> FitResult:
        # a ConsoleHook prints short lines: the writer then logs no line per scalar write
        writer = make_writer(
            self.workdir, tensorboard=self.tensorboard, metrics_jsonl=self.metrics_jsonl,
            log_scalars=not any(isinstance(hook, ConsoleHook) for hook in self.hooks),
        )
        context = HookContext(
            live, writer=writer, workdir=self.workdir,
            num_steps=num_steps, steps_per_dispatch=self.steps_per_dispatch, data_iter=iterator,
            checkpointer=self.checkpointer, now=self.clock(), hooks=self.hooks,
        )
        start, written, stopped = live.step, {}, False
        for hook in self.hooks:
            hook.begin(context)
        try:
            with PreemptionNotice(self.steps_per_dispatch) as preemption:
                while live.step < num_steps and not stopped:
                    batches = self._next_batches(iterator, context)
                    # the first dispatch (and a curriculum's first of each rollout length) compiles
                    with context.phase("compile") if live.compiles(batches) else contextlib.nullcontext():
                        live.advance(batches)
                    now, stopped = self.clock(), preemption.reached(live.step) and live.step < num_steps
                    due = [h for h in self.hooks if h.is_due(live.step, now) or (stopped and h.at_preemption)]
                    context.stopping = stopped
                    written = context.run(due, live.step, now) or written
            if stopped:
                logging.warning(
                    "%s: stopped after step %d of %d; run again to resume", preemption.signal_name, live.step,
                    num_steps,
                )
            state = context.state  # raises NonFiniteError for a failure no hook has reported
        finally:
            for hook in self.hooks:
                hook.end(context)
            context.writer.close()
        return FitResult(state, live.losses(), first_step=start + 1, metrics=written, preempted=stopped)

    def _next_batches(self, iterator: Iterator, context: HookContext) -> jax.Array | np.ndarray:
        """The next `steps_per_dispatch` local batches, stacked `(K, B_local, W, *spatial, C)` and
        placed for the step."""
        local = np.stack([np.asarray(next(iterator)) for _ in range(self.steps_per_dispatch)])
        if context.global_batch is None:
            context.global_batch = sharding.global_batch_size(local.shape[1], self.mesh)
            sharding.check_batch_divisible(context.global_batch, self.mesh)
            # a curriculum reaches its longest rollout late: check its windows before the first step
            required = getattr(self.train_step.configuration, "required_window_length", 1)
            if local.ndim < 3 or local.shape[2] < required:
                raise ValueError(
                    f"data windows must have length >= {required} (batches (B, W, *spatial, C)), got "
                    f"batches of shape {local.shape[1:]}"
                )
        return sharding.shard_stacked_batches(local, self.mesh)
