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
from functools import partial

import numpy as np
import scipy.linalg
import scipy.sparse
import scipy.sparse.csgraph

from coda import _kernels
from coda._dask import is_dask
from coda._labels import Labels, unwrap
from coda._log_moments import (
    LogMoments,
    centred_gram,
    group_rows,
    log_ratio_cov,
    logs_of_one_row,
    merge_moments,
    no_moments,
    over_rows,
    relative_logs,
    shifted_differences,
    shifted_differences_into,
    symmetric_cov,
)
from coda._parallel import for_row_blocks
from coda._validation import check_composition, check_ddof, check_shape


def _log_shift(values: np.ndarray) -> np.ndarray:
    """The median clr of 64 rows spread evenly over ``values``: close to the column means.

    Spread rather than the first 64, so that sorted or drifting data (whose
    first rows stand apart) get a shift near the middle of all rows; the
    median, so that one outlying row among the 64 does not pull it away (the
    Gram's ``n m m^T`` then cancels little).
    """
    n = values.shape[0]
    rows = (np.arange(min(n, 64)) * n) // min(n, 64)
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log(values[rows], dtype=np.float64)
        return np.median(logs - logs.mean(axis=1, keepdims=True), axis=0)


def constant_parts(squares: np.ndarray, mean: np.ndarray, n: int, extent: float) -> np.ndarray:
    """Where a column of ``Y`` is constant to working precision: its variance is rounding.

    ``squares`` are the sums of squares of the ``n`` values of each column of
    ``Y`` about their mean (``n`` times the variance), ``mean`` the column
    means of ``Y``. A part is constant when a sum of squares is within
    ``8 sqrt(n) eps`` of ``n m_j^2`` (what ``Y^T Y - n m m^T`` leaves of a
    constant column), or when the variance is below ``(8 eps extent)^2``,
    where ``extent`` bounds the logs (see ``_shifted_log_gram``): clr values
    vary that much from the rounding of the logs alone. Identical rows leave
    the first kind (the exact clr values in ``Y`` are the same in every row
    but not 0); rows that are one
    composition at different totals the second (their clr values differ by
    the rounding of logs of 10 or 20). Both came out as noise, of either
    sign for the first (a negative total variance), and the partial
    correlations and proportionalities of that noise were returned as
    results.
    """
    eps = np.finfo(np.float64).eps
    floor = np.maximum(8.0 * np.sqrt(n) * eps * n * mean**2, n * (8.0 * eps * extent) ** 2)
    return squares <= floor


def without_constant_parts(matrix: np.ndarray, constant: np.ndarray) -> np.ndarray:
    """``matrix`` (a co-moment or covariance) with the rows and columns of ``constant`` at 0."""
    matrix[constant, :] = 0.0
    matrix[:, constant] = 0.0
    return matrix


# Logs of one group of rows, multiplied into the Gram in one syrk; the passes that recompute
# from the data (relative_log_cov, coda._exact_precision) take rows in groups of this size too.
_GROUP_BYTES = 16 << 20


def _shifted_log_gram(values: np.ndarray, *, row_labels=None, shift=None):
    """``(lower, mean, extent)``: the Gram matrix of ``Y = clr(x) - s``, its column means.

    ``extent`` is the largest ``|mean of a row's logs|`` plus the largest
    ``|s_j|``: a bound on the logs' scale, for :func:`constant_parts`.

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
    double centring. The shift ``s`` (the median clr of 64 rows spread over
    the data) is close to the column means, so ``Y^T Y - n m m^T`` loses no
    precision to cancellation; ``shift`` passes one computed elsewhere (each row block of
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
    group = group_rows(n, d, _GROUP_BYTES)
    logs = np.empty((group, d))
    lower = np.zeros((d, d), order="F")
    sums = {}
    widest = {}
    for first in range(0, n, group):
        rows = min(group, n - first)

        def run(start: int, stop: int, first=first) -> None:
            block = logs[start:stop]
            with np.errstate(divide="ignore", invalid="ignore"):
                np.log(values[first + start : first + stop], out=block, dtype=np.float64)
            sums[first + start] = column = np.empty(d)
            widest[first + start] = row_scale = np.empty(1)
            _kernels._shift_sums(block, shift, column, row_scale)

        for_row_blocks(run, rows, d * 8)
        lower = scipy.linalg.blas.dsyrk(
            1.0, logs[:rows].T, beta=1.0, c=lower, trans=0, lower=1, overwrite_c=1
        )
    # Added in block order, not in the order threads finish: the same bits every run.
    mean = np.sum([sums[start] for start in sorted(sums)], axis=0) / n
    if not np.isfinite(mean).all():
        check_composition(values, "x", row_labels=row_labels)
    extent = max(float(w[0]) for w in widest.values()) + float(np.abs(shift).max())
    return lower, mean, extent


def clr_cov_checked(values: np.ndarray, ddof: int, *, row_labels=None):
    """``(Gamma, smallest)``: the clr covariance and its least varying log-ratio.

    ``smallest`` is ``(T_ij, i, j)`` for the pair of parts whose log-ratio
    varies least, which the partial correlations need to rule out
    proportional parts. Both come from one kernel pass over the Gram matrix
    (instead of separate numpy passes to mirror, subtract the means' outer
    product, and double-centre).
    """
    lower, mean, extent = _shifted_log_gram(values, row_labels=row_labels)
    n = values.shape[0]
    return _clr_cov_from_gram(
        lower, mean, n, ddof, constant_parts(np.diag(lower) - n * mean**2, mean, n, extent)
    )


def _clr_cov_from_gram(lower: np.ndarray, mean: np.ndarray, n: int, ddof: int, constant):
    """``(Gamma, smallest)`` from ``Y^T Y`` (lower triangle, Fortran order) and ``mean(Y)``.

    ``constant``: the parts to set to 0 (:func:`constant_parts`).
    """
    d = mean.size
    gamma = np.empty((d, d))
    smallest = np.empty(3)
    _kernels._clr_cov(lower, mean, n, ddof, gamma, smallest)
    if not constant.any():
        return gamma, (float(smallest[0]), int(smallest[1]), int(smallest[2]))
    without_constant_parts(gamma, constant)
    t = variation_from_clr_cov(gamma)
    t[np.tril_indices(d)] = np.inf
    i, j = np.unravel_index(np.argmin(t), t.shape)
    return gamma, (float(t[i, j]), int(i), int(j))


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
    values: object = None  # the data, an array or the dask collection: see variation_estimate


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
        # Parts constant over all rows: their co-moment is what the merges
        # rounded, judged against the mean of Y as in memory.
        constant = constant_parts(np.diag(moments.comoment), moments.mean, n, moments.extent)
        gamma, smallest = _clr_cov_from_gram(moments.comoment.T, np.zeros(d), n, ddof, constant)
        return ClrCovEstimate(gamma, smallest, n, labels, ddof, x)
    values, labels, ddof = _data(x, ddof, min_parts=min_parts, min_samples=min_samples)
    return clr_cov_of_values(values, labels, ddof)


def clr_cov_of_values(values: np.ndarray, labels: Labels, ddof: int) -> ClrCovEstimate:
    """:func:`clr_cov_estimate` of checked in-memory data (as :func:`_data` gives them)."""
    gamma, smallest = clr_cov_checked(values, ddof, row_labels=labels.index)
    return ClrCovEstimate(gamma, smallest, values.shape[0], labels, ddof, values)


# (Gamma_ii + Gamma_jj) / T_ij above which T_ij, taken from Gamma, is recomputed from the data:
# T_ij from Gamma is good to a few eps of Gamma_ii + Gamma_jj, so the entries kept are good to
# a few thousand eps of themselves (1e-12) at worst. Lower bounds cost time: the variation of
# 10,000 x 1,000 from coda.simulate(graph="chain") has 773 pairs above 256 and 4,630 above 64,
# each recomputed in O(n), and none above 1024.
_CANCELLATION = 1024.0
# Parts joined by cancelled pairs, at least this many, get one Gram matrix of their logs
# relative to one of them (a cluster of nearly proportional parts) instead of a pass per pair.
_CLUSTER = 16


def variation_from_clr_cov(gamma: np.ndarray) -> np.ndarray:
    """``T_ij = Gamma_ii + Gamma_jj - 2 Gamma_ij``, with a zero diagonal."""
    diag = np.diag(gamma)
    t = diag[:, None] + diag[None, :] - 2.0 * gamma
    np.fill_diagonal(t, 0.0)
    return t


def variation_of_matrix(gamma: np.ndarray) -> np.ndarray:
    """:func:`variation_from_clr_cov` of a symmetric matrix given by the user, rounding cleared.

    Each T_ij is a variance, but rounding (the formula's, and an estimated
    gamma's: up to 6 eps of the terms from 1,000,000 rows of ``clr_cov``)
    can put a zero one (proportional parts) below zero. Those are set to
    zero; a value below 64 eps of the terms means ``gamma`` is not a
    covariance, and is kept.
    """
    t = variation_from_clr_cov(gamma)
    diag = np.abs(np.diag(gamma))
    terms = diag[:, None] + diag[None, :] + 2.0 * np.abs(gamma)
    rounding = 64.0 * np.finfo(t.dtype).eps * terms
    t[(t < 0.0) & (t >= -rounding)] = 0.0
    return t


def may_cancel(cov: ClrCovEstimate) -> bool:
    """Whether entries made from ``Gamma`` can cancel by more than ``_CANCELLATION``.

    False when the kernel's smallest variation entry is not far below the
    largest clr variance: most data, which then skip any recomputation (and,
    for dask input, a second pass over the data).
    """
    return _CANCELLATION * cov.smallest[0] <= 2.0 * np.diag(cov.gamma).max()


def variation_estimate(cov: ClrCovEstimate) -> np.ndarray:
    """The variation matrix of the data from their clr covariance: variances, so never negative.

    ``Gamma_ii + Gamma_jj - 2 Gamma_ij`` is accurate to a few eps of
    ``Gamma_ii + Gamma_jj``, which for nearly proportional parts (a
    log-ratio that varies little beside the clr values it is made of) can be
    all of ``T_ij`` or more: 1e5 to 1e11 eps of ``T_ij``, where
    ``var(log(x_i / x_j))`` from the data is good to about one eps. The
    entries where ``Gamma_ii + Gamma_jj`` exceeds ``_CANCELLATION * T_ij``
    are recomputed from the data (:func:`_refine_variation`; for dask input
    in a second pass over its row blocks); the kernel's smallest ``T_ij``
    rules out most data without a pass over the D x D matrix. Rounding below
    zero is set to zero.
    """
    gamma = cov.gamma
    t = variation_from_clr_cov(gamma)
    np.maximum(t, 0.0, out=t)
    diag = np.diag(gamma)
    if not may_cancel(cov):
        return t
    first, second = np.nonzero(np.triu(diag[:, None] + diag[None, :] > _CANCELLATION * t, 1))
    if first.size:
        _refine_variation(cov.values, t, first, second, cov.ddof)
    return t


def _refine_variation(values, t: np.ndarray, first, second, ddof: int) -> None:
    """Recompute ``t`` in place for the pairs ``(first[k], second[k])`` from the data.

    ``values`` is the data in memory or a dask collection (then read once
    for the clusters and once for the other pairs, each a pass over its row
    blocks merged as in :mod:`coda._dask_moments`).

    Pairs inside a cluster of at least ``_CLUSTER`` parts (connected by such
    pairs) come from the covariance ``W`` of the cluster's logs relative to
    its medoid ``p`` (the part whose log-ratios with the others vary least):
    ``T_ij = W_ii + W_jj - 2 W_ij`` now cancels only ``T_ip + T_jp``, small
    when ``i`` and ``j`` are both close to ``p``. The pairs for which that is
    still too much, and those of small clusters, are computed one by one.
    """
    d = t.shape[0]
    edges = scipy.sparse.coo_matrix((np.ones(first.size), (first, second)), shape=(d, d))
    _, cluster = scipy.sparse.csgraph.connected_components(edges, directed=False)
    sizes = np.bincount(cluster)
    alone = sizes[cluster[first]] < _CLUSTER
    rest_first, rest_second = [first[alone]], [second[alone]]
    for label in np.unique(cluster[first[~alone]]):
        parts = np.flatnonzero(cluster == label)
        medoid = int(np.argmin(t[np.ix_(parts, parts)].sum(axis=1)))
        w = relative_log_cov(values, parts, medoid, ddof)
        inside = cluster[first] == label
        i, j = first[inside], second[inside]
        a, b = np.searchsorted(parts, i), np.searchsorted(parts, j)
        scale = w[a, a] + w[b, b]
        t[i, j] = t[j, i] = np.maximum(scale - 2.0 * w[a, b], 0.0)
        again = scale > _CANCELLATION * t[i, j]
        rest_first.append(i[again])
        rest_second.append(j[again])
    i, j = np.concatenate(rest_first), np.concatenate(rest_second)
    if i.size:
        t[i, j] = t[j, i] = _log_ratio_variances(values, i, j, ddof)


def relative_log_cov(values, parts, pivot: int, ddof: int) -> np.ndarray:
    """The covariance of ``log x_k - log x_pivot`` over the ``parts`` (``pivot`` indexes them).

    One pass over the rows of ``values`` (an array or a dask collection) by
    :func:`coda._log_moments.log_ratio_cov`, with every row's logs taken
    less those of one row of the data.
    """
    coordinates = partial(relative_logs, pivot=parts[pivot], columns=parts)
    return log_ratio_cov(values, coordinates, parts.size, ddof, group_bytes=_GROUP_BYTES)


def _log_ratio_variances(values, first, second, ddof: int) -> np.ndarray:
    """``var(log x_i - log x_j)`` for the pairs ``(first[k], second[k])``, from the data.

    Rows in groups of about 16 MB of log-ratios (or dask row blocks), each
    centred on its own mean, the groups merged by :func:`merge_moments`: no
    sum of squares about zero is formed. Each log-ratio is taken less that of
    one row of the data, as in :mod:`coda._log_moments`: parts nearly
    proportional but far apart in scale then give it to a rounding.
    """
    parts, where = np.unique(np.concatenate([first, second]), return_inverse=True)
    moments = partial(
        _pair_moments,
        shift=logs_of_one_row(values)[parts],
        parts=parts,
        left=where[: first.size],
        right=where[first.size :],
    )
    empty = no_moments(first.size, first.size)
    total = over_rows(values, moments, first.size + parts.size, empty, group_bytes=_GROUP_BYTES)
    return total.comoment / (total.count - ddof)


def _pair_moments(rows: np.ndarray, shift, parts, left, right) -> LogMoments:
    """Part of :func:`_log_ratio_variances`: the moments of one group of rows (diagonal only)."""
    logs = np.log(rows[:, parts], dtype=np.float64)
    ratios = shifted_differences(logs[:, left], logs[:, right], shift[left], shift[right])
    block_mean = ratios.mean(axis=0)
    ratios -= block_mean
    squares = np.einsum("rk,rk->k", ratios, ratios)
    return LogMoments(ratios.shape[0], np.zeros(left.size), block_mean, squares)


def ilr_cov_of_gamma(gamma: np.ndarray, kind, basis) -> np.ndarray:
    """``V^T Gamma V`` for the Helmert or pivot basis (``kind``) or an explicit ``basis``.

    The named bases go through ``_ilr_cov_of_gamma``, O(D^2) by running sums
    (0.1 against 3.4 s for two dense products at D = 5,000). Exactly
    symmetric either way.
    """
    if kind is None:
        psi = basis.T @ gamma @ basis
        return (psi + psi.T) / 2
    d = gamma.shape[0]
    psi = np.empty((d - 1, d - 1))
    _kernels._ilr_cov_of_gamma(
        np.ascontiguousarray(gamma, dtype=np.float64), kind == "helmert", np.empty((d, d - 1)), psi
    )
    return psi


def ilr_cov_values(values: np.ndarray, kind, basis, ddof: int, *, row_labels=None):
    """``cov(ilr(x))`` from ilr coordinates made without cancellation, in groups of rows.

    ``kind`` is ``"helmert"`` or ``"pivot"`` (``basis`` is then None), or
    None for an explicit ``basis`` (D x (D-1), in clr coordinates). Each
    coordinate is a combination of the differences of neighbouring logs,
    ``d_t = log x_t - log x_{t-1}``, which are exact in floating point when
    the parts are close (Sterbenz): coordinate ``k`` of ``clr(x) @ V`` is
    ``clr_0 U_0k + sum_t d_t U_tk`` with ``U_tk = sum_{i >= t} V_ik`` (the
    suffix sums of the basis column; ``U_0k = 1^T v_k`` vanishes up to
    rounding). A coordinate that contrasts nearly proportional neighbours is
    then small because its terms are, not because large clr values cancel,
    which cost ``coda.ilr``'s coordinates up to 1e6 eps of their spread (and
    ``V^T Gamma V`` up to 1e12 eps of its entries). For the Helmert basis
    ``U_tk = -t c_k / k`` for ``t <= k`` (``c_k = sqrt(k / (k+1))``), and for
    the pivot basis ``U_tj = -(D - t) c_j / m`` for ``t > j``
    (``m = D - j - 1``), so the coordinates are running sums, O(D) per row;
    an explicit basis costs one matrix product per group. A coordinate small
    only because logs of distant parts cancel (``log x_0 + log x_3`` nearly
    constant while each drifts) still loses what that sum loses.

    Each ``d_t`` is taken less that of one row of the data
    (:func:`coda._log_moments.shifted_differences_into`): neighbours far
    apart in scale (logs near 45 and 5 whose ratio varies by 1e-7) had
    ``d_t`` and the sums made from it rounded at the offset, 1e7 to 1e8 eps
    of the covariance's entries. Only steps whose offset is large beside
    their spread are compensated (TwoSum); the others take two cheap passes.

    The coordinates of each group of rows (about 16 MB of logs, made on
    threads in row blocks) are centred on the group's mean and their Gram is
    one BLAS ``syrk``; groups are merged by :func:`merge_moments`, so no
    sum of squares about zero is formed. Invalid input shows up as a
    non-finite mean and is then reported by ``check_composition``.
    """
    n, d = values.shape
    weights = _difference_weights(d, kind, basis)
    shift = logs_of_one_row(values)
    if is_dask(values):
        # A second pass over data the first pass has checked.
        moments = partial(_ilr_moments, kind=kind, weights=weights, shift=shift)
        empty = no_moments(d - 1, (d - 1, d - 1))
        total = over_rows(values, moments, d, empty, group_bytes=_GROUP_BYTES)
        return symmetric_cov(total, ddof)
    group = group_rows(n, d, _GROUP_BYTES)
    logs = np.empty((group, d))
    # An explicit basis multiplies all D differences (clr_0 first) by U.
    steps = np.empty((group, d)) if kind is None else np.empty((group, d - 1))
    coords = np.empty((group, d - 1)) if kind is None else steps
    total = no_moments(d - 1, (d - 1, d - 1))
    for first in range(0, n, group):
        rows = min(group, n - first)

        def run(start: int, stop: int, first=first) -> None:
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                block = logs[start:stop]
                np.log(values[first + start : first + stop], out=block, dtype=np.float64)
                _steps_from_logs(block, kind, weights, shift, steps[start:stop])

        for_row_blocks(run, rows, d * 8)
        with np.errstate(invalid="ignore"):
            moments = _steps_moments(steps[:rows], kind, weights, coords[:rows])
            total = merge_moments(total, moments)
    if not np.isfinite(total.mean).all():
        check_composition(values, "x", row_labels=row_labels)
    return symmetric_cov(total, ddof)


def _steps_moments(steps: np.ndarray, kind, weights: np.ndarray, coords: np.ndarray):
    """The moments of the coordinates made from ``steps`` (``coords``: room for them)."""
    if kind is None:
        np.matmul(steps, weights, out=coords)
    else:
        coords = steps
    return centred_gram(coords)


def _ilr_moments(rows: np.ndarray, kind, weights: np.ndarray, shift: np.ndarray) -> LogMoments:
    """The moments of the coordinates of one dask block: see :func:`ilr_cov_values`."""
    logs = np.log(rows, dtype=np.float64)
    d = logs.shape[1]
    steps = np.empty((rows.shape[0], d if kind is None else d - 1))
    _steps_from_logs(logs, kind, weights, shift, steps)
    return _steps_moments(steps, kind, weights, np.empty((rows.shape[0], d - 1)))


def _difference_weights(d: int, kind, basis) -> np.ndarray:
    """What multiplies the differences of logs: see :func:`ilr_cov_values`.

    For a basis kind, the D-1 scales ``-c_k / k`` (Helmert) or ``-c_j / m``
    (pivot) of the running sums; for an explicit basis, the D x (D-1)
    matrix ``U`` of its suffix sums, each added with its rounding error
    kept (TwoSum) and rounded once, so that ``U_tk`` is good to an eps of
    itself even where the column's entries cancel.
    """
    k = np.arange(1.0, d)
    if kind == "helmert":
        return -np.sqrt(k / (k + 1.0)) / k
    if kind == "pivot":
        m = d - k  # parts after pivot j = k - 1
        return -np.sqrt(m / (m + 1.0)) / m
    suffix = np.empty((d, d - 1))
    total = np.zeros(d - 1)
    error = np.zeros(d - 1)
    for t in range(d - 1, -1, -1):
        entry = basis[t]
        added = total + entry
        back = added - total
        error += (total - (added - back)) + (entry - back)
        total = added
        suffix[t] = total + error
    return suffix


def _steps_from_logs(
    logs: np.ndarray, kind, weights: np.ndarray, shift: np.ndarray, out: np.ndarray
) -> None:
    """Fill ``out`` from the logs of a block of rows: see :func:`ilr_cov_values`.

    For a basis kind, their ilr coordinates (``weights`` scale the running
    sums); for an explicit basis, the differences of their logs, ``clr_0``
    first, which the caller multiplies by ``U``.
    """
    d = logs.shape[1]
    steps = out[:, 1:] if kind is None else out
    shifted_differences_into(logs[:, 1:], logs[:, :-1], shift[1:], shift[:-1], steps)
    if kind is None:
        out[:, 0] = logs[:, 0] - logs.mean(axis=1)
        return
    if kind == "helmert":
        # Coordinate k - 1: -(c_k / k) sum_{t <= k} t d_t.
        out *= np.arange(1.0, d)
        np.cumsum(out, axis=1, out=out)
    else:
        # Coordinate j: -(c_j / m) sum_{t > j} (D - t) d_t, a sum from the right.
        out *= np.arange(d - 1.0, 0.0, -1.0)
        np.cumsum(out[:, ::-1], axis=1, out=out[:, ::-1])
    out *= weights
