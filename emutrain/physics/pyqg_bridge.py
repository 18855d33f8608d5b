"""pyqg-jax's two-layer quasi-geostrophic model as an emutrain stepper (optional extra ``qg``).

pyqg_jax is imported only when a :class:`QGStepper` is built or called, so ``emutrain.physics`` imports
without it. States are channels-last scaled potential vorticity ``u = q / q_scale`` of shape
``(..., ny, nx, nz)`` (pyqg itself stores ``q`` as ``(nz, ny, nx)`` in 1/s); ``q_scale`` (1/s) brings the
O(1e-6) PV of the default model to O(1) for networks and losses.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Any, Callable, Iterator

import jax
import jax.numpy as jnp
from jax import Array

__all__ = ["QGStepper", "import_pyqg_jax"]

Tendency = Callable[[Array], Array]


def import_pyqg_jax() -> Any:
    """The ``pyqg_jax`` module, or an ImportError that names the ``qg`` extra."""
    try:
        import pyqg_jax
    except ImportError as error:
        raise ImportError(
            "QGStepper needs pyqg-jax, the optional extra 'qg': pip install 'emutrain[qg]' "
            f"(import failed: {error})"
        ) from error
    return pyqg_jax


class QGStepper:
    """``num_substeps`` AB3 steps of ``pyqg_jax.qg_model.QGModel`` on ``(..., N, N, nz)`` scaled PV.

    Each call wraps the incoming PV in a fresh pyqg state and stepper state: an emutrain state holds only
    the PV, so the Adams-Bashforth history restarts at every call (its first substep is forward Euler,
    the second AB2, the rest AB3, exactly as pyqg starts a run). One call is therefore identical to
    ``num_substeps`` calls of pyqg's own ``SteppedModel.step_model`` from a freshly initialized state.

    Args:
      num_points: grid points per axis (``nx = ny``, even).
      dt: pyqg time step in seconds (one substep).
      num_substeps: pyqg steps per call, >= 1.
      q_scale: PV unit in 1/s: the state is ``q / q_scale``.
      **model_kwargs: further ``QGModel`` arguments (floats or ints: ``L``, ``beta``, ``rek``, ...).

    ``__call__(u, tendency=None)``: with ``tendency``, a callable ``(B, N, N, nz) -> (B, N, N, nz)``
    evaluated on the scaled PV at every substep, the model runs with the extra PV tendency
    ``dq/dt += tendency(u) * q_scale / dt`` (pyqg's ``q_parameterization``): a tendency output of 1 moves the
    scaled PV by about 1 per substep. Gradients flow through the solver to ``u`` and to whatever the
    tendency closes over. Instances compare and hash by their arguments (static inside NNX graphs).
    """

    num_spatial_dims = 2

    def __init__(
        self,
        num_points: int,
        dt: float,
        *,
        num_substeps: int = 1,
        q_scale: float = 1e-6,
        **model_kwargs: float,
    ):
        if (
            isinstance(num_points, bool)
            or not isinstance(num_points, int)
            or num_points < 4
            or num_points % 2
        ):
            raise ValueError(f"num_points must be an even int >= 4, got {num_points!r}")
        if not dt > 0:
            raise ValueError(f"dt must be > 0 (seconds), got {dt!r}")
        if isinstance(num_substeps, bool) or not isinstance(num_substeps, int) or num_substeps < 1:
            raise ValueError(f"num_substeps must be an int >= 1, got {num_substeps!r}")
        if not q_scale > 0:
            raise ValueError(f"q_scale must be > 0 (1/s), got {q_scale!r}")
        for name, value in model_kwargs.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"model_kwargs must be ints or floats, got {name}={value!r}")
        self.num_points = num_points
        self.dt = float(dt)
        self.num_substeps = num_substeps
        self.q_scale = float(q_scale)
        self.model_kwargs = tuple(sorted(model_kwargs.items()))
        self.model()  # fail early when pyqg_jax is missing or rejects the arguments

    def _key(self) -> tuple:
        return (self.num_points, self.dt, self.num_substeps, self.q_scale, self.model_kwargs)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._key() == self._key()

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._key()))

    def __repr__(self) -> str:
        extra = "".join(f", {k}={v!r}" for k, v in self.model_kwargs)
        return (
            f"QGStepper({self.num_points}, {self.dt!r}, num_substeps={self.num_substeps}, "
            f"q_scale={self.q_scale!r}{extra})"
        )

    @property
    def num_channels(self) -> int:
        """Number of layers ``nz`` (the channel axis)."""
        return self.model().nz

    def model(self) -> Any:
        """The single-precision ``pyqg_jax.qg_model.QGModel`` this stepper runs."""
        pyqg_jax = import_pyqg_jax()
        return pyqg_jax.qg_model.QGModel(
            nx=self.num_points,
            ny=self.num_points,
            precision=pyqg_jax.state.Precision.SINGLE,
            **dict(self.model_kwargs),
        )

    def initial_state(self, key: Array) -> Array:
        """pyqg's random initial condition as a scaled state ``(N, N, nz)``."""
        with _quiet_dtypes():
            q = self.model().create_initial_state(key).q
        return jnp.moveaxis(q, 0, -1) / self.q_scale

    def __call__(self, u: Array, tendency: Tendency | None = None) -> Array:
        """``(..., N, N, nz) -> (..., N, N, nz)``: ``num_substeps`` pyqg steps of every state."""
        u = jnp.asarray(u)
        expected = (self.num_points, self.num_points, self.num_channels)
        if u.ndim < 3 or u.shape[-3:] != expected:
            raise ValueError(f"u must have shape (..., {', '.join(map(str, expected))}), got {u.shape}")
        flat = u.reshape((-1, *expected))
        with _quiet_dtypes():
            out = jax.vmap(lambda v: self._step_one(v, tendency))(flat)
        return out.reshape(u.shape).astype(u.dtype)

    def _step_one(self, u: Array, tendency: Tendency | None) -> Array:
        pyqg_jax = import_pyqg_jax()
        base = self.model()
        state = base.create_initial_state(jax.random.key(0)).update(
            q=jnp.moveaxis(u, -1, 0).astype(jnp.float32) * self.q_scale
        )
        if tendency is None:
            model = base
        else:
            scale = self.q_scale / self.dt

            @pyqg_jax.parameterizations.q_parameterization
            def param_func(model_state: Any, param_aux: None, model: Any) -> tuple[Array, None]:
                scaled = jnp.moveaxis(model_state.q, 0, -1) / self.q_scale
                dq = jnp.moveaxis(tendency(scaled[None])[0], -1, 0)
                return (dq * scale).astype(model_state.q.dtype), None

            model = pyqg_jax.parameterizations.ParameterizedModel(model=base, param_func=param_func)
            state = model.initialize_param_state(state)
        stepped = pyqg_jax.steppers.SteppedModel(
            model=model, stepper=pyqg_jax.steppers.AB3Stepper(dt=self.dt)
        )
        stepper_state = stepped.initialize_stepper_state(state)
        for _ in range(self.num_substeps):
            stepper_state = stepped.step_model(stepper_state)
        q = stepper_state.state.q if tendency is None else stepper_state.state.model_state.q
        return jnp.moveaxis(q, 0, -1) / self.q_scale


@contextlib.contextmanager
def _quiet_dtypes() -> Iterator[None]:
    """Silence pyqg_jax's float64 requests, which single precision truncates to float32 by design."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Explicitly requested dtype", category=UserWarning)
        yield
