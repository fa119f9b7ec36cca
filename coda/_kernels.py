"""numba kernels: contiguous arrays in, arrays out; no validation, no pandas.

Every kernel is compiled through :data:`jit` (one set of flags for the
package; the one helper that sums in vector lanes, ``_lane_sum``, through
:data:`jit_reassoc`, which adds only "reassoc") and is called by exactly one
public wrapper with the same stem, which validates, converts with
``np.ascontiguousarray`` and shapes the result. Each kernel has a plain numpy
twin in ``tests/naive.py``.

The kernels work on a block of rows that fits in cache, in place or into an
``out`` array the caller allocated: the wrappers hand them blocks in parallel
threads (the kernels release the GIL), after numpy's vectorised ``log`` has
filled the block, because a scalar ``log`` in a numba loop is slower than
numpy's SIMD one.
"""

from __future__ import annotations

import math

import numba
import numpy as np

# error_model="numpy": division by zero gives inf/nan as in numpy instead of
# raising, and lets loops vectorise. No fastmath: inputs may hold NaN and inf.
jit = numba.njit(cache=True, nogil=True, error_model="numpy")

# The one fast-math flag set: "reassoc" alone, so that LLVM may sum a loop in
# several vector lanes (a plain loop of additions is one chain it must keep in
# order). NaN and inf still propagate; nothing assumes finite values.
jit_reassoc = numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})


@jit
def _closure(x, out, rowcheck):
    """Divide each row of ``x`` by its sum, into ``out``.

    The row is first scaled by a power of two (exact) that brings its largest
    entry near 1, so that totals near the float limits neither overflow nor
    lose precision in subnormals. The sum is compensated (Neumaier).
    ``rowcheck`` receives the scaled row total, or NaN when the row has a
    negative entry: a row is valid exactly when its check is finite and > 0.
    Rows go four at a time (see the note above ``_row_sum``).
    """
    n, d = x.shape
    for i in range(0, n, 4):
        i1, i2, i3 = min(i + 1, n - 1), min(i + 2, n - 1), min(i + 3, n - 1)
        b0 = b1 = b2 = b3 = 0.0
        w0 = w1 = w2 = w3 = 0.0
        for j in range(d):
            b0, w0 = _extremes(b0, w0, x[i, j])
            b1, w1 = _extremes(b1, w1, x[i1, j])
            b2, w2 = _extremes(b2, w2, x[i2, j])
            b3, w3 = _extremes(b3, w3, x[i3, j])
        s0, s1, s2, s3 = _pow2_scale(b0), _pow2_scale(b1), _pow2_scale(b2), _pow2_scale(b3)
        t0 = t1 = t2 = t3 = 0.0
        c0 = c1 = c2 = c3 = 0.0
        for j in range(d):
            t0, c0 = _neumaier(t0, c0, x[i, j] * s0)
            t1, c1 = _neumaier(t1, c1, x[i1, j] * s1)
            t2, c2 = _neumaier(t2, c2, x[i2, j] * s2)
            t3, c3 = _neumaier(t3, c3, x[i3, j] * s3)
        scales = (s0, s1, s2, s3)
        totals = (t0 + c0, t1 + c1, t2 + c2, t3 + c3)
        lows = (w0, w1, w2, w3)
        for g in range(min(4, n - i)):
            scale, total = scales[g], totals[g]
            rowcheck[i + g] = total if lows[g] >= 0.0 else math.nan
            for j in range(d):
                out[i + g, j] = (x[i + g, j] * scale) / total


@jit
def _extremes(big, low, v):
    """Part of ``_closure``: update a row's largest ``|v|`` and smallest ``v`` (NaN skipped)."""
    if v < low:
        low = v
    if abs(v) > big:
        big = abs(v)
    return big, low


@jit
def _pow2_scale(big):
    """Part of ``_closure``: the power of two that brings ``big`` into [0.5, 1).

    For subnormal ``big`` that power would be above 2**1023 and overflow, so it
    is capped there: the scaled row is then a normal float below 0.5, still
    exact and far from both ends of the range.
    """
    if big == 0.0 or not math.isfinite(big):
        return 1.0
    return math.ldexp(1.0, min(-math.frexp(big)[1], 1023))


@jit
def _neumaier(total, comp, v):
    """Part of ``_closure`` and ``_row_sum``: ``total + v``, the lost bits added to ``comp``."""
    t = total + v
    if abs(total) >= abs(v):
        comp += (total - t) + v
    else:
        comp += (v - t) + total
    return t, comp


# _clr, _ilr_helmert and _ilr_pivot work on logs centred on each row's mean,
# as numpy and scikit-bio do: the mean comes from _row_sum, whose error is
# about one rounding of the total. Running sums of raw logs (as before) were
# off by about sqrt(D) roundings of |log x| (D at worst), which is large beside
# the coordinates of a nearly constant row: Helmert coordinates of percentages
# near 50 were off by 600 times eps times the row's largest coordinate at
# D=100, 1,750 at D=1000 (tests/test_transform_accuracy.py; now under 1).
#
# _ilr_helmert and _ilr_pivot take rows four at a time. A row's running sum
# is a chain of dependent additions, each waiting for the last; four rows'
# chains are independent, so the processor overlaps them. Each row is still
# summed in one fixed order, so results are bit for bit those of a one-row
# loop. When n is not a multiple of four, the last group repeats row n - 1
# (reading it again and writing the same sums); _ilr_pivot finishes only the
# distinct rows, _ilr_helmert writes the repeated row's coordinates again
# (the same values).

_SUM_CHUNK = 256  # values per vector-lane sum in _row_sum


@jit_reassoc
def _lane_sum(logs, i, start, stop):
    """Part of ``_row_sum``: ``logs[i, start:stop]`` summed in vector lanes.

    With "reassoc" LLVM keeps several partial sums (four vectors of four on
    the AVX-512 machine of the benchmarks) and adds them at the end, much as
    numpy's pairwise sum does in blocks of 128: faster than one chain, and
    each partial sum holds few values. The lanes depend on the processor, so
    the last bit of a sum may differ between machines (never between runs
    or thread counts on one machine).
    """
    total = 0.0
    for j in range(start, stop):
        total += logs[i, j]
    return total


@jit
def _row_sum(logs, i):
    """Part of ``_clr``, ``_ilr_helmert`` and ``_ilr_pivot``: the sum of row ``i``.

    In float64 whatever the dtype. Chunks of ``_SUM_CHUNK`` values are summed
    in vector lanes (``_lane_sum``) and the chunk sums added with the error of
    each addition kept (``_neumaier``), so the error stays near one rounding of the
    total for any number of parts. A NaN or an infinity in the row makes the
    sum non-finite (inf - inf is NaN), which is how callers flag bad rows.
    """
    d = logs.shape[1]
    total = _lane_sum(logs, i, 0, min(d, _SUM_CHUNK))
    comp = 0.0
    for start in range(_SUM_CHUNK, d, _SUM_CHUNK):
        total, comp = _neumaier(total, comp, _lane_sum(logs, i, start, min(d, start + _SUM_CHUNK)))
    return total + comp


@jit
def _clr(logs, rowsum):
    """Centre each row of ``logs`` in place; store each row's sum of logs.

    A non-finite ``rowsum`` flags a row whose input had a zero, a negative or
    a non-finite value, so callers can validate after the fact at no cost.
    """
    n, d = logs.shape
    for i in range(n):
        total = _row_sum(logs, i)
        rowsum[i] = total
        mean = total / d
        for j in range(d):
            logs[i, j] -= mean


@jit
def _helmert_scales(d):
    """Part of ``_ilr_helmert`` and ``_ilr_cov_of_gamma``: ``(a, c)`` of the running sums.

    ``c[j] = sqrt(k/(k+1))`` and ``a[j] = c[j] / k`` with ``k = j + 1``.
    """
    a = np.empty(d - 1)
    c = np.empty(d - 1)
    for j in range(d - 1):
        k = j + 1
        c[j] = math.sqrt(k / (k + 1.0))
        a[j] = c[j] / k
    return a, c


@jit
def _pivot_scales(d):
    """Part of ``_ilr_pivot`` and ``_ilr_cov_of_gamma``: ``sqrt(m/(m+1))``, ``m = D - j - 1``."""
    coef = np.empty(d - 1)
    for j in range(d - 1):
        m = d - j - 1
        coef[j] = math.sqrt(m / (m + 1.0))
    return coef


@jit
def _ilr_helmert(logs, out, rowsum):
    """Helmert ilr coordinates from the logs of each row.

    Coordinate j (0-based) is ``sqrt(k/(k+1)) * (mean(l[:k]) - l[k])`` with
    ``k = j + 1``, written ``a[j] * sum(l[:k]) - c[j] * l[k]`` with
    ``c[j] = sqrt(k/(k+1))`` and ``a[j] = c[j] / k`` computed once per call:
    a running sum (in float64), so O(D) per row instead of a D x D product,
    and each coordinate is made as the sum reaches it, in one pass over the
    logs. The logs enter centred on the row's mean (``l - mean(l)`` changes
    no coordinate, and keeps the running sum as small as the coordinates).
    """
    n, d = logs.shape
    a, c = _helmert_scales(d)
    for i in range(0, n, 4):
        i1, i2, i3 = min(i + 1, n - 1), min(i + 2, n - 1), min(i + 3, n - 1)
        t0, t1 = _row_sum(logs, i), _row_sum(logs, i1)
        t2, t3 = _row_sum(logs, i2), _row_sum(logs, i3)
        m0, m1, m2, m3 = t0 / d, t1 / d, t2 / d, t3 / d
        # Sums in float64 whatever the logs' dtype: float32 sums drift with D.
        s0, s1 = 0.0 + (logs[i, 0] - m0), 0.0 + (logs[i1, 0] - m1)
        s2, s3 = 0.0 + (logs[i2, 0] - m2), 0.0 + (logs[i3, 0] - m3)
        for j in range(d - 1):
            aj, cj = a[j], c[j]
            l0, l1 = logs[i, j + 1] - m0, logs[i1, j + 1] - m1
            l2, l3 = logs[i2, j + 1] - m2, logs[i3, j + 1] - m3
            out[i, j] = aj * s0 - cj * l0
            out[i1, j] = aj * s1 - cj * l1
            out[i2, j] = aj * s2 - cj * l2
            out[i3, j] = aj * s3 - cj * l3
            s0 += l0
            s1 += l1
            s2 += l2
            s3 += l3
        rowsum[i], rowsum[i1], rowsum[i2], rowsum[i3] = t0, t1, t2, t3


@jit
def _ilr_pivot(logs, out, rowsum):
    """Pivot coordinates: ``sqrt((D-j-1)/(D-j)) * (l[j] - mean(l[j+1:]))``.

    The logs enter centred on the row's mean, as in ``_ilr_helmert``. Suffix
    sums, accumulated from the right in float64, go into a small scratch
    array first; a second, vectorised pass makes the coordinates.
    """
    n, d = logs.shape
    coef = _pivot_scales(d)
    suffix = np.empty((4, d))
    means = np.empty(4)
    for i in range(0, n, 4):
        i1, i2, i3 = min(i + 1, n - 1), min(i + 2, n - 1), min(i + 3, n - 1)
        t0, t1 = _row_sum(logs, i), _row_sum(logs, i1)
        t2, t3 = _row_sum(logs, i2), _row_sum(logs, i3)
        m0, m1, m2, m3 = t0 / d, t1 / d, t2 / d, t3 / d
        s0 = s1 = s2 = s3 = 0.0
        for j in range(d - 1, 0, -1):
            s0 += logs[i, j] - m0
            s1 += logs[i1, j] - m1
            s2 += logs[i2, j] - m2
            s3 += logs[i3, j] - m3
            suffix[0, j - 1], suffix[1, j - 1], suffix[2, j - 1], suffix[3, j - 1] = s0, s1, s2, s3
        rowsum[i], rowsum[i1], rowsum[i2], rowsum[i3] = t0, t1, t2, t3
        means[0], means[1], means[2], means[3] = m0, m1, m2, m3
        for g in range(min(4, n - i)):
            mean = means[g]
            for j in range(d - 1):
                out[i + g, j] = coef[j] * ((logs[i + g, j] - mean) - suffix[g, j] / (d - j - 1))


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
def _ilr_helmert_inv(z, out):
    """clr coordinates from Helmert ilr coordinates: ``out = V z`` in O(D)."""
    n, d1 = z.shape
    for i in range(n):
        tail = 0.0
        for k in range(d1, -1, -1):
            # clr_k = sum_{j >= k} c_j z_j / (j+1) - c_{k-1} z_{k-1}
            if k < d1:
                c = math.sqrt((k + 1.0) / (k + 2.0))
                tail += c * z[i, k] / (k + 1.0)
            value = tail
            if k > 0:
                value -= math.sqrt(k / (k + 1.0)) * z[i, k - 1]
            out[i, k] = value


@jit
def _ilr_pivot_inv(z, out):
    """clr coordinates from pivot coordinates: ``out = V z`` in O(D)."""
    n, d1 = z.shape
    d = d1 + 1
    for i in range(n):
        head = 0.0
        for k in range(d):
            # clr_k = c_k z_k - sum_{j < k} c_j z_j / (D - j - 1)
            value = -head
            if k < d1:
                m = d - k - 1
                c = math.sqrt(m / (m + 1.0))
                value += c * z[i, k]
                head += c * z[i, k] / m
            out[i, k] = value


@jit
def _log_ratios(a, b, out, finish):
    """One of the two steps of ``log(a / b)``, around numpy's ``log1p`` of ``out``.

    ``a`` and ``b`` broadcast against ``out`` (n, d) as numpy does: a
    dimension of length 1 stands for all. The first step (``finish`` False)
    writes ``(hi - lo) / lo``, ``hi`` and ``lo`` the larger and the smaller of
    the two: ``hi - lo`` is exact within a factor of 2 (Sterbenz) and one
    rounding beyond it, so its ``log1p`` is ``|log(a / b)|`` to a few
    roundings of itself, where ``log(a) - log(b)`` keeps little more than the
    rounding of the logs for close ``a`` and ``b``. The second step puts the
    sign back, and where the ratio overflowed (inf) puts ``log(a) - log(b)``:
    beyond the float range the logs are too far apart to cancel.
    """
    n, d = out.shape
    for i in range(n):
        ai = i if a.shape[0] > 1 else 0
        bi = i if b.shape[0] > 1 else 0
        for j in range(d):
            x = a[ai, j if a.shape[1] > 1 else 0]
            y = b[bi, j if b.shape[1] > 1 else 0]
            if not finish:
                hi, lo = max(x, y), min(x, y)
                out[i, j] = (hi - lo) / lo
                continue
            v = out[i, j]
            if v == math.inf:
                v = abs(math.log(x) - math.log(y))
            out[i, j] = -v if x < y else v


@jit
def _clr_inv(z, out):
    """``closure(exp(z))`` row by row, shifted by the row maximum first.

    The exponentials are summed by ``_row_sum``: one chain of additions (as
    before) was off by up to 13 eps at D=3000 for a nearly constant row, where
    every term is near 1 (tests/test_geometry_accuracy.py; now under 1).
    """
    n, d = z.shape
    for i in range(n):
        top = -math.inf
        for j in range(d):
            if z[i, j] > top:
                top = z[i, j]
        for j in range(d):
            out[i, j] = math.exp(z[i, j] - top)
        total = _row_sum(out, i)
        for j in range(d):
            out[i, j] /= total


# Row totals outside these bounds are summed again after scaling
# (_replace_zeros_multiplicative): 2**-960 and 2**960 leave room for
# delta / total and the sum of a row of up to 2**60 entries.
_TINY_TOTAL = 2.0**-960
_HUGE_TOTAL = 2.0**960


@jit
def _unscale(scale):
    """Part of ``_replace_zeros_multiplicative``: powers of two whose product is 1 / ``scale``.

    ``scale`` is a power of two; so are both factors, each small enough to be
    finite (1 / scale itself overflows for scale = 2**-1024).
    """
    if scale == 1.0:
        return 1.0, 1.0
    e = math.frexp(scale)[1] - 1
    return math.ldexp(1.0, -(e // 2)), math.ldexp(1.0, -(e - e // 2))


@jit
def _replace_zeros_multiplicative(x, delta, relative, close, out, factor, nzeros):
    """Multiplicative zero replacement, one fused pass over each row.

    Martin-Fernandez, Barcelo-Vidal and Pawlowsky-Glahn (2003): a zero in
    part j becomes ``delta[j]`` (times the row total when ``relative``);
    every non-zero part is multiplied by ``1 - (sum of replacements) / total``,
    so the row keeps its total and its ratios among non-zero parts. With
    ``close`` the row is divided by its total as well.
    ``factor[i]`` receives that multiplier, or NaN when the row holds a
    negative, NaN or infinite value (a NaN or inf makes the total non-finite);
    ``nzeros[i]`` counts the row's zeros.

    A row whose total overflows or is near the subnormal range is summed
    again after scaling by the power of two of ``_closure`` (exact), and the
    same formulas run on the scaled row; other rows (scale 1) are untouched.
    """
    n, d = x.shape
    for i in range(n):
        total = 0.0
        added = 0.0
        count = 0
        low = 0.0
        for j in range(d):
            v = x[i, j]
            # Multiplying by the 0/1 test instead of branching on it: zeros
            # fall at random, and mispredicted branches cost 4x the pass.
            is_zero = v == 0.0
            added += delta[j] * is_zero
            count += is_zero
            low = min(low, v)
            total += v
        scale = 1.0
        if not _TINY_TOTAL < total < _HUGE_TOTAL:
            big = 0.0
            for j in range(d):
                big = max(big, x[i, j])
            scale = _pow2_scale(big)
            total = 0.0
            for j in range(d):
                total += x[i, j] * scale
        unit = total if relative else scale
        f = 1.0 - added * unit / total
        factor[i] = f if (low >= 0.0 and math.isfinite(total)) else math.nan
        nzeros[i] = count
        if close:
            norm = 1.0 / total
            keep = f * norm
            fill = unit * norm
            for j in range(d):
                v = x[i, j]
                out[i, j] = delta[j] * fill if v == 0.0 else (v * scale) * keep
        else:
            # A replaced zero is delta * unit / scale, unscaled in two exact
            # steps: 1 / scale alone overflows for the rows of largest totals.
            up1, up2 = _unscale(scale)
            fill = unit * up1
            for j in range(d):
                v = x[i, j]
                out[i, j] = (delta[j] * fill) * up2 if v == 0.0 else v * f


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
    resamples forms them: ``coda.inference._resample_sums``). For each b:
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


# ---------------------------------------------------------------------------
# TIES-Merging, scope="tensor": top-k selection by radix counts and the fused
# merge. The inputs are flat float32 arrays: the base theta_0 and a tuple of
# the T fine-tuned tensors (``diff`` True: tau_t = theta_t - theta_0, rounded
# in float32 as numpy does), or the T task vectors themselves (``diff`` False,
# ``base`` then unused). They are only read, so read-only memory maps serve.
# The entries go CHUNK at a time through a small (T, CHUNK) buffer that stays
# in L1, with one loop per task over the chunk (contiguous, branch-free, so
# LLVM vectorises it) instead of one loop over tasks per entry; for up to
# four tasks, ``_tensor_update_few`` keeps every task in registers instead,
# written out for four slots (a loop over a tuple of arrays per entry does
# not vectorise). For |tau| the
# float32 bit patterns (uint32 view, sign bit cleared) order like the values,
# NaN excluded: the histograms count bit patterns, the merge compares values.

_TIES_CHUNK = 2048


@jit
def _fill_tau(base, model, diff, lo, hi, row):
    """Part of the TIES kernels: tau of entries ``lo:hi`` into ``row[: hi - lo]``."""
    src = model[lo:hi]
    if diff:
        start = base[lo:hi]
        for i in range(hi - lo):
            row[i] = src[i] - start[i]
    else:
        for i in range(hi - lo):
            row[i] = src[i]


@jit
def _top_k_counts(base, models, diff, prefix, start, stop, counts):
    """Add to ``counts[t]`` a histogram of |tau_t| bit patterns over entries ``start:stop``.

    ``prefix[t] < 0``: of the upper 16 bits (at most 0x7FFF, the sign bit
    being cleared; from 0x7F80 on they are inf or NaN); else of the lower 16
    bits of the entries whose upper 16 bits equal ``prefix[t]``, which are
    first gathered (a branch on the match lets LLVM load a random bin for
    every entry).
    """
    n_tasks = len(models)
    buf = np.empty((n_tasks, _TIES_CHUNK), dtype=np.float32)
    bits = buf.view(np.uint32)
    found = np.empty(_TIES_CHUNK, dtype=np.uint32)
    magnitude = np.uint32(0x7FFFFFFF)
    shift = np.uint32(16)
    low_bits = np.uint32(0xFFFF)
    for lo in range(start, stop, _TIES_CHUNK):
        hi = min(lo + _TIES_CHUNK, stop)
        for t in range(n_tasks):
            _fill_tau(base, models[t], diff, lo, hi, buf[t])
        for t in range(n_tasks):
            row = counts[t]
            word = bits[t]
            if prefix[t] < 0:
                for i in range(hi - lo):
                    row[(word[i] & magnitude) >> shift] += 1
            else:
                p = np.uint32(prefix[t])
                j = 0
                for i in range(hi - lo):
                    b = word[i] & magnitude
                    found[j] = b & low_bits
                    j += (b >> shift) == p
                for i in range(j):
                    row[found[i]] += 1


@jit
def _bin_count(parts, t, b):
    """Part of the top-k kernels: bin ``b`` of task ``t``'s histogram, summed over ``parts``."""
    count = 0
    for part in parts:
        count += part[t, b]
    return count


@jit
def _top_bin(parts, t, rank):
    """The bin of task ``t``'s histogram holding its ``rank``-th largest entry (1-based).

    The histogram is the sum of ``parts[p][t]`` (one (T, bins) part per
    thread that counted), added bin by bin from the top only as far as the
    bin sought. Returns ``(bin, r)``, r the rank of that entry among the
    bin's entries.
    """
    above = 0
    for b in range(parts[0].shape[1] - 1, -1, -1):
        count = _bin_count(parts, t, b)
        if above + count >= rank:
            return b, rank - above
        above += count
    return 0, rank - above


@jit
def _top_k_prefix(parts, k, prefix, ranks):
    """From the upper histograms: the bin of each task's k-th largest |tau|, its rank there.

    ``parts``: the threads' (T, bins) histograms, whose sum is the histogram.
    """
    for t in range(parts[0].shape[0]):
        prefix[t], ranks[t] = _top_bin(parts, t, k)


@jit
def _tie_stop(base, model, diff, cut, need, n):
    """Part of ``_top_k_cuts``: the index after the ``need``-th entry whose |tau| is ``cut``."""
    buf = np.empty(_TIES_CHUNK, dtype=np.float32)
    seen = 0
    for lo in range(0, n, _TIES_CHUNK):
        hi = min(lo + _TIES_CHUNK, n)
        _fill_tau(base, model, diff, lo, hi, buf)
        for i in range(hi - lo):
            if abs(buf[i]) == cut:
                seen += 1
                if seen == need:
                    return lo + i + 1
    return n


@jit
def _top_k_cuts(base, models, diff, low, prefix, ranks, n, cuts, stops):
    """Per task, where the exactly k entries of largest |tau_t| end, ties to the lowest index.

    Radix selection: ``prefix[t]`` is the upper 16 bits of the k-th largest
    |tau_t| and ``ranks[t]`` its rank among the entries with those bits
    (``_top_k_prefix``); ``low`` the threads' histograms of their lower 16
    bits (``_top_k_counts``; task t's is the sum of ``low[p][t]``), which
    gives the bit pattern of the k-th largest,
    the cut h. Entry i of task t is kept when |tau_t,i| > ``cuts[t]`` = h, or
    equals it and ``i < stops[t]``: of the entries equal to h, as many as k
    needs after those above h, the first in index order (no scan when all of
    them are needed).
    """
    cut_bits = cuts.view(np.uint32)
    for t in range(len(models)):
        rest, need = _top_bin(low, t, ranks[t])
        cut_bits[t] = (prefix[t] << 16) | rest
        if need == _bin_count(low, t, rest):
            stops[t] = n
        else:
            stops[t] = _tie_stop(base, models[t], diff, cuts[t], need, n)


@jit
def _vote(h, by_count):
    """Part of the TIES kernels: what hat tau adds to the election (its sign with ``by_count``)."""
    zero = np.float32(0.0)
    return (np.float32(h > zero) - np.float32(h < zero)) if by_count else h


@jit
def _elect(buf, m, by_count, sigma):
    """Part of the TIES kernels: ``sigma[:m]`` = the elected signs of ``m`` entries of hat tau_t.

    ``buf[t, :m]`` holds hat tau_t; the election sums over t = 0, 1, ... of
    hat tau_t (or with ``by_count`` of its sign), from +0.0 as numpy's
    reduction over axis 0 starts (so -0.0 sums to +0.0), in float32; sigma
    = +1 where the sum is >= 0, else -1 (mergekit).
    """
    zero = np.float32(0.0)
    for t in range(buf.shape[0]):
        row = buf[t]
        if t == 0:
            for i in range(m):
                sigma[i] = zero + _vote(row[i], by_count)
        else:
            for i in range(m):
                sigma[i] = sigma[i] + _vote(row[i], by_count)
    for i in range(m):
        sigma[i] = np.float32(1.0) if sigma[i] >= zero else np.float32(-1.0)


@jit
def _decide_chunk(models, first, cuts, stops, weights, by_count, lo, m, kept, weighted, sigma):
    """The TIES decisions of entries ``lo:lo + m`` of task vectors ``models``, into buffers.

    Task t's values of those entries are ``models[t][first:first + m]`` (``first``
    is ``lo`` for whole task vectors, 0 for a chunk buffer). ``kept[t, i]``:
    entry lo + i of task t is kept, |tau_t| > ``cuts[t]`` or equal to it with
    lo + i < ``stops[t]`` (``_top_k_cuts``); ``weighted[t, i]`` = w_t (tau_t
    m_t) in float32; ``sigma[i]`` the elected sign (``_elect``).
    """
    tie = stops - lo
    for t in range(len(models)):
        tau = models[t][first : first + m]
        cut = cuts[t]
        w = weights[t]
        mask = kept[t]
        row = weighted[t]
        for i in range(m):
            v = tau[i]
            a = abs(v)
            keep = (a > cut) | ((a == cut) & (i < tie[t]))
            mask[i] = keep
            row[i] = w * (v * np.float32(keep))
    _elect(weighted, m, by_count, sigma)


@jit
def _tensor_decide(models, cuts, stops, weights, by_count, start, stop, kept, weighted, sigma):
    """The TIES decisions of task vectors ``models`` over entries ``start:stop``.

    ``_decide_chunk`` a chunk at a time, copied out to ``kept`` and
    ``weighted`` (T, n) and ``sigma`` (n,): in one pass, the numpy steps of
    ``coda.merging._rules._decide`` with the same float32 results.
    """
    n_tasks = len(models)
    mask = np.empty((n_tasks, _TIES_CHUNK), dtype=np.bool_)
    buf = np.empty((n_tasks, _TIES_CHUNK), dtype=np.float32)
    for lo in range(start, stop, _TIES_CHUNK):
        m = min(lo + _TIES_CHUNK, stop) - lo
        _decide_chunk(models, lo, cuts, stops, weights, by_count, lo, m, mask, buf, sigma[lo:])
        for t in range(n_tasks):
            kept[t, lo : lo + m] = mask[t, :m]
            weighted[t, lo : lo + m] = buf[t, :m]


@jit
def _elect_merge(buf, m, weights, by_count, merge, normalize, scratch, values):
    """Part of the TIES merge kernels: elect and merge ``m`` entries of hat tau_t.

    ``buf[t, :m]`` holds hat tau_t = w_t (tau_t m_t) (m_t the 0/1 trim mask
    as float32: a trimmed entry is a signed zero); ``values[:m]`` receives
    tau_m, with numpy's float32 operations in the same order
    (``coda.merging._rules``), so the result is bit for bit numpy's. The
    election sums over t = 0, 1, ... of hat tau_t (or with ``by_count`` of
    its sign), from +0.0 as numpy's reduction over axis 0 starts (so -0.0
    sums to +0.0); sigma = +1 where the sum is >= 0, else -1; a_t = 1 where
    hat tau_t has the sign sigma (zeros never), else 0; the merge sums
    hat tau_t a_t over t. ``merge`` 0: mean (with ``normalize`` divided by
    sum_t a_t w_t, plus 1 where that is 0), 1: sum, 2: max (sigma times the
    largest |hat tau_t a_t|; NaN if one is, as numpy's max: an overflowed
    tau_t = +-inf that disagrees gives inf * 0). ``scratch`` is a (3, CHUNK)
    float32 buffer; ``buf`` is overwritten.
    """
    n_tasks = buf.shape[0]
    zero = np.float32(0.0)
    votes = scratch[0]
    acc = scratch[1]
    divisor = scratch[2]
    _elect(buf, m, by_count, votes)
    # Row t becomes hat tau_t a_t, merged as it comes.
    for t in range(n_tasks):
        row = buf[t]
        w = weights[t]
        if t == 0:
            for i in range(m):
                v = row[i]
                agree = np.float32((votes[i] > zero) & (v > zero) | (votes[i] < zero) & (v < zero))
                row[i] = v * agree
                acc[i] = zero + row[i]
                divisor[i] = zero + agree * w
        else:
            for i in range(m):
                v = row[i]
                agree = np.float32((votes[i] > zero) & (v > zero) | (votes[i] < zero) & (v < zero))
                row[i] = v * agree
                acc[i] = acc[i] + row[i]
                divisor[i] = divisor[i] + agree * w
    if merge == 2:
        # acc becomes the largest |hat tau_t a_t|.
        first = buf[0]
        for i in range(m):
            acc[i] = abs(first[i])
        for t in range(1, n_tasks):
            row = buf[t]
            for i in range(m):
                acc[i] = np.maximum(acc[i], abs(row[i]))
        for i in range(m):
            values[i] = acc[i] * votes[i]
    elif merge == 0 and normalize:
        for i in range(m):
            values[i] = acc[i] / (divisor[i] + np.float32(divisor[i] == zero))
    else:
        for i in range(m):
            values[i] = acc[i]


@jit
def _put_merged(base, add, lam, lo, m, values, out):
    """Part of the TIES merge kernels: ``out[lo:lo + m]`` = theta_0 + lam tau_m, or tau_m.

    With ``add``, ``base`` is theta_0 and the sum is numpy's
    ``theta_0 + lam * tau_m`` in float32 (product rounded, then the sum).
    """
    target = out[lo : lo + m]
    if add:
        start = base[lo : lo + m]
        for i in range(m):
            target[i] = start[i] + lam * values[i]
    else:
        for i in range(m):
            target[i] = values[i]


@jit
def _tensor_update(
    base,
    models,
    diff,
    weights,
    lows,
    highs,
    by_count,
    merge,
    normalize,
    lam,
    add,
    start,
    stop,
    out,
    deferred,
    held,
):
    """The merge of entries ``start:stop`` into ``out``, deferring the boundary entries.

    Trim by bounds of |tau_t| around its k-th largest value, ``lows[t]`` <=
    it < ``highs[t]`` (``coda.merging._rules._top_k_bounds``): entry i of
    task t is kept when |tau_t,i| >= ``highs[t]`` and dropped when it is
    below ``lows[t]``. Those entries are decided exactly as by the k-th
    largest value itself, so each is merged here (``_elect_merge``) and
    written (``_put_merged``). An entry with some task's |tau_t| between
    that task's bounds needs the exact cut and, for ties, the index: its
    position goes to ``deferred`` (ascending, from index 0: the buffers are
    the block's own) and its output, written
    here with the entry trimmed for that task, is rewritten later by
    ``_tensor_update_at`` with the exact cuts of ``_boundary_cuts``; its
    tau_t go to ``held[t]`` and its theta_0 to ``held[T]``, at the same
    place as the position, so that those kernels read them in order instead
    of gathering them from the tensors (which missed the cache once per
    entry and task). Returns the number of deferred positions. This replaces
    a second pass over the whole tensor with work on the few entries
    between the bounds.
    """
    n_tasks = len(models)
    buf = np.empty((n_tasks, _TIES_CHUNK), dtype=np.float32)
    scratch = np.empty((3, _TIES_CHUNK), dtype=np.float32)
    values = np.empty(_TIES_CHUNK, dtype=np.float32)
    pending = np.empty(_TIES_CHUNK, dtype=np.uint8)
    count = 0
    for lo in range(start, stop, _TIES_CHUNK):
        hi = min(lo + _TIES_CHUNK, stop)
        m = hi - lo
        pending[:m] = 0
        for t in range(n_tasks):
            row = buf[t]
            model = models[t][lo:hi]
            theta0 = base[lo:hi]
            low, high, w = lows[t], highs[t], weights[t]
            # tau is formed in the loop that trims it (no separate fill pass).
            for i in range(m):
                row[i], _, q = _trim_one(model, theta0, diff, i, low, high, w)
                pending[i] |= np.uint8(q)
        _elect_merge(buf, m, weights, by_count, merge, normalize, scratch, values)
        _put_merged(base, add, lam, lo, m, values, out)
        count = _hold_pending(base, models, diff, lo, m, pending, count, deferred, held)
    return count


@jit
def _hold_pending(base, models, diff, lo, m, pending, count, deferred, held):
    """Part of the tensor-scope merge kernels: ``_hold`` each entry ``lo + i`` with ``pending[i]``.

    ``count`` entries are held already; returns the new count. Few entries
    are deferred, so the flags are looked at eight at a time.
    """
    whole = m - m % 8
    flags = pending[:whole].view(np.uint64)
    for j in range(flags.size):
        if flags[j]:
            for i in range(8 * j, 8 * j + 8):
                if pending[i]:
                    _hold(base, models, diff, lo + i, count, deferred, held)
                    count += 1
    for i in range(whole, m):
        if pending[i]:
            _hold(base, models, diff, lo + i, count, deferred, held)
            count += 1
    return count


@jit
def _trim_one(model, base, diff, p, low, high, w):
    """Part of the tensor-scope merge kernels: ``(hat tau, kept, pending)`` of entry ``p``.

    For one task: kept where |tau| >= ``high``; hat tau = w (tau m) in
    float32, m = 1 where kept; pending where ``low`` <= |tau| and not kept.
    tau = ``model[p]`` - ``base[p]`` with ``diff``, else ``model[p]``.
    """
    v = model[p] - base[p] if diff else model[p]
    a = abs(v)
    keep = a >= high
    return w * (v * np.float32(keep)), keep, (a >= low) & ~keep


@jit
def _tensor_update_few(
    base,
    models,
    diff,
    weights,
    lows,
    highs,
    by_count,
    merge,
    normalize,
    lam,
    add,
    start,
    stop,
    out,
    deferred,
    held,
):
    """``_tensor_update`` for at most four tasks, one entry at a time with every task in registers.

    The same arguments, result and deferred entries as ``_tensor_update``,
    bit for bit: the same float32 operations in the same order, written
    for four task slots so that LLVM vectorises the loop over entries
    (1.8 times as fast as ``_tensor_update``'s passes over a (T, CHUNK)
    buffer for three tasks with the data in cache; the merge's whole second
    pass took 15-25% less time). Slots past the last task repeat
    it, and what they would add to the sums is selected away (a select on a
    loop-invariant flag, so the loop stays branch-free).
    """
    n_tasks = len(models)
    zero = np.float32(0.0)
    j1, j2, j3 = min(1, n_tasks - 1), min(2, n_tasks - 1), min(3, n_tasks - 1)
    m0, m1, m2, m3 = models[0], models[j1], models[j2], models[j3]
    l0, l1, l2, l3 = lows[0], lows[j1], lows[j2], lows[j3]
    h0, h1, h2, h3 = highs[0], highs[j1], highs[j2], highs[j3]
    w0, w1, w2, w3 = weights[0], weights[j1], weights[j2], weights[j3]
    r1, r2, r3 = n_tasks > 1, n_tasks > 2, n_tasks > 3
    biggest = merge == 2
    divide = merge == 0 and normalize
    pending = np.empty(_TIES_CHUNK, dtype=np.uint8)
    count = 0
    for lo in range(start, stop, _TIES_CHUNK):
        m = min(lo + _TIES_CHUNK, stop) - lo
        target = out[lo : lo + m]
        start0 = base[lo : lo + m]
        c0, c1, c2, c3 = m0[lo : lo + m], m1[lo : lo + m], m2[lo : lo + m], m3[lo : lo + m]
        for i in range(m):
            x0, _, q0 = _trim_one(c0, start0, diff, i, l0, h0, w0)
            x1, _, q1 = _trim_one(c1, start0, diff, i, l1, h1, w1)
            x2, _, q2 = _trim_one(c2, start0, diff, i, l2, h2, w2)
            x3, _, q3 = _trim_one(c3, start0, diff, i, l3, h3, w3)
            pending[i] = np.uint8(q0 | (q1 & r1) | (q2 & r2) | (q3 & r3))
            s = zero + _vote(x0, by_count)
            s = s + _vote(x1, by_count) if r1 else s
            s = s + _vote(x2, by_count) if r2 else s
            s = s + _vote(x3, by_count) if r3 else s
            positive = s >= zero
            g0 = np.float32((positive & (x0 > zero)) | (~positive & (x0 < zero)))
            g1 = np.float32((positive & (x1 > zero)) | (~positive & (x1 < zero)))
            g2 = np.float32((positive & (x2 > zero)) | (~positive & (x2 < zero)))
            g3 = np.float32((positive & (x3 > zero)) | (~positive & (x3 < zero)))
            k0, k1, k2, k3 = x0 * g0, x1 * g1, x2 * g2, x3 * g3
            acc = zero + k0
            acc = acc + k1 if r1 else acc
            acc = acc + k2 if r2 else acc
            acc = acc + k3 if r3 else acc
            if biggest:
                big = abs(k0)
                big = np.maximum(big, abs(k1)) if r1 else big
                big = np.maximum(big, abs(k2)) if r2 else big
                big = np.maximum(big, abs(k3)) if r3 else big
                # sigma |hat tau a|, as numpy's product by +-1 gives it on x86: a NaN
                # keeps its sign (LLVM would fold the product into a negation).
                value = big if positive | (big != big) else -big
            elif divide:
                divisor = zero + g0 * w0
                divisor = divisor + g1 * w1 if r1 else divisor
                divisor = divisor + g2 * w2 if r2 else divisor
                divisor = divisor + g3 * w3 if r3 else divisor
                value = acc / (divisor + np.float32(divisor == zero))
            else:
                value = acc
            target[i] = start0[i] + lam * value if add else value
        count = _hold_pending(base, models, diff, lo, m, pending, count, deferred, held)
    return count


@jit
def _hold(base, models, diff, p, slot, deferred, held):
    """Part of ``_tensor_update``: entry ``p`` deferred, its tau_t and theta_0 kept at ``slot``."""
    deferred[slot] = p
    for t in range(len(models)):
        held[t, slot] = models[t][p] - base[p] if diff else models[t][p]
    held[len(models), slot] = base[p]


@jit
def _boundary_cuts(held, positions, lows, highs, ranks, n, cuts, stops):
    """Per task, the exact cut of its top k from the deferred entries alone.

    ``positions`` (ascending) holds every entry with some task's |tau_t|
    between that task's bounds, ``lows[t]`` <= |tau_t| and not >= ``highs[t]``,
    so it holds all of task t's entries there, and ``held[t, j]`` the tau_t
    of entry ``positions[j]``; ``ranks[t]`` is the rank (from the top, 1
    for the largest) of the k-th largest |tau_t| among them, 0 when
    everything is kept (``_top_k_bounds``' bounds (inf, 0)). The k-th
    largest |tau_t| is ``cuts[t]`` = h, by selection (``np.partition``)
    among the task's deferred entries, and entry i is kept when
    |tau_t,i| > h, or equals it and ``i < stops[t]`` (the first entries
    equal to h in index order, as many as k needs; ``n`` when it needs them
    all). Rank 0 gives h = ``highs[t]``, 0, and stop n.
    """
    found = np.empty(positions.size, dtype=np.float32)
    where = np.empty(positions.size, dtype=np.int64)
    for t in range(ranks.size):
        stops[t] = n
        if ranks[t] == 0:
            cuts[t] = highs[t]
            continue
        low, high = lows[t], highs[t]
        size = 0
        for j in range(positions.size):
            a = abs(held[t, j])
            if (a >= low) & ~(a >= high):
                found[size] = a
                where[size] = positions[j]
                size += 1
        rank = size - ranks[t]
        cut = np.partition(found[:size], rank)[rank]
        cuts[t] = cut
        above = 0
        equal = 0
        for j in range(size):
            above += found[j] > cut
            equal += found[j] == cut
        need = ranks[t] - above
        if need != equal:
            seen = 0
            for j in range(size):
                if found[j] == cut:
                    seen += 1
                    if seen == need:
                        stops[t] = where[j] + 1
                        break


@jit
def _tensor_update_at(
    held, weights, cuts, stops, by_count, merge, normalize, lam, add, positions, out
):
    """The merge at ``positions`` with the exact cuts, rewriting what ``_tensor_update`` wrote.

    ``held`` holds the entries' tau_t and theta_0 (``_hold``). Entry i of
    task t is kept when |tau_t,i| > ``cuts[t]``, or equals it and
    ``i < stops[t]`` (``_boundary_cuts``); then the same election and merge.
    """
    n_tasks = held.shape[0] - 1
    mask = np.empty((n_tasks, _TIES_CHUNK), dtype=np.bool_)
    buf = np.empty((n_tasks, _TIES_CHUNK), dtype=np.float32)
    scratch = np.empty((3, _TIES_CHUNK), dtype=np.float32)
    values = np.empty(_TIES_CHUNK, dtype=np.float32)
    for lo in range(0, positions.size, _TIES_CHUNK):
        hi = min(lo + _TIES_CHUNK, positions.size)
        m = hi - lo
        _decide_at(held, positions, lo, m, cuts, stops, weights, mask, buf)
        _elect_merge(buf, m, weights, by_count, merge, normalize, scratch, values)
        start = held[n_tasks]
        for i in range(m):
            p = positions[lo + i]
            out[p] = start[lo + i] + lam * values[i] if add else values[i]


@jit
def _decide_at(held, positions, lo, m, cuts, stops, weights, kept, weighted):
    """Part of the kernels of deferred entries: the trim of entries ``lo:lo + m`` of a list.

    Entry j is at ``positions[j]`` and its tau_t is ``held[t, j]``; it is kept
    when |tau_t| > ``cuts[t]``, or equals it with its position before
    ``stops[t]`` (``_boundary_cuts``). ``kept[t, :m]`` receives the masks and
    ``weighted[t, :m]`` w_t (tau_t m_t) in float32.
    """
    for t in range(cuts.size):
        tau = held[t]
        cut = cuts[t]
        tie = stops[t]
        w = weights[t]
        mask = kept[t]
        row = weighted[t]
        for i in range(m):
            v = tau[lo + i]
            a = abs(v)
            keep = (a > cut) | ((a == cut) & (positions[lo + i] < tie))
            mask[i] = keep
            row[i] = w * (v * np.float32(keep))


_FACTS_CHUNK = 2048


@jit
def _lanes_sum(x, m):
    """Part of ``_merge_facts``: the sum of ``x[:m]`` in sixteen interleaved float64 lanes.

    Independent additions hide the latency of each (sixteen measured 30%
    faster than four); the order is fixed, so the result is too: lane l
    adds x[l], x[l + 16], ... in turn, the tail goes to lane 0, and the
    lanes are added pairwise.
    """
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = 0.0
    b0 = b1 = b2 = b3 = b4 = b5 = b6 = b7 = 0.0
    j = 0
    while j + 16 <= m:
        a0 += x[j]
        a1 += x[j + 1]
        a2 += x[j + 2]
        a3 += x[j + 3]
        a4 += x[j + 4]
        a5 += x[j + 5]
        a6 += x[j + 6]
        a7 += x[j + 7]
        b0 += x[j + 8]
        b1 += x[j + 9]
        b2 += x[j + 10]
        b3 += x[j + 11]
        b4 += x[j + 12]
        b5 += x[j + 13]
        b6 += x[j + 14]
        b7 += x[j + 15]
        j += 16
    while j < m:
        a0 += x[j]
        j += 1
    return _lanes_total(a0, a1, a2, a3, a4, a5, a6, a7, b0, b1, b2, b3, b4, b5, b6, b7)


@jit
def _lanes_total(a0, a1, a2, a3, a4, a5, a6, a7, b0, b1, b2, b3, b4, b5, b6, b7):
    """Part of ``_lanes_sum`` and ``_fate_sums``: the total of sixteen lanes.

    Lanes l = 0..15 are ``a0..a7`` then ``b0..b7``, added pairwise, lane l
    with lane l + 8 first.
    """
    return (((a0 + b0) + (a1 + b1)) + ((a2 + b2) + (a3 + b3))) + (
        ((a4 + b4) + (a5 + b5)) + ((a6 + b6) + (a7 + b7))
    )


@jit
def _fate_sums(tau_t, kept_t, hat_t, sigma_c, pending, m, fate_t):
    """Part of ``_facts_chunk``: task t's |tau_t| over ``m`` entries into its three fates.

    ``fate_t[0]`` += the |tau_t| trimmed, ``fate_t[1]`` += agreeing with the
    elected sign, ``fate_t[2]`` += kept but not agreeing; entries with
    ``pending`` set add +0.0. Each part is summed in sixteen float64 lanes
    exactly as :func:`_lanes_sum` sums a stored array (lane l takes entries
    l, l + 16, ...; the tail goes to lane 0), so the sums are the same bit
    for bit, but in one pass over the entries for the three parts instead
    of storing each part and summing it in a pass of its own: 8.4 against
    10.5 ms per 1,000,000 entries of three tasks for ``_facts_chunk``
    (one thread, data in cache).
    """
    lanes = np.zeros((3, 16))
    whole = m - m % 16
    for start in range(0, whole, 16):
        for lane in range(16):
            _fate_add(tau_t, kept_t, hat_t, sigma_c, pending, start + lane, lanes, lane)
    for j in range(whole, m):
        _fate_add(tau_t, kept_t, hat_t, sigma_c, pending, j, lanes, 0)
    for q in range(3):
        x = lanes[q]
        fate_t[q] += _lanes_total(
            x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7],
            x[8], x[9], x[10], x[11], x[12], x[13], x[14], x[15],
        )  # fmt: skip


@jit
def _fate_add(tau_t, kept_t, hat_t, sigma_c, pending, j, lanes, lane):
    """Part of ``_fate_sums``: entry ``j``'s |tau_t| added to its fate in ``lane``."""
    zero = np.float32(0.0)
    v = hat_t[j]
    positive = sigma_c[j] > zero
    agree = (positive & (v > zero)) | (~positive & (v < zero))
    keep = kept_t[j]
    # 1.0 or 0.0: a pending entry adds +0.0, which leaves a sum as it is.
    a = np.float64(abs(tau_t[j])) * np.float64(pending[j] == 0)
    lanes[0, lane] += a * (not keep)
    lanes[1, lane] += a * agree
    lanes[2, lane] += a * (keep & ~agree)


@jit
def _facts_scratch(n_tasks):
    """Part of the facts kernels: the chunk buffers, allocated once per call.

    ``(work, chunk)``: ``_facts_chunk``'s work buffers, and the chunk's
    ``(kept, weighted, sigma, tau, pending)``.
    """
    c = _FACTS_CHUNK
    ints = np.empty((2, c), dtype=np.int32)  # base-3 code, number of agreeing tasks
    singles = np.empty((4, c), dtype=np.float32)  # acc, divisor, largest, merged value
    doubles = np.empty((3, c), dtype=np.float64)  # total, scale, a task's owned parts
    shares = np.empty((n_tasks, c), dtype=np.float32)
    chunk = (
        np.empty((n_tasks, c), dtype=np.bool_),
        np.empty((n_tasks, c), dtype=np.float32),
        np.empty(c, dtype=np.float32),
        np.empty((n_tasks, c), dtype=np.float32),
        np.zeros(c, dtype=np.uint8),
    )
    return (ints, singles, doubles, shares), chunk


@jit
def _facts_chunk(tau_c, kept_c, hat_c, sigma_c, pending, m, weights, merge, ternary, work, out):
    """Part of the facts kernels: the statistics of one chunk of ``m`` decided entries.

    ``tau_c``, ``kept_c``, ``hat_c`` (T, CHUNK) and ``sigma_c`` hold the
    entries' task vectors and decisions; entries with ``pending`` set are
    left out of every sum and count (their decisions are not final yet; see
    ``_merge_facts``). Adds to ``out = (counts, fate, owned)`` and leaves
    tau_m of the chunk in the fourth row of the float32 work buffer, which
    it returns. ``work`` is ``_facts_scratch``'s.
    """
    counts, fate, owned = out
    ints, singles, doubles, shares = work
    code, count = ints[0], ints[1]
    acc, divisor, largest, values = singles[0], singles[1], singles[2], singles[3]
    total, scale, owned_t = doubles[0], doubles[1], doubles[2]
    n_tasks = tau_c.shape[0]
    zero = np.float32(0.0)
    for j in range(m):
        code[j] = 0
        acc[j] = zero
        divisor[j] = zero
        largest[j] = zero
        count[j] = 0
        total[j] = 0.0
    power = 1
    for t in range(n_tasks):
        tau_t = tau_c[t]
        kept_t = kept_c[t]
        hat_t = hat_c[t]
        share_t = shares[t]
        w = weights[t]
        for j in range(m):
            tau = tau_t[j]
            v = hat_t[j]
            positive = sigma_c[j] > zero
            agree = (positive & (v > zero)) | (~positive & (v < zero))
            keep = kept_t[j]
            code[j] += np.int32(power * keep * ((tau > zero) + 2 * (tau < zero)))
            selected = v * np.float32(agree)
            acc[j] = acc[j] + selected
            divisor[j] = divisor[j] + np.float32(agree) * w
            largest[j] = np.maximum(largest[j], abs(selected))
            count[j] += np.int32(agree)
            share_t[j] = abs(selected)
        _fate_sums(tau_t, kept_t, hat_t, sigma_c, pending, m, fate[t])
        power *= 3
    for t in range(n_tasks):
        share_t = shares[t]
        for j in range(m):
            total[j] += np.float64(share_t[j])
    for j in range(m):
        if merge == 0:
            value = acc[j] / (divisor[j] + np.float32(divisor[j] == zero))
        elif merge == 2:
            value = largest[j] * sigma_c[j]
        elif merge == 3:
            value = acc[j] / np.float32(max(count[j], 1))
        else:
            value = acc[j]
        values[j] = value
        share = np.float64(abs(value)) / total[j] if total[j] > 0.0 else 0.0
        scale[j] = share * np.float64(pending[j] == 0)
    if ternary:
        for j in range(m):
            counts[code[j]] += np.int64(pending[j] == 0)
    for t in range(n_tasks):
        share_t = shares[t]
        for j in range(m):
            owned_t[j] = np.float64(share_t[j]) * scale[j]
        owned[t] += _lanes_sum(owned_t, m)
    return values


@jit
def _decide_by_bounds(tau_c, lows, highs, weights, by_count, m, kept_c, hat_c, sigma_c, pending):
    """Part of ``_merge_facts``: decisions of a chunk by the bounds of |tau_t| alone.

    As ``_tensor_update`` trims: kept where |tau_t| >= ``highs[t]``, trimmed
    where below ``lows[t]``; ``pending[i]`` set where it lies between them
    for some task, whose decision needs the exact cut (such an entry is
    decided here as trimmed for that task, and left out by ``_facts_chunk``).
    """
    pending[:m] = 0
    for t in range(tau_c.shape[0]):
        tau = tau_c[t]
        mask = kept_c[t]
        row = hat_c[t]
        low, high, w = lows[t], highs[t], weights[t]
        for i in range(m):
            row[i], mask[i], q = _trim_one(tau, tau, False, i, low, high, w)
            pending[i] |= np.uint8(q)
    _elect(hat_c, m, by_count, sigma_c)


@jit
def _merge_facts(
    base,
    taus,
    diff,
    kept,
    weighted,
    sigma,
    weights,
    merge,
    ternary,
    start,
    stop,
    counts,
    merged,
    fate,
    owned,
    decide,
    lows,
    highs,
    by_count,
    deferred,
    held,
):
    """The per-tensor quantities of the merge statistics over entries ``start:stop``.

    Inputs are the T task vectors (``diff`` False: ``taus``) or the base
    theta_0 and the T fine-tuned tensors (``diff`` True: ``base`` and
    ``taus``, tau_t = theta_t - theta_0 formed chunk by chunk in float32, as
    numpy's subtraction rounds it, and never stored whole), and the TIES
    decisions of one tensor
    (``coda.merging._rules._decisions``): trim masks ``kept`` and trimmed,
    weighted values hat tau_t (``weighted``), both (T, n), and the elected
    signs ``sigma``. With ``decide`` these are not read (pass empty arrays):
    each chunk's decisions of ``scope="tensor"`` are made here instead from
    the bounds ``lows`` and ``highs`` of each task's k-th largest |tau_t|
    (``_decide_by_bounds``, with ``by_count`` for ``elect="count"``), so
    they never go to memory; the few entries with some task's |tau_t|
    between its bounds are left out of every sum and count, their positions written to
    ``deferred`` (ascending, from index 0) and their tau_t to ``held[t]`` at the
    same places, and their number returned, for
    ``_merge_facts_at`` once the exact cuts are known, as the merge does
    (``_tensor_update``). a_t = 1 where hat tau_t has the sign + (sigma > 0)
    or - (otherwise), zeros never. Per entry:

    - with ``ternary``, ``counts[c]`` += 1 for the entry's base-3 code
      c = sum_t 3^t s_t, s_t = 1 where task t keeps a positive value, 2 a
      negative one, else 0 (the joint sign histogram);
    - ``merged[i]`` (unless ``merged`` is empty: then tau_m is only used for
      ``owned``): tau_m with numpy's float32 operations in numpy's order,
      as ``ties_merge``: the sum over t = 0, 1, ... of hat tau_t a_t, started
      from +0.0 as numpy's sums are; for ``merge`` 0 divided by
      sum_t a_t w_t (plus 1 where that is 0), 1 left as the sum, 2 replaced
      by sigma times the largest |hat tau_t a_t| (NaN if one is, as numpy's
      max), 3 divided by the number of agreeing tasks (at least 1);
    - ``fate[t]`` += |tau_t| where trimmed, agreeing, or kept and not agreeing;
    - ``owned[t]`` += |hat tau_t| a_t |tau_m| / sum_s |hat tau_s| a_s where
      that sum is > 0.

    Entries are taken a chunk at a time, task by task within it, so each
    task's arrays are read contiguously, with branch-free arithmetic (masks
    and signs are random: branches would mispredict). The float64 sums of
    ``fate`` and ``owned`` are per chunk (:func:`_lanes_sum`), then over
    chunks in order.
    """
    n_tasks = len(taus)
    work, (kept_c, hat_c, sigma_c, tau_c, pending) = _facts_scratch(n_tasks)
    found = 0
    for lo in range(start, stop, _FACTS_CHUNK):
        m = min(lo + _FACTS_CHUNK, stop) - lo
        for t in range(n_tasks):
            _fill_tau(base, taus[t], diff, lo, lo + m, tau_c[t])
        if decide:
            rule = (lows, highs, weights, by_count, m)
            _decide_by_bounds(tau_c, *rule, kept_c, hat_c, sigma_c, pending)
        else:
            for t in range(n_tasks):
                kept_c[t, :m] = kept[t, lo : lo + m]
                hat_c[t, :m] = weighted[t, lo : lo + m]
            sigma_c[:m] = sigma[lo : lo + m]
        values = _facts_chunk(
            tau_c,
            kept_c,
            hat_c,
            sigma_c,
            pending,
            m,
            weights,
            merge,
            ternary,
            work,
            (counts, fate, owned),
        )
        if merged.size:
            merged[lo : lo + m] = values[:m]
        if decide:
            for j in range(m):
                if pending[j]:
                    deferred[found] = lo + j
                    for t in range(n_tasks):
                        held[t, found] = tau_c[t, j]
                    found += 1
    return found


@jit
def _merge_facts_at(held, positions, cuts, stops, weights, by_count, merge, ternary, merged, out):
    """``_merge_facts`` of the entries at ``positions``, with each task's exact cut.

    For the entries ``_merge_facts`` deferred, whose tau_t it kept in
    ``held[t]``: entry p of task t is kept when |tau_t,p| > ``cuts[t]``, or
    equals it and p < ``stops[t]`` (``_boundary_cuts``); then the same
    election, sums and counts into ``out = (counts, fate, owned)``, and tau_m
    written to ``merged[p]`` unless ``merged`` is empty.
    """
    n_tasks = held.shape[0]
    work, (kept_c, hat_c, sigma_c, tau_c, pending) = _facts_scratch(n_tasks)
    for lo in range(0, positions.size, _FACTS_CHUNK):
        m = min(lo + _FACTS_CHUNK, positions.size) - lo
        tau_c[:, :m] = held[:, lo : lo + m]
        _decide_at(held, positions, lo, m, cuts, stops, weights, kept_c, hat_c)
        _elect(hat_c, m, by_count, sigma_c)
        values = _facts_chunk(
            tau_c, kept_c, hat_c, sigma_c, pending, m, weights, merge, ternary, work, out
        )
        if merged.size:
            for i in range(m):
                merged[positions[lo + i]] = values[i]
