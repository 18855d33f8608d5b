"""Fully connected emulator over the whole grid."""

import math
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from emutrain.nn._validation import check_input, check_layer_shape, per_axis_ints
from emutrain.nn.layers import Network, PointwiseLinear
from emutrain.validation import check_int


class MLP(Network):
    """Multilayer perceptron on the flattened state.

    ``(B, *spatial, in_channels) -> (B, *spatial, out_channels)`` with ``spatial`` fixed at
    construction: ``num_points`` per axis (an int for a cubic grid, or one per axis). ``depth`` hidden
    layers of ``width_size`` units with the activation after each (``depth = 0``: one linear map). The
    state is flattened channels-last; the reference (channels-first) MLP has the same layers and count.
    ``receptive_field`` is ``None``: every output depends on every input.
    """

    def __init__(
        self,
        num_spatial_dims: int,
        in_channels: int,
        out_channels: int,
        *,
        num_points: int | Sequence[int],
        width_size: int = 64,
        depth: int = 2,
        activation: Callable[[jax.Array], jax.Array] = jax.nn.relu,
        zero_bias_init: bool = False,
        compute_dtype: jnp.dtype | None = None,
        rngs: nnx.Rngs,
    ):
        check_layer_shape(num_spatial_dims, in_channels, out_channels)
        check_int("width_size", width_size, minimum=1)
        check_int("depth", depth, minimum=0)
        spatial = per_axis_ints("num_points", num_points, num_spatial_dims)
        self.num_spatial_dims = num_spatial_dims
        self.spatial_shape = spatial
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.activation = activation
        sizes = (
            [math.prod(spatial) * in_channels] + [width_size] * depth + [math.prod(spatial) * out_channels]
        )
        self.layers = nnx.List(
            [
                PointwiseLinear(a, b, zero_bias_init=zero_bias_init, compute_dtype=compute_dtype, rngs=rngs)
                for a, b in zip(sizes[:-1], sizes[1:])
            ]
        )

    receptive_field = None

    def __call__(self, x: jax.Array) -> jax.Array:
        check_input(x, self.num_spatial_dims, self.in_channels)
        core = (*self.spatial_shape, self.in_channels)
        if tuple(x.shape[x.ndim - len(core) :]) != core:
            raise ValueError(f"input must end in (*spatial, C) = {core}, got shape {x.shape}")
        batch_shape = x.shape[: x.ndim - len(core)]
        h = x.reshape((*batch_shape, -1))
        for layer in self.layers[:-1]:
            h = self.activation(layer(h))
        h = self.layers[-1](h)
        return h.reshape((*batch_shape, *self.spatial_shape, self.out_channels))
