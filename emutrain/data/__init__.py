"""Host-side data: sub-trajectory window sources, Grain loaders, trajectory sets on disk, generation.

* :class:`TrajectoryWindows`: random-access Grain source of the windows ``(W, *spatial, C)`` of a
  trajectory set ``(S, T+1, *spatial, C)``, never materializing overlapping windows.
* :func:`make_loader`: shuffled (new order each epoch), fixed-shape, sharded, prefetched and
  checkpointable batches ``(B, W, *spatial, C)``.
"""

from emutrain.data.loader import WindowSource, make_loader
from emutrain.data.windows import TrajectoryWindows

__all__ = [
    "TrajectoryWindows",
    "WindowSource",
    "make_loader",
]
