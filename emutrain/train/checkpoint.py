"""Orbax checkpoints of a run: train state, Grain iterator position and config, one directory per step.

Faults are reported, never hidden and never left to hang: a newest checkpoint that cannot be restored is
named in one warning line and the newest restorable one is used; a save that cannot be written stops
with a `CheckpointSaveError` naming the path and the OS reason; a checkpoint of another model or
optimizer structure is refused with one line naming the first differing leaf and both shapes.

`check_resume` compares the config stored in a directory's newest checkpoint with the config of the run
resuming from it (the comparison itself, and the names re-exported here, are in `emutrain.train.resume`);
Orbax's own logging is filtered by `emutrain.train.orbax_logs`.
"""

from __future__ import annotations

import contextlib
import glob
import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp
from absl import logging
from etils import epath
from jax.experimental import multihost_utils

from emutrain.train.orbax_logs import install_unraisable_filter, orbax_errors_handled_here
from emutrain.train.resume import (
    RESUME_OVERRIDE_FIELD,
    RESUME_SAFE_FIELDS,
    ConfigChangedError,
    check_resume_config,
    config_changes,
)
from emutrain.train.state import TrainState
from emutrain.validation import check_choice, check_int

__all__ = [
    "RESUME_OVERRIDE_FIELD",
    "RESUME_SAFE_FIELDS",
    "CheckpointMismatchError",
    "CheckpointSaveError",
    "Checkpointer",
    "ConfigChangedError",
    "UnrestorableCheckpointError",
    "abstract_like",
    "check_resume",
    "check_resume_config",
    "config_changes",
]

_TMP_SUFFIX = ".orbax-checkpoint-tmp"
_UNRESTORABLE_SUFFIX = ".unrestorable"
_VALUES_ITEM = "values"
"""The item of the values written at a checkpoint's step, when no best metric makes Orbax keep them."""


class CheckpointSaveError(OSError):
    """A checkpoint could not be written. `step` is the step of that checkpoint, `path` its directory,
    `kept_step` the newest checkpoint that is intact on disk (None if there is none)."""

    def __init__(self, message: str, *, step: int, path: str, kept_step: int | None):
        super().__init__(message)
        self.step = step
        self.path = path
        self.kept_step = kept_step


class CheckpointMismatchError(ValueError):
    """A checkpoint holds a train state of another structure than the one to restore it onto."""


class UnrestorableCheckpointError(ValueError):
    """No checkpoint in the directory (or not the requested one) can be restored; `reason` is the
    one-line cause."""

    def __init__(self, message: str, reason: str | None = None):
        super().__init__(message)
        self.reason = message if reason is None else reason


def abstract_like(tree: Any) -> Any:
    """A restore template: `ShapeDtypeStruct`s carrying each leaf's current sharding, so a restore lands
    on the current mesh (possibly a different device count than the run that saved)."""
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), tree)


# ---------------------------------------------------------------------------------------------------
# Messages.


def _os_error_in(exc: BaseException) -> OSError | None:
    """The first `OSError` in `exc`'s cause/context chain (the OS reason of a failed write)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and not isinstance(exc, TimeoutError):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def _reason(exc: BaseException, limit: int = 300) -> str:
    """A one-line reason: the OS error (errno, text, file) when there is one; for TensorStore's nested
    read errors the innermost cause and the file it concerns; otherwise the exception's type and
    message, cut to `limit` characters."""
    os_error = _os_error_in(exc)
    if os_error is not None and os_error.errno is not None:
        text = f"[Errno {os_error.errno}] {os.strerror(os_error.errno)}"
        if os_error.filename:
            text += f": {os.fspath(os_error.filename)!r}"
        return text
    chain, link = [], exc
    while link is not None and link not in chain:
        chain.append(link)
        link = link.__cause__ or link.__context__
    for link in reversed(chain):  # TensorStore's own message, innermost first
        message = " ".join(re.sub(r"\s*\[tensorstore_spec.*$", "", str(link), flags=re.S).split())
        files = re.findall(r'local file "([^"]+)"', message)
        if files:
            return f"{type(link).__name__}: {message.rsplit(': ', 1)[-1]} (file {files[-1]!r})"
    message = " ".join(str(exc).split())
    if len(message) > limit:
        message = message[: limit - 3] + "..."
    return f"{type(exc).__name__}: {message}"


def _leaf_path(path: tuple) -> str:
    return jax.tree_util.keystr(path, simple=True, separator="/")


def _shapes(tree: Any) -> dict[str, tuple[int, ...]]:
    return {
        _leaf_path(path): tuple(leaf.shape) for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]
    }


def _first_difference(stored: Mapping[str, tuple], wanted: Mapping[str, tuple]) -> str | None:
    """`'<path>: <stored> in the checkpoint, <wanted> in the model'` for the first differing leaf (in
    the template's order, then leaves only the checkpoint has), or None when they agree."""
    for path, shape in wanted.items():
        if path not in stored:
            return f"{path}: missing in the checkpoint, shape {shape} in the model to restore"
        if tuple(stored[path]) != tuple(shape):
            return (
                f"{path}: shape {tuple(stored[path])} in the checkpoint, {tuple(shape)} in the model to "
                "restore"
            )
    for path, shape in stored.items():
        if path not in wanted:
            return f"{path}: shape {tuple(shape)} in the checkpoint, missing in the model to restore"
    return None


def _ranking(name: str, mode: str) -> Any:
    """`metrics -> float`: the value `name` of a checkpoint's metrics; a missing or NaN value ranks last
    (+inf for `mode="min"`, -inf for `"max"`)."""
    worst = math.inf if mode == "min" else -math.inf

    def value(metrics: Any) -> float:
        found = metrics.get(name) if isinstance(metrics, Mapping) else None
        return worst if found is None or math.isnan(float(found)) else float(found)

    return value


class Checkpointer:
    """Async Orbax checkpoints under `directory` (`<directory>/<step>/{state,data_position,config}`, and
    the step's written values: `values`, or Orbax's `metrics` with a `best_metric`).

    The data iterator's position is one JSON item written by process 0 (`iterator.get_state()`, e.g.
    `{"next_index": 1234}` for `emutrain.data.make_loader`, whose position is the global batch number on
    every process), restored into every process's iterator: a checkpoint written by N processes
    resumes with M processes (same global batch) in the same global data order. Checkpoints of older
    versions, with Grain's per-process `data_iter` item, still restore (from any process's file).

    Args:
      directory: where step directories go; created if missing.
      max_to_keep: how many checkpoints to keep (None: all).
      best_metric: if given, the checkpoint best by this value of the `metrics` passed to `save` is kept
        besides the `max_to_keep` latest ones (a missing or NaN value ranks last); see `best_step`.
      best_mode: `"min"` or `"max"` for `best_metric`.

    A directory only becomes a checkpoint once all its writes have finished (Orbax writes into a
    temporary directory and renames it), so a process killed mid-write leaves the previous one latest;
    the temporary directory is removed by the next `Checkpointer` on the same directory.

    Faults:
      - `restore` (no explicit step) skips checkpoints that cannot be restored (truncated or missing
        files, emptied manifests), logging one warning line per skipped step with the reason, and
        restores the newest restorable one; nothing is deleted. The skipped, newer step directories
        are renamed `<step>.unrestorable` before the first save of this run, so the new checkpoints
        of those steps can be written and retention never counts them.
      - `save` checks first that the directory is writable and that the previous async save
        succeeded; any failure raises `CheckpointSaveError` (path, OS reason, newest intact step)
        within seconds, after the partial temporary directory is removed. A failure in the
        background part of an async save is raised by the next `check`, `save`, `wait` or `close`.
      - `restore` onto a template of another structure raises `CheckpointMismatchError` naming the
        first differing leaf path and both shapes.
    """

    def __init__(
        self,
        directory: str | os.PathLike,
        *,
        max_to_keep: int | None = 3,
        best_metric: str | None = None,
        best_mode: str = "min",
    ):
        check_choice("best_mode", best_mode, ("min", "max"))
        if max_to_keep is not None:
            check_int("max_to_keep", max_to_keep, minimum=1)
        if best_metric is not None and not (isinstance(best_metric, str) and best_metric):
            raise TypeError(f"best_metric must be a non-empty str or None, got {best_metric!r}")
        if not isinstance(directory, (str, os.PathLike)) or not os.fspath(directory):
            raise TypeError(f"directory must be a non-empty path, got {directory!r}")
        self.directory = os.path.abspath(os.fspath(directory))
        if os.path.exists(self.directory) and not os.path.isdir(self.directory):
            raise NotADirectoryError(f"checkpoint directory {self.directory!r} exists and is not a directory")
        try:
            os.makedirs(self.directory, exist_ok=True)
        except OSError as e:
            raise CheckpointSaveError(
                f"checkpoint directory {self.directory!r} cannot be created: {_reason(e)}",
                step=-1,
                path=self.directory,
                kept_step=None,
            ) from e
        self.best_metric, self.best_mode = best_metric, best_mode
        self._best_fn = None if best_metric is None else _ranking(best_metric, best_mode)
        retention = {"max_to_keep": max_to_keep}
        if best_metric is not None:  # the best checkpoint and the latest ones, in one manager
            policies = ocp.checkpoint_managers
            retention = {
                "preservation_policy": policies.AnyPreservationPolicy(
                    [
                        policies.BestN(
                            get_metric_fn=self._best_fn,
                            reverse=best_mode == "min",
                            n=1,
                            keep_checkpoints_without_metrics=False,
                        ),
                        policies.LatestN(n=max_to_keep),
                    ]
                )
            }
        options = ocp.CheckpointManagerOptions(
            **retention,
            best_fn=self._best_fn,
            best_mode=best_mode,
            enable_async_checkpointing=True,
            # Trainer.fit removes unfinished saves itself, logged, before its first save
            # (train.history.rewind); Orbax's own cleanup ran concurrently with it in a background
            # thread and failed the first save when both removed the same directory
            cleanup_tmp_directories=False,
        )
        install_unraisable_filter()
        self.manager = ocp.CheckpointManager(self.directory, options=options)
        self._skipped: list[int] = []
        self._pending: int | None = None
        self._closed = False

    # -- steps ---------------------------------------------------------------------------------------

    def latest_step(self) -> int | None:
        """The step of the newest complete checkpoint not already found unrestorable, or None."""
        steps = self.all_steps()
        return steps[-1] if steps else None

    def all_steps(self) -> list[int]:
        """The steps of the complete checkpoints, oldest first (without those found unrestorable)."""
        return sorted(s for s in self.manager.all_steps() if s not in self._skipped)

    def best_step(self) -> int | None:
        """The step of the kept checkpoint best by `best_metric` (the earliest of equal ones); None without
        a best metric or when no kept checkpoint has a finite value of it."""
        if self._best_fn is None:
            return None
        ranked = [(self._best_fn(self.metrics(step)), step) for step in self.all_steps()]
        ranked = [(value, step) for value, step in ranked if math.isfinite(value)]
        if not ranked:
            return None
        sign = 1.0 if self.best_mode == "min" else -1.0
        return min(ranked, key=lambda item: (sign * item[0], item[1]))[1]

    def best_value(self) -> float | None:
        """The `best_metric` value of the `best_step` checkpoint, or None when there is none."""
        best = self.best_step()
        return None if best is None else self._best_fn(self.metrics(best))

    def metrics(self, step: int) -> dict[str, float]:
        """The values saved with the checkpoint of `step` (`save`'s `metrics`; {} when none were or
        they do not read back)."""
        if self.best_metric is not None:  # the manager keeps them, to rank checkpoints
            return dict(self.manager.metrics(step) or {})
        if not os.path.isdir(os.path.join(self.step_path(step), _VALUES_ITEM)):
            return {}
        self._finish_pending()
        args = ocp.args.Composite(**{_VALUES_ITEM: ocp.args.JsonRestore()})
        with orbax_errors_handled_here(), contextlib.suppress(Exception):
            return dict(self.manager.restore(step, args=args)[_VALUES_ITEM])
        return {}

    def step_path(self, step: int) -> str:
        """The directory of the checkpoint of `step`."""
        return os.path.join(self.directory, str(step))

    # -- save ----------------------------------------------------------------------------------------

    def save(
        self,
        state: TrainState,
        *,
        data_iter: Any = None,
        config: Mapping[str, Any] | None = None,
        metrics: Mapping[str, float] | None = None,
    ) -> None:
        """Starts an async save of `state` (and the Grain iterator's position and the JSON config) at
        `state.step`; returns once the arrays are copied off the device.

        Raises:
          CheckpointSaveError: the previous async save failed, the directory is not writable, or this
            save failed while starting (e.g. no space left on the device).
        """
        step = int(jax.device_get(state.step))
        self._finish_pending()
        self._set_aside_skipped()
        self._probe_writable(step)
        items = {"state": ocp.args.StandardSave(state)}
        if data_iter is not None:
            items["data_position"] = ocp.args.JsonSave(_iterator_position(data_iter))
        if config is not None:
            items["config"] = ocp.args.JsonSave(dict(config))
        if metrics and self.best_metric is None:  # the manager stores them only to rank checkpoints
            items[_VALUES_ITEM] = ocp.args.JsonSave({k: float(v) for k, v in metrics.items()})
        with orbax_errors_handled_here():
            try:
                self.manager.save(
                    step,
                    args=ocp.args.Composite(**items),
                    metrics=dict(metrics or {}) if metrics or self.best_metric else None,
                    force=True,
                )
            except Exception as e:  # noqa: BLE001 - every failure becomes one CheckpointSaveError
                self._fail(step, e)
        self._pending = step

    def check(self) -> None:
        """Raises `CheckpointSaveError` if the last async save has finished and failed; returns at once
        while it is still writing (cheap enough to call every step). In a multi-process run only
        `save`, `wait` and `close` check, so that every process raises at the same step."""
        if self._pending is None or jax.process_count() > 1 or self.manager.is_saving_in_progress():
            return
        self._finish_pending()

    def wait(self) -> None:
        """Blocks until pending async saves are committed.

        Raises:
          CheckpointSaveError: the pending save failed.
        """
        self._finish_pending()

    def close(self) -> None:
        """Waits for the pending save (raising `CheckpointSaveError` if it failed) and closes the
        Orbax manager; closing twice is a no-op."""
        if self._closed:
            return
        try:
            self._finish_pending()
        finally:
            self._closed = True
            with orbax_errors_handled_here(), contextlib.suppress(Exception):
                self.manager.close()

    def __enter__(self) -> Checkpointer:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def _finish_pending(self) -> None:
        step, self._pending = self._pending, None
        with orbax_errors_handled_here():
            try:
                self.manager.wait_until_finished()
            except Exception as e:  # noqa: BLE001 - every failure becomes one CheckpointSaveError
                self._fail(-1 if step is None else step, e)

    def _probe_writable(self, step: int) -> None:
        """Creates and removes a directory in the checkpoint directory: without this, an unwritable
        directory makes Orbax's background directory creation fail and its other threads wait ~300 s
        for it before a misleading `TimeoutError`."""
        try:
            probe = tempfile.mkdtemp(prefix=".write-probe-", dir=self.directory)
            os.rmdir(probe)
        except OSError as e:
            self._fail(step, e)

    def _fail(self, step: int, error: BaseException) -> None:
        """Waits for Orbax to settle, removes the partial temporary directory of `step`, and raises one
        `CheckpointSaveError` naming the path, the OS reason and the newest intact checkpoint."""
        self._settle()
        path = self.step_path(step)
        pattern = glob.escape(path) + _TMP_SUFFIX + "*"
        # Orbax's metadata writer may still touch the temporary directory after its save failed (and
        # recreate it): remove, let it settle, and look again
        for _ in range(3):
            for tmp in glob.glob(pattern):
                shutil.rmtree(tmp, ignore_errors=True)
            self._settle()
            if not glob.glob(pattern):
                break
        leftovers = glob.glob(pattern)
        with contextlib.suppress(Exception):
            self.manager.reload()
        kept = next((s for s in reversed(self.all_steps()) if s != step and self._intact(s)), None)
        kept_text = (
            "no earlier checkpoint is intact"
            if kept is None
            else (f"the checkpoint of step {kept} is intact")
        )
        if leftovers:
            kept_text += f"; could not remove {leftovers}"
        raise CheckpointSaveError(
            f"saving the checkpoint of step {step} to {path!r} failed: {_reason(error)}; training "
            f"stopped, {kept_text}",
            step=step,
            path=path,
            kept_step=kept,
        ) from error

    def _state_metadata(self, step: int) -> Any:
        """The tree of array metadata (shapes, dtypes) of `step`'s train state, read without the arrays."""
        handler = ocp.StandardCheckpointHandler()
        try:
            return handler.metadata(epath.Path(self.step_path(step)) / "state")
        finally:
            handler.close()

    def _settle(self) -> None:
        """Waits for every background write of the Orbax manager, errors ignored (already reported):
        the save threads and its non-blocking metadata writer (a private attribute, hence the guard)."""
        with orbax_errors_handled_here(), contextlib.suppress(Exception):
            self.manager.wait_until_finished()
        store = getattr(self.manager, "_non_blocking_metadata_store", None)
        if store is not None and hasattr(store, "wait_until_finished"):
            with orbax_errors_handled_here(), contextlib.suppress(Exception):
                store.wait_until_finished()

    def _intact(self, step: int) -> bool:
        """Whether `step`'s train state metadata reads back (a quick check, not a full restore)."""
        try:
            self._state_metadata(step)
        except Exception:  # noqa: BLE001 - any failure means not intact
            return False
        return True

    def _set_aside_skipped(self) -> None:
        """Renames the step directories found unrestorable to `<step>.unrestorable` (kept for
        inspection) so this run can write those steps again; process 0 renames, every process waits
        for it and re-reads the steps."""
        if not self._skipped:
            return
        skipped, self._skipped = self._skipped, []
        if jax.process_index() == 0:
            for step in skipped:
                source = self.step_path(step)
                target = source + _UNRESTORABLE_SUFFIX
                suffix = 1
                while os.path.exists(target):
                    suffix += 1
                    target = f"{source}{_UNRESTORABLE_SUFFIX}.{suffix}"
                if os.path.isdir(source):
                    try:
                        os.rename(source, target)
                    except OSError as e:
                        self._fail(step, e)
                    logging.warning("moved the unrestorable checkpoint of step %d to %s", step, target)
        if jax.process_count() > 1:
            from jax.experimental import multihost_utils

            multihost_utils.sync_global_devices("emutrain_checkpoint_set_aside")
        self.manager.reload()

    # -- restore -------------------------------------------------------------------------------------

    def restore(self, template: TrainState, *, data_iter: Any = None, step: int | None = None) -> TrainState:
        """Restores the state saved at `step` onto `template`'s shapes and shardings, and moves
        `data_iter` (a Grain iterator) to the saved position in place.

        With `step=None`, the newest restorable checkpoint: each newer one that cannot be restored is
        reported in one warning line (step and reason) and skipped; nothing is deleted.

        Raises:
          UnrestorableCheckpointError: there is no checkpoint, the requested one cannot be restored, or
            none can.
          CheckpointMismatchError: the checkpoint's train state differs in structure or shapes from
            `template` (another model width, another optimizer).
        """
        self._finish_pending()
        if step is not None:
            check_int("step", step, minimum=0)
            if step not in self.manager.all_steps():
                raise UnrestorableCheckpointError(
                    f"step must be one of the checkpoints {self.all_steps()} in {self.directory}, got {step}"
                )
            return self._restore_step(step, template, data_iter)
        candidates = list(reversed(self.all_steps()))
        if not candidates:
            raise UnrestorableCheckpointError(f"no complete checkpoint in {self.directory}")
        reasons = []
        for candidate in candidates:
            try:
                return self._restore_step(candidate, template, data_iter)
            except UnrestorableCheckpointError as e:
                reasons.append(f"step {candidate}: {e.reason}")
                self._skipped.append(candidate)
                logging.warning(
                    "checkpoint of step %d in %s cannot be restored (%s); trying the previous one",
                    candidate,
                    self.directory,
                    e.reason,
                )
        raise UnrestorableCheckpointError(
            f"no checkpoint in {self.directory} can be restored: " + "; ".join(reasons)
        )

    def _restore_step(self, step: int, template: TrainState, data_iter: Any) -> TrainState:
        wanted = abstract_like(template)
        with orbax_errors_handled_here():
            try:
                stored = self._state_metadata(step)
            except Exception as e:  # noqa: BLE001 - unreadable metadata: not restorable
                raise _unrestorable(step, self.step_path(step), e) from e
            difference = _first_difference(_shapes(stored), _shapes(wanted))
            if difference is not None:
                raise CheckpointMismatchError(
                    f"the checkpoint of step {step} in {self.directory} holds another model or "
                    f"optimizer structure: {difference}"
                )
            items = {"state": ocp.args.StandardRestore(wanted)}
            global_position = os.path.isdir(os.path.join(self.step_path(step), "data_position"))
            if data_iter is not None and global_position:
                items["data_position"] = ocp.args.JsonRestore()
            try:
                restored = self.manager.restore(step, args=ocp.args.Composite(**items))
                if data_iter is not None:
                    position = (
                        restored["data_position"]
                        if global_position
                        else _legacy_position(self.step_path(step))
                    )
                    _set_iterator_position(data_iter, position)
            except Exception as e:  # noqa: BLE001 - any read failure: not restorable
                raise _unrestorable(step, self.step_path(step), e) from e
        return restored["state"]

    # -- config --------------------------------------------------------------------------------------

    def stored_config(self, step: int | None = None) -> dict[str, Any] | None:
        """The run config stored with the checkpoint of `step`, or None when there is no checkpoint or
        it holds no config. Default: the newest checkpoint whose train state metadata and config read
        back, i.e. (for the usual faults) the one `restore` would use."""
        steps = self.all_steps() if step is None else [step]
        for candidate in reversed(steps):
            if step is None and not self._intact(candidate):
                continue
            if not os.path.isdir(os.path.join(self.step_path(candidate), "config")):
                if step is None:
                    continue
                return None
            try:
                return self.restore_config(candidate)
            except UnrestorableCheckpointError as e:
                if step is not None:
                    raise
                logging.warning(
                    "config of the checkpoint of step %d in %s cannot be read (%s)",
                    candidate,
                    self.directory,
                    e.reason,
                )
        return None

    def restore_config(self, step: int | None = None) -> dict[str, Any]:
        """The JSON config saved with the checkpoint at `step` (default: latest).

        Raises:
          UnrestorableCheckpointError: no such checkpoint, it holds no config, or the config does not
            read back.
        """
        self._finish_pending()
        step = self.latest_step() if step is None else check_int("step", step, minimum=0)
        if step is None or step not in self.manager.all_steps():
            raise UnrestorableCheckpointError(
                f"no checkpoint of step {step} in {self.directory} (steps: {self.all_steps()})"
            )
        path = self.step_path(step)
        if not os.path.isdir(os.path.join(path, "config")):
            raise UnrestorableCheckpointError(f"the checkpoint {path!r} holds no config")
        with orbax_errors_handled_here():
            try:
                return self.manager.restore(step, args=ocp.args.Composite(config=ocp.args.JsonRestore()))[
                    "config"
                ]
            except Exception as e:  # noqa: BLE001 - any read failure: not restorable
                raise _unrestorable(step, path, e) from e


def _iterator_position(data_iter: Any) -> dict[str, Any]:
    """The JSON-serializable position of a Grain iterator (`get_state()`; bytes states are wrapped)."""
    state = data_iter.get_state()
    return {"encoded": state.decode()} if isinstance(state, bytes) else state


def _set_iterator_position(data_iter: Any, position: Mapping[str, Any]) -> None:
    """Moves `data_iter` to `position` (from `_iterator_position`) and restarts its prefetch."""
    encoded = position.get("encoded") if len(position) == 1 else None
    data_iter.set_state(encoded.encode() if isinstance(encoded, str) else dict(position))
    if hasattr(data_iter, "start_prefetch"):
        data_iter.start_prefetch()


def _legacy_position(step_path: str) -> dict[str, Any]:
    """The position stored by Grain's per-process item `data_iter` of older checkpoints: this process's
    file if the process count is the same, else process 0's (make_loader's positions are global)."""
    directory = os.path.join(step_path, "data_iter")
    own = os.path.join(directory, f"process_{jax.process_index()}-of-{jax.process_count()}.json")
    candidates = [own] if os.path.exists(own) else glob.glob(os.path.join(directory, "process_0-of-*.json"))
    if not candidates:
        raise FileNotFoundError(f"no data iterator position in {directory!r}")
    with open(candidates[0]) as file:
        text = file.read()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return {"encoded": text}


def _unrestorable(step: int, path: str, error: BaseException) -> UnrestorableCheckpointError:
    reason = _reason(error)
    return UnrestorableCheckpointError(
        f"the checkpoint of step {step} at {path!r} cannot be restored: {reason}", reason
    )


def _exists_for_every_process(directory: str) -> bool:
    """Whether `directory` exists, as process 0 sees it, on every process.

    Opening a checkpoint directory runs collectives; a process that looked a moment after another
    process's training created the directory would open it alone and put the processes' collectives
    out of step.
    """
    exists = os.path.isdir(directory)
    if jax.process_count() == 1:
        return exists
    return bool(multihost_utils.broadcast_one_to_all(np.int32(exists)))


def check_resume(directory: str | os.PathLike, config: Any) -> list[str]:
    """Before a run resumes from the checkpoints in `directory`: `check_resume_config` of the config
    stored in the newest one against `config` (a `ConfigDict` or mapping). Nothing to compare (no
    directory, no checkpoint, no stored config) returns []; changes allowed by
    `config.resume_despite_config_change` are logged as one warning line and returned."""
    directory = os.path.abspath(os.fspath(directory))
    if not _exists_for_every_process(directory):
        return []
    current = config.to_dict() if hasattr(config, "to_dict") else dict(config)
    checkpointer = Checkpointer(directory)
    try:
        stored = checkpointer.stored_config()
    finally:
        checkpointer.close()
    changes = check_resume_config(stored, current, where=directory)
    if changes:
        logging.warning(
            "resuming from %s despite config changes (%s=True): %s",
            directory,
            RESUME_OVERRIDE_FIELD,
            "; ".join(changes),
        )
    return changes
