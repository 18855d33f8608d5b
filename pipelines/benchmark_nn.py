r"""Forward+backward throughput of every emutrain.nn architecture, side by side in one run.

For each architecture: a jitted ``jax.value_and_grad`` of a mean-squared error over the parameters
(the split / merge(copy=True) train-step pattern), timed after compilation; the figure is the median
over ``--repeats`` calls, reported as samples/s (batch / median seconds), with the compile time.

* 1D: N = 160, batch 32, one channel in and out, the ~30k-parameter presets of ``emutrain.nn.presets``.
* 2D: 128^2, batch 32, one channel, small widths (printed) so the run finishes on a CPU; the MLP is
  left out in 2D (its dense layers on 128^2 cells dominate everything else).

    python pipelines/benchmark_nn.py
    python pipelines/benchmark_nn.py --dims=1 --repeats=20
"""

from __future__ import annotations

import functools
import statistics
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
from absl import app, flags
from flax import nnx

from emutrain import nn

_DIMS = flags.DEFINE_list("dims", ["1", "2"], "Spatial dimensions to benchmark (1 and/or 2).")
_REPEATS = flags.DEFINE_integer("repeats", 7, "Timed calls per architecture (median reported).")
_BATCH = flags.DEFINE_integer("batch", 32, "Batch size.")
_N_1D = flags.DEFINE_integer("num_points_1d", 160, "Grid points in 1D.")
_N_2D = flags.DEFINE_integer("num_points_2d", 128, "Grid points per axis in 2D.")


def _models_1d(num_points: int) -> dict[str, Callable[[nnx.Rngs], nnx.Module]]:
    p = nn.presets
    return {
        "MLP": functools.partial(p.mlp_1d_30k, 1, 1, num_points=num_points),
        "ConvNet": functools.partial(p.conv_net_1d_30k, 1, 1),
        "ResNet (classic)": functools.partial(p.resnet_1d_30k, 1, 1),
        "ResNet (modern)": functools.partial(p.modern_resnet_1d_30k, 1, 1),
        "ResNet (classic, bf16 compute)": functools.partial(
            p.resnet_1d_30k, 1, 1, compute_dtype=jnp.bfloat16
        ),
        "UNet": functools.partial(p.unet_1d_30k, 1, 1),
        "DilatedResNet": functools.partial(p.dilated_resnet_1d_30k, 1, 1),
        "FNO": functools.partial(p.fno_1d_30k, 1, 1),
    }


def _models_2d() -> dict[str, Callable[[nnx.Rngs], nnx.Module]]:
    return {
        "ConvNet (8 ch, depth 3)": functools.partial(nn.ConvNet, 2, 1, 1, hidden_channels=8, depth=3),
        "ResNet (classic, 8 ch, 2 blocks)": functools.partial(
            nn.ResNet, 2, 1, 1, hidden_channels=8, num_blocks=2
        ),
        "ResNet (modern, 8 ch, 2 blocks)": functools.partial(
            nn.ResNet, 2, 1, 1, hidden_channels=8, num_blocks=2, block="modern"
        ),
        "ResNet (classic, 8 ch, 2 blocks, bf16)": functools.partial(
            nn.ResNet, 2, 1, 1, hidden_channels=8, num_blocks=2, compute_dtype=jnp.bfloat16
        ),
        "UNet (4 ch, 2 levels)": functools.partial(nn.UNet, 2, 1, 1, hidden_channels=4, num_levels=2),
        "DilatedResNet (8 ch, 1 block)": functools.partial(
            nn.DilatedResNet, 2, 1, 1, hidden_channels=8, num_blocks=1
        ),
        "FNO (8 ch, 8 modes, 2 blocks)": functools.partial(
            nn.FNO, 2, 1, 1, hidden_channels=8, modes=8, num_blocks=2
        ),
    }


def _time_forward_backward(build: Callable[..., nnx.Module], shape: tuple[int, ...], repeats: int) -> dict:
    model = build(rngs=nnx.Rngs(0))
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    x = jax.random.normal(jax.random.key(1), shape)
    y = jax.random.normal(jax.random.key(2), shape)

    @jax.jit
    def loss_and_grad(p, u, target):
        return jax.value_and_grad(
            lambda q: jnp.mean((nnx.merge(graphdef, q, rest, copy=True)(u) - target) ** 2)
        )(p)

    start = time.perf_counter()
    jax.block_until_ready(loss_and_grad(params, x, y))
    compile_s = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(loss_and_grad(params, x, y))
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    return dict(
        params=nn.count_parameters(model),
        compile_s=compile_s,
        median_ms=1e3 * median,
        samples_per_s=shape[0] / median,
    )


def _report(title: str, models: dict, shape: tuple[int, ...], repeats: int) -> None:
    print(
        f"\n{title}: input {shape}, forward+backward, median of {repeats} after compile, "
        f"{jax.devices()[0].platform}"
    )
    print(f"{'architecture':42s} {'params':>8s} {'compile s':>10s} {'step ms':>9s} {'samples/s':>10s}")
    for name, build in models.items():
        r = _time_forward_backward(build, shape, repeats)
        print(
            f"{name:42s} {r['params']:8d} {r['compile_s']:10.2f} {r['median_ms']:9.2f} "
            f"{r['samples_per_s']:10.0f}",
            flush=True,
        )


def main(argv: list[str]) -> None:
    del argv
    batch, repeats = _BATCH.value, _REPEATS.value
    if "1" in _DIMS.value:
        n = _N_1D.value
        _report(f"1D N={n} B={batch} (~30k-parameter presets)", _models_1d(n), (batch, n, 1), repeats)
    if "2" in _DIMS.value:
        n = _N_2D.value
        _report(f"2D {n}^2 B={batch} (small widths)", _models_2d(), (batch, n, n, 1), repeats)


if __name__ == "__main__":
    app.run(main)
