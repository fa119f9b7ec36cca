"""Tests of coda.shrinkage: R's corpcor/propr values, explicit D x D oracles, properties."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from strategies import compositions

import coda
from coda.shrinkage import pcor_shrink

REF = Path(__file__).parent / "reference"
CASES = ["n20_d30", "n50_d10"]
F64 = np.float64


def _x(case):
    return np.loadtxt(REF / f"shrinkage_x_{case}.csv", delimiter=",")


def _matrix(case, what):
    return np.loadtxt(REF / f"shrinkage_{case}_{what}.csv", delimiter=",")


def _intensities(case, method):
    table = pd.read_csv(REF / "shrinkage_intensities.csv")
    row = table[(table["case"] == case) & (table["method"] == method)]
    return float(row["lambda"].iloc[0]), float(row["lambda_var"].iloc[0])


def _varied(x):
    """Whether every part's clr value and log proportion varies clearly across samples
    (hypothesis shrinks towards constant data, which the estimators refuse)."""
    logs = np.log(x.astype(np.float64))
    clr = logs - logs.mean(axis=1, keepdims=True)
    logp = logs - np.log(x.sum(axis=1, dtype=np.float64))[:, None]
    return min(clr.var(axis=0).min(), logp.var(axis=0).min()) > 1e-4


def _lognormal(n, d, seed):
    rng = np.random.default_rng(seed)
    loadings = rng.standard_normal((d, 2))
    return np.exp(rng.standard_normal((n, 2)) @ loadings.T + 0.5 * rng.standard_normal((n, d)))


# --- R reference values (tests/reference/make_shrinkage_reference.R) --------


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("method", ["shrink", "bshrink"])
def test_matches_r_with_estimated_intensities(case, method):
    result = pcor_shrink(_x(case), method=method)
    lam, lam_var = _intensities(case, method)
    assert result.intensity == pytest.approx(lam, abs=1e-10)
    assert result.intensity_var == pytest.approx(lam_var, abs=1e-10)
    np.testing.assert_allclose(result.pcor, _matrix(case, f"{method}_pcor"), rtol=0, atol=1e-9)
    np.testing.assert_allclose(
        result.precision, _matrix(case, f"{method}_precision"), rtol=0, atol=1e-9
    )
    assert result.method == method


@pytest.mark.parametrize("case", CASES)
def test_matches_r_with_given_intensities(case):
    result = pcor_shrink(_x(case), lam=0.3, lam_var=0.2)
    assert (result.intensity, result.intensity_var) == (0.3, 0.2)
    np.testing.assert_allclose(result.pcor, _matrix(case, "fixed_pcor"), rtol=0, atol=1e-9)
    np.testing.assert_allclose(
        result.precision, _matrix(case, "fixed_precision"), rtol=0, atol=1e-9
    )


# --- independent computations: form the D x D matrices and invert them -----


def _shrunk_cov(data, lam, lam_var):
    """Schafer-Strimmer shrunk covariance formed explicitly (D x D)."""
    cov = np.cov(data, rowvar=False)
    sd = np.sqrt(np.diag(cov))
    corr = cov / np.outer(sd, sd)
    shrunk_corr = (1 - lam) * corr + lam * np.eye(len(sd))
    var = lam_var * np.median(sd**2) + (1 - lam_var) * sd**2
    return shrunk_corr * np.sqrt(np.outer(var, var))


def _pcor(omega):
    scale = 1 / np.sqrt(np.diag(omega))
    rho = -omega * np.outer(scale, scale)
    np.fill_diagonal(rho, 1)
    return rho


@pytest.mark.parametrize(("n", "d"), [(8, 25), (40, 6)])
@pytest.mark.parametrize("lam", [0.05, 0.5, 0.97])
def test_shrink_equals_explicit_inverse(n, d, lam):
    x = _lognormal(n, d, seed=n + d)
    z = np.log(x) - np.log(x).mean(axis=1, keepdims=True)
    omega = np.linalg.inv(_shrunk_cov(z, lam, 0.4))
    result = pcor_shrink(x, lam=lam, lam_var=0.4)
    np.testing.assert_allclose(result.precision, omega, rtol=1e-9, atol=1e-9 * np.abs(omega).max())
    np.testing.assert_allclose(result.pcor, _pcor(omega), rtol=0, atol=1e-10)


@pytest.mark.parametrize(("n", "d"), [(8, 25), (40, 6)])
@pytest.mark.parametrize("lam", [0.05, 0.5, 1.0])
def test_bshrink_equals_explicit_pseudo_inverse(n, d, lam):
    x = _lognormal(n, d, seed=2 * n + d)
    logp = np.log(x / x.sum(axis=1, keepdims=True))
    g = np.eye(d) - 1 / d
    omega = np.linalg.pinv(g @ _shrunk_cov(logp, lam, 0.3) @ g, hermitian=True)
    result = pcor_shrink(x, method="bshrink", lam=lam, lam_var=0.3)
    np.testing.assert_allclose(result.precision, omega, rtol=0, atol=1e-9 * np.abs(omega).max())
    np.testing.assert_allclose(result.pcor, _pcor(omega), rtol=0, atol=1e-9)


@pytest.mark.parametrize(("n", "d"), [(8, 25), (40, 6)])
def test_zero_intensity_is_the_pseudo_inverse(n, d):
    x = _lognormal(n, d, seed=3 * n + d)
    z = np.log(x) - np.log(x).mean(axis=1, keepdims=True)
    sd = z.std(axis=0, ddof=1)
    # lam = 0: pinv of the sample correlation, scaled by the unshrunk sds.
    corr_pinv = np.linalg.pinv(np.corrcoef(z, rowvar=False), hermitian=True)
    omega = corr_pinv / np.outer(sd, sd)
    result = pcor_shrink(x, lam=0.0, lam_var=0.0)
    np.testing.assert_allclose(result.precision, omega, rtol=0, atol=1e-8 * np.abs(omega).max())
    logp = np.log(x / x.sum(axis=1, keepdims=True))
    g = np.eye(d) - 1 / d
    omega = np.linalg.pinv(g @ np.cov(logp, rowvar=False) @ g, hermitian=True)
    result = pcor_shrink(x, method="bshrink", lam=0.0, lam_var=0.0)
    np.testing.assert_allclose(result.precision, omega, rtol=0, atol=1e-8 * np.abs(omega).max())


def test_full_intensity_closed_form():
    # lam = 1 and lam_var = 1: the target itself, median(v) I, whose inverse is I / median(v).
    x = _lognormal(10, 7, seed=5)
    z = np.log(x) - np.log(x).mean(axis=1, keepdims=True)
    result = pcor_shrink(x, lam=1.0, lam_var=1.0)
    np.testing.assert_allclose(result.pcor, np.eye(7), atol=0)
    np.testing.assert_allclose(
        result.precision, np.eye(7) / np.median(z.var(axis=0, ddof=1)), rtol=1e-12
    )


def test_estimated_intensities_follow_the_published_formulas():
    # Schafer and Strimmer (2005), Appendix A, and Opgen-Rhein and Strimmer (2007),
    # written out with the n x D x D array of products w_kij.
    x = _lognormal(12, 9, seed=11)
    z = np.log(x) - np.log(x).mean(axis=1, keepdims=True)
    n = z.shape[0]
    c = z - z.mean(axis=0)
    xs = c / c.std(axis=0, ddof=1)
    w = xs[:, :, None] * xs[:, None, :]
    r = w.sum(axis=0) / (n - 1)
    var_r = n / (n - 1) ** 3 * ((w - w.mean(axis=0)) ** 2).sum(axis=0)
    off = ~np.eye(z.shape[1], dtype=bool)
    lam = np.clip(var_r[off].sum() / (r[off] ** 2).sum(), 0, 1)
    v2 = c**2
    v = v2.sum(axis=0) / (n - 1)
    var_v = n / (n - 1) ** 3 * ((v2 - v2.mean(axis=0)) ** 2).sum(axis=0)
    lam_var = np.clip(var_v.sum() / ((v - np.median(v)) ** 2).sum(), 0, 1)
    result = pcor_shrink(x)
    assert 0 < lam < 1 and 0 < lam_var < 1
    assert result.intensity == pytest.approx(lam, rel=1e-12)
    assert result.intensity_var == pytest.approx(lam_var, rel=1e-12)


def test_shrink_with_many_samples_pulls_every_pair_negative():
    # What the docs say of "shrink" with n well above D (docs/partial-correlations.md):
    # the diagonal target gives the clr null direction 1 an eigenvalue of about
    # lam * mean variance, and its inverse dominates the precision.
    sim = coda.simulate(300, 8, graph="chain", seed=1)
    shrunk = pcor_shrink(sim.data)
    assert shrunk.intensity == pytest.approx(0.0174, abs=1e-4)
    sigma = np.linalg.inv(shrunk.precision.to_numpy())
    values, vectors = np.linalg.eigh(sigma)
    assert values[0] == pytest.approx(shrunk.intensity * np.diag(sigma).mean(), rel=0.01)
    assert values[1] > 10 * values[0]
    np.testing.assert_allclose(np.abs(vectors[:, 0]), 1 / np.sqrt(8), atol=0.01)
    upper = np.triu_indices(8, 1)
    pulled = shrunk.pcor.to_numpy()[upper]
    assert pulled.min() == pytest.approx(-0.85, abs=0.005)
    assert pulled.max() == pytest.approx(-0.53, abs=0.005)
    # Basis shrinkage keeps 1 in the null space and stays with the exact estimate.
    basis = pcor_shrink(sim.data, method="bshrink").pcor.to_numpy()
    exact = coda.pcor(sim.data).to_numpy()
    assert exact[0, 1] == pytest.approx(0.67, abs=0.005)
    assert basis[0, 1] == pytest.approx(0.66, abs=0.005)
    assert np.abs(basis - exact)[upper].max() < 0.06


# --- properties ------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(compositions(min_rows=3, max_rows=12, min_parts=3, max_parts=10, max_log10=3.0))
def test_bshrink_precision_is_a_clr_precision(x):
    assume(_varied(x))
    result = pcor_shrink(x, method="bshrink")
    omega = result.precision
    scale = np.abs(omega).max()
    np.testing.assert_allclose(omega.sum(axis=1), 0, atol=1e-9 * scale * x.shape[1])
    np.testing.assert_allclose(omega, omega.T, atol=1e-12 * scale)
    np.testing.assert_array_equal(np.diag(result.pcor), 1.0)
    assert np.all(np.abs(result.pcor) <= 1)


@settings(max_examples=30, deadline=None)
@given(compositions(min_rows=3, max_rows=12, min_parts=3, max_parts=10, max_log10=3.0, dtype=F64))
def test_invariant_to_scaling_and_perturbation(x):
    assume(_varied(x))
    rng = np.random.default_rng(x.shape[0])
    moved = x * rng.uniform(0.5, 2.0, (x.shape[0], 1)) * rng.uniform(0.5, 2.0, x.shape[1])
    for method in ("shrink", "bshrink"):
        a, b = pcor_shrink(x, method=method), pcor_shrink(moved, method=method)
        if method == "shrink":
            # Row scaling and perturbation leave clr covariances unchanged.
            np.testing.assert_allclose(b.pcor, a.pcor, atol=1e-7)
            assert b.intensity == pytest.approx(a.intensity, abs=1e-7)
        else:
            # Log proportions only see row scaling.
            c = pcor_shrink(x * rng.uniform(0.5, 2.0, (x.shape[0], 1)), method=method)
            np.testing.assert_allclose(c.pcor, a.pcor, atol=1e-7)


@settings(max_examples=20, deadline=None)
@given(compositions(min_rows=3, max_rows=10, min_parts=3, max_parts=8, max_log10=3.0, dtype=F64))
def test_permuting_parts_permutes_the_result(x):
    assume(_varied(x))
    order = np.arange(x.shape[1])[::-1]
    for method in ("shrink", "bshrink"):
        a = pcor_shrink(x, method=method)
        b = pcor_shrink(x[:, order], method=method)
        np.testing.assert_allclose(b.pcor, a.pcor[np.ix_(order, order)], atol=1e-9)


def test_input_not_mutated_and_float32_accepted():
    x = _lognormal(9, 6, seed=1)
    before = x.copy()
    pcor_shrink(x)
    pcor_shrink(x, method="bshrink")
    np.testing.assert_array_equal(x, before)
    single = pcor_shrink(x.astype(np.float32))
    np.testing.assert_allclose(single.pcor, pcor_shrink(x).pcor, atol=1e-5)


def test_dataframe_labels_survive():
    x = pd.DataFrame(_lognormal(9, 4, seed=2), columns=["Si", "Al", "Fe", "Mn"])
    result = pcor_shrink(x, method="bshrink")
    for matrix in (result.pcor, result.precision):
        assert isinstance(matrix, pd.DataFrame)
        assert list(matrix.index) == list(matrix.columns) == ["Si", "Al", "Fe", "Mn"]
    plain = pcor_shrink(x.to_numpy(), method="bshrink")
    np.testing.assert_allclose(result.pcor.to_numpy(), plain.pcor)


def test_result_is_frozen():
    result = pcor_shrink(_lognormal(9, 4, seed=3))
    with pytest.raises(AttributeError):
        result.intensity = 0.5


def test_exported():
    assert coda.pcor_shrink is pcor_shrink
    assert "pcor_shrink" in coda.__all__


# --- bad input -------------------------------------------------------------


def test_errors():
    x = _lognormal(6, 4, seed=4)
    with pytest.raises(ValueError, match="x has 2 samples; at least 3"):
        pcor_shrink(x[:2])
    with pytest.raises(ValueError, match="x has 2 parts; at least 3"):
        pcor_shrink(x[:, :2])
    zeros = x.copy()
    zeros[1, 2] = 0
    with pytest.raises(ValueError, match=r"x has 1 zeros .*replace_zeros"):
        pcor_shrink(zeros)
    nans = x.copy()
    nans[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        pcor_shrink(nans)
    with pytest.raises(ValueError, match=r"lam=1.5 is outside \[0, 1\]"):
        pcor_shrink(x, lam=1.5)
    with pytest.raises(ValueError, match=r"lam_var=-0.1 is outside \[0, 1\]"):
        pcor_shrink(x, lam_var=-0.1)
    with pytest.raises(TypeError, match=r"lam='0\.5'"):
        pcor_shrink(x, lam="0.5")
    with pytest.raises(ValueError, match="method='shrinkage' is not a known option"):
        pcor_shrink(x, method="shrinkage")


def test_constant_part_is_refused():
    x = _lognormal(6, 4, seed=6)
    # Part 0 equal to the geometric mean of the others: its clr is constant.
    x[:, 0] = np.exp(np.log(x[:, 1:]).mean(axis=1))
    with pytest.raises(ValueError, match=r"clr values do not vary across samples \(x1\)"):
        pcor_shrink(x)
    # Constant proportion: log(x / sum x) does not vary.
    y = _lognormal(6, 4, seed=7)
    y[:, 0] = y[:, 1:].sum(axis=1)
    with pytest.raises(ValueError, match=r"log proportions do not vary across samples \(x1\)"):
        pcor_shrink(y, method="bshrink")
