"""Two real `jax.distributed` processes on localhost (explicit coordinator address, process count and id):
they generate half of the datasets each, train the quick config with the losses of one process (same
global batch), write one set of events and checkpoints, resume with two processes (every sample split
over both: mesh space=2) and with one (reading the datasets the two wrote); a SIGTERM to one of them
stops both at the same step with a checkpoint and exit code 0. Also: the data position is stored once per
checkpoint and checkpoints with Grain's older per-process item still resume, with any process count."""

import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import train_tiny as tiny

from emutrain import data
from emutrain.train import Trainer, initialize_distributed

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
WORKER = os.path.join(HERE, "multihost_worker.py")
QUICK = os.path.join(ROOT, "configs", "default.py") + ":quick"

# measured: two processes against one, <= 1.4e-7 relative over 40 steps (1e-7 over 11)
RTOL = 1e-5


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


def _start(tmp_path, name, workdir, num_processes, *flags, data_dir=True):
    """Starts `num_processes` workers of one run; returns `[(process, log path, report path)]`. With
    `data_dir=False` the run generates the scenario's datasets in its workdir, each process its share."""
    port = _free_port()
    env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS="--xla_force_host_platform_device_count=1")
    started = []
    for i in range(num_processes):
        log, out = tmp_path / f"{name}{i}.log", tmp_path / f"{name}{i}.json"
        args = [
            sys.executable,
            WORKER,
            f"--out={out}",
            f"--config={QUICK}",
            f"--workdir={workdir}",
            "--config.train.progress_bar=False",
            *flags,
        ]
        if data_dir:
            args.append(f"--config.data_dir={tmp_path / 'data'}")
        if num_processes > 1:
            args += [
                f"--config.distributed.coordinator_address=localhost:{port}",
                f"--config.distributed.num_processes={num_processes}",
                f"--config.distributed.process_id={i}",
            ]
        with open(log, "w") as log_file:
            started.append((subprocess.Popen(args, env=env, stdout=log_file, stderr=log_file), log, out))
    return started


def _finish(started, timeout=600):
    reports = []
    for proc, log, out in started:
        proc.wait(timeout=timeout)
        assert proc.returncode == 0, log.read_text()[-3000:]
        reports.append(json.loads(out.read_text()))
    return reports


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """The quick config's train and test trajectories as a `config.data_dir`."""
    from emutrain import experiment

    config = experiment.load_config("default", "quick")
    path = tmp_path_factory.mktemp("multihost")
    for split in ("train", "test"):
        data.save_trajectories(path / "data" / split, experiment.build_trajectories(config, split))
    return path


def _events(workdir):
    return glob.glob(os.path.join(workdir, "**", "events.out.tfevents.*"), recursive=True)


def _data_position(workdir, step):
    with open(os.path.join(workdir, "checkpoints", str(step), "data_position", "metadata")) as file:
        return json.load(file)


def test_two_processes_train_resume_and_resume_with_one(run_dir):
    single, pair = run_dir / "single", run_dir / "pair"
    reference = _start(run_dir, "single", single, 1, "--config.train.num_steps=40", data_dir=False)
    first = _start(run_dir, "pair", pair, 2, "--config.train.num_steps=20", data_dir=False)
    (reference,) = _finish(reference)
    first = _finish(first)
    layout = [(r["process_index"], r["process_count"], r["device_count"]) for r in first]
    assert layout == [(0, 2, 2), (1, 2, 2)]
    assert first[0]["losses"] == first[1]["losses"] and first[0]["first_step"] == 1
    np.testing.assert_allclose(first[0]["losses"], reference["losses"][:20], rtol=RTOL)
    # one set of outputs: process 0's events, plots and arrays; one data position per checkpoint
    assert len(_events(pair)) == 1
    assert {name.split(".")[0] for name in os.listdir(pair / "eval")} == {"step_20"}
    assert sorted(os.listdir(pair / "checkpoints")) == ["20"]
    assert _data_position(pair, 20) == {"next_index": 20}

    alone = run_dir / "alone"
    shutil.copytree(pair, alone)
    # the one-process run reads the datasets the two processes wrote (half each); the two processes resume
    # on mesh (data=1, space=2): every sample split over both, each reading its half of X
    again = _start(
        run_dir, "again", pair, 2, "--config.train.num_steps=40", "--config.mesh.space=2", data_dir=False
    )
    one = _start(run_dir, "one", alone, 1, "--config.train.num_steps=40", data_dir=False)
    again, (one,) = _finish(again), _finish(one)
    for report in (again[0], again[1], one):
        assert report["first_step"] == 21 and report["last_step"] == 40
        np.testing.assert_allclose(report["losses"], reference["losses"][20:], rtol=RTOL)
    assert again[0]["losses"] == again[1]["losses"]
    assert len(_events(pair)) == 2 and len(_events(alone)) == 2  # one more file per resumed run
    assert sorted(os.listdir(alone / "checkpoints")) == ["20", "40"]
    assert _data_position(alone, 40) == _data_position(pair, 40) == {"next_index": 40}


def test_sigterm_to_one_process_stops_both_at_the_same_step(run_dir):
    workdir = run_dir / "preempted"
    started = _start(
        run_dir,
        "sigterm",
        workdir,
        2,
        "--config.train.num_steps=20000",
        "--config.train.log_every=5",
        "--config.train.checkpoint_every=20000",
        "--config.eval.every=20000",
    )
    log0, metrics = started[0][1], workdir / "metrics.jsonl"
    deadline = time.monotonic() + 600
    while not (metrics.exists() and metrics.stat().st_size):  # process 0 wrote the first metrics
        assert time.monotonic() < deadline and started[0][0].poll() is None, log0.read_text()[-3000:]
        time.sleep(0.5)
    sent = time.monotonic()
    started[1][0].send_signal(signal.SIGTERM)  # only process 1 is told
    reports = _finish(started, timeout=120)
    waited = time.monotonic() - sent
    step = reports[0]["last_step"]
    assert reports[0]["preempted"] and reports[1]["preempted"] and reports[1]["last_step"] == step
    assert 5 <= step < 20000 and waited < 120
    assert sorted(os.listdir(workdir / "checkpoints")) == [str(step)]
    assert _data_position(workdir, step) == {"next_index": step}
    for log in (started[0][1], started[1][1]):
        assert f"SIGTERM: stopped after step {step} of 20000; run again to resume" in log.read_text()
    # the preempted two-process run resumes with one process
    (resumed,) = _finish(_start(run_dir, "after", workdir, 1, f"--config.train.num_steps={step + 4}"))
    assert resumed["first_step"] == step + 1 and len(resumed["losses"]) == 4 and not resumed["preempted"]


def _trainer(workdir):
    return Trainer(
        tiny.configuration(),
        tiny.optimizer(),
        workdir=workdir,
        checkpoint_every=4,
        log_every=None,
        tensorboard=False,
        progress_bar=False,
    )


def test_data_position_is_global_and_old_per_process_items_still_resume(tmp_path):
    uninterrupted = _trainer(None).fit(tiny.model(), tiny.loader(), num_steps=8).losses
    _trainer(tmp_path).fit(tiny.model(), tiny.loader(), num_steps=4)
    step_dir = tmp_path / "checkpoints" / "4"
    assert (step_dir / "data_position" / "metadata").read_text() == '{"next_index": 4}'
    assert not (step_dir / "data_iter").exists()
    # An older checkpoint written by 2 processes: Grain's per-process files, no global position.
    shutil.rmtree(step_dir / "data_position")
    (step_dir / "data_iter").mkdir()
    for i in range(2):
        (step_dir / "data_iter" / f"process_{i}-of-2.json").write_text('{"next_index": 4}')
    result = _trainer(tmp_path).fit(tiny.model(), tiny.loader(), num_steps=8)
    assert result.first_step == 5
    np.testing.assert_array_equal(result.losses, uninterrupted[4:])


def test_initialize_distributed_passes_exactly_the_given_fields(monkeypatch):
    import jax

    calls = []
    monkeypatch.setattr(jax.distributed, "initialize", lambda **kwargs: calls.append(kwargs))
    monkeypatch.setattr(jax.distributed, "is_initialized", lambda: bool(calls))
    unset = dict.fromkeys(("coordinator_address", "num_processes", "process_id", "local_device_ids"))
    unset["auto"] = False
    assert initialize_distributed(None) is False
    assert initialize_distributed(False) is False  # the older schema's "one process"
    assert initialize_distributed(unset) is False and calls == []
    with pytest.raises(TypeError, match=r"use --config.distributed.auto=True"):
        initialize_distributed(True)
    with pytest.raises(ValueError, match=r"give no explicit fields with it, got \['num_processes'\]"):
        initialize_distributed({**unset, "auto": True, "num_processes": 2})
    with pytest.raises(ValueError, match=r"unknown fields \['coordinator'\]"):
        initialize_distributed({"coordinator": "localhost:1"})
    with pytest.raises(ValueError, match="comma-separated"):
        initialize_distributed({**unset, "local_device_ids": "0;1"})
    with pytest.raises(TypeError, match="auto must be a bool"):
        initialize_distributed({**unset, "auto": 1})
    group = {
        **unset,
        "coordinator_address": "localhost:1234",
        "num_processes": 2,
        "process_id": 1,
        "local_device_ids": "0,1",
    }
    assert initialize_distributed(group) is True
    assert calls == [
        dict(coordinator_address="localhost:1234", num_processes=2, process_id=1, local_device_ids=[0, 1])
    ]
    assert initialize_distributed({**unset, "auto": True}) is True and len(calls) == 1  # already joined
    calls.clear()
    monkeypatch.setattr(jax.distributed, "is_initialized", lambda: False)
    assert initialize_distributed({**unset, "auto": True}) is True and calls == [{}]
