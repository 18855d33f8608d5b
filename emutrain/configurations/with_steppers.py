"""A configuration together with the reference stepper and residuum function it is called with."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jax import Array

from emutrain.configurations._base import LossCall
from emutrain.configurations.chain import ChainDescription, CompositeChain
from emutrain.typing import Stepper

__all__ = ["WithSteppers"]


@dataclass(frozen=True)
class WithSteppers(LossCall):
    """``configuration`` with the ``ref_stepper`` and ``residuum_fn`` it needs, held instead of passed.

    Called as ``(stepper, data, *, key=None) -> scalar`` on a window batch ``data`` ``(B, W, *spatial,
    C)``, it is ``configuration(stepper, data, ref_stepper=ref_stepper, residuum_fn=residuum_fn, key=key)``,
    so whoever trains it (``emutrain.train.Trainer``) needs to know nothing of either. A ``RolloutCurriculum``
    takes it in place of a configuration. A ``ref_stepper`` or ``residuum_fn`` given at call replaces the
    held one.
    """

    configuration: Any
    ref_stepper: Stepper | None = None
    residuum_fn: Callable[[Any, Any], Any] | None = None

    def __post_init__(self) -> None:
        conf = self.configuration
        if not callable(conf) or not hasattr(conf, "required_window_length"):
            raise TypeError(f"configuration must be a configuration object, got {conf!r}")
        for name in ("ref_stepper", "residuum_fn"):
            if getattr(self, name) is not None and not callable(getattr(self, name)):
                raise TypeError(f"{name} must be callable or None, got {getattr(self, name)!r}")

    @property
    def required_window_length(self) -> int:
        return self.configuration.required_window_length

    @property
    def needs_ref_stepper(self) -> bool:
        return self.configuration.needs_ref_stepper

    @property
    def needs_residuum_fn(self) -> bool:
        return self.configuration.needs_residuum_fn

    def describe_chain(self) -> ChainDescription | CompositeChain:
        return self.configuration.describe_chain()

    def _loss(self, stepper: Stepper, data: Any, *, ref_stepper: Any, residuum_fn: Any, key: Any) -> Array:
        """Scalar loss of ``stepper`` on ``data`` ``(B, W, *spatial, C)``, with the held steppers."""
        return self.configuration(
            stepper,
            data,
            ref_stepper=self.ref_stepper if ref_stepper is None else ref_stepper,
            residuum_fn=self.residuum_fn if residuum_fn is None else residuum_fn,
            key=key,
        )
