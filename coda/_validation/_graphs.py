"""Checks of graphs, partial-correlation results and plot options.

Part of :mod:`coda._validation`, where every user-facing check lives.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np
import pandas as pd

from coda._validation._arrays import check_parts
from coda._validation._base import (
    _MAX_LISTED,
    _is_real_dtype,
    _listing,
    check_unit_interval,
    numeric_values,
)


def check_adjacency(graph, name: str) -> np.ndarray:
    """Return a boolean adjacency matrix as a bool array (symmetric, 0/1 or bool)."""
    check_square_labels(graph, name, what="an adjacency matrix labelled by the same nodes")
    values = numeric_values(graph, name)
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


def check_pcor_matrix(pcor, name: str = "pcor") -> tuple[np.ndarray, np.ndarray]:
    """Return a partial-correlation matrix as float64 and the mask of its ``given`` parts.

    A part whose off-diagonal row is all NaN was partialled out (``given``);
    any other NaN, asymmetry or value outside [-1, 1] is an error.
    """
    check_square_labels(pcor, name, what="a partial-correlation matrix labelled by the same parts")
    values = numeric_values(pcor, name)
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


def check_tests_parts(tests, name: str, matrix, matrix_name: str) -> None:
    """Raise if a :func:`coda.pcor_test` table names parts by position and ``matrix`` by label.

    ``coda.pcor_test`` of an array names the parts 0, 1, ...; a matrix that
    is a DataFrame names them by its labels. Matching such a table to the
    labels in column order would pair each test with whatever part sits at
    that position (after ``matrix.loc[order, order]``, another one), so the
    pair is refused. A table whose parts are all labels of ``matrix``
    (integer labels too) is matched by label. Call after
    :func:`check_tests_frame`.
    """
    if not isinstance(matrix, pd.DataFrame):
        return
    labels = list(matrix.columns)
    known = set(labels)
    # tolist: iterating an Arrow-backed string column goes value by value, slowly.
    named = list(dict.fromkeys([*tests["part_i"].tolist(), *tests["part_j"].tolist()]))
    if not named or all(p in known for p in named):
        return
    positions = all(
        isinstance(p, (int, np.integer)) and not isinstance(p, (bool, np.bool_)) for p in named
    )
    if positions and all(0 <= p < len(labels) for p in named):
        raise ValueError(
            f"{name} names the parts by position ({_listing([str(p) for p in named])}), as "
            f"coda.pcor_test does for an array, but {matrix_name} is a DataFrame labelled "
            f"by parts ({_listing([repr(p) for p in labels])}); pass the test table of the "
            "labelled data, coda.pcor_test(x) with x a DataFrame, or match by position "
            f"with {matrix_name}.to_numpy()"
        )


def check_tests_table(tests, name: str, keys: Sequence, values: np.ndarray):
    """The positions in ``keys`` of each test's two parts, once the table matches the matrix.

    ``keys`` name the parts of the symmetric pcor matrix ``values`` as the
    table does (labels, or positions for an array; unique); a pair may be
    listed in either order (the matrix reordered). Raise unless every pair
    of the table is a pair of distinct parts whose ``r`` is the matrix's
    entry (NaN for pairs touching a given part).
    """
    check_tests_frame(tests, name)
    # Tuples stay labels, not levels of a MultiIndex.
    index = pd.Index(list(keys), dtype=object, tupleize_cols=False)
    listed = [
        pd.Index(tests[column].tolist(), dtype=object, tupleize_cols=False)
        for column in ("part_i", "part_j")
    ]
    a, b = (index.get_indexer(parts) for parts in listed)
    unknown = np.flatnonzero((a < 0) | (b < 0) | (a == b))
    if unknown.size:
        shown = [(listed[0][k], listed[1][k]) for k in unknown[:_MAX_LISTED]]
        raise ValueError(
            f"{name} has pairs that are not pairs of parts of pcor (for example "
            f"{_listing(shown, unknown.size)}); pass the test table of the same data and parts"
        )
    r = tests["r"].to_numpy(dtype=float)
    rho = values[np.minimum(a, b), np.maximum(a, b)]
    if not np.allclose(r, rho, rtol=0.0, atol=1e-8):
        k = int(np.argmax(~np.isclose(r, rho, rtol=0.0, atol=1e-8)))
        raise ValueError(
            f"{name} does not match pcor: for the pair {tests['part_i'].iloc[k]!r}, "
            f"{tests['part_j'].iloc[k]!r} the table has r = {r[k]:.6g} and pcor has "
            f"{rho[k]:.6g}; pass pcor and tests computed from the same data and method"
        )
    return a, b


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
    values = numeric_values(matrix, name)
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
    known = set(nodes)
    unknown = [k for k in rows if k not in known]
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


def check_result_options(options: dict, defaults: dict, result_name: str) -> None:
    """Raise if options that only apply to raw data were set along with a result.

    ``options`` maps names to the values given, ``defaults`` to the signature's.
    """
    changed = [k for k, v in options.items() if not _is_default(v, defaults[k])]
    if changed:
        raise ValueError(
            f"{', '.join(changed)}: these options apply to compositional data, not to a "
            f"{result_name}, which is already estimated; drop them or pass the data instead"
        )


def check_min_abs(min_abs, rule: str):
    """``min_abs`` checked, or None; required by the ``"threshold"`` rule."""
    if min_abs is not None:
        min_abs = check_unit_interval(min_abs, "min_abs")
    if rule == "threshold" and min_abs is None:
        raise ValueError(
            'rule="threshold" keeps pairs with |pcor| >= min_abs; pass min_abs=... '
            "(a number in [0, 1])"
        )
    return min_abs


def check_rule_options(options: dict, defaults: dict, rule: str, users: dict) -> None:
    """Raise if ``coda.network`` was given options that its ``rule`` does not use.

    ``options`` maps names to the values given and ``defaults`` to the
    signature's; ``users`` maps each name of an option the rule does not use
    to the rules (or estimator settings) that do, for the message. An option
    left at its default is not reported: it was not asked for.
    """
    changed = [k for k in users if not _is_default(options[k], defaults[k])]
    if changed:
        found = ", ".join(f"{k}={options[k]!r}" for k in changed)
        takers = "; ".join(f"{k} is used by {users[k]}" for k in changed)
        raise ValueError(
            f"{found}: not used by rule={rule!r}, which would ignore "
            f"{'them' if len(changed) > 1 else 'it'} ({takers}); leave "
            f"{'them' if len(changed) > 1 else 'it'} out or choose a rule that uses "
            f"{'them' if len(changed) > 1 else 'it'}"
        )


def _is_default(value, default) -> bool:
    """Whether ``value`` equals the default: numbers of any kind (numpy's too) and strings.

    Never for an array, a Generator or a bool.
    """
    if default is None or value is None:
        return value is default
    if isinstance(value, bool) or not isinstance(value, numbers.Number | str):
        return False
    return bool(value == default)


def _part_named(text: str, parts: list):
    """The part that one name of ``--given`` means: spaces around either side are not compared.

    A header written ``A, B, C`` names parts ``' B'`` and ``' C'`` (as
    ``pandas.read_csv`` reads it), and a shell passes ``--given "A, B"``
    with a space: the name as given, else stripped, else the one part whose
    name stripped equals it. Anything else is returned stripped, for
    ``check_parts`` to report.
    """
    if text in parts:
        return text
    name = text.strip()
    if name in parts:
        return name
    padded = [p for p in parts if isinstance(p, str) and p.strip() == name]
    return padded[0] if len(padded) == 1 else name


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
    given = [_part_named(g, list(frame.columns)) for g in given_text.split(",")]
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
