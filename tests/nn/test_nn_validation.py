"""Input checks of every nn module: float dtypes only, a batch axis and the right spatial rank; group norm."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import emutrain.nn as enn


@dataclasses.dataclass(frozen=True)
class Decay:
    def __call__(self, u):
        return 0.5 * u


R = nnx.Rngs
# name -> (constructor, num_spatial_dims, channels, name of the checked argument)
MODULES = {
    "Conv": (lambda d: enn.Conv(d, 1, 1, rngs=R(0)), 1, "x"),
    "SpectralConv": (lambda d: enn.SpectralConv(d, 1, 1, modes=2, rngs=R(0)), 1, "x"),
    "Downsample": (lambda d: enn.Downsample(d, 1, 1, rngs=R(0)), 1, "x"),
    "Upsample": (lambda d: enn.Upsample(d, 1, 1, rngs=R(0)), 1, "x"),
    "GroupNorm": (lambda d: enn.GroupNorm(d, 2, rngs=R(0)), 2, "x"),
    "MLP": (lambda d: enn.MLP(d, 1, 1, num_points=8, width_size=4, rngs=R(0)), 1, "x"),
    "ConvNet": (lambda d: enn.ConvNet(d, 1, 1, hidden_channels=2, depth=1, rngs=R(0)), 1, "x"),
    "ResNet": (lambda d: enn.ResNet(d, 1, 1, hidden_channels=2, num_blocks=1, rngs=R(0)), 1, "x"),
    "ResidualBlock": (
        lambda d: enn.ResidualBlock(
            d,
            2,
            kernel_size=3,
            boundary_mode="periodic",
            activation=jnp.tanh,
            zero_bias_init=False,
            compute_dtype=None,
            rngs=R(0),
        ),
        2,
        "x",
    ),
    "DilatedResNet": (
        lambda d: enn.DilatedResNet(d, 1, 1, hidden_channels=2, num_blocks=1, dilation_rates=(1,), rngs=R(0)),
        1,
        "x",
    ),
    "UNet": (lambda d: enn.UNet(d, 1, 1, hidden_channels=2, num_levels=1, rngs=R(0)), 1, "x"),
    "ModernUNet": (lambda d: enn.ModernUNet(d, 1, 1, hidden_channels=2, num_levels=1, rngs=R(0)), 1, "x"),
    "FNO": (lambda d: enn.FNO(d, 1, 1, hidden_channels=2, num_blocks=1, modes=2, rngs=R(0)), 1, "x"),
    "SequentialCorrector": (
        lambda d: enn.SequentialCorrector(
            Decay(), enn.ConvNet(d, 1, 1, hidden_channels=2, depth=1, rngs=R(0))
        ),
        1,
        "u",
    ),
    "ParallelCorrector": (
        lambda d: enn.ParallelCorrector(Decay(), enn.ConvNet(d, 1, 1, hidden_channels=2, depth=1, rngs=R(0))),
        1,
        "u",
    ),
    "SequentialWithBypass": (
        lambda d: enn.SequentialWithBypass(
            Decay(), enn.ConvNet(d, 1, 1, hidden_channels=2, depth=1, rngs=R(0))
        ),
        1,
        "u",
    ),
}


def _input(num_spatial_dims, channels, dtype, batch=(2,)):
    return jnp.ones((*batch, *(8,) * num_spatial_dims, channels), dtype)


@pytest.mark.parametrize("name", sorted(MODULES))
@pytest.mark.parametrize("dtype", [jnp.int32, jnp.bool_, jnp.complex64])
def test_non_float_input_is_a_type_error_naming_argument_and_dtype(name, dtype):
    build, channels, argument = MODULES[name]
    model = build(1)
    with pytest.raises(
        TypeError, match=rf"{argument} must hold real floating-point values.*{jnp.dtype(dtype).name}"
    ):
        model(_input(1, channels, dtype))


@pytest.mark.parametrize("name", sorted(MODULES))
def test_too_few_axes_is_a_value_error_naming_rank_and_shape(name):
    build, channels, _ = MODULES[name]
    if name == "MLP":
        model = enn.MLP(2, 1, 1, num_points=(8, 1), width_size=4, rngs=R(0))
    else:
        model = build(2)
    # a 1D batch (B, N, C) given to a 2D module: the batch axis must not be taken for a spatial one
    x = jnp.ones((4, 8, channels))
    with pytest.raises(ValueError, match=rf"num_spatial_dims=2.*\(4, 8, {channels}\)"):
        model(x)


@pytest.mark.parametrize("name", ["Conv", "ResNet", "UNet", "FNO", "MLP", "ParallelCorrector"])
def test_unbatched_state_is_rejected(name):
    build, channels, _ = MODULES[name]
    with pytest.raises(ValueError, match=r"\(B, \*spatial, C\).*num_spatial_dims=1.*\(8, 1\)"):
        build(1)(jnp.ones((8, channels)))


def test_reported_cases():
    """The three silent wrong results that were reported: int32 and complex64 data, a 1D batch to a 2D net."""
    net = enn.ResNet(1, 1, 1, hidden_channels=4, num_blocks=1, rngs=R(0))
    with pytest.raises(TypeError, match="int32"):
        net(jnp.arange(48, dtype=jnp.int32).reshape(1, 48, 1))
    with pytest.raises(TypeError, match="complex64"):
        net(jnp.ones((1, 48, 1), jnp.complex64))
    with pytest.raises(ValueError, match=r"num_spatial_dims=2.*\(4, 48, 1\)"):
        enn.ResNet(2, 1, 1, hidden_channels=4, num_blocks=1, rngs=R(0))(jnp.ones((4, 48, 1)))
    # float16/bfloat16/float64 inputs are fine and keep their dtype
    assert net(jnp.ones((1, 48, 1), jnp.bfloat16)).dtype == jnp.bfloat16


def test_ensemble_and_physics_stepper_reject_integers():
    ensemble = enn.Ensemble(
        lambda rngs: enn.ConvNet(1, 1, 1, hidden_channels=2, depth=1, rngs=rngs), 2, rngs=R(0)
    )
    with pytest.raises(TypeError, match="x must hold real floating-point values.*int32"):
        ensemble(jnp.ones((2, 8, 1), jnp.int32))
    with pytest.raises(TypeError, match="u must hold real floating-point values.*int32"):
        enn.PhysicsStepper(Decay())(jnp.ones((2, 8, 1), jnp.int32))


@pytest.mark.parametrize("name", ["Conv", "ResNet", "UNet", "GroupNorm", "ModernUNet"])
def test_several_batch_axes_equal_one_merged_axis(name):
    build, channels, _ = MODULES[name]
    model = build(1)
    x = jax.random.normal(jax.random.key(0), (2, 3, 8, channels))
    np.testing.assert_allclose(
        model(x), model(x.reshape(6, 8, channels)).reshape(x.shape), rtol=1e-6, atol=1e-6
    )


def test_group_norm_matches_the_formula():
    norm = enn.GroupNorm(1, 4, num_groups=2, rngs=R(0))
    norm.norm.scale[...] = jnp.array([1.0, 2.0, 3.0, 4.0])
    norm.norm.bias[...] = jnp.array([0.0, 0.5, -0.5, 1.0])
    x = jax.random.normal(jax.random.key(1), (3, 16, 4)) * 3 + 1
    y = norm(x)
    groups = np.asarray(x).reshape(3, 16, 2, 2)
    mean = groups.mean(axis=(1, 3), keepdims=True)
    var = groups.var(axis=(1, 3), keepdims=True)
    expected = ((groups - mean) / np.sqrt(var + 1e-5)).reshape(3, 16, 4) * [1, 2, 3, 4] + [0, 0.5, -0.5, 1]
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    assert enn.count_parameters(norm) == 8
    with pytest.raises(ValueError, match="num_groups"):
        enn.GroupNorm(1, 4, num_groups=3, rngs=R(0))


def test_norm_option_keeps_the_convolutions_and_adds_two_per_channel():
    plain = enn.UNet(1, 1, 1, hidden_channels=12, num_levels=2, rngs=R(0))
    normed = enn.UNet(1, 1, 1, hidden_channels=12, num_levels=2, use_norm=True, rngs=R(0))
    assert normed.num_parameters - plain.num_parameters == 480
    plain = enn.DilatedResNet(
        1, 1, 1, hidden_channels=32, num_blocks=2, dilation_rates=(1, 2, 4, 2, 1), rngs=R(0)
    )
    normed = enn.DilatedResNet(
        1, 1, 1, hidden_channels=32, num_blocks=2, dilation_rates=(1, 2, 4, 2, 1), use_norm=True, rngs=R(0)
    )
    assert normed.num_parameters - plain.num_parameters == 640
    # without norms the initial weights are unchanged: the convolutions draw their keys first
    np.testing.assert_array_equal(plain.blocks[0].convs[0].kernel[...], normed.blocks[0].convs[0].kernel[...])


def test_wrong_argument_types_follow_the_convention():
    with pytest.raises(TypeError, match="hidden_channels"):
        enn.ResNet(1, 1, 1, hidden_channels=2.5, rngs=R(0))
    with pytest.raises(TypeError, match="num_blocks"):
        enn.ResNet(1, 1, 1, num_blocks=True, rngs=R(0))
    with pytest.raises(ValueError, match="block"):
        enn.ResNet(1, 1, 1, block="fancy", rngs=R(0))
    with pytest.raises(ValueError, match="num_spatial_dims"):
        enn.Conv(4, 1, 1, rngs=R(0))
