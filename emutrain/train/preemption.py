"""Preemption notices: when `fit` should stop early, at the same step on every process.

One process: a SIGTERM handler, installed while `fit` runs (in the main thread only: Python delivers
signals there), sets a flag that the loop reads after each dispatch.

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
        """`"sync"` (JAX's sync manager), `"signal"` (own SIGTERM handler), `"request"` (not the main
        thread: only `request()`), or None (several processes without the preemption service)."""
        self._requested = threading.Event()
        self._previous: Any = None

    def request(self) -> None:
        """Asks a single-process run to stop after the current dispatch, as SIGTERM does."""
        self._requested.set()

    def _on_sigterm(self, signum: int, frame: Any) -> None:
        del signum, frame
        self._requested.set()

    def __enter__(self) -> PreemptionNotice:
        self._requested.clear()
        if _sync_manager_running():
            self.mode = "sync"
        elif jax.process_count() > 1:
            self.mode = None
            logging.warning("JAX's preemption service is off: a SIGTERM stops this run without a checkpoint")
        elif threading.current_thread() is threading.main_thread():
            self.mode = "signal"
            self._previous = signal.signal(signal.SIGTERM, self._on_sigterm)
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
            # None: the previous handler was not installed from Python; the default is the closest
            signal.signal(signal.SIGTERM, signal.SIG_DFL if self._previous is None else self._previous)
        self.mode, self._previous = None, None
