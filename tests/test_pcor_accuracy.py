"""The exact precision and partial correlations against exact rational arithmetic.

Forming the clr covariance squares the condition of the data, so a
precision from Gamma is good to about ``kappa(Gamma) eps``: 4e-8 absolute
for the partial correlations of rows drifting by 30 against a spread of
1e-3 (kappa about 1e9). For such data coda factorises the data instead
(:mod:`coda._exact_precision`); these tests hold it to 1e-11. The reference
takes numpy's float64 logs of the data as given and does the rest exactly
(:func:`exact.exact_precision`).
"""

from __future__ import annotations

import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from exact import (
    drifting,
    exact_conditional_cov,
    exact_conditional_pcor,
    exact_logs,
    exact_pcor,
    exact_precision,
)

import coda
from coda import _clr_gram, _exact_precision

# Absolute error allowed in a partial correlation, and relative error in a
# precision entry against sqrt(Omega_ii Omega_jj). From Gamma: 4e-8 and more.
_TOL = 1e-11


def _precision_errors(omega, x, ddof: int = 1) -> np.ndarray:
    exact = np.array([[float(v) for v in row] for row in exact_precision(x, ddof)])
    scale = np.sqrt(np.outer(np.diag(exact), np.diag(exact)))
    return np.abs(np.asarray(omega) - exact) / scale


@pytest.mark.parametrize("spread", [1e-3, 1e-4])
def test_pcor_of_drifting_rows(spread):
    x = drifting(40, spread=spread, seed=2)
    assert np.abs(coda.pcor(x) - exact_pcor(x)).max() < _TOL


@pytest.mark.parametrize("ddof", [0, 1])
def test_precision_and_partial_variance_of_drifting_rows(ddof):
    x = drifting(40, seed=3)
    assert _precision_errors(coda.precision(x, ddof=ddof), x, ddof).max() < _TOL
    exact = np.array([1.0 / float(row[i]) for i, row in enumerate(exact_precision(x, ddof))])
    relative = np.abs(coda.partial_variance(x, ddof=ddof) / exact - 1.0)
    assert relative.max() < _TOL


def test_labels_kept_and_input_unchanged():
    x = drifting(40, seed=4)
    frame = pd.DataFrame(x, columns=list("abcdef"), index=[f"s{i}" for i in range(40)])
    copy = frame.copy()
    rho = coda.pcor(frame)
    pd.testing.assert_frame_equal(frame, copy)
    assert list(rho.index) == list(rho.columns) == list("abcdef")
    assert np.abs(rho.to_numpy() - exact_pcor(x)).max() < _TOL


@pytest.mark.parametrize("rows", [4, 11, 40])
def test_dask_pcor_of_drifting_rows(rows):
    x = drifting(40, seed=5)
    rho = coda.pcor(da.from_array(x, chunks=(rows, -1)))
    assert np.abs(rho - exact_pcor(x)).max() < _TOL


def test_dask_dataframe_with_empty_partitions():
    x = drifting(60, seed=6)
    frame = pd.DataFrame(x, columns=list("abcdef"))
    # Rows kept by a condition (part a grows down the rows): the first three
    # partitions are empty.
    ddf = dd.from_pandas(frame, npartitions=6)
    rho = coda.pcor(ddf[ddf["a"] >= x[30, 0]])
    assert list(rho.columns) == list("abcdef")
    assert np.abs(rho.to_numpy() - exact_pcor(x[30:])).max() < _TOL


def test_the_second_pass_agrees_with_gamma_on_well_conditioned_data(monkeypatch):
    # Two methods on data where both are good to a few eps: forced through the data.
    x = np.exp(np.random.default_rng(7).normal(size=(50, 8)))
    frame = pd.DataFrame(x, columns=[f"p{i}" for i in range(8)])

    def estimates():
        return (
            coda.precision(frame, ddof=0),
            coda.pcor(frame),
            coda.pcor(frame, given=["p2", "p5"]),
            coda.partial_variance(frame, given=["p2", "p5"]),
        )

    from_gamma = estimates()
    calls = []
    for name in ("_factor_from_data", "_conditional_cov_from_data"):
        original = getattr(_exact_precision, name)

        def spy(*args, original=original):
            result = original(*args)
            calls.append(result is not None)
            return result

        monkeypatch.setattr(_exact_precision, name, spy)
    monkeypatch.setattr(_exact_precision, "_REFINE_ABOVE", 0.0)
    from_data = estimates()
    assert calls == [True, True, True, True]
    scale = np.sqrt(np.outer(np.diag(from_gamma[0]), np.diag(from_gamma[0])))
    assert (np.abs(from_data[0] - from_gamma[0]) / scale).to_numpy().max() < 1e-13
    for ours, theirs in zip(from_data[1:], from_gamma[1:], strict=True):
        assert list(ours.index) == list(theirs.index)
        np.testing.assert_allclose(ours, theirs, rtol=1e-13, atol=1e-15)
    assert np.array_equal(from_data[1], from_data[1].T)
    assert np.all(np.diag(from_data[1]) == 1.0)


def test_well_conditioned_data_take_gamma_only(monkeypatch):
    calls = []
    original = _exact_precision._factor_from_data

    def spy(values, *args):
        calls.append(values.shape)
        return original(values, *args)

    monkeypatch.setattr(_exact_precision, "_factor_from_data", spy)
    coda.pcor(np.exp(np.random.default_rng(8).normal(size=(50, 8))))
    assert calls == []
    coda.pcor(drifting(40, seed=8))
    assert calls == [(40, 6)]


@pytest.mark.parametrize("rows", [1, 5, 13])
def test_groups_of_rows_in_memory(monkeypatch, rows):
    # The second pass takes rows in groups merged by Chan et al.'s update, as the clr Gram does.
    monkeypatch.setattr(_clr_gram, "_GROUP_BYTES", 8 * 6 * rows)
    x = drifting(40, seed=9)
    assert np.abs(coda.pcor(x) - exact_pcor(x)).max() < _TOL
    given = [5, 1]
    rho = coda.pcor(x, given=given)[np.ix_([0, 2, 3, 4], [0, 2, 3, 4])]
    assert np.abs(rho - exact_conditional_pcor(x, given)).max() < _TOL


@pytest.mark.parametrize("spread", [1e-3, 1e-4])
@pytest.mark.parametrize("given", [[0, 3], [5, 1], [2, 4, 1]])
def test_pcor_given_parts_of_drifting_rows(given, spread):
    # Before: from Gamma's Schur complement, 1.7e-8 to 2.3e-6 off.
    x = drifting(40, spread=spread, seed=2)
    rest = [i for i in range(6) if i not in given]
    rho = coda.pcor(x, given=given)
    assert np.isnan(rho[given]).all() and np.isnan(rho[:, given]).all()
    assert np.abs(rho[np.ix_(rest, rest)] - exact_conditional_pcor(x, given)).max() < _TOL
    exact = [float(row[i]) for i, row in enumerate(exact_conditional_cov(x, given))]
    variances = coda.partial_variance(x, given=given)
    assert np.isnan(variances[given]).all()
    # A difference of two logs near 60 is rounded by 1e-14, 1e-10 of a spread of
    # 1e-4: the residual variances are good to about that much of themselves.
    assert np.abs(variances[rest] / exact - 1.0).max() < _TOL * (1e-3 / spread)


@pytest.mark.parametrize("rows", [4, 11, 40])
def test_dask_pcor_given_parts_of_drifting_rows(rows):
    x = drifting(40, seed=10)
    rho = coda.pcor(da.from_array(x, chunks=(rows, -1)), given=[5, 1])
    exact = exact_conditional_pcor(x, [5, 1])
    assert np.abs(rho[np.ix_([0, 2, 3, 4], [0, 2, 3, 4])] - exact).max() < _TOL


def test_pcor_test_of_drifting_rows():
    # The t tests take the same estimate (coda.inference uses pcor_from_estimate).
    x = drifting(40, seed=11)
    table = coda.pcor_test(x)
    rho = exact_pcor(x)
    assert len(table) == 15
    for row in table.itertuples():
        assert abs(row.r - rho[row.part_i, row.part_j]) < _TOL


def test_given_parts_with_fewer_samples_than_parts():
    # given= is what n < D leaves: the correction needs no factor of the whole alr
    # covariance (singular here). Before: 5.2e-6 off, and rho - rho.T up to 2.6e-6.
    rng = np.random.default_rng(3)
    drift = rng.uniform(0, 30, (12, 1)) @ rng.normal(size=(1, 30))
    x = np.exp(drift + 1e-4 * rng.normal(size=(12, 30)))
    given = [5, 2, 9]
    rest = [i for i in range(30) if i not in given]
    rho = coda.pcor(x, given=given)[np.ix_(rest, rest)]
    assert np.array_equal(rho, rho.T)
    assert np.abs(rho - exact_conditional_pcor(x, given)).max() < 5 * _TOL


@pytest.mark.parametrize("given", [[0, 3], [5, 1]])
def test_given_parts_with_two_proportional_parts_outside(given):
    # A pcor of 1 outside K is allowed; it made the whole alr covariance singular.
    x = drifting(40, spread=1e-4, seed=4)
    close = x[:, 2:3] * (1 + 1e-7 * np.random.default_rng(0).normal(size=(40, 1)))
    x = np.hstack([x, close])
    rest = [i for i in range(7) if i not in given]
    rho = coda.pcor(x, given=given)[np.ix_(rest, rest)]
    assert np.abs(rho - exact_conditional_pcor(x, given)).max() < _TOL


def test_multiple_r2_of_drifting_rows():
    # R^2_i = 1 - pi_i / T_ir: T_ir from Gamma cancelled (2.9e-7 off).
    x = drifting(40, spread=1e-4, seed=2)
    omega = exact_precision(x)
    logs = exact_logs(x)
    expected = []
    for i in (0, 2, 3, 4, 5):
        ratios = [row[i] - row[1] for row in logs]
        mean = sum(ratios) / 40
        t = sum((v - mean) ** 2 for v in ratios) / 39
        expected.append(float(1 - 1 / (omega[i][i] * t)))
    assert np.abs(coda.multiple_r2(x, ref=1) - expected).max() < _TOL


@pytest.mark.parametrize("offset", [10.0, 300.0])
def test_parts_far_apart_in_scale(offset):
    # Logs far from 0 (parts in ppm beside percent): taken less one row's logs first.
    x = drifting(40, spread=1e-4, seed=2) * np.exp(offset * np.array([1, -1, 0.5, 0, -0.5, 0.25]))
    assert np.abs(coda.pcor(x) - exact_pcor(x)).max() < _TOL
    rho = coda.pcor(x, given=[5, 1])[np.ix_([0, 2, 3, 4], [0, 2, 3, 4])]
    assert np.abs(rho - exact_conditional_pcor(x, [5, 1])).max() < _TOL


def test_pcor_given_is_exactly_symmetric():
    x = np.exp(np.random.default_rng(1).normal(size=(50, 8)))
    rho = np.nan_to_num(coda.pcor(x, given=[0, 3]))
    assert np.array_equal(rho, rho.T)


@pytest.mark.parametrize("seed", [0, 1])
def test_condition_estimate_against_numpy(seed):
    # The threshold reads a 2-norm estimate: the 1-norm one overstated it 5-8x
    # at 1,000-2,000 parts and corrected well-conditioned data for nothing.
    import scipy.linalg

    rng = np.random.default_rng(seed)
    for d, spread in ((6, 1e-3), (40, 1.0), (200, 1e-2)):
        a = rng.normal(size=(d + 20, d)) * np.geomspace(1.0, spread, d)
        m = a.T @ a
        estimate = _exact_precision._condition(scipy.linalg.cholesky(m, lower=True))
        assert 0.5 <= estimate / np.linalg.cond(m) <= 1.0 + 1e-9
