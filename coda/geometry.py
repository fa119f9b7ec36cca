"""Aitchison geometry of the simplex.

:func:`closure`, perturbation (:func:`perturb`, :func:`perturb_inv`),
powering (:func:`power`), the inner product, norm and distance
(:func:`inner`, :func:`norm`, :func:`distance`) and the centre of a set of
compositions (:func:`center`).

Conventions: ``x`` has one row per sample and one column per part (a 1-D
``x`` is one composition). Arrays in give arrays out; pandas in gives pandas
out with the same index and named columns. Inputs are never modified.

Every function but :func:`center` accepts dask arrays and DataFrames too: the
in-memory function runs on each block of rows when the result is computed; a
dask array in gives a dask array out, a dask DataFrame a dask DataFrame (or
Series) with the same divisions (see the dask page of the docs).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from coda import _dask, _kernels
from coda._labels import composition, unwrap
from coda._parallel import for_row_blocks
from coda._validation import (
    check_dask_scalar,
    check_matching_labels,
    check_matching_rows,
    check_powers,
    check_total,
    is_dask,
    raise_invalid_composition,
)
from coda.transforms import clr_inv_values

__all__ = [
    "center",
    "closure",
    "distance",
    "inner",
    "norm",
    "perturb",
    "perturb_inv",
    "power",
]


def closure(x, /, *, total: float = 1.0):
    """Rescale each composition to a constant sum.

    Parameters
    ----------
    x : array_like or dask collection of shape (n_samples, n_parts) or (n_parts,)
        Non-negative amounts; zeros are allowed. A DataFrame keeps its labels.
    total : float, default 1.0
        The constant sum of each row (100 for percentages).

    Returns
    -------
    ndarray, Series or DataFrame
        ``total * x / x.sum(axis=1)``, of the same shape and form as ``x``.

    Raises
    ------
    ValueError
        If ``x`` holds negative, NaN or infinite values, or a row of zeros.

    See Also
    --------
    clr_inv : closure of the exponential of clr coordinates.

    Notes
    -----
    Each row is scaled by a power of two before summing (an exact operation),
    and the sum is compensated, so rows whose totals are near the smallest or
    largest floating-point numbers keep full relative precision.

    Examples
    --------
    >>> import coda
    >>> coda.closure([1, 2, 5])
    array([0.125, 0.25 , 0.625])
    >>> coda.closure([[1, 1], [1, 3]], total=100)
    array([[50., 50.],
           [25., 75.]])
    """
    total = check_total(total)
    if is_dask(x):
        return _dask.map_rows(closure, x, total=total)
    values, labels = unwrap(x)
    values = np.ascontiguousarray(values)
    out = np.empty_like(values)
    rowcheck = np.empty(values.shape[0])

    def run(start: int, stop: int) -> None:
        _kernels._closure(values[start:stop], out[start:stop], rowcheck[start:stop])

    for_row_blocks(run, values.shape[0], values.shape[1] * values.itemsize)
    if not (np.isfinite(rowcheck).all() and (rowcheck > 0).all()):
        raise_invalid_composition(values, "x", allow_zeros=True, row_labels=labels.index)
    if total != 1.0:
        out *= total
    return labels.rows(out, labels.parts)


def _pair(x, y):
    """Validate two compositions that broadcast row-wise against each other."""
    xv, xl = composition(x, "x")
    yv, yl = composition(y, "y")
    check_matching_rows(xv, yv)
    check_matching_labels(xl, yl)
    # The result has the rows of the longer argument, so it takes that one's
    # labels; with equal rows, x's, unless x is one composition and y a matrix.
    labels = yl if (yv.shape[0] > xv.shape[0] or (xl.one_d and not yl.one_d)) else xl
    dtype = np.result_type(xv, yv)
    return xv.astype(dtype, copy=False), yv.astype(dtype, copy=False), labels


def _centred_logs(values: np.ndarray) -> np.ndarray:
    logs = np.log(values)
    return logs - logs.mean(axis=1, keepdims=True)


def perturb(x, y, /):
    """Perturbation: the Aitchison sum ``closure(x * y)``.

    Parameters
    ----------
    x, y : array_like or dask collection of shape (n_samples, n_parts) or (n_parts,)
        Strictly positive compositions with the same parts; one composition
        is combined with every row of the other.

    Returns
    -------
    ndarray, Series or DataFrame
        ``closure(x * y)``, computed in log space so that it neither
        overflows nor underflows.

    Raises
    ------
    ValueError
        If either argument is not a strictly positive composition or their
        shapes do not match, or if both are labelled (pandas) and name
        different parts, the same parts in another order, or different rows:
        pairs are matched by position.

    See Also
    --------
    perturb_inv : the Aitchison difference.

    Examples
    --------
    >>> import coda
    >>> coda.perturb([1, 2, 1], [1, 1, 2])
    array([0.2, 0.4, 0.4])
    """
    if is_dask(x) or is_dask(y):
        return _dask.map_rows(perturb, x, y, names=("x", "y"))
    xv, yv, labels = _pair(x, y)
    z = np.ascontiguousarray(_centred_logs(xv) + _centred_logs(yv))
    out = clr_inv_values(z)
    return labels.rows(out, labels.parts)


def perturb_inv(x, y, /):
    """Inverse perturbation: the Aitchison difference ``closure(x / y)``.

    Parameters
    ----------
    x, y : array_like or dask collection of shape (n_samples, n_parts) or (n_parts,)
        Strictly positive compositions with the same parts.

    Returns
    -------
    ndarray, Series or DataFrame
        ``closure(x / y)``; ``perturb(perturb_inv(x, y), y) == closure(x)``.

    Raises
    ------
    ValueError
        If either argument is not a strictly positive composition or their
        shapes do not match, or if both are labelled (pandas) and name
        different parts, the same parts in another order, or different rows:
        pairs are matched by position.

    See Also
    --------
    perturb : the Aitchison sum.

    Examples
    --------
    >>> import coda
    >>> coda.perturb_inv([1, 2, 2], [1, 1, 2])
    array([0.25, 0.5 , 0.25])
    """
    if is_dask(x) or is_dask(y):
        return _dask.map_rows(perturb_inv, x, y, names=("x", "y"))
    xv, yv, labels = _pair(x, y)
    z = np.ascontiguousarray(_centred_logs(xv) - _centred_logs(yv))
    out = clr_inv_values(z)
    return labels.rows(out, labels.parts)


def power(x, a, /):
    """Powering: the Aitchison scalar multiple ``closure(x ** a)``.

    Parameters
    ----------
    x : array_like or dask collection of shape (n_samples, n_parts) or (n_parts,)
        Strictly positive compositions.
    a : float or array_like of shape (n_samples,)
        One power for all rows, or one per row.

    Returns
    -------
    ndarray, Series or DataFrame
        ``closure(x ** a)``, computed as ``clr_inv(a * clr(x))``.

    Raises
    ------
    ValueError
        If ``x`` is not a strictly positive composition or ``a`` is not
        finite or does not match the rows.

    See Also
    --------
    perturb : the Aitchison sum.

    Examples
    --------
    >>> import coda
    >>> coda.power([1, 2, 4], 2)
    array([0.04761905, 0.19047619, 0.76190476])
    """
    if is_dask(x):
        check_dask_scalar(a, "a")
        return _dask.map_rows(power, x, trailing=(a,))
    values, labels = composition(x)
    scalars = check_powers(a, "a", values.shape[0])
    z = (_centred_logs(values) * scalars.reshape(-1, 1)).astype(values.dtype)
    out = clr_inv_values(z)
    return labels.rows(out, labels.parts)


def inner(x, y, /):
    """Aitchison inner product, row by row.

    Parameters
    ----------
    x, y : array_like or dask collection of shape (n_samples, n_parts) or (n_parts,)
        Strictly positive compositions with the same parts; one composition
        is combined with every row of the other.

    Returns
    -------
    float, ndarray or Series
        ``sum(clr(x) * clr(y))`` for each row: a float for two single
        compositions, a Series indexed like a DataFrame input.

    Raises
    ------
    ValueError
        If either argument is not a strictly positive composition or their
        shapes do not match, or if both are labelled (pandas) and name
        different parts, the same parts in another order, or different rows:
        pairs are matched by position.

    See Also
    --------
    norm, distance

    Examples
    --------
    >>> import coda
    >>> round(coda.inner([1, 2, 4], [1, 1, 2]), 10)
    0.4804530139
    """
    if is_dask(x) or is_dask(y):
        return _dask.map_rows(inner, x, y, names=("x", "y"), per_row=True)
    xv, yv, labels = _pair(x, y)
    return labels.per_row((_centred_logs(xv) * _centred_logs(yv)).sum(axis=1), "inner")


def norm(x, /):
    """Aitchison norm of each composition.

    Parameters
    ----------
    x : array_like or dask collection of shape (n_samples, n_parts) or (n_parts,)
        Strictly positive compositions.

    Returns
    -------
    float, ndarray or Series
        ``sqrt(inner(x, x))``, the Euclidean norm of the clr coordinates.

    Raises
    ------
    ValueError
        If ``x`` is not a strictly positive composition.

    See Also
    --------
    inner, distance

    Examples
    --------
    >>> import coda
    >>> round(coda.norm([1, 1, 1]), 12)
    0.0
    >>> round(coda.norm([1, np.e]), 12)
    0.707106781187
    """
    if is_dask(x):
        return _dask.map_rows(norm, x, per_row=True)
    values, labels = composition(x)
    return labels.per_row(np.sqrt((_centred_logs(values) ** 2).sum(axis=1)), "norm")


def distance(x, y, /):
    """Aitchison distance between matching rows.

    Parameters
    ----------
    x, y : array_like or dask collection of shape (n_samples, n_parts) or (n_parts,)
        Strictly positive compositions with the same parts; one composition
        is compared with every row of the other.

    Returns
    -------
    float, ndarray or Series
        ``norm(perturb_inv(x, y))``, equal to the Euclidean distance of the
        clr (and of any ilr) coordinates.

    Raises
    ------
    ValueError
        If either argument is not a strictly positive composition or their
        shapes do not match, or if both are labelled (pandas) and name
        different parts, the same parts in another order, or different rows:
        pairs are matched by position.

    See Also
    --------
    norm, inner

    Examples
    --------
    >>> import coda
    >>> round(coda.distance([1, 2, 4], [2, 4, 8]), 12)
    0.0
    >>> round(coda.distance([1, 1], [1, np.e]), 12)
    0.707106781187
    """
    if is_dask(x) or is_dask(y):
        return _dask.map_rows(distance, x, y, names=("x", "y"), per_row=True)
    xv, yv, labels = _pair(x, y)
    diff = _centred_logs(xv) - _centred_logs(yv)
    return labels.per_row(np.sqrt((diff**2).sum(axis=1)), "distance")


def center(x, /):
    """Centre of a set of compositions: the closed geometric mean of each part.

    Parameters
    ----------
    x : array_like of shape (n_samples, n_parts)
        Strictly positive compositions.

    Returns
    -------
    ndarray or Series of shape (n_parts,)
        ``clr_inv(mean(clr(x), axis=0))``; a Series named by part when ``x``
        is a DataFrame.

    Raises
    ------
    ValueError
        If ``x`` is not a strictly positive composition.

    See Also
    --------
    closure

    Notes
    -----
    The centre is the Aitchison (Frechet) mean: it minimises the sum of
    squared Aitchison distances to the rows.

    Examples
    --------
    >>> import coda
    >>> coda.center([[1, 1, 1], [1, 4, 16]])
    array([0.14285714, 0.28571429, 0.57142857])
    """
    values, labels = composition(x)
    z = np.ascontiguousarray(_centred_logs(values).mean(axis=0, keepdims=True))
    out = clr_inv_values(z)
    if labels.kind == "frame":
        return pd.Series(out[0], index=labels.parts, name="center")
    return labels.rows(out, labels.parts) if labels.kind == "series" else out[0]
