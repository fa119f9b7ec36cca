"""Reference-independent partial correlations of compositions (Erb 2020).

:func:`precision` is the Moore-Penrose inverse of the clr covariance,
:func:`pcor` the partial correlations it implies (optionally partialling out
only a chosen set of parts with ``given=``), :func:`partial_variance` the
residual variances, and :func:`multiple_r2` the reference-dependent R^2 of
alr regressions. ``method="shrink"``, ``"bshrink"`` and ``"glasso"`` give
regularised estimates for when parts approach or outnumber samples. The
exact estimator also takes dask arrays and DataFrames (tall data), read in one
pass over their row blocks.

Notation: ``X`` is n x D, strictly positive; ``Gamma`` the clr covariance;
``J = 11^T``; ``G = I - J/D``; ``F_r`` the alr matrix with rows ``e_k - e_r``.

References
----------
Erb, I. (2020). Partial correlations in compositional data analysis. Applied
Computing and Geosciences 6:100026. https://doi.org/10.1016/j.acags.2020.100026
"""

from __future__ import annotations

import numpy as np

from coda._clr_gram import (
    ClrCovEstimate,
    clr_cov_estimate,
    composition_parts,
    variation_estimate,
)
from coda._clr_gram import _data as _clr_data
from coda._dask import is_dask
from coda._exact_precision import (
    check_rank,
    conditional_cov,
    exact_precision,
)
from coda._linalg import pcor_from_precision
from coda._validation import (
    check_dask_method,
    check_option,
    check_part,
    check_parts,
    check_pcor_parts,
)

__all__ = ["multiple_r2", "partial_variance", "pcor", "precision"]

_METHODS = ("exact", "shrink", "bshrink", "glasso")


def _data(x, ddof, method):
    """In-memory data for the regularised estimators, which do not accept dask input."""
    if is_dask(x):
        check_dask_method(method, accepted=("exact",))
    return _clr_data(x, ddof, min_samples=3)


def _precision_values(x, method, ddof, options, *, correlations: bool = False):
    """``(omega, labels)``: the precision matrix of in-memory or dask ``x``.

    With ``correlations``, ``(rho, labels)``: the partial correlations.
    """
    check_option(method, "method", _METHODS)
    if method == "exact":
        _check_no_options(options)
        cov = clr_cov_estimate(x, ddof, min_samples=3)
        check_rank(cov)
        # cov is this function's own, so its matrix may become the result.
        result = exact_precision(cov, correlations=correlations, overwrite=True)
        return result, cov.labels
    _, labels, ddof = _data(x, ddof, method)
    omega = np.asarray(_regularised(x, method, ddof, options).precision)
    return (pcor_from_precision(omega) if correlations else omega), labels


def _check_no_options(options) -> None:
    """``method="exact"`` has no estimator options: any given would be silently unused."""
    if options:
        raise TypeError(f"method='exact' takes no options; got {', '.join(sorted(options))}")


def _regularised(x, method, ddof, options):
    # x as the caller gave it, so that errors name its rows by their labels
    if ddof != 1:
        raise ValueError(f"ddof={ddof}; the regularised estimators use ddof=1")
    if method == "glasso":
        from coda.glasso import pcor_glasso

        return pcor_glasso(x, **options)
    from coda.shrinkage import pcor_shrink

    return pcor_shrink(x, method=method, **options)


def precision(x, /, *, method: str = "exact", ddof: int = 1, **options):
    r"""Precision matrix of a composition: the pseudo-inverse of the clr covariance.

    Parameters
    ----------
    x : array_like, DataFrame, dask array or dask DataFrame of shape (n_samples, n_parts)
        Strictly positive compositions, at least 3 samples. Dask input is
        reduced in one pass over its row blocks (``method="exact"`` only; see
        :func:`coda.clr_cov`) and the result is computed, not lazy.
    method : {"exact", "shrink", "bshrink", "glasso"}, default "exact"
        ``"exact"``: the Moore-Penrose inverse :math:`\Omega = \Gamma^+`,
        which needs more samples than parts. The others are regularised
        estimators (see :func:`coda.pcor_shrink` and :func:`coda.pcor_glasso`)
        whose options pass through ``**options``.
    ddof : int, default 1
        Delta degrees of freedom of the covariance (divisor ``n - ddof``);
        the regularised estimators use 1.
    **options
        Passed to the regularised estimator (for example ``lam=`` for
        shrinkage, ``penalty=`` for the graphical lasso).

    Returns
    -------
    ndarray or DataFrame of shape (n_parts, n_parts)
        :math:`\Omega`, labelled by parts for DataFrame input. For
        ``"exact"``, :math:`\Omega 1 = 0` and :math:`\Gamma\Omega = G`.

    Raises
    ------
    ValueError
        If ``x`` is not a valid composition; for ``"exact"``, if
        ``n <= D - 1`` or the clr covariance is otherwise rank deficient (a
        constant or proportional part): the message names the regularised
        methods and the parts at fault; if ``method`` is unknown, or
        ``ddof`` is not 1 with a regularised method.
    TypeError
        If ``x`` is a dask collection and ``method`` is a regularised
        estimator: those are for n close to or below D, data that fit in
        memory; if ``**options`` are given with ``method="exact"``, which
        takes none.

    See Also
    --------
    pcor : the partial correlations from this matrix.
    coda.clr_cov : the matrix it inverts.

    Notes
    -----
    The exact route uses the closed form
    :math:`\Omega = (\Gamma + cJ/D)^{-1} - J/(cD)` with
    :math:`c = \mathrm{tr}\,\Gamma / (D - 1)` (the added direction on the
    data's scale) and one Cholesky factorisation, no SVD; a pivot below
    1e-12 of the largest diagonal entry counts as zero. For every reference r,
    :math:`\Omega = F_r^T \Sigma_r^{-1} F_r`, and deleting row and column r
    of :math:`\Omega` gives :math:`\Sigma_r^{-1}`, the inverse alr
    covariance (Erb 2020).

    From :math:`\Gamma`, :math:`\Omega` is good to about
    :math:`\kappa(\Gamma)` eps. When an estimate of the condition
    number exceeds 1e7 (data drifting far in some log-ratio directions and
    varying little in others), the Cholesky factor is corrected from the
    data in a second pass (CholeskyQR2), which loses only about
    :math:`\sqrt{\kappa}` eps; see docs/partial-correlations.md.

    References
    ----------
    .. [1] Erb, I. (2020). Partial correlations in compositional data
       analysis. Applied Computing and Geosciences 6:100026.
       https://doi.org/10.1016/j.acags.2020.100026

    Examples
    --------
    >>> import coda
    >>> x = coda.clr_inv(np.random.default_rng(0).normal(size=(50, 4)))
    >>> omega = coda.precision(x)
    >>> bool(np.allclose(omega.sum(axis=1), 0))
    True
    >>> omega.round(2)
    array([[ 0.84, -0.45, -0.39,  0.  ],
           [-0.45,  1.05, -0.14, -0.46],
           [-0.39, -0.14,  0.93, -0.41],
           [ 0.  , -0.46, -0.41,  0.87]])
    """
    omega, labels = _precision_values(x, method, ddof, options)
    return labels.square(omega)


def _given_parts(x, given, method, options=None) -> tuple[list[int], list[int]]:
    """Positions of the parts in ``given`` and of the rest, checked before any pass over ``x``.

    ``options`` are the estimator options passed with ``given``, which (as
    ``given`` needs the exact method) must be none.
    """
    check_option(method, "method", _METHODS)
    if method != "exact":
        raise ValueError(f"given= is available with method='exact' only; got method={method!r}")
    _check_no_options(options)
    labels, d = composition_parts(x)
    k = check_parts(given, "given", labels.parts, d)
    rest = [i for i in range(d) if i not in k]
    if len(rest) < 2:
        raise ValueError(
            f"given names {len(k)} of {d} parts; at least two parts must remain outside "
            "given to have a partial correlation"
        )
    return k, rest


def pcor_from_estimate(cov: ClrCovEstimate, given: list[int] | None) -> np.ndarray:
    """The partial correlations (D x D array) from the clr covariance; ``given`` as positions."""
    d = cov.gamma.shape[0]
    if given is None:
        check_rank(cov)
        return exact_precision(cov, correlations=True)
    rest = [i for i in range(d) if i not in given]
    cond = conditional_cov(cov, given, rest)
    scale = 1.0 / np.sqrt(np.diag(cond))
    # One product s_i s_j per entry: a symmetric cond gives a symmetric rho.
    rho = np.clip(cond * np.multiply.outer(scale, scale), -1.0, 1.0)
    np.fill_diagonal(rho, 1.0)
    return _embed(rho, rest, d)


def _embed(values_rest: np.ndarray, rest: list[int], d: int, fill=np.nan) -> np.ndarray:
    out = np.full((d, d) if values_rest.ndim == 2 else d, fill)
    if values_rest.ndim == 2:
        out[np.ix_(rest, rest)] = values_rest
    else:
        out[rest] = values_rest
    return out


def pcor(x, /, *, given=None, method: str = "exact", ddof: int = 1, **options):
    r"""Reference-independent partial correlations between all pairs of parts.

    Parameters
    ----------
    x : array_like, DataFrame, dask array or dask DataFrame of shape (n_samples, n_parts)
        Strictly positive compositions, at least 3 samples. Dask input is
        reduced in one pass over its row blocks (``method="exact"`` only; see
        :func:`coda.clr_cov`) and the result is computed, not lazy.
    given : sequence of int or str, optional
        Partial out only these parts (positions, or names for DataFrame
        input). ``None`` (default) partials out all other parts. Only with
        ``method="exact"``.
    method : {"exact", "shrink", "bshrink", "glasso"}, default "exact"
        How the precision matrix is estimated; see :func:`precision`.
    ddof : int, default 1
        Delta degrees of freedom (the partial correlations do not depend on
        it).
    **options
        Passed to the regularised estimator.

    Returns
    -------
    ndarray or DataFrame of shape (n_parts, n_parts)
        Symmetric with a unit diagonal and entries in [-1, 1]; labelled by
        parts for DataFrame input. With ``given``, the rows and columns of
        the parts in ``given`` (their diagonal included) are NaN.

    Raises
    ------
    ValueError
        As :func:`precision`; and if ``given`` is empty, names unknown or
        duplicate parts, leaves fewer than two parts, or is combined with a
        regularised method.
    TypeError
        As :func:`precision`, with or without ``given``.

    See Also
    --------
    precision : the matrix behind the partial correlations.
    partial_variance : the residual variances.
    coda.pcor_test : tests and FDR-adjusted p-values.

    Notes
    -----
    :math:`\rho_{ij} = -\Omega_{ij} / \sqrt{\Omega_{ii}\Omega_{jj}}`. This is
    the correlation of the residuals of :math:`\log(x_i/x_r)` and
    :math:`\log(x_j/x_r)` regressed (with intercept) on the other log-ratios
    with reference r, for every r not in {i, j}: the result does not depend
    on the reference.

    With ``given = K``, :math:`\rho_{ij\cdot K}` (i, j not in K) is the
    correlation of the residuals of :math:`\log(x_i/x_r)` and
    :math:`\log(x_j/x_r)` regressed on :math:`\{\log(x_k/x_r): k \in K,
    k \ne r\}` for any r in K; equivalently the full partial correlation
    within the subcomposition :math:`\{i, j\} \cup K`. A single part
    ``given=[r]`` gives the Pearson correlations of the alr coordinates with
    reference r.

    References
    ----------
    .. [1] Erb, I. (2020). Partial correlations in compositional data
       analysis. Applied Computing and Geosciences 6:100026.
       https://doi.org/10.1016/j.acags.2020.100026

    Examples
    --------
    >>> import coda
    >>> x = coda.clr_inv(np.random.default_rng(0).normal(size=(50, 4)))
    >>> coda.pcor(x).round(3)
    array([[ 1.   ,  0.485,  0.435, -0.002],
           [ 0.485,  1.   ,  0.139,  0.48 ],
           [ 0.435,  0.139,  1.   ,  0.457],
           [-0.002,  0.48 ,  0.457,  1.   ]])
    >>> coda.pcor(x, given=[3]).round(3)
    array([[1.   , 0.611, 0.58 ,   nan],
           [0.611, 1.   , 0.444,   nan],
           [0.58 , 0.444, 1.   ,   nan],
           [  nan,   nan,   nan,   nan]])
    """
    if given is None:
        rho, labels = _precision_values(x, method, ddof, options, correlations=True)
        check_pcor_parts(rho.shape[0])
        return labels.square(rho)
    k, _ = _given_parts(x, given, method, options)
    cov = clr_cov_estimate(x, ddof, min_samples=3)
    return cov.labels.square(pcor_from_estimate(cov, k))


def partial_variance(x, /, *, given=None, method: str = "exact", ddof: int = 1, **options):
    r"""Partial variance of each part: its log-ratio variance left after the others.

    Parameters
    ----------
    x : array_like, DataFrame, dask array or dask DataFrame of shape (n_samples, n_parts)
        Strictly positive compositions, at least 3 samples. Dask input is
        reduced in one pass over its row blocks (``method="exact"`` only; see
        :func:`coda.clr_cov`) and the result is computed, not lazy.
    given : sequence of int or str, optional
        Partial out only these parts (``method="exact"`` only); see
        :func:`pcor`.
    method : {"exact", "shrink", "bshrink", "glasso"}, default "exact"
        How the precision matrix is estimated; see :func:`precision`.
    ddof : int, default 1
        Delta degrees of freedom: the variances divide by ``n - ddof``.
    **options
        Passed to the regularised estimator.

    Returns
    -------
    ndarray or Series of shape (n_parts,)
        :math:`\pi_i = 1/\Omega_{ii}`; a Series named by part for DataFrame
        input. With ``given``, the parts in ``given`` are NaN.

    Raises
    ------
    ValueError
        As :func:`pcor`.
    TypeError
        As :func:`pcor`.

    See Also
    --------
    pcor, multiple_r2

    Notes
    -----
    :math:`\pi_i` is the residual variance of :math:`\log(x_i/x_r)`
    regressed with intercept on all other log-ratios with reference r, the
    same for every r != i (Erb 2020). With ``given = K`` it is the residual
    variance of :math:`\log(x_i/x_r)` on :math:`\log(x_k/x_r)`,
    :math:`k \in K \setminus \{r\}`, for any r in K. Residual variances use
    the covariance divisor ``n - ddof``, so ``ddof=0`` scales them by
    ``(n-1)/n`` relative to the default.

    Examples
    --------
    >>> import coda
    >>> x = coda.clr_inv(np.random.default_rng(0).normal(size=(50, 4)))
    >>> coda.partial_variance(x).round(3)
    array([1.193, 0.952, 1.071, 1.152])
    """
    if given is None:
        omega, labels = _precision_values(x, method, ddof, options)
        out = 1.0 / np.diag(omega)
    else:
        k, rest = _given_parts(x, given, method, options)
        cov = clr_cov_estimate(x, ddof, min_samples=3)
        labels = cov.labels
        out = _embed(np.diag(conditional_cov(cov, k, rest)).copy(), rest, cov.gamma.shape[0])
    return _per_part(out, labels, "partial_variance")


def _per_part(out: np.ndarray, labels, name: str, index=None):
    import pandas as pd

    if labels.labelled:
        return pd.Series(out, index=labels.parts if index is None else index, name=name)
    return out


def multiple_r2(x, /, *, ref=-1):
    r"""R^2 of each alr coordinate regressed on all the others.

    Parameters
    ----------
    x : array_like, DataFrame, dask array or dask DataFrame of shape (n_samples, n_parts)
        Strictly positive compositions, more samples than parts. Dask input
        is reduced in one pass over its row blocks (see :func:`coda.clr_cov`).
    ref : int or str, default -1
        The alr reference part.

    Returns
    -------
    ndarray or Series of shape (n_parts - 1,)
        For every part i != ref, the coefficient of determination of
        :math:`\log(x_i/x_{ref})` regressed with intercept on the other
        log-ratios with the same reference; a Series indexed ``"i/ref"`` for
        DataFrame input.

    Raises
    ------
    ValueError
        As :func:`precision` with ``method="exact"``, or if ``ref`` is not a
        part.

    See Also
    --------
    partial_variance : the residual variances, which do not depend on ref.

    Notes
    -----
    :math:`R^2_i = 1 - \pi_i / T_{i,ref}`. Unlike the partial variance
    :math:`\pi_i`, it depends on the reference through the total variance
    :math:`T_{i,ref}` of the response.

    Examples
    --------
    >>> import coda
    >>> x = coda.clr_inv(np.random.default_rng(0).normal(size=(50, 4)))
    >>> coda.multiple_r2(x, ref=0).round(3)
    array([0.392, 0.375, 0.51 ])
    """
    labels, d = composition_parts(x)
    r = check_part(ref, "ref", labels.parts, d)
    cov = clr_cov_estimate(x, 1, min_samples=3)
    check_rank(cov)
    pi = 1.0 / np.diag(exact_precision(cov))
    # var(log(x_i/x_r)) as variation gives it: recomputed from the data where
    # Gamma_ii + Gamma_rr - 2 Gamma_ir would cancel.
    t_ref = variation_estimate(cov)[:, r]
    keep = [i for i in range(d) if i != r]
    r2 = 1.0 - pi[keep] / t_ref[keep]
    names = None
    if labels.labelled:
        parts = labels.part_names(d)
        names = [f"{parts[i]}/{parts[r]}" for i in keep]
    return _per_part(r2, labels, "multiple_r2", names)
