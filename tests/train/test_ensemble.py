"""Seed ensembles in the Trainer: each member trains exactly as it would alone, with per-member metrics,
and an ensemble run resumes from its checkpoint like an uninterrupted one."""

import jax
import numpy as np
import optax
import pytest
import train_tiny as tiny
from flax import nnx

from emutrain import nn
from emutrain.train import GradientNorm, LossOnData, NonFiniteError, Trainer, TrainState, WeightNorm

NUM_MEMBERS = 3
NUM_STEPS = 20


def _ensemble(seed=0, constructor=tiny.TinyStepper):
    return nn.Ensemble(constructor, NUM_MEMBERS, num_spatial_dims=1, rngs=nnx.Rngs(seed))


def _trainer(**kwargs):
    kwargs.setdefault("tensorboard", False)
    kwargs.setdefault("progress_bar", False)
    kwargs.setdefault("log_every", 10)
    # injected: the learning-rate metric is read from the per-member optimizer states
    return Trainer(tiny.configuration(), optax.inject_hyperparams(optax.adam)(1e-2), **kwargs)


def _kernels(params):
    return jax.tree.leaves(nnx.to_pure_dict(params))


@pytest.fixture(scope="module")
def ensemble_run():
    return _trainer().fit(_ensemble(), tiny.loader(), num_steps=NUM_STEPS)


def test_each_member_trains_as_if_alone(ensemble_run):
    ensemble = _ensemble()
    assert ensemble_run.losses.shape == (NUM_STEPS, NUM_MEMBERS)
    assert ensemble_run.state.opt_state.inner_state[0].count.shape == (NUM_MEMBERS,)
    trained = ensemble_run.model
    for i in range(NUM_MEMBERS):
        alone = _trainer().fit(ensemble.member(i), tiny.loader(), num_steps=NUM_STEPS)
        np.testing.assert_allclose(ensemble_run.losses[:, i], alone.losses, rtol=1e-6, atol=1e-7)
        member_params = nnx.state(trained.member(i), nnx.Param)
        for a, b in zip(_kernels(member_params), _kernels(alone.state.params), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    losses = ensemble_run.losses
    assert np.all(losses[-1] < losses[0])
    for i in range(NUM_MEMBERS):
        for j in range(i):
            assert np.min(np.abs(losses[:, i] - losses[:, j])) > 1e-4


def test_per_member_metrics_are_written(ensemble_run):
    metrics, window = ensemble_run.metrics, ensemble_run.losses[10:]
    for i in range(NUM_MEMBERS):
        assert metrics[f"loss/member_{i}"] == pytest.approx(window[:, i].mean(), rel=1e-6)
        assert metrics[f"param_norm/member_{i}"] > 0 and metrics[f"grad_norm/member_{i}"] > 0
    assert metrics["loss"] == pytest.approx(window.mean(), rel=1e-6)
    member_norms = [metrics[f"param_norm/member_{i}"] for i in range(NUM_MEMBERS)]
    assert metrics["param_norm"] == pytest.approx(np.mean(member_norms), rel=1e-6)
    assert metrics["learning_rate"] == pytest.approx(1e-2)
    assert f"loss/member_{NUM_MEMBERS}" not in metrics


def test_ensemble_resumes_like_an_uninterrupted_run(tmp_path, ensemble_run):
    kwargs = dict(workdir=tmp_path, checkpoint_every=4, log_every=4)
    first = _trainer(**kwargs).fit(_ensemble(), tiny.loader(), num_steps=8)
    np.testing.assert_array_equal(first.losses, ensemble_run.losses[:8])
    resumed = _trainer(**kwargs).fit(_ensemble(seed=7), tiny.loader(), num_steps=NUM_STEPS)
    assert resumed.first_step == 9 and resumed.losses.shape == (NUM_STEPS - 8, NUM_MEMBERS)
    np.testing.assert_array_equal(resumed.losses, ensemble_run.losses[8:])
    for a, b in zip(_kernels(resumed.state.params), _kernels(ensemble_run.state.params), strict=True):
        np.testing.assert_array_equal(a, b)


def test_non_finite_member_stops_the_ensemble_at_its_step():
    ensemble = _ensemble(constructor=lambda rngs: tiny.NaNOnMarker(tiny.TinyStepper(rngs)))
    # two steps per dispatch: the failing step 3 is the first of a dispatch that also runs step 4
    trainer = _trainer(log_every=4, steps_per_dispatch=2)
    with pytest.raises(NonFiniteError, match="at step 3:") as info:
        trainer.fit(ensemble, tiny.marked_batches(4, marked=2), num_steps=4)
    stopped = info.value.state
    assert int(stopped.step) == 2
    good = _trainer().fit(_ensemble(), tiny.marked_batches(4, marked=3), num_steps=2)
    for a, b in zip(_kernels(stopped.params), _kernels(good.state.params), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_callbacks_report_each_member_as_if_alone(ensemble_run):
    batch = next(iter(tiny.loader()))
    callbacks = [
        WeightNorm(every_steps=1),
        LossOnData(every_steps=1, configuration=tiny.configuration(), data=batch, name="val_loss"),
        GradientNorm(every_steps=1, configuration=tiny.configuration(), data=batch, name="val_grad_norm"),
    ]
    optimizer = optax.adam(1e-2)
    ensemble_values, member_values = {}, []
    for callback in callbacks:
        ensemble_values.update(callback.compute(ensemble_run.state))
    for i in range(NUM_MEMBERS):
        alone = TrainState.create(ensemble_run.model.member(i), optimizer, key=0)
        values = {}
        for callback in callbacks:
            values.update(callback.compute(alone))
        member_values.append(values)
    for name in ("weight_norm", "val_loss", "val_grad_norm"):
        per_member = [values[name] for values in member_values]
        for i, value in enumerate(per_member):
            assert ensemble_values[f"{name}/member_{i}"] == pytest.approx(value, rel=1e-5)
        assert ensemble_values[name] == pytest.approx(np.mean(per_member), rel=1e-5)
        assert len(set(per_member)) == NUM_MEMBERS  # the members really differ


def _members_run(members):
    from emutrain.train.step import TrainStep

    batches = [np.asarray(b)[None] for _, b in zip(range(5), tiny.loader(), strict=False)]
    optimizer = optax.adam(1e-2)
    live = TrainStep(tiny.configuration(), optimizer, members=members).start(
        TrainState.create(_ensemble(), optimizer, key=0)
    )
    for batch in batches:
        live.advance(batch)
    return live.losses(), _kernels(live.state.params)


def test_member_loop_and_vmap_train_the_same_members():
    loop_losses, loop_params = _members_run("loop")
    vmap_losses, vmap_params = _members_run("vmap")
    assert loop_losses.shape == (5, NUM_MEMBERS)
    np.testing.assert_allclose(loop_losses, vmap_losses, rtol=1e-6, atol=1e-7)
    for a, b in zip(loop_params, vmap_params, strict=True):
        assert a.shape[0] == NUM_MEMBERS
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    # the members differ: each has its own initialization
    assert np.min(np.abs(loop_losses[:, 0] - loop_losses[:, 1])) > 1e-6


def test_members_mode_is_checked():
    from emutrain.train.step import TrainStep

    with pytest.raises(ValueError, match="members must be one of .*'auto', 'vmap', 'loop'.*'batched'"):
        TrainStep(tiny.configuration(), optax.adam(1e-2), members="batched")
