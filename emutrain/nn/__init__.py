"""Flax NNX emulators, correctors and physics-as-module on channels-last batches ``(B, *spatial, C)``.

Architectures (``num_spatial_dims, in_channels, out_channels, *, ..., rngs``): :class:`MLP`,
:class:`ConvNet`, :class:`ResNet`, :class:`UNet`, :class:`DilatedResNet`, :class:`FNO`. Each has
``receptive_field`` (one-sided, in grid cells; ``None`` for global operators) and ``num_parameters``.
Presets of about 30k parameters in 1D live in :mod:`emutrain.nn.presets`.
"""

from emutrain.nn import presets
from emutrain.nn.convnets import ConvNet, DilatedResNet, ResidualBlock, ResNet
from emutrain.nn.correctors import ParallelCorrector, SequentialCorrector, SequentialWithBypass
from emutrain.nn.ensemble import Ensemble
from emutrain.nn.fno import FNO, FourierBlock
from emutrain.nn.layers import (
    Conv,
    Downsample,
    PointwiseLinear,
    SpectralConv,
    Upsample,
    count_parameters,
    insert_zeros,
    pad_spatial,
)
from emutrain.nn.mlp import MLP
from emutrain.nn.physics_stepper import PhysicsStepper
from emutrain.nn.unet import DoubleConv, UNet

__all__ = [
    "FNO",
    "MLP",
    "Conv",
    "ConvNet",
    "DilatedResNet",
    "DoubleConv",
    "Downsample",
    "Ensemble",
    "FourierBlock",
    "ParallelCorrector",
    "PhysicsStepper",
    "PointwiseLinear",
    "ResNet",
    "ResidualBlock",
    "SequentialCorrector",
    "SequentialWithBypass",
    "SpectralConv",
    "UNet",
    "Upsample",
    "count_parameters",
    "insert_zeros",
    "pad_spatial",
    "presets",
]
