"""Benchmark of the streamed public-dataset sources: WellWindows against raw h5py (and the_well).

    python pipelines/benchmark_datasets.py [--size_gb=3] [--quick] [--well_python=PYTHON]

1. Writes a dataset in The Well's format of about ``--size_gb`` (2D 128 x 128, density, pressure and
   velocity: 4 float32 channels, 101 snapshots per trajectory), and one 4x larger (``--quick``: 60 MB).
2. Windows per second of random batches of ``W = --window_length`` windows, side by side on the same
   indices: raw h5py reads of the same slices (handles kept open, no checks, no concatenation), the
   bare ``WellWindows.read_batch``, and ``make_loader`` (shuffle + ``--workers`` prefetch threads, and
   ``worker_processes=--workers`` Grain worker processes).
3. Peak resident memory of a fresh process that builds ``WellWindows`` and iterates ``--rss_batches``
   shuffled batches, for the dataset and the 4x larger one: it must not grow with the dataset.
4. With ``--well_python`` (an interpreter with the_well and torch installed): the_well's
   ``WellDataset`` + ``torch.utils.data.DataLoader`` with the same batch size and workers, and a check
   that its windows (input and output fields joined along time) equal emutrain's, index for index.

The files are read right after being written, so most reads come from the page cache for every reader.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
from absl import app, flags

from emutrain.data import WellWindows, make_loader

flags.DEFINE_float("size_gb", 3.0, "Size of the dataset in GB (the memory run also uses one 4x larger).")
flags.DEFINE_bool("quick", False, "A 60 MB dataset and short measurements.")
flags.DEFINE_float("seconds", 10.0, "Time spent per throughput measurement.")
flags.DEFINE_integer("batch_size", 16, "Windows per batch.")
flags.DEFINE_integer("window_length", 4, "Snapshots per window.")
flags.DEFINE_integer("workers", 2, "Prefetch threads / worker processes of every loader.")
flags.DEFINE_integer("rss_batches", 200, "Batches iterated by the peak-memory runs.")
flags.DEFINE_string("tmpdir", tempfile.gettempdir(), "Where the datasets are written (and removed).")
flags.DEFINE_string("well_python", None, "Python interpreter with the_well and torch, for the side-by-side.")
FLAGS = flags.FLAGS

RESOLUTION, STEPS, TRAJECTORIES_PER_FILE = 128, 101, 8
MB = 1e6


def _flagged(dataset, time_varying=True, sample_varying=True):
    dataset.attrs.update(time_varying=time_varying, sample_varying=sample_varying, dim_varying=[True, True])


def write_well_file(path, num_trajectories, rng, resolution=RESOLUTION, steps=STEPS):
    """One file in The Well's format: density and pressure (t0) and velocity (t1), periodic."""
    shape = (num_trajectories, steps, resolution, resolution)
    with h5py.File(path, "w") as f:
        f.attrs.update(dataset_name="benchmark", grid_type="cartesian", n_spatial_dims=2)
        f.attrs["n_trajectories"] = num_trajectories
        dimensions = f.create_group("dimensions")
        dimensions.attrs["spatial_dims"] = ["x", "y"]
        axis = np.linspace(0, 1, resolution, endpoint=False, dtype=np.float32)
        for key, value in (("time", np.arange(steps, dtype=np.float32)), ("x", axis), ("y", axis)):
            dimensions.create_dataset(key, data=value).attrs["sample_varying"] = False
        conditions = f.create_group("boundary_conditions")
        for dim in "xy":
            condition = conditions.create_group(f"{dim}_periodic")
            condition.attrs.update(
                associated_dims=dim, bc_type="PERIODIC", sample_varying=False, time_varying=False
            )
            condition.create_dataset("mask", data=np.r_[True, np.zeros(resolution - 2, bool), True])
        f.create_group("scalars").attrs["field_names"] = []
        groups = {order: f.create_group(f"t{order}_fields") for order in range(3)}
        groups[0].attrs["field_names"] = ["density", "pressure"]
        groups[1].attrs["field_names"] = ["velocity"]
        groups[2].attrs["field_names"] = []
        datasets = [
            groups[0].create_dataset("density", shape, np.float32),
            groups[0].create_dataset("pressure", shape, np.float32),
            groups[1].create_dataset("velocity", (*shape, 2), np.float32),
        ]
        for dataset in datasets:
            _flagged(dataset)
            for s in range(num_trajectories):  # trajectory by trajectory: the writer holds one at a time
                dataset[s] = rng.standard_normal(dataset.shape[1:], dtype=np.float32)


def write_dataset(root, size_bytes, resolution=RESOLUTION):
    """A Well dataset directory of about ``size_bytes`` in ``data/train``; returns its byte count."""
    per_trajectory = STEPS * resolution**2 * 4 * 4
    num_trajectories = max(1, round(size_bytes / per_trajectory))
    directory = Path(root) / "data" / "train"
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for start in range(0, num_trajectories, TRAJECTORIES_PER_FILE):
        count = min(TRAJECTORIES_PER_FILE, num_trajectories - start)
        write_well_file(directory / f"part_{start // TRAJECTORIES_PER_FILE:04d}.hdf5", count, rng, resolution)
    return num_trajectories * per_trajectory


def rate(next_batch, batch_size, seconds):
    """Windows per second of ``next_batch()`` over about ``seconds`` (after one warm-up batch)."""
    next_batch()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        next_batch()
        count += batch_size
    return count / (time.perf_counter() - start)


def raw_reader(source, concatenate):
    """Reads windows with plain h5py: the same slices as ``source``, nothing else (with
    ``concatenate``, also joined channels-last and stacked into a batch, as the sources return them)."""
    files = [h5py.File(path, "r") for path in source.files]
    names = [field.path for field in source.fields]
    length = source.window_length

    def read(indices):
        windows = []
        for index in indices:
            file, trajectory, start = source.locate(int(index))
            fields = [files[file][name][trajectory, start : start + length] for name in names]
            if concatenate:
                windows.append(np.concatenate([f.reshape(*f.shape[:3], -1) for f in fields], axis=-1))
        return np.stack(windows) if concatenate else None

    return read


def throughput(root, batch_size, window_length, workers, seconds):
    """Windows/s of raw h5py, WellWindows.read_batch and make_loader on random batches."""
    source = WellWindows(root, "train", window_length=window_length)
    window_bytes = window_length * int(np.prod(source.spatial_shape)) * len(source.field_names) * 4
    rng = np.random.default_rng(0)
    read_raw = raw_reader(source, concatenate=False)
    read_raw_joined = raw_reader(source, concatenate=True)

    def draw():
        return rng.integers(0, len(source), batch_size)

    loader_kwargs = dict(
        batch_size=batch_size, seed=0, shard_index=0, shard_count=1, prefetch_threads=workers
    )
    threaded = iter(make_loader(source, **loader_kwargs))
    processes = iter(make_loader(source, worker_processes=workers, **loader_kwargs))
    results = {
        "raw h5py, same slices": rate(lambda: read_raw(draw()), batch_size, seconds),
        "raw h5py + channels-last batch": rate(lambda: read_raw_joined(draw()), batch_size, seconds),
        "WellWindows.read_batch": rate(lambda: source.read_batch(draw()), batch_size, seconds),
        f"make_loader, {workers} threads": rate(lambda: next(threaded), batch_size, seconds),
        f"make_loader, {workers} processes": rate(lambda: next(processes), batch_size, seconds),
    }
    for iterator in (threaded, processes):
        iterator.close()  # stops the workers and frees the shared memory of the batches they read ahead
    shape = (window_length, *source.spatial_shape, len(source.field_names))
    print(f"\nthroughput: batch {batch_size} x {shape}")
    print(f"  {len(source):,} windows in {len(source.files)} files, {window_bytes / MB:.2f} MB per window")
    raw = results["raw h5py, same slices"]
    for label, value in results.items():
        print(
            f"  {label:30s} {value:9,.0f} windows/s  {value * window_bytes / MB:8,.0f} MB/s  "
            f"raw / this {raw / value:5.2f}"
        )
    return source, results


RSS_CHILD = """
import json, sys
from emutrain.data import WellWindows, make_loader


def status():
    fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return {k: int(fields[k].split()[0]) * 1024 for k in ("VmRSS", "VmHWM")}


root = sys.argv[1]
window_length, batch_size, num_batches = (int(x) for x in sys.argv[2:5])
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # resets the peak (VmHWM) to the current RSS: measure the source and iteration, not imports
before = status()
source = WellWindows(root, "train", window_length=window_length)
loader = make_loader(
    source, batch_size=batch_size, seed=0, num_steps=num_batches, shard_index=0, shard_count=1
)
count = sum(1 for _ in loader)
after = status()
print(json.dumps({"before": before, "after": after, "batches": count, "windows": len(source),
                  "files": len(source.files)}))
"""


def peak_memory(roots, window_length, batch_size, num_batches):
    """Peak RSS of a fresh process iterating each dataset (``{label: root}``)."""
    print(f"\npeak RSS of a fresh process building WellWindows and iterating {num_batches} shuffled batches:")
    for label, root in roots.items():
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                RSS_CHILD,
                str(root),
                str(window_length),
                str(batch_size),
                str(num_batches),
            ],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "JAX_PLATFORMS": "cpu"},
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
        before, after = result["before"], result["after"]
        growth = (after["VmHWM"] - before["VmRSS"]) / MB
        print(
            f"  {label:24s} {result['windows']:9,} windows in {result['files']:4d} files: RSS after imports "
            f"{before['VmRSS'] / MB:7.1f} MB, peak {after['VmHWM'] / MB:7.1f} MB (+{growth:.1f} MB)"
        )


WELL_CHILD = """
import json, sys, time
import numpy as np
import torch
from the_well.data import WellDataset

root, out = sys.argv[1], sys.argv[6]
window_length, batch_size, workers = (int(x) for x in sys.argv[2:5])
seconds = float(sys.argv[5])
dataset = WellDataset(path=root, well_split_name="train", n_steps_input=1, n_steps_output=window_length - 1)
indices = [0, 1, len(dataset) // 3, len(dataset) // 2, len(dataset) - 1]
windows = [torch.cat([dataset[i]["input_fields"], dataset[i]["output_fields"]]).numpy() for i in indices]
np.save(out, np.stack(windows))
loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers,
                                     persistent_workers=workers > 0)


def batches():
    while True:  # epoch after epoch
        yield from loader


iterator = batches()
next(iterator)
count, start = 0, time.perf_counter()
while time.perf_counter() - start < seconds:
    count += len(next(iterator)["input_fields"])
rate = count / (time.perf_counter() - start)
print(json.dumps(
    {"len": len(dataset), "indices": indices, "windows_per_s": rate, "torch": torch.__version__}
))
"""


def the_well_side_by_side(python, source, root, batch_size, workers, seconds, ours):
    """the_well's WellDataset + DataLoader: windows/s, and its windows against emutrain's."""
    out = Path(tempfile.mkdtemp()) / "the_well_windows.npy"
    run = subprocess.run(
        [
            python,
            "-c",
            WELL_CHILD,
            str(root),
            str(source.window_length),
            str(batch_size),
            str(workers),
            str(seconds),
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    if run.returncode:
        raise RuntimeError(f"the_well's run failed:\n{run.stderr}")
    result = json.loads(run.stdout.strip().splitlines()[-1])
    theirs = np.load(out)
    shutil.rmtree(out.parent)
    equal = result["len"] == len(source) and np.array_equal(theirs, source.read_batch(result["indices"]))
    label = f"the_well + DataLoader, {workers} workers"
    print(f"  {label:30s} {result['windows_per_s']:9,.0f} windows/s  (torch {result['torch']})")
    print(f"  the_well: {result['len']:,} windows; windows {result['indices']} equal emutrain's: {equal}")
    for name, value in ours.items():
        if not name.startswith("raw"):
            print(f"  {name} / the_well: {value / result['windows_per_s']:.2f}x")


def main(argv):
    del argv
    size = 0.06e9 if FLAGS.quick else FLAGS.size_gb * 1e9
    seconds = min(FLAGS.seconds, 2.0) if FLAGS.quick else FLAGS.seconds
    base = Path(tempfile.mkdtemp(prefix="benchmark_datasets_", dir=FLAGS.tmpdir))
    try:
        start = time.perf_counter()
        written = write_dataset(base / "one", size)
        print(f"wrote {written / 1e9:.2f} GB in {time.perf_counter() - start:.0f} s")
        source, ours = throughput(base / "one", FLAGS.batch_size, FLAGS.window_length, FLAGS.workers, seconds)
        if FLAGS.well_python:
            the_well_side_by_side(
                FLAGS.well_python, source, base / "one", FLAGS.batch_size, FLAGS.workers, seconds, ours
            )
        start = time.perf_counter()
        written_4x = write_dataset(base / "four", 4 * size)
        print(f"\nwrote {written_4x / 1e9:.2f} GB in {time.perf_counter() - start:.0f} s")
        peak_memory(
            {f"{written / 1e9:.2f} GB": base / "one", f"{written_4x / 1e9:.2f} GB (4x)": base / "four"},
            FLAGS.window_length,
            FLAGS.batch_size,
            FLAGS.rss_batches,
        )
    finally:
        shutil.rmtree(base)


if __name__ == "__main__":
    app.run(main)
