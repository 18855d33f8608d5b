"""Benchmark of the window pipeline: batch-gather speed and memory while iterating a large set.

    python pipelines/benchmark_data.py

1. Windows per second for batches of 16 x (2 x 48 x 1) and 64 x (6 x 128 x 128 x 1), side by side: the
   vectorized path (one gather per batch, ``TrajectoryWindows.read_batch``) against reading window by
   window and stacking; both bare and through ``make_loader`` (shuffle + threaded prefetch).
2. Peak resident memory of a fresh process iterating one epoch of ``W = 21`` windows of a
   1000 x 201 x 256 x 1 float32 set memory-mapped from ``.npy``, against the raw data size and the size
   the overlapping windows would take if materialized.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
from absl import app, flags

from emutrain.data import TrajectoryWindows, make_loader, save_trajectories

flags.DEFINE_float("seconds", 2.0, "Time spent per throughput measurement.")
flags.DEFINE_string("tmpdir", tempfile.gettempdir(), "Where the large .npy set is written (and removed).")
flags.DEFINE_integer("rss_batch_size", 64, "Batch size of the peak-memory run.")
FLAGS = flags.FLAGS

MB = 1e6


class PerWindow:
    """The same windows as a plain random-access source (no ``read_batch``): stacked one by one."""

    def __init__(self, source):
        self.source = source

    def __len__(self):
        return len(self.source)

    def __getitem__(self, index):
        return self.source[index]


def rate(next_batch, batch_size, seconds):
    """Windows per second of ``next_batch()`` over about ``seconds`` (after one warm-up batch)."""
    next_batch()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        next_batch()
        count += batch_size
    return count / (time.perf_counter() - start)


def throughput(name, data, window, batch_size, seconds):
    source = TrajectoryWindows(data, window)
    rng = np.random.default_rng(0)
    per_window = PerWindow(source)

    def draw():
        return rng.integers(0, len(source), batch_size)

    results = {
        "gather, vectorized": rate(lambda: source.read_batch(draw()), batch_size, seconds),
        "gather, window by window": rate(
            lambda: np.stack([per_window[int(i)] for i in draw()]), batch_size, seconds
        ),
    }
    for label, src in (("loader, vectorized", source), ("loader, window by window", per_window)):
        iterator = iter(make_loader(src, batch_size=batch_size, seed=0, shard_index=0, shard_count=1))
        results[label] = rate(lambda: next(iterator), batch_size, seconds)
    print(f"\n{name}: batch {batch_size} x {(window, *data.shape[2:])}, {len(source)} windows")
    for label, value in results.items():
        print(f"  {label:26s} {value:12,.0f} windows/s")
    gather = results["gather, vectorized"] / results["gather, window by window"]
    loader = results["loader, vectorized"] / results["loader, window by window"]
    print(f"  vectorized / window-by-window: gather {gather:.1f}x, loader {loader:.1f}x")


RSS_CHILD = """
import json, sys
import numpy as np
from emutrain.data import TrajectoryWindows, load_trajectories, make_loader


def status():
    fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return {k: int(fields[k].split()[0]) * 1024 for k in ("VmRSS", "VmHWM", "RssAnon", "RssFile")}


path, batch_size = sys.argv[1], int(sys.argv[2])
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # resets the peak (VmHWM) to the current RSS: measure the iteration, not the imports
before = status()
trajectories, _ = load_trajectories(path, mmap=True, check_finite=False)
source = TrajectoryWindows(trajectories, 21)
loader = make_loader(source, batch_size=batch_size, seed=0, num_epochs=1, shard_index=0, shard_count=1)
num_batches = sum(1 for _ in loader)
after = status()
print(json.dumps({"before": before, "after": after, "num_batches": num_batches, "num_windows": len(source)}))
"""


def peak_memory(tmpdir, batch_size):
    shape = (1000, 201, 256, 1)
    path = os.path.join(tmpdir, "benchmark_data_rss")
    scratch = os.path.join(tmpdir, "benchmark_data_scratch.npy")
    # Filled block by block through a memmap (and saved from it) so no process holds the whole set.
    array = np.lib.format.open_memmap(scratch, mode="w+", dtype=np.float32, shape=shape)
    rng = np.random.default_rng(0)
    for start in range(0, shape[0], 100):
        array[start : start + 100] = rng.standard_normal((100, *shape[1:]), dtype=np.float32)
    array.flush()
    raw = array.nbytes
    save_trajectories(path, array, {"description": "benchmark_data peak-memory set"})
    del array
    os.remove(scratch)
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", RSS_CHILD, path, str(batch_size)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )
    elapsed = time.perf_counter() - start
    result = json.loads(out.stdout.strip().splitlines()[-1])
    shutil.rmtree(path)
    materialized = result["num_windows"] * 21 * 256 * 4
    print(
        f"\npeak RSS iterating one epoch of W=21 windows of {shape} float32 (np.memmap), batch {batch_size}:"
    )
    print(f"  raw data                  {raw / MB:9.1f} MB")
    print(
        f"  windows if materialized   {materialized / MB:9.1f} MB  ({result['num_windows']:,} windows x 21)"
    )
    before, after = result["before"], result["after"]
    print(f"  process RSS after imports {before['VmRSS'] / MB:9.1f} MB")
    growth = (after["VmHWM"] - before["VmRSS"]) / MB
    print(f"  process peak RSS          {after['VmHWM'] / MB:9.1f} MB  (+{growth:.1f} MB while iterating)")
    file_backed, anonymous = after["RssFile"] / MB, after["RssAnon"] / MB
    print(f"  at the end                {file_backed:9.1f} MB file-backed, {anonymous:.1f} MB anonymous")
    print(f"  {result['num_batches']} batches in {elapsed:.1f} s (incl. start-up)")


def main(argv):
    del argv
    rng = np.random.default_rng(0)
    data_1d = rng.standard_normal((40, 51, 48, 1), dtype=np.float32)
    throughput("1D correction problem", data_1d, 2, 16, FLAGS.seconds)
    throughput("2D 128^2", rng.standard_normal((16, 51, 128, 128, 1), dtype=np.float32), 6, 64, FLAGS.seconds)
    peak_memory(FLAGS.tmpdir, FLAGS.rss_batch_size)


if __name__ == "__main__":
    app.run(main)
