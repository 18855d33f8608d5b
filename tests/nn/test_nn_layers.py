"""Building blocks: boundary padding by hand, spectral convolution on known modes, sampling, validation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import emutrain.nn as enn
from emutrain.nn.layers import _pad_spatial

# One compiled graph per layer is much cheaper than op-by-op dispatch on a loaded CPU.
apply = nnx.jit(lambda module, x: module(x))


def _conv_1d_known(boundary_mode: str) -> enn.Conv:
    conv = enn.Conv(1, 1, 1, kernel_size=3, boundary_mode=boundary_mode, rngs=nnx.Rngs(0))
    conv.kernel[...] = jnp.array([1.0, 2.0, 3.0]).reshape(3, 1, 1)
    conv.bias[...] = jnp.zeros(1)
    return conv


@pytest.mark.parametrize(
    "boundary_mode, expected",
    [
        # y_i = x_{i-1} + 2 x_i + 3 x_{i+1} on x = [1, 2, 3, 4]; ghost cells: wrap (4 | 1) ...
        ("periodic", [4 + 2 + 6, 14, 20, 3 + 8 + 3]),
        # ... zeros (0 | 0) ...
        ("dirichlet", [0 + 2 + 6, 14, 20, 3 + 8 + 0]),
        # ... mirror about the boundary cell (x_{-1} = x_1 = 2 | x_4 = x_2 = 3).
        ("neumann", [2 + 2 + 6, 14, 20, 3 + 8 + 9]),
    ],
)
def test_conv_boundary_modes_by_hand(boundary_mode, expected):
    y = _conv_1d_known(boundary_mode)(jnp.array([1.0, 2.0, 3.0, 4.0]).reshape(1, 4, 1))
    np.testing.assert_allclose(y[0, :, 0], expected, rtol=1e-6)


def test_pad_spatial_2d_values():
    x = jnp.arange(9.0).reshape(1, 3, 3, 1)
    periodic = _pad_spatial(x, 2, 1, 1, "periodic")[0, :, :, 0]
    dirichlet = _pad_spatial(x, 2, 1, 1, "dirichlet")[0, :, :, 0]
    neumann = _pad_spatial(x, 2, 1, 1, "neumann")[0, :, :, 0]
    assert periodic.shape == (5, 5)
    np.testing.assert_array_equal(periodic[0], [8, 6, 7, 8, 6])
    np.testing.assert_array_equal(dirichlet[0], [0, 0, 0, 0, 0])
    np.testing.assert_array_equal(dirichlet[1], [0, 0, 1, 2, 0])
    np.testing.assert_array_equal(neumann[0], [4, 3, 4, 5, 4])


def test_dilated_conv_reads_dilated_neighbours():
    conv = enn.Conv(1, 1, 1, kernel_size=3, dilation=2, zero_bias_init=True, rngs=nnx.Rngs(0))
    conv.kernel[...] = jnp.array([1.0, 0.0, -1.0]).reshape(3, 1, 1)
    x = jnp.arange(8.0) ** 2
    y = conv(x.reshape(1, 8, 1))[0, :, 0]
    np.testing.assert_allclose(y, jnp.roll(x, 2) - jnp.roll(x, -2))
    assert conv.receptive_field == 2


@pytest.mark.parametrize(
    "boundary_mode, kernel_alignment, expected",
    [
        # y_i = 2 x_i + 3 x_{i+1} on x = [1, 2, 3, 4]: the right ghost cell wraps (1) or is zero ...
        ("periodic", "right", [2 + 6, 4 + 9, 6 + 12, 8 + 3]),
        ("dirichlet", "right", [2 + 6, 4 + 9, 6 + 12, 8 + 0]),
        # ... y_i = 2 x_{i-1} + 3 x_i: the left ghost cell wraps (4) or mirrors x_1 = 2.
        ("periodic", "left", [8 + 3, 2 + 6, 4 + 9, 6 + 12]),
        ("neumann", "left", [4 + 3, 2 + 6, 4 + 9, 6 + 12]),
    ],
)
def test_one_sided_even_kernel_by_hand(boundary_mode, kernel_alignment, expected):
    conv = enn.Conv(
        1,
        1,
        1,
        kernel_size=2,
        boundary_mode=boundary_mode,
        kernel_alignment=kernel_alignment,
        use_bias=False,
        rngs=nnx.Rngs(0),
    )
    conv.kernel[...] = jnp.array([2.0, 3.0]).reshape(2, 1, 1)
    y = apply(conv, jnp.array([1.0, 2.0, 3.0, 4.0]).reshape(1, 4, 1))
    np.testing.assert_allclose(y[0, :, 0], expected, rtol=1e-6)
    assert conv.receptive_field == 1


def test_spectral_conv_keeps_low_modes_and_mixes_channels():
    n, grid = 16, jnp.arange(16) / 16
    conv = enn.SpectralConv(1, 1, 2, modes=2, rngs=nnx.Rngs(0))
    # channel 0: identity on kept modes; channel 1: multiply by i (cos -> -sin).
    conv.weights_real[...] = jnp.array([[[1.0, 0.0]], [[1.0, 0.0]]])
    conv.weights_imag[...] = jnp.array([[[0.0, 1.0]], [[0.0, 1.0]]])
    x = jnp.cos(2 * jnp.pi * grid) + jnp.cos(2 * jnp.pi * 3 * grid)
    y = conv(x.reshape(1, n, 1))[0]
    np.testing.assert_allclose(y[:, 0], jnp.cos(2 * jnp.pi * grid), atol=1e-5)
    np.testing.assert_allclose(y[:, 1], -jnp.sin(2 * jnp.pi * grid), atol=1e-5)


def test_spectral_weights_start_as_apebench_fno():
    # pdequinox (APEBench's FNO): real and imaginary parts N(0, s^2) with s = 1/(in_channels*out_channels)
    conv = enn.SpectralConv(1, 18, 18, modes=12, rngs=nnx.Rngs(0))
    for weights in (conv.weights_real[...], conv.weights_imag[...]):
        assert weights.shape == (12, 18, 18) and weights.dtype == jnp.float32
        values = np.asarray(weights).ravel()  # 3,888 draws: standard errors 1.6% (std), 0.016 s (mean)
        assert abs(values.mean()) < 0.05 / 324
        np.testing.assert_allclose(values.std(), 1 / 324, rtol=0.05)
        assert (values < 0).mean() == pytest.approx(0.5, abs=0.03)
    assert not np.array_equal(conv.weights_real[...], conv.weights_imag[...])


@pytest.mark.parametrize("num_spatial_dims", [1, 2, 3])
def test_spectral_conv_in_not_equal_out(num_spatial_dims):
    conv = enn.SpectralConv(num_spatial_dims, 3, 5, modes=2, rngs=nnx.Rngs(1))
    n = 8 if num_spatial_dims < 3 else 4
    x = jax.random.normal(jax.random.key(0), (2,) + (n,) * num_spatial_dims + (3,))
    y = apply(conv, x)
    assert y.shape == (2,) + (n,) * num_spatial_dims + (5,)
    # linear in the input, equivariant to any shift
    np.testing.assert_allclose(apply(conv, 2 * x), 2 * y, rtol=1e-5, atol=1e-6)
    axes = tuple(range(1, num_spatial_dims + 1))
    np.testing.assert_allclose(apply(conv, jnp.roll(x, 3, axes)), jnp.roll(y, 3, axes), atol=1e-5)
    # real and imaginary weights: 2 * (2m)^(D-1) * m * in * out
    assert enn.count_parameters(conv) == 2 * 4 ** (num_spatial_dims - 1) * 2 * 3 * 5


def test_up_and_down_sampling_by_hand():
    down = enn.Downsample(1, 1, 1, kernel_size=1, zero_bias_init=True, rngs=nnx.Rngs(0))
    down.conv.kernel[...] = jnp.ones((1, 1, 1))
    up = enn.Upsample(1, 1, 1, kernel_size=1, zero_bias_init=True, rngs=nnx.Rngs(0))
    up.conv.kernel[...] = jnp.ones((1, 1, 1))
    x = jnp.arange(1.0, 9.0).reshape(1, 8, 1)
    np.testing.assert_array_equal(down(x)[0, :, 0], [1, 3, 5, 7])
    np.testing.assert_array_equal(up(down(x))[0, :, 0], [1, 0, 3, 0, 5, 0, 7, 0])
    two_d = enn.Upsample(2, 2, 3, rngs=nnx.Rngs(0))(jnp.ones((1, 4, 4, 2)))
    assert two_d.shape == (1, 8, 8, 3)
    np.testing.assert_array_equal(
        enn.insert_zeros(jnp.ones((2, 2, 1)), 2)[..., 0], [[1, 0, 1, 0], [0, 0, 0, 0]] * 2
    )


def test_bf16_compute_keeps_float32_params_and_output_dtype():
    full = enn.Conv(2, 4, 4, rngs=nnx.Rngs(0))
    half = enn.Conv(2, 4, 4, compute_dtype=jnp.bfloat16, rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(1), (2, 8, 8, 4))
    assert half.kernel.dtype == jnp.float32
    y_full, y_half = apply(full, x), apply(half, x)
    assert y_half.dtype == jnp.float32
    np.testing.assert_allclose(y_half, y_full, atol=5e-2)
    assert not np.allclose(y_half, y_full, atol=1e-7)


def test_zero_bias_init():
    assert not np.any(enn.Conv(1, 2, 3, zero_bias_init=True, rngs=nnx.Rngs(0)).bias[...])
    assert np.all(enn.Conv(1, 2, 3, rngs=nnx.Rngs(0)).bias[...] != 0)


@pytest.mark.parametrize(
    "build, name",
    [
        (lambda: enn.Conv(1, 1, 1, kernel_size=0, rngs=nnx.Rngs(0)), "kernel_size"),
        (lambda: enn.Conv(1, 1, 1, kernel_size=2, rngs=nnx.Rngs(0)), "kernel_size"),
        (lambda: enn.Conv(1, 1, 1, boundary_mode="outflow", rngs=nnx.Rngs(0)), "boundary_mode"),
        (lambda: enn.Conv(1, 1, 1, kernel_alignment="up", rngs=nnx.Rngs(0)), "kernel_alignment"),
        (lambda: enn.Conv(1, 1, 1, kernel_size=0, kernel_alignment="right", rngs=nnx.Rngs(0)), "kernel_size"),
        (lambda: enn.Conv(4, 1, 1, rngs=nnx.Rngs(0)), "num_spatial_dims"),
        (lambda: enn.Conv(1, 0, 1, rngs=nnx.Rngs(0)), "in_channels"),
        (lambda: enn.SpectralConv(2, 1, 1, modes=(2,), rngs=nnx.Rngs(0)), "modes"),
        (lambda: enn.SpectralConv(1, 1, 1, modes=5, rngs=nnx.Rngs(0))(jnp.ones((1, 8, 1))), "modes"),
        (lambda: enn.Conv(1, 2, 1, rngs=nnx.Rngs(0))(jnp.ones((1, 8, 3))), "in_channels"),
    ],
)
def test_bad_configuration_names_parameter(build, name):
    with pytest.raises(ValueError, match=name):
        build()
