"""The mechanics of TIES-Merging: trimming, sign election, disjoint merge.

:func:`_decisions` is the one place where entries are trimmed and signs
elected, for both scopes (the paper's global one and mergekit's per-tensor
one); :mod:`coda.merging.ties` merges with it and
:mod:`coda.merging.stats` and :mod:`coda.merging.patterns` describe merges
with it, so the merge and its statistics cannot drift apart.
"""

from __future__ import annotations

import numpy as np


def _top_k_mask(magnitude: np.ndarray, k: int) -> np.ndarray:
    """Mask of exactly ``k`` largest entries of a flat array, ties to the lowest index."""
    n = magnitude.size
    if k >= n:
        return np.ones(n, dtype=bool)
    # np.partition is an O(n) selection: the value at n - k is the k-th largest.
    kth = np.partition(magnitude, n - k)[n - k]
    mask = magnitude > kth
    tied = np.flatnonzero(magnitude == kth)
    mask[tied[: k - np.count_nonzero(mask)]] = True
    return mask


def _global_thresholds(taus: list, keys: list[str], density: float) -> list:
    """Per task h_t, the r-th smallest |tau_t| over all tensors, r = d - floor(d K).

    An exact radix selection over the float32 bit patterns, one tensor at a
    time: for non-negative floats the bit pattern read as uint32 orders like
    the value, so a histogram of the upper 16 bits finds the bin that holds
    rank r and a second one of the lower 16 bits within that bin finds the
    value itself. No concatenation of the model, so memory stays per tensor;
    the result is the same element ``np.partition`` would pick.
    """
    bins = 1 << 16
    high = np.zeros((len(taus), bins), dtype=np.int64)
    for key in keys:
        for t, tau in enumerate(taus):
            bits = np.abs(tau[key]).ravel().view(np.uint32)
            high[t] += np.bincount(bits >> 16, minlength=bins)
    d = int(high[0].sum())
    # ties-merging merge_utils.topk_values_mask: k = d - int(d * K), then
    # kthvalue(k) (1-based) of |M|; K = 1 gives k = 0, where torch raises and
    # coda keeps every entry.
    r = d - int(d * density)
    if r == 0:
        return [np.float32(0.0)] * len(taus)
    counts = np.cumsum(high, axis=1)
    prefix = [int(np.searchsorted(c, r)) for c in counts]
    ranks = [r - (int(c[p - 1]) if p else 0) for c, p in zip(counts, prefix, strict=True)]
    low = np.zeros((len(taus), bins), dtype=np.int64)
    for key in keys:
        for t, tau in enumerate(taus):
            bits = np.abs(tau[key]).ravel().view(np.uint32)
            low[t] += np.bincount(bits[(bits >> 16) == prefix[t]] & 0xFFFF, minlength=bins)
    thresholds = []
    for t in range(len(taus)):
        rest = int(np.searchsorted(np.cumsum(low[t]), ranks[t]))
        thresholds.append(np.uint32((prefix[t] << 16) | rest).view(np.float32))
    return thresholds


def _elect_sums(stack: np.ndarray, elect: str) -> np.ndarray:
    if elect == "mass":
        return stack.sum(axis=0)
    return np.sign(stack).sum(axis=0)


def _agreeing(stack: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """Entries whose sign is + where ``positive`` holds and - elsewhere."""
    # Boolean algebra instead of np.where: masked selection on random masks is
    # branchy and about ten times slower than these element-wise passes.
    return ((stack > 0) & positive) | ((stack < 0) & ~positive)


def _merge_global(trimmed: np.ndarray, sigma: np.ndarray, merge: str) -> np.ndarray:
    # merge_utils.disjoint_merge: where sigma > 0 keep positive entries, else
    # (sigma < 0 or an unresolved 0) keep negative entries.
    agree = _agreeing(trimmed, sigma > 0)
    selected = trimmed * agree
    if merge == "mean":
        count = np.maximum(np.count_nonzero(agree, axis=0), 1).astype(np.float32)
        return selected.sum(axis=0) / count
    if merge == "sum":
        return selected.sum(axis=0)
    return np.abs(selected).max(axis=0) * sigma


def _weigh(taus, key: str, weights: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """The trimmed, weighted task vectors w_t (tau_t * m_t) of one tensor, shape (T, n)."""
    # Filled row by row rather than stacked from a list, so the T rows exist once.
    weighted = np.empty(kept.shape, dtype=np.float32)
    for row, tau, w, m in zip(weighted, taus, weights, kept, strict=True):
        np.multiply(w, tau[key].ravel() * m, out=row)
    return weighted


def _decisions(theta0, taus, density, scope, elect, weights):
    """Yield ``(key, kept, weighted, sigma)`` per tensor: the TIES decisions.

    ``kept`` is each task's trim mask and ``weighted`` its trimmed, weighted
    task vector (both of shape (T, n), flattened); ``sigma`` the elected sign
    (n,) as float32. The one place where trimming and election happen: both
    :func:`ties_merge` and the statistics of :mod:`coda.merging.stats` use it,
    so they cannot drift apart.

    ``scope="global"`` (ties-merging merge_utils): one threshold per task over
    all tensors; sigma is the sign of the elected sum and, where that is 0,
    the model-wide majority sign (resolve_zero_signs), which may itself be 0.
    ``scope="tensor"`` (mergekit): exactly k entries per tensor and task;
    sigma = +1 where the weighted sum is >= 0, else -1.
    """
    if scope == "global":
        keys = sorted(theta0)
        thresholds = _global_thresholds(taus, keys, density)

        def trim(key):
            return np.stack(
                [np.abs(tau[key].ravel()) >= h for tau, h in zip(taus, thresholds, strict=True)]
            )

        # merge_utils.resolve_zero_signs: the model-wide majority of elected signs.
        majority = 0
        for key in keys:
            votes = np.sign(_elect_sums(_weigh(taus, key, weights, trim(key)), elect))
            majority += int(votes.sum(dtype=np.int64))
        majority = np.float32(np.sign(majority))
    else:
        keys = list(theta0)

        def trim(key):
            k = max(1, int(density * theta0[key].size))
            return np.stack([_top_k_mask(np.abs(tau[key].ravel()), k) for tau in taus])

    for key in keys:
        kept = trim(key)
        weighted = _weigh(taus, key, weights, kept)
        sums = _elect_sums(weighted, elect)
        if scope == "global":
            votes = np.sign(sums).astype(np.float32)
            sigma = np.where(votes == 0, majority, votes)
        else:
            # mergekit get_mask: sigma = +1 where the sum is >= 0.
            sigma = np.where(sums >= 0, np.float32(1.0), np.float32(-1.0))
        yield key, kept, weighted, sigma
