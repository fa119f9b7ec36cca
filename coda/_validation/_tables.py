"""Checks of files, tables, graphs, partial-correlation results and plot options.

Part of :mod:`coda._validation`, where every user-facing check lives.
"""

from __future__ import annotations

import math
import numbers as numbers_module
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from coda._validation._arrays import check_parts
from coda._validation._base import (
    _MAX_LISTED,
    CodaWarning,
    _is_real_dtype,
    _listing,
    numeric_values,
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
    numbers = [
        v
        for v in cells
        if isinstance(v, numbers_module.Real) and not isinstance(v, (bool, np.bool_))
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


def check_adjacency(graph, name: str) -> np.ndarray:
    """Return a boolean adjacency matrix as a bool array (symmetric, 0/1 or bool)."""
    check_square_labels(graph, name, what="an adjacency matrix labelled by the same nodes")
    values = numeric_values(graph)
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


def check_same_nodes(
    nodes, other, name: str, other_name: str, *, fix: str = "compare graphs over the same parts"
) -> None:
    """Raise unless two labelled node sets (of graphs, or a graph's and data's parts) are equal."""
    in_nodes, in_other = set(nodes), set(other)
    missing = [n for n in other if n not in in_nodes]
    extra = [n for n in nodes if n not in in_other]
    if missing or extra:
        raise ValueError(
            f"{name} and {other_name} have different nodes: only in {name}: "
            f"{_listing(extra) or 'none'}; only in {other_name}: {_listing(missing) or 'none'}; "
            f"{fix}"
        )


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


def check_pcor_matrix(pcor, name: str = "pcor") -> tuple[np.ndarray, np.ndarray]:
    """Return a partial-correlation matrix as float64 and the mask of its ``given`` parts.

    A part whose off-diagonal row is all NaN was partialled out (``given``);
    any other NaN, asymmetry or value outside [-1, 1] is an error.
    """
    check_square_labels(pcor, name, what="a partial-correlation matrix labelled by the same parts")
    values = numeric_values(pcor)
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


def check_tests_frame(tests, name: str) -> None:
    """Raise unless ``tests`` is a DataFrame with the columns of a :func:`coda.pcor_test` table.

    Callers check this before they read any column of ``tests``.
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


def check_tests_table(tests, name: str, pairs: dict) -> None:
    """Raise unless a :func:`coda.pcor_test` table matches the pairs of a pcor matrix.

    ``pairs`` maps ``(part_i, part_j)`` (as in the table) to the partial
    correlation of the matrix, NaN for pairs touching a given part.
    """
    check_tests_frame(tests, name)
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


def check_fdr_df(df: int, n_samples: int, n_given: int, method: str) -> None:
    """Raise if the t tests of ``rule="fdr"`` in :func:`coda.network` have no degrees of freedom.

    ``df = n - |K| - 1`` as in :func:`coda.pcor_test`. The other rules need
    no test, so the message points to them.
    """
    if df > 0:
        return
    if method == "glasso":
        fix = 'rule="nonzero" (the pairs the graphical lasso keeps) or rule="threshold" with '
        fix += "min_abs=... (the pairs with |pcor| >= min_abs)"
    elif method in ("shrink", "bshrink"):
        fix = 'rule="threshold" with min_abs=... (the pairs with |pcor| >= min_abs)'
    else:
        # The exact estimator itself needs more samples than conditioning parts.
        fix = (
            'a regularised estimator with such a rule, e.g. method="glasso" (rule "nonzero") '
            'or method="shrink", min_abs=... (rule "threshold")'
        )
    more = ", or condition on fewer parts (given=...)" if method == "exact" else ""
    raise ValueError(
        f'rule="fdr" selects edges by the t tests of coda.pcor_test, which need '
        f"df = n - |K| - 1 > 0; x has {n_samples} samples and each pair is conditioned on "
        f"{n_given} parts (df = {df}): choose a rule that runs no test, {fix}; or use at "
        f"least {n_given + 2} samples{more}"
    )


_GRAPH_NODES = (
    "the nodes of a graph are the part names as strings, so these parts would merge into one node"
)


def check_unique_parts(parts, name: str, *, fix: str, why: str | None = None) -> None:
    """Raise if two parts have the same name (once turned into strings, for graphs).

    Graphs name their nodes ``str(part)``, so such parts would merge into one
    node (and one part's edges would overwrite the other's). With ``why``
    (what needs distinct labels), the labels themselves are compared, not
    their strings. ``fix`` ends the message.
    """
    if parts is None:
        return
    positions: dict = {}
    for k, part in enumerate(parts):
        positions.setdefault(str(part) if why is None else part, []).append(k)
    shared = [(text, ks) for text, ks in positions.items() if len(ks) > 1]
    if shared:
        shown = _listing(
            [f"{text!r} (positions {', '.join(map(str, ks))})" for text, ks in shared]
        )
        same = "the same name as strings" if why is None else "the same name"
        raise ValueError(f"{name} has parts with {same}: {shown}; {why or _GRAPH_NODES}: {fix}")


def check_square_shape(matrix, name: str, *, min_size: int = 2) -> np.ndarray:
    """Return ``matrix`` as a real float64 array if it is square and at least ``min_size`` wide.

    Only the type and shape are checked (NaN is left to the caller), so that
    nothing indexes a matrix of the wrong shape.
    """
    values = numeric_values(matrix)
    if not _is_real_dtype(values.dtype):
        raise TypeError(f"{name} has dtype {values.dtype}; expected a real matrix")
    if values.ndim != 2 or values.shape[0] != values.shape[1] or values.shape[0] < min_size:
        raise ValueError(
            f"{name} must be a square parts x parts matrix with at least {min_size} parts; "
            f"got shape {values.shape}"
        )
    return values.astype(np.float64)


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


def check_graph(graph, name: str = "G", *, drawn: bool = False):
    """Return ``graph`` if it is an undirected networkx graph (with nodes, if ``drawn``)."""
    import networkx as nx

    if not isinstance(graph, nx.Graph) or graph.is_directed():
        raise TypeError(
            f"{name} is a {type(graph).__name__}; expected an undirected networkx Graph, "
            "e.g. from coda.network(x)"
        )
    if drawn and graph.number_of_nodes() == 0:
        raise ValueError(
            f"{name} has no nodes, so there is nothing to draw; pass a graph of parts, "
            "e.g. coda.network(x)"
        )
    return graph


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


def check_groups(groups, name: str, n_samples: int, index=None) -> list:
    """Return one group label per sample as a list.

    With ``index`` (the rows of a labelled ``x``), a Series ``groups`` is
    lined up with it by label, as pandas aligns: a sorted or filtered copy
    of ``x`` keeps each sample's group. A Series whose index holds other
    labels is refused rather than matched by position.
    """
    if isinstance(groups, pd.Series) and index is not None and not groups.index.equals(index):
        labels = groups.index
        if labels.is_unique and index.is_unique and len(labels) == len(index):
            missing = index.difference(labels)
            if missing.empty:
                groups = groups.reindex(index)
            else:
                missing = _listing([repr(v) for v in missing[:5]], len(missing))
                raise ValueError(
                    f"{name} is a Series whose index lacks rows of x ({missing}); pass the "
                    f"groups of the rows of x, e.g. {name}.loc[x.index], or "
                    f"{name}.to_numpy() to match them by position"
                )
        else:
            raise ValueError(
                f"{name} is a Series whose index does not match the rows of x; line it up "
                f"first, e.g. {name}.loc[x.index], or pass {name}.to_numpy() to match "
                "the groups by position"
            )
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


def check_pcor_options(frame: pd.DataFrame, name: str, method: str, given_text) -> list | None:
    """The parts of ``--given``, after the checks that ``coda pcor``'s options need.

    coda's functions do these checks too, but their messages name Python
    arguments (x, given=, method=); here they name the file and the options.
    """
    n, d = frame.shape
    if given_text is None:
        if method == "exact" and n <= d - 1:
            raise ValueError(
                f"{name} has {n} samples and {d} parts: the clr covariance has rank at most "
                f"{n - 1} < D - 1 = {d - 1}, so its exact inverse does not exist; use "
                "--method shrink, bshrink or glasso, or fewer parts"
            )
        return None
    if method != "exact":
        raise ValueError(f"--given is available with --method exact only; got --method {method}")
    given = [g.strip() for g in given_text.split(",")]
    if given == [""]:
        raise ValueError(
            "--given is empty; name the parts to partial out, comma-separated (--given A,B), "
            "or leave --given out to partial out all other parts"
        )
    k = len(check_parts(given, "--given", list(frame.columns), d))
    if d - k < 2:
        raise ValueError(
            f"--given names {k} of the {d} parts of {name}; at least two parts must remain "
            "outside --given to have a partial correlation: name fewer parts"
        )
    # The t tests of pcor_test have df = n - |K| - 1 (n - 1 - (|K| - 1) residual
    # degrees of freedom of the regression, less one).
    if n < k + 2:
        raise ValueError(
            f"{name} has {n} samples, too few to partial out {k} parts (--given): at least "
            f"{k + 2} samples are needed; name fewer parts with --given"
        )
    return given
