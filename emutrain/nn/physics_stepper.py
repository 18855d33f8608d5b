"""Frozen physics inside an NNX graph."""

from collections.abc import Callable

import jax
from flax import nnx

from emutrain.validation import check_floating


class PhysicsStepper(nnx.Module):
    """Wrap a physics stepper (any hashable callable ``(*batch, *spatial, C) -> same shape``) as a module.

    The stepper is a static attribute: it lives in the graphdef, never in the state. So
    ``nnx.state(module)`` has no leaves from it, an optimizer never sees it, a checkpoint of the state
    does not store it (the stepper is rebuilt from its configuration with the model), and
    ``nnx.split``/``nnx.merge`` round trips under ``jit`` reuse the compiled function as long as the
    stepper compares and hashes equal. Gradients with respect to the *input* flow through the stepper
    (it is differentiable JAX); there is nothing to differentiate inside it.

    Every array of the input state must be real floating point (TypeError otherwise); the layout is the
    wrapped stepper's business (physics steppers accept any number of leading batch axes).
    """

    def __init__(self, stepper: Callable[[jax.Array], jax.Array]):
        if not callable(stepper):
            raise TypeError(f"stepper must be callable, got {type(stepper).__name__}")
        try:
            hash(stepper)
        except TypeError as error:
            raise TypeError(
                f"stepper must be hashable (it is a static part of the graph), got unhashable "
                f"{type(stepper).__name__}"
            ) from error
        self.stepper = nnx.static(stepper)

    def __call__(self, u: jax.Array) -> jax.Array:
        for leaf in jax.tree.leaves(u):
            check_floating("u", leaf)
        return self.stepper(u)
