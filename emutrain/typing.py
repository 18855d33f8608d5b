"""The types every layer shares. This module and `emutrain.validation` form the base layer: they
import nothing of emutrain, and every package (physics included) may import them."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

__all__ = ["Stepper", "PyTree"]

PyTree = Any
"""A nested structure of arrays (a state, a window batch or a train state)."""


@runtime_checkable
class Stepper(Protocol):
    """Anything that maps a batched state to the next one: `(B, *spatial, C) -> (B, *spatial, C)`.

    An NNX module, a physics stepper and a plain function all qualify. Configurations and rollouts call
    it on whole batches and never vmap it; physics steppers accept any number of leading batch axes.
    """

    def __call__(self, state: Any, /) -> Any: ...
