"""The resamples of :func:`coda.pcor_bootstrap`: all at once, in batches.

The clr covariance of every resample comes from one weighted product of the
centred data (each resample is a vector of multiplicities of the rows), its
partial correlations from stacked inverses, and the percentile interval
from order statistics kept at each end of a row of replicates. The
shrinkage estimators are re-run on each resample's rows instead
(:func:`shrink_pcor`).
"""

from __future__ import annotations

import contextlib

import numpy as np

from coda import _kernels
from coda._linalg import pcor_from_precision
from coda._parallel import for_row_blocks, one_blas_thread
from coda._validation import check_resample_rank
from coda.shrinkage import _shrunk_precision

BATCH_VALUES = 1 << 22  # resampled values per batch: 32 MiB of float64
MAX_ENDS = 128  # most order statistics kept per end of a row of replicates
ONE_BLAS_THREAD_FLOPS = 5e9  # about 0.1 s on one core: see blas_threads_for


def batch_size(n: int, m: int) -> int:
    """Resamples per batch: about ``BATCH_VALUES`` values of n weights or m x m covariances."""
    return max(1, BATCH_VALUES // max(n, m * m))


def blas_threads_for(flops: float):
    """:func:`coda._parallel.one_blas_thread` for a call of fewer than ``ONE_BLAS_THREAD_FLOPS``.

    OpenBLAS's threads spin for a while (about 0.1 s) after a call returns,
    and the numba kernels that follow on coda's threads share the cores with
    them: for a call that one thread finishes in about that time, one thread
    is faster overall. Larger calls keep BLAS's threads.
    """
    return contextlib.nullcontext() if flops >= ONE_BLAS_THREAD_FLOPS else one_blas_thread()


def resample_sums(y: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Packed sums ``(B, m (m + 1) / 2)`` of ``y_r y_r^T`` over rows repeated ``weights[b]`` times.

    Returns ``(sums, mean)``: the upper triangles of ``sum_r w_br y_r y_r^T``
    in the order of ``np.triu_indices(m)``, and the column means
    ``mean_b = sum_r w_br y_r / n`` (B, m). The sums over rows of all
    products ``y_ri y_rj`` (i <= j) for all resamples are one matrix product
    ``weights @ products``, done in blocks of pairs to bound memory.

    Small products run on one BLAS thread (:func:`blas_threads_for`).
    """
    n, m = y.shape
    pi, pj = np.triu_indices(m)
    with blas_threads_for(2.0 * weights.shape[0] * n * pi.size):
        mean = weights @ y / n
        step = max(1, BATCH_VALUES // n)
        if step >= pi.size:
            # One product, its result kept: no copy into a second B x pairs array.
            return weights @ (y[:, pi] * y[:, pj]), mean
        sums = np.empty((weights.shape[0], pi.size))
        for start in range(0, pi.size, step):
            block = slice(start, start + step)
            sums[:, block] = weights @ (y[:, pi[block]] * y[:, pj[block]])
    return sums, mean


def resample_covariances(y: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Packed covariances ``(B, m (m + 1) / 2)`` of ``y`` with rows repeated ``weights[b]`` times.

    The upper triangles, in the order of ``np.triu_indices(m)``:
    ``cov_b = (sum_r w_br y_r y_r^T - n mean_b mean_b^T) / (n - 1)``
    (:func:`resample_sums`). ``y`` is centred by the caller, so that the
    subtraction loses no precision.
    """
    n, m = y.shape
    pi, pj = np.triu_indices(m)
    upper, mean = resample_sums(y, weights)
    upper -= n * mean[:, pi] * mean[:, pj]
    upper /= n - 1
    return upper


def _pairs(matrix: np.ndarray, diag: np.ndarray, iu: np.ndarray, ju: np.ndarray) -> np.ndarray:
    """``matrix_ij / sqrt(diag_i diag_j)`` for the pairs ``(iu, ju)`` of every stacked matrix."""
    scale = 1.0 / np.sqrt(diag)
    pairs = matrix[:, iu, ju]
    pairs *= scale[:, iu]
    pairs *= scale[:, ju]
    # As coda.pcor: rounding can push |rho| a hair past 1 for (near) collinear parts.
    return np.clip(pairs, -1.0, 1.0, out=pairs)


def _packed_size(packed: np.ndarray) -> int:
    """``m`` of packed upper triangles with ``m (m + 1) / 2`` entries."""
    return round((np.sqrt(8 * packed.shape[1] + 1) - 1) / 2)


def full_pcor(y: np.ndarray, weights: np.ndarray, iu: np.ndarray, ju: np.ndarray) -> np.ndarray:
    """Pairs of partial correlations of the resamples ``weights`` of clr data ``y``.

    The sums of products of all resamples come from one BLAS product, on one
    BLAS thread when it is small (:func:`resample_sums`); a numba kernel per
    block of resamples, blocks shared by threads, centres and inverts each
    covariance in cache. Measured at n=200, D=50, 1,000 resamples: the
    product takes about a quarter of the time the same sums took as rank-one
    updates inside the kernel, and the kernel's inverses are about three
    times as fast as numpy's stacked ``inv``.
    """
    sums, mean = resample_sums(y, weights)
    out = np.empty((weights.shape[0], iu.size))
    ok = np.empty(weights.shape[0], dtype=np.bool_)
    n = y.shape[0]

    def run(start: int, stop: int) -> None:
        _kernels._pcor_bootstrap(
            sums[start:stop], mean[start:stop], n, iu, ju, out[start:stop], ok[start:stop]
        )

    m = y.shape[1]
    for_row_blocks(run, weights.shape[0], 8 * m * m)
    check_resample_rank(ok)
    return out


def given_pcor(packed: np.ndarray, n_rest: int, iu: np.ndarray, ju: np.ndarray) -> np.ndarray:
    """Pairs of residual correlations of the first ``n_rest`` log-ratios given the rest (Schur)."""
    m = _packed_size(packed)
    pi, pj = np.triu_indices(m)
    cov = np.empty((packed.shape[0], m, m))
    cov[:, pi, pj] = packed
    cov[:, pj, pi] = packed
    s_aa = cov[:, :n_rest, :n_rest]
    if cov.shape[-1] > n_rest:
        s_ab = cov[:, :n_rest, n_rest:]
        s_bb = cov[:, n_rest:, n_rest:]
        s_aa = s_aa - np.matmul(s_ab, np.linalg.solve(s_bb, s_ab.transpose(0, 2, 1)))
    return _pairs(s_aa, np.diagonal(s_aa, axis1=1, axis2=2), iu, ju)


def shrink_pcor(
    data: np.ndarray,
    idx: np.ndarray,
    first: int,
    method: str,
    intensities: tuple,
    parts: list,
    iu: np.ndarray,
    ju: np.ndarray,
) -> np.ndarray:
    """Pairs of partial correlations of the resamples ``idx`` (rows of ``data``), re-estimated.

    ``data`` are :func:`coda.shrinkage._shrinkage_data` of all samples, whose
    rows are those of any resample. Each resample runs the whole estimator
    of :func:`coda.pcor_shrink` on its own rows, in the order drawn, so that
    it equals ``coda.pcor(x[rows], method=method, lam=lam, lam_var=lam_var)``
    to the bit; ``intensities`` are ``(lam, lam_var)``, None to estimate
    one on each resample. ``first`` and ``parts`` name a resample and its
    parts in errors.
    """
    out = np.empty((idx.shape[0], iu.size))
    # Each resample's products are small (n = 50, D = 200: 1 ms): one BLAS
    # thread is several times faster than a team that spins between calls.
    # Threads over resamples gained nothing measurable: the many small numpy
    # calls between the BLAS ones hold the GIL.
    with one_blas_thread():
        for k, rows in enumerate(idx):
            name = f"bootstrap resample {first + k} of x"
            omega = _shrunk_precision(data[rows], method, *intensities, name, parts)[0]
            out[k] = pcor_from_precision(omega)[iu, ju]
    return out


def percentile_interval(replicates: np.ndarray, ci: float) -> tuple[np.ndarray, np.ndarray]:
    """``np.quantile(replicates, [(1 - ci) / 2, (1 + ci) / 2], axis=1)``, row by row.

    numpy's linear method, to the bit: at virtual index h = (n - 1) q, the
    order statistics a = x_(floor h) and b = x_(floor h + 1), and with
    g = h - floor h, a + (b - a) g, or b - (b - a) (1 - g) where g >= 0.5
    (numpy's ``_lerp``). Only the order statistics near the ends are needed:
    a kernel keeps each row's smallest and largest few values
    (``_kernels._row_ends``) in one pass, where a partition of the whole row
    costs several times more. When the interval needs many of them (``ci``
    far from 1, or few replicates) ``np.quantile`` is called instead.
    ``replicates`` may be reordered.
    """
    n_rows, n = replicates.shape
    levels = np.array([(1.0 - ci) / 2.0, (1.0 + ci) / 2.0])
    virtual = (n - 1) * levels
    previous = np.floor(virtual)
    gamma = virtual - previous
    first = previous.astype(np.intp)
    n_low, n_high = int(first[0]) + 2, n - int(first[1])
    # n_high < 2: ci within rounding of 1 puts the upper level on the largest
    # replicate, with no order statistic after it; np.quantile takes it alone.
    if n < 2 * MAX_ENDS or max(n_low, n_high) > MAX_ENDS or n_high < 2:
        low, high = np.empty(n_rows), np.empty(n_rows)

        def quantiles(start: int, stop: int) -> None:
            # numpy's partition releases the GIL: blocks of pairs run in parallel.
            low[start:stop], high[start:stop] = np.quantile(
                replicates[start:stop], levels, axis=1, overwrite_input=True
            )

        for_row_blocks(quantiles, n_rows, 8 * n)
        return low, high
    smallest = np.empty((n_rows, n_low))
    largest = np.empty((n_rows, n_high))

    def ends(start: int, stop: int) -> None:
        _kernels._row_ends(replicates[start:stop], smallest[start:stop], largest[start:stop])

    for_row_blocks(ends, n_rows, 8 * n)
    bounds = []
    for k, ends_of in ((0, smallest), (1, largest)):
        offset = 0 if k == 0 else n - n_high
        a = ends_of[:, first[k] - offset]
        b = ends_of[:, first[k] + 1 - offset]
        diff = b - a
        value = a + diff * gamma[k]
        if gamma[k] >= 0.5:
            value = b - diff * (1 - gamma[k])
        bounds.append(value)
    return bounds[0], bounds[1]


class _NoBar:
    """What :func:`progress_bar` gives when no bar is shown: a bar that does nothing."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def update(self, n: int) -> None:
        pass


def progress_bar(show: bool, total: int):
    """A tqdm bar over ``total`` resamples, or one that does nothing.

    tqdm is imported only when a bar is shown: ``tqdm.auto`` probes for
    Jupyter, and in a kernel without ipywidgets it warns (TqdmWarning) even
    when the bar it makes is disabled.
    """
    if not show:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="bootstrap", unit="resample")
