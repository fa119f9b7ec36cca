"""QA of the regularised estimators (coda.glasso, coda.shrinkage): regressions found in review."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import coda
from coda._validation import ConvergenceWarning


def _augmented_largest_offdiag(x):
    """``max_{i != j} |S_ij|`` of ``S = Gamma + tr(Gamma) J / D``, from numpy's np.cov."""
    z = np.log(x)
    z -= z.mean(axis=1, keepdims=True)
    gamma = np.cov(z, rowvar=False)
    s = gamma + np.trace(gamma) / x.shape[1]
    return np.abs(s - np.diag(np.diag(s))).max()


def test_glasso_tiny_penalty_with_an_indefinite_fit_warns():
    # n < D and a penalty 1e-10 of the path's largest: the sweeps met tol, but
    # Theta (about 1 / penalty along the null directions) came back indefinite,
    # with NaN partial correlations and only numpy's warning of a square root
    # of a negative number, or none at all
    rng = np.random.default_rng(11)
    x = np.exp(rng.standard_normal((3, 5)))
    penalty = 1e-10 * _augmented_largest_offdiag(x)
    with pytest.warns(ConvergenceWarning) as record:
        result = coda.pcor_glasso(x, penalty=penalty)
    assert [type(w.message) for w in record] == [ConvergenceWarning]
    message = str(record[0].message)
    assert "not positive definite" in message and "use a larger penalty" in message
    assert "n=3 samples and D=5 parts" in message
    # the warning is true: the estimate is indeed indefinite
    assert np.linalg.eigvalsh(result.precision).min() <= 0
    # and a penalty the data can bear gives none (warnings are errors in the suite)
    result = coda.pcor_glasso(x, penalty=1e5 * penalty)
    assert np.linalg.eigvalsh(result.precision).min() > 0


def test_glasso_precision_of_absent_edges_is_positive_zero():
    # theta_kj = -beta_kj theta_jj wrote -0.0 for every absent edge, shown as
    # "-0.000" in the precision DataFrame (pcor already had + 0.0)
    rng = np.random.default_rng(1)
    x = pd.DataFrame(np.exp(rng.standard_normal((20, 4))), columns=list("abcd"))
    result = coda.pcor_glasso(x, penalty=10.0)
    precision = result.precision.to_numpy()
    off = ~np.eye(4, dtype=bool)
    assert (precision[off] == 0).all()
    assert not np.signbit(precision).any()
    assert "-0.0" not in result.precision.round(3).to_string()


def test_shrink_full_intensity_gives_positive_zero_partial_correlations():
    # lam = 1: precision is diagonal and -P_ij / sqrt(P_ii P_jj) was -0.0
    rng = np.random.default_rng(1)
    x = pd.DataFrame(np.exp(rng.standard_normal((6, 4))), columns=list("abcd"))
    result = coda.pcor_shrink(x, lam=1.0)
    np.testing.assert_array_equal(result.pcor.to_numpy(), np.eye(4))
    assert not np.signbit(result.pcor.to_numpy()).any()
    assert "-0.0" not in result.pcor.to_string()


def test_lam_var_documentation_matches_both_methods():
    # The docstring said lam_var "changes the precision matrix but not the
    # partial correlations": true of "shrink" (S R S has the partial
    # correlations of R), false of "bshrink" (G S R S G mixes the scales).
    rng = np.random.default_rng(1)
    x = np.exp(rng.standard_normal((6, 4)) * [0.3, 1.0, 2.0, 0.5])

    def pcor(method, lam_var):
        return coda.pcor_shrink(x, method=method, lam=0.5, lam_var=lam_var).pcor

    np.testing.assert_allclose(pcor("shrink", 0.0), pcor("shrink", 1.0), atol=1e-12)
    assert np.abs(pcor("bshrink", 0.0) - pcor("bshrink", 1.0)).max() > 0.05
    doc = " ".join(coda.pcor_shrink.__doc__.split())
    assert 'with ``"bshrink"`` it changes both' in doc


def test_glasso_refuses_a_path_length_with_a_given_penalty():
    # n_penalties sets the path, which a given penalty replaces: it was
    # ignored without a word.
    x = np.exp(np.random.default_rng(4).standard_normal((30, 5)))
    with pytest.raises(ValueError, match=r"n_penalties is not used when penalty is given"):
        coda.pcor_glasso(x, penalty=0.2, n_penalties=5)
    assert coda.pcor_glasso(x, n_penalties=5).penalties.size == 5
    assert coda.pcor_glasso(x).penalties.size == 20


@pytest.mark.parametrize("method", ["shrink", "bshrink"])
def test_shrinkage_results_are_exactly_symmetric(method):
    # The low-rank products and bshrink's rank-one correction were symmetric only up to
    # rounding: precision and pcor differed from their transposes by an ulp.
    x = np.exp(np.random.default_rng(3).normal(size=(40, 60)))
    fit = coda.pcor_shrink(x, method=method)
    for matrix in (np.asarray(fit.precision), np.asarray(fit.pcor)):
        assert np.array_equal(matrix, matrix.T)
    assert np.array_equal(np.asarray(coda.pcor(x, method=method)), np.asarray(fit.pcor))
