"""Independently initialised copies of a model trained at once as one vmapped module."""

from collections.abc import Callable

import jax
from flax import nnx

from emutrain.validation import check_floating, check_int


class Ensemble(nnx.Module):
    """``num_members`` copies of ``constructor(rngs=...)``, each from its own split of ``rngs``.

    Every parameter carries a leading member axis of size ``num_members`` (built with
    ``nnx.split_rngs`` + ``nnx.vmap``), so one optimizer over ``nnx.state(ensemble, nnx.Param)`` trains
    all members at once; with a loss that is a *sum* of per-member losses each member receives exactly
    the gradient it would get trained alone.

    Call with a shared batch ``(B, *spatial, C)`` (every member sees the same input) or a per-member
    batch ``(num_members, B, *spatial, C)``; the two are told apart by the number of axes, using
    ``num_spatial_dims`` (default: the members' own attribute). Output:
    ``(num_members, B, *spatial, C_out)``. Since the output is per-member, an ensemble used as an
    autoregressive stepper takes the shared initial condition on its first step and per-member states
    afterwards.
    """

    def __init__(
        self,
        constructor: Callable[..., nnx.Module],
        num_members: int,
        *,
        num_spatial_dims: int | None = None,
        rngs: nnx.Rngs,
    ):
        check_int("num_members", num_members, minimum=1)

        @nnx.split_rngs(splits=num_members)
        @nnx.vmap(in_axes=(0,), out_axes=0)
        def create(member_rngs: nnx.Rngs) -> nnx.Module:
            return constructor(rngs=member_rngs)

        self.members = create(rngs)
        self.num_members = num_members
        if num_spatial_dims is None:
            num_spatial_dims = getattr(self.members, "num_spatial_dims", None)
        if num_spatial_dims not in (1, 2, 3):
            raise ValueError(
                f"num_spatial_dims must be 1, 2 or 3 (pass it when the members do not expose it), "
                f"got {num_spatial_dims!r}"
            )
        self.num_spatial_dims = num_spatial_dims

    def member(self, index: int) -> nnx.Module:
        """A standalone copy of member ``index`` (its parameters without the member axis)."""
        if not 0 <= index < self.num_members:
            raise ValueError(f"index must be in [0, {self.num_members}), got {index}")
        graphdef, state = nnx.split(self.members)
        return nnx.merge(graphdef, jax.tree.map(lambda leaf: leaf[index], state))

    def __call__(self, x: jax.Array) -> jax.Array:
        check_floating("x", x)
        shared_ndim = self.num_spatial_dims + 2
        if x.ndim == shared_ndim:
            in_axis = None
        elif x.ndim == shared_ndim + 1 and x.shape[0] == self.num_members:
            in_axis = 0
        else:
            raise ValueError(
                f"input must have shape (B, *spatial, C) or (num_members={self.num_members}, B, *spatial, C) "
                f"with {self.num_spatial_dims} spatial dims, got shape {x.shape}"
            )

        @nnx.vmap(in_axes=(0, in_axis), out_axes=0)
        def apply(member: nnx.Module, u: jax.Array) -> jax.Array:
            return member(u)

        return apply(self.members, x)
