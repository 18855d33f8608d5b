"""Base class of the pseudo-spectral steppers: validation, immutability, hashing and the call path.

A stepper advances a state ``u`` of shape ``(..., *spatial, C)`` (any number of leading batch axes) by one
time step ``dt`` and returns the same shape and dtype. Steppers are immutable and compare / hash by their
constructor arguments, so they can be stored as static attributes of jitted functions and NNX modules.
Their operator and ETDRK coefficient arrays are NumPy constants (float64/complex128) built at construction
and cast to the state's precision (float32 -> complex64, float64 -> complex128) at call time: they are jit
constants, never traced or trainable leaves.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from typing import Any, Callable, ClassVar

import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.typing import ArrayLike

from emutrain.physics import spectral
from emutrain.physics.coefficients import as_scalar
from emutrain.physics.etdrk import ETDRKOptions, etdrk_coefficients, etdrk_step
from emutrain.validation import check_int, check_real

__all__ = [
    "Coefficient", "SpectralStepper", "as_bool", "as_float", "real_scalar", "validate_state",
]


def _check_finite_coefficients(name: str, value: Any) -> None:
    """ValueError if a float physics coefficient (or any entry of a nested tuple of them) is NaN/Inf."""
    if isinstance(value, tuple):
        for entry in value:
            _check_finite_coefficients(name, entry)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")


def validate_state(
    u: ArrayLike, num_spatial_dims: int, num_points: int, num_channels: int, *, name: str = "u"
) -> Array:
    """Return ``u`` as an array after checking its trailing ``(*spatial, C)`` shape."""
    u = jnp.asarray(u)
    expected = (num_points,) * num_spatial_dims + (num_channels,)
    if u.ndim < len(expected) or u.shape[u.ndim - len(expected) :] != expected:
        raise ValueError(
            f"{name} must have shape (..., {', '.join(map(str, expected))}) = (..., *spatial, C) with "
            f"num_spatial_dims={num_spatial_dims}, num_points={num_points}, num_channels={num_channels}; "
            f"got {u.shape}"
        )
    return u


@dataclasses.dataclass(frozen=True)
class Coefficient:
    """A physics keyword of a stepper: its default and ``convert(name, value)``, which checks a given value
    (or the default) and returns what the stepper stores; with ``uses_grid`` it is called as
    ``convert(name, value, stepper)``, the grid attributes of ``stepper`` set."""

    default: Any
    convert: Callable[..., Any]
    uses_grid: bool = False


def as_float(name: str, value: Any) -> float:
    """``float(value)``."""
    return float(value)


def as_bool(name: str, value: Any) -> bool:
    """``bool(value)``."""
    return bool(value)


def real_scalar(name: str, value: Any) -> float:
    """A real number or a 0-d array of one, finite, as a float."""
    return check_real(name, as_scalar(value))


class SpectralStepper:
    """ETDRK pseudo-spectral stepper for ``u_t = L u + N(u)`` with ``L`` diagonal in Fourier space.

    Called as ``Stepper(num_spatial_dims, domain_extent, num_points, dt, *, <coefficients>, etdrk)``.
    Subclasses declare their physics keywords in ``coefficients`` (name -> :class:`Coefficient`; they
    become read-only attributes and part of the identity, in that order) and implement
    ``_linear_operator()`` (NumPy, ``(*spatial_rfft, 1 or C)``) and, unless ``etdrk.order == 0``,
    ``_nonlinear(u_hat, arrays)``; ``_extra_arrays()`` may add constant arrays and ``_count_channels()``
    set the number of channels (1 by default). ``etdrk`` (:class:`~emutrain.physics.ETDRKOptions`, by
    default ``default_etdrk``) holds the integrator settings; a stepper with ``takes_etdrk = False``
    always uses ``default_etdrk``. ``spatial_dims`` lists the dimensions the equation is defined in.
    """

    coefficients: ClassVar[dict[str, Coefficient]] = {}
    default_etdrk: ClassVar[ETDRKOptions] = ETDRKOptions()
    takes_etdrk: ClassVar[bool] = True
    spatial_dims: ClassVar[tuple[int, ...]] = (1, 2, 3)
    num_spatial_dims: int
    domain_extent: float
    num_points: int
    dt: float
    num_channels: int
    etdrk: ETDRKOptions

    def __init_subclass__(cls, **kwargs: Any):
        """Gives the subclass the signature of its constructor: the grid, its coefficients, ``etdrk`` (a
        subclass that writes its own ``__init__`` keeps that one's)."""
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__signature__ = None
            return
        grid = {"num_spatial_dims": "int", "domain_extent": "float", "num_points": "int", "dt": "float"}
        parameters = [
            inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=annotation)
            for name, annotation in grid.items()
        ]
        keywords = [
            (name, c.default, inspect.signature(c.convert).return_annotation)
            for name, c in cls.coefficients.items()
        ]
        if cls.takes_etdrk:
            keywords.append(("etdrk", cls.default_etdrk, "ETDRKOptions"))
        parameters += [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
            for name, default, annotation in keywords
        ]
        cls.__signature__ = inspect.Signature(parameters)

    def __init__(
        self, num_spatial_dims: int, domain_extent: float, num_points: int, dt: float, **keywords: Any
    ):
        grid = dict(
            num_spatial_dims=check_int("num_spatial_dims", num_spatial_dims, minimum=1),
            domain_extent=check_real("domain_extent", domain_extent, positive=True),
            num_points=check_int("num_points", num_points, minimum=4),
            dt=check_real("dt", dt, positive=True),
        )
        if grid["num_spatial_dims"] not in self.spatial_dims:
            raise ValueError(f"num_spatial_dims must be one of {self.spatial_dims}, got {num_spatial_dims}")
        etdrk = keywords.pop("etdrk", self.default_etdrk) if self.takes_etdrk else self.default_etdrk
        if not isinstance(etdrk, ETDRKOptions):
            raise TypeError(f"etdrk must be an ETDRKOptions, got {etdrk!r} of type {type(etdrk).__name__}")
        for name in keywords.keys() - self.coefficients.keys():
            raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument {name!r}")
        for key, value in grid.items():
            object.__setattr__(self, key, value)
        physics = {}
        for name, coefficient in self.coefficients.items():
            value = keywords.get(name, coefficient.default)
            grid_argument = (self,) if coefficient.uses_grid else ()
            physics[name] = coefficient.convert(name, value, *grid_argument)
        for key, value in physics.items():
            _check_finite_coefficients(key, value)
        fields = dict(grid, num_channels=int(self._count_channels(physics)), etdrk=etdrk, **physics)
        for key, value in fields.items():
            object.__setattr__(self, key, value)
        object.__setattr__(self, "_key", (type(self),) + tuple(fields.items()))
        object.__setattr__(self, "_arrays", self._build_arrays())

    def _build_arrays(self) -> dict[str, np.ndarray]:
        """The ETDRK coefficients of the linear operator, the dealiasing mask and the extra arrays."""
        linear = np.asarray(self._linear_operator(), dtype=np.complex128)
        rfft_shape = spectral.spatial_rfft_shape(self.num_spatial_dims, self.num_points)
        linear = np.broadcast_to(
            linear, rfft_shape + (linear.shape[-1] if linear.ndim == self.num_spatial_dims + 1 else 1,)
        )
        etdrk = self.etdrk
        arrays = etdrk_coefficients(
            linear,
            self.dt,
            etdrk.order,
            num_circle_points=etdrk.num_circle_points,
            circle_radius=etdrk.circle_radius,
        )
        if etdrk.order > 0:
            arrays["dealias"] = spectral.dealiasing_mask(
                self.num_spatial_dims, self.num_points, etdrk.dealiasing_fraction
            ).astype(np.complex128)
            arrays.update(self._extra_arrays())
        return arrays

    # -- subclass hooks -------------------------------------------------------------------------------
    def _linear_operator(self) -> np.ndarray:
        raise NotImplementedError

    def _nonlinear(self, u_hat: Array, arrays: dict[str, Array]) -> Array:
        raise NotImplementedError

    def _extra_arrays(self) -> dict[str, np.ndarray]:
        return {}

    def _count_channels(self, physics: dict[str, Any]) -> int:
        return 1

    # -- helpers for subclasses -----------------------------------------------------------------------
    def _record(self, **fields: Any) -> None:
        """Adds ``fields`` to the read-only attributes and the identity: the interface parameters of a
        subclass that only converts them into its parent's arguments (called at the end of ``__init__``)."""
        for key, value in fields.items():
            object.__setattr__(self, key, value)
        object.__setattr__(self, "_key", self._key + tuple(fields.items()))

    def _ik(self, order: int = 1) -> tuple[np.ndarray, ...]:
        return spectral.derivative_operator(self.num_spatial_dims, self.domain_extent, self.num_points, order)

    def _to_physical(self, u_hat: Array) -> Array:
        return spectral.irfft_spatial(u_hat, self.num_spatial_dims, self.num_points)

    def _to_fourier(self, u: Array) -> Array:
        return spectral.rfft_spatial(u, self.num_spatial_dims)

    # -- identity -------------------------------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(
            f"{type(self).__name__} is immutable; build a new stepper instead of setting {name!r}"
        )

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable; cannot delete {name!r}")

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._key == self._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._key[1:])
        return f"{type(self).__name__}({args})"

    # -- stepping -------------------------------------------------------------------------------------
    def __call__(self, u: ArrayLike) -> Array:
        """Advance ``u`` of shape ``(..., *spatial, C)`` by ``dt``; same shape and dtype out."""
        u = validate_state(u, self.num_spatial_dims, self.num_points, self.num_channels)
        if not jnp.issubdtype(u.dtype, jnp.floating):
            raise TypeError(f"u must have a floating dtype, got {u.dtype}")
        real = jnp.float64 if u.dtype == jnp.float64 else jnp.float32
        cplx = jnp.complex128 if real == jnp.float64 else jnp.complex64
        arrays = {k: jnp.asarray(v, dtype=cplx) for k, v in self._arrays.items()}
        u_hat = self._to_fourier(u.astype(real))
        u_hat_next = etdrk_step(u_hat, arrays, lambda v: self._nonlinear(v, arrays), self.etdrk.order)
        return self._to_physical(u_hat_next).astype(u.dtype)
