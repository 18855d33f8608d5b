r"""How far the default job's losses drift between device counts and dispatch sizes.

Trains the default job (the problem of `configs/default.py` as the README's library example writes it:
1D advection N=48, ResNet 32 channels 2 blocks correcting the coarse solver, Supervised(3), Adam 3e-4,
batch 16; no workdir, no evaluation) for `--steps` steps once per variant, each in its
own process with `XLA_FLAGS=--xla_force_host_platform_device_count=N`, and prints, against the
single-device run with one step per dispatch, the first step that differs at all, the largest relative
difference of a single step's loss up to a few step counts, and the relative difference of the loss
averaged over the 100 steps before each of them:

    python pipelines/benchmark_equivalence.py --steps=3000 --variants=1x1,1x4,2x1,4x1,8x1

A variant `NxK` is N simulated devices and K = `steps_per_dispatch`; `1x1` is the reference and is run
twice (the same variant must be bit-identical).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from absl import app, flags

_STEPS = flags.DEFINE_integer("steps", 3000, "Optimizer steps per run.")
_VARIANTS = flags.DEFINE_list("variants", ["1x1", "1x4", "2x1", "4x1", "8x1"], "DEVICESxDISPATCH variants.")
_CHECKPOINTS = flags.DEFINE_list("at", ["10", "100", "300", "1000", "3000"], "Report the drift up to these.")
_OUT_DIR = flags.DEFINE_string("out_dir", None, "Keep each variant's losses here; reruns reuse them.")

_RUN = r"""
import sys
import jax, numpy as np, optax
from flax import nnx
from emutrain import configurations, data, nn, physics
from emutrain.train import Trainer
num_steps, dispatch = int(sys.argv[1]), int(sys.argv[2])
reference = physics.DifficultyLinearStepperSimple(1, 48, difficulty=-6.5)
coarse = physics.DifficultyLinearStepperSimple(1, 48, difficulty=-3.25)
ic = physics.RandomTruncatedFourierSeries(1, max_one=True)
key = jax.random.PRNGKey(773)
train_set = data.generate_trajectories(reference, ic, num_samples=40, num_steps=50, key=key)
resnet = nn.ResNet(1, 1, 1, hidden_channels=32, num_blocks=2, rngs=nnx.Rngs(0))
model = nn.SequentialCorrector(coarse, resnet)
configuration = configurations.Supervised(3)
loader = data.make_loader(data.TrajectoryWindows(train_set, 4), batch_size=16, seed=0)
trainer = Trainer(
    configuration, optax.adam(3e-4), steps_per_dispatch=dispatch, log_every=10, tensorboard=False,
    progress_bar=False,
)
np.save(sys.argv[3], trainer.fit(model, loader, num_steps=num_steps).losses)
"""


def run_variant(devices: int, dispatch: int, num_steps: int, out: str) -> np.ndarray:
    """The `(num_steps,)` losses of the default job on `devices` simulated CPU devices (read from `out`
    when a previous run left them there)."""
    if os.path.exists(out):
        return np.load(out)
    env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
    subprocess.run([sys.executable, "-c", _RUN, str(num_steps), str(dispatch), out], env=env, check=True)
    return np.load(out)


def drift_report(reference: np.ndarray, other: np.ndarray, at: list[int]) -> dict:
    """Against `reference`: the first differing step, and up to each step n in `at` the largest relative
    difference of a single step's loss and the relative difference of the mean loss over steps
    (n - 100, n] (what a logged, averaged loss shows)."""
    relative = np.abs(other - reference) / np.abs(reference)
    differing = np.flatnonzero(other != reference)
    report = {"first_differing_step": int(differing[0]) + 1 if differing.size else None}
    for n in (n for n in at if n <= len(reference)):
        window = slice(max(0, n - 100), n)
        mean_ref, mean_other = reference[window].mean(), other[window].mean()
        report[f"max_step_rel_diff_to_{n}"] = float(relative[:n].max())
        report[f"mean100_rel_diff_at_{n}"] = float(abs(mean_other - mean_ref) / abs(mean_ref))
    return report


def main(argv):
    del argv
    at = [int(n) for n in _CHECKPOINTS.value]
    variants = [tuple(int(x) for x in v.split("x")) for v in _VARIANTS.value]
    with tempfile.TemporaryDirectory() as tmp:
        directory = _OUT_DIR.value or tmp
        os.makedirs(directory, exist_ok=True)
        reference = run_variant(1, 1, _STEPS.value, os.path.join(directory, f"reference_{_STEPS.value}.npy"))
        report = {"steps": _STEPS.value}
        for devices, dispatch in variants:
            out = os.path.join(directory, f"{devices}x{dispatch}_{_STEPS.value}.npy")
            losses = run_variant(devices, dispatch, _STEPS.value, out)
            report[f"{devices}x{dispatch}"] = drift_report(reference, losses, at)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    app.run(main)
