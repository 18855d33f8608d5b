"""Metric writers: CLU's TensorBoard + log writer, or a log-only writer that does not import TensorFlow."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np
from absl import logging


class LogWriter:
    """Writes scalars to the absl log only (the subset of CLU's `MetricWriter` the Trainer uses)."""

    def write_scalars(self, step: int, scalars: Mapping[str, Any]) -> None:
        if scalars:
            text = ", ".join(f"{k}={float(v):.6g}" for k, v in sorted(scalars.items()))
            logging.info("[%d] %s", step, text)

    def write_images(self, step: int, images: Mapping[str, Any]) -> None:
        del step, images

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def make_writer(workdir: str | os.PathLike | None, *, tensorboard: bool) -> Any:
    """`clu.metric_writers.create_default_writer` (TensorBoard events in `workdir` + log; log only on
    processes other than 0) if `tensorboard` and `workdir`, else a `LogWriter`."""
    if tensorboard and workdir is not None:
        from clu import metric_writers  # imports TensorFlow: only when TensorBoard output is wanted

        return metric_writers.create_default_writer(
            os.fspath(workdir), just_logging=jax.process_index() > 0, asynchronous=True
        )
    return LogWriter()


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
