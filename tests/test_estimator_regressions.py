"""Regression tests of the partial-correlation estimators (coda.partial, shrinkage, inference).

Each test here failed before the fix it comes with: too few samples for
``given=`` is named as such instead of blamed on the parts, the basis
shrinkage survives values near the largest float, and the bootstrap with
``given=`` asks of its resamples only the samples that coda.pcor asks of x.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import coda


def lognormal(n, d, seed):
    return np.exp(np.random.default_rng(seed).normal(size=(n, d)))


@pytest.mark.parametrize("n_given", [4, 5])
@pytest.mark.parametrize("function", [coda.pcor, coda.partial_variance])
def test_too_few_samples_for_given_is_named_before_the_parts_are_blamed(function, n_given):
    # 4 samples of 8 parts: with 4 or 5 parts in given the log-ratio
    # covariances are singular for lack of samples, not because parts in
    # given are collinear or a part is determined by them.
    x = pd.DataFrame(lognormal(4, 8, 0), columns=list("abcdefgh"))
    with pytest.raises(ValueError, match=rf"4 samples, too few to partial out {n_given} parts; "):
        function(x, given=list("abcde"[:n_given]))
    # With enough samples, collinear parts in given are still named as such.
    y = pd.DataFrame(lognormal(40, 8, 1), columns=list("abcdefgh"))
    y["c"] = 3.0 * y["b"]
    with pytest.raises(ValueError, match="parts in given are collinear"):
        function(y, given=list("abcde"[:n_given]))


@pytest.mark.parametrize("lam", [None, 0.0, 0.4, 1.0])
@pytest.mark.parametrize("n", [8, 40])
def test_bshrink_of_values_near_the_largest_float_equals_that_of_the_scaled_data(n, lam):
    # Row sums of values near 1.5e308 overflow to inf: log proportions were
    # -inf, every part was called constant, with RuntimeWarnings on the way.
    # The closure, and so the estimate, does not depend on the scale.
    x = lognormal(n, 12, 2)
    big = x / x.max(axis=1, keepdims=True) * 1.5e308  # every row sum overflows
    want = coda.pcor_shrink(x, method="bshrink", lam=lam)
    got = coda.pcor_shrink(big, method="bshrink", lam=lam)
    np.testing.assert_allclose(got.pcor, want.pcor, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got.precision, want.precision, rtol=1e-10, atol=0)
    assert got.intensity == pytest.approx(want.intensity, abs=1e-12)
    assert got.intensity_var == pytest.approx(want.intensity_var, abs=1e-12)
    np.testing.assert_allclose(
        coda.pcor(big, method="bshrink"), coda.pcor(x, method="bshrink"), rtol=0, atol=1e-12
    )


@pytest.mark.parametrize(
    ("n", "d", "given"), [(30, 20, [0]), (12, 10, [3, 0, 7]), (9, 12, [1, 2])]
)
def test_bootstrap_given_needs_only_the_samples_pcor_needs(n, d, given):
    # coda.pcor(x, given=K) needs |K| + 2 samples; the bootstrap asked every
    # resample for D distinct ones, which resamples of 30 rows of 20 parts
    # (about 19 distinct) almost never have, and refused.
    x = lognormal(n, d, 3)
    n_boot = 200
    result = coda.pcor_bootstrap(x, given=given, n_boot=n_boot, seed=4, progress=False)
    rng = np.random.default_rng(4)
    replicates = np.array(
        [coda.pcor(x[rng.integers(0, n, size=n)], given=given) for _ in range(n_boot)]
    )
    rest = [i for i in range(d) if i not in given]
    block = np.ix_(rest, rest)
    lower = np.quantile(replicates, 0.025, axis=0)[block]
    upper = np.quantile(replicates, 0.975, axis=0)[block]
    np.testing.assert_allclose(result.lower[block], lower, rtol=0, atol=1e-12)
    np.testing.assert_allclose(result.upper[block], upper, rtol=0, atol=1e-12)
    assert np.isnan(result.lower[given]).all()
    # A resample with fewer than |K| + 2 distinct samples is still refused:
    # given=[0, 1, 2] needs 5 distinct samples of 6, which most resamples lack.
    with pytest.raises(ValueError, match="distinct samples of the 6, fewer than the 5"):
        coda.pcor_bootstrap(lognormal(6, 5, 5), given=[0, 1, 2], n_boot=50, seed=0)


@pytest.mark.parametrize("method", ["shrink", "bshrink", "glasso"])
def test_regularised_tests_without_df_suggest_a_selection_they_can_use(method):
    # given= is refused by the regularised estimators: it is no fix for them
    x = np.exp(np.random.default_rng(0).normal(size=(10, 30)))
    with pytest.raises(ValueError, match=r"df > 0: use at least 30 samples, or select edges") as e:
        coda.pcor_test(x, method=method)
    assert "given" not in str(e.value)
