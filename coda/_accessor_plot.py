"""The ``plot`` namespace of the DataFrame accessor: ``df.coda.plot.network()`` and others.

Each method draws with the plot function of the same purpose on the
DataFrame's parts (see :mod:`coda.accessor` for the rules) and returns its
Axes.
"""

from __future__ import annotations

import pandas as pd

from coda._validation import (
    _is_real_dtype,
    check_accessor_parts,
    check_column,
    check_flag,
    check_one_column,
)
from coda.covariance import variation
from coda.graph import network
from coda.inference import pcor_test
from coda.partial import pcor
from coda.plot_diagrams import plot_biplot, plot_ternary
from coda.plotting import plot_network, plot_pcor_heatmap, plot_variation


def _restrict(obj):
    """``obj`` restricted to its parts (``obj`` itself when nothing is ignored)."""
    _, ignored = check_accessor_parts(obj)
    if not ignored:
        return obj
    # By position: a non-numeric column may share its name with a part.
    return obj.loc[:, [_is_real_dtype(dt) for dt in obj.dtypes]]


def _groups_column(frame: pd.DataFrame, groups):
    """``groups`` as biplot takes it: a column of ``frame`` when it names one exactly.

    A scalar (a string, a number, a tuple that is no sequence of one label
    per sample) must name a column; a whole group of MultiIndex columns is
    not one column. A label shared by a part and an ignored column names the
    ignored one: a part's values are no groups.
    """
    if groups is None or not pd.api.types.is_hashable(groups):
        return groups
    columns = list(frame.columns)
    if groups in columns:
        return frame.iloc[:, check_one_column(frame, groups, "groups")]
    if isinstance(groups, tuple) and len(groups) == len(frame):
        return groups  # one label per sample
    check_column(groups, "groups", columns)
    return groups


class CodaPlotAccessor:
    """The plots of a DataFrame's parts: ``df.coda.plot``.

    Each method computes what the plain plotting function draws (a graph, a
    matrix) with the coda function of that name, draws it with the
    ``coda.plot_*`` function and returns that function's Axes. Keywords not
    named in a method go to the plotting function (``ax`` among them).

    Parameters
    ----------
    df : DataFrame
        The frame behind ``df.coda``; its parts are as in :class:`CodaAccessor`.

    See Also
    --------
    CodaAccessor : the computations.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> import coda
    >>> df = coda.simulate(50, 4, seed=0).data
    >>> fig, ax = plt.subplots()
    >>> df.coda.plot.variation(ax=ax) is ax
    True
    >>> plt.close("all")
    """

    def __init__(self, df: pd.DataFrame) -> None:
        check_accessor_parts(df)
        self._obj = df

    @property
    def _parts(self) -> pd.DataFrame:
        return _restrict(self._obj)

    def network(
        self,
        *,
        method: str = "exact",
        given=None,
        alpha: float = 0.05,
        adjust: str | None = "fdr_bh",
        min_abs=None,
        rule: str | None = None,
        n_boot: int = 1000,
        seed=None,
        node_data=None,
        **kwargs,
    ):
        """Draw the partial-correlation network of the parts.

        The graph is :func:`coda.network` of the parts with the options named
        here; :func:`coda.plot_network` draws it, with the parts as ``x``
        (for ``layout="biplot"``) and the same ``seed``.

        Parameters
        ----------
        method, given, alpha, adjust, min_abs, rule, n_boot, seed, node_data
            As in :func:`coda.network` (same defaults).
        **kwargs
            Keywords of :func:`coda.plot_network`: ``ax``, ``layout``,
            ``node_size_by``, ``edge_labels``, ``legend``, and keywords of
            ``Axes.scatter``.

        Returns
        -------
        matplotlib.axes.Axes
            What :func:`coda.plot_network` returns.

        See Also
        --------
        coda.network, coda.plot_network : the functions called.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import matplotlib.pyplot as plt
        >>> import coda
        >>> df = coda.simulate(200, 6, graph="chain", seed=1).data
        >>> df.coda.plot.network(layout="spring", seed=0).get_title()
        'Partial-correlation network: 5 edges among 6 parts'
        >>> plt.close("all")
        """
        graph = network(
            self._parts,
            method=method,
            given=given,
            alpha=alpha,
            adjust=adjust,
            min_abs=min_abs,
            rule=rule,
            n_boot=n_boot,
            seed=seed,
            node_data=node_data,
        )
        return plot_network(graph, x=self._parts, seed=seed, **kwargs)

    def heatmap(
        self,
        *,
        given=None,
        method: str = "exact",
        adjust: str | None = "fdr_bh",
        marks: bool = True,
        **kwargs,
    ):
        """Draw the partial correlations of the parts, significant pairs marked.

        The matrix is :func:`coda.pcor` and the marks come from
        :func:`coda.pcor_test`, both of the parts with the same ``given`` and
        ``method``; :func:`coda.plot_pcor_heatmap` draws them.

        Parameters
        ----------
        given, method
            As in :func:`coda.pcor` and :func:`coda.pcor_test`.
        adjust
            As in :func:`coda.pcor_test`.
        marks : bool, default True
            False draws the matrix alone, without calling
            :func:`coda.pcor_test`. Its t tests need more samples than parts
            conditioned on, so a regularised ``method`` with more parts than
            samples (what it is for) is drawn with ``marks=False``.
        **kwargs
            Keywords of :func:`coda.plot_pcor_heatmap`: ``ax``, ``alpha``
            (the level of the marks), ``cluster``, and keywords of
            ``Axes.pcolormesh``.

        Returns
        -------
        matplotlib.axes.Axes
            What :func:`coda.plot_pcor_heatmap` returns.

        See Also
        --------
        coda.pcor, coda.pcor_test, coda.plot_pcor_heatmap : the functions called.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import matplotlib.pyplot as plt
        >>> import coda
        >>> df = coda.simulate(200, 5, graph="chain", seed=1).data
        >>> ax = df.coda.plot.heatmap()
        >>> sum(t.get_text() == "*" for t in ax.texts)
        4
        >>> plt.close("all")
        >>> wide = coda.simulate(10, 30, graph="chain", seed=1).data
        >>> ax = wide.coda.plot.heatmap(method="shrink", marks=False)
        >>> len(ax.texts)
        0
        >>> plt.close("all")
        """
        matrix = pcor(self._parts, given=given, method=method)
        tests = None
        if check_flag(marks, "marks"):
            tests = pcor_test(self._parts, given=given, method=method, adjust=adjust)
        return plot_pcor_heatmap(matrix, tests=tests, **kwargs)

    def biplot(self, *, groups=None, **kwargs):
        """Draw the clr biplot of the parts: :func:`coda.plot_biplot`.

        Parameters
        ----------
        groups : column label or array_like of length n_samples, optional
            A group per sample: the label of a column of the frame (such as
            an ignored non-numeric column) or the labels themselves.
        **kwargs
            Keywords of :func:`coda.plot_biplot`: ``ax``, ``scaling``, and
            keywords of ``Axes.scatter``.

        Returns
        -------
        matplotlib.axes.Axes
            What :func:`coda.plot_biplot` returns.

        See Also
        --------
        coda.plot_biplot : the function called.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import matplotlib.pyplot as plt
        >>> import coda
        >>> df = coda.simulate(40, 4, seed=0).data
        >>> df["site"] = ["north", "south"] * 20
        >>> ax = df.coda.plot.biplot(groups="site")
        >>> [t.get_text() for t in ax.get_legend().get_texts()]
        ['north', 'south']
        >>> plt.close("all")
        """
        groups = _groups_column(self._obj, groups)
        return plot_biplot(self._parts, groups=groups, **kwargs)

    def ternary(self, **kwargs):
        """Draw a ternary diagram of three parts: :func:`coda.plot_ternary`.

        Parameters
        ----------
        **kwargs
            Keywords of :func:`coda.plot_ternary`: ``parts`` (three part
            names, needed unless there are three parts), ``ax``, ``grid``,
            ``center``, ``region``, and keywords of ``Axes.scatter``.

        Returns
        -------
        matplotlib.axes.Axes
            What :func:`coda.plot_ternary` returns.

        See Also
        --------
        coda.plot_ternary : the function called.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import matplotlib.pyplot as plt
        >>> import coda
        >>> df = coda.simulate(30, 5, seed=0).data
        >>> ax = df.coda.plot.ternary(parts=["p01", "p02", "p03"], center=True)
        >>> ax.get_aspect()
        1.0
        >>> plt.close("all")
        """
        return plot_ternary(self._parts, **kwargs)

    def variation(self, *, ddof: int = 1, **kwargs):
        """Draw the variation matrix of the parts.

        The matrix is :func:`coda.variation`; :func:`coda.plot_variation`
        draws it.

        Parameters
        ----------
        ddof : int, default 1
            As in :func:`coda.variation`.
        **kwargs
            Keywords of :func:`coda.plot_variation`: ``ax`` and keywords of
            ``Axes.pcolormesh``.

        Returns
        -------
        matplotlib.axes.Axes
            What :func:`coda.plot_variation` returns.

        See Also
        --------
        coda.variation, coda.plot_variation : the functions called.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import matplotlib.pyplot as plt
        >>> import coda
        >>> df = coda.simulate(50, 4, seed=0).data
        >>> df.coda.plot.variation().get_title()
        'Variation matrix'
        >>> plt.close("all")
        """
        return plot_variation(variation(self._parts, ddof=ddof), **kwargs)
