"""Orbax log filtering: only Orbax's own records of the filtered levels are dropped, only inside the block."""

import logging
import os

import orbax.checkpoint as ocp
import pytest
from absl import logging as absl_logging

from emutrain.train.orbax_logs import orbax_errors_handled_here, quiet_orbax

ORBAX_FILE = os.path.join(os.path.dirname(ocp.__file__), "checkpoint_manager.py")


def _record(level, pathname):
    return logging.LogRecord("absl", level, pathname, 1, "message", None, None)


@pytest.mark.parametrize(
    "block, dropped",
    [
        (quiet_orbax, (logging.DEBUG, logging.INFO)),
        (orbax_errors_handled_here, (logging.ERROR, logging.CRITICAL)),
    ],
)
def test_filters_drop_orbax_records_of_their_levels_only_inside_the_block(block, dropped):
    logger = absl_logging.get_absl_logger()
    before = list(logger.filters)  # other filters (e.g. a console's) are not ours to judge
    with block():
        added = [f for f in logger.filters if f not in before]
        assert len(added) == 1
        for level in (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL):
            assert bool(added[0].filter(_record(level, ORBAX_FILE))) == (level not in dropped)
            assert added[0].filter(_record(level, __file__))
    assert logger.filters == before
