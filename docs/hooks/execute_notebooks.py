"""Executes the notebooks in colab/ and stores their outputs, which the documentation site shows.

    python docs/hooks/execute_notebooks.py --full 02_stencil_learning --full 03_quickstart
    python docs/hooks/execute_notebooks.py colab/04_configuration_showcase.ipynb

Each notebook runs top to bottom in a fresh kernel, with ``EMUTRAIN_QUICK=1`` unless ``--full`` names it,
in a temporary work directory, and is written back with its outputs; the first command (what the
stored notebooks hold) takes about 6 minutes on 2 CPU cores. Figures are drawn
by matplotlib's inline backend at ``--dpi`` (72 by default) so that the stored images stay small;
execution counts are kept, per-cell timings are not, and the temporary directory's path is cut from the
printed paths (they read ``workdir/<notebook>/...``, as in a run from a checkout). The install cell
finds emutrain importable (run this from a checkout with emutrain on the path) and installs nothing.
Exits 1 if a notebook raises.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[2]


def execute(path: pathlib.Path, dpi: int, timeout: int, full: bool = False) -> int:
    """Runs one notebook (in QUICK mode unless `full`) and stores its outputs; returns the number of
    error outputs."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory() as workdir:
        config_dir = pathlib.Path(workdir) / "matplotlib"
        config_dir.mkdir()
        (config_dir / "matplotlibrc").write_text(f"figure.dpi: {dpi}\nsavefig.dpi: {dpi}\n")
        environment = {"EMUTRAIN_QUICK": "0" if full else "1", "EMUTRAIN_WORKDIR": "workdir",
                       "MPLCONFIGDIR": str(config_dir), "PYTHONWARNINGS": "ignore:IProgress not found",
                       "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        previous = {name: os.environ.get(name) for name in [*environment, "MPLBACKEND"]}
        os.environ.update(environment)
        os.environ.pop("MPLBACKEND", None)  # the inline backend draws the figures into the outputs
        try:
            client = NotebookClient(notebook, timeout=timeout, kernel_name="python3", allow_errors=True,
                                    record_timing=False, coalesce_streams=True,
                                    resources={"metadata": {"path": workdir}})
            client.execute()
        finally:
            for name, value in previous.items():
                os.environ.pop(name, None) if value is None else os.environ.__setitem__(name, value)
        _cut_prefix(notebook, os.path.realpath(workdir) + os.sep)
        _cut_prefix(notebook, workdir + os.sep)
    errors = [output for cell in notebook.cells if cell.cell_type == "code"
              for output in cell.get("outputs", []) if output.get("output_type") == "error"]
    nbformat.write(notebook, path)
    return len(errors)


def _cut_prefix(notebook, prefix: str) -> None:
    """Removes `prefix` from the text of every output (streams and plain-text results)."""
    for cell in notebook.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if "text" in output:
                output["text"] = output["text"].replace(prefix, "")
            if "text/plain" in output.get("data", {}):
                output["data"]["text/plain"] = output["data"]["text/plain"].replace(prefix, "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=pathlib.Path, help="default: every colab/*.ipynb")
    parser.add_argument("--full", action="append", default=[], metavar="STEM",
                        help="run this notebook (e.g. 03_quickstart) in full, not QUICK, mode")
    parser.add_argument("--dpi", type=int, default=72, help="resolution of the stored figures")
    parser.add_argument("--timeout", type=int, default=900, help="seconds one cell may run")
    args = parser.parse_args(argv)
    failed = 0
    for path in args.notebooks or sorted((ROOT / "colab").glob("*.ipynb")):
        full = path.stem in args.full
        errors = execute(path, args.dpi, args.timeout, full=full)
        failed += bool(errors)
        mode = "full" if full else "QUICK"
        print(f"{'FAIL' if errors else 'ok  '} {path.name} ({mode}): {errors} error outputs", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
