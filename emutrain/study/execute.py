"""Executing a study: every seed of a combination trained at once as one ensemble with the experiment's
builders, evaluated seed by seed, its tables written; finished runs skipped, interrupted ones resumed.
Any number of workers share a workdir: each claims the combinations it trains (`emutrain.study.claims`)."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import socket
import time
from collections.abc import Iterator, Sequence
from typing import Any

import jax
import ml_collections
import numpy as np
from absl import logging
from flax import nnx
from tqdm.auto import tqdm

from emutrain import evaluate, experiment, nn
from emutrain.study import claims
from emutrain.study.plan import Run, _get, _seeds, check_run, run_config, runs
from emutrain.study.tables import (
    CLAIMS_DIR,
    DONE_FILE,
    RUNS_DIR,
    TABLES_CLAIM,
    TRAIN_LOG,
    collect,
    is_main,
    read_csv,
    write_csv,
    write_run_tables,
)
from emutrain.train import CheckpointHook, Hook, HookContext
from emutrain.train.checkpoint import check_resume
from emutrain.train.lock import LOCK_FILE, check_unlocked, workdir_lock
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
    temporary = f"{path}.tmp-{os.getpid()}"
    with open(temporary, "w", encoding="utf-8") as file:
        json.dump(record, file, indent=2)
    os.replace(temporary, path)


def claim_timeout(config: Any) -> float:
    """`config.claim_timeout_s` (default `claims.DEFAULT_TIMEOUT_S`) checked: a finite number > 0.

    Raises:
      ValueError: naming `config.claim_timeout_s`, its value and what is allowed.
    """
    return claims.check_timeout(_get(config, "claim_timeout_s", claims.DEFAULT_TIMEOUT_S))


def check_study(config: Any) -> dict[Run, Any]:
    """Every combination's run config (`run_config`), each checked (`check_run`), and the claim timeout
    checked: what a worker checks before it touches the workdir.

    Raises:
      ValueError: a malformed study config, naming the field or the run.
    """
    claim_timeout(config)
    configs = {run: run_config(config, run) for run in runs(config)}
    for run, rc in configs.items():
        check_run(run, rc)
    return configs


def run_study(config: Any, workdir: str | os.PathLike, *, hooks: Sequence[Hook] = (),
              progress_bar: bool = True) -> list[Run]:
    """Works on `config`'s combinations in `workdir` as one worker (see the module docstring): trains
    every combination not finished and not claimed by another live worker, waits for the others' runs
    (taking over the claims of workers that are gone), and rebuilds the tables and plots when it
    finishes the last combination.

    Args:
      config: a study config (module docstring).
      workdir: the study directory, shared by any number of workers; an existing one is resumed.
      hooks: extra `emutrain.train.Hook`s added to every run's Trainer (they see the run's workdir).
      progress_bar: show the study's progress bar (steps over all runs); each run's own bar is
        `config.train.progress_bar`.

    Returns:
      the combinations finished so far, by any worker (all of them unless a SIGTERM or SIGINT stopped
      this worker early).

    Raises:
      ValueError: a malformed study config, or a finished run in `workdir` trained with other settings.
      WorkdirLockedError: a single run holds `workdir`, or a live process on this host that holds no
        claim works in a run's directory.
    """
    workdir = os.path.abspath(os.fspath(workdir))
    configs = check_study(config)
    _run_worker(config, workdir, configs, hooks, progress_bar)
    return [run for run in configs if os.path.exists(_done_path(workdir, run))]


def run_worker(config: Any, workdir: str | os.PathLike, *, hooks: Sequence[Hook] = (),
               progress_bar: bool = True) -> list[Run]:
    """`run_study` returning the combinations this worker trained to completion (none of them trained to
    completion by another worker)."""
    workdir = os.path.abspath(os.fspath(workdir))
    return _run_worker(config, workdir, check_study(config), hooks, progress_bar)


def _run_worker(config: Any, workdir: str, configs: dict[Run, Any], hooks: Sequence[Hook],
                progress_bar: bool) -> list[Run]:
    if is_main():
        check_unlocked(workdir)  # a single run (`emutrain train`) working there
        os.makedirs(os.path.join(workdir, RUNS_DIR), exist_ok=True)
        write_config_json(workdir, config)
    total = sum(rc.train.num_steps for rc in configs.values())
    with tqdm(total=total, unit="step", desc="study", disable=not (progress_bar and is_main()),
              dynamic_ncols=True) as bar:
        return _work(config, workdir, configs, hooks, bar)


def rebuild_tables(config: Any, workdir: str | os.PathLike) -> None:
    """Rebuilds the study tables (and with `config.plots` the plots) from every finished run in
    `workdir`, waiting while another worker rebuilds them."""
    _rebuild(os.path.abspath(os.fspath(workdir)), claim_timeout(config), plots=config.get("plots", True),
             wait=True)


def _done_path(workdir: str, run: Run) -> str:
    return os.path.join(workdir, RUNS_DIR, run.name, DONE_FILE)


def _claim_path(workdir: str, name: str) -> str:
    return os.path.join(workdir, CLAIMS_DIR, name)


def _work(config: Any, workdir: str, configs: dict[Run, Any], hooks: Sequence[Hook], bar: Any) -> list[Run]:
    """The worker's loop: claim a pending combination, train it, mark it done; wait while every pending
    one is claimed; stop when all are done."""
    seeds, timeout = _seeds(config), claim_timeout(config)
    combinations, seen, trained, first = list(configs), set(), [], True
    splits: dict[str, dict[str, np.ndarray]] = {}
    while True:
        _check_finished(workdir, configs, seeds, seen, bar)
        index, claim = _next(workdir, combinations, timeout)
        if index == _ALL_DONE:
            if first:  # a finished study started again: its tables are rebuilt
                _rebuild(workdir, timeout, plots=config.get("plots", True), wait=True)
            return trained
        first = False
        if index == _WAIT:
            time.sleep(claims.poll_interval(timeout))
            continue
        run, rc = combinations[index], configs[combinations[index]]
        logging.info("study run %d/%d: %s (seeds %s)", index + 1, len(combinations), run.name, seeds)
        bar.set_postfix_str(run.name, refresh=True)
        try:
            if run.scenario not in splits:  # one scenario's data in memory at a time; one worker generates it
                with _exclusive(workdir, "dataset-" + re.sub(r"[^A-Za-z0-9._-]", "-", run.scenario), timeout):
                    splits = {run.scenario: experiment.load_splits(rc, workdir)}
            completed = _train_claimed(run, rc, seeds, workdir, splits[run.scenario], hooks, bar,
                                       _get(config, "eval.gmean_num_steps", 100))
        finally:
            if claim is not None:
                claim.release()
        if not completed:
            logging.warning("study stopped by a signal during %s; run it again to resume", run.name)
            return trained
        trained.append(run)
        seen.add(run)
        last = all(os.path.exists(_done_path(workdir, r)) for r in combinations)
        _rebuild(workdir, timeout, plots=last and config.get("plots", True), wait=last)


_ALL_DONE, _WAIT = -2, -1


def _next(workdir: str, combinations: list[Run], timeout: float) -> tuple[int, claims.Claim | None]:
    """Process 0 claims the first pending combination it can and tells the other processes of a
    `jax.distributed` worker: its index, `_WAIT` (every pending one is claimed) or `_ALL_DONE`."""
    index, claim = _ALL_DONE, None
    if is_main():
        index, claim = _claim_pending(workdir, combinations, timeout)
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        index = int(multihost_utils.broadcast_one_to_all(np.int32(index)))
    return index, claim


def _claim_pending(workdir: str, combinations: list[Run], timeout: float) -> tuple[int, claims.Claim | None]:
    pending = [i for i, run in enumerate(combinations) if not os.path.exists(_done_path(workdir, run))]
    for index in pending:
        run = combinations[index]
        claim = claims.try_claim(_claim_path(workdir, run.name), timeout)
        if claim is None:
            continue
        if os.path.exists(_done_path(workdir, run)):  # finished between the listing and the claim
            claim.release()
            continue
        return index, claim
    return (_WAIT if pending else _ALL_DONE), None


def _check_finished(workdir: str, configs: dict[Run, Any], seeds: list[int], seen: set[Run],
                    bar: Any) -> None:
    """Checks the runs found finished since the last call against this study's settings and counts their
    steps on the progress bar."""
    for run, rc in configs.items():
        if run not in seen and os.path.exists(_done_path(workdir, run)):
            _check_done(_done_path(workdir, run), _done_record(run, seeds, rc))
            seen.add(run)
            bar.update(rc.train.num_steps)


def _train_claimed(run: Run, rc: Any, seeds: list[int], workdir: str, split: dict[str, np.ndarray],
                   hooks: Sequence[Hook], bar: Any, gmean_num_steps: int) -> bool:
    """Trains a claimed combination in its directory, under that directory's lock, and marks it done;
    False when a signal stopped it."""
    run_dir = os.path.join(workdir, RUNS_DIR, run.name)
    if is_main():
        _clear_other_hosts_lock(run_dir)
    with workdir_lock(run_dir):
        if not _train_and_evaluate(run, rc, seeds, run_dir, split, hooks, bar, gmean_num_steps):
            return False
        if is_main():
            _write_done(_done_path(workdir, run), _done_record(run, seeds, rc))
    return True


def _clear_other_hosts_lock(run_dir: str) -> None:
    """Removes a run directory lock left by a worker on another host: this worker holds the run's claim,
    so that worker's claim went stale (`emutrain.train.lock` cannot check a process on another host; a
    dead owner on this host it takes over itself)."""
    path = os.path.join(run_dir, LOCK_FILE)
    with contextlib.suppress(OSError, ValueError):
        with open(path, encoding="utf-8") as file:
            owner = json.load(file)
        if isinstance(owner, dict) and owner.get("host") != socket.gethostname():
            logging.warning("removing the lock of the worker whose claim went stale: %s %s", path, owner)
            os.remove(path)


def _rebuild(workdir: str, timeout: float, *, plots: bool, wait: bool) -> None:
    """Rebuilds the study tables under the tables claim (one worker at a time); without `wait`, skips
    when another worker holds it."""
    if not is_main():
        return
    path = _claim_path(workdir, TABLES_CLAIM)
    while (claim := claims.try_claim(path, timeout)) is None:
        if not wait:
            return
        time.sleep(claims.poll_interval(timeout))
    with claim:
        collect(workdir, plots=plots)


@contextlib.contextmanager
def _exclusive(workdir: str, name: str, timeout: float) -> Iterator[None]:
    """Holds the claim `name` for the block, waiting while another worker holds it (process 0 claims,
    the other processes of a `jax.distributed` worker wait for it)."""
    claim = None
    if is_main():
        while (claim := claims.try_claim(_claim_path(workdir, name), timeout)) is None:
            time.sleep(claims.poll_interval(timeout))
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(f"emutrain study claim {name}")
    try:
        yield
    finally:
        if claim is not None:
            claim.release()
