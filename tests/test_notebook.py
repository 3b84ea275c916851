"""The example notebook runs top to bottom on the default model (stored without outputs)."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.slow
NOTEBOOK = Path(__file__).resolve().parent.parent / "analyses" / "explore.ipynb"


def test_notebook_is_stored_without_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert all(
        not cell.get("outputs") and not cell.get("execution_count")
        for cell in notebook.cells
        if cell.cell_type == "code"
    )


def test_notebook_runs(tmp_path):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs]
    html = "".join(out.get("data", {}).get("text/html", "") for out in outputs)
    assert 'class="ll-grid"' in html  # the explore view rendered itself
    assert "LensResult" in html and "LeakageResult" in html
    assert any("image/png" in out.get("data", {}) for out in outputs)  # the figures
    errors = [out for out in outputs if out.output_type == "error"]
    assert len(errors) == 1 and errors[0].ename == "LatentLangError"
    assert len(errors[0].traceback) == 1 and "cannot decode an empty prompt" in errors[0].traceback[0]
