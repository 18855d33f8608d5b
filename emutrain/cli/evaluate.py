"""The evaluate job: the latest checkpoint of a training run rolled out on its test set.

`evaluate_checkpoint` restores the newest complete checkpoint in the workdir (written by the train job),
builds the test trajectories, the model and the baseline with the builders training used
(`emutrain.experiment`), from the config stored in the checkpoint (or a given one), rolls the trained
model and, for correction tasks, the scenario's coarse stepper out over `config.eval.num_steps` steps,
and writes to `<workdir>/evaluation/`:

* `metrics.json`: the checkpoint step and, per model, the mean nRMSE and correlation per step, the
  geometric mean of the mean nRMSE over steps 1..100 and the per-sample nRMSE;
* `nrmse.png`: mean nRMSE versus time step of every model;
* `rollout_{i}.png`: reference, prediction and error of the first test trajectories (1D scenarios).
"""

from __future__ import annotations

import json
import os
from typing import Any

import jax
import ml_collections

from emutrain import evaluate, experiment, viz
from emutrain.train import Checkpointer, sharding
from emutrain.train.console import summary_table
from emutrain.train.distributed import initialize_distributed

__all__ = ["EVALUATION_DIR", "evaluate_checkpoint", "report_table", "stored_config"]

EVALUATION_DIR = "evaluation"
"""The subdirectory of the workdir the evaluation writes to."""


def stored_config(workdir: str | os.PathLike) -> ml_collections.ConfigDict:
    """The run config saved with the newest checkpoint of `workdir` that holds one.

    Raises:
      ValueError: no checkpoint of `workdir` holds a config.
    """
    config = Checkpointer(os.path.join(os.path.abspath(workdir), "checkpoints")).stored_config()
    if config is None:
        raise ValueError(f"--workdir={os.fspath(workdir)!r} holds no checkpoint with a stored config")
    return ml_collections.ConfigDict(config)


def _write_report(report: dict, results: dict, step: int, out_dir: str) -> None:
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "metrics.json"), "w") as file:
        json.dump(report, file, indent=1)
    viz.save_figure(_nrmse_figure(results, step), os.path.join(out_dir, "nrmse.png"))


def _nrmse_figure(results: dict, step: int) -> Any:
    """The mean nRMSE versus time step of every model of `results` (``{name: RolloutMetrics}``); the
    baselines (every name but ``"model"``) drawn dashed, as in training's plots."""
    return viz.plot_nrmse_curves(
        {name: result.mean_nrmse for name, result in results.items()},
        dashed=tuple(name for name in results if name != "model"), title=f"Step {step}",
    )


def evaluate_checkpoint(
    config: Any, workdir: str | os.PathLike, *, num_plotted_trajectories: int = 3
) -> dict:
    """Restores the latest checkpoint of `workdir`, evaluates it on the config's test set and writes
    `metrics.json` and the plots to `<workdir>/evaluation`; returns the JSON content. `config=None`
    takes the config stored in the checkpoint. With several processes (`--config.distributed.*`, which
    needs `--config`) every process evaluates its share and process 0 writes the files."""
    if config is not None:
        initialize_distributed(config.distributed)  # before any other JAX work
    workdir = os.path.abspath(workdir)
    # the values training used: the scenario's where the config leaves None
    config = experiment.resolve_config(stored_config(workdir) if config is None else config)
    out_dir = os.path.join(workdir, EVALUATION_DIR)
    model, step = experiment.restore_model(config, workdir)
    test_set = experiment.build_trajectories(
        config, "test", dataset_dir=experiment.dataset_root(config, workdir)
    )
    mesh = sharding.make_data_mesh()
    steppers = {"model": model}
    coarse = experiment.build_coarse(config)
    if coarse is not None:
        steppers["coarse solver"] = coarse
    results = {
        name: evaluate.evaluate_rollout(
            stepper, test_set, num_steps=config.eval.num_steps, batch_size=config.eval.batch_size,
            sharding=mesh, num_channels=experiment.predicted_channels(config),
        )
        for name, stepper in steppers.items()
    }
    report = {"checkpoint_step": step, **{name: result.to_dict() for name, result in results.items()}}
    is_main = jax.process_index() == 0  # every process computes (the model spans them all), one writes
    if is_main:
        _write_report(report, results, step, out_dir)
    num_plotted = min(num_plotted_trajectories, len(test_set))
    if num_plotted and test_set.ndim == 4:  # (S, T+1, N, C): 1D
        samples = test_set[:num_plotted, : config.eval.num_steps + 1]
        predictions = evaluate.rollout_trajectories(model, samples[:, 0], config.eval.num_steps)
        for i in range(num_plotted if is_main else 0):
            figure = viz.plot_rollout_comparison(predictions[i], samples[i])
            viz.save_figure(figure, os.path.join(out_dir, f"rollout_{i}.png"))
    return report


def _scalar(values: Any, index: int) -> str:
    values = [v for v in (values or []) if v is not None]
    return f"{float(values[index]):.4g}" if values else "-"


def report_table(report: dict) -> list[str]:
    """The lines of a table of `evaluate_checkpoint`'s report: per model the mean nRMSE after the first
    and the last step, the gmean nRMSE and the mean correlation after the last step."""
    models = [name for name in report if name != "checkpoint_step"]
    rows = [(f"checkpoint step {report['checkpoint_step']:,}", *models)]
    horizon = max((len(report[m].get("mean_nrmse", [])) for m in models), default=0)
    rows.append(("nrmse @ step 1", *(_scalar(report[m].get("mean_nrmse"), 0) for m in models)))
    rows.append((f"nrmse @ step {horizon}", *(_scalar(report[m].get("mean_nrmse"), -1) for m in models)))
    rows.append(("gmean nrmse", *(_scalar([report[m].get("gmean_nrmse")], 0) for m in models)))
    rows.append(
        (f"correlation @ step {horizon}", *(_scalar(report[m].get("mean_correlation"), -1) for m in models))
    )
    return summary_table(rows)
