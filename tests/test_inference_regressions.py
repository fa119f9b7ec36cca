"""Regressions found in QA of coda.inference and coda.proportionality.

Each test checks against an independent computation written here: a plain
loop bootstrap with ``np.quantile``, and the proportionality metrics from
their formulas with numpy.
"""

import numpy as np
import pandas as pd
import pytest

import coda
from coda import pcor_bootstrap, pcor_test, proportionality


def _loop_bootstrap(x, n_boot, seed, ci):
    """Percentile intervals from a plain loop over ``coda.pcor`` of resamples."""
    rng = np.random.default_rng(seed)
    n = x.shape[0]
    reps = np.array([np.asarray(coda.pcor(x[rng.integers(0, n, size=n)])) for _ in range(n_boot)])
    return np.quantile(reps, [(1 - ci) / 2, (1 + ci) / 2], axis=0)


@pytest.mark.parametrize("n_boot", [256, 300])
def test_bootstrap_ci_within_rounding_of_one(n_boot):
    # (1 + ci) / 2 * (n_boot - 1) rounds to n_boot - 1: the upper bound is the
    # largest replicate. The fast path of the percentile interval indexed one
    # order statistic past the end (IndexError).
    x = np.exp(np.random.default_rng(0).normal(size=(40, 4)))
    ci = float(np.nextafter(1.0, 0.0))
    result = pcor_bootstrap(x, n_boot=n_boot, seed=3, ci=ci, progress=False)
    low, high = _loop_bootstrap(x, n_boot, 3, ci)
    np.testing.assert_allclose(result.lower, low, atol=1e-12)
    np.testing.assert_allclose(result.upper, high, atol=1e-12)


def test_pcor_test_given_all_parts_names_given_not_samples():
    # n = 6, D = 5, given = all 5 parts: df = 0, but more samples would not
    # help; the error used to say "use at least 7 samples".
    x = np.exp(np.random.default_rng(1).normal(size=(6, 5)))
    with pytest.raises(ValueError, match="given names 5 of 5 parts; at least two parts"):
        pcor_test(x, given=[0, 1, 2, 3, 4])
    # n = 5, D = 5, given = 4 parts: the df error asked for 6 samples, which
    # then failed with the error about given.
    with pytest.raises(ValueError, match="given names 4 of 5 parts"):
        pcor_test(x[:5], given=[0, 1, 2, 3])


def test_pcor_test_given_with_regularised_method_names_the_method():
    # given= is exact-only; with few samples the df error came first and
    # suggested more samples instead.
    x = np.exp(np.random.default_rng(2).normal(size=(4, 8)))
    with pytest.raises(ValueError, match="given= is available with method='exact' only"):
        pcor_test(x, given=[0, 1, 2, 3, 4], method="shrink")


def _exact_constant_clr_part():
    # x3 is the geometric mean of x1 and x2 to the bit: its clr is exactly 0.
    k = np.array([1.0, 2.0, 3.0, 5.0, 4.0])
    return pd.DataFrame(
        np.column_stack([2.0**k, 2.0**-k, np.ones(5)]),
        columns=["a", "b", "c"],
        index=list("vwxyz"),
    )


@pytest.mark.parametrize(("metric", "diagonal"), [("rho", 1.0), ("phs", 0.0)])
def test_proportionality_one_constant_clr_part(metric, diagonal):
    # One part whose clr values do not vary is accepted for rho and phs (the
    # sums of two variances stay positive), but its diagonal entry was 0/0 = NaN.
    frame = _exact_constant_clr_part()
    before = frame.copy()
    out = proportionality(frame, metric=metric)
    logs = np.log(frame.to_numpy())
    clr = logs - logs.mean(axis=1, keepdims=True)
    var = clr.var(axis=0, ddof=1)
    assert var[2] == 0.0
    t = np.array([[np.var(logs[:, i] - logs[:, j], ddof=1) for j in range(3)] for i in range(3)])
    total = var[:, None] + var[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = 1.0 - t / total
        expected = rho if metric == "rho" else t / (2.0 * total - t)
    np.fill_diagonal(expected, diagonal)
    assert list(out.index) == list(out.columns) == ["a", "b", "c"]
    np.testing.assert_allclose(out.to_numpy(), expected, atol=1e-12)
    pd.testing.assert_frame_equal(frame, before)
