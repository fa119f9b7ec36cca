"""The parts :func:`coda.graph.network` assembles its graphs from: the edge rules and nodes."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd

from coda._labels import python_scalar
from coda._validation import check_node_data

__all__ = ["build_graph", "select_edges"]


def select_edges(table: pd.DataFrame, rule: str, alpha: float, min_abs) -> pd.DataFrame:
    """The rows of a pair table kept by ``rule`` and the extra ``min_abs`` filter."""
    rho = table["pcor"].to_numpy()
    keep = ~np.isnan(rho)
    if rule == "fdr":
        keep &= table["qvalue"].to_numpy() <= alpha
    elif rule == "nonzero":
        keep &= rho != 0
    elif rule == "bootstrap":
        keep &= (table["ci_low"].to_numpy() > 0) | (table["ci_high"].to_numpy() < 0)
    if min_abs is not None:
        keep &= np.abs(rho) >= min_abs
    return table[keep]


def build_graph(names, node_attrs, node_data, table, metadata) -> nx.Graph:
    """A graph of ``names`` with their attributes and the pairs of ``table`` as edges.

    ``metadata`` goes to ``G.graph``; values become Python scalars (GraphML-safe).
    """
    graph = nx.Graph()
    graph.graph.update({k: python_scalar(v) for k, v in metadata.items()})
    extra = check_node_data(node_data, "node_data", names) if node_data is not None else {}
    for name in names:
        attrs = dict(node_attrs.get(name, {}))
        attrs.update(extra.get(name, {}))
        graph.add_node(name, **{k: python_scalar(v) for k, v in attrs.items()})
    columns = [c for c in ("pcor", "pvalue", "qvalue", "ci_low", "ci_high") if c in table]
    for row in table.itertuples(index=False):
        data = {c: float(getattr(row, c)) for c in columns}
        data["sign"] = 1 if data["pcor"] >= 0 else -1
        graph.add_edge(row.part_i, row.part_j, **data)
    return graph
