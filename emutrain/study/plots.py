"""Figures of a study: nRMSE over time per scenario and the gmean nRMSE per run."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from emutrain.study.plan import KEYS, Run
from emutrain.study.plan import group as _group


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
