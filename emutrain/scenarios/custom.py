"""Custom learning problems beside APEBench's: ``register(name, factory)`` makes ``make(name, **overrides)``
return ``factory(**overrides)``, so an experiment config (``config.scenario.name``) trains on it like on
any APEBench scenario, from a notebook or from the command line.

The factory returns a scenario-like object: the attributes that ``emutrain.experiment``, the schema's
checks and the dataset code read (``name``, ``num_spatial_dims``, ``num_points``, ``num_channels``,
``reference_stepper()``, ``coarse_stepper()``, ``trajectories(split, ...)``, ``split_settings(split)``,
``dataset(root, ...)``, ``to_dict()``, the split sizes, horizons and seeds, ``optim_config``,
``batch_size``, ``record_loss_every``, ``num_training_steps``). :class:`CustomScenario` provides all of
them for a frozen dataclass that implements ``reference_stepper()`` and ``generate(split)`` (and
``coarse_stepper()`` for correction tasks)::

    @dataclasses.dataclass(frozen=True)
    class MyAdvection(CustomScenario):
        name: str = "my_advection"
        velocity: float = 0.5

        def reference_stepper(self):
            return emutrain.physics.UpwindAdvection(1, 1.0, self.num_points, 0.1, velocity=self.velocity)

        def generate(self, split):
            ...  # (S, T+1, N, 1) of the split's sizes, horizon and seed

    emutrain.scenarios.register("my_advection", MyAdvection)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from emutrain.validation import check_int

__all__ = ["CustomScenario", "SPLIT_FIELDS", "ScenarioBase", "make", "register", "registered"]

_FACTORIES: dict[str, Callable[..., Any]] = {}

SPLIT_FIELDS = {
    "train": ("num_train_samples", "train_temporal_horizon", "train_seed"),
    "test": ("num_test_samples", "test_temporal_horizon", "test_seed"),
}
"""The fields of each split that every scenario has: its sample count, temporal horizon and seed."""


class ScenarioBase:
    """What every scenario (a frozen dataclass) builds on its fields and ``trajectories(split, ...)``: the
    settings of each split (the fields named in :data:`SPLIT_FIELDS`), the trajectories of each split,
    its dataset on disk and its fields as a dict."""

    def split_settings(self, split: str) -> tuple[int, int, int]:
        """``(num_samples, temporal_horizon, seed)`` of ``split`` (``"train"`` or ``"test"``)."""
        if split not in SPLIT_FIELDS:
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        num_samples, horizon, seed = (getattr(self, field) for field in SPLIT_FIELDS[split])
        return num_samples, horizon, seed

    def to_dict(self) -> dict[str, Any]:
        """Field name -> value, without ``name`` (JSON-friendly: tuples stay tuples)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "name"}

    def train_trajectories(self, **kwargs: Any) -> np.ndarray:
        """``trajectories("train")``: ``(num_train_samples, train_temporal_horizon + 1, *spatial, C)``."""
        return self.trajectories("train", **kwargs)

    def test_trajectories(self, **kwargs: Any) -> np.ndarray:
        """``trajectories("test")``: ``(num_test_samples, test_temporal_horizon + 1, *spatial, C)``."""
        return self.trajectories("test", **kwargs)

    def dataset(self, workdir: Any, **kwargs: Any) -> Any:
        """Trajectories on disk under ``workdir``, generated once; see :func:`emutrain.scenarios.dataset`."""
        from emutrain.scenarios._dataset import dataset

        return dataset(self, workdir, **kwargs)


def register(name: str, factory: Callable[..., Any], *, replace: bool = False) -> None:
    """Makes ``emutrain.scenarios.make(name, **overrides)`` return ``factory(**overrides)``.

    Raises:
      TypeError: ``name`` is not a non-empty str or ``factory`` is not callable.
      ValueError: ``name`` is registered already (unless ``replace``).
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a non-empty str, got {name!r}")
    if not callable(factory):
        raise TypeError(f"factory must be callable (overrides -> scenario), got {factory!r}")
    if name in _FACTORIES and not replace:
        raise ValueError(f"name {name!r} is registered already; pass replace=True to replace it")
    _FACTORIES[name] = factory


def registered() -> tuple[str, ...]:
    """The names of the registered custom problems (sorted)."""
    return tuple(sorted(_FACTORIES))


def make(name: str, **overrides: Any) -> Any:
    """``factory(**overrides)`` of the custom problem ``name``; an unknown field raises ValueError listing
    the valid ones (for dataclass factories).

    Raises:
      ValueError: ``name`` is not registered, or the factory refuses an override.
    """
    if name not in _FACTORIES:
        raise ValueError(f"name must be one of the registered custom problems {registered()}, got {name!r}")
    factory = _FACTORIES[name]
    if dataclasses.is_dataclass(factory):
        fields = [f.name for f in dataclasses.fields(factory) if f.name != "name"]
        unknown = sorted(set(overrides) - set(fields))
        if unknown:
            raise ValueError(
                f"unknown field(s) {unknown} for scenario {name!r}; valid fields: {tuple(fields)}"
            )
    scenario = factory(**overrides)
    if getattr(scenario, "name", None) != name:
        raise ValueError(f"factory of {name!r} must return a scenario named {name!r}, got {scenario!r}")
    return scenario


@dataclasses.dataclass(frozen=True)
class CustomScenario(ScenarioBase):
    """Base of custom problems: the fields every scenario has (sizes, seeds, training defaults) and the
    methods built on ``generate(split)``; subclasses add their own fields (JSON-friendly values, so that
    every one is a ``config.scenario.overrides`` entry)."""

    name: str = "custom"
    num_spatial_dims: int = 1
    num_points: int = 32
    num_channels: int = 1
    num_train_samples: int = 20
    train_temporal_horizon: int = 50
    train_seed: int = 0
    num_test_samples: int = 10
    test_temporal_horizon: int = 50
    test_seed: int = 1
    optim_config: str = "adam;1_000;constant;1e-3"
    batch_size: int = 32
    record_loss_every: int = 100
    boundary_mode: str = "periodic"  # of the networks trained on it (emutrain.nn.from_spec)

    def __post_init__(self) -> None:
        check_int("num_spatial_dims", self.num_spatial_dims, minimum=1, maximum=3)
        for field in ("num_points", "num_channels", "num_train_samples", "train_temporal_horizon",
                      "num_test_samples", "test_temporal_horizon", "batch_size", "record_loss_every"):
            check_int(field, getattr(self, field), minimum=1)

    # -- to implement ---------------------------------------------------------------------------------
    def reference_stepper(self) -> Callable:
        """The solver of the data, ``(..., *spatial, C) -> (..., *spatial, C)``."""
        raise NotImplementedError(f"scenario {self.name!r} must implement reference_stepper()")

    def coarse_stepper(self) -> Callable:
        """The coarse solver that correction tasks (``correct;MODE``) correct."""
        raise NotImplementedError(f"scenario {self.name!r} has no coarse stepper")

    def generate(self, split: str) -> np.ndarray:
        """Every trajectory of ``split``, ``(S, T+1, *spatial, C)`` of ``split_settings(split)``."""
        raise NotImplementedError(f"scenario {self.name!r} must implement generate(split)")

    # -- provided -------------------------------------------------------------------------------------
    def replace(self, **overrides: Any) -> CustomScenario:
        return dataclasses.replace(self, **overrides)

    @property
    def num_training_steps(self) -> int:
        """NUM_STEPS of ``optim_config``."""
        return int(self.optim_config.split(";")[1].replace("_", ""))

    def trajectories(
        self, split: str, *, sample_range: tuple[int, int] | None = None, chunk_size: int = 64, **_: Any
    ) -> np.ndarray:
        """The trajectories of ``split`` (samples ``sample_range``), ``(S, T+1, *spatial, C)`` float32."""
        trajectories = np.asarray(self.generate(split), dtype=np.float32)
        num_samples, horizon, _ = self.split_settings(split)
        spatial = (self.num_points,) * self.num_spatial_dims
        expected = (num_samples, horizon + 1, *spatial, self.num_channels)
        if trajectories.shape != expected:
            raise ValueError(
                f"generate({split!r}) of {self.name!r} must return {expected}, got {trajectories.shape}"
            )
        return trajectories if sample_range is None else trajectories[slice(*sample_range)]

