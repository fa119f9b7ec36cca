"""Every check of user input and every user-facing error message.

Each check takes the name of the parameter it looks at, so that a message can
say which argument is wrong, what was expected, what arrived, and how to fix it.
Nothing here computes results; nothing here mutates its input.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "CodaWarning",
    "ConvergenceWarning",
    "DaskChunkWarning",
    "as_2d",
    "check_accessor_parts",
    "check_basis",
    "check_columns",
    "check_composition",
    "check_count",
    "check_counts",
    "check_data_file",
    "check_ddof",
    "check_fraction",
    "check_graph",
    "check_node_attribute",
    "check_node_data",
    "check_option",
    "check_part",
    "check_parts",
    "check_path",
    "check_pcor_matrix",
    "check_per_part",
    "check_positive",
    "check_positive_definite",
    "check_replacement_fits",
    "check_sbp",
    "check_shape",
    "check_square",
    "check_table",
    "check_tests_table",
    "check_unit_interval",
    "check_unused",
    "check_value_range",
    "check_varying",
    "float_dtype",
]

_MAX_LISTED = 5

# Row numbers in messages count from here: the first row of the dask block
# being checked (see ``rows_from``), 0 for in-memory input.
_ROW_OFFSET = contextvars.ContextVar("coda_row_offset", default=0)


class CodaWarning(UserWarning):
    """Base class of every warning that coda emits.

    Each kind of warning is a subclass, so that a filter on this class
    silences coda's warnings and no one else's.

    Examples
    --------
    >>> import warnings
    >>> import coda
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", category=coda.CodaWarning)
    ...     warnings.warn("silenced", coda.CodaWarning)
    >>> issubclass(coda.CodaWarning, UserWarning)
    True
    """


class DaskChunkWarning(CodaWarning):
    """A dask array split along its parts was rechunked to one chunk of parts per block.

    Row-wise transforms need every part of a row in one block. coda joins the
    chunks of parts for you (lazily, keeping the chunks of rows) and warns,
    because the joined blocks are larger than the ones you chose; rechunk the
    array yourself, ``x.rechunk({1: -1})``, to choose their size and silence
    this warning.

    Examples
    --------
    >>> from coda._validation import CodaWarning, DaskChunkWarning
    >>> issubclass(DaskChunkWarning, CodaWarning)
    True
    """


def is_dask(x) -> bool:
    """Whether ``x`` is a dask collection (array, DataFrame, Series), without importing dask."""
    module = type(x).__module__
    return module == "dask" or module.startswith("dask.")


@contextlib.contextmanager
def rows_from(offset: int):
    """Number the rows named in error messages from ``offset`` (a dask block's first row)."""
    token = _ROW_OFFSET.set(int(offset))
    try:
        yield
    finally:
        _ROW_OFFSET.reset(token)


def _listing(items: Sequence, total: int | None = None) -> str:
    """Return ``'a, b, c'`` for at most a few items, with a count of the rest."""
    total = len(items) if total is None else total
    shown = ", ".join(str(item) for item in items[:_MAX_LISTED])
    if total > _MAX_LISTED:
        shown += f", ... ({total - _MAX_LISTED} more)"
    return shown


def float_dtype(dtype: np.dtype) -> np.dtype:
    """Return the floating dtype computations use for input of ``dtype``.

    float32 stays float32 (model statistics are float32); everything else,
    integers (counts) included, is computed in float64.
    """
    return np.dtype(np.float32) if dtype == np.float32 else np.dtype(np.float64)


def as_2d(x, name: str = "x") -> np.ndarray:
    """Return ``x`` as a 2-D float array without copying when possible.

    Accepts lists, numpy arrays and pandas objects; a 1-D input is one
    composition and becomes one row. The caller's object is never modified:
    callers treat the result as read-only.

    Raises
    ------
    TypeError
        If ``x`` holds non-numeric values (the offending DataFrame columns are
        named).
    ValueError
        If ``x`` is empty or has more than two dimensions.
    """
    check_in_memory(x, name)
    if isinstance(x, pd.DataFrame):
        check_real_columns(x.dtypes, name)
        values = x.to_numpy()
    elif isinstance(x, pd.Series):
        if not _is_real_dtype(x.dtype):
            raise TypeError(f"{name} has dtype {x.dtype}; expected real numbers")
        values = x.to_numpy()
    else:
        values = np.asarray(x)
    if not _is_real_dtype(values.dtype):
        raise TypeError(
            f"{name} has dtype {values.dtype}; expected real numbers "
            "(integers or floats), one row per sample and one column per part"
        )
    if values.ndim not in (1, 2):
        raise ValueError(
            f"{name} must be 1-D (one composition) or 2-D (samples x parts); "
            f"got {values.ndim} dimensions with shape {values.shape}"
        )
    if values.size == 0:
        raise ValueError(f"{name} is empty (shape {values.shape}); it needs at least one value")
    if values.ndim == 1:
        values = values.reshape(1, -1)
    return values.astype(float_dtype(values.dtype), copy=False)


def check_real_columns(dtypes: pd.Series, name: str) -> None:
    """Raise a TypeError naming the columns whose ``dtypes`` are not real numbers."""
    bad = [str(c) for c, dt in dtypes.items() if not _is_real_dtype(dt)]
    if bad:
        raise TypeError(
            f"{name} has non-numeric columns: {_listing(bad)}; select the "
            f"numeric parts first, e.g. {name}[[...numeric columns...]], or "
            f"move identifiers into the index with {name}.set_index(...)"
        )


def check_in_memory(x, name: str = "x") -> None:
    """Raise if ``x`` is a dask collection reaching a function that needs it in memory.

    ``np.asarray`` would silently compute the whole collection, so a function
    without a dask path refuses it and says what to do instead.
    """
    if is_dask(x):
        raise TypeError(
            f"{name} is a dask {type(x).__name__}, which this function does not take: "
            f"compute it first if it fits in memory ({name} = {name}.compute()), or use "
            "the functions that work on dask input block by block (closure, perturb, "
            "perturb_inv, power, inner, norm, distance, clr, clr_inv, alr, alr_inv, ilr, "
            'ilr_inv, balances, replace_zeros with method="multiplicative" or '
            '"pseudocount", and in one pass over the rows variation, clr_cov, alr_cov, '
            'ilr_cov, total_variance, precision, pcor, partial_variance, multiple_r2 and '
            'pcor_test with method="exact"; see the dask page of the docs)'
        )


def check_dask_collection(x, kind: str | None, name: str = "x") -> None:
    """Raise unless dask input ``x`` of ``kind`` is one that row-wise functions accept.

    ``kind`` is ``"array"`` for a dask array, ``"frame"`` for a dask
    DataFrame and None for any other collection (a Series, an Index, a bag).
    A dask array must be 2-D (samples x parts) with a known number of parts;
    a dask DataFrame must have numeric columns only (dtypes are known without
    computing anything).
    """
    if kind == "frame":
        check_real_columns(x.dtypes, name)
        return
    if kind is None:
        raise TypeError(
            f"{name} is a dask {type(x).__name__}; pass compositions as a dask DataFrame "
            "(one column per part) or a 2-D dask array (samples x parts)"
        )
    if x.ndim != 2:
        raise ValueError(
            f"{name} is a {x.ndim}-D dask array of shape {x.shape}; dask input must be 2-D "
            "(samples x parts): pass one composition as a numpy array instead"
        )
    if np.isnan(x.shape[1]):
        raise ValueError(
            f"{name} is a dask array with an unknown number of parts; compute the chunk "
            f"sizes first: {name}.compute_chunk_sizes()"
        )


def warn_parts_chunked(n_chunks: int, name: str = "x") -> None:
    """Warn that a dask array split into ``n_chunks`` chunks of parts is being joined."""
    warnings.warn(
        f"{name} is a dask array split into {n_chunks} chunks along its parts; row-wise "
        "transforms need all parts of a row in one block, so the chunks of parts are "
        f"joined (the chunks of rows are kept); rechunk it yourself, {name}.rechunk({{1: -1}}), "
        "to choose the block size and silence this warning",
        DaskChunkWarning,
        # past this helper, coda._dask's two frames and the public function: the user's call
        stacklevel=5,
    )


def check_dask_partner(value, name: str, other: str) -> None:
    """Raise unless an in-memory argument paired with a dask ``other`` is one composition."""
    if np.ndim(value) == 2 and np.shape(value)[0] != 1:
        raise ValueError(
            f"{name} has {np.shape(value)[0]} rows in memory but {other} is a dask "
            f"collection; pass {name} as one composition to combine with every row of "
            f"{other}, or as a dask collection of the same kind with the same rows"
        )


def check_dask_pair(kinds: Sequence[str], sizes: Sequence, names: Sequence[str]) -> None:
    """Raise unless two dask arguments are of one kind and match block for block.

    ``sizes`` are the numbers of rows of two dask arrays, or the numbers of
    partitions of two dask DataFrames (whose rows are not known before they
    are computed).
    """
    if kinds[0] != kinds[1]:
        raise TypeError(
            f"{names[0]} is a dask {kinds[0]} and {names[1]} a dask {kinds[1]}; pass two "
            "dask arrays or two dask DataFrames"
        )
    if sizes[0] != sizes[1]:
        what = "rows" if kinds[0] == "array" else "partitions"
        raise ValueError(
            f"{names[0]} has {sizes[0]} {what} and {names[1]} has {sizes[1]}; dask arguments "
            f"are combined row by row, so pass the same {what} (for DataFrames, for "
            f"example, both made from one frame, or {names[1]}.repartition(npartitions="
            f"{names[0]}.npartitions) when their rows are split alike)"
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


def check_accessor_parts(obj) -> tuple[list, list]:
    """Return the part labels of a pandas object for ``.coda`` and the columns it ignores.

    A DataFrame's parts are its real-valued columns (integers and floats, the
    dtypes :func:`as_2d` accepts); the other columns (identifiers, groups,
    dates, booleans) are ignored. A Series is one composition: its parts are
    its index, and it must be real-valued itself.

    Raises
    ------
    AttributeError
        If no part remains, which is the exception pandas asks an accessor to
        raise when it does not apply to an object.
    """
    if isinstance(obj, pd.Series):
        if not _is_real_dtype(obj.dtype):
            raise AttributeError(
                f"Series.coda needs real numbers (one composition, one value per part); this "
                f"Series has dtype {obj.dtype}: convert it first, e.g. s.astype(float)"
            )
        return list(obj.index), []
    dtypes = list(obj.dtypes.items())
    parts = [c for c, dt in dtypes if _is_real_dtype(dt)]
    ignored = [c for c, dt in dtypes if not _is_real_dtype(dt)]
    if not parts:
        found = (
            f"its columns {_listing([f'{c} ({dt})' for c, dt in dtypes])} are all non-numeric"
            if ignored
            else "it has no columns"
        )
        raise AttributeError(
            f"DataFrame.coda needs numeric part columns (integers or floats), but {found}; "
            "convert the parts to numbers first, e.g. df.astype({'part': float}) or "
            "df.apply(pd.to_numeric)"
        )
    return parts, ignored


def _is_real_dtype(dtype) -> bool:
    dtype = np.dtype(dtype) if not isinstance(dtype, pd.api.extensions.ExtensionDtype) else dtype
    if isinstance(dtype, pd.api.extensions.ExtensionDtype):
        return False
    return dtype.kind in "iuf"


def _positions(mask: np.ndarray, row_labels=None) -> tuple[list, int]:
    rows = np.flatnonzero(mask.any(axis=1))
    if row_labels is not None:
        return [row_labels[r] for r in rows[:_MAX_LISTED]], rows.size
    return (rows[:_MAX_LISTED] + _ROW_OFFSET.get()).tolist(), rows.size


def check_shape(
    values: np.ndarray, name: str = "x", *, min_parts: int = 1, min_samples: int = 1
) -> None:
    """Raise if a 2-D ``values`` has too few parts (columns) or samples (rows)."""
    n, d = values.shape
    if d < min_parts:
        raise ValueError(
            f"{name} has {d} part{'s' if d != 1 else ''}; at least {min_parts} are needed "
            "(parts are columns: pass one row per sample and one column per part)"
        )
    if n < min_samples:
        raise ValueError(
            f"{name} has {n} sample{'s' if n != 1 else ''}; at least {min_samples} are needed"
        )


def check_composition(
    values: np.ndarray,
    name: str = "x",
    *,
    allow_zeros: bool = False,
    min_parts: int = 1,
    min_samples: int = 1,
    row_labels=None,
) -> None:
    """Raise a clear error if ``values`` is not a valid set of compositions.

    Parameters
    ----------
    values : ndarray of shape (n_samples, n_parts)
        Output of :func:`as_2d`.
    name : str
        The parameter's name, used in messages.
    allow_zeros : bool
        Whether zeros are acceptable (closure, zero replacement) or not
        (log-ratio transforms).
    min_parts, min_samples : int
        The smallest acceptable number of columns and rows.
    row_labels : sequence, optional
        Row labels (a DataFrame's index) to name offending rows by.
    """
    check_shape(values, name, min_parts=min_parts, min_samples=min_samples)
    bad = ~np.isfinite(values)
    if bad.any():
        rows, total = _positions(bad, row_labels)
        raise ValueError(
            f"{name} contains {int(bad.sum())} NaN or infinite values "
            f"(rows {_listing(rows, total)}); "
            "drop or impute those rows first, e.g. x[np.isfinite(x).all(axis=1)]"
        )
    negative = values < 0
    if negative.any():
        rows, total = _positions(negative, row_labels)
        raise ValueError(
            f"{name} contains {int(negative.sum())} negative values "
            f"(rows {_listing(rows, total)}); "
            "compositions are non-negative amounts (counts, proportions, percentages)"
        )
    if not allow_zeros:
        zeros = values == 0
        if zeros.any():
            rows, total = _positions(zeros, row_labels)
            raise ValueError(
                f"{name} has {int(zeros.sum())} zeros (rows {_listing(rows, total)}); log-ratios "
                "need positive parts: replace them first, e.g. "
                f'coda.replace_zeros({name}, method="multiplicative")'
            )
    else:
        empty = ~values.any(axis=1)
        if empty.any():
            rows, total = _positions(empty[:, None], row_labels)
            raise ValueError(
                f"{name} has rows whose parts are all zero (rows {_listing(rows, total)}); "
                "such a row is not a composition: drop it"
            )


def check_option(value, name: str, options: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``options``; raise otherwise."""
    options = tuple(options)
    if not isinstance(value, str) or value not in options:
        raise ValueError(
            f"{name}={value!r} is not a known option; choose one of "
            + ", ".join(repr(o) for o in options)
        )
    return value


def check_part(ref, name: str, parts: Sequence | None, n_parts: int) -> int:
    """Return the position of part ``ref``, given as an index or a part name."""
    if isinstance(ref, (bool, np.bool_)):
        raise TypeError(f"{name} must be a part index or a part name, not a bool")
    if isinstance(ref, (int, np.integer)):
        if not -n_parts <= ref < n_parts:
            raise ValueError(
                f"{name}={ref} is out of range for {n_parts} parts; "
                f"use an index from {-n_parts} to {n_parts - 1}"
            )
        return int(ref) % n_parts
    if parts is not None:
        matches = [i for i, p in enumerate(parts) if p == ref]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise ValueError(
                f"{name}={ref!r} names {len(matches)} parts; part names must be unique"
            )
        raise ValueError(
            f"{name}={ref!r} is not a part; the parts are {_listing([str(p) for p in parts])}"
        )
    raise ValueError(
        f"{name}={ref!r} is a name, but the data have no part names; "
        "pass an integer position or a DataFrame with named columns"
    )


def check_basis(
    basis, name: str, n_parts: int, *, dtype=np.float64, atol: float = 1e-8
) -> np.ndarray:
    """Return ``basis`` as a D x (D-1) orthonormal matrix in clr coordinates.

    Raises
    ------
    ValueError
        If the shape is wrong, if a column does not sum to zero (it then is no
        clr vector), or if the columns are not orthonormal.
    """
    values = basis.to_numpy() if isinstance(basis, pd.DataFrame) else np.asarray(basis)
    if not _is_real_dtype(values.dtype):
        raise TypeError(f"{name} has dtype {values.dtype}; expected a real matrix")
    values = values.astype(np.float64, copy=False)
    expected = (n_parts, n_parts - 1)
    if values.shape != expected:
        hint = " (it looks transposed: pass basis.T)" if values.shape == expected[::-1] else ""
        raise ValueError(
            f"{name} has shape {values.shape}; a basis for {n_parts} parts is a "
            f"{expected[0]} x {expected[1]} matrix, one clr column per coordinate{hint}"
        )
    if not np.isfinite(values).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    sums = np.abs(values.sum(axis=0)).max()
    gram_err = np.abs(values.T @ values - np.eye(n_parts - 1)).max()
    if sums > atol or gram_err > atol:
        raise ValueError(
            f"{name} is not an orthonormal basis of the clr plane (largest |column sum| "
            f"{sums:.2g}, largest |V^T V - I| {gram_err:.2g}); build one with "
            "coda.ilr_basis(...) or coda.sbp_basis(...)"
        )
    return values.astype(dtype, copy=False)


def check_sbp(sbp, name: str = "sbp", *, n_parts: int | None = None) -> np.ndarray:
    """Return ``sbp`` as an int8 (D-1) x D matrix of +1/-1/0 after checking it.

    A sequential binary partition splits all parts into two groups (the row
    without zeros), and then each group of two or more parts again, until
    every group holds one part: each row after the first splits exactly one
    group made by an earlier split, and every group is split once.
    """
    values = sbp.to_numpy() if isinstance(sbp, pd.DataFrame) else np.asarray(sbp)
    if values.ndim != 2 or values.size == 0:
        raise ValueError(
            f"{name} must be a 2-D matrix with one row per balance and one column "
            f"per part; got shape {values.shape}"
        )
    if not _is_real_dtype(values.dtype) or not np.isin(values, (-1, 0, 1)).all():
        found = np.unique(values[~np.isin(values, (-1, 0, 1))]).tolist()
        raise ValueError(
            f"{name} must contain only +1, -1 and 0; got {_listing(found)}: "
            "mark numerator parts +1, denominator parts -1 and parts outside the balance 0"
        )
    values = values.astype(np.int8)
    n_rows, d = values.shape
    if n_parts is not None and d != n_parts:
        raise ValueError(
            f"{name} has {d} columns but x has {n_parts} parts; the partition needs one "
            "column per part of x"
        )
    if d < 2 or n_rows != d - 1:
        raise ValueError(
            f"{name} has shape {values.shape}; a sequential binary partition of {d} parts "
            f"has {d - 1} rows (balances) and {d} columns (parts)"
        )
    groups = {}
    for i, row in enumerate(values):
        plus = frozenset(np.flatnonzero(row > 0).tolist())
        minus = frozenset(np.flatnonzero(row < 0).tolist())
        if not plus or not minus:
            raise ValueError(f"{name} row {i} must have at least one +1 and one -1")
        groups[i] = (plus, minus)
    wanted = {frozenset(range(d))}
    split = set()
    for _ in range(n_rows):
        progress = False
        for i, (plus, minus) in groups.items():
            support = plus | minus
            if i not in split and support in wanted:
                split.add(i)
                wanted.discard(support)
                wanted.update(g for g in (plus, minus) if len(g) > 1)
                progress = True
        if not progress:
            break
    if len(split) != n_rows or wanted:
        bad = sorted(set(groups) - split)
        raise ValueError(
            f"{name} is not a sequential binary partition: row(s) {_listing(bad)} do not "
            "split a group made by an earlier row (the first split must use every part, "
            "and each later row must split exactly one of the groups made before)"
        )
    return values


def check_square(matrix, name: str, *, symmetric: bool = True, min_size: int = 2) -> np.ndarray:
    """Return ``matrix`` as a finite square float64 array, symmetric if asked."""
    values = matrix.to_numpy() if isinstance(matrix, pd.DataFrame) else np.asarray(matrix)
    if not _is_real_dtype(values.dtype):
        raise TypeError(f"{name} has dtype {values.dtype}; expected a real matrix")
    values = values.astype(np.float64, copy=False)
    if values.ndim != 2 or values.shape[0] != values.shape[1] or values.shape[0] < min_size:
        raise ValueError(
            f"{name} must be a square matrix with at least {min_size} rows; "
            f"got shape {values.shape}"
        )
    if not np.isfinite(values).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    if symmetric:
        scale = max(np.abs(values).max(), np.finfo(float).tiny)
        asym = np.abs(values - values.T).max() / scale
        if asym > 1e-8:
            raise ValueError(
                f"{name} is not symmetric (largest relative |M - M^T| {asym:.2g}); "
                "pass a covariance or variation matrix"
            )
    return values


def check_ddof(ddof, n_samples: int) -> int:
    """Return ``ddof`` if it leaves a positive divisor ``n - ddof``."""
    if isinstance(ddof, (bool, np.bool_)) or not isinstance(ddof, (int, np.integer)) or ddof < 0:
        raise ValueError(f"ddof={ddof!r}; expected a non-negative integer (1 for n - 1, 0 for n)")
    if n_samples - ddof <= 0:
        raise ValueError(
            f"ddof={ddof} leaves no degrees of freedom with {n_samples} samples; "
            "use more samples or a smaller ddof"
        )
    return int(ddof)


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


def check_pair(pair, name: str, parts: Sequence | None, n_parts: int) -> tuple[int, int]:
    """Return the positions of exactly two distinct parts."""
    if isinstance(pair, (str, int, np.integer)) or len(list(pair)) != 2:
        raise ValueError(f"{name}={pair!r}; expected two distinct parts, e.g. {name}=['Al', 'Fe']")
    i, j = check_parts(pair, name, parts, n_parts)
    return i, j


def check_parts(given, name: str, parts: Sequence | None, n_parts: int) -> list[int]:
    """Return the positions of a non-empty list of distinct parts."""
    if isinstance(given, (str, int, np.integer)):
        given = [given]
    given = list(given)
    if not given:
        raise ValueError(
            f"{name} is empty; name at least one part to partial out "
            f"(use {name}=None to condition on all other parts)"
        )
    positions = [check_part(g, name, parts, n_parts) for g in given]
    if len(set(positions)) != len(positions):
        seen, dup = set(), []
        for g, p in zip(given, positions, strict=False):
            if p in seen:
                dup.append(g)
            seen.add(p)
        raise ValueError(f"{name} names parts more than once: {_listing(dup)}")
    return positions


def _part_names(columns: np.ndarray, parts: Sequence | None) -> list:
    return [parts[c] if parts is not None else c for c in columns.tolist()]


def check_per_part(value, name: str, n_parts: int, parts: Sequence | None = None) -> np.ndarray:
    """Return a positive scalar or one positive value per part as a float64 ``(D,)`` array.

    A pandas Series is matched to the parts by label when the data have part
    names; anything else is taken in part order.
    """
    if isinstance(value, pd.Series) and parts is not None:
        missing = [str(p) for p in parts if p not in value.index]
        if missing:
            raise ValueError(
                f"{name} has no value for parts {_listing(missing)}; give one value per "
                "part, labelled by the part names"
            )
        value = value.loc[list(parts)]
    values = value.to_numpy() if isinstance(value, pd.Series) else np.asarray(value)
    if isinstance(value, (bool, np.bool_)) or not _is_real_dtype(values.dtype):
        raise TypeError(f"{name}={value!r}; expected a positive number or one per part")
    if values.ndim > 1 or (values.ndim == 1 and values.shape[0] != n_parts):
        raise ValueError(
            f"{name} has shape {values.shape}; pass one number for all parts or "
            f"one per part ({n_parts})"
        )
    values = np.broadcast_to(values.astype(np.float64), (n_parts,)).copy()
    if not (np.isfinite(values).all() and (values > 0).all()):
        raise ValueError(f"{name}={value!r}; expected positive finite values")
    return values


def check_counts(values: np.ndarray, name: str = "x", *, row_labels=None, why: str = "") -> None:
    """Raise if finite, non-negative ``values`` are not whole numbers (counts)."""
    fractional = values != np.round(values)
    if fractional.any():
        rows, total = _positions(fractional, row_labels)
        raise ValueError(
            f"{name} has {int(fractional.sum())} non-integer values "
            f"(rows {_listing(rows, total)}); {why}it needs counts (whole numbers); "
            "for proportions, percentages or "
            'concentrations use method="multiplicative"'
        )


def check_columns(
    values: np.ndarray,
    name: str = "x",
    *,
    parts: Sequence | None = None,
    min_positive: int = 1,
    why: str = "",
) -> None:
    """Raise if a column (part) has fewer than ``min_positive`` positive values."""
    short = np.flatnonzero((values > 0).sum(axis=0) < min_positive)
    if short.size:
        names = _listing(_part_names(short, parts), short.size)
        if min_positive == 1:
            raise ValueError(
                f"{name} has parts that are zero in every sample ({names}); a part never "
                "observed carries no information to replace it from: drop it"
            )
        raise ValueError(
            f"{name} has parts with fewer than {min_positive} positive values ({names}); "
            f"{why}drop or amalgamate those parts, or use another method"
        )


def check_replacement_fits(factor: np.ndarray, name: str = "delta", *, row_labels=None) -> None:
    """Raise if replacing the zeros takes up a row's whole total (``factor <= 0``)."""
    bad = ~(factor > 0)
    if bad.any():
        rows, total = _positions(bad[:, None], row_labels)
        raise ValueError(
            f"{name} is too large: in rows {_listing(rows, total)} the replaced zeros add up "
            "to the row total or more, so the non-zero parts would become zero or negative; "
            f"use a smaller {name}"
        )


def check_unused(value, name: str, context: str) -> None:
    """Raise if an option was given where it is not used (``context`` says where)."""
    if value is not None:
        raise ValueError(f"{name} is not used {context}; leave it out")


class ConvergenceWarning(CodaWarning):
    """An iterative estimator stopped at its iteration limit before meeting its tolerance.

    Raised by the graphical lasso (:func:`coda.pcor_glasso`) when ``max_iter``
    sweeps do not bring the change below ``tol``; the estimate returned is the
    last iterate. Raise ``max_iter`` or loosen ``tol``.

    Examples
    --------
    >>> import coda
    >>> issubclass(coda.ConvergenceWarning, coda.CodaWarning)
    True
    """


def _real_scalar(value, name: str, expected: str) -> float:
    real = (int, float, np.integer, np.floating)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, real):
        raise TypeError(f"{name}={value!r}; expected {expected}")
    if not np.isfinite(value):
        raise ValueError(f"{name}={value!r}; expected {expected}")
    return float(value)


def check_unit_interval(value, name: str, *, hint: str = "") -> float:
    """Return ``value`` as a float if ``0 <= value <= 1``; ``hint`` ends the message."""
    value = _real_scalar(value, name, "a number from 0 to 1")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name}={value!r} is outside [0, 1]{hint}")
    return value


def check_positive(value, name: str, *, hint: str = "") -> float:
    """Return ``value`` as a float if it is finite and > 0; ``hint`` ends the message."""
    value = _real_scalar(value, name, "a positive number")
    if value <= 0.0:
        raise ValueError(f"{name}={value!r}; expected a positive number{hint}")
    return value


def check_count(value, name: str, *, minimum: int = 1) -> int:
    """Return ``value`` as an int if it is an integer ``>= minimum``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}={value!r}; expected an integer >= {minimum}")
    if value < minimum:
        raise ValueError(f"{name}={value!r}; expected an integer >= {minimum}")
    return int(value)


def check_varying(variances: np.ndarray, name: str, parts: Sequence, what: str) -> None:
    """Raise if a part's ``what`` (e.g. "clr values") has zero sample variance.

    Variances below machine epsilon count as zero, as in R's corpcor.
    """
    flat = np.flatnonzero(~(variances >= np.finfo(np.float64).eps))
    if flat.size:
        raise ValueError(
            f"{name} has parts whose {what} do not vary across samples "
            f"({_listing([parts[i] for i in flat], flat.size)}); their correlations are "
            "undefined: drop them or amalgamate them with other parts"
        )


def check_integer(value, name: str, *, minimum: int) -> int:
    """Return ``value`` as an int if it is an integer at least ``minimum``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}={value!r}; expected an integer of at least {minimum}")
    if value < minimum:
        raise ValueError(f"{name}={value}; expected an integer of at least {minimum}")
    return int(value)


def check_fraction(value, name: str, *, closed: bool = False) -> float:
    """Return ``value`` as a float in ``(0, 1)``, or ``(0, 1]`` when ``closed``."""
    interval = "(0, 1]" if closed else "(0, 1)"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"{name}={value!r}; expected a number in {interval}")
    if not (0.0 < value < 1.0 or (closed and value == 1.0)):
        raise ValueError(f"{name}={value!r}; expected a number in {interval}")
    return float(value)


def check_adjacency(graph, name: str) -> np.ndarray:
    """Return a boolean adjacency matrix as a bool array (symmetric, 0/1 or bool)."""
    check_square_labels(graph, name, what="an adjacency matrix labelled by the same nodes")
    values = graph.to_numpy() if isinstance(graph, pd.DataFrame) else np.asarray(graph)
    if values.ndim != 2 or values.shape[0] != values.shape[1]:
        raise ValueError(
            f"{name} must be a square adjacency matrix (nodes x nodes); got shape {values.shape}"
        )
    if values.dtype != np.bool_:
        if not _is_real_dtype(values.dtype) or not np.isin(values, (0, 1)).all():
            raise ValueError(
                f"{name} must hold booleans (or 0 and 1), True where two nodes share an edge; "
                f"got dtype {values.dtype} with other values"
            )
        values = values.astype(bool)
    if not (values == values.T).all():
        i, j = np.argwhere(values != values.T)[0]
        raise ValueError(
            f"{name} is not symmetric (entry [{i}, {j}] differs from [{j}, {i}]); "
            "graphs of partial correlations are undirected: pass A | A.T"
        )
    return values


def check_same_nodes(nodes, other, name: str, other_name: str) -> None:
    """Raise unless two labelled graphs have the same node set."""
    missing = [n for n in other if n not in set(nodes)]
    extra = [n for n in nodes if n not in set(other)]
    if missing or extra:
        raise ValueError(
            f"{name} and {other_name} have different nodes: only in {name}: "
            f"{_listing(extra) or 'none'}; only in {other_name}: {_listing(missing) or 'none'}; "
            "compare graphs over the same parts"
        )


def check_no_zeros(values: np.ndarray, name: str, *, fix: str, row_labels=None) -> None:
    """Raise if ``values`` has zeros, with a fix suited to the caller (e.g. a CLI flag)."""
    zeros = values == 0
    if zeros.any():
        rows, total = _positions(zeros, row_labels)
        raise ValueError(
            f"{name} has {int(zeros.sum())} zeros (rows {_listing(rows, total)}); log-ratios "
            f"need positive parts: {fix}"
        )


def check_flag(value, name: str, *, allow_none: bool = False) -> bool | None:
    """Return ``value`` if it is a bool (or None when ``allow_none``)."""
    if value is None and allow_none:
        return None
    if not isinstance(value, (bool, np.bool_)):
        allowed = "True, False or None" if allow_none else "True or False"
        raise TypeError(f"{name}={value!r}; expected {allowed}")
    return bool(value)


def check_test_df(df: int, n_samples: int, n_given: int, name: str = "x") -> int:
    """Return the residual degrees of freedom ``df`` of a partial-correlation test if positive."""
    if df <= 0:
        raise ValueError(
            f"{name} has {n_samples} samples and each pair is conditioned on {n_given} "
            f"parts, leaving df = n - |K| - 1 = {df} degrees of freedom; the t test needs "
            f"df > 0: use at least {n_given + 2} samples or condition on fewer parts (given=...)"
        )
    return df


def check_file(path, name: str):
    """Return ``path`` if it names an existing file; raise FileNotFoundError otherwise."""
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        what = "is a directory, not a file" if path.is_dir() else "does not exist"
        raise FileNotFoundError(f"{name} {str(path)!r} {what}; pass the path of a CSV file")
    return path


def check_column(column, name: str, columns: Sequence) -> None:
    """Raise unless ``column`` is one of ``columns`` (a table's column names)."""
    if column not in list(columns):
        raise ValueError(
            f"{name}={column!r} is not a column; the columns are "
            f"{_listing([str(c) for c in columns])}"
        )


def check_numeric_columns(frame: pd.DataFrame, name: str, *, fix: str) -> None:
    """Raise if ``frame`` has non-numeric columns, with a fix suited to the caller."""
    bad = [str(c) for c, dt in frame.dtypes.items() if not _is_real_dtype(dt)]
    if bad:
        raise TypeError(f"{name} has non-numeric columns: {_listing(bad)}; {fix}")


def check_resample_rows(n_distinct: int, needed: int, n_samples: int) -> None:
    """Raise if a bootstrap resample has too few distinct samples for a full-rank covariance."""
    if n_distinct < needed:
        raise ValueError(
            f"a bootstrap resample drew only {n_distinct} distinct samples of the {n_samples}, "
            f"fewer than the {needed} that make its log-ratio covariance invertible; "
            "use more samples (well above the number of parts) or fewer parts"
        )


def check_resample_rank(ok: np.ndarray) -> None:
    """Raise if some bootstrap resamples had a singular clr covariance."""
    bad = np.flatnonzero(~ok)
    if bad.size:
        raise ValueError(
            f"{bad.size} bootstrap resamples have a singular clr covariance (some parts are "
            "collinear in those resamples); use more samples, fewer parts, or a "
            "regularised estimator"
        )


BASIS_KINDS = ("helmert", "pivot")


def raise_invalid_composition(values, name: str, *, allow_zeros: bool = False, row_labels=None):
    """Raise the precise message for input that a kernel flagged as invalid.

    Kernels flag rows with a zero, negative or non-finite value as they work,
    so valid input pays nothing for validation; this re-checks flagged input
    to say exactly what is wrong.
    """
    check_composition(values, name, allow_zeros=allow_zeros, row_labels=row_labels)
    raise RuntimeError(
        f"internal error: a kernel flagged {name} as invalid but it passes validation; "
        "please report this with the data"
    )


def check_coordinates(values: np.ndarray, name: str) -> None:
    """Raise if log-ratio coordinates hold NaN or infinite values."""
    bad = ~np.isfinite(values)
    if bad.any():
        rows, total = _positions(bad)
        raise ValueError(
            f"{name} contains {int(bad.sum())} NaN or infinite values (rows "
            f"{_listing(rows, total)}); log-ratio coordinates must be finite real numbers"
        )


def check_n_parts(n_parts) -> int:
    """Return ``n_parts`` as an int of at least 2."""
    if isinstance(n_parts, (bool, np.bool_)) or not isinstance(n_parts, (int, np.integer)):
        raise TypeError(
            f"n_parts must be an integer number of parts, not {type(n_parts).__name__} "
            f"({n_parts!r}); pass x.shape[1]"
        )
    if n_parts < 2:
        raise ValueError(f"n_parts={n_parts}; an ilr basis needs at least 2 parts")
    return int(n_parts)


def check_matching_rows(x: np.ndarray, y: np.ndarray) -> None:
    """Raise unless two compositions have the same parts and broadcastable rows."""
    if x.shape[1] != y.shape[1]:
        raise ValueError(
            f"x has {x.shape[1]} parts and y has {y.shape[1]}; both need the same parts "
            "in the same order"
        )
    if x.shape[0] != y.shape[0] and 1 not in (x.shape[0], y.shape[0]):
        raise ValueError(
            f"x has {x.shape[0]} rows and y has {y.shape[0]}; pass matching rows, "
            "or one composition to combine with every row"
        )


def check_powers(a, name: str, n_rows: int) -> np.ndarray:
    """Return ``a`` as finite float powers: a scalar or one per row."""
    try:
        values = np.asarray(a, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(
            f"{name}={a!r} is not a number; pass a real scalar or one per row"
        ) from None
    if values.ndim > 1 or (values.ndim == 1 and values.shape[0] != n_rows):
        raise ValueError(
            f"{name} has shape {values.shape}; pass a scalar or one value per row ({n_rows})"
        )
    if not np.isfinite(values).all():
        raise ValueError(f"{name} contains NaN or infinite values; powers must be finite")
    return values


def check_total(total) -> float:
    """Return ``total`` if it is a finite positive number."""
    if isinstance(total, (bool, np.bool_)) or not isinstance(total, (int, float, np.number)):
        raise TypeError(f"total={total!r}; expected a positive number such as 1 or 100")
    total = float(total)
    if not (np.isfinite(total) and total > 0):
        raise ValueError(f"total={total!r}; expected a finite positive number such as 1 or 100")
    return total


def check_basis_parts(basis_parts, parts, name: str) -> None:
    """Raise if a labelled basis or partition names other parts than ``x``.

    Positions decide which coefficient goes with which part, so a basis whose
    parts are in another order would silently give wrong coordinates.
    """
    if parts is None:
        return
    basis_parts, parts = list(basis_parts), list(parts)
    if basis_parts == parts:
        return
    if sorted(map(str, basis_parts)) == sorted(map(str, parts)):
        hint = f"{name}.loc[x.columns]" if name == "basis" else f"{name}[x.columns]"
        raise ValueError(
            f"{name} lists the parts of x in another order; reorder it first, e.g. {hint}"
        )
    missing = [p for p in parts if p not in basis_parts]
    raise ValueError(
        f"{name} is labelled with other parts than x (x's parts missing from it: "
        f"{_listing([str(p) for p in missing])}); build it for x's columns"
    )


def check_path(path, name: str) -> Path:
    """Return ``path`` (a str or os.PathLike) as a :class:`pathlib.Path`."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"{name}={path!r}; expected a path (a str or pathlib.Path), "
            f"e.g. {name}='data/roman_cups.csv'"
        )
    return Path(path)


def check_data_file(path, name: str = "path", *, suffixes: dict[str, str]) -> Path:
    """Return ``path`` as a Path to an existing file whose suffix is a key of ``suffixes``.

    ``suffixes`` maps each accepted lower-case suffix to the kind of file it
    names, e.g. ``{".csv": "a CSV file"}``; the message lists them.
    """
    path = check_path(path, name)
    if not path.is_file():
        raise FileNotFoundError(
            f"{name}={str(path)!r} is not an existing file; check the spelling, "
            "or leave it out to use the other places the loader searches"
        )
    if path.suffix.lower() not in suffixes:
        kinds = "; ".join(f"{kind} ({suffix})" for suffix, kind in suffixes.items())
        raise ValueError(
            f"{name}={str(path)!r} has the suffix {path.suffix!r}; expected one of: {kinds}"
        )
    return path


def _cell(value) -> str:
    """Show a table cell in a message: ``'abc'``, ``inf`` or ``missing``."""
    if pd.isna(value):
        return "missing"
    return repr(value.item() if isinstance(value, np.generic) else value)


def check_table(table: pd.DataFrame, name: str, *, index: str, columns: Sequence[str]):
    """Return ``table`` as floats in ``columns``, indexed by its integer ``index`` column.

    ``table`` must have exactly the column ``index`` (unique integers) and the
    ``columns`` (numbers, no missing values), in any order.
    """
    expected = [index, *columns]
    missing = [c for c in expected if c not in table.columns]
    extra = [str(c) for c in table.columns if c not in expected]
    if missing or extra:
        found = f"; it lacks {_listing(missing)}" if missing else ""
        found += f"; it has other columns: {_listing(extra)}" if extra else ""
        raise ValueError(
            f"{name} must have the columns {', '.join(expected)}{found}. Use the file "
            "from the documented source, with its header row"
        )
    for column in expected:
        values = pd.to_numeric(table[column], errors="coerce")
        bad = ~np.isfinite(values.to_numpy(dtype=np.float64, na_value=np.nan))
        if bad.any():
            rows = np.flatnonzero(bad)
            shown = _listing([_cell(table[column].iloc[r]) for r in rows], rows.size)
            raise ValueError(
                f"{name} has non-numeric, missing or infinite values in column {column} "
                f"({shown}); the file is damaged or not this data set: fetch it again"
            )
    ids = pd.to_numeric(table[index])
    if not (ids == np.round(ids)).all() or ids.duplicated().any():
        raise ValueError(
            f"{name} has a column {index} that is not unique integers; "
            "it must number the rows 1, 2, ..."
        )
    result = table[list(columns)].apply(pd.to_numeric).astype(np.float64)
    result.index = pd.Index(ids.astype(np.int64), name=index)
    return result


def check_pcor_matrix(pcor, name: str = "pcor") -> tuple[np.ndarray, np.ndarray]:
    """Return a partial-correlation matrix as float64 and the mask of its ``given`` parts.

    A part whose off-diagonal row is all NaN was partialled out (``given``);
    any other NaN, asymmetry or value outside [-1, 1] is an error.
    """
    check_square_labels(pcor, name, what="a partial-correlation matrix labelled by the same parts")
    values = pcor.to_numpy() if isinstance(pcor, pd.DataFrame) else np.asarray(pcor)
    if not _is_real_dtype(values.dtype):
        raise TypeError(f"{name} has dtype {values.dtype}; expected a real matrix")
    values = values.astype(np.float64)
    if values.ndim != 2 or values.shape[0] != values.shape[1] or values.shape[0] < 2:
        raise ValueError(
            f"{name} must be a square parts x parts matrix with at least 2 parts; "
            f"got shape {values.shape}"
        )
    d = values.shape[0]
    off = ~np.eye(d, dtype=bool)
    missing = np.isnan(values) & off
    given = missing.sum(axis=1) == d - 1
    stray = missing & ~given[:, None] & ~given[None, :]
    if stray.any():
        i, j = np.argwhere(stray)[0]
        raise ValueError(
            f"{name} has NaN at [{i}, {j}] outside the rows and columns of partialled-out "
            "parts (a given part's row and column are NaN throughout); pass finite partial "
            "correlations, e.g. from coda.pcor(x)"
        )
    if np.isinf(values).any():
        raise ValueError(f"{name} contains infinite values; partial correlations lie in [-1, 1]")
    finite = np.where(np.isnan(values), 0.0, values)
    if np.abs(finite).max() > 1 + 1e-12:
        i, j = np.unravel_index(np.argmax(np.abs(finite)), finite.shape)
        raise ValueError(
            f"{name}[{i}, {j}] = {finite[i, j]:.6g} is outside [-1, 1]; pass partial "
            "correlations (coda.pcor), not a covariance or precision matrix"
        )
    asym = np.abs(finite - finite.T).max()
    if asym > 1e-10:
        raise ValueError(
            f"{name} is not symmetric (largest |M - M^T| {asym:.2g}); partial correlations "
            f"are symmetric: pass ({name} + {name}.T) / 2 if the difference is rounding"
        )
    return values, given


def check_tests_table(tests, name: str, pairs: dict) -> None:
    """Raise unless a :func:`coda.pcor_test` table matches the pairs of a pcor matrix.

    ``pairs`` maps ``(part_i, part_j)`` (as in the table) to the partial
    correlation of the matrix, NaN for pairs touching a given part.
    """
    if not isinstance(tests, pd.DataFrame):
        raise TypeError(
            f"{name} is a {type(tests).__name__}; expected the DataFrame of coda.pcor_test(x)"
        )
    needed = ["part_i", "part_j", "r", "pvalue", "qvalue"]
    absent = [c for c in needed if c not in tests.columns]
    if absent:
        raise ValueError(
            f"{name} lacks the columns {_listing(absent)}; pass the table that "
            "coda.pcor_test(x) returns for the same data"
        )
    unknown = [
        (a, b)
        for a, b in zip(tests["part_i"], tests["part_j"], strict=True)
        if (a, b) not in pairs
    ]
    if unknown:
        raise ValueError(
            f"{name} has pairs that are not pairs of parts of pcor (for example "
            f"{_listing(unknown)}); pass the test table of the same data and parts"
        )
    r = tests["r"].to_numpy(dtype=float)
    rho = np.array([pairs[(a, b)] for a, b in zip(tests["part_i"], tests["part_j"], strict=True)])
    if not np.allclose(r, rho, rtol=0.0, atol=1e-8):
        k = int(np.argmax(~np.isclose(r, rho, rtol=0.0, atol=1e-8)))
        raise ValueError(
            f"{name} does not match pcor: for the pair {tests['part_i'].iloc[k]!r}, "
            f"{tests['part_j'].iloc[k]!r} the table has r = {r[k]:.6g} and pcor has "
            f"{rho[k]:.6g}; pass pcor and tests computed from the same data and method"
        )


def check_node_data(node_data, name: str, nodes: Sequence) -> dict:
    """Return ``{node: {attribute: value}}`` from a DataFrame indexed by part or a dict."""
    if isinstance(node_data, pd.DataFrame):
        rows = {str(k): row.to_dict() for k, row in node_data.iterrows()}
    elif isinstance(node_data, dict) and all(isinstance(v, dict) for v in node_data.values()):
        rows = {str(k): dict(v) for k, v in node_data.items()}
    else:
        raise TypeError(
            f"{name} is a {type(node_data).__name__}; expected a DataFrame indexed by part "
            "(one column per attribute) or a dict {part: {attribute: value}}"
        )
    unknown = [k for k in rows if k not in set(nodes)]
    if unknown:
        raise ValueError(
            f"{name} names parts that are not nodes: {_listing(unknown)}; the nodes are "
            f"{_listing(list(nodes))}"
        )
    return rows


def check_value_range(value, name: str) -> tuple[float, float]:
    """Return a ``(low, high)`` pair of finite non-negative numbers with ``low <= high``."""
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise TypeError(f"{name}={value!r}; expected a pair (low, high) of numbers") from None
    if not (np.isfinite(low) and np.isfinite(high) and 0 <= low <= high):
        raise ValueError(f"{name}={value!r}; expected 0 <= low <= high, both finite")
    return low, high


def check_node_attribute(nodes: dict, attribute: str, name: str) -> np.ndarray:
    """Return one float per node of a numeric node attribute that every node has."""
    lacking = [str(n) for n, data in nodes.items() if attribute not in data]
    if lacking:
        known = sorted({k for data in nodes.values() for k in data})
        raise ValueError(
            f"{name}={attribute!r} is not an attribute of every node (missing on "
            f"{_listing(lacking)}); the node attributes are {_listing(known) or 'none'}: "
            f"choose one of them or pass {name}=None for equal sizes"
        )
    try:
        return np.array([float(data[attribute]) for data in nodes.values()])
    except (TypeError, ValueError):
        raise TypeError(f"{name}={attribute!r} names a non-numeric node attribute") from None


def check_graph(graph, name: str = "G"):
    """Return ``graph`` if it is an undirected networkx graph."""
    import networkx as nx

    if not isinstance(graph, nx.Graph) or graph.is_directed():
        raise TypeError(
            f"{name} is a {type(graph).__name__}; expected an undirected networkx Graph, "
            "e.g. from coda.network(x)"
        )
    return graph


def check_positive_definite(cov: np.ndarray, name: str, what: str) -> None:
    """Raise if a small covariance matrix is singular (a degenerate sample)."""
    eig = np.linalg.eigvalsh(cov)
    if not eig.min() > 1e-12 * max(eig.max(), np.finfo(float).tiny):
        raise ValueError(
            f"{name}: the covariance of {what} is singular (the samples lie on a line or a "
            "point); a region needs samples that vary in two directions"
        )


def check_plot_keywords(kwargs: dict, accepted, *, function: str, target: str) -> None:
    """Raise a TypeError naming ``function`` if ``kwargs`` has keywords ``target`` rejects.

    ``accepted`` holds the keywords of the one matplotlib call ``target``
    that a plotting function passes its extra keywords to.
    """
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise TypeError(
            f"{function}() got unexpected keyword arguments {_listing(unknown)}; its extra "
            f"keywords go to {target}, which does not accept them: pass properties that "
            f"{target} takes (see its documentation)"
        )


def check_groups(groups, name: str, n_samples: int) -> list:
    """Return one group label per sample as a list."""
    values = groups.tolist() if hasattr(groups, "tolist") else list(groups)
    if len(values) != n_samples:
        raise ValueError(
            f"{name} has {len(values)} labels but x has {n_samples} samples; pass one group "
            "label per sample (row of x)"
        )
    return values


def check_square_labels(
    matrix, name: str, *, what: str = "a parts x parts matrix labelled by the same parts"
) -> None:
    """Raise if a labelled square matrix has different row and column labels."""
    if isinstance(matrix, pd.DataFrame) and not matrix.index.equals(matrix.columns):
        raise ValueError(
            f"{name} is a DataFrame whose index and columns differ; pass {what} in the "
            f"same order on both axes, e.g. {name}.loc[{name}.columns, {name}.columns]"
        )


def check_result_options(options: dict, defaults: dict, seed, result_name: str) -> None:
    """Raise if options that only apply to raw data were set along with a result."""
    changed = [k for k, v in options.items() if v != defaults[k]]
    if seed is not None:
        changed.append("seed")
    if changed:
        raise ValueError(
            f"{', '.join(changed)}: these options apply to compositional data, not to a "
            f"{result_name}, which is already estimated; drop them or pass the data instead"
        )


def check_checkpoint_source(source, name: str) -> Path:
    """Return ``source`` as a Path to a checkpoint file or directory that exists."""
    path = check_path(source, name)
    if not path.exists():
        raise FileNotFoundError(
            f"{name}={str(path)!r} does not exist; pass a .safetensors, .npz or PyTorch file, "
            "a model.safetensors.index.json, a directory holding one of them, or a mapping "
            "of tensor names to arrays"
        )
    return path


def raise_corrupt_checkpoint(path, problem: str, *, tensor: str | None = None):
    """Raise the error for a checkpoint file that cannot be read as it claims to be."""
    where = f"tensor {tensor!r} in " if tensor is not None else ""
    raise ValueError(
        f"{where}checkpoint file {str(path)!r} is corrupt or truncated: {problem}; "
        "save or copy the file again"
    )


def check_tensor_name(tensor, source: str, keys: Sequence[str]) -> str:
    """Return ``tensor`` if it names a tensor of the checkpoint ``source``."""
    if tensor not in keys:
        raise KeyError(
            f"checkpoint {source} has no tensor {tensor!r}; its tensors are {_listing(list(keys))}"
        )
    return tensor


def check_tensor_mapping(tensors, name: str) -> dict:
    """Return a mapping of tensor names to arrays with str names and numeric arrays."""
    bad = [repr(k) for k in tensors if not isinstance(k, str)]
    if bad:
        raise TypeError(
            f"{name} has tensor names that are not strings: {_listing(bad)}; name every "
            "tensor with a str, e.g. 'layers.0.weight'"
        )
    for key, value in tensors.items():
        kind = np.asarray(value).dtype.kind
        if kind not in "biuf" and np.asarray(value).dtype.name != "bfloat16":
            raise TypeError(
                f"{name}[{key!r}] has dtype {np.asarray(value).dtype}; tensors must be "
                "boolean, integer or floating-point arrays"
            )
    return dict(tensors)


def check_same_tensors(base_keys: Sequence[str], keys: Sequence[str], base: str, model: str):
    """Raise unless a model checkpoint has exactly the tensors of its base."""
    missing_in_base = sorted(set(keys) - set(base_keys))
    if missing_in_base:
        raise ValueError(
            f"checkpoint {model} has tensors missing from the base {base}: "
            f"{_listing(missing_in_base)}; every model must be fine-tuned from the same base"
        )
    missing = sorted(set(base_keys) - set(keys))
    if missing:
        raise ValueError(
            f"checkpoint {model} lacks tensors of the base {base}: {_listing(missing)}; "
            "every model must hold every tensor of the base"
        )


def check_same_shape(tensor: str, shape: tuple, base_shape: tuple, base: str, model: str):
    """Raise unless a model's tensor has the shape of the base's tensor of that name."""
    if tuple(shape) != tuple(base_shape):
        raise ValueError(
            f"tensor {tensor!r} has shape {tuple(shape)} in checkpoint {model} but "
            f"{tuple(base_shape)} in the base {base}; models merge only with the "
            "architecture of their base"
        )


def check_metadata(metadata, name: str = "metadata") -> dict | None:
    """Return safetensors header ``metadata``: None or a mapping of str to str."""
    if metadata is None:
        return None
    if not hasattr(metadata, "items"):
        raise TypeError(
            f"{name}={metadata!r}; expected a mapping of str to str such as "
            "{'format': 'pt'}, or None"
        )
    bad = [repr(k) for k, v in metadata.items() if not (isinstance(k, str) and isinstance(v, str))]
    if bad:
        raise TypeError(
            f"{name} has entries that are not str to str (keys {_listing(bad)}); the "
            "safetensors header stores text only: convert values with str(...)"
        )
    return dict(metadata)


def check_shard_bytes(value, name: str = "max_shard_bytes") -> int | None:
    """Return ``value``: None (one file) or a positive number of bytes per shard."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(
            f"{name}={value!r}; expected a positive integer number of bytes, e.g. "
            "5 * 2**30 for 5 GiB shards, or None for a single file"
        )
    if value <= 0:
        raise ValueError(f"{name}={value}; expected a positive number of bytes, or None")
    return int(value)


def check_models(models, name: str = "models") -> list:
    """Return ``models`` as a list: a non-empty sequence of fine-tuned checkpoints."""
    if isinstance(models, (str, bytes, os.PathLike)) or hasattr(models, "items"):
        raise TypeError(
            f"{name} is a single checkpoint; pass a list of them, e.g. [model_a, model_b]"
        )
    if not isinstance(models, Sequence) or len(models) == 0:
        raise ValueError(
            f"{name}={models!r}; expected a non-empty list of fine-tuned checkpoints "
            "(mappings of tensor names to arrays)"
        )
    return list(models)


def check_model_weights(weights, name: str, n_models: int) -> np.ndarray:
    """Return per-model ``weights`` as float32: ones for None, else one finite number each."""
    if weights is None:
        return np.ones(n_models, dtype=np.float32)
    values = np.asarray(weights)
    if values.dtype.kind not in "iuf" or values.shape != (n_models,):
        raise ValueError(
            f"{name} has shape {values.shape} and dtype {values.dtype}; expected "
            f"{n_models} numbers, one per model, or None for equal weights"
        )
    if not np.isfinite(values).all():
        raise ValueError(f"{name}={weights!r} has values that are not finite; pass finite weights")
    return values.astype(np.float32)


def check_real(value, name: str) -> float:
    """Return ``value`` as a float if it is a finite real number."""
    return _real_scalar(value, name, "a finite number")


def check_finite_tensor(values: np.ndarray, tensor: str, model: str) -> None:
    """Raise if a tensor of a checkpoint holds NaN or infinite values."""
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise ValueError(
            f"tensor {tensor!r} of {model} has {bad.size} values that are not finite (flat "
            f"positions {_listing(bad.tolist(), bad.size)}); merging would spread them: "
            "repair or drop that checkpoint"
        )


def check_normalize(normalize, scope: str, merge: str) -> bool:
    """Return ``normalize`` if it applies (scope="tensor", merge="mean") or is left True."""
    normalize = check_flag(normalize, "normalize")
    if not normalize and (scope != "tensor" or merge != "mean"):
        raise ValueError(
            f"normalize=False has no effect with scope={scope!r} and merge={merge!r}; it "
            "applies to scope='tensor' with merge='mean' only: leave it out"
        )
    return normalize


def check_layers(layers, keys: Sequence[str], name: str = "layers") -> dict:
    """Return a pooling layer -> tensor names covering every tensor in ``keys`` once.

    ``layers`` is None (one layer per tensor), a mapping of layer name to a
    list of tensor names, or a callable from a tensor name to its layer name.
    """
    if layers is None:
        return {key: [key] for key in keys}
    if callable(layers):
        pooling: dict = {}
        for key in keys:
            pooling.setdefault(layers(key), []).append(key)
        return pooling
    if not hasattr(layers, "items"):
        raise TypeError(
            f"{name}={layers!r}; expected None, a mapping of layer name to a list of "
            "tensor names, or a callable from a tensor name to its layer name"
        )
    pooling = {layer: list(names) for layer, names in layers.items()}
    listed = [key for names in pooling.values() for key in names]
    unknown = sorted({key for key in listed if key not in set(keys)})
    twice = sorted({key for key in listed if listed.count(key) > 1})
    missing = [key for key in keys if key not in set(listed)]
    for problem, found in (
        ("names tensors the models lack", unknown),
        ("puts tensors in more than one layer", twice),
        ("leaves tensors out of every layer", missing),
    ):
        if found:
            raise ValueError(
                f"{name} {problem}: {_listing([repr(k) for k in found])}; give every "
                "tensor of the base to exactly one layer"
            )
    return pooling


def check_model_count(n_models: int, *, maximum: int | None = None, name: str = "models") -> None:
    """Raise unless 2 <= ``n_models`` (<= ``maximum``): statistics of several models."""
    if n_models < 2:
        raise ValueError(
            f"{name} holds {n_models} model(s); this statistic compares models, so pass at least 2"
        )
    if maximum is not None and n_models > maximum:
        raise ValueError(
            f"{name} holds {n_models} models; sign patterns have 2^T parts and need at "
            f"most {maximum} models, so pass a subset of the tasks"
        )


def check_shard_out(out, max_shard_bytes) -> None:
    """Raise if ``max_shard_bytes`` is given without an ``out`` path to shard."""
    if out is None and max_shard_bytes is not None:
        raise ValueError(
            f"max_shard_bytes={max_shard_bytes!r} without out; shards exist only when the "
            "merged model is written: pass out='merged/model.safetensors' or leave it out"
        )


def check_number_text(text: str, name: str) -> float:
    """Return one number of a comma-separated command-line list as a float."""
    try:
        return float(text)
    except ValueError:
        raise ValueError(
            f"{name} holds {text.strip()!r}, which is not a number; pass numbers "
            "separated by commas, e.g. 1,0.5,1"
        ) from None


def check_merge_statistic(frame, name: str, columns, *, statistics=None) -> None:
    """Raise unless ``frame`` is a merge statistic DataFrame with ``columns`` (or statistic)."""
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(
            f"{name} must be a DataFrame of coda.merging.describe, got {type(frame).__name__}; "
            "pass a field of the MergeDescription"
        )
    if columns is not None and list(frame.columns) != list(columns):
        raise ValueError(
            f"{name} must have the columns {list(columns)}, got {list(frame.columns)}; "
            "pass the matching field of coda.merging.describe"
        )
    if statistics is not None and frame.attrs.get("statistic") not in statistics:
        raise ValueError(
            f"{name} must be one of the statistics {list(statistics)} (attrs['statistic']), "
            f"got {frame.attrs.get('statistic')!r}; pass describe(...).shares, .ownership "
            "or .fate"
        )


def check_cluster_client(client, client_type) -> None:
    """Raise unless ``client`` is a ``dask.distributed.Client`` (``client_type``)."""
    if not isinstance(client, client_type):
        raise TypeError(
            f"client is a {type(client).__name__}; expected a dask.distributed.Client, "
            "e.g. Client(LocalCluster()), or None to compute in this process"
        )


def check_cluster_sources(sources: Sequence) -> None:
    """Raise unless every checkpoint (base first, then models) is a path workers can open."""
    for k, source in enumerate(sources):
        if not isinstance(source, (str, os.PathLike)):
            label = "base" if k == 0 else f"models[{k - 1}]"
            raise TypeError(
                f"{label} is a {type(source).__name__}; with client=... every checkpoint "
                "must be a path (str or os.PathLike) that the workers open themselves, so "
                "that paths, not arrays, travel: save it with "
                "coda.merging.write_checkpoint first, or leave client=None"
            )


def check_network_layers(n_layers: int, n_tasks: int) -> None:
    """Raise unless a real-valued task network has more layers than tasks."""
    if n_layers < n_tasks + 1:
        raise ValueError(
            f"the task network of {n_tasks} tasks from interference-loss balances has "
            f"{n_layers} layers with mass; the covariance of {n_tasks} balances is invertible "
            f"and its t tests have df = layers - tasks > 0 only with at least {n_tasks + 1} "
            "layers: describe a model with more layers, or pool fewer tensors per layer"
        )


def check_network_tasks(n_tasks: int) -> None:
    """Raise unless a task network has at least 4 tasks."""
    if n_tasks < 4:
        raise ValueError(
            f"a task network needs at least 4 tasks, got {n_tasks}; with 3 or fewer the "
            "partial correlations are fixed by closure, so merge and describe 4 or more models"
        )
