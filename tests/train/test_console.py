"""The console of a run (`emutrain.train.console`): no line mixes progress bar and log text, a banner with
the parameter count and mesh, short loss-first lines, an end summary; formatting helpers; noise filters."""

import logging as std_logging
import os
import re
import sys
import warnings

import jax
import numpy as np
import pytest
import train_tiny as tiny
from absl import logging

from emutrain.config_files import load_config
from emutrain.schema import optimizer_spec, resolve_config
from emutrain.train import EvalHook, Hook, Trainer, console

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BAR = re.compile(r"\d+%\|")
MARK = "a log line while the bar runs"


def rendered_lines(text: str) -> list[str]:
    """What a terminal shows: each newline-separated line with carriage returns applied (a segment after
    `\\r` overwrites the line from column 0), trailing blanks removed."""
    lines = []
    for raw in text.split("\n"):
        screen = ""
        for segment in raw.split("\r"):
            screen = segment + screen[len(segment):]
        lines.append(screen.rstrip())
    return lines


def mixed_lines(text: str) -> list[str]:
    """Rendered lines that show a progress bar and other text together."""
    return [line for line in rendered_lines(text) if BAR.search(line) and (MARK in line or "step " in line)]


def test_the_line_checker_catches_a_glued_line():
    glued = "\rtrain:  50%|#####     | 2/4 [00:01<00:01, 2.0step/s]W1201 12:00:00 x.py:1] " + MARK + "\n"
    cleared = "\rtrain:  50%|#####     | 2/4 [00:01]\r" + " " * 40 + "\rW1201 12:00:00 x.py:1] " + MARK + "\n"
    assert mixed_lines(glued) == [glued.strip("\r\n")]
    assert rendered_lines(cleared) == ["W1201 12:00:00 x.py:1] " + MARK, ""]
    assert mixed_lines(cleared) == []


class _Noisy(Hook):
    """Logs a warning and warns every second step, as third-party code does while a bar runs."""

    def __init__(self):
        super().__init__(every_steps=2)

    def __call__(self, step, context):
        logging.warning("%s %d", MARK, step)
        warnings.warn(f"{MARK} (warning) {step}", UserWarning, stacklevel=1)


def _eval_fn(model):
    return {"eval/gmean_nrmse_10": 0.5, "eval/coarse/gmean_nrmse_10": 1.25}  # a mapping is written as is


@pytest.fixture
def console_logging(monkeypatch):
    """What a script's console has (pytest replaces both): absl's handler on the root logger and
    warnings printed to stderr."""
    handler = logging.get_absl_handler()
    std_logging.getLogger().addHandler(handler)

    def showwarning(message, category, filename, lineno, file=None, line=None):
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))

    monkeypatch.setattr(warnings, "showwarning", showwarning)
    yield
    std_logging.getLogger().removeHandler(handler)


def test_console_of_a_short_run(tmp_path, capsys, console_logging):
    trainer = Trainer(
        tiny.configuration(), tiny.optimizer(), workdir=tmp_path, log_every=2, tensorboard=False,
        hooks=[_Noisy(), EvalHook(_eval_fn, every_steps=4)],
    )
    handlers = list(std_logging.getLogger().handlers)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        result = trainer.fit(tiny.model(), tiny.loader(), num_steps=8)
    assert std_logging.getLogger().handlers == handlers  # the routing is undone after fit
    captured = capsys.readouterr()
    out, err = captured.out, captured.err
    # the bar and the log records share stderr: every record sits on a line of its own
    assert BAR.search(err)
    # while the train step compiles and while an evaluation runs, the bar says so
    assert re.search(r"compiling:\s+0%\|", err) and re.search(r"evaluating:\s+\d+%\|", err)
    assert mixed_lines(err) == [] and mixed_lines(out) == []
    err_lines = rendered_lines(err)
    for step in (2, 4, 6, 8):
        assert sum(line.endswith(f"{MARK} {step}") for line in err_lines) == 1
        assert sum(f"{MARK} (warning) {step}" in line for line in err_lines) == 1
    lines = out.splitlines()
    # banner: the parameter count (one 3-point convolution without bias), devices and mesh, workdir
    assert lines[0] == "emutrain run"
    banner = dict(re.match(r"  (\S+)\s+(.*)", line).groups() for line in lines[1:5])
    assert banner == {
        "parameters": "3",
        "devices": f"{jax.device_count()} x {jax.devices()[0].device_kind} ({jax.default_backend()}), "
        f"mesh data={jax.device_count()}",
        "steps": "8",
        "workdir": str(tmp_path),
    }
    # short training lines, loss first, about a tenth of the run apart (here every written step)
    train = [line for line in lines if line.startswith("step ")]
    assert [line.split("  ")[0] for line in train] == ["step 2/8", "step 4/8", "step 6/8", "step 8/8"]
    final_loss = float(np.mean(result.losses[-2:]))  # LogHook averages the steps since its last write
    assert train[-1].split("  ")[1] == f"loss {final_loss:.4g}"
    assert all(len(line) <= 110 for line in lines)
    # the compilation announced before it starts and timed after, between banner and first line
    compiled = lines.index("compiling the train step ...")
    assert 5 <= compiled < lines.index(train[0])
    assert re.fullmatch(r"compiled the train step in \d+(\.\d)?m?s", lines[compiled + 1])
    assert sum("compil" in line for line in lines) == 2  # once: later dispatches reuse it
    # one line per evaluation with its time, baselines in parentheses
    evals = [line for line in lines if line.startswith("eval")]
    assert all(re.match(r"eval @ \d \(\d+(\.\d)?m?s\)  ", line) for line in evals)
    assert [re.sub(r" \(\d+(\.\d)?m?s\)", "", line, count=1) for line in evals] == [
        "eval @ 4  gmean_nrmse_10 0.5 (coarse 1.25)", "eval @ 8  gmean_nrmse_10 0.5 (coarse 1.25)",
    ]
    summary = lines[lines.index("summary (done: 8 steps)"):]
    assert summary[1] == f"  final loss  {final_loss:.4g}"
    assert summary[3].split() == ["eval", "@", "step", "8", "model", "coarse"]
    assert summary[4].split() == ["gmean_nrmse_10", "0.5", "1.25"]
    assert summary[5].split() == ["outputs", str(tmp_path)]
    assert summary[6].split() == ["checkpoints", "checkpoints/", "steps", "[8]"]


def test_no_bar_no_workdir_and_a_quiet_console(capsys):
    Trainer(tiny.configuration(), tiny.optimizer(), log_every=4, tensorboard=False, progress_bar=False).fit(
        tiny.model(), tiny.loader(), num_steps=4
    )
    captured = capsys.readouterr()
    assert captured.err == ""  # no bar, no log line per scalar write
    lines = captured.out.splitlines()
    assert "  workdir     none (nothing written)" in lines
    assert lines[-1] == "  outputs  none (no workdir)"


def test_eval_line_of_the_default_run():
    evaluation = {
        "eval/gmean_nrmse_100": 0.4055, "eval/mean_nrmse": 1.0, "eval/nrmse_step_1": 0.008543,
        "eval/nrmse_step_10": 0.07421, "eval/nrmse_step_100": 1.735, "eval/correlation_step_1": 0.99,
        "eval/coarse/gmean_nrmse_100": 1.307, "eval/coarse/nrmse_step_1": 1.224,
        "eval/coarse/nrmse_step_10": 1.592, "eval/coarse/nrmse_step_100": 1.345,
    }
    line = console.ConsoleHook().eval_line(2500, evaluation)
    assert line == (
        "eval @ 2500  gmean_nrmse_100 0.406 (coarse 1.31)  "
        "nrmse@1,10,100 0.00854 0.0742 1.74 (coarse 1.22 1.59 1.34)"
    )
    assert len(line) <= 110


def test_format_duration_and_summary_table():
    assert [console.format_duration(s) for s in (0, 42.4, 65, 3599.6, 7380, float("inf"))] == [
        "0s", "42s", "1m05s", "1h00m", "2h03m", "?",
    ]
    table = console.summary_table([("a", "1"), ("long label", "x y")])
    assert table == ["  a           1", "  long label  x y"]
    wrapped = console.summary_table([("k", "alpha beta gamma delta")], width=30, indent="")
    assert wrapped == ["k  alpha beta gamma delta"]  # the text column has at least 20 characters
    wrapped = console.summary_table([("k", " ".join(["word"] * 10))], width=30, indent="")
    assert wrapped == ["k  " + " ".join(["word"] * 5), "   " + " ".join(["word"] * 5)]


def test_config_and_data_summaries_of_the_default_experiment():
    # as train_and_evaluate shows it: the resolved config with the scenario's optim_config
    config = resolve_config(load_config("default"))
    config.optimizer = optimizer_spec(config)
    summary = console.config_summary(config)
    assert summary["model"] == "network Res;32;2;relu, task correct;sequential"
    assert summary["training"] == (
        "method sup;3, optimizer adam;10_000;constant;3e-4, batch 16, steps 10,000, seed 0, data seed 0"
    )
    assert summary["evaluation"] == "every 2,500 steps, 200-step rollouts"
    assert summary["problem"].startswith("diff_adv (advection_gamma=-6.5, ")
    # 40 trajectories of 51 states hold 40 * (51 - 4 + 1) windows of 4 states
    assert console.data_summary((40, 51, 48, 1), (30, 201, 48, 1), 4) == (
        "train 40 x 51 states (1,920 windows of 4), test 30 x 201 states, grid 48, 1 channel"
    )
    assert console.data_summary((2, 5, 32, 32, 2), (1, 9, 32, 32, 2), 5).endswith("grid 32 x 32, 2 channels")


def test_logs_around_bars_is_reentrant_and_restores_handlers():
    root = std_logging.getLogger()
    before, showwarning = list(root.handlers), warnings.showwarning
    with console.logs_around_bars():
        inner = list(root.handlers)
        with console.logs_around_bars():
            assert root.handlers == inner
        assert root.handlers == inner
        absl_handlers = [h for h in inner if isinstance(h, console._AroundBars)]
        assert [h.inner for h in absl_handlers] == [h for h in before if console._is_console_handler(h)]
    assert root.handlers == before and warnings.showwarning is showwarning


def test_third_party_info_is_dropped_warnings_are_kept():
    orbax_dir = console._package_dir("orbax")
    drop = console._DropThirdPartyInfo((orbax_dir,))

    def record(level, pathname, message="m"):
        return std_logging.LogRecord("absl", level, pathname, 1, message, None, None)

    assert not drop.filter(record(std_logging.INFO, os.path.join(orbax_dir, "checkpoint", "x.py")))
    assert drop.filter(record(std_logging.WARNING, os.path.join(orbax_dir, "checkpoint", "x.py")))
    assert drop.filter(record(std_logging.INFO, os.path.join(ROOT, "emutrain", "train", "trainer.py")))
    probe = console._DropBackendProbe()
    message = "Unable to initialize backend 'tpu': INTERNAL: Failed to open libtpu.so"
    assert not probe.filter(record(std_logging.INFO, "xla_bridge.py", message))
    assert not probe.filter(record(std_logging.WARNING, "xla_bridge.py", message))
    assert probe.filter(record(std_logging.ERROR, "xla_bridge.py", message))
    assert probe.filter(record(std_logging.WARNING, "xla_bridge.py", "An NVIDIA GPU may be present"))


def test_write_goes_to_the_current_stdout(capsys):
    console.write("hello")
    console.write("to stderr", file=sys.stderr)
    captured = capsys.readouterr()
    assert captured.out == "hello\n" and captured.err == "to stderr\n"


def test_a_complete_run_started_again_says_so_and_recalls_its_evaluation(tmp_path, capsys):
    def trainer():
        return Trainer(
            tiny.configuration(), tiny.optimizer(), workdir=tmp_path, log_every=2, tensorboard=False,
            hooks=[EvalHook(_eval_fn, every_steps=4)],
        )

    first = trainer().fit(tiny.model(), tiny.loader(), num_steps=4)
    capsys.readouterr()
    again = trainer().fit(tiny.model(), tiny.loader(), num_steps=4)
    captured = capsys.readouterr()
    assert again.losses.shape == (0,)
    assert captured.err == ""  # no progress bar: nothing runs
    lines = captured.out.splitlines()
    final_loss = float(np.mean(first.losses[-2:]))
    assert lines == [
        f"emutrain run: already complete at step 4 (nothing to do), workdir {tmp_path}",
        "summary (already complete at step 4)",
        f"  final loss  {final_loss:.4g}",
        "  eval @ step 4   model  coarse",
        "  gmean_nrmse_10  0.5    1.25",
        f"  outputs        {tmp_path}",
        "    checkpoints  checkpoints/ steps [4]",
    ]
