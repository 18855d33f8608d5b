"""Multi-process runs: joining the cluster from a config group, and the checks a run does before any work.

`config.distributed` (configs/default.py) is a group:

* `coordinator_address` (`"host:port"` of process 0), `num_processes`, `process_id`, `local_device_ids`
  (`"0,1"` or a sequence of ints): any of them given -> `jax.distributed.initialize` with exactly those
  (JAX fills the others in from the cluster environment where it can, e.g. SLURM or Open MPI);
* `auto`: True -> `jax.distributed.initialize()` detects the cluster on its own (Cloud TPU pod slices,
  SLURM, Open MPI, Kubernetes, ...);
* none given and `auto=False` -> one process, nothing is initialized.

The pipelines (train, evaluate, generate) call `initialize_distributed(config.distributed)` before any
other JAX work. Every process then runs the same command; the workdir must be on a filesystem all
processes share (Orbax writes one checkpoint from all of them, process 0 writes events and plots).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

import jax
from absl import flags, logging

from emutrain.validation import check_int

__all__ = [
    "DISTRIBUTED_FIELDS",
    "check_distributed_switch",
    "check_global_batch",
    "initialize_distributed",
    "nearest_multiples",
    "parse_flags",
]

DISTRIBUTED_FIELDS = ("coordinator_address", "num_processes", "process_id", "local_device_ids", "auto")
"""The fields of a `config.distributed` group."""

_BOOL_HINT = (
    "config.distributed is a group, not a bool: use --config.distributed.auto=True to detect the "
    "cluster (Cloud TPU, SLURM, Open MPI, ...), or give --config.distributed.coordinator_address=HOST:PORT "
    "--config.distributed.num_processes=N --config.distributed.process_id=I"
)


def _local_device_ids(value: Any) -> list[int] | None:
    if value is None:
        return None
    if isinstance(value, str):
        parts = [part.strip() for part in value.split(",") if part.strip()]
        if not all(part.isdigit() for part in parts) or not parts:
            raise ValueError(
                f"config.distributed.local_device_ids must be comma-separated device ids like '0,1', "
                f"got {value!r}"
            )
        return [int(part) for part in parts]
    if isinstance(value, Sequence):
        return [check_int("config.distributed.local_device_ids[i]", v, minimum=0) for v in value]
    return [check_int("config.distributed.local_device_ids", value, minimum=0)]


def initialize_distributed(distributed: Mapping[str, Any] | None) -> bool:
    """Joins a multi-process run as `distributed` (a `config.distributed` group) says; returns whether
    `jax.distributed` is initialized afterwards. Call it once per process before any other JAX work;
    calling it again (e.g. a notebook re-running a cell) leaves an initialized runtime alone.

    Raises:
      TypeError: `distributed` is True (the old `--config.distributed=True`) or not a mapping (None and
        False mean one process).
      ValueError: an unknown field, or `auto=True` together with explicit fields.
    """
    if distributed is None:
        return jax.distributed.is_initialized()
    if distributed is False:  # the older schema's "one process"
        return jax.distributed.is_initialized()
    if isinstance(distributed, bool):
        raise TypeError(f"{_BOOL_HINT}; got config.distributed={distributed!r}")
    if not isinstance(distributed, Mapping) and not hasattr(distributed, "items"):
        raise TypeError(f"config.distributed must be a group (ConfigDict or mapping), got {distributed!r}")
    fields = dict(distributed.items())
    unknown = sorted(set(fields) - set(DISTRIBUTED_FIELDS))
    if unknown:
        raise ValueError(f"config.distributed has unknown fields {unknown}; allowed: {DISTRIBUTED_FIELDS}")
    auto = fields.get("auto", False)
    if not isinstance(auto, bool):
        raise TypeError(f"config.distributed.auto must be a bool, got {auto!r}")
    explicit = {
        "coordinator_address": fields.get("coordinator_address"),
        "num_processes": fields.get("num_processes"),
        "process_id": fields.get("process_id"),
        "local_device_ids": _local_device_ids(fields.get("local_device_ids")),
    }
    explicit = {name: value for name, value in explicit.items() if value is not None}
    if "num_processes" in explicit:
        check_int("config.distributed.num_processes", explicit["num_processes"], minimum=1)
    if "process_id" in explicit:
        check_int("config.distributed.process_id", explicit["process_id"], minimum=0)
    if auto and explicit:
        raise ValueError(
            f"config.distributed.auto=True detects the cluster itself; give no explicit fields with it, "
            f"got {sorted(explicit)}"
        )
    if not (auto or explicit):
        return jax.distributed.is_initialized()
    if jax.distributed.is_initialized():
        logging.info("jax.distributed is already initialized; config.distributed left unused")
        return True
    jax.distributed.initialize(**explicit)
    logging.info(
        "joined a run of %d processes as process %d (%d local of %d devices)",
        jax.process_count(),
        jax.process_index(),
        jax.local_device_count(),
        jax.device_count(),
    )
    return True


def nearest_multiples(value: int, factor: int) -> list[int]:
    """The positive multiples of `factor` nearest to `value` from below and above (one when `value` is
    below `factor`)."""
    below = value // factor * factor
    return [m for m in (below, below + factor) if m > 0]


def check_global_batch(batch_size: int, num_devices: int, *, flag: str = "--config.train.batch_size") -> None:
    """Raises ValueError, naming `flag`, the device count and the nearest batch sizes that work, unless
    the global batch splits evenly over `num_devices` (each device gets the same number of windows)."""
    check_int("batch_size", batch_size, minimum=1)
    check_int("num_devices", num_devices, minimum=1)
    if batch_size % num_devices:
        options = " or ".join(str(m) for m in nearest_multiples(batch_size, num_devices))
        raise ValueError(
            f"{flag}={batch_size} does not split over {num_devices} devices: the global batch must be a "
            f"multiple of {num_devices}, e.g. {flag}={options.replace(' or ', f' or {flag}=')}"
        )


def check_distributed_switch(argv: list[str]) -> None:
    """Exits with how to use the `config.distributed` group when `argv` holds its old bool form
    `--config.distributed=True`, instead of a parse error."""
    for arg in argv[1:]:
        name, has_value, value = arg.partition("=")
        if name in ("--config.distributed", "--noconfig.distributed") and (
            not has_value or value.strip().lower() in ("true", "false", "1", "0", "yes", "no")
        ):
            sys.exit(f"FATAL Flags parsing error: {_BOOL_HINT}; got {arg}")


def parse_flags(argv: list[str]) -> list[str]:
    """`absl.app.run`'s flags parser: parses the flags like absl, after `check_distributed_switch`."""
    check_distributed_switch(argv)
    try:
        return flags.FLAGS(argv)
    except flags.Error as error:
        sys.exit(f"FATAL Flags parsing error: {error}\nPass --helpshort or --helpfull to see help on flags.")
