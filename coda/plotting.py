"""Axes-level plots of networks and matrices: draw what :mod:`coda.graph` computed.

:func:`plot_network`, :func:`plot_pcor_heatmap` and :func:`plot_variation`
(the diagrams are in :mod:`coda.plot_diagrams`). Each ``plot_*`` function
draws on one matplotlib Axes (the current one when ``ax`` is None) and
returns it. Layouts, styles and coordinates come from the pure functions of
:mod:`coda.graph` and :mod:`coda.diagrams`; nothing here computes statistics.
Extra keywords go to one named matplotlib call per function, and keywords
that call does not accept raise a TypeError. pyplot is imported inside the
functions only, and nothing here calls ``plt.show()``.
"""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd

from coda._validation import (
    check_fraction,
    check_graph,
    check_in_memory,
    check_pcor_matrix,
    check_plot_keywords,
    check_square,
    check_square_labels,
    check_tests_frame,
    check_tests_parts,
    check_tests_table,
    check_unique_parts,
)
from coda.diagrams import cluster_order
from coda.graph_layout import NEGATIVE_COLOR, POSITIVE_COLOR, network_style

__all__ = ["plot_network", "plot_pcor_heatmap", "plot_variation"]

# Okabe and Ito (2008) colour-blind-safe palette, for groups of samples.
_GROUP_COLORS = (
    "#0072B2",
    "#D55E00",
    "#009E73",
    "#CC79A7",
    "#E69F00",
    "#56B4E9",
    "#F0E442",
    "#000000",
)
_SQRT3_2 = np.sqrt(3.0) / 2.0


def _axes(ax):
    import matplotlib.pyplot as plt

    return plt.gca() if ax is None else ax


def _keywords(kwargs: dict, function: str, target: str, call, artist: type) -> dict:
    """Check ``kwargs`` against what ``call`` accepts and return them with aliases resolved.

    ``call`` accepts its own named parameters (but not the data it draws)
    and every settable property of the ``artist`` it makes, under its
    matplotlib aliases too (``lw`` for ``linewidth``).
    """
    from matplotlib import cbook
    from matplotlib.artist import ArtistInspector

    inspector = ArtistInspector(artist)
    accepted = set(inspector.get_setters())
    for aliases in inspector.aliasd.values():
        accepted |= aliases
    data = {"self", "x", "y", "args", "kwargs", "data", "segments"}
    accepted |= set(inspect.signature(call).parameters) - data
    check_plot_keywords(kwargs, accepted, function=function, target=target)
    return cbook.normalize_kwargs(kwargs, artist)


# Keywords that set the colour a default sets under another name. matplotlib
# refuses scatter's ``c`` together with ``color``, and lets ``c`` silently beat
# ``facecolor``, so a default stands down when the user names the same colour.
_SAME_COLOR = {
    "c": ("color", "facecolor"),
    "color": ("c", "colors", "facecolor", "edgecolor"),
    "facecolor": ("c", "color"),
    "colors": ("color", "edgecolor"),
    "edgecolor": ("colors",),
}


def _merge(defaults: dict, kwargs: dict, artist: type) -> dict:
    """Defaults overridden by the user's keywords, aliases resolved on both sides.

    ``kwargs`` come normalised from :func:`_keywords`. A user's colour wins
    over a default given under another name (``color=`` over the default
    ``c``).
    """
    from matplotlib import cbook

    defaults = cbook.normalize_kwargs(defaults, artist)
    if "norm" in kwargs or "clim" in kwargs:
        # matplotlib refuses a norm together with vmin/vmax, and the default limits
        # would override a clim: the user's norm or clim sets the scale.
        defaults.pop("vmin", None)
        defaults.pop("vmax", None)
    for key in kwargs:
        for other in _SAME_COLOR.get(key, ()):
            defaults.pop(other, None)
    return {**defaults, **kwargs}


def _square_keys(matrix, d: int) -> list:
    """How a test table or cluster_order names the parts: labels, or positions for an array."""
    return list(matrix.columns) if isinstance(matrix, pd.DataFrame) else list(range(d))


def _square_names(matrix, d: int) -> list[str]:
    """The tick labels: labels as strings, or ``x1 .. xD`` for an array as in the other plots."""
    if isinstance(matrix, pd.DataFrame):
        return [str(c) for c in matrix.columns]
    return [f"x{k + 1}" for k in range(d)]


def _tick_labels(ax, xlabels, ylabels) -> None:
    """Part names centred on heatmap cells, x labels vertical so that they never overlap."""
    ax.set_xticks(np.arange(len(xlabels)) + 0.5)
    ax.set_xticklabels([str(s) for s in xlabels], rotation=90)
    ax.set_yticks(np.arange(len(ylabels)) + 0.5)
    ax.set_yticklabels([str(s) for s in ylabels])
    ax.tick_params(length=0)


def plot_network(
    G,
    /,
    *,
    ax=None,
    layout: str = "circular",
    seed=None,
    x=None,
    node_size_by: str | None = "auto",
    edge_labels: bool = False,
    legend: bool = True,
    **kwargs,
):
    """Draw a partial-correlation network.

    Edges are segments whose width grows with :math:`|r|` and whose colour
    gives the sign (blue positive, vermillion negative, a colour-blind-safe
    pair); nodes are circles sized by a node attribute and labelled by part.

    Parameters
    ----------
    G : networkx.Graph
        A graph from :func:`coda.network` or :func:`coda.network_from_pcor`:
        edges carry ``pcor``.
    ax : matplotlib.axes.Axes, optional
        The Axes to draw on; default the current Axes (``plt.gca()``).
    layout : {"circular", "spring", "biplot"}, default "circular"
        Node positions, see :func:`coda.layout`.
    seed : None, int or numpy.random.Generator
        Seed of the ``"spring"`` layout.
    x : array_like, optional
        The compositions, for ``layout="biplot"``.
    node_size_by : str or None, default "auto"
        The numeric node attribute that sets the node areas; None gives
        equal sizes; ``"auto"`` sizes by ``partial_variance`` when every
        node has it and gives equal sizes otherwise (see
        :func:`coda.network_style`).
    edge_labels : bool, default False
        Write each edge's partial correlation at its midpoint.
    legend : bool, default True
        Add a legend of the signs and of the widths of the weakest and the
        strongest edge.
    **kwargs
        Passed to :meth:`matplotlib.axes.Axes.scatter`, which draws the
        nodes (for example ``c``, ``edgecolors``, ``alpha``).

    Returns
    -------
    matplotlib.axes.Axes
        The Axes drawn on: the edges are its one ``LineCollection``, the
        nodes its one ``PathCollection``.

    Raises
    ------
    TypeError
        If ``G`` is not an undirected networkx graph, ``x`` is a dask
        collection (compute it first), or a keyword is not accepted by
        ``Axes.scatter``.
    ValueError
        If ``G`` has no nodes; as :func:`coda.network_style` (unknown
        layout, a node attribute named by ``node_size_by`` missing, an edge
        ``pcor`` that is not a partial correlation).

    See Also
    --------
    coda.network : the graph of significant partial correlations.
    coda.network_style : the positions, widths and colours drawn here.

    Notes
    -----
    A graph without edges is drawn as its nodes alone, and the title says
    that no edge was selected. Labels sit just outside each node, pointing
    away from the centre of the layout, so that long part names do not
    cover the edges.

    References
    ----------
    .. [1] Okabe, M. and Ito, K. (2008). Color universal design (CUD): how to
       make figures and presentations that are friendly to colorblind people.
       https://jfly.uni-koeln.de/color/

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> import coda
    >>> sim = coda.simulate(200, 6, graph="chain", seed=1)
    >>> G = coda.network(sim.data)
    >>> ax = coda.plot_network(G)
    >>> ax.get_title()
    'Partial-correlation network: 5 edges among 6 parts'
    >>> plt.close("all")
    """
    from matplotlib.collections import LineCollection, PathCollection
    from matplotlib.lines import Line2D

    check_graph(G, "G", drawn=True)
    check_in_memory(x, "x")
    kwargs = _keywords(kwargs, "plot_network", "Axes.scatter", _scatter_call(), PathCollection)
    style = network_style(G, layout=layout, seed=seed, x=x, node_size_by=node_size_by)
    ax = _axes(ax)
    nodes, edges = style.nodes, style.edges
    segments = [
        [(a, b), (c, d)] for a, b, c, d in edges[["x0", "y0", "x1", "y1"]].itertuples(index=False)
    ]
    ax.add_collection(
        LineCollection(
            segments,
            linewidths=edges["width"].to_numpy(dtype=float),
            colors=list(edges["color"]),
            capstyle="round",
            zorder=1,
        )
    )
    node_kwargs = _merge(
        {
            "s": nodes["size"].to_numpy(dtype=float),
            "c": "#F2F2F2",
            "edgecolors": "0.25",
            "linewidths": 1.0,
            "zorder": 2,
        },
        kwargs,
        PathCollection,
    )
    ax.scatter(nodes["x"].to_numpy(dtype=float), nodes["y"].to_numpy(dtype=float), **node_kwargs)
    _node_labels(ax, nodes)
    if edge_labels:
        for row in edges.itertuples(index=False):
            ax.text(
                (row.x0 + row.x1) / 2,
                (row.y0 + row.y1) / 2,
                f"{row.pcor:.2f}",
                ha="center",
                va="center",
                fontsize=7,
                zorder=3,
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85},
            )
    n, m = len(nodes), len(edges)
    if m:
        ax.set_title(f"Partial-correlation network: {m} edge{'s' * (m != 1)} among {n} parts")
    else:
        ax.set_title(f"Partial-correlation network: no edges selected among {n} parts")
    if legend and m:
        handles = [
            Line2D([], [], color=color, lw=3, label=label)
            for sign, color, label in (
                (1, POSITIVE_COLOR, "positive"),
                (-1, NEGATIVE_COLOR, "negative"),
            )
            if (edges["sign"] == sign).any()
        ]
        strength = edges["pcor"].abs().to_numpy(dtype=float)
        for k in dict.fromkeys((int(np.argmin(strength)), int(np.argmax(strength)))):
            handles.append(
                Line2D(
                    [],
                    [],
                    color="0.45",
                    lw=float(edges["width"].iloc[k]),
                    label=f"|pcor| = {strength[k]:.2f}",
                )
            )
        ax.legend(
            handles=handles,
            loc="center left",
            bbox_to_anchor=(1.0, 0.5),
            frameon=False,
            fontsize="small",
        )
    ax.set_aspect("equal", adjustable="datalim")
    ax.margins(0.18)
    ax.autoscale_view()
    ax.set_axis_off()
    return ax


def _scatter_call():
    from matplotlib.axes import Axes

    return Axes.scatter


def _node_labels(ax, nodes: pd.DataFrame) -> None:
    """Part names just outside their nodes, pointing away from the layout's centre."""
    xy = nodes[["x", "y"]].to_numpy(dtype=float)
    centre = xy.mean(axis=0)
    for (px, py), size, label in zip(xy, nodes["size"], nodes["label"], strict=True):
        direction = np.array([px, py]) - centre
        length = np.hypot(*direction)
        dx, dy = direction / length if length > 1e-12 else (0.0, 1.0)
        # A marker of area s (points^2) has a diameter of about sqrt(s) points.
        offset = np.sqrt(float(size)) / 2 + 3
        ax.annotate(
            str(label),
            (px, py),
            xytext=(dx * offset, dy * offset),
            textcoords="offset points",
            ha="left" if dx > 0.35 else "right" if dx < -0.35 else "center",
            va="bottom" if dy > 0.35 else "top" if dy < -0.35 else "center",
            fontsize=9,
            zorder=3,
        )


def plot_pcor_heatmap(
    matrix, /, *, ax=None, tests=None, alpha: float = 0.05, cluster: bool = False, **kwargs
):
    """Draw the lower triangle of a partial-correlation matrix as a heatmap.

    Cells below the diagonal are coloured on a diverging scale centred at
    zero (blue positive, red negative, from -1 to 1); significant pairs are
    marked with ``*`` when a test table is given.

    Parameters
    ----------
    matrix : DataFrame or ndarray of shape (n_parts, n_parts)
        Partial correlations, e.g. :func:`coda.pcor`; parts partialled out
        (rows and columns of NaN) are left blank. Ticks are labelled by the
        DataFrame's labels, or ``x1 .. xD`` for an array.
    ax : matplotlib.axes.Axes, optional
        The Axes to draw on; default the current Axes.
    tests : DataFrame, optional
        The table of :func:`coda.pcor_test` for the same data: pairs with
        ``qvalue <= alpha`` are marked ``*``.
    alpha : float, default 0.05
        The significance level for the marks.
    cluster : bool, default False
        Order the parts by :func:`coda.cluster_order` so that strongly
        linked parts sit together.
    **kwargs
        Passed to :meth:`matplotlib.axes.Axes.pcolormesh`, which draws the
        cells (for example ``cmap``, ``edgecolors``, ``linewidth``,
        ``norm``). The colour scale stays centred at zero: ``vmax`` alone
        also sets ``vmin = -vmax`` (and ``vmin`` alone ``vmax = -vmin``).

    Returns
    -------
    matplotlib.axes.Axes
        The Axes drawn on; its colorbar is a separate Axes of the figure.

    Raises
    ------
    ValueError
        If ``matrix`` is not a partial-correlation matrix (see
        :func:`coda.network_from_pcor`), ``tests`` does not match it, or
        ``alpha`` is not in (0, 1).
    TypeError
        If ``matrix`` or ``tests`` is a dask collection (compute it first),
        or a keyword is not accepted by ``Axes.pcolormesh``.

    See Also
    --------
    coda.pcor : the matrix drawn.
    coda.pcor_test : the significance marks.
    plot_network : the same matrix as a graph.

    Notes
    -----
    The matrix is symmetric with ones on its diagonal, so only the pairs
    :math:`i > j` are drawn: rows are parts 2 to D and columns parts 1 to
    D-1 (in the displayed order), and the cells above the diagonal of that
    square are masked.

    References
    ----------
    .. [1] Erb, I. (2020). Partial correlations in compositional data
       analysis. Applied Computing and Geosciences 6:100026.
       https://doi.org/10.1016/j.acags.2020.100026

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> import coda
    >>> x = coda.simulate(200, 5, graph="chain", seed=1).data
    >>> ax = coda.plot_pcor_heatmap(coda.pcor(x), tests=coda.pcor_test(x))
    >>> [t.get_text() for t in ax.get_yticklabels()]
    ['p02', 'p03', 'p04', 'p05']
    >>> sum(t.get_text() == "*" for t in ax.texts)
    4
    >>> plt.close("all")
    """
    from matplotlib.axes import Axes
    from matplotlib.collections import QuadMesh

    check_in_memory(matrix, "matrix")
    check_in_memory(tests, "tests")
    kwargs = _keywords(kwargs, "plot_pcor_heatmap", "Axes.pcolormesh", Axes.pcolormesh, QuadMesh)
    values, _ = check_pcor_matrix(matrix, "matrix")
    alpha = check_fraction(alpha, "alpha")
    d = values.shape[0]
    keys, names = _square_keys(matrix, d), _square_names(matrix, d)
    if tests is not None or cluster:
        check_unique_parts(
            keys,
            "matrix",
            why="tests name each pair by its parts, and cluster orders the parts by name",
            fix="rename the parts so that every part has its own name",
        )
    significant = []
    if tests is not None:
        check_tests_frame(tests, "tests")
        check_tests_parts(tests, "tests", matrix, "matrix")
        # A pair may be listed in either order (e.g. the matrix was reordered).
        a, b = check_tests_table(tests, "tests", keys, values)
        chosen = tests["qvalue"].to_numpy(dtype=float) <= alpha
        significant = list(zip(a[chosen].tolist(), b[chosen].tolist(), strict=True))
    order = list(range(d))
    if cluster:
        by_label = {key: k for k, key in enumerate(keys)}
        order = [by_label[label] for label in cluster_order(matrix)]
    shown = values[np.ix_(order, order)][1:, :-1]
    # Cell (r, c) of the shown square is the pair (order[r + 1], order[c]);
    # only r >= c lies below the diagonal of the full matrix.
    masked = np.ma.masked_where(
        np.triu(np.ones_like(shown, dtype=bool), k=1) | np.isnan(shown), shown
    )
    ax = _axes(ax)
    mesh_kwargs = _merge(
        {"cmap": "RdBu", **_symmetric_limits(kwargs), "edgecolors": "white", "linewidth": 0.5},
        kwargs,
        QuadMesh,
    )
    mesh = ax.pcolormesh(masked, **mesh_kwargs)
    rank = {part: k for k, part in enumerate(order)}
    for a, b in significant:
        row, col = max(rank[a], rank[b]) - 1, min(rank[a], rank[b])
        ax.text(
            col + 0.5,
            row + 0.5,
            "*",
            ha="center",
            va="center",
            fontsize=12,
            color="white" if abs(shown[row, col]) > 0.6 else "black",
        )
    _tick_labels(ax, [names[k] for k in order[:-1]], [names[k] for k in order[1:]])
    ax.set_xlim(0, d - 1)
    ax.set_ylim(d - 1, 0)
    ax.set_aspect("equal")
    for spine in ax.spines.values():
        spine.set_visible(False)
    colorbar = ax.figure.colorbar(mesh, ax=ax, shrink=0.8)
    colorbar.set_label("partial correlation")
    title = "Partial correlations"
    if tests is not None:
        title += f" (* q \u2264 {alpha:g})"
    ax.set_title(title)
    return ax


def _symmetric_limits(kwargs: dict) -> dict:
    """Default colour limits centred at zero: -1 to 1, or mirrored from the one bound given.

    A diverging colormap shows zero at its middle only on a symmetric range,
    so ``vmax=0.5`` alone gives -0.5 to 0.5 (and ``vmin=-0.5`` alone the same).
    """
    vmin, vmax = kwargs.get("vmin"), kwargs.get("vmax")
    if vmin is None and vmax is not None and vmax > 0:
        return {"vmin": -vmax, "vmax": vmax}
    if vmax is None and vmin is not None and vmin < 0:
        return {"vmin": vmin, "vmax": -vmin}
    return {"vmin": -1.0, "vmax": 1.0}


def plot_variation(t, /, *, ax=None, **kwargs):
    r"""Draw a variation matrix as a heatmap.

    Parameters
    ----------
    t : DataFrame or ndarray of shape (n_parts, n_parts)
        The variation matrix :math:`T_{ij} = \operatorname{var}\log(x_i/x_j)`,
        from :func:`coda.variation`. Ticks are labelled by the DataFrame's
        labels, or ``x1 .. xD`` for an array.
    ax : matplotlib.axes.Axes, optional
        The Axes to draw on; default the current Axes.
    **kwargs
        Passed to :meth:`matplotlib.axes.Axes.pcolormesh`, which draws the
        cells (for example ``cmap``, ``vmax``).

    Returns
    -------
    matplotlib.axes.Axes
        The Axes drawn on; its colorbar is a separate Axes of the figure.

    Raises
    ------
    ValueError
        If ``t`` is not a finite symmetric square matrix, or a labelled one
        has different row and column labels.
    TypeError
        If ``t`` is a dask collection (compute it first), or a keyword is
        not accepted by ``Axes.pcolormesh``.

    See Also
    --------
    coda.variation : the matrix drawn.
    plot_pcor_heatmap : partial correlations on the same parts.

    Notes
    -----
    The scale is sequential from 0 (parts exactly proportional, the
    diagonal) upwards (colormap ``viridis_r``): the darkest cells are the
    pairs of parts whose log-ratio varies most.

    References
    ----------
    .. [1] Aitchison, J. (1986). The Statistical Analysis of Compositional
       Data. Chapman and Hall. https://doi.org/10.1007/978-94-009-4109-0

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> import coda
    >>> x = coda.simulate(50, 4, seed=0).data
    >>> ax = coda.plot_variation(coda.variation(x))
    >>> ax.get_title(), [t.get_text() for t in ax.get_xticklabels()]
    ('Variation matrix', ['p01', 'p02', 'p03', 'p04'])
    >>> plt.close("all")
    """
    from matplotlib.axes import Axes
    from matplotlib.collections import QuadMesh

    check_in_memory(t, "t")
    kwargs = _keywords(kwargs, "plot_variation", "Axes.pcolormesh", Axes.pcolormesh, QuadMesh)
    check_square_labels(t, "t")
    values = check_square(t, "t")
    d = values.shape[0]
    names = _square_names(t, d)
    ax = _axes(ax)
    mesh_kwargs = _merge(
        {"cmap": "viridis_r", "vmin": 0.0, "edgecolors": "white", "linewidth": 0.5},
        kwargs,
        QuadMesh,
    )
    mesh = ax.pcolormesh(values, **mesh_kwargs)
    _tick_labels(ax, names, names)
    ax.set_xlim(0, d)
    ax.set_ylim(d, 0)
    ax.set_aspect("equal")
    for spine in ax.spines.values():
        spine.set_visible(False)
    colorbar = ax.figure.colorbar(mesh, ax=ax, shrink=0.8)
    colorbar.set_label(r"$\mathrm{var}\,\log(x_i / x_j)$")
    ax.set_title("Variation matrix")
    return ax
