"""Covariance and partial correlations of dask input: one pass over row blocks, merged by Chan.

Oracles: the in-memory functions on the same data (to 1e-10 relative), a
two-pass numpy computation on data whose logs have a large mean and a tiny
spread, and hypothesis over the chunking.
"""

from __future__ import annotations

import itertools
import math
import re

import dask
import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import coda
from coda._dask_moments import block_moments
from coda._log_moments import LogMoments, merge_moments
from tests.strategies import full_rank_compositions

SEED = 20261127
# Relative to the largest entry of the in-memory result (entries near 0, such
# as small partial correlations, have no meaningful relative error of their own).
RTOL = 1e-10
PARTS = ["Si", "Al", "Fe", "Mg", "Ca", "Na"]
# Uneven row blocks, and parts split over two column blocks (rechunked to one).
CHUNKS = ((97, 3, 250, 1, 400, 249), (4, 2))
# Row blocks for the merge test: single rows, and blocks of very different sizes.
CUTS = [0, 1, 50, 51, 700, 1800, 2999, 3000]


@pytest.fixture(autouse=True)
def _threaded_scheduler():
    # The threaded scheduler whatever another test file left as dask's default.
    with dask.config.set(scheduler="threads"):
        yield


def _data(n=1000, d=6, seed=SEED):
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(d, d)) + 2.0 * np.eye(d)
    return np.exp(rng.normal(size=(n, d)) @ mixing + rng.normal(scale=3.0, size=d))


def _assert_close(actual, expected, rtol=RTOL):
    actual, expected = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    assert actual.shape == expected.shape
    np.testing.assert_allclose(
        actual, expected, rtol=rtol, atol=rtol * np.nanmax(np.abs(expected))
    )


def _poisoned(x: np.ndarray, dtype=None):
    """A dask array (of ``dtype``, by default ``x``'s) that fails if it is ever computed.

    Checks must come before the pass over the data.
    """

    def fail(block):
        raise AssertionError("the data were computed before the arguments were checked")

    return da.from_array(x, chunks=(10, -1)).map_blocks(fail, dtype=np.dtype(dtype or x.dtype))


MATRIX_FUNCTIONS = [
    (coda.variation, {}),
    (coda.clr_cov, {}),
    (coda.alr_cov, {"ref": 2}),
    (coda.ilr_cov, {"basis": "pivot"}),
    (coda.precision, {}),
    (coda.pcor, {}),
    (coda.pcor, {"given": [1, 4]}),
    (coda.partial_variance, {}),
    (coda.partial_variance, {"given": [0]}),
]


@pytest.mark.parametrize("ddof", [0, 1])
@pytest.mark.parametrize(
    ("function", "options"), MATRIX_FUNCTIONS, ids=lambda v: getattr(v, "__name__", str(v))
)
def test_dask_array_matches_in_memory(function, options, ddof):
    x = _data()
    result = function(da.from_array(x, chunks=CHUNKS), ddof=ddof, **options)
    assert isinstance(result, np.ndarray)
    _assert_close(result, function(x, ddof=ddof, **options))


def test_total_variance_and_multiple_r2_match_in_memory():
    x = _data()
    blocks = da.from_array(x, chunks=CHUNKS)
    assert coda.total_variance(blocks, ddof=0) == pytest.approx(
        coda.total_variance(x, ddof=0), rel=RTOL
    )
    _assert_close(coda.multiple_r2(blocks, ref=1), coda.multiple_r2(x, ref=1))


def test_ddof_scales_the_covariance_as_n_minus_ddof():
    x = _data(n=400)
    blocks = da.from_array(x, chunks=(33, -1))
    _assert_close(coda.clr_cov(blocks, ddof=0) * 400 / 399, coda.clr_cov(blocks, ddof=1))


@pytest.mark.parametrize(
    ("function", "options"), MATRIX_FUNCTIONS, ids=lambda v: getattr(v, "__name__", str(v))
)
def test_dask_dataframe_keeps_part_labels(function, options):
    x = _data()
    frame = pd.DataFrame(x, columns=PARTS, index=[f"s{i}" for i in range(len(x))])
    options = {k: [PARTS[i] for i in v] if k == "given" else v for k, v in options.items()}
    if "ref" in options:
        options["ref"] = PARTS[options["ref"]]
    result = function(dd.from_pandas(frame, npartitions=7), **options)
    expected = function(frame, **options)
    assert type(result) is type(expected)
    assert result.index.equals(expected.index)
    if isinstance(expected, pd.DataFrame):
        assert result.columns.equals(expected.columns)
    _assert_close(result, expected)


def test_pcor_test_matches_in_memory_table():
    x = _data(n=300)
    frame = pd.DataFrame(x, columns=PARTS)
    for options in ({}, {"given": ["Fe"]}, {"given": ["Fe", "Na"], "adjust": "holm"}):
        result = coda.pcor_test(dd.from_pandas(frame, npartitions=4), **options)
        expected = coda.pcor_test(frame, **options)
        pd.testing.assert_frame_equal(
            result[["part_i", "part_j", "df"]], expected[["part_i", "part_j", "df"]]
        )
        for column in ("r", "statistic", "pvalue", "qvalue"):
            _assert_close(result[column], expected[column])


def test_pcor_test_of_dask_array_names_parts_by_position():
    x = _data(n=200, d=4)
    table = coda.pcor_test(da.from_array(x, chunks=(64, -1)))
    expected = coda.pcor_test(x)
    assert table["part_i"].tolist() == expected["part_i"].tolist() == [0, 0, 0, 1, 1, 2]
    assert (table["df"] == 200 - 4 + 1).all()
    _assert_close(table["r"], expected["r"])


def test_empty_partitions_and_unknown_chunk_sizes():
    frame = pd.DataFrame(_data(n=500), columns=PARTS).sort_values("Si", ignore_index=True)
    parted = dd.from_pandas(frame, npartitions=5)
    # Keeping rows by a condition leaves the first partitions empty and chunk
    # sizes unknown.
    threshold = frame["Si"].iloc[250]
    kept = parted[parted["Si"] > threshold]
    expected = coda.clr_cov(frame[frame["Si"] > threshold])
    _assert_close(coda.clr_cov(kept), expected)
    unknown = kept.to_dask_array()
    assert np.isnan(unknown.chunks[0]).any()
    _assert_close(coda.clr_cov(unknown), expected.to_numpy())


def test_float32_blocks_are_computed_in_float64():
    x = _data(n=300).astype(np.float32)
    _assert_close(coda.pcor(da.from_array(x, chunks=(70, -1))), coda.pcor(x))


def test_input_is_not_modified():
    x = _data(n=200)
    before = x.copy()
    coda.pcor_test(da.from_array(x, chunks=(64, -1)))
    coda.partial_variance(da.from_array(x, chunks=(64, -1)), given=[0, 1])
    np.testing.assert_array_equal(x, before)


def _two_pass(y: np.ndarray, shift=None) -> LogMoments:
    """The moments of rows ``y`` relative to ``shift`` (zero by default), by two numpy passes."""
    shift = np.zeros(y.shape[1]) if shift is None else shift
    relative = y - shift
    centred = relative - relative.mean(axis=0)
    return LogMoments(y.shape[0], shift, relative.mean(axis=0), centred.T @ centred)


def _sorted_large_mean():
    """Mean 1e6, spread 1e-3, rows sorted: blocks' means differ and the merge term matters."""
    rng = np.random.default_rng(SEED)
    y = 1e6 + 1e-3 * rng.normal(size=(3000, 3)) @ np.array([[1, 0.5, 0], [0, 1, 0.2], [0, 0, 1]])
    y = y[np.argsort(y[:, 0])]
    # The reference: y - y[0] is exact (Sterbenz), fsum rounds its column sums
    # once, and the deviations from that mean are then accurate.
    shifted = y - y[0]
    exact_mean = np.array([math.fsum(column) for column in shifted.T]) / len(y)
    return y, exact_mean, (shifted - exact_mean).T @ (shifted - exact_mean)


def test_chan_merge_keeps_precision_where_sums_of_squares_fail():
    # The naive sum of squares minus n mean^2 cancels 18 digits, more than
    # float64 has. Here the blocks share a shift (the first row) and the
    # pairwise merge adds centred sums only.
    y, exact_mean, expected = _sorted_large_mean()
    naive = y.T @ y - len(y) * np.outer(y.mean(axis=0), y.mean(axis=0))
    assert np.abs(naive - expected).max() > 1e-2 * np.abs(expected).max()
    blocks = [_two_pass(y[a:b] - y[0]) for a, b in itertools.pairwise(CUTS)]
    merged = merge_moments(*blocks[:3], merge_moments(*blocks[3:]))
    assert merged.count == 3000
    _assert_close(merged.mean, exact_mean, rtol=1e-12)
    _assert_close(merged.comoment, expected, rtol=1e-12)
    np.testing.assert_array_equal(merged.comoment, merged.comoment.T)


def test_chan_merge_of_blocks_with_their_own_shifts_keeps_precision():
    # Each block shifted by its own first row, as coda's blocks are by the
    # mean clr of their own first rows: the merge takes the difference of
    # the shifts (exact) and of the small means, never of two large means.
    y, exact_mean, expected = _sorted_large_mean()
    blocks = [_two_pass(y[a:b], shift=y[a]) for a, b in itertools.pairwise(CUTS)]
    merged = merge_moments(*blocks[:3], merge_moments(*blocks[3:]))
    assert merged.count == 3000
    np.testing.assert_array_equal(merged.shift, y[0])
    _assert_close(merged.mean, exact_mean, rtol=1e-12)
    _assert_close(merged.comoment, expected, rtol=1e-12)
    np.testing.assert_array_equal(merged.comoment, merged.comoment.T)
    # The same blocks with their means about zero (shift and mean in one
    # number) round the large means, and the merge term loses digits.
    absolute = [LogMoments(b.count, np.zeros(3), b.shift + b.mean, b.comoment) for b in blocks]
    lossy = merge_moments(*absolute[:3], merge_moments(*absolute[3:]))
    assert np.abs(lossy.comoment - expected).max() > 1e-9 * np.abs(expected).max()


def test_merge_skips_empty_blocks():
    y = np.random.default_rng(SEED).normal(size=(20, 3))
    empty = LogMoments(0, np.zeros(3), np.zeros(3), np.zeros((3, 3)))
    head, tail = _two_pass(y[:7], shift=y[0]), _two_pass(y[7:], shift=y[7])
    merged = merge_moments(empty, head, empty, tail)
    np.testing.assert_array_equal(merged.shift, y[0])
    _assert_close(merged.comoment, _two_pass(y).comoment, rtol=1e-14)
    _assert_close(merged.shift + merged.mean, y.mean(axis=0), rtol=1e-14)


def test_block_moments_of_large_log_offsets_match_two_pass_clr():
    # log x has mean 700 (x near 1e304, still finite) and spread 0.03; the
    # moments are those of the clr values (the logs centred in each row).
    rng = np.random.default_rng(SEED)
    logs = 700.0 + 0.03 * rng.normal(size=(2000, 4))
    x = np.exp(logs)
    centred = logs - logs.mean(axis=1, keepdims=True)
    moments = block_moments(x, 0, 0)
    _assert_close(moments.comoment, _two_pass(centred).comoment, rtol=1e-11)
    _assert_close(moments.shift + moments.mean, centred.mean(axis=0), rtol=1e-11)
    blocks = da.from_array(x, chunks=(130, -1))
    _assert_close(coda.clr_cov(blocks), np.cov(centred.T), rtol=1e-10)


def _large_clr_means(n=40_000):
    """Logs with means 9, 0, -9, 2 and spread 1e-3: precision hangs on the shifts."""
    rng = np.random.default_rng(0)
    return np.exp(rng.normal(scale=1e-3, size=(n, 4)) + np.array([9.0, 0.0, -9.0, 2.0]))


@pytest.mark.parametrize(
    "rows",
    [
        (0, 10_000, 10_000, 10_000),
        (0, 0, 15_000, 0, 15_000),
        (0, 1, 29_999),
        (10_000, 0, 10_000, 10_000, 0),
    ],
)
def test_empty_leading_blocks_keep_precision(rows):
    # An empty first block used to give the other blocks a zero shift, and
    # the clr means of 9 against a spread of 1e-3 cost 1e-7 of the result.
    x = _large_clr_means()[10_000:]
    blocks = da.from_array(x, chunks=(rows, -1))
    _assert_close(coda.clr_cov(blocks), coda.clr_cov(x), rtol=1e-13)
    _assert_close(coda.variation(blocks), coda.variation(x), rtol=1e-13)
    _assert_close(coda.pcor(blocks), coda.pcor(x), rtol=1e-13)


def test_filtered_frame_with_empty_first_partitions_keeps_precision():
    frame = pd.DataFrame(_large_clr_means(), columns=PARTS[:4])
    frame["k"] = np.arange(len(frame))
    parted = dd.from_pandas(frame, npartitions=8)
    kept = parted[parted["k"] >= 12_000][PARTS[:4]]
    assert kept.map_partitions(len).compute().tolist()[:3] == [0, 0, 3_000]
    expected = frame[frame["k"] >= 12_000][PARTS[:4]]
    _assert_close(coda.clr_cov(kept), coda.clr_cov(expected), rtol=1e-13)
    _assert_close(coda.pcor(kept), coda.pcor(expected), rtol=1e-13)
    _assert_close(coda.clr_cov(kept.to_dask_array()), coda.clr_cov(expected), rtol=1e-13)


def test_blocks_with_far_apart_shifts_match_in_memory():
    # Rows sorted along a log-ratio that drifts by 4 while each block's
    # spread is 1e-3 around the drift: every block has its own shift, far
    # from the first block's. (pcor is left out: the drift makes the clr
    # covariance's condition number 3e6, and pcor inverts it.)
    rng = np.random.default_rng(SEED)
    n = 20_000
    drift = np.linspace(0.0, 4.0, n)[:, None] * [1.0, -1.0, 0.5, 0.0]
    x = np.exp(rng.normal(scale=1e-3, size=(n, 4)) + drift + np.array([9.0, 0.0, -9.0, 2.0]))
    for rows in ((0, 5_000, 0, 7_000, 8_000), (1_000,) * 20, (1, n - 1)):
        blocks = da.from_array(x, chunks=(rows, -1))
        _assert_close(coda.clr_cov(blocks), coda.clr_cov(x), rtol=1e-13)
        _assert_close(coda.variation(blocks), coda.variation(x), rtol=1e-13)


@settings(max_examples=25, deadline=None)
@given(x=full_rank_compositions(max_extra_rows=60), data=st.data())
def test_chunking_does_not_change_the_result(x, data):
    n = x.shape[0]
    cuts = sorted(data.draw(st.sets(st.integers(1, n - 1), max_size=6)))
    chunks = tuple(np.diff([0, *cuts, n]).tolist())
    whole = da.from_array(x, chunks=(n, -1))
    parted = da.from_array(x, chunks=(chunks, -1))
    _assert_close(coda.clr_cov(parted), coda.clr_cov(whole), rtol=1e-12)
    _assert_close(coda.pcor(parted), coda.pcor(whole), rtol=1e-12)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0.0, r"x has 1 zeros \(rows 1234\)"),
        (-1.0, r"x contains 1 negative values \(rows 1234\)"),
        (np.nan, r"x contains 1 NaN or infinite values \(rows 1234\)"),
    ],
)
def test_invalid_values_raise_at_compute_naming_the_row(value, message):
    x = _data(n=2000)
    x[1234, 3] = value
    with pytest.raises(ValueError, match=message):
        coda.pcor(da.from_array(x, chunks=(300, -1)))


def test_invalid_values_in_a_dataframe_are_named_by_index():
    frame = pd.DataFrame(_data(n=100), columns=PARTS, index=[f"s{i}" for i in range(100)])
    frame.loc["s77", "Fe"] = 0.0
    with pytest.raises(ValueError, match=r"x has 1 zeros \(rows s77\)"):
        coda.clr_cov(dd.from_pandas(frame, npartitions=3))


def test_invalid_values_with_unknown_chunk_sizes_name_the_block():
    frame = pd.DataFrame(_data(n=100), columns=PARTS)
    frame.loc[60, "Fe"] = 0.0
    unknown = dd.from_pandas(frame, npartitions=2).to_dask_array()
    with pytest.raises(ValueError, match=r"in block 1 of rows .*: x has 1 zeros \(rows 10\)"):
        coda.variation(unknown)


def test_argument_errors_come_before_any_pass_over_the_data():
    bad = _poisoned(_data(n=500))
    with pytest.raises(TypeError, match=r"method='shrink' does not accept dask input.*'exact'"):
        coda.pcor(bad, method="shrink")
    with pytest.raises(TypeError, match=r"method='glasso' does not accept dask input"):
        coda.precision(bad, method="glasso")
    with pytest.raises(TypeError, match=r"method='bshrink' does not accept dask input"):
        coda.pcor_test(bad, method="bshrink")
    with pytest.raises(ValueError, match=r"method='nope' is not a known option"):
        coda.pcor_test(bad, method="nope")
    with pytest.raises(ValueError, match=r"given names parts more than once"):
        coda.pcor(bad, given=[1, 1])
    with pytest.raises(ValueError, match=r"at least two parts must remain outside given"):
        coda.pcor_test(bad, given=[0, 1, 2, 3, 4])
    with pytest.raises(ValueError, match=r"ddof=-1; expected a non-negative integer"):
        coda.clr_cov(bad, ddof=-1)
    with pytest.raises(ValueError, match=r"x has 2 parts; at least 3 are needed"):
        coda.pcor_test(bad[:, :2])
    with pytest.raises(ValueError, match=r"x is a 1-D dask array"):
        coda.variation(bad[:, 0])
    with pytest.raises(TypeError, match=r"method='exact' takes no options; got lam"):
        coda.precision(bad, lam=0.1)


def test_non_numeric_dask_columns_raise_before_computing():
    frame = pd.DataFrame(_data(n=20), columns=PARTS).assign(site=list("ab") * 10)
    parted = dd.from_pandas(frame, npartitions=2)
    with pytest.raises(TypeError, match=r"x has non-numeric columns: site"):
        coda.clr_cov(parted)
    with pytest.raises(TypeError, match=r"x is a dask Series; pass compositions as a dask"):
        coda.pcor(parted["Si"])


def test_sizes_known_only_after_the_pass_raise_then():
    x = _data(n=5)
    with pytest.raises(ValueError, match=r"x has 2 samples; at least 3 are needed"):
        coda.pcor(da.from_array(x[:2], chunks=(1, -1)))
    with pytest.raises(ValueError, match=r"ddof=5 leaves no degrees of freedom with 5 samples"):
        coda.clr_cov(da.from_array(x, chunks=(2, -1)), ddof=5)
    with pytest.raises(ValueError, match=r"x has 5 samples and 6 parts"):
        coda.precision(da.from_array(x, chunks=(2, -1)))
    with pytest.raises(ValueError, match=r"leaving df = n - \|K\| - 1 = 0"):
        coda.pcor_test(da.from_array(x, chunks=(2, -1)))


FOUR = pd.MultiIndex.from_tuples(
    [("oxide", "Si"), ("oxide", "Al"), ("metal", "Fe"), ("metal", "Mg")], names=["kind", "part"]
)


def _four_parts(n=40):
    rng = np.random.default_rng(SEED)
    return np.exp(rng.normal(size=(n, 4)) @ rng.normal(size=(4, 4)))


def test_dask_dataframe_with_multiindex_columns_keeps_them():
    frame = pd.DataFrame(_four_parts(), columns=FOUR)
    parted = dd.from_pandas(frame, npartitions=3)
    for function in (coda.clr_cov, coda.variation):
        expected = function(frame)
        result = function(parted)
        assert isinstance(result.columns, pd.MultiIndex)
        assert isinstance(result.index, pd.MultiIndex)
        assert result.columns.names == ["kind", "part"]
        pd.testing.assert_frame_equal(result, expected, rtol=1e-12)
    sigma = coda.alr_cov(parted, ref=("oxide", "Al"))
    assert sigma.attrs == coda.alr_cov(frame, ref=("oxide", "Al")).attrs
    pd.testing.assert_frame_equal(coda.alr_cov_to_clr_cov(sigma), coda.clr_cov(frame), rtol=1e-12)


@pytest.mark.parametrize(
    ("inverse", "columns"),
    [
        ("alr", [3, 1, 2, 0]),
        ("alr", [0.5, 1.5, 2.5, 3.5]),
        ("alr", FOUR),
        ("ilr", list("abcd")),
        ("ilr", [3, 1, 2, 0]),
        ("ilr", FOUR),
    ],
    ids=["alr-int", "alr-float", "alr-multiindex", "ilr-str", "ilr-int", "ilr-multiindex"],
)
def test_dask_alr_and_ilr_inverses_give_the_parts_back(inverse, columns):
    # alr and ilr record the part names in their result's attrs; the inverse
    # of a dask result gave them back to the partitions but not to the
    # metadata, and computing it failed ("columns ... do not match"). (alr's
    # string names like "a/d" were also parsed back, so str labels worked.)
    frame = pd.DataFrame(_four_parts(), columns=columns)
    parted = dd.from_pandas(frame, npartitions=3)
    forward, backward = getattr(coda, inverse), getattr(coda, f"{inverse}_inv")
    lazy = backward(forward(parted))
    assert lazy.columns.equals(frame.columns)
    pd.testing.assert_frame_equal(lazy.compute(), backward(forward(frame)))
    kept = parted[parted[columns[0]] > 1.0]
    pd.testing.assert_frame_equal(
        backward(forward(kept)).compute(), backward(forward(frame[frame[columns[0]] > 1.0]))
    )


@pytest.mark.parametrize("dtype", [complex, bool, "U5", "datetime64[ns]"])
@pytest.mark.parametrize(
    "function",
    [
        coda.clr_cov,
        coda.variation,
        coda.alr_cov,
        coda.ilr_cov,
        coda.total_variance,
        coda.clr,
        coda.ilr,
    ],
)
def test_dask_array_dtype_is_refused_before_any_pass(function, dtype):
    message = rf"x has dtype {re.escape(str(np.dtype(dtype)))}; expected real numbers"
    with pytest.raises(TypeError, match=message):
        function(np.zeros((5, 4), dtype=dtype))
    with pytest.raises(TypeError, match=message):
        function(_poisoned(_four_parts(), dtype))


def test_one_dimensional_dask_arrays_are_refused_with_the_fix_for_the_function():
    with pytest.raises(ValueError, match=r"1-D dask array .* an estimate needs many samples"):
        coda.clr_cov(da.ones(4))
    with pytest.raises(ValueError, match=r"1-D dask array .* pass one composition as a numpy"):
        coda.clr(da.ones(4))
