"""The checks and the table reader of the ``coda`` command (:mod:`coda.cli`).

The library's own checks name Python arguments (``x``, ``n_samples=``,
``method="gbm"``); these name the command's files and options, and suggest
fixes a user of the command can make.
"""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from coda._validation import (
    _listing,
    check_column,
    check_files_free,
    check_folder,
    check_integer,
    check_numeric_columns,
    numbers_as_text,
    read_csv_table,
)

__all__ = [
    "check_demo_size",
    "check_out_folder",
    "check_seed",
    "read_table",
    "replace_zeros_of",
]

# A first column with one of these names holds sample identifiers, not a part.
_ID_NAME = re.compile(r"(id|samples?|sample[ _.-]?ids?|cups?|names?|labels?|.*[ _.-]id)", re.I)
# Separators other than the comma that a spreadsheet may write.
_SEPARATORS = {";": "semicolons", "\t": "tabs"}


def check_out_folder(out: str, files=()) -> None:
    """Raise unless ``--out`` can be a folder and none of ``files`` in it is a folder."""
    check_folder(
        out,
        f"--out {out!r}",
        fix="--out names a folder (created if missing); pass another name, or move the file away",
    )
    check_files_free(out, files, f"--out {out!r}", writer="coda", option="--out")


def check_seed(seed: int) -> int:
    """Return ``--seed`` if it is a seed numpy takes."""
    # numpy's own message ("expected non-negative integer") does not say which option.
    return check_integer(seed, "--seed", minimum=0)


def check_demo_size(n: int, parts: int, method: str) -> None:
    """Raise unless ``coda demo --n N --parts D --method M`` can be estimated."""
    # simulate and pcor name n_samples=, n_parts= and x.
    check_integer(n, "--n", minimum=3)
    check_integer(parts, "--parts", minimum=3)
    if method == "exact" and n <= parts - 1:
        raise ValueError(
            f"--n {n} samples of --parts {parts} parts: the clr covariance has rank at most "
            f"{n - 1} < D - 1 = {parts - 1}, so its exact inverse does not exist; pass "
            f"--n {parts} or more, fewer --parts, or --method shrink, bshrink or glasso"
        )


def _check_text_columns(frame: pd.DataFrame, name: str, *, first: bool) -> None:
    """Raise if text columns of ``frame`` are numbers as text or a file not split by commas."""
    columns = [str(c) for c in frame.columns]
    separators = [word for sep, word in _SEPARATORS.items() if any(sep in c for c in columns)]
    if len(columns) == 1 and separators:
        raise ValueError(
            f"{name} is separated by {separators[0]}, not commas: its one column is "
            f"{columns[0]!r}; save it as comma-separated CSV (with a decimal point: 0.5, "
            "not 0,5)"
        )
    found, kinds = [], set()
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            continue
        text = numbers_as_text(values.iloc[:1000].tolist())
        if text is not None:
            found.append(f"{column} (e.g. {text[0]!r})")
            kinds |= text[1]
    if not found:
        return
    fixes = []
    if "limit" in kinds:
        fixes.append(
            "write a value below a detection limit such as '<0.01' as 0 and pass --zeros "
            "multiplicative"
        )
    if "comma" in kinds:
        fixes.append("write decimals with a point (0.5, not 0,5)")
    fixes.append("leave only numbers in the part columns")
    if first:
        fixes.append("if the first column holds sample identifiers, name it with --index-col")
    raise ValueError(
        f"{name} has numbers written as text in columns {_listing(found)}, which would not "
        f"be read as parts; {'; '.join(fixes)}"
    )


def _check_cells(frame: pd.DataFrame, name: str) -> None:
    """Raise if ``frame`` has empty columns, or empty, NaN or infinite cells."""
    values = frame.to_numpy(dtype=float)
    missing = ~np.isfinite(values)
    empty = [
        "one with no name" if str(column).startswith("Unnamed: ") else str(column)
        for k, column in enumerate(frame.columns)
        if missing[:, k].all()
    ]
    if empty:
        raise ValueError(
            f"{name} has columns with no numbers: {_listing(empty)}; delete them (a comma "
            "at the end of every line makes one with no name)"
        )
    if missing.any():
        cells = [
            f"{frame.columns[k]} (rows {_listing([str(r) for r in frame.index[missing[:, k]]])})"
            for k in range(frame.shape[1])
            if missing[:, k].any()
        ]
        raise ValueError(
            f"{name} has {int(missing.sum())} empty, NaN or infinite cells, in columns "
            f"{_listing(cells)}; fill them in, or delete those rows from the file"
        )


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _check_header(written: list, name: str) -> None:
    """Raise if the header row ``written`` is a row of data: the file has no header.

    pandas takes the first row for the part names whatever it holds, and the
    first sample is lost. Whole numbers alone can be names (taxon ids such as
    ``101``), so only a row of numbers with one that is not whole is refused.

    This is not the rule of :func:`coda._validation.numbers_as_text`, which
    asks another question (does a text column hold parts?). Used here, it
    would accept rows of data that this refuses: whole numbers written with
    a point or a sign (``12.0,40.0,7.0``, as pandas writes counts stored as
    floats; ``-3``) count as identifiers there. And it would refuse headers
    that this accepts: half or more numbers among names (``site,0.5,0.25``).
    Both agree on the documented cases (``2.5,3,4,1`` and ``1,75.2,...``
    refused, ``101,102,...`` accepted). Here a name is whole only in digits
    alone, and a header is refused only if every name is a number.
    """
    names = [h.strip() for h in written if isinstance(h, str) and h.strip()]
    if names and all(map(_is_number, names)) and not all(h.isdigit() for h in names):
        raise ValueError(
            f"{name} has no header row: its first row ({', '.join(names[:5])}"
            f"{', ...' if len(names) > 5 else ''}) holds numbers, not part names, and would "
            "be lost; add a header row of part names (A,B,C,...) as the first line"
        )


def _data_lines(path: Path, n_records: int) -> list[int]:
    """The line of the file on which each record that pandas reads starts, header first.

    pandas skips empty and whitespace-only lines (a line ``,`` is a row of
    missing values). A quick scan of the lines suffices unless a quoted
    field spans lines (a line with an odd number of quotes) or the lines end
    with a carriage return alone (old Mac files): then the csv module counts them.
    """
    with path.open("rb") as stream:
        lines = []
        for number, line in enumerate(stream, start=1):
            if line.count(b'"') % 2:
                break
            if line.strip():
                lines.append(number)
        else:
            if len(lines) == n_records:
                return lines
    starts = []
    with path.open(newline="", encoding="utf-8-sig") as stream:
        reader = csv.reader(stream)
        end = 0
        for record in reader:
            start, end = end + 1, reader.line_num
            if len(record) > 1 or any(field.strip() for field in record):
                starts.append(start)
    return starts


def _row_names(path: Path, n_rows: int) -> list[str]:
    """How messages name the rows of a file without an identifier column: ``3 on line 4``.

    The number counts the samples from 1 (the first row after the header is
    1); the line is the file's own, as an editor numbers it, counting the
    blank lines that pandas skips and the lines of a quoted line break. If
    the lines cannot be matched to the rows pandas read, the numbers alone.
    """
    try:
        lines = _data_lines(path, n_rows + 1)
    except (csv.Error, UnicodeError, OSError):
        lines = []
    if len(lines) != n_rows + 1:
        return [str(k) for k in range(1, n_rows + 1)]
    return [f"{k} on line {line}" for k, line in enumerate(lines[1:], start=1)]


def read_table(path: Path, index_col: str | None) -> pd.DataFrame:
    """The samples of ``coda pcor DATA.csv``: a numeric table, indexed by sample identifiers.

    Without an identifier column the rows are named as messages name them
    (:func:`_row_names`): ``3 on line 4``, so that ``rows 3 on line 4``
    points into the file.
    """
    name = f"DATA.csv {str(path)!r}"
    frame = read_csv_table(
        path,
        name,
        fix="pass a text CSV file with a header row of part names and one row per sample",
    )
    if frame.empty:
        raise ValueError(
            f"{name} has a header row but no data rows; pass a CSV file with one row per sample"
        )
    # The header as written: pandas renames a repeated name (a, a.1) and names
    # a blank one "Unnamed: 0".
    written = pd.read_csv(path, header=None, nrows=1, dtype=str).iloc[0].tolist()
    repeated = sorted({str(h) for h in written if isinstance(h, str) and written.count(h) > 1})
    if repeated:
        raise ValueError(
            f"{name} names more than one column {', '.join(repeated)}; "
            "every part needs its own name: rename the columns"
        )
    _check_header(written, name)
    if index_col is not None:
        check_column(index_col, "--index-col", frame.columns)
        frame = frame.set_index(index_col)
    elif frame.shape[1] > 1:
        first = frame.columns[0]
        numeric = pd.api.types.is_numeric_dtype(frame[first]) and not pd.api.types.is_bool_dtype(
            frame[first]
        )
        # A blank first name is the row index that DataFrame.to_csv writes.
        blank = not isinstance(written[0], str) or not written[0].strip()
        named = blank or _ID_NAME.fullmatch(str(first))
        if not named and not numeric:
            # A first part with one cell such as '<0.01' is read as text; it is
            # not an identifier column, and would be left out without a word.
            _check_text_columns(frame[[first]], name, first=True)
        if named or not numeric:
            frame = frame.set_index(first)
            if blank:
                frame.index.name = None
    if index_col is None and isinstance(frame.index, pd.RangeIndex):
        # No identifier column: pandas numbers the rows from 0, which no one
        # finds in the file.
        frame.index = pd.Index(_row_names(path, len(frame)))
    _check_text_columns(frame, name, first=False)
    check_numeric_columns(
        frame,
        name,
        fix="every column but one identifier column must hold numbers: name the "
        "identifier column with --index-col NAME, or remove the other text columns",
    )
    _check_cells(frame, name)
    return frame


def replace_zeros_of(frame: pd.DataFrame, method: str, name: str) -> pd.DataFrame:
    """``coda.replace_zeros(frame, method=method)``, its errors naming the file and --zeros."""
    from coda.zeros import replace_zeros

    try:
        return replace_zeros(frame, method=method)
    except ValueError as error:
        message = re.sub(r"^x ", f"{name} ", str(error))
        message = re.sub(r'use method="(\w+)"', r"pass --zeros \1", message)
        message = re.sub(r'method="(\w+)"', r"--zeros \1", message)
        raise ValueError(message) from error
