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

Each name is one row of a table (its form, its builder and the fields the grid bounds), read by one
parser; with ``num_points`` the bounded fields are checked before any weight is drawn, so a U-Net too
deep for its grid is refused at once rather than after building thousands of channels.

Activations: those of APEBench (``relu``, ``sigmoid``, ``tanh``, ``swish``, ``gelu`` (tanh
approximation, ``jax.nn.gelu``), ``identity``) plus ``silu`` (= ``swish``), ``elu``, ``leaky_relu``,
``softplus``, ``selu``. Tasks: ``predict`` (the network is the stepper) and
``correct;sequential|parallel|sequential_with_bypass`` (see :func:`make_task_model`).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import jax
from flax import nnx

from emutrain.nn._validation import check_boundary_mode, check_layer_shape
from emutrain.nn.convnets import ConvNet, DilatedResNet, ResNet
from emutrain.nn.correctors import ParallelCorrector, SequentialCorrector, SequentialWithBypass
from emutrain.nn.fno import FNO
from emutrain.nn.layers import Conv
from emutrain.nn.mlp import MLP
from emutrain.nn.spectral_layer import is_spectral_spec, spectral_from_spec
from emutrain.nn.stencil import is_stencil_spec, stencil_from_spec
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


@dataclass(frozen=True)
class _Target:
    """What a network is built for: the grid, the channels and the options of :func:`from_spec`."""

    num_spatial_dims: int
    in_channels: int
    out_channels: int
    boundary_mode: str
    activation: Callable[[jax.Array], jax.Array]
    num_points: int | Sequence[int] | None
    rngs: nnx.Rngs

    @property
    def channels(self) -> tuple[int, int, int]:
        return self.num_spatial_dims, self.in_channels, self.out_channels

    @property
    def common(self) -> dict[str, Any]:
        return dict(boundary_mode=self.boundary_mode, activation=self.activation, rngs=self.rngs)

    @property
    def sizes(self) -> tuple[int, ...] | None:
        """Points per spatial axis, or None when no grid was given."""
        if self.num_points is None:
            return None
        sizes = self.num_points
        if not isinstance(sizes, Sequence):
            sizes = (sizes,) * self.num_spatial_dims
        return tuple(check_int("num_points", n, minimum=1) for n in sizes)


Args = dict[str, int]
"""An architecture string's integer fields by name, e.g. ``{"WIDTH": 34, "DEPTH": 10}``."""


@dataclass(frozen=True)
class _Architecture:
    """One row of the architecture table: its string form, its builder and its constraints.

    ``form`` is ``Name;FIELD;...;ACT`` (``[;ACT]`` for an optional activation); every field is an integer
    of at least ``_MINIMUM.get(field, 1)``. ``limits(args, target)`` returns, for every field bounded by
    the target (its grid, its boundary mode), ``(field, allowed, ok)``; ``build(args, target)`` builds.
    """

    form: str
    build: Callable[[Args, _Target], nnx.Module]
    limits: Callable[[Args, _Target], list[tuple[str, str, bool]]] = lambda args, target: []

    @property
    def name(self) -> str:
        return self.form.split(";")[0]

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(f for f in self.form.replace("[", "").replace("]", "").split(";")[1:] if f != "ACT")

    @property
    def optional_activation(self) -> bool:
        return self.form.endswith("[;ACT]")


_MINIMUM = {"DEPTH": 0, "LEVELS": 0, "DILATION_DEPTH": 0}


def _halvings(sizes: tuple[int, ...]) -> int:
    """The most halvings every size allows: the exponent of the largest power of two dividing them all."""
    return min((n & -n).bit_length() - 1 for n in sizes)


def _level_limits(args: Args, target: _Target) -> list[tuple[str, str, bool]]:
    sizes = target.sizes
    if sizes is None:
        return []
    most = _halvings(sizes)
    allowed = f"0..{most} (2**LEVELS must divide num_points={target.num_points})"
    return [("LEVELS", allowed, args["LEVELS"] <= most)]


def _fno_limits(args: Args, target: _Target) -> list[tuple[str, str, bool]]:
    limits = [("boundary_mode", "'periodic' (the FNO is periodic only)", target.boundary_mode == "periodic")]
    if target.sizes is not None:
        most = min(target.sizes) // 2
        allowed = f"1..{most} (at most N/2 for num_points={target.num_points})"
        limits.append(("MODES", allowed, args["MODES"] <= most))
    return limits


def _pure_limits(args: Args, target: _Target) -> list[tuple[str, str, bool]]:
    kernel_size = args["KERNEL_SIZE"]
    limits = [("KERNEL_SIZE", "odd (a centred stencil)", kernel_size % 2 == 1)]
    if target.sizes is not None:
        most = min(target.sizes)
        allowed = f"1..{most} (at most num_points={target.num_points})"
        limits.append(("KERNEL_SIZE", allowed, kernel_size <= most))
    return limits


def _mlp_limits(args: Args, target: _Target) -> list[tuple[str, str, bool]]:
    return [("num_points", "given (the MLP is tied to one grid)", target.num_points is not None)]


def _dilation_rates(depth: int) -> tuple[int, ...]:
    rates = [2**i for i in range(depth + 1)]
    return tuple(rates + rates[-2::-1])


_ARCHITECTURES = (
    _Architecture(
        "Conv;WIDTH;DEPTH;ACT",
        lambda a, t: ConvNet(*t.channels, hidden_channels=a["WIDTH"], depth=a["DEPTH"], **t.common),
    ),
    _Architecture(
        "Res;WIDTH;BLOCKS;ACT",
        lambda a, t: ResNet(
            *t.channels, hidden_channels=a["WIDTH"], num_blocks=a["BLOCKS"], block="classic", **t.common
        ),
    ),
    _Architecture(
        "UNet;WIDTH;LEVELS;ACT",
        lambda a, t: UNet(
            *t.channels, hidden_channels=a["WIDTH"], num_levels=a["LEVELS"], use_norm=True, **t.common
        ),
        _level_limits,
    ),
    _Architecture(
        "Dil;DILATION_DEPTH;WIDTH;BLOCKS;ACT",
        lambda a, t: DilatedResNet(
            *t.channels,
            hidden_channels=a["WIDTH"],
            num_blocks=a["BLOCKS"],
            dilation_rates=_dilation_rates(a["DILATION_DEPTH"]),
            block="norm_conv_act",
            use_norm=True,
            **t.common,
        ),
    ),
    _Architecture(
        "FNO;MODES;WIDTH;BLOCKS;ACT",
        lambda a, t: FNO(
            *t.channels,
            hidden_channels=a["WIDTH"],
            num_blocks=a["BLOCKS"],
            modes=a["MODES"],
            activation=t.activation,
            rngs=t.rngs,
        ),
        _fno_limits,
    ),
    _Architecture(
        "MLP;WIDTH;DEPTH;ACT",
        lambda a, t: MLP(
            *t.channels,
            num_points=t.num_points,
            width_size=a["WIDTH"],
            depth=a["DEPTH"],
            activation=t.activation,
            rngs=t.rngs,
        ),
        _mlp_limits,
    ),
    _Architecture(
        "Pure;KERNEL_SIZE[;ACT]",
        lambda a, t: Conv(
            *t.channels,
            kernel_size=a["KERNEL_SIZE"],
            use_bias=False,
            boundary_mode=t.boundary_mode,
            rngs=t.rngs,
        ),
        _pure_limits,
    ),
    _Architecture(
        "MoRes;WIDTH;BLOCKS;ACT",
        lambda a, t: ResNet(
            *t.channels,
            hidden_channels=a["WIDTH"],
            num_blocks=a["BLOCKS"],
            block="modern",
            use_norm=True,
            **t.common,
        ),
    ),
    _Architecture(
        "MoUNet;WIDTH;LEVELS;ACT",
        lambda a, t: ModernUNet(
            *t.channels,
            hidden_channels=a["WIDTH"],
            num_levels=a["LEVELS"],
            num_blocks=2,
            use_norm=True,
            **t.common,
        ),
        _level_limits,
    ),
)
_BY_NAME = {row.name.lower(): row for row in _ARCHITECTURES}
ARCHITECTURE_FORMS = {name: row.form for name, row in _BY_NAME.items()}


def _forms() -> str:
    return ", ".join(ARCHITECTURE_FORMS.values())


def _int_token(spec: str, form: str, field: str, token: str) -> int:
    minimum = _MINIMUM.get(field, 1)
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


def _parse(spec: str) -> tuple[_Architecture, Args, str | None]:
    """The table row, the integer fields and the activation name (None if omitted) of ``spec``."""
    tokens = [token.strip() for token in spec.split(";")]
    row = _BY_NAME.get(tokens[0].lower())
    if row is None:
        raise ValueError(
            f"architecture name in spec {spec!r} must be one of {tuple(ARCHITECTURE_FORMS)} "
            f"(case-insensitive); valid forms: {_forms()}"
        )
    num_fields = len(row.fields)
    allowed = (num_fields, num_fields + 1) if row.optional_activation else (num_fields + 1,)
    if len(tokens) - 1 not in allowed:
        raise ValueError(
            f"architecture spec {spec!r} must have the form {row.form} "
            f"({' or '.join(map(str, allowed))} fields after the name), got {len(tokens) - 1}"
        )
    args = {f: _int_token(spec, row.form, f, t) for f, t in zip(row.fields, tokens[1:])}
    activation = tokens[-1] if len(tokens) - 1 > num_fields else None
    return row, args, activation


def _check_limits(spec: str, row: _Architecture, args: Args, target: _Target) -> None:
    for field, allowed, ok in row.limits(args, target):
        if not ok:
            value = args.get(field, getattr(target, field, None))
            raise ValueError(
                f"{field} in architecture spec {spec!r} (form {row.form}) must be {allowed}, got {value!r}"
            )


def from_spec(
    spec: str,
    num_spatial_dims: int,
    in_channels: int,
    out_channels: int,
    *,
    boundary_mode: str = "periodic",
    num_points: int | Sequence[int] | None = None,
    rngs: nnx.Rngs,
) -> nnx.Module:
    """The network described by an APEBench architecture string (see the module docstring).

    ``num_points`` (points per axis) is needed by ``MLP``; given for any network, the fields that the
    grid bounds are checked against it before anything is built (``LEVELS`` of the U-Nets: ``2**LEVELS``
    divides every size; ``MODES`` of ``FNO``: at most ``N/2``; ``KERNEL_SIZE`` of ``Pure``: at most ``N``).
    ``FNO`` is periodic only. emutrain's own forms ``Stencil;K;ALIGN[;weights]`` and
    ``Spectral;MODES[;zero]`` are read by their modules' parsers. Malformed strings, unknown names and
    activations, and fields out of range raise ValueError naming the field, the value and what is allowed.
    """
    if not isinstance(spec, str):
        raise TypeError(f"spec must be a str such as 'Conv;34;10;relu', got {spec!r}")
    for is_form, build in ((is_stencil_spec, stencil_from_spec), (is_spectral_spec, spectral_from_spec)):
        if is_form(spec):
            return build(
                spec, num_spatial_dims, in_channels, out_channels, boundary_mode=boundary_mode, rngs=rngs
            )
    d = check_layer_shape(num_spatial_dims, in_channels, out_channels)
    check_boundary_mode(boundary_mode)
    row, args, activation_name = _parse(spec)
    activation = _identity if activation_name is None else activation_from_name(activation_name)
    target = _Target(d, in_channels, out_channels, boundary_mode, activation, num_points, rngs)
    _check_limits(spec, row, args, target)
    return row.build(args, target)


def _parse_task(task: str) -> str | None:
    """The corrector mode of a task string: None for ``predict``, ``MODE`` for ``correct;MODE``."""
    if not isinstance(task, str):
        raise TypeError(f"task must be a str, one of {TASK_FORMS}, got {task!r}")
    if task not in TASK_FORMS:
        raise ValueError(f"task must be one of {TASK_FORMS}, got {task!r}")
    return None if task == "predict" else task.partition(";")[2]


def make_task_model(
    task: str, network: nnx.Module, coarse_stepper: Callable | nnx.Module | None = None
) -> nnx.Module:
    """The stepper for an APEBench task string.

    ``predict``: ``network`` itself. ``correct;sequential``: ``network(coarse(u))``; ``correct;parallel``:
    ``coarse(u) + network(u)``; ``correct;sequential_with_bypass``: ``coarse(u) + network(coarse(u))``
    (:mod:`emutrain.nn.correctors`). As in APEBench, the coarse stepper's own parameters are frozen but the
    gradient with respect to its input flows through it (``cut_coarse_gradient=False``).
    """
    mode = _parse_task(task)
    if mode is None:
        return network
    if coarse_stepper is None:
        raise ValueError(f"coarse_stepper must be given for task {task!r}, got None")
    return _CORRECTORS[mode](coarse_stepper, network)
