"""Kernels of the merge facts: per-entry statistics of a TIES merge, in one pass."""

from __future__ import annotations

import numpy as np

from coda._kernels._jit import jit
from coda._kernels._ties import (
    _decide_at,
    _elect,
    _fill_tau,
    _trim_one,
)
from coda._kernels._wide import _finite, _wide_value

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
    it returns. ``work`` is ``_facts_scratch``'s. An entry whose float32
    merge sum, divisor or tau_m is not finite (an overflow) is merged again
    in float64 (``_wide_value``), which also gives its |tau_m| for the
    ownership when tau_m itself is beyond float32's range.
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
    overflowed = 0
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
        overflowed += _overflowed(acc[j], divisor[j], value, merge)
    if overflowed:
        for j in range(m):
            if _overflowed(acc[j], divisor[j], values[j], merge):
                wide = _wide_value(hat_c, j, weights, sigma_c[j], merge)
                values[j] = np.float32(wide)
                share = abs(wide) / total[j] if total[j] > 0.0 else 0.0
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
def _overflowed(acc, divisor, value, merge):
    """Part of ``_facts_chunk``: whether an entry's float32 merge overflowed.

    As the merge kernels find it (``_merging._repair``): the merge sum (for
    "max" the largest |hat tau_t a_t|, which is the value's magnitude), the
    divisor of the weighted mean or the value is not finite. (Their
    election sums overflow only with the merge sum, but for "max", whose
    value the float64 merge gives unchanged without theta_0 + lam tau_m.)
    """
    return ~_finite(value) | ((merge != 2) & ~_finite(acc)) | ((merge == 0) & ~_finite(divisor))


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
            # Loops, not slice copies: numba compiles a slice copy's shape
            # check with its message formatting, seconds of a first describe.
            for t in range(n_tasks):
                for j in range(m):
                    kept_c[t, j] = kept[t, lo + j]
                    hat_c[t, j] = weighted[t, lo + j]
            for j in range(m):
                sigma_c[j] = sigma[lo + j]
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
            for j in range(m):
                merged[lo + j] = values[j]
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
        for t in range(n_tasks):
            for j in range(m):
                tau_c[t, j] = held[t, lo + j]
        _decide_at(held, positions, lo, m, cuts, stops, weights, kept_c, hat_c)
        _elect(hat_c, m, by_count, sigma_c)
        values = _facts_chunk(
            tau_c, kept_c, hat_c, sigma_c, pending, m, weights, merge, ternary, work, out
        )
        if merged.size:
            for i in range(m):
                merged[positions[lo + i]] = values[i]
