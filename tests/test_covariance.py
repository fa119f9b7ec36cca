"""Tests for coda.covariance: estimators against direct computations, maps, properties."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings

import coda
from tests.strategies import full_rank_compositions

RNG_SEED = 20240611


def _data(n=30, d=5, seed=RNG_SEED):
    rng = np.random.default_rng(seed)
    return np.exp(rng.normal(size=(n, d)) @ rng.normal(size=(d, d)))


def _naive_variation(x, ddof=1):
    logs = np.log(x)
    d = x.shape[1]
    return np.array(
        [[np.var(logs[:, i] - logs[:, j], ddof=ddof) for j in range(d)] for i in range(d)]
    )


def _naive_clr_cov(x, ddof=1):
    logs = np.log(x)
    z = logs - logs.mean(axis=1, keepdims=True)
    return np.cov(z.T, ddof=ddof)


@pytest.mark.parametrize("ddof", [0, 1])
def test_estimators_match_direct_computation(ddof):
    x = _data()
    np.testing.assert_allclose(coda.variation(x, ddof=ddof), _naive_variation(x, ddof), atol=1e-12)
    np.testing.assert_allclose(coda.clr_cov(x, ddof=ddof), _naive_clr_cov(x, ddof), atol=1e-12)
    for r in range(x.shape[1]):
        alr = coda.alr(x, ref=r)
        np.testing.assert_allclose(
            coda.alr_cov(x, ref=r, ddof=ddof), np.cov(alr.T, ddof=ddof), atol=1e-12
        )
    for basis in ("helmert", "pivot"):
        z = coda.ilr(x, basis=basis)
        np.testing.assert_allclose(
            coda.ilr_cov(x, basis=basis, ddof=ddof), np.cov(z.T, ddof=ddof), atol=1e-12
        )
    assert coda.total_variance(x, ddof=ddof) == pytest.approx(
        np.trace(_naive_clr_cov(x, ddof)), rel=1e-12
    )


@pytest.mark.parametrize("group_rows", [1, 7, 29, 30])
def test_gram_in_groups_of_rows(monkeypatch, group_rows):
    # Large inputs go through the Gram product a group of rows at a time;
    # groups that do not divide n (and groups of one row) give the same clr
    # covariance, and a zero in a later group is still reported.
    from coda import _clr_gram

    x = _data(n=30, d=6)
    monkeypatch.setattr(_clr_gram, "_GROUP_BYTES", 8 * x.shape[1] * group_rows)
    np.testing.assert_allclose(coda.clr_cov(x), _naive_clr_cov(x), atol=1e-12)
    np.testing.assert_allclose(coda.variation(x), _naive_variation(x), atol=1e-12)
    bad = x.copy()
    bad[-1, 2] = 0.0
    with pytest.raises(ValueError, match="zero"):
        coda.clr_cov(bad)


def test_hand_worked_two_part_case():
    # log(x1/x2) = (0, log 2, log 4) = (0, a, 2a), a = log 2: mean a, variance
    # ((a)^2 + 0 + (a)^2) / 2 = a^2.  clr_1 = log(x1/x2)/2 so Gamma_11 = a^2/4.
    x = [[1, 1], [2, 1], [4, 1]]
    a = np.log(2.0)
    np.testing.assert_allclose(coda.variation(x), [[0, a**2], [a**2, 0]], atol=1e-15)
    np.testing.assert_allclose(
        coda.clr_cov(x), [[a**2 / 4, -(a**2) / 4], [-(a**2) / 4, a**2 / 4]], atol=1e-15
    )
    assert coda.total_variance(x) == pytest.approx(a**2 / 2, rel=1e-14)


def test_maps_between_matrices_are_exact():
    x = _data(d=6)
    t = coda.variation(x)
    gamma = coda.clr_cov(x)
    np.testing.assert_allclose(coda.variation_to_clr_cov(t), gamma, atol=1e-12)
    np.testing.assert_allclose(coda.clr_cov_to_variation(gamma), t, atol=1e-12)
    for r in range(6):
        sigma = coda.alr_cov(x, ref=r)
        np.testing.assert_allclose(coda.clr_cov_to_alr_cov(gamma, ref=r), sigma, atol=1e-12)
        # Sigma_r = -1/2 F_r T F_r^T
        np.testing.assert_allclose(coda.clr_cov_to_alr_cov(-0.5 * t, ref=r), sigma, atol=1e-12)
        np.testing.assert_allclose(coda.alr_cov_to_clr_cov(sigma, ref=r), gamma, atol=1e-12)
        for new in range(6):
            np.testing.assert_allclose(
                coda.alr_cov_change_ref(sigma, ref=r, new_ref=new),
                coda.alr_cov(x, ref=new),
                atol=1e-12,
            )


def test_total_variance_is_sum_of_variation_over_2d():
    x = _data(d=7)
    assert coda.total_variance(x) == pytest.approx(coda.variation(x).sum() / 14, rel=1e-12)


def test_proportionality_metrics():
    x = _data(d=4)
    t = _naive_variation(x)
    g = _naive_clr_cov(x)
    v = np.diag(g)
    rho = 1 - t / (v[:, None] + v[None, :])
    np.testing.assert_allclose(coda.proportionality(x), rho, atol=1e-12)
    np.testing.assert_allclose(coda.proportionality(x, metric="phi"), t / v[:, None], atol=1e-12)
    np.testing.assert_allclose(
        coda.proportionality(x, metric="phs"), (1 - rho) / (1 + rho), atol=1e-12
    )
    # Exactly proportional parts: rho_p = 1, phi = 0.
    y = np.column_stack([x, 3.0 * x[:, 0]])
    rho_p = coda.proportionality(y)
    assert rho_p[0, -1] == pytest.approx(1.0, abs=1e-12)
    assert coda.proportionality(y, metric="phi")[0, -1] == pytest.approx(0.0, abs=1e-12)


def test_labels_on_both_axes():
    x = pd.DataFrame(_data(d=3), columns=["Si", "Na", "Ca"])
    for f in (coda.variation, coda.clr_cov, coda.proportionality):
        m = f(x)
        assert list(m.index) == ["Si", "Na", "Ca"] == list(m.columns)
    s = coda.alr_cov(x, ref="Ca")
    assert list(s.index) == ["Si/Ca", "Na/Ca"] == list(s.columns)
    assert list(coda.ilr_cov(x).columns) == ["ilr1", "ilr2"]
    back = coda.alr_cov_to_clr_cov(s, ref=2)
    assert list(back.columns) == ["Si", "Na", "Ca"]
    np.testing.assert_allclose(back, coda.clr_cov(x), atol=1e-12)


@pytest.mark.parametrize("spread", [5.0, 50.0])
def test_row_totals_that_vary_far_more_than_the_log_ratios_cost_no_digits(spread):
    # clr values of spread 1e-3; each row multiplied by a power of two (exact)
    # with log totals of standard deviation `spread`. The clr covariance does
    # not see the totals: the Gram matrix is taken of clr values, not of logs,
    # whose double centring lost 2e-9 (spread 5) to 2e-7 (spread 50) of it.
    rng = np.random.default_rng(5)
    x = np.exp(1e-3 * rng.normal(size=(200, 6)))
    powers = np.round(rng.normal(0.0, spread / np.log(2.0), size=200)).astype(int)
    scaled = np.ldexp(x, powers[:, None])
    expected = coda.clr_cov(x)
    # np.log's own rounding of logs up to ~150 in size bounds what is possible
    np.testing.assert_allclose(coda.clr_cov(scaled), expected, atol=1e-11 * np.abs(expected).max())
    np.testing.assert_allclose(
        coda.clr_cov(da.from_array(scaled, chunks=(37, -1))),
        expected,
        atol=1e-11 * np.abs(expected).max(),
    )
    np.testing.assert_allclose(coda.pcor(scaled), coda.pcor(x), atol=1e-9)


def test_alr_cov_maps_take_references_by_name_from_alr_cov():
    x = pd.DataFrame(_data(d=4), columns=["Si", "Na", "Ca", "Mg"])
    sigma = coda.alr_cov(x, ref="Ca")
    gamma = coda.clr_cov(x)
    for ref in (None, "Ca", 2):
        back = coda.alr_cov_to_clr_cov(sigma, ref=ref)
        assert list(back.columns) == ["Si", "Na", "Ca", "Mg"]
        np.testing.assert_allclose(back, gamma, atol=1e-12)
    moved = coda.alr_cov_change_ref(sigma, ref="Ca", new_ref="Si")
    assert list(moved.columns) == ["Na/Si", "Ca/Si", "Mg/Si"]
    np.testing.assert_allclose(moved, coda.alr_cov(x, ref="Si"), atol=1e-12)
    with pytest.raises(ValueError, match=r"ref='Ca' is a name, but the data have no part names"):
        coda.alr_cov_to_clr_cov(sigma.to_numpy(), ref="Ca")


def test_ilr_cov_uses_the_labels_of_a_labelled_basis():
    x = pd.DataFrame(_data(d=4), columns=["a", "b", "c", "d"])
    sbp = pd.DataFrame(
        [[1, 1, -1, -1], [1, -1, 0, 0], [0, 0, 1, -1]],
        columns=["a", "b", "c", "d"],
        index=["ab_cd", "a_b", "c_d"],
    )
    basis = coda.sbp_basis(sbp)
    psi = coda.ilr_cov(x, basis=basis)
    np.testing.assert_allclose(psi, np.cov(coda.balances(x, sbp).T), atol=1e-12)
    assert list(psi.columns) == ["ab_cd", "a_b", "c_d"] == list(psi.index)
    # The same basis with its rows in another order would pair coefficients
    # with the wrong parts, as in coda.ilr.
    with pytest.raises(ValueError, match=r"basis lists the parts of x in another order"):
        coda.ilr_cov(x, basis=basis.loc[["d", "c", "b", "a"]])
    with pytest.raises(ValueError, match=r"basis is labelled with other parts than x"):
        coda.ilr_cov(x, basis=basis.rename(index={"a": "w"}))


@settings(max_examples=30, deadline=None)
@given(full_rank_compositions())
def test_invariances(x):
    rng = np.random.default_rng(0)
    d = x.shape[1]
    t = coda.variation(x)
    gamma = coda.clr_cov(x)
    np.testing.assert_allclose(gamma.sum(axis=1), 0, atol=1e-9 * np.abs(gamma).max())
    np.testing.assert_allclose(gamma, gamma.T, atol=1e-14 * np.abs(gamma).max())
    # Scaling rows (closure) and perturbing columns change nothing.
    scaled = x * rng.uniform(0.1, 10, size=(x.shape[0], 1)) * rng.uniform(0.1, 10, size=d)
    np.testing.assert_allclose(coda.variation(scaled), t, rtol=1e-8, atol=1e-10 * t.max())
    np.testing.assert_allclose(coda.clr_cov(scaled), gamma, rtol=1e-8, atol=1e-10 * t.max())
    # Permuting parts permutes the matrices.
    perm = rng.permutation(d)
    np.testing.assert_allclose(
        coda.variation(x[:, perm]), t[np.ix_(perm, perm)], atol=1e-10 * t.max()
    )


def test_bad_input():
    x = _data(d=3)
    with pytest.raises(ValueError, match="ddof=5 leaves no degrees of freedom"):
        coda.variation(x[:5], ddof=5)
    with pytest.raises(ValueError, match="at least 2 are needed"):
        coda.clr_cov(x[:1])
    with pytest.raises(ValueError, match="zeros"):
        coda.variation(np.where(x > np.median(x), x, 0.0))
    with pytest.raises(ValueError, match="metric='pearson' is not a known option"):
        coda.proportionality(x, metric="pearson")
    with pytest.raises(ValueError, match="not symmetric"):
        coda.variation_to_clr_cov([[0.0, 1.0], [2.0, 0.0]])
    with pytest.raises(ValueError, match="square"):
        coda.clr_cov_to_variation(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="ref=5 is out of range"):
        coda.clr_cov_to_alr_cov(coda.clr_cov(x), ref=5)
    before = x.copy()
    coda.clr_cov(x)
    np.testing.assert_array_equal(x, before)


def test_proportionality_refuses_to_divide_by_a_clr_variance_of_zero():
    x = pd.DataFrame(_data(d=4), columns=list("abcd"))
    # f is the geometric mean of the others: its clr values are 0 in every sample
    x["f"] = np.exp(np.log(x).mean(axis=1))
    with pytest.raises(ValueError, match=r"do not vary across samples \(f\), and phi divides"):
        coda.proportionality(x, metric="phi")
    # rho and phs divide by the sum of two variances: still defined with one such part
    rho = coda.proportionality(x, metric="rho")
    np.testing.assert_allclose(rho.loc["f", list("abcd")], 0.0, atol=1e-12)
    with pytest.raises(ValueError, match=r"do not vary across samples \(x1, x2, x3\)"):
        coda.proportionality(np.ones((4, 3)))


def test_balance_correlation_refuses_balances_that_do_not_vary():
    rng = np.random.default_rng(4)
    x = pd.DataFrame(rng.lognormal(size=(20, 2)), columns=["c", "d"])
    # a and b are the geometric mean of all four parts: clr values 0 in every
    # sample, so the balance of the pair (a, b) is constant (it returned NaN)
    x.insert(0, "a", np.sqrt(x["c"] * x["d"]))
    x.insert(1, "b", x["a"])
    with pytest.raises(
        ValueError,
        match=r"pairs of parts whose balances do not vary across "
        r"samples \(a-b\), so their balance correlations are undefined",
    ):
        coda.balance_correlation(x)
    with pytest.raises(ValueError, match=r"do not vary across samples \(x1-x2, x1-x3, x2-x3\)"):
        coda.balance_correlation(np.ones((5, 3)))
    # one pair with a constant balance is enough; other data are untouched
    r = coda.balance_correlation(x.assign(b=x["b"] * rng.lognormal(size=20)))
    assert np.isfinite(r.to_numpy()).all()


def test_a_reference_name_must_be_the_one_alr_recorded():
    # ref="a" for a covariance made with ref="c" moved the reference silently
    rng = np.random.default_rng(10)
    df = pd.DataFrame(np.exp(rng.normal(size=(20, 4))), columns=list("abcd"))
    sigma = coda.alr_cov(df, ref="c")
    message = r"ref='a' is not the reference of this alr result, which was made with ref='c'"
    with pytest.raises(ValueError, match=message):
        coda.alr_cov_to_clr_cov(sigma, ref="a")
    with pytest.raises(ValueError, match=message):
        coda.alr_cov_change_ref(sigma, ref="a", new_ref="b")
    with pytest.raises(ValueError, match=message):
        coda.alr_inv(coda.alr(df, ref="c"), ref="a")
    # the right name, or none, or a position (where to put it back) still work
    pd.testing.assert_frame_equal(coda.alr_cov_to_clr_cov(sigma, ref="c"), coda.clr_cov(df))
    pd.testing.assert_frame_equal(
        coda.alr_cov_change_ref(sigma, ref="c", new_ref="b"), coda.alr_cov(df, ref="b")
    )
    assert coda.alr_cov_to_clr_cov(sigma, ref=0).columns.tolist() == ["c", "a", "b", "d"]


@pytest.mark.parametrize(
    ("matrix", "message"),
    [
        (np.ones((3, 3)), "t has a non-zero diagonal"),
        (np.eye(3), "t has a non-zero diagonal"),
        (np.array([[0.0, -1.0, 2.0], [-1.0, 0.0, 1.0], [2.0, 1.0, 0.0]]), "t has negative"),
    ],
)
def test_variation_to_clr_cov_refuses_what_is_not_a_variation_matrix(matrix, message):
    # a correlation or covariance matrix passed by mistake gave a plausible result
    with pytest.raises(ValueError, match=message):
        coda.variation_to_clr_cov(matrix)
    x = coda.simulate(30, 4, seed=1).data
    pd.testing.assert_frame_equal(coda.variation_to_clr_cov(coda.variation(x)), coda.clr_cov(x))


def _nearly_proportional(seed: int, n: int = 500) -> np.ndarray:
    """Four parts, the last proportional to the first up to a log-ratio spread of 1e-9."""
    rng = np.random.default_rng(seed)
    logs = 2.0 * rng.normal(size=(n, 3))
    return np.exp(np.column_stack([logs, logs[:, 0] + 1e-9 * rng.normal(size=n)]))


def test_variation_of_nearly_proportional_parts_is_never_negative():
    # var(log(x_1/x_4)) is 1e-18 here; from the clr covariance it is a
    # difference of numbers near 8, whose rounding fell below zero for about
    # half of these seeds.
    for seed in range(12):
        x = _nearly_proportional(seed)
        t = coda.variation(x)
        assert (t >= 0).all()
        np.testing.assert_allclose(t, _naive_variation(x), rtol=0, atol=1e-14)
        assert (coda.variation(da.from_array(x, chunks=(130, -1))) >= 0).all()


def test_proportionality_stays_in_its_documented_range():
    # rho in [-1, 1], phi and phs non-negative, also where rounding of the
    # variation matrix stepped outside: nearly proportional parts (rho near
    # 1) and two-part data (rho = -1 exactly).
    for seed in range(12):
        x = _nearly_proportional(seed)
        rho = coda.proportionality(x)
        assert rho.max() <= 1.0
        assert coda.proportionality(x, metric="phi").min() >= 0.0
        assert coda.proportionality(x, metric="phs").min() >= 0.0
        # The numbers themselves, from numpy on the logs.
        clr = np.log(x) - np.log(x).mean(axis=1, keepdims=True)
        v = np.var(clr, axis=0, ddof=1)
        np.testing.assert_allclose(
            rho, 1 - _naive_variation(x) / (v[:, None] + v[None, :]), rtol=0, atol=1e-14
        )
    for seed in range(30):
        rng = np.random.default_rng(seed)
        x = np.exp(rng.uniform(0.01, 100) * rng.normal(size=(int(rng.integers(2, 50)), 2)))
        rho = coda.proportionality(x)
        assert rho.min() >= -1.0
        np.testing.assert_allclose(rho, [[1.0, -1.0], [-1.0, 1.0]], rtol=0, atol=1e-15)
        assert coda.proportionality(x, metric="phs").min() >= 0.0
