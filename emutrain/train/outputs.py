"""Workdir outputs besides checkpoints, TensorBoard events and plots, written on process 0 only.

- `RunConfigHook(config)`: when `fit` starts, the resolved config as `<workdir>/config.json`
  (`emutrain.train.writers.write_config_json`) and as TensorBoard hyperparameters (the writer's
  `write_hparams`, flattened to `a.b` names).
- `write_eval_csv` / `read_eval_csv`: one evaluation's per-step curves as CSV (`EvalHook` writes
  `<workdir>/eval/step_<N>.csv` next to the `.npz`): a `step` column (1..H) and, for the model and each
  baseline, its mean nRMSE and mean correlation at that rollout step. Values are written with 17
  significant digits, so they read back exactly.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from emutrain.train.hooks import Hook, HookContext
from emutrain.train.writers import write_config_json

__all__ = ["RunConfigHook", "eval_columns", "read_eval_csv", "write_eval_csv"]


def eval_columns(evaluation: Any) -> dict[str, np.ndarray]:
    """`{column: (H,)}` of an `emutrain.evaluate.Evaluation`: `step` (1..H), `nrmse` and `correlation`
    of the model, and `<baseline>/nrmse`, `<baseline>/correlation` for each baseline (e.g. `coarse`)."""
    metrics = evaluation.metrics
    columns = {
        "step": np.arange(1, metrics.num_steps + 1),
        "nrmse": np.asarray(metrics.mean_nrmse),
        "correlation": np.asarray(metrics.mean_correlation),
    }
    for name, baseline in evaluation.baselines.items():
        if baseline.num_steps != metrics.num_steps:
            raise ValueError(
                f"baseline {name!r} has {baseline.num_steps} steps, the model {metrics.num_steps}"
            )
        columns[f"{name}/nrmse"] = np.asarray(baseline.mean_nrmse)
        columns[f"{name}/correlation"] = np.asarray(baseline.mean_correlation)
    return columns


def write_eval_csv(path: str | os.PathLike, evaluation: Any) -> str:
    """Writes `eval_columns(evaluation)` as CSV (header row, one row per rollout step) to `path`, via a
    temporary file so a crash never leaves half a table; returns the path."""
    columns = eval_columns(evaluation)
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    temporary = path + ".tmp"
    with open(temporary, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(columns)
        for i in range(len(columns["step"])):
            writer.writerow(
                [int(columns["step"][i])]
                + [repr(float(values[i])) for name, values in columns.items() if name != "step"]
            )
    os.replace(temporary, path)
    return path


def read_eval_csv(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The columns of a file of `write_eval_csv`: `step` as int, the others as float64 `(H,)`."""
    with open(path, newline="", encoding="utf-8") as file:
        rows = list(csv.reader(file))
    if not rows or rows[0][:1] != ["step"]:
        raise ValueError(f"{os.fspath(path)} is not an evaluation table (no 'step' header column)")
    header, body = rows[0], rows[1:]
    table = np.array(body, dtype=str).reshape(len(body), len(header))
    return {
        name: table[:, i].astype(int if name == "step" else np.float64) for i, name in enumerate(header)
    }


class RunConfigHook(Hook):
    """At the start of every `fit`, writes `config` as `<workdir>/config.json` (with a workdir) and as
    TensorBoard hyperparameters (flattened; writers without TensorBoard ignore them). Process 0 only:
    `write_config_json` and the writer of other processes write nothing.

    Args:
      config: an `ml_collections.ConfigDict` or a mapping (references resolved by `to_dict`).
    """

    def __init__(self, config: Any):
        super().__init__(at_end=False)
        if not (isinstance(config, Mapping) or hasattr(config, "to_dict")):
            raise TypeError(f"config must be a ConfigDict or a mapping, got {type(config).__name__}")
        self.config = config

    def begin(self, context: HookContext) -> None:
        super().begin(context)
        config = self.config.to_dict() if hasattr(self.config, "to_dict") else dict(self.config)
        if context.workdir is not None:
            write_config_json(context.workdir, config)
        context.writer.write_hparams(config)

    def is_due(self, step: int, now: float) -> bool:
        return False

    def __call__(self, step: int, context: HookContext) -> None:
        return None
