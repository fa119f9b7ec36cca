"""Checks of estimators' inputs: matrices, degrees of freedom, variances, resamples.

Part of :mod:`coda._validation`, where every user-facing check lives.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from coda._validation._base import _is_real_dtype, _listing, numeric_values


def check_square(
    matrix,
    name: str,
    *,
    symmetric: bool = True,
    min_size: int = 2,
    fix: str = "pass a covariance or variation matrix",
) -> np.ndarray:
    """Return ``matrix`` as a finite square float64 array, symmetric if asked.

    ``fix`` ends the message of a matrix that is not symmetric: the kind of
    matrix the caller expects.
    """
    values = numeric_values(matrix, name)
    if not _is_real_dtype(values.dtype):
        raise TypeError(f"{name} has dtype {values.dtype}; expected a real matrix")
    values = values.astype(np.float64, copy=False)
    if values.ndim != 2 or values.shape[0] != values.shape[1] or values.shape[0] < min_size:
        raise ValueError(
            f"{name} must be a square matrix with at least {min_size} rows; "
            f"got shape {values.shape}"
        )
    if not np.isfinite(values).all():
        bad = np.argwhere(~np.isfinite(values))[0]
        raise ValueError(
            f"{name} contains NaN or infinite values (first at row {bad[0]}, column {bad[1]}: "
            f"{values[bad[0], bad[1]]}); pass a matrix of finite numbers, e.g. one estimated "
            "from data without missing values"
        )
    if symmetric:
        scale = max(np.abs(values).max(), np.finfo(float).tiny)
        asym = np.abs(values - values.T).max() / scale
        if asym > 1e-8:
            raise ValueError(
                f"{name} is not symmetric (largest relative |M - M^T| {asym:.2g}); {fix}"
            )
    return values


def check_ddof(ddof, n_samples: int) -> int:
    """Return ``ddof`` if it leaves a positive divisor ``n - ddof``."""
    if isinstance(ddof, (bool, np.bool_)) or not isinstance(ddof, (int, np.integer)) or ddof < 0:
        raise ValueError(f"ddof={ddof!r}; expected a non-negative integer (1 for n - 1, 0 for n)")
    if n_samples - ddof <= 0:
        raise ValueError(
            f"ddof={ddof} leaves no degrees of freedom with {n_samples} samples; "
            "use more samples or a smaller ddof"
        )
    return int(ddof)


def check_varying(variances: np.ndarray, name: str, parts: Sequence, what: str) -> None:
    """Raise if a part's ``what`` (e.g. "clr values") has zero sample variance.

    Variances below machine epsilon count as zero, as in R's corpcor.
    """
    flat = np.flatnonzero(~(variances >= np.finfo(np.float64).eps))
    if flat.size:
        raise ValueError(
            f"{name} has parts whose {what} do not vary across samples "
            f"({_listing([parts[i] for i in flat], flat.size)}); their correlations are "
            "undefined: drop them or amalgamate them with other parts"
        )


def check_proportionality_variances(variances: np.ndarray, parts: Sequence, metric: str) -> None:
    """Raise where a proportionality metric would divide by a zero clr variance.

    Variances at most 1e-12 of the largest count as zero (rounding leaves a
    part with none a tiny positive variance). ``"phi"`` divides by the row
    part's clr variance; ``"rho"`` and ``"phs"`` by the sum of two, which is
    zero only when two parts have none.
    """
    scale = variances.max()
    flat = np.flatnonzero(~(variances > 1e-12 * scale)) if scale > 0 else np.arange(len(parts))
    if flat.size == 0 or (metric != "phi" and flat.size < 2):
        return
    listed = _listing([str(parts[i]) for i in flat], flat.size)
    divides = (
        "phi divides by the clr variance of the row part"
        if metric == "phi"
        else f"{metric} divides by the sum of two parts' clr variances"
    )
    fix = "drop them, or use metric='rho'" if metric == "phi" and flat.size < 2 else "drop them"
    raise ValueError(
        f"x has parts whose clr values do not vary across samples ({listed}), and {divides}; {fix}"
    )


def check_balance_variances(variances: np.ndarray, parts: Sequence) -> None:
    """Raise if the balance of a pair of parts (``variances[i, j]``) does not vary.

    Variances at most 1e-12 of the largest clr variance count as zero, as in
    :func:`check_proportionality_variances`.
    """
    scale = max(float(np.diag(variances).max()), 0.0)
    flat = ~(variances > 1e-12 * scale)
    np.fill_diagonal(flat, False)
    i, j = np.nonzero(np.triu(flat))
    if i.size:
        pairs = [f"{parts[a]}-{parts[b]}" for a, b in zip(i.tolist(), j.tolist(), strict=True)]
        raise ValueError(
            f"x has pairs of parts whose balances do not vary across samples "
            f"({_listing(pairs, len(pairs))}), so their balance correlations are undefined; "
            "drop parts that do not vary relative to the others, or amalgamate them"
        )


def check_subsample_size(size: int, n_samples: int) -> None:
    """Raise if StARS's subsamples would be the whole data (every graph then agrees)."""
    if size >= n_samples:
        raise ValueError(
            f"criterion='stars' draws subsamples of {size} of the {n_samples} samples, which "
            "is all of them: every subsample gives the same graph and the instability is 0; "
            "use criterion='ebic', or at least 4 samples"
        )


def check_test_df(
    df: int, n_samples: int, n_given: int, name: str = "x", *, given_allowed: bool = True
) -> int:
    """Return the residual degrees of freedom ``df`` of a partial-correlation test if positive.

    ``given_allowed`` says whether the estimator takes ``given=`` (the
    regularised ones do not), and so whether conditioning on fewer parts is
    a fix to suggest.
    """
    if df <= 0:
        fix = (
            f"use at least {n_given + 2} samples or condition on fewer parts (given=...)"
            if given_allowed
            else f"use at least {n_given + 2} samples, or select edges without t tests, "
            "e.g. coda.network(x, method='glasso') (its non-zero pattern) or "
            "coda.network(x, method='shrink', min_abs=0.1) (a threshold on |pcor|)"
        )
        raise ValueError(
            f"{name} has {n_samples} samples and each pair is conditioned on {n_given} "
            f"parts, leaving df = n - |K| - 1 = {df} degrees of freedom; the t test needs "
            f"df > 0: {fix}"
        )
    return df


def check_resample_rows(
    n_distinct: int, needed: int, n_samples: int, *, method: str = "exact"
) -> None:
    """Raise if a bootstrap resample has too few distinct samples for ``method``.

    ``"exact"`` needs a full-rank log-ratio covariance; the shrinkage
    estimators need 3 distinct samples (``needed``), as they need 3 samples:
    with two, every sample correlation is +1 or -1.
    """
    if n_distinct >= needed:
        return
    if method == "exact":
        why = "that make its log-ratio covariance invertible"
        fix = (
            "use more samples (well above the number of parts) or fewer parts; without "
            "given=, method='bshrink' needs no full rank"
        )
    else:
        why = (
            f"that method={method!r} needs (with two, every sample correlation of the "
            "resample is +1 or -1)"
        )
        fix = "use more samples"
    raise ValueError(
        f"a bootstrap resample drew only {n_distinct} distinct samples of the {n_samples}, "
        f"fewer than the {needed} {why}; {fix}"
    )


def check_bootstrap_method(method: str, options) -> None:
    """Raise for an estimator :func:`coda.pcor_bootstrap` does not resample, or stray options.

    ``method`` is already one of :func:`coda.pcor`'s. The graphical lasso is
    refused: one fit costs about 0.4 s at n=50, D=100 (1,000 resamples, 7
    minutes), and most of its replicates are exact zeros, for which
    percentile intervals do not hold the level.
    """
    if method == "glasso":
        raise ValueError(
            "method='glasso' cannot be bootstrapped here: a graphical-lasso fit per resample "
            "is slow (about 7 minutes for 1,000 resamples at 50 samples and 100 parts) and most "
            "of its replicates are exact zeros, where percentile intervals fail; for intervals "
            "with few samples use method='bshrink', and for the stability of the lasso's edges "
            "coda.pcor_glasso(x, criterion='stars')"
        )
    if method == "exact" and options:
        raise TypeError(
            f"method='exact' takes no options; got {', '.join(sorted(options))}: estimator "
            "options such as lam= go with method='shrink' or 'bshrink'"
        )
    other = sorted(set(options) - {"lam", "lam_var"})
    if other:
        raise TypeError(
            f"pcor_bootstrap() got an unexpected keyword argument {other[0]!r}; the options of "
            f"method={method!r} are lam and lam_var (ddof is always 1 for shrinkage)"
        )


def check_resample_rank(ok: np.ndarray) -> None:
    """Raise if some bootstrap resamples had a singular clr covariance."""
    bad = np.flatnonzero(~ok)
    if bad.size:
        raise ValueError(
            f"{bad.size} bootstrap resamples have a singular clr covariance (some parts are "
            "collinear in those resamples); use more samples, fewer parts, or a "
            "regularised estimator"
        )


def check_positive_definite(cov: np.ndarray, name: str, what: str) -> None:
    """Raise if a small covariance matrix is singular (a degenerate sample)."""
    eig = np.linalg.eigvalsh(cov)
    if not eig.min() > 1e-12 * max(eig.max(), np.finfo(float).tiny):
        raise ValueError(
            f"{name}: the covariance of {what} is singular (the samples lie on a line or a "
            "point); a region needs samples that vary in two directions"
        )


def check_pcor_parts(n_parts: int) -> None:
    """Raise if partial correlations are asked of fewer than 3 parts."""
    if n_parts < 3:
        raise ValueError(
            f"x has {n_parts} parts; partial correlations need at least 3: a pair's partial "
            "correlation is that of its log-ratios against a third part, and with two parts "
            "there is none (the result would be 1 whatever the data); for two parts use "
            "coda.variation or coda.clr_cov"
        )


def check_variation_matrix(values: np.ndarray, name: str) -> None:
    """Raise unless ``values`` (finite, square, symmetric) looks like a variation matrix.

    Its diagonal is var(log(x_i/x_i)) = 0 and its entries are variances, so
    not negative; both to 1e-12 of the largest entry (rounding in other tools).
    """
    scale = max(float(np.abs(values).max()), np.finfo(float).tiny)
    diagonal = np.abs(np.diag(values)).max() / scale
    if diagonal > 1e-12:
        raise ValueError(
            f"{name} has a non-zero diagonal (largest |T_ii| {diagonal:.2g} of its largest "
            "entry); a variation matrix holds var(log(x_i/x_j)), 0 on the diagonal: pass "
            "coda.variation(x), not a covariance or correlation matrix"
        )
    if (values < -1e-12 * scale).any():
        raise ValueError(
            f"{name} has negative entries; a variation matrix holds variances of "
            "log-ratios: pass coda.variation(x)"
        )


def check_edge_pcor(a, b, value) -> float:
    """An edge's ``pcor`` as a float, which must be a partial correlation (finite, in [-1, 1])."""
    try:
        rho = float(value)
    except (TypeError, ValueError):
        raise TypeError(
            f"edge ({a!r}, {b!r}) has pcor={value!r}, not a number; style graphs whose "
            "edges carry partial correlations, e.g. from coda.network"
        ) from None
    if not (np.isfinite(rho) and abs(rho) <= 1 + 1e-12):
        raise ValueError(
            f"edge ({a!r}, {b!r}) has pcor={rho!r}; edge widths and colours need partial "
            "correlations, finite and in [-1, 1]: drop or correct that edge"
        )
    return rho
