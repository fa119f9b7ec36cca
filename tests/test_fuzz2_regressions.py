"""Regressions found by a second fuzz pass (graphs, estimators, inference).

Each test failed before its fix: a warning leaked from numpy or statsmodels,
or a regularised estimate came back NaN.
"""

from __future__ import annotations

import numpy as np
import pytest

import coda
from coda._validation import ConvergenceWarning


@pytest.mark.parametrize("adjust", ["sidak", "holm-sidak"])
def test_pcor_test_sidak_with_a_pvalue_of_one(adjust):
    # alternative="less" with strong positive partial correlations gives
    # p-values of exactly 1; statsmodels' Sidak methods then took log1p(-1)
    # and a RuntimeWarning (divide by zero) escaped.
    sim = coda.simulate(200, 5, seed=1)
    tests = coda.pcor_test(sim.data, alternative="less", adjust=adjust)
    assert (tests["pvalue"] == 1.0).any()
    q = tests["qvalue"].to_numpy()
    assert np.all(np.isfinite(q))
    assert np.all(q >= tests["pvalue"].to_numpy())
    assert np.all(q[tests["pvalue"].to_numpy() == 1.0] == 1.0)


def test_network_fdr_sidak_with_glasso_zeros():
    # the graphical lasso's exact zeros give t = 0 and p = 1 (two-sided)
    x = np.array([[1.0, 2, 4], [1, 2, 4.5], [2, 1, 4], [3, 3, 1]])
    G = coda.network(x, method="glasso", rule="fdr", adjust="sidak")
    assert G.number_of_edges() == 0
    assert list(G.nodes) == ["x1", "x2", "x3"]


@pytest.mark.parametrize("lam", [1e-300, 1e-20, 1e-12])
def test_bshrink_tiny_intensity_with_more_samples_than_parts(lam):
    # n > D: the Woodbury form (I - V V^T) / lam amplified the rounding of a
    # zero matrix by 1 / lam: NaN (with a RuntimeWarning) for lam = 1e-20 and
    # an error of 4e-4 at lam = 1e-12. The estimate is continuous in lam.
    x = np.random.default_rng(0).lognormal(size=(20, 5))
    limit = coda.pcor_shrink(x, method="bshrink", lam=0.0, lam_var=1.0)
    result = coda.pcor_shrink(x, method="bshrink", lam=lam, lam_var=1.0)
    np.testing.assert_allclose(result.pcor, limit.pcor, atol=1e-10)
    np.testing.assert_allclose(result.precision, limit.precision, rtol=1e-9)


@pytest.mark.parametrize("penalty", [1e-300, 1e-20])
def test_glasso_tiny_penalty_with_proportional_parts_warns(penalty):
    # Proportional parts put an eigenvalue of Theta near 1 / penalty: the fit
    # overflowed to inf, and numpy's RuntimeWarnings from slogdet and a sum
    # escaped; the fit is now reported as the documented ConvergenceWarning.
    x = np.random.default_rng(0).lognormal(size=(6, 4))
    x[:, 1] = 3 * x[:, 0]
    with pytest.warns(ConvergenceWarning, match="not positive definite"):
        result = coda.pcor_glasso(x, penalty=penalty)
    assert result.scores.shape == (1,)
    # the parts not involved keep a finite estimate
    assert np.isfinite(np.asarray(result.pcor)[2, 3])
