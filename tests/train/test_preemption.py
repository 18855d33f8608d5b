"""SIGTERM sent from outside to a training pipeline: it exits 0 within seconds with one line saying where it
stopped, leaves the checkpoint of that step, and a rerun continues bit-identically to an uninterrupted
run. The old `--config.distributed=True` is answered with how to use the group."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
WORKER = os.path.join(HERE, "multihost_worker.py")
QUICK = os.path.join(ROOT, "configs", "default.py") + ":quick"
ENV = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS="--xla_force_host_platform_device_count=1")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """The quick config's trajectories as a `config.data_dir`."""
    from emutrain import data, experiment

    config = experiment.load_config("default", "quick")
    path = tmp_path_factory.mktemp("preemption") / "data"
    for split in ("train", "test"):
        data.save_trajectories(path / split, experiment.build_trajectories(config, split))
    return path


def _start(tmp_path, name, workdir, data_dir, num_steps, *flags):
    log, out = tmp_path / f"{name}.log", tmp_path / f"{name}.json"
    args = [
        sys.executable,
        WORKER,
        f"--out={out}",
        f"--config={QUICK}",
        f"--workdir={workdir}",
        f"--config.data_dir={data_dir}",
        "--config.train.progress_bar=False",
        f"--config.train.num_steps={num_steps}",
        *flags,
    ]
    with open(log, "w") as log_file:
        return subprocess.Popen(args, env=ENV, stdout=log_file, stderr=log_file), log, out


def _finish(started, timeout=600):
    proc, log, out = started
    proc.wait(timeout=timeout)
    assert proc.returncode == 0, log.read_text()[-3000:]
    return json.loads(out.read_text())


def test_sigterm_exits_zero_with_the_step_checkpointed_and_resumes_bit_identical(tmp_path, data_dir):
    workdir = tmp_path / "run"
    started = _start(
        tmp_path,
        "preempted",
        workdir,
        data_dir,
        20000,
        "--config.train.log_every=5",
        "--config.train.checkpoint_every=20000",
        "--config.eval.every=20000",
    )
    deadline = time.monotonic() + 600
    metrics = workdir / "metrics.jsonl"
    while not (metrics.exists() and metrics.stat().st_size):  # the first metrics (step 5) are written
        assert time.monotonic() < deadline and started[0].poll() is None, started[1].read_text()[-3000:]
        time.sleep(0.2)
    sent = time.monotonic()
    started[0].send_signal(signal.SIGTERM)
    preempted = _finish(started, timeout=120)
    waited = time.monotonic() - sent
    step = preempted["last_step"]
    assert preempted["preempted"] and preempted["first_step"] == 1 and 5 <= step < 20000
    assert waited < 60, waited  # a few seconds when the machine is not overloaded
    lines = [line for line in started[1].read_text().splitlines() if "SIGTERM" in line]
    expected = f"SIGTERM: stopped after step {step} of 20000; run again to resume"
    assert len(lines) == 1 and lines[0].endswith(expected)
    assert sorted(os.listdir(workdir / "checkpoints")) == [str(step)]

    resumed = _start(tmp_path, "resumed", workdir, data_dir, step + 5)
    uninterrupted = _start(tmp_path, "uninterrupted", tmp_path / "whole", data_dir, step + 5)
    resumed, uninterrupted = _finish(resumed), _finish(uninterrupted)
    assert resumed["first_step"] == step + 1 and not resumed["preempted"]
    np.testing.assert_array_equal(preempted["losses"], uninterrupted["losses"][:step])
    np.testing.assert_array_equal(resumed["losses"], uninterrupted["losses"][step:])


def test_the_old_distributed_switch_is_answered_with_the_group_flags(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            os.path.join(ROOT, "pipelines", "train.py"),
            "--config.distributed=True",
            f"--workdir={tmp_path}",
        ],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        "FATAL Flags parsing error: config.distributed is a group, not a bool: use "
        "--config.distributed.auto=True to detect the cluster (Cloud TPU, SLURM, Open MPI, ...), or give "
        "--config.distributed.coordinator_address=HOST:PORT --config.distributed.num_processes=N "
        "--config.distributed.process_id=I; got --config.distributed=True"
    )
    assert os.listdir(tmp_path) == []
