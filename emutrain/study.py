"""Studies: sweeps of scenarios x tasks x networks x methods x seeds, with tables and plots.

A study is an `ml_collections.ConfigDict` (see `configs/studies/apebench_1d.py`):

* `scenarios`, `tasks`, `networks`, `methods`: lists of APEBench 0.1.1 strings (scenario names of
  `emutrain.scenarios.make`, `predict` / `correct;MODE`, architecture strings of `emutrain.nn.from_spec`,
  method strings of `emutrain.configurations.from_method`);
* `seeds`: the network initialization seeds; all seeds of a combination are trained at once as one
  `emutrain.nn.Ensemble` (one compile, vmapped members). Member i is initialized exactly as a single run
  with `config.seed = seeds[i]` (`emutrain.experiment.build_model`); the members share the batch order and
  the configuration's RNG keys (`train.data_seed`);
* `overrides`: scenario fields applied to every scenario (e.g. `num_points`);
* `optimizer`: an optimizer string or mapping of `emutrain.optimizers.make_optimizer`, None for each
  scenario's `optim_config` (APEBench's default: 10,000 Adam steps, warm-up cosine to 1e-3);
* `train`: `num_steps` (None: from the optimizer string), `batch_size` (None: the scenario's),
  `data_seed`, `log_every` (loss record cadence, None: the scenario's `record_loss_every`),
  `checkpoint_every`, `tensorboard`, `progress_bar`;
* `eval`: `num_steps` (None: the scenario's `test_temporal_horizon`), `gmean_num_steps` (100),
  `batch_size`;
* `ref_stepper`, `dataset_dir`, `data_format`: as in `emutrain.experiment` (the datasets default to
  `<workdir>/datasets`, generated once per scenario);
* `plots`: draw the figures when the study ends (default True).

Every combination runs in its own directory `<workdir>/runs/<name>` (checkpoints, TensorBoard events, its
tables); a `DONE` file written after a run's outputs marks it finished. Running the study again skips
finished runs and resumes an interrupted one from its latest checkpoint (a finished or interrupted run
whose settings or seeds changed raises instead). After each run the study tables
are rebuilt from the finished runs, so they are readable while a study is still going:

* `metrics.csv`: scenario, task, network, method, seed, step, metric, value: `mean_nRMSE` and
  `mean_correlation` (means over the test trajectories) at every test step 1..H;
* `losses.csv`: scenario, task, network, method, seed, step, loss: the training loss averaged over the
  `log_every` steps ending at `step`;
* `summary.csv`: per run and seed: `gmean_nrmse` (geometric mean of `mean_nRMSE` over steps
  1..min(100, H)), `final_loss` (the last `losses.csv` value), `num_params` (one member), `train_time_s`
  (wall time of the ensemble's training, shared by its seeds, compilation included; after a resume the
  steps redone since the last checkpoint are not counted twice), `steps_per_second`
  (`num_steps / train_time_s`), `num_steps`, `num_seeds`;
* `summary.md`: the same as a Markdown table, mean and [min, max] over seeds;
* `plots/`: nRMSE over time per scenario (seed mean, seed range as a band) and the gmean nRMSE per run
  (bars, log scale), as PNG and as TensorBoard images.

The CSVs are plain text, readable by pandas without emutrain; `load` (which imports pandas, extra
`study`) reads them, `aggregate_seeds` and `relative_to` make the usual comparisons. Only process 0
writes files.
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import ml_collections
import numpy as np
from absl import logging
from flax import nnx
from matplotlib.figure import Figure
from tqdm.auto import tqdm

from emutrain import configurations, data, evaluate, experiment, nn, viz
from emutrain.train import CheckpointHook, Hook, HookContext, Trainer
from emutrain.train.checkpoint import check_resume
from emutrain.train.lock import workdir_lock
from emutrain.train.writers import make_writer, write_config_json

__all__ = [
    "KEYS",
    "METRICS",
    "TABLES",
    "Run",
    "aggregate_seeds",
    "build_ensemble",
    "collect",
    "load",
    "plot_gmean_bars",
    "plot_nrmse_over_time",
    "relative_to",
    "run_config",
    "run_study",
    "runs",
]

KEYS = ("scenario", "task", "network", "method")
"""The columns that name a run; with `seed` they name one trained network."""
METRICS = ("mean_nRMSE", "mean_correlation")
"""The per-test-step metrics of `metrics.csv` (APEBench's name for the first)."""
TABLES = ("metrics", "losses", "summary")
SUMMARY_COLUMNS = (
    "gmean_nrmse", "final_loss", "num_params", "train_time_s", "steps_per_second", "num_steps", "num_seeds"
)
DONE_FILE = "DONE"
RUNS_DIR = "runs"
_TRAIN_LOG = "train_log.csv"


def _is_main() -> bool:
    return jax.process_index() == 0


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
    overrides = config.get("overrides") or {}
    return overrides.to_dict() if hasattr(overrides, "to_dict") else dict(overrides)


def _num_steps_of(optimizer: Any) -> int | None:
    """NUM_STEPS of an APEBench optimizer string, None for a mapping."""
    if isinstance(optimizer, str):
        tokens = optimizer.split(";")
        try:
            return int(tokens[1])
        except (IndexError, ValueError):
            raise ValueError(
                f"config.optimizer {optimizer!r} must have the form OPTIMIZER;NUM_STEPS;..."
            ) from None
    return None


def run_config(config: Any, run: Run, seed: int | None = None) -> ml_collections.ConfigDict:
    """The `emutrain.experiment` config of one combination (with `seed`, default the study's first):
    what `pipelines/train.py` would train as a single run."""
    seed = _seeds(config)[0] if seed is None else seed
    overrides = _overrides(config)
    scenario = experiment.build_scenario(
        ml_collections.ConfigDict({"scenario": {"name": run.scenario, "overrides": overrides}})
    )
    t = config.get("train") or ml_collections.ConfigDict()
    optimizer = config.get("optimizer") or scenario.optim_config
    num_steps = t.get("num_steps") or _num_steps_of(optimizer)
    if num_steps is None:
        raise ValueError("config.train.num_steps must be given for an optimizer mapping, got None")
    log_every = t.get("log_every") or min(scenario.record_loss_every, num_steps)
    rc = ml_collections.ConfigDict()
    rc.seed = seed
    rc.distributed = False
    rc.scenario = ml_collections.ConfigDict(
        {"name": run.scenario, "overrides": overrides, "data_format": config.get("data_format", "npy")}
    )
    rc.data_dir = None
    rc.dataset_dir = config.get("dataset_dir")
    rc.network, rc.task, rc.method = run.network, run.task, run.method
    rc.ref_stepper = config.get("ref_stepper", "reference")
    rc.optimizer = optimizer
    rc.train = ml_collections.ConfigDict()
    rc.train.batch_size = t.get("batch_size") or scenario.batch_size
    rc.train.num_steps = num_steps
    rc.train.data_seed = t.get("data_seed", 0)
    rc.train.log_every = log_every
    # A multiple of log_every: a resumed run then averages its losses over the same steps.
    every = t.get("checkpoint_every") or max(num_steps // 4, 1)
    rc.train.checkpoint_every = max(log_every, every // log_every * log_every)
    e = config.get("eval") or ml_collections.ConfigDict()
    rc.eval = ml_collections.ConfigDict()
    rc.eval.num_steps = e.get("num_steps") or scenario.test_temporal_horizon
    rc.eval.gmean_num_steps = e.get("gmean_num_steps", 100)
    rc.eval.batch_size = e.get("batch_size")
    return rc


def _check_run(run: Run, rc: Any) -> None:
    """Builds everything of a run that a string names (method, optimizer, network and task, the latter
    abstractly), so a bad string fails before any training, naming the run and the config field."""
    try:
        configuration = experiment.build_configuration(rc)
        experiment.build_optimizer(rc)
        nnx.eval_shape(lambda: experiment.build_model(rc))
    except ValueError as error:
        raise ValueError(f"study run {run.name}: {error}") from None
    horizon = experiment.build_scenario(rc).train_temporal_horizon
    if configuration.required_window_length > horizon + 1:
        raise ValueError(
            f"study run {run.name}: config.methods entry {run.method!r} needs windows of "
            f"{configuration.required_window_length} states, the train trajectories hold {horizon + 1}"
        )


def build_ensemble(config: Any, seeds: Sequence[int]) -> nn.Ensemble:
    """An `nn.Ensemble` whose member i is `emutrain.experiment.build_model(config)` with
    `config.seed = seeds[i]` (the same parameters, stacked on a leading member axis)."""
    models = []
    for seed in seeds:
        member_config = ml_collections.ConfigDict(config.to_dict())
        member_config.seed = seed
        models.append(experiment.build_model(member_config))
    graphdef, *states = nnx.split(models[0]), *(nnx.state(m) for m in models[1:])
    first_graphdef, first_state = graphdef
    # The ensemble's own initialization is replaced below; its constructor only fixes the structure.
    ensemble = nn.Ensemble(
        lambda rngs: nnx.merge(first_graphdef, first_state, copy=True), len(seeds),
        num_spatial_dims=experiment.build_scenario(config).num_spatial_dims, rngs=nnx.Rngs(0),
    )
    stacked = jax.tree.map(lambda *leaves: np.stack([np.asarray(x) for x in leaves]), first_state, *states)
    nnx.update(ensemble.members, stacked)
    return ensemble


# -- files ----------------------------------------------------------------------------------------------


def _write_csv(path: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Writes `rows` under `header` atomically (a reader never sees half a table)."""
    temporary = path + ".tmp"
    with open(temporary, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(rows)
    os.replace(temporary, path)


def _read_csv(path: str) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


class _LossRecorder(Hook):
    """Appends each seed's training loss (`LogHook`'s mean since its last write) and the elapsed training
    time to `<run>/train_log.csv` whenever the `LogHook` writes, and advances the study's progress bar.
    On resume, rows after the restored step (written after the last checkpoint) are dropped and the time
    continues from the last kept row."""

    at_preemption = True

    def __init__(self, path: str, seeds: Sequence[int], every_steps: int, bar: Any):
        super().__init__(every_steps=every_steps)
        self.path, self.seeds, self.bar = path, list(seeds), bar

    def begin(self, context: HookContext) -> None:
        super().begin(context)
        rows = _read_csv(self.path) if os.path.exists(self.path) else []
        rows = [row for row in rows if int(row["step"]) <= context.start_step]
        self._time_offset = float(rows[-1]["elapsed_s"]) if rows else 0.0
        self._start_time = context.now
        if _is_main():
            _write_csv(
                self.path, ("step", "elapsed_s", "seed", "loss"),
                [(row["step"], row["elapsed_s"], row["seed"], row["loss"]) for row in rows],
            )
        self.bar.update(context.start_step)

    def __call__(self, step: int, context: HookContext) -> None:
        elapsed = self._time_offset + context.now - self._start_time
        if _is_main():
            with open(self.path, "a", newline="", encoding="utf-8") as file:
                writer = csv.writer(file)
                for i, seed in enumerate(self.seeds):
                    writer.writerow((step, repr(elapsed), seed, repr(context.values[f"loss/member_{i}"])))
        self.bar.update(step - self._last_step)


def _param_count(ensemble: nn.Ensemble) -> int:
    return int(sum(np.size(leaf) for leaf in jax.tree.leaves(nnx.state(ensemble.member(0), nnx.Param))))


def _evaluate_members(ensemble: nn.Ensemble, test: np.ndarray, rc: Any) -> list[evaluate.RolloutMetrics]:
    """Each member rolled out alone (the same compiled program for every member)."""
    return [
        evaluate.evaluate_rollout(
            ensemble.member(i), test, num_steps=rc.eval.num_steps, batch_size=rc.eval.batch_size,
            gmean_num_steps=rc.eval.gmean_num_steps,
        )
        for i in range(ensemble.num_members)
    ]


def _write_run_tables(run_dir: str, run: Run, seeds: Sequence[int], rc: Any,
                      results: list[evaluate.RolloutMetrics], num_params: int) -> None:
    keys = list(run.keys().values())
    metric_rows = []
    for seed, result in zip(seeds, results):
        for name, curve in zip(METRICS, (result.mean_nrmse, result.mean_correlation)):
            metric_rows += [(*keys, seed, h, name, repr(float(v))) for h, v in enumerate(curve, start=1)]
    _write_csv(os.path.join(run_dir, "metrics.csv"), (*KEYS, "seed", "step", "metric", "value"), metric_rows)
    log = _read_csv(os.path.join(run_dir, _TRAIN_LOG))
    _write_csv(
        os.path.join(run_dir, "losses.csv"), (*KEYS, "seed", "step", "loss"),
        [(*keys, row["seed"], row["step"], row["loss"]) for row in log],
    )
    train_time = float(log[-1]["elapsed_s"])
    num_steps = rc.train.num_steps
    summary_rows = []
    for seed, result in zip(seeds, results):
        final = [row for row in log if int(row["seed"]) == seed][-1]
        summary_rows.append((
            *keys, seed, repr(float(result.gmean_nrmse)), final["loss"], num_params, repr(train_time),
            repr(num_steps / train_time if train_time > 0 else math.inf), num_steps, len(seeds),
        ))
    _write_csv(os.path.join(run_dir, "summary.csv"), (*KEYS, "seed", *SUMMARY_COLUMNS), summary_rows)


def _done_record(run: Run, seeds: Sequence[int], rc: Any) -> dict[str, Any]:
    return {"run": run.keys(), "seeds": list(seeds), "config": json.loads(json.dumps(rc.to_dict()))}


def _check_done(path: str, record: dict[str, Any]) -> None:
    with open(path, encoding="utf-8") as file:
        stored = json.load(file)
    if stored != record:
        changed = sorted(k for k in record if stored.get(k) != record[k])
        raise ValueError(
            f"workdir holds a finished run {record['run']} with other settings ({', '.join(changed)} "
            f"differ) in {os.path.dirname(path)}: use another workdir or delete that run directory"
        )


# -- the study ------------------------------------------------------------------------------------------


def _train_and_evaluate(run: Run, rc: Any, seeds: Sequence[int], run_dir: str, splits: dict[str, np.ndarray],
                        hooks: Sequence[Hook], bar: Any, config: Any) -> bool:
    """Trains one combination (all seeds as one ensemble), evaluates every seed and writes the run's
    tables; returns False when a SIGTERM stopped training (the run resumes next time)."""
    t = config.get("train") or ml_collections.ConfigDict()
    configuration = experiment.build_configuration(rc)
    optimizer, schedule = experiment.build_optimizer(rc)
    num_processes = jax.process_count()
    if rc.train.batch_size % num_processes:
        raise ValueError(
            f"train.batch_size must be divisible by the number of processes ({num_processes}), "
            f"got {rc.train.batch_size}"
        )
    loader = data.make_loader(
        data.TrajectoryWindows(splits["train"], configuration.required_window_length),
        batch_size=rc.train.batch_size // num_processes, seed=rc.train.data_seed,
        shard_index=jax.process_index(), shard_count=num_processes,
    )
    log_every = rc.train.log_every
    # The seeds are part of what a checkpoint must match: the ensemble's member axis depends on them.
    stored_config = {**rc.to_dict(), "seeds": list(seeds)}
    check_resume(os.path.join(run_dir, "checkpoints"), stored_config)
    recorder = _LossRecorder(os.path.join(run_dir, _TRAIN_LOG), seeds, log_every, bar)
    trainer = Trainer(
        configurations.WithSteppers(
            configuration, experiment.build_ref_stepper(rc), experiment.build_residuum_fn(rc)
        ),
        optimizer, learning_rate=schedule, seed=rc.train.data_seed,
        workdir=run_dir, log_every=log_every, tensorboard=t.get("tensorboard", True),
        progress_bar=t.get("progress_bar", True),
        hooks=[
            CheckpointHook(every_steps=rc.train.checkpoint_every, max_to_keep=1, config=stored_config),
            recorder, *hooks,
        ],
    )
    ensemble = build_ensemble(rc, seeds)
    result = trainer.fit(ensemble, loader, num_steps=rc.train.num_steps)
    if result.preempted:
        return False
    model = result.model
    results = _evaluate_members(model, splits["test"], rc)
    if _is_main():
        _write_run_tables(run_dir, run, seeds, rc, results, _param_count(model))
    return True


def _load_splits(rc: Any, workdir: str) -> dict[str, np.ndarray]:
    """The scenario's train and test trajectories, generated once under the study's dataset directory."""
    root = experiment.dataset_root(rc, workdir)
    experiment.build_dataset(rc, root, process_index=jax.process_index(), process_count=jax.process_count())
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices("emutrain study datasets written")
    dataset = experiment.build_dataset(rc, root)
    return {split: dataset.load(split) for split in ("train", "test")}


def run_study(config: Any, workdir: str | os.PathLike, *, hooks: Sequence[Hook] = (),
              progress_bar: bool = True) -> list[Run]:
    """Runs every combination of `config` not yet finished in `workdir` (see the module docstring), then
    rebuilds the study tables and plots.

    Args:
      config: a study config (module docstring).
      workdir: the study directory; an existing one is resumed.
      hooks: extra `emutrain.train.Hook`s added to every run's Trainer (they see the run's workdir).
      progress_bar: show the study's progress bar (steps over all runs); each run's own bar is
        `config.train.progress_bar`.

    Returns:
      the combinations finished so far (all of them unless a SIGTERM stopped the study early).

    Raises:
      ValueError: a malformed study config, or a finished run in `workdir` trained with other settings.
      WorkdirLockedError: another study process works in `workdir` (one line naming it).
    """
    workdir = os.path.abspath(os.fspath(workdir))
    with workdir_lock(workdir):  # one study process per workdir
        return _run_study(config, workdir, hooks, progress_bar)


def _run_study(config: Any, workdir: str, hooks: Sequence[Hook], progress_bar: bool) -> list[Run]:
    """`run_study` once the process holds the study's workdir."""
    seeds = _seeds(config)
    combinations = runs(config)
    configs = {run: run_config(config, run) for run in combinations}
    for run, rc in configs.items():
        _check_run(run, rc)
    if _is_main():
        os.makedirs(os.path.join(workdir, RUNS_DIR), exist_ok=True)
        write_config_json(workdir, config)
    done_paths = {run: os.path.join(workdir, RUNS_DIR, run.name, DONE_FILE) for run in combinations}
    finished = []
    for run in combinations:
        if os.path.exists(done_paths[run]):
            _check_done(done_paths[run], _done_record(run, seeds, configs[run]))
            finished.append(run)
    total = sum(rc.train.num_steps for rc in configs.values())
    with tqdm(total=total, unit="step", desc="study", disable=not (progress_bar and _is_main()),
              dynamic_ncols=True) as bar:
        bar.update(sum(configs[run].train.num_steps for run in finished))
        splits: dict[str, dict[str, np.ndarray]] = {}
        for index, run in enumerate(combinations):
            if run in finished:
                continue
            rc = configs[run]
            logging.info("study run %d/%d: %s (seeds %s)", index + 1, len(combinations), run.name, seeds)
            bar.set_postfix_str(run.name, refresh=True)
            if run.scenario not in splits:
                splits = {run.scenario: _load_splits(rc, workdir)}  # one scenario's data in memory at a time
            run_dir = os.path.join(workdir, RUNS_DIR, run.name)
            if not _train_and_evaluate(run, rc, seeds, run_dir, splits[run.scenario], hooks, bar, config):
                logging.warning("study stopped by SIGTERM during %s; run it again to resume", run.name)
                break
            if _is_main():
                with open(done_paths[run] + ".tmp", "w", encoding="utf-8") as file:
                    json.dump(_done_record(run, seeds, rc), file, indent=2)
                os.replace(done_paths[run] + ".tmp", done_paths[run])
            finished.append(run)
            collect(workdir, plots=False)
    finished = [run for run in combinations if run in finished]
    collect(workdir, plots=config.get("plots", True))
    return finished


def _finished_run_dirs(workdir: str) -> list[str]:
    root = os.path.join(workdir, RUNS_DIR)
    if not os.path.isdir(root):
        return []
    return [os.path.join(root, name) for name in sorted(os.listdir(root))
            if os.path.exists(os.path.join(root, name, DONE_FILE))]


def collect(workdir: str | os.PathLike, *, plots: bool = True) -> None:
    """Rebuilds the study tables (`metrics.csv`, `losses.csv`, `summary.csv`, `summary.md`) from the
    finished runs in `workdir`, and with `plots` the figures (PNG in `plots/` and TensorBoard images).
    Process 0 only."""
    if not _is_main():
        return
    workdir = os.path.abspath(os.fspath(workdir))
    run_dirs = _finished_run_dirs(workdir)
    tables = {}
    for table in TABLES:
        header, rows = None, []
        for run_dir in run_dirs:
            with open(os.path.join(run_dir, f"{table}.csv"), newline="", encoding="utf-8") as file:
                reader = csv.reader(file)
                header = next(reader)
                rows.extend(reader)
        if header is not None:
            _write_csv(os.path.join(workdir, f"{table}.csv"), header, rows)
            tables[table] = [dict(zip(header, row)) for row in rows]
    if "summary" not in tables:
        return
    with open(os.path.join(workdir, "summary.md"), "w", encoding="utf-8") as file:
        file.write(_summary_markdown(tables["summary"]))
    if plots:
        curves = plot_nrmse_over_time(tables["metrics"])
        figures = {f"nrmse_{scenario}": figure for scenario, figure in curves.items()}
        figures["gmean_nrmse"] = plot_gmean_bars(tables["summary"])
        writer = make_writer(workdir, tensorboard=True)
        try:
            images = {}
            for name, figure in figures.items():
                image = viz.figure_to_array(figure)
                viz.save_image(image, os.path.join(workdir, "plots", f"{name}.png"))
                images[f"study/{name}"] = image[None]
            writer.write_images(len(run_dirs), images)
        finally:
            writer.close()


# -- tables and plots without pandas --------------------------------------------------------------------


def _group(rows: Sequence[Mapping[str, str]], keys: Sequence[str]) -> dict[tuple, list[Mapping[str, str]]]:
    groups: dict[tuple, list] = {}
    for row in rows:
        groups.setdefault(tuple(row[k] for k in keys), []).append(row)
    return groups


def _format(value: float) -> str:
    if value == 0 or not math.isfinite(value):
        return str(value)
    magnitude = abs(value)
    return f"{value:.3g}" if 1e-3 <= magnitude < 1e5 else f"{value:.2e}"


def _spread(values: Sequence[float]) -> str:
    values = np.asarray(values, dtype=np.float64)
    if values.size == 1:
        return _format(float(values[0]))
    return f"{_format(float(values.mean()))} [{_format(float(values.min()))}, {_format(float(values.max()))}]"


def _summary_markdown(rows: Sequence[Mapping[str, str]]) -> str:
    """One line per run: mean [min, max] over seeds of the gmean nRMSE, the final loss, the train time and
    the steps/s; the parameter count."""
    header = ("scenario", "task", "network", "method", "seeds", "gmean nRMSE", "final loss",
              "parameters", "train time (s)", "steps/s")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for key, group in _group(rows, KEYS).items():
        column = {c: [float(row[c]) for row in group] for c in SUMMARY_COLUMNS}
        cells = (
            *key, str(len(group)), _spread(column["gmean_nrmse"]), _spread(column["final_loss"]),
            str(int(column["num_params"][0])), _format(column["train_time_s"][0]),
            _format(column["steps_per_second"][0]),
        )
        lines.append("| " + " | ".join(cells) + " |")
    return (
        "Mean [min, max] over seeds; gmean nRMSE over test steps 1..min(100, H). The seeds of a run "
        "train together as one ensemble, so train time and steps/s are the ensemble's.\n\n"
        + "\n".join(lines) + "\n"
    )


def _label(key: Sequence[str]) -> str:
    return Run("", *key[1:]).label if len(key) == len(KEYS) else " ".join(key)


def plot_nrmse_over_time(
    rows: Sequence[Mapping[str, str]], *, metric: str = "mean_nRMSE"
) -> dict[str, Figure]:
    """One figure per scenario from `metrics.csv` rows (dicts of strings, or a pandas DataFrame's
    records): `metric` over the test steps, one line per task/network/method (the mean over seeds) with
    the range over seeds as a band; log y axis."""
    if hasattr(rows, "to_dict"):
        rows = [{k: str(v) for k, v in row.items()} for row in rows.to_dict("records")]
    rows = [row for row in rows if row["metric"] == metric]
    figures = {}
    for (scenario,), scenario_rows in _group(rows, ("scenario",)).items():
        figure = Figure(figsize=(6.5, 4.0), layout="constrained")
        ax = figure.add_subplot()
        for key, group in _group(scenario_rows, KEYS).items():
            by_seed = _group(group, ("seed",))
            steps = np.array([int(r["step"]) for r in next(iter(by_seed.values()))])
            curves = np.array([[float(r["value"]) for r in seed_rows] for seed_rows in by_seed.values()])
            (line,) = ax.plot(steps, curves.mean(axis=0), label=_label(key))
            if len(curves) > 1:
                ax.fill_between(steps, curves.min(axis=0), curves.max(axis=0), color=line.get_color(),
                                alpha=0.25, linewidth=0)
        ax.set_yscale("log")
        ax.set_xlabel("Time step")
        ax.set_ylabel(metric)
        ax.set_title(f"{scenario}: mean over seeds, range shaded")
        ax.grid(True, alpha=0.3, which="both")
        ax.legend(fontsize="small")
        figures[scenario] = figure
    return figures


def plot_gmean_bars(rows: Sequence[Mapping[str, str]], *, column: str = "gmean_nrmse") -> Figure:
    """`summary.csv` rows as grouped bars: one group per scenario, one bar per task/network/method (mean
    over seeds, range over seeds as an error bar); log y axis."""
    if hasattr(rows, "to_dict"):
        rows = [{k: str(v) for k, v in row.items()} for row in rows.to_dict("records")]
    scenarios = list(dict.fromkeys(row["scenario"] for row in rows))
    labels = list(dict.fromkeys(_label(tuple(row[k] for k in KEYS)) for row in rows))
    groups = _group(rows, KEYS)
    figure = Figure(figsize=(max(6.0, 0.5 * len(scenarios) * len(labels) + 2.0), 4.5), layout="constrained")
    ax = figure.add_subplot()
    width = 0.8 / len(labels)
    for j, label in enumerate(labels):
        x, mean, low, high = [], [], [], []
        for i, scenario in enumerate(scenarios):
            group = [g for k, g in groups.items() if k[0] == scenario and _label(k) == label]
            if not group:
                continue
            values = np.array([float(row[column]) for row in group[0]])
            x.append(i - 0.4 + (j + 0.5) * width)
            mean.append(values.mean())
            low.append(values.mean() - values.min())
            high.append(values.max() - values.mean())
        ax.bar(x, mean, width=width, yerr=[low, high], capsize=2, label=label)
    ax.set_xticks(range(len(scenarios)), scenarios, rotation=20)
    ax.set_yscale("log")
    ax.set_ylabel(f"{column} (mean over seeds, range as error bar)")
    ax.grid(True, axis="y", alpha=0.3, which="both")
    ax.legend(fontsize="small")
    return figure


# -- pandas helpers -------------------------------------------------------------------------------------


def load(workdir: str | os.PathLike, table: str = "summary") -> Any:
    """A study table as a `pandas.DataFrame` (needs pandas: `pip install emutrain[study]`).

    Args:
      workdir: the study directory.
      table: `"summary"`, `"metrics"` or `"losses"`.
    """
    if table not in TABLES:
        raise ValueError(f"table must be one of {TABLES}, got {table!r}")
    import pandas

    path = os.path.join(os.fspath(workdir), f"{table}.csv")
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"no {table}.csv in {os.fspath(workdir)}: no run of the study has finished yet"
        )
    return pandas.read_csv(path, dtype={k: str for k in KEYS})


def _value_columns(df: Any) -> list[str]:
    skip = set(KEYS) | {"seed", "step", "metric"}
    return [c for c in df.columns if c not in skip]


def aggregate_seeds(df: Any, *, columns: Sequence[str] | None = None) -> Any:
    """Mean, std, min, max and count over seeds of each run (and step and metric, where the table has
    them): a DataFrame with one row per group and columns `(value column, statistic)`.

    Args:
      df: a table of `load`.
      columns: the value columns to aggregate (default: all but the keys, seed, step and metric).
    """
    by = [c for c in (*KEYS, "step", "metric") if c in df.columns]
    columns = _value_columns(df) if columns is None else list(columns)
    return df.groupby(by, sort=False)[columns].agg(["mean", "std", "min", "max", "count"])


def relative_to(df: Any, baseline: Mapping[str, str], *, column: str | None = None) -> Any:
    """`df` with a column `relative` = `column` divided by the baseline run's value under the same
    remaining keys (seed, step and metric included): e.g. `relative_to(summary, {"network":
    "Conv;34;10;relu"})` gives every network's gmean nRMSE relative to the ConvNet's on the same scenario,
    task, method and seed. Rows without a baseline get NaN.

    Args:
      df: a table of `load`.
      baseline: the key values (of `KEYS`) that pick the baseline rows.
      column: the value to compare (default: `gmean_nrmse`, `value` or `loss`, whichever the table has).
    """
    unknown = set(baseline) - set(KEYS)
    if unknown:
        raise ValueError(f"baseline keys must be among {KEYS}, got {sorted(unknown)}")
    if column is None:
        column = next((c for c in ("gmean_nrmse", "value", "loss") if c in df.columns), None)
        if column is None:
            raise ValueError(f"column must be given for a table with columns {list(df.columns)}")
    mask = np.ones(len(df), dtype=bool)
    for key, value in baseline.items():
        mask &= (df[key] == value).to_numpy()
    if not mask.any():
        raise ValueError(f"no row of df matches the baseline {dict(baseline)}")
    on = [c for c in (*KEYS, "seed", "step", "metric") if c in df.columns and c not in baseline]
    reference = df.loc[mask, on + [column]].rename(columns={column: "_baseline"})
    out = df.merge(reference, on=on, how="left")
    out["relative"] = out[column] / out["_baseline"]
    return out.drop(columns="_baseline")
