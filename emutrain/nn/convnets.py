"""Local convolutional emulators: :class:`ConvNet`, :class:`ResNet`, :class:`DilatedResNet`.

All map ``(*batch, *spatial, in_channels) -> (*batch, *spatial, out_channels)`` with 1, 2 or 3
spatial dims. ``receptive_field`` is one-sided, in grid cells: output cell ``i`` depends on input
cells ``i - r .. i + r`` along every axis (wrapped for periodic boundaries).
"""

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from emutrain.nn._validation import check_kernel_size, check_positive
from emutrain.nn.layers import Conv, LiftedBlocks, count_parameters

Activation = Callable[[jax.Array], jax.Array]


class ConvNet(nnx.Module):
    """Plain stack of ``depth + 1`` convolutions with an activation after all but the last.

    Channels: ``in -> hidden -> ... -> hidden -> out``. ``receptive_field = (depth + 1) * (kernel_size - 1) // 2``.
    """

    def __init__(
        self,
        num_spatial_dims: int,
        in_channels: int,
        out_channels: int,
        *,
        hidden_channels: int = 32,
        depth: int = 3,
        kernel_size: int = 3,
        boundary_mode: str = "periodic",
        activation: Activation = jax.nn.relu,
        zero_bias_init: bool = False,
        compute_dtype: jnp.dtype | None = None,
        rngs: nnx.Rngs,
    ):
        check_positive("depth", depth)
        check_positive("hidden_channels", hidden_channels)
        check_kernel_size(kernel_size)
        self.num_spatial_dims = num_spatial_dims
        self.activation = activation
        channels = [in_channels] + [hidden_channels] * depth + [out_channels]
        self.layers = nnx.List(
            [
                Conv(num_spatial_dims, c_in, c_out, kernel_size=kernel_size, boundary_mode=boundary_mode,
                     zero_bias_init=zero_bias_init, compute_dtype=compute_dtype, rngs=rngs)
                for c_in, c_out in zip(channels[:-1], channels[1:])
            ]
        )

    @property
    def receptive_field(self) -> int:
        return sum(layer.receptive_field for layer in self.layers)

    @property
    def num_parameters(self) -> int:
        return count_parameters(self)

    def __call__(self, x: jax.Array) -> jax.Array:
        for layer in self.layers[:-1]:
            x = self.activation(layer(x))
        return self.layers[-1](x)


class ResidualBlock(nnx.Module):
    """Two same-width convolutions with an identity skip.

    ``block="classic"`` (He et al., 2016): ``act(x + conv2(act(conv1(x))))``.
    ``block="modern"`` (pre-activation, He et al., ECCV 2016): ``x + conv2(act(conv1(act(x))))``.
    """

    def __init__(
        self,
        num_spatial_dims: int,
        channels: int,
        *,
        kernel_size: int,
        dilations: Sequence[int] = (1, 1),
        block: str = "classic",
        boundary_mode: str,
        activation: Activation,
        zero_bias_init: bool,
        compute_dtype: jnp.dtype | None,
        rngs: nnx.Rngs,
    ):
        if block not in ("classic", "modern"):
            raise ValueError(f"block must be 'classic' or 'modern', got {block!r}")
        self.block = block
        self.activation = activation
        self.convs = nnx.List(
            [
                Conv(num_spatial_dims, channels, channels, kernel_size=kernel_size, dilation=d,
                     boundary_mode=boundary_mode, zero_bias_init=zero_bias_init, compute_dtype=compute_dtype,
                     rngs=rngs)
                for d in dilations
            ]
        )

    @property
    def receptive_field(self) -> int:
        return sum(conv.receptive_field for conv in self.convs)

    def __call__(self, x: jax.Array) -> jax.Array:
        h = x
        if self.block == "modern":
            for conv in self.convs:
                h = conv(self.activation(h))
            return x + h
        for conv in self.convs[:-1]:
            h = self.activation(conv(h))
        return self.activation(x + self.convs[-1](h))


class _ResidualStack(LiftedBlocks):
    """Pointwise lifting, residual blocks, pointwise projection (shared by ResNet and DilatedResNet)."""

    def __init__(
        self,
        num_spatial_dims: int,
        in_channels: int,
        out_channels: int,
        *,
        hidden_channels: int,
        num_blocks: int,
        kernel_size: int,
        dilations: Sequence[int],
        block: str,
        boundary_mode: str,
        activation: Activation,
        zero_bias_init: bool,
        compute_dtype: jnp.dtype | None,
        rngs: nnx.Rngs,
    ):
        check_positive("hidden_channels", hidden_channels)
        check_positive("num_blocks", num_blocks)
        check_kernel_size(kernel_size)
        super().__init__(
            num_spatial_dims, in_channels, out_channels, hidden_channels=hidden_channels,
            num_blocks=num_blocks, zero_bias_init=zero_bias_init, compute_dtype=compute_dtype, rngs=rngs,
            make_block=lambda rngs: ResidualBlock(
                num_spatial_dims, hidden_channels, kernel_size=kernel_size, dilations=dilations, block=block,
                boundary_mode=boundary_mode, activation=activation, zero_bias_init=zero_bias_init,
                compute_dtype=compute_dtype, rngs=rngs,
            ),
        )

    @property
    def receptive_field(self) -> int:
        return sum(b.receptive_field for b in self.blocks)


class ResNet(_ResidualStack):
    """Residual network: pointwise lifting, ``num_blocks`` two-convolution residual blocks, pointwise projection.

    ``block`` is ``"classic"`` (post-activation) or ``"modern"`` (pre-activation), see
    :class:`ResidualBlock`. ``receptive_field = num_blocks * 2 * (kernel_size - 1) // 2``.
    """

    def __init__(
        self,
        num_spatial_dims: int,
        in_channels: int,
        out_channels: int,
        *,
        hidden_channels: int = 32,
        num_blocks: int = 2,
        kernel_size: int = 3,
        boundary_mode: str = "periodic",
        activation: Activation = jax.nn.relu,
        block: str = "classic",
        zero_bias_init: bool = False,
        compute_dtype: jnp.dtype | None = None,
        rngs: nnx.Rngs,
    ):
        super().__init__(
            num_spatial_dims, in_channels, out_channels, hidden_channels=hidden_channels, num_blocks=num_blocks,
            kernel_size=kernel_size, dilations=(1, 1), block=block, boundary_mode=boundary_mode,
            activation=activation, zero_bias_init=zero_bias_init, compute_dtype=compute_dtype, rngs=rngs,
        )


class DilatedResNet(_ResidualStack):
    """Residual network whose blocks are chains of dilated convolutions (Stachenfeld et al., ICLR 2022).

    Each block applies one convolution per entry of ``dilation_rates`` (default ``(1, 2, 4, 8, 4, 2, 1)``)
    with activations in between and an identity skip. ``receptive_field =
    num_blocks * sum(dilation_rates) * (kernel_size - 1) // 2``.
    """

    def __init__(
        self,
        num_spatial_dims: int,
        in_channels: int,
        out_channels: int,
        *,
        hidden_channels: int = 32,
        num_blocks: int = 2,
        dilation_rates: Sequence[int] = (1, 2, 4, 8, 4, 2, 1),
        kernel_size: int = 3,
        boundary_mode: str = "periodic",
        activation: Activation = jax.nn.relu,
        block: str = "classic",
        zero_bias_init: bool = False,
        compute_dtype: jnp.dtype | None = None,
        rngs: nnx.Rngs,
    ):
        dilation_rates = tuple(dilation_rates)
        if not dilation_rates or any(not isinstance(d, int) or d < 1 for d in dilation_rates):
            raise ValueError(f"dilation_rates must be a non-empty sequence of integers >= 1, got {dilation_rates!r}")
        super().__init__(
            num_spatial_dims, in_channels, out_channels, hidden_channels=hidden_channels, num_blocks=num_blocks,
            kernel_size=kernel_size, dilations=dilation_rates, block=block, boundary_mode=boundary_mode,
            activation=activation, zero_bias_init=zero_bias_init, compute_dtype=compute_dtype, rngs=rngs,
        )
