"""Subprocess body of tests/train/test_spatial_sharding.py (8 simulated CPU devices).

Runs every check once and writes a JSON report: per model and mesh the largest difference of the sharded
forward pass and parameter gradient from the unsharded ones (relative to their largest magnitude), the
losses and final parameters of a few Trainer steps, a checkpoint resumed on another mesh shape, and what
the compiled HLO of a sharded convolution communicates.

Usage: python spatial_worker.py OUT.json [SECTION ...]   (sections: models, models=NAME,..., hlo, train)
"""

import json
import os
import re
import shutil
import sys
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax.sharding import NamedSharding, PartitionSpec

from emutrain import configurations, nn, physics
from emutrain.train import Trainer, make_data_mesh, make_mesh

MESHES = {"2x4": (2, 4), "1x8": (1, 8)}
# compile-heavy (3D convolutions and their gradients): checked on the thinnest slabs (1, 8) only
THINNEST_ONLY = {"unet3d"}


def rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


def tree_rel(a, b) -> float:
    return max(rel(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def navier_stokes_corrector(rngs):
    coarse = physics.NavierStokesVorticity(2, 1.0, 32, 0.01, diffusivity=0.003)
    network = nn.from_spec("Conv;4;1;relu", 2, 1, 1, rngs=rngs)
    return nn.make_task_model("correct;sequential", network, coarse)


def conv_variants(rngs):
    """Dilation 2 (halo of 2 cells), one-sided kernels (halo on one side only) and a stride-2 layer."""
    return nnx.Sequential(
        nn.Conv(2, 2, 3, kernel_size=3, dilation=2, rngs=rngs),
        nn.Conv(2, 3, 3, kernel_size=2, kernel_alignment="right", boundary_mode="dirichlet", rngs=rngs),
        nn.Conv(2, 3, 3, kernel_size=3, kernel_alignment="left", boundary_mode="neumann", rngs=rngs),
        nn.Conv(2, 3, 2, kernel_size=3, stride=2, rngs=rngs),
    )


MODELS = {
    "conv_variants2d": (conv_variants, (4, 32, 32, 2)),
    "conv2d_dirichlet": (
        lambda r: nn.from_spec("Conv;4;1;relu", 2, 2, 2, boundary_mode="dirichlet", rngs=r),
        (4, 32, 32, 2),
    ),
    "res2d_neumann": (
        lambda r: nn.from_spec("Res;4;1;relu", 2, 2, 2, boundary_mode="neumann", rngs=r),
        (4, 32, 32, 2),
    ),
    "unet2d": (lambda r: nn.from_spec("UNet;4;1;relu", 2, 2, 2, rngs=r), (4, 32, 32, 2)),
    "fno2d": (lambda r: nn.from_spec("FNO;4;8;2;gelu", 2, 2, 2, rngs=r), (4, 32, 32, 2)),
    "ns_corrector2d": (navier_stokes_corrector, (4, 32, 32, 1)),
    "unet3d": (lambda r: nn.from_spec("UNet;2;1;relu", 3, 1, 1, rngs=r), (2, 16, 16, 16, 1)),
    "fno3d": (lambda r: nn.from_spec("FNO;3;4;1;gelu", 3, 1, 1, rngs=r), (2, 16, 16, 16, 1)),
}


def forward_and_grad(model):
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)

    def loss(params, x):
        y = nnx.merge(graphdef, params, rest, copy=True)(x)
        return jnp.mean(jnp.square(y - 0.5)), y

    return jax.jit(jax.value_and_grad(loss, has_aux=True)), params


def check_models(names) -> dict:
    report = {}
    for name in names:
        start = time.process_time()
        make, shape = MODELS[name]
        model = make(nnx.Rngs(0))
        x = jax.random.normal(jax.random.key(1), shape)
        fn, params = forward_and_grad(model)
        (loss0, y0), g0 = fn(params, x)
        entry = {}
        for label, (data, space) in MESHES.items():
            if name in THINNEST_ONLY and label != "1x8":
                continue
            mesh = make_mesh(data=data, space=space)
            xs = jax.device_put(x, NamedSharding(mesh, PartitionSpec("data", "space")))
            with jax.set_mesh(mesh):
                fn_sharded, _ = forward_and_grad(model)
                (loss, y), g = fn_sharded(params, xs)
            entry[label] = {
                "forward": rel(y, y0),
                "loss": rel(loss, loss0),
                "grad": tree_rel(g, g0),
                "output_spec": str(y.sharding.spec),
            }
        entry["cpu_seconds"] = time.process_time() - start
        report[name] = entry
    return report


def _collectives(text: str) -> dict:
    """The result shapes (layouts dropped) of every all-gather, collective-permute and all-to-all in
    compiled HLO text; a tuple-shaped all-to-all counts once."""
    found = {"all-gather": [], "collective-permute": [], "all-to-all": []}
    for line in text.splitlines():
        for op in found:
            match = re.search(rf"= (.+?) {op}\(", line)
            if match:
                found[op].append(re.sub(r"\{[^}]*\}", "", match.group(1)))
    return found


def check_hlo() -> dict:
    """A 3x3 periodic conv (64 channels) on (4, 64, 64, 64) split (data=2, space=4): what moves."""
    conv = nn.Conv(2, 64, 64, kernel_size=3, rngs=nnx.Rngs(0))
    graphdef, state = nnx.split(conv)
    x = jnp.zeros((4, 64, 64, 64))
    mesh = make_mesh(data=2, space=4)
    xs = jax.device_put(x, NamedSharding(mesh, PartitionSpec("data", "space")))
    apply = jax.jit(lambda state, x: nnx.merge(graphdef, state)(x))
    with jax.set_mesh(mesh):
        sharded = _collectives(apply.lower(state, xs).compile().as_text())
    # the same layer without the context mesh: XLA partitions jnp.pad(wrap) + conv itself
    plain = _collectives(apply.lower(state, xs).compile().as_text())
    fft = jax.jit(lambda u: physics.rfft_spatial(u, 2))
    with jax.set_mesh(mesh):
        fft_sharded = _collectives(fft.lower(xs).compile().as_text())
    fft_plain = _collectives(fft.lower(xs).compile().as_text())
    # whole models: a Navier-Stokes ETDRK step and a 2-level UNet on (4, 64, 64, 1)
    x1 = jax.device_put(jnp.zeros((4, 64, 64, 1)), NamedSharding(mesh, PartitionSpec("data", "space")))
    stepper = physics.NavierStokesVorticity(2, 1.0, 64, 0.01, diffusivity=0.003)
    unet_def, unet_state = nnx.split(nn.from_spec("UNet;4;2;relu", 2, 1, 1, rngs=nnx.Rngs(0)))
    with jax.set_mesh(mesh):
        navier_stokes = _collectives(jax.jit(stepper).lower(x1).compile().as_text())
        unet_apply = jax.jit(lambda state, x: nnx.merge(unet_def, state)(x))
        unet = _collectives(unet_apply.lower(unet_state, x1).compile().as_text())
    return {
        "conv_sharded": sharded,
        "conv_xla": plain,
        "fft_sharded": fft_sharded,
        "fft_xla": fft_plain,
        "navier_stokes": navier_stokes,
        "unet": unet,
    }


def _windows(shape, seed=0, count=4):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=shape).astype(np.float32) for _ in range(count)]


def _trainer(mesh, workdir=None, num_rollout_steps=1):
    return Trainer(
        configurations.Supervised(num_rollout_steps),
        optax.adam(1e-3),
        mesh=mesh,
        workdir=workdir,
        checkpoint_every=2,
        log_every=None,
        tensorboard=False,
        progress_bar=False,
    )


def check_train() -> dict:
    """Ten Trainer steps of a 2D UNet on one device and on (data=2, space=4), checkpointed after five
    steps and resumed from there on (2, 4) and on (1, 8)."""
    import grain

    make = lambda: nn.from_spec("UNet;4;1;relu", 2, 1, 1, rngs=nnx.Rngs(0))  # noqa: E731
    batches = _windows((4, 3, 32, 32, 1), count=10)
    loader = lambda: iter(grain.MapDataset.source(batches).to_iter_dataset())  # noqa: E731
    single = _trainer(make_data_mesh(jax.devices()[:1])).fit(make(), iter(batches), num_steps=10)
    report = {}
    with tempfile.TemporaryDirectory() as workdir:
        first, second = os.path.join(workdir, "2x4"), os.path.join(workdir, "1x8")
        trainer = _trainer(make_mesh(data=2, space=4), first)
        head = trainer.fit(make(), loader(), num_steps=5)
        shutil.copytree(first, second)
        # the same trainer resumes from its step-5 checkpoint with the step it has compiled
        tail = trainer.fit(make(), loader(), num_steps=10)
        resumed = _trainer(make_mesh(data=1, space=8), second).fit(make(), loader(), num_steps=10)
    for label, losses, result in (
        ("2x4", np.concatenate([head.losses, tail.losses]), tail),
        ("1x8", resumed.losses, resumed),
    ):
        report[label] = {
            "first_step": result.first_step,
            "losses": rel(losses, single.losses[10 - len(losses) :]),
            "params": tree_rel(result.state.params, single.state.params),
        }
    try:
        _trainer(make_mesh(data=2, space=4)).fit(make(), iter(_windows((4, 3, 30, 32, 1))), num_steps=1)
    except ValueError as error:
        report["indivisible"] = str(error)
    return report


def main() -> None:
    out, sections = sys.argv[1], sys.argv[2:] or ["models", "hlo", "train"]
    report = {"devices": jax.device_count()}
    for section in sections:
        start = time.process_time()
        if section == "models":
            report["models"] = check_models(list(MODELS))
        elif section.startswith("models="):
            report["models"] = check_models(section.split("=", 1)[1].split(","))
        elif section == "hlo":
            report["hlo"] = check_hlo()
        elif section == "train":
            report["train"] = check_train()
        report.setdefault("cpu_seconds", {})[section] = time.process_time() - start
        with open(out, "w") as f:  # after every section: a failure later keeps what ran
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
