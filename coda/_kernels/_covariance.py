"""Kernels of covariance and precision estimators.

``V^T Gamma V`` for the structured ilr bases, exact symmetrisation, the
graphical lasso, bootstrap partial correlations, and the passes that form
the clr covariance and its pseudo-inverse.
"""

from __future__ import annotations

import math

import numpy as np

from coda._kernels._jit import jit
from coda._kernels._logratio import (
    _helmert_scales,
    _ilr_helmert,
    _ilr_pivot,
    _neumaier,
    _pivot_scales,
    _row_sum,
)


@jit
def _ilr_cov_of_gamma(gamma, helmert, half, out):
    """``V^T Gamma V`` for the Helmert (``helmert``) or pivot basis, exactly symmetric.

    ``half = Gamma V`` comes from ``_ilr_helmert`` or ``_ilr_pivot`` applied
    to the rows of ``Gamma`` (their centring changes nothing: ``V^T 1 = 0``).
    ``V^T half`` is the same running or suffix sums taken down the rows of
    ``half``, a whole row at a time (vectorised along it, no transpose).
    The result is then averaged with its transpose in 64 x 64 tiles. O(D^2)
    where two dense products cost O(D^3).
    """
    d = gamma.shape[0]
    k = d - 1
    if helmert:
        _ilr_helmert(gamma, half, np.empty(d))
    else:
        _ilr_pivot(gamma, half, np.empty(d))
    s = np.zeros(k)
    if helmert:
        a, c = _helmert_scales(d)
        for col in range(k):
            s[col] = half[0, col]
        for j in range(k):
            for col in range(k):
                v = half[j + 1, col]
                out[j, col] = a[j] * s[col] - c[j] * v
                s[col] += v
    else:
        coef = _pivot_scales(d)
        for j in range(k - 1, -1, -1):
            m = d - j - 1.0  # parts after the pivot j
            for col in range(k):
                s[col] += half[j + 1, col]
                out[j, col] = coef[j] * (half[j, col] - s[col] / m)
    _symmetrise(out)


@jit
def _symmetrise(matrix):
    """``matrix`` (square) averaged with its transpose in place: exactly symmetric.

    In ``_TILE`` x ``_TILE`` tiles, each pair read and written while in
    cache: numpy's ``m += m.T`` copies the transpose first, in strides
    (25 ms for 2,000 x 2,000 against a few here). ``(a + b) / 2`` is the
    same for both entries, whatever their order.
    """
    d = matrix.shape[0]
    for i0 in range(0, d, _TILE):
        for j0 in range(0, i0 + 1, _TILE):
            for i in range(i0, min(i0 + _TILE, d)):
                for j in range(j0, min(j0 + _TILE, i)):
                    mean = 0.5 * (matrix[i, j] + matrix[j, i])
                    matrix[i, j] = mean
                    matrix[j, i] = mean


@jit
def _glasso(s, penalty, w, beta, theta, tol, max_iter):
    """Graphical lasso by block coordinate descent (Friedman et al. 2008).

    Maximises ``log det Theta - tr(S Theta) - penalty * sum_ij |Theta_ij|``
    (diagonal penalised, so ``W_jj = S_jj + penalty``). ``w`` (the covariance
    estimate, ``W = Theta^{-1}``) and ``beta`` (column ``j``: the lasso
    coefficients of part ``j`` on the others, ``beta[j, j] = 0``) are updated in
    place and may hold a warm start; ``w``'s diagonal must already be
    ``S_jj + penalty``. ``theta`` receives the precision. A sweep updates
    every column once; the loop stops when the mean absolute change of the
    off-diagonal ``W`` in a sweep is at most ``tol`` times the mean absolute
    off-diagonal ``S``. Returns ``(sweeps, converged)``.
    """
    d = s.shape[0]
    scale = 0.0
    for i in range(d):
        for j in range(d):
            if i != j:
                scale += abs(s[i, j])
    scale /= d * (d - 1)
    wb = np.empty(d)
    sweeps = 0
    converged = False
    while sweeps < max_iter and not converged:
        sweeps += 1
        change = 0.0
        for j in range(d):
            # wb = W11 beta over the parts other than j (eq. 2.4's W11 beta).
            for k in range(d):
                acc = 0.0
                if k != j:
                    for m in range(d):
                        if m != j and beta[m, j] != 0.0:
                            acc += w[k, m] * beta[m, j]
                wb[k] = acc
            for _ in range(max_iter):
                largest = 0.0
                for k in range(d):
                    if k == j:
                        continue
                    old = beta[k, j]
                    # Coordinate update of the lasso (eq. 2.6): soft-threshold.
                    r = s[k, j] - (wb[k] - w[k, k] * old)
                    if r > penalty:
                        new = (r - penalty) / w[k, k]
                    elif r < -penalty:
                        new = (r + penalty) / w[k, k]
                    else:
                        new = 0.0
                    delta = new - old
                    if delta != 0.0:
                        beta[k, j] = new
                        for m in range(d):
                            if m != j:
                                wb[m] += w[m, k] * delta
                        if abs(delta) > largest:
                            largest = abs(delta)
                if largest <= tol:
                    break
            for k in range(d):
                if k != j:
                    change += abs(wb[k] - w[k, j])
                    w[k, j] = wb[k]
                    w[j, k] = wb[k]
        converged = change / (d * (d - 1)) <= tol * scale
    # Theta from W and beta (Friedman et al. 2008, eq. 2.12).
    for j in range(d):
        acc = 0.0
        for k in range(d):
            if k != j:
                acc += w[k, j] * beta[k, j]
        theta[j, j] = 1.0 / (w[j, j] - acc)
        for k in range(d):
            if k != j:
                theta[k, j] = -beta[k, j] * theta[j, j]
    return sweeps, converged


@jit
def _pcor_bootstrap(sums, mean, n, iu, ju, out, ok):
    """Partial correlations of the pairs ``(iu, ju)`` for a batch of bootstrap resamples.

    ``sums[b]`` holds resample b's ``sum_r w_br y_r y_r^T`` packed (its upper
    triangle in the order of ``np.triu_indices(D)``) and ``mean[b]`` its
    column means, of n rows of centred clr data (one matrix product for all
    resamples forms them: ``coda._bootstrap.resample_sums``). For each b:
    ``Gamma_b + c J/D`` with ``Gamma_b = (sums_b - n mean_b mean_b^T) / (n - 1)``
    and ``c = tr(Gamma_b) / (D - 1)`` (as ``coda._exact_precision.exact_precision``:
    the added direction on the data's scale) unpacked into one buffer, then
    ``Omega = (Gamma_b + c J/D)^{-1} - J/(c D)`` (Erb 2020, the closed form of
    the pseudo-inverse) inverted in place by
    Gauss-Jordan elimination, which needs no pivoting for a positive definite
    matrix, then ``out[b, p] = -Omega_ij / sqrt(Omega_ii Omega_jj)``.
    ``ok[b]`` is False (and the row NaN) when a pivot is not positive: a
    singular resample.

    The buffer is flat with rows padded to whole 8-double SIMD vectors (the
    padding stays zero), so each row update is one loop without a remainder:
    at D=50 this halves the time of the plain two-dimensional loops. It stays
    in L1/L2 cache; no BLAS call, whose threads would compete with the
    caller's threads on a small machine.
    """
    n_boot, d = mean.shape
    s = (d + 7) // 8 * 8
    a = np.zeros(d * s)
    pivot_row = np.zeros(s)
    column = np.empty(d)
    for b in range(n_boot):
        packed = sums[b]
        m = mean[b]
        p = 0
        trace = 0.0
        for i in range(d):
            for j in range(i, d):
                v = (packed[p] - n * m[i] * m[j]) / (n - 1)
                a[i * s + j] = v
                a[j * s + i] = v
                if i == j:
                    trace += v
                p += 1
        c = trace / (d - 1)
        for i in range(d):
            for j in range(d):
                a[i * s + j] += c / d
        shift = 1.0 / (c * d)
        # a resample without variation (c = 0 or NaN) is singular
        good = c > 0.0
        for k in range(d if good else 0):
            pivot = a[k * s + k]
            if not pivot > 0.0:
                good = False
                break
            # Row k scaled by 1/pivot (its own entry becomes 1/pivot); every
            # other row i loses column[i] times it, column k first zeroed.
            scale = 1.0 / pivot
            for j in range(d):
                pivot_row[j] = a[k * s + j] * scale
            pivot_row[k] = scale
            for i in range(d):
                column[i] = a[i * s + k]
                a[i * s + k] = 0.0
            column[k] = 0.0
            for i in range(d):
                f = column[i]
                row = i * s
                for j in range(s):
                    a[row + j] -= f * pivot_row[j]
            for j in range(d):
                a[k * s + j] = pivot_row[j]
        ok[b] = good
        for p in range(iu.size):
            if not good:
                out[b, p] = math.nan
                continue
            i = iu[p]
            j = ju[p]
            rho = -(a[i * s + j] - shift) / math.sqrt(
                (a[i * s + i] - shift) * (a[j * s + j] - shift)
            )
            # As coda.pcor: rounding can push |rho| a hair past 1.
            out[b, p] = min(1.0, max(-1.0, rho))


@jit
def _row_ends(values, low, high):
    """Per row: the ``low.shape[1]`` smallest and ``high.shape[1]`` largest values, ascending.

    One pass per row, each value compared with the current bounds of two
    small sorted buffers and inserted where it belongs (rare after the first
    values): O(n) per row for buffers much shorter than the row, against a
    partition of the whole row. For percentiles near the ends of bootstrap
    replicates. No NaN (their order would be undefined).
    """
    n_rows, n = values.shape
    n_low = low.shape[1]
    n_high = high.shape[1]
    for r in range(n_rows):
        row = values[r]
        small = low[r]
        large = high[r]
        for i in range(n):
            v = row[i]
            # small: the n_low smallest so far, ascending.
            if i < n_low or v < small[n_low - 1]:
                j = min(i, n_low - 1)
                while j > 0 and small[j - 1] > v:
                    small[j] = small[j - 1]
                    j -= 1
                small[j] = v
            # large: the n_high largest so far, ascending.
            if i < n_high:
                j = i
                while j > 0 and large[j - 1] > v:
                    large[j] = large[j - 1]
                    j -= 1
                large[j] = v
            elif v > large[0]:
                j = 0
                while j + 1 < n_high and large[j + 1] < v:
                    large[j] = large[j + 1]
                    j += 1
                large[j] = v


_FEW_PARTS = 8  # up to this many parts, _shift_sums sums rows in plain loops


@jit
def _less_row_and_shift(value, mean, shift):
    """Part of ``_shift_sums``: ``value - (mean + shift)``, that sum kept exactly.

    ``mean + shift`` is split into ``hi + lo`` (TwoSum); ``value - hi`` is
    exact where ``value`` is within a factor of two of ``hi`` (Sterbenz), so
    the result keeps its digits however large the log is beside it.
    """
    hi = mean + shift
    back = hi - mean
    lo = (mean - (hi - back)) + (shift - back)
    return (value - hi) - lo


@jit
def _shift_sums(block, shift, sums, widest):
    """Centre each row of ``block``, subtract ``shift``, and sum the columns, in one pass.

    For the Gram matrix of ``coda._clr_gram``: the block of logs numpy has
    just filled is still in cache. Each row becomes its clr values (the row
    minus its mean) minus ``shift``, ``Y = l - (mean + shift)``, formed by
    ``_less_row_and_shift`` so that parts whose logs are far from 0 but
    vary little keep their digits (a subtraction of the mean first lost
    eps times the log: 1,600 eps of the clr covariance's small entries).
    The mean's own rounding is the same for the whole row; a second pass
    over the row, still in cache, takes it off: clr values sum to 0, so the
    row of ``Y`` must sum to ``-sum(shift)``, and whatever it sums to beyond
    that, over D, is subtracted at the scale of ``Y``. The sums add the rows
    in order, as numpy's ``sum(axis=0)`` of a C-ordered block does. Taking
    the row means here, rather than by double centring the covariance of
    the logs, keeps the spread of the row totals out of the Gram matrix,
    whose cancellation would cost digits when the totals vary far more than
    the log-ratios. ``widest[0]`` receives the largest ``|mean|`` of a row's
    logs: with the shift, the scale of the logs, whose rounding is the
    noise floor of a clr variance.
    """
    n, d = block.shape
    widest[0] = 0.0
    # The clr values of a row sum to 0, so the row of Y sums to -sum(shift),
    # which is small beside the shift's entries: summed with its errors kept.
    shift_total = 0.0
    shift_comp = 0.0
    for j in range(d):
        shift_total, shift_comp = _neumaier(shift_total, shift_comp, shift[j])
    shift_total += shift_comp
    for j in range(d):
        sums[j] = 0.0
    for i in range(n):
        if d <= _FEW_PARTS:
            # Few parts: plain sums in the same loops (the calls and lanes of
            # _row_sum cost more than they save; the second pass mends the mean).
            total = 0.0
            for j in range(d):
                total += block[i, j]
            mean = total / d
            total = 0.0
            for j in range(d):
                v = _less_row_and_shift(block[i, j], mean, shift[j])
                block[i, j] = v
                total += v
        else:
            mean = _row_sum(block, i) / d
            for j in range(d):
                block[i, j] = _less_row_and_shift(block[i, j], mean, shift[j])
            total = _row_sum(block, i)
        widest[0] = max(widest[0], abs(mean))
        fix = (total + shift_total) / d
        for j in range(d):
            v = block[i, j] - fix
            block[i, j] = v
            sums[j] += v


@jit
def _clr_cov(lower, mean, n, ddof, gamma, smallest):
    """The clr covariance from the Gram matrix of shifted clr values.

    ``lower`` holds in its lower triangle ``Y^T Y`` for ``Y = clr(x) - s``
    (BLAS ``syrk`` output, Fortran order: column j is contiguous), ``mean``
    the column means of ``Y``. ``gamma`` receives
    ``(Y^T Y - n m m^T) / (n - ddof)``, both triangles filled: the covariance
    of ``Y``, which is that of the clr values (the shift changes nothing).
    ``_shift_sums`` makes each row of ``Y`` sum to ``-sum(s)`` to the
    rounding of ``Y`` itself, so no double centring follows: it would take
    off the row means of the rounded matrix, which carry the rounding of the
    row's largest entries into its small ones (a variance of 0.4 beside one
    of 144 moved by 43 eps of itself). ``smallest`` receives the smallest
    variation ``T_ij = Gamma_ii + Gamma_jj - 2 Gamma_ij`` over i < j and its
    position (i, j), for the check for proportional parts. One pass replaces
    the mirroring and outer product that numpy would do as separate D x D
    passes.
    """
    d = mean.size
    scale = 1.0 / (n - ddof)
    for j in range(d):
        for i in range(j, d):
            v = (lower[i, j] - n * mean[i] * mean[j]) * scale
            gamma[j, i] = v
            gamma[i, j] = v
    best = math.inf
    best_i = 0
    best_j = 1
    for i in range(d):
        for j in range(i + 1, d):
            t = gamma[i, i] + gamma[j, j] - 2.0 * gamma[i, j]
            if t < best:
                best = t
                best_i = i
                best_j = j
    smallest[0] = best
    smallest[1] = best_i
    smallest[2] = best_j


_TILE = 64  # rows and columns of a tile of D x D matrices: read and mirrored in cache


@jit
def _precision(inverse, shift, out, correlations):
    """``out`` = ``inverse - shift``, or its partial correlations, from LAPACK ``potri``.

    ``inverse`` holds the inverse of ``Gamma + J/D`` in its lower triangle
    (Fortran order, column j contiguous); subtracting ``shift = 1/D`` gives
    the precision ``Omega = Gamma^+`` (Erb 2020), both triangles filled.
    With ``correlations``, ``out`` receives instead ``rho_ij = -Omega_ij /
    sqrt(Omega_ii Omega_jj)`` (numpy's ``(Omega_ij * -s_i) * s_j`` with
    ``s = 1 / sqrt(diag(Omega))``), clipped to [-1, 1], with a unit
    diagonal, so the precision matrix itself is never stored. One pass over
    64 x 64 tiles, each read and written while in cache, instead of numpy's
    tril, transpose, add, subtract and scalings. ``out`` may be ``inverse``
    itself: each lower entry is read once, before it and its mirror are
    written (the scales come from the diagonal first).
    """
    d = out.shape[0]
    scale = np.ones(d)
    if correlations:
        for i in range(d):
            scale[i] = 1.0 / math.sqrt(inverse[i, i] - shift)
    for jb in range(0, d, _TILE):
        for ib in range(jb, d, _TILE):
            for j in range(jb, min(jb + _TILE, d)):
                for i in range(max(ib, j), min(ib + _TILE, d)):
                    v = inverse[i, j] - shift
                    if correlations:
                        v = (v * -scale[i]) * scale[j]
                        if v > 1.0:
                            v = 1.0
                        elif v < -1.0:
                            v = -1.0
                    out[j, i] = v
                    out[i, j] = v
    if correlations:
        for i in range(d):
            out[i, i] = 1.0
