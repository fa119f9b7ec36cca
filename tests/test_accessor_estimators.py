"""The estimators and balances of ``df.coda``: each is its coda function on the parts.

The methods of ``coda/_accessor_estimators.py`` and ``CodaAccessor.balances``
must give, bit for bit, what the plain function gives on the frame's part
columns, with the same labels, the same keyword-only options and defaults,
and without touching the frame.
"""

from __future__ import annotations

import dataclasses
import inspect

import pandas as pd
import pytest
from exact import assert_same
from numpydoc.docscrape import NumpyDocString

import coda
from coda.accessor import CodaAccessor

PARTS = ["p01", "p02", "p03", "p04", "p05"]
SBP = [[1, 1, -1, -1, -1], [1, -1, 0, 0, 0], [0, 0, 1, -1, -1], [0, 0, 0, 1, -1]]


@pytest.fixture
def df():
    """Compositions with an id column first, a group column among the parts, labels, attrs."""
    frame = coda.simulate(80, 5, graph="chain", seed=3).data
    frame.insert(0, "id", [f"s{k}" for k in range(len(frame))])
    frame.insert(3, "group", pd.Categorical(["north", "south"] * 40))
    frame.index = pd.Index([f"row{k}" for k in range(len(frame))], name="sample")
    frame.attrs["source"] = "survey 2021"
    return frame


# method -> (plain function, positional arguments after the data, options away from
# their defaults). Every method is also called with its defaults.
CASES = {
    "center": (coda.center, (), {}),
    "total_variance": (coda.total_variance, (), {"ddof": 0}),
    "alr_cov": (coda.alr_cov, (), {"ref": "p02", "ddof": 0}),
    "ilr_cov": (coda.ilr_cov, (), {"basis": "pivot", "ddof": 0}),
    "multiple_r2": (coda.multiple_r2, (), {"ref": "p03"}),
    "proportionality": (coda.proportionality, (), {"metric": "phs", "ddof": 0}),
    "balance_correlation": (coda.balance_correlation, (), {"ddof": 0}),
    "balances": (coda.balances, (SBP,), {}),
    "pcor_shrink": (coda.pcor_shrink, (), {"method": "bshrink", "lam": 0.3, "lam_var": 0.1}),
    "pcor_glasso": (
        coda.pcor_glasso,
        (),
        {"criterion": "stars", "n_penalties": 8, "n_subsamples": 5, "threshold": 0.1, "seed": 4},
    ),
    "pcor_bootstrap": (
        coda.pcor_bootstrap,
        (),
        {"given": ["p01"], "n_boot": 50, "seed": 7, "ci": 0.9, "progress": False},
    ),
}
# Defaults, except what keeps a test quiet and reproducible.
DEFAULT_CALL = {"pcor_bootstrap": {"seed": 0, "progress": False}}

# The labels of each result: (index, columns) of a DataFrame, index of a Series.
ALR_P02 = ["p01/p02", "p03/p02", "p04/p02", "p05/p02"]
LABELS = {
    "center": (PARTS,),
    "alr_cov": (ALR_P02, ALR_P02),
    "ilr_cov": (["ilr1", "ilr2", "ilr3", "ilr4"],) * 2,
    "multiple_r2": (["p01/p03", "p02/p03", "p04/p03", "p05/p03"],),
    "proportionality": (PARTS, PARTS),
    "balance_correlation": (PARTS, PARTS),
    "balances": (None, ["p01,p02/p03,p04,p05", "p01/p02", "p03/p04,p05", "p04/p05"]),
}
ROWS = {"balances"}  # results with the frame's rows, which keep its attrs


def _call(frame, method, defaults=False):
    function, args, options = CASES[method]
    if defaults:
        options = DEFAULT_CALL.get(method, {})
    return getattr(frame.coda, method)(*args, **options), function(frame[PARTS], *args, **options)


@pytest.mark.parametrize("defaults", [False, True], ids=["options", "defaults"])
@pytest.mark.parametrize("method", sorted(CASES))
def test_method_is_the_function_on_the_part_columns(df, method, defaults):
    got, expected = _call(df, method, defaults)
    assert_same(got, expected)
    if method in ROWS:
        # As the transforms: the frame's attrs, and the result's own record of its parts.
        assert got.attrs == {**df.attrs, **expected.attrs}
        assert "coda.ilr" in got.attrs
    elif isinstance(expected, pd.DataFrame | pd.Series):
        assert got.attrs == expected.attrs
        assert "source" not in got.attrs


@pytest.mark.parametrize("method", sorted(CASES))
def test_labels_are_the_frames(df, method):
    got, _ = _call(df, method)
    frames = [got] if isinstance(got, pd.DataFrame | pd.Series) else []
    if dataclasses.is_dataclass(got):
        frames = [v for v in vars(got).values() if isinstance(v, pd.DataFrame)]
        assert frames
        for frame in frames:
            assert list(frame.index) == PARTS
            assert list(frame.columns) == PARTS
    if method in LABELS:
        index, *columns = LABELS[method]
        assert list(got.index) == (list(df.index) if index is None else index)
        if columns:
            assert list(got.columns) == columns[0]
    if method in ROWS:
        pd.testing.assert_index_equal(got.index, df.index)
    for frame in frames:
        labels = {*frame.index} | ({*frame.columns} if isinstance(frame, pd.DataFrame) else set())
        assert not labels & {"id", "group"}


@pytest.mark.parametrize("method", sorted(CASES))
def test_non_numeric_columns_are_left_out(df, method):
    # With nothing to leave out, with an id column, and with an ignored column that
    # shares its name with a part: the same numbers.
    function, args, options = CASES[method]
    parts = df[PARTS]
    shadowed = parts.copy()
    shadowed.insert(2, "p01", ["x"] * len(shadowed), allow_duplicates=True)
    assert shadowed.coda.ignored == ["p01"]
    expected = function(parts, *args, **options)
    for frame in (parts, df, shadowed):
        got = getattr(frame.coda, method)(*args, **options)
        assert_same(got, expected)


def test_the_frame_is_not_mutated(df):
    before = df.copy(deep=True)
    attrs = {"source": "survey 2021"}
    for method in CASES:
        _call(df, method)
        _call(df, method, defaults=True)
    pd.testing.assert_frame_equal(df, before, check_exact=True)
    assert df.attrs == attrs


@pytest.mark.parametrize("method", sorted(CASES))
def test_options_are_the_functions(method):
    # Same names, kinds and defaults as the function, after its data argument.
    function = CASES[method][0]
    mine = list(inspect.signature(getattr(CodaAccessor, method)).parameters.values())[1:]
    theirs = list(inspect.signature(function).parameters.values())[1:]
    assert [(p.name, p.kind, p.default) for p in mine] == [
        (p.name, p.kind, p.default) for p in theirs
    ]


@pytest.mark.parametrize("method", sorted(CASES))
def test_docstring_names_the_function_and_has_examples(method):
    doc = NumpyDocString(inspect.getdoc(getattr(CodaAccessor, method)))
    see_also = {name for names, _ in doc["See Also"] for name, _ in names}
    assert f"coda.{method}" in see_also
    assert any(">>> " in line for line in doc["Examples"])


def test_options_pass_through_and_errors_are_the_functions(df):
    # A wrong option raises what the function raises, for the same reason.
    with pytest.raises(ValueError, match="metric='tau' is not a known option") as theirs:
        coda.proportionality(df[PARTS], metric="tau")
    with pytest.raises(ValueError, match="metric='tau' is not a known option") as mine:
        df.coda.proportionality(metric="tau")
    assert str(mine.value) == str(theirs.value)
    with pytest.raises(TypeError, match="unexpected keyword argument 'basis'"):
        df.coda.alr_cov(basis="pivot")


def test_pcor_bootstrap_passes_the_method_and_its_options():
    frame = coda.simulate(30, 40, graph="chain", seed=2).data
    frame.insert(0, "site", "north")
    options = {"method": "bshrink", "lam": 0.3, "n_boot": 20, "seed": 1, "progress": False}
    got = frame.coda.pcor_bootstrap(**options)
    assert_same(got, coda.pcor_bootstrap(frame.drop(columns="site"), **options))
