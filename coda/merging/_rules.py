"""The mechanics of TIES-Merging: trimming, sign election, disjoint merge.

:func:`_decisions` is the one place where entries are trimmed and signs
elected, for both scopes (the paper's global one and mergekit's per-tensor
one); :mod:`coda.merging.ties` merges with it and
:mod:`coda.merging.stats` and :mod:`coda.merging.patterns` describe merges
with it, so the merge and its statistics cannot drift apart. The global
scope's model-wide quantities (thresholds and majority sign, the "context")
come from :func:`_context_of` and can be handed in, so that one layer or one
tensor is decided as in the whole model.

For ``scope="tensor"`` both run in compiled code (:mod:`coda._kernels`):
the decisions (:func:`_tensor_decisions`) and the merge fused with them
(:func:`_tensor_update`) select the top k by the same radix counts of the
float32 bit patterns and use the same float32 operations in numpy's order,
so the merge is bit for bit that of the numpy merge of the decisions
(``tests/test_kernels.py`` checks both against a numpy twin, and
``tests/test_ties.py`` the two against each other). Entries whose float32
arithmetic overflows (a sum over tasks beyond float32's range where the
result is not) are merged again in float64 and rounded once, by the kernels
(``coda._kernels._wide``) and by the numpy merges here alike.
"""

from __future__ import annotations

import threading

import numpy as np

from coda import _kernels
from coda._parallel import for_row_blocks
from coda.merging._top_k import _BINS, _tensor_cuts, _top_k_bounds

_FEW_TASKS = 4  # the most tasks _kernels._tensor_update_few takes


def _overflowed(values: np.ndarray) -> np.ndarray:
    """Flat positions of the values that are not finite: for finite inputs, overflows.

    One sum clears most arrays; a sum that overflows falls through to the
    exact check.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.sum(values)):
            return np.empty(0, dtype=np.intp)
    return np.flatnonzero(~np.isfinite(values))


def _widened(merged_of, start=None, lam=None) -> np.ndarray:
    """``merged_of(None)`` in float32, or with ``start`` theta_0 + lam * it; overflows redone.

    ``merged_of(bad)`` gives the merge of every entry in float32 (``bad``
    None) or of the flat positions ``bad`` in float64. Every input is finite
    in float32, but a sum over tasks may pass float32's range where the
    result does not (two tau of -2e38, weights 1/2): the entries whose
    float32 result is not finite are computed again in float64 and rounded
    once (a value beyond float32's range becomes +-inf, as float32 gives it).
    """
    with np.errstate(over="ignore", invalid="ignore"):
        result = merged_of(None)
        if start is not None:
            result = start + np.float32(lam) * result
    bad = _overflowed(result)
    if bad.size:
        wide = merged_of(bad)
        if start is not None:
            wide = np.ravel(start)[bad] + np.float64(lam) * wide
        with np.errstate(over="ignore"):
            np.put(result, bad, wide.astype(np.float32))
    return result


def _weighted_sum(vectors: list, weights: np.ndarray, start=None, lam=None, wide=None):
    """sum_t w_t tau_t in float32, or with ``start`` theta_0 + lam * that sum (:func:`_widened`).

    Tasks are added one after another (t = 0, 1, ...) so the float32
    rounding is that of a plain loop, reproducible by any implementation.
    ``wide(t, bad)`` gives task t's entries at the flat positions ``bad`` in
    float64, for vectors made by a float32 step that may itself overflow
    (DARE's rescaling); by default the vectors' own entries.
    """

    def merged_of(bad):
        if bad is not None:
            of = wide or (lambda t, positions: np.ravel(vectors[t])[positions])
            return sum(np.float64(w) * of(t, bad) for t, w in enumerate(weights))
        total = weights[0] * vectors[0]
        for weight, vector in zip(weights[1:], vectors[1:], strict=True):
            total = total + weight * vector
        return total

    return _widened(merged_of, start, lam)


def _read_only(values: np.ndarray) -> np.ndarray:
    # The kernels take the T tensors as one tuple, whose arrays numba must see
    # with one type: read-only views (memory maps or the caller's arrays) are
    # what they are given, never written.
    view = values.view()
    view.flags.writeable = False
    return view


# Each thread's scratch for one block of deferred entries (_deferral_scratch).
_scratch = threading.local()


def _deferral_scratch(n_rows: int, size: int, index_dtype) -> tuple:
    """The calling thread's ``(positions, values)`` scratch for one block of deferred entries.

    ``positions`` holds ``size`` indices and ``values`` is (``n_rows``, ``size``)
    float32, reused from block to block (not zeroed); the kernels fill their
    starts, and the caller copies out what they filled. A block is at most
    4 MB of input (:mod:`coda._parallel`), so this stays small whatever the
    tensor's size.
    """
    if not hasattr(_scratch, "deferral"):
        _scratch.deferral = {}
    key = (n_rows, np.dtype(index_dtype))
    held = _scratch.deferral.get(key)
    if held is None or held[0].size < size:
        held = _scratch.deferral[key] = (
            np.empty(size, dtype=index_dtype),
            np.empty((n_rows, size), dtype=np.float32),
        )
    return held[0][:size], held[1][:, :size]


def _deferred_blocks(found: dict) -> tuple:
    """``(positions, values)`` of every block's deferred entries, in block order, or None."""
    if not any(len(positions) for positions, _ in found.values()):
        return None
    blocks = [found[start] for start in sorted(found)]
    positions = np.concatenate([positions for positions, _ in blocks])
    values = np.concatenate([values for _, values in blocks], axis=1)
    return positions, values


class _Outputs:
    """The float32 arrays a merge writes its tensors into, one call per tensor.

    With ``reuse``, every tensor gets the same array, grown to the largest
    and sliced: only for a consumer that is done with each tensor before it
    asks for the next (the streamed writer of ``out=``), never for one that
    keeps them. A fresh multi-megabyte array per tensor costs a page fault
    per 4 kB page whenever the allocator has handed the last one back to the
    system, which it does as the merge frees each tensor. Without ``reuse``,
    each tensor gets its own array.
    """

    def __init__(self, *, reuse: bool = False):
        self._reuse = reuse
        self._held = np.empty(0, dtype=np.float32)

    def __call__(self, size: int) -> np.ndarray:
        if not self._reuse:
            return np.empty(size, dtype=np.float32)
        if self._held.size < size:
            self._held = np.empty(size, dtype=np.float32)
        return self._held[:size]


def _tensor_update(
    base,
    models: list,
    density: float,
    elect: str,
    merge: str,
    weights,
    normalize,
    check=None,
    lam=None,
    outputs=None,
):
    """The merged task vector tau_m (flat, float32) of one tensor for ``scope="tensor"``.

    ``models`` holds the T fine-tuned tensors and ``base`` theta_0, or, with
    ``base`` None, ``models`` holds the T task vectors; all flat float32, only
    read. The same decisions as :func:`_tensor_decisions` (the top-k
    entries, sigma = +1 where the weighted sum is >= 0) and the
    same float32 result as the numpy merge (entries whose float32 arithmetic
    overflows merged again in float64), in two passes over the inputs
    (:mod:`coda._kernels`): a histogram of the upper 16 bits of the bit
    patterns of |tau_t|, which places each task's k-th largest in one bin
    (:func:`_top_k_bounds`), then one fused pass that trims, weighs, elects
    and merges every entry outside those bins and lists the others, which
    are then settled exactly (``_boundary_cuts``, ``_tensor_update_at``).
    The fused pass is ``_tensor_update_few`` for up to four tasks (every
    task in registers: 15-25% less time for this pass on the benchmark's
    merge of three models) and ``_tensor_update`` beyond. Both
    passes run in blocks of entries spread over threads (the result does
    not depend on the number of threads); the second walks each thread's
    blocks backwards. With ``lam`` (and ``base``), the result is the merged
    tensor theta_0 + lam tau_m itself, in float32 (in float64 where float32
    overflows).

    ``check`` as in :func:`_top_k_bounds`, before anything is merged. A task
    vector that overflows float32 from finite inputs is an inf |tau_t|, so
    ``check`` is called for it too (the merges' checks raise, naming the
    model); without ``check`` it is merged as numpy would. ``outputs`` (an
    :class:`_Outputs`) gives the array the result is written into; by
    default a new one.
    """
    models = tuple(_read_only(m) for m in models)
    diff = base is not None
    base = _read_only(base) if diff else models[0]
    n_tasks, n = len(models), models[0].size
    k = max(1, int(density * n))
    lows, highs, ranks = _top_k_bounds(base, models, diff, k, check)
    weights = np.asarray(weights, dtype=np.float32)
    by_count = elect == "count"
    code = ("mean", "sum", "max").index(merge)
    add = lam is not None and diff
    lam = np.float32(0.0 if lam is None else lam)
    out = (_Outputs() if outputs is None else outputs)(n)
    index = np.int32 if n < 2**31 else np.int64
    found = {}
    rule = (weights, lows, highs, by_count, code, normalize, lam, add)
    kernel = _kernels._tensor_update_few if n_tasks <= _FEW_TASKS else _kernels._tensor_update

    def run(start: int, stop: int) -> None:
        # The block's deferred entries: positions, tau_t and theta_0, as found.
        positions, values = _deferral_scratch(n_tasks + 1, stop - start if k < n else 0, index)
        count = kernel(base, models, diff, *rule, start, stop, out, positions, values)
        found[start] = positions[:count].copy(), values[:, :count].copy()

    # Backwards: the top-k pass just read the tensor front to back, so its
    # last blocks are the likeliest to be still in the cache.
    for_row_blocks(run, n, 4 * (n_tasks + 1), backward=True)
    deferred = _deferred_blocks(found)
    if deferred is not None:
        positions, values = deferred
        _settle(values, positions, ranks, n, rule, out)
    return out


def _settle(held, positions, ranks, n, rule, out) -> tuple:
    """Merge the deferred ``positions`` again with each task's exact cut; return ``(cuts, stops)``.

    ``held`` (T + 1, len(positions)) holds their tau_t and theta_0 as the
    fused kernel kept them. The cuts come from the deferred entries alone
    (``_kernels._boundary_cuts``), and ``_kernels._tensor_update_at``
    rewrites those entries of ``out``; ``rule`` is ``_tensor_update``'s
    ``(weights, lows, highs, by_count, code, normalize, lam, add)``.
    """
    n_tasks = held.shape[0] - 1
    weights, lows, highs, by_count, code, normalize, lam, add = rule
    cuts = np.zeros(n_tasks, dtype=np.float32)
    stops = np.full(n_tasks, n, dtype=np.int64)
    _kernels._boundary_cuts(held, positions, lows, highs, ranks, n, cuts, stops)
    _kernels._tensor_update_at(
        held, weights, cuts, stops, by_count, code, normalize, lam, add, positions, out
    )
    return cuts, stops


def _magnitude_bits(tau: np.ndarray) -> np.ndarray:
    """|tau| as uint32 bit patterns, which order like the non-negative float32 values."""
    return np.abs(tau).ravel().view(np.uint32)


def _high_counts(tensors: list) -> np.ndarray:
    """(T, 2^16) histograms of the upper 16 bits of |tau_t| over one tensor, per task."""
    return np.stack([np.bincount(_magnitude_bits(t) >> 16, minlength=_BINS) for t in tensors])


def _rank_bins(high: np.ndarray, density: float):
    """From the model's summed upper histograms: per task the bin of rank r and the rank in it.

    Returns ``(prefix, ranks)``, or None when r = 0 (every entry is kept).
    """
    d = int(high[0].sum())
    # ties-merging merge_utils.topk_values_mask: k = d - int(d * K), then
    # kthvalue(k) (1-based) of |M|; K = 1 gives k = 0, where torch raises and
    # coda keeps every entry.
    r = d - int(d * density)
    if r == 0:
        return None
    counts = np.cumsum(high, axis=1)
    prefix = [int(np.searchsorted(c, r)) for c in counts]
    ranks = [r - (int(c[p - 1]) if p else 0) for c, p in zip(counts, prefix, strict=True)]
    return prefix, ranks


def _low_counts(tensors: list, prefix: list) -> np.ndarray:
    """(T, 2^16) histograms of the lower 16 bits of |tau_t| within task t's bin ``prefix[t]``."""
    rows = []
    for tau, p in zip(tensors, prefix, strict=True):
        bits = _magnitude_bits(tau)
        rows.append(np.bincount(bits[(bits >> 16) == p] & 0xFFFF, minlength=_BINS))
    return np.stack(rows)


def _thresholds_of(low: np.ndarray, prefix: list, ranks: list) -> list:
    """The thresholds h_t from the model's summed lower histograms."""
    thresholds = []
    for t in range(len(prefix)):
        rest = int(np.searchsorted(np.cumsum(low[t]), ranks[t]))
        thresholds.append(np.uint32((prefix[t] << 16) | rest).view(np.float32))
    return thresholds


def _elect_sums(stack: np.ndarray, elect: str) -> np.ndarray:
    """The election sums over tasks in float32, of which only the signs are used.

    Where a sum overflows float32, it is replaced by the sign of its float64 sum.
    """
    votes = stack if elect == "mass" else np.sign(stack)
    with np.errstate(over="ignore", invalid="ignore"):
        sums = votes.sum(axis=0)
    bad = _overflowed(sums)
    if bad.size:
        sums[bad] = np.sign(votes[:, bad].astype(np.float64).sum(axis=0))
    return sums


def _agreeing(stack: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """Entries whose sign is + where ``positive`` holds and - elsewhere."""
    # Boolean algebra instead of np.where: masked selection on random masks is
    # branchy and about ten times slower than these element-wise passes.
    return ((stack > 0) & positive) | ((stack < 0) & ~positive)


def _disjoint(selected: np.ndarray, sigma: np.ndarray, merge: str, count: np.ndarray):
    """merge_utils.disjoint_merge of the agreeing entries ``selected``, in their dtype."""
    if merge == "mean":
        return selected.sum(axis=0) / count
    if merge == "sum":
        return selected.sum(axis=0)
    return np.abs(selected).max(axis=0) * sigma


def _merge_global(trimmed: np.ndarray, sigma: np.ndarray, merge: str, start=None, lam=None):
    """tau_m of one flat tensor for ``scope="global"``, or with ``start`` theta_0 + lam tau_m.

    In float32; entries whose float32 result overflows are merged again in
    float64 and rounded once (:func:`_widened`).
    """
    # merge_utils.disjoint_merge: where sigma > 0 keep positive entries, else
    # (sigma < 0 or an unresolved 0) keep negative entries.
    agree = _agreeing(trimmed, sigma > 0)
    selected = trimmed * agree
    count = np.maximum(np.count_nonzero(agree, axis=0), 1).astype(np.float32)

    def merged_of(bad):
        if bad is None:
            return _disjoint(selected, sigma, merge, count)
        return _disjoint(selected[:, bad].astype(np.float64), sigma[bad], merge, count[bad])

    return _widened(merged_of, start, lam)


def _weigh(tensors: list, weights: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """The trimmed, weighted task vectors w_t (tau_t * m_t) of one tensor, shape (T, n)."""
    # Filled row by row rather than stacked from a list, so the T rows exist once.
    weighted = np.empty(kept.shape, dtype=np.float32)
    for row, tau, w, m in zip(weighted, tensors, weights, kept, strict=True):
        np.multiply(w, tau.ravel() * m, out=row)
    return weighted


def _trim_global(tensors: list, thresholds: list) -> np.ndarray:
    """Each task's trim mask of one tensor: |tau_t| >= h_t, shape (T, n)."""
    return np.stack([np.abs(tau.ravel()) >= h for tau, h in zip(tensors, thresholds, strict=True)])


def _vote_sum(tensors: list, thresholds: list, elect: str, weights: np.ndarray) -> int:
    """The sum of one tensor's elected signs, its share of the model-wide majority."""
    votes = np.sign(
        _elect_sums(_weigh(tensors, weights, _trim_global(tensors, thresholds)), elect)
    )
    return int(votes.sum(dtype=np.int64))


def _context_of(total, n_tasks: int, density: float, elect: str, weights) -> tuple:
    """``(thresholds, majority)`` of ``scope="global"`` from sums over the model's tensors.

    ``total(func, *args)`` returns the sum over every tensor of
    ``func(tensors, *args)``, ``tensors`` being that tensor's T task vectors:
    a loop here (:func:`_global_context`), or tasks on a dask cluster
    (:mod:`coda.merging._distributed`). Histograms and vote counts are
    integers, so the order of the sum does not change the result.

    h_t is the r-th smallest |tau_t| over all tensors, r = d - floor(d K), by
    an exact radix selection over the float32 bit patterns: for non-negative
    floats the bit pattern read as uint32 orders like the value, so a
    histogram of the upper 16 bits finds the bin that holds rank r and a
    second one of the lower 16 bits within that bin finds the value itself;
    the same element ``np.partition`` of the concatenated model would pick,
    without concatenating it. The majority is the sign of the sum of every
    entry's elected sign (merge_utils.resolve_zero_signs).
    """
    high = total(_high_counts)
    # A model without tensors sums to a plain 0: nothing to trim.
    bins = _rank_bins(high, density) if np.ndim(high) else None
    if bins is None:
        thresholds = [np.float32(0.0)] * n_tasks
    else:
        prefix, ranks = bins
        thresholds = _thresholds_of(total(_low_counts, prefix), prefix, ranks)
    return thresholds, np.float32(np.sign(total(_vote_sum, thresholds, elect, weights)))


def _global_context(taus, keys: list[str], density: float, elect: str, weights) -> tuple:
    """``(thresholds, majority)``: what ``scope="global"`` needs before trimming any tensor.

    Three passes over the tensors, one tensor at a time (two histogram
    passes and one vote pass; see :func:`_context_of`), so memory stays per
    tensor. Given the context, the decisions of each tensor depend on that
    tensor alone.
    """

    def total(func, *args):
        result = 0
        for key in keys:
            result = result + func([tau[key] for tau in taus], *args)
        return result

    return _context_of(total, len(taus), density, elect, weights)


def _decide(tensors: list, density: float, scope: str, elect: str, weights, context):
    """``(kept, weighted, sigma)`` of one tensor; ``context`` as :func:`_global_context`."""
    if scope == "tensor":
        return _tensor_decisions(tensors, density, elect, weights)
    thresholds, majority = context
    kept = _trim_global(tensors, thresholds)
    weighted = _weigh(tensors, weights, kept)
    votes = np.sign(_elect_sums(weighted, elect)).astype(np.float32)
    sigma = np.where(votes == 0, majority, votes)
    return kept, weighted, sigma


def _flat_tensors(tensors: list) -> tuple:
    """The T task vectors of one tensor as a tuple of flat read-only views, for the kernels."""
    return tuple(_read_only(np.ravel(tau)) for tau in tensors)


def _tensor_decisions(tensors: list, density: float, elect: str, weights):
    """``(kept, weighted, sigma)`` of one tensor for ``scope="tensor"`` (mergekit).

    Exactly k = max(1, floor(K n)) entries of largest |tau_t| per task, ties
    to the lowest index (radix selection: ``_kernels._top_k_counts`` twice
    and ``_top_k_cuts``); then one pass
    (``_kernels._tensor_decide``) writes the masks, the trimmed weighted
    task vectors w_t (tau_t m_t) and sigma = +1 where their (weighted, or
    with ``elect="count"`` sign) sum is >= 0, else -1, in float32 as numpy
    computes them, in blocks spread over threads.
    """
    models = _flat_tensors(tensors)
    n_tasks, n = len(models), models[0].size
    cuts, stops = _tensor_cuts(models, density)
    weights = np.asarray(weights, dtype=np.float32)
    kept = np.empty((n_tasks, n), dtype=bool)
    weighted = np.empty((n_tasks, n), dtype=np.float32)
    sigma = np.empty(n, dtype=np.float32)
    by_count = elect == "count"

    def run(start: int, stop: int) -> None:
        _kernels._tensor_decide(
            models, cuts, stops, weights, by_count, start, stop, kept, weighted, sigma
        )

    for_row_blocks(run, n, 9 * n_tasks + 4)
    return kept, weighted, sigma


def _decisions(theta0, taus, density, scope, elect, weights, context=None):
    """Yield ``(key, kept, weighted, sigma)`` per tensor: the TIES decisions.

    ``kept`` is each task's trim mask and ``weighted`` its trimmed, weighted
    task vector (both of shape (T, n), flattened); ``sigma`` the elected sign
    (n,) as float32. The one place where trimming and election happen: both
    :func:`ties_merge` and the statistics of :mod:`coda.merging.stats` use it,
    so they cannot drift apart.

    ``scope="global"`` (ties-merging merge_utils): one threshold per task over
    all tensors; sigma is the sign of the elected sum and, where that is 0,
    the model-wide majority sign (resolve_zero_signs), which may itself be 0.
    Both come from ``context`` (:func:`_global_context`); None computes it
    from ``taus`` first, so handing in the context of a whole model makes the
    decisions of a part of it (a layer, one tensor) those of the whole.
    ``scope="tensor"`` (mergekit): exactly k entries per tensor and task;
    sigma = +1 where the weighted sum is >= 0, else -1; ``context`` is unused.
    """
    if scope == "global":
        keys = sorted(theta0)
        if context is None:
            context = _global_context(taus, keys, density, elect, weights)
    else:
        keys = list(theta0)
    for key in keys:
        yield key, *_decide([tau[key] for tau in taus], density, scope, elect, weights, context)
