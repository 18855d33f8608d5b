"""One run per workdir (`emutrain.train.lock`): a second run stops at once with one line naming the owner
and leaves the first unharmed; a stale lock (dead owner on this host) is taken over with a warning."""

import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from emutrain import experiment, study
from emutrain.train import WorkdirLockedError, workdir_lock
from emutrain.train.lock import LOCK_FILE

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
RUN = os.path.join(HERE, "run_training.py")
ENV = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=ROOT)

# Holds the lock of WORKDIR, trains the tiny problem in it once GO exists (run_training.py's report in
# OUT) and leaves the lock at exit.
LOCKED_TRAINING = """
import os, runpy, sys, time
workdir, out, go = sys.argv[1:4]
from emutrain.train import workdir_lock
with workdir_lock(workdir):
    while not os.path.exists(go):
        time.sleep(0.05)
    sys.argv = [{run!r}, out, "24", "--workdir", workdir]
    runpy.run_path({run!r}, run_name="__main__")
"""


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _write_lock(workdir, **owner):
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / LOCK_FILE).write_text(json.dumps(owner))


def test_the_lock_holds_its_owner_and_is_removed_at_exit(tmp_path):
    with workdir_lock(tmp_path / "run") as path:
        owner = json.loads(open(path).read())
        assert path == str(tmp_path / "run" / LOCK_FILE)
        assert (owner["host"], owner["pid"]) == (socket.gethostname(), os.getpid())
        assert owner["started"].endswith("+00:00")
        with pytest.raises(WorkdirLockedError, match=f"PID {os.getpid()} on {socket.gethostname()}"):
            with workdir_lock(tmp_path / "run"):
                pass
    assert os.listdir(tmp_path / "run") == []
    with workdir_lock(tmp_path / "run"):  # free again
        pass


def test_a_stale_lock_of_a_dead_process_is_taken_over_with_a_warning(tmp_path, caplog):
    _write_lock(tmp_path, host=socket.gethostname(), pid=_dead_pid(), started="2026-01-01T00:00:00+00:00")
    with workdir_lock(tmp_path) as path:
        assert json.loads(open(path).read())["pid"] == os.getpid()
    assert any("stale lock" in record.getMessage() for record in caplog.records)
    assert os.listdir(tmp_path) == []


def test_a_reused_pid_or_another_boot_is_stale(tmp_path):
    parent = os.getppid()  # alive, but its start tick is not the one recorded
    _write_lock(tmp_path / "a", host=socket.gethostname(), pid=parent, start_tick=-1)
    _write_lock(tmp_path / "b", host=socket.gethostname(), pid=parent, boot_id="another boot")
    for name in ("a", "b"):
        with workdir_lock(tmp_path / name):
            pass


def test_an_owner_on_another_host_or_alive_here_refuses_in_one_line(tmp_path):
    _write_lock(tmp_path / "a", host="elsewhere", pid=1, started="2026-01-01T00:00:00+00:00")
    _write_lock(tmp_path / "b", host=socket.gethostname(), pid=os.getppid())
    lock = tmp_path / "a" / LOCK_FILE
    with pytest.raises(WorkdirLockedError) as error:
        with workdir_lock(tmp_path / "a"):
            pass
    assert str(error.value) == (
        f"workdir {tmp_path / 'a'} is in use by the run of PID 1 on elsewhere since "
        "2026-01-01T00:00:00+00:00: wait for it to end or use another workdir (if that run is gone, "
        f"remove {lock})"
    )
    with pytest.raises(WorkdirLockedError, match=f"PID {os.getppid()} on {socket.gethostname()}"):
        with workdir_lock(tmp_path / "b"):
            pass
    assert lock.exists() and (tmp_path / "b" / LOCK_FILE).exists()  # a live owner's lock stays


def test_only_process_zero_locks_and_bad_workdirs_are_named(tmp_path):
    with workdir_lock(tmp_path, process_index=1) as path:
        assert path is None and os.listdir(tmp_path) == []
    with pytest.raises(TypeError, match="workdir must be a non-empty path, got ''"):
        with workdir_lock(""):
            pass


def _locked_training(tmp_path, name, workdir):
    go, out = tmp_path / f"{name}.go", tmp_path / f"{name}.json"
    args = [sys.executable, "-c", LOCKED_TRAINING.format(run=RUN), str(workdir), str(out), str(go)]
    return subprocess.Popen(args, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True), go, out


def test_a_second_process_is_refused_naming_the_first_which_stays_unharmed(tmp_path):
    workdir = tmp_path / "run"
    first, go, out = _locked_training(tmp_path, "first", workdir)
    deadline = time.monotonic() + 300
    while not (workdir / LOCK_FILE).exists():
        assert first.poll() is None and time.monotonic() < deadline, first.communicate()
        time.sleep(0.1)
    second, second_go, _ = _locked_training(tmp_path, "second", workdir)
    second_go.touch()  # it never gets to train
    _, stderr = second.communicate(timeout=300)
    assert second.returncode == 1
    assert stderr.strip().splitlines()[-1].startswith(
        f"emutrain.train.lock.WorkdirLockedError: workdir {workdir} is in use by the run of PID {first.pid} "
        f"on {socket.gethostname()} since "
    )
    assert os.listdir(workdir) == [LOCK_FILE]  # the second wrote nothing
    go.touch()
    _, stderr = first.communicate(timeout=600)
    assert first.returncode == 0, stderr[-3000:]
    alone = tmp_path / "alone.json"
    subprocess.run([sys.executable, RUN, str(alone), "24", "--workdir", str(tmp_path / "alone")], env=ENV,
                   check=True, capture_output=True, timeout=600)
    report, reference = json.loads(out.read_text()), json.loads(alone.read_text())
    np.testing.assert_array_equal(report["losses"], reference["losses"])
    assert not (workdir / LOCK_FILE).exists()


@pytest.fixture
def held_by_another_process(tmp_path):
    """A live process holding the lock of `tmp_path / "run"`."""
    workdir = tmp_path / "run"
    script = "import sys; from emutrain.train import workdir_lock\nwith workdir_lock(sys.argv[1]):\n" \
             "    print('held', flush=True); sys.stdin.read()"
    holder = subprocess.Popen([sys.executable, "-c", script, str(workdir)], env=ENV, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert holder.stdout.readline().strip() == "held"
    yield workdir, holder.pid
    holder.stdin.close()
    holder.wait(timeout=60)


def test_train_and_evaluate_and_run_study_are_refused_before_writing(held_by_another_process):
    workdir, pid = held_by_another_process
    with pytest.raises(WorkdirLockedError, match=f"in use by the run of PID {pid} on "):
        experiment.train_and_evaluate(experiment.load_config("default", "quick"), workdir)
    with pytest.raises(WorkdirLockedError, match=f"in use by the run of PID {pid} on "):
        study.run_study(experiment.load_config("studies/apebench_1d", "quick"), workdir, progress_bar=False)
    assert os.listdir(workdir) == [LOCK_FILE]
