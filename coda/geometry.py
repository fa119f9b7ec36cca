"""Aitchison geometry of the simplex.

:func:`closure`, perturbation (:func:`perturb`, :func:`perturb_inv`),
powering (:func:`power`), the inner product, norm and distance
(:func:`inner`, :func:`norm`, :func:`distance`) and the centre of a set of
compositions (:func:`center`).

Conventions: ``x`` has one row per sample and one column per part (a 1-D
``x`` is one composition). Arrays in give arrays out; pandas in gives pandas
out with the same index and named columns. Inputs are never modified.

Every function accepts dask arrays and DataFrames too. The row-wise ones run
the in-memory function on each block of rows when the result is computed; a
dask array in gives a dask array out, a dask DataFrame a dask DataFrame (or
Series) with the same divisions (see the dask page of the docs).
:func:`center` reads the blocks when called, in one pass, and returns the
computed centre.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd

from coda import _dask, _kernels
from coda._dask_moments import checked_block, dask_labels, log_moments
from coda._labels import composition, unwrap
from coda._log_moments import LogMoments
from coda._log_ratios import log_ratios
from coda._parallel import for_row_blocks
from coda._validation import (
    as_2d,
    check_composition,
    check_dask_scalar,
    check_matching_labels,
    check_matching_rows,
    check_power_rows,
    check_powers,
    check_real_columns,
    check_shape,
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
        If ``x`` holds negative, NaN or infinite values, or a row of zeros,
        or if ``total`` is outside the normal range of the result's dtype
        (float32 for float32 ``x``).

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
    check_total(total, values.dtype)
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
    # The result has the shape of the larger argument (more rows; a matrix
    # over one composition), so it takes that one's labels; when both have
    # that shape, the labelled one's (x's if both are), so that swapping a
    # pandas and a numpy argument does not lose the labels.
    x_shape = (xv.shape[0], not xl.one_d)
    y_shape = (yv.shape[0], not yl.one_d)
    if x_shape == y_shape:
        labels = yl if (yl.labelled and not xl.labelled) else xl
    else:
        labels = xl if x_shape > y_shape else yl
    dtype = np.result_type(xv, yv)
    return xv.astype(dtype, copy=False), yv.astype(dtype, copy=False), labels


def _dask_partners(x, y):
    """``x`` and ``y`` for the dask path, an in-memory one-row partner made one composition.

    Each block of the dask argument is paired with the partner whole; as a
    1-D composition the partner is never the larger of the pair, so every
    block's result has the block's form and row labels (a 1-row DataFrame
    partner would otherwise lend its index to 1-row blocks, or turn the
    blocks of a dask array into DataFrames).
    """
    return tuple(
        v if is_dask(v) else _as_one_composition(v, name) for v, name in ((x, "x"), (y, "y"))
    )


def _as_one_composition(value, name: str):
    if np.ndim(value) != 2 or np.shape(value)[0] != 1:
        return value
    if isinstance(value, pd.DataFrame):
        # Checked before the row becomes a Series, whose dtype would hide the column.
        check_real_columns(value.dtypes, name, value)
        return value.iloc[0]
    # asanyarray: a masked array keeps its mask, for as_2d to refuse masked values
    return np.asanyarray(value)[0]


# The operations below work in float64 on logs of ratios (log_ratios), not on
# log(x) itself: a log's rounding is eps * |log x|, large beside the clr of
# parts near 50% or of rows near 1e-300, and beside log(x / y) for close x and
# y. Where the rows' scaled products, quotients or powers are normal floats,
# perturb, perturb_inv and power form them directly (one rounding each) and
# close them; exp of a log of a ratio of 1e-12 is off by 27 eps.
_TINY = np.finfo(np.float64).tiny


def _centred(logs: np.ndarray) -> np.ndarray:
    """``logs`` (float64, owned) centred on each row's mean, in place: clr coordinates."""
    logs -= logs.mean(axis=1, keepdims=True)
    return logs


def _clr_of(values: np.ndarray) -> np.ndarray:
    """clr coordinates in float64, from the logs of each part over the row's first."""
    return _centred(log_ratios(values, values[:, :1]))


def _pow2_rows(values: np.ndarray) -> np.ndarray:
    """``values`` in float64, each row scaled (exactly) so its largest entry is in [0.5, 1)."""
    values = np.asarray(values, dtype=np.float64)
    shift = -np.frexp(values.max(axis=1, keepdims=True))[1]
    # A product with a power of two rounds as ldexp does (only into the
    # subnormals) and took 2/3 of its time; a row whose largest entry is
    # subnormal needs a power above the float range, which ldexp applies.
    # Products that round into the subnormals, and powers above the float
    # range (then not used), are expected: no warning, whatever np.errstate says.
    with np.errstate(over="ignore", under="ignore"):
        scale = np.ldexp(1.0, shift)
        return values * scale if np.isfinite(scale).all() else np.ldexp(values, shift)


def _in_dtype(closed: np.ndarray, dtype) -> np.ndarray:
    """Closed compositions in float64 as ``dtype``: parts below float32's range become 0 there.

    That underflow is the cast's, as numpy's default ignores it; a user's
    ``np.errstate(all="raise")`` does not turn it into an error here.
    """
    with np.errstate(under="ignore"):
        return closed.astype(dtype)


def _close_normal(direct: np.ndarray, exact: np.ndarray, logs) -> np.ndarray:
    """``closure(direct)`` for rows where ``exact`` holds, ``clr_inv(logs(rows))`` elsewhere."""
    ok = exact & ((direct >= _TINY) & (direct < np.inf)).all(axis=1)
    if ok.all():  # the usual case: no copies of the rows in and out
        return closure(direct)
    out = np.empty(direct.shape)
    if ok.any():
        out[ok] = closure(direct[ok])
    out[~ok] = clr_inv_values(logs(~ok))
    return out


def _combine(xv: np.ndarray, yv: np.ndarray, sign: int) -> np.ndarray:
    """``closure(x * y)`` (``sign`` 1) or ``closure(x / y)`` (``sign`` -1), in float64."""
    xs, ys = np.broadcast_arrays(_pow2_rows(xv), _pow2_rows(yv))
    xb, yb = np.broadcast_arrays(xv, yv)
    with np.errstate(all="ignore"):
        direct = xs * ys if sign > 0 else xs / ys
    exact = ((xs >= _TINY) & (ys >= _TINY)).all(axis=1)

    def logs(rows):
        if sign < 0:
            return log_ratios(xb[rows], yb[rows])
        return log_ratios(xb[rows], xb[rows, :1]) + log_ratios(yb[rows], yb[rows, :1])

    return _close_normal(direct, exact, logs)


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
        ``closure(x * y)``, of rows first scaled by powers of two (exactly),
        so that it neither overflows nor underflows; rows whose products
        still leave the range of normal floats go through logs of ratios.

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
        return _dask.map_rows(perturb, *_dask_partners(x, y), names=("x", "y"))
    xv, yv, labels = _pair(x, y)
    out = _in_dtype(_combine(xv, yv, 1), xv.dtype)
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
        return _dask.map_rows(perturb_inv, *_dask_partners(x, y), names=("x", "y"))
    xv, yv, labels = _pair(x, y)
    out = _in_dtype(_combine(xv, yv, -1), xv.dtype)
    return labels.rows(out, labels.parts)


def power(x, a, /):
    """Powering: the Aitchison scalar multiple ``closure(x ** a)``.

    Parameters
    ----------
    x : array_like or dask collection of shape (n_samples, n_parts) or (n_parts,)
        Strictly positive compositions.
    a : float or array_like of shape (n_samples,)
        One power for all rows, or one per row, matched to the rows by
        position; a Series paired with a DataFrame ``x`` must have ``x``'s
        index.

    Returns
    -------
    ndarray, Series or DataFrame
        ``closure(x ** a)``, computed as ``closure((x / m) ** a)`` with ``m``
        the row's largest part (smallest for ``a < 0``), or through logs of
        ratios when ``x / m`` leaves the range of normal floats.

    Raises
    ------
    ValueError
        If ``x`` is not a strictly positive composition or ``a`` is not
        finite or does not match the rows, or if ``a`` is a Series whose
        index differs from that of a DataFrame ``x`` (the same rows in another
        order would silently get the wrong powers).

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
    if isinstance(a, pd.Series) and labels.kind == "frame":
        check_power_rows(a.index, labels.index)
    v = np.asarray(values, dtype=np.float64)
    a = np.broadcast_to(scalars.reshape(-1, 1), (v.shape[0], 1))
    # Over its largest part (its smallest for a < 0), a row's powers are <= 1,
    # one of them exactly 1: none overflows, and the sum cannot underflow.
    ref = np.where(a >= 0, v.max(axis=1, keepdims=True), v.min(axis=1, keepdims=True))
    with np.errstate(all="ignore"):
        ratios = v / ref
        # One exponent per entry, never a broadcast one: numpy's power takes an
        # exponent constant over the call (a scalar's, or one row's) of 0.5, 2
        # or -1 as sqrt, square or reciprocal, one unit in the last place from
        # pow, so a row would depend on the powers of the others.
        direct = np.repeat(a, v.shape[1], axis=1)
        np.power(ratios, direct, out=direct)
    exact = ((ratios >= _TINY) & (ratios < np.inf)).all(axis=1)

    def logs(rows):
        # A huge a times a log of a ratio is -inf by design (a power of 0),
        # a tiny one 0 or subnormal (a power of 1).
        with np.errstate(over="ignore", under="ignore"):
            return a[rows] * log_ratios(v[rows], ref[rows])

    out = _close_normal(direct, exact, logs)
    return labels.rows(_in_dtype(out, values.dtype), labels.parts)


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
        return _dask.map_rows(inner, *_dask_partners(x, y), names=("x", "y"), per_row=True)
    xv, yv, labels = _pair(x, y)
    products = (_clr_of(xv) * _clr_of(yv)).sum(axis=1)
    return labels.per_row(products.astype(xv.dtype), "inner")


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
    norms = np.sqrt((_clr_of(values) ** 2).sum(axis=1))
    return labels.per_row(norms.astype(values.dtype), "norm")


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
        return _dask.map_rows(distance, *_dask_partners(x, y), names=("x", "y"), per_row=True)
    xv, yv, labels = _pair(x, y)
    # log(x / y) directly: for close compositions log(x) - log(y) keeps
    # little more than the rounding of the logs.
    diff = _centred(log_ratios(xv, yv))
    return labels.per_row(np.sqrt((diff**2).sum(axis=1)).astype(xv.dtype), "distance")


def center(x, /):
    """Centre of a set of compositions: the closed geometric mean of each part.

    Parameters
    ----------
    x : array_like, DataFrame, dask array or dask DataFrame of shape (n_samples, n_parts)
        Strictly positive compositions. Dask input is read in one pass over
        its row blocks (see Notes).

    Returns
    -------
    ndarray or Series of shape (n_parts,)
        ``clr_inv(mean(clr(x), axis=0))``; a Series named by part when ``x``
        is a DataFrame or a dask DataFrame.

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

    Dask input is computed when ``center`` is called, not lazily: each row
    block gives its number of rows and the column means of its clr values
    (made as in memory, and checked as in memory, rows named as the
    row-wise functions name them), the means are merged in a tree, and the
    result is what an in-memory input gives (a numpy array, or a Series
    for a dask DataFrame, float32 for float32 data) up to the order of
    summation.

    Examples
    --------
    >>> import coda
    >>> coda.center([[1, 1, 1], [1, 4, 16]])
    array([0.14285714, 0.28571429, 0.57142857])
    """
    if is_dask(x):
        return _dask_center(x)
    values, labels = composition(x)
    z = np.ascontiguousarray(_clr_of(values).mean(axis=0, keepdims=True))
    out = _in_dtype(clr_inv_values(z), values.dtype)
    if labels.kind == "frame":
        return pd.Series(out[0], index=labels.parts, name="center")
    return labels.rows(out, labels.parts) if labels.kind == "series" else out[0]


def _dask_center(x):
    """:func:`center` of a dask array or DataFrame: one pass over its row blocks."""
    labels, d = dask_labels(x, min_parts=1, estimate=False)
    moments = log_moments(x, partial(checked_block, moments_of=_clr_means, shape=(d,)))
    # A zero-copy stand-in with the data's shape: no rows at all (a filtered frame) raise.
    check_shape(np.broadcast_to(0.0, (moments.count, d)), "x")
    z = np.ascontiguousarray(moments.mean.reshape(1, d))
    out = _in_dtype(clr_inv_values(z), as_2d(_dask.sample_row(x)).dtype)
    if labels.kind == "frame":
        return pd.Series(out[0], index=labels.parts, name="center")
    return out[0]


def _clr_means(values: np.ndarray, row_labels) -> LogMoments:
    """Part of :func:`_dask_center`: the count and clr means of one block, checked as in memory.

    Unshifted (the clr means are of the order of the clr values, as in
    memory); the co-moment is not needed and stays zero.
    """
    check_composition(values, "x", row_labels=row_labels)
    d = values.shape[1]
    return LogMoments(values.shape[0], np.zeros(d), _clr_of(values).mean(axis=0), np.zeros(d))
