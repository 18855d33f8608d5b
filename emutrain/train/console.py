"""What a run prints: a start banner, short periodic lines with the loss first, one line per evaluation and
an end summary table, on process 0.

- `ConsoleHook`: the Trainer's default console output (it replaces the older once-a-minute
  `ProgressHook` line); `details` add lines to the banner (the experiment's config summary, data sizes).
- `write`: prints a line (default: stdout, flushed at once) without breaking a tqdm progress bar: active
  bars are cleared, the text written and the bars redrawn, so no line mixes bar and text.
- `logs_around_bars`: while active, log records (absl and Python logging handlers on stdout/stderr) and
  `warnings` are written the same way; `ConsoleHook` keeps it active during `fit`.
- `quiet_third_party_logs`: drops the INFO start-up noise of JAX's backend probe (e.g. "Unable to
  initialize backend 'tpu'" on a CPU machine) and the INFO records Orbax, Grain, etils and CLU log through
  absl (checkpoint bookkeeping, CLU's parameter table); their warnings and errors still show.
"""

from __future__ import annotations

import contextlib
import glob
import importlib.util
import logging as std_logging
import math
import os
import sys
import textwrap
import threading
import time
import warnings
from collections.abc import Iterator, Mapping
from typing import Any, TextIO

import jax
from absl import logging
from tqdm.auto import tqdm

from emutrain.train.hooks import Hook, HookContext

__all__ = [
    "ConsoleHook",
    "config_summary",
    "data_summary",
    "format_duration",
    "logs_around_bars",
    "quiet_third_party_logs",
    "summary_table",
    "write",
]


# ---------------------------------------------------------------------------------------------------
# Writing around progress bars.


def write(text: str, file: TextIO | None = None) -> None:
    """Prints `text` and a newline to `file` (default: the current `sys.stdout`) and flushes, clearing any
    tqdm bar on the terminal first and redrawing it after (flushed, so a `2>&1` pipe keeps the order)."""
    stream = sys.stdout if file is None else file
    with tqdm.external_write_mode(file=stream):
        stream.write(text + "\n")
        stream.flush()


class _AroundBars(std_logging.Handler):
    """Wraps a console log handler: each record is handled by it between clearing and redrawing the tqdm
    bars (the wrapped handler keeps its own stream, format, filters and lock)."""

    def __init__(self, inner: std_logging.Handler):
        super().__init__(inner.level)
        self.inner = inner

    def handle(self, record: std_logging.LogRecord) -> bool:
        with tqdm.external_write_mode(file=sys.stderr):
            return self.inner.handle(record)

    def emit(self, record: std_logging.LogRecord) -> None:
        self.inner.emit(record)

    def flush(self) -> None:
        self.inner.flush()


def _is_console_handler(handler: std_logging.Handler) -> bool:
    if isinstance(handler, logging.ABSLHandler):
        return True
    return isinstance(handler, std_logging.StreamHandler) and handler.stream in (
        sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__,
    )


_routing_lock = threading.Lock()
_routing_depth = 0
_routing_undo: list[Any] = []


def _install_routing() -> None:
    root = std_logging.getLogger()
    for handler in list(root.handlers):
        if _is_console_handler(handler) and not isinstance(handler, _AroundBars):
            wrapper = _AroundBars(handler)
            root.handlers[root.handlers.index(handler)] = wrapper
            _routing_undo.append((root, handler, wrapper))
    previous = warnings.showwarning

    def showwarning(*args: Any, **kwargs: Any) -> None:
        with tqdm.external_write_mode(file=sys.stderr):
            previous(*args, **kwargs)

    warnings.showwarning = showwarning
    _routing_undo.append((warnings, previous, showwarning))


def _remove_routing() -> None:
    while _routing_undo:
        owner, original, wrapper = _routing_undo.pop()
        if owner is warnings:
            if warnings.showwarning is wrapper:
                warnings.showwarning = original
        elif wrapper in owner.handlers:
            owner.handlers[owner.handlers.index(wrapper)] = original


@contextlib.contextmanager
def logs_around_bars() -> Iterator[None]:
    """Inside the block, records of the root logger's console handlers (absl's and stream handlers on
    stdout/stderr) and `warnings` are written between clearing and redrawing the tqdm bars, so a log line
    never continues a bar's line. Re-entrant; the handlers are restored when the outermost block ends."""
    global _routing_depth
    with _routing_lock:
        _routing_depth += 1
        if _routing_depth == 1:
            _install_routing()
    try:
        yield
    finally:
        with _routing_lock:
            _routing_depth -= 1
            if _routing_depth == 0:
                _remove_routing()


# ---------------------------------------------------------------------------------------------------
# Third-party noise.

_WIDTH = 110
"""The banner's line width."""

_NOISY_PACKAGES = ("orbax", "grain", "etils", "clu", "jax")
"""Packages whose INFO records through absl are dropped by `quiet_third_party_logs`."""


def _package_dir(name: str) -> str | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return os.path.join(list(spec.submodule_search_locations)[0], "")


class _DropThirdPartyInfo(std_logging.Filter):
    """Drops records below WARNING logged from files of the given package directories."""

    def __init__(self, directories: tuple[str, ...]):
        super().__init__()
        self.directories = directories

    def filter(self, record: std_logging.LogRecord) -> bool:
        return record.levelno >= std_logging.WARNING or not record.pathname.startswith(self.directories)


class _DropBackendProbe(std_logging.Filter):
    """Drops JAX's messages about backends it could not start (TPU/GPU plugins probed on a machine
    without that accelerator); JAX falls back to the devices it has."""

    def filter(self, record: std_logging.LogRecord) -> bool:
        probe = record.getMessage().startswith("Unable to initialize backend")
        return not (probe and record.levelno < std_logging.ERROR)


_quiet_lock = threading.Lock()
_quieted = False


def quiet_third_party_logs() -> None:
    """Drops third-party start-up and bookkeeping noise from the console for the rest of the process
    (idempotent): JAX's INFO records (its logger is set to WARNING unless a level was set for it) and its
    messages about accelerator plugins that could not start, and the INFO records that Orbax, Grain, etils
    and CLU log through absl. Their warnings and errors are kept."""
    global _quieted
    with _quiet_lock:
        if _quieted:
            return
        jax_logger = std_logging.getLogger("jax")
        if jax_logger.level == std_logging.NOTSET:
            jax_logger.setLevel(std_logging.WARNING)
        std_logging.getLogger("jax._src.xla_bridge").addFilter(_DropBackendProbe())
        directories = tuple(d for d in map(_package_dir, _NOISY_PACKAGES) if d is not None)
        logging.get_absl_logger().addFilter(_DropThirdPartyInfo(directories))
        _quieted = True


# ---------------------------------------------------------------------------------------------------
# Formatting.


def format_duration(seconds: float) -> str:
    """`42s`, `3m05s` or `2h03m`; `?` for a non-finite duration."""
    if not math.isfinite(seconds):
        return "?"
    seconds = int(round(max(seconds, 0.0)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _seconds(seconds: float) -> str:
    """`420ms` under a second, `3.2s` under a minute (phases are often short), else as `format_duration`."""
    if seconds < 1:
        return f"{seconds * 1e3:.0f}ms"
    return f"{seconds:.1f}s" if seconds < 60 else format_duration(seconds)


def _number(value: float) -> str:
    """4 significant digits: `0.0123`, `1.235e-05`, `812.4`, `nan`."""
    return f"{value:.4g}"


def _get(config: Any, dotted: str) -> Any:
    node = config
    for part in dotted.split("."):
        try:
            node = node[part] if isinstance(node, Mapping) or hasattr(node, "keys") else getattr(node, part)
        except (KeyError, AttributeError):
            return None
    return node


def _compact(value: Any) -> str:
    """`a=1, b=x` for a mapping (a `name`/`optimizer` entry first, as the name); `3e-4` for floats."""
    if hasattr(value, "to_dict"):
        value = value.to_dict()
    if isinstance(value, Mapping):
        value = {k: v for k, v in value.items() if v is not None}
        name = next((str(value.pop(k)) for k in ("name", "optimizer") if k in value), None)
        rest = ", ".join(f"{k}={_compact(v)}" for k, v in value.items())
        return rest if name is None else f"{name} ({rest})" if rest else name
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def config_summary(config: Any) -> dict[str, str]:
    """Banner lines of an experiment config (`emutrain.experiment`'s schema; missing fields are left
    out): the problem (scenario and its overrides), the model (network, task), the training (method,
    optimizer, batch, steps, seeds) and the evaluation cadence."""
    lines = {}
    scenario, overrides = _get(config, "scenario.name"), _get(config, "scenario.overrides")
    if scenario is not None:
        lines["problem"] = scenario + (f" ({_compact(overrides)})" if overrides else "")
    model = [f"network {_get(config, 'network')}" if _get(config, "network") else None,
             f"task {_get(config, 'task')}" if _get(config, "task") else None]
    if any(model):
        lines["model"] = ", ".join(m for m in model if m)
    training = [
        ("method", _get(config, "method")),
        ("optimizer", _get(config, "optimizer")),
        ("batch", _get(config, "train.batch_size")),
        ("steps", _get(config, "train.num_steps")),
        ("seed", _get(config, "seed")),
        ("data seed", _get(config, "train.data_seed")),
    ]
    if any(value is not None for _, value in training):
        lines["training"] = ", ".join(
            f"{name} {_compact(value) if name != 'steps' else f'{value:,}'}"
            for name, value in training if value is not None
        )
    every, horizon = _get(config, "eval.every"), _get(config, "eval.num_steps")
    if every is not None and horizon is not None:
        lines["evaluation"] = f"every {every:,} steps, {horizon}-step rollouts"
    return lines


def data_summary(train_shape: tuple[int, ...], test_shape: tuple[int, ...], window_length: int) -> str:
    """`train 40 x 51 states (1,920 windows of 4), test 30 x 201 states, grid (48,) x 1 channel` from the
    trajectory shapes `(S, T+1, *spatial, C)` and the training window length."""
    s, t1 = train_shape[:2]
    windows = s * max(t1 - window_length + 1, 0)
    spatial, channels = tuple(train_shape[2:-1]), train_shape[-1]
    return (
        f"train {s} x {t1} states ({windows:,} windows of {window_length}), test {test_shape[0]} x "
        f"{test_shape[1]} states, grid {' x '.join(map(str, spatial))}, {channels} channel"
        + ("s" if channels != 1 else "")
    )


def summary_table(
    rows: list[tuple[str, ...]], *, indent: str = "  ", width: int | None = None
) -> list[str]:
    """Rows as left-aligned columns (the first row is the header when it is given), two spaces apart;
    with `width`, a two-column row's text is wrapped at spaces to lines of at most that width."""
    if width is not None and rows and all(len(row) == 2 for row in rows):
        label_width = max(len(row[0]) for row in rows)
        room = max(width - len(indent) - label_width - 2, 20)
        wrapped = []
        for label, text in rows:
            parts = textwrap.wrap(text, room, break_long_words=False, break_on_hyphens=False) or [""]
            wrapped += [(label, parts[0])] + [("", part) for part in parts[1:]]
        rows = wrapped
    widths = [max(len(row[i]) if i < len(row) else 0 for row in rows) for i in range(max(map(len, rows)))]
    return [indent + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]


def _split_eval(values: Mapping[str, float], prefix: str) -> dict[str, dict[str, float]]:
    """`{"model": {metric: v}, baseline: {metric: v}}` from `{prefix}metric` / `{prefix}baseline/metric`."""
    table: dict[str, dict[str, float]] = {}
    for name, value in values.items():
        if not name.startswith(prefix):
            continue
        parts = name[len(prefix):].split("/")
        owner, metric = ("model", parts[0]) if len(parts) == 1 else (parts[0], "/".join(parts[1:]))
        table.setdefault(owner, {})[metric] = value
    return table


def _metric_order(name: str) -> tuple:
    """gmean first, then the mean, then per-step nRMSE and correlation by step."""
    kind = 0 if name.startswith("gmean") else 1 if name == "mean_nrmse" else 2 if "nrmse" in name else 3
    step = int(name.rsplit("_", 1)[1]) if name.rsplit("_", 1)[-1].isdigit() else 0
    return kind, step, name


# ---------------------------------------------------------------------------------------------------
# The hook.


class ConsoleHook(Hook):
    """The run's console output on process 0, all of it written with `write` (bar-safe, flushed):

    - at the start, a banner: `details` (e.g. `config_summary(config)` and the data sizes), the parameter
      count, the devices and mesh, the steps to run (and the step a resumed run starts from), the workdir;
    - short training lines, loss first (`step 1000/10000  loss 0.01234  grad_norm ...  812 steps/s  ETA
      11s`), at written training metrics about every tenth of the run and at least every `every_secs`;
    - `compiling the train step ...` before each compile and `compiled the train step in 3.2s` after it;
    - one line per evaluation (its time, the headline metrics of the model and, in parentheses, of each
      baseline);
    - at the end, a summary table: steps, final loss, last evaluation of the model and baselines, wall
      time and steps/s, and what the workdir holds (checkpoints with the best one, plots, ...).

    A run started again once complete prints one line instead of the banner (`already complete at step
    N (nothing to do)`) and the summary of the values stored with its checkpoints: final loss, the
    latest stored evaluation, the outputs.

    While `fit` runs, log records and warnings are written around the progress bar (`logs_around_bars`).

    Args:
      title: the banner's first line (default `emutrain run`).
      details: extra banner lines `{label: text}`.
      lines: about how many training lines a run prints (besides the `every_secs` ones).
      every_secs: print a training line at the next written metrics once this many seconds passed.
      prefix: the prefix of evaluation scalars (`EvalHook`'s).
      file: the stream (default: `sys.stdout` at the time of writing).
    """

    order = 30  # after the progress bar's update, so a line never precedes the bar's own step
    at_preemption = True

    def __init__(
        self,
        *,
        title: str | None = None,
        details: Mapping[str, str] | None = None,
        lines: int = 10,
        every_secs: float = 60.0,
        prefix: str = "eval/",
        file: TextIO | None = None,
    ):
        super().__init__(every_steps=1)
        self.title = title or "emutrain run"
        self.details = dict(details or {})
        self.lines = lines
        self.line_secs = every_secs
        self.prefix = prefix
        self.file = file
        self._routing: contextlib.ExitStack | None = None

    def _write(self, text: str) -> None:
        write(text, self.file)

    def begin(self, context: HookContext) -> None:
        super().begin(context)
        self._main = jax.process_index() == 0
        self._routing = contextlib.ExitStack()
        self._routing.enter_context(logs_around_bars())
        self._start_wall = time.perf_counter()
        self._line_step, self._line_time = context.start_step, context.now
        self._line_every = max(1, math.ceil((context.num_steps - context.start_step) / max(self.lines, 1)))
        self._train: dict[str, float] = {}
        self._eval: dict[str, float] = {}
        self._eval_step: int | None = None
        self._complete = context.start_step >= context.num_steps
        if self._complete:
            self._recall_stored(context)
        if self._main:
            self._write(self.complete_line(context) if self._complete else "\n".join(self.banner(context)))

    def _recall_stored(self, context: HookContext) -> None:
        """The training values and the evaluation stored with the checkpoints of a complete run (the
        newest checkpoint holding each), for its summary."""
        checkpointer = context.checkpointer
        for step in reversed(checkpointer.all_steps() if checkpointer is not None else []):
            stored = checkpointer.metrics(step)
            evaluation = {k: v for k, v in stored.items() if k.startswith(self.prefix)}
            if not self._train and "loss" in stored:
                self._train = {k: v for k, v in stored.items() if k not in evaluation}
            if not self._eval and evaluation:
                self._eval, self._eval_step = evaluation, step

    def complete_line(self, context: HookContext) -> str:
        """`emutrain run: already complete at step 10,000 (nothing to do), workdir /runs/a`."""
        return (
            f"{self.title}: already complete at step {context.start_step:,} (nothing to do), workdir "
            f"{context.workdir or 'none'}"
        )

    def phase_started(self, name: str, context: HookContext) -> None:
        if name == "compile" and self._main:
            self._write("compiling the train step ...")

    def phase_ended(self, name: str, seconds: float, context: HookContext) -> None:
        if name == "compile" and self._main:
            self._write(f"compiled the train step in {_seconds(seconds)}")

    def banner(self, context: HookContext) -> list[str]:
        """The banner's lines."""
        params = jax.tree.leaves(context.state.params)
        count = sum(int(p.size) for p in params)
        sharding = getattr(params[0], "sharding", None) if params else None
        mesh = getattr(sharding, "mesh", None)
        devices = jax.devices()
        rows = [(label, text) for label, text in self.details.items()]
        rows.append(("parameters", f"{count:,}"))
        device_text = f"{len(devices)} x {devices[0].device_kind} ({jax.default_backend()})"
        if jax.process_count() > 1:
            device_text += f" on {jax.process_count()} processes"
        if mesh is not None:
            device_text += ", mesh " + " x ".join(f"{name}={size}" for name, size in mesh.shape.items())
        rows.append(("devices", device_text))
        steps = f"{context.num_steps:,}"
        if context.start_step:
            steps += f" (resuming at step {context.start_step:,})"
        if context.steps_per_dispatch > 1:
            steps += f", {context.steps_per_dispatch} per dispatch"
        rows.append(("steps", steps))
        rows.append(("workdir", context.workdir or "none (nothing written)"))
        return [self.title] + summary_table(rows, width=_WIDTH)

    def __call__(self, step: int, context: HookContext) -> None:
        values = context.values
        if not self._main or not values:
            return
        if "loss" in values:
            self._train = {k: v for k, v in values.items() if not k.startswith(self.prefix)}
            if (
                step - self._line_step >= self._line_every
                or context.now - self._line_time >= self.line_secs
                or step == context.num_steps
            ):
                self._write(self.train_line(step, context))
                self._line_step, self._line_time = step, context.now
        evaluation = {k: v for k, v in values.items() if k.startswith(self.prefix)}
        if evaluation:
            self._eval, self._eval_step = evaluation, step
            self._write(self.eval_line(step, evaluation, seconds=context.durations.get("eval")))

    def train_line(self, step: int, context: HookContext) -> str:
        """`step 1000/10000  loss 0.01234  grad_norm 0.5  lr 0.0003  812 steps/s  ETA 11s`."""
        v = self._train
        width = len(str(context.num_steps))
        parts = [f"step {step:>{width}}/{context.num_steps}", f"loss {_number(v['loss'])}"]
        if "grad_norm" in v:
            parts.append(f"grad_norm {_number(v['grad_norm'])}")
        if "learning_rate" in v:
            parts.append(f"lr {v['learning_rate']:.3g}")
        rate = (step - self._line_step) / max(context.now - self._line_time, 1e-9)
        if step > self._line_step:
            parts.append(f"{rate:.0f} steps/s")
            if step < context.num_steps:
                parts.append(f"ETA {format_duration((context.num_steps - step) / max(rate, 1e-9))}")
        return "  ".join(parts)

    def eval_line(self, step: int, evaluation: Mapping[str, float], *, seconds: float | None = None) -> str:
        """`eval @ 2500  gmean_nrmse_100 0.406 (coarse 1.31)  nrmse@1,10,100 0.00854 0.0742 1.74 (coarse 1.22
        1.59 1.34)`: the headline metrics (3 significant digits), baselines in parentheses; with
        `seconds`, the evaluation's time follows the step (`eval @ 2500 (3.2s)  ...`)."""
        table = _split_eval(evaluation, self.prefix)
        model = table.pop("model", {})

        def short(values: list[float]) -> str:
            return " ".join(f"{v:.3g}" for v in values)

        def with_baselines(metrics: list[str]) -> str:
            text = short([model[m] for m in metrics])
            others = [f"{name} {short([t[m] for m in metrics])}" for name, t in table.items()
                      if all(m in t for m in metrics)]
            return text + (f" ({', '.join(others)})" if others else "")

        parts = [f"eval @ {step}" + ("" if seconds is None else f" ({_seconds(seconds)})")]
        for metric in sorted((m for m in model if m.startswith("gmean")), key=_metric_order):
            parts.append(f"{metric} {with_baselines([metric])}")
        per_step = sorted((m for m in model if m.startswith("nrmse_step_")), key=_metric_order)
        if per_step:
            steps = ",".join(m.rsplit("_", 1)[1] for m in per_step)
            parts.append(f"nrmse@{steps} {with_baselines(per_step)}")
        return "  ".join(parts)

    def summary(self, context: HookContext, *, error: BaseException | None = None) -> list[str]:
        """The end summary's lines."""
        elapsed = time.perf_counter() - self._start_wall
        step, ran = self._last_step, self._last_step - context.start_step
        if self._complete:
            state = f"already complete at step {step:,}"
        elif error is not None and step < context.num_steps:
            state = f"stopped at step {step:,} of {context.num_steps:,} by {type(error).__name__}"
        elif step < context.num_steps:
            state = f"stopped at step {step:,} of {context.num_steps:,} (run again to resume)"
        else:
            state = f"done: {context.num_steps:,} steps"
        lines = [f"summary ({state})"]
        rows = []
        if "loss" in self._train:
            rows.append(("final loss", _number(self._train["loss"])))
        if not self._complete:
            rate = ran / max(elapsed, 1e-9)
            timing = f"{format_duration(elapsed)} for {ran:,} steps ({rate:.1f} steps/s overall"
            if "steps_per_second" in self._train:
                timing += f", {self._train['steps_per_second']:.1f} at the end"
            rows.append(("time", timing + ")"))
        lines += summary_table(rows) if rows else []
        if self._eval:
            table = _split_eval(self._eval, self.prefix)
            owners = ["model"] + [name for name in table if name != "model"]
            metrics = sorted({m for t in table.values() for m in t}, key=_metric_order)
            eval_rows = [(f"eval @ step {self._eval_step}", *owners)]
            for metric in metrics:
                cells = [_number(table[o][metric]) if metric in table.get(o, {}) else "-" for o in owners]
                eval_rows.append((metric, *cells))
            lines += summary_table(eval_rows)
        lines += summary_table(self.outputs(context))
        return lines

    def outputs(self, context: HookContext) -> list[tuple[str, str]]:
        """`(label, text)` rows of what the workdir holds."""
        workdir = context.workdir
        if workdir is None:
            return [("outputs", "none (no workdir)")]
        rows = [("outputs", workdir)]
        checkpointer = context.checkpointer
        if checkpointer is not None and checkpointer.all_steps():
            text = f"{os.path.relpath(checkpointer.directory, workdir)}/ steps {checkpointer.all_steps()}"
            best = getattr(checkpointer, "best_step", lambda: None)()
            if best is not None:
                text += f", best {best} by {checkpointer.best_metric}"
            rows.append(("  checkpoints", text))
        entries = [
            ("  config", "config.json"),
            ("  metrics", "metrics.jsonl"),
            ("  evaluations", os.path.join("eval", "step_*.csv")),
            ("  plots", os.path.join("plots", "*.png")),
            ("  tensorboard", "events.out.tfevents.*"),
        ]
        for label, pattern in entries:
            found = sorted(glob.glob(os.path.join(workdir, pattern)))
            if found:
                shown = f"{pattern} ({len(found)})" if len(found) > 1 else os.path.relpath(found[0], workdir)
                if label == "  plots":
                    latest = [f for f in found if "_step_" not in os.path.basename(f)]
                    shown = ", ".join(os.path.relpath(f, workdir) for f in latest) or shown
                if label == "  tensorboard":
                    shown = f"tensorboard --logdir {workdir}"
                rows.append((label, shown))
        return rows

    def end(self, context: HookContext) -> None:
        try:
            if getattr(self, "_main", False):
                error = sys.exc_info()[1]  # set while `fit` unwinds from an exception
                self._write("\n".join(self.summary(context, error=error)))
        finally:
            if self._routing is not None:
                self._routing.close()
                self._routing = None
