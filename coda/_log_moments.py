"""Covariances of log-ratio coordinates from the data: one pass over the rows, in groups.

:func:`log_ratio_cov` is the pass that the recomputations from the data
share: the alr covariance and the clusters of nearly proportional parts of
the variation matrix (``coda._clr_gram.relative_log_cov``) and the exact
precision and conditional covariances (``coda._exact_precision``). The
caller says how to make the coordinates ``Z`` of a group of rows from their
logs; each group (about ``group_bytes`` of values in memory, or one row block
of a dask collection) is centred on its own mean, its Gram matrix is one
BLAS ``syrk``, and the groups are merged by the pairwise update of Chan,
Golub and LeVeque (:func:`merge_moments`), so no sum of squares about zero
is formed.

Each log-ratio is taken less that of one row of the data
(:func:`logs_of_one_row`), without rounding more than once
(:func:`shifted_differences`). Parts that differ by large constant factors
have logs far from 0, and ``log x_k - log x_r`` (logs near 45 and 5, say)
is rounded relative to that offset rather than to its spread: 1e7 eps and
more of an alr covariance whose log-ratios vary by 1e-7 against an offset
of 40. Neither simple order of the subtractions is exact in general: the
logs less the row's logs first are exact (Sterbenz) for parts whose logs
vary little beside their size, but are rounded on the scale of the spread
of the row totals for nearly proportional parts whose totals vary by 1
(1e5 to 1e6 eps of their variation entries), and a part whose logs
straddle 0 is rounded on the scale of its spread either way. A shift of
the logs leaves every covariance unchanged. "Exact" here is relative to
the float64 logs numpy gives: their own rounding (an eps of 45 for a log
near 45) stays in the data.

Reference: Chan, T. F., Golub, G. H. and LeVeque, R. J. (1983). Algorithms for
computing the sample variance: analysis and recommendations. The American
Statistician 37(3):242-247. https://doi.org/10.1080/00031305.1983.10483115
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
import scipy.linalg

from coda._dask import import_dask, is_dask
from coda._parallel import one_blas_thread
from coda._validation import as_2d

# Results merged per tree node: few levels, and at most this many D x D
# matrices (8 D^2 bytes each) in a worker's memory at once.
_SPLIT_EVERY = 4


@dataclass(frozen=True)
class LogMoments:
    """``count`` rows of D variables: a shift, their means relative to it, their co-moment.

    For dask blocks (:mod:`coda._dask_moments`) the variables are the clr
    values and the shift is the median clr of 64 of a block's rows; the
    recomputations from the data use no shift here (zeros): their
    coordinates are made less those of one row (:func:`logs_of_one_row`).
    """

    count: int
    shift: np.ndarray  # (D,): s, e.g. the median clr of 64 rows of one block
    mean: np.ndarray  # (D,): mean of Y - s
    comoment: np.ndarray  # (D, D), symmetric: sum_r (y_r - mean)(y_r - mean)^T; or its diagonal
    extent: float = 0.0  # a bound on the logs' scale, for constant_parts (dask blocks only)


def merge_moments(*parts: LogMoments) -> LogMoments:
    """The moments of the union of disjoint row sets: Chan, Golub and LeVeque's pairwise update.

    The result keeps the shift of the first non-empty part; a part with
    another shift enters through the difference of the shifts, which is
    exact for close shifts, plus the difference of the means (see the module
    docstring of :mod:`coda._dask_moments`). A ``comoment`` of shape (D,)
    holds only the diagonal: the sums of squares of single variables.
    """
    total = parts[0]
    for part in parts[1:]:
        if part.count == 0:
            continue
        if total.count == 0:
            total = part
            continue
        n = total.count + part.count
        # Both means relative to total's shift; shift first: the exact part.
        delta = (part.shift - total.shift) + (part.mean - total.mean)
        mean = total.mean + delta * (part.count / n)
        # outer(delta, delta) is exactly symmetric, so the sum stays symmetric.
        update = np.outer(delta, delta) if total.comoment.ndim == 2 else delta * delta
        update *= total.count * part.count / n
        comoment = total.comoment + part.comoment
        comoment += update
        total = LogMoments(n, total.shift, mean, comoment, max(total.extent, part.extent))
    return total


def no_moments(d: int, shape: tuple) -> LogMoments:
    """The moments of no rows, unshifted: what :func:`merge_moments` starts from here."""
    return LogMoments(0, np.zeros(d), np.zeros(d), np.zeros(shape))


def centred_gram(block: np.ndarray) -> LogMoments:
    """Centre ``block`` (rows of data, C order) on its own mean, in place; its moments, unshifted.

    Lower triangle only (BLAS ``syrk``, as for the clr Gram); see
    :func:`symmetric_cov`.
    """
    block_mean = block.mean(axis=0)
    block -= block_mean
    gram = scipy.linalg.blas.dsyrk(1.0, block.T, trans=0, lower=1)
    return LogMoments(block.shape[0], np.zeros(block.shape[1]), block_mean, gram)


def symmetric_cov(total: LogMoments, ddof: int) -> np.ndarray:
    """The covariance from merged moments: the lower triangle mirrored, over ``n - ddof``."""
    lower = np.tril(total.comoment)
    return (lower + np.tril(lower, -1).T) / (total.count - ddof)


def group_rows(n: int, width: int, group_bytes: int) -> int:
    """Rows in a group of about ``group_bytes`` of float64 values, ``width`` a row (1 to n)."""
    return max(1, min(n, group_bytes // (8 * width)))


def over_rows(values, moments_of, width: int, empty: LogMoments, *, group_bytes: int):
    """``moments_of(rows)`` over all rows of ``values``, merged by :func:`merge_moments`.

    In memory, in groups of rows of about ``group_bytes`` (``width`` float64
    values a row); a dask collection by its row blocks, in one compute.
    ``empty``: the moments of no rows.
    """
    if is_dask(values):
        return merged_over_blocks(values, moments_of, empty)
    n = values.shape[0]
    group = group_rows(n, width, group_bytes)
    total = empty
    for start in range(0, n, group):
        total = merge_moments(total, moments_of(values[start : start + group]))
    return total


def row_blocks(x) -> tuple[list, list]:
    """The delayed row blocks of ``x`` and the number of each one's first row (NaN: unknown)."""
    if hasattr(x, "columns"):
        blocks = x.to_delayed()
        # Partitions carry their index: rows are named by it.
        return blocks, [0] * len(blocks)
    if len(x.chunks[1]) > 1:
        # A block must hold whole rows. No warning, unlike the row-wise
        # functions: the result is one D x D matrix, not blocks the user chose.
        x = x.rechunk({1: -1})
    # NaN from the first unknown chunk size on.
    return x.to_delayed().ravel(), np.cumsum((0, *x.chunks[0][:-1])).tolist()


def merged_tree(level: list, dask, delayed) -> LogMoments:
    """The delayed moments in ``level`` merged in a tree and computed: one compute.

    Runs on dask's current scheduler: the threaded one, or a
    ``dask.distributed`` client if one is active. Nothing is written
    anywhere; an error in any block (invalid values, a lost worker) is raised
    here.
    """
    while len(level) > 1:
        level = [
            delayed(merge_moments)(*level[start : start + _SPLIT_EVERY])
            for start in range(0, len(level), _SPLIT_EVERY)
        ]
    # One BLAS thread per block: dask's threads already fill the cores, and
    # OpenBLAS called from several threads at once, each with its own team of
    # threads, slows down several-fold (measured 3x on 2 cores). Worker
    # processes of dask.distributed already start with one BLAS thread.
    with one_blas_thread():
        (moments,) = dask.compute(level[0])
    return moments


def merged_over_blocks(x, moments_of, empty: LogMoments) -> LogMoments:
    """``moments_of(rows)`` of each row block of dask ``x``, merged: another pass over the data.

    For the recomputations from the data (:func:`over_rows`), after
    ``coda._dask_moments.log_moments`` has checked every value: ``rows`` is
    a block's values as a numpy array; an empty block gives ``empty``.
    """
    dask = import_dask("dask")
    delayed = partial(dask.delayed, pure=True)
    blocks, _ = row_blocks(x)
    return merged_tree(
        [delayed(_rows_moments)(b, moments_of, empty) for b in blocks], dask, delayed
    )


def _rows_moments(block, moments_of, empty: LogMoments) -> LogMoments:
    """Part of :func:`merged_over_blocks`: one block."""
    if len(block) == 0:
        return empty
    return moments_of(as_2d(block, "x"))


def logs_of_one_row(values) -> np.ndarray:
    """The logs of one row of ``values`` (its middle row in memory, the first of dask data).

    The shift of the recomputations (see the module docstring): without it,
    clr values, log-ratios and triangular solves of logs far from 0 are
    rounded relative to that offset rather than to their spread (1e-10
    against 1e-12 at offsets of 300).

    Shape (D,), float64. A dask collection's row is computed here: a
    DataFrame's first rows by ``head``, which looks in every partition (the
    first may be empty after a filter); an array's from its first row
    block, or, when its chunk sizes are unknown (after a boolean filter),
    from the first of its blocks that holds a row, one block computed at a
    time. Zeros (no shift) for a collection without rows.
    """
    d = values.shape[1]
    if not is_dask(values):
        middle = values.shape[0] // 2
        row = np.asarray(values[middle : middle + 1], dtype=np.float64)
        return np.log(row).reshape(d)
    if hasattr(values, "columns"):
        row = np.asarray(values.head(1, npartitions=-1), dtype=np.float64)
    elif not np.isnan(values.shape[0]):
        row = np.asarray(values[:1].compute(), dtype=np.float64)
    else:
        row = np.empty((0, d))
        for k in range(values.numblocks[0]):
            row = np.asarray(values.blocks[k].compute()[:1], dtype=np.float64)
            if row.shape[0]:
                break
    return np.log(row).reshape(d) if row.shape[0] else np.zeros(d)


def shifted_differences(a, b, shift_a, shift_b, out=None) -> np.ndarray:
    """``(a - b) - (shift_a - shift_b)`` to about one rounding of itself (into ``out``, if given).

    Each difference with its rounding error (Knuth's TwoSum: ``a - b = d +
    e`` exactly); ``d - c`` of the two rounded differences is exact where
    they are within a factor of 2 (Sterbenz), the case where the offset
    ``shift_a - shift_b`` is larger than the spread, and the errors are
    added back after. So logs whose ratio is near 40 but varies by 1e-7, and
    nearly proportional parts whose logs vary by 1 together, both give
    their log-ratios to a rounding. Two arrays of the result's size besides
    it, each written in place: new memory costs a page fault per page.
    """
    d = np.asarray(np.subtract(a, b, out=out))
    c = shift_a - shift_b
    error = _difference_error(a, b, d)
    error -= _difference_error(shift_a, shift_b, c)
    d -= c
    d += error
    return d


def shifted_differences_into(a, b, shift_a, shift_b, out: np.ndarray) -> None:
    """:func:`shifted_differences` of rows of columns into ``out``, compensated where needed.

    Each column first as ``(a - b) - (shift_a - shift_b)``, plainly: two
    passes instead of a dozen. The first difference is rounded at
    ``|a - b|``, at most ``|offset| + |step|`` (``offset = shift_a -
    shift_b``, ``step`` the result), so a column whose offset is at most
    ``_FAR_OFFSET`` times the root mean square of its steps over these rows
    is rounded on the scale of its steps, as its compensated value and the
    sums made from it are; the columns with larger offsets (for example
    logs near 45 and 5 whose ratio varies by 1e-7) are made again by
    :func:`shifted_differences`. A rounded offset shifts a whole column, so
    it leaves covariances unchanged. NaN steps (invalid data) count as far.
    """
    offset = shift_a - shift_b
    np.subtract(a, b, out=out)
    out -= offset
    far = far_offsets(offset, np.sqrt(np.einsum("rk,rk->k", out, out) / max(out.shape[0], 1)))
    if 2 * far.size > offset.size:
        # Most columns: all of them in place, rather than gather and scatter.
        shifted_differences(a, b, shift_a, shift_b, out=out)
    elif far.size:
        out[:, far] = shifted_differences(a[:, far], b[:, far], shift_a[far], shift_b[far])


def far_offsets(offset, spread) -> np.ndarray:
    """Where ``|offset|`` exceeds ``_FAR_OFFSET`` times ``spread`` (NaN counts as far): indices.

    Where it does not, a value rounded at ``|offset| + |value|`` is good to a
    few roundings of the spread: see :func:`shifted_differences_into`.
    """
    return np.flatnonzero(~(np.abs(offset) <= _FAR_OFFSET * spread))


# Offsets up to this many times the spread are subtracted plainly (see far_offsets): a plain
# difference then adds at most this many roundings of the spread, at which the sums made
# from the differences (the ilr coordinates, a row's clr values) are rounded anyway.
_FAR_OFFSET = 4.0


def _difference_error(a, b, d) -> np.ndarray:
    """``(a - b) - d`` exactly, for ``d = fl(a - b)`` (TwoSum of ``a`` and ``-b``)."""
    back = np.asarray(d - a)
    error = np.asarray(d - back)
    np.subtract(a, error, out=error)
    back += b
    error -= back
    return error


def relative_logs(rows: np.ndarray, shift: np.ndarray, pivot: int, columns) -> np.ndarray:
    """``log(x_c / x_pivot)`` for the parts ``columns`` (C order), less those of ``shift``.

    ``shift`` holds the logs of one row (:func:`logs_of_one_row`); see
    :func:`shifted_differences`.
    """
    columns = list(columns)
    logs = np.log(np.asarray(rows[:, [pivot, *columns]], dtype=np.float64))
    return shifted_differences(logs[:, 1:], logs[:, :1], shift[columns], shift[pivot])


def log_ratio_cov(
    values, coordinates, width: int, ddof: int, *, group_bytes: int, lower=None
) -> np.ndarray:
    """The covariance of ``Z = coordinates(rows, shift)`` (``width`` columns) over all rows.

    ``values``: checked compositions, an array or a dask collection.
    ``coordinates`` makes the coordinates of a group of rows (a 2-D array)
    from their values and ``shift``, the logs of one row
    (:func:`logs_of_one_row`), less which it takes their logs: for example
    :func:`relative_logs`. With a lower-triangular ``lower`` (only its lower
    triangle is read), the covariance of ``Z L^{-T}`` instead. Rows in
    groups of about ``group_bytes`` (or dask row blocks, in one compute),
    each centred on its own mean and merged by :func:`merge_moments`.
    """
    shift = logs_of_one_row(values)
    moments = partial(_moments, coordinates=coordinates, shift=shift, lower=lower)
    empty = no_moments(width, (width, width))
    total = over_rows(values, moments, width, empty, group_bytes=group_bytes)
    return symmetric_cov(total, ddof)


def _moments(rows: np.ndarray, coordinates, shift: np.ndarray, lower) -> LogMoments:
    """Part of :func:`log_ratio_cov`: the moments of the coordinates of one group of rows."""
    z = coordinates(rows, shift)
    if lower is not None:
        # (L^{-1} Z^T)^T: Z^T of a C-ordered Z is Fortran-ordered, as LAPACK takes it.
        z = scipy.linalg.solve_triangular(
            lower, z.T, lower=True, overwrite_b=True, check_finite=False
        ).T
    return centred_gram(np.ascontiguousarray(z))
