"""Notebooks are committed without outputs: find what a run left in one, or clear it.

``python -m tests.notebook_outputs notebooks/*.ipynb`` (``make notebooks-clear``) clears the
outputs and execution counts in place; ``tests/test_notebooks.py`` fails on any left.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat


def saved_outputs(path: Path) -> list[str]:
    """``"<name> cell <i>"`` for every code cell saved with outputs or an execution count."""
    found = []
    for i, cell in enumerate(nbformat.read(path, as_version=4).cells):
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None):
            found.append(f"{path.name} cell {i}")
    return found


def clear(path: Path) -> bool:
    """Remove the outputs and execution counts of ``path``'s code cells; True if it changed."""
    if not saved_outputs(path):
        return False
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    tmp = path.with_name(f".{path.name}.tmp")
    nbformat.write(nb, tmp)
    tmp.replace(path)
    return True


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        if clear(Path(arg)):
            print(f"cleared {arg}")
