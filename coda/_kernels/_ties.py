"""Kernels of TIES-Merging at scope="tensor": top-k cuts and the fused merge."""

from __future__ import annotations

import numpy as np

from coda._kernels._jit import jit

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
