"""Evaluates the latest checkpoint of a training run on its test set.

    python pipelines/evaluate.py --workdir=workdir/default

restores the newest complete checkpoint in the workdir (written by `pipelines/train.py`), builds the
test trajectories, the model and the baseline with the builders training used (`emutrain.experiment`),
from the config stored in the checkpoint (or from `--config=configs/x.py[:variant]` when given), rolls
the trained model and, for correction tasks, the scenario's coarse stepper out over
`config.eval.num_steps` steps, and writes to `<workdir>/evaluation/`:

* `metrics.json`: the checkpoint step and, per model, the mean nRMSE and correlation per step, the
  geometric mean of the mean nRMSE over steps 1..100 and the per-sample nRMSE;
* `nrmse.png`: mean nRMSE versus time step of every model;
* `rollout_{i}.png`: reference, prediction and error of the first test trajectories (1D scenarios).

Relative paths are relative to the repository.
"""

import json
import os

import jax
import ml_collections
from absl import app, flags, logging
from ml_collections import config_flags

from emutrain import evaluate, experiment, viz
from emutrain.train import Checkpointer, sharding
from emutrain.train.distributed import initialize_distributed, parse_flags

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
config_flags.DEFINE_config_file(
    "config", None, "Experiment config file; default: the config stored in the newest checkpoint."
)
flags.DEFINE_string("workdir", os.path.join("workdir", "default"), "Run directory holding the checkpoints.")
flags.DEFINE_integer("num_plotted_trajectories", 3, "Test trajectories drawn as rollout comparisons.")


def stored_config(workdir: str) -> ml_collections.ConfigDict:
    """The run config saved with the newest checkpoint of `workdir` that holds one.

    Raises:
      ValueError: no checkpoint of `workdir` holds a config.
    """
    config = Checkpointer(os.path.join(os.path.abspath(workdir), "checkpoints")).stored_config()
    if config is None:
        raise ValueError(f"workdir {workdir!r} holds no checkpoint with a stored config; pass --config")
    return ml_collections.ConfigDict(config)


def evaluate_checkpoint(config, workdir: str, *, num_plotted_trajectories: int = 3) -> dict:
    """Restores the latest checkpoint of `workdir`, evaluates it on the config's test set and writes
    `metrics.json` and the plots to `<workdir>/evaluation`; returns the JSON content. `config=None`
    takes the config stored in the checkpoint. With several processes (`--config.distributed.*`, which
    needs `--config`) every process evaluates its share and process 0 writes the files."""
    if config is not None:
        initialize_distributed(config.distributed)  # before any other JAX work
    workdir = os.path.abspath(workdir)
    # the values training used: the scenario's where the config leaves None
    config = experiment.resolve_config(stored_config(workdir) if config is None else config)
    out_dir = os.path.join(workdir, "evaluation")
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
            sharding=mesh,
        )
        for name, stepper in steppers.items()
    }
    report = {"checkpoint_step": step, **{name: result.to_dict() for name, result in results.items()}}
    is_main = jax.process_index() == 0  # every process computes (the model spans them all), one writes
    if is_main:
        os.makedirs(out_dir, exist_ok=True)
        with open(os.path.join(out_dir, "metrics.json"), "w") as file:
            json.dump(report, file, indent=1)
        curves = viz.plot_nrmse_curves(
            {name: result.mean_nrmse for name, result in results.items()}, title=f"Step {step}"
        )
        viz.save_figure(curves, os.path.join(out_dir, "nrmse.png"))
    num_plotted = min(num_plotted_trajectories, len(test_set))
    if num_plotted and test_set.ndim == 4:  # (S, T+1, N, C): 1D
        samples = test_set[:num_plotted, : config.eval.num_steps + 1]
        predictions = evaluate.rollout_trajectories(model, samples[:, 0], config.eval.num_steps)
        for i in range(num_plotted if is_main else 0):
            figure = viz.plot_rollout_comparison(predictions[i], samples[i])
            viz.save_figure(figure, os.path.join(out_dir, f"rollout_{i}.png"))
    for name, result in results.items():
        logging.info("%s: %s", name, result.scalars(""))
    return report


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    evaluate_checkpoint(
        flags.FLAGS.config, flags.FLAGS.workdir, num_plotted_trajectories=flags.FLAGS.num_plotted_trajectories
    )


if __name__ == "__main__":
    os.chdir(_ROOT)  # relative paths of flags and config fields are relative to the repository
    app.run(main, flags_parser=parse_flags)
