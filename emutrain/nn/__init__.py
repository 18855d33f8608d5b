"""Flax NNX emulators, correctors and physics-as-module on channels-last batches ``(B, *spatial, C)``."""

from emutrain.nn.convnets import ConvNet, DilatedResNet, ResidualBlock, ResNet
from emutrain.nn.correctors import ParallelCorrector, SequentialCorrector, SequentialWithBypass
from emutrain.nn.layers import (
    Conv,
    Downsample,
    PointwiseLinear,
    SpectralConv,
    Upsample,
    count_parameters,
    pad_spatial,
)
from emutrain.nn.physics_stepper import PhysicsStepper

__all__ = [
    "Conv",
    "ConvNet",
    "DilatedResNet",
    "Downsample",
    "ParallelCorrector",
    "PhysicsStepper",
    "PointwiseLinear",
    "ResNet",
    "ResidualBlock",
    "SequentialCorrector",
    "SequentialWithBypass",
    "SpectralConv",
    "Upsample",
    "count_parameters",
    "pad_spatial",
]
