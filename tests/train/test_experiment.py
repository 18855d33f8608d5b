"""The config-driven builders of `emutrain.experiment` and `pipelines/evaluate.py` on a tiny run."""

import json
import os
import runpy

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from emutrain import configurations, nn, physics, scenarios
from emutrain.config_files import load_config
from emutrain.experiment import (
    build_coarse,
    build_configuration,
    build_model,
    build_ref_stepper,
    build_reference,
    build_scenario,
    build_trajectories,
    restore_model,
    train_and_evaluate,
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _config(variant=None):
    return load_config("default", variant)


def _solver(difficulty, num_points=48):
    return physics.DifficultyLinearStepperSimple(1, num_points, difficulty=difficulty, order=1)


def test_build_model_without_coarse_is_the_configured_resnet():
    config = _config()
    config.task = "predict"
    assert build_coarse(config) is None
    model = build_model(config)
    twin = nn.ResNet(1, 1, 1, hidden_channels=32, num_blocks=2, rngs=nnx.Rngs(config.seed))
    assert type(model) is nn.ResNet
    assert nn.count_parameters(model) == nn.count_parameters(twin) == 12_513
    u = jax.random.normal(jax.random.PRNGKey(1), (2, 48, 1))
    np.testing.assert_array_equal(model(u), twin(u))  # same seed, same initial parameters


def test_corrector_applies_the_coarse_solver_then_the_network():
    config = _config()
    model = build_model(config)
    assert isinstance(model, nn.SequentialCorrector)
    x = jnp.arange(48) / 48
    u = jnp.stack([jnp.sin(2 * jnp.pi * x), jnp.cos(4 * jnp.pi * x)], axis=0)[..., None]
    # difficulty -3.25 on 48 points moves the state 3.25 cells to the right per step
    shifted = x - 3.25 / 48
    expected = jnp.stack([jnp.sin(2 * jnp.pi * shifted), jnp.cos(4 * jnp.pi * shifted)], axis=0)[..., None]
    coarse = _solver(-3.25)
    np.testing.assert_allclose(model.coarse(u), coarse(u), atol=1e-6)
    np.testing.assert_allclose(model.coarse(u), expected, atol=1e-5)
    np.testing.assert_allclose(model(u), model.net(coarse(u)), atol=1e-6)
    # the scenario's steppers are the first-order difficulty solvers of -3.25 and -6.5
    np.testing.assert_allclose(build_coarse(config)(u), coarse(u), atol=1e-6)
    np.testing.assert_allclose(build_reference(config)(u), _solver(-6.5)(u), atol=1e-6)


def test_build_configuration_and_ref_stepper():
    config = _config()
    default = build_configuration(config)
    assert type(default) is configurations.Supervised and default.num_rollout_steps == 3
    assert build_ref_stepper(config) is None
    u = jax.random.normal(jax.random.PRNGKey(2), (2, 48, 1))

    config.method = "div;3;false;true"
    branch_one = build_configuration(config)
    assert type(branch_one) is configurations.DivertedChainBranchOne
    assert branch_one.num_rollout_steps == 3 and branch_one.cut_div_chain and not branch_one.cut_bptt
    np.testing.assert_allclose(build_ref_stepper(config)(u), _solver(-6.5)(u), atol=1e-6)

    config.method = "divchain;3;2"
    config.ref_stepper = "coarse"
    chain = build_configuration(config)
    assert type(chain) is configurations.DivertedChain
    assert (chain.num_rollout_steps, chain.num_branch_steps, chain.required_window_length) == (3, 2, 1)
    np.testing.assert_allclose(build_ref_stepper(config)(u), _solver(-3.25)(u), atol=1e-6)

    config.ref_stepper = "fine"
    with pytest.raises(ValueError, match=r"config.ref_stepper must be one of \('reference', 'coarse'\)"):
        build_ref_stepper(config)
    config.method = "residuum"
    with pytest.raises(ValueError, match="config.method: unknown method 'residuum'"):
        build_configuration(config)


def test_build_trajectories_is_deterministic_and_starts_from_the_seeded_ics():
    config = _config("quick")
    train = build_trajectories(config, "train")
    assert train.shape == (8, 51, 48, 1)
    np.testing.assert_array_equal(train, build_trajectories(config, "train"))
    scenario = build_scenario(config)
    ic = scenarios.ic.build_ic_set(
        scenario.ic_distribution(), num_points=48, num_samples=8, key=jax.random.PRNGKey(773)
    )
    np.testing.assert_array_equal(train[:, 0], ic)
    np.testing.assert_allclose(np.abs(train[:, 0]).max(axis=(1, 2)), 1.0, rtol=1e-6)
    np.testing.assert_allclose(train[:, 1], build_reference(config)(train[:, 0]), atol=1e-5)
    # 6.5 cells per step: after two steps the initial state rolled by 13 cells
    np.testing.assert_allclose(train[:, 2], np.roll(train[:, 0], 13, axis=1), atol=2e-5)
    test = build_trajectories(config, "test")
    assert test.shape == (4, 21, 48, 1) and not np.allclose(test[:, 0], train[:4, 0])
    with pytest.raises(ValueError, match="split must be one of"):
        build_trajectories(config, "validation")


def test_evaluate_checkpoint_restores_the_run_and_reports_the_coarse_baseline(tmp_path):
    config = _config("quick")
    config.scenario.overrides.update(num_points=16, test_temporal_horizon=10)
    config.eval.num_steps = 10
    config.train.num_steps = 20
    config.train.tensorboard = False
    config.train.progress_bar = False
    result = train_and_evaluate(config, tmp_path)

    model, step = restore_model(config, tmp_path)
    assert step == 20
    jax.tree.map(
        np.testing.assert_array_equal, nnx.state(model, nnx.Param), nnx.state(result.model, nnx.Param)
    )

    evaluate_pipeline = runpy.run_path(os.path.join(ROOT, "pipelines", "evaluate.py"))
    report = evaluate_pipeline["evaluate_checkpoint"](config, str(tmp_path), num_plotted_trajectories=1)
    saved = json.loads((tmp_path / "evaluation" / "metrics.json").read_text())
    assert saved["checkpoint_step"] == report["checkpoint_step"] == 20
    test = build_trajectories(config, "test")
    coarse = _solver(-3.25, num_points=16)
    by_hand = float(jnp.mean(physics.metrics.nrmse(coarse(test[:, 0]), test[:, 1])))
    np.testing.assert_allclose(saved["coarse solver"]["mean_nrmse"][0], by_hand, rtol=1e-5)
    model_by_hand = float(jnp.mean(physics.metrics.nrmse(result.model(test[:, 0]), test[:, 1])))
    np.testing.assert_allclose(saved["model"]["mean_nrmse"][0], model_by_hand, rtol=1e-4)
    assert saved["model"]["num_steps"] == 10 and saved["model"]["num_samples"] == 4
    assert {"metrics.json", "nrmse.png", "rollout_0.png"} <= set(os.listdir(tmp_path / "evaluation"))
    # without a config the one stored in the checkpoint is used: the same report
    assert evaluate_pipeline["evaluate_checkpoint"](None, str(tmp_path), num_plotted_trajectories=0) == report

    with pytest.raises(ValueError, match="workdir must hold a checkpoint"):
        restore_model(config, tmp_path / "empty")


@pytest.mark.parametrize(
    "run, model_type, num_blocks, configuration_type, num_rollout_steps",
    [
        ("predictor_2blocks", nn.ResNet, 2, configurations.Supervised, 1),
        ("predictor_4blocks", nn.ResNet, 4, configurations.Supervised, 1),
        ("corrector_one_step", nn.SequentialCorrector, 2, configurations.Supervised, 1),
        ("corrector_rollout", nn.SequentialCorrector, 2, configurations.Supervised, 3),
        ("corrector_diverted", nn.SequentialCorrector, 2, configurations.DivertedChainBranchOne, 3),
    ],
)
def test_correction_learning_runs_build_their_model_and_configuration(
    run, model_type, num_blocks, configuration_type, num_rollout_steps
):
    config = load_config("correction_learning", run)
    model = build_model(config)
    net = model.net if isinstance(model, nn.SequentialCorrector) else model
    assert type(model) is model_type and len(net.blocks) == num_blocks
    assert net.receptive_field == 2 * num_blocks  # cells to each side: one per 3-point convolution
    configuration = build_configuration(config)
    assert type(configuration) is configuration_type and configuration.num_rollout_steps == num_rollout_steps
    expected_ref = build_scenario(config).reference_stepper() if run == "corrector_diverted" else None
    assert build_ref_stepper(config) == expected_ref
    scenario = build_scenario(config)
    assert (config.train.num_steps, scenario.num_train_samples, net.lifting.out_channels) == (20_000, 40, 32)
    quick = load_config("correction_learning", f"{run},quick")
    assert quick.train.num_steps == 40 and quick.network == f"Res;8;{num_blocks};relu"
    with pytest.raises(ValueError, match="variant must be"):
        load_config("correction_learning", f"{run},predictor_4blocks")
