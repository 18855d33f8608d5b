"""Per-sample state metrics.

Every metric compares a prediction with a reference of the same shape ``(*batch, *spatial, C)`` and
reduces over everything after the first ``batch_ndim`` axes (space and channels), returning an array of
shape ``batch`` (``(B,)`` for ``batch_ndim=1``, ``(B, T)`` for trajectories with ``batch_ndim=2``).
Normalized metrics divide by the same reduction of the reference; the reference is assumed not to be
identically zero (a zero reference gives ``inf``/``nan``, never a silent clip).
"""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp
from jax import Array
from jax.typing import ArrayLike

__all__ = ["mse", "nmse", "rmse", "nrmse", "mae", "nmae", "correlation", "reduce_sample"]


def _check(pred: ArrayLike, ref: ArrayLike, batch_ndim: int) -> tuple[Array, Array]:
    pred, ref = jnp.asarray(pred), jnp.asarray(ref)
    if pred.shape != ref.shape:
        raise ValueError(f"pred and ref must have the same shape, got pred {pred.shape} and ref {ref.shape}")
    if not 0 <= batch_ndim < pred.ndim:
        raise ValueError(
            f"batch_ndim must be in [0, {pred.ndim - 1}] for arrays of rank {pred.ndim}, got {batch_ndim}"
        )
    return pred, ref


def reduce_sample(x: ArrayLike, *, batch_ndim: int = 1) -> Array:
    """Mean over all axes after the first ``batch_ndim`` ones: ``(*batch, ...) -> batch``."""
    x = jnp.asarray(x)
    return jnp.mean(x, axis=tuple(range(batch_ndim, x.ndim)))


def _mean_error(
    pointwise: Callable[[Array], Array], pred: ArrayLike, ref: ArrayLike, batch_ndim: int
) -> Array:
    """``mean(pointwise(pred - ref))`` per sample."""
    pred, ref = _check(pred, ref, batch_ndim)
    return reduce_sample(pointwise(pred - ref), batch_ndim=batch_ndim)


def _normalized_error(
    pointwise: Callable[[Array], Array], pred: ArrayLike, ref: ArrayLike, batch_ndim: int
) -> Array:
    """``mean(pointwise(pred - ref)) / mean(pointwise(ref))`` per sample."""
    pred, ref = _check(pred, ref, batch_ndim)
    error = _mean_error(pointwise, pred, ref, batch_ndim)
    return error / reduce_sample(pointwise(ref), batch_ndim=batch_ndim)


def mse(pred: ArrayLike, ref: ArrayLike, *, batch_ndim: int = 1) -> Array:
    """Mean squared error per sample: ``mean((pred - ref)^2)``."""
    return _mean_error(jnp.square, pred, ref, batch_ndim)


def nmse(pred: ArrayLike, ref: ArrayLike, *, batch_ndim: int = 1) -> Array:
    """Normalized MSE per sample: ``mean((pred - ref)^2) / mean(ref^2)``."""
    return _normalized_error(jnp.square, pred, ref, batch_ndim)


def rmse(pred: ArrayLike, ref: ArrayLike, *, batch_ndim: int = 1) -> Array:
    """Root mean squared error per sample."""
    return jnp.sqrt(mse(pred, ref, batch_ndim=batch_ndim))


def nrmse(pred: ArrayLike, ref: ArrayLike, *, batch_ndim: int = 1) -> Array:
    """Normalized RMSE per sample: ``rmse(pred, ref) / rms(ref)``."""
    return jnp.sqrt(nmse(pred, ref, batch_ndim=batch_ndim))


def mae(pred: ArrayLike, ref: ArrayLike, *, batch_ndim: int = 1) -> Array:
    """Mean absolute error per sample."""
    return _mean_error(jnp.abs, pred, ref, batch_ndim)


def nmae(pred: ArrayLike, ref: ArrayLike, *, batch_ndim: int = 1) -> Array:
    """Normalized MAE per sample: ``mean|pred - ref| / mean|ref|``."""
    return _normalized_error(jnp.abs, pred, ref, batch_ndim)


def correlation(pred: ArrayLike, ref: ArrayLike, *, batch_ndim: int = 1) -> Array:
    """Uncentered correlation (cosine similarity) per sample: ``<pred, ref> / (|pred| |ref|)``.

    Equals Pearson's correlation for zero-mean states; 1 for a perfect prediction, 0 for an orthogonal one.
    """
    pred, ref = _check(pred, ref, batch_ndim)
    inner = reduce_sample(pred * ref, batch_ndim=batch_ndim)
    norms = jnp.sqrt(
        reduce_sample(jnp.square(pred), batch_ndim=batch_ndim)
        * reduce_sample(jnp.square(ref), batch_ndim=batch_ndim)
    )
    return inner / norms
