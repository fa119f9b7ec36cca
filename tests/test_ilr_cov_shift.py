"""ilr_cov and the exact precision from data whose logs are far from 0, against exact rationals.

The ilr covariance recomputed from the data (``coda._clr_gram.ilr_cov_values``,
reached where parts are nearly proportional) makes its coordinates from the
differences of neighbouring logs, ``log x_t - log x_{t-1}``; the exact
precision's second pass (``coda._exact_precision._factor_from_data``) from
clr values. Both are now taken less those of one row of the data
(:mod:`coda._log_moments`), compensated only where an offset is far beside
the spread (``_log_moments.far_offsets``). Before, parts far apart in scale
(logs near 45 and 5 whose ratio varies by 1e-7) had their differences, and the
running sums made from them, rounded at the offset: 1e7 to 1.3e8 eps of the
entries' scale. Errors
are in eps of ``sqrt(Psi_kk Psi_ll)``, as in ``test_log_moments.py``, whose
data and exact references (and those of ``test_ilr_cov_accuracy.py``) these
tests share.
"""

from __future__ import annotations

from fractions import Fraction

import dask
import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from exact import (
    CLOSE_OTHER_SBP,
    EPS,
    errors_on_own_scale,
    exact_basis_cov,
    exact_helmert_cov,
    exact_pcor,
    exact_pivot_cov,
    far_apart,
    nearly_proportional,
)

import coda
from coda import _clr_gram, _exact_precision, _log_moments


def _case(basis: str, x: np.ndarray):
    """``(x, basis, exact)``: the pivot basis takes the parts reversed, so that its last
    coordinate contrasts the two parts 40 apart in log whose ratio varies by 1e-7."""
    if basis == "helmert":
        return x, basis, exact_helmert_cov(x)
    if basis == "pivot":
        x = x[:, ::-1]
        return x, basis, exact_pivot_cov(x)
    matrix = coda.sbp_basis(CLOSE_OTHER_SBP)
    return x, matrix, exact_basis_cov(x, matrix)


def _dask_ilr_cov(x, basis, rows: int):
    with dask.config.set(scheduler="threads"):
        return coda.ilr_cov(da.from_array(x, chunks=(rows, -1)), basis=basis)


@pytest.mark.parametrize("totals", [0.0, 1.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("basis", ["helmert", "pivot", "sbp"])
def test_ilr_cov_of_parts_far_apart_in_scale(basis, seed, totals):
    # Before: 1.7e7 to 6.8e7 eps; now under 2. The pivot coordinates of the reversed
    # parts are the Helmert ones reversed, made by the other running sum.
    x, basis, exact = _case(basis, far_apart(seed=seed, totals=totals))
    copy = x.copy()
    assert errors_on_own_scale(coda.ilr_cov(x, basis=basis), exact).max() <= 8.0
    assert np.array_equal(x, copy)


@pytest.mark.parametrize("rows", [4, 13, 30])
@pytest.mark.parametrize("basis", ["helmert", "pivot", "sbp"])
def test_dask_ilr_cov_of_parts_far_apart_in_scale(basis, rows):
    # Dask arrays shift by the logs of their first row; before, 3.5e7 to 1.3e8 eps off.
    x, basis, exact = _case(basis, far_apart(seed=3, totals=1.0))
    got = _dask_ilr_cov(x, basis, rows)
    assert errors_on_own_scale(got, exact).max() <= 8.0
    in_memory = coda.ilr_cov(x, basis=basis)
    assert errors_on_own_scale(got, in_memory).max() <= 8.0


def test_dask_frame_with_empty_first_partitions():
    # Rows kept by a condition: the shift is a row from a later partition, as for
    # alr_cov. Before: 1.3e8 eps.
    frame = pd.DataFrame(far_apart(seed=4), columns=list("abcdef"))
    parted = dd.from_pandas(frame, npartitions=5)
    kept = parted.map_partitions(lambda part: part[part.index >= 14])
    assert kept.map_partitions(len).compute().eq(0).sum() == 2
    with dask.config.set(scheduler="threads"):
        psi = coda.ilr_cov(kept)
    assert list(psi.columns) == [f"ilr{k}" for k in range(1, 6)]
    exact = exact_helmert_cov(frame.to_numpy()[14:])
    assert errors_on_own_scale(psi.to_numpy(), exact).max() <= 8.0


def _ordinary(n: int, d: int, seed: int) -> np.ndarray:
    """Correlated lognormal parts at scales e^-3 to e^3, with one nearly proportional pair."""
    rng = np.random.default_rng(seed)
    logs = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) / np.sqrt(d)
    logs += rng.normal(0.0, 3.0, d)
    logs[:, 1] = logs[:, 0] + 1e-6 * rng.random(n)
    return np.exp(logs)


@pytest.mark.parametrize("basis", ["helmert", "pivot", "sbp"])
@pytest.mark.parametrize("far_offset", [0.0, np.inf])
def test_ordinary_data_unchanged(monkeypatch, basis, far_offset):
    # Every step compensated (0), or none (each offset subtracted after the plain
    # difference of the logs): the same within a few eps.
    x, basis, exact = _case(basis, _ordinary(200, 6, seed=5))
    got = coda.ilr_cov(x, basis=basis)
    assert errors_on_own_scale(got, exact).max() <= 8.0
    monkeypatch.setattr(_log_moments, "_FAR_OFFSET", far_offset)
    assert errors_on_own_scale(coda.ilr_cov(x, basis=basis), got).max() <= 4.0


@pytest.mark.parametrize("basis", ["helmert", "pivot"])
def test_ordinary_data_against_gamma_and_dask(basis):
    # Data that take V^T Gamma V, forced through the pass over the data, in memory and dask.
    x = np.exp(np.random.default_rng(6).normal(size=(300, 40)) + np.linspace(-20, 20, 40))
    cov = _clr_gram.clr_cov_estimate(x, 1)
    assert not _clr_gram.may_cancel(cov)
    from_gamma = _clr_gram.ilr_cov_of_gamma(cov.gamma, basis, None)
    from_data = _clr_gram.ilr_cov_values(x, basis, None, 1)
    assert errors_on_own_scale(from_data, from_gamma).max() <= 32.0
    with dask.config.set(scheduler="threads"):
        from_dask = _clr_gram.ilr_cov_values(da.from_array(x, chunks=(70, -1)), basis, None, 1)
    assert errors_on_own_scale(from_dask, from_data).max() <= 16.0


@pytest.mark.parametrize("ratio", [0.5, 3.0, 1e8])
def test_shifted_differences_into_columns_far_and_near(ratio):
    # Offsets `ratio` times the steps' spread, logs straddling 0: each step within a few
    # roundings of the spread of its column's steps (plain below _FAR_OFFSET, as the sums
    # made from the steps are), and far offsets compensated: each to a rounding of itself.
    rng = np.random.default_rng(12)
    b = rng.normal(0.0, 1.0, (50, 3))
    spread = np.array([1e-6, 1e-3, 1.0])
    a = b + ratio * spread + rng.normal(0.0, 1.0, (50, 3)) * spread
    out = np.full((50, 3), np.nan)
    _log_moments.shifted_differences_into(a, b, a[7], b[7], out)
    bound = 2.0 * (_log_moments._FAR_OFFSET + 2.0)
    for k in range(3):
        shift = Fraction(a[7, k]) - Fraction(b[7, k])
        pairs = zip(a[:, k], b[:, k], strict=True)
        exact = [float(Fraction(u) - Fraction(v) - shift) for u, v in pairs]
        errors = np.abs(out[:, k] - exact) / EPS
        assert errors.max() <= bound * np.sqrt(np.mean(np.square(exact)))
        if ratio > 1e6:
            assert (errors <= np.abs(exact)).all()


def _nearly_proportional_near_zero(seed: int, totals: float) -> np.ndarray:
    """Four parts proportional up to 1e-7 and two up to 1e-3; logs near 0 varying by ``totals``."""
    rng = np.random.default_rng(seed)
    base = rng.normal(0.0, totals, (40, 1))
    return np.exp(
        np.hstack([base + rng.normal(0.0, 1e-7, (40, 4)), base + rng.normal(0.0, 1e-3, (40, 2))])
    )


@pytest.mark.parametrize("totals", [1.0, 3.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pcor_of_nearly_proportional_parts_whose_totals_vary(monkeypatch, seed, totals):
    # The exact precision's pass over the data (kappa about 1e8) took the logs less one
    # row's, rounded at the spread of the totals where the logs straddle 0: 1e-10 to
    # 6e-10 off; now from the logs relative to a part, 2e-13 at worst.
    calls = []
    original = _exact_precision._factor_from_data

    def spy(*args):
        result = original(*args)
        calls.append(result is not None)
        return result

    monkeypatch.setattr(_exact_precision, "_factor_from_data", spy)
    x = _nearly_proportional_near_zero(seed, totals)
    copy = x.copy()
    assert np.abs(coda.pcor(x) - exact_pcor(x)).max() < 1e-12
    assert calls == [True]
    assert np.array_equal(x, copy)
    with dask.config.set(scheduler="threads"):
        rho = coda.pcor(da.from_array(x, chunks=(9, -1)))
    assert np.abs(rho - exact_pcor(x)).max() < 1e-12


def test_nearly_proportional_parts_of_the_accuracy_tests():
    # exact.nearly_proportional (logs near 0 varying by 1): the clr values from logs
    # relative to a part agree with those of the logs less one row's within a rounding.
    x = nearly_proportional(30, 4, 2, seed=3)
    shift = _log_moments.logs_of_one_row(x)
    ours = _exact_precision._clr_of(x, shift)
    logs = np.log(x) - shift
    plain = logs - logs.mean(axis=1, keepdims=True)
    assert np.abs(ours - plain).max() <= 8.0 * EPS * np.abs(logs).max()
    np.testing.assert_allclose(ours.sum(axis=1), 0.0, atol=8.0 * EPS * np.abs(ours).max())
