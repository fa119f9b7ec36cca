"""Invariance audit of the estimators: scale, parts, samples, reference, perturbation.

Every estimator of coda is a function of the log-ratios of each sample, so
the mathematics fixes how it must respond to

- a positive factor per sample (closure): nothing changes;
- a permutation of the parts: the result permutes with them;
- a permutation of the samples: nothing changes (but the bootstrap, which
  resamples rows by position);
- the same perturbation of every sample: the covariance-type estimators
  and the partial correlations do not change, the centre is perturbed;
- the choice of a reference part: partial correlations and variances do
  not depend on it, and alr covariances for two references are related by
  :func:`coda.alr_cov_change_ref`.

The transforms have their own property tests in ``tests/test_transforms.py``.

Tolerances come from the rounding of the inputs. A factor per row of up to
``1e4`` moves ``log(x)`` by about ``eps * max|log(x * s)|`` (``delta``), so
every clr value moves by at most ``2 delta``; a clr covariance entry moves by
about ``delta`` times a standard deviation, that is ``delta / sqrt(lmax)``
relative to the largest eigenvalue ``lmax`` of the clr covariance
(``EPSILON`` below). Quantities that divide by the covariance (precisions,
partial correlations and variances, ratios to clr variances) lose a further
factor of the condition number ``kappa = lmax / lmin`` of the clr covariance
on its plane (the perturbation bound of a pseudo-inverse of fixed rank). A
constant ``SLACK`` covers the sums of ``D`` and ``n`` terms behind each entry.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import coda
from tests.strategies import compositions, full_rank_compositions, orthonormal_bases

EPS = np.finfo(np.float64).eps
# Sums of up to n * D rounded terms stand behind every entry (n <= 40, D <= 7).
SLACK = 1e3
WIDE_SLACK = 1e2
# pcor_glasso's default convergence tolerance (relative to the mean absolute
# off-diagonal entry of the fitted matrix, see its docstring).
GLASSO_TOL = 1e-8
# Permuted parts change the order of the coordinate descent: on 60 tall data
# sets the partial correlations differed by at most 0.13 tol * kappa.
GLASSO_SLACK = 1e2
N_BOOT = 40

SETTINGS = settings(max_examples=25, deadline=None)


@st.composite
def tall_compositions(draw):
    """Well-conditioned compositions with ``n >= 3 D`` samples and 3..7 parts.

    With three samples per part a bootstrap resample (about 63% distinct
    rows) with fewer than D distinct rows, which the exact bootstrap refuses,
    is rare enough not to meet in these examples (none in 150 per test).
    """
    return draw(
        full_rank_compositions(min_parts=3, max_parts=7, max_extra_rows=30).filter(
            lambda x: x.shape[0] >= 3 * x.shape[1]
        )
    )


def _scales(x):
    """``(epsilon, kappa)``: relative rounding of the clr covariance and its condition number."""
    logs = np.log(x)
    clr = logs - logs.mean(axis=1, keepdims=True)
    eig = np.linalg.eigvalsh(np.cov(clr, rowvar=False))[1:]  # the first is the zero along 1
    # log(x * s) with s up to 1e4 (or a perturbation of similar size): |log| grows by <= 10
    delta = EPS * (np.abs(logs).max() + 10.0)
    return delta / np.sqrt(eig[-1]), eig[-1] / eig[0]


def _pair_matrix(table, column, d):
    """A symmetric D x D matrix from a pcor_test table (NaN on the diagonal)."""
    out = np.full((d, d), np.nan)
    i, j = table["part_i"].to_numpy(int), table["part_j"].to_numpy(int)
    out[i, j] = out[j, i] = table[column].to_numpy()
    return out


def _adjacency(graph):
    return nx.to_numpy_array(graph, nodelist=list(graph.nodes), weight=None) != 0


# What each estimate is, for the permutation of parts and for the tolerance:
# "DxD" a matrix over parts, "D" a vector over parts, "alr" a matrix over the
# parts other than ref, "alr1" a vector over them, "same" unchanged by a
# permutation (a scalar, or an ilr covariance whose basis is permuted too).
# "cov" scales with the covariance, "inv" divides by it, "glasso" comes from
# the graphical lasso, "exact" must agree exactly (booleans, counts).
def _estimates(x, ref, basis):
    d = x.shape[1]
    shrink = coda.pcor_shrink(x)
    bshrink = coda.pcor_shrink(x, method="bshrink")
    glasso = coda.pcor_glasso(x)
    table = coda.pcor_test(x)
    boot = coda.pcor_bootstrap(x, n_boot=N_BOOT, seed=7, progress=False)
    out = {
        "variation": (coda.variation(x), "DxD", "cov"),
        "clr_cov": (coda.clr_cov(x), "DxD", "cov"),
        "alr_cov": (coda.alr_cov(x, ref=ref), "alr", "cov"),
        "ilr_cov": (coda.ilr_cov(x, basis=basis), "same", "cov"),
        "total_variance": (coda.total_variance(x), "same", "cov"),
        "center": (coda.center(x), "D", "cov"),
        "balance_correlation": (coda.balance_correlation(x), "DxD", "inv"),
        "precision": (coda.precision(x), "DxD", "inv"),
        "pcor": (coda.pcor(x), "DxD", "inv"),
        "partial_variance": (coda.partial_variance(x), "D", "inv"),
        "multiple_r2": (coda.multiple_r2(x, ref=ref), "alr1", "inv"),
        "shrink.pcor": (shrink.pcor, "DxD", "inv"),
        "shrink.precision": (shrink.precision, "DxD", "inv"),
        "shrink.intensity": (shrink.intensity, "same", "inv"),
        "shrink.intensity_var": (shrink.intensity_var, "same", "inv"),
        "bshrink.pcor": (bshrink.pcor, "DxD", "inv"),
        "bshrink.precision": (bshrink.precision, "DxD", "inv"),
        "bshrink.intensity": (bshrink.intensity, "same", "inv"),
        "bshrink.intensity_var": (bshrink.intensity_var, "same", "inv"),
        "glasso.pcor": (glasso.pcor, "DxD", "glasso"),
        "glasso.precision": (glasso.precision, "DxD", "glasso"),
        "glasso.penalty": (glasso.penalty, "same", "glasso"),
        "glasso.n_edges": (glasso.n_edges, "same", "exact"),
        "pcor_test.r": (_pair_matrix(table, "r", d), "DxD", "inv"),
        "pcor_test.statistic": (_pair_matrix(table, "statistic", d), "DxD", "t"),
        "pcor_test.pvalue": (_pair_matrix(table, "pvalue", d), "DxD", "p"),
        "pcor_test.qvalue": (_pair_matrix(table, "qvalue", d), "DxD", "p"),
        "bootstrap.lower": (boot.lower, "DxD", "inv"),
        "bootstrap.upper": (boot.upper, "DxD", "inv"),
        "network": (_adjacency(coda.network(x)), "DxD", "exact"),
    }
    for metric in ("rho", "phi", "phs"):
        out[f"proportionality.{metric}"] = (coda.proportionality(x, metric=metric), "DxD", "inv")
    return out


def _permuted(value, kind, perm, ref):
    """What the estimate of the permuted data must be, from the estimate of the data."""
    value = np.asarray(value)
    if kind == "DxD":
        return value[np.ix_(perm, perm)]
    if kind == "D":
        return value[perm]
    if kind in ("alr", "alr1"):
        # rows of an alr result: the parts other than ref, in their order
        rows = [k - (k > ref) for k in perm if k != ref]
        return value[np.ix_(rows, rows)] if kind == "alr" else value[rows]
    return value


def _tolerance(kind, value, epsilon, kappa, df):
    """Absolute tolerance for an estimate (see the module docstring)."""
    value = np.asarray(value, dtype=float)
    scale = np.nanmax(np.abs(value)) if value.size else 1.0
    r_tol = SLACK * kappa * epsilon
    if kind == "cov":
        return SLACK * epsilon * scale
    if kind == "inv":
        return r_tol * max(scale, 1.0)
    if kind == "glasso":
        # The fits stop when a sweep changes W by less than tol (relative):
        # the estimates agree to a modest multiple of tol times the condition
        # of the fitted matrix, not to rounding.
        return GLASSO_SLACK * GLASSO_TOL * kappa * max(scale, 1.0)
    raise AssertionError(kind)


def _compare(name, got, want, kind, epsilon, kappa, df, want_r):
    got, want = np.asarray(got), np.asarray(want)
    if kind == "exact":
        np.testing.assert_array_equal(got, want, err_msg=name)
        return
    if kind == "p":
        # |d log p / dt| <= (df + 1) / (2 sqrt(df)) for Student's t (the
        # largest hazard); dt from dr as in _tolerance. BH q-values are minima of
        # scaled p-values, so they inherit the same relative tolerance.
        r = np.nanmax(np.abs(want_r))
        dt = SLACK * kappa * epsilon * np.sqrt(df) / (1.0 - r * r) ** 1.5
        rtol = (df + 1) / (2 * np.sqrt(df)) * dt
        np.testing.assert_allclose(got, want, rtol=rtol, atol=0, err_msg=name)
        return
    if kind == "t":
        r = np.nanmax(np.abs(want_r))
        atol = SLACK * kappa * epsilon * np.sqrt(df) / (1.0 - r * r) ** 1.5
        np.testing.assert_allclose(got, want, rtol=0, atol=atol, err_msg=name)
        return
    atol = _tolerance(kind, want, epsilon, kappa, df)
    np.testing.assert_allclose(got, want, rtol=0, atol=atol, err_msg=name)


def _check_all(got, want, epsilon, kappa, n, d, *, skip=(), mapping=None):
    df = n - d + 1
    want_r = want["pcor_test.r"][0]
    for name, (value, kind, tol_kind) in want.items():
        if name in skip:
            continue
        expected = mapping(value, kind) if mapping else value
        _compare(name, got[name][0], expected, tol_kind, epsilon, kappa, df, want_r)


def _draw_setup(data, x):
    n, d = x.shape
    ref = data.draw(st.integers(0, d - 1), label="ref")
    basis = data.draw(orthonormal_bases(d), label="basis")
    return n, d, ref, basis


@SETTINGS
@given(tall_compositions(), st.data())
def test_a_factor_per_sample_changes_nothing(x, data):
    n, d, ref, basis = _draw_setup(data, x)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    scaled = x * 10.0 ** rng.uniform(-2.0, 2.0, size=(n, 1))
    epsilon, kappa = _scales(x)
    want = _estimates(x, ref, basis)
    got = _estimates(scaled, ref, basis)
    # the bootstrap draws the same rows: its intervals are unchanged too
    _check_all(got, want, epsilon, kappa, n, d)


@SETTINGS
@given(tall_compositions(), st.data())
def test_permuting_the_parts_permutes_every_estimate(x, data):
    n, d, ref, basis = _draw_setup(data, x)
    perm = np.array(data.draw(st.permutations(range(d)), label="perm"))
    epsilon, kappa = _scales(x)
    want = _estimates(x, ref, basis)
    # the same reference part, at its new position; the basis rows follow the parts
    got = _estimates(x[:, perm], int(np.flatnonzero(perm == ref)[0]), basis[perm])
    _check_all(
        got,
        want,
        epsilon,
        kappa,
        n,
        d,
        mapping=lambda value, kind: _permuted(value, kind, perm, ref),
    )


@SETTINGS
@given(tall_compositions(), st.data())
def test_permuting_the_samples_changes_nothing_but_the_bootstrap(x, data):
    n, d, ref, basis = _draw_setup(data, x)
    rows = np.array(data.draw(st.permutations(range(n)), label="rows"))
    epsilon, kappa = _scales(x)
    want = _estimates(x, ref, basis)
    got = _estimates(x[rows], ref, basis)
    # the bootstrap takes rows by position (documented in pcor_bootstrap's Notes)
    _check_all(got, want, epsilon, kappa, n, d, skip=("bootstrap.lower", "bootstrap.upper"))


@SETTINGS
@given(tall_compositions(), st.data())
def test_perturbing_every_sample_alike_moves_only_the_centre(x, data):
    n, d, ref, basis = _draw_setup(data, x)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    q = 10.0 ** rng.uniform(-2.0, 2.0, size=d)
    epsilon, kappa = _scales(x)
    want = _estimates(x, ref, basis)
    got = _estimates(x * q, ref, basis)
    np.testing.assert_allclose(
        got["center"][0], coda.perturb(want["center"][0], q), rtol=SLACK * epsilon
    )
    # bshrink shrinks the covariance of log proportions, which a perturbation
    # changes (only its clr projection is invariant): see
    # test_bshrink_depends_on_the_units_of_a_part
    skip = ("center", *(k for k in want if k.startswith("bshrink")))
    _check_all(got, want, epsilon, kappa, n, d, skip=skip)


def _wide_estimates(x, *, stars):
    """The regularised estimators, for data with fewer samples than parts."""
    out = {}
    for method in ("shrink", "bshrink"):
        result = coda.pcor_shrink(x, method=method)
        out[f"{method}.pcor"] = (result.pcor, "DxD")
        out[f"{method}.precision"] = (result.precision, "DxD")
        out[f"{method}.intensity"] = (result.intensity, "same")
        out[f"{method}.intensity_var"] = (result.intensity_var, "same")
    options = {"criterion": "stars", "seed": 3, "n_subsamples": 5} if stars else {}
    glasso = coda.pcor_glasso(x, **options)
    out["glasso.pcor"] = (glasso.pcor, "DxD")
    out["glasso.precision"] = (glasso.precision, "DxD")
    out["glasso.penalty"] = (glasso.penalty, "same")
    out["glasso.n_edges"] = (glasso.n_edges, "same")
    return out


def _wide_tolerances(x, want):
    """Absolute tolerances for :func:`_wide_estimates`.

    The estimators standardise each column of the clr values (log
    proportions for bshrink), whose rounding is ``delta`` (module docstring):
    relative to the smallest standard deviation that is the error of the
    standardised data, which the inverse amplifies by the condition number of
    the estimated precision on its range. The graphical lasso adds its
    stopping error, ``tol`` relative to the matrix fitted, amplified alike.
    """
    logs = np.log(x)
    delta = EPS * (np.abs(logs).max() + 10.0)
    clr = logs - logs.mean(axis=1, keepdims=True)
    logp = logs - np.log(x.sum(axis=1))[:, None]
    relative = delta / min(clr.std(axis=0).min(), logp.std(axis=0).min())
    tolerances = {}
    for method in ("shrink", "bshrink", "glasso"):
        eig = np.abs(np.linalg.eigvalsh(np.asarray(want[f"{method}.precision"][0])))
        eig = eig[eig > 1e-9 * eig.max()]  # bshrink's precision is singular along 1
        kappa = eig.max() / eig.min()
        # sums of at most n * D = 108 terms: a smaller slack than the tall data's
        error = WIDE_SLACK * kappa * relative
        if method == "glasso":
            error += WIDE_SLACK * kappa * GLASSO_TOL
        for name, (value, _) in want.items():
            if name.startswith(method):
                tolerances[name] = error * max(np.abs(np.asarray(value, float)).max(), 1.0)
    tolerances["glasso.n_edges"] = 0
    return tolerances


def _check_wide(got, want, tolerances, mapping=lambda value, kind: value):
    for name, (value, kind) in want.items():
        expected = mapping(np.asarray(value), kind)
        np.testing.assert_allclose(
            np.asarray(got[name][0]), expected, rtol=0, atol=tolerances[name], err_msg=name
        )


def _varied(x):
    """Every part's clr value and log proportion varies clearly (hypothesis shrinks
    towards constant data, which the estimators refuse)."""
    logs = np.log(x)
    clr = logs - logs.mean(axis=1, keepdims=True)
    logp = logs - np.log(x.sum(axis=1))[:, None]
    return min(clr.var(axis=0).min(), logp.var(axis=0).min()) > 1e-2


wide_compositions = compositions(
    min_rows=5, max_rows=9, min_parts=6, max_parts=12, max_log10=3.0, dtype=np.float64
).filter(lambda x: x.shape[0] < x.shape[1] and _varied(x))


@SETTINGS
@given(wide_compositions, st.booleans(), st.data())
def test_regularised_estimators_on_wide_data_are_invariant(x, stars, data):
    n, d = x.shape
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    perm = np.array(data.draw(st.permutations(range(d)), label="perm"))
    want = _wide_estimates(x, stars=stars)
    tolerances = _wide_tolerances(x, want)
    # A factor per sample: StARS draws the same subsamples (same seed, same n).
    scaled = x * 10.0 ** rng.uniform(-2.0, 2.0, size=(n, 1))
    _check_wide(_wide_estimates(scaled, stars=stars), want, tolerances)
    # Permuted parts: the subsamples are rows, unchanged too.
    _check_wide(
        _wide_estimates(x[:, perm], stars=stars),
        want,
        tolerances,
        lambda value, kind: value[np.ix_(perm, perm)] if kind == "DxD" else value,
    )
    if not stars:
        # StARS subsamples rows by position; everything else ignores their order.
        rows = np.array(data.draw(st.permutations(range(n)), label="rows"))
        _check_wide(_wide_estimates(x[rows], stars=False), want, tolerances)


def _alr_matrix(d, r):
    """``F_r``: the (D - 1) x D matrix of the alr with reference r (rows ``e_k - e_r``)."""
    keep = [k for k in range(d) if k != r]
    f = np.eye(d)[keep]
    f[:, r] = -1.0
    return f


@SETTINGS
@given(tall_compositions(), st.data())
def test_no_reference_is_needed(x, data):
    d = x.shape[1]
    epsilon, kappa = _scales(x)
    gamma = coda.clr_cov(x)
    omega = coda.precision(x)
    pi = coda.partial_variance(x)
    cov_tol = SLACK * epsilon * np.abs(gamma).max()
    inv_tol = SLACK * kappa * epsilon
    for r in range(d):
        sigma = coda.alr_cov(x, ref=r)
        f = _alr_matrix(d, r)
        # Erb (2020): Omega = F_r^T Sigma_r^{-1} F_r for every reference r
        np.testing.assert_allclose(
            f.T @ np.linalg.inv(sigma) @ f, omega, rtol=0, atol=inv_tol * np.abs(omega).max()
        )
        np.testing.assert_allclose(1.0 / np.diag(omega), pi, rtol=inv_tol)
        np.testing.assert_allclose(coda.clr_cov_to_alr_cov(gamma, ref=r), sigma, atol=cov_tol)
        np.testing.assert_allclose(coda.alr_cov_to_clr_cov(sigma, ref=r), gamma, atol=cov_tol)
        new = data.draw(st.integers(0, d - 1), label="new_ref")
        np.testing.assert_allclose(
            coda.alr_cov_change_ref(sigma, ref=r, new_ref=new),
            coda.alr_cov(x, ref=new),
            atol=cov_tol,
        )
        # multiple_r2 depends on r only through the variance of log(x_i / x_r)
        t = coda.variation(x)
        keep = [k for k in range(d) if k != r]
        np.testing.assert_allclose(
            coda.multiple_r2(x, ref=r), 1.0 - pi[keep] / t[keep, r], rtol=0, atol=inv_tol
        )
    # ilr covariances of two orthonormal bases are one rotation apart
    v1 = data.draw(orthonormal_bases(d), label="v1")
    v2 = data.draw(orthonormal_bases(d), label="v2")
    rotation = v1.T @ v2
    np.testing.assert_allclose(
        coda.ilr_cov(x, basis=v2),
        rotation.T @ coda.ilr_cov(x, basis=v1) @ rotation,
        atol=cov_tol,
    )


@SETTINGS
@given(full_rank_compositions(min_parts=4, max_parts=8), st.data())
def test_subcompositions_see_the_same_log_ratios(x, data):
    d = x.shape[1]
    parts = data.draw(
        st.lists(st.integers(0, d - 1), min_size=2, max_size=d - 1, unique=True), label="parts"
    )
    sub = x[:, parts]
    epsilon, _ = _scales(x)
    t = coda.variation(x)
    tol = SLACK * epsilon * np.abs(t).max()
    # the variation matrix is subcompositionally coherent (Aitchison 1986, sec. 4.7)
    np.testing.assert_allclose(coda.variation(sub), t[np.ix_(parts, parts)], atol=tol)
    # so is the alr covariance when the reference is kept
    ref = data.draw(st.integers(0, len(parts) - 1), label="ref")
    keep = [p for p in range(d) if p != parts[ref]]
    rows = [keep.index(p) for k, p in enumerate(parts) if k != ref]
    np.testing.assert_allclose(
        coda.alr_cov(sub, ref=ref),
        coda.alr_cov(x, ref=parts[ref])[np.ix_(rows, rows)],
        atol=tol,
    )
    # phi of a pair divides the log-ratio variance by a clr variance, which
    # depends on the other parts: proportionality is not coherent, and coda
    # does not claim it is; pcor(x, given=K) is the subcomposition's pcor
    # (tests/test_partial.py::test_given_agrees_with_subcomposition).


def test_bshrink_depends_on_the_units_of_a_part():
    # Documented in pcor_shrink's Notes: bshrink shrinks the covariance of log
    # proportions, which a perturbation changes, so the units of one part move
    # the estimate; shrink (clr values) and the exact estimate do not move.
    x = coda.simulate(20, 40, graph="chain", seed=1).data
    other_units = x.assign(p01=x["p01"] * 1000.0)
    before = coda.pcor_shrink(x, method="bshrink").pcor.loc["p01", "p02"]
    after = coda.pcor_shrink(other_units, method="bshrink").pcor.loc["p01", "p02"]
    assert round(before, 2) == 0.19
    assert round(after, 2) == 0.32
    shrink = coda.pcor_shrink(x)
    values = x.to_numpy()
    want = {"shrink.pcor": (shrink.pcor, "DxD"), "shrink.precision": (shrink.precision, "DxD")}
    for method in ("bshrink", "glasso"):  # _wide_tolerances reads every precision
        want[f"{method}.precision"] = (np.eye(values.shape[1]), "DxD")
    atol = _wide_tolerances(values, want)["shrink.pcor"]
    np.testing.assert_allclose(coda.pcor_shrink(other_units).pcor, shrink.pcor, atol=atol)
    # lam = lam_var = 0 with n > D is the exact pinv(Gamma): invariant again
    tall = coda.simulate(40, 8, graph="chain", seed=1).data
    moved = tall * 10.0 ** np.linspace(-2.0, 2.0, 8)
    epsilon, kappa = _scales(tall.to_numpy())
    atol = SLACK * kappa * epsilon
    exact = {"method": "bshrink", "lam": 0.0, "lam_var": 0.0}
    unmoved = coda.pcor_shrink(tall, **exact).pcor
    np.testing.assert_allclose(coda.pcor_shrink(moved, **exact).pcor, unmoved, atol=atol)
    np.testing.assert_allclose(unmoved, coda.pcor(tall), atol=atol)
