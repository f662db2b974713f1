"""The example notebook runs from top to bottom in a fresh kernel (nbclient),
on the embedded digits_lt, and is stored without outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.heavy  # the second tier (README, Testing)

NOTEBOOK = Path(__file__).parent.parent / "examples" / "digits_lt.ipynb"


def test_the_notebook_is_stored_without_outputs():
    nbformat = pytest.importorskip("nbformat")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)


@pytest.mark.timeout(600)
def test_the_notebook_runs_and_shows_the_plan_as_html(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("tensorflow_datasets")
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(
        notebook,
        timeout=540,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    shown = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.get("output_type") == "execute_result"
    ]
    html = [output["data"].get("text/html", "") for output in shown]
    assert any("oversample plan" in h and "<table>" in h for h in html)
    assert any("oversample Sampler: epoch 1" in h for h in html)
    text = "".join(
        output.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
    )
    assert "balanced accuracy" in text
