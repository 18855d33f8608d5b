"""Trajectory sets from a reference stepper and an initial-condition distribution.

``generate_trajectories`` draws initial conditions, optionally warms them up, rolls the stepper out and
optionally coarsens the result (generation on a fine grid, training on a coarse one). The datasets of a
scenario on disk are written by ``emutrain.scenarios`` (``Scenario.dataset``).
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import numpy as np
from tqdm.auto import tqdm

from emutrain import physics
from emutrain.typing import Stepper
from emutrain.validation import check_floating, check_int

__all__ = ["generate_trajectories"]


@functools.partial(jax.jit, static_argnames=("stepper", "num_steps", "num_warmup_steps", "coarsen_to"))
def _simulate(u0, *, stepper, num_steps, num_warmup_steps, coarsen_to):
    if num_warmup_steps:
        u0 = physics.repeat(stepper, num_warmup_steps)(u0)
    trajectory = physics.rollout(stepper, num_steps, include_init=True)(u0)
    if coarsen_to is not None:
        trajectory = physics.map_between_resolutions(
            trajectory, coarsen_to, num_spatial_dims=stepper.num_spatial_dims
        )
    return trajectory


def generate_trajectories(
    stepper: Stepper,
    ic_distribution: Any,
    *,
    num_samples: int,
    num_steps: int,
    key: jax.Array,
    num_warmup_steps: int = 0,
    num_points: int | None = None,
    coarsen_to: int | None = None,
    chunk_size: int = 256,
    progress: bool = False,
) -> np.ndarray:
    """Rolls ``stepper`` out from ``num_samples`` draws of ``ic_distribution``: ``(S, T+1, *spatial, C)``.

    Args:
      stepper: hashable physics stepper ``(B, *spatial, C) -> (B, *spatial, C)`` with
        ``num_spatial_dims`` and ``num_points`` attributes (e.g. ``DifficultyLinearStepperSimple``). For a
        finer time step, pass ``emutrain.physics.repeat(fine_stepper, k)``.
      ic_distribution: initial-condition distribution accepted by ``emutrain.physics.build_ic_set``.
      num_samples: number of trajectories ``S``.
      num_steps: steps per trajectory ``T``; index 0 of the time axis is the (warmed-up) initial state.
      key: JAX PRNG key of the initial conditions.
      num_warmup_steps: steps applied to each initial condition before recording (e.g. to leave a
        transient of a nonlinear PDE behind).
      num_points: grid of the initial conditions and the stepper (default ``stepper.num_points``).
      coarsen_to: if given, every recorded state is resampled to this many points per axis
        (Fourier truncation): generate on a fine grid, store at the training resolution.
      chunk_size: trajectories simulated per device call (bounds device memory).
      progress: show a tqdm progress bar over the chunks.

    Returns:
      float32 numpy array ``(S, T+1, *spatial, C)``, ``spatial = coarsen_to or num_points`` per axis.

    Raises:
      TypeError: the initial conditions or the stepper's outputs are not real floating-point (naming
        which and the dtype).
    """
    num_samples = check_int("num_samples", num_samples, minimum=1)
    num_steps = check_int("num_steps", num_steps, minimum=0)
    num_warmup_steps = check_int("num_warmup_steps", num_warmup_steps, minimum=0)
    chunk_size = check_int("chunk_size", chunk_size, minimum=1)
    num_points = check_int("num_points", stepper.num_points if num_points is None else num_points, minimum=1)
    if coarsen_to is not None:
        coarsen_to = check_int("coarsen_to", coarsen_to, minimum=1)
    initial = physics.build_ic_set(ic_distribution, num_points=num_points, num_samples=num_samples, key=key)
    # Before the float32 cast below, which would truncate integers and drop imaginary parts silently.
    check_floating("ic_distribution samples", initial)
    chunks = []
    starts = range(0, num_samples, chunk_size)
    for start in tqdm(starts, desc="trajectories", unit="chunk", disable=not progress):
        trajectory = _simulate(
            initial[start : start + chunk_size],
            stepper=stepper,
            num_steps=num_steps,
            num_warmup_steps=num_warmup_steps,
            coarsen_to=coarsen_to,
        )
        check_floating("stepper outputs", trajectory)
        chunks.append(np.asarray(trajectory, dtype=np.float32))
    return np.concatenate(chunks)
