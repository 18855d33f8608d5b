"""Subprocess checks: 8 simulated devices against 1, the caller's arrays untouched by `fit` on 8 devices,
ensemble members trained as a loop and vmapped on 1, 2, 4 and 8 devices,
resuming after SIGKILL (mid-run and during a checkpoint write) with bit-identical subsequent losses, and
a SIGTERM that checkpoints the current step and exits cleanly."""

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import train_tiny as tiny

from emutrain.train import Trainer

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "run_training.py")


def _python(*args, devices, timeout=300):
    """`python *args` in a subprocess on `devices` simulated CPU devices."""
    env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
    return subprocess.run(
        [sys.executable, *map(str, args)], env=env, capture_output=True, text=True, timeout=timeout
    )


def _inline_report(script, *args, timeout=300):
    """Runs `script` (its argv[1]: the folder of the test helpers) on 8 simulated devices; returns the
    JSON it prints last."""
    proc = _python("-c", script, os.path.dirname(SCRIPT), *args, devices=8, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _run(tmp_path, *args, devices=1):
    out = tmp_path / "out.json"
    proc = _python(SCRIPT, out, *args, devices=devices)
    return proc, (json.loads(out.read_text()) if out.exists() else None)


def _trainer(workdir=None):
    return Trainer(
        tiny.configuration(), tiny.optimizer(), workdir=workdir, checkpoint_every=4, log_every=2,
        tensorboard=False, progress_bar=False,
    )


@pytest.fixture(scope="module")
def uninterrupted():
    """Per-step losses of 12 uninterrupted steps (steps 1..12)."""
    return _trainer().fit(tiny.model(), tiny.loader(), num_steps=12).losses


def test_eight_devices_match_one_device(tmp_path):
    proc, report = _run(tmp_path, 50, devices=8)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert report["devices"] == 8
    single = _trainer().fit(tiny.model(), tiny.loader(), num_steps=50).losses
    np.testing.assert_allclose(report["losses"], single, rtol=1e-5, atol=1e-6)
    proc, report = _run(tmp_path, 4, "--batch-size", 12, devices=8)
    assert report["error"] == "global batch size must be divisible by the number of devices (8), got 12"


UNTOUCHED = r"""
import json, sys
import jax, numpy as np
from flax import nnx
sys.path.insert(0, sys.argv[1])
import train_tiny as tiny
from emutrain import nn
from emutrain.train import Trainer

def values(tree):
    return [np.array(leaf) for leaf in jax.tree.leaves(tree)]  # raises for a deleted (donated) buffer

trainer = Trainer(tiny.configuration(), tiny.optimizer(), log_every=2, tensorboard=False, progress_bar=False)
report = {"devices": jax.device_count()}
ensemble = nn.Ensemble(tiny.TinyStepper, 2, num_spatial_dims=1, rngs=nnx.Rngs(1))
for name, model in (("model", tiny.model()), ("ensemble", ensemble)):
    before = values(nnx.state(model))
    result = trainer.fit(model, tiny.loader(), num_steps=2)
    state_before = values(result.state)
    trainer.fit(result.state, tiny.loader(), num_steps=4)  # the caller's TrainState is an input too
    pairs = list(zip(before, values(nnx.state(model)))) + list(zip(state_before, values(result.state)))
    complete = len(pairs) == len(before) + len(state_before)
    report[name] = complete and all(np.array_equal(a, b) for a, b in pairs)
print(json.dumps(report))
"""


def test_fit_leaves_the_callers_arrays_alone_on_eight_devices():
    assert _inline_report(UNTOUCHED) == {"devices": 8, "model": True, "ensemble": True}


MEMBERS = r"""
import json, sys
import jax, numpy as np
from flax import nnx
sys.path.insert(0, sys.argv[1])
import train_tiny as tiny
from emutrain import nn
from emutrain.train import TrainState, make_mesh
from emutrain.train.step import TrainStep

iterator = iter(tiny.loader())
batches = [np.asarray(next(iterator))[None] for _ in range(int(sys.argv[2]))]

def run(members, devices):
    mesh = None if devices == 1 else make_mesh(devices=jax.devices()[:devices])
    optimizer = tiny.optimizer()
    ensemble = nn.Ensemble(tiny.TinyStepper, 3, num_spatial_dims=1, rngs=nnx.Rngs(1))
    live = TrainStep(tiny.configuration(), optimizer, mesh=mesh, members=members).start(
        TrainState.create(ensemble, optimizer, key=0)
    )
    for batch in batches:  # no host sync between steps: the step itself bounds the queue
        live.advance(batch)
    return live.losses(), jax.tree.leaves(live.state.params)

reference_losses, reference_params = run("loop", 1)
report = {"first": reference_losses[:20].mean(0).tolist(), "last": reference_losses[-20:].mean(0).tolist()}
for devices in (1, 2, 4, 8):
    for members in ("loop", "vmap"):
        losses, params = run(members, devices)
        loss_error = np.max(np.abs(losses - reference_losses) / np.abs(reference_losses))
        param_error = max(
            np.max(np.abs(a - b)) / np.max(np.abs(b)) for a, b in zip(params, reference_params, strict=True)
        )
        report[f"{members}/{devices}"] = [float(loss_error), float(param_error)]
print(json.dumps(report))
"""


def test_member_loop_and_vmap_agree_on_one_to_eight_devices_over_300_steps():
    report = _inline_report(MEMBERS, 300, timeout=600)
    # the members really train (mean loss of the last 20 steps against the first 20), each its own way
    assert max(report["last"]) < 0.6 * min(report["first"])
    assert len(set(report["last"])) == 3
    for devices in (1, 2, 4, 8):
        for members in ("loop", "vmap"):
            loss_error, param_error = report[f"{members}/{devices}"]
            assert loss_error < 1e-5 and param_error < 1e-6, (members, devices, loss_error, param_error)


@pytest.mark.parametrize(
    "kill, resumed_from",
    [(("--kill-at-step", 6), 4), (("--kill-in-checkpoint", 8), 4)],
    ids=["mid-run", "during-checkpoint-write"],
)
def test_sigkill_resumes_bit_identical(tmp_path, uninterrupted, kill, resumed_from):
    workdir = tmp_path / "run"
    proc, report = _run(tmp_path, 12, "--workdir", workdir, *kill)
    assert proc.returncode == -signal.SIGKILL and report is None, proc.stderr[-2000:]
    trainer = _trainer(workdir)
    assert trainer.checkpointer.latest_step() == resumed_from
    result = trainer.fit(tiny.model(), tiny.loader(), num_steps=12)
    assert result.first_step == resumed_from + 1
    np.testing.assert_array_equal(result.losses, uninterrupted[resumed_from:])


def test_sigterm_checkpoints_the_step_exits_cleanly_and_resumes_bit_identical(tmp_path, uninterrupted):
    workdir = tmp_path / "run"
    proc, report = _run(tmp_path, 12, "--workdir", workdir, "--sigterm-at-step", 5)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "SIGTERM: stopped after step 6 of 12; run again to resume" in proc.stderr
    assert report["preempted"] and report["last_step"] == 6
    np.testing.assert_array_equal(report["losses"], uninterrupted[:6])
    trainer = _trainer(workdir)
    assert trainer.checkpointer.all_steps() == [4, 6]
    result = trainer.fit(tiny.model(), tiny.loader(), num_steps=12)
    assert result.first_step == 7 and not result.preempted
    np.testing.assert_array_equal(result.losses, uninterrupted[6:])
