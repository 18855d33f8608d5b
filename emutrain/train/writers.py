"""Metric writers (CLU's `MetricWriter` method set, none of them imports TensorFlow) and workdir outputs.

- `make_writer`: TensorBoard event files plus a log line per scalar write on process 0
  (`emutrain.train.tensorboard.TensorBoardWriter`), or log lines only; optionally every scalar also goes to
  `<workdir>/metrics.jsonl` (`JsonlWriter`). Other processes get a writer that writes nothing.
- `write_config_json`: the resolved config as `<workdir>/config.json`.
- `member_scalars`, `split_eval_results`: turn metric and evaluation outputs into what the writers take.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np
from absl import logging

from emutrain.train.tensorboard import TensorBoardWriter, format_scalars, to_scalars

METRICS_FILE = "metrics.jsonl"
CONFIG_FILE = "config.json"


class LogWriter:
    """Writes scalars as one absl log line per call (if `log_scalars`) and drops everything else; with
    `log_scalars=False` it writes nothing (the writer of processes other than 0)."""

    def __init__(self, *, log_scalars: bool = True):
        self.log_scalars = log_scalars

    def write_summaries(self, step: int, values: Mapping[str, Any], metadata: Any = None) -> None:
        del step, values, metadata

    def write_scalars(self, step: int, scalars: Mapping[str, Any]) -> None:
        if self.log_scalars and scalars:
            logging.info("%s", format_scalars(step, to_scalars(scalars)))

    def write_images(self, step: int, images: Mapping[str, Any]) -> None:
        del step, images

    def write_histograms(self, step: int, arrays: Mapping[str, Any], num_buckets: Any = None) -> None:
        del step, arrays, num_buckets

    def write_texts(self, step: int, texts: Mapping[str, str]) -> None:
        del step, texts

    def write_hparams(self, hparams: Mapping[str, Any]) -> None:
        del hparams

    def write_videos(self, step: int, videos: Mapping[str, Any]) -> None:
        del step, videos

    def write_audios(self, step: int, audios: Mapping[str, Any], *, sample_rate: int) -> None:
        del step, audios, sample_rate

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


class JsonlWriter:
    """Wraps a writer and also appends each `write_scalars` call to `path` as one JSON line
    `{"step": s, "wall_time": t, name: value, ...}` (seconds since the epoch; NaN and infinities as
    Python's `json` writes them). The file is appended to, so a resumed run continues it (`Trainer.fit`
    first drops the rows of steps after the one it resumes from: `emutrain.train.history.rewind`); each
    line is flushed at once. Every other method is passed through."""

    def __init__(self, writer: Any, path: str | os.PathLike):
        self.writer = writer
        self.path = os.fspath(path)
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8")

    def write_scalars(self, step: int, scalars: Mapping[str, Any]) -> None:
        values = to_scalars(scalars)
        reserved = {"step", "wall_time"} & values.keys()
        if reserved:
            raise ValueError(f"scalar names {sorted(reserved)} are reserved in {self.path}")
        self.writer.write_scalars(step, values)
        if values:
            self._file.write(json.dumps({"step": int(step), "wall_time": time.time(), **values}) + "\n")
            self._file.flush()

    def flush(self) -> None:
        self.writer.flush()
        self._file.flush()

    def close(self) -> None:
        self.writer.close()
        self._file.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.writer, name)


def read_metrics_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of a `metrics.jsonl` file, in order; a ValueError names the file and line of a bad one."""
    records = []
    with open(path, encoding="utf-8") as file:
        for number, line in enumerate(file, start=1):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise ValueError(f"invalid JSON in {os.fspath(path)} line {number}: {error}") from error
    return records


def make_writer(
    workdir: str | os.PathLike | None,
    *,
    tensorboard: bool,
    metrics_jsonl: bool = False,
    process_index: int | None = None,
    log_scalars: bool = True,
) -> Any:
    """The metric writer of a run (all of CLU's `MetricWriter` methods).

    On process 0: a `TensorBoardWriter` with its event files in `workdir` (scalars also logged if
    `log_scalars`) if
    `tensorboard` and `workdir`, else a `LogWriter`; wrapped in a `JsonlWriter` appending to
    `<workdir>/metrics.jsonl` if `metrics_jsonl` and `workdir`. On other processes a writer that writes
    nothing. `process_index` defaults to `jax.process_index()`.
    """
    if (jax.process_index() if process_index is None else process_index) != 0:
        return LogWriter(log_scalars=False)
    if tensorboard and workdir is not None:
        writer = TensorBoardWriter(workdir, log_scalars=log_scalars)
    else:
        writer = LogWriter(log_scalars=log_scalars)
    if metrics_jsonl and workdir is not None:
        writer = JsonlWriter(writer, os.path.join(os.fspath(workdir), METRICS_FILE))
    return writer


def _to_json(value: Any) -> Any:
    if hasattr(value, "to_dict"):  # ml_collections ConfigDict / FrozenConfigDict
        value = value.to_dict()
    if isinstance(value, Mapping):
        return {str(k): _to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    if isinstance(value, np.ndarray):
        return _to_json(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    return str(value)  # e.g. a callable or dtype in a config: its name, so the file stays valid JSON


def write_config_json(
    workdir: str | os.PathLike, config: Any, *, process_index: int | None = None
) -> str | None:
    """Writes the resolved `config` (a ConfigDict or mapping) as `<workdir>/config.json` on process 0 and
    returns its path (None elsewhere). Tuples become lists, numpy values Python numbers, non-finite floats
    and other objects their `str`; references are resolved because `ConfigDict.to_dict` resolves them."""
    if (jax.process_index() if process_index is None else process_index) != 0:
        return None
    os.makedirs(workdir, exist_ok=True)
    path = os.path.join(os.fspath(workdir), CONFIG_FILE)
    temporary = f"{path}.tmp-{os.getpid()}"  # its own name: several study workers write one config.json
    with open(temporary, "w", encoding="utf-8") as file:
        json.dump(_to_json(config), file, indent=2)
        file.write("\n")
    os.replace(temporary, path)  # never a half-written config.json next to a crashed run
    return path


def member_scalars(values: Mapping[str, Any]) -> dict[str, float]:
    """Scalars to write from metric values that are scalars or one value per ensemble member `(N,)`:
    a member array `name` is written as its mean under `name` and member i's value under
    `name/member_i` (TensorBoard groups them by the prefix)."""
    scalars = {}
    for name, value in values.items():
        value = np.asarray(jax.device_get(value))
        if value.ndim not in (0, 1):
            raise ValueError(f"metric {name} must be a scalar or (num_members,), got shape {value.shape}")
        scalars[name] = float(value.mean())
        if value.ndim == 1:
            scalars.update({f"{name}/member_{i}": float(v) for i, v in enumerate(value)})
    return scalars


def split_eval_results(results: Mapping[str, Any]) -> tuple[dict, dict, dict]:
    """Sorts evaluation outputs into scalars (numbers, 0-d arrays), images (`(H, W, C)` or
    `(N, H, W, C)` arrays, written as `(N, H, W, C)`) and other arrays (e.g. an nRMSE curve `(H,)`)."""
    scalars, images, arrays = {}, {}, {}
    for name, value in results.items():
        value = np.asarray(jax.device_get(value))
        if value.ndim == 0:
            scalars[name] = value.item()
        elif value.ndim == 3:
            images[name] = value[None]
        elif value.ndim == 4:
            images[name] = value
        else:
            arrays[name] = value
    return scalars, images, arrays
