"""Config-driven experiments: `train_and_evaluate(config, workdir)` and the builders behind it.

Every experiment config (`configs/default.py`, `configs/scenario.py`, ...) has one schema,
`emutrain.schema.default_config()`, whose None fields take the scenario's values (`resolve_config`):

* `config.scenario`: `name` and `overrides` of `emutrain.scenarios.make(name, **overrides)` (the data,
  the reference and the coarse stepper) and `data_format` (`"npy"` or `"array_record"`) of its datasets;
* `config.data_dir`: None (the scenario's trajectories, generated once under `config.dataset_dir`,
  default `<workdir>/datasets`) or a directory with the user's own `train/` and `test/` trajectories in
  the format `emutrain.scenarios.load_dataset` reads;
* `config.dataset`: `kind="scenario"` (the above) or a public dataset on disk, `"well"` (a dataset
  directory of The Well) or `"pdebench"` (a PDEBench HDF5 file) at `path`, whose train windows are
  streamed from disk and whose grid and channels the network takes (`emutrain.public_datasets`); the
  evaluation then rolls out from the first states of `num_test_trajectories` trajectories of
  `eval_split` and adds The Well's VRMSE per field; with `conditioning` the Well's constant fields and
  scalars are extra, non-predicted input channels of the network (`nn.Conditioned`), left out of the
  losses and the metrics;
* `config.network`: an architecture string of `emutrain.nn.from_spec` (e.g. `Res;32;2;relu`) or a
  learnable stencil of `emutrain.nn.stencil` (e.g. `Stencil;2;right;0.4;0.5`) or a linear spectral
  layer of `emutrain.nn.spectral_layer` (e.g. `Spectral;16;zero`);
* `config.task`: `predict` or `correct;MODE` (`emutrain.nn.make_task_model` around the scenario's
  coarse stepper), or `correct;tendency` (`emutrain.nn.closures.TendencyClosure`: the network's output
  is a tendency inside the coarse stepper, which must take one, e.g. pyqg's PV tendency);
* `config.method`: a training-method string of `emutrain.configurations.from_method` (e.g. `sup;3`);
  `config.ref_stepper` (`"reference"` or `"coarse"`) is the scenario stepper that methods needing one
  (diverted chains, mix chains, residuum) get;
* `config.optimizer`: an optimizer string of `emutrain.optimizers.make_optimizer`; None: the
  scenario's `optim_config` stretched to `config.train.num_steps` (`emutrain.schema.optimizer_spec`);
* `config.train` (batch size, steps, data seed, logging, checkpoints) and `config.eval` (cadence,
  rollout length and batch size of the periodic evaluation on the scenario's test trajectories);
* `config.seed` (network initialization) and `config.distributed` (multi-host start-up).

Every piece is built by a public function so notebooks and `pipelines/evaluate.py` use exactly what
training used.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

import jax
import ml_collections
import numpy as np
import optax
from flax import nnx

from emutrain import configurations, data, evaluate, losses, nn, optimizers, scenarios
from emutrain.config_files import load_config
from emutrain.nn.closures import TendencyClosure
from emutrain.public_datasets import is_public
from emutrain.schema import REF_STEPPER_NAMES, make_scenario, optimizer_spec, resolve_config, validate_config
from emutrain.train import CheckpointHook, EvalHook, FitResult, ProfileHook, Trainer
from emutrain.train.checkpoint import check_resume
from emutrain.train.console import ConsoleHook, config_summary, data_summary, quiet_third_party_logs
from emutrain.train.distributed import check_global_batch, initialize_distributed
from emutrain.train.lock import workdir_lock
from emutrain.train.mesh import (
    ProcessShare,
    make_mesh,
    process_share,
    spatial_batch_sharding,
    spatially_sharded,
)
from emutrain.train.outputs import RunConfigHook

__all__ = [
    "REF_STEPPER_NAMES", "SPLITS", "build_coarse", "build_configuration", "build_dataset", "build_eval_fn",
    "build_loader", "build_mesh", "build_model", "build_network", "build_optimizer", "build_ref_stepper",
    "build_reference", "build_residuum_fn", "build_scenario", "build_test_trajectories", "build_trainer",
    "build_trajectories", "dataset_root", "load_config", "load_splits", "predicted_channels",
    "resolve_config", "restore_model", "train_and_evaluate", "validate_config",
]

SPLITS = ("train", "test")
TENDENCY_TASK = "correct;tendency"
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
    return make_scenario(config)


def build_reference(config: Any) -> Callable:
    """The scenario's reference stepper, the solver of the data."""
    return build_scenario(config).reference_stepper()


def _is_correction(config: Any) -> bool:
    return str(config.task).split(";")[0] == "correct"


def build_coarse(config: Any) -> Callable | None:
    """The scenario's coarse stepper for a correction task (`config.task = "correct;..."`), else None."""
    return build_scenario(config).coarse_stepper() if _is_correction(config) else None


def _num_conditioning(config: Any) -> int:
    """The conditioning channels K of the states (`config.dataset.conditioning`), 0 without."""
    return build_scenario(config).num_conditioning_channels if is_public(config) else 0


def predicted_channels(config: Any) -> int | None:
    """The channels C that training and evaluation compare when the states also carry K conditioning
    channels (`config.dataset.conditioning`); None (all of them) without conditioning."""
    return build_scenario(config).num_channels if _num_conditioning(config) else None


def build_network(config: Any, *, rngs: nnx.Rngs | None = None) -> nnx.Module:
    """The network of `config.network` for the scenario's grid and channels, `(B, *spatial, C)` to
    `(B, *spatial, C)`, initialised from `rngs` (default `nnx.Rngs(config.seed)`). With K conditioning
    channels (`config.dataset.conditioning`) it maps `C + K` channels to `C` inside `nn.Conditioned`,
    which steps states `(B, *spatial, C + K)` and carries their conditioning unchanged."""
    scenario = build_scenario(config)
    c, d, k = scenario.num_channels, scenario.num_spatial_dims, _num_conditioning(config)
    # the grid's own boundary where a (custom) scenario names one
    kwargs = dict(
        boundary_mode=getattr(scenario, "boundary_mode", "periodic"),
        rngs=nnx.Rngs(config.seed) if rngs is None else rngs,
    )
    try:
        network = nn.from_spec(config.network, d, c + k, c, num_points=scenario.num_points, **kwargs)
    except ValueError as error:
        raise _flag_error("network", error) from None
    return nn.Conditioned(network, k) if k else network


def build_model(config: Any) -> nnx.Module:
    """`emutrain.nn.make_task_model(config.task, network, coarse)`: the network itself (`predict`) or a
    corrector of the scenario's coarse stepper (`correct;MODE`)."""
    network = build_network(config)
    if config.task == TENDENCY_TASK:  # the network is a tendency inside every substep of the solver
        return TendencyClosure(build_coarse(config), network)
    try:
        return nn.make_task_model(config.task, network, build_coarse(config))
    except ValueError as error:
        raise _flag_error("task", error) from None


def _compare_first_channels(configuration: Any, num_channels: int) -> Any:
    """`configuration` (each part of a `Composite`) whose time-level loss compares the first
    `num_channels` channels only."""
    if isinstance(configuration, configurations.Composite):
        parts = [_compare_first_channels(part, num_channels) for part in configuration.configurations]
        return dataclasses.replace(configuration, configurations=parts)
    loss = losses.FirstChannels(configuration.time_level_loss, num_channels)
    return dataclasses.replace(configuration, time_level_loss=loss)


def build_configuration(config: Any) -> configurations.Configuration:
    """The training configuration of `config.method` (`emutrain.configurations.from_method`); with
    conditioning channels (`config.dataset.conditioning`) its losses compare the predicted channels
    only (`emutrain.losses.FirstChannels`)."""
    try:
        configuration = configurations.from_method(config.method)
    except ValueError as error:
        raise _flag_error("method", error) from None
    channels = predicted_channels(config)
    return configuration if channels is None else _compare_first_channels(configuration, channels)


def _ref_stepper(config: Any) -> Callable:
    name = config.ref_stepper
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
    """The optimizer of `config.optimizer` (None: the scenario's `optim_config` over `config.train.num_steps`)
    and its learning-rate schedule (`emutrain.optimizers.make_optimizer`)."""
    resolved = resolve_config(config)
    try:
        return optimizers.make_optimizer(optimizer_spec(resolved), num_steps=resolved.train.num_steps)
    except ValueError as error:
        raise _flag_error("optimizer", error) from None


def dataset_root(config: Any, workdir: str | os.PathLike) -> str:
    """Where the scenario's datasets are generated: `config.dataset_dir`, default
    `<workdir>/datasets`."""
    root = config.dataset_dir
    return os.path.abspath(os.fspath(root) if root else os.path.join(os.fspath(workdir), DATASETS_SUBDIR))


def build_dataset(
    config: Any, root: str | os.PathLike, *, process_index: int = 0, process_count: int = 1
) -> data.DatasetSplits:
    """Writes this process's share of the scenario's train and test trajectories under `root` unless
    they are there (`Scenario.dataset`, format `config.scenario.data_format`); returns their paths."""
    return build_scenario(config).dataset(
        root, format=config.scenario.data_format, process_index=process_index,
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

    With a public dataset (`config.dataset`) the evaluation's trajectories (`build_test_trajectories`);
    read from `<config.data_dir>/<split>` when `config.data_dir` is set; otherwise the scenario's
    (`Scenario.trajectories(split)`), generated once under `dataset_dir` and read back (memory-mapped)
    when given, computed in memory when not (the same arrays).
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if is_public(config):
        if split == "test":
            return build_test_trajectories(config)
        raise ValueError(
            f"split must be 'test' with config.dataset.kind={config.dataset.kind!r}: its train split is "
            "streamed in windows (build_loader), never read whole"
        )
    if config.data_dir:
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


def _written_dataset(config: Any, root: str | os.PathLike) -> data.DatasetSplits:
    """The paths of the scenario's datasets under `root`, generating nothing: they load when complete,
    whichever number of processes wrote them (a process count of its own would add an overlapping
    shard)."""
    return build_scenario(config).dataset(root, splits=(), format=config.scenario.data_format)


def load_splits(
    config: Any, workdir: str | os.PathLike, *, lazy_train: bool = False
) -> dict[str, np.ndarray | None]:
    """Both splits for training, `(S, T+1, *spatial, C)` each: each process generates its share of the
    scenario's datasets under `dataset_root(config, workdir)`, all wait for all, then every process reads
    the whole sets (or both are read from `config.data_dir`). With `lazy_train` the train split of a
    generated dataset written by several processes is their shards joined without reading them
    (`data.ConcatenatedTrajectories`: the loader reads only its windows, or their slabs). With a public
    dataset (`config.dataset`), `train` is None (`build_loader` streams it from disk) and `test` the
    evaluation's trajectories."""
    if is_public(config):
        return {"train": None, "test": build_test_trajectories(config)}
    if not config.data_dir:
        root = dataset_root(config, workdir)
        written = _written_dataset(config, root)

        def load(split: str) -> np.ndarray:
            return written.load(split, lazy=lazy_train and split == "train")

        try:  # complete already, maybe written by another number of processes (a resume may change it)
            splits = {split: load(split) for split in SPLITS}
        except (FileNotFoundError, ValueError):
            build_dataset(config, root, process_index=jax.process_index(), process_count=jax.process_count())
            splits = None
        if jax.process_count() > 1:
            from jax.experimental import multihost_utils

            multihost_utils.sync_global_devices("emutrain datasets written")
        return {split: load(split) for split in SPLITS} if splits is None else splits
    return {split: build_trajectories(config, split) for split in SPLITS}


def restore_model(config: Any, workdir: str | os.PathLike) -> tuple[nnx.Module, int]:
    """The model of the latest complete checkpoint in `workdir` (written by `train_and_evaluate` with
    the same config) and that checkpoint's step.

    Raises:
      ValueError: `workdir` holds no checkpoint.
    """
    optimizer, _ = build_optimizer(config)
    # The restore template needs the training run's state structure, optimizer state included; restoring
    # steps no solver, so the ref_stepper and residuum of the method are not built.
    trainer = Trainer(
        build_configuration(config), optimizer, workdir=workdir, seed=config.seed, tensorboard=False,
        progress_bar=False,
    )
    step = trainer.checkpointer.latest_step()
    if step is None:
        raise ValueError(
            f"workdir must hold a checkpoint written by train_and_evaluate, found none in "
            f"{trainer.checkpointer.directory}"
        )
    return trainer.restore(build_model(config)).model, step


def build_mesh(config: Any) -> jax.sharding.Mesh:
    """The `(data, space)` device mesh: `config.mesh.space` devices share every sample
    (`emutrain.train.make_mesh`); the global batch must split evenly over the data axis.

    Raises:
      ValueError: the batch size does not split over the mesh's data axis (or the processes).
    """
    mesh = make_mesh(space=config.mesh.space)
    check_global_batch(resolve_config(config).train.batch_size, mesh.shape["data"])
    return mesh


def build_loader(
    config: Any, trajectories: np.ndarray | None = None, *, mesh: jax.sharding.Mesh | None = None
) -> Any:
    """This process's share of the shuffled training windows of `trajectories` `(S, T+1, *spatial, C)`
    (with a public dataset, `config.dataset`, none: its train split, streamed from disk): batches
    `(B / num_shards, W, *spatial, C)`, `W` the method's window length, `B` the resolved
    `config.train.batch_size`, shuffled with `config.train.data_seed`, read by
    `config.train.worker_processes` Grain worker processes (0: prefetch threads). One shard per process,
    or with a `mesh` whose `space` axis spans processes one per data row of the mesh, each process reading
    only its slab of `X`, `(B / num_shards, W, X / processes_per_sample, ...)`
    (`emutrain.train.process_share`)."""
    t = resolve_config(config).train
    window = build_configuration(config).required_window_length
    if trajectories is None:
        source = build_scenario(config).source("train", window)
        size_x = source.spatial_shape[0]
    else:
        source = data.TrajectoryWindows(trajectories, window)
        size_x = trajectories.shape[2]
    if mesh is None:
        share = ProcessShare(jax.process_index(), jax.process_count(), 0, 1)
    else:
        share = process_share(mesh)
    return data.make_loader(
        source, batch_size=t.batch_size // share.data_count, seed=t.data_seed, shard_index=share.data_index,
        shard_count=share.data_count, x_slab=share.x_slab(size_x) if share.space_count > 1 else None,
        worker_processes=t.worker_processes,
    )


def build_test_trajectories(config: Any) -> np.ndarray:
    """The evaluation's reference trajectories of a public dataset (`config.dataset`): the first
    `config.eval.num_steps + 1` states of the first `config.dataset.num_test_trajectories` trajectories
    of `config.dataset.eval_split`, `(S, H+1, *spatial, C)` float32."""
    resolved = resolve_config(config)
    return build_scenario(config).test_trajectories(
        resolved.eval.num_steps, config.dataset.num_test_trajectories
    )


def build_eval_fn(config: Any, test: np.ndarray, mesh: jax.sharding.Mesh | None = None) -> Callable:
    """The periodic evaluation on the test trajectories `test` `(S, T+1, *spatial, C)`: nRMSE and
    correlation per step (`emutrain.evaluate.make_eval_fn`), against the coarse stepper for correction
    tasks; with a public dataset also The Well's VRMSE per field
    (`emutrain.evaluate.make_dataset_eval_fn`)."""
    # rollout chunks (batch, T+1, *spatial, C): with a space axis split on the first spatial axis too
    sharding = None if mesh is None else spatial_batch_sharding(mesh, test.ndim, spatial_axis=2)
    if is_public(config):
        return evaluate.make_dataset_eval_fn(
            test, build_scenario(config).field_names, num_steps=config.eval.num_steps,
            batch_size=config.eval.batch_size, sharding=sharding, num_channels=predicted_channels(config),
        )
    coarse = build_coarse(config)
    return evaluate.make_eval_fn(
        test, num_steps=config.eval.num_steps, batch_size=config.eval.batch_size, sharding=sharding,
        baselines=None if coarse is None else {"coarse": coarse},
    )


def build_trainer(
    config: Any,
    workdir: str | os.PathLike | None,
    *,
    hooks: Any = (),
    mesh: jax.sharding.Mesh | None = None,
    seed: int | None = None,
    metrics_jsonl: bool = False,
) -> Trainer:
    """The `Trainer` of `config`: its method with the ref_stepper and residuum the method needs, its
    optimizer and schedule, and the `config.train` cadences and outputs; `seed` (default `config.seed`)
    seeds the method's random keys."""
    t = resolve_config(config).train
    optimizer, schedule = build_optimizer(config)
    configuration = configurations.WithSteppers(
        build_configuration(config), build_ref_stepper(config), build_residuum_fn(config)
    )
    return Trainer(
        configuration, optimizer, learning_rate=schedule,
        steps_per_dispatch=t.steps_per_dispatch, mesh=mesh, seed=config.seed if seed is None else seed,
        workdir=workdir, hooks=list(hooks), log_every=t.log_every, tensorboard=t.tensorboard,
        progress_bar=t.progress_bar, metrics_jsonl=metrics_jsonl,
    )


def _with_optimizer(config: Any) -> Any:
    """`config` naming the optimizer string it trains with (the banner shows the schedule)."""
    shown = ml_collections.ConfigDict(config.to_dict())
    shown.optimizer = optimizer_spec(config)
    return shown


def _hooks(
    config: Any, workdir: str, train_shape: tuple[int, ...], test: np.ndarray, mesh: jax.sharding.Mesh
) -> list:
    """Evaluation on the test trajectories `test` (against the coarse stepper for correction tasks),
    checkpoints with the best one kept, the console summary and config.json."""
    t = config.train
    window = build_configuration(config).required_window_length
    hooks = [
        EvalHook(spatially_sharded(build_eval_fn(config, test, mesh), mesh), every_steps=config.eval.every),
        CheckpointHook(
            os.path.join(workdir, "checkpoints"), every_steps=t.checkpoint_every, max_to_keep=t.max_to_keep,
            config=config.to_dict(),
            # the best checkpoint is kept besides the latest ones: long-horizon errors can grow late
            best_metric=t.best_metric,
        ),
        ConsoleHook(details={
            **config_summary(_with_optimizer(config)),
            "data": data_summary(train_shape, test.shape, window),
        }),
        RunConfigHook(config),  # config.json and TensorBoard hyperparameters
    ]
    return hooks + ([ProfileHook()] if t.profile else [])


def train_and_evaluate(config: Any, workdir: str | os.PathLike) -> FitResult:
    """Builds everything from `config` (see the module docstring) and trains with periodic rollout
    evaluation on the test trajectories, against the scenario's coarse stepper (baseline `"coarse"`) for
    correction tasks. The scenario's datasets are generated once under `dataset_root(config, workdir)`
    (each process its share) and read from there, or read from `config.data_dir`; TensorBoard events,
    checkpoints (resumed if present), plots (`plots/`) and evaluation arrays (`eval/`) go to `workdir`.

    Args:
      config: an `ml_collections.ConfigDict` of the schema `emutrain.schema.default_config()`.
      workdir: the run directory.

    Returns:
      the `FitResult` (final train state, per-step losses, last written metrics).

    Raises:
      WorkdirLockedError: another run works in `workdir` (one line naming it).
    """
    quiet_third_party_logs()  # before JAX probes its backends
    validate_config(config)  # every field, named by its --config flag, before anything is built
    config = resolve_config(config)  # the scenario's values where the config leaves None
    initialize_distributed(config.distributed)
    workdir = os.path.abspath(os.fspath(workdir))
    if config.train.num_seeds != 1:
        raise ValueError(
            f"config.train.num_seeds: train_and_evaluate trains one network (config.seed), got "
            f"{config.train.num_seeds}; train seed ensembles with emutrain.study"
        )
    mesh = build_mesh(config)  # the batch against the devices, before the workdir is touched
    with workdir_lock(workdir):  # one run per workdir, taken before anything is written
        return _train_and_evaluate(config, workdir, mesh, build_model(config))


def _train_and_evaluate(config: Any, workdir: str, mesh: jax.sharding.Mesh, model: nnx.Module) -> FitResult:
    """`train_and_evaluate` once the config is checked and the process holds the workdir."""
    # resuming with changed model/data/optimizer/physics fields stops here, listing them
    check_resume(os.path.join(workdir, "checkpoints"), config)
    splits = load_splits(config, workdir, lazy_train=True)  # the loader reads only its windows
    train, test = splits["train"], splits["test"]
    if train is None:  # a public dataset, streamed from disk: only the evaluation's trajectories are read
        dataset = build_scenario(config)
        train_shape = (dataset.num_train_trajectories, dataset.train_temporal_horizon + 1,
                       *dataset.spatial_shape, dataset.num_channels + dataset.num_conditioning_channels)
    else:
        train_shape = train.shape
    hooks = _hooks(config, workdir, train_shape, test, mesh)
    trainer = build_trainer(config, workdir, hooks=hooks, mesh=mesh, metrics_jsonl=True)
    # ConsoleHook prints the summary
    return trainer.fit(model, build_loader(config, train, mesh=mesh), num_steps=config.train.num_steps)
