"""A linear spectral layer by string: ``Spectral;MODES[;zero]``, one ``emutrain.nn.SpectralConv`` (an FNO
layer without lifting, bias or activation) keeping the lowest ``MODES`` Fourier modes per axis, started at
zero with ``zero`` (so that a closure it drives starts as the bare solver)."""

from __future__ import annotations

import jax.numpy as jnp
from flax import nnx

from emutrain.nn.layers import SpectralConv

__all__ = ["SPECTRAL_FORM", "is_spectral_spec", "spectral_from_spec"]

SPECTRAL_FORM = "Spectral;MODES[;zero]"


def is_spectral_spec(spec: object) -> bool:
    """Whether ``spec`` is a string of the ``Spectral`` form (any case)."""
    return isinstance(spec, str) and spec.split(";")[0].strip().lower() == "spectral"


def spectral_from_spec(
    spec: str, num_spatial_dims: int, in_channels: int, out_channels: int, *, rngs: nnx.Rngs, **_: object
) -> SpectralConv:
    """The spectral layer of a ``Spectral`` string, ``(B, *spatial, C_in) -> (B, *spatial, C_out)``.

    Raises:
      ValueError: a malformed string, naming the form.
    """
    tokens = [token.strip().lower() for token in spec.split(";")]
    if not is_spectral_spec(spec) or len(tokens) not in (2, 3) or tokens[2:] not in ([], ["zero"]):
        raise ValueError(f"architecture spec {spec!r} must have the form {SPECTRAL_FORM}")
    try:
        modes = int(tokens[1])
    except ValueError:
        raise ValueError(f"MODES in architecture spec {spec!r} must be an int, got {tokens[1]!r}") from None
    layer = SpectralConv(num_spatial_dims, in_channels, out_channels, modes=modes, rngs=rngs)
    if tokens[2:] == ["zero"]:
        for weights in (layer.weights_real, layer.weights_imag):
            weights[...] = jnp.zeros_like(weights[...])
    return layer
