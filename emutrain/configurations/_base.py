"""Shared machinery of the configurations: options, validation, window access and the unrolled scan.

A configuration turns a stepper and a window batch into a scalar loss. Windows are ``(B, W, *spatial, C)``
(or pytrees whose leaves all have that layout); the state the stepper sees is ``data[:, t]``, i.e.
``(B, *spatial, C)`` (or the matching pytree).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import KW_ONLY, dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from emutrain.configurations.chain import ChainBuilder, ChainDescription
from emutrain.losses import MSELoss
from emutrain.typing import Stepper
from emutrain.validation import check_floating, check_int

State = Any
TimeLevelLoss = Callable[..., Array]


def as_weights(name: str, weights: Sequence[float] | None, length: int) -> tuple[float, ...] | None:
    """Concrete weights as a hashable tuple of floats, checked to have ``length`` entries."""
    if weights is None:
        return None
    values = np.asarray(weights, dtype=np.float64)
    if values.ndim != 1 or values.shape[0] != length:
        raise ValueError(f"{name} must have shape ({length},), got shape {values.shape}: {weights!r}")
    return tuple(float(v) for v in values)


def weight_array(weights: tuple[float, ...] | None, length: int) -> Array:
    """Weights as an array of the default float dtype (ones when not given)."""
    return jnp.asarray(np.ones(length) if weights is None else np.asarray(weights))


def window_length(data: Any) -> int:
    """Window length ``W`` of a window batch ``(B, W, *spatial, C)`` or a pytree of them."""
    leaves = jax.tree.leaves(data)
    if not leaves:
        raise ValueError(
            "data must contain at least one array of shape (B, W, *spatial, C), got an empty pytree"
        )
    shapes = [jnp.shape(leaf) for leaf in leaves]
    for shape in shapes:
        if len(shape) < 3:
            raise ValueError(f"data arrays must have shape (B, W, *spatial, C), got shape {shape}")
    if len({shape[:2] for shape in shapes}) != 1:
        raise ValueError(f"data arrays must share the leading (B, W) axes, got shapes {shapes}")
    return shapes[0][1]


def time_slice(data: Any, start: int, stop: int) -> Any:
    """Levels ``start..stop-1`` of the window, time-major: leaves ``(stop - start, B, *spatial, C)``."""
    return jax.tree.map(lambda x: jnp.swapaxes(x[:, start:stop], 0, 1), data)


def time_level(data: Any, t: int) -> Any:
    """State at level ``t``: leaves ``(B, *spatial, C)``."""
    return jax.tree.map(lambda x: x[:, t], data)


def cut_where(cut: Array | bool, state: State) -> State:
    """``stop_gradient(state)`` where ``cut`` is true; the value is unchanged either way."""
    return jax.tree.map(lambda x: jnp.where(cut, jax.lax.stop_gradient(x), x), state)


def add_noise(state: State, std: float, key: Array | None) -> State:
    """Add independent Gaussian noise of standard deviation ``std`` to every leaf (no-op for ``std == 0``)."""
    if std == 0:
        return state
    if key is None:
        raise ValueError(f"key must be given when input_noise_std > 0 (input_noise_std={std}), got None")
    leaves, treedef = jax.tree.flatten(state)
    keys = jax.random.split(key, len(leaves))
    noisy = [x + std * jax.random.normal(k, jnp.shape(x), jnp.result_type(x)) for k, x in zip(keys, leaves)]
    return jax.tree.unflatten(treedef, noisy)


def unrolled_scan(
    step: Callable[[Any, Any], tuple[Any, None]], carry: Any, xs: Any, length: int, unroll: int | bool
) -> Any:
    """Final carry of ``lax.scan(step, carry, xs, length, unroll=unroll)``.

    A full unroll (``True`` or ``unroll >= length``) is traced as a Python loop: ``lax.scan`` keeps a
    one-trip ``while`` loop around the unrolled body, and XLA:CPU runs convolutions inside it ~10x
    slower than straight-line code.
    """
    if unroll is True or (not isinstance(unroll, bool) and unroll >= length):
        for i in range(length):
            carry, _ = step(carry, jax.tree.map(lambda x: x[i], xs))
        return carry
    return jax.lax.scan(step, carry, xs, length=length, unroll=unroll)[0]


def resolve_unroll(unroll: int | bool | None) -> int | bool:
    """``unroll`` for ``lax.scan``; ``None`` picks by backend at trace time.

    XLA:CPU runs convolutions inside a rolled loop about 12x slower than unrolled, so the CPU default is a
    full unroll; on GPU/TPU a rolled loop (1) compiles in constant time at a small step-time cost.
    """
    if unroll is None:
        return True if jax.default_backend() == "cpu" else 1
    return unroll


@dataclass(frozen=True)
class ScanOptions:
    """How a rollout is unrolled: ``unroll`` for ``lax.scan``, ``remat`` per step, chunked checkpointing."""

    unroll: int | bool | None = None
    remat: bool = False
    checkpoint_chunk_size: int | str | None = None

    def chunk(self, length: int) -> int | None:
        if self.checkpoint_chunk_size is None:
            return None
        if self.checkpoint_chunk_size == "sqrt":
            return max(1, math.isqrt(length - 1) + 1) if length > 1 else 1
        return int(self.checkpoint_chunk_size)

    def scan(self, body: Callable[[Any, Any], Any], carry: Any, xs: Any, length: int) -> Any:
        """Run ``carry = body(carry, x)`` over the leading axis of ``xs`` and return the final carry.

        With a chunk size ``c``, the rollout is a scan over ``length // c`` chunks whose bodies are
        checkpointed (only chunk-boundary carries are stored; about ``sqrt(K)`` of them for
        ``c = sqrt(K)``), followed by the remaining ``length % c`` steps.
        """
        unroll = resolve_unroll(self.unroll)

        def step(c: Any, x: Any) -> tuple[Any, None]:
            return body(c, x), None

        if self.remat:
            step = jax.checkpoint(step)
        chunk = self.chunk(length)
        if chunk is None or chunk >= length:
            return unrolled_scan(step, carry, xs, length, unroll)
        num_chunks, rest = divmod(length, chunk)
        head = jax.tree.map(lambda x: x[: num_chunks * chunk].reshape(num_chunks, chunk, *x.shape[1:]), xs)

        @jax.checkpoint
        def chunk_step(c: Any, x: Any) -> tuple[Any, None]:
            return unrolled_scan(step, c, x, chunk, unroll), None

        carry = unrolled_scan(chunk_step, carry, head, num_chunks, unroll)
        if rest:
            tail = jax.tree.map(lambda x: x[num_chunks * chunk :], xs)
            carry = unrolled_scan(step, carry, tail, rest, unroll)
        return carry


class LossCall:
    """The call of every configuration object: ``(stepper, data, *, ref_stepper, residuum_fn, key)`` to a
    scalar loss. ``__call__`` checks the arguments with ``_check_call``, then returns ``_loss``."""

    def __call__(
        self,
        stepper: Stepper,
        data: Any,
        *,
        ref_stepper: Stepper | None = None,
        residuum_fn: Callable[[Any, Any], Any] | None = None,
        key: Array | None = None,
    ) -> Array:
        """Scalar loss of ``stepper`` on the window batch ``data`` ``(B, W, *spatial, C)``."""
        self._check_call(stepper, data, ref_stepper, residuum_fn)
        return self._loss(stepper, data, ref_stepper=ref_stepper, residuum_fn=residuum_fn, key=key)

    def _check_call(self, stepper: Stepper, data: Any, ref_stepper: Any, residuum_fn: Any) -> None:
        """Raise on arguments ``_loss`` cannot use; the base accepts all."""

    def _loss(self, stepper: Stepper, data: Any, *, ref_stepper: Any, residuum_fn: Any, key: Any) -> Array:
        raise NotImplementedError


@dataclass(frozen=True)
class Configuration(LossCall):
    """Base of the rollout configurations (docs/architecture.md, "Loss semantics").

    Args:
      num_rollout_steps: R >= 1, number of autoregressive network steps.
      time_level_loss: compares two states ``(B, *spatial, C)`` (or reduces one residuum state).
      time_level_weights: one weight per time level (default ones); the loss is the weighted *sum*.
      cut_bptt: stop the gradient through the chain after every ``cut_bptt_every``-th network step.
      cut_bptt_every: k >= 1.
      pushforward_steps: the first n network steps (n < R) run under stop_gradient: their outputs carry no
        gradient (their loss still enters the value; set their weights to zero for the pushforward trick of
        Brandstetter et al., 2022, "Message passing neural PDE solvers").
      input_noise_std: standard deviation of Gaussian noise added to the initial condition (and, for
        teacher forcing, to every reset state); needs ``key``.
      unroll: ``lax.scan`` unroll; None picks a full unroll on CPU and a rolled loop elsewhere.
      remat: checkpoint each step (recompute its activations in the backward pass).
      checkpoint_chunk_size: int c or ``"sqrt"``: checkpoint chunks of c steps of the main rollout.
    """

    num_rollout_steps: int
    _: KW_ONLY
    time_level_loss: TimeLevelLoss = MSELoss()
    time_level_weights: Sequence[float] | None = None
    cut_bptt: bool = False
    cut_bptt_every: int = 1
    pushforward_steps: int = 0
    input_noise_std: float = 0.0
    unroll: int | bool | None = None
    remat: bool = False
    checkpoint_chunk_size: int | str | None = None

    needs_ref_stepper = False
    needs_residuum_fn = False
    # Configurations that make their own targets read only the initial condition of the window.
    reads_targets = True

    def __post_init__(self) -> None:
        check_int("num_rollout_steps", self.num_rollout_steps, minimum=1)
        check_int("cut_bptt_every", self.cut_bptt_every, minimum=1)
        check_int("pushforward_steps", self.pushforward_steps, minimum=0)
        self._validate()
        if self.pushforward_steps >= self.num_rollout_steps:
            raise ValueError(
                f"pushforward_steps must be < num_rollout_steps={self.num_rollout_steps}, "
                f"got {self.pushforward_steps}"
            )
        if not self.input_noise_std >= 0:
            raise ValueError(f"input_noise_std must be >= 0, got {self.input_noise_std}")
        if isinstance(self.unroll, int) and not isinstance(self.unroll, bool) and self.unroll < 1:
            raise ValueError(f"unroll must be None, a bool or an int >= 1, got {self.unroll}")
        size = self.checkpoint_chunk_size
        if size is not None and size != "sqrt":
            check_int("checkpoint_chunk_size", size, minimum=1)
        object.__setattr__(
            self,
            "time_level_weights",
            as_weights("time_level_weights", self.time_level_weights, self.num_time_levels),
        )

    def _validate(self) -> None:
        """Subclass-specific checks, run before the weights are checked."""

    @property
    def num_time_levels(self) -> int:
        """Number of time levels the loss sums over (length of ``time_level_weights``)."""
        return self.num_rollout_steps

    @property
    def required_window_length(self) -> int:
        """Smallest window length ``W`` the data must have (``sub_trajectory_len``): one level per time
        level and the initial condition, or the initial condition alone without ``reads_targets``."""
        return self.num_time_levels + 1 if self.reads_targets else 1

    @property
    def scan_options(self) -> ScanOptions:
        return ScanOptions(self.unroll, self.remat, self.checkpoint_chunk_size)

    @property
    def inner_scan_options(self) -> ScanOptions:
        """Options for scans nested inside a (possibly chunked) main rollout: no further chunking."""
        return ScanOptions(self.unroll, False, None)

    def cut_mask(self, steps: np.ndarray | int) -> np.ndarray:
        """Whether the output of network step ``s`` (producing level s+1) is cut from the gradient."""
        s = np.asarray(steps)
        bptt = np.logical_and(self.cut_bptt, (s + 1) % self.cut_bptt_every == 0)
        return np.logical_or(bptt, s < self.pushforward_steps)

    def weights(self) -> Array:
        return weight_array(self.time_level_weights, self.num_time_levels)

    def _check_call(
        self, stepper: Stepper, data: Any, ref_stepper: Stepper | None, residuum_fn: Callable | None
    ) -> None:
        name = type(self).__name__
        num_spatial_dims = getattr(stepper, "num_spatial_dims", None)
        if isinstance(data, jax.Array | np.ndarray) and isinstance(num_spatial_dims, int):
            # a batch without its window axis would otherwise reach the stepper as a wrong-sized state
            expected = num_spatial_dims + 3
            if data.ndim != expected:
                raise ValueError(
                    f"data must have shape (B, W, *spatial, C) with {num_spatial_dims} spatial axes "
                    f"({expected} axes) for a stepper of num_spatial_dims={num_spatial_dims}, got shape "
                    f"{data.shape}"
                )
        if self.needs_ref_stepper and ref_stepper is None:
            raise ValueError(f"ref_stepper must be given for {name}, got None")
        if self.needs_residuum_fn and residuum_fn is None:
            raise ValueError(f"residuum_fn must be given for {name}, got None")
        w = window_length(data)
        for leaf in jax.tree.leaves(data):
            check_floating("data", leaf)
        if w < self.required_window_length:
            raise ValueError(
                f"data must have a window length (axis 1) >= {self.required_window_length} for {name}"
                f"(num_rollout_steps={self.num_rollout_steps}), got {w}"
            )

    def initial_condition(self, data: Any, key: Array | None) -> State:
        """``data[:, 0]`` with the configured input noise."""
        return add_noise(time_level(data, 0), self.input_noise_std, key)

    def describe_chain(self) -> ChainDescription:
        """The unrolled chain as data: its states, steps, loss terms (with weights) and gradient cuts.

        Enough to draw the chain (``emutrain.viz.plot_configuration_schematic``); every step is one stepper
        call and every loss term one ``time_level_loss`` call of :meth:`__call__`.
        """
        chain = ChainBuilder()
        self._describe_chain(chain)
        return chain.build(self.chain_label())

    def _describe_chain(self, chain: ChainBuilder) -> None:
        """Adds this configuration's nodes, steps and loss terms to ``chain``."""
        raise NotImplementedError(f"{type(self).__name__} does not describe its chain (_describe_chain)")

    def _network_chain(self, chain: ChainBuilder) -> list[int]:
        """The stored initial condition and R network steps on lane 0, cut after each level of
        :meth:`cut_mask`; returns the node index of each level 0..R."""
        levels = [chain.node(0, 0, "data")]
        cut = self.cut_mask(np.arange(self.num_rollout_steps))
        for t in range(self.num_rollout_steps):
            levels.append(chain.node(t + 1, 0, "network"))
            chain.step(levels[t], levels[t + 1], "network", cut=t > 0 and bool(cut[t - 1]))
        return levels

    def _level_weights(self) -> tuple[float, ...]:
        """``time_level_weights`` as floats, ones by default."""
        return self.time_level_weights or (1.0,) * self.num_time_levels

    def chain_label(self) -> str:
        """Name and non-default options, e.g. ``"Supervised(R=3, cut_bptt)"``."""
        items = [f"R={self.num_rollout_steps}", *self._label_sizes()]
        if self.cut_bptt:
            items.append("cut_bptt" + (f" every {self.cut_bptt_every}" if self.cut_bptt_every > 1 else ""))
        items.extend(self._label_flags())
        if self.pushforward_steps:
            items.append(f"pushforward {self.pushforward_steps}")
        return f"{type(self).__name__}({', '.join(items)})"

    def _label_sizes(self) -> list[str]:
        """Sizes shown after R in :meth:`chain_label`."""
        return []

    def _label_flags(self) -> list[str]:
        """Gradient-cut flags shown after ``cut_bptt`` in :meth:`chain_label`."""
        return []
