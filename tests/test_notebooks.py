"""The notebooks execute top to bottom, and are stored without outputs.

Each runs in a fresh Jupyter kernel through nbclient, on small settings
(``MUSEGEN_NOTEBOOK_SMALL=1``: 40 chorales, 20 training batches), with this session's
data folder and a scratch output folder; one from the project root and the others from
``notebooks/``, the two places a user starts Jupyter. About 40 s in all on 2 cores.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import ROOT
from tests.notebook_outputs import clear, saved_outputs

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_there_are_the_three_notebooks() -> None:
    names = [p.name for p in NOTEBOOKS]
    assert names == ["01_data.ipynb", "02_train_and_generate.ipynb", "03_results.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_without_outputs(path: Path) -> None:
    assert not saved_outputs(path), "clear it: make notebooks-clear"


def test_the_output_check_sees_and_clears_a_saved_output(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")])
    nb.cells[0].outputs = [nbformat.v4.new_output("execute_result", {"text/plain": "2"})]
    nbformat.write(nb, tmp_path / "saved.ipynb")
    assert saved_outputs(tmp_path / "saved.ipynb") == ["saved.ipynb cell 0"]
    assert clear(tmp_path / "saved.ipynb") and not saved_outputs(tmp_path / "saved.ipynb")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes(
    path: Path, bach_small: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MUSEGEN_NOTEBOOK_SMALL", "1")
    monkeypatch.setenv("MUSEGEN_DATA_DIR", str(bach_small))
    monkeypatch.setenv("MUSEGEN_NOTEBOOK_OUT", str(tmp_path))
    monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "2"))
    cwd = ROOT if path.name.startswith("01") else ROOT / "notebooks"
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    )
    client.execute()  # raises CellExecutionError, with the cell and its traceback
    assert any(cell.get("outputs") for cell in nb.cells if cell.cell_type == "code")
