"""Frozen dataclasses for results with several parts.

One class per kind of result; each field is documented in the class
docstring. Matrices are ndarrays, or DataFrames labelled by part names on
both axes when the input was a DataFrame.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pandas as pd

from coda._linalg import pcor_from_precision

# Names of a table's columns shown in a summary, and the most values of a
# 1-D array shown in full.
_SHOWN_NAMES = 4
_SHOWN_VALUES = 6


def _is_scalar(value) -> bool:
    return value is None or isinstance(value, (str, bool, int, float, np.generic))


def _scalar_text(value) -> str:
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value)


def _names_text(names) -> str:
    names = [str(n) for n in names]
    if len(names) > _SHOWN_NAMES:
        names = [*names[: _SHOWN_NAMES - 1], "...", names[-1]]
    return ", ".join(names)


def _summary(value) -> str:
    """One line for one field: what it is and its shape, not its values (tables, matrices)."""
    if _is_scalar(value):
        return _scalar_text(value)
    if isinstance(value, pd.DataFrame):
        rows, columns = value.shape
        return f"DataFrame, {rows} x {columns}, columns {_names_text(value.columns)}"
    if isinstance(value, pd.Series):
        return f"Series of {len(value)}, index {_names_text(value.index)}"
    if isinstance(value, np.ndarray):
        if value.ndim == 1 and value.size <= _SHOWN_VALUES:
            return np.array2string(value, separator=", ")
        shape = " x ".join(str(n) for n in value.shape)
        return f"ndarray of {value.dtype}, {shape}"
    if isinstance(value, _Summarised):
        return f"{type(value).__name__} ({', '.join(f.name for f in fields(value))})"
    return type(value).__name__


class _Summarised:
    """A repr of a line per field for results that hold tables or matrices.

    The dataclass repr would print every matrix in full: a wall of numbers
    in a notebook for a result of 100 parts. Results of scalars only keep
    the dataclass form, which reads as the call that rebuilds them.
    ``_repr_html_`` gives Jupyter the same summary as a table.
    """

    def _fields(self) -> list[tuple[str, Any]]:
        return [(f.name, getattr(self, f.name)) for f in fields(self)]

    def __repr__(self) -> str:
        items = self._fields()
        name = type(self).__name__
        if all(_is_scalar(value) for _, value in items):
            return f"{name}({', '.join(f'{k}={_scalar_text(v)}' for k, v in items)})"
        width = max(len(k) for k, _ in items)
        return "\n".join([name, *(f"  {k:<{width}} : {_summary(v)}" for k, v in items)])

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td><code>{html.escape(k)}</code></td><td>{html.escape(_summary(v))}</td></tr>"
            for k, v in self._fields()
        )
        return (
            f"<table><thead><tr><th colspan='2'>{html.escape(type(self).__name__)}</th></tr>"
            f"</thead><tbody>{rows}</tbody></table>"
        )


@dataclass(frozen=True, repr=False)
class ShrinkageResult(_Summarised):
    """Partial correlations from a shrinkage covariance estimate.

    Attributes
    ----------
    pcor : ndarray or DataFrame of shape (n_parts, n_parts)
        Partial correlations between parts, unit diagonal.
    precision : ndarray or DataFrame of shape (n_parts, n_parts)
        The precision matrix the partial correlations come from.
    intensity : float
        Shrinkage intensity of the correlations (corpcor's ``lambda``).
    intensity_var : float
        Shrinkage intensity of the variances (corpcor's ``lambda.var``).
    method : str
        ``"shrink"`` or ``"bshrink"``.
    """

    pcor: Any
    precision: Any
    intensity: float
    intensity_var: float
    method: str


@dataclass(frozen=True, repr=False)
class GlassoResult(_Summarised):
    """Sparse partial correlations from the graphical lasso.

    Attributes
    ----------
    pcor : ndarray or DataFrame of shape (n_parts, n_parts)
        Partial correlations between parts, unit diagonal; zero where the
        precision is zero.
    precision : ndarray or DataFrame of shape (n_parts, n_parts)
        The sparse precision matrix at the chosen penalty.
    penalty : float
        The chosen (or given) penalty.
    criterion : str
        The criterion that scored the penalties (``"ebic"`` or ``"stars"``).
    penalties : ndarray of shape (n_penalties,)
        The penalties tried, in decreasing order.
    scores : ndarray of shape (n_penalties,)
        The criterion at each penalty. For ``"ebic"``, the extended BIC
        (smaller is better; the chosen penalty has the smallest), inf where
        the fit is not positive definite (one that stopped at ``max_iter``
        before converging). For ``"stars"``, the monotonised instability,
        non-decreasing along the path: the chosen penalty is the smallest
        whose instability is at most the threshold, not the one of smallest
        score (that is the largest penalty, an empty graph).
    n_edges : ndarray of shape (n_penalties,)
        The number of non-zero partial correlations (pairs) at each penalty.
    """

    pcor: Any
    precision: Any
    penalty: float
    criterion: str
    penalties: np.ndarray
    scores: np.ndarray
    n_edges: np.ndarray


def pair_table(names, matrices: dict) -> pd.DataFrame:
    """One row per pair ``i < j`` whose first matrix entry is not NaN.

    ``names`` labels the parts (part names, or integer positions for arrays);
    ``matrices`` maps column names to D x D arrays, the first one deciding
    which pairs are kept (pairs touching ``given`` are NaN and are dropped).
    """
    first = next(iter(matrices.values()))
    i, j = np.triu_indices(first.shape[0], k=1)
    keep = ~np.isnan(first[i, j])
    i, j = i[keep], j[keep]
    # Element by element: np.asarray would make tuple labels (MultiIndex
    # columns) a 2-D array.
    labels = np.empty(len(names), dtype=object)
    for k, name in enumerate(names):
        labels[k] = name
    names = labels
    table = {"part_i": names[i], "part_j": names[j]}
    table.update({column: matrix[i, j] for column, matrix in matrices.items()})
    frame = pd.DataFrame(table)
    if all(isinstance(n, (int, np.integer)) for n in names):
        frame = frame.astype({"part_i": np.int64, "part_j": np.int64})
    return frame


def _values(matrix) -> np.ndarray:
    return matrix.to_numpy() if isinstance(matrix, pd.DataFrame) else np.asarray(matrix)


def _names(matrix) -> list:
    if isinstance(matrix, pd.DataFrame):
        return list(matrix.columns)
    return list(range(np.shape(matrix)[0]))


@dataclass(frozen=True, repr=False)
class BootstrapResult(_Summarised):
    """Percentile bootstrap intervals for partial correlations.

    Attributes
    ----------
    estimate : ndarray or DataFrame of shape (n_parts, n_parts)
        Partial correlations of the full sample; NaN for pairs touching
        ``given``.
    lower, upper : ndarray or DataFrame of shape (n_parts, n_parts)
        The ``(1 - ci) / 2`` and ``(1 + ci) / 2`` quantiles of the bootstrap
        replicates, pair by pair.
    ci : float
        The confidence level.
    n_boot : int
        The number of bootstrap resamples.
    """

    estimate: Any
    lower: Any
    upper: Any
    ci: float
    n_boot: int

    def to_frame(self) -> pd.DataFrame:
        """Return one row per pair ``i < j``: ``part_i, part_j, estimate, lower, upper``.

        Parts are named as in ``estimate`` (part names for DataFrame input,
        integer positions for arrays); pairs touching ``given`` are left out.
        """
        return pair_table(
            _names(self.estimate),
            {
                "estimate": _values(self.estimate),
                "lower": _values(self.lower),
                "upper": _values(self.upper),
            },
        )


@dataclass(frozen=True, repr=False)
class Simulation(_Summarised):
    """A simulated compositional data set with a known partial-correlation graph.

    Attributes
    ----------
    data : DataFrame of shape (n_samples, n_parts)
        Closed compositions, or multinomial counts when ``counts`` was given;
        parts are named ``p01 .. pD``.
    precision : DataFrame of shape (n_parts, n_parts)
        The precision (inverse covariance) of the log-abundances.
    clr_precision : DataFrame of shape (n_parts, n_parts)
        The precision of the clr coordinates, the Moore-Penrose inverse of the
        clr covariance; its zero pattern is the graph.
    adjacency : DataFrame of shape (n_parts, n_parts)
        Boolean: True where ``clr_precision`` has a non-zero off-diagonal entry.
    graph : str
        The kind of graph (``"chain"``, ``"hub"`` or ``"random"``).
    """

    data: pd.DataFrame
    precision: pd.DataFrame
    clr_precision: pd.DataFrame
    adjacency: pd.DataFrame
    graph: str

    @property
    def pcor(self) -> pd.DataFrame:
        """The true partial correlations, ``-Omega_ij / sqrt(Omega_ii Omega_jj)``."""
        rho = pcor_from_precision(self.clr_precision.to_numpy())
        parts = self.clr_precision.columns
        return pd.DataFrame(rho, index=parts, columns=parts)

    @property
    def edges(self) -> list[tuple[str, str]]:
        """The true edges as ``(part_i, part_j)`` pairs with ``i < j``."""
        i, j = np.nonzero(np.triu(self.adjacency.to_numpy(), k=1))
        parts = self.adjacency.columns
        return [(parts[a], parts[b]) for a, b in zip(i, j, strict=True)]


@dataclass(frozen=True, repr=False)
class GraphComparison(_Summarised):
    """How well an estimated edge set matches the true one.

    Attributes
    ----------
    precision : float
        ``tp / (tp + fp)``: the share of estimated edges that are true; NaN
        when no edge was estimated.
    recall : float
        ``tp / (tp + fn)``: the share of true edges that were found; NaN when
        the true graph has no edge.
    f1 : float
        The harmonic mean of precision and recall; 0 when both are 0, NaN
        when either is NaN.
    shd : int
        Structural Hamming distance: the number of edges to add or delete to
        turn the estimate into the truth, ``fp + fn``.
    true_positives, false_positives, false_negatives : int
        Edge counts.
    """

    precision: float
    recall: float
    f1: float
    shd: int
    true_positives: int
    false_positives: int
    false_negatives: int


@dataclass(frozen=True, repr=False)
class Biplot(_Summarised):
    """Coordinates of a clr biplot: sample points and part rays on the first two axes.

    Attributes
    ----------
    samples : DataFrame of shape (n_samples, 2)
        Columns ``PC1``, ``PC2``; indexed like the rows of ``x``.
    parts : DataFrame of shape (n_parts, 2)
        The rays (arrow tips from the origin), columns ``PC1``, ``PC2``,
        indexed by part.
    explained : ndarray of shape (2,)
        The fraction of the total clr variance on each axis.
    scaling : str
        ``"form"`` or ``"covariance"``.
    """

    samples: pd.DataFrame
    parts: pd.DataFrame
    explained: np.ndarray
    scaling: str


@dataclass(frozen=True, repr=False)
class NetworkStyle(_Summarised):
    """What to draw for a network: node positions and sizes, edge segments, widths, colours.

    Attributes
    ----------
    nodes : DataFrame
        Indexed by part (node), columns ``x``, ``y``, ``size``, ``label``.
    edges : DataFrame
        One row per edge: ``source``, ``target``, ``x0``, ``y0``, ``x1``,
        ``y1`` (the segment), ``pcor``, ``width``, ``sign`` (+1/-1) and
        ``color``.
    """

    nodes: pd.DataFrame
    edges: pd.DataFrame


@dataclass(frozen=True, repr=False)
class DendrogramLayout(_Summarised):
    """Geometry of a CoDa-dendrogram of a sequential binary partition.

    Attributes
    ----------
    leaves : DataFrame
        Indexed by part in drawing order: ``x`` (0, 1, ...) and ``y`` (0).
    balances : DataFrame
        Indexed by balance name (in partition row order): ``x`` and
        ``height`` of the node (middle of its horizontal bar), ``mean`` and
        ``variance`` of the balance coordinates, ``bar_x0`` and ``bar_x1``
        (the ends of the bar), ``mean_x`` (where the mean falls on the bar)
        and ``parent`` (the parent balance's name, ``""`` for the root).
    segments : DataFrame
        Every line to draw: ``x0``, ``y0``, ``x1``, ``y1`` and ``kind``
        (``"bar"``, ``"balance"`` for a vertical of length equal to a
        balance variance, ``"leaf"`` for a part's stem).
    half_range : float
        Each bar spans balance values from ``-half_range`` to ``+half_range``.
    """

    leaves: pd.DataFrame
    balances: pd.DataFrame
    segments: pd.DataFrame
    half_range: float


@dataclass(frozen=True, repr=False)
class EntryCategories(_Summarised):
    """Categories of task-vector entries after TIES trimming, with two nulls.

    Attributes
    ----------
    observed : DataFrame
        Rows layers, columns the six categories ``trimmed``, ``one_pos``,
        ``one_neg``, ``agree_pos``, ``agree_neg``, ``conflict``.
    null : DataFrame
        The closed-form composition for independent positions and fair signs,
        at each layer's observed kept fraction; same labels as ``observed``.
    permutation : DataFrame
        The mean composition after shuffling each task's entries within each
        tensor; same labels as ``observed``.
    """

    observed: pd.DataFrame
    null: pd.DataFrame
    permutation: pd.DataFrame


@dataclass(frozen=True, repr=False)
class MergeDescription(_Summarised):
    """The compositional statistics S1 to S6 of a TIES merge, per layer.

    Attributes
    ----------
    shares : DataFrame
        S1, rows layers, columns tasks: each task's share of the change.
    categories : EntryCategories
        S2, the six entry categories after trimming, with both nulls.
    fate : DataFrame
        S3, rows (task, layer), columns ``trimmed``, ``survives``, ``dropped``.
    ownership : DataFrame
        S4, rows layers, columns tasks: shares of the merged update's L1 norm.
    conflict : DataFrame
        S5, rows (layer, m, subset), columns ``observed`` and ``null``.
    patterns : DataFrame or None
        S6, rows layers, columns the 2^T sign patterns; None when T > 8.
    log_odds : DataFrame or None
        S6, rows layers, columns task pairs: conditional log odds ratios of
        sign agreement; None when T > 8.
    """

    shares: pd.DataFrame
    categories: EntryCategories
    fate: pd.DataFrame
    ownership: pd.DataFrame
    conflict: pd.DataFrame
    patterns: pd.DataFrame | None
    log_odds: pd.DataFrame | None
