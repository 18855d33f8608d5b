"""Benchmark of the reference solvers: rollout throughput after compilation.

    python pipelines/benchmark_physics.py

Rollouts (``emutrain.physics.rollout``, one ``lax.scan``, jitted) of
  - 40 initial conditions x 50 steps at N = 160 in 1D: linear advection-diffusion and Burgers (ETDRK2),
  - 30 initial conditions x 100 steps at 128^2 in 2D: Navier-Stokes vorticity (ETDRK2),
in float32. Prints compile time, the median wall time of a rollout over ``--repeats`` runs, and states/s
(``ICs x steps / time``) side by side in one table.
"""

import time

import jax
import numpy as np
from absl import app, flags

import emutrain.physics as ep

flags.DEFINE_integer("repeats", 5, "Timed rollouts per case (the median is reported).")
FLAGS = flags.FLAGS


def _cases():
    ic_1d = ep.RandomTruncatedFourierSeries(1, cutoff=5, max_one=True)
    ic_2d = ep.RandomTruncatedFourierSeries(2, cutoff=5, max_one=True)
    return [
        (
            "1D advection-diffusion",
            ep.AdvectionDiffusion(1, 1.0, 160, 0.01, velocity=1.0, diffusivity=0.01),
            ic_1d,
            160,
            40,
            50,
        ),
        ("1D Burgers (ETDRK2)", ep.Burgers(1, 1.0, 160, 0.01), ic_1d, 160, 40, 50),
        (
            "2D NS vorticity (ETDRK2)",
            ep.NavierStokesVorticity(2, 2 * np.pi, 128, 0.01, diffusivity=1e-3),
            ic_2d,
            128,
            30,
            100,
        ),
    ]


def _measure(stepper, distribution, num_points, num_ics, num_steps, repeats):
    u0 = ep.build_ic_set(distribution, num_points=num_points, num_samples=num_ics, key=jax.random.PRNGKey(0))
    start = time.perf_counter()
    run = jax.jit(ep.rollout(stepper, num_steps)).lower(u0).compile()
    compile_s = time.perf_counter() - start
    run(u0).block_until_ready()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        traj = run(u0)
        traj.block_until_ready()
        times.append(time.perf_counter() - start)
    if not np.isfinite(np.asarray(traj)).all():
        raise RuntimeError(f"{stepper!r} produced non-finite states")
    return compile_s, float(np.median(times))


def main(argv):
    del argv
    print(f"device: {jax.devices()[0].device_kind} ({jax.default_backend()}), float32")
    header = (
        f"{'case':<26} {'ICs x steps':>12} {'grid':>8} {'compile s':>10} {'rollout ms':>11} {'states/s':>12}"
    )
    print(header)
    print("-" * len(header))
    for name, stepper, dist, n, ics, steps in _cases():
        compile_s, run_s = _measure(stepper, dist, n, ics, steps, FLAGS.repeats)
        grid = f"{n}" if stepper.num_spatial_dims == 1 else f"{n}^{stepper.num_spatial_dims}"
        print(
            f"{name:<26} {f'{ics} x {steps}':>12} {grid:>8} {compile_s:>10.2f} "
            f"{1e3 * run_s:>11.1f} {ics * steps / run_s:>12.0f}"
        )


if __name__ == "__main__":
    app.run(main)
