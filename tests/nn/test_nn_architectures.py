"""Architectures: shift equivariance, measured receptive fields, closed-form parameter counts."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import emutrain.nn as enn

apply = nnx.jit(lambda module, x: module(x))
ARCHITECTURES_LOCAL = {
    "ConvNet": functools.partial(enn.ConvNet, hidden_channels=3, depth=2),
    "ResNet": functools.partial(enn.ResNet, hidden_channels=3, num_blocks=2),
    "ModernResNet": functools.partial(enn.ResNet, hidden_channels=3, num_blocks=2, block="modern"),
    "UNet": functools.partial(enn.UNet, hidden_channels=2, num_levels=1),
    "DilatedResNet": functools.partial(
        enn.DilatedResNet, hidden_channels=3, num_blocks=1, dilation_rates=(1, 2)
    ),
    "FNO": functools.partial(enn.FNO, hidden_channels=3, num_blocks=2, modes=2),
}


# The modern ResNet has the same convolutions as the classic one: its block order is covered in 1D.
EQUIVARIANCE_CASES = [
    (name, d) for name in sorted(ARCHITECTURES_LOCAL) for d in (1, 2, 3) if name != "ModernResNet" or d == 1
]


@pytest.mark.parametrize("name, num_spatial_dims", EQUIVARIANCE_CASES)
def test_periodic_networks_are_shift_equivariant(name, num_spatial_dims):
    n = {1: 16, 2: 8, 3: 4}[num_spatial_dims]
    model = ARCHITECTURES_LOCAL[name](num_spatial_dims, 2, 3, activation=jnp.tanh, rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(1), (2,) + (n,) * num_spatial_dims + (2,))
    # UNet with one level is equivariant to shifts by multiples of 2 only.
    shift = 2 if name == "UNet" else 1
    axes = tuple(range(1, num_spatial_dims + 1))
    shifts = tuple(shift * (i + 1) for i in range(num_spatial_dims))
    rolled_out = apply(model, jnp.roll(x, shifts, axes))
    np.testing.assert_allclose(rolled_out, jnp.roll(apply(model, x), shifts, axes), atol=1e-5)
    assert rolled_out.shape == (2,) + (n,) * num_spatial_dims + (3,)


def test_unet_two_levels_equivariant_to_multiples_of_four():
    model = enn.UNet(2, 1, 1, hidden_channels=2, num_levels=2, activation=jnp.tanh, rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(1), (1, 8, 8, 1))
    np.testing.assert_allclose(
        apply(model, jnp.roll(x, (4, -4), (1, 2))), jnp.roll(apply(model, x), (4, -4), (1, 2)), atol=1e-5
    )


def _measured_support_1d(model, n: int) -> int:
    """Largest periodic distance |i - j| with d out_i / d in_j != 0, for a generic input."""
    x = jax.random.normal(jax.random.key(2), (n,))
    jac = jax.jit(jax.jacfwd(lambda v: model(v.reshape(1, n, 1))[0, :, 0]))(x)
    i, j = np.nonzero(np.asarray(jac))
    distance = np.minimum(np.abs(i - j), n - np.abs(i - j))
    return int(distance.max())


@pytest.mark.parametrize(
    "build, expected",
    [
        # (depth + 1) convolutions of one-sided reach 2 (kernel 5)
        (
            lambda r: enn.ConvNet(
                1, 1, 1, hidden_channels=2, depth=2, kernel_size=5, activation=jnp.tanh, rngs=r
            ),
            3 * 2,
        ),
        # blocks * 2 convs * reach 1
        (
            lambda r: enn.ResNet(1, 1, 1, hidden_channels=2, num_blocks=3, activation=jnp.tanh, rngs=r),
            3 * 2 * 1,
        ),
        (
            lambda r: enn.ResNet(
                1,
                1,
                1,
                hidden_channels=2,
                num_blocks=2,
                block="modern",
                kernel_size=5,
                activation=jnp.tanh,
                rngs=r,
            ),
            2 * 2 * 2,
        ),
        # blocks * sum(dilations) * reach 1
        (
            lambda r: enn.DilatedResNet(
                1,
                1,
                1,
                hidden_channels=2,
                num_blocks=2,
                dilation_rates=(1, 2, 4, 2, 1),
                activation=jnp.tanh,
                rngs=r,
            ),
            2 * 10,
        ),
        # UNet: 2r + 8r(2^L - 1) with r = 1, L = 2
        (
            lambda r: enn.UNet(1, 1, 1, hidden_channels=2, num_levels=2, activation=jnp.tanh, rngs=r),
            2 + 8 * 3,
        ),
        # ... and r = 2, L = 1
        (
            lambda r: enn.UNet(
                1, 1, 1, hidden_channels=2, num_levels=1, kernel_size=5, activation=jnp.tanh, rngs=r
            ),
            4 + 16 * 1,
        ),
    ],
)
def test_receptive_field_equals_impulse_response_support(build, expected):
    model = build(nnx.Rngs(0))
    assert model.receptive_field == expected
    assert _measured_support_1d(model, 64) == expected


def test_receptive_field_2d_is_a_square():
    model = enn.ResNet(2, 1, 1, hidden_channels=2, num_blocks=1, activation=jnp.tanh, rngs=nnx.Rngs(0))
    n = 9
    jac = jax.jacfwd(lambda v: model(v.reshape(1, n, n, 1))[0, 4, 4, 0])(
        jax.random.normal(jax.random.key(0), (n, n))
    )
    rows, cols = np.nonzero(np.asarray(jac))
    assert model.receptive_field == 2
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (2, 6, 2, 6)


@pytest.mark.parametrize("model", ["FNO", "MLP"])
def test_global_operators_have_dense_response(model):
    n = 8
    net = (
        enn.FNO(1, 1, 1, hidden_channels=2, num_blocks=1, modes=4, rngs=nnx.Rngs(0))
        if model == "FNO"
        else enn.MLP(1, 1, 1, num_points=n, width_size=4, depth=1, activation=jnp.tanh, rngs=nnx.Rngs(0))
    )
    assert net.receptive_field is None
    jac = jax.jacfwd(lambda v: net(v.reshape(1, n, 1))[0, :, 0])(jax.random.normal(jax.random.key(0), (n,)))
    assert np.all(np.asarray(jac) != 0)


def _conv(k: int, c_in: int, c_out: int) -> int:
    return k * c_in * c_out + c_out


@pytest.mark.parametrize(
    "build, expected",
    [
        # ConvNet 1D, kernel 3, 2 -> 5 -> 5 -> 3
        (
            lambda r: enn.ConvNet(1, 2, 3, hidden_channels=5, depth=2, rngs=r),
            _conv(3, 2, 5) + _conv(3, 5, 5) + _conv(3, 5, 3),
        ),
        # ResNet 2D (3x3 kernels): lift 2->4, 2 blocks of two 4->4 convs, projection 4->3
        (
            lambda r: enn.ResNet(2, 2, 3, hidden_channels=4, num_blocks=2, rngs=r),
            _conv(1, 2, 4) + 4 * _conv(9, 4, 4) + _conv(1, 4, 3),
        ),
        (
            lambda r: enn.ResNet(1, 1, 1, hidden_channels=4, num_blocks=1, block="modern", rngs=r),
            _conv(1, 1, 4) + 2 * _conv(3, 4, 4) + _conv(1, 4, 1),
        ),
        # DilatedResNet 1D: 2 blocks of 3 convs
        (
            lambda r: enn.DilatedResNet(
                1, 1, 1, hidden_channels=4, num_blocks=2, dilation_rates=(1, 2, 4), rngs=r
            ),
            _conv(1, 1, 4) + 6 * _conv(3, 4, 4) + _conv(1, 4, 1),
        ),
        # UNet 1D, channels (4, 8, 16)
        (
            lambda r: enn.UNet(1, 1, 2, hidden_channels=4, num_levels=2, rngs=r),
            (_conv(3, 1, 4) + _conv(3, 4, 4))  # lifting double conv
            + _conv(3, 4, 4)
            + _conv(3, 4, 8)
            + _conv(3, 8, 8)  # down 1, encoder 1
            + _conv(3, 8, 8)
            + _conv(3, 8, 16)
            + _conv(3, 16, 16)  # down 2, encoder 2
            + _conv(3, 8, 4)
            + _conv(3, 8, 4)
            + _conv(3, 4, 4)  # up 1, decoder 1
            + _conv(3, 16, 8)
            + _conv(3, 16, 8)
            + _conv(3, 8, 8)  # up 2, decoder 2
            + _conv(1, 4, 2),
        ),
        # FNO 2D, modes (2, 3): spectral 2 * (2*2) * 3 * 4 * 4 real numbers per block
        (
            lambda r: enn.FNO(2, 2, 3, hidden_channels=4, num_blocks=2, modes=(2, 3), rngs=r),
            _conv(1, 2, 4) + 2 * (2 * 4 * 3 * 16 + _conv(1, 4, 4)) + _conv(1, 4, 3),
        ),
        # MLP on 8 points, 2 -> 3 channels: 16 -> 16 -> 16 -> 24
        (
            lambda r: enn.MLP(1, 2, 3, num_points=8, width_size=16, depth=2, rngs=r),
            _conv(1, 16, 16) + _conv(1, 16, 16) + _conv(1, 16, 24),
        ),
    ],
)
def test_parameter_counts_match_closed_formulas(build, expected):
    model = build(nnx.Rngs(0))
    assert model.num_parameters == expected == enn.count_parameters(model)


def test_fno_in_not_equal_out_channels_2d():
    model = enn.FNO(2, 3, 1, hidden_channels=4, num_blocks=1, modes=(3, 2), rngs=nnx.Rngs(0))
    assert apply(model, jnp.ones((2, 8, 6, 3))).shape == (2, 8, 6, 1)


def test_presets_are_about_30k_parameters():
    for name in (
        "conv_net_1d_30k",
        "resnet_1d_30k",
        "modern_resnet_1d_30k",
        "unet_1d_30k",
        "dilated_resnet_1d_30k",
        "fno_1d_30k",
        "mlp_1d_30k",
    ):
        model = nnx.eval_shape(lambda: getattr(enn.presets, name)(1, 1, rngs=nnx.Rngs(0)))
        count = enn.count_parameters(model)
        assert 25_000 <= count <= 35_000, (name, count)


def test_distinct_blocks_get_distinct_initial_weights():
    model = enn.UNet(1, 2, 2, hidden_channels=2, num_levels=2, channel_multipliers=(1, 1), rngs=nnx.Rngs(0))
    kernels = [leaf for leaf in jax.tree.leaves(nnx.state(model, nnx.Param)) if leaf.shape == (3, 2, 2)]
    assert len(kernels) >= 8
    for a in range(len(kernels)):
        for b in range(a):
            assert not np.allclose(kernels[a], kernels[b])


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: enn.ResNet(1, 1, 1, kernel_size=0, rngs=nnx.Rngs(0)), "kernel_size"),
        (lambda: enn.ConvNet(1, 1, 1, boundary_mode="open", rngs=nnx.Rngs(0)), "boundary_mode"),
        (lambda: enn.ResNet(1, 1, 1, block="fancy", rngs=nnx.Rngs(0)), "block"),
        (lambda: enn.UNet(1, 1, 1, num_levels=2, rngs=nnx.Rngs(0))(jnp.ones((1, 10, 1))), "num_levels"),
        (
            lambda: enn.UNet(1, 1, 1, num_levels=2, channel_multipliers=(2,), rngs=nnx.Rngs(0)),
            "channel_multipliers",
        ),
        (lambda: enn.FNO(1, 1, 1, modes=5, rngs=nnx.Rngs(0))(jnp.ones((1, 8, 1))), "modes"),
        (lambda: enn.DilatedResNet(1, 1, 1, dilation_rates=(1, 0), rngs=nnx.Rngs(0)), "dilation_rates"),
        (lambda: enn.MLP(1, 1, 1, num_points=8, rngs=nnx.Rngs(0))(jnp.ones((1, 9, 1))), "spatial"),
    ],
)
def test_bad_configuration_names_parameter(build, message):
    with pytest.raises(ValueError, match=message):
        build()


@pytest.mark.parametrize("block", ["classic", "modern", "norm_conv_act"])
def test_residual_block_orders_by_hand(block):
    """Each block order, with group norms and a pointwise skip (3 -> 4 channels), against its formula."""
    model = enn.ResidualBlock(
        1,
        3,
        out_channels=4,
        kernel_size=3,
        block=block,
        use_norm=True,
        boundary_mode="periodic",
        activation=jnp.tanh,
        zero_bias_init=False,
        compute_dtype=None,
        rngs=nnx.Rngs(0),
    )
    for i, norm in enumerate([*model.norms, model.bypass_norm]):
        # non-trivial affine parameters, so a norm in the wrong place shows
        norm.norm.scale[...] = 1.0 + 0.1 * (i + 1) * jnp.arange(norm.channels)
        norm.norm.bias[...] = 0.05 * (i + 1) * jnp.ones(norm.channels)
    x = jax.random.normal(jax.random.key(2), (2, 8, 3))
    c1, c2 = model.convs
    n1, n2 = model.norms
    act, skip, skip_norm = jnp.tanh, model.bypass, model.bypass_norm
    if block == "classic":
        expected = act(skip_norm(skip(x)) + n2(c2(act(n1(c1(x))))))
        assert skip.bias is None and n1.channels == 4 and skip_norm.channels == 4
    elif block == "modern":
        expected = skip(skip_norm(x)) + c2(act(n2(c1(act(n1(x))))))
        assert skip.bias is None and n1.channels == 3 and skip_norm.channels == 3
    else:
        expected = skip(skip_norm(x)) + act(c2(n2(act(c1(n1(x))))))
        assert skip.bias is not None and n1.channels == 3
    np.testing.assert_allclose(apply(model, x), expected, rtol=1e-5, atol=1e-6)
