"""Checks of dask input: collections, chunks, partners, methods and clusters.

Part of :mod:`coda._validation`, where every user-facing check lives.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from coda._validation._arrays import as_2d, check_real_columns
from coda._validation._base import DaskChunkWarning, _listing, is_dask, warn


def check_dask_collection(x, kind: str | None, name: str = "x", *, estimate: bool = False) -> None:
    """Raise unless dask input ``x`` of ``kind`` is one that coda's functions accept.

    ``kind`` is ``"array"`` for a dask array, ``"frame"`` for a dask
    DataFrame and None for any other collection (a Series, an Index, a bag).
    A dask array must be 2-D (samples x parts) of real numbers with a known
    number of parts; a dask DataFrame must have numeric columns only (dtypes
    are known without computing anything). ``estimate`` says the caller
    estimates from many samples (a covariance), which one composition cannot
    give.
    """
    if kind == "frame":
        check_real_columns(x.dtypes, name)
        if len(x.columns) == 0:
            # As in memory (as_2d), with what is known before computing: no columns.
            raise ValueError(f"{name} is empty (no columns); it needs at least one value")
        return
    if kind is None:
        raise TypeError(
            f"{name} is a dask {type(x).__name__}; pass compositions as a dask DataFrame "
            "(one column per part) or a 2-D dask array (samples x parts)"
        )
    if x.ndim != 2:
        fix = (
            "; a 1-D array is one composition, and an estimate needs many samples"
            if estimate
            else ": pass one composition as a numpy array instead"
        )
        raise ValueError(
            f"{name} is a {x.ndim}-D dask array of shape {x.shape}; dask input must be 2-D "
            f"(samples x parts){fix}"
        )
    # The dtype is known from the metadata: checked as in memory, before any block runs.
    as_2d(np.broadcast_to(np.zeros((), dtype=x.dtype), (1, 1)), name)
    if x.shape[0] == 0 or x.shape[1] == 0:
        # As in memory (as_2d); known without computing anything.
        raise ValueError(f"{name} is empty (shape {x.shape}); it needs at least one value")
    if np.isnan(x.shape[1]):
        raise ValueError(
            f"{name} is a dask array with an unknown number of parts; compute the chunk "
            f"sizes first: {name}.compute_chunk_sizes()"
        )


def warn_parts_chunked(n_chunks: int, name: str = "x") -> None:
    """Warn that a dask array split into ``n_chunks`` chunks of parts is being joined."""
    warn(
        f"{name} is a dask array split into {n_chunks} chunks along its parts; row-wise "
        "transforms need all parts of a row in one block, so the chunks of parts are "
        f"joined (the chunks of rows are kept); rechunk it yourself, {name}.rechunk({{1: -1}}), "
        "to choose the block size and silence this warning",
        DaskChunkWarning,
    )


def check_dask_partner(value, name: str, other: str) -> None:
    """Raise unless an in-memory argument paired with a dask ``other`` is one composition."""
    if np.ndim(value) == 2 and np.shape(value)[0] != 1:
        raise ValueError(
            f"{name} has {np.shape(value)[0]} rows in memory but {other} is a dask "
            f"collection; pass {name} as one composition to combine with every row of "
            f"{other}, or as a dask collection of the same kind with the same rows"
        )


def check_dask_pair(x, y, kinds: Sequence[str], names: Sequence[str]) -> None:
    """Raise unless dask arguments ``x`` and ``y`` of ``kinds`` can be paired block by block.

    Two dask arrays need the same number of rows (the second then follows
    the first's chunks); when a chunk size is unknown, the same number of
    blocks, whose rows :func:`check_block_rows` compares as they are
    computed. Two dask DataFrames with known divisions need the same
    divisions; otherwise the same number of partitions, whose rows are
    compared as they are computed.
    """
    a, b = names
    if kinds[0] != kinds[1]:
        raise TypeError(
            f"{a} is a dask {kinds[0]} and {b} a dask {kinds[1]}; pass two "
            "dask arrays or two dask DataFrames"
        )
    if kinds[0] == "array":
        unknown = [n for n, v in zip(names, (x, y), strict=True) if np.isnan(v.shape[0])]
        if not unknown:
            if x.shape[0] != y.shape[0]:
                raise ValueError(
                    f"{a} has {x.shape[0]} rows and {b} has {y.shape[0]}; dask arguments are "
                    "combined row by row, so pass the same rows"
                )
            return
        if x.numblocks[0] != y.numblocks[0]:
            raise ValueError(
                f"{a} has {x.numblocks[0]} blocks of rows and {b} has {y.numblocks[0]}, and "
                f"the sizes of the blocks of {' and '.join(unknown)} are unknown, so the rows "
                "cannot be paired; compute the chunk sizes first ("
                + ", ".join(f"{n}.compute_chunk_sizes()" for n in unknown)
                + f"), and then {b} follows {a}'s blocks"
            )
        return
    if x.known_divisions and y.known_divisions:
        if tuple(x.divisions) != tuple(y.divisions):
            raise ValueError(
                f"{a} and {b} are split into partitions at different index values "
                f"({a}.divisions is ({_listing(x.divisions)}) and {b}.divisions "
                f"({_listing(y.divisions)})); dask DataFrames are combined partition by "
                f"partition, so split {b} as {a} is: {b}.repartition(divisions={a}.divisions)"
            )
        return
    if x.npartitions != y.npartitions:
        raise ValueError(
            f"{a} has {x.npartitions} partitions and {b} has {y.npartitions}; dask "
            "DataFrames are combined partition by partition, so pass the same partitions "
            f"(for example, both made from one frame, or {b}.repartition(npartitions="
            f"{a}.npartitions) when their rows are split alike)"
        )


def check_block_rows(
    blocks: Sequence, names: Sequence[str], number: int, unknown: Sequence[str] | None = None
) -> None:
    """Raise unless block ``number`` of each of two dask arguments has the same number of rows.

    Run as the blocks are computed: ``blocks`` are a pandas partition of each
    of two dask DataFrames (``unknown`` is None), or a numpy block of each of
    two dask arrays, ``unknown`` naming those whose chunk sizes are unknown.
    """
    rows = [len(block) for block in blocks]
    if rows[0] == rows[1]:
        return
    a, b = names
    if unknown is None:
        raise ValueError(
            f"partition {number} of {a} has {rows[0]} rows and partition {number} of {b} "
            f"has {rows[1]}; dask DataFrames are combined partition by partition, so the "
            f"partitions of {a} and {b} must hold the same rows: make both from one frame, "
            "split and filtered alike (a filter keeps the divisions but drops rows from "
            f"partitions), or compute both first ({a}.compute(), {b}.compute())"
        )
    raise ValueError(
        f"block {number} of rows of {a} has {rows[0]} rows and block {number} of {b} has "
        f"{rows[1]}; blocks whose sizes are unknown are paired by position, so compute the "
        "chunk sizes first ("
        + ", ".join(f"{n}.compute_chunk_sizes()" for n in unknown)
        + f"), and then {b} follows {a}'s blocks"
    )


def check_dask_scalar(a, name: str, x: str = "x") -> None:
    """Raise unless ``a`` is one number: per-row options cannot follow dask blocks."""
    if np.ndim(a) != 0 or is_dask(a):
        raise ValueError(
            f"{name} has shape {np.shape(a)}, but with a dask {x} it must be one number "
            f"for every row; for per-row values compute {x} first ({x}.compute())"
        )


def raise_in_block(err: ValueError, block: int) -> None:
    """Re-raise ``err`` from a dask block whose first row's position is unknown."""
    raise ValueError(
        f"in block {block} of rows (its chunk sizes are unknown, so rows are counted from "
        f"the block's first row; compute_chunk_sizes() on the dask array makes them global): {err}"
    ) from err


def raise_dask_method(method: str, name: str = "method") -> None:
    """Raise for a zero-replacement method that needs all rows at once."""
    raise ValueError(
        f'{name}="{method}" estimates its prior from part totals over all rows, so it does '
        'not run block by block on dask input; use method="multiplicative" (with delta '
        'or detection_limit) or "pseudocount", or compute x first (x.compute())'
    )


def check_dask_method(method: str, name: str = "method", *, accepted: Sequence[str]) -> None:
    """Raise if an estimator that needs the data in memory is asked for on dask input."""
    if method not in accepted:
        raise TypeError(
            f"{name}={method!r} does not accept dask input: the regularised estimators are "
            "for few samples (n close to or below the number of parts), which fit in memory; "
            f"with dask input use {name}="
            + " or ".join(repr(a) for a in accepted)
            + ", or compute the data first with x.compute()"
        )


def check_cluster_client(client, client_type) -> None:
    """Raise unless ``client`` is a ``dask.distributed.Client`` (``client_type``)."""
    if not isinstance(client, client_type):
        raise TypeError(
            f"client is a {type(client).__name__}; expected a dask.distributed.Client, "
            "e.g. Client(LocalCluster()), or None to compute in this process"
        )
