"""Neural correctors of a coarse solver.

``coarse`` is an NNX module or any hashable stepper callable (wrapped in a :class:`PhysicsStepper`);
``net`` is an NNX module. All map ``(B, *spatial, C) -> (B, *spatial, C)``; a corrector's
``num_spatial_dims`` is its network's (inputs are checked against it: float dtype, a batch axis).

``cut_coarse_gradient=True`` applies ``jax.lax.stop_gradient`` to the output of ``coarse``. The loss
value never changes. With a frozen (parameter-free) coarse solver the gradient of a *one-step* loss
with respect to the network parameters does not change either; what the cut removes is every
gradient path that runs back *through* the coarse solver: the derivative with respect to the input
state, and therefore, in a multi-step rollout, the contribution of earlier steps' network outputs
that reach the loss only via a later step's coarse solver. Without the cut those paths are kept (the
solver is differentiable JAX), which is the differentiable-physics setting.
"""

from collections.abc import Callable

import jax
from flax import nnx

from emutrain.nn._validation import check_input
from emutrain.nn.physics_stepper import PhysicsStepper
from emutrain.validation import check_floating


def _as_module(coarse: Callable[[jax.Array], jax.Array] | nnx.Module) -> nnx.Module:
    return coarse if isinstance(coarse, nnx.Module) else PhysicsStepper(coarse)


class _Corrector(nnx.Module):
    def __init__(
        self,
        coarse: Callable[[jax.Array], jax.Array] | nnx.Module,
        net: nnx.Module,
        *,
        cut_coarse_gradient: bool = False,
    ):
        if not isinstance(net, nnx.Module):
            raise TypeError(f"net must be a flax.nnx.Module, got {type(net).__name__}")
        self.coarse = _as_module(coarse)
        self.net = net
        self.cut_coarse_gradient = bool(cut_coarse_gradient)
        self.num_spatial_dims = getattr(net, "num_spatial_dims", None)

    def _check(self, u: jax.Array) -> None:
        if self.num_spatial_dims is None:
            check_floating("u", u)
        else:
            check_input(u, self.num_spatial_dims, name="u")

    def _coarse_step(self, u: jax.Array) -> jax.Array:
        self._check(u)
        c = self.coarse(u)
        return jax.lax.stop_gradient(c) if self.cut_coarse_gradient else c


class SequentialCorrector(_Corrector):
    """``net(coarse(u))``: the network post-processes the coarse step."""

    def __call__(self, u: jax.Array) -> jax.Array:
        return self.net(self._coarse_step(u))


class ParallelCorrector(_Corrector):
    """``coarse(u) + net(u)``: the network adds a correction computed from the same input."""

    def __call__(self, u: jax.Array) -> jax.Array:
        return self._coarse_step(u) + self.net(u)


class SequentialWithBypass(_Corrector):
    """``coarse(u) + net(coarse(u))``: the network adds a correction computed from the coarse step."""

    def __call__(self, u: jax.Array) -> jax.Array:
        c = self._coarse_step(u)
        return c + self.net(c)
