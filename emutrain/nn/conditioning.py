"""Conditioning channels: inputs of a network that it does not predict (constant fields, parameters).

``Conditioned(network, num_conditioning)`` steps states ``(B, *spatial, C + K)`` whose last ``K`` channels
condition the step: ``network`` maps all ``C + K`` channels to the ``C`` predicted ones and the ``K``
conditioning channels are passed through unchanged, so they stay fixed over a rollout. Any network of
``C + K`` input and ``C`` output channels can be conditioned this way; the data carry the conditioning
as extra channels (e.g. ``emutrain.data.WellWindows(conditioning=True)``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from emutrain.validation import check_floating, check_int

__all__ = ["Conditioned"]


class Conditioned(nnx.Module):
    """A stepper ``(B, *spatial, C + K) -> (B, *spatial, C + K)``: ``network`` predicts the first ``C``
    channels from all ``C + K``; the last ``K`` (the conditioning) are copied from the input.

    Args:
      network: a module ``(B, *spatial, C + K) -> (B, *spatial, C)``.
      num_conditioning: ``K >= 1``, the conditioning channels at the end of the channel axis.
    """

    def __init__(self, network: nnx.Module, num_conditioning: int):
        self.network = network
        self.num_conditioning = check_int("num_conditioning", num_conditioning, minimum=1)

    def __call__(self, x: jax.Array) -> jax.Array:
        check_floating("x", x)
        if x.ndim < 2 or x.shape[-1] <= self.num_conditioning:
            raise ValueError(
                f"x must have more than num_conditioning={self.num_conditioning} channels on its last axis "
                f"(the predicted channels, then the conditioning), got shape {tuple(x.shape)}"
            )
        prediction = self.network(x)
        expected = x.shape[-1] - self.num_conditioning
        if prediction.shape[-1] != expected:
            raise ValueError(
                f"network must map the {x.shape[-1]} input channels to the {expected} predicted ones, "
                f"got {prediction.shape[-1]} output channels"
            )
        return jnp.concatenate([prediction, x[..., expected:]], axis=-1)
