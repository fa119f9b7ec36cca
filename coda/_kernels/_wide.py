"""Kernels of the merge's float64 fallback: entries whose float32 arithmetic overflowed.

The merge kernels (``_ties``, ``_facts``) compute in float32 in numpy's
order, so that they match numpy bit for bit. Each task vector is finite in
float32, but a sum over tasks, a quotient by a sum of weights below 1, or
theta_0 + lam tau_m may pass float32's range where the result does not
(two tau of -2e38 sum to -inf, their mean is -2e38). Finite inputs make
inf or NaN only by such an overflow, so the kernels evaluate again here
each entry whose result is not finite (a merge sum that overflows makes
it so; an election sum or divisor that overflows makes it NaN), from the
same float32 hat tau_t widened to float64 (exact), rounding once at the
end. Other entries keep their float32 result, bit for bit; a result
beyond float32's range is still +-inf.
"""

from __future__ import annotations

import numpy as np

from coda._kernels._jit import jit

_LARGEST = np.float32(np.finfo(np.float32).max)


@jit
def _finite(x):
    """Whether the float32 ``x`` is finite (False for inf and NaN, as is every comparison)."""
    return abs(x) <= _LARGEST


@jit
def _vote(h, by_count):
    """Part of the TIES kernels: what hat tau adds to the election (its sign with ``by_count``)."""
    zero = np.float32(0.0)
    return (np.float32(h > zero) - np.float32(h < zero)) if by_count else h


@jit
def _elected(hats, j, by_count):
    """The elected sign of entry ``j`` of hat tau_t (``hats[t, j]``), overflow aside.

    As ``_elect``: the float32 sum over t = 0, 1, ... from +0.0, sigma = +1
    where it is >= 0, else -1; where that sum is not finite (an overflow,
    for finite hat tau_t), the float64 sum of the same votes decides.
    """
    zero = np.float32(0.0)
    total = zero
    for t in range(hats.shape[0]):
        total = total + _vote(hats[t, j], by_count)
    if not _finite(total):
        wide = 0.0
        for t in range(hats.shape[0]):
            wide += np.float64(_vote(hats[t, j], by_count))
        return np.float32(1.0) if wide >= 0.0 else np.float32(-1.0)
    return np.float32(1.0) if total >= zero else np.float32(-1.0)


@jit
def _wide_value(hats, j, weights, sigma, merge):
    """tau_m of entry ``j`` in float64 from ``hats[t, j]`` (hat tau_t) and the sign ``sigma``.

    a_t = 1 where hat tau_t has the sign + (``sigma`` > 0) or - (otherwise),
    zeros never; the sum of hat tau_t a_t over t, for ``merge`` 0 divided
    by sum_t a_t w_t (plus 1 where that is 0), 1 left as the sum, 2
    replaced by sigma times the largest |hat tau_t a_t| (NaN if one is,
    keeping its sign as the float32 product by +-1 does), 3 divided by the
    number of agreeing tasks (at least 1).
    """
    positive = sigma > 0
    total = 0.0
    divisor = 0.0
    largest = 0.0
    count = 0
    for t in range(hats.shape[0]):
        h = np.float64(hats[t, j])
        agree = (positive & (h > 0.0)) | (~positive & (h < 0.0))
        selected = h * agree
        total += selected
        divisor += agree * np.float64(weights[t])
        largest = np.maximum(largest, abs(selected))
        count += agree
    if merge == 0:
        return total / (divisor + (divisor == 0.0))
    if merge == 2:
        return largest if positive | (largest != largest) else -largest
    if merge == 3:
        return total / max(count, 1)
    return total


@jit
def _wide_merge(hats, j, weights, by_count, merge, lam, add, start):
    """Entry ``j``'s merged value in float32, rounded once from float64.

    The sign of :func:`_elected`, tau_m of :func:`_wide_value`, and with
    ``add`` theta_0 + lam tau_m, ``start`` being theta_0.
    """
    value = _wide_value(hats, j, weights, _elected(hats, j, by_count), merge)
    if add:
        return np.float32(np.float64(start) + np.float64(lam) * value)
    return np.float32(value)
