"""dask arrays and DataFrames through the geometry, transforms and zero replacement.

Each function maps the in-memory function over blocks of rows, so a dask
result, once computed, must equal the in-memory result exactly; the tests
also check that nothing is computed before ``.compute()``, that chunks,
divisions, dtypes and labels survive, and that bad input raises coda's usual
messages.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import warnings

import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from dask.base import is_dask_collection
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal

import coda
from coda import _dask
from coda._validation import DaskChunkWarning
from tests.sources import CountingArray
from tests.strategies import compositions

ROWS = (7, 13, 1, 19)  # uneven chunks of rows, one of a single row
N = sum(ROWS)
PARTS = ["Si", "Na", "Ca", "Mn"]
SBP = [[1, 1, -1, -1], [1, -1, 0, 0], [0, 0, 1, -1]]

# name -> (function of the data, data argument kind)
ONE_ARG = {
    "closure": (lambda x: coda.closure(x, total=100), "composition"),
    "clr": (coda.clr, "composition"),
    "alr": (coda.alr, "composition"),
    "alr_ref": (lambda x: coda.alr(x, ref=1), "composition"),
    "ilr": (coda.ilr, "composition"),
    "ilr_pivot": (lambda x: coda.ilr(x, basis="pivot"), "composition"),
    "ilr_sbp": (lambda x: coda.ilr(x, basis=coda.sbp_basis(SBP)), "composition"),
    "balances": (lambda x: coda.balances(x, SBP), "composition"),
    "power": (lambda x: coda.power(x, 2.5), "composition"),
    "norm": (coda.norm, "composition"),
    "clr_inv": (coda.clr_inv, "coordinates"),
    "alr_inv": (coda.alr_inv, "coordinates"),
    "ilr_inv": (coda.ilr_inv, "coordinates"),
    "ilr_inv_pivot": (lambda z: coda.ilr_inv(z, basis="pivot"), "coordinates"),
    "replace_multiplicative": (
        lambda x: coda.replace_zeros(x, method="multiplicative", delta=1e-3),
        "zeros",
    ),
    "replace_default_delta": (coda.replace_zeros, "zeros"),
    "replace_detection_limit": (
        lambda x: coda.replace_zeros(x, detection_limit=[0.01, 0.02, 0.01, 0.03]),
        "zeros",
    ),
    "replace_pseudocount": (
        lambda x: coda.replace_zeros(x, method="pseudocount", output="proportions"),
        "zeros",
    ),
}
TWO_ARG = {
    "perturb": coda.perturb,
    "perturb_inv": coda.perturb_inv,
    "inner": coda.inner,
    "distance": coda.distance,
}


# An explicit basis is applied by a BLAS matrix product, whose order of
# summation depends on the shape of the block (a one-row block is a
# matrix-vector product): these agree with the in-memory result to rounding.
BLAS = {"ilr_sbp", "balances"}


def _assert_same(name, result, expected):
    if name in BLAS:
        eps = np.finfo(np.asarray(expected).dtype).eps
        scale = np.abs(np.asarray(expected)).max()
        np.testing.assert_allclose(result, expected, rtol=8 * eps, atol=8 * eps * scale)
    else:
        assert_array_equal(result, expected)


def _data(kind: str, dtype, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "coordinates":
        return rng.normal(size=(N, 4)).astype(dtype)
    x = np.exp(rng.normal(scale=2.0, size=(N, 4))).astype(dtype)
    if kind == "zeros":
        x[rng.random(x.shape) < 0.2] = 0
        x[:, 0] = np.where(x.sum(axis=1) == 0, 1, x[:, 0])
    return x


def _frame(values: np.ndarray, kind: str) -> pd.DataFrame:
    columns = ["z1", "z2", "z3", "z4"] if kind == "coordinates" else PARTS
    index = pd.Index(np.arange(N) * 10 + 5, name="sample")
    return pd.DataFrame(values, columns=columns, index=index)


def _dask_frame(frame: pd.DataFrame):
    # Divisions at the same uneven places as the chunks of the arrays.
    return dd.from_pandas(frame, npartitions=1).repartition(
        divisions=[frame.index[s] for s in np.cumsum((0, *ROWS[:-1]))] + [frame.index[-1]]
    )


def _dask_array(values: np.ndarray):
    return da.from_array(values, chunks=(ROWS, values.shape[1]))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", list(ONE_ARG))
def test_array_result_equals_in_memory(name, dtype):
    fn, kind = ONE_ARG[name]
    x = _data(kind, dtype)
    if name in ("alr_inv", "ilr_inv", "ilr_inv_pivot"):
        x = x[:, :3]
    before = x.copy()
    expected = fn(x)
    result = fn(_dask_array(x))
    assert isinstance(result, da.Array)
    assert result.chunks[0] == ROWS
    assert result.dtype == expected.dtype
    assert result._meta.dtype == expected.dtype
    assert result.ndim == expected.ndim
    computed = result.compute()
    assert type(computed) is np.ndarray
    _assert_same(name, computed, expected)
    assert computed.dtype == expected.dtype
    assert_array_equal(x, before)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", list(ONE_ARG))
def test_frame_result_equals_in_memory(name, dtype):
    fn, kind = ONE_ARG[name]
    frame = _frame(_data(kind, dtype), kind)
    if name in ("alr_inv", "ilr_inv", "ilr_inv_pivot"):
        frame = frame.iloc[:, :3]
    expected = fn(frame)
    dframe = _dask_frame(frame)
    result = fn(dframe)
    assert result.divisions == dframe.divisions
    assert result.npartitions == len(ROWS)
    if isinstance(expected, pd.DataFrame):
        assert list(result.columns) == list(expected.columns)
        assert result.dtypes.equals(expected.dtypes)
        computed = result.compute()
        pd.testing.assert_frame_equal(computed, expected, check_exact=name not in BLAS)
        _assert_same(name, computed.to_numpy(), expected.to_numpy())
    else:
        assert result.name == expected.name
        pd.testing.assert_series_equal(result.compute(), expected, check_exact=True)


def test_frame_columns_named_as_in_memory():
    frame = _frame(_data("composition", np.float64), "composition")
    dframe = _dask_frame(frame)
    assert list(coda.clr(dframe).columns) == PARTS
    assert list(coda.alr(dframe).columns) == ["Si/Mn", "Na/Mn", "Ca/Mn"]
    assert list(coda.alr(dframe, ref="Na").columns) == ["Si/Na", "Ca/Na", "Mn/Na"]
    assert list(coda.ilr(dframe).columns) == ["ilr1", "ilr2", "ilr3"]
    assert list(coda.balances(dframe, SBP).columns) == ["Si,Na/Ca,Mn", "Si/Na", "Ca/Mn"]
    # alr_inv gives the parts their names back, as in memory
    assert list(coda.alr_inv(coda.alr(dframe)).columns) == PARTS


@pytest.mark.parametrize("name", list(TWO_ARG))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_pairs_equal_in_memory(name, dtype):
    fn = TWO_ARG[name]
    x = _data("composition", dtype, seed=1)
    y = _data("composition", dtype, seed=2)
    assert_array_equal(fn(_dask_array(x), _dask_array(y)).compute(), fn(x, y))
    # y in other blocks of rows follows x's blocks
    result = fn(_dask_array(x), da.from_array(y, chunks=(10, 4)))
    assert result.chunks[0] == ROWS
    assert_array_equal(result.compute(), fn(x, y))
    # one in-memory composition combined with every row, on either side
    assert_array_equal(fn(_dask_array(x), y[3]).compute(), fn(x, y[3]))
    assert_array_equal(fn(y[3], _dask_array(x)).compute(), fn(y[3], x))
    fx, fy = _frame(x, "composition"), _frame(y, "composition")
    result = fn(_dask_frame(fx), _dask_frame(fy)).compute()
    expected = fn(fx, fy)
    assert_array_equal(result.to_numpy(), expected.to_numpy())
    assert result.index.equals(expected.index)
    result = fn(_dask_frame(fx), fy.iloc[0]).compute()
    assert_array_equal(result.to_numpy(), fn(fx, fy.iloc[0]).to_numpy())


@st.composite
def chunked(draw):
    """A composition and a random split of its rows into chunks."""
    x = draw(compositions(min_rows=1, max_rows=30, max_log10=4.0))
    cuts = draw(st.lists(st.integers(1, x.shape[0] - 1), unique=True)) if len(x) > 1 else []
    bounds = [0, *sorted(cuts), x.shape[0]]
    return x, tuple(np.diff(bounds).tolist())


@settings(max_examples=40, deadline=None)
@given(chunked())
def test_chunking_does_not_change_the_result(case):
    x, rows = case
    dx = da.from_array(x, chunks=(rows, x.shape[1]))
    assert_array_equal(coda.clr(dx).compute(), coda.clr(x))
    assert_array_equal(coda.ilr(dx).compute(), coda.ilr(x))
    assert_array_equal(coda.closure(dx).compute(), coda.closure(x))
    assert_array_equal(coda.norm(dx).compute(), coda.norm(x))


@settings(max_examples=25, deadline=None)
@given(chunked())
def test_round_trip_on_dask(case):
    x, rows = case
    dx = da.from_array(x, chunks=(rows, x.shape[1]))
    back = coda.ilr_inv(coda.ilr(dx)).compute()
    np.testing.assert_allclose(back, coda.closure(x), rtol=2e-3 if x.dtype == np.float32 else 1e-9)


@pytest.mark.parametrize(
    "fn",
    [coda.clr, coda.ilr, coda.closure, coda.norm, lambda x: coda.replace_zeros(x, delta=0.1)],
)
def test_nothing_is_computed_before_compute(fn):
    source = CountingArray(_data("composition", np.float64))
    x = da.from_array(source, chunks=(ROWS, 4), meta=np.empty((0, 0)))
    result = fn(x)
    assert source.reads == []
    # one task of coda's per block of rows, on top of the reads
    graph = dict(result.__dask_graph__())
    assert sum(1 for key in graph if key[0].startswith("coda-")) == len(ROWS)
    result.compute()
    assert len(source.reads) == len(ROWS)


def test_frame_stays_lazy():
    calls = []

    def load(i):
        calls.append(i)
        return _frame(_data("composition", np.float64, seed=i), "composition")

    meta = _frame(_data("composition", np.float64), "composition").iloc[:0]
    x = dd.from_map(load, [0, 1, 2], meta=meta)
    result = coda.alr(coda.closure(x))
    assert calls == []
    assert is_dask_collection(result)
    result.compute()
    assert sorted(calls) == [0, 1, 2]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0.0, r"x has 1 zeros \(rows 25\); log-ratios need positive parts"),
        (-1.0, r"x contains 1 negative values \(rows 25\)"),
        (np.nan, r"x contains 1 NaN or infinite values \(rows 25\)"),
    ],
)
def test_bad_values_raise_at_compute_with_global_rows(value, message):
    x = _data("composition", np.float64)
    x[25, 2] = value
    result = coda.clr(_dask_array(x))  # no error yet: nothing is read
    with pytest.raises(ValueError, match=message):
        result.compute()
    with pytest.raises(ValueError, match=message):
        coda.clr(x)


def test_bad_values_in_a_frame_name_index_labels():
    frame = _frame(_data("composition", np.float64), "composition")
    frame.iloc[25, 1] = 0.0
    result = coda.ilr(_dask_frame(frame))
    with pytest.raises(ValueError, match=r"x has 1 zeros \(rows 255\)"):
        result.compute()


def test_bad_coordinates_raise_at_compute():
    z = _data("coordinates", np.float64)
    z[22, 0] = np.inf
    with pytest.raises(ValueError, match=r"z contains 1 NaN or infinite values \(rows 22\)"):
        coda.clr_inv(_dask_array(z)).compute()


def test_unknown_chunk_sizes_count_rows_in_the_block():
    frame = _frame(_data("composition", np.float64), "composition")
    frame.iloc[25, 1] = 0.0
    x = _dask_frame(frame).to_dask_array()
    assert np.isnan(x.chunks[0][0])
    with pytest.raises(ValueError, match=r"in block 3 of rows .* x has 1 zeros \(rows 4\)"):
        coda.clr(x).compute()
    assert_array_equal(coda.closure(x).compute(), coda.closure(frame.to_numpy()))


def test_options_are_checked_at_once():
    x = _dask_array(_data("composition", np.float64))
    with pytest.raises(ValueError, match="basis='nope' is not a known option"):
        coda.ilr(x, basis="nope")
    with pytest.raises(ValueError, match="ref=7 is out of range for 4 parts"):
        coda.alr(x, ref=7)
    with pytest.raises(ValueError, match="total="):
        coda.closure(x, total=-1)
    with pytest.raises(ValueError, match="method='median' is not a known option"):
        coda.replace_zeros(x, method="median")


def test_non_numeric_columns_raise_at_once():
    frame = _frame(_data("composition", np.float64), "composition")
    frame["site"] = "a"
    x = dd.from_pandas(frame, npartitions=3)
    with pytest.raises(TypeError, match=r"x has non-numeric columns: site; select the numeric"):
        coda.clr(x)


def test_chunked_along_parts_is_rechunked_with_a_warning():
    values = _data("composition", np.float64)
    x = da.from_array(values, chunks=(ROWS, 2))
    with pytest.warns(DaskChunkWarning, match=r"split into 2 chunks along its parts") as w:
        result = coda.clr(x)
    assert w[0].filename == __file__
    assert result.chunks == (ROWS, (4,))
    assert_array_equal(result.compute(), coda.clr(values))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        coda.clr(x.rechunk({1: -1}))


def test_bayesian_zeros_refuse_dask():
    x = _dask_array(np.ones((N, 4)))
    with pytest.raises(ValueError, match=r'method="gbm" estimates its prior .* all rows'):
        coda.replace_zeros(x, method="gbm")


def test_part_zero_in_every_row_of_a_block_is_fine_on_dask():
    x = _data("composition", np.float64)
    x[:7, 1] = 0  # zero in the whole first block, not in the whole array
    result = coda.replace_zeros(_dask_array(x), delta=1e-3).compute()
    assert_array_equal(result, coda.replace_zeros(x, delta=1e-3))


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda x: coda.power(x, np.ones(N)),
            ValueError,
            r"a has shape \(40,\), but with a dask x",
        ),
        (lambda x: coda.perturb(x, np.ones((N, 4))), ValueError, r"y has 40 rows in memory"),
        (lambda x: coda.perturb(x, x[:10]), ValueError, r"x has 40 rows and y has 10"),
        (lambda x: coda.clr(x[:, 0]), ValueError, r"x is a 1-D dask array"),
        (lambda x: coda.clr(x.to_dask_dataframe()[0]), TypeError, r"x is a dask Series"),
        (
            lambda x: coda.perturb(x, x.to_dask_dataframe()),
            TypeError,
            r"x is a dask array and y a dask frame",
        ),
    ],
)
def test_unsupported_dask_shapes_raise(call, error, message):
    x = _dask_array(_data("composition", np.float64))
    with pytest.raises(error, match=message):
        call(x)


def test_functions_without_a_dask_path_refuse_dask():
    x = _dask_array(_data("composition", np.float64))
    with pytest.raises(TypeError, match=r"x is a dask Array, which this function does not take"):
        coda.biplot_coordinates(x)
    frame = x.to_dask_dataframe()
    with pytest.raises(TypeError, match=r"x is a dask DataFrame, .* \(x = x.compute\(\)\)"):
        coda.biplot_coordinates(frame)


def test_non_numeric_parquet_columns_raise_at_once(tmp_path):
    frame = _frame(_data("composition", np.float64), "composition")
    frame["site"] = ["north", "south"] * (N // 2)
    frame.to_parquet(tmp_path / "glass.parquet")
    x = dd.read_parquet(tmp_path / "glass.parquet")
    with pytest.raises(TypeError, match=r"x has non-numeric columns: site"):
        coda.clr(x)
    parts = x[PARTS]
    pd.testing.assert_frame_equal(coda.clr(parts).compute(), coda.clr(frame[PARTS]))


def test_import_coda_does_not_import_dask():
    code = "import coda, sys; assert 'dask' not in sys.modules, 'dask imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_dask_part_names_the_extra(monkeypatch):
    real = importlib.import_module

    def fake(name, *args):
        if name.startswith("dask.dataframe"):
            raise ImportError("No module named 'dask.dataframe'")
        return real(name, *args)

    x = dd.from_pandas(_frame(_data("composition", np.float64), "composition"), npartitions=2)
    monkeypatch.setattr(importlib, "import_module", fake)
    message = r'dask input needs dask.dataframe, .* pip install "coda-logratio\[dask\]"'
    with pytest.raises(ImportError, match=message):
        coda.clr(x)
    with pytest.raises(ImportError, match=message):
        _dask.import_dask("dask.dataframe")


def test_blocks_run_in_one_thread_each():
    # dask already runs blocks in parallel: coda's own row-block threads stay
    # off inside a block, and the caller's setting is untouched afterwards.
    import numba

    from coda._dask import map_rows

    seen = []

    def record(block):
        seen.append(numba.get_num_threads())
        return np.asarray(block, dtype=float)

    before = numba.get_num_threads()
    x = da.from_array(np.ones((40, 3)), chunks=(10, 3))
    np.testing.assert_array_equal(map_rows(record, x).compute(), np.ones((40, 3)))
    assert seen and set(seen[1:]) == {1}
    assert numba.get_num_threads() == before


EXTENSION_DTYPES = ["Float64", "Int64", "double[pyarrow]", "int64[pyarrow]", "float[pyarrow]"]


@pytest.mark.parametrize("dtype", EXTENSION_DTYPES)
def test_extension_dtypes_behave_as_in_memory(dtype):
    # pandas' nullable and pyarrow columns: numbers as in memory, float64
    # out (float32 for float32 columns), checked at once from the dtypes.
    values = np.round(_data("composition", np.float64) * 1000) + 1
    frame = _frame(values, "composition").astype(dtype)
    dframe = _dask_frame(frame)
    for fn in (coda.clr, coda.closure, coda.ilr, lambda x: coda.alr(x, ref="Na"), coda.norm):
        expected = fn(frame)
        result = fn(dframe)
        if isinstance(expected, pd.DataFrame):
            assert result.dtypes.equals(expected.dtypes)
            pd.testing.assert_frame_equal(result.compute(), expected)
        else:
            assert result.dtype == expected.dtype
            pd.testing.assert_series_equal(result.compute(), expected)
    other = _frame(values[::-1].copy(), "composition").astype(dtype)
    pd.testing.assert_frame_equal(
        coda.perturb(dframe, _dask_frame(other)).compute(), coda.perturb(frame, other)
    )
    assert coda.clr(dframe).dtypes.unique().tolist() == [
        np.float32 if dtype == "float[pyarrow]" else np.float64
    ]


def test_missing_values_in_nullable_columns_raise_as_in_memory():
    frame = _frame(_data("composition", np.float64), "composition").astype("Float64")
    frame.iloc[25, 2] = pd.NA
    result = coda.clr(_dask_frame(frame))  # no error yet: nothing is read
    message = r"x contains 1 NaN or infinite values \(rows 255\)"
    with pytest.raises(ValueError, match=message):
        result.compute()
    with pytest.raises(ValueError, match=message):
        coda.clr(frame)


def test_parquet_read_with_pyarrow_dtypes(tmp_path):
    frame = _frame(_data("composition", np.float64), "composition")
    frame.to_parquet(tmp_path / "glass.parquet")
    x = dd.read_parquet(tmp_path / "glass.parquet", dtype_backend="pyarrow")
    assert str(x.dtypes.iloc[0]) == "double[pyarrow]"
    result = coda.clr(x)
    assert (result.dtypes == np.float64).all()
    pd.testing.assert_frame_equal(result.compute(), coda.clr(x.compute()))
    assert_array_equal(result.compute().to_numpy(), coda.clr(frame).to_numpy())
    assert_array_equal(coda.distance(x, x).compute().to_numpy(), np.zeros(N))


def _filtered_pair():
    """A dask frame with a key column, and its parts: partitions aligned, rows not."""
    frame = _frame(_data("composition", np.float64), "composition")
    frame["keep"] = np.arange(N) >= ROWS[0]
    frame["not_row_10"] = np.arange(N) != 10
    whole = _dask_frame(frame)
    return frame, whole, whole[whole["keep"]][PARTS], whole[PARTS]


@pytest.mark.parametrize("name", list(TWO_ARG))
def test_pairs_of_frames_with_different_rows_in_a_partition_raise(name):
    # Filtering keeps the divisions, not the rows: the first partition of x
    # is empty, while y keeps all rows.
    fn = TWO_ARG[name]
    frame, whole, kept, parts = _filtered_pair()
    assert kept.divisions == parts.divisions
    result = fn(kept, parts)  # no error yet: nothing is read
    message = (
        r"partition 0 of x has 0 rows and partition 0 of y has 7; .* split and filtered alike"
    )
    with pytest.raises(ValueError, match=message):
        result.compute()
    with pytest.raises(
        ValueError, match=r"partition 0 of x has 7 rows and partition 0 of y has 0"
    ):
        fn(parts, kept).compute()
    # One row fewer in the second partition of y.
    fewer = whole[whole["not_row_10"]][PARTS]
    with pytest.raises(
        ValueError, match=r"partition 1 of x has 13 rows and partition 1 of y has 12"
    ):
        fn(parts, fewer).compute()
    # Both filtered alike: combined as in memory, empty partitions included.
    other = whole[whole["keep"]][PARTS[::-1]][PARTS]
    rows = frame[frame["keep"]][PARTS]
    expected = fn(rows, rows)
    computed = fn(kept, other).compute()
    assert_array_equal(computed.to_numpy(), expected.to_numpy())
    assert computed.index.equals(expected.index)


@pytest.mark.parametrize("name", list(TWO_ARG))
def test_arrays_of_unknown_chunk_sizes_pair_block_by_block(name):
    fn = TWO_ARG[name]
    x = _data("composition", np.float64, seed=1)
    y = _data("composition", np.float64, seed=2)
    ux = _dask_frame(_frame(x, "composition")).to_dask_array()
    uy = _dask_frame(_frame(y, "composition")).to_dask_array()
    assert np.isnan(ux.shape[0])
    # The same array twice, and two arrays of unknown sizes with the same blocks.
    assert_array_equal(fn(ux, ux).compute(), fn(x, x))
    assert_array_equal(fn(ux, uy).compute(), fn(x, y))
    # Known sizes against unknown ones, in the same blocks.
    assert_array_equal(fn(_dask_array(x), uy).compute(), fn(x, y))


def test_arrays_of_unknown_chunk_sizes_with_other_blocks_raise():
    x = _data("composition", np.float64)
    ux = _dask_frame(_frame(x, "composition")).to_dask_array()
    # Four blocks each, of other sizes, found as the blocks are read (block 1
    # of y has one row, which the in-memory function would combine with every row).
    other = da.from_array(x, chunks=((7, 1, 13, 19), 4))
    result = coda.perturb(ux, other)
    message = (
        r"block ([12]) of rows of x has (13|1) rows and block \1 of y has (1|13); blocks "
        r"whose sizes are unknown are paired by position, so compute the chunk sizes first "
        r"\(x.compute_chunk_sizes\(\)\), and then y follows x's blocks"
    )
    with pytest.raises(ValueError, match=message):
        result.compute()
    # Another number of blocks: at once.
    message = (
        r"x has 4 blocks of rows and y has 3, and the sizes of the blocks of x and y are "
        r"unknown, .* \(x.compute_chunk_sizes\(\), y.compute_chunk_sizes\(\)\)"
    )
    with pytest.raises(ValueError, match=message):
        coda.distance(ux, dd.from_pandas(_frame(x, "composition"), npartitions=3).to_dask_array())
    # Following the message: y then follows x's blocks.
    result = coda.perturb(ux.compute_chunk_sizes(), other)
    assert result.chunks[0] == ROWS
    assert_array_equal(result.compute(), coda.perturb(x, x))


def test_frames_with_other_divisions_raise_at_once():
    frame = _frame(_data("composition", np.float64), "composition")
    x = _dask_frame(frame)
    y = dd.from_pandas(frame, npartitions=4)
    assert y.npartitions == x.npartitions and y.divisions != x.divisions
    message = (
        r"x and y are split into partitions at different index values \(x.divisions is "
        r"\(5, 75, .*\) and y.divisions \(5, .*\)\); .* y.repartition\(divisions=x.divisions\)"
    )
    for fn in TWO_ARG.values():
        with pytest.raises(ValueError, match=message):
            fn(x, y)
    # Following the message: combined as in memory.
    result = coda.perturb(x, y.repartition(divisions=x.divisions)).compute()
    pd.testing.assert_frame_equal(result, coda.perturb(frame, frame))


@pytest.mark.parametrize("f", [coda.clr, coda.closure, coda.clr_cov])
def test_an_empty_dask_array_is_refused_as_in_memory(f):
    # Its zero rows are known without computing anything.
    empty = da.zeros((0, 4), chunks=(1, 4))
    with pytest.raises(ValueError, match=r"^x is empty \(shape \(0, 4\)\); it needs at least"):
        f(empty)
    with pytest.raises(ValueError, match=r"^x is empty \(shape \(0, 4\)\); it needs at least"):
        f(np.zeros((0, 4)))
