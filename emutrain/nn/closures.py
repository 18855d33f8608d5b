"""A network inside a solver: ``TendencyClosure(coarse, net)`` steps ``coarse(u, tendency=net)``, the
network's output an extra tendency at every substep of the solver (e.g.
``emutrain.physics.pyqg_bridge.QGStepper``'s PV tendency), ``(B, *spatial, C) -> (B, *spatial, C)``."""

from __future__ import annotations

from collections.abc import Callable

import jax
from flax import nnx

__all__ = ["TendencyClosure"]


class TendencyClosure(nnx.Module):
    """``coarse(u, tendency=net)``: ``coarse`` a hashable stepper taking a ``tendency`` callable."""

    def __init__(self, coarse: Callable, net: nnx.Module):
        self.coarse = nnx.static(coarse)
        self.net = net

    def __call__(self, u: jax.Array) -> jax.Array:
        return self.coarse(u, tendency=self.net)
