r"""Where and how to draw a graph of parts: positions and styles, as data.

:func:`layout` places the parts (circular, spring or clr-biplot positions)
and :func:`network_style` turns a graph from :func:`coda.network` into the
node and edge tables that :func:`coda.plot_network` draws: positions, node
sizes, edge widths proportional to :math:`|\rho|` and colours by sign
(:data:`POSITIVE_COLOR`, :data:`NEGATIVE_COLOR`, a colour-blind-safe pair).
Nothing here draws.
"""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pandas as pd

from coda._results import (
    NetworkStyle,
)
from coda._validation import (
    check_edge_pcor,
    check_graph,
    check_node_attribute,
    check_option,
    check_same_nodes,
    check_unique_parts,
    check_value_range,
    seeded_rng,
)
from coda.diagrams import biplot_coordinates

__all__ = ["NEGATIVE_COLOR", "POSITIVE_COLOR", "layout", "network_style"]

#: Edge colour of positive partial correlations (Okabe-Ito blue, colour-blind safe).
POSITIVE_COLOR = "#0072B2"
#: Edge colour of negative partial correlations (Okabe-Ito vermillion).
NEGATIVE_COLOR = "#D55E00"


def _circular(nodes: list) -> dict:
    # Node k at angle pi/2 - 2 pi k / n: the first at 12 o'clock, then clockwise.
    n = len(nodes)
    return {
        node: (
            float(math.cos(math.pi / 2 - 2 * math.pi * k / n)),
            float(math.sin(math.pi / 2 - 2 * math.pi * k / n)),
        )
        for k, node in enumerate(nodes)
    }


def _spring_seed(seed):
    """``seed`` as networkx's spring layout takes it.

    The layout draws with ``RandomState.rand``, which a numpy Generator lacks:
    a Generator (and any seed a RandomState refuses) is given to it as a
    RandomState on the Generator's own bit generator. None and integers below
    2**32 (numpy's as Python ints) go through, so their positions are networkx's own.
    """
    small = isinstance(seed, (int, np.integer)) and not isinstance(seed, (bool, np.bool_))
    if seed is None:
        return None
    if small and 0 <= seed < 2**32:
        # int: networkx takes a Python int only (np.int64(0) raised its ValueError).
        return int(seed)
    return np.random.RandomState(seeded_rng(seed, "seed").bit_generator)


def _positions(graph, kind: str, seed, x) -> dict:
    check_graph(graph)
    check_option(kind, "layout", ("circular", "spring", "biplot"))
    nodes = list(graph.nodes)
    if kind == "circular":
        return _circular(nodes)
    if kind == "spring":
        weighted = nx.Graph()
        weighted.add_nodes_from(nodes)
        weighted.add_edges_from(
            (a, b, {"weight": abs(float(data.get("pcor", 1.0)))})
            for a, b, data in graph.edges(data=True)
        )
        spring = nx.spring_layout(weighted, weight="weight", seed=_spring_seed(seed))
        return {node: (float(spring[node][0]), float(spring[node][1])) for node in nodes}
    if x is None:
        raise ValueError(
            'layout="biplot" places parts at their clr biplot rays and needs the data: '
            "pass x=... (the compositions the graph was built from)"
        )
    rays = biplot_coordinates(x).parts
    # Nodes are matched to parts by name: two parts of one name would give a node two rays.
    check_unique_parts(
        rays.index, "x", fix="rename the columns of x so that every part has its own name"
    )
    rays.index = [str(p) for p in rays.index]
    check_same_nodes(
        [str(n) for n in nodes],
        list(rays.index),
        "G",
        "x",
        fix="pass x with the graph's parts as its columns, e.g. the data the graph was built from",
    )
    return {
        node: (float(rays.loc[str(node), "PC1"]), float(rays.loc[str(node), "PC2"]))
        for node in nodes
    }


def layout(G, /, *, kind: str = "circular", seed=None, x=None) -> dict:
    r"""Positions of the nodes of a network, for drawing.

    Parameters
    ----------
    G : networkx.Graph
        A graph of parts, e.g. from :func:`network`.
    kind : {"circular", "spring", "biplot"}, default "circular"
        ``"circular"``: the nodes on the unit circle in node order, the first
        at 12 o'clock, then clockwise. ``"spring"``: networkx's
        Fruchterman-Reingold layout with edge weights :math:`|\rho_{ij}|`
        (the ``pcor`` edge attribute), seeded with ``seed``. ``"biplot"``:
        each part at the tip of its clr biplot ray
        (:func:`biplot_coordinates`, form scaling), which needs ``x``.
    seed : None, int or numpy.random.Generator
        Seed of the spring layout; the same seed gives the same positions.
    x : array_like or DataFrame of shape (n_samples, n_parts), optional
        The compositions, for ``kind="biplot"``; their parts must be the
        nodes (arrays: nodes ``x1 .. xD``).

    Returns
    -------
    dict
        ``{node: (x, y)}`` in node order, with Python floats.

    Raises
    ------
    TypeError
        If ``G`` is not an undirected networkx graph.
    ValueError
        If ``kind`` is unknown; for ``"biplot"``, if ``x`` is missing, its
        parts are not the nodes or two of them have the same name (as text).

    See Also
    --------
    network_style : positions plus sizes, widths and colours.
    biplot_coordinates : the rays of the biplot layout.

    Notes
    -----
    Circular position of node :math:`k` of :math:`n`:
    :math:`(\cos\theta_k, \sin\theta_k)` with
    :math:`\theta_k = \pi/2 - 2\pi k/n`.

    References
    ----------
    .. [1] Fruchterman, T. M. J. and Reingold, E. M. (1991). Graph drawing by
       force-directed placement. Software: Practice and Experience
       21:1129-1164. https://doi.org/10.1002/spe.4380211102

    Examples
    --------
    >>> import networkx as nx
    >>> import coda
    >>> G = nx.path_graph(["a", "b", "c", "d"])
    >>> {k: (round(u, 3), round(v, 3)) for k, (u, v) in coda.layout(G).items()}
    {'a': (0.0, 1.0), 'b': (1.0, 0.0), 'c': (-0.0, -1.0), 'd': (-1.0, -0.0)}
    """
    return _positions(G, kind, seed, x)


def _scale(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Map finite values linearly onto [low, high]; NaN to low; all equal to the middle."""
    finite = np.isfinite(values)
    out = np.full(values.shape, low)
    if not finite.any():
        return out
    lo, hi = values[finite].min(), values[finite].max()
    if hi > lo:
        out[finite] = low + (values[finite] - lo) / (hi - lo) * (high - low)
    else:
        out[finite] = (low + high) / 2
    return out


def network_style(
    G,
    /,
    *,
    layout: str = "circular",
    seed=None,
    x=None,
    node_size_by="auto",
    width_range=(0.5, 6.0),
    size_range=(200, 1200),
) -> NetworkStyle:
    r"""Everything needed to draw a network: positions, node sizes, edge widths and colours.

    Parameters
    ----------
    G : networkx.Graph
        A graph of parts whose edges carry a ``pcor`` attribute, e.g. from
        :func:`network`.
    layout : {"circular", "spring", "biplot"}, default "circular"
        Node positions, as :func:`coda.layout` ``kind``.
    seed : None, int or numpy.random.Generator
        Seed of the spring layout.
    x : array_like or DataFrame, optional
        The compositions, for ``layout="biplot"``.
    node_size_by : str or None, default "auto"
        A numeric node attribute that sets the node sizes, mapped linearly
        from its smallest to its largest value onto ``size_range``; ``None``
        gives every node the middle of ``size_range``. ``"auto"`` sizes by
        ``partial_variance`` when every node has it (graphs of
        :func:`network` from data or from a graphical-lasso or shrinkage
        result) and gives equal sizes otherwise (graphs of
        :func:`network_from_pcor` or of a bootstrap result), so that it
        works with every graph coda makes.
    width_range : (float, float), default (0.5, 6.0)
        Edge widths for :math:`|\rho| = 0` and :math:`|\rho| = 1`.
    size_range : (float, float), default (200, 1200)
        Smallest and largest node size (matplotlib ``scatter`` areas).

    Returns
    -------
    NetworkStyle
        ``nodes`` (indexed by node: ``x``, ``y``, ``size``, ``label``) and
        ``edges`` (``source``, ``target``, ``x0``, ``y0``, ``x1``, ``y1``,
        ``pcor``, ``width``, ``sign``, ``color``), in the graph's node and
        edge order.

    Raises
    ------
    TypeError
        If ``G`` is not an undirected networkx graph, an edge's ``pcor`` is
        not a number, or ``node_size_by`` names a non-numeric attribute.
    ValueError
        If ``layout`` is unknown or, for ``"biplot"``, ``x`` does not fit
        the nodes (see :func:`layout`), an edge has no ``pcor`` or one that
        is not finite and in [-1, 1], a node lacks the attribute that
        ``node_size_by`` names (other than ``"auto"``), or a range is not
        ``0 <= low <= high``.

    See Also
    --------
    layout : the positions alone.
    network : a graph to style.

    Notes
    -----
    Edge width :math:`w = w_0 + (w_1 - w_0)|\rho|` is linear in
    :math:`|\rho|` on the fixed scale [0, 1], so widths are comparable
    across graphs. Colours: :data:`POSITIVE_COLOR` for :math:`\rho > 0`,
    :data:`NEGATIVE_COLOR` for :math:`\rho < 0` (Okabe-Ito, distinguishable
    with the common colour-vision deficiencies); ``sign`` is +1 or -1 (0 for
    an edge whose ``pcor`` is 0, drawn in the positive colour). A node whose
    ``node_size_by`` is NaN (a ``given`` part) gets the smallest size; if
    all values are equal, all nodes get the middle size.

    References
    ----------
    .. [1] Okabe, M. and Ito, K. (2008). Color Universal Design (CUD): how
       to make figures and presentations that are friendly to colorblind
       people. https://jfly.uni-koeln.de/color/

    Examples
    --------
    >>> import coda
    >>> rho = pd.DataFrame([[1, 0.5, -0.25], [0.5, 1, 0], [-0.25, 0, 1]],
    ...                    index=list("abc"), columns=list("abc"))
    >>> style = coda.network_style(coda.network_from_pcor(rho, min_abs=0.1),
    ...                            node_size_by=None)
    >>> style.edges[["source", "target", "pcor", "width", "sign", "color"]]
      source target  pcor  width  sign    color
    0      a      b  0.50  3.250     1  #0072B2
    1      a      c -0.25  1.875    -1  #D55E00

    With the default ``node_size_by="auto"``, nodes without a partial
    variance get equal sizes:

    >>> coda.network_style(coda.network_from_pcor(rho, min_abs=0.1)).nodes["size"].tolist()
    [700.0, 700.0, 700.0]
    """
    positions = _positions(G, layout, seed, x)
    w0, w1 = check_value_range(width_range, "width_range")
    s0, s1 = check_value_range(size_range, "size_range")
    nodes = list(G.nodes)
    attributes = dict(G.nodes(data=True))
    if node_size_by == "auto":
        every = all("partial_variance" in data for data in attributes.values())
        node_size_by = "partial_variance" if every else None
    if node_size_by is None:
        sizes = np.full(len(nodes), (s0 + s1) / 2)
    else:
        sizes = _scale(check_node_attribute(attributes, node_size_by, "node_size_by"), s0, s1)
    node_frame = pd.DataFrame(
        {
            "x": [positions[n][0] for n in nodes],
            "y": [positions[n][1] for n in nodes],
            "size": sizes,
            "label": [str(n) for n in nodes],
        },
        index=pd.Index(nodes),
    )
    rows = []
    for a, b, data in G.edges(data=True):
        if "pcor" not in data:
            raise ValueError(
                f"edge ({a!r}, {b!r}) has no 'pcor' attribute; style graphs built by "
                "coda.network or coda.network_from_pcor"
            )
        rho = check_edge_pcor(a, b, data["pcor"])
        sign = int(np.sign(rho))
        rows.append(
            {
                "source": a,
                "target": b,
                "x0": positions[a][0],
                "y0": positions[a][1],
                "x1": positions[b][0],
                "y1": positions[b][1],
                "pcor": rho,
                "width": w0 + (w1 - w0) * abs(rho),
                "sign": sign,
                "color": NEGATIVE_COLOR if sign < 0 else POSITIVE_COLOR,
            }
        )
    columns = ["source", "target", "x0", "y0", "x1", "y1", "pcor", "width", "sign", "color"]
    edges = pd.DataFrame(rows, columns=columns)
    edges = edges.astype(
        dict.fromkeys(("x0", "y0", "x1", "y1", "pcor", "width"), float) | {"sign": np.int64}
    )
    return NetworkStyle(nodes=node_frame, edges=edges)
