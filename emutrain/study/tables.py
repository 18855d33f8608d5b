"""The tables of a study: per-run CSVs, the study-wide CSVs and Markdown summary (`collect`), and the
pandas helpers (`load`, `aggregate_seeds`, `relative_to`)."""

from __future__ import annotations

import csv
import math
import os
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import numpy as np

from emutrain import evaluate, viz
from emutrain.study.plan import KEYS, Run
from emutrain.study.plan import group as _group
from emutrain.study.plots import plot_gmean_bars, plot_nrmse_over_time
from emutrain.train.writers import make_writer

METRICS = ("mean_nRMSE", "mean_correlation")
"""The per-test-step metrics of `metrics.csv` (APEBench's name for the first)."""
TABLES = ("metrics", "losses", "summary")
SUMMARY_COLUMNS = (
    "gmean_nrmse", "final_loss", "num_params", "train_time_s", "steps_per_second", "num_steps", "num_seeds"
)
DONE_FILE = "DONE"
CLAIMS_DIR = "claims"
TABLES_CLAIM = "tables"
"""The claim (in `CLAIMS_DIR`) a worker holds while it rebuilds the study tables."""
RUNS_DIR = "runs"
TRAIN_LOG = "train_log.csv"


def is_main() -> bool:
    """Only process 0 writes files."""
    return jax.process_index() == 0


def write_csv(path: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Writes `rows` under `header` atomically (a reader never sees half a table; concurrent writers each
    write their own temporary file)."""
    temporary = f"{path}.tmp-{os.getpid()}-{threading.get_ident()}"
    with open(temporary, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(rows)
    os.replace(temporary, path)


def read_csv(path: str) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def write_run_tables(run_dir: str, run: Run, seeds: Sequence[int], rc: Any,
                      results: list[evaluate.RolloutMetrics], num_params: int) -> None:
    keys = list(run.keys().values())
    metric_rows = []
    for seed, result in zip(seeds, results):
        for name, curve in zip(METRICS, (result.mean_nrmse, result.mean_correlation)):
            metric_rows += [(*keys, seed, h, name, repr(float(v))) for h, v in enumerate(curve, start=1)]
    write_csv(os.path.join(run_dir, "metrics.csv"), (*KEYS, "seed", "step", "metric", "value"), metric_rows)
    log = read_csv(os.path.join(run_dir, TRAIN_LOG))
    write_csv(
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
    write_csv(os.path.join(run_dir, "summary.csv"), (*KEYS, "seed", *SUMMARY_COLUMNS), summary_rows)


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
    if not is_main():
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
            write_csv(os.path.join(workdir, f"{table}.csv"), header, rows)
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
