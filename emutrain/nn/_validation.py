"""Argument checks shared by the layers and architectures of emutrain.nn."""

from collections.abc import Sequence

BOUNDARY_MODES = ("periodic", "dirichlet", "neumann")


def check_num_spatial_dims(num_spatial_dims: int) -> None:
    if num_spatial_dims not in (1, 2, 3):
        raise ValueError(f"num_spatial_dims must be 1, 2 or 3, got {num_spatial_dims!r}")


def check_positive(name: str, value: int) -> None:
    if not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


def check_non_negative(name: str, value: int) -> None:
    if not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")


def check_kernel_size(kernel_size: int) -> None:
    if not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be an odd integer >= 1, got {kernel_size!r}")


def check_boundary_mode(boundary_mode: str) -> None:
    if boundary_mode not in BOUNDARY_MODES:
        raise ValueError(f"boundary_mode must be one of {BOUNDARY_MODES}, got {boundary_mode!r}")


def check_input(x_shape: Sequence[int], num_spatial_dims: int, in_channels: int) -> None:
    """Check that an input of shape ``(*batch, *spatial, C)`` matches the layer."""
    if len(x_shape) < num_spatial_dims + 1:
        raise ValueError(
            f"input must have shape (*batch, *spatial, C) with {num_spatial_dims} spatial dims, "
            f"got shape {tuple(x_shape)}"
        )
    if x_shape[-1] != in_channels:
        raise ValueError(
            f"input must have in_channels={in_channels} channels on its last axis, "
            f"got shape {tuple(x_shape)}"
        )
