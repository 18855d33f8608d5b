"""Planning a study: its combinations (`Run`) and the experiment config of each (`run_config`)."""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Mapping, Sequence
from typing import Any

import ml_collections
from flax import nnx

from emutrain import experiment
from emutrain.public_datasets import parse_dataset
from emutrain.schema import default_config, resolve_config, scenario_config, validate_config

KEYS = ("scenario", "task", "network", "method")
"""The columns that name a run; with `seed` they name one trained network."""
_ABSENT = object()
DATASET_FIELDS = (
    "dt_stride", "normalization", "fields", "eval_split", "num_test_trajectories", "conditioning",
)
"""The `config.dataset` fields a study sets for its public-dataset scenarios."""


@dataclasses.dataclass(frozen=True)
class Run:
    """One combination of a study (all its seeds are trained together)."""

    scenario: str
    task: str
    network: str
    method: str

    @property
    def name(self) -> str:
        """The run's directory name: its strings joined by `__`, characters other than letters, digits,
        `.`, `-` and `_` replaced by `-` (e.g. `diff_adv__predict__Conv-34-10-relu__one`)."""
        return "__".join(re.sub(r"[^A-Za-z0-9._-]", "-", part) for part in dataclasses.astuple(self))

    @property
    def label(self) -> str:
        """`network method task` (the scenario left out): a line or bar name within a scenario."""
        return f"{self.network} {self.method} {self.task}"

    def keys(self) -> dict[str, str]:
        return dataclasses.asdict(self)


def _strings(config: Any, field: str) -> list[str]:
    values = config.get(field)
    if isinstance(values, str) or not isinstance(values, Sequence) or not values:
        raise ValueError(f"config.{field} must be a non-empty list of strings, got {values!r}")
    for value in values:
        if not isinstance(value, str) or not value:
            raise ValueError(f"config.{field} entries must be non-empty strings, got {value!r}")
    if len(set(values)) != len(values):
        raise ValueError(f"config.{field} must not repeat an entry, got {list(values)}")
    return list(values)


def _seeds(config: Any) -> list[int]:
    seeds = config.get("seeds")
    if isinstance(seeds, (str, int)) or not isinstance(seeds, Sequence) or not seeds:
        raise ValueError(f"config.seeds must be a non-empty list of ints, got {seeds!r}")
    for seed in seeds:
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"config.seeds entries must be ints >= 0, got {seed!r}")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"config.seeds must not repeat a seed, got {list(seeds)}")
    return list(seeds)


def runs(config: Any) -> list[Run]:
    """The study's combinations, scenario-major (scenario, task, network, method)."""
    fields = [_strings(config, f) for f in ("scenarios", "tasks", "networks", "methods")]
    return [Run(*combination) for combination in itertools.product(*fields)]


def _overrides(config: Any) -> dict[str, Any]:
    overrides = _get(config, "overrides", {})
    return overrides.to_dict() if hasattr(overrides, "to_dict") else dict(overrides)


def _get(config: Any, field: str, default: Any) -> Any:
    """A dotted field of the study config; `default` only where the config lacks the field (a None it
    holds is kept: None fields take the scenario's values)."""
    value = config
    for key in field.split("."):
        value = value.get(key, _ABSENT) if value is not None and hasattr(value, "get") else _ABSENT
        if value is _ABSENT:
            return default
    return value


def _set_problem(rc: ml_collections.ConfigDict, config: Any, run: Run) -> None:
    """`rc.scenario`, or `rc.dataset` where the scenario entry names a public dataset (`KIND,PATH`, read
    as `configs/dataset.py` reads it; its other fields from the study's `dataset` section)."""
    try:
        dataset = parse_dataset(run.scenario)
        if dataset is None:
            rc.scenario = scenario_config(run.scenario, **_overrides(config))
            rc.scenario.data_format = _get(config, "data_format", "npy")
            return
    except (TypeError, ValueError) as error:
        raise ValueError(f"study run {run.name}: config.scenarios / config.overrides: {error}") from None
    kind, path, rest = dataset
    if rest:
        raise ValueError(
            f"study run {run.name}: config.scenarios entries naming a dataset must be 'KIND,PATH', got "
            f"{run.scenario!r}"
        )
    rc.dataset.kind, rc.dataset.path = kind, path
    for field in DATASET_FIELDS:
        value = _get(config, f"dataset.{field}", _ABSENT)
        if value is not _ABSENT:
            rc.dataset[field] = value


def _experiment_config(config: Any, run: Run, seed: int) -> ml_collections.ConfigDict:
    """The combination's config of the experiment schema, None fields left to the scenario."""
    rc = default_config()
    rc.seed = seed
    _set_problem(rc, config, run)
    rc.dataset_dir = _get(config, "dataset_dir", None)
    rc.network, rc.task, rc.method = run.network, run.task, run.method
    rc.ref_stepper = _get(config, "ref_stepper", "reference")
    rc.optimizer = _get(config, "optimizer", None)
    for field in ("batch_size", "num_steps", "data_seed", "log_every", "checkpoint_every", "tensorboard",
                  "progress_bar"):
        value = _get(config, f"train.{field}", _ABSENT)
        if value is not _ABSENT and value is not None:
            rc.train[field] = value
    rc.train.batch_size = _get(config, "train.batch_size", None)  # None: the scenario's; 0 is refused
    rc.train.num_seeds = len(_seeds(config))
    rc.eval.num_steps = _get(config, "eval.num_steps", None)
    rc.eval.batch_size = _get(config, "eval.batch_size", None)
    return rc


_STUDY_FIELDS = {
    "config.scenario.overrides": "config.overrides", "config.scenario.data_format": "config.data_format",
}


def _study_fields(message: str) -> str:
    """An experiment-schema message with the fields that the study config names otherwise renamed, so it
    names the flag the user wrote (`--config.overrides.num_train_samples`, not `config.scenario....`)."""
    for field, study_field in _STUDY_FIELDS.items():
        message = message.replace(field, study_field)
    return message


def run_config(config: Any, run: Run, seed: int | None = None) -> ml_collections.ConfigDict:
    """The `emutrain.experiment` config of one combination (with `seed`, default the study's first),
    validated and resolved as `train_and_evaluate` resolves a single run: the scenario's batch size,
    steps and test horizon where the study leaves None (the optimizer: `emutrain.schema.optimizer_spec`);
    the loss record cadence
    `train.log_every` (None: the scenario's `record_loss_every`, at most the number of steps) and
    `train.checkpoint_every` (None: a quarter of the steps) a multiple of it, so a resumed run averages
    its losses over the same steps.

    Raises:
      ValueError: a field of the combination that the experiment schema refuses, naming the run.
    """
    seed = _seeds(config)[0] if seed is None else seed
    rc = _experiment_config(config, run, seed)
    try:
        validate_config(rc)
    except (TypeError, ValueError) as error:
        raise ValueError(f"study run {run.name}: {_study_fields(str(error))}") from None
    resolved = resolve_config(rc)
    t = resolved.train
    log_every = _get(config, "train.log_every", None)
    if log_every is None:
        log_every = min(experiment.build_scenario(resolved).record_loss_every, t.num_steps)
    t.log_every = log_every
    every = _get(config, "train.checkpoint_every", None)
    every = max(t.num_steps // 4, 1) if every is None else every
    t.checkpoint_every = max(log_every, every // log_every * log_every)
    resolved.eval.every = t.num_steps
    return resolved


def check_run(run: Run, rc: Any) -> None:
    """Builds what a string of the run names that validation does not (the network and task, abstractly)
    and the device mesh (the batch must split over its data axis), so a bad run fails before any
    training, naming the run and the config field."""
    try:
        nnx.eval_shape(lambda: experiment.build_model(rc))
        experiment.build_mesh(rc)
    except ValueError as error:
        raise ValueError(f"study run {run.name}: {error}") from None


def group(rows: Sequence[Mapping[str, str]], keys: Sequence[str]) -> dict[tuple, list[Mapping[str, str]]]:
    """Table rows grouped by the values of `keys`, in order of appearance."""
    groups: dict[tuple, list] = {}
    for row in rows:
        groups.setdefault(tuple(row[k] for k in keys), []).append(row)
    return groups
