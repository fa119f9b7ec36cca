"""Kernels of the log-ratio transforms, their inverses and closure.

Closure, clr, Helmert and pivot ilr (and inverses), the log-ratios of two
parts, the inverse clr, and multiplicative zero replacement.
"""

from __future__ import annotations

import math

import numpy as np

from coda._kernels._jit import jit, jit_reassoc


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
