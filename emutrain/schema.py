"""The experiment schema: every field of an experiment config, its default and its checks.

`default_config()` builds the one schema that `emutrain.experiment.train_and_evaluate`, the study and the
pipelines read; every config file in `configs/` starts from it and only chooses values, so every
`--config.<field>` flag works with every config. Optional fields are typed placeholders (None until set,
settable from the command line); None means "the scenario's value" (see `resolve_config`). With a public
dataset (`config.dataset.kind` "well" or "pdebench") that dataset stands for the scenario
(`emutrain.public_datasets.PublicDataset`) and the `config.scenario` fields are unused.

`validate_config` checks a config in one pass over the schema before anything is built: unknown or
missing fields, types and ranges of every field, names of the string fields, the horizons of the
scenario against the training method and the evaluation, the network string against the scenario's grid
(built abstractly), the size of the datasets to generate against the available memory, and the splits of
`data_dir`. Messages name the field as `config.<field>`, the value and what is allowed.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from typing import Any

import ml_collections
from flax import nnx
from ml_collections import config_dict

from emutrain import configurations, nn, optimizers, scenarios
from emutrain.data import available_memory_bytes
from emutrain.public_datasets import DATASET_KINDS, EVAL_SPLITS, PublicDataset, is_public
from emutrain.validation import check_choice, check_int, check_real

__all__ = [
    "DATA_FORMATS",
    "REF_STEPPER_NAMES",
    "check_against_scenario",
    "default_config",
    "leaf_paths",
    "make_scenario",
    "optimizer_spec",
    "resolve_config",
    "resolved_num_steps",
    "scenario_config",
    "validate_config",
]

DATA_FORMATS = ("npy", "array_record")
REF_STEPPER_NAMES = ("reference", "coarse")
_OPAQUE = ("scenario.overrides",)  # mappings whose keys depend on the scenario: one leaf of the schema


def _section(**fields: Any) -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(fields)


def default_config() -> ml_collections.ConfigDict:
    """Every field of an experiment config with its default; None fields are typed placeholders."""
    ph = config_dict.placeholder
    return ml_collections.ConfigDict({
        "seed": 0,  # network initialization; a study trains seed, seed + 1, ... (train.num_seeds)
        # resume although fields that change model, data, optimizer or physics differ from the checkpoint's
        "resume_despite_config_change": False,
        # multi-process start-up (emutrain.train.initialize_distributed): any of the first four set ->
        # jax.distributed.initialize with them; auto=True -> cluster auto-detection
        "distributed": _section(
            coordinator_address=ph(str), num_processes=ph(int), process_id=ph(int),
            local_device_ids=ph(str), auto=False,
        ),
        # devices that share every sample: the first spatial axis is split over `space` devices
        "mesh": _section(space=1),
        # emutrain.scenarios.make(name, **overrides); datasets on disk as "npy" or "array_record"
        "scenario": _section(name=ph(str), overrides=ml_collections.ConfigDict(), data_format="npy"),
        "data_dir": ph(str),  # the user's own train/ and test/ trajectories instead of the scenario's
        "dataset": _dataset_section(),
        "dataset_dir": ph(str),  # where the scenario's datasets are generated; None: <workdir>/datasets
        "network": "Conv;34;10;relu",  # emutrain.nn.from_spec
        "task": "predict",  # or "correct;MODE": the network corrects the scenario's coarse stepper
        "method": "one",  # emutrain.configurations.from_method
        "ref_stepper": "reference",  # the stepper of methods that need one: "reference" or "coarse"
        # emutrain.optimizers.make_optimizer string; None: the scenario's optim_config stretched to
        # train.num_steps (optimizer_spec)
        "optimizer": ph(str),
        "train": _section(
            batch_size=ph(int),  # None: the scenario's batch_size
            num_steps=ph(int),  # None: the scenario's NUM_STEPS (its optim_config)
            num_seeds=1,  # networks a study trains at once
            data_seed=0,
            worker_processes=0,  # Grain worker processes reading the batches; 0: two prefetch threads
            steps_per_dispatch=1,
            log_every=100,
            checkpoint_every=ph(int),  # None: a quarter of num_steps
            max_to_keep=2,
            tensorboard=True,
            profile=False,
            progress_bar=True,
            best_metric=ph(str),  # None: eval/gmean_nrmse_<min(100, eval.num_steps)>
        ),
        "eval": _section(
            every=ph(int),  # None: a quarter of train.num_steps
            num_steps=ph(int),  # None: the scenario's test_temporal_horizon
            batch_size=ph(int),  # None: the whole test set at once
        ),
    })


def _dataset_section() -> ml_collections.ConfigDict:
    """`config.dataset`: a public dataset on disk instead of the scenario (`emutrain.public_datasets`)."""
    ph = config_dict.placeholder
    return _section(
        kind="scenario",  # "scenario" (config.scenario's data), "well" or "pdebench"
        path=ph(str),  # a Well dataset directory (data/, stats.yaml) or a PDEBench HDF5 file
        dt_stride=1,  # stored snapshots per step of the emulator
        normalization=ph(str),  # the Well only: None, "zscore" or "rms" with its stats.yaml
        fields=ph(str),  # the Well only: comma-separated time-varying fields to keep; None: all
        eval_split="test",  # the split of the evaluation rollouts: "test" (or "valid" for the Well)
        num_test_trajectories=8,  # evaluation rollouts, one from each trajectory's first state
        conditioning=False,  # the Well only: constant fields and scalars as extra, non-predicted inputs
    )


def scenario_config(name: str, **overrides: Any) -> ml_collections.ConfigDict:
    """`config.scenario` of scenario `name` with every field of the scenario in `overrides` (its
    defaults changed by `overrides`), so that each can be set from the command line."""
    scenario = scenarios.make(name, **overrides)
    return _section(
        name=name, overrides=ml_collections.ConfigDict(scenario.to_dict()), data_format="npy"
    )


def leaf_paths(config: Any, prefix: str = "") -> Iterator[str]:
    """The dotted paths of a config's fields, `scenario.overrides` counting as one field."""
    for key in sorted(config.keys()):
        path = prefix + key
        value = config[key]
        if path not in _OPAQUE and hasattr(value, "keys"):
            yield from leaf_paths(value, path + ".")
        else:
            yield path


def _get(config: Any, path: str) -> Any:
    for key in path.split("."):
        config = config[key]
    return config


_INTS = {  # field -> minimum; None is allowed where the schema's default is None
    "seed": 0, "mesh.space": 1, "distributed.num_processes": 1, "distributed.process_id": 0,
    "train.batch_size": 1, "train.num_steps": 1, "train.num_seeds": 1, "train.data_seed": 0,
    "train.worker_processes": 0,
    "train.steps_per_dispatch": 1, "train.log_every": 1, "train.checkpoint_every": 1, "train.max_to_keep": 1,
    "eval.every": 1, "eval.num_steps": 1, "eval.batch_size": 1,
}
_BOOLS = ("resume_despite_config_change", "distributed.auto", "train.tensorboard", "train.profile",
          "train.progress_bar", "dataset.conditioning")
_STRINGS = ("scenario.name", "data_dir", "dataset_dir", "network", "task", "method", "optimizer",
            "train.best_metric", "distributed.coordinator_address", "distributed.local_device_ids")
_CHOICES = {"scenario.data_format": DATA_FORMATS, "ref_stepper": REF_STEPPER_NAMES}
_REQUIRED = ("scenario.name", "network", "task", "method")


def _check_fields(config: Any) -> None:
    schema = set(leaf_paths(default_config()))
    found = set(leaf_paths(config))
    if found - schema:
        raise ValueError(
            f"config.{sorted(found - schema)[0]} is not a field of the experiment schema "
            f"(emutrain.schema.default_config); fields: {sorted(schema)}"
        )
    if schema - found:
        raise ValueError(f"config.{sorted(schema - found)[0]} is missing: start from default_config()")


def _check_value(path: str, value: Any) -> None:
    name = f"config.{path}"
    if value is None:
        if path in _REQUIRED or path in _CHOICES or path in _BOOLS:
            raise ValueError(f"{name} must be set, got None")
    elif path in _INTS:
        check_int(name, value, minimum=_INTS[path])
    elif path in _BOOLS and not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r} of type {type(value).__name__}")
    elif path in _CHOICES:
        check_choice(name, value, _CHOICES[path])
    elif path in _STRINGS and not (isinstance(value, str) and value):
        raise TypeError(f"{name} must be a non-empty str, got {value!r} of type {type(value).__name__}")
    elif path == "scenario.overrides":
        if not hasattr(value, "items"):
            raise TypeError(f"{name} must be a mapping of scenario fields, got {value!r}")
        for key, entry in value.items():
            if isinstance(entry, float) and not math.isfinite(entry):  # physics coefficients, proportions
                check_real(f"{name}.{key}", entry)


def _check_dataset(config: Any) -> None:
    """The fields of `config.dataset`; with a public dataset, a task and a method that need no solver."""
    d = config.dataset
    for field in ("kind", "path", "normalization", "fields", "eval_split"):
        value = d[field]
        if (value is not None or field in ("kind", "eval_split")) and not (isinstance(value, str) and value):
            raise TypeError(f"config.dataset.{field} must be a non-empty str, got {value!r}")
    kind = check_choice("config.dataset.kind", d.kind, DATASET_KINDS)
    check_choice("config.dataset.normalization", d.normalization, (None, "zscore", "rms"))
    check_choice("config.dataset.eval_split", d.eval_split, ("test", "valid"))
    check_int("config.dataset.dt_stride", d.dt_stride, minimum=1)
    check_int("config.dataset.num_test_trajectories", d.num_test_trajectories, minimum=1)
    if d.conditioning is True and kind != "well":  # a value of another type is refused below
        raise ValueError(
            f"config.dataset.conditioning=True needs config.dataset.kind='well' (constant fields and scalars "
            f"of The Well), got kind={kind!r}"
        )
    if kind == "scenario":
        return
    check_choice("config.dataset.eval_split", d.eval_split, EVAL_SPLITS[kind])
    if config.task != "predict":
        raise ValueError(
            f"config.task must be 'predict' with config.dataset.kind={kind!r} (a public dataset has no "
            f"coarse stepper to correct), got {config.task!r}"
        )
    if config.data_dir is not None:
        raise ValueError(
            f"config.data_dir must be None with config.dataset.kind={kind!r}, got {config.data_dir!r}"
        )
    try:
        configuration = configurations.from_method(config.method)
    except ValueError as error:
        raise ValueError(f"config.method: {error}") from None
    if configuration.needs_ref_stepper or configuration.needs_residuum_fn:
        raise ValueError(
            f"config.method={config.method!r} needs a reference stepper (config.ref_stepper), which a public "
            f"dataset (config.dataset.kind={kind!r}) does not have: train with 'one' or 'sup;T'"
        )


def _check_dataset_horizons(config: Any, dataset: PublicDataset) -> None:
    """The method's windows must fit the train trajectories, the evaluation the evaluation split's."""
    window = configurations.from_method(config.method).required_window_length
    horizon = dataset.train_temporal_horizon
    if window > horizon + 1:
        raise ValueError(
            f"config.method={config.method!r} needs train windows of {window} time levels, but the train "
            f"trajectories of config.dataset.path={config.dataset.path!r} have {horizon + 1} (with "
            f"config.dataset.dt_stride={config.dataset.dt_stride}): shorten the rollout or the stride"
        )
    eval_steps = config.eval.num_steps
    if eval_steps is not None and eval_steps > dataset.test_temporal_horizon:
        raise ValueError(
            f"config.eval.num_steps must be <= the {config.dataset.eval_split!r} trajectories' "
            f"{dataset.test_temporal_horizon} steps (config.dataset.path={config.dataset.path!r}, "
            f"config.dataset.dt_stride={config.dataset.dt_stride}), got {eval_steps}"
        )


def make_scenario(config: Any) -> Any:
    """`emutrain.scenarios.make(config.scenario.name, **config.scenario.overrides)`, its errors naming
    the config field; with a public dataset (`config.dataset.kind`), its `PublicDataset`."""
    if is_public(config):
        return PublicDataset.from_config(config)
    overrides = config.scenario.overrides
    overrides = overrides.to_dict() if hasattr(overrides, "to_dict") else dict(overrides or {})
    try:
        return scenarios.make(config.scenario.name, **overrides)
    except (TypeError, ValueError) as error:
        known = config.scenario.name in (*scenarios.names(), *scenarios.registered())
        field = "scenario.overrides" if known else "scenario.name"
        raise type(error)(f"config.{field}: {error}") from None


def _check_horizons(config: Any, scenario: Any) -> None:
    """The method must not roll out more steps than the train trajectories hold, the evaluation not
    more than the test trajectories; the errors name these fields instead of the windows' length."""
    try:
        window = configurations.from_method(config.method).required_window_length
    except ValueError as error:
        raise ValueError(f"config.method: {error}") from None
    if config.data_dir is not None:
        return
    horizon = scenario.train_temporal_horizon
    if window > horizon + 1:
        raise ValueError(
            f"config.method={config.method!r} needs train windows of {window} time levels, but the train "
            f"trajectories have {horizon + 1} (config.scenario.overrides.train_temporal_horizon={horizon}): "
            "shorten the rollout or lengthen the horizon"
        )
    eval_steps = config.eval.num_steps
    if eval_steps is not None and eval_steps > scenario.test_temporal_horizon:
        raise ValueError(
            f"config.eval.num_steps must be <= the test horizon (config.scenario.overrides."
            f"test_temporal_horizon={scenario.test_temporal_horizon}), got {eval_steps}"
        )


# -- checks of the strings and sizes against the scenario, before any network is built or data written --

_TENDENCY_TASK = "correct;tendency"  # the task of emutrain.nn.closures.TendencyClosure
_SPLITS = ("train", "test")
_SPLIT_FLAGS = {"train": "num_train_samples", "test": "num_test_samples"}


def check_against_scenario(config: Any, scenario: Any) -> None:
    """The task, the network (built abstractly, so no weight is drawn), the datasets' size against the
    host memory and `config.data_dir`'s splits, each error naming its `config.<field>`."""
    _check_task(config.task)
    _check_network(config, scenario)
    if config.data_dir is None:
        _check_dataset_memory(config, scenario)
    else:
        _check_data_dir(config.data_dir, scenario)


def _check_task(task: str) -> None:
    allowed = (*nn.TASK_FORMS, _TENDENCY_TASK)
    if task not in allowed:
        raise ValueError(f"config.task: task must be one of {allowed}, got {task!r}")


def _check_network(config: Any, scenario: Any) -> None:
    """`config.network` built for the scenario's grid as `emutrain.experiment.build_network` builds it,
    shapes only: malformed strings and fields the grid bounds (U-Net levels, FNO modes) are refused."""
    d, c = scenario.num_spatial_dims, scenario.num_channels
    boundary_mode = getattr(scenario, "boundary_mode", "periodic")
    spec = config.network

    def build() -> nnx.Module:
        rngs = nnx.Rngs(0)  # inside the abstract trace
        return nn.from_spec(
            spec, d, c, c, num_points=scenario.num_points, boundary_mode=boundary_mode, rngs=rngs
        )

    try:
        nnx.eval_shape(build)
    except (TypeError, ValueError) as error:
        raise type(error)(f"config.network: {error}") from None


def _check_dataset_memory(config: Any, scenario: Any) -> None:
    """Generation holds a process's share of each split in memory, evaluation the whole test set unless
    `eval.batch_size` is set: refused with the estimate when that exceeds the host's available memory."""
    processes = config.distributed.num_processes
    processes = 1 if processes is None else processes
    available = available_memory_bytes()
    for split in _SPLITS:
        count = 1 if split == "test" and config.eval.batch_size is None else processes
        needed = scenarios.share_nbytes(scenario, split, process_count=count)
        if needed > available:
            field = _SPLIT_FLAGS[split]
            num_samples, horizon, _ = scenario.split_settings(split)
            share = -(-num_samples // count)
            raise ValueError(
                f"config.scenario.overrides.{field}={num_samples}: the {split} set needs "
                f"{needed / 1e9:.1f} GB of memory ({share} samples x {horizon + 1} time levels x "
                f"{scenario.num_points}^{scenario.num_spatial_dims} points x {scenario.num_channels} "
                f"channels x 4 bytes), {available / 1e9:.1f} GB are available; lower "
                f"--config.scenario.overrides.{field}"
            )


def _check_data_dir(data_dir: str, scenario: Any) -> None:
    """Each split of `config.data_dir` read (memory-mapped) as `emutrain.experiment` reads it: present,
    readable, real floats (`emutrain.data.load_trajectories` checks) of shape `(S, T+1, *spatial, C)` on
    the scenario's grid; errors name the split and its path."""
    if not os.path.exists(data_dir):  # named against the directory a relative path is read from
        raise FileNotFoundError(f"config.data_dir={data_dir!r}: no such file or directory in {os.getcwd()}")
    expected = (scenario.num_points,) * scenario.num_spatial_dims + (scenario.num_channels,)
    for split in _SPLITS:
        path = os.path.join(os.fspath(data_dir), split)
        where = f"config.data_dir={data_dir!r}: the {split} split {path!r}"
        try:
            trajectories = scenarios.load_dataset(path)[0]
        except (FileNotFoundError, ValueError, TypeError) as error:
            raise type(error)(f"{where}: {error}") from None
        if trajectories.ndim < 3 or tuple(trajectories.shape[2:]) != expected:
            raise ValueError(
                f"{where} must have shape (S, T+1, *spatial, C) with (*spatial, C) = {expected} (scenario "
                f"{scenario.name!r}), got {trajectories.shape}"
            )


def validate_config(config: Any) -> None:
    """Checks every field of an experiment config (see the module docstring); raises on the first bad one.

    Raises:
      TypeError: a field of the wrong type (a bool or float where an int is wanted, a number where a bool
        or a string is wanted), named as `config.<field>`.
      ValueError: an unknown or missing field, a value out of range, an unknown name, a rollout or an
        evaluation longer than the trajectories, `train.num_steps` not a multiple of
        `train.steps_per_dispatch`, a network string the scenario's grid cannot hold, datasets larger
        than the available memory (`check_against_scenario`).
      FileNotFoundError: a split of `config.data_dir` that is missing or holds no trajectories.
    """
    if not isinstance(config, ml_collections.ConfigDict):
        config = ml_collections.ConfigDict(config)  # a nested mapping, e.g. a stored config.json
    _check_fields(config)
    _check_dataset(config)
    public = is_public(config)  # then the scenario's fields are unused
    for path in leaf_paths(config):
        if not (public and path.startswith("scenario.")):
            _check_value(path, _get(config, path))
    scenario = make_scenario(config)
    if public:
        _check_dataset_horizons(config, scenario)
    else:
        _check_horizons(config, scenario)
        check_against_scenario(config, scenario)
    resolved = resolve_config(config)
    dispatch = config.train.steps_per_dispatch
    if resolved.train.num_steps % dispatch:
        raise ValueError(
            f"config.train.num_steps must be a multiple of config.train.steps_per_dispatch ({dispatch}), "
            f"got {resolved.train.num_steps}"
        )
    field = "optimizer" if config.optimizer is not None else "scenario.overrides.optim_config"
    try:
        optimizers.make_optimizer(optimizer_spec(resolved), num_steps=resolved.train.num_steps)
    except ValueError as error:
        raise ValueError(f"config.{field}: {error}") from None


def resolved_num_steps(config: Any, scenario: Any) -> int:
    """`config.train.num_steps`; when None, NUM_STEPS of the explicit `config.optimizer` string, else
    the scenario's."""
    if config.train.num_steps is not None:
        return config.train.num_steps
    if config.optimizer is not None:
        try:
            return int(config.optimizer.split(";")[1].replace("_", ""))
        except (IndexError, ValueError):
            raise ValueError(
                f"config.optimizer must have the form OPTIMIZER;NUM_STEPS;... when config.train.num_steps is "
                f"None, got {config.optimizer!r}"
            ) from None
    return scenario.num_training_steps


_SCHEDULE_STEP_ARGS = {"warmup_cosine": 5, "exp": 4, "exponential": 4}  # index of WARMUP / TRANSITION steps


def _with_num_steps(optim_config: str, num_steps: int) -> str:
    """An APEBench optimizer string stretched to `num_steps`: NUM_STEPS (second entry) set to it and the
    schedule's warm-up or transition steps scaled by the same factor (at least 1), so the schedule keeps
    its shape, e.g. `adam;10_000;warmup_cosine;0.0;1e-3;2_000` over 300 steps warms up for 60."""
    parts = [part.strip() for part in optim_config.split(";")]
    original = int(parts[1].replace("_", ""))
    if num_steps == original:
        return optim_config
    index = _SCHEDULE_STEP_ARGS.get(parts[2].lower())
    if num_steps != original and index is not None and index < len(parts):
        steps = int(parts[index].replace("_", ""))
        parts[index] = str(max(1, round(steps * num_steps / original)))
    return ";".join([parts[0], str(num_steps), *parts[2:]])


def optimizer_spec(config: Any) -> str:
    """The optimizer string a run trains with: `config.optimizer`, or the scenario's `optim_config`
    stretched to `config.train.num_steps` (warm-up or transition steps scaled alike). A None optimizer
    stays None in the resolved config, so a resumed run may train longer (`train.num_steps` changes
    nothing else of the stored config)."""
    if config.optimizer is not None:
        return config.optimizer
    scenario = make_scenario(config)
    return _with_num_steps(scenario.optim_config, resolved_num_steps(config, scenario))


def resolve_config(config: Any) -> ml_collections.ConfigDict:
    """A copy of a valid `config` with every None that the scenario decides filled in: batch size and
    number of steps (the scenario's), checkpoint and evaluation cadence (a quarter of the steps),
    evaluation horizon (the test horizon) and best metric (`eval/gmean_nrmse_<min(100, eval.num_steps)>`);
    the optimizer is left to `optimizer_spec`."""
    scenario = make_scenario(config)
    resolved = ml_collections.ConfigDict(config.to_dict())
    t = resolved.train
    if t.batch_size is None:
        t.batch_size = scenario.batch_size
    t.num_steps = resolved_num_steps(config, scenario)
    quarter = max(1, t.num_steps // 4)
    if t.checkpoint_every is None:
        t.checkpoint_every = quarter
    if resolved.eval.every is None:
        resolved.eval.every = quarter
    if resolved.eval.num_steps is None:
        resolved.eval.num_steps = scenario.test_temporal_horizon
    if t.best_metric is None:
        t.best_metric = f"eval/gmean_nrmse_{min(100, resolved.eval.num_steps)}"
    return resolved
