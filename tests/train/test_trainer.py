"""In-process Trainer checks: steps per dispatch, non-finite guard, iterator resume, callbacks, errors."""

import jax
import numpy as np
import optax
import pytest
import train_tiny as tiny
from flax import nnx

from emutrain.configurations import DivertedChainBranchOne, RolloutCurriculum, WithSteppers
from emutrain.train import (
    Checkpointer,
    EvalHook,
    Hook,
    LossOnData,
    NonFiniteError,
    ProgressHook,
    SaveModel,
    Trainer,
    TrainState,
    WeightNorm,
    load_params,
)


def _trainer(**kwargs):
    kwargs.setdefault("tensorboard", False)
    kwargs.setdefault("progress_bar", False)
    return Trainer(tiny.configuration(), tiny.optimizer(), **kwargs)


def test_steps_per_dispatch_1_and_16_identical():
    one = _trainer(log_every=16).fit(tiny.model(), tiny.loader(), num_steps=16)
    sixteen = _trainer(steps_per_dispatch=16, log_every=16).fit(
        tiny.model(), tiny.loader(), num_steps=16
    )
    np.testing.assert_array_equal(one.losses, sixteen.losses)
    assert one.losses.shape == (16,) and one.losses[-1] < one.losses[0]
    for a, b in zip(
        jax.tree.leaves(nnx.to_pure_dict(one.state.params)),
        jax.tree.leaves(nnx.to_pure_dict(sixteen.state.params)),
    ):
        np.testing.assert_array_equal(a, b)
    assert int(one.state.step) == int(sixteen.state.step) == 16
    assert int(one.state.opt_state[0].count) == 16


@pytest.mark.parametrize("steps_per_dispatch", [1, 4])
def test_nan_stops_at_its_step_and_previous_checkpoint_loads(tmp_path, steps_per_dispatch):
    model = tiny.NaNOnMarker(tiny.model())
    trainer = _trainer(
        workdir=tmp_path, checkpoint_every=4, log_every=4, steps_per_dispatch=steps_per_dispatch
    )
    with pytest.raises(NonFiniteError, match="at step 6:.*checkpoint of step 4") as info:
        trainer.fit(model, tiny.marked_batches(12, marked=5), num_steps=12)
    assert info.value.step == 6
    good = _trainer(log_every=4).fit(model, tiny.marked_batches(12, marked=11), num_steps=5)
    assert int(info.value.state.step) == 5
    for a, b in zip(jax.tree.leaves(info.value.state.params), jax.tree.leaves(good.state.params)):
        np.testing.assert_array_equal(a, b)
    assert trainer.checkpointer.all_steps() == [4]
    restored = trainer.checkpointer.restore(trainer.init(model))
    assert int(restored.step) == 4
    assert np.isfinite(float(optax.tree.norm(restored.params)))


def test_checkpoint_restores_grain_iterator_position(tmp_path):
    state = TrainState.create(tiny.model(), tiny.optimizer(), key=0)
    iterator = iter(tiny.loader())
    for _ in range(3):
        next(iterator)
    checkpointer = Checkpointer(tmp_path)
    checkpointer.save(state.replace(step=state.step + 3), data_iter=iterator, config={"a": 1})
    checkpointer.wait()
    expected = [next(iterator) for _ in range(4)]
    fresh = iter(tiny.loader())
    restored = checkpointer.restore(state, data_iter=fresh)
    assert int(restored.step) == 3
    for batch in expected:
        np.testing.assert_array_equal(next(fresh), batch)
    assert checkpointer.restore_config() == {"a": 1}


def test_fit_resumes_in_workdir_like_an_uninterrupted_run(tmp_path):
    full = _trainer(log_every=4).fit(tiny.model(), tiny.loader(), num_steps=12)
    _trainer(workdir=tmp_path, checkpoint_every=4, log_every=4).fit(
        tiny.model(), tiny.loader(), num_steps=8
    )
    resumed = _trainer(workdir=tmp_path, checkpoint_every=4, log_every=4).fit(
        tiny.model(seed=5), tiny.loader(), num_steps=12
    )
    assert resumed.first_step == 9
    np.testing.assert_array_equal(resumed.losses, full.losses[8:])


def test_callbacks_write_and_save(tmp_path):
    batch = next(iter(tiny.loader()))
    callbacks = (
        WeightNorm(every_steps=4),
        LossOnData(every_steps=4, configuration=tiny.configuration(), data=batch, name="val_loss"),
        SaveModel(every_steps=8, directory=tmp_path / "models"),
    )
    result = _trainer(hooks=callbacks, log_every=4).fit(tiny.model(), tiny.loader(), num_steps=8)
    assert result.metrics["weight_norm"] == pytest.approx(float(optax.tree.norm(result.state.params)))
    loss = tiny.configuration()(result.model, batch)
    assert result.metrics["val_loss"] == pytest.approx(float(loss), rel=1e-6)
    saved = jax.tree.leaves(load_params(tmp_path / "models" / "step_8"))
    trained = jax.tree.leaves(nnx.to_pure_dict(result.state.params))
    assert len(saved) == len(trained)
    for a, b in zip(saved, trained):
        np.testing.assert_array_equal(a, b)


class _Written(Hook):
    """Records the values written at each step it fires (after the LogHook's)."""

    order = 5

    def __init__(self, every_steps):
        super().__init__(every_steps=every_steps)
        self.written = {}

    def __call__(self, step, context):
        self.written[step] = dict(context.values)


SCHEDULE = optax.linear_schedule(1e-2, 0.0, 8)


@pytest.mark.parametrize(
    "optimizer, learning_rate",
    [
        (optax.adam(SCHEDULE), SCHEDULE),
        (optax.inject_hyperparams(optax.adam)(learning_rate=SCHEDULE), None),
    ],
    ids=["schedule_given", "inject_hyperparams"],
)
def test_learning_rate_is_the_rate_of_the_last_step(optimizer, learning_rate, capsys):
    written = _Written(every_steps=4)
    Trainer(
        tiny.configuration(), optimizer, learning_rate=learning_rate, log_every=4, hooks=[written],
        tensorboard=False, progress_bar=False,
    ).fit(tiny.model(), tiny.loader(), num_steps=8)
    # step s is written after the update of count s - 1: 1e-2 * (1 - 3/8) at step 4, 1e-2 / 8 at step 8
    assert written.written[4]["learning_rate"] == pytest.approx(6.25e-3)
    assert written.written[8]["learning_rate"] == pytest.approx(1.25e-3)
    train_lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("step ")]
    assert [line.split("  ")[3] for line in train_lines] == ["lr 0.00625", "lr 0.00125"]


def test_a_plain_optimizer_writes_no_learning_rate(capsys):
    written = _Written(every_steps=4)
    _trainer(log_every=4, hooks=[written]).fit(tiny.model(), tiny.loader(), num_steps=8)
    assert set(written.written) == {4, 8}
    assert all("learning_rate" not in values and "loss" in values for values in written.written.values())
    out = capsys.readouterr().out
    assert "lr " not in out and "nan" not in out


def test_invalid_arguments():
    with pytest.raises(ValueError, match="steps_per_dispatch must be >= 1, got 0"):
        _trainer(steps_per_dispatch=0)
    # a cadence that is no multiple of steps_per_dispatch is valid (the crossing rule, test_hooks.py);
    # a non-positive one is not
    with pytest.raises(ValueError, match="every_steps must be >= 1, got 0"):
        _trainer(steps_per_dispatch=4, log_every=0)
    with pytest.raises(ValueError, match="num_steps"):
        _trainer(steps_per_dispatch=4, log_every=4).fit(tiny.model(), tiny.loader(), num_steps=6)
    with pytest.raises(TypeError, match="eval_fn must be callable"):
        EvalHook({"loss": 1.0}, every_steps=4)
    with pytest.raises(TypeError, match="hooks must be Hook instances"):
        _trainer(hooks=[lambda step, context: None])
    with pytest.raises(ValueError, match="every_secs must be > 0, got 0.0"):
        ProgressHook(every_secs=0.0)



def _shift(u):
    """The exact advection step of the tiny data: one cell to the right."""
    return jax.numpy.roll(u, 1, axis=1)


def _fit_losses(configuration, num_steps=2):
    trainer = Trainer(configuration, tiny.optimizer(), log_every=None, tensorboard=False, progress_bar=False)
    return trainer.fit(tiny.model(), tiny.loader(), num_steps=num_steps).losses


def test_configuration_holding_its_ref_stepper_trains_with_it():
    diverted = DivertedChainBranchOne(2)
    expected = float(diverted(tiny.model(), next(iter(tiny.loader())), ref_stepper=_shift))
    held = WithSteppers(diverted, ref_stepper=_shift)
    np.testing.assert_allclose(_fit_losses(held)[0], expected, rtol=1e-6)
    # a curriculum keeps the held stepper at every rollout length
    curriculum = RolloutCurriculum(held, boundaries=(1,), num_rollout_steps=(2, 1))
    np.testing.assert_allclose(_fit_losses(curriculum)[0], expected, rtol=1e-6)
    with pytest.raises(ValueError, match="ref_stepper must be given"):
        _fit_losses(diverted, num_steps=1)
