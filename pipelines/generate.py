"""Generates the train/test trajectory sets of a config and plots a few trajectories.

    python pipelines/generate.py --config=configs/generate.py --workdir=workdir/generate

writes ``<workdir>/<split>/`` (arrays + ``metadata.json``) and ``<workdir>/trajectories.png``.
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags, logging  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from emutrain.data import generate_dataset, load_trajectories  # noqa: E402

config_flags.DEFINE_config_file("config", default="configs/generate.py", help_string="Generation config file.")
flags.DEFINE_string("workdir", "workdir/generate", "Directory the dataset and the plot are written to.")
FLAGS = flags.FLAGS


def plot_trajectories(paths: dict[str, Path], num_trajectories: int, filename: Path) -> None:
    """Spatio-temporal images (space right, time up) of the first trajectories of every 1D split."""
    fig, axes = plt.subplots(
        len(paths), num_trajectories, figsize=(3 * num_trajectories, 3 * len(paths)), squeeze=False
    )
    for row, (split, path) in zip(axes, paths.items()):
        trajectories, _ = load_trajectories(path)
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


def main(argv):
    del argv
    config = FLAGS.config
    workdir = Path(FLAGS.workdir)
    paths = generate_dataset(config, workdir)
    for split, path in paths.items():
        logging.info("wrote %s to %s", split, path)
    num_trajectories = min(config.num_plotted_trajectories, *(c.num_samples for c in config.splits.values()))
    plot_trajectories(paths, num_trajectories, workdir / "trajectories.png")
    logging.info("plot: %s", workdir / "trajectories.png")


if __name__ == "__main__":
    app.run(main)
