"""Spatial sharding across processes: two real `jax.distributed` processes with 4 CPU devices each against
one process with 8 (`spatial_multiprocess_worker.py`).

On mesh (1, 8) every sample is split over both processes (each holds half of X); on (2, 4) each process
holds whole samples of its half of the batch. A 2D UNet corrector of a spectral solver and a 3D FNO
train for ten steps with the losses and parameters of the one-process run; each process reads from the
memory-mapped dataset only its slab of every window; checkpoints written by two processes on (2, 4) resume
in one on (1, 8) and the other way round.
"""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from emutrain import data

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "spatial_multiprocess_worker.py")
# float32 rounding, as in test_spatial_sharding.py: sums in another order (halo exchange, distributed FFT)
# measured: losses <= 2.7e-7, parameters <= 6.6e-7, evaluation <= 8.1e-7 relative
LOSS_TOL = 1e-5
PARAM_TOL = 2e-5
FAST_COMPILE = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
SHAPES = {"2d": (4, 5, 32, 32, 1), "3d": (2, 4, 16, 16, 16, 1)}  # (S, T+1, *spatial, C)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


def _run(tmp_path, role, devices, processes=1):
    # a compile cache shared by the runs: a resumed run on the mesh and process count of an earlier one
    # reuses its executables; XLA's cheaper CPU backend passes (the same in every run) compile faster
    env = dict(
        os.environ,
        JAX_PLATFORMS="cpu",
        XLA_FLAGS=f"--xla_force_host_platform_device_count={devices} {FAST_COMPILE}",
        JAX_COMPILATION_CACHE_DIR=str(tmp_path / "compile_cache"),
        JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
    )
    port, started = _free_port(), []
    for i in range(processes):
        out, log = tmp_path / f"{role}{i}.json", tmp_path / f"{role}{i}.log"
        args = [sys.executable, WORKER, str(out), str(tmp_path / "data"), str(tmp_path / "work"), role]
        if processes > 1:
            args += [str(port), str(i)]
        with open(log, "w") as file:
            started.append((subprocess.Popen(args, env=env, stdout=file, stderr=file), out, log))
    reports = []
    for proc, out, log in started:
        proc.wait(timeout=600)
        assert proc.returncode == 0, log.read_text()[-3000:]
        reports.append(json.loads(out.read_text()))
    return reports


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("spatial_multiprocess")
    rng = np.random.default_rng(0)
    for name, shape in SHAPES.items():
        data.save_trajectories(tmp_path / "data" / name, (0.5 * rng.normal(size=shape)).astype(np.float32))
    (single,) = _run(tmp_path, "single", 8)
    pair = _run(tmp_path, "pair", 4, processes=2)
    (resumed,) = _run(tmp_path, "resume", 8)
    assert single["devices"] == resumed["devices"] == 8
    assert [(p["process_index"], p["devices"]) for p in pair] == [(0, 8), (1, 8)]
    return {"single": single["runs"], "pair": [p["runs"] for p in pair], "resumed": resumed["runs"]}


def _rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


def _params_rel(a, b) -> float:
    return max(_rel(x, y) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("run", ["2d/1x8", "2d/2x4", "3d/1x8", "3d/2x4"])
def test_two_processes_train_like_one(reports, run):
    reference = reports["single"][run.split("/")[0] + "/1x8"]
    assert len(reference["losses"]) == 10 and np.all(np.isfinite(reference["losses"]))
    for process in reports["pair"]:
        assert process[run]["first_step"] == 1
        assert _rel(process[run]["losses"], reference["losses"]) < LOSS_TOL
        assert _params_rel(process[run]["params"], reference["params"]) < PARAM_TOL
    if run == "2d/1x8":  # the periodic evaluation with every sample split over both processes
        for process in reports["pair"]:
            for key in ("nrmse", "predictions"):
                assert _rel(process[run]["eval"][key], reference["eval"][key]) < LOSS_TOL, key


@pytest.mark.parametrize("run", ["2d/1x8", "2d/2x4", "3d/1x8", "3d/2x4"])
def test_each_process_reads_only_its_block_of_every_batch(reports, run):
    """(1, 8): both processes read the same four windows, each its half of X; (2, 4): each process two
    whole windows. Either way a process reads half of the bytes the one process reads."""
    name, mesh = run.split("/")
    _, _, *spatial, channels = SHAPES[name]
    reference = reports["single"][name + "/1x8"]
    assert reference["read_shapes"] == [[4, 2, *spatial, channels]]
    sample_bytes = 4 * 2 * int(np.prod(spatial)) * channels * 4  # a batch of 4 windows of 2 levels
    assert reference["read_bytes"] == reference["read_batches"] * sample_bytes
    for index, process in enumerate(reports["pair"]):
        entry = process[run]
        if mesh == "1x8":
            assert entry["share"] == [0, 1, index, 2]
            assert entry["read_shapes"] == [[4, 2, spatial[0] // 2, *spatial[1:], channels]]
        else:
            assert entry["share"] == [index, 2, 0, 1]
            assert entry["read_shapes"] == [[2, 2, *spatial, channels]]
        assert entry["read_batches"] == reference["read_batches"]
        assert entry["read_bytes"] * 2 == reference["read_bytes"]


def test_checkpoints_resume_across_process_counts_and_mesh_shapes(reports):
    """One process on (1, 8) wrote step 5: two processes resume it on (2, 4); two processes on (2, 4)
    wrote step 5: one process resumes it on (1, 8). Steps 6 to 10 as without the interruption."""
    reference = reports["single"]["2d/1x8"]
    resumed = [process["2d/2x4<-1x8"] for process in reports["pair"]] + [reports["resumed"]["2d/1x8<-2x4"]]
    for entry in resumed:
        assert entry["first_step"] == 6
        assert _rel(entry["losses"], reference["losses"][5:]) < LOSS_TOL
        assert _params_rel(entry["params"], reference["params"]) < PARAM_TOL
