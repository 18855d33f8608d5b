"""Time-level losses: compare one predicted state batch with a reference batch.

Every loss is a frozen dataclass called as ``loss(pred, ref) -> scalar`` on batches ``(B, *spatial, C)``.
It first reduces each sample (mean over space and channels, via :mod:`emutrain.physics.metrics`) to an
array ``(B,)`` and then applies ``batch_reduction`` (default ``jnp.mean``). States may be pytrees whose
leaves all have the layout ``(B, *spatial, C)``; the loss is then the sum of the per-leaf losses.

``ref=None`` compares with zero, which is how a residuum configuration reduces a residuum state
(``loss(residuum)``). Normalized losses need a reference and raise ``ValueError`` without one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from emutrain.physics import metrics
from emutrain.validation import check_floating, check_int

__all__ = [
    "MSELoss",
    "NormalizedMSELoss",
    "MAELoss",
    "NormalizedMAELoss",
    "RMSELoss",
    "NormalizedRMSELoss",
    "H1Loss",
    "FourierBandLoss",
    "FirstChannels",
]

BatchReduction = Callable[[Array], Array]


@dataclass(frozen=True)
class _PerSampleLoss:
    """Shared call logic: per-leaf per-sample error ``(B,)``, batch reduction, sum over leaves."""

    batch_reduction: BatchReduction = field(default=jnp.mean, kw_only=True)
    _needs_ref = False

    def per_sample(self, pred: Array, ref: Array) -> Array:
        raise NotImplementedError

    def __call__(self, pred: Any, ref: Any = None) -> Array:
        if ref is None:
            if self._needs_ref:
                raise ValueError(
                    f"ref must be given for {type(self).__name__} (it normalizes by the reference), got None"
                )
            ref = jax.tree.map(jnp.zeros_like, pred)
        pred_leaves, pred_def = jax.tree.flatten(pred)
        ref_leaves, ref_def = jax.tree.flatten(ref)
        if pred_def != ref_def:
            raise ValueError(
                f"pred and ref must have the same pytree structure, got {pred_def} and {ref_def}"
            )
        for p, r in zip(pred_leaves, ref_leaves):
            check_floating("pred", p)
            check_floating("ref", r)
        per_leaf = [self.batch_reduction(self.per_sample(p, r)) for p, r in zip(pred_leaves, ref_leaves)]
        return sum(per_leaf[1:], per_leaf[0])


@dataclass(frozen=True)
class MSELoss(_PerSampleLoss):
    """Mean squared error: per sample ``mean((pred - ref)^2)``, then ``batch_reduction``."""

    def per_sample(self, pred: Array, ref: Array) -> Array:
        return metrics.mse(pred, ref)


@dataclass(frozen=True)
class NormalizedMSELoss(_PerSampleLoss):
    """Normalized MSE: per sample ``mean((pred - ref)^2) / mean(ref^2)``, then ``batch_reduction``."""

    _needs_ref = True

    def per_sample(self, pred: Array, ref: Array) -> Array:
        return metrics.nmse(pred, ref)


@dataclass(frozen=True)
class MAELoss(_PerSampleLoss):
    """Mean absolute error: per sample ``mean|pred - ref|``, then ``batch_reduction``."""

    def per_sample(self, pred: Array, ref: Array) -> Array:
        return metrics.mae(pred, ref)


@dataclass(frozen=True)
class NormalizedMAELoss(_PerSampleLoss):
    """Normalized MAE: per sample ``mean|pred - ref| / mean|ref|``, then ``batch_reduction``."""

    _needs_ref = True

    def per_sample(self, pred: Array, ref: Array) -> Array:
        return metrics.nmae(pred, ref)


@dataclass(frozen=True)
class RMSELoss(_PerSampleLoss):
    """Root mean squared error per sample, then ``batch_reduction``."""

    def per_sample(self, pred: Array, ref: Array) -> Array:
        return metrics.rmse(pred, ref)


@dataclass(frozen=True)
class NormalizedRMSELoss(_PerSampleLoss):
    """Normalized RMSE per sample (``rmse / rms(ref)``), then ``batch_reduction``."""

    _needs_ref = True

    def per_sample(self, pred: Array, ref: Array) -> Array:
        return metrics.nrmse(pred, ref)


def _check_spatial(e: Array, num_spatial_dims: int, name: str) -> None:
    if e.ndim != num_spatial_dims + 2:
        raise ValueError(
            f"{name} expects states of shape (B, *spatial, C) with {num_spatial_dims} spatial axes "
            f"(num_spatial_dims={num_spatial_dims}), got shape {e.shape}"
        )


@dataclass(frozen=True)
class H1Loss(_PerSampleLoss):
    """Squared H1 (Sobolev) error on the periodic domain ``[0, L)^D``.

    Per sample ``mean(e^2) + derivative_weight * sum_d mean((d e / d x_d)^2)`` with ``e = pred - ref``,
    derivatives taken spectrally (exact for band-limited fields; the Nyquist mode of an even axis has no
    derivative). Units: state units squared, times ``1/length^2`` for the derivative term.
    Spectral derivatives use ``jnp.fft`` directly along each spatial axis.
    """

    num_spatial_dims: int
    domain_extent: float
    derivative_weight: float = field(default=1.0, kw_only=True)

    def __post_init__(self) -> None:
        if self.num_spatial_dims < 1:
            raise ValueError(f"num_spatial_dims must be >= 1, got {self.num_spatial_dims}")
        if not self.domain_extent > 0:
            raise ValueError(f"domain_extent must be > 0, got {self.domain_extent}")

    def per_sample(self, pred: Array, ref: Array) -> Array:
        e = jnp.asarray(pred) - jnp.asarray(ref)
        _check_spatial(e, self.num_spatial_dims, "H1Loss")
        total = metrics.reduce_sample(jnp.square(e))
        for axis in range(1, 1 + self.num_spatial_dims):
            n = e.shape[axis]
            k = 2 * np.pi / self.domain_extent * np.fft.rfftfreq(n, 1.0 / n)
            if n % 2 == 0:
                k[-1] = 0.0
            shape = [1] * e.ndim
            shape[axis] = k.size
            de = jnp.fft.irfft(1j * k.reshape(shape) * jnp.fft.rfft(e, axis=axis), n=n, axis=axis)
            total = total + self.derivative_weight * metrics.reduce_sample(jnp.square(de))
        return total


@dataclass(frozen=True)
class FourierBandLoss(_PerSampleLoss):
    """Weighted error energy per Fourier band (low / mid / high by default).

    A mode with integer wavenumbers ``k_d`` has relative magnitude ``r = |(k_d / (N_d / 2))_d|_2`` (1 at
    the Nyquist frequency of every axis). Band ``i`` holds ``band_edges[i-1] <= r < band_edges[i]``.
    Per sample: ``sum_i band_weights[i] * E_i`` with ``E_i`` the mean over channels of the error energy
    ``sum_{modes in band i} |e_hat|^2 / N_total^2``; by Parseval, unit weights give the MSE.
    """

    num_spatial_dims: int
    band_weights: tuple[float, ...] = field(default=(1.0, 1.0, 1.0), kw_only=True)
    band_edges: tuple[float, ...] = field(default=(1.0 / 3.0, 2.0 / 3.0), kw_only=True)

    def __post_init__(self) -> None:
        if self.num_spatial_dims < 1:
            raise ValueError(f"num_spatial_dims must be >= 1, got {self.num_spatial_dims}")
        object.__setattr__(self, "band_weights", tuple(float(w) for w in self.band_weights))
        object.__setattr__(self, "band_edges", tuple(float(e) for e in self.band_edges))
        if len(self.band_weights) != len(self.band_edges) + 1:
            raise ValueError(
                f"band_weights must have len(band_edges) + 1 = {len(self.band_edges) + 1} entries, "
                f"got {len(self.band_weights)}: {self.band_weights}"
            )
        edges = np.asarray(self.band_edges)
        if np.any(edges <= 0) or np.any(np.diff(edges) <= 0):
            raise ValueError(f"band_edges must be positive and strictly increasing, got {self.band_edges}")

    def _mode_weights(self, spatial_shape: tuple[int, ...]) -> np.ndarray:
        grids = np.meshgrid(*[np.fft.fftfreq(n, 1.0 / n) / (n / 2) for n in spatial_shape], indexing="ij")
        r = np.sqrt(sum(g**2 for g in grids))
        band = np.searchsorted(np.asarray(self.band_edges), r, side="right")
        return np.asarray(self.band_weights)[band]

    def per_sample(self, pred: Array, ref: Array) -> Array:
        e = jnp.asarray(pred) - jnp.asarray(ref)
        _check_spatial(e, self.num_spatial_dims, "FourierBandLoss")
        spatial_axes = tuple(range(1, 1 + self.num_spatial_dims))
        spatial_shape = e.shape[1 : 1 + self.num_spatial_dims]
        power = jnp.square(jnp.abs(jnp.fft.fftn(e, axes=spatial_axes))) / float(np.prod(spatial_shape)) ** 2
        weights = self._mode_weights(spatial_shape)[(...,) + (None,)]
        weighted = jnp.sum(power * weights.astype(power.dtype), axis=spatial_axes)
        return jnp.mean(weighted, axis=-1)


@dataclass(frozen=True)
class FirstChannels:
    """``loss`` of the first ``num_channels`` channels of states ``(B, *spatial, C)``: the predicted ones
    of states that also carry conditioning channels (:class:`emutrain.nn.Conditioned`), which are inputs
    and never compared."""

    loss: Callable[..., Array]
    num_channels: int

    def __post_init__(self) -> None:
        check_int("num_channels", self.num_channels, minimum=1)

    def __call__(self, pred: Any, ref: Any = None) -> Array:
        def kept(x: Array) -> Array:
            return x[..., : self.num_channels]

        return self.loss(jax.tree.map(kept, pred), None if ref is None else jax.tree.map(kept, ref))
