"""configs/scenario.py: variant strings, APEBench default strings, quick sizes, overrides."""

import pytest

from emutrain import config_files, scenarios
from emutrain.schema import optimizer_spec, resolve_config


@pytest.fixture(scope="module")
def config_module():
    return config_files.config_module("scenario")


def test_name_only_gives_apebench_defaults(config_module):
    config = config_module.get_config("diff_ks")
    assert config.scenario.name == "diff_ks"
    assert dict(config.scenario.overrides) == scenarios.make("diff_ks").to_dict()
    assert (config.network, config.method, config.task) == ("Conv;34;10;relu", "one", "predict")
    # left to the scenario: its optimizer, batch size, steps and test horizon
    assert (config.optimizer, config.train.batch_size, config.train.num_steps, config.eval.num_steps) == (
        None, None, None, None
    )
    resolved = resolve_config(config)
    assert optimizer_spec(resolved) == "adam;10_000;warmup_cosine;0.0;1e-3;2_000"  # as APEBench writes it
    t = resolved.train
    assert (t.batch_size, t.num_steps, t.log_every, t.checkpoint_every) == (20, 10_000, 100, 2_500)
    assert (resolved.eval.num_steps, resolved.eval.every) == (200, 2_500)
    assert config.train.progress_bar is True


def test_network_method_and_task_strings(config_module):
    config = config_module.get_config("diff_ks,Res;26;8;relu,sup;5")
    assert (config.network, config.method, config.task) == ("Res;26;8;relu", "sup;5", "predict")
    config = config_module.get_config("diff_adv,Conv;34;10;relu,div;3;false;true,correct;sequential")
    assert (config.method, config.task) == ("div;3;false;true", "correct;sequential")


def test_quick_shrinks_data_and_steps_and_builds(config_module):
    config = config_module.get_config("diff_ks,quick")
    assert config.train.progress_bar is False
    s = scenarios.make(config.scenario.name, **config.scenario.overrides)
    assert (s.num_points, s.num_train_samples, s.train_temporal_horizon, s.num_warmup_steps) == (
        32,
        4,
        10,
        10,
    )
    resolved = resolve_config(config)
    assert resolved.train.num_steps == 20 == s.num_training_steps
    assert optimizer_spec(resolved) == s.optim_config
    assert config_module.get_config("phy_kolm_flow,quick").scenario.overrides.num_points == 16


@pytest.mark.parametrize("variant", [None, "", "diff_ks,a,b,c,d", "diff_ks,,sup;5"])
def test_bad_variants(config_module, variant):
    with pytest.raises(ValueError, match="variant|needs a variant"):
        config_module.get_config(variant)


def test_unknown_scenario_lists_names(config_module):
    with pytest.raises(ValueError, match="closest first"):
        config_module.get_config("diff_kss")
