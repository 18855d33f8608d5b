"""Checks specific to emutrain.nn: boundary modes, kernel sizes and the layout of inputs.

Generic checks (ints, reals, choices, floating dtypes) come from :mod:`emutrain.validation`.
"""

from typing import Any

from emutrain.validation import check_choice, check_floating, check_int

BOUNDARY_MODES = ("periodic", "dirichlet", "neumann")


def check_num_spatial_dims(num_spatial_dims: Any) -> int:
    return check_int("num_spatial_dims", num_spatial_dims, minimum=1, maximum=3)


def check_layer_shape(num_spatial_dims: Any, in_channels: Any, out_channels: Any) -> int:
    """Check the spatial rank (1 to 3) and the channel counts (>= 1) of a layer; return the rank."""
    num_spatial_dims = check_num_spatial_dims(num_spatial_dims)
    check_int("in_channels", in_channels, minimum=1)
    check_int("out_channels", out_channels, minimum=1)
    return num_spatial_dims


def per_axis_ints(name: str, value: Any, num_spatial_dims: int) -> tuple[int, ...]:
    """``value`` as one integer >= 1 per spatial axis: an int is repeated, a sequence has one per axis."""
    values = (value,) * num_spatial_dims if isinstance(value, int) else tuple(value)
    if len(values) != num_spatial_dims or any(not isinstance(v, int) or v < 1 for v in values):
        raise ValueError(
            f"{name} must be an integer >= 1 or {num_spatial_dims} such integers, got {value!r}"
        )
    return values


def check_kernel_size(kernel_size: Any) -> int:
    kernel_size = check_int("kernel_size", kernel_size, minimum=1)
    if kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be odd for a centred kernel, got {kernel_size}")
    return kernel_size


def check_boundary_mode(boundary_mode: Any) -> str:
    return check_choice("boundary_mode", boundary_mode, BOUNDARY_MODES)


def check_input(x: Any, num_spatial_dims: int, in_channels: int | None = None, *, name: str = "x") -> None:
    """Check that ``x`` is a floating batch ``(*batch, *spatial, C)`` with at least one batch axis.

    Steppers are called on batches (docs/architecture.md, "Array conventions"), so a single state
    ``(*spatial, C)`` is rejected rather than guessed at: a 1D batch ``(B, N, C)`` given to a 2D network
    would otherwise be read as one ``B x N`` image.
    TypeError for integer, bool or complex data; ValueError for too few axes or a wrong channel count.
    """
    check_floating(name, x)
    shape = tuple(x.shape)
    if len(shape) < num_spatial_dims + 2:
        raise ValueError(
            f"{name} must have shape (B, *spatial, C): at least {num_spatial_dims + 2} axes for "
            f"num_spatial_dims={num_spatial_dims} (one batch axis, {num_spatial_dims} spatial, one channel "
            f"axis), got shape {shape}"
        )
    if in_channels is not None and shape[-1] != in_channels:
        raise ValueError(
            f"{name} must have in_channels={in_channels} channels on its last axis, got shape {shape}"
        )
