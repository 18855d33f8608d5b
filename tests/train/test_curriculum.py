"""A RolloutCurriculum in the Trainer: the schedule by step, one compile per distinct rollout length,
windows of the longest rollout, and a mid-curriculum resume bit-identical to an uninterrupted run."""

import jax
import numpy as np
import pytest
import train_tiny as tiny
from flax import nnx

from emutrain import data
from emutrain.configurations import RolloutCurriculum, Supervised
from emutrain.train import Hook, Trainer


class CountingSupervised(Supervised):
    """Supervised that records its rollout length each time a train step traces it."""

    traces: list = []

    def __call__(self, *args, **kwargs):
        CountingSupervised.traces.append(self.num_rollout_steps)
        return super().__call__(*args, **kwargs)


def _curriculum(configuration=None):
    # R = 1 for steps 1..4, 2 for steps 5..8, 1 again from step 9 (tiny windows hold 3 levels: R <= 2)
    return RolloutCurriculum(configuration or Supervised(1), boundaries=(4, 8), num_rollout_steps=(1, 2, 1))


def _trainer(configuration, **kwargs):
    return Trainer(
        configuration, tiny.optimizer(), log_every=4, tensorboard=False, progress_bar=False, **kwargs
    )


def _params(state):
    return jax.tree.leaves(nnx.to_pure_dict(state.params))


def test_one_compile_per_rollout_length_and_schedule_by_step(monkeypatch, capsys):
    monkeypatch.setattr(CountingSupervised, "traces", [])
    curriculum = _curriculum(CountingSupervised(1))
    assert curriculum.required_window_length == 3
    trainer = _trainer(curriculum)
    result = trainer.fit(tiny.model(), tiny.loader(), num_steps=12)
    assert CountingSupervised.traces == [1, 2]  # R = 1 reused for steps 9..12
    # the console announces each compile before the steps it serves, and only those
    lines = capsys.readouterr().out.splitlines()
    shown = [line.split(" ")[0] if line.startswith("compil") else line.split("/")[0] for line in lines
             if line.startswith(("compil", "step "))]
    assert shown == ["compiling", "compiled", "step  4", "compiling", "compiled", "step  8", "step 12"]
    trainer.fit(tiny.model(), tiny.loader(), num_steps=12)  # the same train step: compiled already
    assert CountingSupervised.traces == [1, 2]
    assert "compil" not in capsys.readouterr().out
    # steps 1..4 are exactly a Supervised(1) run on the same windows (it reads their first 2 levels)
    plain = _trainer(Supervised(1)).fit(tiny.model(), tiny.loader(), num_steps=4)
    np.testing.assert_array_equal(result.losses[:4], plain.losses)
    # steps 5..8: Supervised(2) continuing from the state after step 4 (same key and data position)
    iterator = iter(tiny.loader())
    first = _trainer(Supervised(1)).fit(tiny.model(), iterator, num_steps=4)
    second = _trainer(Supervised(2)).fit(first.state, iterator, num_steps=8)
    np.testing.assert_array_equal(result.losses[4:8], second.losses)


def test_longer_windows_give_the_loss_of_the_first_levels():
    batch = next(iter(tiny.loader()))
    assert batch.shape[1] == 3
    model = tiny.model()
    assert float(Supervised(1)(model, batch)) == float(Supervised(1)(model, batch[:, :2]))


class Crash(Hook):
    def __call__(self, step, context):
        raise RuntimeError(f"crash at step {step}")


def test_resume_mid_curriculum_is_bit_identical(tmp_path):
    full = _trainer(_curriculum()).fit(tiny.model(), tiny.loader(), num_steps=12)
    # checkpoints every 3 steps; the run dies after step 7 (inside the R = 2 segment), the checkpoint of
    # step 6 is the latest, and the resumed run crosses the boundary at step 8 again
    crash = Crash(every_steps=7, at_end=False)
    crashing = _trainer(_curriculum(), workdir=tmp_path, checkpoint_every=3, hooks=[crash])
    with pytest.raises(RuntimeError, match="crash at step 7"):
        crashing.fit(tiny.model(), tiny.loader(), num_steps=12)
    assert crashing.checkpointer.latest_step() == 6
    resumed = _trainer(_curriculum(), workdir=tmp_path, checkpoint_every=3).fit(
        tiny.model(seed=9), tiny.loader(), num_steps=12
    )
    assert resumed.first_step == 7
    np.testing.assert_array_equal(resumed.losses, full.losses[6:])
    for a, b in zip(_params(resumed.state), _params(full.state), strict=True):
        np.testing.assert_array_equal(a, b)


def test_curriculum_checks():
    with pytest.raises(ValueError, match=r"boundaries must be multiples of steps_per_dispatch \(3\)"):
        _trainer(_curriculum(), steps_per_dispatch=3)
    with pytest.raises(ValueError, match="data windows must have length >= 3"):
        short = data.make_loader(data.TrajectoryWindows(tiny.trajectories(), 2), batch_size=8, seed=3)
        _trainer(_curriculum()).fit(tiny.model(), short, num_steps=4)
    with pytest.raises(ValueError, match="time_level_weights must be None in a curriculum"):
        RolloutCurriculum(Supervised(1, time_level_weights=(1.0,)), boundaries=(4,), num_rollout_steps=(1, 2))
