"""A public dataset on disk (The Well or PDEBench) as the problem of an experiment config.

`PublicDataset.from_config(config)` reads the metadata of `config.dataset` (files, grid, fields, trajectory
lengths; no field data) and answers what a scenario answers for building and resolving a run: the grid
and channels the network is built for, the trajectory horizons the method and the evaluation are checked
against, and the defaults of the fields a config leaves None (batch size, number of steps, optimizer).
It has no solver: a run on it predicts (`config.task = "predict"`) with methods that need no reference
stepper. Its windows are streamed from HDF5 (`emutrain.data.WellWindows`, `emutrain.data.PDEBenchWindows`).
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Any

import numpy as np

from emutrain import data
from emutrain.data.well_format import read_well_layout

__all__ = ["DATASET_KINDS", "EVAL_SPLITS", "PUBLIC_KINDS", "PublicDataset", "is_public", "parse_dataset"]

PUBLIC_KINDS = ("well", "pdebench")
DATASET_KINDS = ("scenario", *PUBLIC_KINDS)
EVAL_SPLITS = {"well": ("test", "valid"), "pdebench": ("test",)}
BATCH_SIZE = 16
NUM_TRAINING_STEPS = 10_000
OPTIM_CONFIG = "adam;10_000;warmup_cosine;0.0;1e-3;2_000"
RECORD_LOSS_EVERY = 100


def is_public(config: Any) -> bool:
    """Whether `config.dataset.kind` names a public dataset rather than the scenario's data."""
    return config.dataset.kind in PUBLIC_KINDS


def parse_dataset(spec: str) -> tuple[str, str, list[str]] | None:
    """A public dataset spelled ``KIND,PATH[,...]`` (``KIND`` one of `PUBLIC_KINDS`), as
    ``(kind, path, [the tokens after the path])``; None when ``spec`` names no public dataset (its first
    comma-separated token is not a kind, e.g. a scenario name). `configs/dataset.py`'s variants and a
    study's `scenarios` entries are read with it.

    Raises:
      ValueError: ``spec`` starts with a kind but names no path.
    """
    tokens = [token.strip() for token in spec.split(",")]
    if tokens[0] not in PUBLIC_KINDS:
        return None
    if len(tokens) < 2 or not tokens[1]:
        raise ValueError(f"a {tokens[0]} dataset must be spelled '{tokens[0]},PATH', got {spec!r}")
    return tokens[0], tokens[1], [token for token in tokens[2:] if token]


def _fields(names: str | None) -> list[str] | None:
    return None if names is None else [name.strip() for name in names.split(",") if name.strip()]


@dataclasses.dataclass(frozen=True)
class PublicDataset:
    """The dataset of `config.dataset` (see the module docstring); `name` is its directory or file name.

    The horizons count steps of `dt_stride` snapshots: a trajectory of T+1 stored snapshots has
    `(T) // dt_stride` steps.
    """

    kind: str
    path: str
    dt_stride: int = 1
    normalization: str | None = None
    fields: str | None = None
    eval_split: str = "test"
    conditioning: bool = False

    batch_size = BATCH_SIZE
    num_training_steps = NUM_TRAINING_STEPS
    optim_config = OPTIM_CONFIG
    record_loss_every = RECORD_LOSS_EVERY

    @classmethod
    def from_config(cls, config: Any) -> PublicDataset:
        """The dataset of `config.dataset`; ValueError naming `config.dataset.path` when it is missing."""
        d = config.dataset
        if d.path is None:
            raise ValueError(
                f"config.dataset.path must be set with config.dataset.kind={d.kind!r}: the "
                + ("dataset directory (holding data/ and stats.yaml)" if d.kind == "well" else "HDF5 file")
            )
        path = os.path.abspath(os.path.expanduser(os.fspath(d.path)))
        exists = os.path.isdir(path) if d.kind == "well" else os.path.isfile(path)
        if not exists:
            what = "a directory" if d.kind == "well" else "a file"
            raise ValueError(f"config.dataset.path must be {what} of a {d.kind} dataset, got {d.path!r}")
        return cls(d.kind, path, d.dt_stride, d.normalization, d.fields, d.eval_split, d.conditioning)

    @property
    def name(self) -> str:
        return os.path.basename(self.path.rstrip(os.sep))

    def source(self, split: str, window_length: int) -> Any:
        """The Grain random-access source of the windows `(window_length, *spatial, C)` of `split`."""
        if self.kind == "well":
            return data.WellWindows(
                self.path, split, window_length=window_length, dt_stride=self.dt_stride,
                normalization=self.normalization, fields=_fields(self.fields), conditioning=self.conditioning,
            )
        # PDEBench's own split: the last tenth of the file's samples is the test split
        return data.PDEBenchWindows(self.path, split, window_length=window_length, dt_stride=self.dt_stride)

    @functools.cached_property
    def _train(self) -> Any:
        return self.source("train", 1)

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        return tuple(self._train.spatial_shape)

    @property
    def num_train_trajectories(self) -> int:
        source = self._train
        return source.num_trajectories if self.kind == "well" else len(source.samples)

    @property
    def num_spatial_dims(self) -> int:
        return len(self.spatial_shape)

    @property
    def num_points(self) -> tuple[int, ...]:
        """Points per spatial axis (a grid need not be square)."""
        return self.spatial_shape

    @property
    def num_channels(self) -> int:
        """The predicted channels ``C`` (`field_names`)."""
        return len(self.field_names)

    @property
    def num_conditioning_channels(self) -> int:
        """``K``: the channels after the predicted ones that condition every step (the Well's constant
        fields and scalars with `conditioning`), 0 without conditioning."""
        return len(self._train.conditioning_names) if self.conditioning else 0

    @property
    def field_names(self) -> list[str]:
        """Channel names: The Well's flattened field names, PDEBench's fields or `channel_<i>`."""
        source = self._train
        if self.kind == "well":
            return source.field_names
        if source.layout.kind == "fields":
            return list(source.layout.datasets)
        return [f"channel_{i}" for i in range(source.layout.num_channels)]

    @property
    def boundary_mode(self) -> str:
        """The networks' padding: ``"periodic"`` where every side is periodic (PDEBench's grids, and a Well
        dataset saying so), else ``"neumann"`` (edge padding for The Well's walls and open sides)."""
        if self.kind == "well" and self._train.boundary_mode != "periodic":
            return "neumann"
        return "periodic"

    def _num_snapshots(self, split: str) -> int:
        """Snapshots of the shortest trajectory of `split`."""
        source = self._train if split == "train" else self.source(split, 1)
        if self.kind == "well":
            return min(read_well_layout(path).num_steps for path in source.files)
        return source.layout.num_steps

    @property
    def train_temporal_horizon(self) -> int:
        """Steps of `dt_stride` snapshots in a train trajectory."""
        return (self._num_snapshots("train") - 1) // self.dt_stride

    @property
    def test_temporal_horizon(self) -> int:
        """Steps of `dt_stride` snapshots in a trajectory of the evaluation split."""
        return (self._num_snapshots(self.eval_split) - 1) // self.dt_stride

    def test_trajectories(self, num_steps: int, num_trajectories: int) -> np.ndarray:
        """The first `num_steps + 1` states of the first `num_trajectories` trajectories of the evaluation
        split, `(S, num_steps + 1, *spatial, C + K)` float32 (fewer trajectories when the split holds
        fewer; `K` the `num_conditioning_channels`)."""
        source = self.source(self.eval_split, num_steps + 1)
        indices = []
        for index in range(len(source)):
            if source.locate(index)[-1] == 0:  # a trajectory's first window starts at its first state
                indices.append(index)
                if len(indices) == num_trajectories:
                    break
        return source.read_batch(indices)
