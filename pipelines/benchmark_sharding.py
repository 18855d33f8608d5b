r"""Per-device memory of a spatially sharded train step, from XLA's compiled memory analysis.

Compiles (does not run) the Trainer's step for a 2D UNet correcting a Navier-Stokes coarse solver on a
`--num_points`^2 grid, one mesh `(data=1, space=S)` per `--spaces` entry, each sample split over `S`
devices, and prints per device: the arguments (parameters, optimizer state, the batch slab), the
temporaries (activations kept for the backward pass, FFT buffers, halos) and their sum, the peak,
with the ratio to `S = 1`:

    python pipelines/benchmark_sharding.py --num_points=1024 --spaces=1,2,4,8

Measured (jax 0.10.2, 8 simulated CPU devices, UNet;16;3;relu, Supervised(2), batch 1, 1024^2), MiB
per device:

    space  arguments  temporaries   peak  ratio
        1       18.7       4122.8  4141.5  1.00
        2       12.7       2065.9  2078.6  1.99
        4        9.7       1037.4  1047.1  3.96
        8        8.2        523.2   531.4  7.79

The temporaries (activations and FFT buffers) shrink as 1/S; the replicated parameters and optimizer
state (about 7 MiB here) do not.

Runs on `--devices` simulated CPU devices (`XLA_FLAGS=--xla_force_host_platform_device_count`, set
here before JAX starts); on a real multi-device host pass `--devices=0` to use its devices.
"""

from __future__ import annotations

import os
import sys
import time

from absl import app, flags

_NUM_POINTS = flags.DEFINE_integer("num_points", 1024, "Grid points per axis (2D).")
_SPACES = flags.DEFINE_list("spaces", ["1", "2", "4", "8"], "Sizes of the space mesh axis to compile for.")
_BATCH = flags.DEFINE_integer("batch_size", 1, "Samples per batch (split over no data axis: data=1).")
_ROLLOUT = flags.DEFINE_integer("rollout", 2, "Supervised rollout steps of the configuration.")
_NETWORK = flags.DEFINE_string("network", "UNet;16;3;relu", "APEBench architecture string of the corrector.")
_DEVICES = flags.DEFINE_integer("devices", 8, "Simulated CPU devices; 0: use the host's devices as they are.")


def _set_devices() -> None:
    """Simulated devices must be requested before JAX initializes its backend."""
    for arg in sys.argv:
        if arg.startswith("--devices="):
            count = int(arg.split("=", 1)[1])
            break
    else:
        count = 8
    if count:
        os.environ.setdefault("JAX_PLATFORMS", "cpu")
        os.environ["XLA_FLAGS"] = (
            os.environ.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={count}"
        ).strip()


def compile_step(space: int, num_points: int, batch_size: int, rollout: int, network: str):
    """The compiled train step on mesh `(data=1, space=space)` and its compile time in seconds."""
    import jax
    import optax
    from flax import nnx

    from emutrain import configurations, nn, physics
    from emutrain.train import make_mesh, sharding
    from emutrain.train.metrics import TrainMetrics
    from emutrain.train.state import TrainState
    from emutrain.train.step import TrainStep

    mesh = make_mesh(data=1, space=space, devices=jax.devices()[:space])
    coarse = physics.NavierStokesVorticity(2, 1.0, num_points, 0.001, diffusivity=1e-4)
    model = nn.make_task_model("correct;sequential", nn.from_spec(network, 2, 1, 1, rngs=nnx.Rngs(0)), coarse)
    optimizer = optax.adam(1e-4)
    step = TrainStep(configurations.Supervised(rollout), optimizer, mesh=mesh)
    state = sharding.replicate(TrainState.create(model, optimizer, key=0), mesh)
    metrics = sharding.replicate(TrainMetrics.empty(None), mesh)
    state_leaves, state_def = jax.tree.flatten(state)
    metrics_leaves, metrics_def = jax.tree.flatten(metrics)
    batches = jax.ShapeDtypeStruct(
        (1, batch_size, rollout + 1, num_points, num_points, 1),
        jax.numpy.float32,
        sharding=sharding.stacked_batch_sharding(mesh),
    )
    start = time.perf_counter()
    compiled = (
        step.on_leaves_at(0).lower(state_def, metrics_def, state_leaves, metrics_leaves, batches).compile()
    )
    return compiled, time.perf_counter() - start


def main(argv) -> None:
    del argv
    spaces = [int(s) for s in _SPACES.value]
    mib = 1024.0**2
    print(
        f"{_NETWORK.value} correcting Navier-Stokes, {_NUM_POINTS.value}^2, batch {_BATCH.value}, "
        f"Supervised({_ROLLOUT.value}), Adam; per device, MiB"
    )
    print(
        f"{'space':>5} {'arguments':>10} {'temporaries':>12} {'outputs':>8} {'peak':>9} {'ratio':>6} "
        f"{'compile s':>9}"
    )
    base = None
    for space in spaces:
        compiled, seconds = compile_step(
            space, _NUM_POINTS.value, _BATCH.value, _ROLLOUT.value, _NETWORK.value
        )
        memory = compiled.memory_analysis()
        arguments = memory.argument_size_in_bytes
        temporaries = memory.temp_size_in_bytes
        outputs = memory.output_size_in_bytes - memory.alias_size_in_bytes  # donated state is aliased
        peak = arguments + temporaries + outputs
        base = peak if base is None else base
        print(
            f"{space:>5} {arguments / mib:>10.1f} {temporaries / mib:>12.1f} {outputs / mib:>8.1f} "
            f"{peak / mib:>9.1f} {base / peak:>6.2f} {seconds:>9.1f}"
        )


if __name__ == "__main__":
    _set_devices()
    app.run(main)
