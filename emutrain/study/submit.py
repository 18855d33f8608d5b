"""Study workers submitted through submitit (extra `cluster`): one call starts N workers of a study.

On a SLURM cluster the N workers are one job array (`submitit.AutoExecutor` picks SLURM where `sbatch`
exists); elsewhere submitit's local executor starts them as processes of this machine. Each worker is
`run_worker(config, workdir)`: the workers divide the combinations by the claim protocol of
`emutrain.study.claims`, so no scheduling happens here. The executor's parameters come from
`config.submitit` (`timeout_min`, `slurm_partition`, `gpus_per_node`, ...; None values are left out),
its logs and pickles go to `<workdir>/submitit`. The local executor gives every job the same GPUs
(`gpus_per_node`): on a machine with several GPUs start one worker per GPU yourself (docs/guides/studies.md).
"""

from __future__ import annotations

import os
from typing import Any

import ml_collections

from emutrain.study.execute import check_study, run_worker

__all__ = ["SUBMITIT_DIR", "check_workers", "study_worker", "submit_workers"]

SUBMITIT_DIR = "submitit"
DEFAULT_PARAMETERS = {"timeout_min": 24 * 60}
"""Where `config.submitit` does not say otherwise (submitit's local executor stops a job after 2 min)."""


def check_workers(value: Any) -> int:
    """`value` as a number of workers; ValueError naming `workers` unless it is an int >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"workers must be an int >= 1, got {value!r}")
    return value


def study_worker(config: dict[str, Any], workdir: str) -> list[str]:
    """One submitted worker: `run_worker` on the study config (a plain dict) without progress bars;
    returns the names of the combinations it trained to completion."""
    trained = run_worker(ml_collections.ConfigDict(config), workdir, progress_bar=False)
    return [run.name for run in trained]


def _parameters(config: Any) -> dict[str, Any]:
    parameters = config.get("submitit") or {}
    parameters = parameters.to_dict() if hasattr(parameters, "to_dict") else dict(parameters)
    return {**DEFAULT_PARAMETERS, **{key: value for key, value in parameters.items() if value is not None}}


def submit_workers(config: Any, workdir: str | os.PathLike, workers: int, *,
                   cluster: str | None = None) -> list[Any]:
    """Submits `workers` study workers on `workdir` and returns their submitit jobs
    (`job.result()` waits for a worker and returns `study_worker`'s list).

    Args:
      config: a study config (checked here, before anything is submitted).
      workdir: the study directory every worker shares.
      workers: how many workers, an int >= 1.
      cluster: submitit's executor (`"slurm"`, `"local"`, ...); None: submitit's choice for this machine.

    Raises:
      ValueError: `workers` is not an int >= 1, or a malformed study config.
      ImportError: submitit is not installed (`pip install "emutrain[cluster]"`).
    """
    workers = check_workers(workers)
    check_study(config)
    try:
        import submitit
    except ImportError as error:
        raise ImportError('--workers needs submitit: pip install "emutrain[cluster]"') from error
    workdir = os.path.abspath(os.fspath(workdir))
    executor = submitit.AutoExecutor(folder=os.path.join(workdir, SUBMITIT_DIR), cluster=cluster)
    executor.update_parameters(name="emutrain-study", **_parameters(config))
    study = config.to_dict() if hasattr(config, "to_dict") else dict(config)
    with executor.batch():
        jobs = [executor.submit(study_worker, study, workdir) for _ in range(workers)]
    return jobs
