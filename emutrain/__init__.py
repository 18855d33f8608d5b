"""emutrain: train autoregressive neural emulators of PDEs and neural correctors of coarse solvers.

Subpackages, in dependency order (each imports only those before it):

* ``emutrain.physics``: differentiable pseudo-spectral reference solvers (pure JAX).
* ``emutrain.data``: Grain sources of sub-trajectory windows, loaders, datasets on disk.
* ``emutrain.nn``: Flax NNX emulators, correctors and physics-as-module.
* ``emutrain.losses`` / ``emutrain.configurations``: time-level losses and scan-unrolled training
  configurations.
* ``emutrain.train``: the CLU-metered, sharded, checkpointed Trainer.

Importing ``emutrain`` imports nothing heavy; import the subpackage you need.
"""

__version__ = "0.4.1"
