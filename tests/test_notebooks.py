"""Every Colab notebook in colab/ runs clean, top to bottom, in QUICK mode (EMUTRAIN_QUICK=1)."""

import pathlib

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((pathlib.Path(__file__).resolve().parents[1] / "colab").glob("*.ipynb"))


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_in_quick_mode(path, tmp_path, monkeypatch):
    monkeypatch.setenv("EMUTRAIN_QUICK", "1")
    monkeypatch.setenv("EMUTRAIN_WORKDIR", str(tmp_path))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(path, as_version=4)
    resources = {"metadata": {"path": str(tmp_path)}}
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources=resources).execute()
    errors = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert not errors


def test_configs_load_from_the_package():
    """The notebooks read configs with `emutrain.experiment.load_config` from the package
    `emutrain.configs` (the repository's `configs/`, mapped into the wheel; in a checkout the folder
    itself), never from the network."""
    import importlib

    from emutrain.experiment import load_config

    root = pathlib.Path(__file__).resolve().parents[1]
    for name, variant in [("default", "quick"), ("correction_learning", "corrector_rollout,quick")]:
        config = load_config(name, variant)
        module = importlib.import_module(f"emutrain.configs.{name}")
        assert pathlib.Path(module.__file__).resolve() == root / "configs" / f"{name}.py"
        assert config.to_dict() == module.get_config(variant).to_dict()
    assert load_config("studies/apebench_1d", "quick").scenarios == ("diff_adv", "diff_burgers")
    with pytest.raises(ValueError, match=r"name must be one of \[.*'default'.*\], got 'nope'"):
        load_config("nope")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_stored_with_its_outputs(path):
    """The documentation site shows the notebooks as stored (docs/hooks/execute_notebooks.py): every code
    cell ran once, top to bottom, none failed, each notebook shows figures, and the outputs stay small
    (no temporary paths, no tracebacks)."""
    notebook = nbformat.read(path, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert [cell.execution_count for cell in code] == list(range(1, len(code) + 1))
    outputs = [output for cell in code for output in cell.get("outputs", [])]
    assert [output for output in outputs if output.output_type == "error"] == []
    images = [output.data["image/png"] for output in outputs if "image/png" in output.get("data", {})]
    assert len(images) >= 3 and max(len(image) for image in images) < 150_000  # base64 of a 72-dpi PNG
    assert path.stat().st_size < 500_000
    text = "".join(output.get("text", "") for output in outputs)
    assert "/tmp/" not in text and "Traceback" not in text and "TqdmWarning" not in text


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_colab_ready(path):
    """First cell: the pinned release (pyqg-jax's extra only for the online-training notebook, never the
    test extra); a visible QUICK toggle that EMUTRAIN_QUICK overrides; no downloads; bars in full runs;
    TPU runtime metadata."""
    notebook = nbformat.read(path, as_version=4)
    install = notebook.cells[1].source
    extra = "[qg]" if path.stem == "05_online_training" else ""
    assert f'"emutrain{extra} @ git+https://github.com/emutrain/emutrain@v0.4.1"' in install
    assert "[test" not in install and "pip" in install
    settings = notebook.cells[2].source
    assert 'QUICK = False  # @param {type:"boolean"}' in settings and "EMUTRAIN_QUICK" in settings
    code = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    assert "urllib" not in code and "urlretrieve" not in code and "raw.githubusercontent" not in code
    assert "load_config" in code and "progress_bar=False" not in code
    assert notebook.metadata["accelerator"] == "TPU" and notebook.metadata["colab"]["name"] == path.name
