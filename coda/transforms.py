"""Aitchison geometry of the simplex and the log-ratio transforms.

Operations: :func:`closure`, :func:`perturb`, :func:`perturb_inv`,
:func:`power`, :func:`inner`, :func:`norm`, :func:`distance`, :func:`center`.
Transforms and their inverses: :func:`clr`/:func:`clr_inv`,
:func:`alr`/:func:`alr_inv`, :func:`ilr`/:func:`ilr_inv`, with bases from
:func:`ilr_basis` and :func:`sbp_basis`, and :func:`balances` for the ilr
coordinates of a sequential binary partition.

Conventions: ``x`` has one row per sample and one column per part (a 1-D
``x`` is one composition). Arrays in give arrays out; pandas in gives pandas
out with the same index and named columns. float32 stays float32; integers
(counts) are computed in float64. Inputs are never modified.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from coda import _kernels
from coda._labels import Labels, composition, unwrap
from coda._parallel import for_row_blocks
from coda._validation import (
    check_basis,
    check_composition,
    check_option,
    check_part,
    check_sbp,
    check_shape,
)

__all__ = [
    "alr",
    "alr_inv",
    "balances",
    "center",
    "closure",
    "clr",
    "clr_inv",
    "distance",
    "ilr",
    "ilr_basis",
    "ilr_inv",
    "inner",
    "norm",
    "perturb",
    "perturb_inv",
    "power",
    "sbp_basis",
]

_BASIS_KINDS = ("helmert", "pivot")


def _raise_invalid(values, labels: Labels, name: str, *, allow_zeros: bool = False) -> None:
    """Re-check input that a kernel flagged, to raise the precise message."""
    check_composition(values, name, allow_zeros=allow_zeros, row_labels=labels.index)
    raise AssertionError("unreachable: a kernel flagged input that passes validation")


def _logs_in_blocks(values: np.ndarray, kernel, out: np.ndarray, rowsum: np.ndarray) -> None:
    """Fill blocks of ``out`` from numpy's SIMD ``log`` followed by ``kernel``.

    ``kernel(logs, out, rowsum)``: when ``out`` has the input's shape the
    kernel works in place on the logs (``kernel(out, rowsum)``); otherwise the
    logs go into a per-block scratch buffer that stays in cache.
    """
    in_place = out.shape == values.shape

    def run(start: int, stop: int) -> None:
        with np.errstate(divide="ignore", invalid="ignore"):
            if in_place:
                block = out[start:stop]
                np.log(values[start:stop], out=block)
                kernel(block, rowsum[start:stop])
            else:
                logs = np.log(values[start:stop])
                kernel(logs, out[start:stop], rowsum[start:stop])

    for_row_blocks(run, values.shape[0], values.shape[1] * values.itemsize)


def closure(x, /, *, total: float = 1.0):
    """Rescale each composition to a constant sum.

    Parameters
    ----------
    x : array_like of shape (n_samples, n_parts) or (n_parts,)
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
    values, labels = unwrap(x)
    values = np.ascontiguousarray(values)
    out = np.empty_like(values)
    rowcheck = np.empty(values.shape[0])

    def run(start: int, stop: int) -> None:
        _kernels._closure(values[start:stop], out[start:stop], rowcheck[start:stop])

    for_row_blocks(run, values.shape[0], values.shape[1] * values.itemsize)
    if not (np.isfinite(rowcheck).all() and (rowcheck > 0).all()):
        _raise_invalid(values, labels, "x", allow_zeros=True)
    if total != 1.0:
        out *= total
    return labels.rows(out, labels.parts)


def clr(x, /, *, validate: bool = True):
    r"""Centred log-ratio transform.

    Parameters
    ----------
    x : array_like of shape (n_samples, n_parts) or (n_parts,)
        Strictly positive compositions (closure is not needed: the clr is
        scale invariant).
    validate : bool, default True
        Check that every value is positive and finite. The check costs
        nothing on valid data (a kernel flags bad rows while it works); turn
        it off only to get NaN or inf instead of an error.

    Returns
    -------
    ndarray, Series or DataFrame
        ``log(x) - mean(log(x))`` row by row; a DataFrame keeps its index and
        part names.

    Raises
    ------
    ValueError
        If ``x`` holds zeros (replace them with :func:`coda.replace_zeros`),
        negative, NaN or infinite values.

    See Also
    --------
    clr_inv : the inverse, ``clr_inv(clr(x)) == closure(x)``.

    Notes
    -----
    :math:`\operatorname{clr}(x)_i = \log x_i - \frac{1}{D}\sum_k \log x_k`.
    Rows sum to zero. The clr is an isometry from the simplex with the
    Aitchison geometry onto the hyperplane orthogonal to the vector of ones.

    References
    ----------
    .. [1] Aitchison, J. (1986). *The Statistical Analysis of Compositional
       Data*. Chapman and Hall. https://doi.org/10.1007/978-94-009-4109-0

    Examples
    --------
    >>> import coda
    >>> coda.clr([1, 2, 4])
    array([-0.69314718,  0.        ,  0.69314718])
    """
    values, labels = unwrap(x)
    values = np.ascontiguousarray(values)
    check_shape(values, "x", min_parts=1)
    out = np.empty_like(values)
    rowsum = np.empty(values.shape[0])
    _logs_in_blocks(values, _kernels._clr, out, rowsum)
    if validate and not np.isfinite(rowsum).all():
        _raise_invalid(values, labels, "x")
    return labels.rows(out, labels.parts)


def clr_inv(z, /):
    """Inverse of the centred log-ratio transform.

    Parameters
    ----------
    z : array_like of shape (n_samples, n_parts) or (n_parts,)
        clr coordinates (any real vectors: a constant added to a row does not
        change the result).

    Returns
    -------
    ndarray, Series or DataFrame
        ``closure(exp(z))``, computed after subtracting each row's maximum so
        that large coordinates do not overflow.

    Raises
    ------
    ValueError
        If ``z`` holds NaN or infinite values.

    See Also
    --------
    clr : the forward transform.

    Examples
    --------
    >>> import coda
    >>> coda.clr_inv([0.0, 0.0, 0.0, 0.0])
    array([0.25, 0.25, 0.25, 0.25])
    >>> coda.clr_inv([1000.0, 1000.0 + np.log(3)])
    array([0.25, 0.75])
    """
    values, labels = _coordinates(z, "z")
    out = np.empty_like(values)
    _kernels._clr_inv(values, out)
    return labels.rows(out, labels.parts)


def _coordinates(z, name: str, *, min_parts: int = 1):
    """Unwrap real-valued coordinates (any sign) and check they are finite."""
    values, labels = unwrap(z, name)
    if not np.isfinite(values).all():
        raise ValueError(f"{name} contains NaN or infinite values; coordinates must be finite")
    if values.shape[1] < min_parts:
        raise ValueError(f"{name} has {values.shape[1]} columns; at least {min_parts} are needed")
    return np.ascontiguousarray(values), labels


def alr(x, /, *, ref=-1):
    """Additive log-ratio transform against a reference part.

    Parameters
    ----------
    x : array_like of shape (n_samples, n_parts) or (n_parts,)
        Strictly positive compositions, at least two parts.
    ref : int or str, default -1
        The reference part: a position (negative counts from the end; the
        default is the last part) or, for pandas input, a part name.

    Returns
    -------
    ndarray, Series or DataFrame
        ``log(x_k / x_ref)`` for every part ``k != ref`` in their original
        order; pandas columns are named ``"k/ref"`` (for example ``"Si/Mn"``).

    Raises
    ------
    ValueError
        If ``x`` has fewer than two parts, zeros, negative or non-finite
        values, or ``ref`` is not a part.

    See Also
    --------
    alr_inv : the inverse.

    Notes
    -----
    The alr is a fixed linear map of the clr: ``alr(x) = clr(x) F_r^T`` with
    ``F_r`` the (D-1) x D matrix of rows ``e_k - e_ref``.

    Examples
    --------
    >>> import coda
    >>> coda.alr([1, 2, 4])
    array([-1.38629436, -0.69314718])
    >>> import pandas as pd
    >>> coda.alr(pd.DataFrame({"a": [1.0], "b": [2.0], "c": [4.0]}), ref="a")
          b/a       c/a
    0  0.693147  1.386294
    """
    values, labels = composition(x, min_parts=2)
    r = check_part(ref, "ref", labels.parts, values.shape[1])
    logs = np.log(values)
    out = np.delete(logs, r, axis=1) - logs[:, r : r + 1]
    names = None
    if labels.labelled:
        parts = labels.part_names(values.shape[1])
        names = [f"{p}/{parts[r]}" for k, p in enumerate(parts) if k != r]
    return labels.rows(out, names)


def alr_inv(y, /, *, ref: int = -1):
    """Inverse of the additive log-ratio transform.

    Parameters
    ----------
    y : array_like of shape (n_samples, n_parts - 1) or (n_parts - 1,)
        alr coordinates.
    ref : int, default -1
        Position of the reference part in the rebuilt composition (the same
        position passed to :func:`alr`; -1 puts it last).

    Returns
    -------
    ndarray, Series or DataFrame
        The closed compositions with ``D = y.shape[-1] + 1`` parts. When
        pandas columns are named ``"k/r"`` with one common ``r`` (as
        :func:`alr` names them), the parts get their names back.

    Raises
    ------
    ValueError
        If ``y`` holds NaN or infinite values or ``ref`` is out of range.

    See Also
    --------
    alr : the forward transform.

    Examples
    --------
    >>> import coda
    >>> coda.alr_inv(coda.alr([1, 2, 5], ref=0), ref=0)
    array([0.125, 0.25 , 0.625])
    """
    values, labels = _coordinates(y, "y")
    n, k = values.shape
    r = check_part(ref, "ref", None, k + 1)
    z = np.insert(values, r, 0.0, axis=1)
    out = np.empty_like(z)
    _kernels._clr_inv(z, out)
    return labels.rows(out, _alr_parts(labels, r))


def _alr_parts(labels: Labels, r: int):
    """Part names recovered from ``"k/r"`` column names, or None."""
    if not labels.labelled:
        return None
    pairs = [str(c).rsplit("/", 1) for c in labels.parts]
    if all(len(p) == 2 for p in pairs) and len({p[1] for p in pairs}) == 1:
        names = [p[0] for p in pairs]
        names.insert(r, pairs[0][1])
        return names
    return None


def ilr_basis(n_parts: int, /, *, kind: str = "helmert") -> np.ndarray:
    r"""An orthonormal basis of the clr plane, as a D x (D-1) matrix.

    Parameters
    ----------
    n_parts : int
        The number of parts D (at least 2).
    kind : {"helmert", "pivot"}, default "helmert"
        ``"helmert"``: column j (0-based, ``i = j + 1``) is
        :math:`\sqrt{i/(i+1)}\,(1/i, \dots, 1/i, -1, 0, \dots, 0)` with ``i``
        leading entries, the default basis of scikit-bio's ``ilr`` (same
        signs and column order). ``"pivot"``: pivot coordinates (Hron,
        Filzmoser and colleagues), column j is
        :math:`\sqrt{m/(m+1)}\,(0, \dots, 0, 1, -1/m, \dots, -1/m)` with the 1
        at part j and ``m = D - j - 1``, so the first coordinate contrasts the
        first part with all others.

    Returns
    -------
    ndarray of shape (n_parts, n_parts - 1)
        ``V`` with ``V.T @ V = I`` and ``V.T @ 1 = 0``; ``ilr(x) = clr(x) @ V``.

    Raises
    ------
    ValueError
        If ``n_parts < 2`` or ``kind`` is unknown.

    See Also
    --------
    sbp_basis : a basis from a sequential binary partition.
    ilr : uses these bases without forming the matrix.

    References
    ----------
    .. [1] Egozcue, J. J., Pawlowsky-Glahn, V., Mateu-Figueras, G. and
       Barcelo-Vidal, C. (2003). Isometric logratio transformations for
       compositional data analysis. Mathematical Geology 35:279-300.
       https://doi.org/10.1023/A:1023818214614
    .. [2] Hron, K., Filzmoser, P., de Caritat, P., Fiserova, E. and Gardlo, A.
       (2017). Weighted pivot coordinates for compositional data and their
       application to geochemical mapping. Mathematical Geosciences
       49:797-814. https://doi.org/10.1007/s11004-017-9684-z

    Examples
    --------
    >>> import coda
    >>> coda.ilr_basis(3)
    array([[ 0.70710678,  0.40824829],
           [-0.70710678,  0.40824829],
           [ 0.        , -0.81649658]])
    >>> coda.ilr_basis(3, kind="pivot")
    array([[ 0.81649658,  0.        ],
           [-0.40824829,  0.70710678],
           [-0.40824829, -0.70710678]])
    """
    d = _n_parts(n_parts)
    check_option(kind, "kind", _BASIS_KINDS)
    basis = np.zeros((d, d - 1))
    for j in range(d - 1):
        if kind == "helmert":
            i = j + 1
            basis[:i, j] = 1.0 / i
            basis[i, j] = -1.0
            basis[:, j] *= np.sqrt(i / (i + 1.0))
        else:
            m = d - j - 1
            basis[j, j] = 1.0
            basis[j + 1 :, j] = -1.0 / m
            basis[:, j] *= np.sqrt(m / (m + 1.0))
    return basis


def _n_parts(n_parts) -> int:
    if isinstance(n_parts, (bool, np.bool_)) or not isinstance(n_parts, (int, np.integer)):
        raise TypeError(f"n_parts must be an integer number of parts, not {type(n_parts).__name__}")
    if n_parts < 2:
        raise ValueError(f"n_parts={n_parts}; an ilr basis needs at least 2 parts")
    return int(n_parts)


def sbp_basis(sbp, /):
    """The orthonormal basis of a sequential binary partition.

    Parameters
    ----------
    sbp : array_like or DataFrame of shape (n_parts - 1, n_parts)
        One row per balance, one column per part: +1 for parts in the
        numerator group, -1 for the denominator group, 0 for parts not in
        this balance. A DataFrame's columns name the parts and its index the
        balances.

    Returns
    -------
    ndarray or DataFrame of shape (n_parts, n_parts - 1)
        The basis ``V`` in clr coordinates (one column per balance); a
        DataFrame when ``sbp`` is one, with parts as index and balances as
        columns, so that :func:`ilr` and :func:`ilr_inv` keep those names.

    Raises
    ------
    ValueError
        If ``sbp`` holds values other than +1, -1, 0, has the wrong shape, or
        is not a sequential binary partition.

    See Also
    --------
    balances : the ilr coordinates of a partition, named after it.
    ilr_basis : the Helmert and pivot bases.

    Notes
    -----
    With ``r`` parts in the numerator and ``s`` in the denominator, the
    balance's clr vector has :math:`+\\sqrt{s/(r(r+s))}` on the numerator
    parts and :math:`-\\sqrt{r/(s(r+s))}` on the denominator parts, so that
    the coordinate is :math:`\\sqrt{rs/(r+s)}\\,\\log(g(x_+)/g(x_-))` with
    ``g`` the geometric mean.

    Examples
    --------
    >>> import coda
    >>> coda.sbp_basis([[1, 1, -1], [1, -1, 0]])
    array([[ 0.40824829,  0.70710678],
           [ 0.40824829, -0.70710678],
           [-0.81649658,  0.        ]])
    """
    signs = check_sbp(sbp)
    plus = (signs > 0).sum(axis=1, keepdims=True).astype(float)
    minus = (signs < 0).sum(axis=1, keepdims=True).astype(float)
    coef_plus = np.sqrt(minus / (plus * (plus + minus)))
    coef_minus = np.sqrt(plus / (minus * (plus + minus)))
    basis = (np.where(signs > 0, coef_plus, 0.0) - np.where(signs < 0, coef_minus, 0.0)).T
    if isinstance(sbp, pd.DataFrame):
        return pd.DataFrame(basis, index=sbp.columns, columns=sbp.index)
    return basis


def _resolve_basis(basis, n_parts: int):
    """Return ``(kind or None, matrix or None, names or None, parts or None)``."""
    if isinstance(basis, str):
        check_option(basis, "basis", _BASIS_KINDS)
        return basis, None, None, None
    matrix = check_basis(basis, "basis", n_parts)
    if isinstance(basis, pd.DataFrame):
        return None, matrix, basis.columns, basis.index
    return None, matrix, None, None


def ilr(x, /, *, basis="helmert"):
    """Isometric log-ratio transform.

    Parameters
    ----------
    x : array_like of shape (n_samples, n_parts) or (n_parts,)
        Strictly positive compositions, at least two parts.
    basis : {"helmert", "pivot"} or array_like of shape (n_parts, n_parts - 1)
        A basis kind of :func:`ilr_basis` (computed in O(D) per row, without
        forming the matrix) or an explicit orthonormal basis in clr
        coordinates, for example from :func:`sbp_basis`.

    Returns
    -------
    ndarray, Series or DataFrame of shape (n_samples, n_parts - 1)
        ``clr(x) @ V``. pandas columns are ``ilr1 .. ilr{D-1}``, or the
        basis's column names when ``basis`` is a DataFrame.

    Raises
    ------
    ValueError
        If ``x`` has fewer than two parts, zeros, negative or non-finite
        values; if ``basis`` is unknown, of the wrong shape or not
        orthonormal.

    See Also
    --------
    ilr_inv : the inverse, ``ilr_inv(ilr(x)) == closure(x)``.
    balances : ilr coordinates of a sequential binary partition.

    Notes
    -----
    The default Helmert basis gives the same coordinates as scikit-bio's
    ``ilr`` with its default basis. Euclidean distances between ilr
    coordinates are Aitchison distances.

    References
    ----------
    .. [1] Egozcue, J. J., Pawlowsky-Glahn, V., Mateu-Figueras, G. and
       Barcelo-Vidal, C. (2003). Isometric logratio transformations for
       compositional data analysis. Mathematical Geology 35:279-300.
       https://doi.org/10.1023/A:1023818214614

    Examples
    --------
    >>> import coda
    >>> coda.ilr([1, 1, 4])
    array([ 0.        , -1.13190461])
    >>> coda.ilr([1, 1, 4], basis="pivot")
    array([-0.5659523 , -0.98025814])
    """
    values, labels = unwrap(x)
    values = np.ascontiguousarray(values)
    check_shape(values, "x", min_parts=2)
    n, d = values.shape
    kind, matrix, names, _ = _resolve_basis(basis, d)
    out = np.empty((n, d - 1), dtype=values.dtype)
    rowsum = np.empty(n)
    if kind is not None:
        kernel = _kernels._ilr_helmert if kind == "helmert" else _kernels._ilr_pivot
        _logs_in_blocks(values, kernel, out, rowsum)
    else:
        matrix = matrix.astype(values.dtype, copy=False)

        def project(logs, block_out, block_rowsum):
            _kernels._clr(logs, block_rowsum)
            np.matmul(logs, matrix, out=block_out)

        _logs_in_blocks(values, project, out, rowsum)
    if not np.isfinite(rowsum).all():
        _raise_invalid(values, labels, "x")
    if names is None:
        names = [f"ilr{k + 1}" for k in range(d - 1)]
    return labels.rows(out, names)


def ilr_inv(z, /, *, basis="helmert"):
    """Inverse of the isometric log-ratio transform.

    Parameters
    ----------
    z : array_like of shape (n_samples, n_parts - 1) or (n_parts - 1,)
        ilr coordinates.
    basis : {"helmert", "pivot"} or array_like of shape (n_parts, n_parts - 1)
        The basis used by :func:`ilr`.

    Returns
    -------
    ndarray, Series or DataFrame of shape (n_samples, n_parts)
        The closed compositions. Parts are named after the basis's index
        when ``basis`` is a DataFrame.

    Raises
    ------
    ValueError
        If ``z`` holds NaN or infinite values, or ``basis`` is invalid.

    See Also
    --------
    ilr : the forward transform.

    Examples
    --------
    >>> import coda
    >>> coda.ilr_inv(coda.ilr([1, 1, 2]))
    array([0.25, 0.25, 0.5 ])
    """
    values, labels = _coordinates(z, "z")
    n, d1 = values.shape
    kind, matrix, _, parts = _resolve_basis(basis, d1 + 1)
    logs = np.empty((n, d1 + 1), dtype=values.dtype)
    if kind == "helmert":
        _kernels._ilr_helmert_inv(values, logs)
    elif kind == "pivot":
        _kernels._ilr_pivot_inv(values, logs)
    else:
        np.matmul(values, matrix.T.astype(values.dtype, copy=False), out=logs)
    out = np.empty_like(logs)
    _kernels._clr_inv(logs, out)
    return labels.rows(out, parts)


def balances(x, sbp, /):
    """ilr coordinates of a sequential binary partition, named after it.

    Parameters
    ----------
    x : array_like of shape (n_samples, n_parts) or (n_parts,)
        Strictly positive compositions.
    sbp : array_like or DataFrame of shape (n_parts - 1, n_parts)
        The partition, as for :func:`sbp_basis`.

    Returns
    -------
    ndarray, Series or DataFrame of shape (n_samples, n_parts - 1)
        ``ilr(x, basis=sbp_basis(sbp))``. pandas columns are the index of a
        DataFrame ``sbp``, or else named after the groups, for example
        ``"Si,Na/Ca"`` (numerator parts / denominator parts).

    Raises
    ------
    ValueError
        If ``x`` is not a valid composition or ``sbp`` not a valid partition
        of its parts.

    See Also
    --------
    sbp_basis : the basis behind the coordinates.

    Examples
    --------
    >>> import coda
    >>> import pandas as pd
    >>> x = pd.DataFrame({"a": [1.0, 2.0], "b": [4.0, 2.0], "c": [2.0, 1.0]})
    >>> coda.balances(x, [[1, 1, -1], [1, -1, 0]]).round(6)
       a,b/c       a/b
    0    0.0 -0.980258
    1    0.565952  0.000000
    """
    values, labels = composition(x, min_parts=2)
    signs = check_sbp(sbp)
    if signs.shape[1] != values.shape[1]:
        raise ValueError(
            f"sbp has {signs.shape[1]} columns but x has {values.shape[1]} parts; "
            "the partition needs one column per part"
        )
    basis = sbp_basis(signs)
    if isinstance(sbp, pd.DataFrame):
        names = list(sbp.index)
    else:
        parts = labels.part_names(values.shape[1])
        names = [
            ",".join(p for p, s in zip(parts, row) if s > 0)
            + "/"
            + ",".join(p for p, s in zip(parts, row) if s < 0)
            for row in signs
        ]
    coords = ilr(values, basis=basis)
    return labels.rows(coords, names)


def _pair(x, y):
    """Validate two compositions that broadcast row-wise against each other."""
    xv, xl = composition(x, "x")
    yv, yl = composition(y, "y")
    if xv.shape[1] != yv.shape[1]:
        raise ValueError(
            f"x has {xv.shape[1]} parts and y has {yv.shape[1]}; both need the same parts"
        )
    if xv.shape[0] != yv.shape[0] and 1 not in (xv.shape[0], yv.shape[0]):
        raise ValueError(
            f"x has {xv.shape[0]} rows and y has {yv.shape[0]}; pass matching rows, "
            "or one composition to combine with every row"
        )
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
    x, y : array_like of shape (n_samples, n_parts) or (n_parts,)
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
        shapes do not match.

    See Also
    --------
    perturb_inv : the Aitchison difference.

    Examples
    --------
    >>> import coda
    >>> coda.perturb([1, 2, 1], [1, 1, 2])
    array([0.2, 0.4, 0.4])
    """
    xv, yv, labels = _pair(x, y)
    z = np.ascontiguousarray(_centred_logs(xv) + _centred_logs(yv))
    out = np.empty_like(z)
    _kernels._clr_inv(z, out)
    return labels.rows(out, labels.parts)


def perturb_inv(x, y, /):
    """Inverse perturbation: the Aitchison difference ``closure(x / y)``.

    Parameters
    ----------
    x, y : array_like of shape (n_samples, n_parts) or (n_parts,)
        Strictly positive compositions with the same parts.

    Returns
    -------
    ndarray, Series or DataFrame
        ``closure(x / y)``; ``perturb(perturb_inv(x, y), y) == closure(x)``.

    Raises
    ------
    ValueError
        If either argument is not a strictly positive composition or their
        shapes do not match.

    See Also
    --------
    perturb : the Aitchison sum.

    Examples
    --------
    >>> import coda
    >>> coda.perturb_inv([1, 2, 2], [1, 1, 2])
    array([0.25, 0.5 , 0.25])
    """
    xv, yv, labels = _pair(x, y)
    z = np.ascontiguousarray(_centred_logs(xv) - _centred_logs(yv))
    out = np.empty_like(z)
    _kernels._clr_inv(z, out)
    return labels.rows(out, labels.parts)


def power(x, a, /):
    """Powering: the Aitchison scalar multiple ``closure(x ** a)``.

    Parameters
    ----------
    x : array_like of shape (n_samples, n_parts) or (n_parts,)
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
    values, labels = composition(x)
    scalars = np.asarray(a, dtype=float)
    if not np.isfinite(scalars).all():
        raise ValueError("a must be finite")
    if scalars.ndim > 1 or (scalars.ndim == 1 and scalars.shape[0] != values.shape[0]):
        raise ValueError(
            f"a has shape {scalars.shape}; pass a scalar or one value per row ({values.shape[0]})"
        )
    z = (_centred_logs(values) * scalars.reshape(-1, 1)).astype(values.dtype)
    out = np.empty_like(z)
    _kernels._clr_inv(np.ascontiguousarray(z), out)
    return labels.rows(out, labels.parts)


def inner(x, y, /):
    """Aitchison inner product, row by row.

    Parameters
    ----------
    x, y : array_like of shape (n_samples, n_parts) or (n_parts,)
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
        shapes do not match.

    See Also
    --------
    norm, distance

    Examples
    --------
    >>> import coda
    >>> round(coda.inner([1, 2, 4], [1, 1, 2]), 10)
    0.4804530139
    """
    xv, yv, labels = _pair(x, y)
    return labels.per_row((_centred_logs(xv) * _centred_logs(yv)).sum(axis=1), "inner")


def norm(x, /):
    """Aitchison norm of each composition.

    Parameters
    ----------
    x : array_like of shape (n_samples, n_parts) or (n_parts,)
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
    values, labels = composition(x)
    return labels.per_row(np.sqrt((_centred_logs(values) ** 2).sum(axis=1)), "norm")


def distance(x, y, /):
    """Aitchison distance between matching rows.

    Parameters
    ----------
    x, y : array_like of shape (n_samples, n_parts) or (n_parts,)
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
        shapes do not match.

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
    out = np.empty_like(z)
    _kernels._clr_inv(z, out)
    if labels.kind == "frame":
        return pd.Series(out[0], index=labels.parts, name="center")
    return labels.rows(out, labels.parts) if labels.kind == "series" else out[0]
