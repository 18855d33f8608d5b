"""The release the notebooks install is the one the project declares: pyproject's version, the latest
CHANGELOG entry, ``emutrain.__version__`` and the registry pin and git tag in each notebook's first code
cell agree; the cell falls back from the registry to the checkout to the git tag."""

import importlib.util
import json
import pathlib
import re
import subprocess
import sys
import tomllib

import pytest

import emutrain

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "colab").glob("*.ipynb"))


def _version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def _install_cell(path: pathlib.Path) -> str:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return "".join(next(cell for cell in cells if cell["cell_type"] == "code")["source"])


def _extra(path: pathlib.Path) -> str:
    return "[qg]" if path.stem == "05_online_training" else ""


def test_version_changelog_and_package_agree():
    version = _version()
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)
    headings = re.findall(r"^## (\S+)", (ROOT / "CHANGELOG.md").read_text(), flags=re.MULTILINE)
    assert headings[0] == version
    assert len(headings) == len(set(headings)) and "0.1.0" in headings and "0.2.0" in headings
    assert emutrain.__version__ == version


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_installs_the_declared_release(path):
    cell = _install_cell(path)
    version, extra = _version(), _extra(path)
    assert re.findall(r"@v(\d+\.\d+\.\d+)", cell) == [version]
    assert re.findall(r"==(\d+\.\d+\.\d+)", cell) == [version]
    assert f'"emutrain{extra}=={version}"' in cell
    assert f'"emutrain{extra} @ git+https://github.com/emutrain/emutrain@v{version}"' in cell


def _run_cell(path, cwd, succeeds, monkeypatch):
    """Execute the install cell as if emutrain were missing; ``succeeds(command)`` fakes pip's outcome.

    Returns the requirements of every pip call (the JAX build, always last, left out).
    """
    calls = []
    real_find_spec = importlib.util.find_spec

    def fake_run(command, *args, **kwargs):
        assert command[:5] == [sys.executable, "-m", "pip", "install", "-q"]
        calls.append(command[5:-1])
        return subprocess.CompletedProcess(command, 0 if succeeds(command[5:-1]) else 1)

    def fake_find_spec(name, *args):
        return None if name == "emutrain" else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", fake_find_spec)
    monkeypatch.setattr(subprocess, "run", fake_run)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.chdir(cwd)
    exec(compile(_install_cell(path), str(path), "exec"), {})
    return calls


@pytest.mark.parametrize("path", NOTEBOOKS[:1] + NOTEBOOKS[-1:], ids=lambda p: p.stem)
def test_install_cell_falls_back_registry_checkout_tag(path, tmp_path, monkeypatch):
    version, extra = _version(), _extra(path)
    registry = [f"emutrain{extra}=={version}"]
    checkout = ["-e", f"{ROOT}{extra}"]
    tag = [f"emutrain{extra} @ git+https://github.com/emutrain/emutrain@v{version}"]

    assert _run_cell(path, ROOT / "colab", lambda requirement: True, monkeypatch) == [registry]

    calls = _run_cell(path, ROOT / "colab", lambda requirement: requirement != registry, monkeypatch)
    assert calls == [registry, checkout] and sys.path[0] == str(ROOT)

    assert _run_cell(path, tmp_path, lambda requirement: requirement == tag, monkeypatch) == [registry, tag]

    with pytest.raises(RuntimeError, match="emutrain could not be installed"):
        _run_cell(path, tmp_path, lambda requirement: False, monkeypatch)
