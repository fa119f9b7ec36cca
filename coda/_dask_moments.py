"""Count, mean and co-moment of log compositions in one pass over dask row blocks.

Each row block (a numpy chunk of a dask array, or a pandas partition of a
dask DataFrame) gives its number of rows, its shift ``s`` (the median clr of
64 of its own rows spread evenly, as the in-memory path takes it), the
column means of its shifted clr values ``Y = clr(x) - s`` and its
co-moment, the sum of outer products of ``Y`` centred on those means,
through the same shifted Gram product as the in-memory path
(``coda._clr_gram._shifted_log_gram``). The blocks' results are merged
in a tree by the pairwise update of Chan, Golub and LeVeque (1983), which
adds centred quantities only: no sum of squares about zero is ever formed.

The merge's error grows with ``|delta| / sd(Y)``, where ``delta`` is the
difference of the two means being merged (Chan et al.'s condition number),
so the means are kept relative to the shifts: the merge keeps the first
block's shift ``s_a`` and takes ``delta = (s_b - s_a) + (m_b - m_a)``.
Each block's mean ``m`` is of the order of the spread, however large the
mean clr; where a mean clr is large against its spread, two blocks' shifts
are within a factor of two of each other, so their difference is exact
(Sterbenz's lemma). Nothing large is subtracted and rounded, and no block
waits for another: an empty block (common after filtering a dask
DataFrame) gives an empty result, which the merge skips. Only D-vectors and
D x D matrices leave the workers; the client receives one result.

Reference: Chan, T. F., Golub, G. H. and LeVeque, R. J. (1983). Algorithms for
computing the sample variance: analysis and recommendations. The American
Statistician 37(3):242-247. https://doi.org/10.1080/00031305.1983.10483115
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import pandas as pd

from coda._clr_gram import (
    _log_shift,
    _shifted_log_gram,
    constant_parts,
    without_constant_parts,
)
from coda._dask import collection_kind, import_dask
from coda._labels import Labels
from coda._log_moments import LogMoments, merged_tree, no_moments, row_blocks
from coda._parallel import one_thread
from coda._validation import (
    as_2d,
    check_dask_collection,
    check_shape,
    raise_in_block,
    rows_from,
)


def dask_labels(x, *, min_parts: int, estimate: bool = True) -> tuple[Labels, int]:
    """Check a dask array or DataFrame from its metadata; its labels and number of parts.

    ``estimate`` as for ``check_dask_collection``: whether the caller
    estimates from many samples, which is what a 1-D array's message says.
    """
    kind = collection_kind(x)
    check_dask_collection(x, kind, "x", estimate=estimate)
    d = len(x.columns) if kind == "frame" else int(x.shape[1])
    # A zero-copy stand-in of one row, for the check of the number of parts.
    check_shape(np.broadcast_to(0.0, (1, d)), "x", min_parts=min_parts)
    if kind == "frame":
        # The columns as they are: pd.Index() would flatten a MultiIndex into tuples.
        return Labels("frame", False, None, x._meta.columns), d
    return Labels("array", False), d


def block_moments(block, offset: float, number: int) -> LogMoments:
    """The moments of row block ``number``, whose first row is row ``offset`` (NaN: unknown).

    The block's own shift is the median clr of 64 of its rows, as in memory;
    errors are raised as :func:`checked_block` says.
    """
    d = block.shape[1]
    return checked_block(block, offset, number, moments_of=_clr_gram_moments, shape=(d, d))


def checked_block(block, offset: float, number: int, *, moments_of, shape) -> LogMoments:
    """``moments_of(values, row_labels)`` of row block ``number``, whose first row is ``offset``.

    ``values`` is the block as the in-memory functions take it (``as_2d``),
    ``row_labels`` a partition's index (None for an array's block); an empty
    block gives no moments (a co-moment of ``shape``) without a call.
    Invalid values (zeros, negatives, NaN, inf) raise coda's usual error when
    the block is computed, naming rows as the row-wise functions do: by
    index label for a DataFrame, counted from the first row of the whole
    array, or from the block's first row when chunk sizes are unknown
    (``offset`` NaN).
    """
    n, d = block.shape
    if n == 0:
        return no_moments(d, shape)
    frame = isinstance(block, pd.DataFrame)
    values = as_2d(block, "x")
    labels = block.index if frame else None
    try:
        # dask runs the blocks in parallel: each block in one thread.
        with rows_from(0 if frame or math.isnan(offset) else offset), one_thread():
            return moments_of(values, labels)
    except ValueError as err:
        if frame or not math.isnan(offset):
            raise
        raise_in_block(err, number)


def _clr_gram_moments(values: np.ndarray, row_labels) -> LogMoments:
    """Part of :func:`block_moments`: the clr moments of one non-empty block of values."""
    n = values.shape[0]
    # Non-finite if those rows are invalid, which the Gram's check then reports.
    shift = _log_shift(values)
    lower, mean, extent = _shifted_log_gram(values, row_labels=row_labels, shift=shift)
    # About the block's own mean: Y^T Y - n m m^T, with Y close to centred,
    # so the subtraction loses no precision.
    comoment = lower - n * np.outer(mean, mean)
    # syrk filled the lower triangle only: mirror it.
    comoment = np.tril(comoment) + np.tril(comoment, -1).T
    without_constant_parts(comoment, constant_parts(np.diag(comoment), mean, n, extent))
    return LogMoments(n, shift, mean, comoment, extent)


def log_moments(x, block=block_moments) -> LogMoments:
    """The moments of all rows of dask ``x``: one pass, a tree of merges, one compute.

    ``block(rows, offset, number)`` gives the moments of one row block, by
    default :func:`block_moments`; another (:func:`checked_block` with
    other ``moments_of``) must check the values as it does.
    """
    dask = import_dask("dask")
    # pure: the same data give the same task keys, so dask can reuse results.
    delayed = partial(dask.delayed, pure=True)
    blocks, offsets = row_blocks(x)
    level = [
        delayed(block)(rows, offset, k)
        for k, (rows, offset) in enumerate(zip(blocks, offsets, strict=True))
    ]
    return merged_tree(level, dask, delayed)
