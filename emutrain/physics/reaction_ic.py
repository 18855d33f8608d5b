"""Initial conditions of reaction-diffusion problems: Gaussian blobs (Gray-Scott), clamping (Fisher-KPP).

Same calling convention as :mod:`emutrain.physics.ic`: a distribution is an immutable dataclass called as
``(num_points, *, key) -> (*spatial, C)`` with a ``num_spatial_dims`` attribute.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from emutrain.validation import check_int, check_real

__all__ = ["RandomGaussianBlobs", "ClampedIC"]


def _range(name: str, value: tuple[float, float]) -> tuple[float, float]:
    low, high = (check_real(name, v) for v in value)
    if not low <= high:
        raise ValueError(f"{name} must be (low, high) with low <= high, got {value!r}")
    return low, high


@dataclasses.dataclass(frozen=True)
class RandomGaussianBlobs:
    """Mean of ``num_blobs`` axis-aligned Gaussian blobs ``exp(-sum_d (x_d - p_d)^2 / (2 s_d))``, unit grid.

    Centres ``p_d`` are uniform in ``position_range`` and variances ``s_d`` uniform in ``variance_range``
    (fractions of the domain; blobs are not periodized, so keep them away from the boundary). With
    ``one_complement`` each blob is ``1 - blob``. ``one_complement`` may be a tuple of flags, one channel
    per flag: ``(True, False)`` is the Gray-Scott initial state (``u = 1 - blob``, ``v = blob``). The
    channel keys are ``jax.random.split(key, C)`` and each blob takes ``position, variance`` keys from a
    further split, so with the same key the state equals (channels-last) that of the Exponax library's
    ``RandomMultiChannelICGenerator([RandomGaussianBlobs(D, one_complement=f) for f in flags])``.
    """

    num_spatial_dims: int
    num_blobs: int = 1
    position_range: tuple[float, float] = (0.4, 0.6)
    variance_range: tuple[float, float] = (0.005, 0.01)
    one_complement: bool | tuple[bool, ...] = False

    def __post_init__(self):
        check_int("num_spatial_dims", self.num_spatial_dims, minimum=1, maximum=3)
        check_int("num_blobs", self.num_blobs, minimum=1)
        object.__setattr__(self, "position_range", _range("position_range", self.position_range))
        variance_range = _range("variance_range", self.variance_range)
        if not variance_range[0] > 0:
            raise ValueError(f"variance_range must be positive, got {self.variance_range!r}")
        object.__setattr__(self, "variance_range", variance_range)
        flags = self.one_complement if isinstance(self.one_complement, tuple) else (self.one_complement,)
        if not flags or not all(isinstance(f, (bool, np.bool_)) for f in flags):
            raise TypeError(
                f"one_complement must be a bool or a non-empty tuple of bools, got {self.one_complement!r}"
            )

    @property
    def num_channels(self) -> int:
        return len(self.one_complement) if isinstance(self.one_complement, tuple) else 1

    def __call__(self, num_points: int, *, key: Array) -> Array:
        """One state ``(*spatial, C)`` on the grid ``x_i = i / N``."""
        num_points = check_int("num_points", num_points, minimum=4)
        d = self.num_spatial_dims
        x = jnp.asarray(np.arange(num_points) / num_points)
        grid = jnp.stack(jnp.meshgrid(*([x] * d), indexing="ij"))  # (D, *spatial)
        flags = self.one_complement if isinstance(self.one_complement, tuple) else (self.one_complement,)
        channels = []
        for flag, channel_key in zip(flags, jax.random.split(key, len(flags))):
            total = 0.0
            for _ in range(self.num_blobs):
                channel_key, blob_key = jax.random.split(channel_key)
                position_key, variance_key = jax.random.split(blob_key)
                position = jax.random.uniform(
                    position_key, (d,), minval=self.position_range[0], maxval=self.position_range[1]
                )
                variance = jax.random.uniform(
                    variance_key, (d,), minval=self.variance_range[0], maxval=self.variance_range[1]
                )
                offset = grid - position.reshape((d,) + (1,) * d)
                blob = jnp.exp(-0.5 * jnp.sum(offset**2 / variance.reshape((d,) + (1,) * d), axis=0))
                total = total + (1.0 - blob if flag else blob)
            channels.append(total / self.num_blobs)
        return jnp.stack(channels, axis=-1).astype(jnp.result_type(float))


@dataclasses.dataclass(frozen=True)
class ClampedIC:
    """Another distribution's states clipped to ``limits = (low, high)`` (e.g. ``(0, 1)`` for Fisher-KPP)."""

    distribution: Any
    limits: tuple[float, float] = (0.0, 1.0)

    def __post_init__(self):
        object.__setattr__(self, "limits", _range("limits", self.limits))
        if not callable(self.distribution) or not hasattr(self.distribution, "num_spatial_dims"):
            raise TypeError(
                f"distribution must be an initial-condition distribution, got {self.distribution!r}"
            )

    @property
    def num_spatial_dims(self) -> int:
        return self.distribution.num_spatial_dims

    @property
    def num_channels(self) -> int:
        return getattr(self.distribution, "num_channels", 1)

    def __call__(self, num_points: int, *, key: Array) -> Array:
        """One state ``(*spatial, C)`` with every value in ``[low, high]``."""
        return jnp.clip(self.distribution(num_points, key=key), *self.limits)
