"""Logs of ratios of positive arrays, to a few roundings of themselves.

``alr`` and the geometry (``distance``, ``norm``, ``inner``, ``center`` and
the fallbacks of ``perturb`` and ``power``) take logs of ratios of parts
through :func:`log_ratios` instead of differences of logs, which keep little
more than the logs' rounding when the parts are close.
"""

from __future__ import annotations

import numpy as np

from coda import _kernels
from coda._parallel import for_row_blocks


def log_ratios(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``log(a / b)`` of positive 2-D arrays (broadcast), in float64, to a few roundings.

    ``log(a) - log(b)`` is off by a rounding of each log, large beside a small
    ratio's log (parts near 50%, or near 1e-300). Here ``log1p(u)`` with
    ``u = (hi - lo) / lo >= 0`` (``hi``, ``lo`` the larger and the smaller of
    the two, the sign put back after): ``hi - lo`` is exact within a factor
    of 2 (Sterbenz) and one rounding beyond it, and ``log1p`` of ``u >= 0``
    does not amplify errors. Where ``u`` overflows (a ratio beyond 1e308) the
    logs are too far apart to cancel, and their difference is as good.

    In blocks of rows on coda's threads: the first step of
    ``_kernels._log_ratios``, numpy's vectorised ``log1p`` in place, its
    second step.
    ``alr`` of 1,000,000 x 100 took 0.57 s this way, against 0.88 s as
    differences of numpy's logs (one thread) and 2.9 s with this formula in
    whole-array numpy operations.
    ``out`` (float64, of the broadcast shape) may be a view, such as some
    columns of a wider array.
    """
    a = np.asarray(a, dtype=np.float64)  # views (rows of a wider array) stay views
    b = np.asarray(b, dtype=np.float64)
    shape = np.broadcast_shapes(a.shape, b.shape)
    if out is None:
        out = np.empty(shape)

    def rows(array: np.ndarray, start: int, stop: int) -> np.ndarray:
        return array[start:stop] if array.shape[0] > 1 else array

    def run(start: int, stop: int) -> None:
        block = out[start:stop]
        ablock, bblock = rows(a, start, stop), rows(b, start, stop)
        # A ratio beyond the float range is inf by design; numpy would warn
        # of it where the kernel runs as Python (NUMBA_DISABLE_JIT=1).
        with np.errstate(over="ignore"):
            _kernels._log_ratios(ablock, bblock, block, False)
        np.log1p(block, out=block)
        _kernels._log_ratios(ablock, bblock, block, True)

    for_row_blocks(run, shape[0], max(1, shape[1]) * out.itemsize)
    return out
