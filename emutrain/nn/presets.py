"""One-dimensional presets of about 30,000 parameters (for ``in_channels = out_channels = 1``).

They let architectures be compared at a fixed budget. Every preset takes
``(in_channels, out_channels, *, rngs, **overrides)``; overrides replace any constructor option
(e.g. ``boundary_mode``, ``activation``, ``compute_dtype``).
"""

import math

from flax import nnx

from emutrain.nn.convnets import ConvNet, DilatedResNet, ResNet
from emutrain.nn.fno import FNO
from emutrain.nn.mlp import MLP
from emutrain.nn.unet import UNet


def conv_net_1d_30k(in_channels: int, out_channels: int, *, rngs: nnx.Rngs, **overrides) -> ConvNet:
    """ConvNet, 44 channels, depth 6, kernel 3: 29,569 parameters."""
    options = dict(hidden_channels=44, depth=6, kernel_size=3) | overrides
    return ConvNet(1, in_channels, out_channels, rngs=rngs, **options)


def resnet_1d_30k(in_channels: int, out_channels: int, *, rngs: nnx.Rngs, **overrides) -> ResNet:
    """Classic ResNet, 32 channels, 5 blocks, kernel 3: 31,137 parameters."""
    options = dict(hidden_channels=32, num_blocks=5, kernel_size=3, block="classic") | overrides
    return ResNet(1, in_channels, out_channels, rngs=rngs, **options)


def modern_resnet_1d_30k(in_channels: int, out_channels: int, *, rngs: nnx.Rngs, **overrides) -> ResNet:
    """Pre-activation ResNet, 32 channels, 5 blocks, kernel 3: 31,137 parameters."""
    return resnet_1d_30k(in_channels, out_channels, rngs=rngs, **({"block": "modern"} | overrides))


def unet_1d_30k(in_channels: int, out_channels: int, *, rngs: nnx.Rngs, **overrides) -> UNet:
    """UNet, 12 base channels, 2 levels (multipliers 2, 4), kernel 3: 26,713 parameters."""
    options = dict(hidden_channels=12, num_levels=2, kernel_size=3) | overrides
    return UNet(1, in_channels, out_channels, rngs=rngs, **options)


def dilated_resnet_1d_30k(
    in_channels: int, out_channels: int, *, rngs: nnx.Rngs, **overrides
) -> DilatedResNet:
    """Dilated ResNet, 26 channels, 2 blocks of dilations (1, 2, 4, 8, 4, 2, 1): 28,835 parameters."""
    options = dict(hidden_channels=26, num_blocks=2, dilation_rates=(1, 2, 4, 8, 4, 2, 1)) | overrides
    return DilatedResNet(1, in_channels, out_channels, rngs=rngs, **options)


def fno_1d_30k(in_channels: int, out_channels: int, *, rngs: nnx.Rngs, **overrides) -> FNO:
    """FNO, 18 channels, 12 modes, 4 blocks: 32,527 parameters (needs ``N >= 24``)."""
    options = dict(hidden_channels=18, modes=12, num_blocks=4) | overrides
    return FNO(1, in_channels, out_channels, rngs=rngs, **options)


def mlp_1d_30k(
    in_channels: int, out_channels: int, *, num_points: int = 48, rngs: nnx.Rngs, **overrides
) -> MLP:
    """MLP with 2 hidden layers, the widest giving at most 30,000 parameters on ``num_points``.

    For ``num_points = 48``: width 130, 29,688 parameters.
    """
    n_in, n_out = num_points * in_channels, num_points * out_channels
    # count(w) = n_in*w + w + w*w + w + w*n_out + n_out; solve count(w) = 30000 for w.
    b = n_in + n_out + 2
    width = max(1, math.floor((-b + math.sqrt(b * b + 4 * (30_000 - n_out))) / 2))
    options = dict(width_size=width, depth=2) | overrides
    return MLP(1, in_channels, out_channels, num_points=num_points, rngs=rngs, **options)
