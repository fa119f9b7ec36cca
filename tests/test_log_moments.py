"""The covariance of log-ratio coordinates in one pass over the rows (coda._log_moments).

Oracles: exact rational arithmetic on numpy's logs (``tests/exact.py``) for
parts far apart in scale, where a log-ratio near 40 varies by 1e-7; and
``np.cov`` of coordinates made plainly, for arrays and dask collections in
groups and blocks of several sizes.
"""

from __future__ import annotations

from fractions import Fraction
from functools import partial

import dask
import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from exact import errors_in_eps, errors_on_own_scale, exact_conditional_cov, far_apart

import coda
from coda._log_moments import (
    log_ratio_cov,
    logs_of_one_row,
    relative_logs,
    shifted_differences,
)


@pytest.fixture(autouse=True)
def _threaded_scheduler():
    # The threaded scheduler whatever another test file left as dask's default.
    with dask.config.set(scheduler="threads"):
        yield


def _exact_alr_cov(x: np.ndarray, ref: int) -> np.ndarray:
    """The covariance of the logs relative to ``ref`` (the other parts in order), rounded once."""
    return np.array([[float(v) for v in row] for row in exact_conditional_cov(x, [ref])])


@pytest.mark.parametrize("totals", [0.0, 1.0])
@pytest.mark.parametrize("ref", [0, 1])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_alr_cov_of_parts_far_apart_in_scale(ref, seed, totals):
    # log(x_1 / x_0) is near 40 and varies by 1e-7. Before, the pass over the data
    # took log x_1 - log x_0 as it is, rounded at 40: 1e7 to 6e7 eps off (both for
    # the variance, from the variation matrix, and the covariances). Row totals
    # that vary by e^1: the logs less those of one row first would round at 1
    # (1.3e6 eps).
    x = far_apart(seed=seed, totals=totals)
    assert errors_on_own_scale(coda.alr_cov(x, ref=ref), _exact_alr_cov(x, ref)).max() <= 8.0


@pytest.mark.parametrize("rows", [4, 13, 30])
def test_dask_alr_cov_of_parts_far_apart_in_scale(rows):
    # Dask arrays shift by the logs of their first row; before, 8e7 to 9e7 eps off.
    x = far_apart(seed=3)
    sigma = coda.alr_cov(da.from_array(x, chunks=(rows, -1)), ref=0)
    assert errors_on_own_scale(sigma, _exact_alr_cov(x, 0)).max() <= 8.0


def test_dask_frame_with_empty_first_partitions():
    # Rows ordered by a column and kept by a condition: the first partitions are
    # empty, and the shift is a row from a later one. Before: 1.3e8 eps.
    x = far_apart(seed=4)
    frame = pd.DataFrame(x, columns=list("abcdef")).sort_values("c", ignore_index=True)
    parted = dd.from_pandas(frame, npartitions=5)
    kept = parted[parted["c"] > frame["c"].iloc[13]]
    assert kept.map_partitions(len).compute().eq(0).any()
    sigma = coda.alr_cov(kept, ref="a")
    assert list(sigma.columns) == ["b/a", "c/a", "d/a", "e/a", "f/a"]
    exact = _exact_alr_cov(frame.to_numpy()[14:], 0)
    assert errors_on_own_scale(sigma.to_numpy(), exact).max() <= 8.0


def _exact_variation(x: np.ndarray) -> np.ndarray:
    """``var(log x_i - log x_j)`` of numpy's logs, each rounded once."""
    d = x.shape[1]
    t = np.zeros((d, d))
    for j in range(d):
        cov = exact_conditional_cov(x, [j])
        for a, i in enumerate(k for k in range(d) if k != j):
            t[i, j] = float(cov[a][a])
    return t


def test_variation_of_a_cluster_of_parts_far_apart_in_scale():
    # 18 nearly proportional parts (a cluster: one covariance of their logs
    # relative to the medoid) at scales e^-40 to e^45, one of them at e^0, its
    # logs straddling 0. Before: 2.8e7 eps.
    rng = np.random.default_rng(5)
    n = 25
    base = rng.normal(0.0, 1e-2, (n, 1))
    close = base + 1e-6 * rng.random((n, 18)) + np.linspace(-40.0, 45.0, 18)
    x = np.exp(np.hstack([close, rng.normal(0.0, 1e-2, (n, 2))]))
    assert errors_in_eps(coda.variation(x), _exact_variation(x)).max() <= 8.0


# (offset, centre, totals). (a - b) - (s_a - s_b) fails the first three, 1.5e10
# to 5e10 eps off; (a - s_a) - (b - s_b) the last five, 8e6 to 1.4e9 eps.
_REGIMES = [
    (40.0, 5.0, 1e-2),
    (40.0, 0.0, 1.0),
    (-40.0, 0.0, 1e-2),
    (0.0, 0.0, 1.0),
    (0.0, 0.0, 1e-2),
    (1e-3, 0.0, 1.0),
]


@pytest.mark.parametrize(("offset", "centre", "totals"), _REGIMES)
def test_shifted_differences_round_once(offset, centre, totals):
    # Logs near `centre` varying by `totals` together, whose differences are near
    # `offset` and vary by 1e-7; every element to a rounding of itself.
    rng = np.random.default_rng(11)
    b = centre + rng.normal(0.0, totals, 200)
    a = b + offset + rng.normal(0.0, 1e-7, 200)
    got = shifted_differences(a, b, a[7], b[7])
    shift = Fraction(a[7]) - Fraction(b[7])
    exact = [float(Fraction(u) - Fraction(v) - shift) for u, v in zip(a, b, strict=True)]
    assert errors_in_eps(got, exact).max() <= 1.0


# ---------------------------------------------------------------------------
# The pass against np.cov of plainly made coordinates


def _compositions(n: int, d: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.exp(rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + rng.normal(0, 3, d))


def _plain_relative_logs(x: np.ndarray, pivot: int, columns) -> np.ndarray:
    logs = np.log(x)
    return logs[:, columns] - logs[:, [pivot]]


def _as(kind: str, x: np.ndarray, rows: int):
    if kind == "array":
        return x
    if kind == "dask array":
        return da.from_array(x, chunks=(rows, -1))
    return dd.from_pandas(
        pd.DataFrame(x, columns=[f"p{k}" for k in range(x.shape[1])]), chunksize=rows
    )


@pytest.mark.parametrize("kind", ["array", "dask array", "dask frame"])
@pytest.mark.parametrize(("n", "d", "rows"), [(2, 2, 1), (9, 3, 2), (40, 6, 7), (301, 12, 64)])
@pytest.mark.parametrize("ddof", [0, 1])
def test_relative_logs_cov_matches_numpy(kind, n, d, rows, ddof):
    x = _compositions(n, d, seed=n + d)
    copy = x.copy()
    pivot, columns = d // 2, [k for k in range(d) if k != d // 2][::-1]
    coordinates = partial(relative_logs, pivot=pivot, columns=columns)
    # Groups of `rows` rows in memory; dask takes its row blocks.
    got = log_ratio_cov(
        _as(kind, x, rows), coordinates, d - 1, ddof, group_bytes=8 * (d - 1) * rows
    )
    expected = np.cov(_plain_relative_logs(x, pivot, columns).T, ddof=ddof).reshape(d - 1, d - 1)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max())
    assert np.array_equal(got, got.T)
    assert np.array_equal(x, copy)


def _logs(rows: np.ndarray, shift: np.ndarray) -> np.ndarray:
    return np.log(rows) - shift


@pytest.mark.parametrize("kind", ["array", "dask array"])
@pytest.mark.parametrize("ddof", [0, 1])
def test_cov_in_the_frame_of_a_triangular_factor(kind, ddof):
    # With `lower`, the covariance of Z L^{-T}: L^{-1} S L^{-T} for S the covariance of Z.
    x = _compositions(50, 5, seed=8)
    z = np.log(x)
    s = np.cov(z.T, ddof=ddof)
    lower = np.linalg.cholesky(s + np.eye(5))
    got = log_ratio_cov(_as(kind, x, 9), _logs, 5, ddof, group_bytes=8 * 5 * 9, lower=lower)
    inverse = np.linalg.inv(lower)
    np.testing.assert_allclose(got, inverse @ s @ inverse.T, rtol=1e-12, atol=1e-13)


def test_dask_array_of_unknown_chunk_sizes_is_shifted_by_its_first_row():
    # The first row of the first block that holds one (blocks computed in turn).
    x = _compositions(40, 4, seed=9)
    frame = dd.from_pandas(pd.DataFrame(x), npartitions=3)
    unknown = frame.to_dask_array()
    assert np.isnan(unknown.chunks[0]).all()
    np.testing.assert_array_equal(logs_of_one_row(unknown), np.log(x[0]))
    filtered = da.from_array(x, chunks=(10, 4))
    filtered = filtered[filtered[:, 0] > np.sort(x[:, 0])[-5]]  # the first blocks may be empty
    assert np.isnan(filtered.chunks[0]).all()
    first = x[x[:, 0] > np.sort(x[:, 0])[-5]][0]
    np.testing.assert_array_equal(logs_of_one_row(filtered), np.log(first))
    assert (logs_of_one_row(filtered[filtered[:, 0] < 0]) == 0.0).all()  # no rows: no shift
    np.testing.assert_allclose(logs_of_one_row(x), np.log(x[20]))
    coordinates = partial(relative_logs, pivot=0, columns=[1, 2, 3])
    got = log_ratio_cov(unknown, coordinates, 3, 1, group_bytes=1 << 20)
    expected = np.cov(_plain_relative_logs(x, 0, [1, 2, 3]).T)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_dask_array_of_unknown_chunk_sizes_far_apart_in_scale():
    # After a boolean filter the chunk sizes are unknown; these went unshifted,
    # 1e8 eps off (found by the session's review).
    x = far_apart(seed=0)
    arr = da.from_array(x, chunks=(7, -1))
    kept = arr[arr[:, 2] > 0]
    assert np.isnan(kept.chunks[0]).all()
    rows = x[x[:, 2] > 0]
    sigma = coda.alr_cov(kept, ref=0)
    assert errors_on_own_scale(sigma, _exact_alr_cov(rows, 0)).max() <= 8.0
