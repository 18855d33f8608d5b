"""Trajectory sets from a reference stepper and an initial-condition distribution, and datasets on disk.

``generate_trajectories`` draws initial conditions, optionally warms them up, rolls the stepper out and
optionally coarsens the result (generation on a fine grid, training on a coarse one).
``generate_dataset`` does this for each split of a config and writes the splits with
:func:`~emutrain.data.save_trajectories`.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax
import numpy as np
from tqdm.auto import tqdm

from emutrain import __version__, physics
from emutrain.data.storage import save_trajectories
from emutrain.typing import Stepper
from emutrain.validation import check_floating, check_int

__all__ = ["generate_dataset", "generate_trajectories", "build_stepper", "build_ic_distribution"]


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


def _physics_class(config: Mapping[str, Any], parameter: str) -> Any:
    name = config["name"]
    cls = getattr(physics, name, None)
    if name not in physics.__all__ or not isinstance(cls, type):
        raise ValueError(f"{parameter}.name must name a class of emutrain.physics, got {name!r}")
    return cls


def build_stepper(config: Mapping[str, Any], num_spatial_dims: int, num_points: int) -> Stepper:
    """``emutrain.physics.<config.name>(num_spatial_dims, num_points, **config.kwargs)``."""
    return _physics_class(config, "stepper")(num_spatial_dims, num_points, **dict(config["kwargs"]))


def build_ic_distribution(config: Mapping[str, Any], num_spatial_dims: int) -> Any:
    """``emutrain.physics.<config.name>(num_spatial_dims, **config.kwargs)``."""
    return _physics_class(config, "ic")(num_spatial_dims, **dict(config["kwargs"]))


def _is_plain(value: Any) -> bool:
    if isinstance(value, (bool, int, float, str)) or value is None:
        return True
    return isinstance(value, tuple) and all(_is_plain(v) for v in value)


def _describe(obj: Any) -> dict[str, Any]:
    """Class name and public plain-valued attributes (the physics parameters) for the JSON metadata."""
    if dataclasses.is_dataclass(obj):
        fields = dataclasses.asdict(obj)
    else:
        fields = {name: getattr(obj, name) for name in dir(obj) if not name.startswith("_")}
    return {"class": type(obj).__name__, **{k: v for k, v in fields.items() if _is_plain(v)}}


def generate_dataset(config: Any, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Generates every split of ``config`` and writes it to ``out_dir/<split>`` with JSON metadata.

    ``config`` (an ``ml_collections.ConfigDict`` or mapping, see ``configs/generate.py``) has
    ``num_spatial_dims``, ``num_points`` (stored resolution), ``generation_num_points`` (grid of the
    stepper and the initial conditions; coarsened to ``num_points`` when it differs), ``stepper`` and
    ``ic`` (each ``name``, a class of ``emutrain.physics``, and its keyword arguments ``kwargs``),
    ``num_warmup_steps``, ``format`` (``"npy"`` or ``"array_record"``), ``chunk_size`` and ``splits``:
    split name -> ``num_samples``, ``num_steps``, ``seed``.

    Returns:
      split name -> dataset directory.
    """
    num_points = int(config["num_points"])
    generation_num_points = int(config.get("generation_num_points") or num_points)
    num_spatial_dims = int(config["num_spatial_dims"])
    stepper = build_stepper(config["stepper"], num_spatial_dims, generation_num_points)
    ic_distribution = build_ic_distribution(config["ic"], num_spatial_dims)
    paths = {}
    for split, spec in config["splits"].items():
        trajectories = generate_trajectories(
            stepper,
            ic_distribution,
            num_samples=int(spec["num_samples"]),
            num_steps=int(spec["num_steps"]),
            key=jax.random.key(int(spec["seed"])),
            num_warmup_steps=int(config.get("num_warmup_steps", 0)),
            num_points=generation_num_points,
            coarsen_to=num_points if generation_num_points != num_points else None,
            chunk_size=int(config.get("chunk_size", 256)),
            progress=True,
        )
        metadata = {
            "split": split,
            "seed": int(spec["seed"]),
            "num_samples": int(spec["num_samples"]),
            "num_steps": int(spec["num_steps"]),
            "num_warmup_steps": int(config.get("num_warmup_steps", 0)),
            "num_points": num_points,
            "generation_num_points": generation_num_points,
            "dt": getattr(stepper, "dt", None),
            "stepper": _describe(stepper),
            "ic_distribution": _describe(ic_distribution),
            "generator": "emutrain.data.generate_dataset",
            "generator_version": __version__,
        }
        paths[split] = save_trajectories(
            Path(out_dir) / split, trajectories, metadata, format=str(config.get("format", "npy"))
        )
    return paths
