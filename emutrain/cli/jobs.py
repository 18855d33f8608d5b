"""The jobs of the command line: each one checks what it was asked (`check`, before any work; its
ValueError/TypeError/OSError are user errors) and then does it (`run`, whose errors keep their traceback,
except a workdir another run holds).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

import jax
from flax import nnx

from emutrain import experiment
from emutrain.cli import console
from emutrain.cli.evaluate import EVALUATION_DIR, evaluate_checkpoint, report_table, stored_config
from emutrain.cli.generate import PLOT_FILE, check_generate_config, generate, plot_trajectories
from emutrain.schema import validate_config
from emutrain.study import check_study, check_workers, rebuild_tables, run_study, submit_workers
from emutrain.study.plan import runs
from emutrain.study.submit import SUBMITIT_DIR
from emutrain.train import Checkpointer
from emutrain.train.console import config_summary
from emutrain.train.distributed import initialize_distributed
from emutrain.train.resume import check_resume_config

__all__ = ["JOBS", "Job"]


@dataclasses.dataclass(frozen=True)
class Job:
    """A subcommand: its flags' defaults, its checks and its work.

    Attributes:
      name: the subcommand (`emutrain <name>`).
      summary: one line of help.
      default_config: the shipped config `--config` defaults to (`emutrain.config_files`), None: no default.
      default_workdir: `--workdir`'s default, relative to the current directory; None: required.
      lock_config: lock the config (an override of a field it lacks is refused).
      check: `check(config, workdir, options)` raises on a mistake in the request, before any work.
      run: `run(config, workdir, options)` does the work; `options` are the job's other flag values.
    """

    name: str
    summary: str
    default_config: str | None
    default_workdir: str | None
    lock_config: bool
    check: Callable[[Any, str, dict[str, Any]], None]
    run: Callable[[Any, str, dict[str, Any]], None]


def _check_data_dir(config: Any) -> None:
    data_dir = config.get("data_dir")
    if data_dir and not os.path.exists(data_dir):
        raise FileNotFoundError(f"config.data_dir={data_dir!r}: no such file or directory in {os.getcwd()}")


def _check_resume(config: Any, workdir: str) -> None:
    """A run resuming in `workdir` with changed model/data/optimizer/physics fields (ConfigChangedError,
    a ValueError listing them)."""
    directory = os.path.join(workdir, "checkpoints")
    if not os.path.isdir(directory):
        return
    checkpointer = Checkpointer(directory)
    try:
        stored = checkpointer.stored_config()
    finally:
        checkpointer.close()
    check_resume_config(stored, experiment.resolve_config(config).to_dict(), where=directory)


def _check_experiment(config: Any) -> None:
    """The experiment config: its fields, `config.data_dir`, the mesh and the network and task strings."""
    validate_config(config)
    _check_data_dir(config)
    initialize_distributed(config.distributed)  # before the mesh touches the devices
    experiment.build_mesh(config)
    nnx.eval_shape(lambda: experiment.build_model(config))  # the network and task strings, abstractly


def _check_train(config: Any, workdir: str, options: dict[str, Any]) -> None:
    _check_experiment(config)
    if config.train.num_seeds != 1:
        raise ValueError(
            f"config.train.num_seeds must be 1 for `emutrain train` (one network, config.seed), got "
            f"{config.train.num_seeds}; train seed ensembles with `emutrain study`"
        )
    _check_resume(config, workdir)


def _run_train(config: Any, workdir: str, options: dict[str, Any]) -> None:
    experiment.train_and_evaluate(config, workdir)


def _check_evaluate(config: Any, workdir: str, options: dict[str, Any]) -> None:
    checkpoints = os.path.join(workdir, "checkpoints")
    if not os.path.isdir(checkpoints) or Checkpointer(checkpoints).latest_step() is None:
        raise FileNotFoundError(f"--workdir={workdir!r} holds no checkpoint: train there first")
    if config is None:
        stored_config(workdir)
    else:
        _check_experiment(config)


def _run_evaluate(config: Any, workdir: str, options: dict[str, Any]) -> None:
    details = config_summary(stored_config(workdir) if config is None else config)
    with console.job("evaluate", workdir, details) as out:
        report = evaluate_checkpoint(
            config, workdir, num_plotted_trajectories=options["num_plotted_trajectories"]
        )
        out.write(report_table(report))
        out.outputs(os.path.join(workdir, EVALUATION_DIR))


def _check_generate(config: Any, workdir: str, options: dict[str, Any]) -> None:
    validate_config(config)
    check_generate_config(config)


def _run_generate(config: Any, workdir: str, options: dict[str, Any]) -> None:
    problem = {k: v for k, v in config_summary(config).items() if k == "problem"}
    with console.job("generate", workdir, problem) as out:
        splits = generate(config, workdir)
        dataset = experiment.build_dataset(config, workdir)
        out.table([(split, f"{t.shape[0]} x {t.shape[1]} states", str(dataset.path(split)))
                   for split, t in splits.items()])
        num_trajectories = min(options["num_plotted_trajectories"], *(len(t) for t in splits.values()))
        if num_trajectories and jax.process_index() == 0:
            plot_trajectories(splits, num_trajectories, os.path.join(workdir, PLOT_FILE))
        out.outputs(workdir)


def _check_study(config: Any, workdir: str, options: dict[str, Any]) -> None:
    if options.get("workers") is not None:
        try:
            check_workers(options["workers"])
        except ValueError as error:
            raise ValueError(f"--{error}") from None
        if options.get("rebuild_tables"):
            raise ValueError("--workers and --rebuild_tables exclude each other: rebuild the tables alone")
    check_study(config)


def _run_study(config: Any, workdir: str, options: dict[str, Any]) -> None:
    if options.get("rebuild_tables"):
        with console.job("study tables", workdir, {}) as out:
            rebuild_tables(config, workdir)
            out.outputs(workdir)
    elif options.get("workers") is not None:
        with console.job("study workers", workdir, {"workers": str(options["workers"])}) as out:
            jobs = submit_workers(config, workdir, options["workers"])
            out.table([("submitted", ", ".join(str(job.job_id) for job in jobs))])
            out.outputs(os.path.join(workdir, SUBMITIT_DIR))
    else:
        with console.job("study", workdir, {"runs": f"{len(runs(config))} combinations"}) as out:
            finished = run_study(config, workdir)
            out.table([("runs finished", str(len(finished)))])
            out.outputs(workdir)


JOBS = {
    job.name: job
    for job in (
        Job("train", "train the experiment of a config, with periodic evaluation", "default",
            os.path.join("workdir", "default"), True, _check_train, _run_train),
        Job("evaluate", "evaluate the latest checkpoint of a run on its test set", None,
            os.path.join("workdir", "default"), False, _check_evaluate, _run_evaluate),
        Job("generate", "write the train/test datasets of a config and plot a few trajectories", "generate",
            os.path.join("workdir", "datasets"), False, _check_generate, _run_generate),
        Job("study", "train every combination of a study config; write its tables and plots", None,
            None, True, _check_study, _run_study),
    )
}
"""The subcommands by name."""
