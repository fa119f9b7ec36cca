"""dask arrays and DataFrames through coda's row-wise functions, block by block.

dask is an optional extra. :func:`is_dask` tells a dask collection from any
other input by its type's module, so that ``import coda`` never imports dask
and a dask input never reaches ``np.asarray`` (which would silently compute
the whole collection into memory). :func:`import_dask` imports a part of dask
or names the extra to install.

:func:`map_rows` is the dask path of the row-wise functions (geometry,
transforms, zero replacement): it maps the in-memory function over blocks of
rows, each block a valid in-memory input, so the same numerics (and the same
checks and messages) run on each block when the user computes the result.
Nothing is computed before then, except the function on one row of ones, which
checks the options and gives the output's columns and dtype.
"""

from __future__ import annotations

import copy
import functools
import importlib

import numpy as np
import pandas as pd

from coda._parallel import one_thread
from coda._validation import (
    check_block_rows,
    check_dask_collection,
    check_dask_pair,
    check_dask_partner,
    is_dask,
    raise_in_block,
    rows_from,
    warn_parts_chunked,
)

__all__ = ["collection_kind", "import_dask", "is_dask", "map_rows", "sample_row"]


def import_dask(module: str = "dask.array"):
    """Import a part of dask, or raise an ImportError that names coda's extra."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(
            f"dask input needs {module}, which is not installed; install coda's "
            f'dask extra: pip install "coda-logratio[dask]"'
        ) from err


def collection_kind(x) -> str | None:
    """``"array"``, ``"frame"`` or None (another dask collection), importing what it needs."""
    module = type(x).__module__
    if module.startswith("dask.array"):
        if isinstance(x, import_dask("dask.array").Array):
            return "array"
    elif module.startswith("dask.dataframe") and isinstance(
        x, import_dask("dask.dataframe").DataFrame
    ):
        return "frame"
    return None


def map_rows(fn, /, *args, names=("x",), per_row: bool = False, trailing=(), **options):
    """Apply ``fn(*args, *trailing, **options)`` lazily to each block of rows of dask ``args``.

    Parameters
    ----------
    fn : callable
        The in-memory function; it gets plain numpy blocks (dask arrays) or
        pandas partitions (dask DataFrames) in place of the dask arguments,
        and the other arguments whole (one composition, combined with every
        row).
    *args
        ``fn``'s positional arguments, at least one of them dask.
    names : tuple of str
        The parameter name of each of ``args``, for messages.
    per_row : bool
        Whether ``fn`` gives one value per row (a 1-D result) instead of a
        row of values.
    trailing : tuple
        More positional arguments of ``fn``, after ``args``, passed whole to
        every block (a partition, a power).
    **options
        ``fn``'s keyword arguments, the same for every block.

    Returns
    -------
    dask Array, DataFrame or Series
        A dask array in gives a dask array out with the same chunks of rows; a
        dask DataFrame gives a dask DataFrame (or Series, ``per_row``) with
        the same divisions and the columns ``fn`` gives its partitions.
    """
    dask_at = [i for i, a in enumerate(args) if is_dask(a)]
    kinds = [collection_kind(args[i]) for i in dask_at]
    for i, kind in zip(dask_at, kinds, strict=True):
        check_dask_collection(args[i], kind, names[i])
    for i, a in enumerate(args):
        if i not in dask_at:
            check_dask_partner(a, names[i], names[dask_at[0]])
    if len(dask_at) == 2:
        check_dask_pair(*[args[i] for i in dask_at], kinds, [names[i] for i in dask_at])
    constants = [None if is_dask(a) else a for a in args] + list(trailing)
    call = functools.partial(_call, fn, constants, dask_at, options)
    token = "coda-" + fn.__name__.strip("_")
    if kinds[0] == "array":
        return _map_arrays(call, args, dask_at, names, per_row, token)
    return _map_frames(call, args, dask_at, names, token)


def _call(fn, constants, dask_at, options, *blocks, offset: int = 0):
    """``fn`` on one block of each dask argument, the other arguments whole."""
    full = list(constants)
    for i, block in zip(dask_at, blocks, strict=True):
        full[i] = block
    # dask runs the blocks in parallel: each block in one thread.
    with rows_from(offset), one_thread():
        return fn(*full, **options)


def _map_arrays(call, args, dask_at, names, per_row, token):
    da = import_dask("dask.array")
    arrays = []
    for i in dask_at:
        x = args[i]
        if x.numblocks[1] > 1:
            warn_parts_chunked(x.numblocks[1], names[i])
            x = x.rechunk({1: -1})
        arrays.append(x)
    pair = [names[i] for i in dask_at]
    unknown = [n for n, x in zip(pair, arrays, strict=True) if np.isnan(x.shape[0])]
    if len(arrays) == 2 and not unknown and arrays[1].chunks[0] != arrays[0].chunks[0]:
        # The second argument follows the first's blocks, which the result keeps.
        arrays[1] = arrays[1].rechunk({0: arrays[0].chunks[0]})
    # One row of ones is a valid composition and valid coordinates: fn on it
    # checks the options now and gives the result's width and dtype.
    sample = call(*[np.ones((1, x.shape[1]), dtype=x.dtype) for x in arrays])
    rows = arrays[0].chunks[0]

    def block(*blocks, block_info=None):
        number = block_info[0]["chunk-location"][0]
        if unknown and len(blocks) == 2:
            # Blocks of unknown size are paired by position: their rows may differ.
            check_block_rows(blocks, pair, number, unknown)
        if blocks[0].shape[0] == 0:
            return np.empty((0, *sample.shape[1:]), dtype=sample.dtype)
        offset = block_info[0]["array-location"][0][0]
        if not np.isnan(offset):
            return call(*blocks, offset=offset)
        # Unknown chunk sizes (an array from a DataFrame): rows count within the block.
        try:
            return call(*blocks)
        except ValueError as err:
            raise_in_block(err, number)

    if per_row:
        return da.map_blocks(
            block,
            *arrays,
            chunks=(rows,),
            drop_axis=1,
            dtype=sample.dtype,
            meta=np.empty((0,), dtype=sample.dtype),
            token=token,
        )
    return da.map_blocks(
        block,
        *arrays,
        chunks=(rows, (sample.shape[1],)),
        dtype=sample.dtype,
        meta=np.empty((0, 0), dtype=sample.dtype),
        token=token,
    )


def sample_row(x):
    """One row of ones in the form of dask ``x``'s blocks, for what they become in memory.

    A numpy row of a dask array's dtype, or a pandas row of a dask
    DataFrame's columns and dtypes (:func:`_one_row`): ``as_2d`` of it has
    the dtype the in-memory functions give the blocks (float32 stays float32).
    """
    if collection_kind(x) == "frame":
        return _one_row(x)
    return np.ones((1, x.shape[1]), dtype=x.dtype)


def _one_row(frame) -> pd.DataFrame:
    """A pandas row of ones with the columns and dtypes of dask DataFrame ``frame``.

    Each column keeps its dtype, pandas' nullable and pyarrow types
    included, so the in-memory function converts it as it converts the
    partitions (``coda._validation.numeric_values``). The row keeps the
    frame's ``attrs`` too, where :func:`coda.alr` and :func:`coda.ilr` record
    the part names that their inverses give back to the partitions.
    """
    # Columns by position: labels may repeat.
    row = pd.DataFrame(
        {k: pd.array([1], dtype=dt) for k, dt in enumerate(frame.dtypes)}, index=[0]
    )
    row.columns = frame.columns
    row.attrs = copy.deepcopy(frame._meta.attrs)
    return row


def _map_frames(call, args, dask_at, names, token):
    frames = [args[i] for i in dask_at]
    meta = call(*[_one_row(x) for x in frames]).iloc[:0]
    meta.index = frames[0]._meta.index
    pair = [names[i] for i in dask_at]

    def partition(*parts, partition_info=None):
        if len(parts) == 2:
            # Equal divisions do not make equal rows: one frame may be filtered.
            check_block_rows(parts, pair, partition_info["number"])
        if len(parts[0]) == 0:
            return meta
        return call(*parts)

    return frames[0].map_partitions(partition, *frames[1:], meta=meta, token=token)
