"""center, proportionality and balance_correlation of dask input: one pass over row blocks.

Oracle: the in-memory function on the same data. ``center`` merges the
blocks' means of the clr values that the in-memory code makes, so it differs
from the in-memory centre only by the order of summation; the other two are
functions of the clr covariance (and, for proportionality, of the variation
matrix) that ``clr_cov`` and ``variation`` give on dask input, which agree
with memory to about 1e-15 of their largest entry (tests/test_dask_covariance.py).
"""

from __future__ import annotations

from functools import partial

import dask
import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

import coda
from tests.sources import CountingArray

SEED = 20270311
# Relative to the largest entry of the in-memory result (entries near 0, such
# as small correlations, have no meaningful relative error of their own). The
# dask results differ from memory by the order of summation only (measured
# 1.2e-15 at most here); 1e-12 leaves a wide margin for that rounding and
# still catches any real difference (a block missed or counted twice, another
# ddof or shift), which moves entries by 1e-3 or more.
RTOL = 1e-12
# center: each part's relative error is the absolute error of the mean clr,
# a few eps of the largest |clr| (about 10 here; measured 3.8e-15), so entry by entry.
CENTER_RTOL = 1e-13
PARTS = ["Si", "Al", "Fe", "Mg", "Ca", "Na"]
N = 400
# Whole, uneven with a block of one row, many equal blocks, and an empty first block.
CHUNKINGS = [(N,), (97, 1, 150, 3, 149), (25,) * 16, (0, 1, 199, 0, 200)]
# Partitions of a DataFrame at uneven rows, one of a single row.
DIVISIONS = [0, 97, 98, 248, 251, N - 1]

FUNCTIONS = {
    "center": coda.center,
    "rho": partial(coda.proportionality, metric="rho"),
    "phi": partial(coda.proportionality, metric="phi"),
    "phs": partial(coda.proportionality, metric="phs"),
    "balance_correlation": coda.balance_correlation,
}
# The metrics that take ddof (center has none).
WITH_DDOF = [name for name in FUNCTIONS if name != "center"]


@pytest.fixture(autouse=True)
def _threaded_scheduler():
    # The threaded scheduler whatever another test file left as dask's default.
    with dask.config.set(scheduler="threads"):
        yield


def _data(n=N, d=6, seed=SEED):
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(d, d)) + 2.0 * np.eye(d)
    return np.exp(rng.normal(size=(n, d)) @ mixing + rng.normal(scale=3.0, size=d))


def _frame(values):
    return pd.DataFrame(values, columns=PARTS[: values.shape[1]])


def _assert_close(name, actual, expected):
    actual, expected = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    assert actual.shape == expected.shape
    if name == "center":
        np.testing.assert_allclose(actual, expected, rtol=CENTER_RTOL, atol=0)
    else:
        np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=RTOL * np.abs(expected).max())


def _poisoned(x: np.ndarray):
    """A dask array that fails if it is ever computed: checks come before the pass."""

    def fail(block):
        raise AssertionError("the data were computed before the arguments were checked")

    return da.from_array(x, chunks=(10, -1)).map_blocks(fail, dtype=x.dtype)


@pytest.mark.parametrize("chunks", CHUNKINGS, ids=lambda c: f"{len(c)}blocks")
@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_dask_array_matches_in_memory(name, chunks):
    fn = FUNCTIONS[name]
    x = _data()
    before = x.copy()
    expected = fn(x)
    result = fn(da.from_array(x, chunks=(chunks, -1)))
    assert type(result) is np.ndarray
    assert result.dtype == expected.dtype
    _assert_close(name, result, expected)
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("ddof", [0, 1, 5])
@pytest.mark.parametrize("name", WITH_DDOF)
def test_ddof_as_in_memory(name, ddof):
    fn = FUNCTIONS[name]
    x = _data()
    _assert_close(
        name, fn(da.from_array(x, chunks=(CHUNKINGS[1], -1)), ddof=ddof), fn(x, ddof=ddof)
    )


@pytest.mark.parametrize("divisions", [None, DIVISIONS], ids=["even", "uneven"])
@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_dask_dataframe_keeps_labels(name, divisions):
    fn = FUNCTIONS[name]
    frame = _frame(_data())
    parted = dd.from_pandas(frame, npartitions=4)
    if divisions is not None:
        parted = parted.repartition(divisions=divisions)
        assert parted.map_partitions(len).compute().tolist() == [97, 1, 150, 3, 149]
    expected = fn(frame)
    result = fn(parted)
    assert type(result) is type(expected)
    assert result.index.equals(expected.index)
    if isinstance(expected, pd.DataFrame):
        assert result.columns.equals(expected.columns)
        assert (result.dtypes == expected.dtypes).all()
    else:
        assert result.name == expected.name == "center"
        assert result.dtype == expected.dtype
    _assert_close(name, result, expected)


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_float32_as_in_memory(name):
    # center keeps float32 as in memory; the others are float64 from float64 clr values.
    fn = FUNCTIONS[name]
    x = _data().astype(np.float32)
    expected = fn(x)
    result = fn(da.from_array(x, chunks=(CHUNKINGS[1], -1)))
    assert result.dtype == expected.dtype
    assert result.dtype == (np.float32 if name == "center" else np.float64)
    if name == "center":
        np.testing.assert_allclose(result, expected, rtol=4 * np.finfo(np.float32).eps)
    else:
        _assert_close(name, result, expected)
    frame = _frame(x)
    labelled = fn(dd.from_pandas(frame, npartitions=3))
    assert np.asarray(labelled).dtype == np.asarray(fn(frame)).dtype


def _nearly_proportional(n=20_000):
    """Parts 0 and 1 proportional up to noise of 1e-7, far apart in scale, spread 1."""
    rng = np.random.default_rng(SEED)
    logs = rng.normal(size=(n, 4)) + np.array([9.0, 0.0, -9.0, 2.0])
    logs[:, 1] = logs[:, 0] - 5.0 + 1e-7 * rng.normal(size=n)
    return np.exp(logs)


@pytest.mark.parametrize("metric", ["rho", "phi", "phs"])
def test_nearly_proportional_parts_recomputed_as_in_memory(metric):
    # T_01 from the clr covariance cancels by 1e14 here; memory and dask both
    # recompute it from the data (dask in a second pass), so phi and phs,
    # proportional to it, agree entry by entry, not only to the largest entry.
    x = _nearly_proportional()
    expected = coda.proportionality(x, metric=metric)
    gamma = coda.clr_cov(x)
    plain = gamma[0, 0] + gamma[1, 1] - 2.0 * gamma[0, 1]
    assert abs(plain / coda.variation(x)[0, 1] - 1.0) > 1e-3  # the recomputation matters
    for chunks in ((5_000,) * 4, (1, 9_999, 0, 10_000)):
        result = coda.proportionality(da.from_array(x, chunks=(chunks, -1)), metric=metric)
        _assert_close(metric, result, expected)
        if metric != "rho":
            assert result[0, 1] == pytest.approx(expected[0, 1], rel=RTOL)


def test_empty_partitions_after_a_filter():
    frame = _frame(_data(n=600)).sort_values("Si", ignore_index=True)
    parted = dd.from_pandas(frame, npartitions=6)
    threshold = frame["Si"].iloc[300]
    kept = parted[parted["Si"] > threshold]
    assert kept.map_partitions(len).compute().tolist()[:3] == [0, 0, 0]
    expected = frame[frame["Si"] > threshold]
    for name, fn in FUNCTIONS.items():
        _assert_close(name, fn(kept), fn(expected))
        # Unknown chunk sizes: rows are counted within blocks, results unchanged.
        unknown = kept.to_dask_array()
        assert np.isnan(unknown.chunks[0]).any()
        _assert_close(name, fn(unknown), fn(expected.to_numpy()))


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_one_pass_and_never_the_whole_array(name):
    # Each block is read once (data without nearly proportional parts need no
    # second pass), never more than a block at a time: nothing is loaded whole.
    source = CountingArray(_data())
    chunks = CHUNKINGS[1]
    x = da.from_array(source, chunks=(chunks, -1), meta=np.empty((0, 0)))
    FUNCTIONS[name](x)
    assert sorted(source.reads) == sorted(chunks)


def test_second_pass_of_proportionality_reads_blocks_only():
    values = _nearly_proportional(n=4_000)
    source = CountingArray(values)
    x = da.from_array(source, chunks=(1_000, -1), meta=np.empty((0, 0)))
    coda.proportionality(x, metric="phi")
    # Two passes over the four blocks, as variation makes, and the first row
    # for the shift of the second: never more than a block at a time.
    assert sorted(source.reads) == [1] + [1_000] * 8


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_dataframe_partitions_are_loaded_once(name):
    calls = []

    def load(i):
        calls.append(i)
        return _frame(_data(n=100, seed=i))

    x = dd.from_map(load, [0, 1, 2], meta=_frame(_data(n=1)).iloc[:0])
    result = FUNCTIONS[name](x)
    assert sorted(calls) == [0, 1, 2]
    expected = FUNCTIONS[name](pd.concat([load(i) for i in range(3)]))
    _assert_close(name, result, expected)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0.0, r"x has 1 zeros \(rows 234\); log-ratios need positive parts"),
        (-1.0, r"x contains 1 negative values \(rows 234\)"),
        (np.nan, r"x contains 1 NaN or infinite values \(rows 234\)"),
    ],
)
@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_invalid_values_in_a_block_raise_as_in_memory(name, value, message):
    x = _data()
    x[234, 2] = value
    fn = FUNCTIONS[name]
    with pytest.raises(ValueError, match=message) as in_memory:
        fn(x)
    with pytest.raises(ValueError, match=message) as in_blocks:
        fn(da.from_array(x, chunks=(CHUNKINGS[1], -1)))
    assert str(in_blocks.value) == str(in_memory.value)


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_invalid_values_in_a_dataframe_are_named_by_index(name):
    frame = _frame(_data(n=100))
    frame.index = [f"s{i}" for i in range(100)]
    frame.loc["s77", "Fe"] = 0.0
    with pytest.raises(ValueError, match=r"x has 1 zeros \(rows s77\)"):
        FUNCTIONS[name](dd.from_pandas(frame, npartitions=3))


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_invalid_values_with_unknown_chunk_sizes_name_the_block(name):
    frame = _frame(_data(n=100))
    frame.loc[60, "Fe"] = -2.0
    unknown = dd.from_pandas(frame, npartitions=2).to_dask_array()
    with pytest.raises(
        ValueError, match=r"in block 1 of rows .*: x contains 1 negative values \(rows 10\)"
    ):
        FUNCTIONS[name](unknown)


def test_argument_errors_come_before_any_pass_over_the_data():
    bad = _poisoned(_data())
    with pytest.raises(ValueError, match=r"metric='nope' is not a known option"):
        coda.proportionality(bad, metric="nope")
    with pytest.raises(ValueError, match=r"ddof=-1; expected a non-negative integer"):
        coda.proportionality(bad, ddof=-1)
    with pytest.raises(ValueError, match=r"ddof=-1; expected a non-negative integer"):
        coda.balance_correlation(bad, ddof=-1)
    with pytest.raises(ValueError, match=r"x has 2 parts; at least 3 are needed"):
        coda.balance_correlation(bad[:, :2])
    with pytest.raises(ValueError, match=r"x is a 1-D dask array .* pass one composition"):
        coda.center(bad[:, 0])
    with pytest.raises(ValueError, match=r"x is a 1-D dask array .* an estimate needs many"):
        coda.proportionality(bad[:, 0])
    parted = dd.from_pandas(_frame(_data(n=20)).assign(site=list("ab") * 10), npartitions=2)
    for fn in FUNCTIONS.values():
        with pytest.raises(TypeError, match=r"x has non-numeric columns: site"):
            fn(parted)
        with pytest.raises(TypeError, match=r"x is a dask Series; pass compositions as a dask"):
            fn(parted["Si"])


def test_sizes_known_only_after_the_pass_raise_then():
    frame = _frame(_data(n=50))
    parted = dd.from_pandas(frame, npartitions=3)
    nothing = parted[parted["Si"] < 0]
    with pytest.raises(ValueError, match=r"x has 0 samples; at least 1 are needed"):
        coda.center(nothing)
    one = da.from_array(_data(n=1), chunks=(1, -1))
    with pytest.raises(ValueError, match=r"x has 1 sample; at least 2 are needed"):
        coda.proportionality(one)
    with pytest.raises(ValueError, match=r"x has 1 sample; at least 2 are needed"):
        coda.balance_correlation(one)
    # One row is a valid set for the centre, as in memory (one block: the same bits).
    np.testing.assert_array_equal(coda.center(one), coda.center(_data(n=1)))


def test_proportionality_of_constant_clr_parts_raises_as_in_memory():
    # phi divides by each part's clr variance: parts whose clr values do not vary.
    x = np.ones((40, 3))
    message = r"x has parts whose clr values do not vary across samples \(x1, x2, x3\)"
    with pytest.raises(ValueError, match=message) as in_memory:
        coda.proportionality(x, metric="phi")
    with pytest.raises(ValueError, match=message) as in_blocks:
        coda.proportionality(da.from_array(x, chunks=(7, -1)), metric="phi")
    assert str(in_blocks.value) == str(in_memory.value)
