"""Kernels of TIES-Merging at scope="tensor": top-k cuts, trimming and the sign election."""

from __future__ import annotations

import numpy as np

from coda._kernels._jit import jit
from coda._kernels._wide import _elected, _finite, _vote

# ---------------------------------------------------------------------------
# TIES-Merging, scope="tensor": top-k selection by radix counts, trimming and
# the sign election (the fused merge that uses them is in ``_merging``). The
# inputs are flat float32 arrays: the base theta_0 and a tuple of the T
# fine-tuned tensors (``diff`` True: tau_t = theta_t - theta_0, rounded in
# float32 as numpy does), or the T task vectors themselves (``diff`` False,
# ``base`` then unused). They are only read, so read-only memory maps serve.
# The entries go CHUNK at a time through a small (T, CHUNK) buffer that stays
# in L1, with one loop per task over the chunk (contiguous, branch-free, so
# LLVM vectorises it) instead of one loop over tasks per entry. For |tau| the
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
def _elect(buf, m, by_count, sigma):
    """Part of the TIES kernels: ``sigma[:m]`` = the elected signs of ``m`` entries of hat tau_t.

    ``buf[t, :m]`` holds hat tau_t; the election sums over t = 0, 1, ... of
    hat tau_t (or with ``by_count`` of its sign), from +0.0 as numpy's
    reduction over axis 0 starts (so -0.0 sums to +0.0), in float32; sigma
    = +1 where the sum is >= 0, else -1 (mergekit). Where the float32 sum
    overflows, its float64 sum decides (``_elected``).
    """
    _vote_sums(buf, m, by_count, sigma)
    _signs(buf, m, by_count, sigma)


@jit
def _vote_sums(buf, m, by_count, sums):
    """Part of ``_elect``: ``sums[:m]`` = the float32 election sums of ``buf[:, :m]``."""
    zero = np.float32(0.0)
    for t in range(buf.shape[0]):
        row = buf[t]
        if t == 0:
            for i in range(m):
                sums[i] = zero + _vote(row[i], by_count)
        else:
            for i in range(m):
                sums[i] = sums[i] + _vote(row[i], by_count)


@jit
def _signs(buf, m, by_count, sums):
    """Part of ``_elect``: the sums of ``_vote_sums`` become signs, +1 where >= 0, else -1.

    Where a sum is not finite (an overflow: rare), the chunk's signs are
    taken again entry by entry by ``_elected``.
    """
    zero = np.float32(0.0)
    overflowed = 0
    for i in range(m):
        overflowed += not _finite(sums[i])
        sums[i] = np.float32(1.0) if sums[i] >= zero else np.float32(-1.0)
    if overflowed:
        for i in range(m):
            sums[i] = _elected(buf, i, by_count)


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
            for j in range(m):
                kept[t, lo + j] = mask[t, j]
                weighted[t, lo + j] = buf[t, j]


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
def _kth_smallest(values, rank):
    """The value of 0-based ``rank`` in ascending order of ``values``; reorders ``values``.

    ``np.partition(values, rank)[rank]`` for finite values (NaN unsupported),
    by Hoare's selection with a median-of-three pivot. Both scans stop at
    entries equal to the pivot and swap them, so runs of ties split in
    half rather than degrade to quadratic time. numba's own ``np.partition``
    gives the same values but its compilation (it checks ``kth`` with
    ``np.unique``, which compiles a sort) took about 6 s of a first merge.
    """
    lo, hi = 0, values.size - 1
    while lo < hi:
        a, b, c = values[lo], values[(lo + hi) // 2], values[hi]
        pivot = max(min(a, b), min(max(a, b), c))
        i, j = lo, hi
        while i <= j:
            while values[i] < pivot:
                i += 1
            while values[j] > pivot:
                j -= 1
            if i <= j:
                values[i], values[j] = values[j], values[i]
                i += 1
                j -= 1
        # values[lo:j + 1] <= pivot <= values[i:hi + 1]; anything between equals it.
        if rank <= j:
            hi = j
        elif rank >= i:
            lo = i
        else:
            return values[rank]
    return values[rank]


@jit
def _boundary_cuts(held, positions, lows, highs, ranks, n, cuts, stops):
    """Per task, the exact cut of its top k from the deferred entries alone.

    ``positions`` (ascending) holds every entry with some task's |tau_t|
    between that task's bounds, ``lows[t]`` <= |tau_t| and not >= ``highs[t]``,
    so it holds all of task t's entries there, and ``held[t, j]`` the tau_t
    of entry ``positions[j]``; ``ranks[t]`` is the rank (from the top, 1
    for the largest) of the k-th largest |tau_t| among them, 0 when
    everything is kept (``_top_k_bounds``' bounds (inf, 0)). The k-th
    largest |tau_t| is ``cuts[t]`` = h, by selection (:func:`_kth_smallest`)
    among the task's deferred entries, and entry i is kept when
    |tau_t,i| > h, or equals it and ``i < stops[t]`` (the first entries
    equal to h in index order, as many as k needs; ``n`` when it needs them
    all). Rank 0 gives h = ``highs[t]``, 0, and stop n.
    """
    found = np.empty(positions.size, dtype=np.float32)
    where = np.empty(positions.size, dtype=np.int64)
    scratch = np.empty(positions.size, dtype=np.float32)
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
        for j in range(size):
            scratch[j] = found[j]
        cut = _kth_smallest(scratch[:size], rank)
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
