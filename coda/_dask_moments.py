"""Count, mean and co-moment of log compositions in one pass over dask row blocks.

Each row block (a numpy chunk of a dask array, or a pandas partition of a
dask DataFrame) gives its number of rows, the column means of its shifted
clr values ``Y = clr(x) - s`` and its co-moment, the sum of outer products of ``Y``
centred on those means, through the same shifted Gram product as the
in-memory path (``coda._clr_gram._shifted_log_gram``). The blocks' triples
are merged in a tree by the pairwise update of Chan, Golub and LeVeque
(1983), which adds centred quantities only: no sum of squares about zero is
ever formed.

All blocks share one shift ``s``, the mean clr of the first rows of the
first block (the in-memory path's shift when that block has 64 rows or
more), computed by one small task that every block task depends on: the
pass over the data stays one pass. The merge's error grows with
``|mean(Y)| / sd(Y)`` (Chan et al.'s condition number), which the shared
shift keeps near 1 even when the clr values have a large mean and a small spread;
with a shift per block the block means would carry the large mean and its
rounding into the merge term. Only D-vectors and D x D matrices leave the
workers; the client receives one triple.

Reference: Chan, T. F., Golub, G. H. and LeVeque, R. J. (1983). Algorithms for
computing the sample variance: analysis and recommendations. The American
Statistician 37(3):242-247. https://doi.org/10.1080/00031305.1983.10483115
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd

from coda._clr_gram import _log_shift, _shifted_log_gram
from coda._dask import collection_kind, import_dask
from coda._labels import Labels
from coda._parallel import one_blas_thread, one_thread
from coda._validation import (
    as_2d,
    check_dask_collection,
    check_shape,
    raise_in_block,
    rows_from,
)

# Triples merged per tree node: few levels, and at most this many D x D
# matrices (8 D^2 bytes each) in a worker's memory at once.
_SPLIT_EVERY = 4


@dataclass(frozen=True)
class LogMoments:
    """``count`` rows, the column means of their shifted clr values, and the co-moment."""

    count: int
    mean: np.ndarray  # (D,): mean of Y = log(x) - s
    comoment: np.ndarray  # (D, D), symmetric: sum_r (y_r - mean)(y_r - mean)^T


def dask_labels(x, *, min_parts: int) -> tuple[Labels, int]:
    """Check a dask array or DataFrame from its metadata; its labels and number of parts."""
    kind = collection_kind(x)
    check_dask_collection(x, kind, "x")
    d = len(x.columns) if kind == "frame" else int(x.shape[1])
    # A zero-copy stand-in of one row, for the check of the number of parts.
    check_shape(np.broadcast_to(0.0, (1, d)), "x", min_parts=min_parts)
    if kind == "frame":
        return Labels("frame", False, None, pd.Index(x.columns)), d
    return Labels("array", False), d


def block_shift(block) -> np.ndarray:
    """The shift ``s`` that all blocks share, from the first block."""
    if block.shape[0] == 0:
        # Empty partitions are common after filtering a dask DataFrame; any
        # finite shift is correct, this one only less precise for large logs.
        return np.zeros(block.shape[1])
    shift = _log_shift(as_2d(block, "x"))
    # Invalid first rows are reported by their own block; the others need a finite shift.
    return np.where(np.isfinite(shift), shift, 0.0)


def block_moments(block, shift: np.ndarray, offset: float, number: int) -> LogMoments:
    """The triple of row block ``number``, whose first row is row ``offset`` (NaN: unknown).

    Invalid values (zeros, negatives, NaN, inf) raise coda's usual error when
    the block is computed, naming rows as the row-wise functions do: by
    index label for a DataFrame, counted from the first row of the whole
    array, or from the block's first row when chunk sizes are unknown.
    """
    n, d = block.shape
    if n == 0:
        return LogMoments(0, np.zeros(d), np.zeros((d, d)))
    frame = isinstance(block, pd.DataFrame)
    values = as_2d(block, "x")
    labels = block.index if frame else None
    try:
        # dask runs the blocks in parallel: each block in one thread.
        with rows_from(0 if frame or math.isnan(offset) else offset), one_thread():
            lower, mean = _shifted_log_gram(values, row_labels=labels, shift=shift)
    except ValueError as err:
        if frame or not math.isnan(offset):
            raise
        raise_in_block(err, number)
    # About the block's own mean: Y^T Y - n m m^T, with Y close to centred,
    # so the subtraction loses no precision.
    comoment = lower - n * np.outer(mean, mean)
    # syrk filled the lower triangle only: mirror it.
    comoment = np.tril(comoment) + np.tril(comoment, -1).T
    return LogMoments(n, mean, comoment)


def merge_moments(*parts: LogMoments) -> LogMoments:
    """The triple of the union of disjoint row sets: Chan, Golub and LeVeque's pairwise update."""
    total = parts[0]
    for part in parts[1:]:
        if part.count == 0:
            continue
        if total.count == 0:
            total = part
            continue
        n = total.count + part.count
        delta = part.mean - total.mean
        mean = total.mean + delta * (part.count / n)
        # outer(delta, delta) is exactly symmetric, so the sum stays symmetric.
        update = np.outer(delta, delta)
        update *= total.count * part.count / n
        comoment = total.comoment + part.comoment
        comoment += update
        total = LogMoments(n, mean, comoment)
    return total


def _row_blocks(x, delayed) -> list:
    """One delayed triple per row block of ``x``."""
    if hasattr(x, "columns"):
        blocks = x.to_delayed()
        # Partitions carry their index: rows are named by it.
        offsets = [0] * len(blocks)
    else:
        if len(x.chunks[1]) > 1:
            # A block must hold whole rows. No warning, unlike the row-wise
            # functions: the result is one D x D matrix, not blocks the user chose.
            x = x.rechunk({1: -1})
        blocks = x.to_delayed().ravel()
        # NaN from the first unknown chunk size on.
        offsets = np.cumsum((0, *x.chunks[0][:-1])).tolist()
    shift = delayed(block_shift)(blocks[0])
    return [
        delayed(block_moments)(block, shift, offset, k)
        for k, (block, offset) in enumerate(zip(blocks, offsets, strict=True))
    ]


def log_moments(x) -> LogMoments:
    """The triple of all rows of dask ``x``: one pass, a tree of merges, one compute.

    Runs on dask's current scheduler: the threaded one, or a
    ``dask.distributed`` client if one is active. Nothing is written
    anywhere; an error in any block (invalid values, a lost worker) is raised
    here.
    """
    dask = import_dask("dask")
    # pure: the same data give the same task keys, so dask can reuse results.
    delayed = partial(dask.delayed, pure=True)
    level = _row_blocks(x, delayed)
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
