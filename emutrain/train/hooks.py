"""Periodic hooks: everything the training loop does besides the optimizer step.

A `Hook` fires every `every_steps` steps and/or every `every_secs` seconds, and at the last step when
`at_end`. A dispatch runs `steps_per_dispatch = k` steps at once, so a hook with `every_steps=n` fires at
the end of each dispatch that crossed a multiple of n: after step s when `(s - k) // n < s // n`
(with n a multiple of k that is exactly every n steps). Due hooks run in `order` (logging first,
checkpoints after every hook that adds values) and get the step and a `HookContext`; the scalars they
return are written together under that step.

All hooks run on every process: evaluation and checkpointing are collective over processes, so give
those step cadences (`every_secs` fires at different steps on different hosts); hooks that write files
or print do so on process 0 only.

Long phases (the train step's compilation, an evaluation) run inside `HookContext.phase`, which tells
every hook when one starts and ends (`Hook.phase_started`, `Hook.phase_ended`): the console and the
progress bar show them while they run and their times after.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import jax
import numpy as np
from absl import logging
from flax import nnx
from tqdm.auto import tqdm

from emutrain.train.checkpoint import Checkpointer
from emutrain.train.orbax_logs import quiet_orbax
from emutrain.train.state import TrainState
from emutrain.train.step import LiveState
from emutrain.train.writers import member_scalars, split_eval_results
from emutrain.validation import check_choice, check_int, check_real


class NonFiniteError(FloatingPointError):
    """Raised when a step's loss, gradient or updated parameters are NaN/Inf. `step` is that step
    (1-based update count); `state` is the last good state (after step `step - 1`, all finite), which was
    not checkpointed by the failure."""

    def __init__(self, step: int, state: TrainState, checkpoint_step: int | None):
        self.step = step
        self.state = state
        kept = "no checkpoint is kept" if checkpoint_step is None else (
            f"the checkpoint of step {checkpoint_step} is kept"
        )
        super().__init__(
            f"non-finite loss, gradient or updated parameters at step {step}: training stopped, {kept}"
        )


class HookContext:
    """What hooks see during one `fit`.

    Attributes:
      step: the step the due hooks run at (updates applied so far, counting skipped non-finite ones).
      now: the loop's clock at this step (seconds).
      values: the scalars written at this step so far (earlier hooks' results).
      writer: the run's metric writer (`emutrain.train.writers.make_writer`: `write_scalars`,
        `write_images`, ... with CLU's `MetricWriter` method set).
      workdir: the run directory, or None.
      start_step, num_steps, steps_per_dispatch: the run's first and last step and dispatch size.
      global_batch: the batch size over all processes.
      data_iter: the data iterator (its position belongs in checkpoints).
      checkpointer: the `Checkpointer` of the run's checkpoint hook, or None.
      stopping: a SIGTERM or Ctrl-C stops the run after this step (the `at_preemption` hooks run).
      hooks: every hook of the run (told when a `phase` starts and ends).
      durations: the wall time (seconds) of each `phase` at this step, by name (e.g. `"eval"`).
    """

    def __init__(
        self,
        live: LiveState,
        *,
        writer: Any,
        workdir: str | None,
        num_steps: int,
        steps_per_dispatch: int,
        data_iter: Any,
        checkpointer: Checkpointer | None,
        now: float,
        hooks: Sequence[Hook] = (),
    ):
        self._live = live
        self.writer = writer
        self.workdir = workdir
        self.start_step = self.step = live.step
        self.num_steps = num_steps
        self.steps_per_dispatch = steps_per_dispatch
        self.data_iter = data_iter
        self.checkpointer = checkpointer
        self.global_batch: int | None = None
        self.now = now
        self.values: dict[str, float] = {}
        self.stopping = False
        self.hooks = list(hooks)
        self.durations: dict[str, float] = {}

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """A long phase of the run (`"compile"`, `"eval"`): every hook's `phase_started` is called before
        the block and `phase_ended` with its wall time (seconds) after it, which `durations` keeps."""
        for hook in self.hooks:
            hook.phase_started(name, self)
        start = time.perf_counter()
        yield
        self.durations[name] = seconds = time.perf_counter() - start
        for hook in self.hooks:
            hook.phase_ended(name, seconds, self)

    def _check_finite(self) -> None:
        bad = self._live.first_nonfinite_step()
        if bad is not None:
            kept = None
            if self.checkpointer is not None:
                self.checkpointer.wait()
                kept = self.checkpointer.latest_step()
            raise NonFiniteError(bad, self._live.state, kept)

    @property
    def state(self) -> TrainState:
        """The train state at this step, built once per step on first use (valid until the next
        dispatch, which donates its buffers).

        Raises:
          NonFiniteError: a step so far had a NaN/Inf loss or gradient (the state is the last good one).
        """
        self._check_finite()
        return self._live.state

    def pop_metrics(self) -> dict[str, np.ndarray]:
        """The training metrics averaged since the last call (see `LiveState.pop_metrics`).

        Raises:
          NonFiniteError: as `state`.
        """
        self._check_finite()
        return self._live.pop_metrics()

    def last_loss(self) -> float:
        """The latest step's loss (the mean over members for an ensemble)."""
        return self._live.last_loss()

    def run(self, hooks: Sequence[Hook], step: int, now: float) -> dict[str, float]:
        """Fires `hooks` (in order) at `step`; writes and returns the scalars they produced."""
        if not hooks:
            return {}
        self.step, self.now, self.values, self.durations = step, now, {}, {}
        for hook in hooks:
            self.values.update(hook.fire(self) or {})
        if self.values:
            self.writer.write_scalars(step, self.values)
        return self.values


@dataclasses.dataclass(eq=False)
class Hook:
    """Base of every periodic hook: subclass it and override `__call__` (and `begin`/`end` if needed).

    Args:
      every_steps: fire at the end of each dispatch that crossed a multiple of this many steps.
      every_secs: fire when this many seconds passed since the hook last fired (or since `fit` began).
      at_end: also fire at the last step of `fit`.
    """

    _: dataclasses.KW_ONLY
    every_steps: int | None = None
    every_secs: float | None = None
    at_end: bool = True

    order = 0
    """Due hooks run in increasing `order` (stable): logging -10, checkpoints 10, progress output 20."""

    at_preemption = False
    """Whether the hook also fires when a SIGTERM stops `fit` early (logging, checkpoints, progress)."""

    def __post_init__(self) -> None:
        if self.every_steps is not None:
            check_int("every_steps", self.every_steps, minimum=1)
        if self.every_secs is not None:
            check_real("every_secs", self.every_secs, positive=True)
        if not isinstance(self.at_end, bool):
            raise TypeError(f"at_end must be a bool, got {self.at_end!r}")
        self._last_step, self._last_time = 0, 0.0
        self._steps_per_dispatch, self._num_steps = 1, None

    def begin(self, context: HookContext) -> None:
        """Called once before the first dispatch of a `fit`; resets the cadence bookkeeping."""
        self._steps_per_dispatch, self._num_steps = context.steps_per_dispatch, context.num_steps
        self._last_step, self._last_time = context.start_step, context.now

    def is_due(self, step: int, now: float) -> bool:
        """Whether the hook fires after the dispatch that ended at `step`, at clock time `now`."""
        if self.at_end and step == self._num_steps:
            return True
        n = self.every_steps
        if n is not None and (step - self._steps_per_dispatch) // n < step // n:
            return True
        return self.every_secs is not None and now - self._last_time >= self.every_secs

    def fire(self, context: HookContext) -> Mapping[str, float] | None:
        """Runs the hook at `context.step` and records when it fired."""
        values = self(context.step, context)
        self._last_step, self._last_time = context.step, context.now
        return values

    def __call__(self, step: int, context: HookContext) -> Mapping[str, float] | None:
        """Does the hook's work; returns scalars to write under `step` (or None)."""
        raise NotImplementedError

    def end(self, context: HookContext) -> None:
        """Called once when `fit` stops (also after an error)."""

    def phase_started(self, name: str, context: HookContext) -> None:
        """Called when a long phase (`HookContext.phase`: `"compile"`, `"eval"`) starts."""

    def phase_ended(self, name: str, seconds: float, context: HookContext) -> None:
        """Called when that phase ended, after `seconds`."""


class LogHook(Hook):
    """Writes the training metrics averaged since the last write (`loss`, `grad_norm`, `param_norm`, per
    ensemble member as `name/member_i` plus their mean), the `learning_rate` of the last step (when the
    Trainer knows it), `steps_per_second` and `examples_per_second`; raises `NonFiniteError` when a
    step since the last write was NaN/Inf. Logs the parameter overview when a run starts at step 0."""

    order = -10
    at_preemption = True

    def __init__(
        self, every_steps: int | None = 100, *, every_secs: float | None = None, at_end: bool = True
    ):
        super().__init__(every_steps=every_steps, every_secs=every_secs, at_end=at_end)

    def begin(self, context: HookContext) -> None:
        super().begin(context)
        if context.start_step == 0 and jax.process_index() == 0:
            from clu import parameter_overview

            parameter_overview.log_parameter_overview(nnx.to_pure_dict(context.state.params))

    def __call__(self, step: int, context: HookContext) -> dict[str, float]:
        values = member_scalars(context.pop_metrics())
        steps_per_second = (step - self._last_step) / max(context.now - self._last_time, 1e-9)
        values["steps_per_second"] = steps_per_second
        values["examples_per_second"] = steps_per_second * context.global_batch
        return values


class EvalHook(Hook):
    """Runs `eval_fn(state.model)` and writes what it returns.

    An `emutrain.evaluate.Evaluation` (what `emutrain.evaluate.make_eval_fn` builds): its `scalars` are
    written; on process 0 each figure of `viz.evaluation_figures` goes to the writer as an image and,
    with a workdir, to `<workdir>/plots/<name>_step_<N>.png` and `<workdir>/plots/<name>.png` (the
    latest), its `arrays` to `<workdir>/eval/step_<N>.npz` and its per-step nRMSE and correlation (model
    and baselines) to `<workdir>/eval/step_<N>.csv` (`emutrain.train.outputs.write_eval_csv`). A plain
    mapping: numbers are written as scalars, `(H, W, C)` / `(N, H, W, C)` arrays as images, other
    arrays go to the `.npz`.

    The call of `eval_fn` is the run's `"eval"` phase (`HookContext.phase`): the console prints its time.

    Args:
      eval_fn: `(model) -> Evaluation | Mapping`; receives the whole ensemble for an ensemble.
      every_steps, every_secs, at_end: the cadence (see `Hook`).
      prefix: prepended to the names of an `Evaluation`'s scalars and images.
      domain_extent: the domain length the figures' axes show.
    """

    def __init__(
        self,
        eval_fn: Callable[[nnx.Module], Any],
        *,
        every_steps: int | None = None,
        every_secs: float | None = None,
        at_end: bool = True,
        prefix: str = "eval/",
        domain_extent: float = 1.0,
    ):
        if not callable(eval_fn):
            raise TypeError(f"eval_fn must be callable, got {eval_fn!r}")
        super().__init__(every_steps=every_steps, every_secs=every_secs, at_end=at_end)
        self.eval_fn = eval_fn
        self.prefix = prefix
        self.domain_extent = domain_extent

    def __call__(self, step: int, context: HookContext) -> dict[str, float]:
        with context.phase("eval"):
            result = self.eval_fn(context.state.model)
        is_main = jax.process_index() == 0
        if isinstance(result, Mapping):
            scalars, images, arrays = split_eval_results(result)
        else:
            scalars, arrays = result.scalars(self.prefix), result.arrays("")
            images = self._figure_images(result, step, context.workdir) if is_main else {}
        if images:
            context.writer.write_images(step, images)
        if arrays and context.workdir is not None and is_main:
            directory = os.path.join(context.workdir, "eval")
            os.makedirs(directory, exist_ok=True)
            np.savez(os.path.join(directory, f"step_{step}.npz"), **arrays)
            if not isinstance(result, Mapping):
                from emutrain.train.outputs import write_eval_csv  # imports this module

                write_eval_csv(os.path.join(directory, f"step_{step}.csv"), result)
        return scalars

    def _figure_images(self, evaluation: Any, step: int, workdir: str | None) -> dict[str, np.ndarray]:
        """The evaluation's figures as images `(1, H, W, 3)`, each rendered once and, with a workdir,
        also written as `plots/<name>_step_<step>.png` and `plots/<name>.png`."""
        from emutrain import viz  # matplotlib: imported only when a run evaluates

        images = {}
        figures = viz.evaluation_figures(evaluation, step=step, domain_extent=self.domain_extent)
        for name, figure in figures.items():
            image = viz.figure_to_array(figure)
            images[f"{self.prefix}{name}"] = image[None]
            if workdir is not None:
                path = os.path.join(workdir, "plots", f"{name}_step_{step}.png")
                viz.save_image(image, path)
                shutil.copyfile(path, os.path.join(workdir, "plots", f"{name}.png"))
        return images


class CheckpointHook(Hook):
    """Saves the train state, the data iterator's position, the run config and this step's written
    values with Orbax (async); `fit` resumes from the latest complete checkpoint in `directory`.

    With a `best_metric`, every step whose written value of it (by a hook of lower `order`, such as
    `EvalHook`) is better than the best so far is also saved, whatever the cadence, and kept as the best
    checkpoint: the best checkpoint is the best evaluation, not the best of the evaluations that fell on
    a checkpoint step. A resumed run starts from the best value stored in `directory`.

    Args:
      directory: where step directories go; None: `<workdir>/checkpoints` of the Trainer.
      every_steps, every_secs, at_end: the cadence (see `Hook`); saving at the end is the default.
      max_to_keep, best_metric, best_mode: retention (see `Checkpointer`); `best_metric` names a
        written value, e.g. an evaluation scalar, and `best_mode` whether lower ("min") or higher
        ("max") is better.
      config: a JSON-serializable run config stored with every checkpoint.
    """

    order = 10
    at_preemption = True

    def __init__(
        self,
        directory: str | os.PathLike | None = None,
        *,
        every_steps: int | None = 1000,
        every_secs: float | None = None,
        at_end: bool = True,
        max_to_keep: int | None = 3,
        best_metric: str | None = None,
        best_mode: str = "min",
        config: Mapping[str, Any] | None = None,
    ):
        super().__init__(every_steps=every_steps, every_secs=every_secs, at_end=at_end)
        if max_to_keep is not None:
            check_int("max_to_keep", max_to_keep, minimum=1)
        check_choice("best_mode", best_mode, ("min", "max"))
        self.directory = None if directory is None else os.path.abspath(os.fspath(directory))
        self._options = dict(max_to_keep=max_to_keep, best_metric=best_metric, best_mode=best_mode)
        self.config = None if config is None else dict(config)
        self._checkpointer: Checkpointer | None = None

    @property
    def checkpointer(self) -> Checkpointer:
        if self._checkpointer is None:
            if self.directory is None:
                raise ValueError("CheckpointHook needs a directory or a Trainer workdir, got neither")
            with quiet_orbax():
                self._checkpointer = Checkpointer(self.directory, **self._options)
        return self._checkpointer

    def begin(self, context: HookContext) -> None:
        super().begin(context)
        self._best = self.checkpointer.best_value()
        self._by_cadence = False

    def is_due(self, step: int, now: float) -> bool:
        self.checkpointer.check()  # after every dispatch: a failed async save stops training now
        self._by_cadence = super().is_due(step, now)
        # with a best metric, whether to save is known only after the hooks before this one ran
        return self._by_cadence or self._options["best_metric"] is not None

    def fire(self, context: HookContext) -> None:
        value = context.values.get(self._options["best_metric"])
        improved = self._improves(value)
        if improved:
            self._best = float(value)
        if improved or self._by_cadence or context.stopping:
            super().fire(context)

    def _improves(self, value: float | None) -> bool:
        """Whether `value` (None: not written at this step) is finite and better than the best so far."""
        if value is None or not np.isfinite(value):
            return False
        if self._best is None or not np.isfinite(self._best):
            return True
        return value < self._best if self._options["best_mode"] == "min" else value > self._best

    def __call__(self, step: int, context: HookContext) -> None:
        self.checkpointer.save(
            context.state, data_iter=context.data_iter, config=self.config, metrics=context.values or None
        )

    def end(self, context: HookContext) -> None:
        self.checkpointer.wait()


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m{rest % 60:02d}s" if hours else f"{rest // 60}m{rest % 60:02d}s"


class ProgressHook(Hook):
    """Logs one line on process 0: step, latest loss, steps/s since the last report and the ETA."""

    order = 20
    at_preemption = True

    def __init__(
        self, *, every_steps: int | None = None, every_secs: float | None = 60.0, at_end: bool = True
    ):
        super().__init__(every_steps=every_steps, every_secs=every_secs, at_end=at_end)

    def __call__(self, step: int, context: HookContext) -> None:
        if jax.process_index() != 0:
            return
        rate = (step - self._last_step) / max(context.now - self._last_time, 1e-9)
        eta = (context.num_steps - step) / rate if rate > 0 else float("inf")
        logging.info(
            "step %d/%d, loss %.4g, %.1f steps/s, ETA %s", step, context.num_steps, context.last_loss(),
            rate, _duration(eta) if np.isfinite(eta) else "unknown",
        )


class ProgressBarHook(Hook):
    """A tqdm progress bar (terminal or notebook) on process 0, with the latest logged loss; while the
    train step compiles or an evaluation runs, its description says so."""

    order = 20
    at_preemption = True

    def __init__(self):
        super().__init__(every_steps=1)

    def begin(self, context: HookContext) -> None:
        super().begin(context)
        # a run already complete shows no bar: there is nothing to wait for
        self._bar = tqdm(
            total=context.num_steps, initial=context.start_step, unit="step", desc="train",
            disable=jax.process_index() != 0 or context.start_step >= context.num_steps, dynamic_ncols=True,
        )

    def phase_started(self, name: str, context: HookContext) -> None:
        self._bar.set_description({"compile": "compiling", "eval": "evaluating"}.get(name, name))

    def phase_ended(self, name: str, seconds: float, context: HookContext) -> None:
        self._bar.set_description("train")

    def __call__(self, step: int, context: HookContext) -> None:
        if "loss" in context.values:
            self._bar.set_postfix(loss=f"{context.values['loss']:.4g}", refresh=False)
        self._bar.update(step - self._last_step)

    def end(self, context: HookContext) -> None:
        self._bar.close()


class ProfileHook(Hook):
    """Captures a `jax.profiler` trace of the `num_profile_steps` steps after step `first_step` into
    `logdir` (default: the workdir), viewable in TensorBoard's profile tab."""

    def __init__(
        self, *, first_step: int = 10, num_profile_steps: int = 5, logdir: str | os.PathLike | None = None
    ):
        super().__init__(at_end=False)
        self.first_step = check_int("first_step", first_step, minimum=0)
        self.num_profile_steps = check_int("num_profile_steps", num_profile_steps, minimum=1)
        self.logdir = None if logdir is None else os.fspath(logdir)
        self._stop_at: int | None = None
        self._done = False

    def begin(self, context: HookContext) -> None:
        super().begin(context)
        if self.logdir is None and context.workdir is None:
            raise ValueError("ProfileHook needs a logdir or a Trainer workdir, got neither")
        self._logdir = context.workdir if self.logdir is None else self.logdir

    def is_due(self, step: int, now: float) -> bool:
        if self._stop_at is not None:
            return step >= self._stop_at
        return not self._done and step >= self.first_step

    def __call__(self, step: int, context: HookContext) -> None:
        if self._stop_at is None:
            jax.profiler.start_trace(self._logdir)
            self._stop_at = step + self.num_profile_steps
        else:
            self.end(context)

    def end(self, context: HookContext) -> None:
        if self._stop_at is not None:
            context.last_loss()  # waits for the traced steps
            jax.profiler.stop_trace()
            self._stop_at, self._done = None, True
