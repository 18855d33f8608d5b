"""The generate job: the train/test datasets of an experiment config, and a plot of a few trajectories.

`generate` writes exactly what training writes and reads (`emutrain.experiment.build_dataset`, i.e.
`Scenario.dataset`): `<workdir>/<scenario>/<split>-<data key>/samples-<start>-<stop>/` (arrays and
`metadata.json`); `plot_trajectories` draws `<workdir>/trajectories.png`. With `config.distributed`
every process writes its share of the samples.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import jax
import numpy as np

from emutrain import experiment
from emutrain.train.distributed import initialize_distributed

__all__ = ["PLOT_FILE", "check_generate_config", "generate", "plot_trajectories"]

PLOT_FILE = "trajectories.png"
"""The plot the generate job writes into its workdir."""


def plot_trajectories(
    splits: dict[str, np.ndarray], num_trajectories: int, filename: str | os.PathLike
) -> None:
    """Spatio-temporal images (space right, time up) of the first `num_trajectories` trajectories
    `(T+1, *spatial, C)` of every split `(S, T+1, *spatial, C)`, saved to `filename`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        len(splits), num_trajectories, figsize=(3 * num_trajectories, 3 * len(splits)), squeeze=False
    )
    for row, (split, trajectories) in zip(axes, splits.items()):
        for s, ax in enumerate(row):
            # (T+1, *spatial, C) -> (T+1, N): first channel; for 2D/3D states the line at y = z = 0.
            state = np.asarray(trajectories[s])[..., 0]
            image = state.reshape(state.shape[0], state.shape[1], -1)[:, :, 0]
            vmax = float(np.abs(image).max()) or 1.0
            ax.imshow(image, origin="lower", aspect="auto", cmap="RdBu_r", vmin=-vmax, vmax=vmax)
            ax.set(title=f"{split} #{s}", xlabel="x index", ylabel="time step")
    fig.tight_layout()
    fig.savefig(filename, dpi=100)
    plt.close(fig)


def check_generate_config(config: Any) -> None:
    """Raises ValueError when `config` reads the user's trajectories (`config.data_dir`): nothing to
    generate."""
    if config.data_dir:
        raise ValueError(
            f"config.data_dir is set ({config.data_dir!r}): that experiment reads the user's trajectories, "
            "there is nothing to generate"
        )


def generate(config: Any, workdir: str | os.PathLike) -> dict[str, np.ndarray]:
    """This process's share of the datasets of `config` under `workdir`; once every process has
    written, every split `(S, T+1, *spatial, C)` (memory-mapped)."""
    check_generate_config(config)
    initialize_distributed(config.distributed)
    dataset = experiment.build_dataset(
        config, Path(workdir), process_index=jax.process_index(), process_count=jax.process_count()
    )
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices("emutrain datasets written")
    return {split: dataset.load(split) for split in experiment.SPLITS}
