"""Host-side data: sub-trajectory window sources, Grain loaders, trajectory sets on disk, generation.

* :class:`TrajectoryWindows`: random-access Grain source of the windows ``(W, *spatial, C)`` of a
  trajectory set ``(S, T+1, *spatial, C)``, never materializing overlapping windows.
* :func:`make_loader`: shuffled (new order each epoch), fixed-shape, sharded, prefetched and
  checkpointable batches ``(B, W, *spatial, C)``.
* :func:`save_trajectories` / :func:`load_trajectories`: trajectory sets on disk (``.npy``,
  memory-mapped, or ArrayRecord shards) with validated JSON metadata.
* :func:`load_dataset`: a trajectory set or a split written as shards by sample range (several processes
  writing, CRC-32C checksums, partial directories of killed writers cleaned up), :mod:`emutrain.data.shards`;
  :class:`DatasetSplits` where a dataset's train and test splits live; :func:`available_memory_bytes`
  the host memory a new allocation can have.
* :func:`generate_trajectories`: trajectory sets from a reference stepper and an initial-condition
  distribution.
* :class:`WellWindows` / :class:`PDEBenchWindows`: random-access Grain sources of the windows of The
  Well's and PDEBench's HDF5 datasets, streamed from disk.
"""

from emutrain.data.generate import generate_trajectories
from emutrain.data.loader import WindowSource, make_loader
from emutrain.data.pdebench import PDEBenchWindows
from emutrain.data.shards import DatasetSplits, available_memory_bytes, load_dataset
from emutrain.data.storage import (
    ArrayRecordTrajectories,
    ConcatenatedTrajectories,
    load_trajectories,
    save_trajectories,
)
from emutrain.data.well import WellWindows
from emutrain.data.windows import TrajectoryWindows

__all__ = [
    "ArrayRecordTrajectories",
    "ConcatenatedTrajectories",
    "DatasetSplits",
    "PDEBenchWindows",
    "TrajectoryWindows",
    "WellWindows",
    "WindowSource",
    "available_memory_bytes",
    "generate_trajectories",
    "load_dataset",
    "load_trajectories",
    "make_loader",
    "save_trajectories",
]
