"""Loss configurations: every way of framing the training of an autoregressive emulator
(docs/architecture.md, "Loss semantics").

A configuration is a frozen dataclass called as
``configuration(stepper, data, *, ref_stepper=None, residuum_fn=None, key=None) -> scalar`` on a window
batch ``data`` ``(B, W, *spatial, C)`` (or a pytree of them). Rollouts are unrolled with ``jax.lax.scan``.
:class:`WithSteppers` holds the ``ref_stepper`` and ``residuum_fn`` of a configuration, so that it is
called as ``(stepper, data, *, key=None)``.
"""

from emutrain.configurations._base import Configuration, ScanOptions, resolve_unroll
from emutrain.configurations.chain import (
    ChainBuilder,
    ChainDescription,
    ChainLoss,
    ChainNode,
    ChainStep,
    CompositeChain,
)
from emutrain.configurations.composite import Composite
from emutrain.configurations.curriculum import RolloutCurriculum
from emutrain.configurations.diverted import DivertedChain, DivertedChainBranchOne
from emutrain.configurations.methods import METHOD_FORMS, ResiduumFromRefStepper, from_method
from emutrain.configurations.residuum import Residuum
from emutrain.configurations.supervised import MixChainPostPhysics, Supervised, TeacherForcing
from emutrain.configurations.with_steppers import WithSteppers

__all__ = [
    "Configuration",
    "Supervised",
    "DivertedChainBranchOne",
    "DivertedChain",
    "MixChainPostPhysics",
    "Residuum",
    "TeacherForcing",
    "Composite",
    "RolloutCurriculum",
    "WithSteppers",
    "ResiduumFromRefStepper",
    "from_method",
    "METHOD_FORMS",
    "ScanOptions",
    "resolve_unroll",
    "ChainDescription",
    "CompositeChain",
    "ChainNode",
    "ChainStep",
    "ChainLoss",
    "ChainBuilder",
]
