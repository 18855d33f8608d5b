"""U-Nets (Ronneberger et al., MICCAI 2015) on channels-last grids: the classic :class:`UNet` with double
convolutions and the :class:`ModernUNet` with residual blocks."""

import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from emutrain.nn._validation import check_input, check_kernel_size
from emutrain.nn.convnets import ResidualBlock
from emutrain.nn.layers import Conv, Downsample, GroupNorm, Network, PointwiseLinear, Upsample
from emutrain.validation import check_int

Activation = Callable[[jax.Array], jax.Array]


class DoubleConv(nnx.Module):
    """``act(n2(conv2(act(n1(conv1(x))))))`` with kernel ``kernel_size``: ``(B, ..., in_channels) -> (B, ...,
    out_channels)``; ``n1``, ``n2`` are group norms when ``use_norm`` (identity otherwise)."""

    def __init__(
        self,
        num_spatial_dims: int,
        in_channels: int,
        out_channels: int,
        *,
        kernel_size: int,
        boundary_mode: str,
        activation: Activation,
        zero_bias_init: bool,
        compute_dtype: jnp.dtype | None,
        use_norm: bool = False,
        num_groups: int = 1,
        rngs: nnx.Rngs,
    ):
        self.activation = activation
        options = dict(
            kernel_size=kernel_size,
            boundary_mode=boundary_mode,
            zero_bias_init=zero_bias_init,
            compute_dtype=compute_dtype,
            rngs=rngs,
        )
        self.conv1 = Conv(num_spatial_dims, in_channels, out_channels, **options)
        self.conv2 = Conv(num_spatial_dims, out_channels, out_channels, **options)
        if use_norm:
            self.norm1 = GroupNorm(num_spatial_dims, out_channels, num_groups=num_groups, rngs=rngs)
            self.norm2 = GroupNorm(num_spatial_dims, out_channels, num_groups=num_groups, rngs=rngs)
        else:
            self.norm1 = nnx.data(None)
            self.norm2 = nnx.data(None)

    @property
    def receptive_field(self) -> int:
        return self.conv1.receptive_field + self.conv2.receptive_field

    def __call__(self, x: jax.Array) -> jax.Array:
        h = self.conv1(x)
        h = self.activation(h if self.norm1 is None else self.norm1(h))
        h = self.conv2(h)
        return self.activation(h if self.norm2 is None else self.norm2(h))


class ResidualStage(nnx.Module):
    """``num_blocks`` pre-activation :class:`ResidualBlock` s; the first maps ``in_channels -> out_channels``
    (with a pointwise skip when they differ), the others keep ``out_channels``. The other keyword options
    (``kernel_size``, ``boundary_mode``, ``activation``, ``use_norm``, ...) are those of the blocks."""

    def __init__(
        self,
        num_spatial_dims: int,
        in_channels: int,
        out_channels: int,
        *,
        num_blocks: int,
        **block_options: Any,
    ):
        widths = [in_channels] + [out_channels] * num_blocks
        self.blocks = nnx.List(
            [
                ResidualBlock(num_spatial_dims, c_in, out_channels=c_out, block="modern", **block_options)
                for c_in, c_out in zip(widths[:-1], widths[1:])
            ]
        )

    @property
    def receptive_field(self) -> int:
        return sum(block.receptive_field for block in self.blocks)

    def __call__(self, x: jax.Array) -> jax.Array:
        for block in self.blocks:
            x = block(x)
        return x


class _Hierarchy(Network):
    """U-shaped network with ``num_levels`` halvings; ``lifting(d, c_in, c_out, **options)`` builds the first
    stage, ``stage(d, c_in, c_out, **options)`` the others, with the keyword options of :class:`DoubleConv`.

    Level 0 has ``hidden_channels`` channels, level ``l >= 1`` has
    ``hidden_channels * channel_multipliers[l-1]`` (default multipliers ``2**l``)::

        x_0 = lifting(in -> c_0)(u)
        x_l = stage(c_{l-1} -> c_l)(Downsample(c_{l-1} -> c_{l-1})(x_{l-1}))          l = 1..L
        y_L = x_L;  y_{l-1} = stage(2 c_{l-1} -> c_{l-1})(concat[Upsample(c_l -> c_{l-1})(y_l), x_{l-1}])
        out = PointwiseLinear(c_0 -> out)(y_0)

    Down-sampling is a stride-2 convolution, up-sampling a transposed convolution (zero insertion then a
    convolution), both with ``kernel_size`` and the boundary mode. Every spatial size must be divisible by
    ``2**num_levels`` (checked at call). The network is equivariant to shifts by multiples of
    ``2**num_levels`` cells.
    """

    def _build(
        self,
        num_spatial_dims: int,
        in_channels: int,
        out_channels: int,
        *,
        hidden_channels: int,
        num_levels: int,
        channel_multipliers: Sequence[int] | None,
        kernel_size: int,
        boundary_mode: str,
        activation: Activation,
        use_norm: bool,
        num_groups: int,
        zero_bias_init: bool,
        compute_dtype: jnp.dtype | None,
        stage: Callable[..., nnx.Module],
        lifting: Callable[..., nnx.Module],
        rngs: nnx.Rngs,
    ) -> None:
        check_int("hidden_channels", hidden_channels, minimum=1)
        check_int("num_levels", num_levels, minimum=0)
        check_kernel_size(kernel_size)
        if channel_multipliers is None:
            channel_multipliers = tuple(2**level for level in range(1, num_levels + 1))
        channel_multipliers = tuple(channel_multipliers)
        if len(channel_multipliers) != num_levels or any(
            not isinstance(m, int) or m < 1 for m in channel_multipliers
        ):
            raise ValueError(
                f"channel_multipliers must be {num_levels} integers >= 1 (one per level below the finest), "
                f"got {channel_multipliers!r}"
            )
        self.num_spatial_dims = num_spatial_dims
        self.in_channels = in_channels
        self.num_levels = num_levels
        self.channel_multipliers = channel_multipliers
        channels = [hidden_channels] + [hidden_channels * m for m in channel_multipliers]
        options = dict(
            kernel_size=kernel_size,
            boundary_mode=boundary_mode,
            zero_bias_init=zero_bias_init,
            compute_dtype=compute_dtype,
            rngs=rngs,
        )
        d = num_spatial_dims
        levels = range(1, num_levels + 1)
        stage_options = dict(options, activation=activation, use_norm=use_norm, num_groups=num_groups)
        # Creation order (lifting, down, encoder, up, decoder, projection) fixes how rngs is consumed.
        self.lifting = lifting(d, in_channels, channels[0], **stage_options)
        self.down = nnx.List([Downsample(d, channels[lv - 1], channels[lv - 1], **options) for lv in levels])
        self.encoder = nnx.List([stage(d, channels[lv - 1], channels[lv], **stage_options) for lv in levels])
        self.up = nnx.List([Upsample(d, channels[lv], channels[lv - 1], **options) for lv in levels])
        self.decoder = nnx.List(
            [stage(d, 2 * channels[lv - 1], channels[lv - 1], **stage_options) for lv in levels]
        )
        self.projection = PointwiseLinear(
            channels[0], out_channels, zero_bias_init=zero_bias_init, compute_dtype=compute_dtype, rngs=rngs
        )

    @property
    def receptive_field(self) -> int:
        field = self.lifting.receptive_field
        for lv in range(1, self.num_levels + 1):
            spacing = 2 ** (lv - 1)
            field += spacing * (
                self.down[lv - 1].receptive_field
                + self.up[lv - 1].receptive_field
                + self.decoder[lv - 1].receptive_field
            )
            field += 2 * spacing * self.encoder[lv - 1].receptive_field
        return field

    def __call__(self, x: jax.Array) -> jax.Array:
        check_input(x, self.num_spatial_dims, self.in_channels)
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


class UNet(_Hierarchy):
    """Classic U-Net: every stage is a :class:`DoubleConv` (``use_norm`` adds group norms after both of its
    convolutions, as in the reference ``ClassicUNet`` and APEBench's ``UNet``).

    See ``_Hierarchy`` for the layout. ``receptive_field`` is one-sided, in finest-grid cells, the longest
    path down and up: ``2r + 8r(2**L - 1)`` with ``r = (kernel_size - 1) // 2``.
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
        activation: Activation = jax.nn.relu,
        use_norm: bool = False,
        num_groups: int = 1,
        zero_bias_init: bool = False,
        compute_dtype: jnp.dtype | None = None,
        rngs: nnx.Rngs,
    ):
        self._build(
            num_spatial_dims,
            in_channels,
            out_channels,
            hidden_channels=hidden_channels,
            num_levels=num_levels,
            channel_multipliers=channel_multipliers,
            kernel_size=kernel_size,
            boundary_mode=boundary_mode,
            activation=activation,
            use_norm=use_norm,
            num_groups=num_groups,
            zero_bias_init=zero_bias_init,
            compute_dtype=compute_dtype,
            stage=DoubleConv,
            lifting=DoubleConv,
            rngs=rngs,
        )


class ModernUNet(_Hierarchy):
    """U-Net whose stages are ``num_blocks`` pre-activation residual blocks with group norms
    (:class:`ResidualStage`), as the reference ``ModernUNet`` and APEBench's ``MoUNet``.

    The lifting is a single such block (``in_channels -> hidden_channels``); see ``_Hierarchy`` for the
    layout. ``receptive_field`` counts the convolutions (the norms couple all cells of a sample).
    """

    def __init__(
        self,
        num_spatial_dims: int,
        in_channels: int,
        out_channels: int,
        *,
        hidden_channels: int = 16,
        num_levels: int = 4,
        num_blocks: int = 2,
        channel_multipliers: Sequence[int] | None = None,
        kernel_size: int = 3,
        boundary_mode: str = "periodic",
        activation: Activation = jax.nn.relu,
        use_norm: bool = True,
        num_groups: int = 1,
        zero_bias_init: bool = False,
        compute_dtype: jnp.dtype | None = None,
        rngs: nnx.Rngs,
    ):
        check_int("num_blocks", num_blocks, minimum=1)
        self._build(
            num_spatial_dims,
            in_channels,
            out_channels,
            hidden_channels=hidden_channels,
            num_levels=num_levels,
            channel_multipliers=channel_multipliers,
            kernel_size=kernel_size,
            boundary_mode=boundary_mode,
            activation=activation,
            use_norm=use_norm,
            num_groups=num_groups,
            zero_bias_init=zero_bias_init,
            compute_dtype=compute_dtype,
            stage=functools.partial(ResidualStage, num_blocks=num_blocks),
            lifting=functools.partial(ResidualStage, num_blocks=1),
            rngs=rngs,
        )
