"""Config-driven experiments: `train_and_evaluate(config, workdir)` and the builders behind it.

Every experiment config (`configs/default.py`, `configs/scenario.py`, ...) has one schema:

* `config.scenario`: `name` and `overrides` of `emutrain.scenarios.make(name, **overrides)` (the data,
  the reference and the coarse stepper) and `data_format` (`"npy"` or `"array_record"`) of its datasets;
* `config.data_dir`: None (the scenario's trajectories, generated once under `config.dataset_dir`,
  default `<workdir>/datasets`) or a directory with the user's own `train/` and `test/` trajectories in
  the format `emutrain.scenarios.load_dataset` reads;
* `config.network`: an architecture string of `emutrain.nn.from_spec` (e.g. `Res;32;2;relu`);
* `config.task`: `predict` or `correct;MODE` (`emutrain.nn.make_task_model` around the scenario's
  coarse stepper);
* `config.method`: a training-method string of `emutrain.configurations.from_method` (e.g. `sup;3`);
  `config.ref_stepper` (`"reference"` or `"coarse"`) is the scenario stepper that methods needing one
  (diverted chains, mix chains, residuum) get;
* `config.optimizer`: an optimizer string of `emutrain.optimizers.make_optimizer`;
* `config.train` (batch size, steps, data seed, logging, checkpoints) and `config.eval` (cadence,
  rollout length and batch size of the periodic evaluation on the scenario's test trajectories);
* `config.seed` (network initialization) and `config.distributed` (multi-host start-up).

Every piece is built by a public function so notebooks and `pipelines/evaluate.py` use exactly what
training used.
"""

from __future__ import annotations

import glob
import importlib.util
import os
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
import optax
from flax import nnx

from emutrain import configurations, data, evaluate, nn, optimizers, scenarios
from emutrain.config_checks import validate_config
from emutrain.train import CheckpointHook, EvalHook, FitResult, ProfileHook, Trainer
from emutrain.train.checkpoint import check_resume
from emutrain.train.console import ConsoleHook, config_summary, data_summary, quiet_third_party_logs
from emutrain.train.distributed import check_global_batch, initialize_distributed
from emutrain.train.lock import workdir_lock
from emutrain.train.mesh import make_mesh, spatial_batch_sharding, spatially_sharded
from emutrain.train.outputs import RunConfigHook

REF_STEPPER_NAMES = ("reference", "coarse")
SPLITS = ("train", "test")
DATASETS_SUBDIR = "datasets"


def _flag_error(flag: str, error: Exception) -> ValueError:
    """`error` re-raised as a ValueError that names the config field it came from."""
    return ValueError(f"config.{flag}: {error}")


def build_scenario(config: Any) -> scenarios.Scenario:
    """`emutrain.scenarios.make(config.scenario.name, **config.scenario.overrides)`.

    Raises:
      ValueError: an unknown scenario name (listing the valid names) or override field, naming the
        config field.
    """
    s = config.scenario
    overrides = s.get("overrides") or {}
    overrides = overrides.to_dict() if hasattr(overrides, "to_dict") else dict(overrides)
    try:
        return scenarios.make(s.name, **overrides)
    except ValueError as error:
        field = "scenario.name" if "scenario" in str(error) else "scenario.overrides"
        raise _flag_error(field, error) from None


def build_reference(config: Any) -> Callable:
    """The scenario's reference stepper, the solver of the data."""
    return build_scenario(config).reference_stepper()


def _is_correction(config: Any) -> bool:
    return str(config.task).split(";")[0] == "correct"


def build_coarse(config: Any) -> Callable | None:
    """The scenario's coarse stepper for a correction task (`config.task = "correct;..."`), else None."""
    return build_scenario(config).coarse_stepper() if _is_correction(config) else None


def build_network(config: Any, *, rngs: nnx.Rngs | None = None) -> nnx.Module:
    """The network of `config.network` for the scenario's grid and channels, `(B, *spatial, C)` to
    `(B, *spatial, C)`, initialised from `rngs` (default `nnx.Rngs(config.seed)`)."""
    scenario = build_scenario(config)
    c = scenario.num_channels
    try:
        return nn.from_spec(
            config.network, scenario.num_spatial_dims, c, c, boundary_mode="periodic",
            num_points=scenario.num_points, rngs=nnx.Rngs(config.seed) if rngs is None else rngs,
        )
    except ValueError as error:
        raise _flag_error("network", error) from None


def build_model(config: Any) -> nnx.Module:
    """`emutrain.nn.make_task_model(config.task, network, coarse)`: the network itself (`predict`) or a
    corrector of the scenario's coarse stepper (`correct;MODE`)."""
    network = build_network(config)
    try:
        return nn.make_task_model(config.task, network, build_coarse(config))
    except ValueError as error:
        raise _flag_error("task", error) from None


def build_configuration(config: Any) -> configurations.Configuration:
    """The training configuration of `config.method` (`emutrain.configurations.from_method`)."""
    try:
        return configurations.from_method(config.method)
    except ValueError as error:
        raise _flag_error("method", error) from None


def _ref_stepper(config: Any) -> Callable:
    name = config.get("ref_stepper", "reference")
    if name == "reference":
        return build_reference(config)
    if name == "coarse":
        return build_scenario(config).coarse_stepper()
    raise ValueError(f"config.ref_stepper must be one of {REF_STEPPER_NAMES}, got {name!r}")


def build_ref_stepper(config: Any) -> Callable | None:
    """The `ref_stepper` of methods that need one (diverted and mix chains): the scenario's reference
    stepper (`config.ref_stepper = "reference"`, the default) or its coarse stepper (`"coarse"`); None
    for the others."""
    if not build_configuration(config).needs_ref_stepper:
        return None
    return _ref_stepper(config)


def build_residuum_fn(config: Any) -> Callable | None:
    """The residuum `rho(n, p) = n - P(p)` of residuum methods, `P` the stepper of `config.ref_stepper`
    (with this residuum `Residuum` equals `DivertedChainBranchOne` in loss and gradient); None for the
    others."""
    if not build_configuration(config).needs_residuum_fn:
        return None
    stepper = _ref_stepper(config)

    def residuum(next_state: jax.Array, prev_state: jax.Array) -> jax.Array:
        return next_state - stepper(prev_state)

    return residuum


def build_optimizer(config: Any) -> tuple[optax.GradientTransformation, optax.Schedule]:
    """The optimizer of `config.optimizer` and its learning-rate schedule
    (`emutrain.optimizers.make_optimizer`)."""
    try:
        return optimizers.make_optimizer(config.optimizer, num_steps=config.train.num_steps)
    except ValueError as error:
        raise _flag_error("optimizer", error) from None


CONFIGS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_configs")
"""The experiment configs shipped inside the package (in a checkout: a link to the repository's configs/)."""


def load_config(name: str, variant: str | None = None) -> Any:
    """`get_config(variant)` of the experiment config `configs/<name>.py`, e.g. `load_config("default",
    "quick")` or `load_config("correction_learning", "corrector_rollout,quick")`, read from the copy
    inside the installed package (`CONFIGS_DIR`): notebooks need neither a checkout nor a download.

    Raises:
      ValueError: no config of that name (the message lists the available ones).
    """
    path = os.path.join(CONFIGS_DIR, *str(name).split("/")) + ".py"
    if not os.path.isfile(path):
        found = glob.glob(os.path.join(CONFIGS_DIR, "**", "*.py"), recursive=True)
        names = sorted(os.path.relpath(p, CONFIGS_DIR)[:-3] for p in found if "__" not in p)
        raise ValueError(f"name must be one of {names}, got {name!r}")
    spec = importlib.util.spec_from_file_location(f"emutrain_config_{os.path.basename(path)[:-3]}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config(variant)


def dataset_root(config: Any, workdir: str | os.PathLike) -> str:
    """Where the scenario's datasets are generated: `config.dataset_dir`, default
    `<workdir>/datasets`."""
    root = config.get("dataset_dir")
    return os.path.abspath(os.fspath(root) if root else os.path.join(os.fspath(workdir), DATASETS_SUBDIR))


def build_dataset(
    config: Any, root: str | os.PathLike, *, process_index: int = 0, process_count: int = 1
) -> scenarios.ScenarioDataset:
    """Writes this process's share of the scenario's train and test trajectories under `root` unless
    they are there (`Scenario.dataset`, format `config.scenario.data_format`); returns their paths."""
    return build_scenario(config).dataset(
        root, format=config.scenario.get("data_format", "npy"), process_index=process_index,
        process_count=process_count,
    )


def _check_user_data(config: Any, split: str, trajectories: np.ndarray) -> np.ndarray:
    scenario = build_scenario(config)
    expected = (scenario.num_points,) * scenario.num_spatial_dims + (scenario.num_channels,)
    if trajectories.ndim < 3 or tuple(trajectories.shape[2:]) != expected:
        raise ValueError(
            f"config.data_dir: {split} trajectories must have shape (S, T+1, *spatial, C) with "
            f"(*spatial, C) = {expected} (scenario {scenario.name!r}), got {trajectories.shape}"
        )
    return trajectories


def build_trajectories(
    config: Any, split: str, *, dataset_dir: str | os.PathLike | None = None
) -> np.ndarray:
    """The trajectories of a split, `(S, T+1, *spatial, C)` float32.

    Read from `<config.data_dir>/<split>` when `config.data_dir` is set; otherwise the scenario's
    (`Scenario.trajectories(split)`), generated once under `dataset_dir` and read back (memory-mapped)
    when given, computed in memory when not (the same arrays).
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if config.get("data_dir"):
        path = os.path.join(os.fspath(config.data_dir), split)
        try:
            trajectories = scenarios.load_dataset(path)[0]
        except FileNotFoundError as error:
            raise FileNotFoundError(f"config.data_dir: {error}") from None
        return _check_user_data(config, split, trajectories)
    if dataset_dir is not None:
        try:  # written already, maybe as the shares of several processes
            return _written_dataset(config, dataset_dir).load(split)
        except (FileNotFoundError, ValueError):
            return build_dataset(config, dataset_dir).load(split)
    return build_scenario(config).trajectories(split)


def _written_dataset(config: Any, root: str | os.PathLike) -> scenarios.ScenarioDataset:
    """The paths of the scenario's datasets under `root`, generating nothing: they load when complete,
    whichever number of processes wrote them (a process count of its own would add an overlapping
    shard)."""
    return build_scenario(config).dataset(root, splits=(), format=config.scenario.get("data_format", "npy"))


def _load_splits(config: Any, workdir: str) -> dict[str, np.ndarray]:
    """Both splits for training: each process generates its share of the scenario's datasets, all wait
    for all, then every process reads the whole sets."""
    if not config.get("data_dir"):
        root = dataset_root(config, workdir)
        written = _written_dataset(config, root)
        try:  # complete already, maybe written by another number of processes (a resume may change it)
            splits = {split: written.load(split) for split in SPLITS}
        except (FileNotFoundError, ValueError):
            build_dataset(config, root, process_index=jax.process_index(), process_count=jax.process_count())
            splits = None
        if jax.process_count() > 1:
            from jax.experimental import multihost_utils

            multihost_utils.sync_global_devices("emutrain datasets written")
        return splits or {split: written.load(split) for split in SPLITS}
    return {split: build_trajectories(config, split) for split in SPLITS}


def restore_model(config: Any, workdir: str | os.PathLike) -> tuple[nnx.Module, int]:
    """The model of the latest complete checkpoint in `workdir` (written by `train_and_evaluate` with
    the same config) and that checkpoint's step.

    Raises:
      ValueError: `workdir` holds no checkpoint.
    """
    optimizer, _ = build_optimizer(config)
    # The restore template needs the training run's state structure, optimizer state included.
    trainer = Trainer(
        configurations.WithSteppers(
            build_configuration(config), build_ref_stepper(config), build_residuum_fn(config)
        ),
        optimizer, workdir=workdir, seed=config.seed, tensorboard=False,
        progress_bar=False,
    )
    step = trainer.checkpointer.latest_step()
    if step is None:
        raise ValueError(
            f"workdir must hold a checkpoint written by train_and_evaluate, found none in "
            f"{trainer.checkpointer.directory}"
        )
    return trainer.restore(build_model(config)).model, step


def train_and_evaluate(config: Any, workdir: str | os.PathLike) -> FitResult:
    """Builds everything from `config` (see the module docstring) and trains with periodic rollout
    evaluation on the test trajectories, against the scenario's coarse stepper (baseline `"coarse"`) for
    correction tasks. The scenario's datasets are generated once under `dataset_root(config, workdir)`
    (each process its share) and read from there, or read from `config.data_dir`; TensorBoard events,
    checkpoints (resumed if present), plots (`plots/`) and evaluation arrays (`eval/`) go to `workdir`.

    Args:
      config: an `ml_collections.ConfigDict` with the schema of the module docstring.
      workdir: the run directory.

    Returns:
      the `FitResult` (final train state, per-step losses, last written metrics).

    Raises:
      WorkdirLockedError: another run works in `workdir` (one line naming it).
    """
    quiet_third_party_logs()  # before JAX probes its backends
    validate_config(config)  # every field, named by its --config flag, before anything is built
    initialize_distributed(config.get("distributed"))
    workdir = os.path.abspath(os.fspath(workdir))
    with workdir_lock(workdir):  # one run per workdir, taken before anything is written
        return _train_and_evaluate(config, workdir)


def _train_and_evaluate(config: Any, workdir: str) -> FitResult:
    """`train_and_evaluate` once the process has joined the run and holds the workdir."""
    # resuming with changed model/data/optimizer/physics fields stops here, listing them
    check_resume(os.path.join(workdir, "checkpoints"), config)
    t = config.train
    num_seeds = t.get("num_seeds", 1)
    if num_seeds != 1:
        raise ValueError(
            f"config.train.num_seeds: train_and_evaluate trains one network (config.seed), got {num_seeds}; "
            "train seed ensembles with emutrain.study"
        )
    num_processes = jax.process_count()
    # (data, space) mesh: config.mesh.space devices share every sample (emutrain.train.make_mesh)
    mesh = make_mesh(space=config.get("mesh", {}).get("space", 1))
    check_global_batch(t.batch_size, mesh.shape["data"])  # before any data is generated
    configuration = build_configuration(config)
    # Everything a bad name can break is built before any data is generated.
    model = build_model(config)
    ref_stepper, residuum_fn = build_ref_stepper(config), build_residuum_fn(config)
    optimizer, schedule = build_optimizer(config)
    splits = _load_splits(config, workdir)
    loader = data.make_loader(
        data.TrajectoryWindows(splits["train"], configuration.required_window_length),
        batch_size=t.batch_size // num_processes, seed=t.data_seed,
        shard_index=jax.process_index(), shard_count=num_processes,
    )
    coarse = build_coarse(config)
    eval_fn = evaluate.make_eval_fn(
        splits["test"], num_steps=config.eval.num_steps,
        batch_size=config.eval.batch_size,
        # rollout chunks (batch, T+1, *spatial, C): with a space axis split on the first spatial axis too
        sharding=spatial_batch_sharding(mesh, splits["test"].ndim, spatial_axis=2),
        baselines=None if coarse is None else {"coarse": coarse},
    )
    eval_fn = spatially_sharded(eval_fn, mesh)
    hooks = [
        EvalHook(eval_fn, every_steps=config.eval.every),
        CheckpointHook(
            os.path.join(workdir, "checkpoints"), every_steps=t.checkpoint_every, max_to_keep=t.max_to_keep,
            config=config.to_dict(),
            # the best checkpoint is kept besides the latest ones: long-horizon errors can grow late
            best_metric=t.get("best_metric") or f"eval/gmean_nrmse_{min(100, config.eval.num_steps)}",
        ),
        ConsoleHook(details={
            **config_summary(config),
            "data": data_summary(
                splits["train"].shape, splits["test"].shape, configuration.required_window_length
            ),
        }),
        RunConfigHook(config),  # config.json and TensorBoard hyperparameters
    ]
    if t.profile:
        hooks.append(ProfileHook())
    trainer = Trainer(
        configurations.WithSteppers(configuration, ref_stepper, residuum_fn), optimizer,
        learning_rate=schedule, steps_per_dispatch=t.steps_per_dispatch, mesh=mesh, seed=config.seed,
        workdir=workdir,
        hooks=hooks, log_every=t.log_every, tensorboard=t.tensorboard, progress_bar=t.progress_bar,
        metrics_jsonl=True,
    )
    return trainer.fit(model, loader, num_steps=t.num_steps)  # ConsoleHook prints the summary
