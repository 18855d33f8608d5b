"""The command line (`emutrain.cli`, `pipelines/<job>.py`): a mistake in the request is one line
`error: ...` naming the flag, exit status 2, no traceback (unless `--verbose`); relative paths are
relative to the current directory."""

import os
import pkgutil
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import emutrain
from emutrain.cli.app import resolve_config_path
from emutrain.cli.errors import UserError, flag_message, one_line
from emutrain.config_files import config_module
from emutrain.train.lock import LOCK_FILE, workdir_lock

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(REPO)}


def _job(*args, cwd, module=False):
    """`python -m emutrain.cli *args`, or `python pipelines/<args[0]>.py *args[1:]`, run in `cwd`."""
    script = ["-m", "emutrain.cli"] if module else [str(REPO / "pipelines" / f"{args[0]}.py")]
    command = [*script, *(args if module else args[1:])]
    return subprocess.run(
        [sys.executable, *command], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=300
    )


def _one_error_line(proc, *flags):
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for flag in flags:
        assert flag in lines[0]
    return lines[0]


def test_a_validation_error_names_the_config_flag(tmp_path):
    proc = _job("train", "--config.train.batch_size=0", cwd=tmp_path)
    line = _one_error_line(proc, "--config.train.batch_size")
    assert line == "error: --config.train.batch_size must be >= 1, got 0"
    assert os.listdir(tmp_path) == []  # nothing written


def test_an_unknown_flag_is_one_line_with_its_suggestion(tmp_path):
    line = _one_error_line(_job("train", "--workdri=x", cwd=tmp_path), "workdri")
    assert "did you mean: workdir" in line.lower()


def test_a_misspelled_config_field_keeps_the_suggestion_on_the_line(tmp_path):
    proc = _job("train", "--config.train.num_step=3", cwd=tmp_path)
    line = _one_error_line(proc, "--config.train.num_step")
    assert line.endswith('did you mean "num_steps" instead of "num_step"?')


def test_a_bad_network_string_names_the_network_flag(tmp_path):
    line = _one_error_line(_job("train", "--config.network=Res;x;8;relu", cwd=tmp_path), "--config.network")
    assert "must be an integer, got 'x'" in line


def test_a_bad_method_string_names_the_method_flag(tmp_path):
    _one_error_line(_job("train", "--config.method=bogus", cwd=tmp_path), "--config.method", "'bogus'")


def test_a_missing_config_file_lists_the_shipped_configs(tmp_path):
    line = _one_error_line(_job("train", "--config=nope.py:quick", cwd=tmp_path), "--config", "nope.py")
    assert "default" in line and "studies/apebench_1d" in line


def test_a_variant_the_config_refuses_names_the_config_flag(tmp_path):
    line = _one_error_line(_job("study", "--config=studies/apebench_1d:x", "--workdir=s", cwd=tmp_path))
    assert line == "error: --config: variant must be empty or 'quick', got 'x'"


def test_a_positional_argument_is_refused(tmp_path):
    line = _one_error_line(_job("train", "quick", cwd=tmp_path))
    assert line == "error: unexpected arguments ['quick']: every option is a --flag"


def test_a_missing_data_dir_is_named_relative_to_the_current_directory(tmp_path):
    line = _one_error_line(_job("train", "--config.data_dir=missing", cwd=tmp_path), "--config.data_dir")
    assert line == f"error: --config.data_dir='missing': no such file or directory in {tmp_path}"


def test_an_empty_workdir_is_refused(tmp_path):
    line = _one_error_line(_job("train", "--workdir=", cwd=tmp_path), "--workdir")
    assert line == "error: --workdir must be a directory path, got ''"
    assert os.listdir(tmp_path) == []


def test_a_locked_workdir_is_one_line(tmp_path):
    workdir = tmp_path / "run"
    with workdir_lock(workdir):  # a live owner: this test's process
        proc = _job("train", "--config=default:quick", f"--workdir={workdir}", cwd=tmp_path)
    line = _one_error_line(proc, str(workdir / LOCK_FILE))
    assert f"PID {os.getpid()}" in line


def test_a_study_without_workdir_is_refused(tmp_path):
    proc = _job("study", "--config=studies/apebench_1d:quick", cwd=tmp_path)
    assert _one_error_line(proc) == "error: --workdir is required by `emutrain study`"


@pytest.mark.parametrize("flag, line", [
    ("--workers=0", "error: --workers must be an int >= 1, got 0"),
    ("--config.claim_timeout_s=-1", "error: --config.claim_timeout_s must be a finite number of seconds > 0, "
                                    "got -1.0"),
])
def test_bad_study_worker_settings_are_one_line(tmp_path, flag, line):
    config = str(REPO / "configs" / "studies" / "apebench_1d.py") + ":quick"
    proc = _job("study", f"--config={config}", "--workdir=s", flag, cwd=tmp_path)
    assert _one_error_line(proc) == line
    assert os.listdir(tmp_path) == []  # nothing submitted, nothing written


def test_evaluating_a_workdir_without_checkpoints_is_refused(tmp_path):
    line = _one_error_line(_job("evaluate", "--workdir=nothing", cwd=tmp_path), "--workdir")
    assert line.endswith("holds no checkpoint: train there first") and os.listdir(tmp_path) == []


def test_verbose_shows_the_traceback(tmp_path):
    proc = _job("train", "--config.method=bogus", "--verbose", cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: --config.method")


def test_the_module_entry_point_lists_the_job_flags(tmp_path):
    proc = _job("train", "--help", cwd=tmp_path, module=True)
    assert "--workdir" in proc.stdout + proc.stderr and "--config" in proc.stdout + proc.stderr
    usage = _job("--help", cwd=tmp_path, module=True)
    assert usage.returncode == 0
    assert all(job in usage.stdout for job in ("train", "evaluate", "generate", "study"))
    _one_error_line(_job("trian", cwd=tmp_path, module=True), "'trian'")


@pytest.mark.parametrize(
    "args", [("train", "--help"), ("generate", "-h"), ("evaluate", "--helpshort"), ("study", "--helpfull")],
    ids=lambda args: "_".join(args),
)
def test_help_prints_the_job_flags_and_exits_zero(args, tmp_path):
    proc = _job(*args, cwd=tmp_path, module=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "--workdir: Run directory, relative to the current directory." in proc.stdout
    assert "--config: Experiment config" in proc.stdout and "Traceback" not in proc.stderr
    assert ("--num_plotted_trajectories" in proc.stdout) == (args[0] in ("evaluate", "generate"))
    assert os.listdir(tmp_path) == []  # nothing run, nothing written


_SAVE_THEN_WAIT = """
import sys, time
import emutrain.data.shards as dataset
from emutrain.cli import main

def save_then_wait(path, *args, **kwargs):
    save(path, *args, **kwargs)
    print("partial shard written", path, flush=True)
    time.sleep(120)

save, dataset.save_trajectories = dataset.save_trajectories, save_then_wait
main(["emutrain", *sys.argv[1:]])
"""


@pytest.mark.parametrize("job", ["generate", "train"])
def test_ctrl_c_during_dataset_generation_is_one_line_and_leaves_no_partial_shard(job, tmp_path):
    """SIGINT while the first shard is being written (its hidden partial directory complete, not yet
    renamed): one line, exit 130, nothing of the dataset left; the next run generates it."""
    args = [job, "--config=default:quick", "--workdir=run", "--config.train.progress_bar=False"]
    proc = subprocess.Popen([sys.executable, "-c", _SAVE_THEN_WAIT, *args], cwd=tmp_path, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = next((line for line in proc.stdout if line.startswith("partial shard written")), "")
    partial = Path(line.split()[-1])
    assert partial.is_dir() and partial.name.startswith(".samples-") and ".partial-" in partial.name
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr[-2000:]
    [message] = stderr.strip().splitlines()
    assert message.startswith("interrupted: dataset generation of "), message
    shard = f"diff_adv/{partial.parent.name}/samples-000000-000008"
    assert message.endswith(f"{shard} stopped; partial files removed"), message
    assert not partial.exists()
    assert [p.name for p in tmp_path.rglob("*") if "samples-" in p.name] == []
    if job == "generate":
        rerun = _job(*args, cwd=tmp_path, module=True)
        assert rerun.returncode == 0, rerun.stderr[-2000:]
        shards = sorted(p.parent.name.split("-")[0] + "/" + p.name for p in tmp_path.rglob("samples-*"))
        assert shards == ["test/samples-000000-000004", "train/samples-000000-000008"]
        assert [p.name for p in tmp_path.rglob("*") if ".partial-" in p.name] == []


@pytest.mark.slow
def test_a_relative_workdir_lands_under_the_current_directory(tmp_path):
    quick = (
        "--config=default:quick", "--workdir=runs/quick", "--config.train.num_steps=4",
        "--config.eval.every=4", "--config.eval.num_steps=2", "--config.train.checkpoint_every=4",
        "--config.train.progress_bar=False", "--config.scenario.overrides.num_points=16",
    )
    proc = _job("train", *quick, cwd=tmp_path, module=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(os.listdir(tmp_path / "runs" / "quick" / "checkpoints")) == ["4"]
    assert "libtpu" not in proc.stdout + proc.stderr
    # resuming with a changed network is refused before anything is built
    resumed = _job("train", *quick, "--config.network=Res;16;1;relu", cwd=tmp_path, module=True)
    line = _one_error_line(resumed, "network: 'Res;8;1;relu' -> 'Res;16;1;relu'")
    assert line.startswith("error: the config differs from the one stored in"), line
    # the evaluate job's console: a banner, a table (no raw dicts) and where the files are
    evaluation = _job(
        "evaluate", "--workdir=runs/quick", "--num_plotted_trajectories=0", cwd=tmp_path, module=True
    )
    assert evaluation.returncode == 0, evaluation.stderr[-3000:]
    workdir = tmp_path / "runs" / "quick"
    lines = evaluation.stdout.splitlines()
    assert lines[0] == "emutrain evaluate" and ["workdir", str(workdir)] in [line.split() for line in lines]
    assert ["checkpoint", "step", "4", "model", "coarse", "solver"] in [line.split() for line in lines]
    assert any(line.startswith("  nrmse @ step 2 ") for line in lines) and "{" not in evaluation.stdout
    assert f"  outputs  {workdir / 'evaluation'}" in lines
    assert (workdir / "evaluation" / "metrics.json").is_file()
    assert "libtpu" not in evaluation.stdout + evaluation.stderr


def test_config_paths_resolve_against_the_current_directory_then_by_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shipped = config_module("default").__file__
    assert resolve_config_path("default:quick") == f"{shipped}:quick"
    assert resolve_config_path("configs/default.py") == shipped
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "default.py").write_text("def get_config(variant=None):\n    return None\n")
    assert resolve_config_path("configs/default.py:x") == f"{tmp_path / 'configs' / 'default.py'}:x"
    with pytest.raises(UserError, match="no config file 'other.py'"):
        resolve_config_path("other.py")


def test_error_messages_become_one_line_naming_flags():
    assert one_line(ValueError("config.seed must be >= 0, got -1")) == "--config.seed must be >= 0, got -1"
    misspelled = AttributeError(KeyError("'num_step'\nDid you mean \"num_steps\" instead of \"num_step\"?"))
    assert flag_message(misspelled, ["prog", "--config.train.num_step=3"]) == (
        "--config.train.num_step: the config has no field 'num_step'; "
        'did you mean "num_steps" instead of "num_step"?'
    )
    wrapped = ValueError("Error whilst parsing config file:\n\nTraceback ...\nValueError: config.task: x")
    assert one_line(wrapped) == "--config.task: x"


def test_the_package_installs_the_command_and_ships_every_subpackage():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"] == {"emutrain": "emutrain.cli:main"}
    subpackages = {f"emutrain.{m.name}" for m in pkgutil.iter_modules(emutrain.__path__) if m.ispkg}
    assert subpackages <= set(pyproject["tool"]["setuptools"]["packages"])


def test_evaluation_plot_draws_the_baselines_dashed():
    from types import SimpleNamespace

    import matplotlib.pyplot as plt
    import numpy as np

    from emutrain.cli.evaluate import _nrmse_figure

    results = {
        "model": SimpleNamespace(mean_nrmse=np.array([0.1, 0.2])),
        "coarse solver": SimpleNamespace(mean_nrmse=np.array([0.3, 0.4])),
    }
    figure = _nrmse_figure(results, 7)
    styles = {line.get_label(): line.get_linestyle() for line in figure.axes[0].get_lines()}
    plt.close(figure)
    assert styles["model"] == "-" and styles["coarse solver"] == "--"
