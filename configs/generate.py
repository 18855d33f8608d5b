"""Dataset of the correction-learning problem: 1D advection at difficulty -6.5 on 48 points.

The state moves 6.5 cells to the right per step (CFL number 6.5, far beyond what a coarse explicit
solver tolerates). 40 training trajectories of 50 steps (seed 773) and 30 test trajectories of 200 steps
(seed 774), initial conditions from a truncated Fourier series scaled to max |u| = 1.

Run it with:

    python pipelines/generate.py --config=configs/generate.py --workdir=workdir/generate

and a small smoke run (4 + 3 trajectories of 10 and 20 steps) with:

    python pipelines/generate.py --config=configs/generate.py:quick --workdir=/tmp/generate_quick

Any field can be overridden, e.g. ``--config.splits.train.num_samples=80``.
"""

import ml_collections


def get_config(variant: str | None = None) -> ml_collections.ConfigDict:
    """Generation config; ``variant="quick"`` shrinks the splits for a local smoke run."""
    config = ml_collections.ConfigDict()
    config.num_spatial_dims = 1
    config.num_points = 48  # stored (training) resolution
    config.generation_num_points = 48  # grid of the reference solver; coarsened to num_points if larger
    config.stepper = ml_collections.ConfigDict(
        {"name": "DifficultyLinearStepperSimple", "kwargs": {"difficulty": -6.5, "order": 1}}
    )
    config.ic = ml_collections.ConfigDict(
        {"name": "RandomTruncatedFourierSeries", "kwargs": {"cutoff": 5, "max_one": True, "zero_mean": True}}
    )
    config.num_warmup_steps = 0
    config.format = "npy"  # or "array_record"
    config.chunk_size = 256
    config.splits = ml_collections.ConfigDict(
        {
            "train": {"num_samples": 40, "num_steps": 50, "seed": 773},
            "test": {"num_samples": 30, "num_steps": 200, "seed": 774},
        }
    )
    config.num_plotted_trajectories = 3
    if variant == "quick":
        config.splits.train.update(num_samples=4, num_steps=10)
        config.splits.test.update(num_samples=3, num_steps=20)
    elif variant is not None:
        raise ValueError(f"variant must be None or 'quick', got {variant!r}")
    return config
