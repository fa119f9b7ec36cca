"""Plots of compositional diagrams: clr biplot, ternary diagram, CoDa-dendrogram.

Axes-level functions (STYLE rule 17) that draw what :mod:`coda.diagrams`
computes: :func:`plot_biplot`, :func:`plot_ternary` and
:func:`plot_balance_dendrogram`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from coda._labels import unwrap
from coda._validation import (
    check_fraction,
    check_groups,
    check_in_memory,
    check_parts,
)
from coda.dendrogram import dendrogram_layout
from coda.diagrams import (
    biplot_coordinates,
    ternary_coordinates,
    ternary_region,
)
from coda.plotting import _GROUP_COLORS, _SQRT3_2, _axes, _keywords, _merge, _scatter_call

__all__ = ["plot_balance_dendrogram", "plot_biplot", "plot_ternary"]


def plot_biplot(x, /, *, ax=None, scaling: str = "form", groups=None, **kwargs):
    """Draw a clr biplot: samples as points, parts as rays from the origin.

    Parameters
    ----------
    x : array_like of shape (n_samples, n_parts)
        Strictly positive compositions.
    ax : matplotlib.axes.Axes, optional
        The Axes to draw on; default the current Axes.
    scaling : {"form", "covariance"}, default "form"
        ``"form"`` keeps distances between samples; ``"covariance"`` makes
        ray lengths and angles show clr standard deviations and
        correlations (see :func:`coda.biplot_coordinates`).
    groups : array_like of length n_samples, optional
        A group label per sample: each group gets its own colour and a
        legend entry, in order of first appearance. Labels are compared as
        their text, so missing labels (NaN, None) form one group. A Series
        given with a DataFrame ``x`` is lined up with its rows by index
        label (a sorted or filtered ``x`` keeps each sample's group); an
        index with other labels is an error.
    **kwargs
        Passed to :meth:`matplotlib.axes.Axes.scatter`, which draws the
        samples (once per group), for example ``s``, ``marker``, ``alpha``.

    Returns
    -------
    matplotlib.axes.Axes
        The Axes drawn on: one ``FancyArrow`` patch per part and one
        ``PathCollection`` of points per group.

    Raises
    ------
    ValueError
        As :func:`coda.biplot_coordinates`; if ``groups`` does not have one
        label per sample.
    TypeError
        If ``x`` or ``groups`` is a dask collection (compute it first), or
        a keyword is not accepted by ``Axes.scatter``.

    See Also
    --------
    coda.biplot_coordinates : the coordinates drawn here.
    coda.clr : the coordinates whose principal components are shown.

    Notes
    -----
    Samples and rays live on different scales, so all rays are stretched
    by one common factor until the longest reaches 90% of the farthest
    sample; angles between rays and their relative lengths are unchanged.
    The axis labels give the fraction of the total clr variance on each
    axis.

    References
    ----------
    .. [1] Aitchison, J. and Greenacre, M. (2002). Biplots of compositional
       data. Journal of the Royal Statistical Society C 51:375-392.
       https://doi.org/10.1111/1467-9876.00275

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> import coda
    >>> x = coda.simulate(60, 5, seed=0).data
    >>> ax = coda.plot_biplot(x)
    >>> len(ax.patches), len(ax.collections[0].get_offsets())
    (5, 60)
    >>> ax.get_xlabel().startswith("PC1 (")
    True
    >>> plt.close("all")
    """
    from matplotlib.collections import PathCollection

    check_in_memory(x, "x")
    check_in_memory(groups, "groups")
    kwargs = _keywords(kwargs, "plot_biplot", "Axes.scatter", _scatter_call(), PathCollection)
    coords = biplot_coordinates(x, scaling=scaling)
    samples = coords.samples.to_numpy(dtype=float)
    rays = coords.parts.to_numpy(dtype=float)
    index = x.index if isinstance(x, pd.DataFrame) else None
    labels = None if groups is None else check_groups(groups, "groups", samples.shape[0], index)
    ax = _axes(ax)
    if labels is None:
        ax.scatter(
            samples[:, 0],
            samples[:, 1],
            **_merge(
                {"s": 18, "c": "0.55", "alpha": 0.8, "linewidths": 0}, kwargs, PathCollection
            ),
        )
    else:
        # Groups are told apart by their legend text, so labels that print alike
        # (every NaN of a float column, 1 and "1") are one group, drawn once.
        mask_of = np.asarray([str(g) for g in labels])
        kinds = list(dict.fromkeys(mask_of.tolist()))
        palette = _GROUP_COLORS if len(kinds) <= len(_GROUP_COLORS) else _many_colors(len(kinds))
        for kind, color in zip(kinds, palette, strict=False):
            chosen = mask_of == kind
            ax.scatter(
                samples[chosen, 0],
                samples[chosen, 1],
                label=kind,
                **_merge(
                    {"s": 18, "c": color, "alpha": 0.8, "linewidths": 0}, kwargs, PathCollection
                ),
            )
        ax.legend(title="group", loc="best", fontsize="small", frameon=False)
    reach = np.hypot(samples[:, 0], samples[:, 1]).max()
    longest = np.hypot(rays[:, 0], rays[:, 1]).max()
    factor = 0.9 * reach / longest if longest > 0 and reach > 0 else 1.0
    width = 0.004 * max(reach, 1e-12)
    for name, (dx, dy) in zip(coords.parts.index, rays * factor, strict=True):
        ax.arrow(
            0.0,
            0.0,
            dx,
            dy,
            width=width,
            head_width=6 * width,
            head_length=8 * width,
            length_includes_head=True,
            color="0.15",
            zorder=3,
        )
        ax.annotate(
            str(name),
            (dx, dy),
            xytext=(4 * np.sign(dx), 4 * np.sign(dy)),
            textcoords="offset points",
            ha="left" if dx >= 0 else "right",
            va="bottom" if dy >= 0 else "top",
            fontsize=9,
            # Under the arrows, over the points: a light box keeps the part
            # names readable without hiding any arrow head.
            zorder=2.5,
            bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.7},
        )
    ax.axhline(0, color="0.85", lw=0.8, zorder=0)
    ax.axvline(0, color="0.85", lw=0.8, zorder=0)
    ax.set_xlabel(f"PC1 ({100 * coords.explained[0]:.1f}% of clr variance)")
    ax.set_ylabel(f"PC2 ({100 * coords.explained[1]:.1f}%)")
    ax.set_title(f"clr biplot ({coords.scaling} scaling)")
    ax.set_aspect("equal", adjustable="datalim")
    ax.margins(0.08)
    return ax


def _many_colors(k: int) -> list:
    import matplotlib

    cmap = matplotlib.colormaps["tab20"]
    # Hex strings: an RGBA tuple given as one scatter's ``c`` is ambiguous
    # (one colour or four values to map) and matplotlib warns.
    return [matplotlib.colors.to_hex(cmap(i % 20)) for i in range(k)]


def _ternary_xy(a, b, c) -> tuple:
    """Cartesian point of proportions (a, b, c): a at (0, 0), b at (1, 0), c at the apex."""
    return b + c / 2, c * _SQRT3_2


def plot_ternary(
    x, /, *, parts=None, ax=None, grid: bool = True, center: bool = False, region=None, **kwargs
):
    r"""Draw a ternary diagram of a three-part subcomposition.

    Parameters
    ----------
    x : array_like of shape (n_samples, n_parts)
        Compositions.
    parts : sequence of three ints or str, optional
        The three parts to show (positions, or names for DataFrame input),
        placed at the lower left, lower right and top vertex; optional when
        ``x`` has three parts.
    ax : matplotlib.axes.Axes, optional
        The Axes to draw on; default the current Axes.
    grid : bool, default True
        Draw gridlines every 0.1 of each part.
    center : bool, default False
        Mark the centre (closed geometric mean) of the subcomposition.
    region : float, optional
        Draw the confidence region of this level (e.g. 0.95) around the
        centre, from :func:`coda.ternary_region`.
    **kwargs
        Passed to :meth:`matplotlib.axes.Axes.scatter`, which draws the
        samples, for example ``s``, ``c``, ``alpha``.

    Returns
    -------
    matplotlib.axes.Axes
        The Axes drawn on (its axis lines hidden, aspect equal).

    Raises
    ------
    ValueError
        As :func:`coda.ternary_coordinates`; if ``region`` is not in (0, 1);
        with ``center`` or ``region``, as :func:`coda.ternary_region` (zeros
        in the three parts, fewer than 3 samples). Nothing is drawn then.
    TypeError
        If ``x`` is a dask collection (compute it first), or a keyword is
        not accepted by ``Axes.scatter``.

    See Also
    --------
    coda.ternary_coordinates : the positions of the points.
    coda.ternary_region : the centre and confidence region.

    Notes
    -----
    A point with proportions :math:`(a, b, c)` of the three parts (closed
    to 1) sits at :math:`(b + c/2, \sqrt{3} c / 2)`. Gridlines join the
    points where one part is constant; the region is an ellipse in ilr
    coordinates mapped back to the simplex, hence its curved shape.

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
    >>> x = coda.simulate(40, 4, seed=0).data
    >>> ax = coda.plot_ternary(x, parts=["p01", "p02", "p03"], center=True, region=0.9)
    >>> [t.get_text() for t in ax.texts[:3]]
    ['p01', 'p02', 'p03']
    >>> plt.close("all")
    """
    from matplotlib.collections import LineCollection, PathCollection

    check_in_memory(x, "x")
    kwargs = _keywords(kwargs, "plot_ternary", "Axes.scatter", _scatter_call(), PathCollection)
    if region is not None:
        region = check_fraction(region, "region")
    points = ternary_coordinates(x, parts=parts)
    names = _ternary_names(x, parts)
    if center or region is not None:
        # Before anything is drawn: the region needs positive parts and a few samples,
        # and a refusal must not leave a half-drawn Axes (or a new figure) behind.
        middle, outline = ternary_region(x, parts=parts, level=0.95 if region is None else region)
    ax = _axes(ax)
    corners = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, _SQRT3_2], [0.0, 0.0]])
    ax.plot(corners[:, 0], corners[:, 1], color="0.2", lw=1.0, zorder=1)
    if grid:
        lines = []
        for level in np.arange(1, 10) / 10:
            rest = 1 - level
            # Lines of constant a, b and c: each joins the two edges it meets.
            lines.append([_ternary_xy(level, rest, 0.0), _ternary_xy(level, 0.0, rest)])
            lines.append([_ternary_xy(rest, level, 0.0), _ternary_xy(0.0, level, rest)])
            lines.append([_ternary_xy(rest, 0.0, level), _ternary_xy(0.0, rest, level)])
        ax.add_collection(LineCollection(lines, colors="0.88", linewidths=0.6, zorder=0))
    for (vx, vy), name, ha, va in zip(
        corners[:3], names, ("right", "left", "center"), ("top", "top", "bottom"), strict=True
    ):
        ax.annotate(
            str(name),
            (vx, vy),
            xytext=(0, 6 if va == "bottom" else -4),
            textcoords="offset points",
            ha=ha,
            va=va,
            fontsize=11,
        )
    ax.scatter(
        points["x"].to_numpy(dtype=float),
        points["y"].to_numpy(dtype=float),
        **_merge(
            {"s": 16, "c": "#0072B2", "alpha": 0.75, "linewidths": 0, "zorder": 2},
            kwargs,
            PathCollection,
        ),
    )
    if center or region is not None:
        if region is not None:
            ax.plot(
                outline["x"].to_numpy(dtype=float),
                outline["y"].to_numpy(dtype=float),
                color="#D55E00",
                lw=1.5,
                zorder=3,
                # Not ".0%": a 99.5% region would be labelled 100%.
                label=f"{100 * region:g}% region",
            )
        if center:
            ax.plot(
                middle["x"].to_numpy(dtype=float),
                middle["y"].to_numpy(dtype=float),
                marker="P",
                ms=9,
                color="#D55E00",
                mec="white",
                ls="none",
                zorder=4,
                label="centre",
            )
        ax.legend(loc="upper right", fontsize="small", frameon=False)
    ax.set_xlim(-0.08, 1.08)
    ax.set_ylim(-0.08, _SQRT3_2 + 0.08)
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.set_title("Ternary diagram", pad=14)
    return ax


def _ternary_names(x, parts) -> list:
    """The names written at the vertices (``x1``, ``x2``, ... for unlabelled arrays)."""
    values, labels = unwrap(x)
    d = values.shape[1]
    positions = [0, 1, 2] if parts is None else check_parts(parts, "parts", labels.parts, d)
    names = labels.part_names(d)
    return [names[k] for k in positions]


def plot_balance_dendrogram(sbp, x, /, *, ax=None, **kwargs):
    """Draw the CoDa-dendrogram of a sequential binary partition.

    Each balance is a horizontal bar under the node where its two groups of
    parts join; the mean of the balance is marked on the bar, and the
    vertical line above it is as long as the balance's variance.

    Parameters
    ----------
    sbp : array_like or DataFrame of shape (n_parts - 1, n_parts)
        A sequential binary partition (+1, -1, 0), as for
        :func:`coda.sbp_basis`; a DataFrame's columns must be the parts of
        a DataFrame ``x`` in the same order (see
        :func:`coda.dendrogram_layout`).
    x : array_like of shape (n_samples, n_parts)
        Strictly positive compositions.
    ax : matplotlib.axes.Axes, optional
        The Axes to draw on; default the current Axes.
    **kwargs
        Passed to :class:`matplotlib.collections.LineCollection`, which
        draws every line of the tree (for example ``colors``,
        ``linewidths``).

    Returns
    -------
    matplotlib.axes.Axes
        The Axes drawn on, with the parts as x tick labels.

    Raises
    ------
    ValueError
        As :func:`coda.dendrogram_layout`.
    TypeError
        If ``sbp`` or ``x`` is a dask collection (compute it first), or a
        keyword is not accepted by ``LineCollection``.

    See Also
    --------
    coda.dendrogram_layout : the geometry drawn here.
    coda.sbp_basis : the balances of the partition.

    Notes
    -----
    Every bar spans the same range of balance values, from :math:`+r`
    at its left (numerator) end to :math:`-r` at its right end, so the
    mean markers of different balances can be compared by position. The
    length of the vertical line above a bar is the variance of its
    balance, so a long drop marks a balance that varies much between
    samples.

    References
    ----------
    .. [1] Pawlowsky-Glahn, V. and Egozcue, J. J. (2011). Exploring
       compositional data with the CoDa-dendrogram. Austrian Journal of
       Statistics 40:103-113. https://doi.org/10.17713/ajs.v40i1&2.202

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> import coda
    >>> x = coda.simulate(50, 4, seed=0).data
    >>> sbp = [[1, 1, -1, -1], [1, -1, 0, 0], [0, 0, 1, -1]]
    >>> ax = coda.plot_balance_dendrogram(sbp, x)
    >>> [t.get_text() for t in ax.get_xticklabels()]
    ['p01', 'p02', 'p03', 'p04']
    >>> plt.close("all")
    """
    from matplotlib.collections import LineCollection

    check_in_memory(sbp, "sbp")
    check_in_memory(x, "x")
    kwargs = _keywords(
        kwargs,
        "plot_balance_dendrogram",
        "LineCollection",
        LineCollection.__init__,
        LineCollection,
    )
    tree = dendrogram_layout(sbp, x)
    ax = _axes(ax)
    segments = tree.segments
    lines = [
        [(a, b), (c, d)]
        for a, b, c, d in segments[["x0", "y0", "x1", "y1"]].itertuples(index=False)
    ]
    ax.add_collection(
        LineCollection(
            lines,
            **_merge(
                {"colors": "0.2", "linewidths": 1.2, "capstyle": "butt"}, kwargs, LineCollection
            ),
        )
    )
    balances = tree.balances
    ax.plot(
        balances["mean_x"].to_numpy(dtype=float),
        balances["height"].to_numpy(dtype=float),
        ls="none",
        marker="o",
        ms=5,
        color="#D55E00",
        zorder=3,
        label="balance mean",
    )
    leaves = tree.leaves
    ax.set_xticks(leaves["x"].to_numpy(dtype=float))
    ax.set_xticklabels([str(p) for p in leaves.index], rotation=90)
    ax.set_ylabel("balance variance (length of the vertical lines)")
    ax.autoscale_view()
    ax.margins(x=0.05, y=0.05)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.legend(loc="upper right", fontsize="small", frameon=False)
    ax.set_title("CoDa-dendrogram")
    return ax
