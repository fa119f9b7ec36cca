"""Labels that were lost or ignored without a word (found in QA of ``df.coda``).

Each test failed before its fix: an object column of numbers left out of
``df.coda`` silently, a biplot's ``groups`` Series matched to the rows by
position instead of by label, and duplicate part names breaking the
heatmap with advice that did not apply; a frame read from a file with a
header and no rows got advice about converting text columns.
"""

from __future__ import annotations

import io
import warnings

import matplotlib
import numpy as np
import pandas as pd
import pytest

import coda
from coda import CodaWarning

matplotlib.use("Agg")
import matplotlib.pyplot as plt


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_object_column_of_numbers_is_named_when_left_out():
    df = pd.DataFrame(
        {"Si": [0.6, 0.3], "Al": [0.3, 0.3], "Fe": pd.Series([0.1, 0.4], dtype=object)}
    )
    with pytest.warns(CodaWarning, match=r"'Fe' \(e\.g\. 0\.1\), of object dtype.*to_numeric"):
        parts = df.coda.parts
    assert parts == ["Si", "Al"]
    converted = df.assign(Fe=pd.to_numeric(df["Fe"]))
    assert converted.coda.parts == ["Si", "Al", "Fe"]


@pytest.mark.parametrize(
    "column",
    [
        pd.Series([1, 2], dtype=object),  # whole numbers: identifiers
        pd.Series([True, False], dtype=object),
        pd.Series(["a", 0.5], dtype=object),  # mixed: not a column of numbers
    ],
)
def test_object_columns_that_are_not_numbers_pass_quietly(column):
    df = pd.DataFrame({"Si": [0.6, 0.3], "Al": [0.3, 0.3], "id": column})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert df.coda.parts == ["Si", "Al"]


def _group_points(ax):
    """{legend text: set of (x, y) drawn for that group}."""
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    return {
        text: {tuple(np.round(p, 12)) for p in collection.get_offsets()}
        for text, collection in zip(texts, ax.collections, strict=True)
    }


def test_biplot_lines_a_groups_series_up_with_the_rows_by_label():
    df = pd.DataFrame(
        {"site": list("nnss"), "a": [1.0, 2, 3, 4], "b": [2.0] * 4, "c": [1.0, 1, 1, 5]}
    )
    srt = df.sort_values("c", ascending=False)  # index 3, 0, 1, 2
    ax = coda.plot_biplot(srt[["a", "b", "c"]], groups=df["site"])
    samples = coda.biplot_coordinates(srt[["a", "b", "c"]]).samples
    drawn = _group_points(ax)
    for site in ("n", "s"):
        rows = df.index[df["site"] == site]
        expected = {tuple(np.round(p, 12)) for p in samples.loc[rows].to_numpy()[:, :2]}
        assert drawn[site] == expected
    # The accessor passes the frame's own rows through.
    ax = srt.coda.plot.biplot(groups=df["site"])
    assert _group_points(ax) == drawn


def test_biplot_refuses_a_groups_series_of_other_rows():
    x = pd.DataFrame({"a": [1.0, 2, 3], "b": [2.0, 1, 2], "c": [1.0, 3, 1]}, index=[10, 11, 12])
    with pytest.raises(ValueError, match=r"groups is a Series whose index lacks rows of x"):
        coda.plot_biplot(x, groups=pd.Series(["u", "v", "w"], index=[10, 11, 13]))
    with pytest.raises(ValueError, match=r"does not match the rows of x.*to_numpy"):
        coda.plot_biplot(x, groups=pd.Series(["u", "v", "w"], index=[10, 10, 11]))
    # By position, as asked: an array, or a Series with the same index.
    coda.plot_biplot(x, groups=np.array(["u", "v", "w"]))
    coda.plot_biplot(x, groups=pd.Series(["u", "v", "w"], index=x.index))


def test_heatmap_needs_distinct_part_names_to_mark_tests_or_cluster():
    x = coda.simulate(60, 4, graph="chain", seed=0).data
    x.columns = ["a", "a", "c", "d"]
    message = r"matrix has parts with the same name: 'a' \(positions 0, 1\).*rename the parts"
    with pytest.raises(ValueError, match=message):
        x.coda.plot.heatmap()
    with pytest.raises(ValueError, match=message):
        coda.plot_pcor_heatmap(coda.pcor(x), cluster=True)
    # Without tests or clustering there is nothing to look up by name.
    coda.plot_pcor_heatmap(coda.pcor(x))


def test_frame_with_a_header_and_no_rows_says_so():
    df = pd.read_csv(io.StringIO("Si,Al,Fe\n"))
    with pytest.raises(AttributeError, match=r"the frame has no rows.*header line only"):
        _ = df.coda.parts
    # An empty frame of numeric columns is still a composition table of no samples.
    assert pd.DataFrame({"a": [], "b": []}, dtype=float).coda.parts == ["a", "b"]


# ---------------------------------------------------------------------------
# pandas results never share the caller's data

_FRAME = pd.DataFrame(
    np.random.default_rng(9).lognormal(size=(6, 4)), columns=list("abcd"), index=list("uvwxyz")
)

_RESULTS = {
    "closure": lambda f: coda.closure(f),
    "closure of closed rows": lambda f: coda.closure(coda.closure(f)),
    "replace_zeros without zeros": lambda f: coda.replace_zeros(f),
    "replace_zeros proportions": lambda f: coda.replace_zeros(f, output="proportions"),
    "power 1": lambda f: coda.power(f, 1.0),
    "perturb by the neutral element": lambda f: coda.perturb(f, [1.0, 1.0, 1.0, 1.0]),
    "clr": lambda f: coda.clr(f),
    "alr": lambda f: coda.alr(f),
    "ilr": lambda f: coda.ilr(f),
    "norm": lambda f: coda.norm(f),
    "clr_cov": lambda f: coda.clr_cov(f),
    "variation": lambda f: coda.variation(f),
}


@pytest.mark.parametrize("name", list(_RESULTS))
def test_pandas_results_never_share_the_inputs_memory(name):
    frame = _FRAME.copy()
    before = frame.copy()
    result = _RESULTS[name](frame)
    assert not np.shares_memory(result.to_numpy(), frame.to_numpy())
    result.iloc[0] = -1.0  # writing to the result leaves the input alone
    pd.testing.assert_frame_equal(frame, before)
