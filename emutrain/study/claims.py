"""Claims: how independent workers sharing one study workdir divide its combinations.

A worker claims a combination by creating its claim file with `O_CREAT | O_EXCL` (atomic on local disks
and on NFSv3+): exactly one creator succeeds. The file holds its owner as JSON (host, PID, start time in
UTC and a random token). While the claim is held, a daemon thread refreshes the file's mtime every
`heartbeat_interval(timeout_s)` seconds (the heartbeat); a claim whose mtime is older than `timeout_s`
belongs to a worker that is gone (killed, preempted, its node lost) and is taken over:

1. the taker moves the stale file aside with `os.rename` to a name of its own; of several takers of one
   file, only one rename finds it (the others get `FileNotFoundError`);
2. the winner checks that what it moved is the claim it judged stale (same content, mtime still stale);
   a claim that was renewed or replaced meanwhile is put back with `os.link`, which never overwrites;
3. the stale file is removed and the taker claims the combination with `O_EXCL` like any other worker.

A heartbeat that finds the file holding another token, or finds it gone on two beats in a row (a taker
that moved a live claim aside puts it back at once), marks the claim `lost` and stops.
`Claim.release` removes the file only while it still holds the claim's token.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import math
import os
import socket
import threading
import time
import uuid
from typing import Any

from absl import logging

from emutrain.train.lock import create_owner_file, read_owner_file

__all__ = [
    "DEFAULT_TIMEOUT_S", "Claim", "check_timeout", "heartbeat_interval", "is_stale", "poll_interval",
    "try_claim",
]

DEFAULT_TIMEOUT_S = 300.0
"""A claim whose heartbeat is older than this (seconds) is taken over (`config.claim_timeout_s`)."""
_MAX_HEARTBEAT_S = 10.0
_MAX_POLL_S = 1.0


def check_timeout(value: Any, name: str = "config.claim_timeout_s") -> float:
    """`value` as a float of seconds; ValueError naming `name` unless it is a finite number > 0."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not number or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number of seconds > 0, got {value!r}")
    return float(value)


def heartbeat_interval(timeout_s: float) -> float:
    """Seconds between heartbeats: a quarter of the timeout, at most 10 s."""
    return min(timeout_s / 4, _MAX_HEARTBEAT_S)


def poll_interval(timeout_s: float) -> float:
    """Seconds between two looks of a worker waiting for a claim: the heartbeat interval, at most 1 s."""
    return min(heartbeat_interval(timeout_s), _MAX_POLL_S)


def _token(text: str | None) -> str | None:
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        return json.loads(text).get("token")
    return None


def is_stale(path: str, timeout_s: float) -> bool:
    """Whether the claim file at `path` exists and its heartbeat (mtime) is older than `timeout_s`."""
    try:
        return time.time() - os.path.getmtime(path) > timeout_s
    except FileNotFoundError:
        return False


class Claim:
    """A held claim: its file, owner record and heartbeat thread. Use as a context manager, or call
    `release` when the combination is finished or abandoned."""

    def __init__(self, path: str, owner: dict[str, Any], interval_s: float):
        self.path, self.owner, self.interval_s = path, owner, interval_s
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"claim heartbeat {path}", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        missing = 0
        while not self._stop.wait(self.interval_s):
            text = read_owner_file(self.path)
            missing = missing + 1 if text is None else 0
            if missing > 1 or (text is not None and _token(text) != self.owner["token"]):
                self.lost = True
                logging.warning("claim %s was taken over by another worker (%s)", self.path, text)
                return
            with contextlib.suppress(FileNotFoundError):
                os.utime(self.path)

    def release(self) -> None:
        """Stops the heartbeat and removes the claim file if it is still this claim's."""
        self._stop.set()
        self._thread.join()
        if _token(read_owner_file(self.path)) == self.owner["token"]:
            with contextlib.suppress(FileNotFoundError):
                os.remove(self.path)

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.release()


def _owner() -> dict[str, Any]:
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "claimed": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "token": uuid.uuid4().hex,
    }


def _take_over(path: str, text: str, timeout_s: float) -> None:
    """Moves the stale claim (content `text`) aside and removes it; only one contender's rename finds the
    file, and one that moved a renewed or newer claim instead puts it back."""
    aside = f"{path}.stale-{uuid.uuid4().hex}"
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return
    if read_owner_file(aside) != text or not is_stale(aside, timeout_s):
        with contextlib.suppress(FileExistsError):
            os.link(aside, path)
    os.remove(aside)


def try_claim(path: str | os.PathLike, timeout_s: float) -> Claim | None:
    """Claims `path` (its directory created) and starts the claim's heartbeat; None when a live worker
    holds it. A stale claim (heartbeat older than `timeout_s`) is taken over first (module docstring).
    Of any number of concurrent callers, at most one gets the claim."""
    path = os.fspath(path)
    timeout_s = check_timeout(timeout_s, "timeout_s")
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    text = read_owner_file(path)
    if text is not None:
        if not is_stale(path, timeout_s):
            return None
        _take_over(path, text, timeout_s)
    owner = _owner()
    if not create_owner_file(path, owner):
        return None
    return Claim(path, owner, heartbeat_interval(timeout_s))
