"""Every shipped config loads by name and through ml_collections' command-line flag, every experiment
config has exactly the fields of the one schema (`emutrain.schema.default_config`), every documented flag
works with every one of them, and every optional field (None until set) can be set from the command
line."""

import pathlib

import pytest
from absl import flags
from ml_collections import config_flags

from emutrain.config_files import config_names, load_config
from emutrain.schema import default_config, leaf_paths, optimizer_spec, resolve_config, validate_config

# ml_collections loads config files with the deprecated load_module()
pytestmark = pytest.mark.filterwarnings("ignore:the load_module:DeprecationWarning")

ROOT = pathlib.Path(__file__).resolve().parents[1]
# every experiment config with each of its variants
EXPERIMENTS = [
    ("default", None),
    ("default", "quick"),
    ("generate", None),
    ("generate", "quick"),
    ("scenario", "diff_ks"),
    ("scenario", "diff_ks,Res;26;8;relu,sup;5,correct;sequential"),
    ("scenario", "diff_burgers,quick"),
    ("correction_learning", None),
    *[("correction_learning", f"{run},quick") for run in ("predictor_2blocks", "corrector_diverted")],
    ("quickstart", None),
    ("quickstart", "rollout_20,quick"),
    ("stencil_learning", None),
    ("stencil_learning", "rollout_4,quick"),
    ("configuration_showcase", "residuum"),
    ("configuration_showcase", "composite,quick"),
    ("online_training", "qg"),
    ("online_training", "kolmogorov,quick"),
]
STUDIES = ["studies/apebench_1d"]
# configs whose variants name files on disk: tested with the files they write (test_dataset_experiments.py)
DATASET_CONFIGS = ["dataset"]
# the flags the docstrings and the README document, each with a value to set
DOCUMENTED_FLAGS = [
    "--config.method=sup;5",
    "--config.network=Res;8;1;relu",
    "--config.task=correct;sequential",
    "--config.optimizer=adam;2000;constant;1e-3",
    "--config.ref_stepper=coarse",
    "--config.seed=3",
    "--config.dataset_dir=/data/1d",
    "--config.data_dir=/data/mine",
    "--config.scenario.name=diff_adv",
    "--config.scenario.data_format=array_record",
    "--config.scenario.overrides.num_points=64",
    "--config.scenario.overrides.num_train_samples=80",
    "--config.mesh.space=4",
    "--config.distributed.coordinator_address=host:1234",
    "--config.distributed.num_processes=2",
    "--config.distributed.process_id=1",
    "--config.distributed.local_device_ids=0,1",
    "--config.distributed.auto=True",
    "--config.resume_despite_config_change=True",
    "--config.train.num_steps=2000",
    "--config.train.batch_size=8",
    "--config.train.best_metric=eval/gmean_nrmse_10",
    "--config.eval.num_steps=10",
]


def _path(name: str, variant: str | None) -> str:
    return f"{ROOT / 'configs' / name}.py" + (f":{variant}" if variant else "")


def _parse(path: str, *overrides: str):
    argv = ["prog", f"--config={path}", *overrides]
    flag_values = flags.FlagValues()
    # as in the pipelines: override flags for the fields named on the command line
    config_flags.DEFINE_config_file("config", flag_values=flag_values, sys_argv=argv, lock_config=True)
    flag_values(argv)
    return flag_values.config


def _get(config, field: str):
    for key in field.split("."):
        config = config[key]
    return config


def _none_fields(config, prefix=""):
    for key, value in config.items():
        if hasattr(value, "items"):
            yield from _none_fields(value, f"{prefix}{key}.")
        elif value is None:
            yield prefix + key


def test_every_shipped_config_is_covered():
    assert set(config_names()) == {name for name, _ in EXPERIMENTS} | set(STUDIES) | set(DATASET_CONFIGS)


@pytest.mark.parametrize("name, variant", EXPERIMENTS, ids=lambda v: str(v))
def test_experiment_configs_have_exactly_the_fields_of_the_schema(name, variant):
    config = load_config(name, variant)
    assert list(leaf_paths(config)) == list(leaf_paths(default_config()))
    assert validate_config(config) is None
    # the command line loads the same config (configs/x.py:variant)
    assert _parse(_path(name, variant)).to_dict() == config.to_dict()
    resolved = resolve_config(config)
    assert None not in (resolved.train.batch_size, resolved.train.num_steps, resolved.eval.num_steps)
    assert optimizer_spec(resolved).split(";")[1].replace("_", "") == str(resolved.train.num_steps)


@pytest.mark.parametrize("name, variant", EXPERIMENTS, ids=lambda v: str(v))
def test_documented_flags_work_with_every_experiment_config(name, variant):
    for flag in DOCUMENTED_FLAGS:
        field, value = flag[len("--config."):].split("=", 1)
        parsed = _get(_parse(_path(name, variant), flag), field)
        assert str(parsed) == value, (flag, parsed)


@pytest.mark.parametrize("name, variant", EXPERIMENTS + [(s, None) for s in STUDIES], ids=lambda v: str(v))
def test_optional_fields_can_be_set_from_the_command_line(name, variant):
    path = _path(name, variant)
    fields = list(_none_fields(_parse(path)))
    assert fields  # every config leaves some fields to the scenario or the user
    for field in fields:
        # "7" parses as the placeholder's type (str or int); a bare None field fails to parse
        assert _get(_parse(path, f"--config.{field}=7"), field) in ("7", 7), field


def test_train_num_steps_drives_the_scenarios_schedule():
    config = _parse(_path("scenario", "diff_ks"), "--config.train.num_steps=300")
    validate_config(config)
    # the warm-up keeps its fifth of the run: 2,000 of 10,000 steps -> 60 of 300
    assert optimizer_spec(resolve_config(config)) == "adam;300;warmup_cosine;0.0;1e-3;60"
    default = resolve_config(_parse(_path("scenario", "diff_ks")))
    assert optimizer_spec(default) == "adam;10_000;warmup_cosine;0.0;1e-3;2_000"  # APEBench's, unchanged
    # an explicit schedule is used as given and must agree with the number of steps
    explicit = _parse(_path("scenario", "diff_ks"), "--config.optimizer=adam;500;constant;1e-3")
    assert resolve_config(explicit).train.num_steps == 500  # train.num_steps None: the schedule's
    explicit = _parse(
        _path("scenario", "diff_ks"), "--config.optimizer=adam;500;constant;1e-3",
        "--config.train.num_steps=300",
    )
    with pytest.raises(ValueError, match=r"config\.optimizer: num_steps=300 disagrees with NUM_STEPS=500"):
        validate_config(explicit)


def test_study_dataset_dir_and_step_count_from_the_command_line():
    path = _path("studies/apebench_1d", None)
    config = _parse(path, "--config.dataset_dir=/data/1d", "--config.train.num_steps=500")
    assert config.dataset_dir == "/data/1d" and config.train.num_steps == 500
    assert _parse(path).dataset_dir is None


def test_run_variant_reads_run_and_quick_and_names_the_choices():
    from emutrain.config_files import run_variant

    assert run_variant(None, ("a", "b"), default="a") == ("a", False)
    assert run_variant("quick", ("a", "b"), default="a") == ("a", True)
    assert run_variant(" b , quick ", ("a", "b"), default="a") == ("b", True)
    for bad in ("c", "a,b"):
        expected = r"^variant must be '<problem>' or '<problem>,quick' with <problem> in "
        with pytest.raises(ValueError, match=expected):
            run_variant(bad, ("a", "b"), default="a", noun="problem")
