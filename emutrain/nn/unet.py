"""U-Net emulator (Ronneberger et al., MICCAI 2015) on channels-last grids."""

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from emutrain.nn._validation import check_kernel_size, check_non_negative, check_positive
from emutrain.nn.layers import Conv, Downsample, PointwiseLinear, Upsample, count_parameters


class DoubleConv(nnx.Module):
    """``act(conv2(act(conv1(x))))`` with kernel ``kernel_size``: ``(..., in_channels) -> (..., out_channels)``."""

    def __init__(self, num_spatial_dims: int, in_channels: int, out_channels: int, *, kernel_size: int,
                 boundary_mode: str, activation: Callable[[jax.Array], jax.Array], zero_bias_init: bool,
                 compute_dtype: jnp.dtype | None, rngs: nnx.Rngs):
        self.activation = activation
        options = dict(kernel_size=kernel_size, boundary_mode=boundary_mode, zero_bias_init=zero_bias_init,
                       compute_dtype=compute_dtype, rngs=rngs)
        self.conv1 = Conv(num_spatial_dims, in_channels, out_channels, **options)
        self.conv2 = Conv(num_spatial_dims, out_channels, out_channels, **options)

    @property
    def receptive_field(self) -> int:
        return self.conv1.receptive_field + self.conv2.receptive_field

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.activation(self.conv2(self.activation(self.conv1(x))))


class UNet(nnx.Module):
    """U-Net with ``num_levels`` halvings of the grid.

    Level 0 has ``hidden_channels`` channels, level ``l >= 1`` has
    ``hidden_channels * channel_multipliers[l-1]`` (default multipliers ``2**l``). Structure::

        x_0 = DoubleConv(in -> c_0)(u)
        x_l = DoubleConv(c_{l-1} -> c_l)(Downsample(c_{l-1} -> c_{l-1})(x_{l-1}))          l = 1..L
        y_L = x_L;  y_{l-1} = DoubleConv(2 c_{l-1} -> c_{l-1})(concat[Upsample(c_l -> c_{l-1})(y_l), x_{l-1}])
        out = PointwiseLinear(c_0 -> out)(y_0)

    Down-sampling is a stride-2 convolution, up-sampling a transposed convolution (zero insertion then
    a convolution), both with ``kernel_size`` and the boundary mode. Every spatial size must be
    divisible by ``2**num_levels`` (checked at call). The network is equivariant to shifts by multiples
    of ``2**num_levels`` cells.

    ``receptive_field`` is one-sided, in finest-grid cells, the longest path down and up:
    ``2r + 8r(2**L - 1)`` with ``r = (kernel_size - 1) // 2``.
    """

    def __init__(
        self,
        num_spatial_dims: int,
        in_channels: int,
        out_channels: int,
        *,
        hidden_channels: int = 8,
        num_levels: int = 2,
        channel_multipliers: Sequence[int] | None = None,
        kernel_size: int = 3,
        boundary_mode: str = "periodic",
        activation: Callable[[jax.Array], jax.Array] = jax.nn.relu,
        zero_bias_init: bool = False,
        compute_dtype: jnp.dtype | None = None,
        rngs: nnx.Rngs,
    ):
        check_positive("hidden_channels", hidden_channels)
        check_non_negative("num_levels", num_levels)
        check_kernel_size(kernel_size)
        if channel_multipliers is None:
            channel_multipliers = tuple(2**level for level in range(1, num_levels + 1))
        channel_multipliers = tuple(channel_multipliers)
        if len(channel_multipliers) != num_levels or any(not isinstance(m, int) or m < 1 for m in channel_multipliers):
            raise ValueError(
                f"channel_multipliers must be {num_levels} integers >= 1 (one per level below the finest), "
                f"got {channel_multipliers!r}"
            )
        self.num_spatial_dims = num_spatial_dims
        self.num_levels = num_levels
        self.channel_multipliers = channel_multipliers
        channels = [hidden_channels] + [hidden_channels * m for m in channel_multipliers]
        options = dict(kernel_size=kernel_size, boundary_mode=boundary_mode, zero_bias_init=zero_bias_init,
                       compute_dtype=compute_dtype, rngs=rngs)
        block = dict(activation=activation, **options)
        d = num_spatial_dims
        self.lifting = DoubleConv(d, in_channels, channels[0], **block)
        self.down = nnx.List([Downsample(d, channels[lv - 1], channels[lv - 1], **options)
                              for lv in range(1, num_levels + 1)])
        self.encoder = nnx.List([DoubleConv(d, channels[lv - 1], channels[lv], **block)
                                 for lv in range(1, num_levels + 1)])
        self.up = nnx.List([Upsample(d, channels[lv], channels[lv - 1], **options)
                            for lv in range(1, num_levels + 1)])
        self.decoder = nnx.List([DoubleConv(d, 2 * channels[lv - 1], channels[lv - 1], **block)
                                 for lv in range(1, num_levels + 1)])
        self.projection = PointwiseLinear(channels[0], out_channels, zero_bias_init=zero_bias_init,
                                          compute_dtype=compute_dtype, rngs=rngs)

    @property
    def receptive_field(self) -> int:
        field = self.lifting.receptive_field
        for lv in range(1, self.num_levels + 1):
            spacing = 2 ** (lv - 1)
            field += spacing * (self.down[lv - 1].receptive_field + self.up[lv - 1].receptive_field
                                + self.decoder[lv - 1].receptive_field)
            field += 2 * spacing * self.encoder[lv - 1].receptive_field
        return field

    @property
    def num_parameters(self) -> int:
        return count_parameters(self)

    def __call__(self, x: jax.Array) -> jax.Array:
        factor = 2**self.num_levels
        spatial = x.shape[x.ndim - self.num_spatial_dims - 1 : -1]
        if any(n % factor for n in spatial):
            raise ValueError(
                f"spatial size must be divisible by 2**num_levels={factor} (num_levels={self.num_levels}), "
                f"got spatial shape {tuple(spatial)}"
            )
        skips = [self.lifting(x)]
        for down, encoder in zip(self.down, self.encoder):
            skips.append(encoder(down(skips[-1])))
        y = skips.pop()
        for lv in reversed(range(self.num_levels)):
            y = self.decoder[lv](jnp.concatenate([self.up[lv](y), skips.pop()], axis=-1))
        return self.projection(y)
