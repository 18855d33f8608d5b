"""Finite-difference reference steppers: first-order upwind (FOU) advection on periodic and Dirichlet grids.

A periodic grid has ``N`` points on ``[0, L)`` (spacing ``L / N``, right endpoint excluded, as for the
spectral steppers); a Dirichlet grid has ``N`` interior points of ``[0, L]`` (spacing ``L / (N + 1)``)
with homogeneous ghost values ``u = 0`` on both boundaries.
"""

from __future__ import annotations

import dataclasses
import numbers
from typing import Sequence

import jax
import jax.numpy as jnp
from jax import Array
from jax.typing import ArrayLike

from emutrain.physics.stepper import validate_state
from emutrain.validation import check_choice, check_int, check_real

__all__ = ["UpwindAdvection", "FD_BOUNDARIES"]

FD_BOUNDARIES = ("periodic", "dirichlet")


def _velocity_per_axis(velocity: float | Sequence[float], num_spatial_dims: int) -> tuple[float, ...]:
    values = (velocity,) * num_spatial_dims if isinstance(velocity, numbers.Real) else tuple(velocity)
    if len(values) != num_spatial_dims or not all(
        isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values
    ):
        raise ValueError(
            f"velocity must be a real number or num_spatial_dims={num_spatial_dims} real numbers, "
            f"got {velocity!r}"
        )
    return tuple(float(v) for v in values)


@dataclasses.dataclass(frozen=True)
class UpwindAdvection:
    """First-order upwind (FOU) step of ``u_t + c . grad u = 0``, explicit Euler in time.

    Along each axis with Courant number ``cfl_d = c_d dt / dx`` the neighbour on the upwind side enters:
    ``u_j - cfl_d (u_j - u_{j-1})`` for ``c_d >= 0`` and ``u_j - cfl_d (u_{j+1} - u_j)`` for ``c_d < 0``;
    the axis increments add up. In 1D with ``c < 0`` this is the two-point stencil
    ``u_j <- (1 + cfl) u_j - cfl u_{j+1}`` on (center, right). Stable for ``sum_d |cfl_d| <= 1``; larger
    Courant numbers are allowed (e.g. to study instability) and not checked.

    Args:
      num_spatial_dims: 1, 2 or 3.
      domain_extent: ``L`` (length).
      num_points: ``N`` per axis; all points (periodic) or interior points (Dirichlet), ``>= 2``.
      dt: time step (time).
      velocity: ``c`` (length / time), a scalar for every axis or one value per axis.
      boundary: ``"periodic"`` or ``"dirichlet"`` (homogeneous, zero ghost cells).
      num_channels: channels ``C``; every channel is advected alike.

    Called on ``(..., *spatial, C)`` (any leading axes) it returns the next state, same shape and dtype.
    Immutable; compares and hashes by its fields, so it can be a static argument or module attribute.
    """

    num_spatial_dims: int
    domain_extent: float
    num_points: int
    dt: float
    velocity: float | tuple[float, ...] = 1.0
    boundary: str = "periodic"
    num_channels: int = 1

    def __post_init__(self) -> None:
        num_spatial_dims = check_int("num_spatial_dims", self.num_spatial_dims, minimum=1, maximum=3)
        check_choice("boundary", self.boundary, FD_BOUNDARIES)
        checked = dict(
            num_spatial_dims=num_spatial_dims,
            domain_extent=check_real("domain_extent", self.domain_extent, positive=True),
            num_points=check_int("num_points", self.num_points, minimum=2),
            dt=check_real("dt", self.dt, positive=True),
            velocity=tuple(
                check_real("velocity", v) for v in _velocity_per_axis(self.velocity, num_spatial_dims)
            ),
            num_channels=check_int("num_channels", self.num_channels, minimum=1),
        )
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    @property
    def dx(self) -> float:
        """Grid spacing: ``L / N`` (periodic) or ``L / (N + 1)`` (Dirichlet)."""
        intervals = self.num_points if self.boundary == "periodic" else self.num_points + 1
        return self.domain_extent / intervals

    @property
    def cfl(self) -> tuple[float, ...]:
        """Courant number per axis, ``c_d dt / dx``."""
        return tuple(c * self.dt / self.dx for c in self.velocity)

    def _neighbour(self, u: Array, axis: int, shift: int) -> Array:
        """``u_{j + shift}`` along ``axis`` (``shift`` = +1 or -1), wrapped or zero beyond the boundary."""
        if self.boundary == "periodic":
            return jnp.roll(u, -shift, axis=axis)
        pad = [(0, 0)] * u.ndim
        pad[axis] = (0, 1) if shift > 0 else (1, 0)
        start = 1 if shift > 0 else 0
        return jax.lax.slice_in_dim(jnp.pad(u, pad), start, start + u.shape[axis], axis=axis)

    def __call__(self, u: ArrayLike) -> Array:
        """Advance ``u`` of shape ``(..., *spatial, C)`` by ``dt``; same shape and dtype out."""
        u = validate_state(u, self.num_spatial_dims, self.num_points, self.num_channels)
        if not jnp.issubdtype(u.dtype, jnp.floating):
            raise TypeError(f"u must have a floating dtype, got {u.dtype}")
        update = jnp.zeros_like(u)
        for d, cfl in enumerate(self.cfl):
            if cfl == 0.0:
                continue
            axis = u.ndim - 1 - self.num_spatial_dims + d
            if cfl > 0:
                update = update - cfl * (u - self._neighbour(u, axis, -1))
            else:
                update = update - cfl * (self._neighbour(u, axis, +1) - u)
        return (u + update).astype(u.dtype)
