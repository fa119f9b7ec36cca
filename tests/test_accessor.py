"""The pandas accessors: every method is its coda function on the numeric parts."""

from __future__ import annotations

import inspect
import warnings

import matplotlib
import numpy as np
import pandas as pd
import pytest
from exact import assert_same
from hypothesis import given, settings
from hypothesis import strategies as st

import coda
from coda.accessor import CodaAccessor, CodaPlotAccessor, CodaSeriesAccessor
from tests.strategies import compositions

matplotlib.use("Agg")
import matplotlib.pyplot as plt


@pytest.fixture
def df():
    """Compositions with an id column first and a group column among the parts."""
    parts = coda.simulate(80, 5, graph="chain", seed=3).data
    frame = parts.copy()
    frame.insert(0, "id", [f"s{k}" for k in range(len(frame))])
    frame.insert(3, "group", pd.Categorical(["north", "south"] * 40))
    frame.index = pd.Index([f"row{k}" for k in range(len(frame))], name="sample")
    return frame


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _parts(frame):
    return frame[["p01", "p02", "p03", "p04", "p05"]]


# method -> (plain function, input the method is called on, keywords). The
# input is a function of the fixture frame: the frame itself, or coordinates
# for the inverses (whose frames have no ignored columns).
METHODS = {
    "closure": (coda.closure, lambda f: f, {"total": 100.0}),
    "clr": (coda.clr, lambda f: f, {}),
    "alr": (coda.alr, lambda f: f, {"ref": "p02"}),
    "ilr": (coda.ilr, lambda f: f, {"basis": "pivot"}),
    "clr_inv": (coda.clr_inv, lambda f: coda.clr(_parts(f)), {}),
    "alr_inv": (coda.alr_inv, lambda f: coda.alr(_parts(f)), {}),
    "ilr_inv": (coda.ilr_inv, lambda f: coda.ilr(_parts(f)), {}),
    "replace_zeros": (
        coda.replace_zeros,
        lambda f: f,
        {"method": "multiplicative", "delta": 1e-3},
    ),
    "variation": (coda.variation, lambda f: f, {"ddof": 0}),
    "clr_cov": (coda.clr_cov, lambda f: f, {"ddof": 0}),
    "precision": (coda.precision, lambda f: f, {"method": "shrink"}),
    "pcor": (coda.pcor, lambda f: f, {"given": ["p01"]}),
    "partial_variance": (coda.partial_variance, lambda f: f, {"given": ["p05"]}),
    "pcor_test": (coda.pcor_test, lambda f: f, {"adjust": "bonferroni"}),
    "network": (coda.network, lambda f: f, {"alpha": 0.01}),
}
SERIES_METHODS = ["closure", "clr", "alr", "ilr", "clr_inv", "alr_inv", "ilr_inv", "replace_zeros"]
PROPERTIES = {"parts", "ignored", "plot"}


def _public(cls) -> set:
    return {name for name in dir(cls) if not name.startswith("_")}


def test_every_method_has_a_mapping():
    # The estimators' delegates are checked in tests/test_accessor_estimators.py.
    from test_accessor_estimators import CASES

    assert _public(CodaAccessor) - PROPERTIES == set(METHODS) | set(CASES)
    assert _public(CodaSeriesAccessor) == set(SERIES_METHODS)
    assert _public(CodaPlotAccessor) == {"network", "heatmap", "biplot", "ternary", "variation"}


@pytest.mark.parametrize("method", sorted(METHODS))
def test_method_is_the_function_on_the_parts(df, method):
    function, data, options = METHODS[method]
    frame = data(df)
    got = getattr(frame.coda, method)(**options)
    expected = function(frame[frame.coda.parts], **options)
    assert_same(got, expected)


@pytest.mark.parametrize("method", SERIES_METHODS)
def test_series_method_is_the_function_on_the_series(df, method):
    function, data, options = METHODS[method]
    frame = data(df)
    s = frame[frame.coda.parts].iloc[7]
    got = getattr(s.coda, method)(**options)
    assert_same(got, function(s, **options))
    assert isinstance(got, pd.Series)


def test_series_clr_keeps_part_names(df):
    s = _parts(df).iloc[0]
    got = s.coda.clr()
    assert list(got.index) == list(s.index)
    assert got.name == s.name
    assert abs(got.sum()) < 1e-12


def test_parts_and_ignored(df):
    assert df.coda.parts == ["p01", "p02", "p03", "p04", "p05"]
    assert df.coda.ignored == ["id", "group"]


def test_ignored_dtypes_are_the_ones_as_2d_rejects():
    frame = pd.DataFrame(
        {
            "flag": [True, False],
            "when": pd.to_datetime(["2020-01-01", "2021-01-01"]),
            "n": pd.array([1, 2], dtype="Int64"),
            "count": np.array([3, 4], dtype=np.int32),
            "share": np.array([0.5, 0.25], dtype=np.float32),
            "seen": pd.array([True, None], dtype="boolean"),
        }
    )
    # pandas' nullable integers and floats are parts; booleans and dates are not
    assert frame.coda.parts == ["n", "count", "share"]
    assert frame.coda.ignored == ["flag", "when", "seen"]
    assert_same(frame.coda.clr(), coda.clr(frame[["n", "count", "share"]]))
    assert_same(frame.coda.clr(), coda.clr(frame[["n", "count", "share"]].astype(float)))


def test_an_ignored_column_may_share_a_name_with_a_part():
    values = np.exp(np.random.default_rng(0).normal(size=(10, 3)))
    frame = pd.DataFrame(values, columns=["a", "b", "c"])
    frame["s"] = "x"
    frame.columns = ["a", "b", "c", "a"]
    assert frame.coda.parts == ["a", "b", "c"]
    assert_same(frame.coda.variation(), coda.variation(frame.iloc[:, :3]))


def test_text_columns_holding_numbers_are_named_in_a_warning():
    # one "<0.01" or "n.d." cell makes a reader type a part's column as text:
    # df.coda leaves it out, and says so, naming the column and a telling cell
    frame = pd.DataFrame(
        {
            "id": ["007", "008", "009", "010"],
            "group": ["a", "b", "a", None],
            "Si": [0.5, 0.3, 0.2, 0.4],
            "Al": [0.2, 0.3, 0.3, 0.2],
            "MnO": ["0.1", "<0.01", "0.2", None],
            "FeO": pd.array(["0.3", "0.2", "n.d.", "0.1"], dtype="string"),
            "K2O": ["0.31", "0.2", "0.25", "0.3"],
        }
    )
    with pytest.warns(coda.CodaWarning) as caught:
        parts = frame.coda.parts
    assert parts == ["Si", "Al"]
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "'MnO' (e.g. '<0.01'), 'FeO' (e.g. 'n.d.'), 'K2O' (e.g. '0.31')" in message
    assert "'id'" not in message and "'group'" not in message
    assert "pd.to_numeric" in message and "coda.replace_zeros" in message
    # the warning points at the user's line, not at pandas or coda
    assert caught[0].filename == __file__
    # identifiers, labels and mostly-text columns are not numbers
    quiet = frame[["id", "group", "Si", "Al"]].assign(note=["ok", "1.5", "n/a", "low"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert quiet.coda.parts == ["Si", "Al"]


def test_results_keep_row_labels_and_part_names(df):
    out = df.coda.clr()
    assert out.index.equals(df.index)
    assert list(out.columns) == df.coda.parts
    cov = df.coda.clr_cov()
    assert list(cov.index) == list(cov.columns) == df.coda.parts


def test_clr_by_hand_ignoring_the_id_column():
    frame = pd.DataFrame({"id": ["a", "b"], "Si": [4.0, 1.0], "Al": [2.0, 1.0], "Fe": [1.0, 1.0]})
    log2 = np.log(2.0)
    expected = pd.DataFrame({"Si": [log2, 0.0], "Al": [0.0, 0.0], "Fe": [-log2, 0.0]})
    pd.testing.assert_frame_equal(frame.coda.clr(), expected, rtol=0, atol=1e-15)


def test_options_pass_through_and_errors_are_the_functions(df):
    assert_same(df.coda.pcor(method="shrink"), coda.pcor(_parts(df), method="shrink"))
    with pytest.raises(ValueError, match="given= is available with method='exact' only"):
        df.coda.pcor(given=["p01"], method="shrink")
    with pytest.raises(TypeError, match="unexpected keyword argument 'foo'"):
        df.coda.clr(foo=1)
    with pytest.raises(ValueError, match=r"method='nope' is not a known option"):
        df.coda.replace_zeros(method="nope")


def test_frame_without_numeric_columns_raises_attribute_error():
    frame = pd.DataFrame({"id": ["a", "b"], "group": pd.Categorical(["x", "y"])})
    match = r"id \(str\), group \(category\) are all non-numeric"
    with pytest.raises(AttributeError, match=match):
        frame.coda  # noqa: B018  (accessing the accessor is what raises)
    with pytest.raises(AttributeError, match=r"pd\.to_numeric"):
        frame.coda.parts  # noqa: B018
    assert not hasattr(frame, "coda")
    with pytest.raises(AttributeError, match="it has no columns"):
        pd.DataFrame().coda  # noqa: B018


def test_non_numeric_series_raises_attribute_error():
    with pytest.raises(AttributeError, match=r"dtype str: convert it first, e\.g\. s\.astype"):
        pd.Series(["0.5", "0.5"]).coda  # noqa: B018
    assert not hasattr(pd.Series([True, False]), "coda")


def test_accessor_holds_no_state_about_columns(df):
    frame = df.copy()
    assert frame.coda.parts == ["p01", "p02", "p03", "p04", "p05"]
    frame["p06"] = 0.5
    frame["note"] = "x"
    assert frame.coda.parts == ["p01", "p02", "p03", "p04", "p05", "p06"]
    assert frame.coda.ignored == ["id", "group", "note"]


def test_nothing_is_patched_onto_pandas():
    assert "coda" in pd.DataFrame._accessors
    assert "coda" in pd.Series._accessors
    assert not any(hasattr(pd.DataFrame, name) for name in METHODS)
    assert not any(hasattr(pd.Series, name) for name in SERIES_METHODS)


def test_input_is_not_mutated(df):
    before = df.copy(deep=True)
    for method, (_, data, options) in METHODS.items():
        getattr(data(df).coda, method)(**options)
    for name in ("network", "heatmap", "biplot", "variation"):
        getattr(df.coda.plot, name)()
    df.coda.plot.ternary(parts=["p01", "p02", "p03"])
    pd.testing.assert_frame_equal(df, before, check_exact=True)


# Plots: the accessor's Axes must show what the plain function draws.
def _drawing(ax) -> dict:
    """What an Axes shows, in numbers and strings."""
    return {
        "title": ax.get_title(),
        "collections": [type(c).__name__ for c in ax.collections],
        "offsets": [np.asarray(c.get_offsets()).round(12).tolist() for c in ax.collections],
        "arrays": [
            # Masked and NaN cells become inf, which compares equal to itself.
            None
            if c.get_array() is None
            else np.nan_to_num(np.ma.filled(c.get_array(), np.inf), nan=np.inf).tolist()
            for c in ax.collections
        ],
        "patches": len(ax.patches),
        "lines": len(ax.lines),
        "texts": [t.get_text() for t in ax.texts],
        "xticks": [t.get_text() for t in ax.get_xticklabels()],
        "yticks": [t.get_text() for t in ax.get_yticklabels()],
        "figure_axes": len(ax.figure.axes),
    }


def _both(accessor_call, plain_call):
    _, ax1 = plt.subplots()
    got = accessor_call(ax1)
    _, ax2 = plt.subplots()
    expected = plain_call(ax2)
    assert got is ax1
    assert expected is ax2
    assert _drawing(got) == _drawing(expected)
    return got


def test_plot_network(df):
    parts = _parts(df)
    ax = _both(
        lambda ax: df.coda.plot.network(alpha=0.01, ax=ax, layout="spring", seed=4, c="y"),
        lambda ax: coda.plot_network(
            coda.network(parts, alpha=0.01, seed=4), x=parts, ax=ax, layout="spring", seed=4, c="y"
        ),
    )
    assert ax.get_title().startswith("Partial-correlation network")


def test_plot_network_biplot_layout_uses_the_parts(df):
    parts = _parts(df)
    _both(
        lambda ax: df.coda.plot.network(ax=ax, layout="biplot"),
        lambda ax: coda.plot_network(coda.network(parts), x=parts, ax=ax, layout="biplot"),
    )


def test_plot_heatmap_marks_significant_pairs(df):
    parts = _parts(df)
    ax = _both(
        lambda ax: df.coda.plot.heatmap(given=["p05"], ax=ax, alpha=0.1, edgecolors="k"),
        lambda ax: coda.plot_pcor_heatmap(
            coda.pcor(parts, given=["p05"]),
            tests=coda.pcor_test(parts, given=["p05"]),
            ax=ax,
            alpha=0.1,
            edgecolors="k",
        ),
    )
    assert "*" in [t.get_text() for t in ax.texts]
    _both(
        lambda ax: df.coda.plot.heatmap(adjust=None, ax=ax, cluster=True),
        lambda ax: coda.plot_pcor_heatmap(
            coda.pcor(parts), tests=coda.pcor_test(parts, adjust=None), ax=ax, cluster=True
        ),
    )


def test_plot_biplot_groups_by_column_name(df):
    parts = _parts(df)
    ax = _both(
        lambda ax: df.coda.plot.biplot(groups="group", ax=ax, scaling="covariance"),
        lambda ax: coda.plot_biplot(parts, groups=df["group"], ax=ax, scaling="covariance"),
    )
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["north", "south"]
    labels = ["a", "b", "c", "d"] * 20
    _both(
        lambda ax: df.coda.plot.biplot(groups=labels, ax=ax),
        lambda ax: coda.plot_biplot(parts, groups=labels, ax=ax),
    )


def test_plot_ternary(df):
    parts = _parts(df)
    _both(
        lambda ax: df.coda.plot.ternary(parts=["p03", "p01", "p02"], ax=ax, center=True, s=4),
        lambda ax: coda.plot_ternary(parts, parts=["p03", "p01", "p02"], ax=ax, center=True, s=4),
    )


def test_plot_variation(df):
    parts = _parts(df)
    _both(
        lambda ax: df.coda.plot.variation(ddof=0, ax=ax, cmap="magma"),
        lambda ax: coda.plot_variation(coda.variation(parts, ddof=0), ax=ax, cmap="magma"),
    )


def test_plot_without_ax_draws_on_the_current_axes(df):
    _, ax = plt.subplots()
    assert df.coda.plot.variation() is ax


def test_plot_keyword_errors_are_the_functions(df):
    with pytest.raises(TypeError, match=r"plot_variation\(\) got unexpected keyword"):
        df.coda.plot.variation(colour="red")


@pytest.mark.parametrize(
    ("method", "function"),
    [("network", coda.network), ("heatmap", coda.pcor_test), ("variation", coda.variation)],
)
def test_plot_options_have_the_functions_defaults(method, function):
    mine = inspect.signature(getattr(CodaPlotAccessor, method)).parameters
    theirs = inspect.signature(function).parameters
    shared = [name for name in mine if name in theirs]
    assert shared
    for name in shared:
        assert mine[name].kind is inspect.Parameter.KEYWORD_ONLY
        assert mine[name].default == theirs[name].default, name


@settings(max_examples=25, deadline=None)
@given(
    x=compositions(min_rows=2, max_rows=8, max_parts=6),
    position=st.integers(min_value=0, max_value=6),
)
def test_an_id_column_anywhere_changes_nothing(x, position):
    parts = pd.DataFrame(x, columns=[f"c{k}" for k in range(x.shape[1])])
    frame = parts.copy()
    frame.insert(min(position, x.shape[1]), "id", [f"s{k}" for k in range(len(frame))])
    assert frame.coda.parts == list(parts.columns)
    assert_same(frame.coda.clr(), coda.clr(parts))
    assert_same(frame.coda.closure(), coda.closure(parts))


def test_plot_biplot_groups_by_any_column_label():
    # a tuple label named a column only if it was a string; a mistyped name
    # was read as one label per character ("groups has 5 labels")
    frame = coda.simulate(20, 4, seed=0).data
    frame[("meta", "site")] = ["n", "s"] * 10
    ax = frame.coda.plot.biplot(groups=("meta", "site"))
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["n", "s"]
    frame = coda.simulate(20, 4, seed=0).data.assign(site=["n", "s"] * 10)
    with pytest.raises(ValueError, match=r"groups='sitee' is not a column; the columns are"):
        frame.coda.plot.biplot(groups="sitee")
    plt.close("all")


def test_plot_biplot_groups_must_name_one_column():
    # a MultiIndex group ("meta") selected a sub-frame, an unknown tuple was
    # read as labels and an unknown integer raised "'int' object is not iterable"
    rng = np.random.default_rng(0)
    columns = pd.MultiIndex.from_tuples([("oxide", "Si"), ("oxide", "Al"), ("oxide", "Fe")])
    frame = pd.DataFrame(np.exp(rng.normal(size=(8, 3))), columns=columns)
    frame[("meta", "site")] = list("nnnnssss")
    for groups in [("meta", "sitx"), "meta"]:
        with pytest.raises(ValueError, match=r"groups=.* is not a column; the columns are"):
            frame.coda.plot.biplot(groups=groups)
    numbered = pd.DataFrame(np.exp(rng.normal(size=(8, 3))))
    numbered[3] = list("nnnnssss")
    with pytest.raises(ValueError, match=r"groups=7 is not a column; the columns are 0, 1, 2, 3"):
        numbered.coda.plot.biplot(groups=7)
    _, ax = plt.subplots()
    numbered.coda.plot.biplot(groups=3, ax=ax)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["n", "s"]
    # a tuple with one label per sample is still the labels themselves
    _, ax = plt.subplots()
    numbered.coda.plot.biplot(groups=tuple("nsnsnsns"), ax=ax)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["n", "s"]
    plt.close("all")


def test_plot_biplot_groups_named_by_a_part_and_an_ignored_column():
    # the label of an ignored column shared with a part grouped by the part's
    # values: one group per sample, a legend of floats
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(np.exp(rng.normal(size=(8, 3))), columns=["a", "b", "c"])
    frame = pd.concat([frame, pd.DataFrame({"a": list("nsnsnsns")})], axis=1)
    ax = frame.coda.plot.biplot(groups="a")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["n", "s"]
    twice = pd.concat([frame, pd.DataFrame({"a": list("xxxxyyyy")})], axis=1)
    with pytest.raises(ValueError, match=r"groups='a' names 2 columns \(positions 3, 4\)"):
        twice.coda.plot.biplot(groups="a")


def test_object_column_of_decimals_is_named_not_dropped_silently():
    # pandas reads Parquet decimal columns as objects holding decimal.Decimal,
    # which is not a numbers.Real: such a part was left out without a word.
    from decimal import Decimal

    frame = pd.DataFrame(
        {
            "Si": [Decimal("72.10"), Decimal("70.55"), Decimal("74.05")],
            "Na": [17.2, 18.0, 15.9],
            "Ca": [6.1, 7.0, 5.5],
        }
    )
    with pytest.warns(coda.CodaWarning, match=r"'Si' \(e\.g\. Decimal\('72\.10'\)\)"):
        parts = frame.coda.parts
    assert list(parts) == ["Na", "Ca"]
