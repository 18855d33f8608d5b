"""Subprocess body of tests/train/test_spatial_multiprocess.py: one of two `jax.distributed` processes with
4 CPU devices each, or the one-process reference with 8.

Every run trains on memory-mapped `.npy` datasets written by the test: a 2D UNet corrector of a spectral
advection-diffusion solver (`2d`, slab FFTs and halo convolutions) and a 3D FNO (`3d`, mode gathering), ten
Adam steps each, and writes a JSON report: per run the losses, the final parameters (as lists), the step
the run started from, the shapes of the batches the source read and the bytes they held, and the
periodic evaluation (nRMSE, figure rollouts) of the 2D corrector trained on (1, 8).

Usage: python spatial_multiprocess_worker.py OUT.json DATA_DIR WORK_DIR ROLE [PORT PROCESS_ID]
  ROLE `single`: one process, 8 devices: the 2D and 3D runs on mesh (1, 8) (the references), the 2D
    run checkpointed after five steps.
  ROLE `pair`: two processes: the 2D and 3D runs on meshes (1, 8) and (2, 4); the 2D run on (2, 4)
    checkpointed after five steps; and the single run's step-5 checkpoint resumed on (2, 4).
  ROLE `resume`: one process, 8 devices: the pair's step-5 checkpoint of (2, 4) resumed on (1, 8).
"""

import json
import os
import shutil
import sys

import jax
import numpy as np
import optax
from flax import nnx

from emutrain import configurations, data, evaluate, nn, physics
from emutrain.train import Trainer, make_mesh, spatially_sharded
from emutrain.train.mesh import process_share, spatial_batch_sharding

STEPS, BATCH, WINDOW = 10, 4, 2


class CountingWindows:
    """A window source that records the shape and bytes of every batch it reads (the loader asks it for
    this process's slab of X only)."""

    def __init__(self, source: data.TrajectoryWindows):
        self.source = source
        self.shapes: set[tuple[int, ...]] = set()
        self.nbytes = 0
        self.batches = 0

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int) -> np.ndarray:
        return self.source[index]

    def read_batch(self, indices, *, x_slab=None):
        batch = self.source.read_batch(indices, x_slab=x_slab)
        self.shapes.add(batch.shape)
        self.nbytes += batch.nbytes
        self.batches += 1
        return batch


def corrector(rngs):
    coarse = physics.AdvectionDiffusion(2, 1.0, 32, 0.01, velocity=1.0, diffusivity=0.01)
    network = nn.from_spec("UNet;2;1;relu", 2, 1, 1, rngs=rngs)
    return nn.make_task_model("correct;sequential", network, coarse)


MODELS = {
    "2d": corrector,
    "3d": lambda rngs: nn.from_spec("FNO;3;4;1;gelu", 3, 1, 1, rngs=rngs),
}


def _loader(name, mesh, data_dir, num_steps):
    trajectories, _ = data.load_trajectories(os.path.join(data_dir, name), check_finite=False)
    assert isinstance(trajectories, np.memmap)
    source = CountingWindows(data.TrajectoryWindows(trajectories, WINDOW))
    share = process_share(mesh)
    slab = share.x_slab(trajectories.shape[2]) if share.space_count > 1 else None
    loader = data.make_loader(
        source,
        batch_size=BATCH // share.data_count,
        seed=0,
        num_steps=num_steps,
        shard_index=share.data_index,
        shard_count=share.data_count,
        x_slab=slab,
        prefetch_threads=0,
    )
    return source, loader, share


def _params(state) -> list:
    return [np.asarray(leaf).tolist() for leaf in jax.tree.leaves(state.params)]


def train(name, shape, data_dir, workdir, *, num_steps=STEPS, checkpoint_every=STEPS) -> dict:
    """Trains `MODELS[name]` on `make_mesh(*shape)` up to `num_steps` (resuming from `workdir`)."""
    mesh = make_mesh(*shape)
    source, loader, share = _loader(name, mesh, data_dir, num_steps)
    trainer = Trainer(
        configurations.Supervised(1),
        optax.adam(1e-3),
        mesh=mesh,
        workdir=workdir,
        checkpoint_every=checkpoint_every,
        log_every=None,
        tensorboard=False,
        progress_bar=False,
    )
    result = trainer.fit(MODELS[name](nnx.Rngs(0)), iter(loader), num_steps=num_steps)
    report = {
        "losses": np.asarray(result.losses).tolist(),
        "params": _params(result.state),
        "first_step": result.first_step,
        "read_shapes": sorted(source.shapes),
        "read_bytes": source.nbytes,
        "read_batches": source.batches,
        "share": [share.data_index, share.data_count, share.space_index, share.space_count],
    }
    if name == "2d" and shape == (1, 8):
        report["eval"] = rollout_metrics(result.state.model, mesh, data_dir)
    return report


def rollout_metrics(model, mesh, data_dir) -> dict:
    """The periodic evaluation of the trained model (`evaluate.make_eval_fn`, as the experiment builds it):
    nRMSE per sample and step of 3-step rollouts from the first two trajectories, each chunk split on the
    mesh like a training batch, and the rollout kept for figures (each process holds the whole test
    set; the rollout's slabs are gathered from both processes)."""
    test = np.asarray(data.load_trajectories(os.path.join(data_dir, "2d"))[0][:2, :4])
    sharding = spatial_batch_sharding(mesh, test.ndim, spatial_axis=2)
    eval_fn = spatially_sharded(evaluate.make_eval_fn(test, num_steps=3, sharding=sharding), mesh)
    evaluation = eval_fn(model)
    return {
        "nrmse": np.asarray(evaluation.metrics.sample_nrmse).tolist(),
        "predictions": np.asarray(evaluation.predictions).tolist(),
    }


def main() -> None:
    out, data_dir, work, role = sys.argv[1:5]
    if role == "pair":
        port, process_id = sys.argv[5:7]
        jax.distributed.initialize(f"localhost:{port}", num_processes=2, process_id=int(process_id))
    report = {"process_index": jax.process_index(), "devices": jax.device_count(), "runs": {}}
    runs = report["runs"]
    if role == "single":
        runs["2d/1x8"] = train("2d", (1, 8), data_dir, os.path.join(work, "single2d"), checkpoint_every=5)
        runs["3d/1x8"] = train("3d", (1, 8), data_dir, None)
    elif role == "pair":
        runs["2d/1x8"] = train("2d", (1, 8), data_dir, None)
        runs["3d/1x8"] = train("3d", (1, 8), data_dir, None)
        runs["3d/2x4"] = train("3d", (2, 4), data_dir, None)
        pair = os.path.join(work, "pair2d")
        runs["2d/2x4"] = train("2d", (2, 4), data_dir, pair, checkpoint_every=5)
        # a checkpoint written by one process on (1, 8) resumed by two on (2, 4)
        resumed = os.path.join(work, "single2d_on_pair")
        if jax.process_index() == 0:
            shutil.copytree(os.path.join(work, "single2d"), resumed)
            shutil.rmtree(os.path.join(resumed, "checkpoints", str(STEPS)))
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices("copied the checkpoint")
        runs["2d/2x4<-1x8"] = train("2d", (2, 4), data_dir, resumed)
    else:
        # a checkpoint written by two processes on (2, 4) resumed by one on (1, 8)
        resumed = os.path.join(work, "pair2d_on_single")
        shutil.copytree(os.path.join(work, "pair2d"), resumed)
        shutil.rmtree(os.path.join(resumed, "checkpoints", str(STEPS)))
        runs["2d/1x8<-2x4"] = train("2d", (1, 8), data_dir, resumed)
    with open(out, "w") as file:
        json.dump(report, file)


if __name__ == "__main__":
    main()
