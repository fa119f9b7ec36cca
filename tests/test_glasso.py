"""Tests of coda.glasso: kernel against its numpy twin, R's glasso, scikit-learn, properties."""

from __future__ import annotations

import re
from pathlib import Path

import naive
import numpy as np
import pandas as pd
import pytest
from sklearn.covariance import graphical_lasso

import coda
from coda import _kernels
from coda._clr_gram import clr_cov_values
from coda._validation import ConvergenceWarning
from coda.glasso import pcor_glasso

REF = Path(__file__).parent / "reference"
CASES = ["n20_d30", "n50_d10"]
R_PENALTY = 0.3  # GLASSO_RHO in make_shrinkage_reference.R


def _x(case):
    return np.loadtxt(REF / f"shrinkage_x_{case}.csv", delimiter=",")


def _lognormal(n, d, seed):
    rng = np.random.default_rng(seed)
    loadings = rng.standard_normal((d, 2))
    return np.exp(rng.standard_normal((n, 2)) @ loadings.T + 0.5 * rng.standard_normal((n, d)))


def _augmented(x):
    """S = Gamma + tr(Gamma) J / D, the matrix the graphical lasso is fitted to.

    Gamma from numpy (clr values, np.cov), independently of coda's one-pass
    clr covariance.
    """
    logs = np.log(np.asarray(x, dtype=float))
    gamma = np.cov((logs - logs.mean(axis=1, keepdims=True)).T)
    return gamma + np.trace(gamma) / gamma.shape[0]


def _kernel(s, penalty, tol=1e-12, max_iter=10_000):
    d = s.shape[0]
    w = s + penalty * np.eye(d)
    beta = np.zeros((d, d))
    theta = np.empty((d, d))
    sweeps, converged = _kernels._glasso(s, penalty, w, beta, theta, tol, max_iter)
    return (theta + theta.T) / 2, w, sweeps, converged


# --- the kernel against its plain numpy twin ---------------------------------


@pytest.mark.parametrize(("n", "d"), [(30, 3), (40, 8), (10, 15)])
@pytest.mark.parametrize("fraction", [0.05, 0.3, 0.9])
def test_kernel_matches_naive_twin(n, d, fraction):
    s = _augmented(_lognormal(n, d, seed=n * d))
    penalty = fraction * np.abs(s - np.diag(np.diag(s))).max()
    theta, w, _, converged = _kernel(s, penalty)
    assert converged
    theta_naive, w_naive = naive.glasso(s, penalty)
    scale = np.abs(theta_naive).max()
    np.testing.assert_allclose(theta, theta_naive, rtol=0, atol=1e-9 * scale)
    np.testing.assert_allclose(w, w_naive, rtol=0, atol=1e-9 * np.abs(w_naive).max())
    # The same exact zeros: the soft threshold decides them in both.
    np.testing.assert_array_equal(theta == 0, theta_naive == 0)


def test_kernel_first_order_conditions():
    # Optimality of the diagonal-penalised problem: W - S = penalty * sign(Theta) on the
    # support (diagonal included) and |W - S| <= penalty off it (Friedman et al. 2008, eq. 2.2).
    s = _augmented(_lognormal(25, 12, seed=4))
    penalty = 0.2 * np.abs(s - np.diag(np.diag(s))).max()
    theta, w, _, _ = _kernel(s, penalty)
    gap = w - s
    support = theta != 0
    np.testing.assert_allclose(gap[support], penalty * np.sign(theta[support]), atol=1e-9)
    assert np.all(np.abs(gap[~support]) <= penalty * (1 + 1e-9))
    np.testing.assert_allclose(theta @ w, np.eye(12), atol=1e-8)


# --- R's glasso (tests/reference/make_shrinkage_reference.R) ------------------


@pytest.mark.parametrize("case", CASES)
def test_matches_r_glasso(case):
    result = pcor_glasso(_x(case), penalty=R_PENALTY, tol=1e-12)
    precision = np.loadtxt(REF / f"shrinkage_{case}_glasso_precision.csv", delimiter=",")
    pcor = np.loadtxt(REF / f"shrinkage_{case}_glasso_pcor.csv", delimiter=",")
    np.testing.assert_allclose(result.precision, precision, rtol=0, atol=1e-9)
    np.testing.assert_allclose(result.pcor, pcor, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(result.precision == 0, precision == 0)
    assert result.penalty == R_PENALTY


# --- scikit-learn (diagonal unpenalised: give it S + penalty * I) ------------


@pytest.mark.parametrize("penalty", [0.1, 0.3])
def test_matches_sklearn_on_shifted_covariance(penalty):
    x = _x("n50_d10")
    s = _augmented(x)
    _, precision = graphical_lasso(
        s + penalty * np.eye(s.shape[0]), alpha=penalty, tol=1e-10, enet_tol=1e-10, max_iter=2000
    )
    result = pcor_glasso(x, penalty=penalty, tol=1e-12)
    scale = np.abs(precision).max()
    np.testing.assert_allclose(result.precision, precision, rtol=0, atol=1e-7 * scale)


# --- closed forms and consistency -------------------------------------------


def test_largest_penalty_gives_the_empty_graph():
    x = _lognormal(20, 6, seed=8)
    s = _augmented(x)
    top = np.abs(s - np.diag(np.diag(s))).max()
    result = pcor_glasso(x, penalty=top)
    # At penalty >= max |S_ij| every lasso is zero: Theta = diag(1 / (S_ii + penalty)).
    np.testing.assert_allclose(result.precision, np.diag(1 / (np.diag(s) + top)), rtol=1e-12)
    np.testing.assert_array_equal(result.pcor, np.eye(6))
    assert result.n_edges.tolist() == [0]


def test_path_starts_empty_and_chooses_by_ebic():
    x = _x("n50_d10")
    result = pcor_glasso(x, n_penalties=12)
    assert result.penalties.shape == result.scores.shape == result.n_edges.shape == (12,)
    assert np.all(np.diff(result.penalties) < 0)
    assert result.penalties[-1] == pytest.approx(0.05 * result.penalties[0])
    assert result.n_edges[0] == 0
    best = int(np.argmin(result.scores))
    assert result.penalty == result.penalties[best]
    # The warm-started path gives the cold fit at the chosen penalty.
    cold = pcor_glasso(x, penalty=result.penalty, tol=1e-12)
    np.testing.assert_allclose(result.pcor, cold.pcor, atol=1e-6)
    assert result.scores[best] == pytest.approx(cold.scores[0], rel=1e-6)


def test_ebic_uses_the_ilr_likelihood():
    # An independent computation with an explicit orthonormal basis V:
    # l = n/2 (-log det(V^T W V) - tr(V^T Gamma V (V^T W V)^{-1})).
    x = _lognormal(30, 7, seed=9)
    n, d = x.shape
    result = pcor_glasso(x, penalty=0.2, tol=1e-12)
    theta = result.precision
    w = np.linalg.inv(theta)
    v = coda.ilr_basis(d)
    wv = v.T @ w @ v
    gv = v.T @ clr_cov_values(x, 1) @ v
    loglik = n / 2 * (-np.linalg.slogdet(wv)[1] - np.trace(gv @ np.linalg.inv(wv)))
    edges = np.count_nonzero(np.triu(theta, 1))
    expected = -2 * loglik + edges * np.log(n) + 4 * 0.5 * edges * np.log(d)
    assert result.scores[0] == pytest.approx(expected, rel=1e-10)
    assert result.n_edges[0] == edges
    bic = pcor_glasso(x, penalty=0.2, gamma=0.0, tol=1e-12).scores[0]
    assert bic == pytest.approx(expected - 2 * edges * np.log(d), rel=1e-10)


def test_small_penalty_approaches_the_augmented_inverse():
    # As the penalty vanishes (n > D), Theta -> S^{-1} = Gamma^+ + J / (kappa D): Erb's
    # exact clr precision plus the constant the augmentation leaves in every entry.
    x = _lognormal(80, 6, seed=10)
    kappa = np.trace(clr_cov_values(x, 1))
    limit = coda.precision(x) + 1 / (kappa * 6)
    errors = [
        np.abs(pcor_glasso(x, penalty=f * kappa, tol=1e-12).precision - limit).max()
        for f in (1e-2, 1e-4, 1e-6)
    ]
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 1e-4 * np.abs(limit).max()
    # The offset is O(1 / D^2) on the partial correlations.
    exact = coda.pcor(x)
    close = pcor_glasso(x, penalty=1e-6 * kappa, tol=1e-12).pcor
    assert 0 < np.abs(close - exact).max() < 2 / 6**2


def test_finds_the_planted_pairs():
    rng = np.random.default_rng(2)
    z = rng.standard_normal((200, 6))
    z[:, 1] += z[:, 0]
    z[:, 3] += z[:, 2]
    result = pcor_glasso(np.exp(z))
    pcor = result.pcor
    assert pcor[0, 1] > 0.3 and pcor[2, 3] > 0.3
    others = np.ones((6, 6), dtype=bool)
    np.fill_diagonal(others, False)
    others[0, 1] = others[1, 0] = others[2, 3] = others[3, 2] = False
    assert np.abs(pcor[others]).max() < 0.5 * min(pcor[0, 1], pcor[2, 3])


def test_labels_input_and_result():
    x = pd.DataFrame(_lognormal(15, 4, seed=12), columns=["a", "b", "c", "d"])
    before = x.copy()
    result = pcor_glasso(x, penalty=0.1)
    pd.testing.assert_frame_equal(x, before)
    for matrix in (result.pcor, result.precision):
        assert list(matrix.index) == list(matrix.columns) == ["a", "b", "c", "d"]
    with pytest.raises(AttributeError):
        result.penalty = 1.0
    assert coda.pcor_glasso is pcor_glasso and "pcor_glasso" in coda.__all__


def test_convergence_warning():
    with pytest.warns(ConvergenceWarning, match="did not converge in 1 sweeps") as record:
        pcor_glasso(_x("n50_d10"), penalty=0.3, max_iter=1)
    assert record[0].filename == __file__


@pytest.mark.parametrize(
    "call",
    [
        lambda x: coda.pcor(x, method="glasso", penalty=0.3, max_iter=1),
        lambda x: pd.DataFrame(x).coda.pcor(method="glasso", penalty=0.3, max_iter=1),
    ],
)
def test_convergence_warning_names_the_users_line_through_other_functions(call):
    # pcor and the accessor reach the lasso through more of coda's
    # frames than pcor_glasso does; the warning still points at the caller
    with pytest.warns(ConvergenceWarning, match="did not converge in 1 sweeps") as record:
        call(_x("n50_d10"))
    assert {w.filename for w in record} == {__file__}


@pytest.mark.parametrize("criterion", ["ebic", "stars"])
def test_fits_that_do_not_converge_give_one_warning_per_call(criterion):
    # one warning per fit (17 along a path of 20) flooded a notebook cell
    x = coda.simulate(40, 8, seed=0).data
    options = {"n_subsamples": 5} if criterion == "stars" else {}
    with pytest.warns(ConvergenceWarning) as record:
        result = pcor_glasso(x, max_iter=2, criterion=criterion, **options)
    assert len(record) == 1 and record[0].filename == __file__
    fits = 20 if criterion == "ebic" else 20 * 6
    message = str(record[0].message)
    assert re.search(rf"did not converge in 2 sweeps \(tol=1e-08\) in \d+ of {fits} fits", message)
    chosen_failed = "the chosen fit is one of them" in message
    assert chosen_failed != ("the chosen fit converged" in message)
    assert result.penalty > 0.0


def test_a_fit_that_is_not_positive_definite_has_no_ebic():
    # stopped after one sweep, this fit is not positive definite: its EBIC is
    # inf (slogdet's sign was ignored, and the log of a negative total warned)
    x = coda.simulate(40, 8, seed=0).data
    with pytest.warns(ConvergenceWarning, match="in 1 of 1 fits"):
        result = pcor_glasso(x, penalty=0.3, max_iter=1)
    assert result.scores.tolist() == [np.inf]
    assert np.linalg.eigvalsh(result.precision.to_numpy()).min() <= 0


def test_a_converged_choice_is_reported_as_such():
    x = coda.simulate(40, 8, seed=0).data
    # the largest penalties converge in few sweeps, the smallest need more
    with pytest.warns(ConvergenceWarning, match=r"in 4 of 8 fits.*the chosen fit converged"):
        result = pcor_glasso(x, max_iter=8, n_penalties=8)
    assert np.isfinite(result.scores[np.argmin(result.scores)])


def test_errors():
    x = _lognormal(10, 4, seed=13)
    with pytest.raises(ValueError, match=r"penalty=0\.0; expected a positive number; the clr"):
        pcor_glasso(x, penalty=0)
    with pytest.raises(ValueError, match=r"penalty=-1\.0; expected a positive number"):
        pcor_glasso(x, penalty=-1)
    with pytest.raises(ValueError, match="criterion='bic' is not a known option"):
        pcor_glasso(x, criterion="bic")
    with pytest.raises(ValueError, match=r"gamma=2.0 is outside \[0, 1\]"):
        pcor_glasso(x, gamma=2)
    with pytest.raises(ValueError, match="n_penalties=0; expected an integer >= 1"):
        pcor_glasso(x, n_penalties=0)
    with pytest.raises(ValueError, match="x has 2 samples; at least 3"):
        pcor_glasso(x[:2])
    zeros = x.copy()
    zeros[0, 0] = 0
    with pytest.raises(ValueError, match="zeros"):
        pcor_glasso(zeros)


# --- StARS ------------------------------------------------------------------


def _planted(n, seed=2):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, 6))
    z[:, 1] += z[:, 0]
    z[:, 3] += z[:, 2]
    return np.exp(z)


def test_stars_instability_by_hand():
    # The subsamples are the rows numpy's default_rng(seed) draws, in order; each is
    # fitted cold with the numpy twin and the edge frequencies are counted directly.
    x = _planted(40)
    penalty = 0.4
    result = pcor_glasso(x, criterion="stars", penalty=penalty, n_subsamples=6, seed=3)
    rng = np.random.default_rng(3)
    size = min(int(10 * np.sqrt(40)), int(0.8 * 40))
    edges = []
    for _ in range(6):
        rows = np.sort(rng.choice(40, size=size, replace=False))
        theta, _ = naive.glasso(_augmented(x[rows]), penalty)
        edges.append(theta[np.triu_indices(6, 1)] != 0)
    frequency = np.mean(edges, axis=0)
    expected = np.mean(2 * frequency * (1 - frequency))
    assert expected > 0
    assert result.scores.tolist() == [pytest.approx(expected, abs=1e-12)]


def test_stars_path_and_choice():
    x = _planted(200)
    result = pcor_glasso(x, criterion="stars", seed=1, n_subsamples=10)
    scores = result.scores
    assert scores[0] == 0  # the path starts where every subsample's graph is empty
    assert np.all(np.diff(scores) >= 0)
    chosen = int(np.flatnonzero(result.penalties == result.penalty)[0])
    assert scores[chosen] <= 0.05
    assert chosen == result.penalties.size - 1 or scores[chosen + 1] > 0.05
    pcor = result.pcor
    assert pcor[0, 1] > 0 and pcor[2, 3] > 0
    # Reproducible with the same seed, whether an int or a Generator.
    again = pcor_glasso(x, criterion="stars", seed=np.random.default_rng(1), n_subsamples=10)
    np.testing.assert_array_equal(again.scores, scores)
    np.testing.assert_array_equal(again.pcor, pcor)


def test_stars_threshold_extremes():
    x = _planted(60)
    # 2 t (1 - t) <= 1/2: a threshold of 0.5 accepts every penalty, 0 only empty graphs.
    options = {"criterion": "stars", "seed": 4, "n_subsamples": 5, "n_penalties": 6}
    loose = pcor_glasso(x, threshold=0.5, **options)
    assert loose.penalty == loose.penalties[-1]
    strict = pcor_glasso(x, threshold=0.0, **options)
    last_stable = int(np.flatnonzero(strict.scores == 0)[-1])
    assert strict.penalty == strict.penalties[last_stable]


def test_criterion_options_are_not_mixed():
    x = _planted(20)
    with pytest.raises(ValueError, match='seed is not used by criterion="ebic"'):
        pcor_glasso(x, seed=1)
    with pytest.raises(ValueError, match='threshold is not used by criterion="ebic"'):
        pcor_glasso(x, threshold=0.1)
    with pytest.raises(ValueError, match='gamma is not used by criterion="stars"'):
        pcor_glasso(x, criterion="stars", gamma=0.5)
    with pytest.raises(ValueError, match="n_subsamples=1; expected an integer >= 2"):
        pcor_glasso(x, criterion="stars", n_subsamples=1)
    with pytest.raises(ValueError, match=r"threshold=1.5 is outside \[0, 1\]"):
        pcor_glasso(x, criterion="stars", threshold=1.5)


def test_stars_needs_subsamples_smaller_than_the_data():
    x = _lognormal(3, 6, seed=2)
    with pytest.raises(ValueError, match=r"subsamples of 3 of the 3 samples, which is all"):
        pcor_glasso(x, criterion="stars", seed=0)
    assert pcor_glasso(_lognormal(4, 6, seed=2), criterion="stars", seed=0).penalty > 0
