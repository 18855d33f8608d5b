"""What the evaluate, generate and study jobs print, as the train job (`emutrain.train.console`): no
third-party start-up noise, a banner, then a summary that says where the files are."""

from __future__ import annotations

import contextlib
import glob
import os
import time
from collections.abc import Iterator, Mapping

import jax

from emutrain.train.console import format_duration, quiet_third_party_logs, summary_table, write

__all__ = ["JobConsole", "job"]

_WIDTH = 110
"""The banner's line width (its long rows are wrapped)."""
_SHOWN_FILES = 12
"""Files listed by name under `outputs`; more are counted per pattern."""


class JobConsole:
    """Writes a job's summary lines on process 0 (nothing on the others)."""

    def __init__(self, name: str, workdir: str):
        self.name, self.workdir = name, workdir
        self.main = jax.process_index() == 0

    def write(self, lines: list[str]) -> None:
        """Writes `lines` (process 0 only)."""
        if self.main and lines:
            write("\n".join(lines))

    def table(self, rows: list[tuple[str, ...]]) -> None:
        """Writes `rows` (`(label, text, ...)` tuples) as aligned columns."""
        self.write(summary_table(rows))

    def outputs(self, directory: str) -> None:
        """Writes where the job's files are: `directory` and the files directly inside it."""
        found = sorted(p for p in glob.glob(os.path.join(directory, "*")))
        names = [os.path.basename(p) + ("/" if os.path.isdir(p) else "") for p in found]
        shown = ", ".join(names[:_SHOWN_FILES])
        if len(names) > _SHOWN_FILES:
            shown += f", ... ({len(names)} entries)"
        self.write(summary_table([("outputs", directory), ("  files", shown or "none")]))


@contextlib.contextmanager
def job(name: str, workdir: str, details: Mapping[str, str] | None = None) -> Iterator[JobConsole]:
    """Quiets third-party logs, writes the banner (`emutrain <name>`, the `details` rows, devices,
    workdir), yields the console, then writes the time the job took."""
    quiet_third_party_logs()
    console = JobConsole(name, workdir)
    devices = jax.devices()
    console.write([f"emutrain {name}"] + summary_table([
        *(details or {}).items(),
        ("devices", f"{len(devices)} x {devices[0].device_kind} ({jax.default_backend()})"),
        ("workdir", workdir),
    ], width=_WIDTH))
    start = time.perf_counter()
    yield console
    console.write([f"{name} done in {format_duration(time.perf_counter() - start)}"])
