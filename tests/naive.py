"""Plain numpy twins of the numba kernels in ``coda/_kernels`` (a package).

Each twin is written from the formula, with explicit matrices and whole-array
numpy operations, and no care for speed or for the numerical tricks the
kernels use. ``tests/test_kernels.py`` compares each kernel with its twin
(and reruns itself with numba's JIT off), except three compared where their
callers are tested: ``_replace_zeros_multiplicative`` in ``test_zeros.py``,
``_glasso`` in ``test_glasso.py``. The merge kernels' twins are in
``naive_merging.py``.
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
