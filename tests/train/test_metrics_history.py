"""A resumed run's history holds each step once: `emutrain.train.history.rewind` drops what steps after the
resumed one wrote (metrics.jsonl rows, evaluation tables, arrays and figures, unfinished checkpoint
saves), and a kill -9 then resume leaves metrics.jsonl as an uninterrupted run writes it."""

import json
import logging
import os
import subprocess
import sys

import pytest
import train_tiny as tiny

from emutrain.train import Trainer, history
from emutrain.train.writers import METRICS_FILE, read_metrics_jsonl

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
RUN = os.path.join(HERE, "run_training.py")
ENV = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=ROOT)

# run_training.py with every Trainer also writing metrics.jsonl
WITH_JSONL = """
import runpy, sys
from emutrain.train import Trainer
init = Trainer.__init__
Trainer.__init__ = lambda self, *args, **kwargs: init(self, *args, **{{**kwargs, "metrics_jsonl": True}})
sys.argv = [{run!r}, *sys.argv[1:]]
runpy.run_path({run!r}, run_name="__main__")
"""


@pytest.fixture
def workdir(tmp_path):
    """A workdir whose outputs reach step 20: metrics rows every 2 steps (the last one torn by a kill),
    evaluations at steps 5, 10, 15, 20."""
    rows = [json.dumps({"step": step, "wall_time": 1.0, "loss": step / 10}) for step in range(2, 21, 2)]
    (tmp_path / METRICS_FILE).write_text("\n".join(rows) + '\n{"step": 22, "los')
    for subdir in ("eval", "plots"):
        (tmp_path / subdir).mkdir()
    for step in (5, 10, 15, 20):
        for name in (f"eval/step_{step}.csv", f"eval/step_{step}.npz", f"plots/rollout_step_{step}.png"):
            (tmp_path / name).write_text("x")
    (tmp_path / "plots" / "rollout.png").write_text("x")
    (tmp_path / "eval" / "notes_step_99.txt").write_text("not an evaluation output")
    return tmp_path


def test_rewind_keeps_each_step_up_to_the_resumed_one(workdir):
    before = (workdir / METRICS_FILE).read_text().splitlines()
    history.rewind(workdir, 10, process_index=0)
    assert (workdir / METRICS_FILE).read_text().splitlines() == before[:5]  # steps 2..10, in order
    assert sorted(os.listdir(workdir / "eval")) == [
        "notes_step_99.txt", "step_10.csv", "step_10.npz", "step_5.csv", "step_5.npz"
    ]
    plots = ["rollout.png", "rollout_step_10.png", "rollout_step_5.png"]
    assert sorted(os.listdir(workdir / "plots")) == plots
    assert sorted(os.listdir(workdir)) == ["eval", METRICS_FILE, "plots"]  # no temporary file left


def test_rewind_to_zero_empties_the_history_and_other_processes_touch_nothing(workdir):
    before = (workdir / METRICS_FILE).read_text()
    history.rewind(workdir, 0, process_index=1)
    assert (workdir / METRICS_FILE).read_text() == before
    history.rewind(workdir, 0, process_index=0)
    assert (workdir / METRICS_FILE).read_text() == ""
    assert os.listdir(workdir / "eval") == ["notes_step_99.txt"]


def test_a_missing_history_on_resume_is_one_warning(tmp_path, caplog):
    with caplog.at_level(logging.INFO):
        history.rewind(tmp_path, 0, process_index=0)  # a fresh run: nothing to say
        history.rewind(tmp_path, 8, metrics_jsonl=False, process_index=0)  # no history kept
        assert caplog.records == []
        history.rewind(tmp_path, 8, process_index=0)
    (record,) = caplog.records
    assert record.levelname == "WARNING"
    assert record.getMessage() == (
        f"{tmp_path / METRICS_FILE} is missing on resume from step 8: the history starts again at step 9"
    )


def _train(tmp_path, name, num_steps, *flags):
    out = tmp_path / f"{name}.json"
    proc = subprocess.run(
        [sys.executable, "-c", WITH_JSONL.format(run=RUN), str(out), str(num_steps), *flags],
        env=ENV, capture_output=True, text=True, timeout=600,
    )
    return proc


def test_kill_then_resume_leaves_each_step_once(tmp_path):
    workdir = tmp_path / "run"
    killed = _train(tmp_path, "killed", 20, "--workdir", str(workdir), "--kill-at-step", "15")
    assert killed.returncode == -9, killed.stderr[-3000:]
    rows = read_metrics_jsonl(workdir / METRICS_FILE)
    assert [row["step"] for row in rows] == list(range(2, 15, 2))  # 13..15 are past checkpoint 12
    resumed = _train(tmp_path, "resumed", 20, "--workdir", str(workdir))
    whole = _train(tmp_path, "whole", 20, "--workdir", str(tmp_path / "whole"))
    assert resumed.returncode == 0 and whole.returncode == 0, resumed.stderr[-3000:] + whole.stderr[-3000:]
    assert json.loads((tmp_path / "resumed.json").read_text())["first_step"] == 13
    rows, expected = (read_metrics_jsonl(path / METRICS_FILE) for path in (workdir, tmp_path / "whole"))
    assert [row["step"] for row in rows] == [row["step"] for row in expected] == list(range(2, 21, 2))
    assert [row["loss"] for row in rows] == [row["loss"] for row in expected]


def test_unfinished_checkpoint_saves_are_removed_when_fit_starts(tmp_path, caplog):
    checkpoints = tmp_path / "checkpoints"
    for name in ("4", "8.orbax-checkpoint-tmp-1733500000", "12.orbax-checkpoint-tmp"):
        (checkpoints / name / "state").mkdir(parents=True)
    history.rewind(None, 4, checkpoint_dir=checkpoints, process_index=1)  # not process 0: nothing
    assert len(os.listdir(checkpoints)) == 3
    history.rewind(None, 4, checkpoint_dir=checkpoints, process_index=0)
    assert os.listdir(checkpoints) == ["4"]
    assert [r.getMessage() for r in caplog.records] == [
        f"removing {checkpoints / name}, left by a checkpoint save that did not complete"
        for name in ("12.orbax-checkpoint-tmp", "8.orbax-checkpoint-tmp-1733500000")
    ]
    (checkpoints / "4" / "state").rmdir()
    (checkpoints / "4").rmdir()
    (checkpoints / "8.orbax-checkpoint-tmp-1733500000").mkdir()
    trainer = Trainer(tiny.configuration(), tiny.optimizer(), workdir=tmp_path, checkpoint_every=4,
                      tensorboard=False, progress_bar=False)
    trainer.fit(tiny.model(), tiny.loader(), num_steps=4)
    assert os.listdir(checkpoints) == ["4"]
