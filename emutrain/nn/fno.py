"""Fourier Neural Operator (Li et al., ICLR 2021) on periodic channels-last grids."""

import functools
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from emutrain.nn.layers import LiftedBlocks, PointwiseLinear, SpectralConv


class FourierBlock(nnx.Module):
    """``act(spectral(x) + pointwise(x))`` at constant width."""

    def __init__(
        self,
        num_spatial_dims: int,
        channels: int,
        *,
        modes: int | Sequence[int],
        activation: Callable[[jax.Array], jax.Array],
        zero_bias_init: bool,
        compute_dtype: jnp.dtype | None,
        rngs: nnx.Rngs,
    ):
        self.activation = activation
        self.spectral = SpectralConv(num_spatial_dims, channels, channels, modes=modes, rngs=rngs)
        self.pointwise = PointwiseLinear(
            channels, channels, zero_bias_init=zero_bias_init, compute_dtype=compute_dtype, rngs=rngs
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.activation(self.spectral(x) + self.pointwise(x))


class FNO(LiftedBlocks):
    """Pointwise lifting, ``num_blocks`` :class:`FourierBlock` s, pointwise projection.

    ``(B, *spatial, in_channels) -> (B, *spatial, out_channels)``, periodic only (the FFT
    wraps). ``modes`` per axis must be ``<= N/2`` (checked at call). ``receptive_field`` is ``None``:
    every output cell depends on every input cell. Equivariant to every integer shift.
    """

    def __init__(
        self,
        num_spatial_dims: int,
        in_channels: int,
        out_channels: int,
        *,
        hidden_channels: int = 32,
        num_blocks: int = 4,
        modes: int | Sequence[int] = 12,
        activation: Callable[[jax.Array], jax.Array] = jax.nn.gelu,
        zero_bias_init: bool = False,
        compute_dtype: jnp.dtype | None = None,
        rngs: nnx.Rngs,
    ):
        super().__init__(
            num_spatial_dims,
            in_channels,
            out_channels,
            functools.partial(FourierBlock, modes=modes, activation=activation),
            hidden_channels=hidden_channels,
            num_blocks=num_blocks,
            zero_bias_init=zero_bias_init,
            compute_dtype=compute_dtype,
            rngs=rngs,
        )

    receptive_field = None
