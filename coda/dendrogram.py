"""The CoDa-dendrogram of a sequential binary partition: its geometry.

:func:`dendrogram_layout` returns data and draws nothing;
:func:`coda.plot_balance_dendrogram` draws it. :mod:`coda.diagrams`, the
module of the other diagrams' coordinates, re-exports it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from coda._labels import composition
from coda._results import DendrogramLayout
from coda._validation import check_basis_parts, check_in_memory, check_sbp, check_varying

__all__ = ["dendrogram_layout"]


def dendrogram_layout(sbp, x, /) -> DendrogramLayout:
    r"""Geometry of the CoDa-dendrogram of a sequential binary partition.

    Parameters
    ----------
    sbp : array_like or DataFrame of shape (n_parts - 1, n_parts)
        A sequential binary partition (+1 numerator, -1 denominator, 0
        outside), one row per balance, first row splitting all parts. A
        DataFrame's columns must be the parts of a DataFrame ``x``, in the
        same order, as for :func:`coda.balances`.
    x : array_like or DataFrame of shape (n_samples, n_parts)
        Strictly positive compositions, at least 2 samples.

    Returns
    -------
    DendrogramLayout
        ``leaves``, ``balances``, ``segments`` and ``half_range`` (see
        Notes). Balances are named as by :func:`coda.balances`: after the
        index of a DataFrame ``sbp``, or else after their groups, for
        example ``"p01,p02/p03"``.

    Raises
    ------
    TypeError
        If ``sbp`` or ``x`` is a dask collection (compute it first).
    ValueError
        If ``sbp`` is not a sequential binary partition of the parts of
        ``x``, a DataFrame ``sbp`` is labelled with other parts than ``x``
        or lists them in another order, or ``x`` is not a strictly positive
        composition.

    See Also
    --------
    coda.balances : the balance coordinates summarised here.
    coda.sbp_basis : the orthonormal basis of the partition.

    Notes
    -----
    What is drawn. Leaves (parts) sit at :math:`x = 0, 1, \dots, D-1`,
    :math:`y = 0`, ordered by walking the partition from the first row,
    numerator group left of denominator group. Each balance :math:`k` has
    a horizontal bar at height :math:`h_k` from the position of its
    numerator child (a leaf or a sub-balance's node) to that of its
    denominator child; its node is the middle of the bar. The vertical
    ``"balance"`` segment above a node, up to its parent's bar (for the
    first balance, up to the top :math:`H`), has length equal to the
    sample variance :math:`\mathrm{var}(b_k)` (divisor :math:`n-1`):
    :math:`h_k = H - \sum_{j \in \mathrm{path}(k)} \mathrm{var}(b_j)`
    over the balances from the root down to :math:`k`, with :math:`H` the
    largest such sum, so the lowest bar lies at :math:`y = 0`. ``"leaf"``
    segments join each leaf to its parent's bar. Each bar is an axis of
    balance values from :math:`-r` (right end) to :math:`+r` (left end,
    the numerator side) with the common
    :math:`r = \max_k (|\bar b_k| + 2\,\mathrm{sd}(b_k))`, and ``mean_x``
    marks the mean :math:`\bar b_k` on it:
    :math:`x_{\text{mid}} - \bar b_k / r \cdot (x_1 - x_0)/2`.

    References
    ----------
    .. [1] Egozcue, J. J. and Pawlowsky-Glahn, V. (2005). Groups of parts
       and their balances in compositional data analysis. Mathematical
       Geology 37:795-828. https://doi.org/10.1007/s11004-005-7381-9
    .. [2] Thió-Henestrosa, S., Egozcue, J. J., Pawlowsky-Glahn, V.,
       Kovács, L. Ó. and Kovács, G. P. (2008). Balance-dendrogram. A new
       routine of CoDaPack. Computers & Geosciences 34:1682-1696.
       https://doi.org/10.1016/j.cageo.2007.06.011

    Examples
    --------
    >>> import numpy as np
    >>> import coda
    >>> x = coda.simulate(50, 3, seed=0).data
    >>> dl = coda.dendrogram_layout(np.array([[1, 1, -1], [1, -1, 0]]), x)
    >>> dl.leaves
         x  y
    p01  0  0
    p02  1  0
    p03  2  0
    >>> dl.balances[["x", "height", "bar_x0", "bar_x1", "parent"]].round(3)
                    x  height  bar_x0  bar_x1       parent
    p01,p02/p03  1.25   0.751     0.5     2.0
    p01/p02      0.50   0.000     0.0     1.0  p01,p02/p03
    """
    from coda.transforms import balances

    check_in_memory(sbp, "sbp")
    values, labels = composition(x, "x", min_parts=2, min_samples=2)
    d = values.shape[1]
    rows = check_sbp(sbp, "sbp", n_parts=d)
    # Rows of sbp are matched to x's parts by position: labels must agree, as in balances.
    if isinstance(sbp, pd.DataFrame):
        check_basis_parts(sbp.columns, labels.parts, "sbp")
    parts = list(labels.parts) if labels.parts is not None else labels.part_names(d)
    coords = balances(pd.DataFrame(values, columns=[str(p) for p in parts]), rows)
    names = list(sbp.index) if isinstance(sbp, pd.DataFrame) else list(coords.columns)
    means = coords.mean().to_numpy()
    variances = coords.var(ddof=1).to_numpy()
    sides, parent, preorder, order = _walk(rows)
    leaf_x = np.empty(d)
    leaf_x[order] = np.arange(d)
    node_x: dict[int, float] = {}
    bars: dict[int, tuple[float, float]] = {}
    for k in reversed(preorder):  # children before their parent
        left, right = (
            float(leaf_x[first]) if child is None else node_x[child] for first, child in sides[k]
        )
        bars[k] = (left, right)
        node_x[k] = (left + right) / 2
    depth = {}
    for k in preorder:
        above = 0.0 if parent[k] is None else depth[parent[k]]
        depth[k] = above + variances[k]
    top = max(depth.values())
    height = {k: top - depth[k] for k in depth}
    half_range = float(np.max(np.abs(means) + 2 * np.sqrt(variances)))
    check_varying(np.array([half_range]), "x", ["every balance"], "balances")
    mean_x = {
        k: node_x[k] - means[k] / half_range * (bars[k][1] - bars[k][0]) / 2 for k in range(d - 1)
    }
    balance_frame = pd.DataFrame(
        {
            "x": [node_x[k] for k in range(d - 1)],
            "height": [height[k] for k in range(d - 1)],
            "mean": means,
            "variance": variances,
            "bar_x0": [bars[k][0] for k in range(d - 1)],
            "bar_x1": [bars[k][1] for k in range(d - 1)],
            "mean_x": [mean_x[k] for k in range(d - 1)],
            "parent": ["" if parent[k] is None else names[parent[k]] for k in range(d - 1)],
        },
        index=pd.Index(names),
    )
    leaves = pd.DataFrame(
        {"x": np.arange(d), "y": np.zeros(d, dtype=np.int64)},
        index=pd.Index([parts[p] for p in order]),
    )
    segments = []
    for k in range(d - 1):
        segments.append((bars[k][0], height[k], bars[k][1], height[k], "bar"))
        up = top if parent[k] is None else height[parent[k]]
        segments.append((node_x[k], height[k], node_x[k], up, "balance"))
    leaf_parent = {
        leaf: k for k, pair in enumerate(sides) for leaf, child in pair if child is None
    }
    for position, leaf in enumerate(order):
        segments.append((float(position), 0.0, float(position), height[leaf_parent[leaf]], "leaf"))
    segment_frame = pd.DataFrame(segments, columns=["x0", "y0", "x1", "y1", "kind"])
    return DendrogramLayout(
        leaves=leaves, balances=balance_frame, segments=segment_frame, half_range=half_range
    )


def _walk(rows: np.ndarray) -> tuple[list, dict, list, list]:
    """The tree of a checked partition: ``(sides, parent, preorder, order)``.

    ``sides[k]``: balance k's numerator and denominator sides as ``(first
    part, child balance or None for a leaf)``; ``preorder``: the balances from
    the root down, numerator side first; ``order``: the leaves as that walk
    meets them. Supports are nested or disjoint, so a group is named by its
    first part and size (O(D) memory, where sets of parts took O(D^2) for a
    chain), and the walk keeps its own stack: recursion failed from about
    500 balances deep.
    """
    d = rows.shape[1]

    def described(mask: np.ndarray) -> list[tuple[int, int]]:  # (first True, count) per row
        return list(zip(mask.argmax(axis=1).tolist(), mask.sum(axis=1).tolist(), strict=True))

    by_group = {group: k for k, group in enumerate(described(rows != 0))}
    sides = [
        tuple((first, None if size == 1 else by_group[first, size]) for first, size in pair)
        for pair in zip(described(rows > 0), described(rows < 0), strict=True)
    ]
    parent = {child: k for k, pair in enumerate(sides) for _, child in pair if child is not None}
    root = by_group[0, d]
    parent[root] = None
    preorder, order, stack = [], [], [(0, root)]
    while stack:
        first, k = stack.pop()
        if k is None:
            order.append(first)
        else:
            preorder.append(k)
            # The denominator side goes on first, so that the numerator side is walked first.
            stack.extend(reversed(sides[k]))
    return sides, parent, preorder, order
