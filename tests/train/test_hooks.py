"""Hooks: exact cadences (steps per dispatch 1 and 2, at_end, every_secs on a fake clock), a user hook's
values written with the training metrics, and the lazily built state (once per step)."""

import functools
import glob
import os
import signal

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import train_tiny as tiny
from flax import nnx

from emutrain.evaluate import evaluate_rollout, make_eval_fn
from emutrain.train import CheckpointHook, EvalHook, Hook, LiveState, ProfileHook, Trainer


class Record(Hook):
    """Records the steps it fired at and the clock time it saw."""

    def __post_init__(self):
        super().__post_init__()
        self.steps, self.times = [], []

    def __call__(self, step, context):
        self.steps.append(step)
        self.times.append(context.now)


def _fit(hooks, num_steps, steps_per_dispatch=1, log_every=None, clock=None, workdir=None):
    trainer = Trainer(
        tiny.configuration(), tiny.optimizer(), steps_per_dispatch=steps_per_dispatch, hooks=hooks,
        log_every=log_every, tensorboard=False, progress_bar=False, workdir=workdir,
    )
    if clock is not None:
        trainer.clock = clock
    return trainer.fit(tiny.model(), tiny.loader(), num_steps=num_steps)


@pytest.mark.parametrize(
    "steps_per_dispatch, every_steps, at_end, expected",
    [
        (1, 3, True, [3, 6, 9, 10]),
        (1, 3, False, [3, 6, 9]),
        (1, 5, True, [5, 10]),  # the end coincides with the cadence: fired once
        (2, 4, False, [4, 8]),
        (2, 4, True, [4, 8, 10]),
        # dispatches end at 2, 4, 6, 8, 10; those crossing a multiple of 3 (3, 6, 9) fire at 4, 6, 10
        (2, 3, False, [4, 6, 10]),
        (2, 1, False, [2, 4, 6, 8, 10]),
    ],
)
def test_step_cadence_is_exact(steps_per_dispatch, every_steps, at_end, expected):
    hook = Record(every_steps=every_steps, at_end=at_end)
    _fit([hook], 10, steps_per_dispatch)
    assert hook.steps == expected


def test_at_end_alone():
    end_only = Record(at_end=True)
    never = Record(at_end=False)
    _fit([end_only, never], 6, steps_per_dispatch=2)
    assert end_only.steps == [6] and never.steps == []


class FakeClock:
    """Returns the given times one per call (the loop reads it once at the start and after each
    dispatch)."""

    def __init__(self, times):
        self.times = list(times)

    def __call__(self):
        return self.times.pop(0)


def test_every_secs_on_a_fake_clock():
    # start, then after steps 1..8
    times = [0.0, 0.5, 1.0, 5.0, 5.1, 8.9, 9.0, 20.0, 20.5]
    timed = Record(every_secs=4.0, at_end=False)
    both = Record(every_secs=4.0, every_steps=2, at_end=False)
    result = _fit([timed, both], 8, log_every=3, clock=FakeClock(times))
    assert timed.steps == [3, 6, 7]  # 5.0 - 0 >= 4, 9.0 - 5.0 >= 4, 20.0 - 9.0 >= 4; 8.9 - 5.0 < 4
    assert timed.times == [5.0, 9.0, 20.0]
    # the step cadence fires at 2, 4, 6, 8; the clock adds 3 (5.0 - 1.0 >= 4) and 7 (20 - 9 >= 4)
    assert both.steps == [2, 3, 4, 6, 7, 8]
    # the LogHook's rate uses the same clock: steps 7..8 (its last write was at 6) in 20.5 - 9.0 s
    assert result.metrics["steps_per_second"] == pytest.approx(2 / 11.5)
    assert result.metrics["examples_per_second"] == pytest.approx(8 * 2 / 11.5)


class LossTwiceAndStep(Hook):
    """A user hook: reads what the LogHook wrote at this step and the state, adds two values."""

    def __call__(self, step, context):
        return {"twice_loss": 2 * context.values["loss"], "state_step": int(context.state.step)}


def test_user_hook_values_are_written_with_the_training_metrics():
    result = _fit([LossTwiceAndStep(every_steps=4)], 8, log_every=4)
    assert result.metrics["twice_loss"] == pytest.approx(2 * np.mean(result.losses[4:]), rel=1e-6)
    assert result.metrics["state_step"] == 8
    assert result.metrics["loss"] == pytest.approx(np.mean(result.losses[4:]), rel=1e-6)


class TouchState(Hook):
    def __post_init__(self):
        super().__post_init__()
        self.seen = []

    def __call__(self, step, context):
        self.seen.append((step, context.state))


def test_state_is_built_once_per_step_and_only_when_asked(monkeypatch):
    builds = []
    original = LiveState._build_state

    def counting(self):
        builds.append(self.step)
        return original(self)

    monkeypatch.setattr(LiveState, "_build_state", counting)
    first, second = TouchState(every_steps=2), TouchState(every_steps=2)
    other = Record(every_steps=1)  # due at every step, never asks for the state
    result = _fit([first, other, second], 6, log_every=1)
    assert builds == [2, 4, 6]
    assert [step for step, _ in first.seen] == [2, 4, 6]
    for (_, a), (_, b) in zip(first.seen, second.seen):
        assert a is b
    assert result.state is first.seen[-1][1]
    assert other.steps == [1, 2, 3, 4, 5, 6]


def test_eval_hook_writes_the_evaluation_of_the_trained_model(tmp_path):
    test_set = tiny.trajectories()[:, :5]
    shift = functools.partial(jnp.roll, shift=1, axis=-2)  # the exact solution: one cell right per step
    eval_fn = make_eval_fn(test_set, baselines={"exact": shift}, num_plot_samples=1)
    hook = EvalHook(eval_fn, every_steps=2)
    result = _fit([hook], 4, log_every=2, workdir=tmp_path)
    by_hand = evaluate_rollout(result.model, test_set)
    assert result.metrics["eval/nrmse_step_1"] == pytest.approx(float(by_hand.mean_nrmse[0]), rel=1e-6)
    assert result.metrics["eval/exact/nrmse_step_1"] == pytest.approx(0.0, abs=1e-6)
    assert set(os.listdir(tmp_path / "eval")) == {"step_2.npz", "step_4.npz", "step_2.csv", "step_4.csv"}
    arrays = np.load(tmp_path / "eval" / "step_4.npz")
    np.testing.assert_allclose(arrays["mean_nrmse_per_step"], by_hand.mean_nrmse, rtol=1e-6)
    suffixes = ("", "_step_2", "_step_4")
    plots = {f"{name}{suffix}.png" for name in ("nrmse", "rollout_0") for suffix in suffixes}
    assert set(os.listdir(tmp_path / "plots")) == plots


def test_eval_hook_takes_a_plain_mapping(tmp_path):
    hook = EvalHook(lambda model: {"answer": 42.0, "curve": np.arange(3.0)}, every_steps=3, at_end=False)
    result = _fit([hook], 6, log_every=6, workdir=tmp_path)
    assert result.metrics["answer"] == 42.0
    np.testing.assert_array_equal(np.load(tmp_path / "eval" / "step_6.npz")["curve"], [0.0, 1.0, 2.0])
    assert sorted(os.listdir(tmp_path / "eval")) == ["step_3.npz", "step_6.npz"]


def test_profile_hook_traces_the_steps_after_first_step(tmp_path):
    hook = ProfileHook(first_step=2, num_profile_steps=2)
    record = Record(every_steps=1)
    _fit([hook, record], 6, workdir=tmp_path)
    traces = glob.glob(str(tmp_path / "plugins" / "profile" / "*" / "*.xplane.pb"))
    assert len(traces) == 1 and os.path.getsize(traces[0]) > 0
    assert hook._done and hook._stop_at is None


class ScriptedEval:
    """An eval function whose `eval/gmean_nrmse_100` is scripted per call; keeps the parameters it saw."""

    def __init__(self, values):
        self.values, self.params = list(values), []

    def __call__(self, model):
        self.params.append(jax.device_get(nnx.to_pure_dict(nnx.state(model, nnx.Param))))
        return {"eval/gmean_nrmse_100": self.values[len(self.params) - 1]}


def _checkpointed_fit(tmp_path, scripted, num_steps, at_end=True):
    hooks = [
        EvalHook(scripted, every_steps=2),
        CheckpointHook(every_steps=5, at_end=at_end, max_to_keep=1, best_metric="eval/gmean_nrmse_100"),
    ]
    trainer = Trainer(
        tiny.configuration(), tiny.optimizer(), hooks=hooks, log_every=None, tensorboard=False,
        progress_bar=False, workdir=tmp_path,
    )
    trainer.fit(tiny.model(), tiny.loader(), num_steps=num_steps)
    return trainer


def test_the_best_evaluation_is_checkpointed_between_checkpoint_steps(tmp_path):
    # evaluations at 2, 4, 6, 8, 10; checkpoints every 5: the best (0.2 at step 4) is no checkpoint step
    scripted = ScriptedEval([0.5, 0.2, 0.4, 0.3, 0.35])
    trainer = _checkpointed_fit(tmp_path, scripted, num_steps=10)
    checkpointer = trainer.checkpointer
    assert checkpointer.best_step() == 4 and checkpointer.best_value() == pytest.approx(0.2)
    assert checkpointer.all_steps() == [4, 10]  # the best and the latest one
    restored = checkpointer.restore(trainer.init(tiny.model()), step=4)
    assert int(restored.step) == 4
    saved, evaluated = jax.tree.leaves(nnx.to_pure_dict(restored.params)), jax.tree.leaves(scripted.params[1])
    for a, b in zip(saved, evaluated, strict=True):
        np.testing.assert_array_equal(a, b)
    checkpointer.close()
    # resumed: 0.3 at step 12 is worse than the stored best, so nothing is saved without the cadence
    trainer = _checkpointed_fit(tmp_path, ScriptedEval([0.3]), num_steps=12, at_end=False)
    assert trainer.checkpointer.all_steps() == [4, 10] and trainer.checkpointer.best_step() == 4
    trainer.checkpointer.close()
    trainer = _checkpointed_fit(tmp_path, ScriptedEval([0.1, 0.15]), num_steps=14, at_end=False)
    assert trainer.checkpointer.all_steps() == [12] and trainer.checkpointer.best_step() == 12
    trainer.checkpointer.close()


class CtrlC(Hook):
    """Sends this process a SIGINT at its step, as a Ctrl-C during training does."""

    def __call__(self, step, context):
        os.kill(os.getpid(), signal.SIGINT)


def test_a_preempted_run_saves_its_last_step_also_when_it_tracks_the_best(tmp_path):
    # evaluations at 2 (best) and 4 (worse); Ctrl-C at step 3 stops after step 4, no checkpoint step
    scripted = ScriptedEval([0.5, 0.6])
    hooks = [
        EvalHook(scripted, every_steps=2),
        CtrlC(every_steps=3, at_end=False),
        CheckpointHook(every_steps=100, best_metric="eval/gmean_nrmse_100"),
    ]
    trainer = Trainer(
        tiny.configuration(), tiny.optimizer(), hooks=hooks, log_every=None, tensorboard=False,
        progress_bar=False, workdir=tmp_path,
    )
    result = trainer.fit(tiny.model(), tiny.loader(), num_steps=10)
    assert result.preempted and int(result.state.step) == 4
    assert trainer.checkpointer.all_steps() == [2, 4] and trainer.checkpointer.best_step() == 2
    trainer.checkpointer.close()
