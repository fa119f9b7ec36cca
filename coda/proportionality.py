"""Association between pairs of parts that respects compositions.

:func:`proportionality` (Lovell et al. 2015; the metrics of the R package
propr) and :func:`balance_correlation` (Kynclova, Hron and Filzmoser 2017:
correlations of symmetric pivot balances). Both take dask arrays and
DataFrames too, read as :func:`coda.clr_cov` reads them.
"""

from __future__ import annotations

import numpy as np

from coda._clr_gram import clr_cov_estimate, variation_estimate
from coda._validation import (
    check_balance_variances,
    check_option,
    check_proportionality_variances,
)

__all__ = ["balance_correlation", "proportionality"]

_METRICS = ("rho", "phi", "phs")


def proportionality(x, /, *, metric: str = "rho", ddof: int = 1):
    r"""Proportionality between every pair of parts.

    Parameters
    ----------
    x : array_like, DataFrame, dask array or dask DataFrame of shape (n_samples, n_parts)
        Strictly positive compositions (at least two samples and two parts).
        Dask input is reduced in one pass over its row blocks, two for nearly
        proportional parts, as by :func:`coda.variation` (see Notes).
    metric : {"rho", "phi", "phs"}, default "rho"
        ``"rho"``: :math:`\rho_p = 1 - T_{ij} / (\Gamma_{ii} + \Gamma_{jj})`,
        1 for proportional parts, symmetric, in [-1, 1]. ``"phi"``:
        :math:`\phi = T_{ij} / \Gamma_{ii}` (row part in the denominator; not
        symmetric), 0 for proportional parts. ``"phs"``: the symmetric
        :math:`\phi_s = (1 - \rho_p) / (1 + \rho_p) =
        T_{ij} / (2\Gamma_{ii} + 2\Gamma_{jj} - T_{ij})`. As in the R package propr, with clr
        variances.
    ddof : int, default 1
        Delta degrees of freedom (cancels in every metric).

    Returns
    -------
    ndarray or DataFrame of shape (n_parts, n_parts)
        The metric for every pair, labelled by parts for DataFrame (and
        dask DataFrame) input.

    Raises
    ------
    ValueError
        If ``x`` is not a valid composition or ``metric`` is unknown; for
        ``"phi"``, if a part's clr values do not vary (phi divides by its clr
        variance); for ``"rho"`` and ``"phs"``, if two parts' do not.

    See Also
    --------
    variation, clr_cov

    Notes
    -----
    Every metric is a function of the clr variances and the variation
    matrix, which come from :func:`coda.clr_cov` and :func:`coda.variation`'s
    estimate, entries of nearly proportional parts recomputed from the data.
    Dask input gets the same, in the same passes as :func:`coda.variation`,
    and is computed when called: the result is a numpy array, or a
    DataFrame labelled by the dask DataFrame's columns.

    References
    ----------
    .. [1] Lovell, D., Pawlowsky-Glahn, V., Egozcue, J. J., Marguerat, S. and
       Bahler, J. (2015). Proportionality: a valid alternative to
       correlation for relative data. PLoS Computational Biology
       11:e1004075. https://doi.org/10.1371/journal.pcbi.1004075
    .. [2] Quinn, T. P., Richardson, M. F., Lovell, D. and Crowley, T. M.
       (2017). propr: an R-package for identifying proportionally abundant
       features using compositional data analysis. Scientific Reports
       7:16252. https://doi.org/10.1038/s41598-017-16520-0

    Examples
    --------
    >>> import coda
    >>> x = [[1, 2, 4], [2, 1, 4], [2, 2, 3], [3, 1, 1]]
    >>> coda.proportionality(x).round(4)
    array([[ 1.    , -0.4257, -0.8453],
           [-0.4257,  1.    ,  0.0048],
           [-0.8453,  0.0048,  1.    ]])
    """
    check_option(metric, "metric", _METRICS)
    cov = clr_cov_estimate(x, ddof)
    labels = cov.labels
    diag = np.diag(cov.gamma)
    check_proportionality_variances(diag, labels.part_names(len(diag)), metric)
    # 0 <= T_ij <= 2 (Gamma_ii + Gamma_jj) (Cauchy-Schwarz), which keeps rho in
    # [-1, 1] and phi, phs non-negative where rounding would step outside.
    t = np.minimum(variation_estimate(cov), 2.0 * (diag[:, None] + diag[None, :]))
    with np.errstate(divide="ignore", invalid="ignore"):
        if metric == "rho":
            out = 1.0 - t / (diag[:, None] + diag[None, :])
        elif metric == "phi":
            out = t / diag[:, None]
        else:
            out = t / (2.0 * (diag[:, None] + diag[None, :]) - t)
    # A part is proportional to itself; the formulas give 0/0 on the diagonal
    # for the one part whose clr values may not vary.
    np.fill_diagonal(out, 1.0 if metric == "rho" else 0.0)
    return labels.square(out)


def balance_correlation(x, /, *, ddof: int = 1):
    """Correlations between parts from their symmetric pivot balances.

    For each pair of parts ``i`` and ``j``, the two symmetric pivot
    coordinates of Kynclova, Hron and Filzmoser (2017) carry all the relative
    information about ``i`` and about ``j``, each taken against the other
    parts in a way that treats ``i`` and ``j`` alike; their Pearson
    correlation is a correlation between the two parts that, unlike the
    correlation of raw proportions, is scale invariant and subcompositionally
    meaningful within the chosen ``D``-part composition.

    Parameters
    ----------
    x : array_like, DataFrame, dask array or dask DataFrame of shape (n_samples, n_parts)
        Strictly positive compositions, at least three parts. Dask input is
        reduced in one pass over its row blocks (see Notes).
    ddof : int, default 1
        Delta degrees of freedom of the covariance (cancels in a correlation,
        kept for the checks shared with ``clr_cov``).

    Returns
    -------
    ndarray or DataFrame of shape (n_parts, n_parts)
        Symmetric matrix with ones on the diagonal; labelled by part on both
        axes when ``x`` is a DataFrame or a dask DataFrame.

    Raises
    ------
    ValueError
        If ``x`` is not a valid composition or has fewer than three parts.

    See Also
    --------
    coda.pcor : partial correlations, which also condition on the other parts.
    coda.proportionality : proportionality coefficients of pairs of parts.

    Notes
    -----
    With ``g = D - 1 + sqrt(D (D - 2))`` the two coordinates are
    (Kynclova et al. 2017, eq. 5)::

        z1 = sqrt(g / (2 D)) ln(x_i / (x_j^(1/g) prod_k x_k^c))
        z2 = sqrt(g / (2 D)) ln(x_j / (x_i^(1/g) prod_k x_k^c))

    with ``c = (sqrt(D - 2) + sqrt(D)) / (sqrt(D - 2) g)`` and ``k`` running
    over the other ``D - 2`` parts. Both are contrasts ``a' clr(x)`` with
    ``a = alpha e_i + beta e_j + gamma 1``, and the clr covariance ``S``
    annihilates ``1``, so with ``alpha = p (1 + c)``, ``beta = p (c - 1/g)``,
    ``p = sqrt(g / (2 D))``::

        cov(z1, z2) = (alpha^2 + beta^2) S_ij + alpha beta (S_ii + S_jj)
        var(z1) = alpha^2 S_ii + 2 alpha beta S_ij + beta^2 S_jj

    which gives every pair at once from one clr covariance. For dask input
    that is :func:`coda.clr_cov`'s, from one pass over the row blocks,
    computed when called.

    References
    ----------
    Kynclova P, Hron K, Filzmoser P (2017). Correlation between compositional
    parts based on symmetric balances. Mathematical Geosciences 49:777-796.
    https://doi.org/10.1007/s11004-016-9669-3

    Examples
    --------
    >>> import numpy as np
    >>> from coda import balance_correlation
    >>> rng = np.random.default_rng(0)
    >>> x = np.exp(rng.normal(size=(50, 4)))
    >>> balance_correlation(x).round(3)
    array([[ 1.   ,  0.144,  0.086, -0.334],
           [ 0.144,  1.   , -0.205,  0.137],
           [ 0.086, -0.205,  1.   ,  0.119],
           [-0.334,  0.137,  0.119,  1.   ]])
    """
    cov = clr_cov_estimate(x, ddof, min_parts=3)
    s, labels = cov.gamma, cov.labels
    d = s.shape[0]
    g = d - 1 + np.sqrt(d * (d - 2))
    c = (np.sqrt(d - 2) + np.sqrt(d)) / (np.sqrt(d - 2) * g)
    p = np.sqrt(g / (2 * d))
    alpha, beta = p * (1 + c), p * (c - 1 / g)
    diag = np.diag(s)
    cov = (alpha**2 + beta**2) * s + alpha * beta * (diag[:, None] + diag[None, :])
    var_i = alpha**2 * diag[:, None] + 2 * alpha * beta * s + beta**2 * diag[None, :]
    check_balance_variances(var_i, labels.part_names(d))
    r = cov / np.sqrt(var_i * var_i.T)
    np.fill_diagonal(r, 1.0)
    return labels.square(r)
