r"""emutrain's Trainer against trainax (the Equinox trainer of the same configurations), side by side.

Both train the correction-learning workload of the README on the same data with Adam(3e-4) and batch 16:
1D advection (N = 48, difficulty -6.5), a ResNet of 32 channels and 2 classic residual blocks of periodic
3-point convolutions between pointwise lifting and projection (the same 12,513 parameters in both), as

* a one-step predictor (`Supervised(1)` on the bare ResNet), and
* a 3-step corrector (`Supervised(3)` on the ResNet after the coarse solver of difficulty -3.25).

trainax is installed from the package registry (`pip install -e ".[bench]"`). Each side's rate is the step
difference of two runs over their time difference, so compilation and start-up cancel out.

    python pipelines/benchmark_peer.py --steps=1000 --repeats=3
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import numpy as np
import optax
import trainax
from absl import app, flags
from flax import nnx

from emutrain import configurations, data, nn, physics
from emutrain.train import Trainer

_STEPS = flags.DEFINE_integer("steps", 1000, "Optimizer steps of the longer of the two timed runs per side.")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Measurements per side (the best is reported).")

NUM_POINTS, HIDDEN, BLOCKS, BATCH = 48, 32, 2, 16


class EquinoxResNet(eqx.Module):
    """emutrain's `nn.ResNet(1, 1, 1, hidden_channels=32, num_blocks=2)` in Equinox, channels-first."""

    lifting: eqx.nn.Conv1d
    convs: list
    projection: eqx.nn.Conv1d

    def __init__(self, key: jax.Array):
        keys = jax.random.split(key, 2 + 2 * BLOCKS)
        self.lifting = eqx.nn.Conv1d(1, HIDDEN, 1, key=keys[0])
        self.convs = [
            eqx.nn.Conv1d(HIDDEN, HIDDEN, 3, padding=1, padding_mode="CIRCULAR", key=k) for k in keys[2:]
        ]
        self.projection = eqx.nn.Conv1d(HIDDEN, 1, 1, key=keys[1])

    def __call__(self, u: jax.Array) -> jax.Array:
        h = self.lifting(u)
        for first, second in zip(self.convs[::2], self.convs[1::2]):
            h = jax.nn.relu(h + second(jax.nn.relu(first(h))))
        return self.projection(h)


class EquinoxCorrector(eqx.Module):
    """The ResNet applied after the coarse solver (emutrain physics, channels-last inside)."""

    network: EquinoxResNet

    def __call__(self, u: jax.Array) -> jax.Array:
        return self.network(_coarse()(u.T).T)


def _coarse() -> physics.DifficultyLinearStepperSimple:
    return physics.DifficultyLinearStepperSimple(1, NUM_POINTS, difficulty=-3.25, order=1)


def _trajectories() -> np.ndarray:
    """`(40, 51, 48, 1)` reference trajectories of the correction-learning problem."""
    stepper = physics.DifficultyLinearStepperSimple(1, NUM_POINTS, difficulty=-6.5, order=1)
    ics = physics.build_ic_set(
        physics.RandomTruncatedFourierSeries(1, max_one=True),
        num_points=NUM_POINTS,
        num_samples=40,
        key=jax.random.PRNGKey(773),
    )
    return np.asarray(physics.rollout(stepper, 50, include_init=True)(ics))


def _rate(run: Callable[[int], None], num_steps: int, repeats: int) -> float:
    """Best steps/s over `repeats` of `(num_steps - num_steps // 4)` steps, from two timed runs each."""
    short = num_steps // 4
    run(short)  # compiles
    rates = []
    for _ in range(repeats):
        times = []
        for n in (short, num_steps):
            start = time.perf_counter()
            run(n)
            times.append(time.perf_counter() - start)
        rates.append((num_steps - short) / (times[1] - times[0]))
    return max(rates)


def _emutrain_run(trajectories: np.ndarray, model_fn: Callable[[], nnx.Module], rollout: int):
    configuration = configurations.Supervised(rollout)
    source = data.TrajectoryWindows(trajectories, configuration.required_window_length)
    trainer = Trainer(configuration, optax.adam(3e-4), progress_bar=False)

    def run(num_steps: int) -> None:
        loader = data.make_loader(source, batch_size=BATCH, seed=0, num_steps=num_steps)
        result = trainer.fit(model_fn(), iter(loader), num_steps=num_steps)
        jax.block_until_ready(result.state.params)

    return run


def _trainax_run(trajectories: np.ndarray, model_fn: Callable[[], eqx.Module], rollout: int):
    channels_first = np.moveaxis(trajectories, -1, 2)  # (S, T+1, C, N)

    def run(num_steps: int) -> None:
        trainer = trainax.trainer.SupervisedTrainer(
            channels_first,
            optimizer=optax.adam(3e-4),
            num_training_steps=num_steps,
            batch_size=BATCH,
            num_rollout_steps=rollout,
        )
        model, _ = trainer(model_fn(), jax.random.PRNGKey(0), spawn_tqdm=False)
        jax.block_until_ready(eqx.filter(model, eqx.is_array))

    return run


def main(argv: Sequence[str]) -> None:
    del argv
    print(f"backend: {jax.default_backend()}, devices: {jax.devices()}, trainax {trainax.__name__}")
    trajectories = _trajectories()
    key = jax.random.PRNGKey(0)
    workloads = {
        "one-step predictor": (
            lambda: nn.ResNet(1, 1, 1, hidden_channels=HIDDEN, num_blocks=BLOCKS, rngs=nnx.Rngs(0)),
            lambda: EquinoxResNet(key),
            1,
        ),
        "3-step corrector": (
            lambda: nn.SequentialCorrector(
                _coarse(), nn.ResNet(1, 1, 1, hidden_channels=HIDDEN, num_blocks=BLOCKS, rngs=nnx.Rngs(0))
            ),
            lambda: EquinoxCorrector(EquinoxResNet(key)),
            3,
        ),
    }
    for name, (emutrain_model, equinox_model, rollout) in workloads.items():
        ours = nn.count_parameters(emutrain_model())
        theirs = sum(x.size for x in jax.tree.leaves(eqx.filter(equinox_model(), eqx.is_array)))
        if ours != theirs:
            raise AssertionError(f"parameter counts differ: emutrain {ours}, equinox {theirs}")
        emutrain_rate = _rate(
            _emutrain_run(trajectories, emutrain_model, rollout), _STEPS.value, _REPEATS.value
        )
        trainax_rate = _rate(_trainax_run(trajectories, equinox_model, rollout), _STEPS.value, _REPEATS.value)
        print(
            f"{name:20s} ({ours} parameters)  emutrain Trainer {emutrain_rate:8.1f} steps/s   "
            f"trainax {trainax_rate:8.1f} steps/s   ratio {emutrain_rate / trainax_rate:5.2f}"
        )


if __name__ == "__main__":
    app.run(main)
