"""Diverted-chain configurations: the reference stepper branches off the network's own main chain.

Only the initial condition of the window is used (``required_window_length == 1``); the targets are made
on the fly by the (differentiable) reference stepper P.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import jax
import numpy as np
from jax import Array

from emutrain.configurations._base import Configuration, as_weights, cut_where, weight_array
from emutrain.configurations.chain import ChainBuilder
from emutrain.configurations.supervised import FreeRollout, accumulate, zero_loss
from emutrain.typing import Stepper
from emutrain.validation import check_int

__all__ = ["DivertedChainBranchOne", "DivertedChain"]


def describe_branches(
    conf: Configuration,
    chain: ChainBuilder,
    num_branch: int,
    branch_weights: Sequence[float],
    cut_div_chain: bool,
) -> None:
    """The network main chain with reference branches of ``num_branch`` steps from each level t <= R-B.

    Branch t runs on lane ``1 + t % B`` (overlapping branches on different lanes) and compares the main
    chain with its states at levels t+1..t+B. The network side of a branch recomputes exactly the main
    chain's states, with the same cuts (both follow ``cut_mask`` by level), so it is described by them.
    A cut branch start (``cut_div_chain``, or a main-chain state already cut) is a cut on the first
    reference step's input: ``sg(P(u))`` and ``P(sg(u))`` carry the same (zero) gradient into u.
    """
    levels = conf._network_chain(chain)
    cut = conf.cut_mask(np.arange(conf.num_rollout_steps))
    for t, start_weight in enumerate(conf._level_weights()):
        lane, previous = 1 + t % num_branch, levels[t]
        for b, branch_weight in enumerate(branch_weights):
            state = chain.node(t + b + 1, lane, "reference")
            start_cut = b == 0 and (cut_div_chain or (t > 0 and bool(cut[t - 1])))
            chain.step(previous, state, "reference", cut=start_cut)
            chain.loss("pair", levels[t + b + 1], state, start_weight * branch_weight)
            previous = state


@dataclass(frozen=True)
class DivertedChainBranchOne(FreeRollout):
    """One-step branches of the reference stepper off the network chain.

    ``u = data[:, 0]``; for t in 0..R-1: ``r = P(u)`` (stop_gradient if ``cut_div_chain``); ``u = f(u)``;
    ``L += w_t l(u, r)``; the cut rule of ``Supervised`` on u.
    """

    cut_div_chain: bool = field(default=False, kw_only=True)
    needs_ref_stepper = True

    def _free_step(
        self, stepper: Stepper, u: Any, *, ref_stepper: Any, residuum_fn: Any
    ) -> tuple[Any, Array]:
        r = ref_stepper(u)
        if self.cut_div_chain:
            r = jax.lax.stop_gradient(r)
        u = stepper(u)
        return u, self.time_level_loss(u, r)

    def _describe_chain(self, chain: ChainBuilder) -> None:
        describe_branches(self, chain, 1, (1.0,), self.cut_div_chain)

    def _label_flags(self) -> list[str]:
        return ["cut_div_chain"] if self.cut_div_chain else []


@dataclass(frozen=True)
class DivertedChain(Configuration):
    """Branches of ``num_branch_steps`` (B) reference steps off the network main chain.

    For each branch start t in 0..R-B from the main-chain state m: ``p = q = m`` (q under stop_gradient if
    ``cut_div_chain``); for b in 0..B-1: ``p = f(p)``, ``q = P(q)``, ``L_b += v_b l(p, q)``, p cut if
    ``cut_bptt and (t+b+1) % cut_bptt_every == 0``; ``L += w_t L_b``; then ``m = f(m)`` with the cut rule
    of ``Supervised``. ``time_level_weights`` has R-B+1 entries (one per branch start),
    ``branch_level_weights`` B entries. ``DivertedChain(R, 1) == DivertedChainBranchOne(R)`` and
    ``DivertedChain(R, R) == Supervised(R)`` on data made by P.
    """

    num_branch_steps: int
    cut_div_chain: bool = field(default=False, kw_only=True)
    branch_level_weights: Sequence[float] | None = field(default=None, kw_only=True)
    needs_ref_stepper = True
    reads_targets = False

    def _validate(self) -> None:
        check_int("num_branch_steps", self.num_branch_steps, minimum=1)
        if self.num_branch_steps > self.num_rollout_steps:
            raise ValueError(
                f"num_branch_steps must be <= num_rollout_steps={self.num_rollout_steps}, "
                f"got {self.num_branch_steps}"
            )
        weights = as_weights("branch_level_weights", self.branch_level_weights, self.num_branch_steps)
        object.__setattr__(self, "branch_level_weights", weights)

    @property
    def num_time_levels(self) -> int:
        return self.num_rollout_steps - self.num_branch_steps + 1

    def _loss(self, stepper: Stepper, data: Any, *, ref_stepper: Any, residuum_fn: Any, key: Any) -> Array:
        num_starts, num_branch = self.num_time_levels, self.num_branch_steps
        branch_weights = weight_array(self.branch_level_weights, num_branch)
        branch_cut = self.cut_mask(np.arange(num_starts)[:, None] + np.arange(num_branch)[None, :])
        main_cut = self.cut_mask(np.arange(num_starts))
        any_branch_cut, any_main_cut = bool(branch_cut.any()), bool(main_cut.any())

        def branch(m: Any, cut_row: Any) -> Array:
            q0 = jax.lax.stop_gradient(m) if self.cut_div_chain else m

            def body(carry: tuple[Any, Any, Array], x: tuple[Array, Any]) -> tuple[Any, Any, Array]:
                p, q, loss = carry
                weight, cut_here = x
                p, q = stepper(p), ref_stepper(q)
                loss = accumulate(loss, weight, self.time_level_loss(p, q))
                if cut_here is not None:
                    p = cut_where(cut_here, p)
                return p, q, loss

            xs = (branch_weights, cut_row if any_branch_cut else None)
            return self.inner_scan_options.scan(body, (m, q0, zero_loss()), xs, num_branch)[2]

        def main_body(carry: tuple[Any, Array], x: tuple[Array, Array, Any]) -> tuple[Any, Array]:
            m, loss = carry
            weight, cut_row, cut_here = x
            loss = accumulate(loss, weight, branch(m, cut_row))
            m = stepper(m)
            if cut_here is not None:
                m = cut_where(cut_here, m)
            return m, loss

        weights = self.weights()
        m, loss = self.initial_condition(data, key), zero_loss()
        if num_starts > 1:
            # The last branch start needs no main-chain advance after it, so it runs outside the scan.
            main_cuts = jax.numpy.asarray(main_cut[:-1]) if any_main_cut else None
            xs = (weights[:-1], jax.numpy.asarray(branch_cut[:-1]), main_cuts)
            m, loss = self.scan_options.scan(main_body, (m, loss), xs, num_starts - 1)
        return accumulate(loss, weights[-1], branch(m, jax.numpy.asarray(branch_cut[-1])))

    def _describe_chain(self, chain: ChainBuilder) -> None:
        branch_weights = self.branch_level_weights or (1.0,) * self.num_branch_steps
        describe_branches(self, chain, self.num_branch_steps, branch_weights, self.cut_div_chain)

    def _label_sizes(self) -> list[str]:
        return [f"B={self.num_branch_steps}"]

    def _label_flags(self) -> list[str]:
        return ["cut_div_chain"] if self.cut_div_chain else []
