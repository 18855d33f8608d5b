"""A workdir's step-keyed outputs rewound to the step a run (re)starts from, so that each step appears once.

A run killed after step `k` resumes from its last checkpoint `s <= k` and redoes steps `s+1..k`: the rows
and files those steps wrote before the kill describe a training that no longer exists. `rewind` removes
them before the resumed run writes anything: the rows with `step > s` of `<workdir>/metrics.jsonl`
(rewritten atomically; a torn last line of a killed writer goes too), and `eval/step_<N>.csv`,
`eval/step_<N>.npz` and `plots/<name>_step_<N>.png` with `N > s`, and the temporary directories
(`*.orbax-checkpoint-tmp*`) of checkpoint saves that never completed, which Orbax leaves after a kill or
a failed write. A resume that finds no `metrics.jsonl` says so in one warning line instead of starting a
history with a hole silently.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil

import jax
from absl import logging

from emutrain.train.writers import METRICS_FILE

__all__ = ["rewind"]

_STEP_FILES = {
    "eval": re.compile(r"step_(\d+)\.(?:csv|npz)(?:\.tmp)?"),
    "plots": re.compile(r".+_step_(\d+)\.png"),
}
"""The files of one step, by subdirectory of the workdir (`EvalHook`'s outputs)."""
_CHECKPOINT_TMP = ".orbax-checkpoint-tmp"
"""What Orbax appends to the name of a checkpoint directory until its save completes."""


def _rewind_metrics(path: str, step: int) -> int:
    """Keeps the records of `path` with `"step" <= step`; returns how many lines were dropped."""
    with open(path, encoding="utf-8") as file:
        lines = file.readlines()
    kept = []
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # the torn last line of a killed writer
        written_at = record.get("step", 0) if isinstance(record, dict) else 0
        if not isinstance(written_at, (int, float)) or written_at <= step:  # rows without a step stay
            kept.append(line if line.endswith("\n") else line + "\n")
    if len(kept) == len(lines):
        return 0
    temporary = f"{path}.tmp"
    with open(temporary, "w", encoding="utf-8") as file:
        file.writelines(kept)
    os.replace(temporary, path)
    return len(lines) - len(kept)


def _remove_step_files(workdir: str, step: int) -> list[str]:
    removed = []
    for subdir, pattern in _STEP_FILES.items():
        directory = os.path.join(workdir, subdir)
        names = os.listdir(directory) if os.path.isdir(directory) else []
        for name in sorted(names):
            match = pattern.fullmatch(name)
            if match and int(match.group(1)) > step:
                os.remove(os.path.join(directory, name))
                removed.append(os.path.join(subdir, name))
    return removed


def _remove_unfinished_checkpoints(directory: str) -> None:
    for path in sorted(glob.glob(os.path.join(glob.escape(directory), f"*{_CHECKPOINT_TMP}*"))):
        logging.warning("removing %s, left by a checkpoint save that did not complete", path)
        shutil.rmtree(path, ignore_errors=True)


def rewind(workdir: str | os.PathLike | None, step: int, *, metrics_jsonl: bool = True,
           checkpoint_dir: str | os.PathLike | None = None, process_index: int | None = None) -> None:
    """Removes what steps after `step` wrote to `workdir` and the unfinished saves in `checkpoint_dir`
    (see the module docstring; None: neither) on process 0 (`process_index`, default
    `jax.process_index()`); call it when a run (re)starts at `step`, before it writes and while no save
    is in flight. With `metrics_jsonl`, a missing `metrics.jsonl` when `step > 0` is a warning."""
    if (jax.process_index() if process_index is None else process_index) != 0:
        return
    if checkpoint_dir is not None and os.path.isdir(checkpoint_dir):
        _remove_unfinished_checkpoints(os.fspath(checkpoint_dir))
    if workdir is None:
        return
    workdir = os.fspath(workdir)
    path = os.path.join(workdir, METRICS_FILE)
    if os.path.exists(path):
        dropped = _rewind_metrics(path, step)
        if dropped:
            logging.info("%s: dropped %d rows after step %d, where this run resumes", path, dropped, step)
    elif metrics_jsonl and step > 0:
        logging.warning("%s is missing on resume from step %d: the history starts again at step %d", path,
                        step, step + 1)
    removed = _remove_step_files(workdir, step)
    if removed:
        logging.info("removed %d evaluation files of steps after %d in %s", len(removed), step, workdir)
