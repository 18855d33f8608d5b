"""Config-driven training of any scenario x network x method x task: the CLI on 2D and 3D scenarios, every
training method through `train_and_evaluate`, datasets on disk (generated once, a user's own data_dir),
and bad names reported with the config field."""

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from tensorboard.backend.event_processing import plugin_event_accumulator
from tensorboard.util import tensor_util

from emutrain import configurations, data, physics, scenarios
from emutrain.config_files import load_config
from emutrain.experiment import (
    build_configuration,
    build_dataset,
    build_model,
    build_optimizer,
    build_ref_stepper,
    build_residuum_fn,
    build_scenario,
    build_trajectories,
    restore_model,
    train_and_evaluate,
)
from emutrain.schema import default_config, optimizer_spec, resolve_config, scenario_config, validate_config
from emutrain.train import Checkpointer, Trainer

REPO = Path(__file__).resolve().parents[1]


def _scenario_config(variant):
    return load_config("scenario", variant)


def _scalars(logdir, tag):
    accumulator = plugin_event_accumulator.EventAccumulator(str(logdir), size_guidance={"tensors": 0})
    accumulator.Reload()
    events = accumulator.Tensors(tag)
    return {event.step: float(tensor_util.make_ndarray(event.tensor_proto)) for event in events}


def _train_cli(variant, workdir, *extra, cwd):
    result = subprocess.run(
        [sys.executable, str(REPO / "pipelines" / "train.py"), f"--config=configs/scenario.py:{variant}",
         f"--workdir={workdir}", "--config.train.log_every=1", *extra],
        cwd=cwd, capture_output=True, text=True, timeout=300, env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.parametrize(
    "variant, spatial, channels",
    [
        # 2D anisotropic diffusion, corrector of the coarse stepper trained with a 2-step rollout
        ("phy_diag_diff,Conv;8;1;relu,sup;2,correct;sequential,quick", (16, 16), 1),
        # 3D unbalanced advection, one-step supervised predictor
        ("phy_unbal_adv,Conv;4;1;relu,one,predict,quick", (16, 16, 16), 1),
    ],
)
def test_cli_trains_a_higher_dimensional_scenario_in_quick_mode(tmp_path, variant, spatial, channels):
    workdir = tmp_path / "run"
    # started outside the repository: the relative config path resolves against the repository
    _train_cli(variant, workdir, cwd=tmp_path)
    config = resolve_config(_scenario_config(variant))  # the values the run used
    num_steps = config.train.num_steps
    assert num_steps == 20 and Checkpointer(workdir / "checkpoints").latest_step() == num_steps
    stored = Checkpointer(workdir / "checkpoints").stored_config()
    assert [stored[k] for k in ("network", "method", "task")] == [config.network, config.method, config.task]
    losses = _scalars(workdir, "loss")
    assert sorted(losses) == list(range(1, num_steps + 1)) and np.all(np.isfinite(list(losses.values())))
    assert np.mean([losses[s] for s in range(16, 21)]) < np.mean([losses[s] for s in range(1, 6)])
    gmean = _scalars(workdir, f"eval/gmean_nrmse_{config.eval.num_steps}")
    assert list(gmean) == [num_steps] and np.isfinite(gmean[num_steps])
    # the stored datasets are the scenario's trajectories: (S, T+1, *spatial, C)
    train = build_trajectories(config, "train", dataset_dir=workdir / "datasets")
    assert train.shape == (4, 11, *spatial, channels)
    scenario = build_scenario(config)
    np.testing.assert_allclose(scenario.reference_stepper()(train[:, 0]), train[:, 1], rtol=1e-5, atol=1e-5)
    if config.task.startswith("correct"):
        # the baseline of a correction task is the scenario's coarse stepper
        coarse = _scalars(workdir, "eval/coarse/nrmse_step_1")[num_steps]
        test = build_trajectories(config, "test", dataset_dir=workdir / "datasets")
        by_hand = float(jnp.mean(physics.metrics.nrmse(scenario.coarse_stepper()(test[:, 0]), test[:, 1])))
        np.testing.assert_allclose(coarse, by_hand, rtol=1e-5)


def _tiny_config(method, task="correct;sequential"):
    config = _scenario_config("diff_adv,Conv;4;1;relu,one,predict,quick")
    config.scenario.overrides.update(
        num_points=16, num_train_samples=3, train_temporal_horizon=6, num_test_samples=2,
        test_temporal_horizon=4,
    )
    config.method = method
    config.task = task
    config.optimizer = "adam;5;constant;1e-3"
    config.train.update(num_steps=5, batch_size=2, checkpoint_every=5, tensorboard=False, progress_bar=False)
    config.eval.update(every=5, num_steps=4, batch_size=2)
    return config


# every method form of emutrain.configurations.METHOD_FORMS, and a weighted combination
METHODS = (
    "one", "sup;3", "div;2;false;true", "mix;2;1", "res;2", "tf;3;2", "divchain;3;2", "sup;2+0.5*div;2",
)


def _first_batch_loss(config):
    """The configuration's loss of the untrained model on the loader's first batch, built by hand."""
    configuration = build_configuration(config)
    loader = data.make_loader(
        data.TrajectoryWindows(build_trajectories(config, "train"), configuration.required_window_length),
        batch_size=config.train.batch_size, seed=config.train.data_seed,
    )
    return configuration(
        build_model(config), jnp.asarray(next(iter(loader))), ref_stepper=build_ref_stepper(config),
        residuum_fn=build_residuum_fn(config),
    )


@pytest.mark.parametrize("method", METHODS)
def test_every_method_trains_five_steps_from_the_builders(method):
    config = _tiny_config(method)
    configuration = build_configuration(config)
    ref_stepper = build_ref_stepper(config)
    scenario = build_scenario(config)
    # methods that need a ref stepper get the scenario's reference stepper
    assert ref_stepper == (scenario.reference_stepper() if configuration.needs_ref_stepper else None)
    assert configuration.needs_ref_stepper == method.startswith(("div", "mix", "res", "sup;2+"))
    optimizer, schedule = build_optimizer(config)
    trainer = Trainer(
        configurations.WithSteppers(configuration, ref_stepper, build_residuum_fn(config)), optimizer,
        learning_rate=schedule, seed=config.seed, log_every=None, tensorboard=False, progress_bar=False,
    )
    loader = data.make_loader(
        data.TrajectoryWindows(build_trajectories(config, "train"), configuration.required_window_length),
        batch_size=config.train.batch_size, seed=config.train.data_seed,
    )
    result = trainer.fit(build_model(config), loader, num_steps=config.train.num_steps)
    assert int(result.state.step) == 5 and result.losses.shape == (5,) and np.all(np.isfinite(result.losses))
    np.testing.assert_allclose(result.losses[0], _first_batch_loss(config), rtol=1e-5)


def test_train_and_evaluate_passes_the_scenario_reference_to_a_diverted_chain(tmp_path):
    config = _tiny_config("div;2")
    result = train_and_evaluate(config, tmp_path)
    assert int(result.state.step) == 5 and np.all(np.isfinite(result.losses))
    np.testing.assert_allclose(result.losses[0], _first_batch_loss(config), rtol=1e-5)
    # restoring steps no solver: the model comes back without the method's ref_stepper
    model, step = restore_model(config, tmp_path)
    u = build_trajectories(config, "test")[:, 0]
    assert step == 5
    np.testing.assert_array_equal(np.asarray(model(u)), np.asarray(result.model(u)))
    # the same model trained against the coarse stepper starts from another loss
    config.ref_stepper = "coarse"
    assert abs(float(_first_batch_loss(config)) - float(result.losses[0])) > 1e-3 * float(result.losses[0])


def test_coarse_ref_stepper_is_the_scenario_coarse_stepper():
    config = _tiny_config("div;2")
    config.ref_stepper = "coarse"
    assert build_ref_stepper(config) == build_scenario(config).coarse_stepper()
    config.ref_stepper = "fine"
    with pytest.raises(ValueError, match=r"config.ref_stepper must be one of \('reference', 'coarse'\)"):
        build_ref_stepper(config)


def test_datasets_are_generated_once_and_reused(tmp_path, monkeypatch):
    from emutrain.scenarios import _dataset

    generated = []
    original = _dataset._generate

    def counting(scenario, split, start, stop, chunk_size):
        generated.append(split)
        return original(scenario, split, start, stop, chunk_size)

    monkeypatch.setattr(_dataset, "_generate", counting)
    config = _tiny_config("one")
    first = train_and_evaluate(config, tmp_path)
    assert sorted(generated) == ["test", "train"]
    config.train.num_steps = 6  # a longer run in the same workdir resumes and reads the same datasets
    config.optimizer = "adam;6;constant;1e-3"
    config.resume_despite_config_change = True
    second = train_and_evaluate(config, tmp_path)
    assert sorted(generated) == ["test", "train"] and second.first_step == 6 and second.losses.shape == (1,)
    stored = scenarios.load_dataset(next((tmp_path / "datasets" / "diff_adv").glob("train-*")))[0]
    np.testing.assert_array_equal(stored, build_scenario(config).train_trajectories())
    assert np.isfinite(first.losses).all()


def test_each_process_writes_only_its_share_of_the_samples(tmp_path):
    config = _tiny_config("one")
    config.scenario.overrides.num_train_samples = 5
    first = build_dataset(config, tmp_path, process_index=0, process_count=2)
    # process 0 of 2 writes samples [0, 3) of each split (np.array_split), nothing else
    assert [p.name for p in sorted(first.train_path.iterdir())] == ["samples-000000-000003"]
    assert [p.name for p in sorted(first.test_path.iterdir())] == ["samples-000000-000001"]
    with pytest.raises(ValueError, match=r"cover samples \[0, 3\) of 5; run the missing processes"):
        first.load("train")  # incomplete until process 1 has written
    build_dataset(config, tmp_path, process_index=1, process_count=2)
    shards = [p.name for p in sorted(first.train_path.iterdir())]
    assert shards == ["samples-000000-000003", "samples-000003-000005"]
    np.testing.assert_array_equal(first.load("train"), build_scenario(config).train_trajectories())
    np.testing.assert_array_equal(first.load("test"), build_scenario(config).test_trajectories())


def test_user_data_dir_is_read_instead_of_the_scenario(tmp_path):
    config = _tiny_config("sup;2")
    scenario = build_scenario(config)
    # other draws (seeds 11 and 12) of the same PDE, written in the dataset format
    user = scenario.replace(train_seed=11, test_seed=12)
    data.save_trajectories(tmp_path / "mine" / "train", user.train_trajectories(), {"source": "user"})
    data.save_trajectories(tmp_path / "mine" / "test", user.test_trajectories(), {"source": "user"})
    config.data_dir = str(tmp_path / "mine")
    result = train_and_evaluate(config, tmp_path / "run")
    assert not (tmp_path / "run" / "datasets").exists()
    test = user.test_trajectories()
    np.testing.assert_array_equal(build_trajectories(config, "test"), test)
    by_hand = float(jnp.mean(physics.metrics.nrmse(scenario.coarse_stepper()(test[:, 0]), test[:, 1])))
    np.testing.assert_allclose(result.metrics["eval/coarse/nrmse_step_1"], by_hand, rtol=1e-5)
    scenario_test = scenario.test_trajectories()
    coarse_prediction = scenario.coarse_stepper()(scenario_test[:, 0])
    other = float(jnp.mean(physics.metrics.nrmse(coarse_prediction, scenario_test[:, 1])))
    assert abs(other - by_hand) > 1e-3  # the user's data, not the scenario's, was evaluated

    data.save_trajectories(tmp_path / "bad" / "train", np.zeros((2, 3, 8, 1), np.float32))
    data.save_trajectories(tmp_path / "bad" / "test", np.zeros((2, 3, 8, 1), np.float32))
    config.data_dir = str(tmp_path / "bad")
    with pytest.raises(ValueError, match=r"config.data_dir: train trajectories must have shape .*\(16, 1\)"):
        build_trajectories(config, "train")
    config.data_dir = str(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="config.data_dir"):
        build_trajectories(config, "train")


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("scenario.name", "diff_advv", r"config.scenario.name: unknown scenario 'diff_advv'.*'diff_adv'"),
        ("network", "Ress;8;1;relu", r"config.network: .*must be one of \('conv', 'res'"),
        ("method", "supervised;3", r"config.method: unknown method 'supervised'.*valid forms: one, sup;T"),
        ("task", "correct;later", r"config.task: task must be one of \('predict', 'correct;sequential'"),
    ],
)
def test_bad_names_raise_naming_the_config_field_and_the_valid_names(tmp_path, field, value, message):
    config = _tiny_config("one")
    section, _, key = field.rpartition(".")
    (config[section] if section else config)[key] = value
    with pytest.raises(ValueError, match=message):
        train_and_evaluate(config, tmp_path)
    assert not (tmp_path / "datasets").exists()  # reported before any data is generated


def test_several_seeds_are_refused_naming_the_field(tmp_path):
    config = _tiny_config("one")
    config.train.num_seeds = 3
    with pytest.raises(ValueError, match=r"config.train.num_seeds: .* got 3; train seed ensembles with"):
        train_and_evaluate(config, tmp_path)
    assert not (tmp_path / "datasets").exists()


@dataclasses.dataclass(frozen=True)
class _Decay(scenarios.CustomScenario):
    """u <- rate * u from constant states: a custom problem whose trajectories are known in closed form."""

    name: str = "test_decay"
    num_points: int = 8
    rate: float = 0.5
    num_train_samples: int = 3
    train_temporal_horizon: int = 4
    num_test_samples: int = 2
    test_temporal_horizon: int = 3
    optim_config: str = "adam;4;constant;1e-2"
    batch_size: int = 2

    def reference_stepper(self):
        return lambda u: self.rate * u

    def coarse_stepper(self):
        return lambda u: u

    def generate(self, split):
        num_samples, horizon, seed = self.split_settings(split)
        start = np.arange(1, num_samples + 1, dtype=np.float32) + seed
        powers = self.rate ** np.arange(horizon + 1, dtype=np.float32)
        levels = (start[:, None] * powers[None, :])[..., None, None]  # (S, T+1, 1, 1)
        return np.broadcast_to(levels, (num_samples, horizon + 1, self.num_points, 1))


def test_a_registered_custom_problem_trains_through_the_schema(tmp_path):
    scenarios.register("test_decay", _Decay, replace=True)
    assert "test_decay" in scenarios.registered() and "test_decay" not in scenarios.names()
    config = default_config()
    config.scenario = scenario_config("test_decay", rate=0.25)
    config.network = "Conv;4;1;relu"
    config.train.update(tensorboard=False, progress_bar=False)
    resolved = resolve_config(config)  # the problem's own training defaults
    assert optimizer_spec(resolved) == "adam;4;constant;1e-2"
    assert (resolved.train.batch_size, resolved.eval.num_steps) == (2, 3)
    result = train_and_evaluate(config, tmp_path)
    assert int(result.state.step) == 4 and np.all(np.isfinite(result.losses))
    train = build_trajectories(config, "train", dataset_dir=tmp_path / "datasets")  # written once, read back
    np.testing.assert_allclose(train[:, 1:], 0.25 * train[:, :-1])
    np.testing.assert_array_equal(train[:, 0, 0, 0], [1.0, 2.0, 3.0])  # seed 0: samples start at 1, 2, 3
    with pytest.raises(ValueError, match=r"config\.scenario\.overrides: unknown field\(s\) \['gamma'\]"):
        validate_config(_with_overrides(config, gamma=1.0))
    with pytest.raises(ValueError, match="registered already"):
        scenarios.register("test_decay", _Decay)
    with pytest.raises(TypeError, match="factory must be callable"):
        scenarios.register("test_other", 3)


def _with_overrides(config, **overrides):
    changed = ml_collections.ConfigDict(config.to_dict())
    changed.scenario.overrides.update(overrides)
    return changed
