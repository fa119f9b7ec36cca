"""Plain numpy twins of the numba kernels in ``coda/_kernels`` (a package).

Each twin is written from the formula, with explicit matrices and whole-array
numpy operations, and no care for speed or for the numerical tricks the
kernels use. ``tests/test_kernels.py`` compares each kernel with its twin
(and reruns itself with numba's JIT off), except three compared where their
callers are tested: ``_replace_zeros_multiplicative`` in ``test_zeros.py``,
``_glasso`` in ``test_glasso.py`` and the merge facts in
``test_merge_stats.py``.
Twins return their results instead of writing into ``out`` arrays, and
compute in float64.

Keep one section per kernel, headed by the kernel's name.
"""

from __future__ import annotations

import math

import numpy as np


def _f64(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


# ---------------------------------------------------------------------------
# _closure


def closure(x):
    """Each row divided by its sum, and whether the row is a composition.

    Returns ``(out, valid)``: ``out = x / x.sum(axis=1)``, and ``valid[i]`` is
    True when row ``i`` is finite, non-negative and has a positive sum (the
    kernel's ``rowcheck`` is then finite and positive).
    """
    x = _f64(x)
    total = x.sum(axis=1, keepdims=True)
    valid = np.isfinite(x).all(axis=1) & (x >= 0).all(axis=1) & (total[:, 0] > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return x / total, valid


# ---------------------------------------------------------------------------
# _log_ratios (its two steps, with numpy's log1p between them)


def log_ratios(a, b):
    """``log(a / b)`` of broadcast positive arrays, ``sign * log1p((hi - lo) / lo)``.

    ``hi`` and ``lo`` are the larger and the smaller of ``a`` and ``b``; where
    the quotient overflows, ``log(a) - log(b)``.
    """
    a, b = np.broadcast_arrays(_f64(a), _f64(b))
    hi, lo = np.maximum(a, b), np.minimum(a, b)
    with np.errstate(over="ignore"):
        out = np.log1p((hi - lo) / lo)
    huge = np.isinf(out)
    out[huge] = np.abs(np.log(a[huge]) - np.log(b[huge]))
    return np.where(a < b, -out, out)


# ---------------------------------------------------------------------------
# _clr


def clr(logs):
    """Centred logs and each row's sum of logs: ``(l - mean(l), sum(l))``."""
    logs = _f64(logs)
    return logs - logs.mean(axis=1, keepdims=True), logs.sum(axis=1)


# ---------------------------------------------------------------------------
# Explicit ilr bases, from the balance formula: a balance with r parts in the
# numerator and s in the denominator has clr coefficients +sqrt(s/(r(r+s)))
# and -sqrt(r/(s(r+s))) (Egozcue and Pawlowsky-Glahn 2005, "Groups of parts
# and their balances").


def _balance(d: int, plus, minus) -> np.ndarray:
    r, s = len(plus), len(minus)
    v = np.zeros(d)
    v[list(plus)] = np.sqrt(s / (r * (r + s)))
    v[list(minus)] = -np.sqrt(r / (s * (r + s)))
    return v


def helmert_basis(d: int) -> np.ndarray:
    """Column j balances the first j+1 parts against part j+1."""
    return np.column_stack([_balance(d, range(j + 1), [j + 1]) for j in range(d - 1)])


def pivot_basis(d: int) -> np.ndarray:
    """Column j balances part j against all parts after it."""
    return np.column_stack([_balance(d, [j], range(j + 1, d)) for j in range(d - 1)])


# ---------------------------------------------------------------------------
# _ilr_helmert


def ilr_helmert(logs):
    """Helmert ilr coordinates ``clr @ V`` and each row's sum of logs."""
    centred, rowsum = clr(logs)
    return centred @ helmert_basis(centred.shape[1]), rowsum


# ---------------------------------------------------------------------------
# _ilr_pivot


def ilr_pivot(logs):
    """Pivot ilr coordinates ``clr @ V`` and each row's sum of logs."""
    centred, rowsum = clr(logs)
    return centred @ pivot_basis(centred.shape[1]), rowsum


# ---------------------------------------------------------------------------
# _ilr_cov_of_gamma


def ilr_cov_of_gamma(gamma, helmert: bool):
    """``V^T Gamma V`` by two dense products, averaged with its transpose."""
    d = gamma.shape[0]
    v = helmert_basis(d) if helmert else pivot_basis(d)
    psi = v.T @ gamma @ v
    return (psi + psi.T) / 2


# ---------------------------------------------------------------------------
# _symmetrise


def symmetrise(matrix):
    """``(M + M^T) / 2``."""
    return (matrix + matrix.T) / 2


# ---------------------------------------------------------------------------
# _ilr_helmert_inv


def ilr_helmert_inv(z):
    """clr coordinates ``z @ V.T`` from Helmert ilr coordinates."""
    z = _f64(z)
    return z @ helmert_basis(z.shape[1] + 1).T


# ---------------------------------------------------------------------------
# _ilr_pivot_inv


def ilr_pivot_inv(z):
    """clr coordinates ``z @ V.T`` from pivot ilr coordinates."""
    z = _f64(z)
    return z @ pivot_basis(z.shape[1] + 1).T


# ---------------------------------------------------------------------------
# _clr_inv


def clr_inv(z):
    """``exp(z)`` closed row by row (no shift: keep ``z`` moderate)."""
    e = np.exp(_f64(z))
    return e / e.sum(axis=1, keepdims=True)


# ---------------------------------------------------------------------------
# _replace_zeros_multiplicative


def replace_zeros_multiplicative(x, delta, relative, close):
    """Multiplicative replacement (Martin-Fernandez et al. 2003) with masks.

    Returns ``(out, factor, nzeros)`` like the kernel: zeros become ``delta``
    (times the row total when ``relative``), non-zero parts are multiplied by
    ``factor = 1 - sum(delta over the zeros) / total``; ``close`` divides by
    the total. ``factor`` is NaN for rows with negative or non-finite values.
    """
    x = _f64(x)
    delta = _f64(delta)
    total = x.sum(axis=1, keepdims=True)
    zero = x == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        replacement = np.where(zero, delta, 0.0) * (total if relative else 1.0)
        factor = 1.0 - replacement.sum(axis=1, keepdims=True) / total
        out = np.where(zero, replacement, x * factor)
        if close:
            out = out / total
    valid = np.isfinite(x).all(axis=1) & (x >= 0).all(axis=1)
    return out, np.where(valid, factor[:, 0], np.nan), zero.sum(axis=1)


# ---------------------------------------------------------------------------
# Bayesian-multiplicative replacement (no kernel: the twin of coda.zeros'
# numpy code), written row by row from Martin-Fernandez, Hron, Templ,
# Filzmoser and Palarea-Albaladejo (2015) with the choices of zCompositions'
# cmultRepl: prior means t from the other rows' part totals, and estimates
# above a part's smallest observed proportion set to frac times it.


def bayesian_replace(counts, method, frac=0.65):
    """Return ``(proportions, pseudo_counts)`` for method "gbm", "sq" or "bl"."""
    counts = _f64(counts)
    n_rows, d = counts.shape
    props = np.zeros_like(counts)
    pseudo = counts.copy()
    smallest = np.array(
        [
            min(counts[i, j] / counts[i].sum() for i in range(n_rows) if counts[i, j] > 0)
            for j in range(d)
        ]
    )
    for i in range(n_rows):
        n_i = counts[i].sum()
        rest = np.delete(counts, i, axis=0)
        t = rest.sum(axis=0) / rest.sum()
        if method == "gbm":
            s = 1.0 / np.prod(t) ** (1.0 / d)
        elif method == "sq":
            s = np.sqrt(n_i)
        else:
            s = float(d)
        # posterior mean of a Dirichlet(s t) prior updated by a zero count
        r = t * s / (n_i + s)
        r = np.where(r > smallest, frac * smallest, r)
        zero = counts[i] == 0
        kept = 1.0 - r[zero].sum()
        for j in range(d):
            if zero[j]:
                props[i, j] = r[j]
                pseudo[i, j] = r[j] * n_i / kept
            else:
                props[i, j] = counts[i, j] / n_i * kept
    return props, pseudo


# ---------------------------------------------------------------------------
# _glasso


def glasso(s, penalty, *, tol=1e-12, max_iter=10_000):
    """Graphical lasso (diagonal penalised) by the block coordinate descent of
    Friedman, Hastie and Tibshirani (2008), written with explicit submatrices.

    For each part j in turn: ``W11`` is ``W`` without row and column j; the
    lasso ``min_b b^T W11 b / 2 - b^T s12 + penalty |b|_1`` is solved by
    cyclic coordinate descent from the previous ``b``, the residual recomputed
    in full at every coordinate; then ``w12 = W11 b``. Sweeps stop when the
    mean absolute change of the off-diagonal ``W`` is at most ``tol`` times
    the mean absolute off-diagonal ``S``. Returns ``(theta, w)``, with
    ``theta`` assembled from eq. 2.12 and symmetrised.
    """
    s = _f64(s)
    d = s.shape[0]
    off = ~np.eye(d, dtype=bool)
    scale = np.abs(s[off]).mean()
    w = s + penalty * np.eye(d)
    b = np.zeros((d, d))
    for _ in range(max_iter):
        w_before = w.copy()
        for j in range(d):
            rest = np.delete(np.arange(d), j)
            w11 = w[np.ix_(rest, rest)]
            s12 = s[rest, j]
            beta = b[rest, j].copy()
            for _ in range(max_iter):
                previous = beta.copy()
                for k in range(d - 1):
                    r = s12[k] - (w11[k] @ beta - w11[k, k] * beta[k])
                    beta[k] = np.sign(r) * max(abs(r) - penalty, 0.0) / w11[k, k]
                if np.abs(beta - previous).max() <= tol:
                    break
            b[rest, j] = beta
            w12 = w11 @ beta
            w[rest, j] = w12
            w[j, rest] = w12
        if np.abs(w - w_before)[off].mean() <= tol * scale:
            break
    theta = np.zeros((d, d))
    for j in range(d):
        rest = np.delete(np.arange(d), j)
        theta[j, j] = 1.0 / (w[j, j] - w[rest, j] @ b[rest, j])
        theta[rest, j] = -b[rest, j] * theta[j, j]
    return (theta + theta.T) / 2.0, w


# ---------------------------------------------------------------------------
# _pcor_bootstrap: each resample's rows repeated explicitly, np.cov, and the
# pseudo-inverse by SVD (np.linalg.pinv), a route independent of the
# kernel's rank-one updates and closed form.


def pcor_bootstrap(y, weights):
    d = y.shape[1]
    iu, ju = np.triu_indices(d, k=1)
    out = np.empty((weights.shape[0], iu.size))
    for b, w in enumerate(weights):
        resample = np.repeat(y, w.astype(int), axis=0)
        omega = np.linalg.pinv(np.cov(resample.T), rcond=1e-12, hermitian=True)
        scale = 1.0 / np.sqrt(np.diag(omega))
        out[b] = -omega[iu, ju] * scale[iu] * scale[ju]
    return out


# ---------------------------------------------------------------------------
# _shift_sums: subtract each row's mean and the shift, with that sum kept
# exactly (TwoSum); then take off what the row sums to beyond -sum(shift)
# (the rounding of the mean), then the column sums, and the largest |mean|.
# Row sums by math.fsum (the kernel's lanes depend on the processor: equal
# to a few eps).


def shift_sums(block, shift):
    d = block.shape[1]
    mean = (np.array([math.fsum(row) for row in block]) / d)[:, None]
    hi = mean + shift
    back = hi - mean
    lo = (mean - (hi - back)) + (shift - back)
    y = (block - hi) - lo
    fix = (np.array([math.fsum(row) for row in y]) + math.fsum(shift)) / d
    shifted = y - fix[:, None]
    return shifted, shifted.sum(axis=0), np.abs(mean).max()


# ---------------------------------------------------------------------------
# _clr_cov: mirror the lower triangle, subtract the means' outer product;
# T_ij from its definition.


def clr_cov(lower, mean, n, ddof):
    d = mean.size
    gram = np.tril(lower) + np.tril(lower, -1).T
    gamma = (gram - n * np.outer(mean, mean)) / (n - ddof)
    t = np.diag(gamma)[:, None] + np.diag(gamma)[None, :] - 2 * gamma
    t[np.tril_indices(d)] = np.inf
    i, j = np.unravel_index(np.argmin(t), t.shape)
    return gamma, (t[i, j], i, j)


# ---------------------------------------------------------------------------
# _precision: mirror the lower triangle and subtract the shift; with correlations,
# the partial correlations of the result (as coda._linalg.pcor_from_precision).


def precision(inverse, shift):
    return np.tril(inverse) + np.tril(inverse, -1).T - shift


def pcor_from_precision(omega):
    # rho_ij = -omega_ij / sqrt(omega_ii omega_jj), unit diagonal, clipped to [-1, 1].
    diag = np.sqrt(np.diag(omega))
    rho = -omega / np.outer(diag, diag)
    np.fill_diagonal(rho, 1.0)
    return np.clip(rho, -1.0, 1.0)


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


def run_without_jit(test_file: str, keyword: str, *, timeout: int = 300) -> None:
    """Run the tests of ``test_file`` matching ``keyword`` in a child pytest with
    ``NUMBA_DISABLE_JIT=1``, so that kernel lines run (and are covered) as Python;
    fail with the child's output unless they all pass."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    path = Path(test_file).resolve()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(path), "-k", keyword],
        cwd=path.parents[1],
        env=dict(os.environ, NUMBA_DISABLE_JIT="1"),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert " passed" in result.stdout
    assert "failed" not in result.stdout


# ---------------------------------------------------------------------------
# _row_ends


def row_ends(values, n_low, n_high):
    """The ``n_low`` smallest and ``n_high`` largest values of each row, ascending."""
    ordered = np.sort(_f64(values), axis=1)
    return ordered[:, :n_low], ordered[:, ordered.shape[1] - n_high :]
