"""Architectures and tasks by APEBench string: parameter counts and outputs equal APEBench 0.1.1's."""

import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import emutrain.nn as enn

REFERENCE = pathlib.Path(__file__).with_name("data") / "apebench_reference.npz"

# Parameter counts of APEBench 0.1.1 (``BaseScenario.get_parameter_count`` / pdequinox ``count_parameters``)
# for (num_spatial_dims, num_points, channels, spec), read off the installed package.
APEBENCH_COUNTS = [
    (1, 160, 1, "Conv;34;10;relu", 31_757),
    (1, 160, 1, "Res;26;8;relu", 32_943),
    (1, 160, 1, "UNet;12;2;relu", 27_193),
    (1, 160, 1, "Dil;2;32;2;relu", 31_777),
    (1, 160, 1, "FNO;12;18;4;gelu", 32_527),
    (1, 160, 1, "MLP;64;3;relu", 29_024),
    (1, 160, 1, "Pure;5;identity", 5),
    (1, 160, 1, "MoRes;26;8;relu", 33_775),
    (1, 160, 1, "MoUNet;12;2;relu", 52_529),
    (1, 160, 1, "Dil;0;8;1;relu", 241),
    (1, 160, 1, "Dil;1;8;2;tanh", 1_321),
    (1, 160, 1, "UNet;4;0;relu", 89),
    (1, 160, 1, "Conv;8;0;relu", 4),
    (1, 160, 1, "MoUNet;4;1;relu", 1_385),
    (1, 160, 1, "Res;4;1;swish", 117),
    (1, 160, 1, "MLP;8;1;sigmoid", 2_728),
    (1, 16, 2, "Conv;8;2;relu", 306),
    (1, 16, 2, "Res;6;2;relu", 488),
    (1, 16, 2, "UNet;4;2;relu", 3_226),
    (1, 16, 2, "Dil;1;6;2;relu", 788),
    (1, 16, 2, "FNO;4;6;2;gelu", 692),
    (1, 16, 2, "MLP;16;2;relu", 1_344),
    (1, 16, 2, "Pure;3;identity", 12),
    (1, 16, 2, "MoRes;6;2;relu", 536),
    (1, 16, 2, "MoUNet;4;2;relu", 6_242),
    (2, 32, 1, "Conv;34;10;relu", 94_589),
    (2, 32, 1, "Res;26;8;relu", 97_839),
    (2, 32, 1, "UNet;12;2;relu", 79_969),
    (2, 32, 1, "Dil;2;32;2;relu", 93_217),
    (2, 32, 1, "FNO;12;18;4;gelu", 747_919),
    (2, 32, 1, "MLP;64;3;relu", 140_480),
    (2, 32, 1, "Pure;5;identity", 25),
    (2, 32, 1, "MoRes;26;8;relu", 98_671),
    (2, 32, 1, "MoUNet;12;2;relu", 148_505),
    (2, 16, 2, "UNet;4;2;relu", 9_130),
    (2, 16, 2, "Dil;1;6;2;relu", 2_084),
    (2, 16, 2, "FNO;4;6;2;gelu", 4_724),
    (2, 16, 2, "MLP;16;2;relu", 17_184),
    (2, 16, 2, "MoUNet;4;2;relu", 16_946),
    (3, 16, 1, "Conv;34;10;relu", 283_085),
    (3, 16, 1, "Res;26;8;relu", 292_527),
    (3, 16, 1, "UNet;12;2;relu", 238_297),
    (3, 16, 1, "Dil;2;32;2;relu", 277_537),
    (3, 16, 1, "FNO;4;6;2;gelu", 36_967),
    (3, 16, 2, "UNet;4;2;relu", 26_842),
    (3, 16, 2, "Dil;1;6;2;relu", 5_972),
    (3, 16, 2, "MoRes;6;2;relu", 3_992),
    (3, 8, 1, "MLP;16;2;relu", 17_184),
    (3, 16, 1, "Pure;5;identity", 125),
    (3, 16, 1, "MoRes;26;8;relu", 293_359),
    (3, 16, 1, "MoUNet;12;2;relu", 436_433),
    (3, 16, 1, "MoUNet;4;1;relu", 10_313),
]


@pytest.mark.parametrize("num_spatial_dims, num_points, channels, spec, expected", APEBENCH_COUNTS)
def test_parameter_count_equals_apebench(num_spatial_dims, num_points, channels, spec, expected):
    # Abstract construction: shapes only, no weights drawn.
    model = nnx.eval_shape(
        lambda: enn.from_spec(
            spec, num_spatial_dims, channels, channels, num_points=num_points, rngs=nnx.Rngs(0)
        )
    )
    assert enn.count_parameters(model) == expected


def _reference():
    return np.load(REFERENCE)


def _set_conv(conv, ref, path):
    conv.kernel[...] = jnp.transpose(ref[path + ".weight"], (2, 1, 0))  # (out, in, k) -> (k, in, out)
    if conv.bias is not None:
        conv.bias[...] = ref[path + ".bias"][:, 0]


def _set_pointwise(layer, ref, path):
    layer.kernel[...] = ref[path + ".weight"][..., 0].T
    if layer.bias is not None:
        layer.bias[...] = ref[path + ".bias"][:, 0]


def _set_norm(norm, ref, path, swap_halves=False):
    scale, bias = ref[path + ".weight"], ref[path + ".bias"]
    if swap_halves:
        scale, bias = _swap_halves(scale, 0), _swap_halves(bias, 0)
    norm.norm.scale[...] = scale
    norm.norm.bias[...] = bias


def _swap_halves(a, axis):
    half = a.shape[axis] // 2
    return np.concatenate([np.take(a, range(half, 2 * half), axis), np.take(a, range(half), axis)], axis)


def _set_modern_block(block, ref, path, swap_halves=False):
    _set_conv(block.convs[0], ref, path + ".conv_1")
    _set_conv(block.convs[1], ref, path + ".conv_2")
    _set_norm(block.norms[0], ref, path + ".norm_1", swap_halves)
    _set_norm(block.norms[1], ref, path + ".norm_2")
    if block.bypass is not None:
        block.bypass.kernel[...] = ref[path + ".bypass_conv.weight"][..., 0].T
        _set_norm(block.bypass_norm, ref, path + ".bypass_norm", swap_halves)
    if swap_halves:
        block.convs[0].kernel[...] = _swap_halves(np.asarray(block.convs[0].kernel[...]), 1)
        block.bypass.kernel[...] = _swap_halves(np.asarray(block.bypass.kernel[...]), 0)


def _load(model, spec, ref):
    """Copy the reference parameters ``ref`` (pdequinox layout) into ``model`` built from ``spec``."""
    name = spec.split(";")[0]
    if name == "Conv":
        for i, layer in enumerate(model.layers):
            _set_conv(layer, ref, f".layers[{i}]")
    elif name == "Pure":
        _set_conv(model, ref, "")
    elif name == "MLP":
        # one channel: channels-first and channels-last flattening coincide
        for i, layer in enumerate(model.layers):
            layer.kernel[...] = ref[f".flat_mlp.layers[{i}].weight"].T
            layer.bias[...] = ref[f".flat_mlp.layers[{i}].bias"]
    elif name in ("Res", "MoRes", "Dil", "FNO"):
        _set_pointwise(model.lifting, ref, ".lifting")
        _set_pointwise(model.projection, ref, ".projection")
        for i, block in enumerate(model.blocks):
            path = f".blocks[{i}]"
            if name == "Res":
                _set_conv(block.convs[0], ref, path + ".conv_1")
                _set_conv(block.convs[1], ref, path + ".conv_2")
            elif name == "MoRes":
                _set_modern_block(block, ref, path)
            elif name == "Dil":
                for j, conv in enumerate(block.convs):
                    _set_conv(conv, ref, path + f".conv_layers[{j}]")
                    _set_norm(block.norms[j], ref, path + f".norm_layers[{j}]")
            else:
                # pdequinox stores (group, out, in, modes) in 1D (its einsum reads axis 1 as the output)
                block.spectral.weights_real[...] = ref[path + ".spectral_conv.weights_real"][0].transpose(
                    2, 1, 0
                )
                block.spectral.weights_imag[...] = ref[path + ".spectral_conv.weights_imag"][0].transpose(
                    2, 1, 0
                )
                _set_pointwise(block.pointwise, ref, path + ".by_pass_conv")
    else:  # UNet, MoUNet; emutrain concatenates [up, skip], the reference [skip, up]: swap input halves
        _set_pointwise(model.projection, ref, ".projection")
        if name == "UNet":
            stages = [(model.lifting, ".lifting")]
        else:
            _set_modern_block(model.lifting.blocks[0], ref, ".lifting")
            stages = []
        for lv in range(model.num_levels):
            _set_conv(model.down[lv].conv, ref, f".down_sampling_blocks[{lv}]")
            # the reference's transposed convolution reads the zero-inserted grid with the same kernel order
            _set_conv(model.up[lv].conv, ref, f".up_sampling_blocks[{lv}]")
            stages += [
                (model.encoder[lv], f".left_arc_blocks[{lv}]"),
                (model.decoder[lv], f".right_arc_blocks[{lv}]"),
            ]
        for stage, path in stages:
            swap = "right_arc" in path
            if name == "UNet":
                path = path if path == ".lifting" else path + "[0]"
                _set_conv(stage.conv1, ref, path + ".conv_1")
                _set_conv(stage.conv2, ref, path + ".conv_2")
                _set_norm(stage.norm1, ref, path + ".norm_1")
                _set_norm(stage.norm2, ref, path + ".norm_2")
                if swap:
                    stage.conv1.kernel[...] = _swap_halves(np.asarray(stage.conv1.kernel[...]), 1)
            else:
                for j, block in enumerate(stage.blocks):
                    _set_modern_block(block, ref, path + f"[{j}]", swap_halves=swap and j == 0)


SPECS_WITH_OUTPUTS = (
    "Conv;5;2;tanh",
    "Conv;6;1;swish",
    "Conv;6;1;gelu",
    "Conv;6;1;sigmoid",
    "Pure;3;identity",
    "Res;4;2;tanh",
    "Res;4;1;relu",
    "MoRes;4;2;tanh",
    "Dil;1;4;2;tanh",
    "FNO;3;4;2;gelu",
    "MLP;8;2;tanh",
    "UNet;4;1;tanh",
    "MoUNet;4;1;tanh",
)


@pytest.mark.parametrize("spec", SPECS_WITH_OUTPUTS)
def test_output_equals_apebench_with_its_weights(spec):
    """Same layers in the same order: with APEBench's weights copied in, the outputs agree to rounding."""
    data = _reference()
    ref = {key.split("|", 1)[1]: data[key] for key in data.files if key.startswith(spec + "|")}
    x = jnp.asarray(data["x"]).transpose(0, 2, 1)  # (B, C, N) -> (B, N, C)
    model = enn.from_spec(spec, 1, 1, 1, num_points=x.shape[1], rngs=nnx.Rngs(0))
    _load(model, spec, ref)
    expected = np.asarray(ref["y"]).transpose(0, 2, 1)
    np.testing.assert_allclose(nnx.jit(lambda m, v: m(v))(model, x), expected, atol=2e-6, rtol=0)
    assert np.max(np.abs(expected)) > 0.1


def test_pure_is_a_bias_free_linear_stencil():
    model = enn.from_spec("Pure;3", 1, 1, 1, rngs=nnx.Rngs(0))
    assert isinstance(model, enn.Conv) and model.bias is None and enn.count_parameters(model) == 3
    model.kernel[...] = jnp.array([1.0, -2.0, 1.0]).reshape(3, 1, 1)
    u = jnp.arange(8.0) ** 2
    # periodic second difference of j^2: 2 inside, wrapped at both ends
    expected = jnp.roll(u, 1) - 2 * u + jnp.roll(u, -1)
    np.testing.assert_allclose(model(u.reshape(1, 8, 1))[0, :, 0], expected)
    np.testing.assert_array_equal(model(jnp.zeros((1, 8, 1))), 0)
    # the trailing activation APEBench needs is accepted and has no effect
    assert enn.count_parameters(enn.from_spec("Pure;3;relu", 2, 1, 1, rngs=nnx.Rngs(0))) == 9


def test_conv_depth_counts_hidden_layers_and_dil_rates():
    conv = enn.from_spec("Conv;4;3;relu", 1, 1, 1, rngs=nnx.Rngs(0))
    assert len(conv.layers) == 4 and conv.receptive_field == 4
    assert len(enn.from_spec("Conv;4;0;relu", 1, 1, 1, rngs=nnx.Rngs(0)).layers) == 1
    for depth, rates in [(0, (1,)), (1, (1, 2, 1)), (2, (1, 2, 4, 2, 1)), (3, (1, 2, 4, 8, 4, 2, 1))]:
        model = enn.from_spec(f"Dil;{depth};2;1;relu", 1, 1, 1, rngs=nnx.Rngs(0))
        assert tuple(c.dilation for c in model.blocks[0].convs) == rates
        assert model.blocks[0].block == "norm_conv_act" and model.blocks[0].use_norm


def test_names_and_activations_are_case_insensitive():
    a = enn.from_spec("res;4;1;TANH", 1, 1, 1, rngs=nnx.Rngs(0))
    b = enn.from_spec("Res;4;1;tanh", 1, 1, 1, rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(0), (2, 8, 1))
    np.testing.assert_array_equal(a(x), b(x))
    assert enn.activation_from_name("silu") is jax.nn.silu
    np.testing.assert_allclose(enn.ACTIVATIONS["swish"](x), enn.ACTIVATIONS["silu"](x))
    np.testing.assert_array_equal(enn.ACTIVATIONS["identity"](x), x)


@pytest.mark.parametrize(
    "spec, kwargs, message",
    [
        ("Transformer;4;2;relu", {}, "must be one of"),
        ("Conv;4;relu", {}, "Conv;WIDTH;DEPTH;ACT"),
        ("Conv;4;2;3;relu", {}, "Conv;WIDTH;DEPTH;ACT"),
        ("Conv;four;2;relu", {}, "WIDTH"),
        ("Conv;0;2;relu", {}, "WIDTH"),
        ("Conv;4;-1;relu", {}, "DEPTH"),
        ("Conv;4;2;rleu", {}, "relu"),
        ("Pure;4", {}, "odd"),
        ("Pure;3;1;relu", {}, "Pure;KERNEL_SIZE"),
        ("MLP;8;2;relu", {}, "num_points"),
        ("FNO;4;8;2;gelu", {"boundary_mode": "dirichlet"}, "periodic"),
        ("Res;4;2;relu", {"boundary_mode": "open"}, "boundary_mode"),
        ("", {}, "Conv;WIDTH;DEPTH;ACT"),
    ],
)
def test_bad_specs_list_valid_forms(spec, kwargs, message):
    with pytest.raises(ValueError, match=message):
        enn.from_spec(spec, 1, 1, 1, rngs=nnx.Rngs(0), **kwargs)


def test_bad_activation_lists_valid_names():
    with pytest.raises(ValueError) as info:
        enn.from_spec("Res;4;2;mish_typo", 1, 1, 1, rngs=nnx.Rngs(0))
    for name in ("relu", "gelu", "tanh", "swish", "silu", "identity"):
        assert name in str(info.value)


class _Scale:
    """A frozen coarse stepper: u -> 0.5 u (hashable, so it can sit in the graph)."""

    def __call__(self, u):
        return 0.5 * u

    def __hash__(self):
        return 0

    def __eq__(self, other):
        return isinstance(other, _Scale)


@pytest.mark.parametrize(
    "task, expected",
    [
        ("correct;sequential", lambda net, u: net(0.5 * u)),
        ("correct;parallel", lambda net, u: 0.5 * u + net(u)),
        ("correct;sequential_with_bypass", lambda net, u: 0.5 * u + net(0.5 * u)),
    ],
)
def test_task_models_compose_network_and_coarse_stepper(task, expected):
    net = enn.from_spec("Res;3;1;tanh", 1, 1, 1, rngs=nnx.Rngs(0))
    model = enn.make_task_model(task, net, _Scale())
    u = jax.random.normal(jax.random.key(0), (2, 8, 1))
    np.testing.assert_allclose(nnx.jit(lambda m, v: m(v))(model, u), expected(net, u), rtol=1e-6, atol=1e-7)
    # as in APEBench, gradients with respect to the state flow through the coarse stepper
    grad = nnx.jit(lambda m, v: jax.grad(lambda w: jnp.sum(m(w)))(v))(model, u)
    assert np.all(np.isfinite(grad)) and np.any(grad != 0)


def test_predict_task_and_bad_tasks():
    net = enn.from_spec("Conv;3;1;relu", 1, 1, 1, rngs=nnx.Rngs(0))
    assert enn.make_task_model("predict", net) is net
    for task in ("correct;serial", "correct", "predict;x", "Predict"):
        with pytest.raises(ValueError, match="correct;sequential_with_bypass"):
            enn.make_task_model(task, net, _Scale())
    with pytest.raises(ValueError, match="coarse_stepper"):
        enn.make_task_model("correct;parallel", net)


@pytest.mark.parametrize(
    "spec, num_spatial_dims, num_points, field, value, allowed",
    [
        ("UNet;8;9;relu", 1, 64, "LEVELS", 9, "0..6"),
        ("MoUNet;4;2;relu", 2, 18, "LEVELS", 2, "0..1"),
        ("UNet;4;3;relu", 2, (32, 20), "LEVELS", 3, "0..2"),
        ("FNO;9;8;2;gelu", 1, 16, "MODES", 9, "1..8"),
        ("FNO;5;8;2;gelu", 2, (32, 8), "MODES", 5, "1..4"),
        ("Pure;17;relu", 1, 16, "KERNEL_SIZE", 17, "1..16"),
    ],
)
def test_grid_bounds_are_checked_before_building(spec, num_spatial_dims, num_points, field, value, allowed):
    # 'UNet;8;9;relu' would need 8 * 2**9 = 4096 channels at its coarsest level: refused before any weight.
    with pytest.raises(ValueError) as info:
        enn.from_spec(spec, num_spatial_dims, 1, 1, num_points=num_points, rngs=nnx.Rngs(0))
    message = str(info.value)
    assert message.startswith(f"{field} in architecture spec {spec!r}")
    assert allowed in message
    assert message.endswith(f"got {value}")


@pytest.mark.parametrize(
    "spec, num_points",
    [("UNet;2;6;relu", 64), ("FNO;8;4;1;gelu", 16), ("Pure;15", 15), ("MoUNet;2;1;relu", 18)],
)
def test_grid_bounds_admit_their_limits(spec, num_points):
    model = nnx.eval_shape(lambda: enn.from_spec(spec, 1, 1, 1, num_points=num_points, rngs=nnx.Rngs(0)))
    x = jnp.zeros((1, num_points, 1))
    assert nnx.eval_shape(lambda m, u: m(u), model, x).shape == x.shape
