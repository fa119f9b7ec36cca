"""Coordinates for compositional diagrams: clr biplots, ternary diagrams, CoDa-dendrograms.

:func:`biplot_coordinates` (form and covariance biplots of the clr data),
:func:`ternary_coordinates` and :func:`ternary_region` (a three-part
subcomposition in the triangle, with a confidence region for its centre),
:func:`cluster_order` (an ordering of parts for heatmaps); the
CoDa-dendrogram's geometry is in :mod:`coda.dendrogram`. Functions here
return data and draw nothing; the plot functions of
:mod:`coda.plot_diagrams` and :mod:`coda.plotting` draw them.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats
from scipy.cluster.hierarchy import leaves_list, linkage
from scipy.spatial.distance import squareform

from coda import _kernels
from coda._labels import composition
from coda._results import Biplot
from coda._validation import (
    check_composition,
    check_count,
    check_fraction,
    check_in_memory,
    check_option,
    check_parts,
    check_positive_definite,
    check_square,
    check_square_labels,
    check_square_shape,
    check_varying,
)

# Importable from here too, its module until it moved to coda.dendrogram.
from coda.dendrogram import dendrogram_layout  # noqa: F401

__all__ = [
    "biplot_coordinates",
    "cluster_order",
    "ternary_coordinates",
    "ternary_region",
]


def biplot_coordinates(x, /, *, scaling: str = "form") -> Biplot:
    r"""Sample points and part rays of the clr biplot (first two principal axes).

    Parameters
    ----------
    x : array_like or DataFrame of shape (n_samples, n_parts)
        Strictly positive compositions, at least 3 samples and 3 parts.
    scaling : {"form", "covariance"}, default "form"
        ``"form"``: samples :math:`U S`, rays :math:`V` (distances between
        samples approximate Aitchison distances). ``"covariance"``: samples
        :math:`U\sqrt{n-1}`, rays :math:`V S/\sqrt{n-1}` (ray lengths
        approximate clr standard deviations, links approximate log-ratio
        standard deviations).

    Returns
    -------
    Biplot
        ``samples`` (n x 2, columns ``PC1``, ``PC2``, indexed like ``x``),
        ``parts`` (D x 2, indexed by part; arrays: ``x1 .. xD``),
        ``explained`` (fraction of the total clr variance on each axis) and
        ``scaling``.

    Raises
    ------
    ValueError
        If ``x`` is not a valid composition of at least 3 samples and 3
        parts, has no clr variance, or ``scaling`` is unknown.
    TypeError
        If ``x`` is a dask collection (compute it first).

    See Also
    --------
    layout : ``kind="biplot"`` places network nodes at the rays.
    coda.clr_cov : what covariance-biplot rays approximate.

    Notes
    -----
    With :math:`Z` the column-centred clr data and its SVD
    :math:`Z = U S V^T`, the first two columns of each factor are used.
    In the covariance biplot the rays :math:`R` satisfy
    :math:`R R^T \approx Z^T Z/(n-1)`, the clr covariance, exactly so up to
    rank 2 (for three parts it is exact). Signs of singular vectors are
    arbitrary; here each axis is flipped so that its largest ray coordinate
    in absolute value is positive (the first one on ties), which makes the
    result deterministic.

    References
    ----------
    .. [1] Aitchison, J. and Greenacre, M. (2002). Biplots of compositional
       data. Journal of the Royal Statistical Society C 51:375-392.
       https://doi.org/10.1111/1467-9876.00275

    Examples
    --------
    >>> import coda
    >>> x = coda.simulate(30, 4, seed=0).data
    >>> bp = coda.biplot_coordinates(x)
    >>> bp.parts.round(3)
           PC1    PC2
    p01  0.686 -0.089
    p02  0.197 -0.297
    p03 -0.216  0.837
    p04 -0.667 -0.450
    >>> bp.explained.round(3)
    array([0.628, 0.218])
    """
    values, labels = composition(x, "x", min_parts=3, min_samples=3)
    check_option(scaling, "scaling", ("form", "covariance"))
    n, d = values.shape
    logs = np.log(values)
    z = logs - logs.mean(axis=1, keepdims=True)
    z = z - z.mean(axis=0)
    names = labels.parts if labels.parts is not None else labels.part_names(d)
    check_varying(np.array([np.sum(z**2) / (n - 1)]), "x", ["all parts"], "clr values")
    u, s, vt = np.linalg.svd(z, full_matrices=False)
    u, s, v = u[:, :2], s, vt[:2].T
    for k in range(2):
        if v[np.argmax(np.abs(v[:, k])), k] < 0:
            u[:, k], v[:, k] = -u[:, k], -v[:, k]
    if scaling == "form":
        points, rays = u * s[:2], v
    else:
        points, rays = u * math.sqrt(n - 1), v * s[:2] / math.sqrt(n - 1)
    index = labels.index if labels.kind == "frame" else pd.RangeIndex(n)
    columns = ["PC1", "PC2"]
    return Biplot(
        samples=pd.DataFrame(points, index=index, columns=columns),
        parts=pd.DataFrame(rays, index=pd.Index(list(names)), columns=columns),
        explained=s[:2] ** 2 / np.sum(s**2),
        scaling=scaling,
    )


def _subcomposition(x, parts, name: str = "x", *, allow_zeros: bool):
    """The three ternary parts of ``x``: their values as given and closed, and the labels.

    Log-ratios are taken of the values as given (they do not change with
    closure, and values near the float limits keep their precision there);
    the closed ones are closed as :func:`coda.closure` closes.
    """
    # Zeros are checked in the three parts only: a zero elsewhere does not enter the diagram.
    values, labels = composition(x, name, allow_zeros=True, min_parts=3)
    d = values.shape[1]
    if parts is None:
        if d != 3:
            raise ValueError(
                f"{name} has {d} parts; a ternary diagram shows three: pass parts=(a, b, c)"
            )
        positions = [0, 1, 2]
    else:
        positions = check_parts(parts, "parts", labels.parts, d)
        if len(positions) != 3:
            raise ValueError(
                f"parts names {len(positions)} parts; a ternary diagram shows exactly three"
            )
    sub = np.ascontiguousarray(values[:, positions], dtype=np.float64)
    if not allow_zeros:
        check_composition(sub, name, row_labels=labels.index)
    closed, totals = np.empty_like(sub), np.empty(sub.shape[0])
    _kernels._closure(sub, closed, totals)
    if not (totals > 0).all():
        raise ValueError(
            f"{name} has rows where the three ternary parts are all zero; drop those rows"
        )
    return sub, closed, labels


def _triangle(p: np.ndarray) -> np.ndarray:
    # Barycentric (a, b, c) -> the point a*(0, 0) + b*(1, 0) + c*(1/2, sqrt(3)/2).
    return np.column_stack([p[:, 1] + 0.5 * p[:, 2], math.sqrt(3) / 2 * p[:, 2]])


def ternary_coordinates(x, /, *, parts=None) -> pd.DataFrame:
    r"""Positions of compositions in a ternary diagram of three parts.

    Parameters
    ----------
    x : array_like or DataFrame of shape (n_samples, n_parts)
        Non-negative compositions (zeros allowed).
    parts : sequence of three int or str, optional
        The parts at the vertices (0, 0), (1, 0) and (1/2, sqrt(3)/2), as
        positions or part names; optional when ``x`` has three parts.

    Returns
    -------
    DataFrame of shape (n_samples, 2)
        Columns ``x`` and ``y``, indexed like ``x`` (a RangeIndex for
        arrays; the Series' name for a named Series).

    Raises
    ------
    ValueError
        If ``x`` is not a valid composition, ``parts`` does not name three
        distinct parts of ``x`` (or is missing with more than three parts),
        or a row is zero in all three parts.
    TypeError
        If ``x`` is a dask collection (compute it first).

    See Also
    --------
    ternary_region : a confidence region for the mean in the same frame.

    Notes
    -----
    The subcomposition :math:`(a, b, c)` is closed to sum 1 and placed at
    :math:`(b + c/2, \sqrt{3}c/2)`.

    References
    ----------
    .. [1] Aitchison, J. (1986). The Statistical Analysis of Compositional
       Data. Chapman and Hall. https://doi.org/10.1007/978-94-009-4109-0

    Examples
    --------
    >>> import coda
    >>> x = pd.DataFrame({"a": [1, 0, 0, 1], "b": [0, 1, 0, 1], "c": [0, 0, 2, 1]})
    >>> coda.ternary_coordinates(x).round(4)
         x       y
    0  0.0  0.0000
    1  1.0  0.0000
    2  0.5  0.8660
    3  0.5  0.2887
    """
    _, closed, labels = _subcomposition(x, parts, allow_zeros=True)
    index = pd.RangeIndex(closed.shape[0])
    if labels.kind == "frame":
        index = labels.index
    elif labels.kind == "series" and labels.name is not None:
        # One composition: its row is named as the Series is (as s.to_frame().T).
        index = pd.Index([labels.name])
    return pd.DataFrame(_triangle(closed), index=index, columns=["x", "y"])


def _ilr3(p: np.ndarray) -> np.ndarray:
    # Orthonormal balances of three parts: (ln a - ln b)/sqrt 2, (ln a + ln b - 2 ln c)/sqrt 6.
    logs = np.log(p)
    return np.column_stack(
        [
            (logs[:, 0] - logs[:, 1]) / math.sqrt(2),
            (logs[:, 0] + logs[:, 1] - 2 * logs[:, 2]) / math.sqrt(6),
        ]
    )


def _ilr3_inv(z: np.ndarray) -> np.ndarray:
    clr = np.column_stack(
        [
            z[:, 0] / math.sqrt(2) + z[:, 1] / math.sqrt(6),
            -z[:, 0] / math.sqrt(2) + z[:, 1] / math.sqrt(6),
            -2 * z[:, 1] / math.sqrt(6),
        ]
    )
    e = np.exp(clr - clr.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def ternary_region(x, /, *, parts=None, level: float = 0.95, n_points: int = 200):
    r"""The centre of three parts and a confidence region for it, in ternary coordinates.

    The region is Hotelling's confidence ellipse for the mean of the ilr
    coordinates of the closed subcomposition, mapped back to the simplex:
    a confidence region for the centre (closed geometric mean), not a
    region holding a share of the samples.

    Parameters
    ----------
    x : array_like or DataFrame of shape (n_samples, n_parts)
        Compositions, at least 3 samples, strictly positive in the three
        parts shown (zeros in other parts do not matter).
    parts : sequence of three int or str, optional
        The vertex parts, as in :func:`ternary_coordinates`.
    level : float, default 0.95
        Confidence level, in (0, 1).
    n_points : int, default 200
        Points on the boundary (at least 3); the polygon closes from the
        last point back to the first.

    Returns
    -------
    center : DataFrame of shape (1, 2)
        Columns ``x``, ``y``: the closed geometric mean.
    region : DataFrame of shape (n_points, 2)
        Columns ``x``, ``y``: the boundary of the region.

    Raises
    ------
    ValueError
        If ``x`` is not a composition with at least 3 samples or has zeros
        in the three parts, ``parts`` is invalid, ``level`` is not in
        (0, 1), or the ilr coordinates do not vary in two directions.
    TypeError
        If ``x`` is a dask collection (compute it first).

    See Also
    --------
    ternary_coordinates : the samples in the same frame.

    Notes
    -----
    With :math:`\bar z` and :math:`S` the mean and covariance of the
    :math:`n` ilr vectors of :math:`(a, b, c)`, the region is
    :math:`\{\mu : n(\bar z - \mu)^T S^{-1}(\bar z - \mu) \le
    \frac{2(n-1)}{n-2} F_{2, n-2}(\text{level})\}`, drawn as
    :math:`\mu = \bar z + \sqrt{c/n}\, L(\cos t, \sin t)^T` with
    :math:`L L^T = S` and then mapped by the inverse ilr. It does not depend
    on the choice of orthonormal ilr basis. Under logistic normality it
    covers the true centre with probability ``level``.

    References
    ----------
    .. [1] Pawlowsky-Glahn, V., Egozcue, J. J. and Tolosana-Delgado, R.
       (2015). Modeling and Analysis of Compositional Data. Wiley, section
       7.3. https://doi.org/10.1002/9781119003144

    Examples
    --------
    >>> import coda
    >>> x = coda.simulate(40, 3, seed=0).data
    >>> center, region = coda.ternary_region(x)
    >>> center.round(3)
           x      y
    0  0.386  0.235
    >>> region.shape
    (200, 2)
    """
    sub, _, _ = _subcomposition(x, parts, allow_zeros=False)
    level = check_fraction(level, "level")
    n_points = check_count(n_points, "n_points", minimum=3)
    n = sub.shape[0]
    if n < 3:
        raise ValueError(f"x has {n} samples; a confidence region for the mean needs at least 3")
    z = _ilr3(sub)
    mean = z.mean(axis=0)
    cov = np.cov(z, rowvar=False)
    check_positive_definite(cov, "x", "the ilr coordinates of the three parts")
    radius2 = 2 * (n - 1) / (n - 2) * stats.f.ppf(level, 2, n - 2) / n
    t = np.linspace(0.0, 2 * math.pi, n_points, endpoint=False)
    circle = np.column_stack([np.cos(t), np.sin(t)])
    boundary = mean + math.sqrt(radius2) * circle @ np.linalg.cholesky(cov).T
    columns = ["x", "y"]
    center = pd.DataFrame(_triangle(_ilr3_inv(mean[None, :])), columns=columns)
    region = pd.DataFrame(_triangle(_ilr3_inv(boundary)), columns=columns)
    return center, region


def cluster_order(matrix, /) -> list:
    r"""An order of parts that puts strongly (partially) correlated parts side by side.

    Parameters
    ----------
    matrix : array_like or DataFrame of shape (n_parts, n_parts)
        A symmetric correlation-like matrix (partial correlations,
        proportionality coefficients), finite, at least 2 x 2.

    Returns
    -------
    list
        Column labels of a DataFrame, or positions for an array, in the
        order of the leaves of the clustering tree.

    Raises
    ------
    TypeError
        If ``matrix`` does not hold real numbers, or is a dask collection
        (compute it first).
    ValueError
        If ``matrix`` is not square, is smaller than 2 x 2, is not symmetric
        and finite (apart from the NaN rows of ``given`` parts), or is a
        DataFrame whose index and columns differ.

    See Also
    --------
    coda.pcor : a matrix to order.

    Notes
    -----
    Average-linkage (UPGMA) hierarchical clustering on the distances
    :math:`1 - |\rho_{ij}|` (zero on the diagonal; negatives from rounding
    clipped to 0), with the leaves ordered so that neighbouring leaves are
    as close as possible (scipy's ``optimal_ordering``). The sign of
    :math:`\rho` is ignored: strong negative pairs are also neighbours.

    References
    ----------
    .. [1] Bar-Joseph, Z., Gifford, D. K. and Jaakkola, T. S. (2001). Fast
       optimal leaf ordering for hierarchical clustering. Bioinformatics
       17:S22-S29. https://doi.org/10.1093/bioinformatics/17.suppl_1.S22

    Examples
    --------
    >>> import coda
    >>> rho = pd.DataFrame([[1, 0.1, 0.9], [0.1, 1, 0.2], [0.9, 0.2, 1]],
    ...                    index=list("abc"), columns=list("abc"))
    >>> coda.cluster_order(rho)
    ['b', 'c', 'a']
    """
    check_in_memory(matrix, "matrix")
    # The shape first: everything below indexes rows and columns together.
    values = check_square_shape(matrix, "matrix", min_size=2)
    check_square_labels(matrix, "matrix")
    # Parts partialled out (``given``) have NaN rows: they go last, in order.
    off = values.copy()
    np.fill_diagonal(off, np.nan)
    blank = np.isnan(off).all(axis=1)
    kept = np.flatnonzero(~blank)
    values = check_square(
        values[np.ix_(kept, kept)],
        "matrix",
        min_size=1,
        fix="pass a correlation-like matrix, e.g. coda.pcor(x)",
    )
    distance = np.clip(1.0 - np.abs(values), 0.0, None)
    np.fill_diagonal(distance, 0.0)
    distance = (distance + distance.T) / 2
    if kept.size > 1:
        tree = linkage(squareform(distance, checks=False), method="average", optimal_ordering=True)
        order = kept[leaves_list(tree)].tolist()
    else:
        order = kept.tolist()
    order += np.flatnonzero(blank).tolist()
    if isinstance(matrix, pd.DataFrame):
        return [matrix.columns[k] for k in order]
    return order
