"""Tests for coda.partial: every route to the partial correlations agrees.

Routes: the closed form (one Cholesky), the SVD pseudo-inverse, the inverse
alr covariance for every reference, and residual regressions (numpy lstsq and
statsmodels OLS) for every reference. On random data and on the Roman glass
cups (through CODA_DATA_DIR; in CI the data are there and the tests run).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from hypothesis import given, settings
from hypothesis import strategies as st

import coda
from tests.strategies import full_rank_compositions

TOL = 1e-10


def _data(n=40, d=6, seed=7):
    rng = np.random.default_rng(seed)
    return np.exp(rng.normal(size=(n, d)) @ (rng.normal(size=(d, d)) + np.eye(d)))


def _residuals(y, regressors):
    design = np.column_stack([np.ones(len(y)), regressors])
    coef = np.linalg.lstsq(design, y, rcond=None)[0]
    return y - design @ coef


def _regression_pcor(x, i, j, r, given=None):
    """Correlation of residuals of log(x_i/x_r), log(x_j/x_r) on the other log-ratios."""
    logs = np.log(np.asarray(x, dtype=float))
    d = logs.shape[1]
    pool = range(d) if given is None else given
    others = [k for k in pool if k not in (i, j, r)]
    regressors = logs[:, others] - logs[:, [r]]
    a = _residuals(logs[:, i] - logs[:, r], regressors)
    b = _residuals(logs[:, j] - logs[:, r], regressors)
    return np.corrcoef(a, b)[0, 1], a, b


def _check_all_routes(x, values=None):
    x = np.asarray(x, dtype=float)
    d = x.shape[1]
    omega = coda.precision(x)
    gamma = coda.clr_cov(x)
    scale = np.abs(omega).max()
    # SVD pseudo-inverse.
    np.testing.assert_allclose(omega, np.linalg.pinv(gamma, rcond=1e-12), atol=TOL * scale)
    # alr precision for every reference: Omega = F^T Sigma^{-1} F, and deleting
    # row and column r of Omega gives Sigma_r^{-1}.
    for r in range(d):
        sigma_inv = np.linalg.inv(coda.alr_cov(x, ref=r))
        f = np.delete(np.eye(d), r, axis=0)
        f[:, r] = -1
        np.testing.assert_allclose(f.T @ sigma_inv @ f, omega, atol=TOL * scale)
        keep = [k for k in range(d) if k != r]
        np.testing.assert_allclose(omega[np.ix_(keep, keep)], sigma_inv, atol=TOL * scale)
    rho = coda.pcor(x)
    pi = coda.partial_variance(x)
    for r in range(d):
        for i in range(d):
            if i == r:
                continue
            others = [k for k in range(d) if k not in (i, r)]
            res = _residuals(np.log(x[:, i] / x[:, r]), np.log(x[:, others] / x[:, [r]]))
            assert res.var(ddof=1) == pytest.approx(pi[i], rel=TOL)
            for j in range(i + 1, d):
                if j == r:
                    continue
                expected, _, _ = _regression_pcor(x, i, j, r)
                assert rho[i, j] == pytest.approx(expected, abs=TOL)


def test_all_routes_agree_on_random_data():
    _check_all_routes(_data())


def test_statsmodels_ols_residuals():
    x = _data(n=25, d=5, seed=3)
    logs = np.log(x)
    rho = coda.pcor(x)
    r, i, j = 4, 0, 2
    exog = sm.add_constant(logs[:, [1, 3]] - logs[:, [r]])
    ri = sm.OLS(logs[:, i] - logs[:, r], exog).fit().resid
    rj = sm.OLS(logs[:, j] - logs[:, r], exog).fit().resid
    assert rho[i, j] == pytest.approx(np.corrcoef(ri, rj)[0, 1], abs=TOL)


def test_closed_form_three_parts():
    # D = 3: the partial correlation of parts 0 and 1 given part 2 is the
    # Pearson correlation of log(x0/x2) and log(x1/x2) (alr with reference 2).
    x = _data(n=15, d=3, seed=11)
    a = np.log(x[:, 0] / x[:, 2])
    b = np.log(x[:, 1] / x[:, 2])
    assert coda.pcor(x)[0, 1] == pytest.approx(np.corrcoef(a, b)[0, 1], abs=1e-12)


def test_given_matches_regressions_and_subcompositions():
    x = _data(n=30, d=7, seed=5)
    k = [1, 4, 6]
    rho = coda.pcor(x, given=k)
    pi = coda.partial_variance(x, given=k)
    for r in k:
        for i in range(7):
            if i in k:
                continue
            res = _residuals(
                np.log(x[:, i] / x[:, r]), np.log(x[:, [q for q in k if q != r]] / x[:, [r]])
            )
            assert pi[i] == pytest.approx(res.var(ddof=1), rel=TOL)
            for j in range(i + 1, 7):
                if j in k:
                    continue
                expected, _, _ = _regression_pcor(x, i, j, r, given=[*k, i, j])
                assert rho[i, j] == pytest.approx(expected, abs=TOL)
                sub = coda.pcor(x[:, [i, j, *k]])
                assert rho[i, j] == pytest.approx(sub[0, 1], abs=TOL)
    touched = np.zeros((7, 7), dtype=bool)
    touched[k, :] = touched[:, k] = True
    assert np.isnan(rho[touched]).all()
    assert not np.isnan(rho[~touched]).any()
    assert np.isnan(pi[k]).all()


def test_single_given_part_is_alr_correlation():
    x = _data(n=20, d=5, seed=2)
    rho = coda.pcor(x, given=[2])
    alr = coda.alr(x, ref=2)
    keep = [0, 1, 3, 4]
    np.testing.assert_allclose(rho[np.ix_(keep, keep)], np.corrcoef(alr.T), atol=1e-12)


def test_given_with_all_other_parts_is_full_pcor():
    x = _data(n=20, d=5, seed=9)
    full = coda.pcor(x)
    for i in range(5):
        for j in range(i + 1, 5):
            k = [q for q in range(5) if q not in (i, j)]
            assert coda.pcor(x, given=k)[i, j] == pytest.approx(full[i, j], abs=TOL)


def test_multiple_r2_against_regression():
    x = _data(n=30, d=5, seed=4)
    for r in range(5):
        r2 = coda.multiple_r2(x, ref=r)
        for pos, i in enumerate(k for k in range(5) if k != r):
            others = [k for k in range(5) if k not in (i, r)]
            y = np.log(x[:, i] / x[:, r])
            fit = sm.OLS(y, sm.add_constant(np.log(x[:, others] / x[:, [r]]))).fit()
            assert r2[pos] == pytest.approx(fit.rsquared, abs=1e-12)


@settings(max_examples=25, deadline=None)
@given(full_rank_compositions())
def test_properties(x):
    n, d = x.shape
    rng = np.random.default_rng(1)
    omega = coda.precision(x)
    gamma = coda.clr_cov(x)
    rho = coda.pcor(x)
    pi = coda.partial_variance(x)
    scale = np.abs(omega).max()
    np.testing.assert_allclose(omega.sum(axis=1), 0, atol=1e-9 * scale)
    np.testing.assert_allclose(gamma @ omega, np.eye(d) - 1 / d, atol=1e-8)
    np.testing.assert_allclose(rho, rho.T, atol=1e-12)
    np.testing.assert_allclose(np.diag(rho), 1)
    assert (np.abs(rho) <= 1).all()
    # sum_{j != i} rho_ij sqrt(pi_i / pi_j) = 1, from Omega 1 = 0.
    weights = np.sqrt(pi[:, None] / pi[None, :])
    np.fill_diagonal(weights, 0)
    np.testing.assert_allclose((rho * weights).sum(axis=1), 1, atol=1e-7)
    # ddof changes pi by (n-1)/n and leaves rho alone.
    np.testing.assert_allclose(coda.pcor(x, ddof=0), rho, atol=1e-10)
    np.testing.assert_allclose(coda.partial_variance(x, ddof=0), pi * (n - 1) / n, rtol=1e-9)
    # Row scaling (closure) and perturbation (column scaling) change nothing.
    moved = x * rng.uniform(0.01, 100, size=(n, 1)) * rng.uniform(0.01, 100, size=d)
    np.testing.assert_allclose(coda.pcor(moved), rho, atol=1e-8)
    np.testing.assert_allclose(coda.partial_variance(moved), pi, rtol=1e-7)
    # Permutation equivariance.
    perm = rng.permutation(d)
    np.testing.assert_allclose(coda.pcor(x[:, perm]), rho[np.ix_(perm, perm)], atol=1e-9)


def test_labels():
    x = pd.DataFrame(_data(d=4), columns=["a", "b", "c", "d"])
    rho = coda.pcor(x, given=["d"])
    assert list(rho.index) == list(rho.columns) == ["a", "b", "c", "d"]
    assert rho.loc["a", "b"] == pytest.approx(coda.pcor(x.to_numpy(), given=[3])[0, 1])
    pi = coda.partial_variance(x)
    assert isinstance(pi, pd.Series) and list(pi.index) == ["a", "b", "c", "d"]
    r2 = coda.multiple_r2(x, ref="b")
    assert list(r2.index) == ["a/b", "c/b", "d/b"]


def test_bad_input():
    x = _data(n=10, d=4)
    with pytest.raises(ValueError, match="at least 3 are needed"):
        coda.pcor(x[:2])
    with pytest.raises(ValueError, match=r"rank at most 3 < D - 1 = 4.*shrink"):
        coda.pcor(_data(n=4, d=5))
    with pytest.raises(ValueError, match="given is empty"):
        coda.pcor(x, given=[])
    with pytest.raises(ValueError, match="given names parts more than once"):
        coda.pcor(x, given=[1, 1])
    frame = pd.DataFrame(x, columns=list("abcd"))
    with pytest.raises(ValueError, match="given='z' is not a part"):
        coda.pcor(frame, given=["z"])
    with pytest.raises(ValueError, match="at least two parts must remain"):
        coda.pcor(x, given=[0, 1, 2])
    with pytest.raises(ValueError, match="proportional"):
        coda.pcor(np.column_stack([x, 2 * x[:, 1]]))
    # with given, a part that the parts in given explain exactly has no residual
    twin = pd.DataFrame(_data(n=30, d=5), columns=list("abcde"))
    twin["e"] = 2 * twin["b"]
    for f in (coda.pcor, coda.partial_variance, coda.pcor_test):
        with pytest.raises(
            ValueError, match=r"part 'e' is determined by the parts in given \(b\)"
        ):
            f(twin, given=["b"])
    with pytest.raises(ValueError, match=r"part 'e' is determined by the parts in given \(b\)"):
        coda.pcor_bootstrap(twin, given=["b"], n_boot=20, seed=0)
    # A part that is a log-linear combination of others: the clr covariance
    # has rank D - 2, which rounding can leave with a tiny positive pivot.
    mixed = pd.DataFrame(_data(n=30, d=5), columns=list("abcde"))
    mixed["f"] = mixed["a"] ** 0.3 * mixed["b"] ** 0.5 * mixed["c"] ** 0.2
    for f in (coda.pcor, coda.partial_variance, coda.pcor_test, coda.multiple_r2):
        with pytest.raises(ValueError, match=r"the clr covariance is numerically singular"):
            f(mixed)
    doubled = pd.DataFrame(_data(n=30, d=5), columns=list("abcde"))
    doubled["f"] = 2 * doubled["a"]
    with pytest.raises(ValueError, match=r"the log-ratios among the parts in given are collinear"):
        coda.pcor(doubled, given=["a", "f"])
    twin["e"] = twin["a"] * twin["b"] / twin["c"]
    with pytest.raises(
        ValueError, match=r"part 'e' is determined by the parts in given \(a, b, c\)"
    ):
        coda.pcor(twin, given=["a", "b", "c"])
    with pytest.raises(ValueError, match="NaN"):
        coda.pcor(np.where(x > np.median(x), np.nan, x))
    with pytest.raises(ValueError, match="method='ridge' is not a known option"):
        coda.pcor(x, method="ridge")
    with pytest.raises(ValueError, match="given= is available with method='exact' only"):
        coda.pcor(x, given=[0], method="shrink")
    with pytest.raises(TypeError, match="takes no options"):
        coda.precision(x, lam=0.5)
    before = x.copy()
    coda.pcor(x, given=[0])
    np.testing.assert_array_equal(x, before)


def _roman_cups_path() -> Path | None:
    folder = os.environ.get("CODA_DATA_DIR")
    if folder and (Path(folder) / "roman_cups.csv").exists():
        return Path(folder) / "roman_cups.csv"
    return None


@pytest.fixture(scope="module")
def cups():
    path = _roman_cups_path()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("CODA_DATA_DIR/roman_cups.csv is missing in CI; .ci/run must set it")
        pytest.skip("set CODA_DATA_DIR to the folder holding roman_cups.csv")
    return pd.read_csv(path, index_col="cup")


def test_roman_cups_all_routes(cups):
    assert cups.shape == (47, 11)
    _check_all_routes(cups.to_numpy())
    rho = coda.pcor(cups)
    assert list(rho.columns) == list(cups.columns)


def test_roman_cups_given_si_na(cups):
    rho = coda.pcor(cups, given=["Si", "Na"])
    pi = coda.partial_variance(cups, given=["Si", "Na"])
    logs = np.log(cups.to_numpy())
    parts = list(cups.columns)
    si, na = parts.index("Si"), parts.index("Na")
    for r, other in ((si, na), (na, si)):
        regressor = (logs[:, other] - logs[:, r])[:, None]
        for i in range(11):
            if i in (si, na):
                continue
            a = _residuals(logs[:, i] - logs[:, r], regressor)
            assert pi.iloc[i] == pytest.approx(a.var(ddof=1), rel=TOL)
            for j in range(i + 1, 11):
                if j in (si, na):
                    continue
                b = _residuals(logs[:, j] - logs[:, r], regressor)
                assert rho.iloc[i, j] == pytest.approx(np.corrcoef(a, b)[0, 1], abs=TOL)


@settings(max_examples=20, deadline=None)
@given(full_rank_compositions(min_parts=4), st.data())
def test_given_agrees_with_subcomposition(x, data):
    d = x.shape[1]
    k = data.draw(st.lists(st.integers(0, d - 1), min_size=1, max_size=d - 2, unique=True))
    rest = [i for i in range(d) if i not in k]
    i, j = data.draw(st.permutations(rest))[:2]
    rho = coda.pcor(x, given=k)
    sub = coda.pcor(x[:, [i, j, *k]])
    assert rho[i, j] == pytest.approx(sub[0, 1], abs=1e-9)
    assert coda.partial_variance(x, given=k)[i] == pytest.approx(
        coda.partial_variance(x[:, [i, *k]])[0], rel=1e-8
    )


def test_part_with_zero_clr_variance_is_named():
    rng = np.random.default_rng(3)
    others = np.exp(rng.normal(size=(20, 4)))
    # x0 = 2 * geometric mean of the others: clr_0 is the same in every sample.
    x0 = 2.0 * np.exp(np.log(others).mean(axis=1))
    x = pd.DataFrame(np.column_stack([x0, others]), columns=["a", "b", "c", "d", "e"])
    with pytest.raises(ValueError, match=r"part 'a' has zero clr variance"):
        coda.pcor(x)


@pytest.mark.parametrize("method", ["shrink", "bshrink", "glasso"])
@pytest.mark.parametrize("estimate", [coda.pcor, coda.precision, coda.partial_variance])
def test_regularised_methods_name_rows_by_their_labels(method, estimate):
    x = np.random.default_rng(0).uniform(1, 5, (9, 4))
    x[2, 1] = 0
    frame = pd.DataFrame(x, index=[f"r{i}" for i in range(9)], columns=list("abcd"))
    # as pcor_shrink and pcor_glasso say themselves (they said "rows 2")
    with pytest.raises(ValueError, match=r"x has 1 zeros \(rows r2\)"):
        estimate(frame, method=method)


@pytest.mark.parametrize("scale", [1e-3, 1e-6, 1e-7, 30.0])
def test_exact_estimator_keeps_its_digits_when_log_ratios_vary_little_or_much(scale):
    # Partial correlations do not change when every log-ratio is scaled alike;
    # the closed form's added direction now scales with the data (with a fixed
    # J/D the error grew as 1e-16 / variance: 2e-5 at 1e-6, singular at 1e-7).
    z = scale * np.random.default_rng(0).standard_normal((40, 8))
    x = np.exp(z - z.max())
    logs = np.log(x)
    clr_values = logs - logs.mean(axis=1, keepdims=True)
    omega = np.linalg.pinv(np.cov(clr_values.T), rcond=1e-12, hermitian=True)
    s = 1.0 / np.sqrt(np.diag(omega))
    expected = -omega * s[:, None] * s[None, :]
    np.fill_diagonal(expected, 1.0)
    np.testing.assert_allclose(coda.pcor(x), expected, rtol=0, atol=1e-9)
    np.testing.assert_allclose(
        coda.precision(x) * scale**2,
        omega * scale**2,
        rtol=1e-8,
        atol=1e-8 * np.abs(omega * scale**2).max(),
    )


def test_pcor_of_two_parts_is_refused():
    # with two parts there is no reference outside the pair: pcor returned 1
    # for any data, while the two clr parts correlate -1
    x = np.exp(np.random.default_rng(0).normal(size=(10, 2)))
    with pytest.raises(ValueError, match="x has 2 parts; partial correlations need at least 3"):
        coda.pcor(x)
    # the precision matrix and partial variances of two parts are defined
    t = np.var(np.log(x[:, 0] / x[:, 1]), ddof=1)
    np.testing.assert_allclose(coda.partial_variance(x), [t, t], rtol=1e-13)
    np.testing.assert_allclose(coda.precision(x), np.array([[1, -1], [-1, 1]]) / t, rtol=1e-13)


def test_nearly_proportional_parts_are_not_called_exactly_proportional():
    # var(log(x2/x3)) is 1e-12, within the rank tolerance of a clr variance of
    # 60: refused, but the message said "= 0". The value shown comes from the
    # clr covariance: 1.0133e-12 from the logs directly.
    rng = np.random.default_rng(0)
    z = rng.normal(size=(20, 3)) * 1e-6
    z[:, 0] *= 1e7
    with pytest.raises(
        ValueError,
        match=r"parts 'x2' and 'x3' are proportional up to rounding \(var\(log\(x2/x3\)\) = "
        r"1\.01e-12, below 1e-12 of the largest clr variance, 60\.1",
    ):
        coda.pcor(np.exp(z))
    x = np.exp(rng.normal(size=(20, 3)))
    x[:, 2] = 2 * x[:, 1]
    # (exactly 0, or rounding of log 2: either message names the pair)
    with pytest.raises(ValueError, match=r"parts 'x2' and 'x3' are proportional"):
        coda.pcor(x)
