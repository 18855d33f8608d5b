"""Generates the train/test datasets of an experiment config and plots a few trajectories.

    python pipelines/generate.py --config=configs/generate.py --workdir=workdir/datasets
    python pipelines/generate.py '--config=configs/scenario.py:diff_ks,quick' --workdir=workdir/datasets

writes exactly what training writes and reads (`emutrain.experiment.build_dataset`, i.e.
`Scenario.dataset`): ``<workdir>/<scenario>/<split>-<data key>/samples-<start>-<stop>/`` (arrays +
``metadata.json``), and ``<workdir>/trajectories.png``. Train on them with
``--config.dataset_dir=<workdir>``. With ``config.distributed`` every process writes its share of the
samples. Relative paths are relative to the repository.
"""

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import jax  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags, logging  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from emutrain import experiment  # noqa: E402
from emutrain.train.distributed import initialize_distributed, parse_flags  # noqa: E402

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
config_flags.DEFINE_config_file(
    "config", os.path.join(_ROOT, "configs", "generate.py"), "Experiment config file (any)."
)
flags.DEFINE_string(
    "workdir", os.path.join("workdir", "datasets"), "Root directory of the datasets and the plot."
)
flags.DEFINE_integer("num_plotted_trajectories", 3, "Trajectories of each split drawn in the plot.")
FLAGS = flags.FLAGS


def plot_trajectories(splits: dict[str, np.ndarray], num_trajectories: int, filename: Path) -> None:
    """Spatio-temporal images (space right, time up) of the first trajectories of every split."""
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


def generate(config, workdir: str | os.PathLike) -> dict[str, np.ndarray]:
    """This process's share of the datasets of `config` under `workdir`; once every process has
    written, every split (memory-mapped)."""
    if config.data_dir:
        raise ValueError(
            f"config.data_dir is set ({config.data_dir!r}): that experiment reads the user's trajectories, "
            "there is nothing to generate"
        )
    initialize_distributed(config.distributed)
    dataset = experiment.build_dataset(
        config, workdir, process_index=jax.process_index(), process_count=jax.process_count()
    )
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices("emutrain datasets written")
    return {split: dataset.load(split) for split in experiment.SPLITS}


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    config = FLAGS.config
    workdir = Path(FLAGS.workdir).absolute()
    splits = generate(config, workdir)
    dataset = experiment.build_dataset(config, workdir)
    for split, trajectories in splits.items():
        logging.info("%s: %s trajectories at %s", split, trajectories.shape, dataset.path(split))
    if jax.process_index() == 0:
        num_trajectories = min(FLAGS.num_plotted_trajectories, *(len(t) for t in splits.values()))
        if num_trajectories:
            plot_trajectories(splits, num_trajectories, workdir / "trajectories.png")
            logging.info("plot: %s", workdir / "trajectories.png")


if __name__ == "__main__":
    os.chdir(_ROOT)  # relative paths of flags and config fields are relative to the repository
    app.run(main, flags_parser=parse_flags)
