"""Every shipped config loads through ml_collections' command-line flag, and each of its optional fields
(None until set) can be set from the command line."""

import pathlib

import pytest
from absl import flags
from ml_collections import config_flags

# ml_collections loads config files with the deprecated load_module()
pytestmark = pytest.mark.filterwarnings("ignore:the load_module:DeprecationWarning")

CONFIGS = sorted((pathlib.Path(__file__).resolve().parents[1] / "configs").rglob("*.py"))
VARIANTS = {"scenario.py": ":diff_ks"}  # configs that need a variant


def _parse(path: pathlib.Path | str, *overrides: str):
    argv = ["prog", f"--config={path}", *overrides]
    flag_values = flags.FlagValues()
    # as in the pipelines: override flags for the fields named on the command line
    config_flags.DEFINE_config_file("config", flag_values=flag_values, sys_argv=argv)
    flag_values(argv)
    return flag_values.config


def _none_fields(config, prefix=""):
    for key, value in config.items():
        if hasattr(value, "items"):
            yield from _none_fields(value, f"{prefix}{key}.")
        elif value is None:
            yield prefix + key


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(p.parents[1])))
def test_optional_fields_can_be_set_from_the_command_line(path):
    path = f"{path}{VARIANTS.get(path.name, '')}"
    fields = list(_none_fields(_parse(path)))
    for field in fields:
        # "7" parses as the placeholder's type (str or int); a bare None field fails to parse
        config = _parse(path, f"--config.{field}=7")
        value = config
        for key in field.split("."):
            value = value[key]
        assert value in ("7", 7), (field, value)


def test_study_dataset_dir_and_step_count_from_the_command_line():
    path = pathlib.Path(__file__).resolve().parents[1] / "configs" / "studies" / "apebench_1d.py"
    config = _parse(path, "--config.dataset_dir=/data/1d", "--config.train.num_steps=500")
    assert config.dataset_dir == "/data/1d" and config.train.num_steps == 500
    assert _parse(path).dataset_dir is None
