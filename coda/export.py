"""Export graphs of partial correlations for other tools.

:func:`write_graphml` (Cytoscape, Gephi), :func:`write_edge_list` (a CSV of
edges with their attributes), :func:`to_node_link` and :func:`write_json`
(node-link JSON for web tools), all through networkx's writers.
"""

from __future__ import annotations

import json
import math

import networkx as nx
import pandas as pd

from coda._validation import (
    check_distinct_names,
    check_graph,
    check_graphml_value,
    check_reserved_attributes,
    check_xml_text,
    python_value,
)

__all__ = ["to_node_link", "write_edge_list", "write_graphml", "write_json"]


def _items(G):
    """``(where, attributes)`` for the graph, each node and each edge, for messages."""
    yield "the graph", G.graph
    for node, data in G.nodes(data=True):
        yield f"node {node!r}", data
    for a, b, data in G.edges(data=True):
        yield f"edge ({a!r}, {b!r})", data


def write_graphml(G, path, /) -> None:
    """Write a network to a GraphML file (for Cytoscape, Gephi, yEd).

    Parameters
    ----------
    G : networkx.Graph
        A graph from :func:`network` or :func:`network_from_pcor` (every
        attribute a str, int, float or bool).
    path : str or path-like
        The file to write.

    Returns
    -------
    None

    Raises
    ------
    TypeError
        If ``G`` is not an undirected networkx graph, or an attribute value
        is not a str, int, float or bool (numpy scalars are converted).
    ValueError
        If two nodes have the same name as text (such as ``1`` and
        ``"1"``), which GraphML would merge, or a node's name, an
        attribute's name or a text value holds a character that XML cannot
        hold (a control character such as NUL).

    See Also
    --------
    networkx.read_graphml : reads it back.

    Notes
    -----
    Round trip: ``nx.read_graphml(path)`` gives the same nodes (as
    strings), edges, node, edge and graph attributes (NaN stays NaN).
    Everything is checked before ``path`` is opened, so a graph that
    cannot be written leaves an existing file as it was.

    References
    ----------
    .. [1] Brandes, U. et al. (2002). GraphML progress report. Graph
       Drawing 2001, LNCS 2265:501-512. https://doi.org/10.1007/3-540-45848-4_59

    Examples
    --------
    >>> import os, tempfile
    >>> import networkx as nx
    >>> import numpy as np
    >>> import coda
    >>> G = coda.network_from_pcor(np.array([[1, 0.5], [0.5, 1]]), min_abs=0.1)
    >>> path = os.path.join(tempfile.mkdtemp(), "g.graphml")
    >>> coda.write_graphml(G, path)
    >>> nx.read_graphml(path).edges(data=True)
    EdgeDataView([('x1', 'x2', {'pcor': 0.5, 'sign': 1})])
    """
    G = check_graph(G)
    check_distinct_names(G, "GraphML")
    for node in G:
        check_xml_text(str(node), f"the name of node {node!r}")
    # A copy with Python scalars: networkx's writer refuses numpy's bool, and
    # fails only once the file is open, leaving it empty.
    H = G.copy()
    for where, data in _items(H):
        data.update({k: check_graphml_value(v, k, where) for k, v in data.items()})
    nx.write_graphml(H, path)


def _edge_frame(G) -> pd.DataFrame:
    check_reserved_attributes(G, "a CSV file", node_keys=(), edge_keys=("source", "target"))
    columns: list = []
    for _, _, data in G.edges(data=True):
        columns += [c for c in data if c not in columns]
    rows = [{"source": a, "target": b, **data} for a, b, data in G.edges(data=True)]
    return pd.DataFrame(rows, columns=["source", "target", *columns])


def write_edge_list(G, path, /) -> None:
    """Write the edges of a network as CSV: source, target and every edge attribute.

    Parameters
    ----------
    G : networkx.Graph
        A graph, e.g. from :func:`network`.
    path : str or path-like
        The CSV file to write.

    Returns
    -------
    None

    Raises
    ------
    TypeError
        If ``G`` is not an undirected networkx graph.
    ValueError
        If two nodes have the same name as text (such as ``1`` and
        ``"1"``), or an edge has an attribute ``source`` or ``target``.

    See Also
    --------
    write_graphml : nodes and graph attributes too.

    Notes
    -----
    One row per edge in the graph's edge order; columns ``source``,
    ``target``, then the edge attributes in order of first appearance; an
    edge without an attribute leaves the cell empty. A graph without edges
    gives only the header ``source,target``.

    References
    ----------
    .. [1] Shafranovich, Y. (2005). Common format and MIME type for
       comma-separated values (CSV) files. RFC 4180.
       https://doi.org/10.17487/RFC4180

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> import coda
    >>> G = coda.network_from_pcor(np.array([[1, -0.5], [-0.5, 1]]), min_abs=0.1)
    >>> path = os.path.join(tempfile.mkdtemp(), "edges.csv")
    >>> coda.write_edge_list(G, path)
    >>> from pathlib import Path
    >>> print(Path(path).read_text(), end="")
    source,target,pcor,sign
    x1,x2,-0.5,-1
    """
    G = check_graph(G)
    check_distinct_names(G, "a CSV file")
    _edge_frame(G).to_csv(path, index=False)


def _json_safe(value, where: str):
    """``value`` with numpy scalars as Python ones and non-finite floats as None."""
    if isinstance(value, dict):
        return {k: _json_safe(v, where) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        # Tuples stay tuples (hashable node ids); json writes both as arrays.
        return type(value)(_json_safe(v, where) for v in value)
    value = python_value(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(
        f"{where} holds a {type(value).__name__} ({value!r}), which JSON cannot hold; "
        "convert it (e.g. to str or a list) or remove it before writing"
    )


def to_node_link(G, /) -> dict:
    """The node-link dictionary of a network, ready for JSON (d3.js, Cytoscape.js).

    Parameters
    ----------
    G : networkx.Graph
        A graph, e.g. from :func:`network`.

    Returns
    -------
    dict
        ``networkx.node_link_data(G, edges="edges")``: keys ``directed``,
        ``multigraph``, ``graph``, ``nodes`` (each with ``id`` and its
        attributes) and ``edges`` (each with ``source``, ``target`` and its
        attributes); NaN and infinite values become None (JSON null).

    Raises
    ------
    TypeError
        If ``G`` is not an undirected networkx graph, or an attribute holds
        a value JSON cannot hold (such as an array or a timestamp).
    ValueError
        If a node has an attribute ``id``, or an edge one named ``source``
        or ``target`` (or ``key``, in a multigraph): the format gives these
        names to the node and to the edge, and would overwrite them.

    See Also
    --------
    write_json : writes this dictionary.
    networkx.node_link_graph : rebuilds the graph.

    Notes
    -----
    JSON has no NaN, so non-finite floats (the ``partial_variance`` of a
    given part) are written as null.

    References
    ----------
    .. [1] Bostock, M., Ogievetsky, V. and Heer, J. (2011). D3: data-driven
       documents. IEEE TVCG 17:2301-2309. https://doi.org/10.1109/TVCG.2011.185

    Examples
    --------
    >>> import numpy as np
    >>> import coda
    >>> G = coda.network_from_pcor(np.array([[1, 0.5], [0.5, 1]]), min_abs=0.1)
    >>> coda.to_node_link(G)["edges"]
    [{'pcor': 0.5, 'sign': 1, 'source': 'x1', 'target': 'x2'}]
    """
    G = check_graph(G)
    edge_keys = ("source", "target", "key") if G.is_multigraph() else ("source", "target")
    check_reserved_attributes(G, "node-link JSON", node_keys=("id",), edge_keys=edge_keys)
    data = nx.node_link_data(G, edges="edges")
    return {
        **data,
        "graph": _json_safe(data["graph"], "the graph's attributes"),
        "nodes": [_json_safe(node, f"node {node['id']!r}") for node in data["nodes"]],
        "edges": [
            _json_safe(edge, f"edge ({edge['source']!r}, {edge['target']!r})")
            for edge in data["edges"]
        ],
    }


def write_json(G, path, /) -> None:
    """Write a network as node-link JSON (see :func:`to_node_link`).

    Parameters
    ----------
    G : networkx.Graph
        A graph, e.g. from :func:`network`.
    path : str or path-like
        The JSON file to write (UTF-8).

    Returns
    -------
    None

    Raises
    ------
    TypeError, ValueError
        As :func:`to_node_link`.

    See Also
    --------
    to_node_link : the dictionary written.

    Notes
    -----
    Strict JSON: NaN is written as null, never as ``NaN``. The text is made
    before ``path`` is opened, so a graph that cannot be written leaves an
    existing file as it was.

    References
    ----------
    .. [1] Bray, T. (2017). The JavaScript Object Notation (JSON) data
       interchange format. RFC 8259. https://doi.org/10.17487/RFC8259

    Examples
    --------
    >>> import json, os, tempfile
    >>> import numpy as np
    >>> import coda
    >>> G = coda.network_from_pcor(np.array([[1, 0.5], [0.5, 1]]), min_abs=0.1)
    >>> path = os.path.join(tempfile.mkdtemp(), "g.json")
    >>> coda.write_json(G, path)
    >>> from pathlib import Path
    >>> json.loads(Path(path).read_text())["nodes"]
    [{'given': False, 'id': 'x1'}, {'given': False, 'id': 'x2'}]
    """
    text = json.dumps(to_node_link(G), indent=2, allow_nan=False)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
