"""Spatial sharding: one sample split over many devices on a `(data, space)` mesh.

The sharded checks run once in a subprocess on 8 simulated CPU devices (`spatial_worker.py`): forward
passes, parameter gradients and Trainer steps on meshes (data=2, space=4) and (data=1, space=8) equal the
unsharded computation to float32 rounding, a checkpoint written on one mesh shape resumes on another, and
the compiled HLO of a sharded convolution moves only halos.
"""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest
from jax.sharding import PartitionSpec

from emutrain.train import make_data_mesh, make_mesh, sharding
from emutrain.train.mesh import ProcessShare, process_share, space_size, spatial_batch_sharding

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "spatial_worker.py")
MESHES = ("2x4", "1x8")
# float32 rounding: sums over up to ~10^4 terms in another order (halo exchange, distributed FFT)
FORWARD_TOL = 2e-6
GRAD_TOL = 2e-5


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("spatial") / "report.json"
    env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS="--xla_force_host_platform_device_count=8")
    proc = subprocess.run(
        [sys.executable, WORKER, str(out)], env=env, capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["devices"] == 8
    return result


MODELS = [
    "conv_variants2d",
    "conv2d_dirichlet",
    "res2d_neumann",
    "unet2d",
    "fno2d",
    "ns_corrector2d",
    "unet3d",
    "fno3d",
]


@pytest.mark.parametrize("name", MODELS)
def test_forward_and_gradient_equal_unsharded(report, name):
    meshes = ("1x8",) if name == "unet3d" else MESHES  # the worker compiles the 3D UNet on (1, 8) only
    for mesh in meshes:
        entry = report["models"][name][mesh]
        assert entry["forward"] < FORWARD_TOL, (mesh, entry)
        assert entry["loss"] < FORWARD_TOL, (mesh, entry)
        assert entry["grad"] < GRAD_TOL, (mesh, entry)
    # the output stays split like the input: batch over data (when data > 1), first spatial axis over space
    if "2x4" in meshes:
        assert report["models"][name]["2x4"]["output_spec"] == "P('data', 'space')"
    assert report["models"][name]["1x8"]["output_spec"] == "P(None, 'space')"


def test_trainer_steps_and_resume_on_another_mesh_shape(report):
    """Ten Adam steps of a 2D UNet on (data=2, space=4), checkpointed after five; the checkpoint resumed
    on (1, 8) for steps 6 to 10: losses and parameters as on one device."""
    train = report["train"]
    assert train["2x4"]["first_step"] == 6  # the second fit call resumed from the step-5 checkpoint
    assert train["1x8"]["first_step"] == 6
    for mesh in MESHES:
        assert train[mesh]["losses"] < FORWARD_TOL * 5, (mesh, train[mesh])
        assert train[mesh]["params"] < GRAD_TOL, (mesh, train[mesh])


def test_spatial_size_must_divide_by_space(report):
    assert report["train"]["indivisible"] == (
        "the first spatial axis of the batches (K, B, W, X, ..., C) must divide by the mesh axis space=4, "
        "got batches of shape (1, 4, 3, 30, 32, 1)"
    )


def test_sharded_conv_exchanges_only_halos(report):
    """(4, 64, 64, 64) split (data=2, space=4): slabs (2, 16, 64, 64); a 3x3 kernel needs one row from
    each neighbour, f32[2,1,64,64], and nothing else moves."""
    hlo = report["hlo"]["conv_sharded"]
    assert hlo["all-gather"] == []
    assert hlo["all-to-all"] == []
    assert sorted(hlo["collective-permute"]) == ["f32[2,1,64,64]"] * 2


def test_xla_alone_moves_more_than_the_halo(report):
    """Why emutrain exchanges halos itself: XLA's partitioning of jnp.pad(wrap) + conv (jax 0.10.2) sends
    slices of several rows (re-splitting the padded 66 rows), not just the one-row halos."""
    permuted_rows = [
        int(shape.split("[")[1].split(",")[1]) for shape in report["hlo"]["conv_xla"]["collective-permute"]
    ]
    assert max(permuted_rows) > 1


def test_distributed_fft_gathers_nothing(report):
    """The slab FFT moves data only by all-to-all; XLA's own partitioning of the FFT all-gathers."""
    assert report["hlo"]["fft_sharded"]["all-gather"] == []
    assert len(report["hlo"]["fft_sharded"]["all-to-all"]) == 2
    assert report["hlo"]["fft_xla"]["all-gather"] != []


def test_make_mesh_defaults_and_validation():
    devices = jax.devices()
    mesh = make_mesh()
    assert mesh.axis_names == make_data_mesh().axis_names == ("data",)
    assert mesh.shape["data"] == len(devices)
    assert space_size(mesh) == 1 and space_size(None) == 1
    assert process_share(mesh) == ProcessShare(0, 1, 0, 1)  # one process holds everything
    assert sharding.stacked_batch_sharding(mesh).spec == PartitionSpec(None, "data")
    assert spatial_batch_sharding(mesh, 4).spec == PartitionSpec("data", None, None, None)
    with pytest.raises(ValueError, match="space must divide the number of devices"):
        make_mesh(space=len(devices) + 1)
    with pytest.raises(ValueError, match="data \\* space must equal the number of devices"):
        make_mesh(data=2, space=len(devices))
    with pytest.raises(TypeError, match="space"):
        make_mesh(space=True)


def test_sharded_models_gather_nothing(report):
    """A Navier-Stokes ETDRK step moves data by all-to-all only (its FFTs); a UNet by one-row halos of its
    convolutions, plus per-sample statistics of its group norms (all-reduce), on slabs (2, 16, 64, C)."""
    navier_stokes, unet = report["hlo"]["navier_stokes"], report["hlo"]["unet"]
    assert navier_stokes["all-gather"] == navier_stokes["collective-permute"] == []
    assert navier_stokes["all-to-all"] != []
    assert unet["all-gather"] == unet["all-to-all"] == []
    assert {shape.split(",")[1] for shape in unet["collective-permute"]} == {"1"}


def _fake_mesh(owners):
    """A mesh-like object whose devices belong to the processes `owners` `(data, space)`."""
    from types import SimpleNamespace

    owners = np.asarray(owners)
    devices = np.array([SimpleNamespace(process_index=int(p)) for p in owners.ravel()]).reshape(owners.shape)
    return SimpleNamespace(devices=devices, shape={"data": owners.shape[0], "space": owners.shape[1]})


@pytest.mark.parametrize(
    ("owners", "index", "share"),
    [
        ([[0, 0, 0, 0, 1, 1, 1, 1]], 1, ProcessShare(0, 1, 1, 2)),  # 2 processes x 4 devices on (1, 8)
        ([[0, 0, 0, 0], [1, 1, 1, 1]], 1, ProcessShare(1, 2, 0, 1)),  # on (2, 4)
        ([[0, 0, 1, 1], [2, 2, 3, 3]], 2, ProcessShare(1, 2, 0, 2)),  # 4 processes x 2 devices on (2, 4)
        ([[0, 0], [0, 0], [1, 1], [1, 1]], 1, ProcessShare(1, 2, 0, 1)),  # 2 x 4 on (4, 2)
    ],
)
def test_process_share_is_the_block_of_the_mesh_a_process_holds(monkeypatch, owners, index, share):
    monkeypatch.setattr(jax, "process_index", lambda: index)
    assert process_share(_fake_mesh(owners)) == share


@pytest.mark.parametrize(
    ("owners", "message"),
    [
        ([[0, 1, 0, 1]], r"block of the mesh axis 'space' of size 4, got positions \[0, 2\]"),
        ([[0, 0, 0], [1, 1, 1]], None),
        ([[0, 0, 1], [1, 1, 1]], r"block of the mesh axis 'space' of size 3, got positions \[0, 1\]"),
        ([[0, 0], [0, 1]], r"3 devices must form one block of the mesh \{'data': 2, 'space': 2\}"),
        ([[1, 1], [1, 1]], r"this process \(index 0\) holds none of the devices of the mesh"),
    ],
)
def test_process_share_refuses_scattered_devices(owners, message):
    if message is None:  # a valid block: one data row each
        assert process_share(_fake_mesh(owners)) == ProcessShare(0, 2, 0, 1)
        return
    with pytest.raises(ValueError, match=message):
        process_share(_fake_mesh(owners))


def test_x_slab_splits_x_evenly_over_the_processes_of_a_sample():
    assert ProcessShare(0, 1, 1, 2).x_slab(32) == slice(16, 32)
    assert ProcessShare(0, 1, 0, 1).x_slab(30) == slice(0, 30)
    with pytest.raises(ValueError, match=r"X=30 must split evenly over the 4 processes along the mesh axis"):
        ProcessShare(0, 1, 1, 4).x_slab(30)
