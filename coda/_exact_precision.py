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

For such data both results are computed again in a second pass over the
data, in the frame of Gamma's own Cholesky factor ``L``: the coordinates
``Z`` of the rows (clr values for the precision; logs relative to one part
for a conditional covariance) are mapped to ``Z L^{-T}``, whose covariance
is close to the identity and so is formed from the data without loss; its
Cholesky factor ``G`` corrects ``L``, and ``L G`` is the Cholesky factor of
the data's covariance of ``Z``, good to about ``sqrt(kappa) eps``, as a QR
factorisation of the data would give. This is the CholeskyQR2 algorithm
with Gamma's factor as the first step; its cost is a triangular solve and a
Gram product over the rows (BLAS level 3), about half that of LAPACK's
Householder QR of the data (measured 216 against 473 ms at 10,000 x 1,000),
and its merges over row groups and dask blocks are those of the clr Gram
(:func:`coda._clr_gram._over_rows`).

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
from functools import partial

import numpy as np
import scipy.linalg

from coda import _kernels
from coda._clr_gram import (
    ClrCovEstimate,
    _centred_gram,
    _no_moments,
    _over_rows,
    _symmetric_cov,
)
from coda._linalg import symmetrised

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


# Above this estimate of the condition number of Gamma + c J/D (LAPACK's, in
# the 1-norm), the factor is corrected from the data (_factor_from_data): from
# Gamma the partial correlations are good to about kappa eps at worst (a tenth
# of that is typical), after the correction to about sqrt(kappa) eps. The
# correction costs about twice the pass that formed Gamma. The estimate is 382
# for the Roman cups, 1,300 for 200 samples of coda.simulate's 30-part chain
# and 3.3e6 for 10,000 of its 1,000-part chain, whose partial correlations
# from Gamma are within 2e-12 of the corrected ones (0.16 against 0.54 s);
# 30 rows drifting by 30 against a spread of 1e-3 give 1.2e9, and were 3.9e-8
# off.
_REFINE_ABOVE = 1e7


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
    norm = np.abs(m).sum(axis=0).max()
    factor, info = scipy.linalg.lapack.dpotrf(m, lower=True, clean=False, overwrite_a=True)
    # A pivot is the residual variance of one clr part given the parts before
    # it: an exact dependence may leave a tiny positive one, not a failure.
    if info != 0 or vanishes(np.diag(factor) ** 2, scale).any():
        raise ValueError(
            "the clr covariance is numerically singular (rank < D - 1: some parts are "
            "linear combinations of others in log-ratio space); use a regularised "
            f"estimator ({REGULARISED}) or drop parts"
        )
    rcond, _ = scipy.linalg.lapack.dpocon(factor, norm, uplo="L")
    if rcond * _REFINE_ABOVE < 1.0 and cov.values is not None:
        refined = _factor_from_data(cov.values, cov.ddof, factor, c)
        if refined is not None:
            factor = refined
    inverse, _ = scipy.linalg.lapack.dpotri(factor, lower=True, overwrite_c=True)
    # In place: each entry of the lower triangle is read once, before it and
    # its mirror are written; the result is symmetric, so its transpose (in
    # C order) is the same matrix.
    _kernels._precision(inverse, 1.0 / (c * d), inverse, correlations)
    return inverse.T


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
        s_aa = s_aa - s_ak @ scipy.linalg.cho_solve(factor, s_ak.T)
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
        columns = [*others, *rest]
        refined = _conditional_cov_from_data(
            cov.values, cov.ddof, alr_block(columns, columns), r, columns, len(others)
        )
        if refined is not None:
            return refined
    return s_aa


def _clr_of(rows: np.ndarray) -> np.ndarray:
    """clr values of checked compositions, in float64 whatever their dtype."""
    logs = np.log(np.asarray(rows, dtype=np.float64, order="C"))
    _kernels._clr(logs, np.empty(rows.shape[0]))
    return logs


def _relative_logs(rows: np.ndarray, pivot: int, columns: list[int]) -> np.ndarray:
    """``log(x_c / x_pivot)`` for the parts ``columns`` of checked compositions, in float64."""
    logs = np.log(np.asarray(rows, dtype=np.float64)[:, [pivot, *columns]])
    return logs[:, 1:] - logs[:, :1]


def _cov_in_frame(values, coordinates, lower: np.ndarray, ddof: int) -> np.ndarray:
    """``cov(Z L^{-T}) = L^{-1} cov(Z) L^{-T}``, ``Z = coordinates(rows)``, from the data.

    ``lower``: a lower-triangular ``L`` (only its lower triangle is read)
    with ``L L^T`` about ``cov(Z)``, from Gamma: ``Z L^{-T}`` is then well
    conditioned, and its covariance, formed in groups of rows (or dask row
    blocks) merged by Chan, Golub and LeVeque's update, loses nothing to
    the squaring.
    """
    k = lower.shape[0]

    def moments(rows: np.ndarray):
        # (L^{-1} Z^T)^T: Z^T of a C-ordered Z is Fortran-ordered, as LAPACK takes it.
        frame = scipy.linalg.solve_triangular(
            lower, coordinates(rows).T, lower=True, overwrite_b=True, check_finite=False
        )
        return _centred_gram(np.ascontiguousarray(frame.T))

    return _symmetric_cov(_over_rows(values, moments, k, _no_moments(k, (k, k))), ddof)


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
    s = _cov_in_frame(values, _clr_of, lower, ddof)
    u = scipy.linalg.solve_triangular(lower, np.full(d, math.sqrt(c / d)), lower=True)
    s += np.outer(u, u)
    g = _cholesky(s)
    if g is None:
        return None
    # L G by BLAS's triangular product, into G's memory.
    return scipy.linalg.blas.dtrmm(1.0, lower, g, lower=1, overwrite_b=1)


def _conditional_cov_from_data(values, ddof, sigma, pivot, columns, first):
    """:func:`conditional_cov` from the data; None if the factors are not positive definite.

    ``sigma``: the covariance of ``log(x_c / x_pivot)`` over ``columns``
    (the parts partialled out first, ``first`` of them), from Gamma. With
    ``sigma = L_1 L_1^T`` and the data's ``S = cov(Z L_1^{-T}) = G G^T``,
    ``L = L_1 G`` is the Cholesky factor of the data's covariance of ``Z``,
    and its trailing block ``L_22`` that of the residual covariance.
    """
    l1 = _cholesky(sigma)
    if l1 is None:
        return None
    coordinates = partial(_relative_logs, pivot=pivot, columns=columns)
    g = _cholesky(_cov_in_frame(values, coordinates, l1, ddof))
    if g is None:
        return None
    trailing = (l1 @ g)[first:, first:]
    return symmetrised(trailing @ trailing.T)
