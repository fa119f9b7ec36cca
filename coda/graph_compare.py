"""Scoring an estimated graph against a known one.

:func:`compare_graphs` compares the edges of an estimated graph (a networkx
graph or a boolean adjacency matrix, labelled or not) with the true graph,
for example :attr:`coda.simulate(...).adjacency <coda._results.Simulation>`:
precision, recall, F1 and the structural Hamming distance.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd

from coda._results import GraphComparison
from coda._validation import check_adjacency, check_same_nodes, check_unique_parts

__all__ = ["compare_graphs"]


def _adjacency(graph, name: str) -> tuple[list | None, np.ndarray]:
    """Node labels (None for a bare array) and a boolean adjacency matrix."""
    if isinstance(graph, pd.DataFrame):
        matrix = check_adjacency(graph, name)
        # Matching is by label, so a label used twice would pair the wrong rows.
        check_unique_parts(graph.columns, name, fix="label each node once")
        return list(graph.columns), matrix
    if isinstance(graph, (np.ndarray, list, tuple)):
        return None, check_adjacency(graph, name)
    if not isinstance(graph, nx.Graph):
        raise TypeError(
            f"{name} is a {type(graph).__name__}; expected a networkx Graph or a boolean "
            "nodes x nodes adjacency matrix (ndarray or DataFrame)"
        )
    if graph.is_directed():
        raise ValueError(
            f"{name} is a directed graph; partial-correlation graphs are undirected: "
            f"pass {name}.to_undirected()"
        )
    nodes = list(graph.nodes)
    position = {node: k for k, node in enumerate(nodes)}
    matrix = np.zeros((len(nodes), len(nodes)), dtype=bool)
    for a, b in graph.edges():
        matrix[position[a], position[b]] = matrix[position[b], position[a]] = True
    return nodes, matrix


def _matching_labels(nodes_est: list, nodes_true: list) -> tuple[list, list]:
    """The labels to match nodes by: as given, or as text when only that makes them agree.

    :func:`coda.network` names its nodes ``str(part)``, so the graph of data
    with integer columns has nodes ``"10", "20"`` where a true adjacency
    matrix of the same parts is labelled ``10, 20``.
    """
    if set(nodes_est) == set(nodes_true):
        return nodes_est, nodes_true
    text_est, text_true = [str(n) for n in nodes_est], [str(n) for n in nodes_true]
    unique = len(set(text_est)) == len(text_est) and len(set(text_true)) == len(text_true)
    if unique and set(text_est) == set(text_true):
        return text_est, text_true
    return nodes_est, nodes_true


def compare_graphs(estimated, true, /):
    r"""Precision, recall, F1 and structural Hamming distance of an estimated graph.

    Parameters
    ----------
    estimated, true : networkx.Graph, ndarray or DataFrame
        Undirected graphs on the same nodes: networkx graphs, or boolean (or
        0/1) symmetric adjacency matrices. DataFrames and graphs are matched
        by node label (as text when only that makes the two sets agree, as
        for a :func:`coda.network` graph, whose nodes are the part names as
        strings, and a matrix labelled by integer parts); a bare array is
        matched by position to the other graph's node order (a DataFrame's
        columns, a graph's ``list(G)``). Self-loops (the diagonal) are
        ignored.

    Returns
    -------
    GraphComparison
        ``precision``, ``recall``, ``f1``, ``shd`` and the counts
        ``true_positives``, ``false_positives``, ``false_negatives``.

    Raises
    ------
    TypeError
        If an argument is neither a networkx graph nor a matrix.
    ValueError
        If a matrix is not square, symmetric and boolean (or 0/1), a
        DataFrame uses a label twice, a graph is directed, or the two graphs
        have different nodes.

    See Also
    --------
    coda.simulate : data with a known graph (``.adjacency``).
    coda.pcor_test : estimated edges, ``qvalue <= alpha``.

    Notes
    -----
    With TP, FP and FN the numbers of edges in both graphs, only in the
    estimate and only in the truth: precision :math:`= TP/(TP+FP)`, recall
    :math:`= TP/(TP+FN)`, :math:`F_1 = 2TP/(2TP+FP+FN)` (their harmonic
    mean :math:`2PR/(P+R)` when both are defined). Precision is NaN when
    nothing was estimated and recall NaN when the truth has no edge (0/0);
    F1 is defined whenever either graph has an edge: 0 for an empty
    estimate of a graph with edges, NaN only when both are empty. For
    undirected graphs the structural Hamming distance is the number of
    edge insertions and deletions that turn one graph into the other,
    :math:`FP + FN`.

    References
    ----------
    .. [1] Tsamardinos, I., Brown, L. E. and Aliferis, C. F. (2006). The
       max-min hill-climbing Bayesian network structure learning algorithm.
       Machine Learning 65:31-78. https://doi.org/10.1007/s10994-006-6889-7

    Examples
    --------
    >>> import numpy as np
    >>> import coda
    >>> true = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=bool)
    >>> est = np.array([[0, 1, 1], [1, 0, 0], [1, 0, 0]], dtype=bool)
    >>> coda.compare_graphs(est, true)
    GraphComparison(precision=0.5, recall=0.5, f1=0.5, shd=2, true_positives=1,
                    false_positives=1, false_negatives=1)
    """
    nodes_est, est = _adjacency(estimated, "estimated")
    nodes_true, tru = _adjacency(true, "true")
    if est.shape != tru.shape:
        raise ValueError(
            f"estimated has {est.shape[0]} nodes and true has {tru.shape[0]}; "
            "compare graphs over the same parts"
        )
    if nodes_est is not None and nodes_true is not None:
        nodes_est, nodes_true = _matching_labels(nodes_est, nodes_true)
        check_same_nodes(nodes_est, nodes_true, "estimated", "true")
        position = {node: k for k, node in enumerate(nodes_true)}
        order = [position[node] for node in nodes_est]
        tru = tru[np.ix_(order, order)]
    i, j = np.triu_indices(est.shape[0], k=1)
    est, tru = est[i, j], tru[i, j]
    tp = int((est & tru).sum())
    fp = int((est & ~tru).sum())
    fn = int((~est & tru).sum())
    precision = tp / (tp + fp) if tp + fp else float("nan")
    recall = tp / (tp + fn) if tp + fn else float("nan")
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")
    return GraphComparison(
        precision=precision,
        recall=recall,
        f1=f1,
        shd=fp + fn,
        true_positives=tp,
        false_positives=fp,
        false_negatives=fn,
    )
