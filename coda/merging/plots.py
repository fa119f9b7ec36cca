"""Axes-level plots of the compositional statistics of a merge.

:func:`plot_layer_composition` stacks each layer's composition in one bar;
:func:`plot_balance_depth` draws balances against depth, layers in the
order of the rows. The task network of :func:`coda.merging.task_network` is drawn by
:func:`coda.plot_network`. Extra keywords go to one named matplotlib call,
and keywords it does not accept raise a TypeError; pyplot is imported
inside the functions, and nothing here calls ``plt.show()``.
"""

from __future__ import annotations

import numpy as np

from coda._validation import check_merge_statistic
from coda.plotting import _GROUP_COLORS, _axes, _keywords, _merge

__all__ = ["plot_balance_depth", "plot_layer_composition"]


def _row_labels(frame) -> list[str]:
    """Layer names, or ``task/layer`` for rows indexed by (task, layer)."""
    if frame.index.nlevels > 1:
        return ["/".join(str(level) for level in row) for row in frame.index]
    return [str(row) for row in frame.index]


def _layer_order(orders: list) -> list:
    """The layers of every task in one order that keeps each task's own.

    A layer one task lacks goes right after the layer that precedes it in
    the task that has it, so that layers (0, 2) and (0, 1, 2) give (0, 1, 2).
    """
    merged: list = []
    for order in orders:
        position = 0
        for layer in order:
            if layer in merged:
                position = merged.index(layer) + 1
            else:
                merged.insert(position, layer)
                position += 1
    return merged


def plot_layer_composition(frame, /, *, ax=None, **kwargs):
    """Stacked bars of each layer's composition, one bar per row.

    Parameters
    ----------
    frame : DataFrame
        A statistic of :func:`coda.merging.describe` (rows the layers, or
        (task, layer); columns the parts), closed to 1 per row.
    ax : matplotlib.axes.Axes, optional
        Where to draw; the current Axes when None.
    **kwargs
        Passed to every :meth:`matplotlib.axes.Axes.bar` call (one per
        part), for example ``width`` or ``edgecolor``.

    Returns
    -------
    matplotlib.axes.Axes
        The Axes drawn on, with one bar container per part and a legend.

    Raises
    ------
    ValueError
        If ``frame`` is not a DataFrame.
    TypeError
        If ``kwargs`` holds a keyword ``Axes.bar`` does not accept.

    See Also
    --------
    plot_balance_depth : The balances of these compositions by depth.

    Notes
    -----
    Rows without mass (NaN) draw as empty bars. Colours follow the
    colour-blind-safe palette of Okabe and Ito (2008), repeated after eight
    parts.

    References
    ----------
    .. [1] Okabe, M. and Ito, K. (2008). Color Universal Design (CUD): how
       to make figures and presentations that are friendly to colorblind
       people. https://jfly.uni-koeln.de/color/

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> import pandas as pd
    >>> from coda.merging.plots import plot_layer_composition
    >>> shares = pd.DataFrame(
    ...     [[0.5, 0.3, 0.2], [0.2, 0.2, 0.6]],
    ...     index=pd.Index(["l0", "l1"], name="layer"),
    ...     columns=["task0", "task1", "task2"],
    ... )
    >>> ax = plot_layer_composition(shares)
    >>> len(ax.containers), len(ax.patches)
    (3, 6)
    >>> plt.close("all")
    """
    from matplotlib.axes import Axes
    from matplotlib.patches import Rectangle

    check_merge_statistic(frame, "frame", None)
    kwargs = _keywords(kwargs, "plot_layer_composition", "Axes.bar", Axes.bar, Rectangle)
    ax = _axes(ax)
    values = np.nan_to_num(frame.to_numpy(dtype=float))
    positions = np.arange(values.shape[0])
    bottom = np.zeros(values.shape[0])
    for j, part in enumerate(frame.columns):
        defaults = {"color": _GROUP_COLORS[j % len(_GROUP_COLORS)], "label": str(part)}
        ax.bar(positions, values[:, j], bottom=bottom, **_merge(defaults, kwargs, Rectangle))
        bottom = bottom + values[:, j]
    ax.set_xticks(positions)
    ax.set_xticklabels(_row_labels(frame), rotation=90)
    ax.set_ylabel("share")
    ax.legend()
    return ax


def plot_balance_depth(balances_frame, /, *, ax=None, **kwargs):
    """Balances against depth: one line per balance, layers in the order of the rows on x.

    Parameters
    ----------
    balances_frame : DataFrame
        Balances of :func:`coda.merging.category_balances` (rows the
        layers) or :func:`coda.merging.fate_balances` (rows (task, layer):
        one line per task and balance).
    ax : matplotlib.axes.Axes, optional
        Where to draw; the current Axes when None.
    **kwargs
        Passed to every :meth:`matplotlib.axes.Axes.plot` call, for example
        ``linewidth`` or ``marker``.

    Returns
    -------
    matplotlib.axes.Axes
        The Axes drawn on, with one line per balance (and task) and a legend.

    Raises
    ------
    ValueError
        If ``balances_frame`` is not a DataFrame.
    TypeError
        If ``kwargs`` holds a keyword ``Axes.plot`` does not accept.

    See Also
    --------
    plot_layer_composition : The compositions themselves.

    Notes
    -----
    With rows (task, layer), every task is drawn on the same x positions:
    the layers of all tasks, in an order that keeps each task's own; a
    layer missing for one task (a row dropped, for example by ``dropna``)
    is a gap in its line. Layers keep the order of the rows, which
    :func:`coda.merging.describe` gives in the base's tensor order: a
    mapping's own order (model order for a state dict), but sorted by name
    for a checkpoint file (:meth:`Checkpoint.keys`), where ``layer10`` comes
    before ``layer2``. For depth on x from a file, pass ``describe`` a
    ``layers`` mapping in model order, whose order the rows follow, or
    reorder the rows first. A balance of 0 means the two groups of parts
    have equal geometric means, so a dashed line marks it.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> import pandas as pd
    >>> from coda.merging.plots import plot_balance_depth
    >>> b = pd.DataFrame(
    ...     [[-1.0, 0.5], [-0.5, 0.2], [0.1, -0.3]],
    ...     index=pd.Index(["l0", "l1", "l2"], name="layer"),
    ...     columns=["kept_vs_trimmed", "interference"],
    ... )
    >>> ax = plot_balance_depth(b)
    >>> [line.get_label() for line in ax.get_lines()[1:]]
    ['kept_vs_trimmed', 'interference']
    >>> plt.close("all")
    """
    from matplotlib.axes import Axes
    from matplotlib.lines import Line2D

    check_merge_statistic(balances_frame, "balances_frame", None)
    kwargs = _keywords(kwargs, "plot_balance_depth", "Axes.plot", Axes.plot, Line2D)
    ax = _axes(ax)
    ax.axhline(0.0, color="0.6", linestyle="--", linewidth=0.8)
    if balances_frame.index.nlevels > 1:
        # Every task on the same x positions, a task's missing layers (rows
        # dropped, e.g. by dropna) as gaps: never its later layers shifted
        # onto the ticks of others.
        tasks = balances_frame.index.get_level_values(0).unique()
        frames = [balances_frame.xs(task, level=0) for task in tasks]
        layers = _layer_order([frame.index for frame in frames])
        groups = [
            (f"{task}: ", frame.reindex(layers)) for task, frame in zip(tasks, frames, strict=True)
        ]
    else:
        layers = balances_frame.index
        groups = [("", balances_frame)]
    depth = np.arange(len(layers))
    count = 0
    for prefix, frame in groups:
        for column in frame.columns:
            defaults = {
                "color": _GROUP_COLORS[count % len(_GROUP_COLORS)],
                "label": f"{prefix}{column}",
            }
            ax.plot(depth, frame[column].to_numpy(dtype=float), **_merge(defaults, kwargs, Line2D))
            count += 1
    ax.set_xticks(depth)
    ax.set_xticklabels([str(row) for row in layers], rotation=90)
    ax.set_xlabel("layer")
    ax.set_ylabel("balance")
    if count:
        # No task or no column: no line, nothing to label.
        ax.legend()
    return ax
