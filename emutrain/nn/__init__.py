"""Flax NNX emulators, correctors and physics-as-module on channels-last batches ``(B, *spatial, C)``.

Architectures (``num_spatial_dims, in_channels, out_channels, *, ..., rngs``): :class:`MLP`,
:class:`ConvNet`, :class:`ResNet`, :class:`UNet`, :class:`ModernUNet`, :class:`DilatedResNet`, :class:`FNO`.
Each has ``receptive_field`` (one-sided, in grid cells; ``None`` for global operators) and ``num_parameters``.
:func:`from_spec` builds them from APEBench architecture strings (``"Conv;34;10;relu"``) and
:func:`make_task_model` wraps them for a task (``"predict"``, ``"correct;sequential"``, ...).
:class:`Conditioned` feeds any of them extra, non-predicted input channels (constant fields, parameters).
Presets of about 30k parameters in 1D live in :mod:`emutrain.nn.presets`.

Inputs: every module takes a batch with at least one leading batch axis, ``num_spatial_dims`` spatial axes
and a channel axis, of a real floating dtype. A single unbatched state ``(*spatial, C)`` raises ValueError
(steppers are called on batches; add the axis with ``u[None]``), integer/bool/complex data raise TypeError.
"""

from emutrain.nn import presets
from emutrain.nn.conditioning import Conditioned
from emutrain.nn.convnets import ConvNet, DilatedResNet, ResidualBlock, ResNet
from emutrain.nn.correctors import ParallelCorrector, SequentialCorrector, SequentialWithBypass
from emutrain.nn.ensemble import Ensemble
from emutrain.nn.fno import FNO, FourierBlock
from emutrain.nn.layers import (
    Conv,
    Downsample,
    GroupNorm,
    PointwiseLinear,
    SpectralConv,
    Upsample,
    count_parameters,
    insert_zeros,
)
from emutrain.nn.mlp import MLP
from emutrain.nn.physics_stepper import PhysicsStepper
from emutrain.nn.specs import (
    ACTIVATIONS,
    ARCHITECTURE_FORMS,
    TASK_FORMS,
    activation_from_name,
    from_spec,
    make_task_model,
)
from emutrain.nn.unet import DoubleConv, ModernUNet, ResidualStage, UNet

__all__ = [
    "ACTIVATIONS",
    "ARCHITECTURE_FORMS",
    "FNO",
    "MLP",
    "TASK_FORMS",
    "Conditioned",
    "Conv",
    "ConvNet",
    "DilatedResNet",
    "DoubleConv",
    "Downsample",
    "Ensemble",
    "FourierBlock",
    "GroupNorm",
    "ModernUNet",
    "ParallelCorrector",
    "PhysicsStepper",
    "PointwiseLinear",
    "ResNet",
    "ResidualBlock",
    "ResidualStage",
    "SequentialCorrector",
    "SequentialWithBypass",
    "SpectralConv",
    "UNet",
    "Upsample",
    "activation_from_name",
    "count_parameters",
    "from_spec",
    "insert_zeros",
    "make_task_model",
    "presets",
]
