"""Orbax log filtering: only Orbax's own records of the filtered levels are dropped, only inside the block."""

import logging
import os

import orbax.checkpoint as ocp
from absl import logging as absl_logging

from emutrain.train.orbax_logs import orbax_errors_handled_here, quiet_orbax

ORBAX_FILE = os.path.join(os.path.dirname(ocp.__file__), "checkpoint_manager.py")


def _passes(level, pathname):
    record = logging.LogRecord("absl", level, pathname, 1, "message", None, None)
    return absl_logging.get_absl_logger().filter(record)


def test_quiet_orbax_drops_orbax_info_only_inside_the_block():
    with quiet_orbax():
        assert not _passes(logging.INFO, ORBAX_FILE)
        assert _passes(logging.WARNING, ORBAX_FILE) and _passes(logging.ERROR, ORBAX_FILE)
        assert _passes(logging.INFO, __file__)
    assert _passes(logging.INFO, ORBAX_FILE)


def test_errors_handled_here_drops_orbax_errors_only_inside_the_block():
    with orbax_errors_handled_here():
        assert not _passes(logging.ERROR, ORBAX_FILE) and not _passes(logging.CRITICAL, ORBAX_FILE)
        assert _passes(logging.WARNING, ORBAX_FILE) and _passes(logging.INFO, ORBAX_FILE)
        assert _passes(logging.ERROR, __file__)
    assert _passes(logging.ERROR, ORBAX_FILE)
