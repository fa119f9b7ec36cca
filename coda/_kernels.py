"""numba kernels: contiguous arrays in, arrays out; no validation, no pandas.

Every kernel is compiled through :data:`jit` (one set of flags for the
package) and is called by exactly one public wrapper with the same stem, which
validates, converts with ``np.ascontiguousarray`` and shapes the result. Each
kernel has a plain numpy twin in ``tests/naive.py``.

The kernels work on a block of rows that fits in cache, in place or into an
``out`` array the caller allocated: the wrappers hand them blocks in parallel
threads (the kernels release the GIL), after numpy's vectorised ``log`` has
filled the block, because a scalar ``log`` in a numba loop is slower than
numpy's SIMD one.
"""

from __future__ import annotations

import math

import numba

# error_model="numpy": division by zero gives inf/nan as in numpy instead of
# raising, and lets loops vectorise. No fastmath: inputs may hold NaN and inf.
jit = numba.njit(cache=True, nogil=True, error_model="numpy")


@jit
def _closure(x, out, rowcheck):
    """Divide each row of ``x`` by its sum, into ``out``.

    The row is first scaled by a power of two (exact) that brings its largest
    entry near 1, so that totals near the float limits neither overflow nor
    lose precision in subnormals. The sum is compensated (Neumaier).
    ``rowcheck`` receives the scaled row total, or NaN when the row has a
    negative entry: a row is valid exactly when its check is finite and > 0.
    """
    n, d = x.shape
    for i in range(n):
        big = 0.0
        low = 0.0
        for j in range(d):
            v = x[i, j]
            if v < low:
                low = v
            if abs(v) > big:
                big = abs(v)
        if big == 0.0 or not math.isfinite(big):
            scale = 1.0
        else:
            scale = math.ldexp(1.0, -math.frexp(big)[1])
        total = 0.0
        comp = 0.0
        for j in range(d):
            v = x[i, j] * scale
            t = total + v
            if abs(total) >= abs(v):
                comp += (total - t) + v
            else:
                comp += (v - t) + total
            total = t
        total += comp
        rowcheck[i] = total if low >= 0.0 else math.nan
        for j in range(d):
            out[i, j] = (x[i, j] * scale) / total


@jit
def _clr(logs, rowsum):
    """Centre each row of ``logs`` in place; store each row's sum of logs.

    A non-finite ``rowsum`` flags a row whose input had a zero, a negative or
    a non-finite value, so callers can validate after the fact at no cost.
    """
    n, d = logs.shape
    for i in range(n):
        total = 0.0
        for j in range(d):
            total += logs[i, j]
        rowsum[i] = total
        mean = total / d
        for j in range(d):
            logs[i, j] -= mean


@jit
def _ilr_helmert(logs, out, rowsum):
    """Helmert ilr coordinates from the logs of each row.

    Coordinate j (0-based) is ``sqrt(i/(i+1)) * (mean(l[:i]) - l[i])`` with
    ``i = j + 1``: a running sum, so O(D) per row instead of a D x D product.
    """
    n, d = logs.shape
    for i in range(n):
        running = logs[i, 0]
        for j in range(d - 1):
            k = j + 1
            out[i, j] = math.sqrt(k / (k + 1.0)) * (running / k - logs[i, k])
            running += logs[i, k]
        rowsum[i] = running


@jit
def _ilr_pivot(logs, out, rowsum):
    """Pivot coordinates: ``sqrt((D-j-1)/(D-j)) * (l[j] - mean(l[j+1:]))``."""
    n, d = logs.shape
    for i in range(n):
        suffix = 0.0
        for j in range(d - 1, 0, -1):
            suffix += logs[i, j]
            m = d - j  # parts after the pivot j - 1
            out[i, j - 1] = math.sqrt(m / (m + 1.0)) * (logs[i, j - 1] - suffix / m)
        rowsum[i] = suffix + logs[i, 0]


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
def _clr_inv(z, out):
    """``closure(exp(z))`` row by row, shifted by the row maximum first."""
    n, d = z.shape
    for i in range(n):
        top = -math.inf
        for j in range(d):
            if z[i, j] > top:
                top = z[i, j]
        total = 0.0
        for j in range(d):
            e = math.exp(z[i, j] - top)
            out[i, j] = e
            total += e
        for j in range(d):
            out[i, j] /= total
