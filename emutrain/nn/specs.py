"""Architectures and tasks by name, with the strings of APEBench 0.1.1 (Koehler et al., NeurIPS 2024).

An architecture string is ``NAME;ARG;...;ACTIVATION`` (``;``-separated, name and activation
case-insensitive). For the same string, :func:`from_spec` builds a network with exactly the parameter
count of APEBench's (pdequinox) network and the same layer order:

==========================  ======================================================================
``Conv;W;D;ACT``            :class:`ConvNet`, ``D`` hidden layers of width ``W`` (``D + 1`` convolutions)
``Res;W;B;ACT``             classic (post-activation) :class:`ResNet`, ``B`` blocks of width ``W``, no norm
``UNet;W;L;ACT``            :class:`UNet`, width ``W``, ``L`` halvings, group norm (1 group) in every
                            double convolution
``Dil;R;W;B;ACT``           :class:`DilatedResNet`, ``B`` blocks of width ``W`` with dilation rates
                            ``1, 2, ..., 2**R, ..., 2, 1`` (``R = 0``: ``(1,)``; ``R = 2``:
                            ``(1, 2, 4, 2, 1)``),
                            each convolution as ``act(conv(groupnorm(h)))`` (``block="norm_conv_act"``)
``FNO;M;W;B;ACT``           :class:`FNO`, ``M`` modes per axis, width ``W``, ``B`` Fourier blocks
``MLP;W;D;ACT``             :class:`MLP`, ``D`` hidden layers of ``W`` units; needs ``num_points``
``Pure;K`` / ``Pure;K;ACT`` one linear convolution of odd kernel size ``K`` without bias (learns a
                            stencil; ``ACT`` is accepted and ignored, as in APEBench)
``MoRes;W;B;ACT``           pre-activation :class:`ResNet` with group norms, ``B`` blocks of width ``W``
``MoUNet;W;L;ACT``          :class:`ModernUNet`, width ``W``, ``L`` halvings, 2 residual blocks per stage
==========================  ======================================================================

With APEBench's weights copied in, the outputs agree to float32 rounding (at most 4e-7, tested for every
name in 1D); the only differences are orderings: the U-Nets concatenate ``[upsampled, skip]`` where the
reference concatenates ``[skip, upsampled]``, and the MLP flattens the state channels-last. APEBench's
``Pure;K`` needs a trailing activation token (``Pure;3`` fails there) and pads even ``K`` asymmetrically;
emutrain accepts both forms, odd ``K`` only.

Activations: those of APEBench (``relu``, ``sigmoid``, ``tanh``, ``swish``, ``gelu`` (tanh
approximation, ``jax.nn.gelu``), ``identity``) plus ``silu`` (= ``swish``), ``elu``, ``leaky_relu``,
``softplus``, ``selu``. Tasks: ``predict`` (the network is the stepper) and
``correct;sequential|parallel|sequential_with_bypass`` (see :func:`make_task_model`).
"""

from collections.abc import Callable

import jax
from flax import nnx

from emutrain.nn._validation import check_boundary_mode, check_num_spatial_dims
from emutrain.nn.convnets import ConvNet, DilatedResNet, ResNet
from emutrain.nn.correctors import ParallelCorrector, SequentialCorrector, SequentialWithBypass
from emutrain.nn.fno import FNO
from emutrain.nn.layers import Conv
from emutrain.nn.mlp import MLP
from emutrain.nn.unet import ModernUNet, UNet
from emutrain.validation import check_int

__all__ = [
    "ACTIVATIONS",
    "ARCHITECTURE_FORMS",
    "TASK_FORMS",
    "activation_from_name",
    "from_spec",
    "make_task_model",
]


def _identity(x: jax.Array) -> jax.Array:
    return x


ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": jax.nn.relu,
    "sigmoid": jax.nn.sigmoid,
    "tanh": jax.nn.tanh,
    "swish": jax.nn.swish,
    "silu": jax.nn.silu,
    "gelu": jax.nn.gelu,
    "identity": _identity,
    "elu": jax.nn.elu,
    "leaky_relu": jax.nn.leaky_relu,
    "softplus": jax.nn.softplus,
    "selu": jax.nn.selu,
}

ARCHITECTURE_FORMS = {
    "conv": "Conv;WIDTH;DEPTH;ACT",
    "res": "Res;WIDTH;BLOCKS;ACT",
    "unet": "UNet;WIDTH;LEVELS;ACT",
    "dil": "Dil;DILATION_DEPTH;WIDTH;BLOCKS;ACT",
    "fno": "FNO;MODES;WIDTH;BLOCKS;ACT",
    "mlp": "MLP;WIDTH;DEPTH;ACT",
    "pure": "Pure;KERNEL_SIZE[;ACT]",
    "mores": "MoRes;WIDTH;BLOCKS;ACT",
    "mounet": "MoUNet;WIDTH;LEVELS;ACT",
}

TASK_FORMS = ("predict", "correct;sequential", "correct;parallel", "correct;sequential_with_bypass")
_CORRECTORS = {
    "sequential": SequentialCorrector,
    "parallel": ParallelCorrector,
    "sequential_with_bypass": SequentialWithBypass,
}


def activation_from_name(name: str) -> Callable[[jax.Array], jax.Array]:
    """The activation function called ``name`` (case-insensitive); ValueError listing the valid names."""
    if not isinstance(name, str) or name.lower() not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {tuple(ACTIVATIONS)}, got {name!r}")
    return ACTIVATIONS[name.lower()]


def _forms() -> str:
    return ", ".join(ARCHITECTURE_FORMS.values())


def _int_token(spec: str, form: str, field: str, token: str, minimum: int) -> int:
    try:
        value = int(token)
    except ValueError:
        raise ValueError(
            f"{field} in architecture spec {spec!r} (form {form}) must be an integer, got {token!r}"
        ) from None
    if value < minimum:
        raise ValueError(
            f"{field} in architecture spec {spec!r} (form {form}) must be >= {minimum}, got {value}"
        )
    return value


def from_spec(
    spec: str,
    num_spatial_dims: int,
    in_channels: int,
    out_channels: int,
    *,
    boundary_mode: str = "periodic",
    num_points: int | None = None,
    rngs: nnx.Rngs,
) -> nnx.Module:
    """The network described by an APEBench architecture string (see the module docstring).

    ``num_points`` (points per axis) is needed by ``MLP`` only. ``FNO`` is periodic only. Malformed strings,
    unknown names and unknown activations raise ValueError listing the valid forms or names.
    """
    if not isinstance(spec, str):
        raise TypeError(f"spec must be a str such as 'Conv;34;10;relu', got {spec!r}")
    d = check_num_spatial_dims(num_spatial_dims)
    check_int("in_channels", in_channels, minimum=1)
    check_int("out_channels", out_channels, minimum=1)
    check_boundary_mode(boundary_mode)
    tokens = [token.strip() for token in spec.split(";")]
    name = tokens[0].lower()
    if name not in ARCHITECTURE_FORMS:
        raise ValueError(
            f"architecture name in spec {spec!r} must be one of {tuple(ARCHITECTURE_FORMS)} "
            f"(case-insensitive); valid forms: {_forms()}"
        )
    form = ARCHITECTURE_FORMS[name]
    num_args = len(form.split(";")) - 1
    if name == "pure":
        if len(tokens) not in (2, 3):
            raise ValueError(f"architecture spec {spec!r} must have the form {form}")
        kernel_size = _int_token(spec, form, "KERNEL_SIZE", tokens[1], 1)
        if kernel_size % 2 == 0:
            raise ValueError(f"KERNEL_SIZE in architecture spec {spec!r} must be odd, got {kernel_size}")
        if len(tokens) == 3:
            activation_from_name(tokens[2])
        return Conv(
            d,
            in_channels,
            out_channels,
            kernel_size=kernel_size,
            use_bias=False,
            boundary_mode=boundary_mode,
            rngs=rngs,
        )
    if len(tokens) != num_args + 1:
        raise ValueError(
            f"architecture spec {spec!r} must have the form {form} ({num_args} fields after the "
            f"name), got {len(tokens) - 1}"
        )
    activation = activation_from_name(tokens[-1])
    fields = form.split(";")[1:-1]
    minimum = {"DEPTH": 0, "LEVELS": 0, "DILATION_DEPTH": 0}
    args = {f: _int_token(spec, form, f, t, minimum.get(f, 1)) for f, t in zip(fields, tokens[1:-1])}
    common = dict(boundary_mode=boundary_mode, activation=activation, rngs=rngs)
    if name == "conv":
        return ConvNet(
            d, in_channels, out_channels, hidden_channels=args["WIDTH"], depth=args["DEPTH"], **common
        )
    if name == "res":
        return ResNet(
            d,
            in_channels,
            out_channels,
            hidden_channels=args["WIDTH"],
            num_blocks=args["BLOCKS"],
            block="classic",
            **common,
        )
    if name == "mores":
        return ResNet(
            d,
            in_channels,
            out_channels,
            hidden_channels=args["WIDTH"],
            num_blocks=args["BLOCKS"],
            block="modern",
            use_norm=True,
            **common,
        )
    if name == "unet":
        return UNet(
            d,
            in_channels,
            out_channels,
            hidden_channels=args["WIDTH"],
            num_levels=args["LEVELS"],
            use_norm=True,
            **common,
        )
    if name == "mounet":
        return ModernUNet(
            d,
            in_channels,
            out_channels,
            hidden_channels=args["WIDTH"],
            num_levels=args["LEVELS"],
            num_blocks=2,
            use_norm=True,
            **common,
        )
    if name == "dil":
        rates = [2**i for i in range(args["DILATION_DEPTH"] + 1)]
        return DilatedResNet(
            d,
            in_channels,
            out_channels,
            hidden_channels=args["WIDTH"],
            num_blocks=args["BLOCKS"],
            dilation_rates=tuple(rates + rates[-2::-1]),
            block="norm_conv_act",
            use_norm=True,
            **common,
        )
    if name == "fno":
        if boundary_mode != "periodic":
            raise ValueError(
                f"boundary_mode must be 'periodic' for the FNO of spec {spec!r}, got {boundary_mode!r}"
            )
        return FNO(
            d,
            in_channels,
            out_channels,
            hidden_channels=args["WIDTH"],
            num_blocks=args["BLOCKS"],
            modes=args["MODES"],
            activation=activation,
            rngs=rngs,
        )
    # name == "mlp"
    if num_points is None:
        raise ValueError(
            f"num_points must be given for the MLP of spec {spec!r} (it is tied to one grid), got None"
        )
    return MLP(
        d,
        in_channels,
        out_channels,
        num_points=num_points,
        width_size=args["WIDTH"],
        depth=args["DEPTH"],
        activation=activation,
        rngs=rngs,
    )


def make_task_model(
    task: str, network: nnx.Module, coarse_stepper: Callable | nnx.Module | None = None
) -> nnx.Module:
    """The stepper for an APEBench task string.

    ``predict``: ``network`` itself. ``correct;sequential``: ``network(coarse(u))``; ``correct;parallel``:
    ``coarse(u) + network(u)``; ``correct;sequential_with_bypass``: ``coarse(u) + network(coarse(u))``
    (:mod:`emutrain.nn.correctors`). As in APEBench, the coarse stepper's own parameters are frozen but the
    gradient with respect to its input flows through it (``cut_coarse_gradient=False``).
    """
    if not isinstance(task, str):
        raise TypeError(f"task must be a str, one of {TASK_FORMS}, got {task!r}")
    tokens = task.split(";")
    if tokens == ["predict"]:
        return network
    if len(tokens) == 2 and tokens[0] == "correct" and tokens[1] in _CORRECTORS:
        if coarse_stepper is None:
            raise ValueError(f"coarse_stepper must be given for task {task!r}, got None")
        return _CORRECTORS[tokens[1]](coarse_stepper, network)
    raise ValueError(f"task must be one of {TASK_FORMS}, got {task!r}")
