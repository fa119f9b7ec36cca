"""Execute every notebook in notebooks/ top to bottom; any cell error fails.

The notebooks assert the numbers they show, so a changed result fails here.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
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


# Notebooks that read coda.load_roman_cups(): run only where the data are.
NEEDS_CUPS = {"roman_glass.ipynb"}


def _cups_available() -> bool:
    folder = os.environ.get("CODA_DATA_DIR")
    return bool(folder) and any(
        (Path(folder) / f).exists() for f in ("roman_cups.csv", "cups.RData")
    )


def _kernel_environment(monkeypatch, tmp_path) -> None:
    """What the kernel inherits: no display; its files in tmp_path; this tree's coda first."""
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    paths = [str(ROOT), os.environ.get("PYTHONPATH")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))


def _need_cups(name: str) -> None:
    if not _cups_available():
        if os.environ.get("CI"):
            pytest.fail(f"CODA_DATA_DIR/roman_cups.csv is missing in CI; {name} needs it")
        pytest.skip(f"{name} needs the data: set CODA_DATA_DIR to the folder with roman_cups.csv")


def test_notebooks_exist():
    assert NOTEBOOKS, "notebooks/ holds no notebook"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path, monkeypatch, tmp_path):
    # The kernel inherits this environment: no display in CI; connection files
    # and IPython's history in a temporary folder rather than $HOME; the
    # repository root on the path so that the notebook imports this tree's coda.
    _kernel_environment(monkeypatch, tmp_path)
    if path.name in NEEDS_CUPS:
        _need_cups(path.name)
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
    # A figure shown as the text "<Figure size ...>" is a figure the reader never sees.
    unseen = [
        k
        for k, cell in enumerate(nb.cells)
        for output in cell.get("outputs", [])
        if str(output.get("data", {}).get("text/plain", "")).startswith("<Figure")
        and "image/png" not in output["data"]
    ]
    assert not unseen, f"cells {unseen} show a figure as text, without an image"
    # A cell that ends with a call returning a number shows it as np.float64(...).
    stray = [
        k
        for k, cell in enumerate(nb.cells)
        for output in cell.get("outputs", [])
        if re.match(r"np\.\w+\(", str(output.get("data", {}).get("text/plain", "")))
    ]
    assert not stray, f"cells {stray} show a stray numpy scalar: end them with the display"
    if path.name == "roman_glass.ipynb":
        # Each cell that shows one of the case study's figures shows it as a PNG.
        shown = [c for c in nb.cells if c.cell_type == "code" and 'figures["' in c.source]
        assert len(shown) == 5
        for cell in shown:
            images = [o for o in cell.outputs if "image/png" in o.get("data", {})]
            assert len(images) == 1, cell.source


def test_roman_glass_without_data_fails_with_one_clear_message(monkeypatch, tmp_path):
    # No data anywhere: an empty CODA_DATA_DIR, and HOME and the cache moved
    # to empty folders so that no cached copy is found.
    for name in ("data", "home", "cache"):
        (tmp_path / name).mkdir()
    monkeypatch.setenv("CODA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    _kernel_environment(monkeypatch, tmp_path)
    path = ROOT / "notebooks" / "roman_glass.ipynb"
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, kernel_name="python3", timeout=120, resources={"metadata": {"path": str(path.parent)}}
    )
    with pytest.raises(CellExecutionError) as info:
        client.execute()
    # The first code cell stops the run with SystemExit and its message; no later cell ran.
    assert info.value.ename == "SystemExit"
    assert "set CODA_DATA_DIR to the folder holding roman_cups.csv" in info.value.evalue
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    errors = [o for c in code_cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert len(errors) == 1
    assert all(c.get("execution_count") is None for c in code_cells[1:])


# Changes to coda's results that roman_glass.ipynb must notice, each run first in
# the kernel: the notebook asserts every number it prints, so each must stop it
# at a failed assert.
MUTANTS = {
    # t tests with df = n - |K| - 3 instead of n - |K| - 1
    "df": "import coda.inference as inference\n"
    "_check = inference.check_test_df\n"
    "inference.check_test_df = lambda df, n, k, name='x', **kw: _check(df - 2, n, k, name, **kw)",
    # Bonferroni instead of Benjamini-Hochberg q-values
    "adjustment": "import functools, coda\n"
    "coda.pcor_test = functools.partial(coda.pcor_test, adjust='bonferroni')",
    # other bootstrap resamples
    "bootstrap": "import coda\n"
    "_boot = coda.pcor_bootstrap\n"
    "coda.pcor_bootstrap = lambda x, **options: _boot(x, **{**options, 'seed': 1})",
    # one partial variance of the table changed, not one the old checks looked at
    "partial_variance": "import coda\n"
    "_partial_variance = coda.partial_variance\n"
    "def _changed(x, **options):\n"
    "    out = _partial_variance(x, **options)\n"
    "    out['Mg'] *= 1.05\n"
    "    return out\n"
    "coda.partial_variance = _changed",
    # Al-Ti given Si and Na changed
    "given": "import coda\n"
    "_pcor = coda.pcor\n"
    "def _changed(x, **options):\n"
    "    out = _pcor(x, **options)\n"
    "    if options.get('given') is not None:\n"
    "        out.loc['Al', 'Ti'] = out.loc['Ti', 'Al'] = out.loc['Al', 'Ti'] + 0.01\n"
    "    return out\n"
    "coda.pcor = _changed",
}


@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_roman_glass_asserts_catch_a_changed_result(mutant, monkeypatch, tmp_path):
    _kernel_environment(monkeypatch, tmp_path)
    path = ROOT / "notebooks" / "roman_glass.ipynb"
    _need_cups(path.name)
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(0, new_code_cell(MUTANTS[mutant]))
    client = NotebookClient(
        nb, kernel_name="python3", timeout=120, resources={"metadata": {"path": str(path.parent)}}
    )
    with pytest.raises(CellExecutionError) as info:
        client.execute()
    assert info.value.ename == "AssertionError"
