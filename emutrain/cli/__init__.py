"""The command line: `emutrain train|evaluate|generate|study [--config=...[:variant]] [--config.<field>=...]
[--workdir=DIR] [--verbose]` (`python -m emutrain.cli`, or `python pipelines/<job>.py` in a checkout).

A mistake in the request (an unknown or misspelled flag, a config that does not load or validate, a bad
network/method/task/optimizer string, a missing file, a workdir another run holds) prints one line
`error: ...` naming the flag and exits with status 2; `--verbose` shows its traceback. Errors during the
work keep their traceback.
"""

from emutrain.cli.app import main

__all__ = ["main"]
