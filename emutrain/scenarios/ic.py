"""APEBench's initial-condition distributions, parsed from ``ic_config`` strings.

``ic_config`` (APEBench 0.1.1 grammar; the boolean words are ``true``/``false``, case-insensitive):

* ``fourier;CUTOFF;ZERO_MEAN;MAX_ONE``: truncated Fourier series with integer wavenumbers
  ``|m_d| <= CUTOFF`` on every axis, amplitudes uniform in ``[-1, 1)`` and phases uniform in
  ``[0, 2 pi)``; the mean is 0 (``ZERO_MEAN``) or uniform in ``[-0.5, 0.5)``.
* ``diffused;INTENSITY;ZERO_MEAN;MAX_ONE``: white noise diffused for a unit time with diffusivity
  ``INTENSITY`` on the unit domain (smaller intensity, rougher field).
* ``grf;POWERLAW_EXPONENT;ZERO_MEAN;MAX_ONE``: Gaussian random field whose power spectrum falls as
  ``|k|^(-POWERLAW_EXPONENT)``.
* ``clamp;LOWER;UPPER;CONFIG``: the field of ``CONFIG`` mapped affinely onto ``[LOWER, UPPER]`` (its
  minimum to ``LOWER``, its maximum to ``UPPER``).
* ``gray_scott_blobs`` (two channels, the Gray-Scott scenarios): ``(1 - blob, blob)`` for a random
  Gaussian blob, :class:`emutrain.physics.RandomGaussianBlobs` (equal to Exponax's draws).

``MAX_ONE`` rescales the field so that ``max |u| = 1``. Every channel is an independent draw of the
same distribution.

The random draws follow APEBench's key discipline (sequential key splitting over samples, one split per
channel, the same draw shapes and order), so with the same seed the initial conditions equal APEBench's
to float32 rounding. States are channels-last, ``(*spatial, C)``.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from emutrain import physics
from emutrain.validation import check_int

__all__ = [
    "ClampedIC",
    "DiffusedNoise",
    "FourierSeries",
    "GaussianRandomField",
    "MultiChannelIC",
    "IC_KINDS",
    "build_ic_set",
    "parse_ic_config",
]

IC_KINDS = ("fourier", "diffused", "grf", "clamp", "gray_scott_blobs")


def _coefficient_scaling(num_spatial_dims: int, num_points: int) -> np.ndarray:
    """Per-mode factor turning a Fourier coefficient (amplitude of a cosine) into an rfftn value.

    A real cosine of amplitude ``a`` occupies two conjugate modes (``N/2`` each per axis); the mean and
    the Nyquist mode occupy one (``N``).
    """
    scaling = []
    for axis in range(num_spatial_dims):
        if axis == num_spatial_dims - 1:
            freqs = np.fft.rfftfreq(num_points, 1 / num_points)
        else:
            freqs = np.fft.fftfreq(num_points, 1 / num_points)
        single = freqs == 0
        if num_points % 2 == 0:
            single |= np.abs(freqs) == num_points // 2
        scaling.append(np.where(single, num_points, num_points / 2))
    return np.prod(np.stack(np.meshgrid(*scaling, indexing="ij")), axis=0).astype(np.float32)


def _spatial_axes(num_spatial_dims: int) -> tuple[int, ...]:
    return tuple(range(num_spatial_dims))


def _uniform(key: Array, shape: tuple[int, ...], minval: float, maxval: float) -> Array:
    """``jax.random.uniform`` of ``shape``, drawn flat and reshaped: the same numbers (the counter of the
    partitionable threefry is the flat index), but XLA:CPU compiles a multi-axis draw several times slower
    (11 s against 1.8 s for 2,304 numbers, jax 0.10.2)."""
    return jax.random.uniform(key, (math.prod(shape),), minval=minval, maxval=maxval).reshape(shape)


def _normal(key: Array, shape: tuple[int, ...]) -> Array:
    """``jax.random.normal`` of ``shape``, drawn flat (see :func:`_uniform`)."""
    return jax.random.normal(key, (math.prod(shape),)).reshape(shape)


def _finish(u: Array, *, zero_mean: bool, max_one: bool) -> Array:
    """``(*spatial)`` single-channel field: optional mean removal, then optional ``max |u| = 1``."""
    if zero_mean:
        u = u - jnp.mean(u)
    if max_one:
        u = u / jnp.max(jnp.abs(u))
    return u


@dataclasses.dataclass(frozen=True)
class FourierSeries:
    """``fourier;CUTOFF;ZERO_MEAN;MAX_ONE``: one channel ``(*spatial)`` per call."""

    num_spatial_dims: int
    cutoff: int = 5
    zero_mean: bool = True
    max_one: bool = True

    def __call__(self, num_points: int, *, key: Array) -> Array:
        d = self.num_spatial_dims
        shape = (1,) + physics.spatial_rfft_shape(d, num_points)
        amplitude_key, angle_key, offset_key = jax.random.split(key, 3)
        amplitude = _uniform(amplitude_key, shape, -1.0, 1.0)
        angle = _uniform(angle_key, shape, 0.0, 2.0 * jnp.pi)
        low = 0.0 if self.zero_mean else -0.5
        offset = _uniform(offset_key, (1,), low, -low)[0]
        wavenumbers = physics.integer_wavenumbers(d, num_points)
        keep = np.logical_and.reduce([np.abs(m[..., 0]) <= self.cutoff for m in wavenumbers])
        coefficients = jnp.where(keep, amplitude[0] * jnp.exp(1j * angle[0]), 0.0)
        coefficients = coefficients.at[(0,) * d].set(offset)
        u_hat = coefficients * _coefficient_scaling(d, num_points)
        u = jnp.fft.irfftn(u_hat, s=(num_points,) * d, axes=_spatial_axes(d))
        return _finish(u, zero_mean=False, max_one=self.max_one)


@dataclasses.dataclass(frozen=True)
class DiffusedNoise:
    """``diffused;INTENSITY;ZERO_MEAN;MAX_ONE``: standard normal noise times ``exp(intensity laplace)``."""

    num_spatial_dims: int
    intensity: float = 0.001
    zero_mean: bool = True
    max_one: bool = True

    def __call__(self, num_points: int, *, key: Array) -> Array:
        d = self.num_spatial_dims
        noise = _normal(key, (1,) + (num_points,) * d)[0]
        diffusion = physics.Diffusion(d, 1.0, num_points, 1.0, diffusivity=self.intensity)
        u = diffusion(noise[..., None])[..., 0]
        return _finish(u, zero_mean=self.zero_mean, max_one=self.max_one)


@dataclasses.dataclass(frozen=True)
class GaussianRandomField:
    """``grf;POWERLAW_EXPONENT;ZERO_MEAN;MAX_ONE``: complex normal modes scaled by ``|k|^(-exponent/2)``.

    ``k = 2 pi m`` on the unit domain; the mean mode has amplitude one (removed by ``ZERO_MEAN``).
    """

    num_spatial_dims: int
    powerlaw_exponent: float = 3.0
    zero_mean: bool = True
    max_one: bool = True

    def __call__(self, num_points: int, *, key: Array) -> Array:
        d = self.num_spatial_dims
        shape = (1,) + physics.spatial_rfft_shape(d, num_points)
        norm = 2.0 * np.pi * np.sqrt(sum(m[..., 0] ** 2 for m in physics.integer_wavenumbers(d, num_points)))
        with np.errstate(divide="ignore"):
            amplitude = np.power(norm, -self.powerlaw_exponent / 2.0)
        amplitude[(0,) * d] = 1.0
        real_key, imag_key = jax.random.split(key, 2)
        noise = _normal(real_key, shape) + 1j * _normal(imag_key, shape)
        u_hat = noise[0] * amplitude.astype(np.float32) * _coefficient_scaling(d, num_points)
        u = jnp.fft.irfftn(u_hat, s=(num_points,) * d, axes=_spatial_axes(d))
        return _finish(u, zero_mean=self.zero_mean, max_one=self.max_one)


@dataclasses.dataclass(frozen=True)
class ClampedIC:
    """``clamp;LOWER;UPPER;CONFIG``: ``base``'s field mapped affinely onto ``[lower, upper]``."""

    base: FourierSeries | DiffusedNoise | GaussianRandomField
    lower: float = 0.0
    upper: float = 1.0

    @property
    def num_spatial_dims(self) -> int:
        return self.base.num_spatial_dims

    def __call__(self, num_points: int, *, key: Array) -> Array:
        u = self.base(num_points, key=key)
        shifted = u - jnp.min(u)
        return shifted / jnp.max(shifted) * (self.upper - self.lower) + self.lower


@dataclasses.dataclass(frozen=True)
class MultiChannelIC:
    """``num_channels`` independent draws of ``channel`` stacked channels-last: ``(*spatial, C)``.

    Follows the protocol of ``emutrain.physics`` distributions (``(num_points, *, key)``).
    """

    channel: FourierSeries | DiffusedNoise | GaussianRandomField | ClampedIC
    num_channels: int = 1

    @property
    def num_spatial_dims(self) -> int:
        return self.channel.num_spatial_dims

    def __call__(self, num_points: int, *, key: Array) -> Array:
        keys = jax.random.split(key, self.num_channels)
        # vmapped rather than looped: the same numbers, one traced draw to compile.
        return jnp.moveaxis(jax.vmap(lambda k: self.channel(num_points, key=k))(keys), 0, -1)


def _parse_bool(config: str, word: str) -> bool:
    lowered = word.strip().lower()
    if lowered not in ("true", "false"):
        raise ValueError(f"ic_config {config!r}: expected 'true' or 'false', got {word!r}")
    return lowered == "true"


def _parse_number(config: str, word: str, kind: type) -> float | int:
    try:
        return kind(word)
    except ValueError:
        raise ValueError(f"ic_config {config!r}: expected a {kind.__name__}, got {word!r}") from None


def _parse_single(config: str, parts: list[str], num_spatial_dims: int):
    kind = parts[0].strip().lower()
    if kind == "clamp":
        if len(parts) < 5:
            raise ValueError(f"ic_config {config!r}: 'clamp' needs 'clamp;LOWER;UPPER;CONFIG'")
        lower = _parse_number(config, parts[1], float)
        upper = _parse_number(config, parts[2], float)
        if not upper > lower:
            raise ValueError(f"ic_config {config!r}: clamp needs UPPER > LOWER, got {lower}, {upper}")
        return ClampedIC(_parse_single(config, parts[3:], num_spatial_dims), lower, upper)
    if kind not in IC_KINDS:
        raise ValueError(f"ic_config {config!r}: unknown kind {parts[0]!r}; valid kinds are {IC_KINDS}")
    if len(parts) != 4:
        raise ValueError(f"ic_config {config!r}: {kind!r} needs '{kind};PARAMETER;ZERO_MEAN;MAX_ONE'")
    zero_mean, max_one = _parse_bool(config, parts[2]), _parse_bool(config, parts[3])
    if kind == "fourier":
        cutoff = _parse_number(config, parts[1], int)
        if cutoff < 1:
            raise ValueError(f"ic_config {config!r}: CUTOFF must be >= 1, got {cutoff}")
        return FourierSeries(num_spatial_dims, cutoff, zero_mean, max_one)
    parameter = _parse_number(config, parts[1], float)
    if kind == "diffused":
        if not parameter > 0:
            raise ValueError(f"ic_config {config!r}: INTENSITY must be > 0, got {parameter}")
        return DiffusedNoise(num_spatial_dims, parameter, zero_mean, max_one)
    return GaussianRandomField(num_spatial_dims, parameter, zero_mean, max_one)


def parse_ic_config(ic_config: str, num_spatial_dims: int, num_channels: int = 1):
    """The distribution of ``ic_config`` (see the module docstring) with ``num_channels`` channels: a
    :class:`MultiChannelIC`, or :class:`emutrain.physics.RandomGaussianBlobs` for ``gray_scott_blobs``.

    Raises:
      ValueError: the string does not follow the grammar (the message names the part at fault).
    """
    if not isinstance(ic_config, str):
        raise TypeError(f"ic_config must be a str, got {ic_config!r} of type {type(ic_config).__name__}")
    check_int("num_spatial_dims", num_spatial_dims, minimum=1, maximum=3)
    check_int("num_channels", num_channels, minimum=1)
    if ic_config.strip().lower() == "gray_scott_blobs":
        if num_channels != 2:
            raise ValueError(f"ic_config 'gray_scott_blobs' needs num_channels=2, got {num_channels}")
        return physics.RandomGaussianBlobs(num_spatial_dims, one_complement=(True, False))
    return MultiChannelIC(_parse_single(ic_config, ic_config.split(";"), num_spatial_dims), num_channels)


def build_ic_set(distribution, *, num_points: int, num_samples: int, key: Array) -> Array:
    """``num_samples`` draws ``(S, *spatial, C)``; sample ``i`` uses the ``i``-th of the keys produced by
    splitting ``key`` sequentially (``key, sub = split(key)``), as APEBench does."""
    check_int("num_samples", num_samples, minimum=1)
    check_int("num_points", num_points, minimum=4)
    return _sample(distribution, num_points, num_samples, key)


def _sequential_keys(key: Array, num_samples: int) -> Array:
    def body(carry, _):
        carry, sub = jax.random.split(carry)
        return carry, sub

    return jax.lax.scan(body, key, None, length=num_samples)[1]


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _sample(distribution, num_points: int, num_samples: int, key: Array) -> Array:
    keys = _sequential_keys(key, num_samples)
    return jax.vmap(lambda k: distribution(num_points, key=k))(keys)
