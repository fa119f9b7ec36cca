"""The same result through several doors: the command, the functions, the files they write.

Each test failed on the code before its fix.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

import coda
from coda.cli import main


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
