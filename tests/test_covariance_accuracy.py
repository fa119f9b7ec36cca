"""The variation matrix, proportionality and alr covariance against exact rational arithmetic.

The reference takes numpy's float64 logs of the data as given and does the
rest exactly (``fractions.Fraction``), rounding once at the end. Errors are
measured in eps times the entry itself: a variance of a log-ratio is read on
its own scale, however large the clr variances it could be derived from.
The data make log-ratios whose variance is tiny beside those clr variances
(nearly proportional parts, or parts spanning many orders of magnitude),
where ``Gamma_ii + Gamma_jj - 2 Gamma_ij`` cancels; their differences of
logs are exact in floating point (Sterbenz), so a direct
``var(log x_i - log x_j)`` is good to an eps or two.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from exact import EPS, drifting, errors_in_eps, exact_logs, nearly_proportional

import coda


def _exact_variance(values: list[Fraction], ddof: int) -> Fraction:
    mean = sum(values) / len(values)
    return sum((v - mean) ** 2 for v in values) / (len(values) - ddof)


def _exact_variation(x: np.ndarray, ddof: int = 1) -> list[list[Fraction]]:
    logs = exact_logs(x)
    d = len(logs[0])
    return [
        [_exact_variance([row[i] - row[j] for row in logs], ddof) for j in range(d)]
        for i in range(d)
    ]


def _exact_clr_variances(x: np.ndarray, ddof: int = 1) -> list[Fraction]:
    logs = exact_logs(x)
    d = len(logs[0])
    clr = [[v - sum(row) / d for v in row] for row in logs]
    return [_exact_variance([row[i] for row in clr], ddof) for i in range(d)]


def _outlying_first_rows(n: int = 30) -> np.ndarray:
    """Parts varying by 1e-5 but in the first five rows, which stand far apart."""
    rng = np.random.default_rng(2)
    x = np.exp(1e-5 * rng.normal(size=(n, 6)))
    x[:5] *= np.exp([30.0, 0.0, 0.0, -30.0, 0.0, 10.0])
    return x


_DATA = {
    "nearly proportional": lambda: nearly_proportional(30, 4, 2, seed=0),
    "cluster of 18 nearly proportional parts": lambda: nearly_proportional(25, 18, 2, seed=3),
    "drifting rows": drifting,
    "outlying first rows": _outlying_first_rows,
}


@pytest.mark.parametrize("name", list(_DATA))
def test_variation_entries_accurate_to_themselves(name):
    # Before: T_ij from the clr covariance was off by 1e7 to 2e11 eps of itself.
    x = _DATA[name]()
    errors = errors_in_eps(coda.variation(x), _exact_variation(x))
    assert errors.max() <= 8.0


def test_variation_of_a_dataframe_with_ddof_zero():
    x = nearly_proportional(30, 3, 2, seed=4)
    frame = pd.DataFrame(x, columns=list("abcde"))
    copy = frame.copy()
    t = coda.variation(frame, ddof=0)
    pd.testing.assert_frame_equal(frame, copy)
    assert list(t.columns) == list("abcde")
    assert errors_in_eps(t.to_numpy(), _exact_variation(x, ddof=0)).max() <= 4.0


@pytest.mark.parametrize("metric", ["phi", "phs"])
def test_proportionality_of_nearly_proportional_parts(metric):
    # phi = T_ij / Gamma_ii and phs vanish for proportional parts: they inherit T's
    # relative error (before: 1e11 eps and more).
    x = nearly_proportional(30, 4, 2, seed=5)
    t = _exact_variation(x)
    g = _exact_clr_variances(x)
    d = len(g)
    if metric == "phi":
        exact = [[t[i][j] / g[i] for j in range(d)] for i in range(d)]
    else:
        exact = [[t[i][j] / (2 * (g[i] + g[j]) - t[i][j]) for j in range(d)] for i in range(d)]
    errors = errors_in_eps(coda.proportionality(x, metric=metric), exact)
    assert errors.max() <= 8.0


def test_alr_variances_of_parts_nearly_proportional_to_the_reference():
    # The alr variances are T_kr; from F Gamma F^T they were off by 1e11 eps.
    x = nearly_proportional(30, 4, 2, seed=6)
    t = _exact_variation(x)
    sigma = coda.alr_cov(x, ref=0)
    errors = errors_in_eps(np.diag(sigma), [[t[k][0] for k in range(1, 6)]])
    assert errors.max() <= 4.0


def _exact_alr_cov(x: np.ndarray, ref: int, ddof: int = 1) -> np.ndarray:
    logs = exact_logs(x)
    n, d = len(logs), len(logs[0])
    keep = [k for k in range(d) if k != ref]
    rel = [[row[k] - row[ref] for k in keep] for row in logs]
    means = [sum(row[a] for row in rel) / n for a in range(d - 1)]
    return np.array(
        [
            [
                float(sum((row[a] - means[a]) * (row[b] - means[b]) for row in rel) / (n - ddof))
                for b in range(d - 1)
            ]
            for a in range(d - 1)
        ]
    )


@pytest.mark.parametrize("ref", [0, 5])
@pytest.mark.parametrize("rows", [None, 7])
def test_alr_covariances_on_their_own_scale(ref, rows):
    # Sigma_kl = (T_kr + T_lr - T_kl) / 2 cancels to eps max(T) where sqrt(T_kr T_lr) is
    # far smaller (parts nearly proportional to the reference): it was 1e6 eps off.
    x = nearly_proportional(30, 4, 2, seed=12)
    import dask.array as da

    data = x if rows is None else da.from_array(x, chunks=(rows, -1))
    sigma = coda.alr_cov(data, ref=ref)
    exact = _exact_alr_cov(x, ref)
    scale = np.sqrt(np.outer(np.diag(exact), np.diag(exact)))
    assert (np.abs(sigma - exact) / scale).max() <= 8 * EPS


def test_alr_cov_of_well_spread_parts_takes_one_pass(monkeypatch):
    from coda import covariance

    calls = []
    monkeypatch.setattr(covariance, "relative_log_cov", lambda *a: calls.append(a))
    coda.alr_cov(np.exp(np.random.default_rng(13).normal(size=(30, 6))), ref=2)
    assert calls == []


# ---------------------------------------------------------------------------
# Dask input: the same entries recomputed in a second pass over the row blocks


@pytest.mark.parametrize("name", list(_DATA))
@pytest.mark.parametrize("rows", [4, 11, 30])
def test_dask_variation_entries_accurate_to_themselves(name, rows):
    # Before: dask input kept T_ij from the clr covariance, 1e7 to 2e11 eps off.
    import dask.array as da

    x = _DATA[name]()
    got = coda.variation(da.from_array(x, chunks=(rows, -1)))
    assert errors_in_eps(got, _exact_variation(x)).max() <= 8.0


def test_dask_frame_with_empty_partitions_gives_exact_alr_variances():
    import dask.dataframe as dd

    x = nearly_proportional(30, 4, 2, seed=6)
    frame = pd.DataFrame(x, columns=list("abcdef"))
    # Rows ordered by a column and kept by a condition: the first partitions are empty.
    order = frame.sort_values("f", ignore_index=True)
    parted = dd.from_pandas(order, npartitions=5)
    kept = parted[parted["f"] > order["f"].iloc[11]]
    rest = order[order["f"] > order["f"].iloc[11]].to_numpy()
    assert kept.map_partitions(len).compute().eq(0).any()
    t = _exact_variation(rest)
    sigma = coda.alr_cov(kept, ref="a")
    errors = errors_in_eps(np.diag(sigma.to_numpy()), [[t[k][0] for k in range(1, 6)]])
    assert errors.max() <= 4.0
    variation = coda.variation(kept)
    assert list(variation.columns) == list("abcdef")
    assert errors_in_eps(variation.to_numpy(), t).max() <= 8.0


def test_dask_data_read_twice_only_when_entries_cancel(monkeypatch):
    import dask.array as da

    from coda import _log_moments

    calls = []
    original = _log_moments.merged_over_blocks

    def counting(*args):
        calls.append(args)
        return original(*args)

    monkeypatch.setattr(_log_moments, "merged_over_blocks", counting)
    ordinary = np.exp(np.random.default_rng(7).normal(size=(40, 5)))
    coda.variation(da.from_array(ordinary, chunks=(10, -1)))
    assert not calls
    coda.variation(da.from_array(nearly_proportional(40, 3, 2, seed=8), chunks=(10, -1)))
    assert calls


# ---------------------------------------------------------------------------
# The clr covariance itself


def _exact_clr_cov(x: np.ndarray, ddof: int = 1) -> list[list[Fraction]]:
    logs = exact_logs(x)
    d, n = len(logs[0]), len(logs)
    clr = [[v - sum(row) / d for v in row] for row in logs]
    means = [sum(row[i] for row in clr) / n for i in range(d)]
    return [
        [sum((r[i] - means[i]) * (r[j] - means[j]) for r in clr) / (n - ddof) for j in range(d)]
        for i in range(d)
    ]


def _far_from_one(n: int = 60) -> np.ndarray:
    """Parts whose logs lie between -20 and 40 but vary by 1e-2 (trace and major elements)."""
    rng = np.random.default_rng(12)
    return np.exp(rng.normal(0.0, 0.01, (n, 6)) + np.array([0.0, 20.0, -20.0, 5.0, 40.0, 1.0]))


def _totals_vary(n: int = 60) -> np.ndarray:
    """Row totals spread over e^(+-90), log-ratios over about 1."""
    rng = np.random.default_rng(13)
    return rng.lognormal(size=(n, 6)) * np.exp(rng.normal(0.0, 30.0, (n, 1)))


_CLR_COV_DATA = {
    "logs far from 0, varying little": _far_from_one,
    "outlying first rows": _outlying_first_rows,
    "drifting rows": drifting,
    "totals varying far more than the ratios": _totals_vary,
}


@pytest.mark.parametrize("name", list(_CLR_COV_DATA))
def test_clr_cov_entries_accurate_to_themselves(name):
    # Before: 1,100 eps (logs far from 0: clr values rounded at the scale of the
    # logs) and 43 eps (outlying rows: the double centring spread the rounding
    # of the largest entries into the small ones); np.cov of the clr: 1,600 and 1.9.
    x = _CLR_COV_DATA[name]()
    assert errors_in_eps(coda.clr_cov(x), _exact_clr_cov(x)).max() <= 8.0


def test_dask_clr_cov_of_logs_far_from_zero():
    import dask.array as da

    x = _far_from_one(90)
    got = coda.clr_cov(da.from_array(x, chunks=(20, -1)))
    assert errors_in_eps(got, _exact_clr_cov(x)).max() <= 16.0


# ---------------------------------------------------------------------------
# Identical rows: parts that do not vary have a clr covariance of exactly 0


def test_identical_rows_have_exactly_zero_clr_covariance():
    # Before the review's fix, the exact clr values left in Y made noise of
    # either sign here: a total variance of -2.7e-44, and proportionality
    # returned values instead of saying the parts do not vary.
    import dask.array as da

    for seed in range(20):
        x = np.tile(np.exp(np.random.default_rng(seed).normal(size=(1, 5))), (200, 1))
        assert (coda.clr_cov(x) == 0.0).all()
        assert coda.total_variance(x) == 0.0
        assert (coda.clr_cov(da.from_array(x, chunks=(37, -1))) == 0.0).all()
        with pytest.raises(ValueError, match="do not vary"):
            coda.proportionality(x)
        with pytest.raises(ValueError, match="zero clr variance"):
            coda.pcor(x)


def test_a_part_constant_in_clr_among_varying_parts():
    # x_2 is the geometric mean of the other parts times 3: its clr value is
    # the same in every row, up to rounding, and its row of Gamma is 0.
    rng = np.random.default_rng(21)
    others = np.exp(rng.normal(size=(300, 4)))
    x = np.hstack([others, 3.0 * np.exp(np.log(others).mean(axis=1, keepdims=True))])
    gamma = coda.clr_cov(x)
    exact = _exact_clr_cov(x)
    assert np.abs(gamma[4]).max() <= 64 * EPS * np.abs(gamma).max()
    assert errors_in_eps(gamma[:4, :4], [row[:4] for row in exact[:4]]).max() <= 8.0


def test_an_outlying_row_among_the_sampled_rows_costs_no_digits():
    # The shift is the median clr of 64 rows spread over the data: one of them
    # far out (row 31,250 here, which the sample takes) no longer pulls it
    # away; with the mean of the 64 the Gram's n m m^T cancelled, 680 eps of
    # sqrt(G_ii G_jj) here (3,200 at n = 1e6). Reference: long double.
    rng = np.random.default_rng(5)
    n = 200_000
    x = np.exp(rng.normal(size=(1, 6))) * np.exp(1e-3 * rng.normal(size=(n, 6)))
    x[(n // 64) * 10] *= np.exp([3.0, -3.0, 0.0, 1.0, 0.0, 2.0])
    logs = np.log(x).astype(np.longdouble)
    clr = logs - logs.mean(axis=1, keepdims=True)
    clr -= clr.mean(axis=0)
    exact = clr.T @ clr / (n - 1)
    scale = np.sqrt(np.outer(np.diag(exact), np.diag(exact)))
    errors = np.abs(coda.clr_cov(x) - exact) / scale / EPS
    assert errors.max() <= 16.0


def test_one_composition_at_different_totals_does_not_vary():
    # Rows that are one composition times e^(5 z): the clr values differ only
    # by the rounding of logs of 10 or 20, about 1e-31 in variance. Before,
    # pcor and proportionality returned values made of that rounding.
    import dask.array as da

    rng = np.random.default_rng(3)
    x = np.exp(rng.normal(size=(1, 6))) * np.exp(5.0 * rng.normal(size=(300, 1)))
    assert (coda.clr_cov(x) == 0.0).all()
    assert (coda.clr_cov(da.from_array(x, chunks=(70, -1))) == 0.0).all()
    with pytest.raises(ValueError, match="zero clr variance"):
        coda.pcor(x)
    with pytest.raises(ValueError, match="do not vary"):
        coda.proportionality(x)
    # Clr values that vary by 1e-10 beside logs of 20 are far above the
    # rounding of the logs: they still vary.
    y = x * np.exp(1e-10 * rng.normal(size=(300, 6)))
    assert (np.diag(coda.clr_cov(y)) > 0).all()
    coda.pcor(y)


def test_clr_cov_to_variation_of_proportional_parts_is_zero_not_negative():
    # Part 1 is part 0 times 3 (their log-ratio is constant): T_01 is 0. The
    # formula Gamma_00 + Gamma_11 - 2 Gamma_01 gave down to -9e-13 by rounding
    # (seed 0 here: about -1e-14); now each such entry is 0 or above.
    for seed in range(40):
        rng = np.random.default_rng(seed)
        x = np.exp(rng.normal(size=(20, 5)) * rng.uniform(0.1, 100))
        x[:, 1] = 3 * x[:, 0]
        t = coda.clr_cov_to_variation(coda.clr_cov(x))
        assert t.min() >= 0.0
        assert t[0, 1] == t[1, 0] <= 1e-14 * t.max()  # rounding may leave it above 0
        np.testing.assert_allclose(t, coda.variation(x), rtol=1e-9, atol=1e-9 * t.max())
    # Many rows of log-ratios varying by 1e-6: the estimated gamma's own
    # rounding gave -2.2e-27 here, beyond a bound of the formula's alone.
    rng = np.random.default_rng(3)
    x = np.exp(1e-6 * rng.normal(size=(1_000_000, 5)))
    x[:, 1] = 3 * x[:, 0]
    assert coda.clr_cov_to_variation(coda.clr_cov(x))[0, 1] == 0.0


def test_clr_cov_to_variation_keeps_a_negative_entry_of_a_matrix_that_is_not_a_covariance():
    # Not positive semi-definite: T_01 = 1 + 1 - 4 = -2 is the map's value, not rounding.
    np.testing.assert_array_equal(
        coda.clr_cov_to_variation([[1.0, 2.0], [2.0, 1.0]]), [[0.0, -2.0], [-2.0, 0.0]]
    )
