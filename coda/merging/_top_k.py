"""Per-tensor top-k selection for TIES (``scope="tensor"``): an exact radix selection.

The k entries of largest |tau_t| of each task are found from histograms of
the float32 bit patterns of |tau_t| (``_kernels._top_k_counts``), the upper
16 bits first and then the lower 16 within the bin that holds the k-th
largest: two passes over the data, no sort. :mod:`coda.merging._rules`
decides and merges with these cuts; :mod:`coda.merging._facts` describes
merges with them.
"""

from __future__ import annotations

import contextlib
import os
import threading

import numba
import numpy as np

from coda import _kernels
from coda._parallel import for_row_blocks

_BINS = 1 << 16
_NOT_FINITE = 0x7F80  # upper 16 bits of the float32 inf


class _Lender:
    """Histogram arrays lent to one call of :func:`_counts` at a time, then taken back.

    Reused from tensor to tensor: fresh arrays per tensor cost more in page
    faults than counting a million entries. Never shared by two calls at
    once: a thread of coda's pool runs blocks of several calls when several
    threads merge, and histograms kept per pool thread were zeroed and
    refilled by another call's block while the first call still counted
    into them or read them (wrong cuts at up to 88% of a tensor's entries).
    At most ``keep`` arrays of each shape are kept, about one per thread
    that counts at once: what concurrent calls took beyond that is dropped.
    """

    def __init__(self, keep: int):
        self._keep = keep
        self._free: dict = {}
        self._lock = threading.Lock()

    def renew_after_fork(self) -> None:
        """In a forked child: a new lock, in case another thread held the parent's at the fork."""
        self._lock = threading.Lock()

    def take(self, shape: tuple, dtype) -> np.ndarray:
        """An array of ``shape`` and ``dtype``, not zeroed, no longer lent to anyone else."""
        with self._lock:
            free = self._free.get((shape, np.dtype(dtype)))
            if free:
                return free.pop()
        return np.empty(shape, dtype=dtype)

    def give_back(self, arrays) -> None:
        """Take back the arrays of a call that is done with them."""
        with self._lock:
            for array in arrays:
                free = self._free.setdefault((array.shape, array.dtype), [])
                if len(free) < self._keep:
                    free.append(array)


# The caller's thread counts too, beside the pool's.
_lender = _Lender(keep=numba.config.NUMBA_NUM_THREADS + 1)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_lender.renew_after_fork)


@contextlib.contextmanager
def _counts(base, models: tuple, diff: bool, prefix: np.ndarray, n: int):
    """Histograms of |tau_t| bit patterns (``_kernels._top_k_counts``), one (T, bins) per thread.

    A context: the histograms are lent to the block (:class:`_Lender`). With
    ``prefix`` all -1, 2^15 bins for the upper 16 bits of |tau| (the sign
    bit is cleared); else 2^16 for the lower ones. Blocks of entries go to the
    threads of :func:`coda._parallel.for_row_blocks`; each thread counts into
    its own histograms, int32 when no count can pass 2^31 (they stay in L2).
    The histogram is their sum, which the kernels take bin by bin where they
    need it (``_kernels._top_bin``), instead of adding whole arrays here:
    integers, so it does not depend on how the blocks fell on the threads.
    """
    bins = _BINS >> 1 if (prefix < 0).all() else _BINS
    shape = (len(models), bins)
    dtype = np.int32 if n < 2**31 else np.int64
    lent = {}

    def run(start: int, stop: int) -> None:
        thread = threading.get_ident()
        counts = lent.get(thread)
        if counts is None:
            counts = lent[thread] = _lender.take(shape, dtype)
            counts[:] = 0
        _kernels._top_k_counts(base, models, diff, prefix, start, stop, counts)

    try:
        for_row_blocks(run, n, 4 * (len(models) + 1))
        yield tuple(lent.values())
    finally:
        _lender.give_back(lent.values())


def _top_k_bins(base, models: tuple, diff: bool, k: int, check) -> tuple:
    """``(prefix, ranks)``: per task, the upper-16-bit bin of the k-th largest |tau_t|.

    ``ranks[t]`` is that entry's rank among the bin's entries
    (``_kernels._top_k_prefix``, from the histogram of ``_counts``); all -1
    (keep everything) when k is every entry. ``check`` (for inputs not yet
    checked finite) is called when a |tau_t| is inf or NaN, or always when
    every entry is kept (the histogram is then skipped); it raises for
    non-finite inputs.
    """
    n_tasks, n = len(models), models[0].size
    prefix = np.full(n_tasks, -1, dtype=np.int64)
    ranks = np.zeros(n_tasks, dtype=np.int64)
    if k < n:
        with _counts(base, models, diff, prefix, n) as upper:
            # Upper bits from 0x7F80 on: |tau| is inf or NaN.
            if check is not None and any(part[:, _NOT_FINITE:].any() for part in upper):
                check()
            _kernels._top_k_prefix(upper, k, prefix, ranks)
    elif check is not None:
        check()
    return prefix, ranks


def _bin_bounds(prefix: np.ndarray) -> tuple:
    """``(lows, highs)``: float32 bounds of the |tau| whose upper 16 bits are ``prefix[t]``.

    The bit patterns of non-negative float32 values order like the values,
    so |tau| has upper bits ``prefix[t]`` exactly when ``lows[t]`` <= |tau|
    and not |tau| >= ``highs[t]``, and greater ones when |tau| >= ``highs[t]``
    (the bin of inf has ``highs[t]`` NaN, which nothing is >=). ``prefix[t]``
    -1 (keep everything) gives ``highs[t]`` 0 and ``lows[t]`` inf.
    """
    keep_all = prefix < 0
    lows = np.where(keep_all, 0x7F800000, prefix << 16).astype(np.uint32).view(np.float32)
    highs = np.where(keep_all, 0, (prefix + 1) << 16).astype(np.uint32).view(np.float32)
    return lows, highs


def _top_k_bounds(base, models: tuple, diff: bool, k: int, check) -> tuple:
    """``(lows, highs, ranks)``: per task, bounds of the k-th largest |tau_t| and its rank there.

    ``lows[t]`` <= the k-th largest and not >= ``highs[t]`` (which may be
    NaN): the bounds of its upper-16-bit bin (:func:`_top_k_bins`, which
    calls ``check``; :func:`_bin_bounds`). ``ranks[t]`` is its rank (1 for
    the largest) among the entries between the bounds; bounds (inf, 0) and
    rank 0 keep everything, when k is every entry.
    """
    prefix, ranks = _top_k_bins(base, models, diff, k, check)
    return (*_bin_bounds(prefix), ranks)


def _tensor_cuts(models: tuple, density: float) -> tuple[np.ndarray, np.ndarray]:
    """``(cuts, stops)`` of each task's top k = max(1, floor(K n)) entries (``_top_k_cuts``).

    Entry i of task t is kept when |tau_t,i| > ``cuts[t]``, or equals it and
    ``i < stops[t]``: exactly k entries, ties to the lowest index. An exact
    radix selection on the float32 bit patterns (two histogram passes of
    ``_kernels._top_k_counts``), no sort; ``models`` are the T task vectors
    as :func:`_flat_tensors` gives them.
    """
    n_tasks, n = len(models), models[0].size
    k = max(1, int(density * n))
    cuts = np.zeros(n_tasks, dtype=np.float32)
    stops = np.full(n_tasks, n, dtype=np.int64)
    prefix, ranks = _top_k_bins(models[0], models, False, k, None)
    if k < n:
        with _counts(models[0], models, False, prefix, n) as low:
            _kernels._top_k_cuts(models[0], models, False, low, prefix, ranks, n, cuts, stops)
    return cuts, stops
