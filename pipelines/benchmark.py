r"""Trainer throughput against a plain `jax.jit`-per-step Python loop, side by side in one run.

Workloads:

* ``corrector_1d``: the correction-learning problem (1D advection, N=48, difficulty -6.5, ResNet 32
  channels 2 blocks, batch 16): the one-step predictor (Supervised(1) on the bare ResNet) and the 3-step
  corrector (Supervised(3) on ``SequentialCorrector(coarse physics, ResNet)``).
* ``resnet_2d``: a 2D ResNet (64 channels, 4 blocks, 5-step rollout) in float32 and bf16 compute;
  the default grid and batch are 128^2 x 32 on an accelerator and a reduced size on CPU (flags).

For each workload the same model, data and optimizer run through (a) ``emutrain.train.Trainer`` reading
a Grain loader and (b) a plain loop: host-side numpy batches, one jitted step per call, the loss written
as a Python-unrolled rollout. Times exclude compilation (a warm-up run first).

    python pipelines/benchmark.py
    python pipelines/benchmark.py --steps=2000 --steps_per_dispatch=1,16 --twod_grid=128 --twod_batch=32
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import app, flags
from flax import nnx

from emutrain import configurations, data, nn, physics
from emutrain.train import Trainer

_STEPS = flags.DEFINE_integer("steps", 1000, "Timed optimizer steps per 1D measurement.")
_DISPATCH = flags.DEFINE_list("steps_per_dispatch", ["1", "16"], "Trainer steps_per_dispatch values.")
_TWOD_STEPS = flags.DEFINE_integer("twod_steps", 3, "Timed optimizer steps for the 2D workload.")
_TWOD_GRID = flags.DEFINE_integer(
    "twod_grid", None, "2D grid size (default 128 on GPU/TPU, 32 on CPU).", lower_bound=4
)
_TWOD_BATCH = flags.DEFINE_integer(
    "twod_batch", None, "2D batch size (default 32 on GPU/TPU, 4 on CPU).", lower_bound=1
)
_SKIP_2D = flags.DEFINE_bool("skip_2d", False, "Only run the 1D workloads.")


def _plain_loop_steps_per_second(
    model: nnx.Module, windows: np.ndarray, num_rollout_steps: int, batch_size: int, num_steps: int
) -> float:
    """Steps/s of a plain loop: numpy batch gather on the host, one `jax.jit` call per step."""
    optimizer = optax.adam(3e-4)
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    opt_state = optimizer.init(params)

    def loss_fn(params, batch):
        stepper = nnx.merge(graphdef, params, rest, copy=True)
        u, loss = batch[:, 0], 0.0
        for t in range(num_rollout_steps):
            u = stepper(u)
            loss = loss + jnp.mean(jnp.square(u - batch[:, t + 1]))
        return loss

    @jax.jit
    def step(params, opt_state, batch):
        loss, grads = jax.value_and_grad(loss_fn)(params, batch)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    rng = np.random.default_rng(0)

    def run(n, params, opt_state):
        for _ in range(n):
            batch = windows[rng.integers(0, len(windows), batch_size)]
            params, opt_state, loss = step(params, opt_state, batch)
        jax.block_until_ready(loss)
        return params, opt_state

    params, opt_state = run(5, params, opt_state)
    start = time.perf_counter()
    run(num_steps, params, opt_state)
    return num_steps / (time.perf_counter() - start)


def _trainer_steps_per_second(
    model_fn: Callable[[], nnx.Module],
    trajectories: np.ndarray,
    num_rollout_steps: int,
    batch_size: int,
    num_steps: int,
    steps_per_dispatch: int,
) -> float:
    """Steps/s of `Trainer.fit` after a warm-up fit that compiles the step."""
    configuration = configurations.Supervised(num_rollout_steps)
    source = data.TrajectoryWindows(trajectories, configuration.required_window_length)
    warmup = 4 * steps_per_dispatch
    num_steps = -(-num_steps // steps_per_dispatch) * steps_per_dispatch  # whole dispatches only
    loader = data.make_loader(source, batch_size=batch_size, seed=0, num_steps=warmup + num_steps)
    iterator = iter(loader)
    trainer = Trainer(
        configuration,
        optax.adam(3e-4),
        steps_per_dispatch=steps_per_dispatch,
        log_every=steps_per_dispatch * max(1, 100 // steps_per_dispatch),
        tensorboard=False,
        progress_bar=False,
    )
    result = trainer.fit(model_fn(), iterator, num_steps=warmup)
    start = time.perf_counter()
    result = trainer.fit(result.state, iterator, num_steps=warmup + num_steps)
    jax.block_until_ready(result.state.params)
    return num_steps / (time.perf_counter() - start)


def _correction_learning_data(num_points: int = 48) -> np.ndarray:
    stepper = physics.DifficultyLinearStepperSimple(1, num_points, difficulty=-6.5, order=1)
    ics = physics.build_ic_set(
        physics.RandomTruncatedFourierSeries(1, max_one=True),
        num_points=num_points, num_samples=40, key=jax.random.PRNGKey(773),
    )
    return np.asarray(physics.rollout(stepper, 50, include_init=True)(ics))


def _report(name: str, trainer_rates: dict[int, float], plain: float) -> None:
    for k, rate in trainer_rates.items():
        print(f"{name:34s} Trainer(steps_per_dispatch={k:2d}) {rate:9.1f} steps/s   "
              f"plain jit loop {plain:9.1f} steps/s   ratio {rate / plain:5.2f}")


def benchmark_1d(num_steps: int, dispatches: Sequence[int]) -> None:
    trajectories = _correction_learning_data()
    coarse = physics.DifficultyLinearStepperSimple(1, 48, difficulty=-3.25, order=1)

    def predictor():
        return nn.ResNet(1, 1, 1, hidden_channels=32, num_blocks=2, rngs=nnx.Rngs(0))

    def corrector():
        return nn.SequentialCorrector(nn.PhysicsStepper(coarse), predictor())

    for name, model_fn, rollout in (("one-step predictor", predictor, 1), ("3-step corrector", corrector, 3)):
        windows = data.TrajectoryWindows(trajectories, rollout + 1)
        windows = windows.read_batch(np.arange(len(windows)))
        plain = _plain_loop_steps_per_second(model_fn(), windows, rollout, 16, num_steps)
        rates = {
            k: _trainer_steps_per_second(model_fn, trajectories, rollout, 16, num_steps, k)
            for k in dispatches
        }
        _report(f"1D N=48 {name}", rates, plain)


def benchmark_2d(num_steps: int, grid: int, batch: int) -> None:
    rng = np.random.default_rng(0)
    trajectories = rng.standard_normal((max(2, batch // 2), 12, grid, grid, 1)).astype(np.float32)
    for label, dtype in (("float32", None), ("bf16 compute", jnp.bfloat16)):
        def model_fn(dtype=dtype):
            return nn.ResNet(2, 1, 1, hidden_channels=64, num_blocks=4, compute_dtype=dtype, rngs=nnx.Rngs(0))

        windows = data.TrajectoryWindows(trajectories, 6)
        windows = windows.read_batch(np.arange(len(windows)))
        plain = _plain_loop_steps_per_second(model_fn(), windows, 5, batch, num_steps)
        rate = _trainer_steps_per_second(model_fn, trajectories, 5, batch, num_steps, 1)
        _report(f"2D {grid}^2 B={batch} 5-step {label}", {1: rate}, plain)


def main(argv: Sequence[str]) -> None:
    del argv
    backend = jax.default_backend()
    print(f"backend: {backend}, devices: {jax.devices()}")
    benchmark_1d(_STEPS.value, [int(k) for k in _DISPATCH.value])
    if not _SKIP_2D.value:
        accelerator = backend != "cpu"
        grid = (128 if accelerator else 32) if _TWOD_GRID.value is None else _TWOD_GRID.value
        batch = (32 if accelerator else 4) if _TWOD_BATCH.value is None else _TWOD_BATCH.value
        benchmark_2d(_TWOD_STEPS.value, grid, batch)


if __name__ == "__main__":
    app.run(main)
