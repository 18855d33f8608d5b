"""Building blocks on channels-last arrays ``(*batch, *spatial, C)``.

Every layer takes a batch: at least one leading batch axis (any number is allowed, they are merged),
then ``num_spatial_dims`` spatial axes and one channel axis; a single unbatched state is rejected (steppers
are called on batches, docs/architecture.md, "Array conventions"). Inputs must be real floating point
(integer, bool and complex data raise TypeError). Kernels and biases are float32 parameters initialised like
PyTorch/Equinox layers, uniform in ``[-1/sqrt(fan_in), 1/sqrt(fan_in)]``; ``zero_bias_init=True``
starts biases at zero. ``compute_dtype`` (e.g. ``jnp.bfloat16``) casts inputs and kernels for the
contraction only (default: the promoted dtype of input and kernel, so float64 inputs under x64 are
convolved in float64); the result has the dtype of the input.
"""

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from emutrain.nn import spatial as spatial_sharding
from emutrain.nn._validation import (
    check_boundary_mode,
    check_input,
    check_kernel_size,
    check_layer_shape,
    check_num_spatial_dims,
    per_axis_ints,
)
from emutrain.validation import check_choice, check_int

_DIMENSION_NUMBERS = {
    1: ("NWC", "WIO", "NWC"),
    2: ("NHWC", "HWIO", "NHWC"),
    3: ("NDHWC", "DHWIO", "NDHWC"),
}
_PAD_MODES = {"periodic": "wrap", "dirichlet": "constant", "neumann": "reflect"}
KERNEL_ALIGNMENTS = ("center", "right", "left")


_CHUNK = 4096


@functools.partial(jax.jit, static_argnames=("distribution",))
def _chunk(key: jax.Array, distribution: str) -> jax.Array:
    sample = jax.random.uniform if distribution == "uniform" else jax.random.normal
    return sample(key, (_CHUNK,), jnp.float32)


@functools.partial(jax.jit, static_argnames=("shape",))
def _scale_to(flat: jax.Array, low: float, high: float, shape: tuple[int, ...]) -> jax.Array:
    return (low + (high - low) * flat[: math.prod(shape)]).reshape(shape)


def _draw(key: jax.Array, shape: Sequence[int], distribution: str) -> jax.Array:
    # fixed-size chunks: the random-bit generator compiles once for all layer shapes (compiling it per
    # shape dominated model construction time on CPU)
    size = math.prod(shape)
    chunks = [_chunk(jax.random.fold_in(key, i), distribution) for i in range(-(-size // _CHUNK))]
    return chunks[0] if len(chunks) == 1 else jnp.concatenate(chunks)


def uniform_init(key: jax.Array, shape: Sequence[int], low: float, high: float) -> jax.Array:
    """float32 samples uniform in ``[low, high)`` of the given shape."""
    return _scale_to(_draw(key, shape, "uniform"), low, high, tuple(shape))


def normal_init(key: jax.Array, shape: Sequence[int], std: float) -> jax.Array:
    """float32 samples of the given shape, normal with mean 0 and standard deviation ``std``."""
    return _scale_to(_draw(key, shape, "normal"), 0.0, std, tuple(shape))


def _uniform(key: jax.Array, shape: Sequence[int], bound: float) -> jax.Array:
    return uniform_init(key, shape, -bound, bound)


def _bias(
    rngs: nnx.Rngs, out_channels: int, bound: float, use_bias: bool, zero_bias_init: bool
) -> nnx.Param | None:
    """The ``(out_channels,)`` bias parameter (drawn after the kernel), zeros, or ``None`` without bias."""
    if not use_bias:
        return nnx.data(None)
    if zero_bias_init:
        return nnx.Param(jnp.zeros((out_channels,)))
    return nnx.Param(_uniform(rngs.params(), (out_channels,), bound))


def _flatten_batch(x: jax.Array, num_core_axes: int) -> tuple[jax.Array, tuple[int, ...]]:
    """Merge all leading batch axes into one; return the array and the original batch shape."""
    batch_shape = x.shape[: x.ndim - num_core_axes]
    return x.reshape((-1, *x.shape[x.ndim - num_core_axes :])), batch_shape


def _pad_spatial(
    x: jax.Array, num_spatial_dims: int, before: int, after: int, boundary_mode: str
) -> jax.Array:
    """Pad the spatial axes of ``x`` ``(*batch, *spatial, C)`` by ``before``/``after`` cells per axis.

    ``periodic`` wraps around, ``dirichlet`` pads zeros (homogeneous Dirichlet ghost cells),
    ``neumann`` mirrors about the boundary cell (``x[-1] = x[1]``: zero normal derivative at the
    boundary node).
    """
    check_boundary_mode(boundary_mode)
    if before == after == 0:
        return x
    pad = [(0, 0)] * (x.ndim - num_spatial_dims - 1) + [(before, after)] * num_spatial_dims + [(0, 0)]
    return jnp.pad(x, pad, mode=_PAD_MODES[boundary_mode])


class Conv(nnx.Module):
    """Convolution with boundary handling: pad by the boundary mode, then a VALID convolution.

    Input ``(*batch, *spatial, in_channels)``, output ``(*batch, *spatial', out_channels)`` with
    ``spatial' = spatial // stride`` (``stride`` must divide the spatial size). Output cell ``j``
    is centred on input cell ``stride * j``.

    ``kernel_alignment`` places the kernel relative to that cell: ``"center"`` (odd ``kernel_size``)
    reads ``(k - 1) // 2`` cells on each side; ``"right"`` reads the cell and the ``k - 1`` cells
    after it along every axis, ``"left"`` the ``k - 1`` cells before it (any ``kernel_size``; e.g. a
    kernel of 2 aligned right is the (center, right) stencil of first-order upwinding for a negative
    velocity).

    ``receptive_field`` is one-sided, in input cells: ``dilation * (kernel_size - 1) // 2``, or
    ``dilation * (kernel_size - 1)`` for a one-sided kernel.
    """

    def __init__(
        self,
        num_spatial_dims: int,
        in_channels: int,
        out_channels: int,
        *,
        kernel_size: int = 3,
        stride: int = 1,
        dilation: int = 1,
        boundary_mode: str = "periodic",
        kernel_alignment: str = "center",
        use_bias: bool = True,
        zero_bias_init: bool = False,
        compute_dtype: jnp.dtype | None = None,
        rngs: nnx.Rngs,
    ):
        check_layer_shape(num_spatial_dims, in_channels, out_channels)
        check_choice("kernel_alignment", kernel_alignment, KERNEL_ALIGNMENTS)
        if kernel_alignment == "center":
            check_kernel_size(kernel_size)
        else:
            check_int("kernel_size", kernel_size, minimum=1)
        check_int("stride", stride, minimum=1)
        check_int("dilation", dilation, minimum=1)
        check_boundary_mode(boundary_mode)
        self.num_spatial_dims = num_spatial_dims
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.dilation = dilation
        self.boundary_mode = boundary_mode
        self.kernel_alignment = kernel_alignment
        self.compute_dtype = compute_dtype
        kernel_shape = (kernel_size,) * num_spatial_dims + (in_channels, out_channels)
        bound = 1.0 / math.sqrt(in_channels * kernel_size**num_spatial_dims)
        self.kernel = nnx.Param(_uniform(rngs.params(), kernel_shape, bound))
        self.bias = _bias(rngs, out_channels, bound, use_bias, zero_bias_init)

    @property
    def receptive_field(self) -> int:
        if self.kernel_alignment != "center":
            return self.dilation * (self.kernel_size - 1)
        return self.dilation * (self.kernel_size - 1) // 2

    def __call__(self, x: jax.Array) -> jax.Array:
        d = self.num_spatial_dims
        check_input(x, d, self.in_channels)
        for n in x.shape[x.ndim - d - 1 : -1]:
            if n % self.stride:
                raise ValueError(
                    f"spatial size must be divisible by stride={self.stride}, got shape {x.shape}"
                )
        x, batch_shape = _flatten_batch(x, d + 1)
        out_dtype = x.dtype
        compute_dtype = self.compute_dtype or jnp.promote_types(x.dtype, self.kernel.dtype)
        x, kernel = x.astype(compute_dtype), self.kernel[...].astype(compute_dtype)
        width = self.receptive_field
        before, after = {"center": (width, width), "right": (0, width), "left": (width, 0)}[
            self.kernel_alignment
        ]
        conv = functools.partial(
            jax.lax.conv_general_dilated,
            window_strides=(self.stride,) * d,
            rhs_dilation=(self.dilation,) * d,
            dimension_numbers=_DIMENSION_NUMBERS[d],
        )
        if spatial_sharding.halo_applies(x.shape, d, before, after, self.stride, self.boundary_mode):
            # first spatial axis split over the context mesh's `space` axis: exchange halos only
            y = spatial_sharding.halo_conv(
                functools.partial(conv, padding="VALID"), x, kernel, d, before, after, self.boundary_mode
            )
        elif self.boundary_mode == "dirichlet":
            # zero ghost cells: let the convolution pad, saving a padded copy of the input
            y = conv(x, kernel, padding=((before, after),) * d)
        else:
            y = conv(_pad_spatial(x, d, before, after, self.boundary_mode), kernel, padding="VALID")
        y = y.astype(out_dtype)
        if self.bias is not None:
            y = y + self.bias[...].astype(out_dtype)
        return y.reshape((*batch_shape, *y.shape[1:]))


class PointwiseLinear(nnx.Module):
    """Per-cell linear map of the channels (a 1x1 convolution): ``(B, ..., in_channels) -> (B, ...,
    out_channels)``.

    Any number of axes between the batch axis and the channels; ``(B, in_channels)`` vectors are allowed.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        use_bias: bool = True,
        zero_bias_init: bool = False,
        compute_dtype: jnp.dtype | None = None,
        rngs: nnx.Rngs,
    ):
        check_int("in_channels", in_channels, minimum=1)
        check_int("out_channels", out_channels, minimum=1)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.compute_dtype = compute_dtype
        bound = 1.0 / math.sqrt(in_channels)
        self.kernel = nnx.Param(_uniform(rngs.params(), (in_channels, out_channels), bound))
        self.bias = _bias(rngs, out_channels, bound, use_bias, zero_bias_init)

    receptive_field = 0

    def __call__(self, x: jax.Array) -> jax.Array:
        # Acts per cell, so it needs no spatial rank: (B, C) feature vectors (the MLP) are valid input too.
        check_input(x, 0, self.in_channels)
        out_dtype = x.dtype
        kernel = self.kernel[...]
        if self.compute_dtype is not None:
            x, kernel = x.astype(self.compute_dtype), kernel.astype(self.compute_dtype)
        y = jnp.dot(x, kernel).astype(out_dtype)
        if self.bias is not None:
            y = y + self.bias[...].astype(out_dtype)
        return y


class SpectralConv(nnx.Module):
    """Fourier-space convolution of the Fourier Neural Operator (Li et al., ICLR 2021), periodic.

    ``(*batch, *spatial, in_channels) -> (*batch, *spatial, out_channels)``. The lowest ``modes[i]``
    wavenumbers per axis (both signs on every axis but the last, which uses ``rfft``) are multiplied by
    a learned complex ``in_channels x out_channels`` matrix per mode; all other modes are dropped.
    Each spatial size ``N_i`` must satisfy ``modes[i] <= N_i // 2`` (checked at call).

    Weights are stored as real and imaginary float32 parameters of shape
    ``(2*m_1, ..., 2*m_{D-1}, m_D, in_channels, out_channels)`` each, initialised normal with mean 0
    and standard deviation ``1/(in_channels*out_channels)``, as APEBench's FNO (pdequinox). (Li et al.'s
    reference code draws them uniform in ``[0, 1/(in_channels*out_channels))``: all positive, which made
    one seed in three diverge on KdV in the APEBench study; see the README.) FFTs run in float32 or
    wider (there is no bf16 FFT); ``compute_dtype`` is not offered here.
    """

    def __init__(
        self,
        num_spatial_dims: int,
        in_channels: int,
        out_channels: int,
        *,
        modes: int | Sequence[int],
        rngs: nnx.Rngs,
    ):
        check_layer_shape(num_spatial_dims, in_channels, out_channels)
        modes = per_axis_ints("modes", modes, num_spatial_dims)
        self.num_spatial_dims = num_spatial_dims
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.modes = modes
        shape = tuple(2 * m for m in modes[:-1]) + (modes[-1], in_channels, out_channels)
        scale = 1.0 / (in_channels * out_channels)
        self.weights_real = nnx.Param(normal_init(rngs.params(), shape, scale))
        self.weights_imag = nnx.Param(normal_init(rngs.params(), shape, scale))

    receptive_field = None

    def _mode_indices(self, spatial: Sequence[int]) -> tuple[jax.Array, ...]:
        for axis, (n, m) in enumerate(zip(spatial, self.modes)):
            if m > n // 2:
                raise ValueError(f"modes must be <= N/2 on every axis, got modes[{axis}]={m} for N={n}")
        idx = [
            jnp.concatenate([jnp.arange(m), jnp.arange(n - m, n)])
            for n, m in zip(spatial[:-1], self.modes[:-1])
        ]
        idx.append(jnp.arange(self.modes[-1]))
        return tuple(jnp.ix_(*idx))

    def __call__(self, x: jax.Array) -> jax.Array:
        d = self.num_spatial_dims
        check_input(x, d, self.in_channels)
        x, batch_shape = _flatten_batch(x, d + 1)
        spatial = x.shape[1:-1]
        index = self._mode_indices(spatial)
        if spatial_sharding.spectral_applies(x.shape, d):
            # first spatial axis split over the context mesh's `space` axis
            weights = jax.lax.complex(self.weights_real[...], self.weights_imag[...])
            y = spatial_sharding.spectral_conv(x, weights, self.modes, self.out_channels).astype(x.dtype)
            return y.reshape((*batch_shape, *y.shape[1:]))
        axes = tuple(range(1, d + 1))
        x_hat = jnp.fft.rfftn(x, axes=axes)
        kept = x_hat[(slice(None), *index)]
        weights = jax.lax.complex(self.weights_real[...], self.weights_imag[...])
        mixed = jnp.einsum("b...i,...io->b...o", kept, weights)
        out_hat = jnp.zeros((x.shape[0], *spatial[:-1], spatial[-1] // 2 + 1, self.out_channels), mixed.dtype)
        out_hat = out_hat.at[(slice(None), *index)].set(mixed)
        y = jnp.fft.irfftn(out_hat, s=spatial, axes=axes).astype(x.dtype)
        return y.reshape((*batch_shape, *y.shape[1:]))


class _Resample(nnx.Module):
    """One :class:`Conv` of stride ``_stride`` that changes the grid, built with the keyword options of
    :class:`Conv` (``kernel_size``, ``boundary_mode``, ``zero_bias_init``, ``compute_dtype``, ``rngs``, ...);
    subclasses say how it is called."""

    _stride = 1

    def __init__(self, num_spatial_dims: int, in_channels: int, out_channels: int, **conv_options: Any):
        self.num_spatial_dims = num_spatial_dims
        self.conv = Conv(num_spatial_dims, in_channels, out_channels, stride=self._stride, **conv_options)

    @property
    def receptive_field(self) -> int:
        return self.conv.receptive_field


class Downsample(_Resample):
    """Halve every spatial size with a stride-2 :class:`Conv` under the boundary mode.

    ``(*batch, *spatial, in_channels) -> (*batch, *spatial/2, out_channels)``; output cell ``j`` is
    centred on input cell ``2j``. ``receptive_field`` (one-sided, input cells) is ``(kernel_size-1)//2``.
    Keyword options (``kernel_size``, ``boundary_mode``, ...) are those of :class:`Conv`.
    """

    _stride = 2

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.conv(x)


def insert_zeros(x: jax.Array, num_spatial_dims: int) -> jax.Array:
    """Double every spatial size of ``(*batch, *spatial, C)``: ``x`` on the even cells, zeros on the odd."""
    for axis in range(x.ndim - num_spatial_dims - 1, x.ndim - 1):
        x = jnp.stack([x, jnp.zeros_like(x)], axis=axis + 1)
        x = x.reshape((*x.shape[:axis], 2 * x.shape[axis], *x.shape[axis + 2 :]))
    return x


class Upsample(_Resample):
    """Double every spatial size with a transposed convolution: zero insertion, then a :class:`Conv`.

    ``(*batch, *spatial, in_channels) -> (*batch, 2*spatial, out_channels)``; coarse cell ``j`` sits on
    fine cell ``2j``. ``receptive_field`` (one-sided, fine cells) is ``(kernel_size-1)//2``.
    Keyword options (``kernel_size``, ``boundary_mode``, ...) are those of :class:`Conv`.
    """

    def __call__(self, x: jax.Array) -> jax.Array:
        check_input(x, self.num_spatial_dims, self.conv.in_channels)
        return self.conv(insert_zeros(x, self.num_spatial_dims))


class GroupNorm(nnx.Module):
    """Group normalization (Wu & He, ECCV 2018) of each sample of ``(*batch, *spatial, C)``.

    The channels are split into ``num_groups`` groups; each group is normalised to zero mean and unit
    variance over all its channels and all spatial cells of one sample, then scaled and shifted by a
    learned per-channel ``scale`` (init 1) and ``bias`` (init 0): ``2 * channels`` parameters. With one
    group (the default, as in the reference architectures) this is a layer norm over space and channels.
    Wraps :class:`flax.nnx.GroupNorm` (two-pass variance, ``epsilon = 1e-5`` as in Equinox's GroupNorm).
    """

    def __init__(
        self,
        num_spatial_dims: int,
        channels: int,
        *,
        num_groups: int = 1,
        epsilon: float = 1e-5,
        rngs: nnx.Rngs,
    ):
        check_num_spatial_dims(num_spatial_dims)
        check_int("channels", channels, minimum=1)
        check_int("num_groups", num_groups, minimum=1)
        if channels % num_groups:
            raise ValueError(f"num_groups must divide channels={channels}, got num_groups={num_groups}")
        self.num_spatial_dims = num_spatial_dims
        self.channels = channels
        self.norm = nnx.GroupNorm(
            channels, num_groups=num_groups, epsilon=epsilon, use_fast_variance=False, rngs=rngs
        )

    receptive_field = None

    def __call__(self, x: jax.Array) -> jax.Array:
        d = self.num_spatial_dims
        check_input(x, d, self.channels)
        # flax normalises over every axis after the first: merge all batch axes into that one.
        flat, _ = _flatten_batch(x, d + 1)
        return self.norm(flat).reshape(x.shape)


class Network(nnx.Module):
    """Base of the architectures: a module that reports ``num_parameters``, its trainable scalars."""

    @property
    def num_parameters(self) -> int:
        return count_parameters(self)


class LiftedBlocks(Network):
    """Pointwise lifting to ``hidden_channels``, ``num_blocks`` blocks at that width, pointwise projection.

    ``(*batch, *spatial, in_channels) -> (*batch, *spatial, out_channels)``. The base of the residual
    nets and the FNO; ``block(num_spatial_dims, hidden_channels, zero_bias_init=..., compute_dtype=...,
    rngs=...)`` builds one block. Modules are created in the order lifting, blocks, projection, which fixes
    how ``rngs`` is consumed.
    """

    def __init__(
        self,
        num_spatial_dims: int,
        in_channels: int,
        out_channels: int,
        block: Callable[..., nnx.Module],
        *,
        hidden_channels: int,
        num_blocks: int,
        zero_bias_init: bool,
        compute_dtype: jnp.dtype | None,
        rngs: nnx.Rngs,
    ):
        check_int("hidden_channels", hidden_channels, minimum=1)
        check_int("num_blocks", num_blocks, minimum=1)
        self.num_spatial_dims = num_spatial_dims
        self.in_channels = in_channels
        options = dict(zero_bias_init=zero_bias_init, compute_dtype=compute_dtype, rngs=rngs)
        self.lifting = PointwiseLinear(in_channels, hidden_channels, **options)
        blocks = [block(num_spatial_dims, hidden_channels, **options) for _ in range(num_blocks)]
        self.blocks = nnx.List(blocks)
        self.projection = PointwiseLinear(hidden_channels, out_channels, **options)

    @property
    def receptive_field(self) -> int:
        # lifting and projection act per cell
        return sum(block.receptive_field for block in self.blocks)

    def __call__(self, x: jax.Array) -> jax.Array:
        check_input(x, self.num_spatial_dims, self.in_channels)
        x = self.lifting(x)
        for block in self.blocks:
            x = block(x)
        return self.projection(x)


def count_parameters(module: nnx.Module) -> int:
    """Number of trainable scalars (real numbers) in the :class:`flax.nnx.Param` leaves of ``module``."""
    return sum(int(math.prod(leaf.shape)) for leaf in jax.tree.leaves(nnx.state(module, nnx.Param)))
