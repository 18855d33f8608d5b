"""Configurations that compare the network chain with stored reference levels of the window.

``Supervised`` (one-step and unrolled), ``TeacherForcing`` (chain reset to the reference every few steps)
and ``MixChainPostPhysics`` (the chain continues with the reference stepper after the network steps).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from emutrain.configurations._base import Configuration, add_noise, cut_where, time_slice
from emutrain.configurations.chain import ChainBuilder
from emutrain.typing import Stepper
from emutrain.validation import check_int

__all__ = ["Supervised", "TeacherForcing", "MixChainPostPhysics"]


def accumulate(loss: Array, weight: Array, value: Array) -> Array:
    """``loss + weight * value`` in the dtype of the running loss (keeps the scan carry dtype fixed)."""
    return loss + (weight * value).astype(loss.dtype)


def zero_loss() -> Array:
    return jnp.zeros((), dtype=jnp.result_type(float))


def network_chain(
    conf: Configuration,
    stepper: Stepper,
    u0: Any,
    targets: Any,
    weights: Array,
    inputs: Any = None,
    resets: np.ndarray | None = None,
) -> tuple[Any, Array]:
    """Scan ``u = f(u); L += w_t l(u, targets[t])`` with the configuration's cut rule.

    ``targets`` is time-major ``(R, B, *spatial, C)``. With ``resets`` (bool ``(R,)``), the chain is
    replaced by ``inputs[t]`` before step t where ``resets[t]``. Returns the final state and the loss.
    """
    num_steps = conf.num_rollout_steps
    cut = conf.cut_mask(np.arange(num_steps))
    xs = {
        "target": targets,
        "weight": weights,
        "cut": jnp.asarray(cut) if cut.any() else None,
        "input": inputs,
        "reset": None if resets is None else jnp.asarray(resets),
    }

    def body(carry: tuple[Any, Array], x: dict) -> tuple[Any, Array]:
        u, loss = carry
        if x["reset"] is not None:
            u = jax.tree.map(lambda ref, cur: jnp.where(x["reset"], ref, cur), x["input"], u)
        u = stepper(u)
        loss = accumulate(loss, x["weight"], conf.time_level_loss(u, x["target"]))
        if x["cut"] is not None:
            u = cut_where(x["cut"], u)
        return u, loss

    return conf.scan_options.scan(body, (u0, zero_loss()), xs, num_steps)


def describe_data_losses(conf: Configuration, chain: ChainBuilder, levels: list[int]) -> None:
    """Each chain state ``levels[t]`` (t >= 1) compared with the stored level t on lane -1."""
    for t, weight in enumerate(conf._level_weights(), start=1):
        chain.loss("pair", levels[t], chain.node(t, -1, "data"), weight)


@dataclass(frozen=True)
class Supervised(Configuration):
    """Unrolled supervised training against the stored trajectory (one-step for R = 1).

    ``u = data[:, 0]``; for t in 0..R-1: ``u = f(u)``; ``L += w_t l(u, data[:, t+1])``; the chain is cut
    after step t if ``cut_bptt and (t+1) % cut_bptt_every == 0``. Needs windows of length >= R+1.
    """

    def _loss(self, stepper: Stepper, data: Any, *, ref_stepper: Any, residuum_fn: Any, key: Any) -> Array:
        targets = time_slice(data, 1, self.num_rollout_steps + 1)
        _, loss = network_chain(self, stepper, self.initial_condition(data, key), targets, self.weights())
        return loss

    def _describe_chain(self, chain: ChainBuilder) -> None:
        describe_data_losses(self, chain, self._network_chain(chain))


@dataclass(frozen=True)
class TeacherForcing(Configuration):
    """Supervised rollout whose chain is reset to the reference state every ``reset_every`` steps.

    Before step t with ``t % reset_every == 0`` the chain state becomes ``data[:, t]`` (plus input noise);
    then ``u = f(u)``, ``L += w_t l(u, data[:, t+1])`` and the cut rule as in ``Supervised``.
    ``reset_every=1`` is one-step training on every level; ``reset_every >= R`` is ``Supervised(R)``.
    """

    reset_every: int = field(default=1, kw_only=True)

    def _validate(self) -> None:
        check_int("reset_every", self.reset_every, minimum=1)

    def _loss(self, stepper: Stepper, data: Any, *, ref_stepper: Any, residuum_fn: Any, key: Any) -> Array:
        num_steps = self.num_rollout_steps
        inputs = add_noise(time_slice(data, 0, num_steps), self.input_noise_std, key)
        resets = np.arange(num_steps) % self.reset_every == 0
        u0 = jax.tree.map(lambda x: x[0], inputs)
        targets = time_slice(data, 1, num_steps + 1)
        _, loss = network_chain(self, stepper, u0, targets, self.weights(), inputs=inputs, resets=resets)
        return loss

    def _describe_chain(self, chain: ChainBuilder) -> None:
        # After a reset the next network step starts from the stored level, which is also that level's
        # loss target; the network state it replaces still enters the loss.
        cut = self.cut_mask(np.arange(self.num_rollout_steps))
        levels = [chain.node(0, 0, "data")]
        for t in range(self.num_rollout_steps):
            reset = t > 0 and t % self.reset_every == 0
            start = chain.node(t, -1, "data") if reset else levels[t]
            levels.append(chain.node(t + 1, 0, "network"))
            chain.step(start, levels[t + 1], "network", cut=not reset and t > 0 and bool(cut[t - 1]))
        describe_data_losses(self, chain, levels)

    def _label_sizes(self) -> list[str]:
        return [f"reset every {self.reset_every}"]


@dataclass(frozen=True)
class MixChainPostPhysics(Configuration):
    """Supervised for R network steps, then ``num_post_physics_steps`` steps of the reference stepper.

    The physics steps continue the network chain (never cut; gradients flow through the reference stepper)
    and each of them is compared with the data: ``L += w_{R+j} l(P^{j+1}(u_R), data[:, R+j+1])``.
    Windows need length >= R + num_post_physics_steps + 1; ``time_level_weights`` has R +
    num_post_physics_steps entries.
    """

    num_post_physics_steps: int
    needs_ref_stepper = True

    def _validate(self) -> None:
        check_int("num_post_physics_steps", self.num_post_physics_steps, minimum=1)

    @property
    def num_time_levels(self) -> int:
        return self.num_rollout_steps + self.num_post_physics_steps

    def _loss(self, stepper: Stepper, data: Any, *, ref_stepper: Any, residuum_fn: Any, key: Any) -> Array:
        num_steps = self.num_rollout_steps
        weights = self.weights()
        targets = time_slice(data, 1, num_steps + 1)
        u, loss = network_chain(
            self, stepper, self.initial_condition(data, key), targets, weights[:num_steps]
        )

        def physics_body(carry: tuple[Any, Array], x: tuple[Any, Array]) -> tuple[Any, Array]:
            state, total = carry
            target, weight = x
            state = ref_stepper(state)
            return state, accumulate(total, weight, self.time_level_loss(state, target))

        post_targets = time_slice(data, num_steps + 1, num_steps + 1 + self.num_post_physics_steps)
        xs = (post_targets, weights[num_steps:])
        _, loss = self.inner_scan_options.scan(physics_body, (u, loss), xs, self.num_post_physics_steps)
        return loss

    def _describe_chain(self, chain: ChainBuilder) -> None:
        levels = self._network_chain(chain)
        cut_last = bool(self.cut_mask(self.num_rollout_steps - 1))
        for j in range(self.num_post_physics_steps):
            level = self.num_rollout_steps + j + 1
            levels.append(chain.node(level, 0, "reference"))
            chain.step(levels[level - 1], levels[level], "reference", cut=j == 0 and cut_last)
        describe_data_losses(self, chain, levels)

    def _label_sizes(self) -> list[str]:
        return [f"P={self.num_post_physics_steps}"]


@dataclass(frozen=True)
class FreeRollout(Configuration):
    """Base of the configurations that read only the initial condition of the window and make their own
    targets: ``L = sum_t w_t l_t`` over R steps ``u, l_t = _free_step(stepper, u, ...)`` from
    ``data[:, 0]``, with the cut rule of ``Supervised`` on ``u``."""

    reads_targets = False

    def _free_step(
        self, stepper: Stepper, u: Any, *, ref_stepper: Any, residuum_fn: Any
    ) -> tuple[Any, Array]:
        """The next state and the loss term of this step."""
        raise NotImplementedError

    def _loss(self, stepper: Stepper, data: Any, *, ref_stepper: Any, residuum_fn: Any, key: Any) -> Array:
        cut = self.cut_mask(np.arange(self.num_rollout_steps))
        xs = (self.weights(), jnp.asarray(cut) if cut.any() else None)

        def body(carry: tuple[Any, Array], x: tuple[Array, Any]) -> tuple[Any, Array]:
            u, loss = carry
            weight, cut_here = x
            u, value = self._free_step(stepper, u, ref_stepper=ref_stepper, residuum_fn=residuum_fn)
            loss = accumulate(loss, weight, value)
            if cut_here is not None:
                u = cut_where(cut_here, u)
            return u, loss

        u0 = self.initial_condition(data, key)
        return self.scan_options.scan(body, (u0, zero_loss()), xs, self.num_rollout_steps)[1]
