"""The log-ratio transforms and their inverses.

:func:`clr`/:func:`clr_inv`, :func:`alr`/:func:`alr_inv`,
:func:`ilr`/:func:`ilr_inv` (with the bases of :mod:`coda.bases`), and
:func:`balances` for the ilr coordinates of a sequential binary partition.

Conventions: ``x`` has one row per sample and one column per part (a 1-D
``x`` is one composition). Arrays in give arrays out; pandas in gives pandas
out with the same index and named columns. float32 stays float32; integers
(counts) are computed in float64. Inputs are never modified.

dask arrays and DataFrames are accepted too: the in-memory function runs on
each block of rows when the result is computed; a dask array in gives a dask
array out, a dask DataFrame a dask DataFrame with the same divisions and the
column names above (see the dask page of the docs).
"""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd

from coda import _dask, _kernels, _records
from coda._alr_labels import alr_names, alr_parts, alr_record, alr_reference, with_alr_record
from coda._labels import Labels, composition, unwrap
from coda._log_ratios import log_ratios
from coda._parallel import for_row_blocks
from coda._validation import (
    BASIS_KINDS,
    check_basis,
    check_basis_parts,
    check_coordinate_names,
    check_coordinates,
    check_flag,
    check_option,
    check_part,
    check_sbp,
    check_shape,
    is_dask,
    raise_invalid_composition,
)
from coda.bases import basis_of_signs

__all__ = ["alr", "alr_inv", "balances", "clr", "clr_inv", "ilr", "ilr_inv"]


def _logs_in_blocks(values: np.ndarray, kernel, out: np.ndarray, rowsum: np.ndarray) -> None:
    """Fill blocks of ``out`` from numpy's SIMD ``log`` followed by ``kernel``.

    ``kernel(logs, out, rowsum)``: when ``out`` has the input's shape the
    kernel works in place on the logs (``kernel(out, rowsum)``); otherwise the
    logs go into one scratch block per thread, reused for each of its blocks.
    A new scratch array per block made ``ilr`` of 1,000,000 x 100 allocate
    200 arrays of 4 MB per call, each new memory whose first touch can be slow
    (on a virtual machine, memory its host took back: ``benchmarks/README.md``).
    """
    in_place = out.shape == values.shape
    scratch = threading.local()

    def run(start: int, stop: int) -> None:
        with np.errstate(divide="ignore", invalid="ignore"):
            if in_place:
                block = out[start:stop]
                np.log(values[start:stop], out=block)
                kernel(block, rowsum[start:stop])
                return
            logs = getattr(scratch, "logs", None)
            if logs is None or len(logs) < stop - start:
                logs = scratch.logs = np.empty((stop - start, values.shape[1]), values.dtype)
            logs = logs[: stop - start]
            np.log(values[start:stop], out=logs)
            kernel(logs, out[start:stop], rowsum[start:stop])

    for_row_blocks(run, values.shape[0], values.shape[1] * values.itemsize)


# An explicit basis larger than this (D above about 360) is applied to many
# rows at a time, in chunks of logs of about _ONE_PRODUCT_BYTES, rather than
# block by block.
_BASIS_IN_BLOCKS_BYTES = 1 << 20
_ONE_PRODUCT_BYTES = 64 << 20


def clr(x, /, *, validate: bool = True):
    r"""Centred log-ratio transform.

    Parameters
    ----------
    x : array_like or dask collection of shape (n_samples, n_parts) or (n_parts,)
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
    validate = check_flag(validate, "validate")
    if is_dask(x):
        return _dask.map_rows(clr, x, validate=validate)
    values, labels = unwrap(x)
    values = np.ascontiguousarray(values)
    check_shape(values, "x", min_parts=1)
    out = np.empty_like(values)
    rowsum = np.empty(values.shape[0])
    _logs_in_blocks(values, _kernels._clr, out, rowsum)
    if validate and not np.isfinite(rowsum).all():
        raise_invalid_composition(values, "x", row_labels=labels.index)
    return labels.rows(out, labels.parts)


def clr_inv(z, /):
    """Inverse of the centred log-ratio transform.

    Parameters
    ----------
    z : array_like or dask collection of shape (n_samples, n_parts) or (n_parts,)
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
    if is_dask(z):
        return _dask.map_rows(clr_inv, z, names=("z",))
    values, labels = _coordinates(z, "z")
    out = clr_inv_values(values)
    return labels.rows(out, labels.parts)


def clr_inv_values(z: np.ndarray) -> np.ndarray:
    """``closure(exp(z))`` of a 2-D array, row by row, by the ``_clr_inv`` kernel.

    The one caller of that kernel: :func:`clr_inv`, the other inverses and
    the geometry operations (which work in clr space) all come through here.
    """
    z = np.ascontiguousarray(z)
    out = np.empty_like(z)
    _kernels._clr_inv(z, out)
    return out


def _coordinates(z, name: str):
    """Unwrap real-valued coordinates (any sign) and check they are finite."""
    values, labels = unwrap(z, name)
    check_coordinates(values, name, row_labels=labels.index)
    return np.ascontiguousarray(values), labels


def alr(x, /, *, ref=-1):
    """Additive log-ratio transform against a reference part.

    Parameters
    ----------
    x : array_like or dask collection of shape (n_samples, n_parts) or (n_parts,)
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
    if is_dask(x):
        return _dask.map_rows(alr, x, ref=ref)
    values, labels = composition(x, min_parts=2)
    r = check_part(ref, "ref", labels.parts, values.shape[1])
    ref = values[:, r : r + 1]
    out = np.empty((values.shape[0], values.shape[1] - 1))
    log_ratios(values[:, :r], ref, out[:, :r])
    log_ratios(values[:, r + 1 :], ref, out[:, r:])
    out = out.astype(values.dtype, copy=False)
    if not labels.labelled:
        return labels.rows(out)
    names = alr_names(labels, values.shape[1], r)
    return with_alr_record(labels.rows(out, names), labels, names, r)


# The key of the record in the ``attrs`` of ilr results.
_ILR_ATTR = "coda.ilr"


def alr_inv(y, /, *, ref=None):
    """Inverse of the additive log-ratio transform.

    Parameters
    ----------
    y : array_like or dask collection of shape (n_samples, n_parts - 1) or (n_parts - 1,)
        alr coordinates.
    ref : int or str, optional
        Position of the reference part in the rebuilt composition (the same
        position passed to :func:`alr`; -1 puts it last), or, when ``y`` is
        a result of :func:`alr` (its columns as alr made them), the
        reference's name. By default the reference goes back where
        :func:`alr` took it from when ``y`` is such a result, and last
        otherwise.

    Returns
    -------
    ndarray, Series or DataFrame
        The closed compositions with ``D = y.shape[-1] + 1`` parts. The
        columns of a result of :func:`alr` give the parts their labels back
        (kept in the result's ``attrs``, so strings, numbers, tuples and
        names holding ``/`` return as they were; labels that JSON cannot
        hold, such as timestamps, are not kept there, so that the result
        can be written to Parquet, and return as text); other pandas
        columns named ``"k/r"`` with one common ``r`` give part names split
        at the last ``/``.

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
    if is_dask(y):
        return _dask.map_rows(alr_inv, y, names=("y",), ref=ref)
    values, labels = _coordinates(y, "y")
    k = values.shape[1]
    record = alr_record(labels, getattr(y, "attrs", {}))
    r = alr_reference(ref, record, k + 1)
    z = np.insert(values, r, 0.0, axis=1)
    out = clr_inv_values(z)
    return labels.rows(out, alr_parts(labels, r, record))


def _resolve_basis(basis, n_parts: int, parts=None):
    """Return ``(kind or None, matrix or None, names or None, parts or None)``.

    ``parts`` are the data's part labels, if any: a basis labelled with other
    parts, or with the same parts in another order, is an error.
    """
    if isinstance(basis, str):
        check_option(basis, "basis", BASIS_KINDS)
        return basis, None, None, None
    matrix = check_basis(basis, "basis", n_parts)
    if isinstance(basis, pd.DataFrame):
        check_basis_parts(basis.index, parts, "basis")
        return None, matrix, basis.columns, basis.index
    return None, matrix, None, None


def ilr(x, /, *, basis="helmert"):
    """Isometric log-ratio transform.

    Parameters
    ----------
    x : array_like or dask collection of shape (n_samples, n_parts) or (n_parts,)
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
    ``ilr`` with its default basis. R's ``compositions::ilr`` (version 2.0)
    uses the same basis with every column negated (normalised
    ``contr.helmert``), so its coordinates are the negatives of these:
    ``basis=-coda.ilr_basis(D)`` reproduces them. Euclidean distances
    between ilr coordinates are Aitchison distances.

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
    if is_dask(x):
        return _dask.map_rows(ilr, x, basis=basis)
    values, labels = unwrap(x)
    values = np.ascontiguousarray(values)
    check_shape(values, "x", min_parts=2)
    d = values.shape[1]
    kind, matrix, names, _ = _resolve_basis(basis, d, labels.parts)
    out = _ilr_values(values, kind, matrix, row_labels=labels.index)
    if names is None:
        names = [f"ilr{k + 1}" for k in range(d - 1)]
    return _with_ilr_record(labels, out, names)


def _ilr_values(values: np.ndarray, kind, matrix, *, row_labels=None) -> np.ndarray:
    """ilr coordinates of C-ordered ``values`` (shape checked) in a basis kind or a checked matrix.

    Invalid values (zeros, negatives, NaN, inf) are reported after the pass,
    rows named by ``row_labels``.
    """
    n, d = values.shape
    out = np.empty((n, d - 1), dtype=values.dtype)
    rowsum = np.empty(n)
    if kind is not None:
        kernel = _kernels._ilr_helmert if kind == "helmert" else _kernels._ilr_pivot
        _logs_in_blocks(values, kernel, out, rowsum)
    elif matrix.nbytes > _BASIS_IN_BLOCKS_BYTES:
        # Each block's product would read the whole basis again (1.2-2.5x the
        # time of one product at D = 500-6,000): centre the logs of many rows
        # (a chunk of about 64 MB), then make one product for them.
        matrix = matrix.astype(values.dtype, copy=False)
        step = max(256, _ONE_PRODUCT_BYTES // (d * values.itemsize))
        logs = np.empty((min(n, step), d), dtype=values.dtype)
        for start in range(0, n, step):
            stop = min(n, start + step)
            chunk = logs[: stop - start]
            _logs_in_blocks(values[start:stop], _kernels._clr, chunk, rowsum[start:stop])
            np.matmul(chunk, matrix, out=out[start:stop])
    else:
        matrix = matrix.astype(values.dtype, copy=False)

        def project(logs, block_out, block_rowsum):
            _kernels._clr(logs, block_rowsum)
            np.matmul(logs, matrix, out=block_out)

        _logs_in_blocks(values, project, out, rowsum)
    if not np.isfinite(rowsum).all():
        raise_invalid_composition(values, "x", row_labels=row_labels)
    return out


def _with_ilr_record(labels: Labels, coords: np.ndarray, names):
    """ilr coordinates shaped like the input, recording its part labels for :func:`ilr_inv`."""
    result = labels.rows(coords, names)
    if not labels.labelled:
        return result
    return _records.attach(result, _ILR_ATTR, labels, names)


def ilr_inv(z, /, *, basis="helmert"):
    """Inverse of the isometric log-ratio transform.

    Parameters
    ----------
    z : array_like or dask collection of shape (n_samples, n_parts - 1) or (n_parts - 1,)
        ilr coordinates.
    basis : {"helmert", "pivot"} or array_like of shape (n_parts, n_parts - 1)
        The basis used by :func:`ilr`.

    Returns
    -------
    ndarray, Series or DataFrame of shape (n_samples, n_parts)
        The closed compositions. Parts are named after the basis's index
        when ``basis`` is a DataFrame; otherwise a result of :func:`ilr` or
        :func:`balances` whose columns are unchanged gives the parts their
        labels back (kept in its ``attrs``, as for :func:`alr_inv`), and
        other coordinates give parts numbered from 0.

    Raises
    ------
    ValueError
        If ``z`` holds NaN or infinite values, or ``basis`` is invalid, or
        if ``z`` and ``basis`` are both DataFrames and ``z``'s columns are not
        the basis's columns in the same order.

    See Also
    --------
    ilr : the forward transform.

    Examples
    --------
    >>> import coda
    >>> coda.ilr_inv(coda.ilr([1, 1, 2]))
    array([0.25, 0.25, 0.5 ])
    """
    if is_dask(z):
        return _dask.map_rows(ilr_inv, z, names=("z",), basis=basis)
    values, labels = _coordinates(z, "z")
    n, d1 = values.shape
    kind, matrix, names, parts = _resolve_basis(basis, d1 + 1)
    record = _records.find(labels, getattr(z, "attrs", {}), _ILR_ATTR)
    if parts is None and record is not None and len(record["parts"] or ()) == d1 + 1:
        parts = _records.part_index(record)
    check_coordinate_names(labels.parts if names is not None else None, names)
    logs = np.empty((n, d1 + 1), dtype=values.dtype)
    if kind == "helmert":
        _kernels._ilr_helmert_inv(values, logs)
    elif kind == "pivot":
        _kernels._ilr_pivot_inv(values, logs)
    else:
        np.matmul(values, matrix.T.astype(values.dtype, copy=False), out=logs)
    out = clr_inv_values(logs)
    return labels.rows(out, parts)


def balances(x, sbp, /):
    """ilr coordinates of a sequential binary partition, named after it.

    Parameters
    ----------
    x : array_like or dask collection of shape (n_samples, n_parts) or (n_parts,)
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
    if is_dask(x):
        return _dask.map_rows(balances, x, trailing=(sbp,))
    values, labels = composition(x, min_parts=2)
    signs = check_sbp(sbp, n_parts=values.shape[1])
    if isinstance(sbp, pd.DataFrame):
        check_basis_parts(sbp.columns, labels.parts, "sbp")
    basis = basis_of_signs(signs)
    if isinstance(sbp, pd.DataFrame):
        names = list(sbp.index)
    elif labels.labelled:
        names = _balance_names(labels.part_names(values.shape[1]), signs)
    else:
        names = None  # arrays out carry no names
    # The basis of a checked partition is orthonormal: not checked again.
    coords = _ilr_values(np.ascontiguousarray(values), None, basis, row_labels=labels.index)
    return _with_ilr_record(labels, coords, names)


def _balance_names(parts: list[str], signs: np.ndarray) -> list[str]:
    """``"a,b/c"`` for each row of a partition: the parts it puts over the parts it puts under.

    Each row's groups are found by numpy, so the Python work is the length of
    the names (a loop over every part of every row took 4.4 s at 5,000 parts).
    """

    def group(row: np.ndarray, sign: int) -> str:
        return ",".join(parts[i] for i in np.flatnonzero(row == sign))

    return [f"{group(row, 1)}/{group(row, -1)}" for row in signs]
