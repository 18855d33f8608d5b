"""`train_and_evaluate` on a shrunk `configs/default.py:quick`: TensorBoard events, checkpoint, plots,
evaluation arrays against the coarse baseline."""

import os

import numpy as np

from emutrain import physics
from emutrain.config_files import load_config
from emutrain.experiment import build_trajectories, train_and_evaluate
from emutrain.train import Checkpointer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _quick_config():
    config = load_config("default", "quick")
    config.scenario.overrides.update(num_points=16, test_temporal_horizon=10)
    config.eval.num_steps = 10
    config.train.num_steps = 20
    config.train.progress_bar = False
    return config


def test_quick_run_writes_events_checkpoint_plots_and_resumes(tmp_path):
    config = _quick_config()
    result = train_and_evaluate(config, tmp_path)
    assert int(result.state.step) == 20 and result.losses.shape == (20,)
    assert np.all(np.isfinite(result.losses))
    assert any(name.startswith("events.out.tfevents") for name in os.listdir(tmp_path))
    # the evaluation (eval.every = 20) leaves its figures under the step and under a stable name
    plots = {"nrmse", "rollout_0"}
    expected = {f"{name}_step_20.png" for name in plots} | {f"{name}.png" for name in plots}
    assert set(os.listdir(tmp_path / "plots")) == expected
    assert set(os.listdir(tmp_path / "eval")) == {"step_20.npz", "step_20.csv"}
    arrays = np.load(tmp_path / "eval" / "step_20.npz")
    assert arrays["mean_nrmse_per_step"].shape == (10,)
    test = build_trajectories(config, "test")
    coarse = physics.DifficultyLinearStepperSimple(1, 16, difficulty=-3.25, order=1)
    coarse_step_1 = np.mean(physics.metrics.nrmse(coarse(test[:, 0]), test[:, 1]))
    np.testing.assert_allclose(arrays["coarse/mean_nrmse_per_step"][0], coarse_step_1, rtol=1e-5)
    np.testing.assert_allclose(result.metrics["eval/coarse/nrmse_step_1"], coarse_step_1, rtol=1e-5)
    checkpointer = Checkpointer(tmp_path / "checkpoints")
    assert checkpointer.latest_step() == 20
    assert checkpointer.restore_config()["train"]["num_steps"] == 20
    assert "eval/gmean_nrmse_10" in result.metrics and "steps_per_second" in result.metrics
    again = train_and_evaluate(config, tmp_path)
    assert again.first_step == 21 and again.losses.shape == (0,)
