"""``coda.pcor_bootstrap(x, method=...)``: bootstrap intervals of the shrinkage estimators.

The oracle is the definition: draw each resample's rows as the function
documents, run ``coda.pcor`` on them, take ``np.quantile`` pair by pair.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import coda
from coda import _bootstrap

SHRINKAGE = ["shrink", "bshrink"]


def lognormal(n, d, seed):
    """Strictly positive C-ordered compositions with correlated log-parts."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, d))
    z[:, 1:] += 0.6 * z[:, :-1]
    return np.exp(z)


def loop_bootstrap(x, method, n_boot, seed, ci=0.95, **options):
    """``(lower, upper)`` pairs: one ``coda.pcor`` per resample, then ``np.quantile``.

    Resample b takes the rows ``rng.integers(0, n, size=n)``, drawn in order
    from ``np.random.default_rng(seed)`` (pcor_bootstrap's Notes).
    """
    n, d = x.shape
    iu, ju = np.triu_indices(d, k=1)
    rng = np.random.default_rng(seed)
    replicates = np.empty((n_boot, iu.size))
    for b in range(n_boot):
        rows = rng.integers(0, n, size=n)
        replicates[b] = np.asarray(coda.pcor(x[rows], method=method, **options))[iu, ju]
    low, high = np.quantile(replicates, [(1 - ci) / 2, (1 + ci) / 2], axis=0)
    return low, high


def pairs(matrix):
    matrix = np.asarray(matrix)
    return matrix[np.triu_indices(matrix.shape[0], k=1)]


@pytest.mark.parametrize(
    "options", [{}, {"lam": 0.3}, {"lam_var": 0.2}, {"lam": 0.6, "lam_var": 1.0}]
)
@pytest.mark.parametrize("method", SHRINKAGE)
def test_shrinkage_bootstrap_is_the_loop_of_pcor_to_the_bit(method, options):
    # n < D; intensities estimated on every resample unless fixed.
    x = lognormal(18, 30, seed=1)
    result = coda.pcor_bootstrap(
        x, method=method, n_boot=120, seed=7, ci=0.9, progress=False, **options
    )
    low, high = loop_bootstrap(x, method, 120, 7, ci=0.9, **options)
    np.testing.assert_array_equal(pairs(result.lower), low)
    np.testing.assert_array_equal(pairs(result.upper), high)
    np.testing.assert_array_equal(result.estimate, coda.pcor(x, method=method, **options))
    assert result.n_boot == 120
    assert result.ci == 0.9


@pytest.mark.parametrize("method", SHRINKAGE)
def test_shrinkage_bootstrap_in_several_batches_with_many_resamples(method, monkeypatch):
    # 600 resamples take the order-statistics path of the interval; batches of
    # 7 resamples draw the same stream as one batch.
    x = lognormal(12, 9, seed=2)
    monkeypatch.setattr(_bootstrap, "BATCH_VALUES", 7 * 81)
    result = coda.pcor_bootstrap(x, method=method, n_boot=600, seed=3, progress=False)
    low, high = loop_bootstrap(x, method, 600, 3)
    np.testing.assert_array_equal(pairs(result.lower), low)
    np.testing.assert_array_equal(pairs(result.upper), high)


@pytest.mark.parametrize("method", SHRINKAGE)
def test_shrinkage_bootstrap_of_a_dataframe_keeps_labels(method):
    parts = [f"taxon_{k}" for k in range(12)]
    frame = pd.DataFrame(
        lognormal(10, 12, seed=4),
        columns=parts,
        index=pd.Index([f"s{k}" for k in range(10)], name="sample"),
    )
    result = coda.pcor_bootstrap(frame, method=method, n_boot=60, seed=5, progress=False)
    for matrix in (result.estimate, result.lower, result.upper):
        assert isinstance(matrix, pd.DataFrame)
        assert list(matrix.index) == parts
        assert list(matrix.columns) == parts
    table = result.to_frame()
    assert list(table.columns) == ["part_i", "part_j", "estimate", "lower", "upper"]
    assert set(table["part_i"]) | set(table["part_j"]) == set(parts)
    # The DataFrame's values are laid out by column: equal to rounding, not to the bit.
    low, high = loop_bootstrap(frame.to_numpy(), method, 60, 5)
    np.testing.assert_allclose(pairs(result.lower), low, rtol=0, atol=1e-12)
    np.testing.assert_allclose(pairs(result.upper), high, rtol=0, atol=1e-12)
    pd.testing.assert_frame_equal(result.estimate, coda.pcor(frame, method=method))


@pytest.mark.parametrize("given", [None, [2, 5]])
def test_exact_default_is_unchanged(given):
    # The default and method="exact" are the same computation, to the bit.
    x = lognormal(60, 7, seed=6)
    default = coda.pcor_bootstrap(x, given=given, n_boot=300, seed=11, progress=False)
    exact = coda.pcor_bootstrap(
        x, given=given, method="exact", n_boot=300, seed=11, progress=False
    )
    for field in ("estimate", "lower", "upper"):
        np.testing.assert_array_equal(getattr(exact, field), getattr(default, field))


def test_shrink_works_with_fewer_samples_than_parts():
    x = lognormal(15, 40, seed=7)
    with pytest.raises(ValueError, match="the clr covariance has rank at most 14"):
        coda.pcor_bootstrap(x, n_boot=20, seed=0, progress=False)
    for method in SHRINKAGE:
        result = coda.pcor_bootstrap(x, method=method, n_boot=50, seed=0, progress=False)
        low, high = pairs(result.lower), pairs(result.upper)
        assert np.isfinite(low).all()
        assert np.isfinite(high).all()
        assert (low >= -1).all()
        assert (low <= high).all()
        assert (high <= 1).all()
        np.testing.assert_array_equal(np.diag(result.lower), 1.0)


def test_intensities_are_re_estimated_unless_fixed():
    # Estimated on each resample, the intensity varies and the interval differs
    # from the one at the full sample's intensity held fixed.
    x = lognormal(20, 25, seed=8)
    lam = coda.pcor_shrink(x, method="bshrink").intensity
    free = coda.pcor_bootstrap(x, method="bshrink", n_boot=80, seed=2, progress=False)
    fixed = coda.pcor_bootstrap(x, method="bshrink", n_boot=80, seed=2, progress=False, lam=lam)
    np.testing.assert_array_equal(free.estimate, fixed.estimate)
    assert not np.array_equal(free.lower, fixed.lower)


@pytest.mark.parametrize("method", SHRINKAGE)
def test_input_not_mutated(method):
    x = lognormal(15, 20, seed=9)
    frame = pd.DataFrame(x.copy(), columns=[f"p{k}" for k in range(20)])
    before, frame_before = x.copy(), frame.copy(deep=True)
    coda.pcor_bootstrap(x, method=method, n_boot=10, seed=0, progress=False, lam=0.4)
    coda.pcor_bootstrap(frame, method=method, n_boot=10, seed=0, progress=False)
    np.testing.assert_array_equal(x, before)
    pd.testing.assert_frame_equal(frame, frame_before, check_exact=True)


def test_reproducible_with_seed_and_generator():
    x = lognormal(15, 20, seed=10)
    a = coda.pcor_bootstrap(x, method="shrink", n_boot=40, seed=3, progress=False)
    b = coda.pcor_bootstrap(x, method="shrink", n_boot=40, seed=3, progress=False)
    c = coda.pcor_bootstrap(
        x, method="shrink", n_boot=40, seed=np.random.default_rng(3), progress=False
    )
    d = coda.pcor_bootstrap(x, method="shrink", n_boot=40, seed=4, progress=False)
    np.testing.assert_array_equal(a.lower, b.lower)
    np.testing.assert_array_equal(a.upper, c.upper)
    assert not np.array_equal(a.lower, d.lower)


def test_progress_bar(capsys):
    x = lognormal(15, 20, seed=11)
    coda.pcor_bootstrap(x, method="bshrink", n_boot=5, seed=0)
    assert capsys.readouterr().err == ""  # not a terminal, short run: no bar
    coda.pcor_bootstrap(x, method="bshrink", n_boot=5, seed=0, progress=True)
    assert "bootstrap" in capsys.readouterr().err


def test_intervals_cover_the_true_partial_correlations():
    # bshrink with n well above D: 95% intervals cover most true values (0.92
    # here; at least 0.75 for every seed from 0 to 19).
    sim = coda.simulate(200, 12, graph="chain", seed=0)
    result = coda.pcor_bootstrap(sim.data, method="bshrink", n_boot=200, seed=0, progress=False)
    truth = pairs(sim.pcor)
    covered = (pairs(result.lower) <= truth) & (truth <= pairs(result.upper))
    assert covered.mean() >= 0.7
    # shrink where it is meant for, n below D (0.77 to 0.81 for seeds 0 to 19).
    sim = coda.simulate(40, 60, graph="chain", seed=0)
    result = coda.pcor_bootstrap(sim.data, method="shrink", n_boot=200, seed=0, progress=False)
    truth = pairs(sim.pcor)
    covered = (pairs(result.lower) <= truth) & (truth <= pairs(result.upper))
    assert covered.mean() >= 0.7


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"lam": 0.3}, TypeError, "method='exact' takes no options; got lam"),
        ({"method": "exact", "lam_var": 0.1}, TypeError, "takes no options; got lam_var"),
        ({"method": "bogus"}, ValueError, "method='bogus' is not a known option"),
        (
            {"method": "shrink", "given": [0]},
            ValueError,
            "given= is available with method='exact'",
        ),
        (
            {"method": "glasso"},
            ValueError,
            r"method='glasso' cannot be bootstrapped.*method='bshrink'.*criterion='stars'",
        ),
        ({"method": "glasso", "penalty": 0.1}, ValueError, "method='glasso' cannot"),
        ({"method": "bshrink", "lam": 1.5}, ValueError, "lam=1.5"),
        ({"method": "shrink", "penalty": 0.1}, TypeError, "unexpected keyword argument 'penalty'"),
    ],
)
def test_errors(kwargs, error, match):
    x = lognormal(30, 6, seed=12)
    with pytest.raises(error, match=match):
        coda.pcor_bootstrap(x, n_boot=10, seed=0, progress=False, **kwargs)


@pytest.mark.parametrize("method", SHRINKAGE)
def test_error_on_a_resample_with_fewer_than_three_distinct_samples(method):
    # 4 samples: about one resample in three has at most 2 distinct rows.
    x = lognormal(4, 6, seed=13)
    with pytest.raises(
        ValueError, match=f"distinct samples of the 4, fewer than the 3 that method='{method}'"
    ):
        coda.pcor_bootstrap(x, method=method, n_boot=50, seed=0, progress=False)


def test_error_on_a_resample_where_a_part_does_not_vary():
    # Rows 0 to 2 share part 0's clr value; a resample of only those rows has
    # enough distinct rows but none of part 0's variation.
    x = lognormal(5, 4, seed=14)
    logs = np.log(x)
    clr = logs - logs.mean(axis=1, keepdims=True)
    for row in (1, 2):
        # Shift the other parts so that part 0's clr value equals row 0's.
        shift = (clr[row, 0] - clr[0, 0]) * 4 / 3
        x[row, 1:] *= np.exp(shift)
    seed = next(
        s for s in range(1000) if set(np.random.default_rng(s).integers(0, 5, size=5)) == {0, 1, 2}
    )
    with pytest.raises(ValueError, match=r"bootstrap resample 0 of x has parts whose clr"):
        coda.pcor_bootstrap(x, method="shrink", n_boot=1, seed=seed, progress=False)


# ---------------------------------------------------------------------------
# network passes the method and the estimator's options on


def test_network_bootstrap_rule_stays_exact():
    # Shrinkage intervals under-cover at the true zeros: not a selection rule.
    wide = coda.simulate(30, 40, graph="chain", seed=5).data
    for method in ("bshrink", "glasso"):
        with pytest.raises(ValueError, match="cannot be bootstrapped here: its intervals"):
            coda.network(wide, method=method, rule="bootstrap")


def test_network_passes_estimator_options_to_the_estimate():
    # Was: TypeError, network() got an unexpected keyword argument 'lam'.
    wide = coda.simulate(30, 40, graph="chain", seed=6).data
    graph = coda.network(wide, method="shrink", lam=0.2, min_abs=0.1)
    rho = coda.pcor(wide, method="shrink", lam=0.2)
    expected = coda.network_from_pcor(rho, rule="threshold", min_abs=0.1)
    assert sorted(graph.edges) == sorted(expected.edges)
    for u, v in graph.edges:
        assert graph.edges[u, v]["pcor"] == rho.loc[u, v]
    variances = coda.partial_variance(wide, method="shrink", lam=0.2)
    assert graph.nodes["p07"]["partial_variance"] == variances["p07"]
    sparse = coda.network(wide, method="glasso", penalty=0.5)
    fitted = coda.pcor_glasso(wide, penalty=0.5).pcor
    pairs = [(a, b) for a, b in zip(*np.nonzero(np.triu(fitted.to_numpy(), 1)), strict=True)]
    assert len(sparse.edges) == len(pairs)


def test_network_refuses_estimator_options_it_cannot_use():
    x = coda.simulate(60, 6, graph="chain", seed=7).data
    with pytest.raises(ValueError, match=r'rule="fdr" .* take no estimator options \(got lam\)'):
        coda.network(x, method="shrink", lam=0.2)
    with pytest.raises(TypeError, match="method='exact' takes no options"):
        coda.network(x, rule="threshold", min_abs=0.1, lam=0.2)
    with pytest.raises(TypeError, match="already estimated: estimator options"):
        coda.network(coda.pcor_shrink(x), lam=0.2)
    # A misspelt keyword of network itself is named as such, not as an option.
    with pytest.raises(TypeError, match=r"network\(\) got an unexpected keyword argument 'alpah'"):
        coda.network(x, alpah=0.01)


def test_network_seeds_the_stars_choice_with_its_seed():
    # Was: StARS drew unseeded subsamples, twice (estimate and partial
    # variances), so the same call gave different graphs.
    wide = coda.simulate(25, 12, graph="chain", seed=3).data
    options = {"method": "glasso", "criterion": "stars", "n_penalties": 6, "n_subsamples": 6}
    first = coda.network(wide, seed=0, **options)
    second = coda.network(wide, seed=0, **options)
    assert sorted(first.edges) == sorted(second.edges)
    fitted = coda.pcor_glasso(wide, seed=0, **{k: v for k, v in options.items() if k != "method"})
    expected = int((np.triu(fitted.pcor.to_numpy(), 1) != 0).sum())
    assert len(first.edges) == expected
    variances = 1.0 / np.diag(fitted.precision.to_numpy())
    got = [first.nodes[p]["partial_variance"] for p in fitted.pcor.columns]
    np.testing.assert_allclose(got, variances, rtol=1e-12)


@pytest.mark.parametrize("option", [{"ddof": 1}, {"penalty": 0.1}])
def test_shrinkage_bootstrap_takes_only_the_intensities(option):
    # Was: ddof=1 passed silently to pcor (ddof=0 failed there); penalty= reached
    # pcor's own error about the shrinkage estimator.
    x = coda.simulate(30, 8, graph="chain", seed=4).data
    name = next(iter(option))
    with pytest.raises(TypeError, match=rf"unexpected keyword argument '{name}'"):
        coda.pcor_bootstrap(x, method="bshrink", n_boot=10, **option)
