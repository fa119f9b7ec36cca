"""Checks of data arrays: compositions, coordinates, parts, bases, partitions.

Part of :mod:`coda._validation`, where every user-facing check lives.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from coda._validation._base import (
    CodaWarning,
    _holds_numbers,
    _is_real_dtype,
    _listing,
    _positions,
    check_real_columns,
    check_unmasked,
    float_dtype,
    is_dask,
    numeric_values,
    warn,
)


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
    if isinstance(x, np.ma.MaskedArray):
        # before the ragged-rows test below, which also catches a ValueError
        check_unmasked(x, name, rows=True)
    if isinstance(x, pd.DataFrame):
        check_real_columns(x.dtypes, name, x)
    elif isinstance(x, pd.Series) and not _is_real_dtype(x.dtype):
        fix = (
            f"; convert it first, e.g. {name}.astype(float)" if _holds_numbers(x, x.dtype) else ""
        )
        raise TypeError(f"{name} has dtype {x.dtype}; expected real numbers{fix}")
    try:
        values = numeric_values(x)
    except ValueError:
        # numpy refuses nested sequences of different lengths
        raise ValueError(
            f"{name} has rows of different lengths; every composition needs one value "
            "per part, in a rectangular array (samples x parts)"
        ) from None
    if not _is_real_dtype(values.dtype):
        fix = (
            f"; convert it first, e.g. np.asarray({name}, dtype=float)"
            if _holds_numbers(values.ravel(), values.dtype)
            else ""
        )
        raise TypeError(
            f"{name} has dtype {values.dtype}; expected real numbers "
            f"(integers or floats), one row per sample and one column per part{fix}"
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
    values = values.astype(float_dtype(values.dtype), copy=False)
    if not (values.flags.c_contiguous or values.flags.f_contiguous):
        # A strided view (x[::-1], x[:, ::2]) is copied: numpy's vectorised
        # log skips such views and rounds some values differently, so results
        # would depend on the memory layout, not only on the values. A
        # Fortran-ordered array (a DataFrame's values) is not copied: the
        # functions that multiply its columns by BLAS (shrinkage) take their
        # logs C-ordered, as cheap as any other order.
        values = np.ascontiguousarray(values)
    return values


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
            '"pseudocount", and in one pass over the rows center, variation, clr_cov, '
            "alr_cov, ilr_cov, total_variance, proportionality, balance_correlation, "
            "precision, pcor, partial_variance, multiple_r2 and "
            'pcor_test with method="exact"; see the dask page of the docs)'
        )


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
            f"drop or impute those rows first, e.g. {name}[np.isfinite({name}).all(axis=1)] "
            f"(a DataFrame: {name}.dropna())"
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


def check_part(ref, name: str, parts: Sequence | None, n_parts: int) -> int:
    """Return the position of part ``ref``, given as an index or a part name."""
    if isinstance(ref, (bool, np.bool_)):
        raise TypeError(f"{name} must be a part index or a part name, not a bool")
    if isinstance(ref, (int, np.integer)):
        labelled = [] if parts is None else [i for i, p in enumerate(parts) if p == ref]
        if not -n_parts <= ref < n_parts:
            hint = (
                f" (integers are positions; the part labelled {ref} is at position "
                f"{labelled[0]}: pass {name}={labelled[0]})"
                if len(labelled) == 1
                else ""
            )
            raise ValueError(
                f"{name}={ref} is out of range for {n_parts} parts; "
                f"use an index from {-n_parts} to {n_parts - 1}{hint}"
            )
        position = int(ref) % n_parts
        if labelled and position not in labelled:
            label = parts[position]
            label = label.item() if isinstance(label, np.generic) else label
            warn(
                f"{name}={ref} is read as the position {position} (the part "
                f"{label!r}), not as the part labelled {ref} (at position "
                f"{labelled[0]}): integers are positions; pass {name}={labelled[0]} for that "
                "part, or relabel the parts with text to silence this warning",
                CodaWarning,
            )
        return position
    if ref is None:
        raise TypeError(
            f"{name}=None names no part; pass an integer position"
            + ("" if parts is None else " or a part name")
        )
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
    if isinstance(ref, (float, np.floating)):
        raise ValueError(
            f"{name}={ref!r} is not a part position, which must be an integer, and the data "
            f"have no part names; pass {name}={int(ref)}"
            if float(ref).is_integer()
            else f"{name}={ref!r} is not a part position, which must be an integer, and the "
            "data have no part names; pass an integer position"
        )
    raise ValueError(
        f"{name}={ref!r} is a name, but the data have no part names; "
        "pass an integer position or a DataFrame with named columns"
    )


def check_basis(
    basis, name: str, n_parts: int, *, dtype=np.float64, atol: float = 1e-8
) -> np.ndarray:
    """Return ``basis`` as a D x (D-1) orthonormal matrix in clr coordinates.

    A basis stored in float32 or float16 needs to be orthonormal to ``atol``
    or to 64 units in the last place of its dtype, whichever is larger.
    Bases for more than 1,024 parts are first tested with 16 random probes,
    new on each call (O(D^2) instead of the O(D^3) of ``V^T V``); only a
    basis the probes cannot clear gets the exact test (``_probes_clear``).

    Raises
    ------
    ValueError
        If the shape is wrong, if a column does not sum to zero (it then is no
        clr vector), or if the columns are not orthonormal.
    """
    values = numeric_values(basis, name)
    if not _is_real_dtype(values.dtype):
        raise TypeError(f"{name} has dtype {values.dtype}; expected a real matrix")
    if values.dtype.kind == "f" and values.dtype.itemsize < 8:
        # A float32 (or float16) basis is orthonormal only to its own precision.
        atol = max(atol, 64 * float(np.finfo(values.dtype).eps))
    values = values.astype(np.float64, copy=False)
    expected = (n_parts, n_parts - 1)
    if values.shape != expected:
        hint = " (it looks transposed: pass basis.T)" if values.shape == expected[::-1] else ""
        raise ValueError(
            f"{name} has shape {values.shape}; a basis for {n_parts} parts is a "
            f"{expected[0]} x {expected[1]} matrix, one clr column per coordinate{hint}"
        )
    if not np.isfinite(values).all():
        raise ValueError(
            f"{name} contains NaN or infinite values; pass a finite orthonormal basis, "
            "e.g. coda.ilr_basis(D) or coda.sbp_basis(sbp)"
        )
    sums = np.abs(values.sum(axis=0)).max()
    if sums > atol or not _probes_clear(values, atol):
        gram_err = np.abs(values.T @ values - np.eye(n_parts - 1)).max()
        if sums > atol or gram_err > atol:
            raise ValueError(
                f"{name} is not an orthonormal basis of the clr plane (largest |column sum| "
                f"{sums:.2g}, largest |V^T V - I| {gram_err:.2g}); build one with "
                "coda.ilr_basis(...) or coda.sbp_basis(...)"
            )
    return values.astype(dtype, copy=False)


# V^T V costs O(D^3): 2.4 s at D = 6,000 and about 19 s at 10,000, several
# times the ilr of 1,000 samples in that basis. Bases for more parts are first
# tested with random probes, O(D^2); the ones the probes cannot clear get the
# exact test, so which bases pass does not change (see _probes_clear).
_EXACT_GRAM_PARTS = 1024
_PROBES = 16


def _probes_clear(values: np.ndarray, atol: float) -> bool:
    """True when random probes show that every entry of ``V^T V - I`` is within ``atol``.

    For ``E = V^T V - I`` (symmetric) and a standard normal probe ``w``,
    ``|E w|^2 >= lam (u . w)^2``, where ``lam`` is the largest eigenvalue of
    ``E^2`` with eigenvector ``u``, and every ``|E_ij| <= sqrt(lam)``. Over
    ``_PROBES`` independent probes the ``(u . w)^2`` add up to a chi-square
    with 16 degrees of freedom. So if some ``|E_ij| > atol``, the residuals
    total less than ``atol^2 / 10`` only when that chi-square falls below 0.1,
    probability 9e-16. Valid float64 bases total near ``1e-22`` at 10,000
    parts. False (the caller then forms ``V^T V``) for ``_EXACT_GRAM_PARTS``
    parts or fewer, or when the probes do not clear the basis. The probes are
    drawn afresh on each call (the system's entropy): from a fixed seed they
    would be known, and a basis whose error is orthogonal to them would pass.
    The answer is the exact test's but with that chance, whatever the basis.
    """
    if values.shape[0] <= _EXACT_GRAM_PARTS:
        return False
    probes = np.random.default_rng().standard_normal((values.shape[1], _PROBES))
    residual = values.T @ (values @ probes) - probes
    return float(np.einsum("ij,ij->", residual, residual)) < 0.1 * atol**2


def check_sbp(sbp, name: str = "sbp", *, n_parts: int | None = None) -> np.ndarray:
    """Return ``sbp`` as an int8 (D-1) x D matrix of +1/-1/0 after checking it.

    A sequential binary partition splits all parts into two groups (the row
    without zeros), and then each group of two or more parts again, until
    every group holds one part: each row after the first splits exactly one
    group made by an earlier split, and every group is split once.
    """
    if isinstance(sbp, np.ma.MaskedArray):
        check_unmasked(sbp, name)
    try:
        values = numeric_values(sbp, name)
    except ValueError:  # rows of different lengths
        raise ValueError(
            f"{name} has rows of different lengths; a partition is a matrix with one row "
            "per balance and one column per part"
        ) from None
    if values.ndim != 2 or values.size == 0:
        raise ValueError(
            f"{name} must be a 2-D matrix with one row per balance and one column "
            f"per part; got shape {values.shape}"
        )
    if not _is_real_dtype(values.dtype) or not _signs_only(values).all():
        found = np.unique(values[~_signs_only(values)]).tolist()
        got = _listing(found) if found else f"values of dtype {values.dtype}"
        raise ValueError(
            f"{name} must contain only +1, -1 and 0; got {got}: "
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
    for i, row in enumerate(values):
        if not (row > 0).any() or not (row < 0).any():
            raise ValueError(f"{name} row {i} must have at least one +1 and one -1")
    # The rows by the group they split (its parts as a mask), then the tree
    # walked down from all parts: O(D^2) whatever the order of the rows.
    by_group = {}
    for i, row in enumerate(values):
        by_group.setdefault((row != 0).tobytes(), i)
    split = set()
    wanted = [np.ones(d, dtype=bool)]
    while wanted:
        row = by_group.get(wanted.pop().tobytes())
        if row is not None:  # else no row splits that group: a row is left over
            split.add(row)
            wanted += [side for side in (values[row] > 0, values[row] < 0) if side.sum() > 1]
    if len(split) != n_rows:
        bad = sorted(set(range(n_rows)) - split)
        raise ValueError(
            f"{name} is not a sequential binary partition: row(s) {_listing(bad)} do not "
            "split a group made by an earlier row (the first split must use every part, "
            "and each later row must split exactly one of the groups made before)"
        )
    return values


def _signs_only(values: np.ndarray) -> np.ndarray:
    """Where ``values`` are -1, 0 or +1: three comparisons, 15x faster than ``np.isin``."""
    return (values == 0) | (values == 1) | (values == -1)


def check_pair(pair, name: str, parts: Sequence | None, n_parts: int) -> tuple[int, int]:
    """Return the positions of exactly two distinct parts."""
    if isinstance(pair, (str, int, np.integer)) or len(list(pair)) != 2:
        raise ValueError(f"{name}={pair!r}; expected two distinct parts, e.g. {name}=['Al', 'Fe']")
    i, j = check_parts(pair, name, parts, n_parts)
    return i, j


def check_parts(given, name: str, parts: Sequence | None, n_parts: int) -> list[int]:
    """Return the positions of a non-empty list of distinct parts."""
    if isinstance(given, (str, int, np.integer)) or not np.iterable(given):
        # One part: a name, a position, or anything else check_part explains (1.0).
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
    values = numeric_values(value, name)
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


def check_no_zeros(values: np.ndarray, name: str, *, fix: str, row_labels=None) -> None:
    """Raise if ``values`` has zeros, with a fix suited to the caller (e.g. a CLI flag)."""
    zeros = values == 0
    if zeros.any():
        rows, total = _positions(zeros, row_labels)
        raise ValueError(
            f"{name} has {int(zeros.sum())} zeros (rows {_listing(rows, total)}); log-ratios "
            f"need positive parts: {fix}"
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


def check_coordinates(values: np.ndarray, name: str, *, row_labels=None) -> None:
    """Raise if log-ratio coordinates hold NaN or infinite values."""
    bad = ~np.isfinite(values)
    if bad.any():
        rows, total = _positions(bad, row_labels)
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


def check_power_rows(a_index: pd.Index, x_index: pd.Index) -> None:
    """Raise unless per-row powers given as a Series are labelled like the rows of ``x``."""
    if not a_index.equals(x_index):
        raise ValueError(
            "a is a Series whose index is not x's index, and powers are matched to rows by "
            "position; align it first, e.g. a.loc[x.index], or pass a.to_numpy() to take "
            "the powers in row order"
        )


def check_powers(a, name: str, n_rows: int) -> np.ndarray:
    """Return ``a`` as finite float powers: a scalar or one per row."""
    if isinstance(a, np.ma.MaskedArray):
        check_unmasked(a, name)
    try:
        values = np.asarray(a)
    except ValueError:
        values = np.asarray(None)  # a ragged sequence: refused just below
    if isinstance(a, (bool, np.bool_)) or not _is_real_dtype(values.dtype):
        raise TypeError(f"{name}={a!r} is not a number; pass a real scalar or one per row")
    values = values.astype(float)
    if values.ndim > 1 or (values.ndim == 1 and values.shape[0] != n_rows):
        raise ValueError(
            f"{name} has shape {values.shape}; pass a scalar or one value per row ({n_rows})"
        )
    if not np.isfinite(values).all():
        raise ValueError(f"{name} contains NaN or infinite values; powers must be finite")
    return values
