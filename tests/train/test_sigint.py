"""Ctrl-C (SIGINT) during `fit` stops like a SIGTERM: the dispatch finishes, its step is checkpointed,
the process exits 0 with one line, and a rerun continues bit-identically; a second Ctrl-C raises
`KeyboardInterrupt` at once."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from emutrain.train.preemption import PreemptionNotice

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
RUN = os.path.join(HERE, "run_training.py")
ENV = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=ROOT)


def test_the_first_sigint_asks_to_stop_and_the_second_interrupts():
    before = signal.getsignal(signal.SIGINT)
    with PreemptionNotice() as notice:
        assert notice.mode == "signal" and not notice.reached(1)
        os.kill(os.getpid(), signal.SIGINT)
        assert notice.reached(1) and notice.signal_name == "SIGINT"
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before


def test_sigterm_is_named_and_ignored_signals_stay_ignored():
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with PreemptionNotice() as notice:
            os.kill(os.getpid(), signal.SIGINT)  # ignored, as a background job's Ctrl-C is
            assert not notice.reached(1)
            os.kill(os.getpid(), signal.SIGTERM)
            assert notice.reached(1) and notice.signal_name == "SIGTERM"
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)


def _start(tmp_path, name, workdir, num_steps):
    log, out = tmp_path / f"{name}.log", tmp_path / f"{name}.json"
    with open(log, "w") as file:
        proc = subprocess.Popen([sys.executable, RUN, str(out), str(num_steps), "--workdir", str(workdir)],
                                env=ENV, stdout=file, stderr=file)
    return proc, log, out


def _finish(started, timeout=600):
    proc, log, out = started
    proc.wait(timeout=timeout)
    assert proc.returncode == 0, log.read_text()[-3000:]
    return json.loads(out.read_text())


def test_sigint_exits_zero_with_the_step_checkpointed_and_resumes_bit_identical(tmp_path):
    workdir = tmp_path / "run"
    started = _start(tmp_path, "interrupted", workdir, 100000)
    deadline = time.monotonic() + 600
    while not (workdir / "checkpoints" / "8").exists():  # training is under way
        assert time.monotonic() < deadline and started[0].poll() is None, started[1].read_text()[-3000:]
        time.sleep(0.1)
    started[0].send_signal(signal.SIGINT)
    interrupted = _finish(started, timeout=120)
    step = interrupted["last_step"]
    assert interrupted["preempted"] and 8 <= step < 100000
    lines = [line for line in started[1].read_text().splitlines() if "SIGINT" in line]
    expected = f"SIGINT: stopped after step {step} of 100000; run again to resume"
    assert len(lines) == 1 and lines[0].endswith(expected)
    assert "KeyboardInterrupt" not in started[1].read_text()
    assert str(step) in os.listdir(workdir / "checkpoints")

    resumed = _start(tmp_path, "resumed", workdir, step + 6)
    whole = _start(tmp_path, "whole", tmp_path / "whole", step + 6)
    resumed, whole = _finish(resumed), _finish(whole)
    assert resumed["first_step"] == step + 1
    np.testing.assert_array_equal(interrupted["losses"], whole["losses"][:step])
    np.testing.assert_array_equal(resumed["losses"], whole["losses"][step:])
