"""Executing a study: every seed of a combination trained at once as one ensemble with the experiment's
builders, evaluated seed by seed, its tables written; finished runs skipped, interrupted ones resumed."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from typing import Any

import jax
import ml_collections
import numpy as np
from absl import logging
from flax import nnx
from tqdm.auto import tqdm

from emutrain import evaluate, experiment, nn
from emutrain.study.plan import Run, _get, _seeds, check_run, run_config, runs
from emutrain.study.tables import (
    DONE_FILE,
    RUNS_DIR,
    TRAIN_LOG,
    collect,
    is_main,
    read_csv,
    write_csv,
    write_run_tables,
)
from emutrain.train import CheckpointHook, Hook, HookContext
from emutrain.train.checkpoint import check_resume
from emutrain.train.lock import workdir_lock
from emutrain.train.writers import write_config_json


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
        rows = read_csv(self.path) if os.path.exists(self.path) else []
        rows = [row for row in rows if int(row["step"]) <= context.start_step]
        self._time_offset = float(rows[-1]["elapsed_s"]) if rows else 0.0
        self._start_time = context.now
        if is_main():
            write_csv(
                self.path, ("step", "elapsed_s", "seed", "loss"),
                [(row["step"], row["elapsed_s"], row["seed"], row["loss"]) for row in rows],
            )
        self.bar.update(context.start_step)

    def __call__(self, step: int, context: HookContext) -> None:
        elapsed = self._time_offset + context.now - self._start_time
        if is_main():
            with open(self.path, "a", newline="", encoding="utf-8") as file:
                writer = csv.writer(file)
                for i, seed in enumerate(self.seeds):
                    writer.writerow((step, repr(elapsed), seed, repr(context.values[f"loss/member_{i}"])))
        self.bar.update(step - self._last_step)


def _param_count(ensemble: nn.Ensemble) -> int:
    return int(sum(np.size(leaf) for leaf in jax.tree.leaves(nnx.state(ensemble.member(0), nnx.Param))))


def _evaluate_members(
    ensemble: nn.Ensemble, test: np.ndarray, rc: Any, gmean_num_steps: int
) -> list[evaluate.RolloutMetrics]:
    """Each member rolled out alone (the same compiled program for every member)."""
    return [
        evaluate.evaluate_rollout(
            ensemble.member(i), test, num_steps=rc.eval.num_steps, batch_size=rc.eval.batch_size,
            gmean_num_steps=gmean_num_steps, num_channels=experiment.predicted_channels(rc),
        )
        for i in range(ensemble.num_members)
    ]


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


def _train_and_evaluate(run: Run, rc: Any, seeds: Sequence[int], run_dir: str, splits: dict[str, np.ndarray],
                        hooks: Sequence[Hook], bar: Any, gmean_num_steps: int) -> bool:
    """Trains one combination (all seeds as one ensemble) with the experiment's mesh, loader and trainer,
    evaluates every seed and writes the run's tables; returns False when a SIGTERM or SIGINT stopped
    training (the run resumes next time)."""
    # The seeds are part of what a checkpoint must match: the ensemble's member axis depends on them.
    stored_config = {**rc.to_dict(), "seeds": list(seeds)}
    check_resume(os.path.join(run_dir, "checkpoints"), stored_config)
    recorder = _LossRecorder(os.path.join(run_dir, TRAIN_LOG), seeds, rc.train.log_every, bar)
    checkpoints = CheckpointHook(every_steps=rc.train.checkpoint_every, max_to_keep=1, config=stored_config)
    # the members share the batch order and the method's random keys (train.data_seed)
    trainer = experiment.build_trainer(
        rc, run_dir, hooks=[checkpoints, recorder, *hooks], mesh=experiment.build_mesh(rc),
        seed=rc.train.data_seed,
    )
    loader = experiment.build_loader(rc, splits["train"])
    result = trainer.fit(build_ensemble(rc, seeds), loader, num_steps=rc.train.num_steps)
    if result.preempted:
        return False
    model = result.model
    results = _evaluate_members(model, splits["test"], rc, gmean_num_steps)
    if is_main():
        write_run_tables(run_dir, run, seeds, rc, results, _param_count(model))
    return True


def _write_done(path: str, record: dict[str, Any]) -> None:
    with open(path + ".tmp", "w", encoding="utf-8") as file:
        json.dump(record, file, indent=2)
    os.replace(path + ".tmp", path)


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
      the combinations finished so far (all of them unless a SIGTERM or SIGINT stopped the study early).

    Raises:
      ValueError: a malformed study config, or a finished run in `workdir` trained with other settings.
      WorkdirLockedError: another study process works in `workdir` (one line naming it).
    """
    workdir = os.path.abspath(os.fspath(workdir))
    combinations = runs(config)
    configs = {run: run_config(config, run) for run in combinations}
    for run, rc in configs.items():  # every combination checked before the workdir is touched
        check_run(run, rc)
    with workdir_lock(workdir):  # one study process per workdir
        return _run_combinations(config, workdir, configs, hooks, progress_bar)


def _run_combinations(config: Any, workdir: str, configs: dict[Run, Any], hooks: Sequence[Hook],
                      progress_bar: bool) -> list[Run]:
    """`run_study` once its combinations are checked and the process holds the study's workdir."""
    seeds = _seeds(config)
    gmean_steps = _get(config, "eval.gmean_num_steps", 100)
    combinations = list(configs)
    if is_main():
        os.makedirs(os.path.join(workdir, RUNS_DIR), exist_ok=True)
        write_config_json(workdir, config)
    done_paths = {run: os.path.join(workdir, RUNS_DIR, run.name, DONE_FILE) for run in combinations}
    finished = []
    for run in combinations:
        if os.path.exists(done_paths[run]):
            _check_done(done_paths[run], _done_record(run, seeds, configs[run]))
            finished.append(run)
    total = sum(rc.train.num_steps for rc in configs.values())
    with tqdm(total=total, unit="step", desc="study", disable=not (progress_bar and is_main()),
              dynamic_ncols=True) as bar:
        bar.update(sum(configs[run].train.num_steps for run in finished))
        splits: dict[str, dict[str, np.ndarray]] = {}
        for index, run in enumerate(combinations):
            if run in finished:
                continue
            rc = configs[run]
            logging.info("study run %d/%d: %s (seeds %s)", index + 1, len(combinations), run.name, seeds)
            bar.set_postfix_str(run.name, refresh=True)
            if run.scenario not in splits:  # one scenario's data in memory at a time
                splits = {run.scenario: experiment.load_splits(rc, workdir)}
            run_dir = os.path.join(workdir, RUNS_DIR, run.name)
            split = splits[run.scenario]
            if not _train_and_evaluate(run, rc, seeds, run_dir, split, hooks, bar, gmean_steps):
                logging.warning("study stopped by a signal during %s; run it again to resume", run.name)
                break
            if is_main():
                _write_done(done_paths[run], _done_record(run, seeds, rc))
            finished.append(run)
            collect(workdir, plots=False)
    finished = [run for run in combinations if run in finished]
    collect(workdir, plots=config.get("plots", True))
    return finished
