"""The clr covariance from one pass over the data: the engine under coda.covariance.

:func:`clr_cov_estimate` takes in-memory or dask input. In memory, the logs
are centred in each row (the clr values) and shifted near their column
means, and their Gram matrix is one BLAS
``syrk``; dask input goes through the same code block by block
(:mod:`coda._dask_moments`). The numba kernel ``_clr_cov`` then double-centres
the covariance. Arrays in, arrays out, apart from the labels record that
travels with the estimate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg

from coda import _kernels
from coda._dask import is_dask
from coda._labels import Labels, unwrap
from coda._parallel import for_row_blocks
from coda._validation import check_composition, check_ddof, check_shape


def _log_shift(values: np.ndarray) -> np.ndarray:
    """The mean clr of the first rows, close to the column means of the clr values."""
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log(values[:64], dtype=np.float64)
        return (logs - logs.mean(axis=1, keepdims=True)).mean(axis=0)


_GROUP_BYTES = 16 << 20  # logs of one group of rows, multiplied into the Gram in one syrk


def _shifted_log_gram(values: np.ndarray, *, row_labels=None, shift=None):
    """``(lower, mean)``: the Gram matrix of ``Y = clr(x) - s`` and the column means of ``Y``.

    One pass over the data in groups of rows (about 16 MB of logs each): in
    each group numpy's ``log`` fills cache-sized row blocks of ``Y`` on
    threads, which a kernel centres by row (the clr values), shifts and sums
    by column while the block is in cache (``_kernels._shift_sums``); then
    BLAS ``syrk`` (half the flops of a general product) adds the group's
    ``Y_g^T Y_g`` to the Gram matrix, whose lower triangle is returned in
    Fortran order. The logs of one group at a time are held, not all n rows:
    new memory costs the kernel a page fault per page on first use, and an
    n x D buffer of logs cost as much time in faults as in logs. ``syrk``
    with a few thousand rows per call runs as fast as one call on all rows.

    Centring each row keeps the spread of the row totals, which the clr
    covariance does not see, out of ``Y``: with the logs themselves, rows
    whose totals vary far more than their log-ratios lost digits to the
    double centring. The shift ``s`` (the mean clr of the first rows) is
    close to the column means, so ``Y^T Y - n m m^T`` loses no precision to
    cancellation; ``shift`` passes one computed elsewhere (each row block of
    a dask collection passes its own, see :mod:`coda._dask_moments`). Invalid
    input (zeros, negatives, NaN, inf) shows up as a
    non-finite column sum and is then reported by ``check_composition``;
    valid input pays nothing for the check. Groups and blocks are summed in
    row order, so the result has the same bits on every run.

    scipy's BLAS is used, not numpy's, because the Cholesky factorisation that
    follows in ``coda.precision`` runs in scipy's LAPACK: numpy and scipy ship
    separate OpenBLAS builds, and the threads of one still spin for a while
    after a call, slowing the other's next call on a machine with few cores.
    """
    n, d = values.shape
    if shift is None:
        shift = _log_shift(values)
    group = max(1, min(n, _GROUP_BYTES // (8 * d)))
    logs = np.empty((group, d))
    lower = np.zeros((d, d), order="F")
    sums = {}
    for first in range(0, n, group):
        rows = min(group, n - first)

        def run(start: int, stop: int, first=first) -> None:
            block = logs[start:stop]
            with np.errstate(divide="ignore", invalid="ignore"):
                np.log(values[first + start : first + stop], out=block, dtype=np.float64)
            sums[first + start] = column = np.empty(d)
            _kernels._shift_sums(block, shift, column)

        for_row_blocks(run, rows, d * 8)
        lower = scipy.linalg.blas.dsyrk(
            1.0, logs[:rows].T, beta=1.0, c=lower, trans=0, lower=1, overwrite_c=1
        )
    # Added in block order, not in the order threads finish: the same bits every run.
    mean = np.sum([sums[start] for start in sorted(sums)], axis=0) / n
    if not np.isfinite(mean).all():
        check_composition(values, "x", row_labels=row_labels)
    return lower, mean


def clr_cov_checked(values: np.ndarray, ddof: int, *, row_labels=None):
    """``(Gamma, smallest)``: the clr covariance and its least varying log-ratio.

    ``smallest`` is ``(T_ij, i, j)`` for the pair of parts whose log-ratio
    varies least, which the partial correlations need to rule out
    proportional parts. Both come from one kernel pass over the Gram matrix
    (instead of separate numpy passes to mirror, subtract the means' outer
    product, and double-centre).
    """
    lower, mean = _shifted_log_gram(values, row_labels=row_labels)
    return _clr_cov_from_gram(lower, mean, values.shape[0], ddof)


def _clr_cov_from_gram(lower: np.ndarray, mean: np.ndarray, n: int, ddof: int):
    """``(Gamma, smallest)`` from ``Y^T Y`` (lower triangle, Fortran order) and ``mean(Y)``."""
    d = mean.size
    gamma = np.empty((d, d))
    smallest = np.empty(3)
    _kernels._clr_cov(lower, mean, n, ddof, gamma, smallest)
    return gamma, (float(smallest[0]), int(smallest[1]), int(smallest[2]))


def clr_cov_values(values: np.ndarray, ddof: int, *, row_labels=None) -> np.ndarray:
    """``Gamma = G cov(log X) G``: the clr covariance without forming clr data."""
    return clr_cov_checked(values, ddof, row_labels=row_labels)[0]


def _data(x, ddof, *, min_parts: int = 2, min_samples: int = 2):
    """Unwrap ``x`` and check its shape; values are checked by ``_shifted_log_gram``."""
    values, labels = unwrap(x)
    check_shape(values, "x", min_parts=min_parts, min_samples=min_samples)
    return values, labels, check_ddof(ddof, values.shape[0])


@dataclass(frozen=True)
class ClrCovEstimate:
    """The clr covariance of in-memory or dask data, with what the callers check it by."""

    gamma: np.ndarray
    smallest: tuple  # (T_ij, i, j): the least varying log-ratio, see clr_cov_checked
    n_samples: int
    labels: Labels
    ddof: int


def composition_parts(x, *, min_parts: int = 2) -> tuple[Labels, int]:
    """The labels and number of parts of ``x`` (in memory or dask), before any pass over it."""
    if is_dask(x):
        # Imported here: coda._dask_moments imports this module.
        from coda._dask_moments import dask_labels

        return dask_labels(x, min_parts=min_parts)
    values, labels = unwrap(x)
    check_shape(values, "x", min_parts=min_parts)
    return labels, values.shape[1]


def clr_cov_estimate(x, ddof, *, min_parts: int = 2, min_samples: int = 2) -> ClrCovEstimate:
    """The clr covariance of ``x``: one pass over an array, or over the row blocks of dask data.

    Dask input is computed here (on the current scheduler or distributed
    client): only D x D results come back to the caller.
    """
    if is_dask(x):
        # Imported here: coda._dask_moments imports this module.
        from coda._dask_moments import dask_labels, log_moments

        labels, d = dask_labels(x, min_parts=min_parts)
        # Type and sign now, before the pass over the data; the divisor once n is known.
        check_ddof(ddof, np.inf)
        moments = log_moments(x)
        n = moments.count
        # A zero-copy stand-in with the data's shape, for the size checks.
        check_shape(np.broadcast_to(0.0, (n, d)), "x", min_samples=min_samples)
        ddof = check_ddof(ddof, n)
        # The co-moment is symmetric, so its transpose is the same matrix in the
        # Fortran order the kernel reads; it is already centred, so the mean is 0.
        gamma, smallest = _clr_cov_from_gram(moments.comoment.T, np.zeros(d), n, ddof)
        return ClrCovEstimate(gamma, smallest, n, labels, ddof)
    values, labels, ddof = _data(x, ddof, min_parts=min_parts, min_samples=min_samples)
    gamma, smallest = clr_cov_checked(values, ddof, row_labels=labels.index)
    return ClrCovEstimate(gamma, smallest, values.shape[0], labels, ddof)
