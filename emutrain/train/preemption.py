"""Preemption notices: when `fit` should stop early, at the same step on every process.

One process: a SIGTERM and SIGINT handler, installed while `fit` runs (in the main thread only: Python
delivers signals there), sets a flag that the loop reads after each dispatch. Ctrl-C (SIGINT) thus
stops like a SIGTERM, with the checkpoint of that step; the first one puts the previous SIGINT handler
back, so a second Ctrl-C raises `KeyboardInterrupt` at once (Python's default) without that checkpoint.
A signal the process ignores stays ignored (a shell starts background jobs with SIGINT ignored).

Several processes (`jax.distributed`): `jax.distributed.initialize` starts JAX's preemption sync
manager, whose own handler receives the SIGTERM (or the cluster's preemption notice) of any process and
tells the others; `jax.experimental.multihost_utils.reached_preemption_sync_point(i)`, called by every
process after every dispatch `i`, turns True on all of them at the same dispatch. A Python handler would
replace JAX's and leave the other processes uninformed, so none is installed then. Without the
preemption service (`jax_enable_preemption_service=False`) a multi-process run does not stop early: one
process stopping alone would leave the others waiting in the collective checkpoint write.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

import jax
from absl import logging
from jax._src import distributed as _jax_distributed
from jax.experimental import multihost_utils

from emutrain.validation import check_int

__all__ = ["PreemptionNotice"]

_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _handler_or_default(handler: Any) -> Any:
    # None: the previous handler was not installed from Python; the default is the closest
    return signal.SIG_DFL if handler is None else handler


def _sync_manager_running() -> bool:
    """Whether JAX's preemption sync manager runs (a `jax.distributed` run with the preemption service)."""
    state = _jax_distributed.global_state
    return state.client is not None and state.preemption_sync_manager is not None


class PreemptionNotice:
    """A context manager for the duration of `fit`: `reached(step)` after each dispatch says whether to
    stop there.

    Args:
      steps_per_dispatch: the run's dispatch size; the dispatch number `step // steps_per_dispatch` is
        the id every process passes to JAX's sync point (ids must advance by one per dispatch).
    """

    def __init__(self, steps_per_dispatch: int = 1):
        self.steps_per_dispatch = check_int("steps_per_dispatch", steps_per_dispatch, minimum=1)
        self.mode: str | None = None
        """`"sync"` (JAX's sync manager), `"signal"` (own SIGTERM and SIGINT handlers), `"request"` (not
        the main thread: only `request()`), or None (several processes without the preemption service)."""
        self.signal_name = "SIGTERM"
        """The signal that asked to stop (`"SIGTERM"` also for `request()` and JAX's sync manager)."""
        self._requested = threading.Event()
        self._previous: dict[int, Any] = {}

    def request(self) -> None:
        """Asks a single-process run to stop after the current dispatch, as SIGTERM or SIGINT does."""
        self._requested.set()

    def _on_signal(self, signum: int, frame: Any) -> None:
        del frame
        self.signal_name = signal.Signals(signum).name
        self._requested.set()
        if signum == signal.SIGINT:  # a second Ctrl-C: the previous handler (KeyboardInterrupt) at once
            signal.signal(signal.SIGINT, self._previous[signal.SIGINT])

    def __enter__(self) -> PreemptionNotice:
        self._requested.clear()
        self.signal_name = "SIGTERM"
        if _sync_manager_running():
            self.mode = "sync"
        elif jax.process_count() > 1:
            self.mode = None
            logging.warning("JAX's preemption service is off: a SIGTERM stops this run without a checkpoint")
        elif threading.current_thread() is threading.main_thread():
            self.mode = "signal"
            for signum in _SIGNALS:
                if signal.getsignal(signum) is not signal.SIG_IGN:  # e.g. a background job's SIGINT
                    self._previous[signum] = _handler_or_default(signal.signal(signum, self._on_signal))
        else:
            self.mode = "request"
        return self

    def reached(self, step: int) -> bool:
        """Whether to stop after the dispatch that ended at `step`; in `"sync"` mode every process must
        call it after every dispatch (it is True on all of them at the same one)."""
        if self.mode == "sync":
            return multihost_utils.reached_preemption_sync_point(step // self.steps_per_dispatch)
        return self.mode is not None and self._requested.is_set()

    def __exit__(self, *exc_info: Any) -> None:
        if self.mode == "signal":
            for signum, previous in self._previous.items():
                signal.signal(signum, previous)
        self.mode, self._previous = None, {}
