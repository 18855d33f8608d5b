"""Benchmark of the scan-unrolled configurations: compile time, step time and peak memory.

    python pipelines/benchmark_configurations.py

1. Compile time of a jitted train step (``Supervised(K)`` loss, gradient, SGD update) of a 1D periodic
   conv net at K = 1, 2 and 50, for a full unroll (the CPU default), a rolled scan (``unroll=1``, the
   GPU/TPU default) and a plain Python loop.
2. Step time of the same train step at K = 1, 5, 20: default ``unroll`` against the Python-unrolled loop
   (and the rolled scan, for the record).
3. Peak memory (``compiled.memory_analysis()``) of a train step at K = 200 on a 2D 64^2 conv net:
   no remat, per-step ``remat`` and sqrt(K) chunked checkpointing (rolled scans).

Workload (1): batch 16, N = 48, C = 1, convs 1 -> 32 -> 32 -> 1 with kernel 5, circular padding, tanh.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from emutrain.configurations import Supervised
from emutrain.losses import MSELoss

flags.DEFINE_integer("repeats", 7, "Timed repeats per step-time measurement (the best is reported).")
flags.DEFINE_integer("steps", 20, "Train steps per timed repeat.")
FLAGS = flags.FLAGS


def init_convnet(key, spatial_dims, widths, kernel):
    """Parameters of a channels-last conv stack ``widths[0] -> ... -> widths[-1]``."""
    params = []
    for cin, cout in zip(widths[:-1], widths[1:]):
        key, sub = jax.random.split(key)
        shape = (kernel,) * spatial_dims + (cin, cout)
        params.append(
            {"w": jax.random.normal(sub, shape) / np.sqrt(cin * kernel**spatial_dims), "b": jnp.zeros(cout)}
        )
    return params


def convnet(params, u):
    """Residual periodic conv stack on ``(B, *spatial, C)``: ``u + net(u)``."""
    spatial_dims = u.ndim - 2
    dims = {1: ("NWC", "WIO", "NWC"), 2: ("NHWC", "HWIO", "NHWC")}[spatial_dims]
    h = u
    for i, layer in enumerate(params):
        pad = layer["w"].shape[0] // 2
        h = jnp.pad(h, [(0, 0)] + [(pad, pad)] * spatial_dims + [(0, 0)], mode="wrap")
        h = jax.lax.conv_general_dilated(h, layer["w"], (1,) * spatial_dims, "VALID", dimension_numbers=dims)
        h = h + layer["b"]
        if i < len(params) - 1:
            h = jnp.tanh(h)
    return u + h


def python_loop_loss(params, data, num_steps):
    """The ``Supervised`` loss written as a Python loop (XLA sees a fully unrolled chain)."""
    u, total = data[:, 0], 0.0
    for t in range(num_steps):
        u = convnet(params, u)
        total = total + MSELoss()(u, data[:, t + 1])
    return total


def train_step(loss_fn):
    def step(params, data):
        loss, grads = jax.value_and_grad(loss_fn)(params, data)
        return jax.tree.map(lambda p, g: p - 1e-3 * g, params, grads), loss

    return jax.jit(step)


def configuration_loss(conf):
    return lambda params, data: conf(lambda u: convnet(params, u), data)


def variants(num_steps):
    return {
        "default unroll": configuration_loss(Supervised(num_steps)),
        "rolled (unroll=1)": configuration_loss(Supervised(num_steps, unroll=1)),
        "python loop": lambda params, data: python_loop_loss(params, data, num_steps),
    }


def data_1d(num_steps, key):
    return jax.random.normal(key, (16, num_steps + 1, 48, 1))


def compile_seconds(step, params, data):
    start = time.perf_counter()
    step.lower(params, data).compile()
    return time.perf_counter() - start


def step_seconds(steps, params, data):
    """Best seconds per train step of each jitted step; repeats interleave the variants (shared CPU)."""
    compiled = {name: step.lower(params, data).compile() for name, step in steps.items()}
    best = {name: np.inf for name in steps}
    for fn in compiled.values():
        jax.block_until_ready(fn(params, data))
    for _ in range(FLAGS.repeats):
        for name, fn in compiled.items():
            start = time.perf_counter()
            p = params
            for _ in range(FLAGS.steps):
                p, loss = fn(p, data)
            jax.block_until_ready(loss)
            best[name] = min(best[name], (time.perf_counter() - start) / FLAGS.steps)
    return best


def bench_compile(params, key):
    print("\n## 1. Compile time of the train step (s), 1D conv net")
    print(
        "(K=1 has no loop at all: a one-step scan is traced straight-line, so K=2 is the first rolled loop)"
    )
    print(f"{'variant':<20} {'K=1':>7} {'K=2':>7} {'K=50':>7} {'K=50/K=1':>9} {'K=50/K=2':>9}")
    for name in variants(1):
        t1, t2, t50 = (
            compile_seconds(train_step(variants(k)[name]), params, data_1d(k, key)) for k in (1, 2, 50)
        )
        print(f"{name:<20} {t1:7.2f} {t2:7.2f} {t50:7.2f} {t50 / t1:9.2f} {t50 / t2:9.2f}")


def bench_step_time(params, key):
    print("\n## 2. Train-step time (ms), 1D conv net, batch 16")
    print(
        f"{'K':>3} {'default unroll':>15} {'python loop':>12} {'ratio':>6} {'rolled':>9} {'rolled ratio':>13}"
    )
    for k in (1, 5, 20):
        data = data_1d(k, key)
        t = step_seconds({name: train_step(fn) for name, fn in variants(k).items()}, params, data)
        loop = t["python loop"]
        print(
            f"{k:>3} {1e3 * t['default unroll']:15.2f} {1e3 * loop:12.2f} {t['default unroll'] / loop:6.2f} "
            f"{1e3 * t['rolled (unroll=1)']:9.2f} {t['rolled (unroll=1)'] / loop:13.2f}"
        )


def bench_memory(key):
    print(
        "\n## 3. Memory of the train step at K=200, 2D 64^2, batch 4, "
        "convs 1 -> 16 -> 16 -> 1 (3x3), rolled scans"
    )
    params = init_convnet(key, 2, (1, 16, 16, 1), 3)
    data = jax.random.normal(key, (4, 201, 64, 64, 1))
    print(f"{'variant':<28} {'temp MB':>9} {'total MB':>9} {'temp / no remat':>16}")
    base = None
    for name, options in [
        ("no remat", dict()),
        ("remat per step", dict(remat=True)),
        ("chunked sqrt(K)", dict(checkpoint_chunk_size="sqrt")),
        ("chunked sqrt(K) + remat", dict(checkpoint_chunk_size="sqrt", remat=True)),
    ]:
        conf = Supervised(200, unroll=1, **options)
        stats = train_step(configuration_loss(conf)).lower(params, data).compile().memory_analysis()
        temp = stats.temp_size_in_bytes
        total = temp + stats.argument_size_in_bytes + stats.output_size_in_bytes - stats.alias_size_in_bytes
        base = base or temp
        print(f"{name:<28} {temp / 1e6:9.1f} {total / 1e6:9.1f} {temp / base:16.3f}")


def main(argv):
    del argv
    print(f"backend: {jax.default_backend()}, devices: {jax.devices()}")
    key = jax.random.key(0)
    params = init_convnet(key, 1, (1, 32, 32, 1), 5)
    bench_compile(params, key)
    bench_step_time(params, key)
    bench_memory(key)


if __name__ == "__main__":
    app.run(main)
