"""Weighted sum of configurations evaluated on the same window batch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jax
from jax import Array

from emutrain.configurations._base import LossCall, as_weights, weight_array
from emutrain.configurations.chain import ChainDescription, CompositeChain
from emutrain.typing import Stepper
from emutrain.validation import check_floating

__all__ = ["Composite"]


@dataclass(frozen=True)
class Composite(LossCall):
    """``L = sum_i weights[i] * configurations[i](stepper, data, ...)`` (weights default to ones).

    Each configuration sees the same window batch, so it must hold the longest window any of them needs
    (``required_window_length`` is that maximum). A ``key`` is split into one key per configuration.
    """

    configurations: Sequence[Any]
    weights: Sequence[float] | None = None

    def __post_init__(self) -> None:
        configurations = tuple(self.configurations)
        if not configurations:
            raise ValueError("configurations must hold at least one configuration, got an empty sequence")
        for conf in configurations:
            if not callable(conf) or not hasattr(conf, "required_window_length"):
                raise TypeError(f"configurations must hold configuration objects, got {conf!r}")
        object.__setattr__(self, "configurations", configurations)
        object.__setattr__(self, "weights", as_weights("weights", self.weights, len(configurations)))

    @property
    def required_window_length(self) -> int:
        return max(conf.required_window_length for conf in self.configurations)

    @property
    def needs_ref_stepper(self) -> bool:
        return any(conf.needs_ref_stepper for conf in self.configurations)

    @property
    def needs_residuum_fn(self) -> bool:
        return any(conf.needs_residuum_fn for conf in self.configurations)

    def _check_call(self, stepper: Stepper, data: Any, ref_stepper: Any, residuum_fn: Any) -> None:
        for leaf in jax.tree.leaves(data):
            check_floating("data", leaf)

    def _loss(self, stepper: Stepper, data: Any, *, ref_stepper: Any, residuum_fn: Any, key: Any) -> Array:
        """Scalar weighted sum of the configurations' losses on ``data`` ``(B, W, *spatial, C)``."""
        num = len(self.configurations)
        keys = [None] * num if key is None else list(jax.random.split(key, num))
        weights = weight_array(self.weights, num)
        losses = [
            weights[i] * conf(stepper, data, ref_stepper=ref_stepper, residuum_fn=residuum_fn, key=keys[i])
            for i, conf in enumerate(self.configurations)
        ]
        return sum(losses[1:], losses[0])

    def describe_chain(self) -> CompositeChain:
        """Each part's chain with its weight; parts that are composites themselves are flattened (their
        weights multiply)."""
        parts: list[ChainDescription] = []
        weights: list[float] = []
        for weight, conf in zip(self.weights or (1.0,) * len(self.configurations), self.configurations):
            description = conf.describe_chain()
            if isinstance(description, CompositeChain):
                parts.extend(description.parts)
                weights.extend(weight * w for w in description.weights)
            else:
                parts.append(description)
                weights.append(weight)
        return CompositeChain("Composite", tuple(parts), tuple(weights))
