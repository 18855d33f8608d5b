"""Autoregressive rollouts of a stepper and their error over time against reference trajectories.

A stepper is any callable mapping a batch of states ``(B, *spatial, C)`` to the next batch: an NNX module,
a physics stepper or a plain function. :func:`evaluate_rollout` rolls it out from the initial conditions of
a test set of reference trajectories ``(S, T+1, *spatial, C)`` and reports, per time step, the mean over
samples of the normalized RMSE and of the correlation, plus the geometric mean of the mean nRMSE over the
first 100 steps, the summary number the correction-learning literature quotes.

The test set is processed in chunks of a fixed size so one compiled program serves every chunk: the last
chunk is padded by repeating its final sample and the padded rows are masked out of every statistic. An
NNX stepper is split into its graph definition (static) and its state (a traced argument), so evaluating
the same architecture again after more training reuses the compiled program.

:func:`make_eval_fn` packages all of this, with the plots of :mod:`emutrain.viz`, as the periodic
evaluation of a training run: scalars for metric writers, images for TensorBoard, curves for the record.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax import Array
from jax.experimental import multihost_utils
from jax.typing import ArrayLike

from emutrain import viz
from emutrain.physics import metrics, rollout

__all__ = ["RolloutMetrics", "rollout_trajectories", "evaluate_rollout", "make_eval_fn"]

Stepper = Callable[[Array], Array]


def rollout_trajectories(
    stepper: Stepper,
    initial_states: ArrayLike,
    num_steps: int,
    *,
    include_init: bool = True,
    unroll: int | bool = 1,
) -> Array:
    """Roll a batched stepper out for ``num_steps`` steps with one ``lax.scan`` (``emutrain.physics.rollout``).

    Compiled once per stepper architecture, horizon and input shape: an NNX module's parameters are traced
    arguments, so calling this again after training steps does not recompile.

    Args:
      stepper: maps ``(B, *spatial, C)`` to the next ``(B, *spatial, C)``.
      initial_states: ``(B, *spatial, C)``.
      num_steps: number of autoregressive steps T, >= 1.
      include_init: prepend the initial states to the trajectories.
      unroll: ``lax.scan`` unroll factor (``True`` unrolls fully: fast steps on XLA:CPU, long compiles).

    Returns:
      ``(B, T+1, *spatial, C)`` with ``include_init`` (index 0 = initial condition), else ``(B, T, ...)``.
    """
    initial_states = jnp.asarray(initial_states)
    if initial_states.ndim < 3:
        raise ValueError(
            f"initial_states must have shape (B, *spatial, C) with at least one spatial axis, got shape {initial_states.shape}"
        )
    return _compiled(stepper, _Rollout(num_steps, include_init, unroll))(initial_states)


@dataclasses.dataclass(frozen=True)
class RolloutMetrics:
    """Error of a rollout over time; step h (1-based) is stored at index h - 1.

    Attributes:
      mean_nrmse: ``(H,)`` mean over samples of the per-sample nRMSE at steps 1..H.
      mean_correlation: ``(H,)`` mean over samples of the per-sample correlation at steps 1..H.
      gmean_nrmse: geometric mean of ``mean_nrmse`` over steps 1..``gmean_num_steps``.
      gmean_num_steps: ``min(100, H)`` unless another horizon was asked for.
      sample_nrmse: ``(S, H)`` per-sample nRMSE.
      sample_correlation: ``(S, H)`` per-sample correlation.
    """

    mean_nrmse: np.ndarray
    mean_correlation: np.ndarray
    gmean_nrmse: float
    gmean_num_steps: int
    sample_nrmse: np.ndarray
    sample_correlation: np.ndarray

    @property
    def num_steps(self) -> int:
        """Rollout horizon H."""
        return int(self.mean_nrmse.shape[0])

    @property
    def num_samples(self) -> int:
        """Number of test trajectories S."""
        return int(self.sample_nrmse.shape[0])

    def scalars(self, prefix: str = "eval/", *, steps: Sequence[int] = (1, 10, 100)) -> dict[str, float]:
        """Flat ``{name: float}`` for metric writers.

        Holds ``{prefix}gmean_nrmse_{gmean_num_steps}``, ``{prefix}mean_nrmse`` (mean over all H steps) and
        ``{prefix}nrmse_step_{h}`` / ``{prefix}correlation_step_{h}`` for each ``h`` in ``steps`` with
        ``h <= H`` (longer steps are left out, not clipped to H).
        """
        for h in steps:
            if isinstance(h, bool) or not isinstance(h, (int, np.integer)) or h < 1:
                raise ValueError(f"steps must hold ints >= 1, got {h!r} in {tuple(steps)!r}")
        out = {
            f"{prefix}gmean_nrmse_{self.gmean_num_steps}": float(self.gmean_nrmse),
            f"{prefix}mean_nrmse": float(np.mean(self.mean_nrmse)),
        }
        for h in steps:
            if h <= self.num_steps:
                out[f"{prefix}nrmse_step_{h}"] = float(self.mean_nrmse[h - 1])
                out[f"{prefix}correlation_step_{h}"] = float(self.mean_correlation[h - 1])
        return out

    def to_dict(self) -> dict[str, object]:
        """JSON-ready dict of plain floats and lists (per-sample arrays as nested lists)."""
        return {
            "num_steps": self.num_steps,
            "num_samples": self.num_samples,
            "gmean_nrmse": float(self.gmean_nrmse),
            "gmean_num_steps": self.gmean_num_steps,
            "mean_nrmse": self.mean_nrmse.tolist(),
            "mean_correlation": self.mean_correlation.tolist(),
            "sample_nrmse": self.sample_nrmse.tolist(),
            "sample_correlation": self.sample_correlation.tolist(),
        }


@dataclasses.dataclass(frozen=True)
class _Rollout:
    """``(stepper, (B, *spatial, C)) -> (B, T(+1), *spatial, C)``; hashable by value, so a static jit argument."""

    num_steps: int
    include_init: bool
    unroll: int | bool

    def __call__(self, stepper: Stepper, initial_states: Array) -> Array:
        return rollout(stepper, self.num_steps, include_init=self.include_init, unroll=self.unroll)(initial_states)


@dataclasses.dataclass(frozen=True)
class _RolloutErrors:
    """``(stepper, references (b, H+1, ...)) -> (nrmse (b, H), correlation (b, H))`` of a rollout from index 0."""

    num_steps: int
    unroll: int | bool

    def __call__(self, stepper: Stepper, references: Array) -> tuple[Array, Array]:
        predictions = rollout(stepper, self.num_steps, unroll=self.unroll)(references[:, 0])
        targets = references[:, 1 : self.num_steps + 1]
        return (
            metrics.nrmse(predictions, targets, batch_ndim=2),
            metrics.correlation(predictions, targets, batch_ndim=2),
        )


@functools.partial(jax.jit, static_argnames=("graphdef", "function"))
def _apply_module(graphdef: nnx.GraphDef, state: nnx.State, inputs: Array, *, function: Callable) -> Any:
    return function(nnx.merge(graphdef, state), inputs)


@functools.partial(jax.jit, static_argnames=("stepper", "function"))
def _apply_callable(stepper: Stepper, inputs: Array, *, function: Callable) -> Any:
    return function(stepper, inputs)


def _compiled(
    stepper: Stepper, function: Callable[[Stepper, Array], Any], replicated: jax.sharding.Sharding | None = None
) -> Callable[[Array], Any]:
    """``inputs -> function(stepper, inputs)``, jit-compiled once per stepper structure and input shape.

    An NNX stepper is split into a static graph definition and a traced state (placed with ``replicated``
    when given), so new parameter values of the same architecture reuse the compiled program; another
    hashable callable is a static argument.
    """
    if isinstance(stepper, nnx.Module):
        graphdef, state = nnx.split(stepper)
        if replicated is not None:
            state = jax.device_put(state, replicated)
        return lambda inputs: _apply_module(graphdef, state, inputs, function=function)
    try:
        hash(stepper)
    except TypeError:
        # An unhashable callable cannot be a static argument: compile once for this call instead.
        return jax.jit(functools.partial(function, stepper))
    return lambda inputs: _apply_callable(stepper, inputs, function=function)


def _shardings(
    sharding: jax.sharding.Sharding | jax.sharding.Mesh | None,
) -> tuple[jax.sharding.Sharding | None, jax.sharding.Sharding | None]:
    """(batch sharding, replicated sharding) from a batch-axis sharding or a mesh (first axis = batch)."""
    if sharding is None:
        return None, None
    if isinstance(sharding, jax.sharding.Mesh):
        sharding = jax.sharding.NamedSharding(sharding, jax.sharding.PartitionSpec(sharding.axis_names[0]))
    if not isinstance(sharding, jax.sharding.Sharding):
        raise TypeError(f"sharding must be a jax.sharding.Sharding, a jax.sharding.Mesh or None, got {type(sharding).__name__}")
    if isinstance(sharding, jax.sharding.NamedSharding):
        return sharding, jax.sharding.NamedSharding(sharding.mesh, jax.sharding.PartitionSpec())
    return sharding, None


def _place(chunk: np.ndarray, sharding: jax.sharding.Sharding | None) -> Array:
    """Put a host chunk on the devices; with several processes each one supplies its own shards of it."""
    if sharding is None:
        return jnp.asarray(chunk)
    return jax.make_array_from_callback(chunk.shape, sharding, lambda index: chunk[index])


def _to_host(values: Array) -> np.ndarray:
    """The whole array on this host, gathering the shards other processes hold."""
    if values.is_fully_addressable:
        return np.asarray(values)
    return np.asarray(multihost_utils.process_allgather(values, tiled=True))


def _check_arguments(
    shape: tuple[int, ...],
    num_steps: int | None,
    batch_size: int | None,
    sharding: jax.sharding.Sharding | jax.sharding.Mesh | None,
    gmean_num_steps: int,
) -> tuple[int, int, jax.sharding.Sharding | None, jax.sharding.Sharding | None]:
    """Validated ``(num_steps, batch_size, batch sharding, replicated sharding)`` for references of ``shape``."""
    if len(shape) < 4:
        raise ValueError(f"reference_trajectories must have shape (S, T+1, *spatial, C) with at least one spatial axis, got shape {shape}")
    num_samples, num_times = shape[:2]
    if num_samples < 1 or num_times < 2:
        raise ValueError(f"reference_trajectories needs S >= 1 samples and T+1 >= 2 time levels, got shape {shape}")
    if num_steps is None:
        num_steps = num_times - 1
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or not 1 <= num_steps <= num_times - 1:
        raise ValueError(f"num_steps must be an int in [1, {num_times - 1}] for {num_times} reference time levels, got {num_steps!r}")
    if batch_size is None:
        batch_size = num_samples
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1 or None, got {batch_size!r}")
    if isinstance(gmean_num_steps, bool) or not isinstance(gmean_num_steps, int) or gmean_num_steps < 1:
        raise ValueError(f"gmean_num_steps must be an int >= 1, got {gmean_num_steps!r}")
    batch_sharding, replicated = _shardings(sharding)
    if batch_sharding is not None:
        try:
            batch_sharding.shard_shape((batch_size, num_steps + 1, *shape[2:]))
        except ValueError as error:
            raise ValueError(f"batch_size={batch_size} cannot be split by the given sharding: {error}") from error
    return num_steps, batch_size, batch_sharding, replicated


def evaluate_rollout(
    stepper: Stepper,
    reference_trajectories: ArrayLike,
    *,
    num_steps: int | None = None,
    batch_size: int | None = None,
    sharding: jax.sharding.Sharding | jax.sharding.Mesh | None = None,
    gmean_num_steps: int = 100,
    unroll: int | bool = 1,
) -> RolloutMetrics:
    """Roll ``stepper`` out from each reference initial condition and measure the error at every step.

    Args:
      stepper: batched stepper ``(B, *spatial, C) -> (B, *spatial, C)``: an NNX module (put it in eval mode
        first if it has dropout or batch statistics), a physics stepper or a plain function.
      reference_trajectories: ``(S, T+1, *spatial, C)``; index 0 on the time axis is the initial condition.
      num_steps: rollout horizon H, ``1 <= H <= T``; defaults to T.
      batch_size: trajectories per compiled chunk; defaults to S (one chunk). The last chunk is padded to
        this size and its padding masked, so every sample counts once and nothing recompiles.
      sharding: where each chunk goes on the batch axis: a ``jax.sharding.Sharding`` for a
        ``(batch_size, T+1, *spatial, C)`` array, or a ``Mesh`` whose first axis is the batch axis.
        With a named sharding the NNX stepper's state is replicated on its mesh.
      gmean_num_steps: horizon of the geometric mean; uses ``min(gmean_num_steps, H)`` steps.
      unroll: ``lax.scan`` unroll factor of the rollout.

    Returns:
      :class:`RolloutMetrics` (host numpy arrays).
    """
    references = np.asarray(reference_trajectories)
    num_steps, batch_size, batch_sharding, replicated = _check_arguments(
        references.shape, num_steps, batch_size, sharding, gmean_num_steps
    )
    num_samples = references.shape[0]

    # Only the time levels the rollout is compared with travel to the device.
    references = references[:, : num_steps + 1]
    chunk_errors = _compiled(stepper, _RolloutErrors(num_steps, unroll), replicated)
    nrmse_chunks, correlation_chunks = [], []
    for start in range(0, num_samples, batch_size):
        chunk = references[start : start + batch_size]
        num_valid = chunk.shape[0]
        if num_valid < batch_size:
            padding = np.repeat(chunk[-1:], batch_size - num_valid, axis=0)
            chunk = np.concatenate([chunk, padding], axis=0)
        nrmse, correlation = chunk_errors(_place(chunk, batch_sharding))
        nrmse_chunks.append(_to_host(nrmse)[:num_valid])
        correlation_chunks.append(_to_host(correlation)[:num_valid])

    sample_nrmse = np.concatenate(nrmse_chunks, axis=0)
    sample_correlation = np.concatenate(correlation_chunks, axis=0)
    mean_nrmse = sample_nrmse.mean(axis=0)
    gmean_num_steps = min(gmean_num_steps, num_steps)
    with np.errstate(divide="ignore"):
        # A step with zero error makes the geometric mean exactly 0 (log 0 = -inf), as it should.
        gmean_nrmse = float(np.exp(np.mean(np.log(mean_nrmse[:gmean_num_steps].astype(np.float64)))))
    return RolloutMetrics(
        mean_nrmse=mean_nrmse,
        mean_correlation=sample_correlation.mean(axis=0),
        gmean_nrmse=gmean_nrmse,
        gmean_num_steps=gmean_num_steps,
        sample_nrmse=sample_nrmse,
        sample_correlation=sample_correlation,
    )


def make_eval_fn(
    reference_trajectories: ArrayLike,
    *,
    num_steps: int | None = None,
    batch_size: int | None = None,
    sharding: jax.sharding.Sharding | jax.sharding.Mesh | None = None,
    prefix: str = "eval/",
    steps: Sequence[int] = (1, 10, 100),
    num_plot_samples: int = 1,
    domain_extent: float = 1.0,
    plot_dir: str | os.PathLike[str] | None = None,
    unroll: int | bool = 1,
) -> Callable[[Stepper], dict[str, Any]]:
    """A periodic-evaluation function ``stepper -> {name: value}`` for a trainer's ``eval_fn``.

    Each call runs :func:`evaluate_rollout` on the test set and returns:

    * scalars: :meth:`RolloutMetrics.scalars` (``{prefix}gmean_nrmse_100``, ``{prefix}nrmse_step_1``, ...);
    * images ``(H, W, 3)`` uint8: ``{prefix}nrmse_plot`` (mean nRMSE vs time step) and, for 1D states,
      ``{prefix}rollout_{i}`` (reference, prediction and error of test trajectory ``i`` for
      ``i < num_plot_samples``);
    * arrays: ``{prefix}mean_nrmse_per_step`` ``(H,)``, ``{prefix}mean_correlation_per_step`` ``(H,)`` and
      ``{prefix}sample_nrmse`` ``(S, H)``.

    With ``plot_dir`` the figures are also written there as ``nrmse_plot.png`` and ``rollout_{i}.png``
    (replaced at each call). The other arguments are those of :func:`evaluate_rollout` and
    :func:`RolloutMetrics.scalars`; ``domain_extent`` labels the space axis of the rollout plots.
    """
    references = np.asarray(reference_trajectories)
    # Bad arguments fail here, when the trainer is set up, not at its first evaluation.
    horizon, _, _, _ = _check_arguments(references.shape, num_steps, batch_size, sharding, 1)
    if isinstance(num_plot_samples, bool) or not isinstance(num_plot_samples, int) or not 0 <= num_plot_samples <= len(references):
        raise ValueError(f"num_plot_samples must be an int in [0, {len(references)}] (the number of test trajectories), got {num_plot_samples!r}")
    plot_rollouts = num_plot_samples > 0 and references.ndim == 4

    def eval_fn(stepper: Stepper) -> dict[str, Any]:
        result = evaluate_rollout(stepper, references, num_steps=num_steps, batch_size=batch_size, sharding=sharding, unroll=unroll)
        figures = {"nrmse_plot": viz.plot_nrmse_curves({"model": result.mean_nrmse})}
        if plot_rollouts:
            samples = references[:num_plot_samples, : horizon + 1]
            predictions = np.asarray(rollout_trajectories(stepper, samples[:, 0], horizon, unroll=unroll))
            for i in range(num_plot_samples):
                figures[f"rollout_{i}"] = viz.plot_rollout_comparison(predictions[i], samples[i], domain_extent=domain_extent)
        outputs: dict[str, Any] = dict(result.scalars(prefix, steps=steps))
        for name, figure in figures.items():
            image = viz.figure_to_array(figure)
            if plot_dir is not None:
                viz.save_image(image, os.path.join(plot_dir, f"{name}.png"))
            outputs[f"{prefix}{name}"] = image
        outputs[f"{prefix}mean_nrmse_per_step"] = result.mean_nrmse
        outputs[f"{prefix}mean_correlation_per_step"] = result.mean_correlation
        outputs[f"{prefix}sample_nrmse"] = result.sample_nrmse
        return outputs

    return eval_fn
