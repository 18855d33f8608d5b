"""APEBench 0.1.1's `run_experiment` against emutrain's study on the same scenario, side by side.

Both train the same network on the same scenario with the same optimizer string for the same seeds and
report the wall time per seed and each seed's rollout error (geometric mean of the mean nRMSE over test
steps 1..100, APEBench's headline number). APEBench trains its seeds vmapped in one call
(`num_seeds`); emutrain trains them as one `nn.Ensemble`. APEBench needs its own environment (it pins
other versions of the stack): install it there from the package registry and pass that interpreter:

    python -m venv /work/peer && /work/peer/bin/pip install apebench==0.1.1
    python pipelines/benchmark_study.py --peer_python=/work/peer/bin/python
    python pipelines/benchmark_study.py --peer_python=/work/peer/bin/python --num_steps=1000  # shorter

`--num_steps` below APEBench's 10,000 shortens both runs alike (warm-up kept at a fifth of the steps).
Each side runs in its own subprocess, one after the other; the wall and CPU times (all threads of the
process) are measured inside it around the training call (imports and JAX start-up excluded; data
generation, compilation, training and the test rollouts included). The machine's load average is printed
next to them: on a shared machine the wall times depend on it, the CPU times much less.
"""

import json
import os
import subprocess
import sys
import tempfile
import textwrap

from absl import app, flags

flags.DEFINE_string("peer_python", "/work/peer/bin/python", "Python of an environment with apebench 0.1.1.")
flags.DEFINE_string("scenario", "diff_adv", "Scenario name (the same in both).")
flags.DEFINE_string("network", "Conv;34;10;relu", "Architecture string (the same in both).")
flags.DEFINE_integer("num_seeds", 3, "Seeds 0..num_seeds-1, trained at once on both sides.")
flags.DEFINE_integer("num_steps", 10_000, "Optimizer steps (APEBench's default: 10,000).")
flags.DEFINE_string("workdir", None, "emutrain's study directory (default: a temporary one).")
flags.DEFINE_bool("skip_peer", False, "Run emutrain's side only.")
FLAGS = flags.FLAGS

_PEER = textwrap.dedent("""
    import json, sys, time
    import numpy as np
    import apebench

    scenario, network, num_seeds, optim_config = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    start, cpu = time.perf_counter(), time.process_time()
    df, _ = apebench.run_experiment(
        scenario=scenario, task="predict", net=network, train="one", start_seed=0, num_seeds=num_seeds,
        optim_config=optim_config,
    )
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    columns = [f"mean_nRMSE_{i:04d}" for i in range(1, 101)]
    curves = df[columns].to_numpy(dtype=np.float64)
    gmean = np.exp(np.log(curves).mean(axis=1))
    print("RESULT " + json.dumps({"seconds": seconds, "cpu_seconds": cpu, "gmean_nrmse": gmean.tolist()}))
""")

_EMUTRAIN = textwrap.dedent("""
    import json, sys, time
    import numpy as np
    from emutrain import study
    from emutrain.config_files import load_config

    scenario, network, num_seeds, optimizer, workdir = sys.argv[1:6]
    config = load_config("studies/apebench_1d")
    config.scenarios, config.networks, config.seeds = [scenario], [network], list(range(int(num_seeds)))
    config.optimizer = optimizer
    config.train.progress_bar = False
    config.plots = False
    start, cpu = time.perf_counter(), time.process_time()
    study.run_study(config, workdir, progress_bar=False)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    import csv
    with open(f"{workdir}/summary.csv") as file:
        rows = list(csv.DictReader(file))
    gmean = [float(row["gmean_nrmse"]) for row in rows]
    print("RESULT " + json.dumps({"seconds": seconds, "cpu_seconds": cpu, "gmean_nrmse": gmean}))
""")


def _run(python: str, script: str, args: list[str]) -> dict:
    load_before = os.getloadavg()
    process = subprocess.run(
        [python, "-c", script, *args], capture_output=True, text=True, cwd=os.path.dirname(os.path.dirname(
            os.path.abspath(__file__))),
    )
    load_after = os.getloadavg()
    lines = [line for line in process.stdout.splitlines() if line.startswith("RESULT ")]
    if process.returncode or not lines:
        raise RuntimeError(f"{python} failed (exit {process.returncode}):\n{process.stderr[-4000:]}")
    result = json.loads(lines[-1][len("RESULT "):])
    result["load"] = (load_before[0], load_after[0])
    return result


def _report(name: str, result: dict, num_seeds: int) -> None:
    gmean = result["gmean_nrmse"]
    print(
        f"{name:9s} {result['seconds']:8.1f} s total, {result['seconds'] / num_seeds:7.1f} s per seed "
        f"(CPU time {result['cpu_seconds']:.1f} s, {result['cpu_seconds'] / num_seeds:.1f} s per seed); "
        f"gmean nRMSE (steps 1..100) per seed {', '.join(f'{g:.4g}' for g in gmean)} "
        f"(mean {sum(gmean) / len(gmean):.4g}); "
        f"1-min load average {result['load'][0]:.1f} -> {result['load'][1]:.1f} on {os.cpu_count()} CPUs"
    )


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    steps = FLAGS.num_steps
    optimizer = f"adam;{steps};warmup_cosine;0.0;1e-3;{steps // 5}"
    args = [FLAGS.scenario, FLAGS.network, str(FLAGS.num_seeds)]
    print(f"{FLAGS.scenario} 1D, {FLAGS.network}, method one, seeds 0..{FLAGS.num_seeds - 1}, {optimizer}")
    with tempfile.TemporaryDirectory() as temporary:
        workdir = FLAGS.workdir or os.path.join(temporary, "study")
        ours = _run(sys.executable, _EMUTRAIN, [*args, optimizer, workdir])
        _report("emutrain", ours, FLAGS.num_seeds)
        if FLAGS.skip_peer:
            return
        peer = _run(FLAGS.peer_python, _PEER, [*args, optimizer])
        _report("APEBench", peer, FLAGS.num_seeds)
        print(
            f"speed-up per seed: {peer['seconds'] / ours['seconds']:.2f}x wall time, "
            f"{peer['cpu_seconds'] / ours['cpu_seconds']:.2f}x CPU time"
        )


if __name__ == "__main__":
    app.run(main)
