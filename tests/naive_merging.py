"""Plain numpy twins of the merge kernels (``coda/_kernels/_ties.py``,
``_merging.py``, ``_wide.py`` and ``_facts.py``), as ``naive.py`` has them for
the other kernels and with the same rules: written from the formula, with
whole-array numpy operations, one section per kernel. ``tests/test_kernels.py``,
``test_ties.py`` and ``test_merge_stats.py`` compare the kernels with them.
"""

from __future__ import annotations

import numpy as np

# ---------------------------------------------------------------------------
# _wide (coda/_kernels/_wide.py) and the numpy merges' fallback: where a
# float32 sum over tasks, divisor or result overflowed, the entry is merged
# again from the float32 hat tau_t widened to float64, rounded once.


def wide_merge(hats, sigma, weights, code, start=None, lam=None):
    """float32 tau_m (or theta_0 + lam tau_m) of the columns of ``hats``, computed in float64.

    ``code``: 0 divided by the agreeing weights (plus 1 where their sum is
    0), 1 the sum, 2 sigma times the largest agreeing |hat tau|, 3 divided
    by the number of agreeing tasks (at least 1).
    """
    hats = np.asarray(hats, dtype=np.float32).astype(np.float64)
    weights = np.asarray(weights, dtype=np.float32).astype(np.float64)
    positive = np.asarray(sigma) > 0
    agree = ((hats > 0) & positive) | ((hats < 0) & ~positive)
    selected = hats * agree
    if code == 2:
        largest = np.abs(selected).max(axis=0)
        value = np.where(positive | np.isnan(largest), largest, -largest)
    else:
        value = selected.sum(axis=0)
        if code == 0:
            divisor = (agree * weights[:, None]).sum(axis=0)
            value = value / (divisor + (divisor == 0))
        elif code == 3:
            value = value / np.maximum(agree.sum(axis=0), 1)
    if start is not None:
        value = np.asarray(start, dtype=np.float64) + np.float64(np.float32(lam)) * value
    with np.errstate(over="ignore"):
        return value.astype(np.float32), value


def election(rows, elect):
    """``(sums, deciding)``: the float32 election sums, row after row, and the sums that decide.

    Where a float32 sum is not finite, the float64 sum of the same votes decides.
    """
    votes = np.stack([row if elect == "mass" else np.sign(row) for row in rows])
    sums = np.zeros_like(votes[0])
    with np.errstate(over="ignore", invalid="ignore"):
        for row in votes:
            sums = sums + row
    return sums, np.where(np.isfinite(sums), sums, votes.astype(np.float64).sum(axis=0))


def signs(deciding):
    """mergekit's sigma: +1 where the election sum is >= 0, else -1."""
    return np.where(deciding >= 0, np.float32(1.0), np.float32(-1.0))


def overflowed(sums, acc, divisor, out, merge, divide):
    """The entries a merge kernel merges again in float64 (``_repair``).

    The kernels make a value NaN where the election sum or the divisor
    overflowed; a merge sum that overflows makes the result inf or NaN.
    """
    bad = ~np.isfinite(sums) | ~np.isfinite(out)
    if merge != "max":
        bad |= ~np.isfinite(acc)
    if divide:
        bad |= ~np.isfinite(divisor)
    return bad


# ---------------------------------------------------------------------------
# ties_merge(scope="global"), coda/merging/ties.py: the paper's code written
# from its description, with a full sort for the threshold and explicit loops
# over tasks (float32, as the original runs).


def _naive_tau(base, model, keys):
    return np.concatenate(
        [
            np.asarray(model[k], dtype=np.float32).ravel()
            - np.asarray(base[k], dtype=np.float32).ravel()
            for k in keys
        ]
    )


def _naive_split(base, keys, flat):
    out, start = {}, 0
    for k in keys:
        size = np.asarray(base[k]).size
        out[k] = flat[start : start + size].reshape(np.shape(base[k]))
        start += size
    return {k: out[k] for k in base}


def ties_global(base, models, density, elect="mass", merge="mean", weights=None, lam=1.0):
    keys = sorted(base)
    weights = np.ones(len(models), np.float32) if weights is None else np.float32(weights)
    rows = []
    for model, w in zip(models, weights, strict=True):
        tau = _naive_tau(base, model, keys)
        d = tau.size
        r = d - int(d * density)
        h = np.sort(np.abs(tau))[r - 1] if r > 0 else np.float32(0.0)
        rows.append(w * np.where(np.abs(tau) >= h, tau, np.float32(0.0)))
    sigma = np.sign(election(rows, elect)[1])
    sigma[sigma == 0] = np.sign(np.sum(sigma, dtype=np.int64))
    sigma = sigma.astype(np.float32)
    total = np.zeros_like(rows[0])
    count = np.zeros(rows[0].size, dtype=np.int64)
    largest = np.zeros_like(rows[0])
    start = np.concatenate([np.asarray(base[k], dtype=np.float32).ravel() for k in keys])
    with np.errstate(over="ignore", invalid="ignore"):
        for row in rows:
            keep = np.where(sigma > 0, row > 0, row < 0)
            total = total + np.where(keep, row, np.float32(0.0))
            count += keep
            largest = np.maximum(largest, np.where(keep, np.abs(row), np.float32(0.0)))
        if merge == "mean":
            merged = total / np.maximum(count, 1).astype(np.float32)
        elif merge == "sum":
            merged = total
        else:
            merged = largest * sigma
        out = start + np.float32(lam) * merged
    bad = ~np.isfinite(out)
    code = {"mean": 3, "sum": 1, "max": 2}[merge]
    hats = np.stack(rows)[:, bad]
    out[bad] = wide_merge(hats, sigma[bad], weights, code, start[bad], lam)[0]
    return _naive_split(base, keys, out)


# ---------------------------------------------------------------------------
# ties_merge(scope="tensor"), coda/merging/ties.py: mergekit's rule written
# from its description, keeping the top k of a stable full sort (ties to the
# lowest index), with explicit loops over tasks.


def ties_tensor(
    base, models, density, elect="mass", merge="mean", weights=None, lam=1.0, normalize=True
):
    weights = np.ones(len(models), np.float32) if weights is None else np.float32(weights)
    out = {}
    for key in base:
        b = np.asarray(base[key], dtype=np.float32)
        k = max(1, int(density * b.size))
        rows = []
        for model, w in zip(models, weights, strict=True):
            tau = (np.asarray(model[key], dtype=np.float32) - b).ravel()
            order = np.argsort(-np.abs(tau), kind="stable")
            trimmed = np.zeros_like(tau)
            trimmed[order[:k]] = tau[order[:k]]
            rows.append(w * trimmed)
        votes, deciding = election(rows, elect)
        sigma = signs(deciding)
        total = np.zeros_like(rows[0])
        divisor = np.zeros_like(rows[0])
        largest = np.zeros_like(rows[0])
        with np.errstate(over="ignore", invalid="ignore"):
            for row, w in zip(rows, weights, strict=True):
                keep = np.sign(row) == sigma
                total = total + np.where(keep, row, np.float32(0.0))
                divisor = divisor + np.where(keep, w, np.float32(0.0))
                largest = np.maximum(largest, np.where(keep, np.abs(row), np.float32(0.0)))
            if merge == "max":
                merged = largest * sigma
            elif merge == "mean" and normalize:
                merged = total / np.where(divisor == 0, np.float32(1.0), divisor)
            else:
                merged = total
            flat = b.ravel() + np.float32(lam) * merged
        divide = merge == "mean" and normalize
        bad = overflowed(votes, total, divisor, flat, merge, divide)
        code = 2 if merge == "max" else (0 if divide else 1)
        hats = np.stack(rows)[:, bad]
        flat[bad] = wide_merge(hats, sigma[bad], weights, code, b.ravel()[bad], lam)[0]
        out[key] = flat.reshape(b.shape)
    return out


# ---------------------------------------------------------------------------
# _merge_facts: the per-tensor quantities of the merge statistics
# (coda/merging/_facts.py), written from their definitions with whole-array
# numpy operations: the base-3 sign codes, tau_m as ties_merge's numpy
# formulas give it, and the fate and ownership sums in float64.


def merge_facts(taus, kept, weighted, sigma, weights, merge):
    """``(codes, merged, fate, owned)``; ``merge`` as the kernel's code (0 to 3)."""
    taus = np.stack([np.asarray(tau, dtype=np.float32).ravel() for tau in taus])
    weights = np.asarray(weights, dtype=np.float32)
    states = np.where(kept & (taus > 0), 1, 0) + np.where(kept & (taus < 0), 2, 0)
    codes = (states * 3 ** np.arange(len(taus))[:, None]).sum(axis=0)
    positive = sigma > 0
    agree = ((weighted > 0) & positive) | ((weighted < 0) & ~positive)
    selected = weighted * agree
    with np.errstate(over="ignore", invalid="ignore"):
        acc = selected.sum(axis=0)
        divisor = (agree * weights[:, None]).sum(axis=0)
        if merge == 2:
            merged = np.abs(selected).max(axis=0) * sigma
        elif merge == 0:
            merged = acc / (divisor + (divisor == 0))
        elif merge == 3:
            merged = acc / np.maximum(np.count_nonzero(agree, axis=0), 1).astype(np.float32)
        else:
            merged = acc
    # As _facts_chunk flags them (_overflowed): merged again in float64.
    bad = ~np.isfinite(merged)
    bad |= (merge != 2) & ~np.isfinite(acc)
    bad |= (merge == 0) & ~np.isfinite(divisor)
    out = np.abs(merged).astype(np.float64)
    merged[bad], wide = wide_merge(weighted[:, bad], sigma[bad], weights, merge)
    out[bad] = np.abs(wide)
    mass = np.abs(taus).astype(np.float64)
    fate = np.stack(
        [
            (mass * ~kept).sum(axis=1),
            (mass * agree).sum(axis=1),
            (mass * (kept & ~agree)).sum(axis=1),
        ],
        axis=1,
    )
    share = np.abs(selected).astype(np.float64)
    total = share.sum(axis=0)
    scale = np.divide(out, total, out=np.zeros_like(out), where=total > 0)
    owned = (share * scale).sum(axis=1)
    return codes, merged, fate, owned


# ---------------------------------------------------------------------------
# _top_k_counts, _top_k_prefix, _top_k_cuts, _tensor_decide and _tensor_update,
# coda/_kernels/_ties.py (ties_merge(scope="tensor")): histograms by np.bincount of
# the bit patterns, the top k by a stable full sort (ties to the lowest
# index), and the merge as whole-array numpy operations on the (T, n) stack,
# in float32 and in the order of coda.merging._rules (sums over tasks taken
# one row after another, as numpy reduces axis 0), so that the kernels must
# match bit for bit.


def task_vector_stack(base, models, diff):
    """The (T, n) float32 task vectors: theta_t - theta_0, or the models as given."""
    rows = [np.asarray(m, dtype=np.float32) for m in models]
    if diff:
        rows = [row - np.asarray(base, dtype=np.float32) for row in rows]
    return np.stack(rows) if rows else np.empty((0, 0), np.float32)


def top_k_counts(base, models, diff, prefix):
    """Per task: bincount of the upper 16 bits of |tau| (prefix < 0), else of the lower 16
    bits of the entries whose upper 16 bits are ``prefix[t]``; 2^16 bins each."""
    bits = np.abs(task_vector_stack(base, models, diff)).view(np.uint32)
    rows = []
    for row, p in zip(bits, prefix, strict=True):
        chosen = row >> 16 if p < 0 else (row[(row >> 16) == p] & 0xFFFF)
        rows.append(np.bincount(chosen, minlength=1 << 16))
    return np.stack(rows)


def top_k_mask(magnitude, k):
    """The k largest of |magnitude| by a stable sort of -|magnitude|: ties to the lowest index."""
    magnitude = np.abs(np.asarray(magnitude, dtype=np.float32))
    mask = np.zeros(magnitude.size, dtype=bool)
    mask[np.argsort(-magnitude, kind="stable")[:k]] = True
    return mask


def kth_smallest(values, rank):
    """The value of 0-based ``rank`` in ascending order: numpy's selection."""
    return np.partition(values, rank)[rank]


def kth_largest(magnitude, k):
    """The k-th largest |magnitude| (1-based), from a full sort."""
    return np.sort(np.abs(np.asarray(magnitude, dtype=np.float32)))[::-1][k - 1]


def tensor_decisions(taus, density, elect, weights):
    """(kept, weighted, sigma) of mergekit's TIES on the (T, n) float32 task vectors."""
    n = taus.shape[1]
    weights = np.asarray(weights, dtype=np.float32)
    k = max(1, int(density * n))
    kept = np.stack([top_k_mask(tau, k) for tau in taus])
    with np.errstate(over="ignore", invalid="ignore"):
        weighted = np.stack([w * (tau * m) for w, tau, m in zip(weights, taus, kept, strict=True)])
    return kept, weighted, signs(election(weighted, elect)[1])


def tensor_update(base, models, diff, density, elect, merge, weights, normalize, lam=None):
    """tau_m of one tensor: mergekit's TIES written as numpy passes over the (T, n) stack.

    With ``lam``, theta_0 + lam tau_m (``base`` being theta_0), as the
    kernels' ``add`` writes it. Entries that the kernels flag
    (:func:`overflowed`) are merged again by :func:`wide_merge`.
    """
    taus = task_vector_stack(base, models, diff)
    weights = np.asarray(weights, dtype=np.float32)
    _, weighted, sigma = tensor_decisions(taus, density, elect, weights)
    votes = election(weighted, elect)[0]
    positive = sigma > 0
    agree = ((weighted > 0) & positive) | ((weighted < 0) & ~positive)
    selected = weighted * agree
    divide = merge == "mean" and normalize
    with np.errstate(over="ignore", invalid="ignore"):
        acc = selected.sum(axis=0)
        divisor = (agree * weights[:, None]).sum(axis=0)
        if merge == "max":
            out = np.abs(selected).max(axis=0) * sigma
        else:
            out = acc / (divisor + (divisor == 0)) if divide else acc
        start = None if lam is None else np.asarray(base, dtype=np.float32)
        if lam is not None:
            out = start + np.float32(lam) * out
    bad = overflowed(votes, acc, divisor, out, merge, divide)
    code = 2 if merge == "max" else (0 if divide else 1)
    at = None if lam is None else start[bad]
    out[bad] = wide_merge(weighted[:, bad], sigma[bad], weights, code, at, lam)[0]
    return out
