"""The exact precision and conditional clr covariances: from Gamma, or from the data.

:func:`exact_precision` inverts the clr covariance Gamma (one Cholesky
factorisation, which also finds a Gamma of rank below D - 1);
:func:`conditional_cov` forms the covariance left after partialling out
some parts (a Schur complement). Forming Gamma squares the condition of the
data: an entry of Gamma is good to an eps or so of its natural scale, so
what is computed from it is good to about ``kappa(Gamma) eps``. Data whose
log-ratios drift far along some directions and vary little along others
(sorted rows, a trend over the samples) have ``kappa`` of 1e8 to 1e12 and
lose eight to twelve digits that way.

For such data both are corrected from the data in a second pass. The
precision: in the frame of Gamma's own Cholesky factor ``L``, the clr
values ``Z`` of the rows are mapped to ``Z L^{-T}``, whose covariance is
close to the identity and so is formed from the data without loss; its
Cholesky factor ``G`` corrects ``L``, and ``L G`` is the Cholesky factor of
the data's covariance, good to about ``sqrt(kappa) eps``, as a QR
factorisation of the data would give. This is the CholeskyQR2 algorithm
with Gamma's factor as the first step; its cost is a triangular solve and a
Gram product over the rows (BLAS level 3), about half that of LAPACK's
Householder QR of the data (measured 216 against 473 ms at 10,000 x 1,000).
A conditional covariance: the logs of the other parts less their
regression on the parts partialled out, with Gamma's coefficients, are
residuals whose covariance is formed without the Schur complement's
cancellation (see :func:`_conditional_cov_from_data`). Both are one pass of
:func:`coda._log_moments.log_ratio_cov`, which takes the logs of every row
less those of one row of the data and merges row groups and dask blocks.

References: Fukaya, T., Nakatsukasa, Y., Yanagisawa, Y. and Yamamoto, Y.
(2014). CholeskyQR2: a simple and communication-avoiding algorithm for
computing a tall-skinny QR factorization on a large-scale parallel system.
5th Workshop on Latest Advances in Scalable Algorithms for Large-Scale
Systems (ScalA '14). Yamamoto, Y., Nakatsukasa, Y., Yanagisawa, Y. and
Fukaya, T. (2015). Roundoff error analysis of the CholeskyQR2 algorithm.
Electronic Transactions on Numerical Analysis 44:306-326.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg

from coda import _clr_gram, _kernels
from coda._clr_gram import ClrCovEstimate
from coda._linalg import symmetrised
from coda._log_moments import far_offsets, log_ratio_cov, relative_logs

REGULARISED = "method='shrink', 'bshrink' or 'glasso'"

# Variances (clr, residual, a Cholesky pivot) at most this fraction of the
# largest clr variance count as zero: rounding leaves an exact dependence
# such a tiny positive value instead of a zero.
_RANK_TOL = 1e-12


def vanishes(variances, scale: float) -> np.ndarray:
    """Where ``variances`` count as zero against ``scale`` (NaN counts as zero)."""
    return ~(np.asarray(variances) > _RANK_TOL * scale)


def check_rank(cov: ClrCovEstimate) -> None:
    """Fail loudly when the clr covariance has rank below D - 1.

    ``cov.smallest`` is ``(T_ij, i, j)``, the least varying log-ratio, from
    ``clr_cov_checked``.
    """
    gamma, labels = cov.gamma, cov.labels
    n, d = cov.n_samples, gamma.shape[0]
    if n <= d - 1:
        raise ValueError(
            f"x has {n} samples and {d} parts: the clr covariance has rank at most "
            f"{n - 1} < D - 1 = {d - 1}, so its exact inverse does not exist; "
            f"use a regularised estimator ({REGULARISED}) or fewer parts"
        )
    names = labels.part_names(d)
    diag = np.diag(gamma)
    scale = max(diag.max(), np.finfo(float).tiny)
    flat = np.flatnonzero(vanishes(diag, scale))
    if flat.size:
        raise ValueError(
            f"part {names[flat[0]]!r} has zero clr variance (it is a constant multiple of "
            "the geometric mean in every sample); drop it or amalgamate it with another part"
        )
    t, i, j = cov.smallest
    if vanishes(t, scale):
        ratio = f"var(log({names[i]}/{names[j]}))"
        state = (
            f"are proportional ({ratio} = 0)"
            if t <= 0
            else f"are proportional up to rounding ({ratio} = {t:.3g}, below {_RANK_TOL:g} "
            f"of the largest clr variance, {scale:.3g}, so that it cannot be told from "
            "the rounding of the others)"
        )
        raise ValueError(
            f"parts {names[i]!r} and {names[j]!r} {state}, so the partial correlations are "
            "not defined; drop or amalgamate one of them"
        )


# Above this estimate of the condition number of Gamma + c J/D (2-norm, from
# a few steps of power and inverse iteration on its Cholesky factor), the
# factor is corrected from the data (_factor_from_data): from Gamma the partial
# correlations are good to about kappa eps at worst (a tenth of that or less
# is typical), after the correction to about sqrt(kappa) eps. The correction
# costs two to three times the pass that formed Gamma. kappa is 158 for the
# Roman cups, 2.6e6 for 2,000 samples of coda.simulate's 1,000-part chain and
# 7.7e6 for 5,000 of its 2,000-part chain (the correction changed their
# partial correlations by 4e-12 and 6e-12, and took 0.15 against 0.056 s and
# 1.37 against 0.39 s); 30 rows drifting by 30 against a spread of 1e-3 give
# 1.2e9, and were 3.9e-8 off.
_REFINE_ABOVE = 1e7
# Steps of power and inverse iteration for that estimate (within 35% of numpy's
# cond on the data tried; 2 ms at 1,000 parts).
_CONDITION_STEPS = 4


def exact_precision(
    cov: ClrCovEstimate, *, correlations: bool = False, overwrite: bool = False
) -> np.ndarray:
    """``Omega = (Gamma + c J/D)^{-1} - J/(c D)``: one Cholesky factorisation.

    ``Gamma + c J/D`` adds the missing direction 1 with eigenvalue c, so it is
    positive definite exactly when ``rank(Gamma) = D - 1``; its inverse is
    ``Gamma^+ + J/(c D)`` because the two terms act on orthogonal subspaces.
    ``c = tr(Gamma) / (D - 1)``, the mean of the other eigenvalues, keeps the
    added direction on the data's scale: with a fixed c = 1, data whose
    log-ratios vary by 1e-6 lost ten digits to the shift (and by 1e-7 were
    called singular), while partial correlations do not change when every
    log-ratio is scaled alike. With ``correlations``, the partial
    correlations from Omega instead, in the same pass
    (``_kernels._precision``). With ``overwrite`` (a C-ordered ``cov.gamma``
    the caller is done with) everything happens in its memory: two D x D
    arrays fewer at the peak. For an ill-conditioned Gamma, the Cholesky
    factor is corrected from the data ``cov.values`` (:func:`_factor_from_data`).
    """
    gamma = cov.gamma
    d = gamma.shape[0]
    c = np.trace(gamma) / (d - 1)
    if not (np.isfinite(c) and c > 0):
        raise ValueError(
            "the clr covariance is zero (no part varies relative to the others); "
            "partial correlations need data that vary"
        )
    # m is symmetric, so its transpose is the same matrix in Fortran order:
    # LAPACK works on it in place instead of on a copy.
    if overwrite:
        gamma += c / d
        m = gamma.T
    else:
        m = (gamma + c / d).T
    scale = np.diag(m).max()
    factor, info = scipy.linalg.lapack.dpotrf(m, lower=True, clean=False, overwrite_a=True)
    # A pivot is the residual variance of one clr part given the parts before
    # it: an exact dependence may leave a tiny positive one, not a failure.
    if info != 0 or vanishes(np.diag(factor) ** 2, scale).any():
        raise ValueError(
            "the clr covariance is numerically singular (rank < D - 1: some parts are "
            "linear combinations of others in log-ratio space); use a regularised "
            f"estimator ({REGULARISED}) or drop parts"
        )
    if cov.values is not None and _condition(factor) > _REFINE_ABOVE:
        refined = _factor_from_data(cov.values, cov.ddof, factor, c)
        if refined is not None:
            factor = refined
    inverse, _ = scipy.linalg.lapack.dpotri(factor, lower=True, overwrite_c=True)
    # In place: each entry of the lower triangle is read once, before it and
    # its mirror are written; the result is symmetric, so its transpose (in
    # C order) is the same matrix.
    _kernels._precision(inverse, 1.0 / (c * d), inverse, correlations)
    return inverse.T


def _condition(lower: np.ndarray) -> float:
    """An estimate of the 2-norm condition number of ``L L^T`` from its Cholesky factor.

    ``_CONDITION_STEPS`` steps of power iteration (products with ``L`` and
    ``L^T``) and of inverse iteration (triangular solves), from the same
    start: O(D^2) each, beside the O(D^3) factorisation. Rayleigh quotients
    bound the extreme eigenvalues from inside, so the estimate is low rather
    than high; it settles within a few steps on the clusters of large and
    small eigenvalues that ill-conditioned compositions have.
    """
    d = lower.shape[0]
    # A start with a share of every eigenvector (a smooth ramp alone can miss some).
    start = np.cos(np.arange(1, d + 1) * 2.399963) + 1.0 / d
    big = start / np.linalg.norm(start)
    small = big.copy()
    trmv, trsv = scipy.linalg.blas.dtrmv, scipy.linalg.blas.dtrsv
    top = bottom = 1.0
    for _ in range(_CONDITION_STEPS):
        big = trmv(lower, trmv(lower, big, lower=1, trans=1), lower=1)
        top = np.linalg.norm(big)
        big /= top
        small = trsv(lower, trsv(lower, small, lower=1), lower=1, trans=1)
        bottom = np.linalg.norm(small)
        small /= bottom
    return float(top * bottom) if np.isfinite(top * bottom) else np.inf


def conditional_cov(cov: ClrCovEstimate, k: list[int], rest: list[int]) -> np.ndarray:
    """Covariance of the parts ``rest`` after partialling out the parts ``k``.

    With ``r`` the first part of K, the residual covariance of
    ``log(x_i/x_r)`` (i outside K) regressed with intercept on
    ``log(x_k/x_r)`` (k in K, k != r): a Schur complement of the alr
    covariance. It does not depend on which ``r`` in K is used.
    """
    gamma, n = cov.gamma, cov.n_samples
    r = k[0]
    others = k[1:]
    # Checked first: with too few samples the covariances below are singular
    # for that reason alone, and the errors about collinear or determined parts
    # would blame the parts.
    if n - 1 - len(others) <= 1:
        raise ValueError(
            f"x has {n} samples, too few to partial out {len(k)} parts; "
            f"at least {len(k) + 2} samples are needed"
        )

    # Sigma_r restricted to the parts we need: Sigma_ab = g_ab - g_ar - g_rb + g_rr.
    def alr_block(a, b):
        a, b = np.asarray(a, dtype=int), np.asarray(b, dtype=int)
        return gamma[np.ix_(a, b)] - gamma[a, r][:, None] - gamma[r, b][None, :] + gamma[r, r]

    s_aa = alr_block(rest, rest)
    scale = max(np.diag(gamma).max(), np.finfo(float).tiny)
    if others:
        s_ak = alr_block(rest, others)
        s_kk = alr_block(others, others)
        collinear = ValueError(
            "the log-ratios among the parts in given are collinear (their covariance "
            "is singular); drop a part from given"
        )
        try:
            factor = scipy.linalg.cho_factor(s_kk, lower=True)
        except np.linalg.LinAlgError:
            raise collinear from None
        # A pivot left tiny but positive by rounding is a dependence too.
        pivots = np.diag(factor[0]) ** 2
        if vanishes(pivots, scale).any():
            raise collinear
        slopes = scipy.linalg.cho_solve(factor, s_ak.T)
        s_aa = s_aa - s_ak @ slopes
    else:
        slopes = np.zeros((0, len(rest)))
    # A part whose log-ratios the parts in K explain exactly (a part
    # proportional to one in K, say) has no residual left to correlate.
    flat = np.flatnonzero(vanishes(np.diag(s_aa), scale))
    if flat.size:
        names = cov.labels.part_names(gamma.shape[0])
        part, given = names[rest[flat[0]]], [names[i] for i in k]
        raise ValueError(
            f"part {part!r} is determined by the parts in given ({', '.join(given)}): "
            f"the log-ratios of {part!r} have no variance left once they are partialled out "
            f"(a part proportional to one in given, say), so its partial correlations are "
            f"not defined; drop {part!r} or amalgamate it with a part in given"
        )
    # From Gamma, s_aa is good to about eps times scale over its smallest
    # variance or the smallest pivot of s_kk: taken from the data where that
    # ratio is large, as for the precision.
    smallest = min(np.diag(s_aa).min(), pivots.min() if others else np.inf)
    if scale > _REFINE_ABOVE * smallest and cov.values is not None:
        refined = _conditional_cov_from_data(cov.values, cov.ddof, r, others, rest, slopes)
        if refined is not None:
            return refined
    return symmetrised(s_aa)


def _clr_of(rows: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """clr values of checked compositions, of their logs less ``shift``.

    A log less its shift is exact where the two are within a factor of 2
    (Sterbenz) and otherwise rounded at its own size, which carries the
    row's total (the mean of its logs less the shift's), of which the clr
    values see nothing: logs near 0 whose totals vary by 1, for nearly
    proportional parts, left their partial correlations 1e-10 off. Rows
    whose mean is far beside the spread of their clr values
    (:func:`coda._log_moments.far_offsets`) are made again from their logs
    relative to the first part (:func:`coda._log_moments.relative_logs`),
    which the totals leave alone.
    """
    rows = np.asarray(rows, dtype=np.float64, order="C")
    logs = np.log(rows)
    logs -= shift
    d = rows.shape[1]
    sums = np.empty(rows.shape[0])
    _kernels._clr(logs, sums)
    far = far_offsets(sums / d, np.sqrt(np.einsum("rk,rk->r", logs, logs) / d))
    if far.size:
        again = relative_logs(rows[far], shift, 0, range(d))
        _kernels._clr(again, np.empty(far.size))
        logs[far] = again
    return logs


def _cov_of(values, coordinates, width: int, ddof: int, lower=None) -> np.ndarray:
    """:func:`coda._log_moments.log_ratio_cov` in groups of rows as the clr Gram takes them.

    The group size is read when called: one setting for every pass over the data.
    """
    group_bytes = _clr_gram._GROUP_BYTES
    return log_ratio_cov(values, coordinates, width, ddof, group_bytes=group_bytes, lower=lower)


def _cholesky(matrix: np.ndarray) -> np.ndarray | None:
    """The lower Cholesky factor of ``matrix``, or None if it is not positive definite."""
    factor, info = scipy.linalg.lapack.dpotrf(matrix, lower=True, clean=True)
    return factor if info == 0 and np.isfinite(factor).all() else None


def _factor_from_data(values, ddof: int, lower: np.ndarray, c: float) -> np.ndarray | None:
    """The Cholesky factor of ``Gamma + c J/D`` from the clr values of the data.

    ``lower``: Gamma's own factor ``L``. With ``S = L^{-1} Gamma L^{-T}``
    (the covariance of ``clr(x) L^{-T}``, from the data) and
    ``u = sqrt(c/D) L^{-1} 1``, ``Gamma + c J/D = L (S + u u^T) L^T``;
    ``S + u u^T`` is close to the identity, so its Cholesky factor ``G`` is
    accurate, and ``L G`` is the factor sought (lower triangular, in Fortran
    order, as LAPACK's ``dpotri`` takes it). None if ``S + u u^T`` is not
    positive definite (the caller keeps Gamma's factor).
    """
    d = lower.shape[0]
    s = _cov_of(values, _clr_of, d, ddof, lower)
    u = scipy.linalg.solve_triangular(lower, np.full(d, math.sqrt(c / d)), lower=True)
    s += np.outer(u, u)
    g = _cholesky(s)
    if g is None:
        return None
    # L G by BLAS's triangular product, into G's memory.
    return scipy.linalg.blas.dtrmm(1.0, lower, g, lower=1, overwrite_b=1)


def _conditional_cov_from_data(values, ddof, pivot, others, rest, slopes):
    """:func:`conditional_cov` from the data; None if the covariance of K is not positive definite.

    ``slopes`` (|K| - 1 x |rest|): Gamma's regression coefficients of the
    logs of ``rest`` on those of ``others`` (all relative to ``pivot``). One
    pass forms the covariance of ``[Z_K, Z_A - Z_K slopes]``: the residuals
    are nearly uncorrelated with ``Z_K``, so their covariance is formed
    without the cancellation of ``S_AA - S_AK S_KK^{-1} S_KA``, and the
    Schur complement left, ``C_AA - C_AK C_KK^{-1} C_KA``, only corrects
    for the error of the slopes, a term of second order in it. No factor of
    the whole alr covariance is needed, so fewer samples than parts, or two
    parts outside K that are proportional, are corrected too.
    """
    q = len(others)

    def coordinates(rows: np.ndarray, shift) -> np.ndarray:
        logs = relative_logs(rows, shift, pivot, [*others, *rest])
        logs[:, q:] -= logs[:, :q] @ slopes
        return logs

    c = _cov_of(values, coordinates, q + len(rest), ddof)
    if not q:
        return c
    factor = _cholesky(c[:q, :q])
    if factor is None:
        return None
    cross = c[:q, q:]
    return symmetrised(c[q:, q:] - cross.T @ scipy.linalg.cho_solve((factor, True), cross))
