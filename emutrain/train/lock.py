"""One run per workdir: `workdir_lock(workdir)` holds `<workdir>/emutrain.lock` while a run writes there.

The lock is a file created with `O_CREAT | O_EXCL` (atomic on local disks and on NFSv3+) holding its
owner as JSON: host, PID, start time (UTC) and, on Linux, the boot id and the process's start tick, so
that a PID reused after a crash or a reboot is not mistaken for the owner. A second run finds the file
and stops at once with `WorkdirLockedError`, one line naming the owner. A lock whose owner is dead (same
host: no such process, another boot, or another process under that PID) is stale: it is taken over with
a warning. An owner on another host cannot be checked; the message says which file to remove if that
run is gone.

Why no `flock`/`fcntl` lock (e.g. the `filelock` package's `FileLock`): such locks are released by the
kernel when the owner dies, but on network and FUSE filesystems they are unreliable: NFS mounted with
`nolock` makes them no-ops, and FUSE filesystems that do not implement locking (Cloud Storage FUSE
among them) keep them local to one machine, so two hosts would both get the lock. `filelock`'s
`SoftFileLock` is the same `O_EXCL` file as here but records no owner and cannot tell a stale lock.

Several processes of one `jax.distributed` run share the workdir: only process 0 takes the lock. Study
workers share a study's workdir: they take the locks of its run directories, and `check_unlocked` only
checks that no single run holds the study's own.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import socket
import time
from collections.abc import Iterator
from typing import Any

import jax
from absl import logging

__all__ = [
    "LOCK_FILE",
    "WorkdirLockedError",
    "check_unlocked",
    "create_owner_file",
    "read_owner_file",
    "workdir_lock",
]

LOCK_FILE = "emutrain.lock"
_UNREADABLE_GRACE_S = 10.0
"""An unparsable lock file younger than this is an owner still writing it; an older one is stale."""
_HELD: set[str] = set()
"""The lock files this process holds (a lock naming this PID that is not here is a stale one)."""


class WorkdirLockedError(RuntimeError):
    """Another live run holds the workdir; the message is one line naming it."""


def read_owner_file(path: str) -> str | None:
    """The text of the owner file at `path`, or None when there is none."""
    try:
        with open(path, encoding="utf-8") as file:
            return file.read()
    except FileNotFoundError:
        return None


def create_owner_file(path: str, owner: dict[str, Any]) -> bool:
    """Creates `path` with `O_CREAT | O_EXCL` holding `owner` as JSON; False when it exists already (of any
    number of concurrent creators, exactly one gets True)."""
    try:
        descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        json.dump(owner, file)
    return True


def _boot_id() -> str | None:
    with contextlib.suppress(OSError):
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as file:
            return file.read().strip()
    return None


def _start_tick(pid: int) -> int | None:
    """Field 22 of `/proc/<pid>/stat`, the process's start time in clock ticks since boot (Linux)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as file:
            return int(file.read().rsplit(")", 1)[1].split()[19])
    return None


def _owner() -> dict[str, Any]:
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "boot_id": _boot_id(),
        "start_tick": _start_tick(os.getpid()),
    }


def _is_stale(path: str, owner: dict[str, Any] | None) -> bool:
    """Whether the lock's owner is certainly gone; `owner` None: the file does not parse."""
    if owner is None:
        with contextlib.suppress(OSError):
            return time.time() - os.path.getmtime(path) > _UNREADABLE_GRACE_S
        return True
    if owner.get("host") != socket.gethostname():
        return False
    pid = owner.get("pid")
    if not isinstance(pid, int) or pid == os.getpid():
        return path not in _HELD
    if owner.get("boot_id") and owner.get("boot_id") != _boot_id():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, owned by another user
        return False
    tick = owner.get("start_tick")
    return tick is not None and _start_tick(pid) not in (None, tick)


def _parse(text: str | None) -> dict[str, Any] | None:
    with contextlib.suppress(ValueError, TypeError):
        owner = json.loads(text)
        return owner if isinstance(owner, dict) else None
    return None


def _take_over(path: str, text: str | None) -> None:
    """Moves the stale lock file (content `text`) aside; only one contender's rename of it succeeds, and
    one that moved a newer owner's file instead puts it back."""
    aside = f"{path}.stale-{os.getpid()}"
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return
    if read_owner_file(aside) != text:
        os.replace(aside, path)
    else:
        os.remove(aside)


def _acquire(path: str) -> None:
    for _ in range(3):
        if create_owner_file(path, _owner()):
            _HELD.add(path)
            return
        text = read_owner_file(path)
        owner = _parse(text)
        if text is not None and not _is_stale(path, owner):
            raise _locked_error(path, owner)
        if text is not None:
            logging.warning("taking over the stale lock of a run that is gone: %s %s", path, text.strip())
            _take_over(path, text)
    raise _locked_error(path, _parse(read_owner_file(path)))


def _locked_error(path: str, owner: dict[str, Any] | None) -> WorkdirLockedError:
    workdir = os.path.dirname(path)
    if owner is None:
        who = "another run (its lock file is being written or unreadable)"
    else:
        who = f"the run of PID {owner.get('pid')} on {owner.get('host')} since {owner.get('started')}"
    return WorkdirLockedError(
        f"workdir {workdir} is in use by {who}: wait for it to end or use another workdir (if that run is "
        f"gone, remove {path})"
    )


def check_unlocked(workdir: str | os.PathLike) -> None:
    """Raises `WorkdirLockedError` when a live run holds `<workdir>/emutrain.lock`; takes no lock.

    Raises:
      WorkdirLockedError: a live run holds the workdir (one line naming its host, PID and start time).
    """
    path = os.path.join(os.path.abspath(os.fspath(workdir)), LOCK_FILE)
    text = read_owner_file(path)
    if text is not None and not _is_stale(path, _parse(text)):
        raise _locked_error(path, _parse(text))


@contextlib.contextmanager
def workdir_lock(workdir: str | os.PathLike, *, process_index: int | None = None) -> Iterator[str | None]:
    """Holds `<workdir>/emutrain.lock` (created with `workdir`) for the duration of the block and yields
    its path; processes other than 0 (`process_index`, default `jax.process_index()`) take no lock and
    yield None.

    Raises:
      WorkdirLockedError: a live run holds the workdir (one line naming its host, PID and start time).
      TypeError: `workdir` is not a path.
    """
    if not isinstance(workdir, (str, os.PathLike)) or not os.fspath(workdir):
        raise TypeError(f"workdir must be a non-empty path, got {workdir!r}")
    if (jax.process_index() if process_index is None else process_index) != 0:
        yield None
        return
    workdir = os.path.abspath(os.fspath(workdir))
    os.makedirs(workdir, exist_ok=True)
    path = os.path.join(workdir, LOCK_FILE)
    _acquire(path)
    try:
        yield path
    finally:
        _HELD.discard(path)
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
