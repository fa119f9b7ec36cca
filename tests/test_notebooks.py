"""Execute every notebook in notebooks/ top to bottom; any cell error fails.

The notebooks assert the numbers they show, so a changed result fails here.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

# Run first in the kernel, like the suite's `filterwarnings = error`, but only for
# warnings attributed to notebook code or to coda: ipykernel's own warnings (for
# example a PendingDeprecationWarning at shutdown) come from its modules and are
# left alone, since they are not about the notebook.
WARNINGS_AS_ERRORS = (
    "import warnings\nwarnings.filterwarnings('error', module=r'(__main__|coda)(\\.|$)')"
)


def test_notebooks_exist():
    assert NOTEBOOKS, "notebooks/ holds no notebook"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path, monkeypatch, tmp_path):
    # The kernel inherits this environment: no display in CI; connection files
    # and IPython's history in a temporary folder rather than $HOME; the
    # repository root on the path so that the notebook imports this tree's coda.
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    paths = [str(ROOT), os.environ.get("PYTHONPATH")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    nb.cells.insert(0, new_code_cell(WARNINGS_AS_ERRORS))
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=120,
        resources={"metadata": {"path": str(path.parent)}},
    )
    # Raises CellExecutionError, with the cell and its traceback, at the first
    # cell that fails (a failed assert or a warning from the notebook's code).
    client.execute()
