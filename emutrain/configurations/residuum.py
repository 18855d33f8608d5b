"""Residuum configuration: the loss reduces a residuum of consecutive network states, no reference states."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jax
from jax import Array

from emutrain.configurations.chain import ChainBuilder
from emutrain.configurations.supervised import FreeRollout
from emutrain.typing import Stepper

__all__ = ["Residuum"]


@dataclass(frozen=True)
class Residuum(FreeRollout):
    """Residuum-based rollout: only the initial condition is used.

    ``p = data[:, 0]``; for t in 0..R-1: ``n = f(p)``; ``L += w_t l(rho(n', p'))`` with ``n' =
    stop_gradient(n)`` if ``cut_next`` and ``p' = stop_gradient(p)`` if ``cut_prev``; then ``p = n`` with
    the cut rule of ``Supervised``. ``rho = residuum_fn`` receives batched states ``(B, *spatial, C)``
    and returns a batched residuum state; ``l`` reduces it (compared with zero). With
    ``rho(n, p) = n - P(p)`` this equals ``DivertedChainBranchOne`` in loss and gradient.
    """

    cut_prev: bool = field(default=False, kw_only=True)
    cut_next: bool = field(default=False, kw_only=True)
    needs_residuum_fn = True

    def _free_step(
        self, stepper: Stepper, p: Any, *, ref_stepper: Any, residuum_fn: Any
    ) -> tuple[Any, Array]:
        n = stepper(p)
        n_in = jax.lax.stop_gradient(n) if self.cut_next else n
        p_in = jax.lax.stop_gradient(p) if self.cut_prev else p
        return n, self.time_level_loss(residuum_fn(n_in, p_in))

    def _describe_chain(self, chain: ChainBuilder) -> None:
        levels = self._network_chain(chain)
        for t, weight in enumerate(self._level_weights()):
            chain.loss("residuum", levels[t + 1], levels[t], weight, cut=(self.cut_next, self.cut_prev))

    def _label_flags(self) -> list[str]:
        return [flag for flag in ("cut_prev", "cut_next") if getattr(self, flag)]
