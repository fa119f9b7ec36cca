"""Covariance structure of compositions.

Estimators from data: :func:`variation`, :func:`clr_cov`, :func:`alr_cov`,
:func:`ilr_cov`, :func:`total_variance`, :func:`proportionality`.
Exact maps between the matrices, no data needed:
:func:`variation_to_clr_cov`, :func:`clr_cov_to_variation`,
:func:`clr_cov_to_alr_cov`, :func:`alr_cov_to_clr_cov`,
:func:`alr_cov_change_ref`. Proportionality is in :mod:`coda.proportionality`.

Notation: ``X`` is n x D and strictly positive; ``G = I - 11^T/D``; ``F_r`` is
the (D-1) x D alr matrix with rows ``e_k - e_r`` (k != r). Sample covariances
use the divisor ``n - ddof`` (``ddof=1`` by default). D x D results are
labelled by part names on both axes when the input has them. The estimators
also take dask arrays and DataFrames, read in one pass over their row blocks
(``coda._dask_moments``; :func:`variation`, :func:`alr_cov` and
:func:`ilr_cov` read them a second time where entries must be recomputed);
their results are computed D x D matrices.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from coda._alr_labels import alr_parts, alr_record, alr_reference
from coda._clr_gram import (
    _CANCELLATION,
    clr_cov_estimate,
    composition_parts,
    ilr_cov_of_gamma,
    ilr_cov_values,
    may_cancel,
    relative_log_cov,
    variation_estimate,
    variation_of_matrix,
)
from coda._cov_maps import alr_matrix, alr_square, double_centre, square_argument
from coda._labels import Labels
from coda._validation import check_part, check_square, check_variation_matrix

__all__ = [
    "alr_cov",
    "alr_cov_change_ref",
    "alr_cov_to_clr_cov",
    "clr_cov",
    "clr_cov_to_alr_cov",
    "clr_cov_to_variation",
    "ilr_cov",
    "total_variance",
    "variation",
    "variation_to_clr_cov",
]


def variation(x, /, *, ddof: int = 1):
    r"""The variation matrix: variances of all pairwise log-ratios.

    Parameters
    ----------
    x : array_like, DataFrame, dask array or dask DataFrame of shape (n_samples, n_parts)
        Strictly positive compositions (at least two samples and two parts).
        Dask input is reduced in one pass over its row blocks (see
        :func:`clr_cov`), two for nearly proportional parts (see Notes).
    ddof : int, default 1
        Delta degrees of freedom: variances divide by ``n - ddof``.

    Returns
    -------
    ndarray or DataFrame of shape (n_parts, n_parts)
        :math:`T_{ij} = \operatorname{var}(\log(x_i / x_j))`, symmetric with
        a zero diagonal; labelled by parts for DataFrame input.

    Raises
    ------
    ValueError
        If ``x`` is not a strictly positive composition with at least two
        samples and parts.

    See Also
    --------
    clr_cov_to_variation : the same matrix from the clr covariance.
    variation_to_clr_cov : the clr covariance from it.

    Notes
    -----
    Computed as :math:`T_{ij} = \Gamma_{ii} + \Gamma_{jj} - 2\Gamma_{ij}` from
    the clr covariance, accurate to a few eps of :math:`\Gamma_{ii} +
    \Gamma_{jj}`. Where that is more than 1024 times :math:`T_{ij}` (nearly
    proportional parts, parts spanning many orders of magnitude), the entry
    is recomputed from the data as :math:`\operatorname{var}(\log x_i - \log
    x_j)`, in one Gram matrix per cluster of such parts (their logs relative
    to one of them). Entries kept from the clr covariance are then good to
    about 2,000 eps of themselves (1e-12) or better, and recomputed ones to
    about what ``var(log(x_i / x_j))`` of the data gets: for parts
    proportional up to noise of 1e-9 and below, the rounding of the logs
    themselves leaves 1e-9 to 1e-6 of the entry. Dask input gets the same
    recomputation, in a second pass over its row blocks (only data with
    such entries are read twice).
    The variation matrix is invariant to closure, perturbation and the
    choice of any reference.

    References
    ----------
    .. [1] Aitchison, J. (1986). *The Statistical Analysis of Compositional
       Data*. Chapman and Hall. https://doi.org/10.1007/978-94-009-4109-0

    Examples
    --------
    >>> import coda
    >>> x = [[1, 2, 4], [2, 1, 4], [2, 2, 3], [3, 1, 1]]
    >>> coda.variation(x).round(4)
    array([[0.    , 0.622 , 1.0977],
           [0.622 , 0.    , 0.341 ],
           [1.0977, 0.341 , 0.    ]])
    """
    cov = clr_cov_estimate(x, ddof)
    return cov.labels.square(variation_estimate(cov))


def clr_cov(x, /, *, ddof: int = 1):
    r"""Covariance matrix of the clr coordinates.

    Parameters
    ----------
    x : array_like, DataFrame, dask array or dask DataFrame of shape (n_samples, n_parts)
        Strictly positive compositions (at least two samples and two parts).
        Dask input is reduced in one pass over its row blocks (see
        :func:`clr_cov`).
    ddof : int, default 1
        Delta degrees of freedom: covariances divide by ``n - ddof``.

    Returns
    -------
    ndarray or DataFrame of shape (n_parts, n_parts)
        :math:`\Gamma = \operatorname{cov}(\operatorname{clr}(X))`, of rank at
        most D-1 with :math:`\Gamma 1 = 0`; labelled by parts for DataFrame
        input.

    Raises
    ------
    ValueError
        If ``x`` is not a strictly positive composition with at least two
        samples and parts.

    See Also
    --------
    variation_to_clr_cov : :math:`\Gamma = -\tfrac12 G T G`.
    coda.precision : its Moore-Penrose inverse.

    Notes
    -----
    Computed as :math:`G\,\operatorname{cov}(\log X)\,G` (no clr data is
    formed), with the log columns centred before the cross-product so that
    large log-means do not cost precision.

    Dask input (data larger than memory: n large, D up to a few thousand) is
    read once: each row block gives its row count, the mean of its logs and
    their co-moment :math:`M_2 = \sum_r (y_r - \bar y)(y_r - \bar y)^T`,
    and the blocks are merged in a tree by the pairwise update of Chan,
    Golub and LeVeque (1983), :math:`\delta = \bar y_b - \bar y_a`,
    :math:`M_2 = M_{2a} + M_{2b} + \delta\delta^T n_a n_b / n`, which adds
    centred sums only. The work runs on dask's current scheduler (threads,
    or a ``dask.distributed`` client); only D x D matrices travel, and the
    result is computed, not lazy: a numpy array, or a DataFrame labelled by
    the dask DataFrame's columns. It equals the in-memory result up to
    rounding (about 1e-15 of the largest entry).

    References
    ----------
    .. [1] Chan, T. F., Golub, G. H. and LeVeque, R. J. (1983). Algorithms
       for computing the sample variance: analysis and recommendations. The
       American Statistician 37(3):242-247.
       https://doi.org/10.1080/00031305.1983.10483115

    Examples
    --------
    >>> import coda
    >>> x = [[1, 2, 4], [2, 1, 4], [2, 2, 3], [3, 1, 1]]
    >>> coda.clr_cov(x).round(4)
    array([[ 0.3443, -0.0929, -0.2514],
           [-0.0929,  0.092 ,  0.0008],
           [-0.2514,  0.0008,  0.2506]])

    The same from a dask array in blocks of two rows:

    >>> import dask.array as da
    >>> blocks = da.from_array(np.array(x, dtype=float), chunks=(2, 3))
    >>> gamma = coda.clr_cov(x)
    >>> bool(np.abs(coda.clr_cov(blocks) - gamma).max() < 1e-15 * np.abs(gamma).max())
    True
    """
    cov = clr_cov_estimate(x, ddof)
    return cov.labels.square(cov.gamma)


def alr_cov(x, /, *, ref=-1, ddof: int = 1):
    r"""Covariance matrix of the alr coordinates with reference ``ref``.

    Parameters
    ----------
    x : array_like, DataFrame, dask array or dask DataFrame of shape (n_samples, n_parts)
        Strictly positive compositions (at least two samples and two parts).
        Dask input is reduced in one pass over its row blocks (see
        :func:`clr_cov`), two or three for nearly proportional parts (see
        :func:`variation` and the Notes).
    ref : int or str, default -1
        The reference part (position, or name for DataFrame input).
    ddof : int, default 1
        Delta degrees of freedom: covariances divide by ``n - ddof``.

    Returns
    -------
    ndarray or DataFrame of shape (n_parts - 1, n_parts - 1)
        :math:`\Sigma_r = F_r \Gamma F_r^T`; for DataFrame input labelled
        like the alr columns (``"Si/Mn"``) on both axes.

    Raises
    ------
    ValueError
        If ``x`` is not a valid composition or ``ref`` is not a part.

    See Also
    --------
    clr_cov_to_alr_cov, alr_cov_to_clr_cov, alr_cov_change_ref

    Notes
    -----
    Computed as :math:`-\tfrac12 F_r T F_r^T` from :func:`variation`, so the
    variance of :math:`\log(x_k / x_r)` is :math:`T_{kr}`, as accurate for a
    part nearly proportional to the reference as for any other. Where some
    :math:`T_{kr}` is below 1/1024 of the largest variation, the covariances
    :math:`(T_{kr} + T_{lr} - T_{kl})/2` would cancel far below their own
    scale :math:`\sqrt{T_{kr} T_{lr}}`; the matrix is then formed from the
    log-ratios of the data in another pass, to a few eps of that scale. That
    pass takes each log-ratio less that of one row of the data, rounding
    once, so that parts far apart in scale (log-ratios near 40 that vary by
    1e-7, say) lose nothing more to the offset of their logs than the
    rounding of the logs themselves (numpy's float64 ``log``, about an eps
    of 40, which is 1e-8 of such a spread).

    Examples
    --------
    >>> import coda
    >>> x = [[1, 2, 4], [2, 1, 4], [2, 2, 3], [3, 1, 1]]
    >>> coda.alr_cov(x, ref=0).round(4)
    array([[0.622 , 0.6894],
           [0.6894, 1.0977]])
    """
    labels, d = composition_parts(x)
    r = check_part(ref, "ref", labels.parts, d)
    # Sigma_r = -1/2 F_r T F_r^T: Sigma_kl = (T_kr + T_lr - T_kl) / 2, whose diagonal is
    # T_kr itself, accurate where F_r Gamma F_r^T cancels (a part nearly proportional to ref).
    cov = clr_cov_estimate(x, ddof)
    t = variation_estimate(cov)
    keep = np.delete(np.arange(d), r)
    to_ref = t[keep, r]
    # Off the diagonal the sum cancels to about eps max(T) where Sigma_kl's own scale,
    # sqrt(T_kr T_lr), is far smaller: then Sigma comes from the data, in another pass.
    if _CANCELLATION * to_ref.min() < t.max():
        sigma = relative_log_cov(cov.values, np.arange(d), r, cov.ddof)[np.ix_(keep, keep)]
        np.fill_diagonal(sigma, to_ref)
    else:
        sigma = 0.5 * ((to_ref[:, None] + to_ref[None, :]) - t[np.ix_(keep, keep)])
    return alr_square(labels, sigma, r)


def ilr_cov(x, /, *, basis="helmert", ddof: int = 1):
    r"""Covariance matrix of the ilr coordinates.

    Parameters
    ----------
    x : array_like, DataFrame, dask array or dask DataFrame of shape (n_samples, n_parts)
        Strictly positive compositions (at least two samples and two parts).
        Dask input is reduced in one pass over its row blocks (see
        :func:`clr_cov`).
    basis : {"helmert", "pivot"} or array_like of shape (n_parts, n_parts - 1)
        As for :func:`coda.ilr`.
    ddof : int, default 1
        Delta degrees of freedom: covariances divide by ``n - ddof``.

    Returns
    -------
    ndarray or DataFrame of shape (n_parts - 1, n_parts - 1)
        :math:`\Psi = V^T \Gamma V`, full rank when the data span the
        simplex; labelled ``ilr1 ..`` (or by the basis's columns) for
        DataFrame input.

    Raises
    ------
    ValueError
        If ``x`` is not a valid composition or ``basis`` is invalid, or if
        ``basis`` is a DataFrame whose index names other parts than ``x``'s
        columns, or the same parts in another order.

    See Also
    --------
    coda.ilr, clr_cov

    Notes
    -----
    :math:`V^\top \Gamma V` from the clr covariance, except where
    two parts are nearly proportional (a variation entry below 1/1024 of
    twice the largest clr variance, as in :func:`variation`): there the
    covariance of coordinates made from differences of neighbouring logs
    (exact for nearly proportional neighbours; for neighbours far apart in
    scale, taken less those of one row of the data, without rounding
    twice), by groups of rows merged as for dask input in :func:`clr_cov`,
    good to a few dozen eps of each entry where :math:`V^\top \Gamma V`
    lost up to 1e13 eps. A coordinate small
    only because logs of distant parts cancel still loses what that sum
    loses. Dask input gets the same, in a second pass over its row blocks.

    Examples
    --------
    >>> import coda
    >>> x = [[1, 2, 4], [2, 1, 4], [2, 2, 3], [3, 1, 1]]
    >>> coda.ilr_cov(x).round(4)
    array([[0.311 , 0.2184],
           [0.2184, 0.3759]])
    """
    from coda.transforms import _resolve_basis

    labels, d = composition_parts(x)
    kind, matrix, names, _ = _resolve_basis(basis, d, labels.parts)
    cov = clr_cov_estimate(x, ddof)
    if may_cancel(cov):
        psi = ilr_cov_values(cov.values, kind, matrix, cov.ddof, row_labels=cov.labels.index)
    else:
        psi = ilr_cov_of_gamma(cov.gamma, kind, matrix)
    if labels.labelled and names is None:
        names = [f"ilr{k + 1}" for k in range(d - 1)]
    return labels.square(psi, names)


def total_variance(x, /, *, ddof: int = 1) -> float:
    r"""Total variance: the trace of the clr covariance.

    Parameters
    ----------
    x : array_like, DataFrame, dask array or dask DataFrame of shape (n_samples, n_parts)
        Strictly positive compositions (at least two samples and two parts).
        Dask input is reduced in one pass over its row blocks (see
        :func:`clr_cov`).
    ddof : int, default 1
        Delta degrees of freedom: variances divide by ``n - ddof``.

    Returns
    -------
    float
        :math:`\operatorname{tr}\Gamma = \frac{1}{2D}\sum_{i,j} T_{ij}`, the
        mean squared Aitchison distance of the samples to their centre (times
        ``n / (n - ddof)``).

    Raises
    ------
    ValueError
        If ``x`` is not a strictly positive composition.

    See Also
    --------
    clr_cov, variation

    Examples
    --------
    >>> import coda
    >>> round(coda.total_variance([[1, 2, 4], [2, 1, 4], [2, 2, 3], [3, 1, 1]]), 6)
    0.686917
    """
    return float(np.trace(clr_cov_estimate(x, ddof).gamma))


def variation_to_clr_cov(t, /):
    r"""The clr covariance from the variation matrix: :math:`\Gamma = -\tfrac12 G T G`.

    Parameters
    ----------
    t : array_like or DataFrame of shape (D, D)
        A variation matrix (symmetric, zero diagonal).

    Returns
    -------
    ndarray or DataFrame of shape (D, D)
        The clr covariance, labelled like ``t``.

    Raises
    ------
    ValueError
        If ``t`` is not a finite symmetric square matrix with a zero
        diagonal and no negative entry (variances of log-ratios).

    See Also
    --------
    clr_cov_to_variation : the inverse map.

    Examples
    --------
    >>> import coda
    >>> x = [[1, 2, 4], [1, 4, 8], [2, 2, 4], [3, 1, 1]]
    >>> t = coda.variation(x)
    >>> bool(np.allclose(coda.variation_to_clr_cov(t), coda.clr_cov(x)))
    True
    """
    values, labels = square_argument(t, "t")
    check_variation_matrix(values, "t")
    return labels.square(-0.5 * double_centre(values), labels.parts)


def clr_cov_to_variation(gamma, /):
    r"""The variation matrix from the clr covariance.

    :math:`T_{ij} = \Gamma_{ii} + \Gamma_{jj} - 2\Gamma_{ij}`.

    Parameters
    ----------
    gamma : array_like or DataFrame of shape (D, D)
        A clr covariance matrix (any symmetric matrix is accepted; the map
        is the same for any covariance of log-abundances).

    Returns
    -------
    ndarray or DataFrame of shape (D, D)
        The variation matrix, labelled like ``gamma``. Entries that
        rounding puts below zero (within 64 eps of
        :math:`|\Gamma_{ii}| + |\Gamma_{jj}| + 2|\Gamma_{ij}|`, as for
        proportional parts) are 0; a more negative entry, from a ``gamma``
        that is not a covariance, is kept.

    Raises
    ------
    ValueError
        If ``gamma`` is not a finite symmetric square matrix.

    See Also
    --------
    variation_to_clr_cov : the inverse map on clr covariances.

    Examples
    --------
    >>> import coda
    >>> coda.clr_cov_to_variation([[2.0, -2.0], [-2.0, 2.0]])
    array([[0., 8.],
           [8., 0.]])
    """
    values, labels = square_argument(gamma, "gamma")
    t = variation_of_matrix(values)
    return labels.square(t, labels.parts)


def clr_cov_to_alr_cov(gamma, /, *, ref=-1):
    r"""The alr covariance from the clr covariance: :math:`\Sigma_r = F_r \Gamma F_r^T`.

    Parameters
    ----------
    gamma : array_like or DataFrame of shape (D, D)
        A clr covariance (or variation-compatible covariance) matrix.
    ref : int or str, default -1
        The alr reference part (a name when ``gamma`` is labelled).

    Returns
    -------
    ndarray or DataFrame of shape (D-1, D-1)
        :math:`\Sigma_r`, labelled ``"k/ref"`` when ``gamma`` is labelled.

    Raises
    ------
    ValueError
        If ``gamma`` is not a finite symmetric square matrix or ``ref`` is
        not a part.

    See Also
    --------
    alr_cov_to_clr_cov : the inverse map.

    Notes
    -----
    Equivalently :math:`\Sigma_r = -\tfrac12 F_r T F_r^T`, so the alr
    covariance for any reference follows from the variation matrix.

    Examples
    --------
    >>> import coda
    >>> x = [[1, 2, 4], [1, 4, 8], [2, 2, 4], [3, 1, 1]]
    >>> g = coda.clr_cov(x)
    >>> bool(np.allclose(coda.clr_cov_to_alr_cov(g, ref=1), coda.alr_cov(x, ref=1)))
    True
    """
    values, labels = square_argument(gamma, "gamma")
    d = values.shape[0]
    r = check_part(ref, "ref", labels.parts, d)
    f = alr_matrix(d, r)
    return alr_square(labels, f @ values @ f.T, r)


def alr_cov_to_clr_cov(sigma, /, *, ref=None):
    r"""The clr covariance from an alr covariance: :math:`\Gamma = G E_r \Sigma_r E_r^T G`.

    Parameters
    ----------
    sigma : array_like or DataFrame of shape (D-1, D-1)
        The covariance of alr coordinates with reference ``ref``.
    ref : int or str, optional
        The reference's position among the D parts, or, when ``sigma`` is a
        result of :func:`alr_cov` (labels as it made them), its name. By
        default the position :func:`alr_cov` recorded for such a result, and
        the last part otherwise.

    Returns
    -------
    ndarray or DataFrame of shape (D, D)
        The clr covariance. Labelled by parts when ``sigma`` is labelled with
        ``"k/r"`` names (as :func:`alr_cov` makes them).

    Raises
    ------
    ValueError
        If ``sigma`` is not a finite symmetric square matrix or ``ref`` is
        out of range.

    See Also
    --------
    clr_cov_to_alr_cov : the forward map.

    Notes
    -----
    ``E_r`` inserts a zero coordinate at position ``ref``: the logs relative
    to the reference, whose centring by ``G`` gives the clr.

    Examples
    --------
    >>> import coda
    >>> x = [[1, 2, 4], [1, 4, 8], [2, 2, 4], [3, 1, 1]]
    >>> s = coda.alr_cov(x, ref=0)
    >>> bool(np.allclose(coda.alr_cov_to_clr_cov(s, ref=0), coda.clr_cov(x)))
    True
    """
    values = check_square(sigma, "sigma", min_size=1)
    d = values.shape[0] + 1
    labels = (
        Labels("frame", False, None, sigma.columns) if isinstance(sigma, pd.DataFrame) else None
    )
    record = None if labels is None else alr_record(labels, sigma.attrs)
    r = alr_reference(ref, record, d)
    embedded = np.insert(np.insert(values, r, 0.0, axis=0), r, 0.0, axis=1)
    gamma = double_centre(embedded)
    if labels is not None:
        parts = alr_parts(labels, r, record)
        if parts is None:
            return pd.DataFrame(gamma)
        return pd.DataFrame(gamma, index=parts, columns=parts)
    return gamma


def alr_cov_change_ref(sigma, /, *, ref, new_ref):
    r"""Change the reference of an alr covariance matrix.

    Parameters
    ----------
    sigma : array_like or DataFrame of shape (D-1, D-1)
        The covariance of alr coordinates with reference ``ref``.
    ref : int or str
        The current reference's position among the D parts (a name, when
        ``sigma`` is a result of :func:`alr_cov`; see
        :func:`alr_cov_to_clr_cov`).
    new_ref : int or str
        The new reference's position among the D parts (or its name, when
        ``sigma`` is a result of :func:`alr_cov`).

    Returns
    -------
    ndarray or DataFrame of shape (D-1, D-1)
        :math:`\Sigma_{new} = F_{new} \Gamma F_{new}^T` with
        :math:`\Gamma` from :func:`alr_cov_to_clr_cov`; labelled ``"k/new"``
        when ``sigma`` carries ``"k/r"`` labels.

    Raises
    ------
    ValueError
        If ``sigma`` is not a finite symmetric square matrix or a reference
        is out of range.

    See Also
    --------
    alr_cov_to_clr_cov, clr_cov_to_alr_cov

    Examples
    --------
    >>> import coda
    >>> x = [[1, 2, 4], [1, 4, 8], [2, 2, 4], [3, 1, 1]]
    >>> s0 = coda.alr_cov(x, ref=0)
    >>> bool(np.allclose(coda.alr_cov_change_ref(s0, ref=0, new_ref=2), coda.alr_cov(x, ref=2)))
    True
    """
    gamma = alr_cov_to_clr_cov(sigma, ref=ref)
    d = gamma.shape[0]
    # Part names are known when sigma came from alr_cov (gamma is then labelled).
    parts = gamma.columns if isinstance(gamma, pd.DataFrame) else None
    new = check_part(new_ref, "new_ref", parts, d)
    return clr_cov_to_alr_cov(gamma, ref=new)
