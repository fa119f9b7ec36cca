"""Checks of files and tables: CSV and data files, accessor frames, numbers written as text.

Part of :mod:`coda._validation`, where every user-facing check lives.
"""

from __future__ import annotations

import decimal
import math
import numbers as numbers_module
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from coda._validation._base import (
    _MAX_LISTED,
    CodaWarning,
    _is_real_dtype,
    _listing,
    warn,
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
    if not parts and ignored and len(obj) == 0:
        # A file with a header and no rows: pandas types every column as text.
        raise AttributeError(
            "DataFrame.coda needs numeric part columns, but the frame has no rows, so its "
            f"columns {_listing([str(c) for c in ignored])} have no values to be numbers; "
            "check that the data were read (a file with a header line only gives this)"
        )
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


def warn_numbers_as_text(obj: pd.DataFrame) -> None:
    """Warn about ignored text columns that hold numbers: parts a file's reader typed as text.

    A column with one cell such as ``"<0.01"`` or ``"n.d."`` is read as text,
    and ``df.coda`` would leave that part out without a word. A column is
    named when its first 1,000 rows are numbers as text by
    :func:`numbers_as_text`, or (in a warning of its own) numbers of object
    dtype by :func:`_numbers_as_objects`.
    """
    found = {"text": [], "objects": []}
    for position, (column, dtype) in enumerate(obj.dtypes.items()):
        if pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype):
            cells = obj.iloc[:1000, position].tolist()
            text = numbers_as_text(cells)
            if text is not None:
                found["text"].append((column, text[0]))
            elif (number := _numbers_as_objects(cells)) is not None:
                found["objects"].append((column, number))
    what = {
        "text": (
            "the text columns {}, which hold numbers stored as text",
            "df[col] = pd.to_numeric(df[col], errors='coerce') after writing values below "
            "a detection limit (such as '<0.01') as 0 for coda.replace_zeros, and decimal "
            "commas as points",
        ),
        "objects": (
            "the columns {}, of object dtype but holding numbers",
            "df[col] = pd.to_numeric(df[col])",
        ),
    }
    for kind, (columns, convert) in what.items():
        if found[kind]:
            listed = _listing([f"{c!r} (e.g. {v!r})" for c, v in found[kind]])
            warn(
                f"DataFrame.coda leaves out {columns.format(listed)}; if they are parts, "
                f"convert them first, e.g. {convert}; drop them from the frame to silence "
                "this warning",
                CodaWarning,
            )


def numbers_as_text(values) -> tuple[str, set[str]] | None:
    """A telling cell and the ways numbers are written, if ``values`` are numbers as text.

    Only text cells count. None unless at least half of them read as numbers
    (after a leading ``<`` or ``>``, a decimal comma read as a point), and
    None when every one is a whole number written plainly (identifiers such
    as ``"007"``). The ways: ``"limit"`` (``"<0.01"``), ``"comma"``
    (``"0,5"``), ``"whole"`` and ``"plain"``. The telling cell is the first
    that is not written plainly (``"<0.01"``, ``"0,5"``, ``"n.d."``), else
    the first.
    """
    cells = [v.strip() for v in values if isinstance(v, str) and v.strip()]
    ways = [_written_as(cell) for cell in cells]
    read = [way for way in ways if way is not None]
    if not cells or 2 * len(read) < len(cells) or all(way == "whole" for way in ways):
        return None
    odd = [cell for cell, way in zip(cells, ways, strict=True) if way not in ("whole", "plain")]
    return (odd or cells)[0], set(read)


def _numbers_as_objects(values):
    """The first cell, if every cell that is not missing is a real number but not all whole.

    Such a column (object dtype, e.g. built from mixed Python values) holds
    a part that ``df.coda`` would leave out. Booleans are not numbers here,
    and whole numbers alone are taken for identifiers, as in
    :func:`numbers_as_text`.
    """
    cells = [v for v in values if v is not None and not (isinstance(v, float) and v != v)]
    # decimal.Decimal is not a numbers.Real: pandas reads Parquet decimal columns
    # (pyarrow's default) as objects holding them.
    numbers = [
        v
        for v in cells
        if isinstance(v, (numbers_module.Real, decimal.Decimal))
        and not isinstance(v, (bool, np.bool_))
    ]
    finite = [float(v) for v in numbers if math.isfinite(v)]
    if not cells or len(numbers) < len(cells) or all(v == math.floor(v) for v in finite):
        return None
    return numbers[0]


def _written_as(cell: str) -> str | None:
    """How the text ``cell`` writes a number (see :func:`numbers_as_text`), or None."""
    try:
        number = float(cell.lstrip("<>").strip().replace(",", "."))
    except ValueError:
        return None
    if not math.isfinite(number):
        return None
    if cell[:1] in ("<", ">"):
        return "limit"
    if "," in cell:
        return "comma"
    return "whole" if number == math.floor(number) else "plain"


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


def check_one_column(frame: pd.DataFrame, label, name: str) -> int:
    """Return the position of the one column of ``frame`` that ``label`` names.

    Call when ``label in frame.columns``. A label that names several columns
    names the one ``df.coda`` ignores (not real-valued), if only one is; a
    part's values are not what such an option asks for. Raise if ``label``
    still names more than one column.
    """
    columns = list(frame.columns)
    # ``in`` matches by identity first (a NaN label), then by equality
    named = [k for k, column in enumerate(columns) if column is label or column == label]
    if len(named) > 1:
        ignored = [k for k in named if not _is_real_dtype(frame.dtypes.iloc[k])]
        named = ignored or named
    if len(named) > 1:
        raise ValueError(
            f"{name}={label!r} names {len(named)} columns (positions "
            f"{', '.join(map(str, named))}); pass one of them, e.g. "
            f"{name}=df.iloc[:, {named[-1]}], or rename the others"
        )
    return named[0]


def check_numeric_columns(frame: pd.DataFrame, name: str, *, fix: str) -> None:
    """Raise if ``frame`` has non-numeric columns, with a fix suited to the caller."""
    bad = [str(c) for c, dt in frame.dtypes.items() if not _is_real_dtype(dt)]
    if bad:
        raise TypeError(f"{name} has non-numeric columns: {_listing(bad)}; {fix}")


def check_path(path, name: str, *, example: str = "data/roman_cups.csv") -> Path:
    """Return ``path`` (a str or os.PathLike) as a :class:`pathlib.Path`.

    ``example`` is the path the message suggests (a file, or a folder).
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"{name}={path!r}; expected a path (a str or pathlib.Path), e.g. {name}='{example}'"
        )
    return Path(path)


def check_folder(path, name: str, *, fix: str) -> None:
    """Raise NotADirectoryError if ``path``, or the nearest existing folder above it, is a file.

    For an output or cache folder that is created when missing: checked
    before any work, which could otherwise run only to find nowhere to go.
    ``name`` says where the path came from (``"--out 'x'"``, ``"cache_dir='x'"``);
    ``fix`` ends the message.
    """
    path = Path(path)
    for folder in (path, *path.parents):
        if folder.exists():
            if folder.is_dir():
                return
            where = "is a file" if folder == path else f"is inside {str(folder)!r}, a file"
            raise NotADirectoryError(f"{name} {where}; it must be a folder: {fix}")


def check_files_free(folder, files, name: str, *, writer: str, option: str) -> None:
    """Raise IsADirectoryError if ``folder`` holds a folder under the name of one of ``files``.

    Checked before any work: such a folder would stop the writing after the
    files before it were written. ``name`` says where ``folder`` came from
    (``"--out 'x'"``), ``writer`` what writes the files, ``option`` what to
    change.
    """
    taken = [file for file in files if (Path(folder) / file).is_dir()]
    if taken:
        raise IsADirectoryError(
            f"{name} holds folders named {', '.join(taken)}, where {writer} writes files; "
            f"move them away or pass another {option}"
        )


def read_csv_table(source, name: str, *, fix: str) -> pd.DataFrame:
    """``pd.read_csv(source)``, with an error naming ``name`` for a file that is not CSV text.

    pandas' own messages ("No columns to parse from file") do not say which
    file; ``fix`` ends the message. Rows with one field more than the header
    are refused: pandas would take their first field as the row labels and
    shift every value one column to the left.
    """
    try:
        with warnings.catch_warnings():
            # index_col=False: pandas warns of rows longer than the header
            # instead of silently making their first field the index.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            return pd.read_csv(source, index_col=False)
    except pd.errors.ParserWarning as error:
        raise ValueError(
            f"{name} has rows with more fields than its header has names, so its values "
            f"would be read under the wrong columns; {fix} (give every column a name in "
            "the header, and no row more fields than that)"
        ) from error
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise ValueError(f"{name} is not a readable CSV file ({error}); {fix}") from error


def check_data_file(
    path,
    name: str = "path",
    *,
    suffixes: Sequence[str],
    kinds: str,
    example: str,
    folder_hint: str = "",
) -> Path:
    """Return ``path`` as a Path to an existing file whose suffix is one of ``suffixes``.

    ``suffixes`` are matched in lower case; ``kinds`` describes them in
    messages as the files are spelled (``"a CSV file (.csv) or an R data
    file (.RData or .rda)"``). A folder is refused with the file name
    ``example`` in it as the suggestion, followed by ``folder_hint``.
    """
    path = check_path(path, name)
    if path.is_dir():
        raise IsADirectoryError(
            f"{name}={str(path)!r} is a folder; it must name the file itself, {kinds}, "
            f"e.g. {name}={str(path / example)!r}{folder_hint}"
        )
    if not path.is_file():
        raise FileNotFoundError(
            f"{name}={str(path)!r} is not an existing file; check the spelling, "
            "or leave it out to use the other places the loader searches"
        )
    if path.suffix.lower() not in {suffix.lower() for suffix in suffixes}:
        raise ValueError(f"{name}={str(path)!r} has the suffix {path.suffix!r}; expected {kinds}")
    return path


def _row_digests(table: pd.DataFrame, decimals: int = 6) -> list[str]:
    """The SHA-256 of each row's values to ``decimals``, its first 16 hex digits.

    Unlike the SHA-256 of a file, it does not depend on how the file writes
    the numbers (``5`` or ``5.0``, line endings, quoting), only on what they are.
    """
    import hashlib

    return [
        hashlib.sha256(",".join(f"{v:.{decimals}f}" for v in row).encode("ascii")).hexdigest()[:16]
        for row in table.to_numpy(dtype=np.float64)
    ]


def check_published_rows(table: pd.DataFrame, name: str, *, published: Sequence[str], fix: str):
    """Raise if ``table`` is a damaged copy of a published table: truncated, or rows changed.

    ``table`` is indexed by the integer row ids 1, 2, ... of the published
    table, whose rows have the :func:`_row_digests` ``published``. A table
    none of whose rows is a published row is another table, and passes: a
    copy is one with at least one. It must then hold every published row,
    unchanged, and no other. ``fix`` ends the message.
    """
    ids = [int(i) for i in table.index]
    digests = _row_digests(table)
    n = len(published)
    same = [1 <= i <= n and published[i - 1] == d for i, d in zip(ids, digests, strict=True)]
    if not any(same):
        return
    what = table.index.name or "row"
    extra = [i for i in ids if not 1 <= i <= n]
    if extra:
        shown = _listing([f"{what} {i}" for i in extra[:_MAX_LISTED]], len(extra))
        raise ValueError(
            f"{name} is a copy of the published data with rows they do not have ({shown}; "
            f"the published data have {what}s 1 to {n}): the file was changed; {fix}"
        )
    changed = [i for i, ok in zip(ids, same, strict=True) if not ok]
    if changed:
        shown = _listing([f"{what} {i}" for i in changed[:_MAX_LISTED]], len(changed))
        raise ValueError(
            f"{name} is a copy of the published data whose values differ from them in "
            f"{shown}: the file is damaged or was changed; {fix}"
        )
    missing = sorted(set(range(1, n + 1)) - set(ids))
    if missing:
        shown = _listing([f"{what} {i}" for i in missing[:_MAX_LISTED]], len(missing))
        raise ValueError(
            f"{name} holds {len(ids)} of the {n} rows of the published data, without "
            f"{shown}: the file is truncated or rows were deleted; {fix}"
        )


def _cell(value) -> str:
    """Show a table cell in a message: ``'abc'``, ``inf`` or ``missing``."""
    if pd.isna(value):
        return "missing"
    return repr(value.item() if isinstance(value, np.generic) else value)


def _table_rows(table: pd.DataFrame, index: str, column: str, rows: np.ndarray) -> str:
    """Name the ``rows`` (positions) of ``table`` by their ``index`` labels: ``cup 3, cup 5``.

    The rows of the ``index`` column itself, whose labels are what is wrong,
    are named by position counted from 1: ``row 3, row 5``.
    """
    if column == index:
        return _listing([f"row {r + 1}" for r in rows[:_MAX_LISTED]], rows.size)
    # The index column is checked first: every label here is a finite number.
    labels = pd.to_numeric(table[index]).iloc[rows[:_MAX_LISTED]]
    shown = [int(label) if float(label).is_integer() else float(label) for label in labels]
    return _listing([f"{index} {label}" for label in shown], rows.size)


def check_table(table: pd.DataFrame, name: str, *, index: str, columns: Sequence[str]):
    """Return ``table`` as floats in ``columns``, indexed by its integer ``index`` column.

    ``table`` must have exactly the column ``index`` (unique integers) and the
    ``columns`` (numbers, no missing values), in any order. A bad value is
    named with its row: by its ``index`` label (``cup 3``), or, in the
    ``index`` column itself, by its position counted from 1.
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
                f"({shown}) at {_table_rows(table, index, column, rows)}; the file is "
                "damaged or not this data set: fetch it again"
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
