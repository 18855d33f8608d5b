"""`emutrain JOB [flags]`: the flags of a job, the config by path or by name, and one-line user errors.

Flags (absl; every job): `--config=PATH_OR_NAME[:variant]` with `--config.<field>=value` overrides,
`--workdir=DIR`, `--verbose` (a user error's traceback too); `emutrain study` also takes `--workers=N`
(submit N workers through submitit) and `--rebuild_tables`. `PATH_OR_NAME` is a config file, relative to
the current directory, or the name of a shipped config (`default`, `scenario`, `studies/apebench_1d`, ...;
`emutrain.config_files.config_names()`); a path `configs/<name>.py` that is not a file under the current
directory is the shipped config `<name>` too. Relative paths (the config file, the workdir,
`config.data_dir`, `config.dataset_dir`) are relative to the current directory.
"""

from __future__ import annotations

import os
import sys

from absl import app, flags
from ml_collections import config_flags

from emutrain.cli.errors import UserError, fail, flag_message, interrupted, one_line
from emutrain.cli.jobs import JOBS, Job
from emutrain.config_files import config_module, config_names
from emutrain.train.console import quiet_third_party_logs
from emutrain.train.distributed import check_distributed_switch
from emutrain.train.lock import WorkdirLockedError

__all__ = ["USAGE", "main", "resolve_config_path"]

USAGE = "usage: emutrain {" + ",".join(JOBS) + "} [--config=PATH_OR_NAME[:variant]] [--workdir=DIR] [flags]"
_VERBOSE = ("--verbose", "--verbose=true", "--verbose=True", "--debug")
_CHECK_ERRORS = (ValueError, TypeError, OSError, KeyError)
"""What a job's checks raise on a mistake in the request (before any work)."""
_HELP = ("-h", "--help", "-?", "--helpshort", "--helpfull", "--helpxml")
"""absl's help flags (and `-h`): each prints the help and exits, with status 0 here (absl's is 1)."""
_OPTIONS = ("num_plotted_trajectories", "workers", "rebuild_tables")
"""The job-specific flags, passed to a job's `check` and `run` as `options`."""


def resolve_config_path(value: str) -> str:
    """`--config`'s value with its file made absolute: a file relative to the current directory, else
    the shipped config of that name (`default`, `configs/default.py`, `studies/apebench_1d`).

    Raises:
      UserError: neither a file nor a shipped config.
    """
    path, colon, variant = value.partition(":")
    if path and os.path.isfile(path):
        return os.path.abspath(path) + colon + variant
    name = path.removeprefix("configs/").removesuffix(".py")
    if path and name in config_names():
        return config_module(name).__file__ + colon + variant
    raise UserError(
        f"--config={value!r}: no config file {path!r} under {os.getcwd()} and no shipped config of that "
        f"name; shipped configs: {', '.join(config_names())}"
    )


def _with_config_path(argv: list[str]) -> list[str]:
    """`argv` with the value of `--config` resolved (`--config=X` or `--config X`)."""
    out = list(argv)
    for i, arg in enumerate(out):
        if arg.startswith("--config="):
            out[i] = "--config=" + resolve_config_path(arg.partition("=")[2])
        elif arg == "--config" and i + 1 < len(out):
            out[i + 1] = resolve_config_path(out[i + 1])
    return out


def _define_flags(job: Job, argv: list[str]) -> None:
    """Defines the job's flags on `absl.flags.FLAGS`; ml_collections reads the config overrides from
    `argv` here already."""
    default = None if job.default_config is None else config_module(job.default_config).__file__
    config_flags.DEFINE_config_file(
        "config", default, "Experiment config: a file or a shipped config's name, [:variant].",
        lock_config=job.lock_config, sys_argv=argv,
    )
    flags.DEFINE_string("workdir", job.default_workdir, "Run directory, relative to the current directory.")
    flags.DEFINE_bool("verbose", False, "Show the traceback of a user error.")
    flags.DEFINE_alias("debug", "verbose")
    names = ["config", "workdir", "verbose"]
    if job.name in ("evaluate", "generate"):
        flags.DEFINE_integer("num_plotted_trajectories", 3, "Trajectories drawn in the plots.")
        names.append("num_plotted_trajectories")
    if job.name == "study":
        flags.DEFINE_integer("workers", None, "Submit this many workers through submitit and return.")
        flags.DEFINE_bool("rebuild_tables", False, "Only rebuild the tables and plots of the finished runs.")
        names += ["workers", "rebuild_tables"]
    for name in names:  # --help lists the key flags of the script that was started
        flags.FLAGS.register_key_flag_for_module(sys.argv[0], flags.FLAGS[name])


def _parse(argv: list[str]) -> list[str]:
    """`absl.app.run`'s flags parser: as `parse_flags`, with every flag error one line and exit 2."""
    check_distributed_switch(argv)
    try:
        return flags.FLAGS(["--help" if arg == "-h" else arg for arg in argv])
    except (flags.Error, AttributeError, *_CHECK_ERRORS) as error:
        fail(flag_message(error, argv), verbose=_verbose(argv))
    except SystemExit as exit_:  # absl printed the help asked for and exits with status 1
        if exit_.code == 1 and any(arg in _HELP for arg in argv[1:]):
            raise SystemExit(0) from None
        raise
    raise AssertionError("unreachable")


def _verbose(argv: list[str]) -> bool:
    return any(arg in _VERBOSE for arg in argv)


def _workdir(value: str | None, job: Job) -> str:
    if value is None:
        raise UserError(f"--workdir is required by `emutrain {job.name}`")
    if not value.strip():
        raise UserError(f"--workdir must be a directory path, got {value!r}")
    return os.path.abspath(value)


def _run(job: Job, argv: list[str]) -> None:
    """Checks the request (user errors: one line, exit 2), then runs the job."""
    values = flags.FLAGS
    try:
        if len(argv) > 1:
            raise UserError(f"unexpected arguments {argv[1:]}: every option is a --flag")
        workdir = _workdir(values.workdir, job)
        config = values.config
        if config is None and job.name != "evaluate":
            raise UserError(f"--config is required by `emutrain {job.name}`")
        options = {name: values[name].value for name in _OPTIONS if name in values}
        job.check(config, workdir, options)
    except (UserError, *_CHECK_ERRORS) as error:
        fail(one_line(error), verbose=values.verbose)
    try:
        job.run(config, workdir, options)
    except WorkdirLockedError as error:
        fail(one_line(error), verbose=values.verbose)


def main(argv: list[str] | None = None) -> None:
    """`emutrain JOB [flags]` (`argv` defaults to `sys.argv`): parses the job's flags and runs it; Ctrl-C
    outside the training loop (which checkpoints and stops by itself) is one line `interrupted: ...`
    and exit status 130."""
    argv = list(sys.argv if argv is None else argv)
    prog, args = os.path.basename(argv[0]) if argv else "emutrain", argv[1:]
    if not args or args[0] in ("-h", "--help", "help"):
        stream = sys.stdout if args else sys.stderr  # asked for, or missing the job
        stream.write(USAGE + "\n" + "\n".join(f"  {n:9} {j.summary}" for n, j in JOBS.items()) + "\n")
        raise SystemExit(0 if args else 2)
    if args[0] not in JOBS:
        fail(f"unknown job {args[0]!r}; jobs: {', '.join(JOBS)}")
    job, argv = JOBS[args[0]], [f"{prog} {args[0]}", *args[1:]]
    quiet_third_party_logs()  # before JAX probes its backends
    try:
        argv = _with_config_path(argv)
        _define_flags(job, argv)
    except UserError as error:
        fail(str(error), verbose=_verbose(argv))
    except (AttributeError, flags.Error, *_CHECK_ERRORS) as error:  # an override ml_collections refuses
        fail(flag_message(error, argv), verbose=_verbose(argv))
    try:
        app.run(lambda rest: _run(job, rest), argv=argv, flags_parser=_parse)
    except KeyboardInterrupt as error:  # Ctrl-C outside the training loop (e.g. dataset generation)
        interrupted(one_line(error) or f"emutrain {job.name} stopped", verbose=_verbose(argv))
