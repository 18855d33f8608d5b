"""Orbax's logging kept to what a run needs: its INFO chatter and the tracebacks of failures that
:class:`emutrain.train.checkpoint.Checkpointer` reports itself are dropped, nothing else.

Orbax logs through absl, shared with everything else, so records are filtered by the file that emits
them (inside the Orbax package) and only inside a block; the verbosity itself is left alone.

Orbax restores arrays with `asyncio.gather` in a private event loop that it closes as soon as the first
read fails; the reads still in flight then complete on TensorStore threads and their callbacks hit the
closed loop, each printing a "RuntimeError: Event loop is closed" traceback through `sys.unraisablehook`
(hundreds of lines for a large model, often at exit). The failure itself is reported by the
`Checkpointer`, so exactly these tracebacks are dropped; every other unraisable exception reaches the
previous hook.
"""

from __future__ import annotations

import contextlib
import logging as std_logging
import os
import sys
import threading
from collections.abc import Iterable, Iterator
from typing import Any

import orbax.checkpoint as ocp
from absl import logging

__all__ = ["install_unraisable_filter", "orbax_errors_handled_here", "quiet_orbax"]

_ORBAX_DIR = os.path.dirname(os.path.dirname(ocp.__file__)) + os.sep


class _DropOrbaxInfo(std_logging.Filter):
    """Drops Orbax's INFO records (dozens per checkpoint save); its warnings and errors pass."""

    def filter(self, record: std_logging.LogRecord) -> bool:
        return record.levelno >= std_logging.WARNING or not record.pathname.startswith(_ORBAX_DIR)


@contextlib.contextmanager
def _absl_filter(log_filter: std_logging.Filter) -> Iterator[None]:
    logger = logging.get_absl_logger()
    logger.addFilter(log_filter)
    try:
        yield
    finally:
        logger.removeFilter(log_filter)


def quiet_orbax() -> contextlib.AbstractContextManager[None]:
    """Only inside the block, Orbax's INFO logs are dropped from the absl logger."""
    return _absl_filter(_DropOrbaxInfo())


def _is_closed_loop_callback(unraisable: Any) -> bool:
    exc = unraisable.exc_value
    if not (isinstance(exc, RuntimeError) and str(exc) == "Event loop is closed"):
        return False
    frames = [frame.f_code.co_name for frame, _ in _walk_tb(unraisable.exc_traceback)]
    return "call_soon_threadsafe" in frames


def _walk_tb(tb: Any) -> Iterable[tuple[Any, int]]:
    while tb is not None:
        yield tb.tb_frame, tb.tb_lineno
        tb = tb.tb_next


_hook_lock = threading.Lock()


def install_unraisable_filter() -> None:
    """Wraps the current `sys.unraisablehook` unless it already is this filter (a test runner may swap
    the hook per test, so this is checked at every `Checkpointer` start rather than once)."""
    with _hook_lock:
        previous = sys.unraisablehook
        if getattr(previous, "_drops_closed_loop_callbacks", False):
            return

        def hook(unraisable: Any) -> None:
            if not _is_closed_loop_callback(unraisable):
                previous(unraisable)

        hook._drops_closed_loop_callbacks = True
        sys.unraisablehook = hook


class _DropOrbaxErrors(std_logging.Filter):
    """Drops Orbax's ERROR records (tracebacks of a failed write or read) while the Checkpointer turns
    that failure into one exception of its own."""

    def filter(self, record: std_logging.LogRecord) -> bool:
        return not (record.levelno >= std_logging.ERROR and record.pathname.startswith(_ORBAX_DIR))


def orbax_errors_handled_here() -> contextlib.AbstractContextManager[None]:
    """Only inside the block, Orbax's ERROR records (tracebacks of a failed write or read) are dropped
    from the absl logger, while the Checkpointer turns that failure into one exception of its own."""
    return _absl_filter(_DropOrbaxErrors())
