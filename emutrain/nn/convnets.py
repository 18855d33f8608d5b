"""Local convolutional emulators: :class:`ConvNet`, :class:`ResNet`, :class:`DilatedResNet`.

All map ``(B, *spatial, in_channels) -> (B, *spatial, out_channels)`` with 1, 2 or 3 spatial dims (more
leading batch axes are allowed; an unbatched state is rejected). ``receptive_field`` is one-sided, in grid
cells: output cell ``i`` depends on input cells ``i - r .. i + r`` along every axis (wrapped for periodic
boundaries). With ``use_norm=True`` the group-normalisation statistics couple all cells of a sample;
``receptive_field`` counts the convolutions only.
"""

import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from emutrain.nn._validation import check_input, check_kernel_size
from emutrain.nn.layers import Conv, GroupNorm, LiftedBlocks, Network, PointwiseLinear
from emutrain.validation import check_choice, check_int

Activation = Callable[[jax.Array], jax.Array]


def _conv_chain(
    num_spatial_dims: int,
    widths: Sequence[int],
    dilations: Sequence[int],
    *,
    kernel_size: int,
    boundary_mode: str,
    zero_bias_init: bool,
    compute_dtype: jnp.dtype | None,
    rngs: nnx.Rngs,
) -> nnx.List:
    """Convolutions ``widths[i] -> widths[i + 1]`` with dilation ``dilations[i]``, created in that order."""
    return nnx.List(
        [
            Conv(
                num_spatial_dims,
                c_in,
                c_out,
                kernel_size=kernel_size,
                dilation=dilation,
                boundary_mode=boundary_mode,
                zero_bias_init=zero_bias_init,
                compute_dtype=compute_dtype,
                rngs=rngs,
            )
            for c_in, c_out, dilation in zip(widths[:-1], widths[1:], dilations)
        ]
    )


class ConvNet(Network):
    """Plain stack of ``depth + 1`` convolutions with an activation after all but the last.

    ``depth`` counts the hidden layers. Channels: ``in -> hidden -> ... -> hidden -> out``; ``depth = 0`` is a
    single linear convolution ``in -> out``. ``receptive_field = (depth + 1) * (kernel_size - 1) // 2``.
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
        check_int("depth", depth, minimum=0)
        check_int("hidden_channels", hidden_channels, minimum=1)
        check_kernel_size(kernel_size)
        self.num_spatial_dims = num_spatial_dims
        self.in_channels = in_channels
        self.activation = activation
        channels = [in_channels] + [hidden_channels] * depth + [out_channels]
        self.layers = _conv_chain(
            num_spatial_dims,
            channels,
            (1,) * (depth + 1),
            kernel_size=kernel_size,
            boundary_mode=boundary_mode,
            zero_bias_init=zero_bias_init,
            compute_dtype=compute_dtype,
            rngs=rngs,
        )

    @property
    def receptive_field(self) -> int:
        return sum(layer.receptive_field for layer in self.layers)

    def __call__(self, x: jax.Array) -> jax.Array:
        check_input(x, self.num_spatial_dims, self.in_channels)
        for layer in self.layers[:-1]:
            x = self.activation(layer(x))
        return self.layers[-1](x)


RESIDUAL_BLOCKS = ("classic", "modern", "norm_conv_act")


class ResidualBlock(nnx.Module):
    """A chain of convolutions (one per entry of ``dilations``) around a skip connection.

    With ``n_i`` the group norm of convolution ``i`` (identity unless ``use_norm``):

    - ``block="classic"`` (post-activation, He et al., CVPR 2016): ``h = act(n_i(conv_i(h)))`` for all but the
      last convolution, then ``act(skip(x) + n_last(conv_last(h)))``.
    - ``block="modern"`` (pre-activation, He et al., ECCV 2016): ``h = conv_i(act(n_i(h)))`` for every
      convolution, then ``skip(x) + h``.
    - ``block="norm_conv_act"`` (the dilated block of Stachenfeld et al., ICLR 2022, as in PDEArena):
      ``h = act(conv_i(n_i(h)))`` for every convolution, then ``skip(x) + h``.

    ``skip`` is the identity when ``out_channels == channels`` (the default); otherwise a pointwise linear
    map (without bias, except for ``norm_conv_act``), with a group norm after it (``classic``) or before it
    (the others) when ``use_norm``. ``(B, *spatial, channels) -> (B, *spatial, out_channels)``.
    """

    def __init__(
        self,
        num_spatial_dims: int,
        channels: int,
        *,
        out_channels: int | None = None,
        kernel_size: int,
        dilations: Sequence[int] = (1, 1),
        block: str = "classic",
        use_norm: bool = False,
        num_groups: int = 1,
        boundary_mode: str,
        activation: Activation,
        zero_bias_init: bool,
        compute_dtype: jnp.dtype | None,
        rngs: nnx.Rngs,
    ):
        check_choice("block", block, RESIDUAL_BLOCKS)
        out_channels = (
            channels if out_channels is None else check_int("out_channels", out_channels, minimum=1)
        )
        self.num_spatial_dims = num_spatial_dims
        self.in_channels = channels
        self.block = block
        self.activation = activation
        self.use_norm = bool(use_norm)
        d = num_spatial_dims
        widths = [channels] + [out_channels] * len(dilations)
        # Convolutions first, so networks without norms draw the same initial weights as before norms existed.
        self.convs = _conv_chain(
            d,
            widths,
            dilations,
            kernel_size=kernel_size,
            boundary_mode=boundary_mode,
            zero_bias_init=zero_bias_init,
            compute_dtype=compute_dtype,
            rngs=rngs,
        )
        norm_widths = widths[1:] if block == "classic" else widths[:-1]
        self.norms = nnx.List(
            [GroupNorm(d, c, num_groups=num_groups, rngs=rngs) for c in norm_widths] if self.use_norm else []
        )
        if out_channels != channels:
            self.bypass = PointwiseLinear(
                channels,
                out_channels,
                use_bias=block == "norm_conv_act",
                zero_bias_init=zero_bias_init,
                compute_dtype=compute_dtype,
                rngs=rngs,
            )
            bypass_width = out_channels if block == "classic" else channels
            self.bypass_norm = (
                GroupNorm(d, bypass_width, num_groups=num_groups, rngs=rngs)
                if self.use_norm
                else nnx.data(None)
            )
        else:
            self.bypass = nnx.data(None)
            self.bypass_norm = nnx.data(None)

    @property
    def receptive_field(self) -> int:
        return sum(conv.receptive_field for conv in self.convs)

    def _norm(self, i: int, h: jax.Array) -> jax.Array:
        return self.norms[i](h) if self.use_norm else h

    def _skip(self, x: jax.Array) -> jax.Array:
        if self.bypass is None:
            return x
        if self.block == "classic":
            h = self.bypass(x)
            return h if self.bypass_norm is None else self.bypass_norm(h)
        return self.bypass(x if self.bypass_norm is None else self.bypass_norm(x))

    def __call__(self, x: jax.Array) -> jax.Array:
        check_input(x, self.num_spatial_dims, self.in_channels)
        h = x
        if self.block == "classic":
            for i, conv in enumerate(self.convs[:-1]):
                h = self.activation(self._norm(i, conv(h)))
            return self.activation(self._skip(x) + self._norm(len(self.convs) - 1, self.convs[-1](h)))
        for i, conv in enumerate(self.convs):
            if self.block == "modern":
                h = conv(self.activation(self._norm(i, h)))
            else:
                h = self.activation(conv(self._norm(i, h)))
        return self._skip(x) + h


class DilatedResNet(LiftedBlocks):
    """Residual network whose blocks are chains of dilated convolutions (Stachenfeld et al., ICLR 2022).

    Pointwise lifting, ``num_blocks`` :class:`ResidualBlock` s, pointwise projection. Each block applies one
    convolution per entry of ``dilation_rates`` (default ``(1, 2, 4, 8, 4, 2, 1)``) with activations in
    between and an identity skip, in the order given by ``block`` (see :class:`ResidualBlock`). The
    reference architecture (Stachenfeld et al.; PDEArena; APEBench's ``Dil``) is ``block="norm_conv_act",
    use_norm=True``. ``receptive_field = num_blocks * sum(dilation_rates) * (kernel_size - 1) // 2``.
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
        use_norm: bool = False,
        num_groups: int = 1,
        zero_bias_init: bool = False,
        compute_dtype: jnp.dtype | None = None,
        rngs: nnx.Rngs,
    ):
        dilation_rates = tuple(dilation_rates)
        if not dilation_rates or any(not isinstance(d, int) or d < 1 for d in dilation_rates):
            raise ValueError(
                f"dilation_rates must be a non-empty sequence of integers >= 1, got {dilation_rates!r}"
            )
        check_kernel_size(kernel_size)
        check_choice("block", block, RESIDUAL_BLOCKS)
        super().__init__(
            num_spatial_dims,
            in_channels,
            out_channels,
            functools.partial(
                ResidualBlock,
                kernel_size=kernel_size,
                dilations=dilation_rates,
                block=block,
                use_norm=use_norm,
                num_groups=num_groups,
                boundary_mode=boundary_mode,
                activation=activation,
            ),
            hidden_channels=hidden_channels,
            num_blocks=num_blocks,
            zero_bias_init=zero_bias_init,
            compute_dtype=compute_dtype,
            rngs=rngs,
        )


class ResNet(DilatedResNet):
    """Residual network: pointwise lifting, ``num_blocks`` two-convolution residual blocks, pointwise
    projection; the :class:`DilatedResNet` with ``dilation_rates=(1, 1)``, taking all its other options.

    ``block`` is ``"classic"`` (post-activation), ``"modern"`` (pre-activation) or ``"norm_conv_act"``, see
    :class:`ResidualBlock`; ``use_norm`` adds a group norm (``num_groups`` groups) to every convolution.
    ``receptive_field = num_blocks * 2 * (kernel_size - 1) // 2``.
    """

    def __init__(self, num_spatial_dims: int, in_channels: int, out_channels: int, **options: Any):
        super().__init__(num_spatial_dims, in_channels, out_channels, dilation_rates=(1, 1), **options)
