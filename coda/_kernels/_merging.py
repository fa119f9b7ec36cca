"""Kernels of TIES-Merging at scope="tensor": the fused merge and its deferred entries."""

from __future__ import annotations

import numpy as np

from coda._kernels._jit import jit
from coda._kernels._ties import (
    _TIES_CHUNK,
    _decide_at,
    _signs,
    _trim_one,
    _vote,
    _vote_sums,
)
from coda._kernels._wide import _LARGEST, _finite, _wide_merge

# The merge with ``_ties``' trimming and election, on the same flat float32
# inputs, CHUNK entries at a time: ``_tensor_update`` (any number of tasks,
# through a (T, CHUNK) buffer) and ``_tensor_update_few`` (up to four tasks,
# every task in registers, written out for four slots: a loop over a tuple
# of arrays per entry does not vectorise) trim, elect and merge every entry
# whose trim the bounds of each task's k-th largest |tau_t| decide, and defer
# the others to ``_tensor_update_at``. Entries whose float32 arithmetic
# overflows are merged again in float64 (``_wide``).


@jit
def _elect_merge(buf, m, weights, by_count, merge, normalize, scratch, values):
    """Part of the TIES merge kernels: elect and merge ``m`` entries of hat tau_t.

    ``buf[t, :m]`` holds hat tau_t = w_t (tau_t m_t) (m_t the 0/1 trim mask
    as float32: a trimmed entry is a signed zero); ``values[:m]`` receives
    tau_m, with numpy's float32 operations in the same order
    (``coda.merging._rules``), so the result is bit for bit numpy's (the
    entries ``_repair`` merges again aside). The
    election sums over t = 0, 1, ... of hat tau_t (or with ``by_count`` of
    its sign), from +0.0 as numpy's reduction over axis 0 starts (so -0.0
    sums to +0.0); sigma = +1 where the sum is >= 0, else -1; a_t = 1 where
    hat tau_t has the sign sigma (zeros never), else 0; the merge sums
    hat tau_t a_t over t. ``merge`` 0: mean (with ``normalize`` divided by
    sum_t a_t w_t, plus 1 where that is 0), 1: sum, 2: max (sigma times the
    largest |hat tau_t a_t|; NaN if one is, as numpy's max: an overflowed
    tau_t = +-inf that disagrees gives inf * 0). A value is NaN where the
    election sum or, for the weighted mean, the divisor is not finite (an
    overflow that a finite value may hide), so that ``_repair`` merges it
    again. ``scratch`` is a (4, CHUNK) float32 buffer; ``buf`` is
    overwritten.
    """
    n_tasks = buf.shape[0]
    zero = np.float32(0.0)
    votes = scratch[0]
    acc = scratch[1]
    divisor = scratch[2]
    overflowed = scratch[3]
    _vote_sums(buf, m, by_count, votes)
    elected_wide = _not_finite(votes, m)
    if elected_wide:
        for i in range(m):
            overflowed[i] = votes[i]
    _signs(buf, m, by_count, votes)
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
        # Only weights whose |w_t| sum past float32's range can overflow it.
        if np.abs(weights.astype(np.float64)).sum() > _LARGEST and _not_finite(divisor, m):
            for i in range(m):
                values[i] = values[i] if _finite(divisor[i]) else np.float32(np.nan)
    else:
        for i in range(m):
            values[i] = acc[i]
    if elected_wide:
        for i in range(m):
            values[i] = values[i] if _finite(overflowed[i]) else np.float32(np.nan)


@jit
def _not_finite(values, m):
    """Part of the merge kernels: how many of ``values[:m]`` are not finite (one reduction)."""
    count = 0
    for i in range(m):
        count += not _finite(values[i])
    return count


@jit
def _repair(base, models, diff, lows, highs, weights, rule, lo, m, out):
    """Part of the tensor-scope merge kernels: entries whose float32 merge overflowed, again.

    For finite task vectors a result in ``out[lo:lo + m]`` is not finite
    only where float32 overflowed (or where the kernels made it NaN for an
    election sum or a divisor that overflowed): that entry is trimmed by
    the bounds again (``_trim_one``) and merged by ``_wide_merge`` in
    float64; ``rule`` is ``(by_count, code, lam, add)``, ``code`` that of
    ``_merge_code``.
    """
    by_count, code, lam, add = rule
    hats = np.empty((len(models), 1), dtype=np.float32)
    for i in range(m):
        p = lo + i
        if not _finite(out[p]):
            for t in range(len(models)):
                hats[t, 0] = _trim_one(models[t], base, diff, p, lows[t], highs[t], weights[t])[0]
            out[p] = _wide_merge(hats, 0, weights, by_count, code, lam, add, base[p])


@jit
def _merge_code(merge, normalize):
    """The ``merge`` code of ``_wide_value`` for the TIES kernels' ``merge`` and ``normalize``."""
    return 1 if merge == 0 and not normalize else merge


@jit
def _put_merged(base, add, lam, lo, m, values, out):
    """Part of the TIES merge kernels: ``out[lo:lo + m]`` = theta_0 + lam tau_m, or tau_m.

    With ``add``, ``base`` is theta_0 and the sum is numpy's
    ``theta_0 + lam * tau_m`` in float32 (product rounded, then the sum).
    Returns how many of the written values are not finite (``_repair``'s).
    """
    target = out[lo : lo + m]
    count = 0
    if add:
        start = base[lo : lo + m]
        for i in range(m):
            target[i] = start[i] + lam * values[i]
            count += not _finite(target[i])
    else:
        for i in range(m):
            target[i] = values[i]
            count += not _finite(values[i])
    return count


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
    it < ``highs[t]`` (``coda.merging._top_k._top_k_bounds``): entry i of
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
    scratch = np.empty((4, _TIES_CHUNK), dtype=np.float32)
    values = np.empty(_TIES_CHUNK, dtype=np.float32)
    pending = np.empty(_TIES_CHUNK, dtype=np.uint8)
    wide = (by_count, _merge_code(merge, normalize), lam, add)
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
        if _put_merged(base, add, lam, lo, m, values, out):
            _repair(base, models, diff, lows, highs, weights, wide, lo, m, out)
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
    loop-invariant flag, so the loop stays branch-free). As there, a value
    is NaN where the election sum or the divisor overflowed, and entries
    whose result is not finite are merged again after the chunk
    (``_repair``).
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
    wide = (by_count, _merge_code(merge, normalize), lam, add)
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
                value = value if _finite(divisor) else np.float32(np.nan)
            else:
                value = acc
            value = value if _finite(s) else np.float32(np.nan)
            target[i] = start0[i] + lam * value if add else value
            pending[i] = np.uint8(q0 | (q1 & r1) | (q2 & r2) | (q3 & r3))
        if _not_finite(target, m):
            _repair(base, models, diff, lows, highs, weights, wide, lo, m, out)
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
    scratch = np.empty((4, _TIES_CHUNK), dtype=np.float32)
    values = np.empty(_TIES_CHUNK, dtype=np.float32)
    code = _merge_code(merge, normalize)
    start = held[n_tasks]
    for lo in range(0, positions.size, _TIES_CHUNK):
        hi = min(lo + _TIES_CHUNK, positions.size)
        m = hi - lo
        _decide_at(held, positions, lo, m, cuts, stops, weights, mask, buf)
        _elect_merge(buf, m, weights, by_count, merge, normalize, scratch, values)
        for i in range(m):
            values[i] = start[lo + i] + lam * values[i] if add else values[i]
        if _not_finite(values, m):
            # As _repair; _elect_merge overwrote the hat tau_t: decided again.
            _decide_at(held, positions, lo, m, cuts, stops, weights, mask, buf)
            rule = (by_count, code, lam, add)
            for i in range(m):
                if not _finite(values[i]):
                    values[i] = _wide_merge(buf, i, weights, *rule, start[lo + i])
        for i in range(m):
            out[positions[lo + i]] = values[i]
