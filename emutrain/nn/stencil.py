"""Learnable stencils by string: ``Stencil;KERNEL_SIZE;ALIGNMENT[;W_1;...;W_n]``, one bias-free
convolution (:class:`emutrain.nn.Conv`) reading ``KERNEL_SIZE`` cells per axis placed by ``ALIGNMENT``
(``center``, ``left`` or ``right``), initialised at random or, with the ``n = KERNEL_SIZE**d * C_in *
C_out`` weights given, at that stencil (in the kernel's ``(*kernel, in, out)`` order). E.g.
``Stencil;2;right;0.4;0.5`` starts the (center, right) stencil of first-order upwinding at (0.4, 0.5).
"""

from __future__ import annotations

import jax.numpy as jnp
from flax import nnx

from emutrain.nn.layers import KERNEL_ALIGNMENTS, Conv

__all__ = ["STENCIL_FORM", "is_stencil_spec", "stencil_from_spec"]

STENCIL_FORM = "Stencil;KERNEL_SIZE;ALIGNMENT[;W_1;...;W_n]"


def is_stencil_spec(spec: object) -> bool:
    """Whether ``spec`` is a string of the ``Stencil`` form (any case)."""
    return isinstance(spec, str) and spec.split(";")[0].strip().lower() == "stencil"


def _number(spec: str, field: str, token: str, kind: type) -> int | float:
    try:
        return kind(token)
    except ValueError:
        raise ValueError(
            f"{field} in architecture spec {spec!r} must be {'an int' if kind is int else 'a number'}, "
            f"got {token!r}; form: {STENCIL_FORM}"
        ) from None


def stencil_from_spec(
    spec: str,
    num_spatial_dims: int,
    in_channels: int,
    out_channels: int,
    *,
    boundary_mode: str = "periodic",
    rngs: nnx.Rngs,
) -> Conv:
    """The bias-free convolution of a ``Stencil`` string, ``(B, *spatial, C_in) -> (B, *spatial, C_out)``.

    Raises:
      ValueError: a malformed string, an unknown alignment or a wrong number of weights, naming the field
        and the form.
    """
    tokens = [token.strip() for token in spec.split(";")]
    if not is_stencil_spec(spec) or len(tokens) < 3:
        raise ValueError(f"architecture spec {spec!r} must have the form {STENCIL_FORM}")
    kernel_size = _number(spec, "KERNEL_SIZE", tokens[1], int)
    if tokens[2].lower() not in KERNEL_ALIGNMENTS:
        raise ValueError(
            f"ALIGNMENT in architecture spec {spec!r} must be one of {KERNEL_ALIGNMENTS}, got {tokens[2]!r}"
        )
    conv = Conv(
        num_spatial_dims, in_channels, out_channels, kernel_size=kernel_size, boundary_mode=boundary_mode,
        kernel_alignment=tokens[2].lower(), use_bias=False, rngs=rngs,
    )
    weights = [_number(spec, "W", token, float) for token in tokens[3:]]
    if weights:
        shape = conv.kernel[...].shape
        if len(weights) != conv.kernel[...].size:
            raise ValueError(
                f"architecture spec {spec!r} must give all {conv.kernel[...].size} weights of the kernel "
                f"{shape} or none, got {len(weights)}"
            )
        conv.kernel[...] = jnp.asarray(weights, conv.kernel[...].dtype).reshape(shape)
    return conv
