"""Tests of coda.inference: t tests of partial correlations and bootstrap intervals."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
import scipy.stats
import statsmodels.api as sm
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from statsmodels.stats.multitest import multipletests

import coda
from coda import pcor_bootstrap, pcor_test
from tests.strategies import compositions


@pytest.fixture(scope="module")
def x():
    """60 samples of 6 correlated parts, strictly positive."""
    rng = np.random.default_rng(11)
    mixing = rng.normal(size=(6, 6)) * 0.6 + np.eye(6)
    return np.exp(rng.normal(size=(60, 6)) @ mixing)


def ols_t(x, i, j, ref, conditioning):
    """statsmodels OLS of log(x_i/x_ref) on log(x_j/x_ref) and log(x_l/x_ref), l in conditioning.

    Returns the t value and p-value of the coefficient of log(x_j/x_ref)
    and the residual degrees of freedom: an oracle that owes nothing to
    coda's precision matrices.
    """
    logs = np.log(x)
    alr = logs - logs[:, [ref]]
    design = sm.add_constant(np.column_stack([alr[:, j]] + [alr[:, k] for k in conditioning]))
    fit = sm.OLS(alr[:, i], design).fit()
    return fit.tvalues[1], fit.pvalues[1], fit.df_resid


def numpy_pcor(x):
    """Erb's partial correlations from the pseudo-inverse of G cov(log x) G (plain numpy)."""
    d = x.shape[1]
    g = np.eye(d) - 1.0 / d
    omega = np.linalg.pinv(g @ np.cov(np.log(x), rowvar=False) @ g)
    s = 1.0 / np.sqrt(np.diag(omega))
    rho = -omega * np.outer(s, s)
    np.fill_diagonal(rho, 1.0)
    return rho


def test_table_shape_and_r(x):
    table = pcor_test(x)
    assert list(table.columns) == ["part_i", "part_j", "r", "statistic", "df", "pvalue", "qvalue"]
    i, j = np.triu_indices(6, k=1)
    np.testing.assert_array_equal(table["part_i"], i)
    np.testing.assert_array_equal(table["part_j"], j)
    assert table["part_i"].dtype == np.int64
    np.testing.assert_allclose(table["r"], numpy_pcor(x)[i, j], atol=1e-12)


@pytest.mark.parametrize(("i", "j", "ref"), [(0, 1, 5), (2, 4, 0), (1, 5, 3)])
def test_statistic_and_pvalue_equal_ols_full_conditioning(x, i, j, ref):
    table = pcor_test(x, adjust=None).set_index(["part_i", "part_j"])
    others = [k for k in range(6) if k not in (i, j, ref)]
    t, p, df = ols_t(x, i, j, ref, others)
    row = table.loc[(i, j)]
    # df = n - |K| - 1 with |K| = D - 2: 60 - 4 - 1 = 55 = n - D + 1.
    assert row["df"] == df == 55
    np.testing.assert_allclose(row["statistic"], t, rtol=1e-9)
    np.testing.assert_allclose(row["pvalue"], p, rtol=1e-8)


def test_statistic_and_pvalue_equal_ols_given(x):
    # K = {0, 3}: reference 0, regressors log(x_3/x_0); df = 60 - 2 - 1 = 57.
    table = pcor_test(x, given=[0, 3], adjust=None).set_index(["part_i", "part_j"])
    assert len(table) == 6  # pairs among {1, 2, 4, 5}
    for i, j in [(1, 2), (2, 5), (4, 5)]:
        t, p, df = ols_t(x, i, j, 0, [3])
        row = table.loc[(i, j)]
        assert row["df"] == df == 57
        np.testing.assert_allclose(row["statistic"], t, rtol=1e-9)
        np.testing.assert_allclose(row["pvalue"], p, rtol=1e-8)
    # The reference inside K does not matter: use 3 instead of 0.
    t, _, _ = ols_t(x, 1, 4, 3, [0])
    np.testing.assert_allclose(table.loc[(1, 4), "statistic"], t, rtol=1e-9)


def test_df_is_one_more_than_treating_clr_columns_as_variables(x):
    n, d = x.shape
    table = pcor_test(x)
    ppcor_df = n - 2 - (d - 2)  # ppcor's rule on D clr columns
    assert (table["df"] == ppcor_df + 1).all()
    assert (pcor_test(x, given=[1])["df"] == n - 1 - 1).all()


def test_alternatives_against_scipy_t(x):
    two = pcor_test(x, adjust=None)
    greater = pcor_test(x, alternative="greater", adjust=None)
    less = pcor_test(x, alternative="less", adjust=None)
    t, df = two["statistic"].to_numpy(), two["df"].to_numpy()
    np.testing.assert_allclose(greater["pvalue"], scipy.stats.t.sf(t, df), rtol=1e-12)
    np.testing.assert_allclose(less["pvalue"], scipy.stats.t.cdf(t, df), rtol=1e-12)
    np.testing.assert_allclose(
        two["pvalue"], 2 * np.minimum(greater["pvalue"], less["pvalue"]), rtol=1e-10
    )


@pytest.mark.parametrize(
    "adjust", ["fdr_bh", "fdr_by", "bonferroni", "holm", "hommel", "fdr_tsbh"]
)
def test_qvalues_equal_multipletests(x, adjust):
    table = pcor_test(x, adjust=adjust)
    expected = multipletests(table["pvalue"].to_numpy(), method=adjust)[1]
    np.testing.assert_array_equal(table["qvalue"], expected)


def test_no_adjustment_gives_qvalue_equal_to_pvalue(x):
    table = pcor_test(x, adjust=None)
    np.testing.assert_array_equal(table["qvalue"], table["pvalue"])
    assert (pcor_test(x)["qvalue"] >= table["pvalue"]).all()


def test_dataframe_names_and_given_by_name(x):
    frame = pd.DataFrame(x, columns=list("abcdef"), index=[f"s{k}" for k in range(60)])
    before = frame.copy()
    table = pcor_test(frame, given=["b"])
    assert "b" not in set(table["part_i"]) | set(table["part_j"])
    assert len(table) == 10
    assert (table["df"] == 60 - 1 - 1).all()
    pd.testing.assert_frame_equal(frame, before)
    expected = coda.pcor(frame, given=["b"])
    first = table.iloc[0]
    assert (first["part_i"], first["part_j"]) == ("a", "c")
    assert first["r"] == pytest.approx(expected.loc["a", "c"], abs=1e-14)


def test_tuple_labels_are_kept_in_the_tables(x):
    # MultiIndex columns: each part name is a tuple
    columns = pd.MultiIndex.from_product([["a", "b", "c"], [1, 2]])
    frame = pd.DataFrame(x, columns=columns)
    table = pcor_test(frame)
    assert list(table[["part_i", "part_j"]].iloc[0]) == [("a", 1), ("a", 2)]
    assert table["part_j"].iloc[-1] == ("c", 2)
    # a DataFrame's values are column-major: the sums may round differently
    np.testing.assert_allclose(table["r"], pcor_test(x)["r"], rtol=0, atol=1e-14)
    boot = coda.pcor_bootstrap(frame, n_boot=20, seed=0).to_frame()
    assert list(boot["part_i"].iloc[:2]) == [("a", 1), ("a", 1)]
    graph = coda.network(frame, rule="threshold", min_abs=0.0)
    assert list(graph.nodes) == [str(c) for c in columns]


def test_shrinkage_method_is_passed_on(x):
    table = pcor_test(x, method="shrink")
    i, j = np.triu_indices(6, k=1)
    np.testing.assert_allclose(table["r"], coda.pcor(x, method="shrink")[i, j], atol=1e-14)


@settings(max_examples=15, deadline=None)
@given(
    x=st.sampled_from([(12, 4), (20, 6), (9, 8)]).flatmap(
        lambda shape: compositions(shape=shape, dtype=np.float64, max_log10=2.0)
    ),
    seed=st.integers(0, 2**16),
)
def test_invariant_to_row_scaling_and_sample_order(x, seed):
    # Partial correlations need a clr covariance of rank D - 1, here well conditioned.
    logs = np.log(x)
    eig = np.linalg.eigvalsh(np.cov(logs - logs.mean(axis=1, keepdims=True), rowvar=False))
    assume(eig[1] > 1e-3 * eig[-1])
    table = pcor_test(x)
    rng = np.random.default_rng(seed)
    rows = rng.permutation(x.shape[0])
    # A factor per row (closure), over four orders of magnitude, not one for all
    scale = 10.0 ** rng.uniform(-2.0, 2.0, size=(x.shape[0], 1))
    other = pcor_test(x[rows] * scale)
    np.testing.assert_allclose(other["r"], table["r"], atol=1e-8)
    np.testing.assert_allclose(other["pvalue"], table["pvalue"], rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"alternative": "two_sided"}, "alternative='two_sided' is not a known option"),
        ({"adjust": "BH"}, "adjust='BH' is not a known option"),
        ({"given": ["z"]}, "given='z' is a name, but the data have no part names"),
    ],
)
def test_errors(x, kwargs, match):
    with pytest.raises(ValueError, match=match):
        pcor_test(x, **kwargs)


def test_error_with_two_parts():
    x = np.exp(np.random.default_rng(0).normal(size=(10, 2)))
    with pytest.raises(ValueError, match="x has 2 parts; at least 3 are needed"):
        pcor_test(x)
    with pytest.raises(ValueError, match="x has 2 parts; at least 3 are needed"):
        pcor_bootstrap(x)


def test_error_when_no_degrees_of_freedom():
    x = np.exp(np.random.default_rng(0).normal(size=(3, 4)))
    # n = 3, |K| = 2: df = 3 - 2 - 1 = 0.
    with pytest.raises(ValueError, match=r"df = n - \|K\| - 1 = 0 degrees of freedom"):
        pcor_test(x, given=[0, 1])
    # Shrinkage estimates exist for n < D, but the full test has df = 5 - 8 + 1 < 0.
    x = np.exp(np.random.default_rng(0).normal(size=(5, 8)))
    with pytest.raises(ValueError, match="= -2 degrees of freedom; the t test needs df > 0"):
        pcor_test(x, method="shrink")


# --- bootstrap --------------------------------------------------------------


def slow_bootstrap(x, n_boot, seed, ci, given=None):
    """The loop pcor_bootstrap replaces: coda.pcor on each resample, same draws."""
    rng = np.random.default_rng(seed)
    n = x.shape[0]
    values = np.asarray(x)
    names = list(x.columns) if isinstance(x, pd.DataFrame) else None
    reps = []
    for _ in range(n_boot):
        rows = values[rng.integers(0, n, size=n)]
        sample = rows if names is None else pd.DataFrame(rows, columns=names)
        reps.append(np.asarray(coda.pcor(sample, given=given)))
    return np.quantile(reps, [(1 - ci) / 2, (1 + ci) / 2], axis=0)


def test_bootstrap_equals_slow_loop(x):
    result = pcor_bootstrap(x, n_boot=40, seed=5, ci=0.9, progress=False)
    low, high = slow_bootstrap(x, 40, 5, 0.9)
    np.testing.assert_allclose(result.lower, low, rtol=0, atol=1e-10)
    np.testing.assert_allclose(result.upper, high, rtol=0, atol=1e-10)
    np.testing.assert_allclose(result.estimate, coda.pcor(x), atol=0)
    assert (result.ci, result.n_boot) == (0.9, 40)


def test_bootstrap_equals_slow_loop_given_and_labels(x):
    frame = pd.DataFrame(x, columns=list("abcdef"))
    result = pcor_bootstrap(frame, given=["c", "a"], n_boot=30, seed=2, progress=False)
    low, high = slow_bootstrap(frame, 30, 2, 0.95, given=["c", "a"])
    assert isinstance(result.lower, pd.DataFrame)
    assert list(result.lower.columns) == list("abcdef")
    np.testing.assert_allclose(result.lower.to_numpy(), low, rtol=0, atol=1e-10)
    np.testing.assert_allclose(result.upper.to_numpy(), high, rtol=0, atol=1e-10)
    assert result.lower.loc[["a", "c"]].isna().all().all()
    table = result.to_frame()
    assert list(table.columns) == ["part_i", "part_j", "estimate", "lower", "upper"]
    assert len(table) == 6  # pairs among b, d, e, f
    assert not {"a", "c"} & (set(table["part_i"]) | set(table["part_j"]))


def test_bootstrap_batches_give_the_same_result(x, monkeypatch):
    whole = pcor_bootstrap(x, n_boot=25, seed=9, progress=False)
    from coda import _bootstrap

    # Force batches of one resample and blocks of few pairs.
    monkeypatch.setattr(_bootstrap, "BATCH_VALUES", 1)
    batched = pcor_bootstrap(x, n_boot=25, seed=9, progress=False)
    np.testing.assert_allclose(batched.lower, whole.lower, atol=1e-12)
    np.testing.assert_allclose(batched.upper, whole.upper, atol=1e-12)


def test_bootstrap_reproducible_and_seed_dependent(x):
    a = pcor_bootstrap(x, n_boot=50, seed=1, progress=False)
    b = pcor_bootstrap(x, n_boot=50, seed=1, progress=False)
    c = pcor_bootstrap(x, n_boot=50, seed=2, progress=False)
    np.testing.assert_array_equal(a.lower, b.lower)
    np.testing.assert_array_equal(a.upper, b.upper)
    assert not np.array_equal(a.lower, c.lower)


def test_bootstrap_intervals_contain_estimate_and_truth():
    sim = coda.simulate(400, 6, graph="chain", seed=3)
    result = pcor_bootstrap(sim.data, n_boot=300, seed=0, progress=False)
    est, low, high = (m.to_numpy() for m in (result.estimate, result.lower, result.upper))
    assert (low <= est + 1e-12).all()
    assert (est <= high + 1e-12).all()
    np.testing.assert_array_equal(np.diag(low), 1.0)
    # 95% intervals: the 15 true values are all covered here (seeded).
    truth = sim.pcor.to_numpy()
    assert ((low <= truth) & (truth <= high)).mean() >= 0.8
    # Wider for a higher level.
    wide = pcor_bootstrap(sim.data, n_boot=300, seed=0, ci=0.99, progress=False)
    assert (wide.lower.to_numpy() <= low + 1e-12).all()


def test_bootstrap_input_not_mutated(x):
    before = x.copy()
    pcor_bootstrap(x, n_boot=5, seed=0, progress=False)
    np.testing.assert_array_equal(x, before)


def test_progress_bar(x, capsys):
    pcor_bootstrap(x, n_boot=5, seed=0)
    assert capsys.readouterr().err == ""  # not a terminal, short run: no bar
    pcor_bootstrap(x, n_boot=5, seed=0, progress=True)
    assert "bootstrap" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_boot": 0}, ValueError, "n_boot=0; expected an integer of at least 1"),
        ({"n_boot": 10.5}, TypeError, "n_boot=10.5"),
        ({"ci": 1.0}, ValueError, r"ci=1.0; expected a number in \(0, 1\)"),
        ({"progress": "yes"}, TypeError, "progress='yes'; expected True, False or None"),
        ({"given": [0, 0]}, ValueError, "given names parts more than once"),
    ],
)
def test_bootstrap_errors(x, kwargs, error, match):
    with pytest.raises(error, match=match):
        pcor_bootstrap(x, **kwargs)


def test_bootstrap_error_on_singular_resample():
    # 7 samples of 6 parts: a resample almost surely repeats rows, leaving < 6 distinct.
    x = np.exp(np.random.default_rng(1).normal(size=(7, 6)))
    with pytest.raises(ValueError, match="distinct samples of the 7, fewer than the 6"):
        pcor_bootstrap(x, n_boot=50, seed=0, progress=False)


@pytest.mark.parametrize("n_boot", [1, 2, 255, 256, 1000, 4999])
@pytest.mark.parametrize("ci", [0.5, 0.8, 0.9, 0.95, 0.99, 0.999])
@pytest.mark.parametrize("ties", [False, True])
def test_percentile_interval_is_numpy_quantile_to_the_bit(n_boot, ci, ties):
    from coda._bootstrap import percentile_interval

    rng = np.random.default_rng(n_boot)
    replicates = rng.normal(size=(37, n_boot))
    if ties:
        replicates = np.round(replicates, 1)  # many equal values
    want = np.quantile(replicates, [(1 - ci) / 2, (1 + ci) / 2], axis=1)
    low, high = percentile_interval(replicates.copy(), ci)
    np.testing.assert_array_equal(low.view(np.int64), want[0].view(np.int64))
    np.testing.assert_array_equal(high.view(np.int64), want[1].view(np.int64))


def test_row_ends_keep_the_smallest_and_largest_in_order():
    from coda import _kernels

    rng = np.random.default_rng(0)
    values = rng.integers(0, 50, size=(5, 300)).astype(np.float64)
    small, large = np.empty((5, 7)), np.empty((5, 11))
    _kernels._row_ends(values, small, large)
    ordered = np.sort(values, axis=1)
    np.testing.assert_array_equal(small, ordered[:, :7])
    np.testing.assert_array_equal(large, ordered[:, -11:])


def test_resample_sums_in_blocks_of_pairs_equal_one_product(monkeypatch):
    from coda import _bootstrap

    rng = np.random.default_rng(1)
    y = rng.normal(size=(30, 6))
    weights = rng.integers(0, 3, size=(4, 30)).astype(np.float64)
    whole, mean = _bootstrap.resample_sums(y, weights)
    monkeypatch.setattr(_bootstrap, "BATCH_VALUES", 30 * 4)  # blocks of 4 of the 21 pairs
    blocks, mean_blocks = _bootstrap.resample_sums(y, weights)
    np.testing.assert_allclose(blocks, whole, rtol=1e-14, atol=1e-14)
    np.testing.assert_array_equal(mean_blocks, mean)
    i, j = np.triu_indices(6)
    want = np.stack([(w[:, None] * y).T @ y for w in weights])[:, i, j]
    np.testing.assert_allclose(whole, want, rtol=1e-12, atol=1e-12)


def test_bootstrap_leaves_the_blas_threads_as_it_found_them():
    # The resample product runs on one BLAS thread (coda._bootstrap.resample_sums);
    # the caller's settings come back afterwards.
    from threadpoolctl import threadpool_info

    def blas_threads():
        return sorted(
            (pool["filepath"], pool["num_threads"])
            for pool in threadpool_info()
            if pool["user_api"] == "blas"
        )

    before = blas_threads()
    x = np.random.default_rng(2).lognormal(size=(40, 5))
    coda.pcor_bootstrap(x, n_boot=50, seed=1)
    assert blas_threads() == before


def test_only_small_blas_calls_of_the_bootstrap_go_to_one_thread():
    from threadpoolctl import threadpool_info

    from coda import _bootstrap

    def blas_threads():
        return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}

    before = blas_threads()
    with _bootstrap.blas_threads_for(_bootstrap.ONE_BLAS_THREAD_FLOPS / 2):
        assert blas_threads() <= {1}
    with _bootstrap.blas_threads_for(_bootstrap.ONE_BLAS_THREAD_FLOPS):
        assert blas_threads() == before
    assert blas_threads() == before


def test_no_progress_bar_means_no_tqdm(x, monkeypatch):
    # tqdm.auto warns in a Jupyter kernel without ipywidgets even for a
    # disabled bar; without a bar it is not imported at all
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    result = pcor_bootstrap(x, n_boot=20, seed=0, progress=False)
    with pytest.raises(ImportError):
        pcor_bootstrap(x, n_boot=20, seed=0, progress=True)
    monkeypatch.undo()
    assert result.to_frame().equals(pcor_bootstrap(x, n_boot=20, seed=0, progress=True).to_frame())
