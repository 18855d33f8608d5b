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

`--processes=2` compares one process of 8 devices with two `jax.distributed` processes of 4 devices each
(on localhost) on meshes (1, 8), whose space axis spans both processes, and (2, 4), with
`--process_batch_size` samples: per device the compiled memory and the bytes the step's collectives take
as operands, by kind, from the compiled HLO text (each collective counted once, as written: the step has
no loops here; a scan would count its body once):

    python pipelines/benchmark_sharding.py --processes=2 --num_points=256

Measured (jax 0.10.2, simulated CPU devices, UNet;16;3;relu correcting Navier-Stokes, 256^2, batch 2,
Supervised(2), Adam); per device: memory MiB, collective operand MiB (count in the HLO):

  mesh  processes   peak  temps  all-gather    all-to-all  collective-permute    all-reduce
   1x8      1 x 8   77.3   70.4    0.000 (0)  4.184 (72)        5.887 (158)    3.733 (113)
   1x8      2 x 4   77.3   70.4    0.000 (0)  4.184 (72)        5.887 (158)    3.733 (113)
   2x4      1 x 8   75.6   68.7    0.000 (0)  4.641 (72)        2.943 (158)    3.359 (115)
   2x4      2 x 4   75.6   68.7    0.000 (0)  4.641 (72)        2.943 (158)    3.359 (115)

The compiled program is the same whether the mesh's devices sit in one process or two: memory and
collective bytes per device do not change. What changes is which transfers cross the process boundary:
on (1, 8) over two processes, 2 of the 8 links of every halo exchange and half of every all-to-all's
data; on (2, 4), where each sample stays inside a process, only the all-reduces.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

from absl import app, flags

_NUM_POINTS = flags.DEFINE_integer("num_points", 1024, "Grid points per axis (2D).")
_SPACES = flags.DEFINE_list("spaces", ["1", "2", "4", "8"], "Sizes of the space mesh axis to compile for.")
_BATCH = flags.DEFINE_integer("batch_size", 1, "Samples per batch (split over no data axis: data=1).")
_ROLLOUT = flags.DEFINE_integer("rollout", 2, "Supervised rollout steps of the configuration.")
_NETWORK = flags.DEFINE_string("network", "UNet;16;3;relu", "APEBench architecture string of the corrector.")
_DEVICES = flags.DEFINE_integer("devices", 8, "Simulated CPU devices; 0: use the host's devices as they are.")
_PROCESSES = flags.DEFINE_integer("processes", 1, "2: compare 1 process x 8 devices with 2 processes x 4.")
_PROCESS_BATCH = flags.DEFINE_integer("process_batch_size", 2, "Samples per batch of the process comparison.")
_CHILD = flags.DEFINE_string("child", None, "Internal: 'single' or 'pair:PORT:ID' (one measuring process).")
_CHILD_OUT = flags.DEFINE_string("child_out", None, "Internal: where a --child run writes its figures.")

COLLECTIVES = ("all-gather", "all-to-all", "collective-permute", "all-reduce")
_BYTES = {
    "pred": 1,
    "s8": 1,
    "u8": 1,
    "bf16": 2,
    "f16": 2,
    "s32": 4,
    "u32": 4,
    "f32": 4,
    "s64": 8,
    "u64": 8,
    "f64": 8,
    "c64": 8,
    "c128": 16,
}


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


def compile_step(mesh, num_points: int, batch_size: int, rollout: int, network: str):
    """The compiled train step on `mesh` and its compile time in seconds."""
    import jax
    import optax
    from flax import nnx

    from emutrain import configurations, nn, physics
    from emutrain.train import sharding
    from emutrain.train.metrics import TrainMetrics
    from emutrain.train.state import TrainState
    from emutrain.train.step import TrainStep

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


def shape_bytes(text: str) -> int:
    """Bytes of an HLO shape such as `f32[2,16]{1,0}` or a tuple `(f32[], c64[8,8]{1,0})`."""
    total = 0
    for dtype, dims in re.findall(r"([a-z]+[0-9]*)\[([0-9,]*)\]", text):
        count = 1
        for dim in filter(None, dims.split(",")):
            count *= int(dim)
        total += _BYTES.get(dtype, 4) * count
    return total


def collective_bytes(hlo: str) -> dict[str, list[int]]:
    """Per collective kind `[count, operand bytes]` per device of compiled (partitioned) HLO text; the
    operands' shapes are those of the instructions they name (async `-start` forms count, `-done` not)."""
    shapes, found = {}, {kind: [0, 0] for kind in COLLECTIVES}
    pattern = re.compile(r"^\s*(?:ROOT )?%(\S+) = (\(.*?\)|\S+) ([a-z-]+)\((.*?)\)")
    for line in hlo.splitlines():
        match = pattern.match(line)
        if not match:
            continue
        name, shape, op, operands = match.groups()
        shapes[name] = shape
        kind = op.removesuffix("-start")
        if kind in found:
            found[kind][0] += 1
            found[kind][1] += sum(
                shape_bytes(shapes.get(o.strip().lstrip("%"), "")) for o in operands.split(",")
            )
    return found


def measure(mesh, batch_size: int) -> dict:
    """Compiled memory per device (MiB) and collective operand bytes per device of the train step."""
    compiled, seconds = compile_step(mesh, _NUM_POINTS.value, batch_size, _ROLLOUT.value, _NETWORK.value)
    memory = compiled.memory_analysis()
    outputs = memory.output_size_in_bytes - memory.alias_size_in_bytes
    return {
        "arguments": memory.argument_size_in_bytes,
        "temporaries": memory.temp_size_in_bytes,
        "peak": memory.argument_size_in_bytes + memory.temp_size_in_bytes + outputs,
        "collectives": collective_bytes(compiled.as_text()),
        "compile_s": seconds,
    }


def run_child() -> None:
    """One process of the comparison: measures meshes (1, 8) and (2, 4) over all devices."""
    import jax

    from emutrain.train import make_mesh

    if _CHILD.value.startswith("pair:"):
        _, port, process_id = _CHILD.value.split(":")
        jax.distributed.initialize(f"localhost:{port}", num_processes=2, process_id=int(process_id))
    figures = {f"{d}x{s}": measure(make_mesh(d, s), _PROCESS_BATCH.value) for d, s in ((1, 8), (2, 4))}
    if jax.process_index() == 0:
        with open(_CHILD_OUT.value, "w") as file:
            json.dump(figures, file)


def _start(args: list[str], devices: int) -> subprocess.Popen:
    env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
    return subprocess.Popen([sys.executable, os.path.abspath(__file__), *args], env=env)


def compare_processes() -> None:
    """Prints one process x 8 devices against two processes x 4, side by side per mesh."""
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        port = sock.getsockname()[1]
    common = [
        f"--num_points={_NUM_POINTS.value}",
        f"--rollout={_ROLLOUT.value}",
        f"--network={_NETWORK.value}",
        f"--process_batch_size={_PROCESS_BATCH.value}",
        "--devices=0",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        outs = {1: os.path.join(tmp, "single.json"), 2: os.path.join(tmp, "pair.json")}
        started = [_start([*common, "--child=single", f"--child_out={outs[1]}"], 8)]
        for i in (0, 1):
            started.append(_start([*common, f"--child=pair:{port}:{i}", f"--child_out={outs[2]}"], 4))
        if any(proc.wait() for proc in started):
            raise SystemExit("a measuring process failed")
        figures = {}
        for processes, path in outs.items():
            with open(path) as file:
                figures[processes] = json.load(file)
    mib = 1024.0**2
    print(
        f"{_NETWORK.value} correcting Navier-Stokes, {_NUM_POINTS.value}^2, batch {_PROCESS_BATCH.value}, "
        f"Supervised({_ROLLOUT.value}), Adam; per device: memory MiB, collective operands MiB (count)"
    )
    print(
        f"{'mesh':>6} {'processes':>10} {'peak':>8} {'temps':>8} " + " ".join(f"{k:>24}" for k in COLLECTIVES)
    )
    for mesh in ("1x8", "2x4"):
        for processes in (1, 2):
            entry = figures[processes][mesh]
            moved = " ".join(
                f"{entry['collectives'][k][1] / mib:>18.3f} ({entry['collectives'][k][0]:>3})"
                for k in COLLECTIVES
            )
            print(
                f"{mesh:>6} {f'{processes} x {8 // processes}':>10} {entry['peak'] / mib:>8.1f} "
                f"{entry['temporaries'] / mib:>8.1f} {moved}"
            )


def main(argv) -> None:
    del argv
    import jax

    from emutrain.train import make_mesh

    if _CHILD.value:
        run_child()
        return
    if _PROCESSES.value == 2:
        compare_processes()
        return
    if _PROCESSES.value != 1:
        raise SystemExit(f"--processes must be 1 or 2, got {_PROCESSES.value}")
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
        mesh = make_mesh(data=1, space=space, devices=jax.devices()[:space])
        compiled, seconds = compile_step(
            mesh, _NUM_POINTS.value, _BATCH.value, _ROLLOUT.value, _NETWORK.value
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
    if not any(arg.startswith("--child=") for arg in sys.argv):  # children get their device count from env
        _set_devices()
    app.run(main)
