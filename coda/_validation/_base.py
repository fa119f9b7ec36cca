"""Warnings, row numbering, and checks of scalar options (numbers, flags, choices).

Part of :mod:`coda._validation`, where every user-facing check lives.
"""

from __future__ import annotations

import contextlib
import contextvars
import sys
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

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


# Frames of files under this folder are coda's own; warnings point past them.
_PACKAGE = str(Path(__file__).resolve().parent.parent) + "/"
# pandas builds ``df.coda`` here: a warning of the accessor names the user's line.
_PANDAS_ACCESSOR = str(Path(pd.core.accessor.__file__).resolve())


def _inside(filename: str) -> bool:
    """Whether a frame of ``filename`` is coda's, or pandas' making of ``df.coda``."""
    path = str(Path(filename).resolve())
    return path.startswith(_PACKAGE) or path == _PANDAS_ACCESSOR


def warn(message: str, category: type[Warning]) -> None:
    """Warn with ``message``, attributed to the first caller outside coda.

    However many of coda's functions lie between the user's call and the
    warning (``pcor(method="glasso")`` reaches the graphical lasso through
    three), the warning names the user's line, so that its filename and line
    number say where to look and filters by module work.
    """
    frame, level = sys._getframe(1), 1
    while frame is not None and _inside(frame.f_code.co_filename):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level + 1)


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

    float32 stays float32 (model statistics are float32), in either byte
    order; everything else, integers (counts) included, is computed in
    float64 (native byte order, as the kernels need).
    """
    dtype = np.dtype(dtype)
    return (
        np.dtype(np.float32) if dtype.kind == "f" and dtype.itemsize == 4 else np.dtype(np.float64)
    )


def _is_real_dtype(dtype) -> bool:
    if isinstance(dtype, pd.api.extensions.ExtensionDtype):
        # pandas' nullable integers and floats (Int64, Float64, ...), missing
        # values included: numeric_values makes them floats with NaN.
        return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
    return np.dtype(dtype).kind in "iuf"


def numeric_values(obj, name: str | None = None) -> np.ndarray:
    """Return ``obj`` as a numpy array, without copying when possible.

    pandas objects whose columns are all numbers, some of them pandas'
    nullable (extension) types, become a float array with NaN where values
    are missing, instead of numpy's object array; anything else is passed to
    ``np.asarray`` (pandas objects through ``to_numpy``). A numpy masked
    array with masked values is refused (``name`` is the argument's name):
    ``np.asarray`` would keep the values under the mask.
    """
    if isinstance(obj, np.ma.MaskedArray):
        check_unmasked(obj, name)
    if isinstance(obj, pd.DataFrame):
        dtypes = list(obj.dtypes)
    elif isinstance(obj, pd.Series):
        dtypes = [obj.dtype]
    else:
        return np.asarray(obj)
    extension = [isinstance(dt, pd.api.extensions.ExtensionDtype) for dt in dtypes]
    if any(extension) and all(_is_real_dtype(dt) for dt in dtypes):
        # Nullable types name their numpy type numpy_dtype; sparse ones, subtype.
        common = np.result_type(
            *[getattr(dt, "numpy_dtype", None) or getattr(dt, "subtype", dt) for dt in dtypes]
        )
        return obj.to_numpy(dtype=float_dtype(common), na_value=np.nan)
    return obj.to_numpy()


def check_unmasked(obj: np.ma.MaskedArray, name: str | None = None, *, rows: bool = False):
    """Raise if the masked array ``obj`` masks any value (``name`` is the argument's name).

    numpy's functions, and so coda's, read the values under a mask as if
    they were data: a masked value would silently enter the results. With
    ``rows`` (rows are samples), the message lists the rows and suggests
    dropping them.
    """
    mask = np.ma.getmaskarray(obj)
    if not mask.any():
        return
    shown = name or "values"
    count = int(mask.sum())
    where, fix = "", f"fill them first, e.g. {shown}.filled(...)"
    if rows and mask.ndim == 2:
        listed, total = _positions(mask)
        where = f" (rows {_listing(listed, total)})"
        fix = (
            f"drop those rows first, e.g. {shown}[~{shown}.mask.any(axis=1)], "
            f"or fill them, e.g. {shown}.filled(...)"
        )
    raise ValueError(
        f"{name or 'the array'} is a masked array with {count} masked "
        f"value{'s' if count != 1 else ''}{where}; numpy would use the values under the "
        f"mask as data, so they are refused: {fix}"
    )


def _holds_numbers(values, dtype) -> bool:
    """Whether a column of object ``dtype`` holds only real numbers.

    Such columns (from mixed Python values, or a transposed frame) convert
    with ``astype(float)``. Categoricals are labels, not amounts: never.
    """
    if not pd.api.types.is_object_dtype(dtype):
        return False
    values = list(values)
    return bool(values) and all(
        isinstance(v, (int, float, np.integer, np.floating))
        and not isinstance(v, (bool, np.bool_))
        for v in values
    )


def check_real_columns(dtypes: pd.Series, name: str, frame: pd.DataFrame | None = None) -> None:
    """Raise a TypeError naming the columns whose ``dtypes`` are not real numbers.

    With ``frame`` (the DataFrame of ``dtypes``), columns of object dtype
    that hold numbers are named apart, with the conversion they need.
    """
    bad = [(p, c, dt) for p, (c, dt) in enumerate(dtypes.items()) if not _is_real_dtype(dt)]
    if not bad:
        return
    held = [frame is not None and _holds_numbers(frame.iloc[:, p], dt) for p, _, dt in bad]
    numbers = [(c, dt) for (_, c, dt), h in zip(bad, held, strict=True) if h]
    text = [str(c) for (_, c, _), h in zip(bad, held, strict=True) if not h]
    listed = _listing([f"{c} ({dt})" for c, dt in numbers])
    if numbers and not text:
        raise TypeError(
            f"{name} holds numbers in columns whose dtype is not numeric: {listed}; "
            f"convert them first, e.g. {name}.astype(float)"
        )
    convert = (
        f"; the columns {listed} hold numbers in a dtype that is not numeric: convert "
        f"them, e.g. {name}.astype({{{numbers[0][0]!r}: float}})"
        if numbers
        else ""
    )
    raise TypeError(
        f"{name} has non-numeric columns: {_listing(text)}; select the "
        f"numeric parts first, e.g. {name}[[...numeric columns...]], or "
        f"move identifiers into the index with {name}.set_index(...){convert}"
    )


def _positions(mask: np.ndarray, row_labels=None) -> tuple[list, int]:
    rows = np.flatnonzero(mask.any(axis=1))
    if row_labels is not None:
        return [row_labels[r] for r in rows[:_MAX_LISTED]], rows.size
    return (rows[:_MAX_LISTED] + _ROW_OFFSET.get()).tolist(), rows.size


def check_option(value, name: str, options: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``options``; raise otherwise."""
    options = tuple(options)
    if not isinstance(value, str) or value not in options:
        raise ValueError(
            f"{name}={value!r} is not a known option; choose one of "
            + ", ".join(repr(o) for o in options)
        )
    return value


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


def check_total(total, dtype=np.float64) -> float:
    """Return ``total`` if it is a positive number the result's ``dtype`` holds as a normal one."""
    if isinstance(total, (bool, np.bool_)) or not isinstance(total, (int, float, np.number)):
        raise TypeError(f"total={total!r}; expected a positive number such as 1 or 100")
    total = float(total)
    if not (np.isfinite(total) and total > 0):
        raise ValueError(f"total={total!r}; expected a finite positive number such as 1 or 100")
    info = np.finfo(dtype)
    if not float(info.tiny) <= total <= float(info.max):
        wider = "pass x as float64 (x.astype('float64')) or " if info.bits < 64 else ""
        raise ValueError(
            f"total={total!r} is outside the range of {np.dtype(dtype)}, the dtype of the "
            f"result (normal numbers from {float(info.tiny):.4g} to {float(info.max):.4g}): "
            f"the rows would overflow or lose their digits; {wider}choose a total in that range"
        )
    return total


def check_count(value, name: str, *, minimum: int = 1) -> int:
    """Return ``value`` as an int if it is an integer ``>= minimum``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}={value!r}; expected an integer >= {minimum}")
    if value < minimum:
        raise ValueError(f"{name}={value!r}; expected an integer >= {minimum}")
    return int(value)


def seeded_rng(seed, name: str = "seed") -> np.random.Generator:
    """Return ``np.random.default_rng(seed)``, with an error that names ``name``.

    numpy's own messages ("expected non-negative integer") do not say which
    argument was wrong.
    """
    if isinstance(seed, (bool, np.bool_)):
        raise TypeError(f"{name}={seed!r}; pass None, a non-negative integer or a numpy Generator")
    try:
        return np.random.default_rng(seed)
    except (TypeError, ValueError) as error:
        raise type(error)(
            f"{name}={seed!r} is not a seed ({error}); pass None, a non-negative integer or "
            "a numpy Generator"
        ) from None


def check_integer(value, name: str, *, minimum: int, maximum: int | None = None) -> int:
    """Return ``value`` as an int if it is an integer at least ``minimum`` (at most ``maximum``).

    ``maximum`` is for integers that numpy must hold, e.g. ``np.iinfo(np.int64).max``.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}={value!r}; expected an integer of at least {minimum}")
    if value < minimum:
        raise ValueError(f"{name}={value}; expected an integer of at least {minimum}")
    if maximum is not None and value > maximum:
        raise ValueError(
            f"{name}={value}; expected an integer from {minimum} to {maximum}; "
            f"pass a smaller {name}"
        )
    return int(value)


def check_fraction(value, name: str, *, closed: bool = False) -> float:
    """Return ``value`` as a float in ``(0, 1)``, or ``(0, 1]`` when ``closed``."""
    interval = "(0, 1]" if closed else "(0, 1)"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"{name}={value!r}; expected a number in {interval}")
    if not (0.0 < value < 1.0 or (closed and value == 1.0)):
        raise ValueError(f"{name}={value!r}; expected a number in {interval}")
    return float(value)


def check_flag(value, name: str, *, allow_none: bool = False) -> bool | None:
    """Return ``value`` if it is a bool (or None when ``allow_none``)."""
    if value is None and allow_none:
        return None
    if not isinstance(value, (bool, np.bool_)):
        allowed = "True, False or None" if allow_none else "True or False"
        raise TypeError(f"{name}={value!r}; expected {allowed}")
    return bool(value)


def check_value_range(value, name: str) -> tuple[float, float]:
    """Return a ``(low, high)`` pair of finite non-negative numbers with ``low <= high``."""
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise TypeError(f"{name}={value!r}; expected a pair (low, high) of numbers") from None
    if not (np.isfinite(low) and np.isfinite(high) and 0 <= low <= high):
        raise ValueError(f"{name}={value!r}; expected 0 <= low <= high, both finite")
    return low, high


def check_real(value, name: str) -> float:
    """Return ``value`` as a float if it is a finite real number."""
    return _real_scalar(value, name, "a finite number")


def check_number_text(text: str, name: str) -> float:
    """Return one number of a comma-separated command-line list as a float."""
    try:
        return float(text)
    except ValueError:
        raise ValueError(
            f"{name} holds {text.strip()!r}, which is not a number; pass numbers "
            "separated by commas, e.g. 1,0.5,1"
        ) from None
