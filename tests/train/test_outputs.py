"""What a quick `train_and_evaluate` run leaves in its workdir: config.json (the resolved config),
metrics.jsonl (every scalar the writer got), eval/step_N.csv (the Evaluation's curves), TensorBoard
hyperparameters, and the best checkpoint by the evaluation metric next to the latest one."""

import json
import math
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import train_tiny as tiny
from tensorboard.backend.event_processing import plugin_event_accumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from emutrain import evaluate
from emutrain.config_files import load_config
from emutrain.experiment import train_and_evaluate
from emutrain.schema import resolve_config
from emutrain.train import Checkpointer, TrainState, trainer, writers
from emutrain.train.outputs import RunConfigHook, read_eval_csv, write_eval_csv
from emutrain.train.tensorboard import to_scalars

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NUM_STEPS, EVERY, HORIZON = 8, 2, 10
METRIC = f"eval/gmean_nrmse_{HORIZON}"


def _config():
    config = load_config("default", "quick")
    config.scenario.overrides.update(num_points=16, test_temporal_horizon=HORIZON)
    config.eval.num_steps = HORIZON
    config.train.num_steps = NUM_STEPS
    config.train.log_every = config.train.checkpoint_every = config.eval.every = EVERY
    config.train.max_to_keep = 1
    config.train.progress_bar = False
    return config


class _Recording:
    """Passes every call to the run's writer and records the scalars it got."""

    def __init__(self, writer, calls):
        self.writer, self.calls = writer, calls

    def write_scalars(self, step, scalars):
        self.calls.append((step, to_scalars(scalars)))
        self.writer.write_scalars(step, scalars)

    def __getattr__(self, name):
        return getattr(self.writer, name)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("run")
    config = _config()
    written, evaluations = [], []
    make_writer, make_eval_fn = trainer.make_writer, evaluate.make_eval_fn

    def recording_eval_fn(*args, **kwargs):
        eval_fn = make_eval_fn(*args, **kwargs)

        def recorded(model):
            evaluations.append(eval_fn(model))
            return evaluations[-1]

        return recorded

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(trainer, "make_writer", lambda *a, **k: _Recording(make_writer(*a, **k), written))
        patch.setattr(evaluate, "make_eval_fn", recording_eval_fn)
        start = time.time()
        result = train_and_evaluate(config, workdir)
        end = time.time()
    return dict(workdir=workdir, config=config, written=written, evaluations=evaluations, result=result,
                start=start, end=end)


def test_config_json_is_the_resolved_config(run):
    with open(run["workdir"] / "config.json") as file:
        # the values the run used; JSON stores the scenario's tuples (vlim) as lists
        assert json.load(file) == json.loads(json.dumps(resolve_config(run["config"]).to_dict()))


def test_metrics_jsonl_holds_every_scalar_the_writer_got(run):
    records = writers.read_metrics_jsonl(run["workdir"] / "metrics.jsonl")
    assert [(r["step"], {k: v for k, v in r.items() if k not in ("step", "wall_time")}) for r in records] == (
        run["written"]
    )
    assert [step for step, _ in run["written"]] == [2, 4, 6, 8]
    times = [r["wall_time"] for r in records]
    assert run["start"] <= times[0] and times == sorted(times) and times[-1] <= run["end"]
    # one steps/s name
    assert all("steps_per_second" in r and "steps_per_sec" not in r for r in records)


def test_eval_csv_holds_the_evaluation_curves(run):
    assert sorted(os.listdir(run["workdir"] / "eval")) == sorted(
        f"step_{s}.{ext}" for s in (2, 4, 6, 8) for ext in ("csv", "npz")
    )
    assert len(run["evaluations"]) == 4
    for step, evaluation in zip((2, 4, 6, 8), run["evaluations"]):
        table = read_eval_csv(run["workdir"] / "eval" / f"step_{step}.csv")
        assert list(table) == ["step", "nrmse", "correlation", "coarse/nrmse", "coarse/correlation"]
        np.testing.assert_array_equal(table["step"], np.arange(1, HORIZON + 1))
        np.testing.assert_array_equal(table["nrmse"], evaluation.metrics.mean_nrmse)
        np.testing.assert_array_equal(table["correlation"], evaluation.metrics.mean_correlation)
        coarse = evaluation.baselines["coarse"]
        np.testing.assert_array_equal(table["coarse/nrmse"], coarse.mean_nrmse)
        np.testing.assert_array_equal(table["coarse/correlation"], coarse.mean_correlation)


def test_best_checkpoint_is_kept_next_to_the_latest(run):
    values = {step: scalars[METRIC] for step, scalars in run["written"] if METRIC in scalars}
    assert sorted(values) == [2, 4, 6, 8]
    best = min(values, key=lambda step: (values[step], step))
    checkpointer = Checkpointer(run["workdir"] / "checkpoints", best_metric=METRIC)
    assert checkpointer.all_steps() == sorted({best, NUM_STEPS})  # max_to_keep = 1: the latest only
    assert checkpointer.best_step() == best
    assert checkpointer.manager.metrics(best)[METRIC] == values[best]


def test_hparams_are_the_flattened_config(run):
    accumulator = plugin_event_accumulator.EventAccumulator(str(run["workdir"]), size_guidance={"tensors": 0})
    accumulator.Reload()
    content = accumulator.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    hparams = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info.hparams
    assert hparams["train.num_steps"].number_value == NUM_STEPS
    assert hparams["network"].string_value == "Res;8;1;relu"
    assert hparams["scenario.overrides.num_points"].number_value == 16


def _state(step):
    state = TrainState.create(tiny.model(), tiny.optimizer(), key=0)
    return state.replace(step=jnp.asarray(step, jnp.int32))


@pytest.mark.parametrize(
    ("mode", "max_to_keep", "kept", "best"),
    [("min", 1, [2, 6], 2), ("max", 1, [4, 6], 4), ("min", 2, [2, 5, 6], 2)],
)
def test_checkpointer_keeps_the_best_and_the_latest(tmp_path, mode, max_to_keep, kept, best):
    metrics = {1: 3.0, 2: 1.0, 3: 2.0, 4: 5.0, 5: math.nan}  # NaN ranks last in both modes
    with Checkpointer(tmp_path, max_to_keep=max_to_keep, best_metric="m", best_mode=mode) as checkpointer:
        for step, value in metrics.items():
            checkpointer.save(_state(step), metrics={"m": value, "loss": 0.5})
        checkpointer.save(_state(6), metrics={"loss": 0.5})  # no value of the metric: ranks last
        checkpointer.wait()
        assert checkpointer.all_steps() == kept and checkpointer.best_step() == best


def test_run_config_hook_writes_only_on_process_0(tmp_path, monkeypatch):
    class Context:
        workdir, start_step, now, num_steps, steps_per_dispatch = str(tmp_path), 0, 0.0, 1, 1
        writer = writers.make_writer(str(tmp_path), tensorboard=False, process_index=1)

    monkeypatch.setattr(jax, "process_index", lambda: 1)
    RunConfigHook({"a": 1}).begin(Context())
    assert os.listdir(tmp_path) == []
    monkeypatch.setattr(jax, "process_index", lambda: 0)
    RunConfigHook({"a": {"b": (1, 2)}}).begin(Context())
    with open(tmp_path / "config.json") as file:
        assert json.load(file) == {"a": {"b": [1, 2]}}


def test_eval_csv_round_trip_is_exact(tmp_path):
    rng = np.random.default_rng(0)
    curves = rng.normal(size=(4, 7)).astype(np.float32) * np.float32(1e-3)
    metrics = evaluate.RolloutMetrics(curves[0], curves[1], 0.0, 7, curves[None, 0], curves[None, 1])
    baseline = evaluate.RolloutMetrics(curves[2], curves[3], 0.0, 7, curves[None, 2], curves[None, 3])
    evaluation = evaluate.Evaluation(metrics, {"coarse": baseline}, None, None)
    table = read_eval_csv(write_eval_csv(tmp_path / "e.csv", evaluation))
    for name, row in zip(("nrmse", "correlation", "coarse/nrmse", "coarse/correlation"), curves):
        np.testing.assert_array_equal(table[name], row)
    with open(tmp_path / "e.csv") as file:
        assert file.readline().strip() == "step,nrmse,correlation,coarse/nrmse,coarse/correlation"
