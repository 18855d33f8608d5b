"""emutrain.study on the `:quick` variant of configs/studies/apebench_1d.py (2 scenarios x 2 networks x 2
seeds, 20 steps on 32 points): tables against hand counts and recomputations, seeds of an ensemble against
single trainings, resumption after an interruption against an uninterrupted study."""

import csv
import json
import math
import os
import shutil

import jax
import numpy as np
import pytest
from flax import nnx
from tensorboard.backend.event_processing import plugin_event_accumulator

from emutrain import data, evaluate, experiment, study
from emutrain.config_files import load_config
from emutrain.schema import optimizer_spec, validate_config
from emutrain.train import Hook, Trainer

pytestmark = pytest.mark.slow

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NUM_STEPS, LOG_EVERY, HORIZON = 20, 5, 10
# Hand counts for one member with one input and one output channel in 1D (kernel 3 unless noted):
# Conv;8;2: 1->8 (3*8+8) + 8->8 (3*64+8) + 8->1 (3*8+1) = 32 + 200 + 25.
# Res;8;1: lifting 1x1 1->8 (8+8) + one block of two 8->8 (2*(192+8)) + projection 1x1 8->1 (8+1).
PARAMS = {"Conv;8;2;relu": 257, "Res;8;1;relu": 425}


def _quick_config(**changes):
    config = load_config("studies/apebench_1d", "quick")
    config.train.tensorboard = False
    for key, value in changes.items():
        section, _, field = key.rpartition(".")
        (config[section] if section else config)[field] = value
    return config


def _rows(path):
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


@pytest.fixture(scope="module")
def quick_study(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("study") / "quick")
    finished = study.run_study(_quick_config(), workdir, progress_bar=False)
    return workdir, finished


def test_quick_study_tables(quick_study):
    workdir, finished = quick_study
    assert [run.name for run in finished] == [
        "diff_adv__predict__Conv-8-2-relu__one", "diff_adv__predict__Res-8-1-relu__one",
        "diff_burgers__predict__Conv-8-2-relu__one", "diff_burgers__predict__Res-8-1-relu__one",
    ]
    for run in finished:
        assert os.path.exists(os.path.join(workdir, "runs", run.name, "DONE"))

    metrics = _rows(os.path.join(workdir, "metrics.csv"))
    assert list(metrics[0]) == ["scenario", "task", "network", "method", "seed", "step", "metric", "value"]
    assert len(metrics) == 4 * 2 * 2 * HORIZON  # runs x seeds x metrics x test steps
    one_curve = [r for r in metrics if r["scenario"] == "diff_adv" and r["network"] == "Conv;8;2;relu"
                 and r["seed"] == "1" and r["metric"] == "mean_nRMSE"]
    assert [int(r["step"]) for r in one_curve] == list(range(1, HORIZON + 1))
    correlations = [float(r["value"]) for r in metrics if r["metric"] == "mean_correlation"]
    assert all(-1.0 - 1e-6 <= c <= 1.0 + 1e-6 for c in correlations)

    losses = _rows(os.path.join(workdir, "losses.csv"))
    assert list(losses[0]) == ["scenario", "task", "network", "method", "seed", "step", "loss"]
    assert len(losses) == 4 * 2 * (NUM_STEPS // LOG_EVERY)
    assert sorted({int(r["step"]) for r in losses}) == [5, 10, 15, 20]

    summary = _rows(os.path.join(workdir, "summary.csv"))
    assert len(summary) == 4 * 2
    for row in summary:
        assert int(row["num_params"]) == PARAMS[row["network"]]
        assert int(row["num_steps"]) == NUM_STEPS and int(row["num_seeds"]) == 2
        assert float(row["steps_per_second"]) == pytest.approx(NUM_STEPS / float(row["train_time_s"]))
        last = [r for r in losses if all(r[k] == row[k] for k in (*study.KEYS, "seed")) and r["step"] == "20"]
        assert float(row["final_loss"]) == float(last[0]["loss"])

    markdown = open(os.path.join(workdir, "summary.md")).read()
    table = [line for line in markdown.splitlines() if line.startswith("| diff_")]
    assert len(table) == 4
    # One line per run: mean [min, max] of the two seeds' gmean nRMSE.
    adv_conv = [r for r in summary if r["scenario"] == "diff_adv" and r["network"] == "Conv;8;2;relu"]
    values = sorted(float(r["gmean_nrmse"]) for r in adv_conv)
    expected = f"{np.mean(values):.3g} [{values[0]:.3g}, {values[1]:.3g}]"
    assert expected in [line for line in table if "diff_adv | predict | Conv;8;2;relu" in line][0]

    for name in ("nrmse_diff_adv", "nrmse_diff_burgers", "gmean_nrmse"):
        with open(os.path.join(workdir, "plots", f"{name}.png"), "rb") as file:
            assert file.read(8) == b"\x89PNG\r\n\x1a\n"
    events = plugin_event_accumulator.EventAccumulator(workdir, size_guidance={"tensors": 0})
    events.Reload()
    assert sorted(events.PluginTagToContent("images")) == [
        "study/gmean_nrmse", "study/nrmse_diff_adv", "study/nrmse_diff_burgers"
    ]


def test_summary_gmean_is_recomputed_from_metrics(quick_study):
    workdir, _ = quick_study
    metrics = _rows(os.path.join(workdir, "metrics.csv"))
    for row in _rows(os.path.join(workdir, "summary.csv")):
        curve = [float(r["value"]) for r in metrics if r["metric"] == "mean_nRMSE"
                 and all(r[k] == row[k] for k in (*study.KEYS, "seed"))]
        assert len(curve) == HORIZON  # min(100, H) = H steps enter the geometric mean
        by_hand = math.exp(sum(math.log(v) for v in curve) / len(curve))
        assert float(row["gmean_nrmse"]) == pytest.approx(by_hand, rel=1e-12)


def test_ensemble_members_are_the_single_runs_models():
    config = _quick_config()
    rc = study.run_config(config, study.runs(config)[1])  # diff_adv, Res;8;1;relu
    ensemble = study.build_ensemble(rc, [3, 1])
    for index, seed in enumerate([3, 1]):
        rc.seed = seed
        single = nnx.state(experiment.build_model(rc), nnx.Param)
        member = nnx.state(ensemble.member(index), nnx.Param)
        for a, b in zip(jax.tree.leaves(single), jax.tree.leaves(member)):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_ensemble_seed_equals_a_single_training(quick_study):
    """Seed 1 of the study's (diff_adv, Conv) ensemble against that network trained alone with the
    Trainer: the same test curve and final loss up to float rounding."""
    workdir, _ = quick_study
    config = _quick_config()
    run = study.runs(config)[0]
    rc = study.run_config(config, run, seed=1)
    dataset = experiment.build_dataset(rc, os.path.join(workdir, "datasets"))
    splits = {split: dataset.load(split) for split in ("train", "test")}
    configuration = experiment.build_configuration(rc)
    optimizer, schedule = experiment.build_optimizer(rc)
    loader = data.make_loader(data.TrajectoryWindows(splits["train"], configuration.required_window_length),
                              batch_size=rc.train.batch_size, seed=rc.train.data_seed)
    trainer = Trainer(configuration, optimizer, learning_rate=schedule, seed=rc.train.data_seed,
                      log_every=None, tensorboard=False, progress_bar=False)
    result = trainer.fit(experiment.build_model(rc), loader, num_steps=NUM_STEPS)
    alone = evaluate.evaluate_rollout(result.model, splits["test"], num_steps=HORIZON)
    metrics = _rows(os.path.join(workdir, "metrics.csv"))
    ensemble_curve = [float(r["value"]) for r in metrics if r["scenario"] == run.scenario
                      and r["network"] == run.network and r["seed"] == "1" and r["metric"] == "mean_nRMSE"]
    np.testing.assert_allclose(ensemble_curve, alone.mean_nrmse, rtol=1e-4)
    summary = [r for r in _rows(os.path.join(workdir, "summary.csv"))
               if r["scenario"] == run.scenario and r["network"] == run.network and r["seed"] == "1"][0]
    # losses.csv holds the mean over the LOG_EVERY steps ending at the recorded step.
    assert float(summary["final_loss"]) == pytest.approx(np.mean(result.losses[-LOG_EVERY:]), rel=1e-4)


class _Interrupt(Exception):
    pass


class _InterruptAt(Hook):
    """Raises `_Interrupt` after step `step` of the run whose directory ends with `run_name`."""

    def __init__(self, run_name, step):
        super().__init__(every_steps=1)
        self.run_name, self.step = run_name, step

    def __call__(self, step, context):
        if context.workdir.endswith(self.run_name) and step == self.step:
            raise _Interrupt(f"interrupted at step {step}")


class _RecordStarts(Hook):
    """Records `(run directory name, start step)` of every run it is added to, in `started`."""

    def __init__(self):
        super().__init__(at_end=False)
        self.started = []

    def begin(self, context):
        super().begin(context)
        self.started.append((os.path.basename(context.workdir), context.start_step))

    def __call__(self, step, context):
        return None


def test_interrupted_study_resumes_to_the_uninterrupted_summary(quick_study, tmp_path):
    reference_dir, _ = quick_study
    config = _quick_config(scenarios=["diff_adv"])
    workdir = str(tmp_path / "interrupted")
    # The checkpoint of step 10 is written; the run dies at step 15, its loss rows up to 15 written.
    with pytest.raises(_Interrupt):
        study.run_study(config, workdir, hooks=[_InterruptAt("diff_adv__predict__Res-8-1-relu__one", 15)],
                        progress_bar=False)
    runs = os.path.join(workdir, "runs")
    assert os.path.exists(os.path.join(runs, "diff_adv__predict__Conv-8-2-relu__one", "DONE"))
    assert not os.path.exists(os.path.join(runs, "diff_adv__predict__Res-8-1-relu__one", "DONE"))
    assert len(_rows(os.path.join(workdir, "summary.csv"))) == 2  # the finished run's seeds only

    record = _RecordStarts()
    study.run_study(config, workdir, hooks=[record], progress_bar=False)
    # the finished run skipped, the interrupted one resumed at 10
    assert record.started == [("diff_adv__predict__Res-8-1-relu__one", 10)]

    deterministic = ("gmean_nrmse", "final_loss", "num_params", "num_steps", "num_seeds")
    reference = [r for r in _rows(os.path.join(reference_dir, "summary.csv")) if r["scenario"] == "diff_adv"]
    resumed = _rows(os.path.join(workdir, "summary.csv"))
    assert [[r[k] for k in (*study.KEYS, "seed", *deterministic)] for r in resumed] == [
        [r[k] for k in (*study.KEYS, "seed", *deterministic)] for r in reference
    ]
    reference_losses = [r for r in _rows(os.path.join(reference_dir, "losses.csv"))
                        if r["scenario"] == "diff_adv"]
    assert _rows(os.path.join(workdir, "losses.csv")) == reference_losses


def test_finished_study_is_skipped_and_changed_settings_are_refused(quick_study, tmp_path):
    reference_dir, _ = quick_study
    workdir = str(tmp_path / "copy")
    shutil.copytree(reference_dir, workdir)
    before = open(os.path.join(workdir, "summary.csv")).read()
    record = _RecordStarts()
    finished = study.run_study(_quick_config(), workdir, hooks=[record], progress_bar=False)
    assert len(finished) == 4 and record.started == []
    assert open(os.path.join(workdir, "summary.csv")).read() == before

    with pytest.raises(ValueError, match="other settings \\(config, seeds differ\\)"):
        study.run_study(_quick_config(seeds=[0]), workdir, progress_bar=False)
    done = json.load(open(os.path.join(workdir, "runs", "diff_adv__predict__Conv-8-2-relu__one", "DONE")))
    assert done["seeds"] == [0, 1] and done["config"]["train"]["num_steps"] == NUM_STEPS


def test_tables_are_rebuilt_on_demand(quick_study, tmp_path):
    reference_dir, _ = quick_study
    workdir = str(tmp_path / "copy")
    shutil.copytree(reference_dir, workdir)
    for table in ("metrics.csv", "losses.csv", "summary.csv", "summary.md"):
        os.remove(os.path.join(workdir, table))
    study.rebuild_tables(_quick_config(plots=False), workdir)
    for table in ("metrics.csv", "losses.csv", "summary.csv", "summary.md"):
        assert open(os.path.join(workdir, table)).read() == open(os.path.join(reference_dir, table)).read()
    assert os.listdir(os.path.join(workdir, "claims")) == []  # the tables claim released


@pytest.mark.parametrize(
    "field, value, message",
    [("seeds", [], "config.seeds must be a non-empty list"), ("seeds", [0, 0], "must not repeat a seed"),
     ("seeds", [True], "entries must be ints >= 0"), ("scenarios", ["diff_adv", ""], "non-empty strings"),
     ("methods", ["one", "one"], "must not repeat an entry"),
     ("networks", ["Conv;8;relu"], "study run diff_adv__predict__Conv-8-relu__one: config.network: "),
     ("methods", ["sup;12"], "study run diff_adv__predict__Conv-8-2-relu__sup-12: config.method='sup;12' "
                             "needs train windows of 13 time levels, but the train trajectories have 11"),
     ("train.batch_size", 0, r"config\.train\.batch_size must be >= 1, got 0"),
     ("tasks", ["correct;bogus"], "config.task: ")],
)
def test_malformed_study_configs(tmp_path, field, value, message):
    with pytest.raises(ValueError, match=message):
        study.run_study(_quick_config(**{field: value}), str(tmp_path), progress_bar=False)


def test_run_config_defaults_follow_the_scenario():
    config = _quick_config()
    config.overrides = {}
    config.train.log_every = None
    config.train.checkpoint_every = None
    rc = study.run_config(config, study.Run("diff_ks", "predict", "Conv;34;10;relu", "one"), seed=2)
    assert rc.seed == 2 and optimizer_spec(rc) == "adam;10_000;warmup_cosine;0.0;1e-3;2_000"
    assert rc.train.num_steps == 10_000 and rc.train.batch_size == 20 and rc.train.log_every == 100
    assert rc.train.checkpoint_every == 2_500 and rc.eval.num_steps == 200 and rc.train.num_seeds == 2
    assert validate_config(rc) is None  # a config of the experiment schema, as a single run's
    assert study.Run("diff_ks", "correct;sequential", "FNO;12;18;4;gelu", "sup;5").name == (
        "diff_ks__correct-sequential__FNO-12-18-4-gelu__sup-5"
    )


def test_pandas_helpers(quick_study):
    pandas = pytest.importorskip("pandas")
    workdir, _ = quick_study
    summary = study.load(workdir, "summary")
    assert len(summary) == 8 and pandas.api.types.is_string_dtype(summary["network"])
    aggregated = study.aggregate_seeds(summary, columns=["gmean_nrmse"])
    adv_conv = summary[(summary.scenario == "diff_adv") & (summary.network == "Conv;8;2;relu")]["gmean_nrmse"]
    row = aggregated.loc[("diff_adv", "predict", "Conv;8;2;relu", "one")]
    assert row[("gmean_nrmse", "mean")] == pytest.approx(adv_conv.mean())
    assert row[("gmean_nrmse", "count")] == 2
    relative = study.relative_to(summary, {"network": "Conv;8;2;relu"})
    conv = relative[relative.network == "Conv;8;2;relu"]["relative"]
    assert np.allclose(conv, 1.0)
    res = relative[(relative.network == "Res;8;1;relu") & (relative.scenario == "diff_burgers")
                   & (relative.seed == 0)]
    by_hand = (summary[(summary.network == "Res;8;1;relu") & (summary.scenario == "diff_burgers")
                       & (summary.seed == 0)].gmean_nrmse.item()
               / summary[(summary.network == "Conv;8;2;relu") & (summary.scenario == "diff_burgers")
                         & (summary.seed == 0)].gmean_nrmse.item())
    assert res["relative"].item() == pytest.approx(by_hand)
    metrics = study.load(workdir, "metrics")
    assert isinstance(metrics, pandas.DataFrame) and len(metrics) == 160
    with pytest.raises(ValueError, match="table must be one of"):
        study.load(workdir, "nope")


def test_interrupted_run_refuses_to_resume_with_other_seeds(tmp_path):
    config = _quick_config(scenarios=["diff_adv"], networks=["Conv;8;2;relu"])
    workdir = str(tmp_path / "study")
    with pytest.raises(_Interrupt):  # after the checkpoint of step 10
        study.run_study(config, workdir, hooks=[_InterruptAt("Conv-8-2-relu__one", 11)], progress_bar=False)
    with pytest.raises(ValueError, match="seeds: \\[0, 1\\] -> \\[0\\]"):
        study.run_study(_quick_config(scenarios=["diff_adv"], networks=["Conv;8;2;relu"], seeds=[0]), workdir,
                        progress_bar=False)


_DETERMINISTIC = ("gmean_nrmse", "final_loss", "num_params", "num_steps", "num_seeds")


def _deterministic(rows):
    return [[row[k] for k in (*study.KEYS, "seed", *_DETERMINISTIC)] for row in rows]


def test_three_submitted_workers_make_the_tables_of_one(quick_study, tmp_path):
    """`submit_workers` (submitit's local executor: three processes) on the quick study: each combination
    trained by exactly one worker, and the same tables as one worker (summary.csv equal but for the
    timing columns, metrics.csv and losses.csv byte for byte)."""
    pytest.importorskip("submitit")
    reference_dir, finished = quick_study
    workdir = str(tmp_path / "workers")
    jobs = study.submit_workers(_quick_config(claim_timeout_s=60.0), workdir, 3, cluster="local")
    trained = [name for job in jobs for name in job.result()]
    assert sorted(trained) == sorted(run.name for run in finished)  # each once, by one of the workers
    assert _deterministic(_rows(os.path.join(workdir, "summary.csv"))) == _deterministic(
        _rows(os.path.join(reference_dir, "summary.csv")))
    for table in ("metrics.csv", "losses.csv"):
        assert open(os.path.join(workdir, table)).read() == open(os.path.join(reference_dir, table)).read()
    assert os.path.exists(os.path.join(workdir, "plots", "gmean_nrmse.png"))  # by the last worker
    assert os.listdir(os.path.join(workdir, "claims")) == []  # every claim released


_KILLED_WORKER = """
import sys, time
from emutrain import study
from emutrain.config_files import load_config
from emutrain.train import Hook

class Hang(Hook):
    def __call__(self, step, context):
        if context.workdir.endswith("Res-8-1-relu__one") and step == 16:
            open(sys.argv[2], "w").close()
            time.sleep(600)

config = load_config("studies/apebench_1d", "quick")
config.train.tensorboard, config.scenarios, config.claim_timeout_s = False, ("diff_adv",), 2.0
config.train.checkpoint_every = 5
study.run_study(config, sys.argv[1], hooks=[Hang(every_steps=1)], progress_bar=False)
"""


def test_a_killed_workers_combination_is_resumed_by_another(quick_study, tmp_path):
    """A worker killed with SIGKILL at step 16 of its second combination (checkpoints every 5 steps: the
    save of step 15 waits for that of step 10) leaves its claim and its run directory lock behind; a
    second worker waits until the claim's heartbeat is 2 s old, takes it over, resumes the run from its
    latest checkpoint and finishes it to the uninterrupted tables; the first worker's finished combination
    is not trained again."""
    import signal
    import subprocess
    import sys
    import time

    from emutrain.train import Checkpointer

    reference_dir, _ = quick_study
    workdir, marker = str(tmp_path / "study"), str(tmp_path / "hanging")
    worker = subprocess.Popen([sys.executable, "-c", _KILLED_WORKER, workdir, marker])
    run_dir = os.path.join(workdir, "runs", "diff_adv__predict__Res-8-1-relu__one")
    try:
        deadline = time.time() + 240
        while not os.path.exists(marker) and worker.poll() is None and time.time() < deadline:
            time.sleep(0.2)
        assert os.path.exists(marker), "the first worker never reached step 16"
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
    checkpointer = Checkpointer(os.path.join(run_dir, "checkpoints"))
    latest = checkpointer.latest_step()
    checkpointer.close()
    assert latest in (10, 15)
    claim = json.load(open(os.path.join(workdir, "claims", os.path.basename(run_dir))))
    assert claim["pid"] == worker.pid and os.path.exists(os.path.join(run_dir, "emutrain.lock"))

    record = _RecordStarts()
    config = _quick_config(scenarios=["diff_adv"], claim_timeout_s=2.0, **{"train.checkpoint_every": 5})
    trained = study.run_worker(config, workdir, hooks=[record], progress_bar=False)
    assert [run.name for run in trained] == [os.path.basename(run_dir)]
    assert record.started == [(os.path.basename(run_dir), latest)]  # resumed from the checkpoint, not from 0
    reference = [r for r in _rows(os.path.join(reference_dir, "summary.csv")) if r["scenario"] == "diff_adv"]
    assert _deterministic(_rows(os.path.join(workdir, "summary.csv"))) == _deterministic(reference)
    assert os.listdir(os.path.join(workdir, "claims")) == []
