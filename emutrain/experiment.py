"""Config-driven experiments: `train_and_evaluate(config, workdir)` and the builders behind it.

The config is an `ml_collections.ConfigDict` shaped like `configs/default.py`'s: a reference solver
(`config.physics`), an optional coarse solver (`config.coarse`, None for a pure predictor), train and
test trajectories (`config.data`), a ResNet (`config.model`), a training configuration
(`config.configuration`, with the top-level `config.num_rollout_steps`), the optimizer and loop settings
(`config.train`) and the periodic rollout evaluation (`config.eval`). Every piece is built by a public
function so notebooks and `pipelines/evaluate.py` use exactly what training used.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
import optax
from absl import logging
from flax import nnx

from emutrain import configurations, data, evaluate, nn, physics
from emutrain.config_checks import validate_config
from emutrain.train import CheckpointHook, EvalHook, FitResult, ProfileHook, Trainer, sharding
from emutrain.train.checkpoint import check_resume

CONFIGURATION_NAMES = ("supervised", "diverted_chain_branch_one", "diverted_chain")
REF_STEPPER_NAMES = ("reference", "coarse")
SPLITS = ("train", "test")


def build_reference(config: Any) -> physics.DifficultyLinearStepperSimple:
    """The reference solver that makes the data: `config.physics` (difficulty, order, grid)."""
    p = config.physics
    return physics.DifficultyLinearStepperSimple(
        p.num_spatial_dims, p.num_points, difficulty=p.difficulty, order=p.order
    )


def build_coarse(config: Any) -> physics.DifficultyLinearStepperSimple | None:
    """The coarse solver (the reference's grid and order, `config.coarse.difficulty`); None when
    `config.coarse` is None."""
    if config.coarse is None:
        return None
    p = config.physics
    return physics.DifficultyLinearStepperSimple(
        p.num_spatial_dims, p.num_points, difficulty=config.coarse.difficulty, order=p.order
    )


def build_model(config: Any) -> nnx.Module:
    """A ResNet (`config.model`, initialised from `config.seed`) mapping `(B, *spatial, 1)` to the next
    state; wrapped as `SequentialCorrector(coarse, resnet)` when `config.coarse` is set."""
    net = nn.ResNet(
        config.physics.num_spatial_dims, 1, 1, hidden_channels=config.model.hidden_channels,
        num_blocks=config.model.num_blocks, rngs=nnx.Rngs(config.seed),
    )
    coarse = build_coarse(config)
    return net if coarse is None else nn.SequentialCorrector(coarse, net)


def build_trajectories(config: Any, split: str) -> np.ndarray:
    """The reference trajectories of a split, `(S, T+1, *spatial, 1)` float32 numpy.

    `split="train"` gives `config.data.num_train_samples` trajectories of `num_train_steps` steps from
    initial conditions drawn with `PRNGKey(train_seed)`; `"test"` the same with the `test` fields. The
    initial conditions are truncated Fourier series scaled to a maximum absolute value of 1.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    d = config.data
    ic = physics.RandomTruncatedFourierSeries(config.physics.num_spatial_dims, max_one=True)
    return data.generate_trajectories(
        build_reference(config), ic, num_samples=d[f"num_{split}_samples"],
        num_steps=d[f"num_{split}_steps"], key=jax.random.PRNGKey(d[f"{split}_seed"]),
    )


def build_configuration(config: Any) -> configurations.Configuration:
    """The training configuration: `config.configuration.name` with `config.num_rollout_steps` steps.

    `"supervised"` (the default, also when the config has no `configuration` field) is
    `Supervised(R)`; `"diverted_chain_branch_one"` is `DivertedChainBranchOne(R, cut_div_chain)`;
    `"diverted_chain"` is `DivertedChain(R, num_branch_steps, cut_div_chain)`. `cut_bptt` and
    `cut_bptt_every` apply to every one. The diverted chains need `build_ref_stepper(config)`.
    """
    c = config.get("configuration")
    rollout = config.num_rollout_steps
    if c is None:
        return configurations.Supervised(rollout)
    cuts = dict(cut_bptt=c.cut_bptt, cut_bptt_every=c.cut_bptt_every)
    if c.name == "supervised":
        return configurations.Supervised(rollout, **cuts)
    if c.name == "diverted_chain_branch_one":
        return configurations.DivertedChainBranchOne(rollout, cut_div_chain=c.cut_div_chain, **cuts)
    if c.name == "diverted_chain":
        return configurations.DivertedChain(
            rollout, c.num_branch_steps, cut_div_chain=c.cut_div_chain, **cuts
        )
    raise ValueError(f"config.configuration.name must be one of {CONFIGURATION_NAMES}, got {c.name!r}")


def build_ref_stepper(config: Any) -> Callable | None:
    """The `ref_stepper` handed to the configuration: None for `"supervised"`; for the diverted chains
    the solver named by `config.configuration.ref_stepper`, `"reference"` (the solver of the data) or
    `"coarse"` (the coarse solver; needs `config.coarse`)."""
    c = config.get("configuration")
    if c is None or c.name == "supervised":
        return None
    if c.ref_stepper == "reference":
        return build_reference(config)
    if c.ref_stepper == "coarse":
        if config.coarse is None:
            raise ValueError("config.configuration.ref_stepper='coarse' needs config.coarse, got None")
        return build_coarse(config)
    raise ValueError(
        f"config.configuration.ref_stepper must be one of {REF_STEPPER_NAMES}, got {c.ref_stepper!r}"
    )


def _optimizer(config: Any) -> tuple[optax.GradientTransformation, optax.Schedule]:
    schedule = optax.constant_schedule(config.train.learning_rate)
    return optax.adam(schedule), schedule


def restore_model(config: Any, workdir: str | os.PathLike) -> tuple[nnx.Module, int]:
    """The model of the latest complete checkpoint in `workdir` (written by `train_and_evaluate` with
    the same config) and that checkpoint's step.

    Raises:
      ValueError: `workdir` holds no checkpoint.
    """
    optimizer, _ = _optimizer(config)
    # The restore template needs the training run's state structure, optimizer state included.
    trainer = Trainer(
        build_configuration(config), optimizer, ref_stepper=build_ref_stepper(config),
        workdir=workdir, seed=config.seed, tensorboard=False, progress_bar=False,
    )
    step = trainer.checkpointer.latest_step()
    if step is None:
        raise ValueError(
            f"workdir must hold a checkpoint written by train_and_evaluate, found none in "
            f"{trainer.checkpointer.directory}"
        )
    return trainer.restore(build_model(config)).model, step


def train_and_evaluate(config: Any, workdir: str | os.PathLike) -> FitResult:
    """Generates the train/test trajectories, builds the model and trains it with periodic rollout
    evaluation against the coarse solver (baseline `"coarse"`, when the config has one); TensorBoard
    events, checkpoints (resumed if present), plots (`plots/`) and evaluation arrays (`eval/`) go to
    `workdir`.

    Args:
      config: an `ml_collections.ConfigDict` shaped like `configs/default.py`'s.
      workdir: the run directory.

    Returns:
      the `FitResult` (final train state, per-step losses, last written metrics).
    """
    validate_config(config)  # every field, named by its --config flag, before anything is built
    if config.distributed:
        sharding.initialize_distributed()
    workdir = os.path.abspath(os.fspath(workdir))
    # resuming with changed model/data/optimizer/physics fields stops here, listing them
    check_resume(os.path.join(workdir, "checkpoints"), config)
    t = config.train
    num_processes = jax.process_count()
    if t.batch_size % num_processes:
        raise ValueError(
            f"train.batch_size must be divisible by the number of processes ({num_processes}), "
            f"got {t.batch_size}"
        )
    configuration = build_configuration(config)
    loader = data.make_loader(
        data.TrajectoryWindows(build_trajectories(config, "train"), configuration.required_window_length),
        batch_size=t.batch_size // num_processes, seed=t.data_seed,
        shard_index=jax.process_index(), shard_count=num_processes,
    )
    mesh = sharding.make_data_mesh()
    coarse = build_coarse(config)
    eval_fn = evaluate.make_eval_fn(
        build_trajectories(config, "test"), num_steps=config.eval.num_steps,
        batch_size=config.eval.batch_size, sharding=mesh,
        baselines=None if coarse is None else {"coarse": coarse},
    )
    hooks = [
        EvalHook(eval_fn, every_steps=config.eval.every),
        CheckpointHook(
            os.path.join(workdir, "checkpoints"), every_steps=t.checkpoint_every, max_to_keep=t.max_to_keep,
            config=config.to_dict(),
        ),
    ]
    if t.profile:
        hooks.append(ProfileHook())
    optimizer, schedule = _optimizer(config)
    trainer = Trainer(
        configuration, optimizer, ref_stepper=build_ref_stepper(config), learning_rate=schedule,
        steps_per_dispatch=t.steps_per_dispatch, mesh=mesh, seed=config.seed, workdir=workdir,
        hooks=hooks, log_every=t.log_every, tensorboard=t.tensorboard, progress_bar=t.progress_bar,
    )
    result = trainer.fit(build_model(config), loader, num_steps=t.num_steps)
    logging.info("final metrics: %s", result.metrics)
    return result
