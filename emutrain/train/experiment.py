"""`train_and_evaluate(config, workdir)`: the experiment behind `pipelines/train.py` and the notebooks."""

from __future__ import annotations

import os
from typing import Any

import jax
import optax
from absl import logging
from flax import nnx

from emutrain import configurations, data, evaluate, nn, physics
from emutrain.train import sharding
from emutrain.train.trainer import FitResult, Trainer


def _trajectories(reference: Any, *, num_samples: int, num_steps: int, seed: int):
    ic = physics.RandomTruncatedFourierSeries(1, max_one=True)
    return data.generate_trajectories(
        reference, ic, num_samples=num_samples, num_steps=num_steps, key=jax.random.PRNGKey(seed)
    )


def _model(config: Any) -> nnx.Module:
    """A ResNet, wrapped as a `SequentialCorrector` of the coarse solver when `config.coarse` is set."""
    p = config.physics
    net = nn.ResNet(
        p.num_spatial_dims, 1, 1, hidden_channels=config.model.hidden_channels,
        num_blocks=config.model.num_blocks, rngs=nnx.Rngs(config.seed),
    )
    if config.coarse is None:
        return net
    coarse = physics.DifficultyLinearStepperSimple(
        p.num_spatial_dims, p.num_points, difficulty=config.coarse.difficulty, order=p.order
    )
    return nn.SequentialCorrector(coarse, net)


def train_and_evaluate(config: Any, workdir: str | os.PathLike) -> FitResult:
    """Generates the train/test trajectories, builds the model and trains it with periodic rollout
    evaluation; TensorBoard events, checkpoints (resumed if present) and plots go to `workdir`.

    Args:
      config: an `ml_collections.ConfigDict` shaped like `configs/default.py`'s.
      workdir: the run directory.

    Returns:
      the `FitResult` (final train state, per-step losses, last written metrics).
    """
    if config.distributed:
        sharding.initialize_distributed()
    workdir = os.path.abspath(os.fspath(workdir))
    p, d, t = config.physics, config.data, config.train
    reference = physics.DifficultyLinearStepperSimple(
        p.num_spatial_dims, p.num_points, difficulty=p.difficulty, order=p.order
    )
    train_set = _trajectories(
        reference, num_samples=d.num_train_samples, num_steps=d.num_train_steps, seed=d.train_seed
    )
    test_set = _trajectories(
        reference, num_samples=d.num_test_samples, num_steps=d.num_test_steps, seed=d.test_seed
    )
    num_processes = jax.process_count()
    if t.batch_size % num_processes:
        raise ValueError(
            f"train.batch_size must be divisible by the number of processes ({num_processes}), "
            f"got {t.batch_size}"
        )
    configuration = configurations.Supervised(config.num_rollout_steps)
    loader = data.make_loader(
        data.TrajectoryWindows(train_set, configuration.required_window_length),
        batch_size=t.batch_size // num_processes, seed=t.data_seed,
        shard_index=jax.process_index(), shard_count=num_processes,
    )
    mesh = sharding.make_data_mesh()
    eval_fn = evaluate.make_eval_fn(
        test_set, num_steps=config.eval.num_steps, batch_size=config.eval.batch_size,
        sharding=mesh, plot_dir=os.path.join(workdir, "plots"),
    )
    schedule = optax.constant_schedule(t.learning_rate)
    trainer = Trainer(
        configuration, optax.adam(schedule), learning_rate=schedule,
        steps_per_dispatch=t.steps_per_dispatch, mesh=mesh, workdir=workdir,
        checkpoint_every=t.checkpoint_every, max_to_keep=t.max_to_keep, log_every=t.log_every,
        eval_fn=eval_fn, eval_every=config.eval.every, seed=config.seed, config=config.to_dict(),
        tensorboard=t.tensorboard, profile=t.profile, progress_bar=t.progress_bar,
    )
    result = trainer.fit(_model(config), loader, num_steps=t.num_steps)
    logging.info("final metrics: %s", result.metrics)
    return result
