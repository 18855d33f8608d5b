"""Autoregressive rollouts of a stepper and their error over time against reference trajectories.

Numerics only: this module returns arrays and floats and writes no files; :mod:`emutrain.viz` draws them.

A stepper is any callable mapping a batch of states ``(B, *spatial, C)`` to the next batch: an NNX module,
a physics stepper or a plain function. :func:`evaluate_rollout` rolls it out from the initial conditions of
a test set of reference trajectories ``(S, T+1, *spatial, C)`` and reports, per time step, the mean over
samples of the normalized RMSE and of the correlation, plus the geometric mean of the mean nRMSE over the
first 100 steps, the summary number the correction-learning literature quotes.

The test set is processed in chunks of a fixed size so one compiled program serves every chunk. A chunk is
padded by repeating its last sample, up to the chunk size and then up to a multiple of the number of
devices the batch axis is split over, and the padded rows are masked out of every statistic: the metrics
do not depend on the device count. An NNX stepper is split into its graph definition (static) and its
state (a traced argument), so evaluating the same architecture again after more training reuses the
compiled program.

:func:`make_eval_fn` packages this as the periodic evaluation of a training run: ``stepper -> Evaluation``
with the model's metrics, those of fixed baselines (e.g. the coarse solver, evaluated once) and a few
rollouts for figures.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax import Array
from jax.experimental import multihost_utils
from jax.typing import ArrayLike

from emutrain.physics import metrics, rollout
from emutrain.typing import Stepper
from emutrain.validation import check_floating, check_int

__all__ = [
    "WELL_TIME_WINDOWS", "DatasetEvaluation", "Evaluation", "FieldMetrics", "RolloutMetrics",
    "evaluate_fields", "evaluate_rollout", "make_dataset_eval_fn", "make_eval_fn", "rollout_trajectories",
    "vrmse",
]

# The Well's report of a rollout's error: the first step, steps 6 to 12 and 13 to 30 (1-based, inclusive)
WELL_TIME_WINDOWS = ((1, 1), (6, 12), (13, 30))

Sharding = jax.sharding.Sharding | jax.sharding.Mesh | None


def rollout_trajectories(
    stepper: Stepper,
    initial_states: ArrayLike,
    num_steps: int,
    *,
    include_init: bool = True,
    unroll: int | bool = 1,
) -> Array:
    """Roll a batched stepper out for ``num_steps`` steps with one ``lax.scan`` (``physics.rollout``).

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
    check_floating("initial_states", initial_states)
    if initial_states.ndim < 3:
        raise ValueError(
            "initial_states must have shape (B, *spatial, C) with at least one spatial axis, "
            f"got shape {initial_states.shape}"
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
            check_int("steps entry", h, minimum=1)
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
class Evaluation:
    """One periodic evaluation: the model's metrics, the baselines' metrics and a few rollouts for figures.

    Attributes:
      metrics: the model's :class:`RolloutMetrics`.
      baselines: ``{name: RolloutMetrics}`` of fixed steppers on the same test set (e.g. ``"coarse"``).
      predictions: ``(P, H+1, *spatial, C)`` model rollouts of the first P test trajectories (index 0 =
        initial condition), or ``None`` when no rollouts were asked for.
      references: ``(P, H+1, *spatial, C)`` the matching reference trajectories, or ``None``.
    """

    metrics: RolloutMetrics
    baselines: Mapping[str, RolloutMetrics]
    predictions: np.ndarray | None
    references: np.ndarray | None

    def scalars(self, prefix: str = "eval/", *, steps: Sequence[int] = (1, 10, 100)) -> dict[str, float]:
        """The model's :meth:`RolloutMetrics.scalars` plus, per baseline ``b``, the same under
        ``{prefix}{b}/``."""
        out = self.metrics.scalars(prefix, steps=steps)
        for name, baseline in self.baselines.items():
            out.update(baseline.scalars(f"{prefix}{name}/", steps=steps))
        return out

    def arrays(self, prefix: str = "eval/") -> dict[str, np.ndarray]:
        """Per-step curves: ``{prefix}mean_nrmse_per_step`` ``(H,)``, ``{prefix}mean_correlation_per_step``
        ``(H,)``, ``{prefix}sample_nrmse`` ``(S, H)``, and per baseline ``b`` its two mean curves under
        ``{prefix}{b}/``."""
        out = {
            f"{prefix}mean_nrmse_per_step": self.metrics.mean_nrmse,
            f"{prefix}mean_correlation_per_step": self.metrics.mean_correlation,
            f"{prefix}sample_nrmse": self.metrics.sample_nrmse,
        }
        for name, baseline in self.baselines.items():
            out[f"{prefix}{name}/mean_nrmse_per_step"] = baseline.mean_nrmse
            out[f"{prefix}{name}/mean_correlation_per_step"] = baseline.mean_correlation
        return out


@dataclasses.dataclass(frozen=True)
class _Rollout:
    """``(stepper, (B, *spatial, C)) -> (B, T(+1), *spatial, C)``; hashable: a static jit argument."""

    num_steps: int
    include_init: bool
    unroll: int | bool

    def __call__(self, stepper: Stepper, initial_states: Array) -> Array:
        return rollout(stepper, self.num_steps, include_init=self.include_init, unroll=self.unroll)(
            initial_states
        )


@dataclasses.dataclass(frozen=True)
class _RolloutErrors:
    """``(stepper, references (b, H+1, ...)) -> (nrmse (b, H), correlation (b, H))`` from level 0."""

    num_steps: int
    unroll: int | bool
    num_channels: int | None = None

    def __call__(self, stepper: Stepper, references: Array) -> tuple[Array, Array]:
        predictions = rollout(stepper, self.num_steps, unroll=self.unroll)(references[:, 0])
        targets = references[:, 1 : self.num_steps + 1]
        if self.num_channels is not None:  # the state's other channels condition the steps
            predictions, targets = predictions[..., : self.num_channels], targets[..., : self.num_channels]
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
    stepper: Stepper,
    function: Callable[[Stepper, Array], Any],
    replicated: jax.sharding.Sharding | None = None,
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


def _shardings(sharding: Sharding) -> tuple[jax.sharding.Sharding | None, jax.sharding.Sharding | None]:
    """(batch sharding, replicated sharding) from a batch-axis sharding or a mesh (first axis = batch)."""
    if sharding is None:
        return None, None
    if isinstance(sharding, jax.sharding.Mesh):
        sharding = jax.sharding.NamedSharding(sharding, jax.sharding.PartitionSpec(sharding.axis_names[0]))
    if not isinstance(sharding, jax.sharding.Sharding):
        raise TypeError(
            "sharding must be a jax.sharding.Sharding, a jax.sharding.Mesh or None, "
            f"got {type(sharding).__name__}"
        )
    if isinstance(sharding, jax.sharding.NamedSharding):
        return sharding, jax.sharding.NamedSharding(sharding.mesh, jax.sharding.PartitionSpec())
    return sharding, None


def _padded_batch_size(
    batch_size: int, trailing: tuple[int, ...], sharding: jax.sharding.Sharding | None
) -> int:
    """Smallest size >= ``batch_size`` that ``sharding`` splits evenly on the batch axis.

    The batch axis is split over some n devices (n divides the device count), so the answer is the next
    multiple of n, found within n tries; a sharding that cannot split any size (e.g. it splits another
    axis unevenly) is reported.
    """
    if sharding is None:
        return batch_size
    error: ValueError | None = None
    for size in range(batch_size, batch_size + len(sharding.device_set)):
        try:
            sharding.shard_shape((size, *trailing))
        except ValueError as exc:
            error = exc
            continue
        return size
    raise ValueError(
        f"the given sharding cannot split a (batch, {', '.join(map(str, trailing))}) array: {error}"
    )


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


@dataclasses.dataclass(frozen=True)
class _Plan:
    """Validated evaluation arguments: horizon, chunk size, its padded size and the shardings."""

    num_steps: int
    batch_size: int
    padded_size: int
    batch_sharding: jax.sharding.Sharding | None
    replicated: jax.sharding.Sharding | None


def _plan(
    references: np.ndarray,
    num_steps: int | None,
    batch_size: int | None,
    sharding: Sharding,
    gmean_num_steps: int,
) -> _Plan:
    """Checks the arguments of :func:`evaluate_rollout` for ``references`` and sizes the chunks."""
    check_floating("reference_trajectories", references)
    shape = references.shape
    if len(shape) < 4:
        raise ValueError(
            "reference_trajectories must have shape (S, T+1, *spatial, C) with at least one spatial axis, "
            f"got shape {shape}"
        )
    num_samples, num_times = shape[:2]
    if num_samples < 1 or num_times < 2:
        raise ValueError(
            f"reference_trajectories needs S >= 1 samples and T+1 >= 2 time levels, got shape {shape}"
        )
    num_steps = (
        num_times - 1
        if num_steps is None
        else check_int("num_steps", num_steps, minimum=1, maximum=num_times - 1)
    )
    batch_size = num_samples if batch_size is None else check_int("batch_size", batch_size, minimum=1)
    check_int("gmean_num_steps", gmean_num_steps, minimum=1)
    batch_sharding, replicated = _shardings(sharding)
    padded_size = _padded_batch_size(batch_size, (num_steps + 1, *shape[2:]), batch_sharding)
    return _Plan(num_steps, batch_size, padded_size, batch_sharding, replicated)


def _check_num_channels(num_channels: int | None, references: np.ndarray) -> int | None:
    """``num_channels`` in ``[1, C]`` of the references ``(..., C)``; None stays None."""
    if num_channels is None:
        return None
    return check_int("num_channels", num_channels, minimum=1, maximum=references.shape[-1])


def evaluate_rollout(
    stepper: Stepper,
    reference_trajectories: ArrayLike,
    *,
    num_steps: int | None = None,
    batch_size: int | None = None,
    sharding: Sharding = None,
    gmean_num_steps: int = 100,
    unroll: int | bool = 1,
    num_channels: int | None = None,
) -> RolloutMetrics:
    """Roll ``stepper`` out from each reference initial condition and measure the error at every step.

    Args:
      stepper: batched stepper ``(B, *spatial, C) -> (B, *spatial, C)``: an NNX module (put it in eval mode
        first if it has dropout or batch statistics), a physics stepper or a plain function.
      reference_trajectories: ``(S, T+1, *spatial, C)`` real floats; index 0 on the time axis is the
        initial condition.
      num_steps: rollout horizon H, ``1 <= H <= T``; defaults to T.
      batch_size: trajectories per compiled chunk; defaults to S (one chunk).
      sharding: where each chunk goes on the batch axis: a ``jax.sharding.Sharding`` for a
        ``(batch, H+1, *spatial, C)`` array, or a ``Mesh`` whose first axis is the batch axis. With a
        named sharding the NNX stepper's state is replicated on its mesh. Every chunk is padded to the
        next multiple of the number of devices the batch axis is split over and the padding masked, so
        any ``batch_size`` works on any device count and gives the single-device metrics.
      gmean_num_steps: horizon of the geometric mean; uses ``min(gmean_num_steps, H)`` steps.
      unroll: ``lax.scan`` unroll factor of the rollout.
      num_channels: compare only the first ``num_channels`` channels of the states: the predicted ones
        of a stepper whose state also carries conditioning channels (:class:`emutrain.nn.Conditioned`);
        None compares all ``C``.

    Returns:
      :class:`RolloutMetrics` (host numpy arrays).
    """
    references = np.asarray(reference_trajectories)
    plan = _plan(references, num_steps, batch_size, sharding, gmean_num_steps)
    num_channels = _check_num_channels(num_channels, references)
    num_steps = plan.num_steps
    # Only the time levels the rollout is compared with travel to the device.
    references = references[:, : num_steps + 1]
    chunk_errors = _compiled(stepper, _RolloutErrors(num_steps, unroll, num_channels), plan.replicated)
    nrmse_chunks, correlation_chunks = [], []
    for start in range(0, references.shape[0], plan.batch_size):
        chunk = references[start : start + plan.batch_size]
        num_valid = chunk.shape[0]
        if num_valid < plan.padded_size:
            padding = np.repeat(chunk[-1:], plan.padded_size - num_valid, axis=0)
            chunk = np.concatenate([chunk, padding], axis=0)
        nrmse, correlation = chunk_errors(_place(chunk, plan.batch_sharding))
        # Per-sample errors: dropping the padded rows masks them out of every statistic below.
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
    sharding: Sharding = None,
    baselines: Mapping[str, Stepper] | None = None,
    num_plot_samples: int = 1,
    unroll: int | bool = 1,
    num_channels: int | None = None,
) -> Callable[[Stepper], Evaluation]:
    """A periodic-evaluation function ``stepper -> Evaluation`` for a trainer.

    Each call runs :func:`evaluate_rollout` of the stepper on the test set and rolls it out from the first
    ``num_plot_samples`` initial conditions. The ``baselines`` (fixed steppers such as the coarse solver)
    are evaluated at the first call only and their metrics reused by every later call.

    Args:
      reference_trajectories: ``(S, T+1, *spatial, C)`` real floats, the test set.
      num_steps, batch_size, sharding, unroll, num_channels: as in :func:`evaluate_rollout` (the kept
        rollouts hold the first ``num_channels`` channels too).
      baselines: ``{name: stepper}``; names are non-empty and hold no ``"/"`` (they prefix metric names).
      num_plot_samples: P in ``[0, S]``, rollouts kept in :attr:`Evaluation.predictions`.
    """
    references = np.asarray(reference_trajectories)
    # Bad arguments fail here, when the trainer is set up, not at its first evaluation.
    horizon = _plan(references, num_steps, batch_size, sharding, 1).num_steps
    num_plot_samples = check_int("num_plot_samples", num_plot_samples, minimum=0, maximum=references.shape[0])
    baselines = dict(baselines or {})
    for name, baseline in baselines.items():
        if not isinstance(name, str) or not name or "/" in name:
            raise ValueError(f"baselines keys must be non-empty names without '/', got {name!r}")
        if not callable(baseline):
            raise TypeError(
                f"baselines[{name!r}] must be a stepper (callable), got {type(baseline).__name__}"
            )
    num_channels = _check_num_channels(num_channels, references)
    plot_references = references[:num_plot_samples, : horizon + 1] if num_plot_samples else None
    evaluate = functools.partial(
        evaluate_rollout,
        reference_trajectories=references,
        num_steps=horizon,
        batch_size=batch_size,
        sharding=sharding,
        unroll=unroll,
        num_channels=num_channels,
    )
    kept = slice(None, num_channels)
    baseline_metrics: dict[str, RolloutMetrics] = {}

    def eval_fn(stepper: Stepper) -> Evaluation:
        if len(baseline_metrics) < len(baselines):
            baseline_metrics.update({name: evaluate(baseline) for name, baseline in baselines.items()})
        predictions = None
        if plot_references is not None:
            # with a space axis over several processes the rollout's slabs lie in all of them
            predictions = _to_host(
                rollout_trajectories(stepper, plot_references[:, 0], horizon, unroll=unroll)
            )[..., kept]
        references_kept = None if plot_references is None else plot_references[..., kept]
        return Evaluation(evaluate(stepper), dict(baseline_metrics), predictions, references_kept)

    return eval_fn


def vrmse(
    predictions: ArrayLike, references: ArrayLike, *, batch_ndim: int = 1, eps: float = 1e-7
) -> np.ndarray:
    """The Well's variance-scaled RMSE per sample and channel, over space:
    ``sqrt(mean((u - v)**2) / (var(v) + eps))``, ``var`` with Bessel's correction (``torch.std``'s, as
    the_well computes it); predicting the spatial mean of ``v`` gives ``sqrt((n - 1) / n)`` for ``n``
    points, almost 1.

    Args:
      predictions, references: ``(*batch, *spatial, C)`` with ``batch_ndim`` batch axes.
      batch_ndim: leading axes that are not reduced.
      eps: added to the variance (the_well's default).

    Returns:
      ``(*batch, C)`` float64.
    """
    u = np.asarray(predictions, dtype=np.float64)
    v = np.asarray(references, dtype=np.float64)
    if u.shape != v.shape or u.ndim < batch_ndim + 2:
        raise ValueError(
            f"predictions and references must share a shape (*batch, *spatial, C) with {batch_ndim} batch "
            f"axes, got {u.shape} and {v.shape}"
        )
    space = tuple(range(batch_ndim, v.ndim - 1))
    mse = np.mean(np.square(u - v), axis=space)
    return np.sqrt(mse / (np.var(v, axis=space, ddof=1) + eps))


@dataclasses.dataclass(frozen=True)
class FieldMetrics:
    """VRMSE of a rollout per step and field; step h (1-based) at index h - 1.

    Attributes:
      field_names: the C channel names.
      sample_vrmse: ``(S, H, C)`` per sample, step and field.
    """

    field_names: tuple[str, ...]
    sample_vrmse: np.ndarray

    @property
    def mean_vrmse(self) -> np.ndarray:
        """``(H, C)`` the mean over samples."""
        return self.sample_vrmse.mean(axis=0)

    def scalars(
        self, prefix: str = "eval/", *, windows: Sequence[tuple[int, int]] = WELL_TIME_WINDOWS
    ) -> dict[str, float]:
        """``{prefix}vrmse`` (mean over steps and fields), and per window ``(a, b)`` with ``b <= H`` the
        mean over steps a..b of all fields, ``{prefix}vrmse_steps_{a}-{b}``, and of each field,
        ``{prefix}vrmse_{field}_steps_{a}-{b}``."""
        mean = self.mean_vrmse
        out = {f"{prefix}vrmse": float(mean.mean())}
        for a, b in windows:
            if b <= mean.shape[0]:
                window = mean[a - 1 : b]
                out[f"{prefix}vrmse_steps_{a}-{b}"] = float(window.mean())
                for name, value in zip(self.field_names, window.mean(axis=0)):
                    out[f"{prefix}vrmse_{name}_steps_{a}-{b}"] = float(value)
        return out

    def arrays(self, prefix: str = "eval/") -> dict[str, np.ndarray]:
        """``{prefix}vrmse_per_step`` ``(H, C)``, ``{prefix}sample_vrmse`` ``(S, H, C)`` and
        ``{prefix}field_names`` ``(C,)``."""
        return {
            f"{prefix}vrmse_per_step": self.mean_vrmse,
            f"{prefix}sample_vrmse": self.sample_vrmse,
            f"{prefix}field_names": np.asarray(self.field_names),
        }


def evaluate_fields(
    stepper: Stepper,
    reference_trajectories: ArrayLike,
    field_names: Sequence[str],
    *,
    num_steps: int | None = None,
    batch_size: int | None = None,
    num_channels: int | None = None,
) -> FieldMetrics:
    """The VRMSE per step and field of ``stepper`` rolled out from each reference initial condition.

    Args:
      stepper, reference_trajectories, num_steps, batch_size, num_channels: as in
        :func:`evaluate_rollout`.
      field_names: one name per compared channel (``num_channels``, default C).
    """
    references = np.asarray(reference_trajectories)
    plan = _plan(references, num_steps, batch_size, None, 1)
    num_channels = _check_num_channels(num_channels, references) or references.shape[-1]
    if len(field_names) != num_channels:
        raise ValueError(
            f"field_names must name the {num_channels} compared channels, got {len(field_names)}: "
            f"{list(field_names)}"
        )
    chunks = []
    for start in range(0, references.shape[0], plan.batch_size):
        chunk = references[start : start + plan.batch_size, : plan.num_steps + 1]
        predictions = rollout_trajectories(stepper, chunk[:, 0], plan.num_steps, include_init=False)
        predictions = _to_host(predictions)[..., :num_channels]
        chunks.append(vrmse(predictions, chunk[:, 1:, ..., :num_channels], batch_ndim=2))
    return FieldMetrics(tuple(field_names), np.concatenate(chunks, axis=0))


@dataclasses.dataclass(frozen=True)
class DatasetEvaluation(Evaluation):
    """An :class:`Evaluation` with The Well's VRMSE per field (:class:`FieldMetrics`) besides the nRMSE."""

    fields: FieldMetrics | None = None

    def scalars(self, prefix: str = "eval/", *, steps: Sequence[int] = (1, 10, 100)) -> dict[str, float]:
        """:meth:`Evaluation.scalars` and :meth:`FieldMetrics.scalars`."""
        out = super().scalars(prefix, steps=steps)
        return out | (self.fields.scalars(prefix) if self.fields is not None else {})

    def arrays(self, prefix: str = "eval/") -> dict[str, np.ndarray]:
        """:meth:`Evaluation.arrays` and :meth:`FieldMetrics.arrays`."""
        out = super().arrays(prefix)
        return out | (self.fields.arrays(prefix) if self.fields is not None else {})


def make_dataset_eval_fn(
    reference_trajectories: ArrayLike,
    field_names: Sequence[str],
    *,
    num_steps: int | None = None,
    batch_size: int | None = None,
    sharding: Sharding = None,
    num_channels: int | None = None,
) -> Callable[[Stepper], DatasetEvaluation]:
    """:func:`make_eval_fn` whose evaluations also hold the VRMSE per step and field
    (:func:`evaluate_fields`), for data without a solver to compare with."""
    references = np.asarray(reference_trajectories)
    base = make_eval_fn(
        references, num_steps=num_steps, batch_size=batch_size, sharding=sharding, num_channels=num_channels
    )
    horizon = _plan(references, num_steps, batch_size, None, 1).num_steps

    def eval_fn(stepper: Stepper) -> DatasetEvaluation:
        evaluation = base(stepper)
        fields = evaluate_fields(
            stepper,
            references,
            field_names,
            num_steps=horizon,
            batch_size=batch_size,
            num_channels=num_channels,
        )
        parts = {f.name: getattr(evaluation, f.name) for f in dataclasses.fields(evaluation)}
        return DatasetEvaluation(**parts, fields=fields)

    return eval_fn
