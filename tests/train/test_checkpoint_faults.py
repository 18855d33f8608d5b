"""Checkpoint faults: unrestorable newest checkpoints, failed saves (unwritable directory, disk full at
commit), another model structure, traceback noise, stored configs, and the resume config comparison."""

import asyncio
import errno
import glob
import logging
import math
import os
import sys
import time
import types

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import train_tiny as tiny
from flax import nnx

from emutrain.train import NonFiniteError, Trainer, TrainState
from emutrain.train.checkpoint import (
    RESUME_OVERRIDE_FIELD,
    RESUME_SAFE_FIELDS,
    Checkpointer,
    CheckpointMismatchError,
    CheckpointSaveError,
    ConfigChangedError,
    UnrestorableCheckpointError,
    check_resume,
    check_resume_config,
    config_changes,
)

CONFIG = {"model": {"width": 1}, "train": {"num_steps": 8, "learning_rate": 0.01}}


def _state(step: int, seed: int = 0) -> TrainState:
    state = TrainState.create(tiny.model(seed), tiny.optimizer(), key=0)
    return state.replace(step=state.step + step)


def _params(state: TrainState) -> list[np.ndarray]:
    return [np.asarray(x) for x in jax.tree.leaves(nnx.to_pure_dict(state.params))]


def _files(path) -> dict[str, int]:
    """Relative path -> size of every file under `path`."""
    return {
        os.path.relpath(os.path.join(root, name), path): os.path.getsize(os.path.join(root, name))
        for root, _, names in os.walk(path)
        for name in names
    }


def _entries(directory) -> list[str]:
    return sorted(os.listdir(directory))


@pytest.fixture
def two_checkpoints(tmp_path):
    """Checkpoints of steps 4 (model seed 4) and 8 (model seed 8), each with CONFIG (num_steps = step)."""
    directory = tmp_path / "checkpoints"
    with Checkpointer(directory) as checkpointer:
        for step in (4, 8):
            config = dict(CONFIG, train=dict(CONFIG["train"], num_steps=step))
            checkpointer.save(_state(step, seed=step), config=config)
    return directory


def _truncate_data(step_dir):
    """Cuts every array data file of the state in half (a write cut short)."""
    files = glob.glob(os.path.join(step_dir, "state", "d", "*"))
    assert files
    for name in files:
        os.truncate(name, os.path.getsize(name) // 2)


def _remove_metadata(step_dir):
    os.remove(os.path.join(step_dir, "state", "_METADATA"))


def _empty_manifest(step_dir):
    for name in glob.glob(os.path.join(step_dir, "state", "**", "manifest.ocdbt"), recursive=True):
        open(name, "w").close()


CORRUPTIONS = {
    "truncated data file": (_truncate_data, "Requested byte range"),
    "missing metadata file": (_remove_metadata, "_METADATA"),
    "emptied manifest": (_empty_manifest, "manifest.ocdbt"),
}


@pytest.mark.parametrize("corruption", CORRUPTIONS)
def test_unrestorable_newest_is_reported_once_and_the_previous_is_restored(
    two_checkpoints, corruption, caplog
):
    corrupt, reason = CORRUPTIONS[corruption]
    corrupt(two_checkpoints / "8")
    before = _files(two_checkpoints)
    checkpointer = Checkpointer(two_checkpoints)
    # before any restore, the stored config is already the one of the checkpoint a restore would use
    assert checkpointer.stored_config()["train"]["num_steps"] == 4
    with caplog.at_level(logging.WARNING):
        restored = checkpointer.restore(_state(0))
    assert int(restored.step) == 4
    for a, b in zip(_params(restored), _params(_state(4, seed=4))):
        np.testing.assert_array_equal(a, b)
    ours = os.path.join("emutrain", "train", "checkpoint.py")
    warnings = [  # Orbax's own warnings (e.g. from a collected manager of another test) aside
        r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and r.pathname.endswith(ours)
    ]
    assert len(warnings) == 1, warnings
    assert "checkpoint of step 8" in warnings[0] and reason in warnings[0] and "\n" not in warnings[0]
    assert _files(two_checkpoints) == before  # nothing deleted or rewritten
    assert checkpointer.latest_step() == 4 and checkpointer.all_steps() == [4]
    # the stored config is the one of the checkpoint restored
    assert checkpointer.stored_config()["train"]["num_steps"] == 4
    checkpointer.close()


def test_resume_past_an_unrestorable_checkpoint_matches_an_uninterrupted_run(tmp_path):
    full = Trainer(
        tiny.configuration(), tiny.optimizer(), log_every=4, tensorboard=False, progress_bar=False
    ).fit(tiny.model(), tiny.loader(), num_steps=12)

    def trainer():
        return Trainer(
            tiny.configuration(),
            tiny.optimizer(),
            workdir=tmp_path,
            checkpoint_every=4,
            log_every=4,
            tensorboard=False,
            progress_bar=False,
        )

    trainer().fit(tiny.model(), tiny.loader(), num_steps=8)
    directory = tmp_path / "checkpoints"
    _empty_manifest(directory / "8")
    corrupted = _files(directory / "8")
    resumed = trainer().fit(tiny.model(seed=5), tiny.loader(), num_steps=12)
    assert resumed.first_step == 5
    np.testing.assert_array_equal(resumed.losses, full.losses[4:])
    # the unrestorable checkpoint is kept, renamed, byte for byte; step 8 was written anew
    assert _entries(directory) == ["12", "4", "8", "8.unrestorable"]
    assert _files(directory / "8.unrestorable") == corrupted


def test_no_restorable_checkpoint_names_every_step(two_checkpoints):
    _remove_metadata(two_checkpoints / "8")
    _empty_manifest(two_checkpoints / "4")
    checkpointer = Checkpointer(two_checkpoints)
    with pytest.raises(
        UnrestorableCheckpointError, match=r"can be restored: step 8: .*_METADATA.*; step 4: "
    ):
        checkpointer.restore(_state(0))
    with pytest.raises(UnrestorableCheckpointError, match="no complete checkpoint in"):
        Checkpointer(two_checkpoints.parent / "empty").restore(_state(0))
    with pytest.raises(
        UnrestorableCheckpointError, match=r"step must be one of the checkpoints \[\] in .*, got 5"
    ):
        checkpointer.restore(_state(0), step=5)


def _deny(monkeypatch, function: str, directory, error: int):
    """Makes `os.<function>` fail with `error` for paths under `directory`, like a read-only or full
    file system would."""
    original = getattr(os, function)
    prefix = os.fspath(directory)

    def failing(path, *args, **kwargs):
        if os.fspath(path).startswith(prefix):
            raise OSError(error, os.strerror(error), os.fspath(path))
        return original(path, *args, **kwargs)

    monkeypatch.setattr(os, function, failing)


def test_unwritable_directory_stops_the_save_within_seconds(tmp_path, monkeypatch):
    directory = tmp_path / "checkpoints"
    checkpointer = Checkpointer(directory)
    checkpointer.save(_state(4, seed=4))
    checkpointer.wait()
    _deny(monkeypatch, "mkdir", directory, errno.EACCES)
    start = time.perf_counter()
    with pytest.raises(CheckpointSaveError) as info:
        checkpointer.save(_state(8))
    elapsed = time.perf_counter() - start
    assert elapsed < 30  # Orbax alone waits ~300 s for the step directory before a TimeoutError
    message = str(info.value)
    assert f"checkpoint of step 8 to {str(directory / '8')!r}" in message
    assert "[Errno 13] Permission denied" in message and "the checkpoint of step 4 is intact" in message
    assert (info.value.step, info.value.kept_step) == (8, 4)
    monkeypatch.undo()
    checkpointer.close()  # the failure was reported once; closing raises nothing more
    assert _entries(directory) == ["4"]
    restored = Checkpointer(directory).restore(_state(0))
    assert int(restored.step) == 4


def test_disk_full_at_the_async_commit_is_reported_for_that_save(tmp_path, monkeypatch):
    directory = tmp_path / "checkpoints"
    checkpointer = Checkpointer(directory)
    checkpointer.save(_state(4, seed=4))
    checkpointer.wait()
    # the final rename of the temporary directory runs on Orbax's background thread
    _deny(monkeypatch, "rename", directory, errno.ENOSPC)
    start = time.perf_counter()
    checkpointer.save(_state(8))  # returns while the commit runs
    with pytest.raises(CheckpointSaveError, match=r"step 8 .*\[Errno 28\] No space left on device"):
        while True:  # what the Trainer does after every dispatch
            checkpointer.check()
            time.sleep(0.01)
            assert time.perf_counter() - start < 30
    monkeypatch.undo()
    assert _entries(directory) == ["4"]  # no stray *.orbax-checkpoint-tmp
    assert not glob.glob(str(directory / "*.orbax-checkpoint-tmp*"))
    checkpointer.save(_state(12))  # the manager still works once the disk has room again
    checkpointer.close()
    assert _entries(directory) == ["12", "4"]


def test_failed_save_stops_fit_at_that_step(tmp_path, monkeypatch):
    trainer = Trainer(
        tiny.configuration(),
        tiny.optimizer(),
        workdir=tmp_path,
        checkpoint_every=4,
        log_every=4,
        tensorboard=False,
        progress_bar=False,
    )
    trainer.fit(tiny.model(), tiny.loader(), num_steps=4)
    _deny(monkeypatch, "mkdir", tmp_path / "checkpoints", errno.EROFS)
    with pytest.raises(CheckpointSaveError, match=r"step 8 .*\[Errno 30\] Read-only file system"):
        trainer.fit(tiny.model(), tiny.loader(), num_steps=12)
    monkeypatch.undo()
    assert _entries(tmp_path / "checkpoints") == ["4"]


class Wide(nnx.Module):
    """TinyStepper with a 5-point kernel: the same parameter paths, another shape."""

    def __init__(self, rngs: nnx.Rngs):
        self.conv = nnx.Conv(1, 1, kernel_size=(5,), padding="CIRCULAR", use_bias=False, rngs=rngs)

    def __call__(self, u):
        return u + self.conv(u)


def test_another_model_structure_is_one_line_naming_the_first_differing_leaf(two_checkpoints, capfd):
    checkpointer = Checkpointer(two_checkpoints)
    wide = TrainState.create(Wide(nnx.Rngs(0)), tiny.optimizer(), key=0)
    with pytest.raises(CheckpointMismatchError) as info:
        checkpointer.restore(wide)
    assert str(info.value) == (
        f"the checkpoint of step 8 in {two_checkpoints} holds another model or optimizer structure: "
        "params/conv/kernel/value: shape (3, 1, 1) in the checkpoint, (5, 1, 1) in the model to restore"
    )
    sgd = TrainState.create(tiny.model(), optax.sgd(0.1), key=0)
    with pytest.raises(
        CheckpointMismatchError, match=r"opt_state/0/count: shape \(\) in the checkpoint, missing in the"
    ):
        checkpointer.restore(sgd)
    checkpointer.close()
    assert "Event loop is closed" not in capfd.readouterr().err


def test_a_failed_read_prints_no_event_loop_tracebacks(two_checkpoints, capfd):
    """Orbax closes its private event loop at the first failed read; the reads still in flight then
    report to the closed loop through `sys.unraisablehook` (10 tracebacks for this checkpoint in a plain
    Python process without the filter). Exactly these are dropped; every other one reaches the hook."""
    _truncate_data(two_checkpoints / "8")
    checkpointer = Checkpointer(two_checkpoints)
    assert int(checkpointer.restore(_state(0)).step) == 4
    checkpointer.close()
    assert "Event loop is closed" not in capfd.readouterr().err

    class Other(Exception):
        pass

    loop = asyncio.new_event_loop()
    loop.close()
    try:
        loop.call_soon_threadsafe(print)
    except RuntimeError as error:
        closed = error
    seen = []
    previous, sys.unraisablehook = sys.unraisablehook, seen.append
    try:
        Checkpointer(two_checkpoints).close()  # wraps the current hook
        for exc in (closed, RuntimeError("Event loop is closed"), Other("kept")):
            sys.unraisablehook(
                types.SimpleNamespace(exc_type=type(exc), exc_value=exc, exc_traceback=exc.__traceback__)
            )
    finally:
        sys.unraisablehook = previous
    # only the closed-loop callback is dropped; the same message raised elsewhere is kept
    assert [str(u.exc_value) for u in seen] == ["Event loop is closed", "kept"]


def test_stored_config_and_restore_config(two_checkpoints, tmp_path):
    checkpointer = Checkpointer(two_checkpoints)
    assert checkpointer.stored_config() == dict(CONFIG, train=dict(CONFIG["train"], num_steps=8))
    assert checkpointer.stored_config(4)["train"]["num_steps"] == 4
    assert checkpointer.restore_config() == checkpointer.stored_config()
    bare = Checkpointer(tmp_path / "bare")
    assert bare.stored_config() is None  # no checkpoint
    bare.save(_state(2))
    bare.wait()
    assert bare.stored_config() is None  # a checkpoint without a config
    with pytest.raises(UnrestorableCheckpointError, match="holds no config"):
        bare.restore_config()
    with pytest.raises(UnrestorableCheckpointError, match=r"no checkpoint of step 3 .*\(steps: \[2\]\)"):
        bare.restore_config(3)
    bare.close()
    checkpointer.close()


def test_invalid_checkpointer_arguments(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="exists and is not a directory"):
        Checkpointer(tmp_path / "file")
    with pytest.raises(ValueError, match="max_to_keep must be >= 1, got 0"):
        Checkpointer(tmp_path, max_to_keep=0)
    with pytest.raises(TypeError, match="max_to_keep must be an int, got True"):
        Checkpointer(tmp_path, max_to_keep=True)
    with pytest.raises(ValueError, match=r"best_mode must be one of \('min', 'max'\), got 'best'"):
        Checkpointer(tmp_path, best_mode="best")
    with pytest.raises(TypeError, match="directory must be a non-empty path, got ''"):
        Checkpointer("")


# -- resume safety ----------------------------------------------------------------------------------


def test_config_changes_lists_each_changed_field_in_order():
    old = {"seed": 0, "model": {"hidden_channels": 32, "num_blocks": 2}, "train": {"learning_rate": 3e-4}}
    new = {"seed": 0, "model": {"hidden_channels": 64, "num_blocks": 2}, "train": {"learning_rate": 1e-3}}
    assert config_changes(old, new) == [
        "model.hidden_channels: 32 -> 64",
        "train.learning_rate: 0.0003 -> 0.001",
    ]
    assert config_changes(old, old) == []


def test_config_changes_value_semantics():
    # JSON turns tuples into lists; 1 == 1.0; NaN == NaN; a bool is not the number 1; None differs from 0
    assert config_changes({"a": [1, 2], "b": 1, "c": math.nan}, {"a": (1, 2), "b": 1.0, "c": math.nan}) == []
    assert config_changes({"a": True}, {"a": 1}) == ["a: True -> 1"]
    assert config_changes({"a": None}, {"a": 0}) == ["a: None -> 0"]
    assert config_changes({"a": "x"}, {"a": "y"}) == ["a: 'x' -> 'y'"]
    assert config_changes({"a": [1, math.nan]}, {"a": [1, math.nan]}) == []
    assert config_changes({"coarse": {"difficulty": -3.25}}, {"coarse": None}) == [
        "coarse: <absent> -> None",
        "coarse.difficulty: -3.25 -> <absent>",
    ]
    assert config_changes({"a": {}}, {"a": {}}) == []
    assert config_changes(None, {"x": 1}) == ["x: <absent> -> 1"]


def test_config_changes_ignore_fields_and_prefixes():
    old = {"train": {"num_steps": 10, "log_every": 5, "batch_size": 8}, "eval": {"every": 5, "num_steps": 3}}
    new = {"train": {"num_steps": 20, "log_every": 7, "batch_size": 16}, "eval": {"every": 9, "num_steps": 4}}
    assert config_changes(old, new) == ["train.batch_size: 8 -> 16"]
    assert config_changes(old, new, ignore=()) == [
        "eval.every: 5 -> 9",
        "eval.num_steps: 3 -> 4",
        "train.batch_size: 8 -> 16",
        "train.log_every: 5 -> 7",
        "train.num_steps: 10 -> 20",
    ]
    assert config_changes(old, new, ignore=("eval", "train.batch_size")) == [
        "train.log_every: 5 -> 7",
        "train.num_steps: 10 -> 20",
    ]
    # a prefix covers whole path components only
    changes = config_changes({"train2": {"x": 1}}, {"train2": {"x": 2}}, ignore=("train",))
    assert changes == ["train2.x: 1 -> 2"]
    with pytest.raises(TypeError, match="ignore must be a collection of field names, got the str 'eval'"):
        config_changes(old, new, ignore="eval")


def test_resume_safe_fields_cover_cadence_and_length_only():
    free = {"train.num_steps", "train.log_every", "train.progress_bar", "eval.every"}
    assert free <= set(RESUME_SAFE_FIELDS)
    assert "mesh" in RESUME_SAFE_FIELDS  # a checkpoint resumes on another mesh shape
    for field in ("train.learning_rate", "train.batch_size", "model", "physics", "data", "seed"):
        assert not any(field == f or field.startswith(f + ".") for f in RESUME_SAFE_FIELDS)


def test_check_resume_config_one_line_and_override():
    stored = {"model": {"hidden_channels": 32}, "physics": {"difficulty": -6.5}, "train": {"num_steps": 5}}
    current = {"model": {"hidden_channels": 64}, "physics": {"difficulty": -3.0}, "train": {"num_steps": 9}}
    with pytest.raises(ConfigChangedError) as info:
        check_resume_config(stored, current, where="/w/checkpoints")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(
        "the config differs from the one stored in /w/checkpoints: model.hidden_channels: 32 -> 64; "
        "physics.difficulty: -6.5 -> -3.0 -- "
    )
    assert f"--config.{RESUME_OVERRIDE_FIELD}=True" in message
    assert info.value.changes == ["model.hidden_channels: 32 -> 64", "physics.difficulty: -6.5 -> -3.0"]
    allowed = dict(current, **{RESUME_OVERRIDE_FIELD: True})
    assert check_resume_config(stored, allowed) == info.value.changes
    assert check_resume_config(stored, dict(stored, train={"num_steps": 50})) == []
    assert check_resume_config(None, current) == []


# -- the non-finite guard keeps the last good state ------------------------------------------------


def test_nan_learning_rate_stops_before_the_nan_parameters_become_the_state(tmp_path):
    """With a learning rate that turns NaN at step 6, loss and gradient stay finite but the update is
    NaN: the error's state is the finite state after step 5, equal to 5 steps at the good rate."""
    schedule = lambda count: jnp.where(count < 5, 1e-2, jnp.nan)  # noqa: E731 - count 5 is step 6
    trainer = Trainer(
        tiny.configuration(),
        optax.sgd(schedule),
        workdir=tmp_path,
        checkpoint_every=4,
        log_every=4,
        tensorboard=False,
        progress_bar=False,
    )
    with pytest.raises(NonFiniteError) as info:
        trainer.fit(tiny.model(), tiny.loader(), num_steps=12)
    assert str(info.value) == (
        "non-finite loss, gradient or updated parameters at step 6: training stopped, the checkpoint of "
        "step 4 is kept"
    )
    assert info.value.step == 6 and int(info.value.state.step) == 5
    good = Trainer(
        tiny.configuration(), optax.sgd(1e-2), log_every=5, tensorboard=False, progress_bar=False
    ).fit(tiny.model(), tiny.loader(), num_steps=5)
    for a, b in zip(_params(info.value.state), _params(good.state)):
        assert np.all(np.isfinite(a))
        np.testing.assert_array_equal(a, b)
    assert trainer.checkpointer.all_steps() == [4]


def test_nan_learning_rate_from_the_start_keeps_the_initial_state():
    trainer = Trainer(
        tiny.configuration(), optax.adam(float("nan")), log_every=2, tensorboard=False, progress_bar=False
    )
    with pytest.raises(NonFiniteError) as info:
        trainer.fit(tiny.model(), tiny.loader(), num_steps=4)
    assert str(info.value) == (
        "non-finite loss, gradient or updated parameters at step 1: training stopped, no checkpoint is kept"
    )
    assert int(info.value.state.step) == 0
    for a, b in zip(_params(info.value.state), _params(_state(0))):
        np.testing.assert_array_equal(a, b)


def test_failed_async_commit_in_fit_names_the_failing_save(tmp_path, monkeypatch):
    _deny(monkeypatch, "rename", tmp_path / "checkpoints", errno.ENOSPC)
    trainer = Trainer(
        tiny.configuration(),
        tiny.optimizer(),
        workdir=tmp_path,
        checkpoint_every=4,
        log_every=4,
        tensorboard=False,
        progress_bar=False,
    )
    with pytest.raises(CheckpointSaveError, match=r"step 4 .*\[Errno 28\] No space left") as info:
        trainer.fit(tiny.model(), tiny.loader(), num_steps=12)
    assert info.value.kept_step is None and "no earlier checkpoint is intact" in str(info.value)
    monkeypatch.undo()
    assert _entries(tmp_path / "checkpoints") == []


def test_check_resume_reads_the_stored_config(two_checkpoints, tmp_path, caplog):
    stored = dict(CONFIG, train=dict(CONFIG["train"], num_steps=8))
    assert check_resume(tmp_path / "none", stored) == []  # a fresh run
    assert check_resume(two_checkpoints, dict(stored, train=dict(stored["train"], num_steps=100))) == []
    wider = dict(stored, model={"width": 2})
    with pytest.raises(ConfigChangedError, match=r"stored in .*/checkpoints: model\.width: 1 -> 2 -- "):
        check_resume(two_checkpoints, wider)
    with caplog.at_level(logging.WARNING):
        assert check_resume(two_checkpoints, dict(wider, **{RESUME_OVERRIDE_FIELD: True})) == [
            "model.width: 1 -> 2"
        ]
    assert any(
        "despite config changes" in r.getMessage() and "model.width: 1 -> 2" in r.getMessage()
        for r in caplog.records
    )
    assert _entries(two_checkpoints) == ["4", "8"]  # reading the config changes nothing
