"""The same result through several doors: the command, the functions, the files they write.

Each test failed on the code before its fix: ``coda pcor`` opened its data
file three times (the table, the header as written, the lines that name
the rows in messages) where one read of its bytes serves all three.
"""

from __future__ import annotations

import builtins
import io
import os

import numpy as np
import pandas as pd

import coda
from coda.cli import main


def _opens_of(path, monkeypatch) -> list:
    """A list that grows by one each time ``path`` is opened (by pandas, pathlib or open)."""
    opened = []
    target = os.path.realpath(path)
    real_open = builtins.open

    def counting_open(file, *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and os.path.realpath(file) == target:
            opened.append(str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", counting_open)
    monkeypatch.setattr(io, "open", counting_open)
    return opened


def test_pcor_reads_a_file_without_identifiers_once(tmp_path, monkeypatch, capsys):
    data = coda.simulate(40, 5, graph="chain", seed=1).data
    path = tmp_path / "data.csv"
    data.to_csv(path, index=False)
    opened = _opens_of(path, monkeypatch)
    assert main(["pcor", str(path), "--out", str(tmp_path / "out")]) == 0
    monkeypatch.undo()
    capsys.readouterr()
    assert len(opened) == 1
    # What it read is what pandas reads: the files hold the function's numbers.
    written = pd.read_csv(tmp_path / "out" / "pcor.csv", index_col=0)
    expected = coda.pcor(pd.read_csv(path))
    assert list(written.columns) == list(expected.columns) == list(written.index)
    np.testing.assert_array_equal(written.to_numpy(), expected.to_numpy())


def test_rows_are_still_named_by_their_lines_after_one_read(tmp_path, monkeypatch, capsys):
    path = tmp_path / "data.csv"
    path.write_text(
        "a,b,c,d\n\n0.1,0.2,0.3,0.4\n0.2,0.2,0.3,0.3\n\n0.3,0,0.4,0.3\n0.1,0.1,0.1,0.7\n"
    )
    opened = _opens_of(path, monkeypatch)
    assert main(["pcor", str(path), "--out", str(tmp_path / "out")]) == 2
    monkeypatch.undo()
    err = capsys.readouterr().err
    assert len(opened) == 1
    assert "has 1 zeros (rows 3 on line 6)" in err


def test_given_names_a_part_whose_header_has_spaces_around_it(tmp_path, capsys):
    # A header written "A, B, C, D" names parts " B", " C", " D" (as pandas reads
    # it); --given B used to be refused, and --given " B" too (it was stripped).
    data = coda.simulate(40, 4, graph="chain", seed=2).data
    path = tmp_path / "spaced.csv"
    lines = ["A, B, C, D"] + [", ".join(repr(float(v)) for v in row) for row in data.to_numpy()]
    path.write_text("\n".join(lines) + "\n")
    frame = pd.read_csv(path)
    expected = coda.pcor(frame, given=[" B"])
    for given in ("B", " B"):
        out = tmp_path / f"out{len(given)}"
        assert main(["pcor", str(path), "--given", given, "--out", str(out)]) == 0
        written = pd.read_csv(out / "pcor.csv", index_col=0)
        assert list(written.columns) == ["A", " B", " C", " D"]
        np.testing.assert_array_equal(written.to_numpy(), expected.to_numpy())
    capsys.readouterr()


def test_accessor_heatmap_draws_a_regularised_matrix_without_marks():
    # More parts than samples: the t tests of pcor_test cannot run, and the
    # accessor had no way to draw the shrinkage matrix without them.
    import matplotlib.pyplot as plt
    import pytest

    wide = coda.simulate(10, 30, graph="chain", seed=1).data
    with pytest.raises(ValueError, match="degrees of freedom"):
        wide.coda.plot.heatmap(method="shrink")
    _, (ax, other) = plt.subplots(1, 2)
    assert wide.coda.plot.heatmap(method="shrink", marks=False, ax=ax) is ax
    drawn = np.ma.filled(ax.collections[0].get_array(), np.nan)
    direct = coda.plot_pcor_heatmap(coda.pcor(wide, method="shrink"), ax=other)
    np.testing.assert_array_equal(drawn, np.ma.filled(direct.collections[0].get_array(), np.nan))
    assert not ax.texts
    with pytest.raises(TypeError, match="marks"):
        wide.coda.plot.heatmap(method="shrink", marks="no")
    plt.close("all")
