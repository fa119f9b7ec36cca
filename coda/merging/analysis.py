"""Named balances and task networks of the compositional statistics of a merge.

The statistics of :mod:`coda.merging.stats` are compositions with parts that
mean something (kept or trimmed, agreeing or conflicting, positive or
negative), so their ilr coordinates are chosen as a sequential binary
partition whose balances answer one question each.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from coda._linalg import pcor_from_precision
from coda._results import pair_table
from coda._validation import (
    check_composition_layers,
    check_independent_losses,
    check_merge_statistic,
    check_network_layers,
    check_network_tasks,
    check_option,
    check_tasks_with_mass,
)
from coda.geometry import closure
from coda.graph import network, network_from_pcor
from coda.inference import _ADJUSTMENTS, _t_tests
from coda.transforms import balances
from coda.zeros import _replace_in_rows, replace_zeros

__all__ = ["category_balances", "fate_balances", "task_network"]

#: The value a zero part of a row closed to 1 takes before a log-ratio
#: (multiplicative replacement).
ZERO_DELTA = 1e-5

# S2: kept vs trimmed, then among the kept entries overlap, interference and
# the two sign directions.
CATEGORY_SBP = pd.DataFrame(
    [
        [-1, 1, 1, 1, 1, 1],
        [0, -1, -1, 1, 1, 1],
        [0, 0, 0, -1, -1, 1],
        [0, 1, -1, 0, 0, 0],
        [0, 0, 0, 1, -1, 0],
    ],
    index=pd.Index(
        ["kept_vs_trimmed", "overlap", "interference", "direction_one", "direction_agree"],
        name="balance",
    ),
    columns=["trimmed", "one_pos", "one_neg", "agree_pos", "agree_neg", "conflict"],
)

# S3: the mass lost to the sign election against the mass that survives it,
# then all kept mass against the trimmed mass.
FATE_SBP = pd.DataFrame(
    [[0, -1, 1], [-1, 1, 1]],
    index=pd.Index(["interference_loss", "kept_vs_trimmed"], name="balance"),
    columns=["trimmed", "survives", "dropped"],
)


def _closed_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``frame`` with mass, closed to 1; rows of NaN or of zeros are dropped.

    A statistic's frame holds fractions (``closed=True``) or masses
    (``closed=False``), and a zero replaced by a fixed ``ZERO_DELTA`` is in
    the units of its row (:func:`coda.replace_zeros`): closing first makes
    the replacement, and every log-ratio after it, the same for both. A
    layer without mass is a row of NaN in a closed frame, of zeros in an
    unclosed one.
    """
    values = frame.to_numpy(dtype=np.float64)
    totals = values.sum(axis=1)
    has_mass = np.isfinite(values).all(axis=1) & (totals > 0)
    rows = frame[has_mass]
    # Rows that sum to 1 up to the rounding of their sum are closed already;
    # closing them again would only move last bits of what they always gave.
    slack = values.shape[1] * np.finfo(np.float64).eps
    if rows.empty or np.abs(totals[has_mass] - 1.0).max() <= slack:
        return rows
    return closure(rows)


def _named_balances(frame: pd.DataFrame, sbp: pd.DataFrame, statistic: str) -> pd.DataFrame:
    """Balances of ``frame``'s closed rows after zero replacement; rows without mass are NaN."""
    values = frame[list(sbp.columns)]
    closed = _closed_rows(values)
    if closed.empty:
        # No layer has mass: every balance is undefined, as for one such layer.
        result = pd.DataFrame(np.nan, index=values.index, columns=pd.Index(sbp.index))
    else:
        # A category may be empty in every layer (no conflict anywhere): with a
        # fixed delta its zeros are "below 1e-5" like any other, so the check
        # that every part is observed somewhere, right for measured data, is
        # off here.
        positive = _replace_in_rows(
            closed,
            method="multiplicative",
            delta=ZERO_DELTA,
            detection_limit=None,
            frac=None,
            output=None,
            observed=False,
        )
        result = balances(positive, sbp).reindex(values.index)
    result.columns.name = "balance"
    result.attrs.update(frame.attrs)
    result.attrs["statistic"] = f"{statistic}_balances"
    result.attrs["zeros"] = f"multiplicative replacement, delta={ZERO_DELTA}"
    result.attrs["sbp"] = sbp.to_dict(orient="index")
    return result


def category_balances(categories, /) -> pd.DataFrame:
    r"""Named balances of the S2 entry categories of each layer.

    The six categories of :func:`coda.merging.entry_categories` are split by
    a sequential binary partition into five balances with a meaning each:
    ``kept_vs_trimmed`` (entries kept by any task against entries trimmed by
    all), ``overlap`` (kept by two or more tasks against kept by one),
    ``interference`` (conflicting signs against agreeing ones),
    ``direction_one`` and ``direction_agree`` (positive against negative,
    among entries kept by one task and among agreeing entries).

    Parameters
    ----------
    categories : DataFrame or EntryCategories
        S2 compositions: rows the layers, the six category columns; an
        :class:`~coda._results.EntryCategories` gives its ``observed`` frame.

    Returns
    -------
    DataFrame
        Rows the layers, one column per balance; the settings of
        ``categories`` in ``attrs``, with the partition and the zero
        handling.

    Raises
    ------
    ValueError
        If ``categories`` is not an S2 frame.

    See Also
    --------
    fate_balances : The same for S3.
    coda.balances : The ilr coordinates of a partition.

    Notes
    -----
    The balance of numerator group :math:`I` against denominator group
    :math:`J` is :math:`\sqrt{|I||J|/(|I|+|J|)}\,\ln(g(x_I)/g(x_J))` with
    :math:`g` the geometric mean (Egozcue and Pawlowsky-Glahn 2005). S2
    compositions often hold zeros (no conflict in a layer); each row is
    closed to 1 and every zero becomes ``ZERO_DELTA`` = 1e-5 by
    multiplicative replacement, the other parts shrinking to keep the total
    (``coda.replace_zeros``), also for a category that is empty in every
    layer (then its balance reads "below 1e-5" everywhere). Closing first
    makes the balances of counts and of fractions the same. A layer without
    entries (a row of NaN, or of zeros) gets NaN balances.

    References
    ----------
    .. [1] Egozcue, J. J. and Pawlowsky-Glahn, V. (2005). Groups of parts
       and their balances in compositional data analysis. Mathematical
       Geology 37, 795-828. https://doi.org/10.1007/s11004-005-7381-9

    Examples
    --------
    >>> import pandas as pd
    >>> from coda.merging import category_balances
    >>> s2 = pd.DataFrame(
    ...     [[0.4, 0.25, 0.15, 0.06, 0.04, 0.1]],
    ...     index=pd.Index(["layer0"], name="layer"),
    ...     columns=["trimmed", "one_pos", "one_neg", "agree_pos", "agree_neg", "conflict"],
    ... )
    >>> category_balances(s2).loc["layer0"].round(4)
    balance
    kept_vs_trimmed   -1.2847
    overlap           -1.2451
    interference       0.5826
    direction_one      0.3612
    direction_agree    0.2867
    Name: layer0, dtype: float64
    """
    observed = getattr(categories, "observed", categories)
    check_merge_statistic(observed, "categories", CATEGORY_SBP.columns)
    return _named_balances(observed, CATEGORY_SBP, "entry_categories")


def fate_balances(fate, /) -> pd.DataFrame:
    r"""Named balances of the S3 fate of each task's mass per layer.

    ``interference_loss`` is the balance of the mass dropped by the sign
    election against the mass that survives it; ``kept_vs_trimmed`` that of
    all kept mass against the trimmed mass.

    Parameters
    ----------
    fate : DataFrame
        S3 compositions of :func:`coda.merging.mass_fate`: rows (task,
        layer), columns ``trimmed``, ``survives``, ``dropped``.

    Returns
    -------
    DataFrame
        Rows as ``fate``, columns ``interference_loss`` and
        ``kept_vs_trimmed``; settings, partition and zero handling in
        ``attrs``.

    Raises
    ------
    ValueError
        If ``fate`` is not an S3 frame.

    See Also
    --------
    category_balances : The same for S2.
    task_network : A network of tasks from the interference-loss balances.

    Notes
    -----
    With two groups of one part each the balance is
    :math:`\ln(x_\text{dropped}/x_\text{survives})/\sqrt{2}`, and
    ``kept_vs_trimmed`` is
    :math:`\sqrt{2/3}\,\ln(\sqrt{x_\text{survives} x_\text{dropped}}/x_\text{trimmed})`.
    Each row is closed to 1 first, so that a frame of masses
    (``mass_fate(..., closed=False)``) gives the balances of its fractions;
    then zeros (no mass dropped in a layer, the usual case for a task that
    agrees everywhere) become ``ZERO_DELTA`` = 1e-5 by multiplicative
    replacement before the logarithms, so such a layer has a large negative
    interference loss rather than minus infinity. A row without mass (NaN
    when closed, zeros when not: the task did not change the layer) gets
    NaN balances.

    References
    ----------
    .. [1] Egozcue, J. J. and Pawlowsky-Glahn, V. (2005). Groups of parts
       and their balances in compositional data analysis. Mathematical
       Geology 37, 795-828. https://doi.org/10.1007/s11004-005-7381-9

    Examples
    --------
    >>> import pandas as pd
    >>> from coda.merging import fate_balances
    >>> s3 = pd.DataFrame(
    ...     [[0.5, 0.4, 0.1]],
    ...     index=pd.MultiIndex.from_tuples([("task0", "layer0")], names=["task", "layer"]),
    ...     columns=["trimmed", "survives", "dropped"],
    ... )
    >>> fate_balances(s3).loc[("task0", "layer0")].round(4)
    balance
    interference_loss   -0.9803
    kept_vs_trimmed     -0.7481
    Name: (task0, layer0), dtype: float64
    """
    check_merge_statistic(fate, "fate", FATE_SBP.columns)
    return _named_balances(fate, FATE_SBP, "mass_fate")


def _balance_network(fate: pd.DataFrame, alpha, adjust, min_abs):
    """The Gaussian partial-correlation network of the tasks' interference-loss balances."""
    loss = fate_balances(fate)["interference_loss"]
    tasks = list(loss.index.get_level_values("task").unique())
    check_network_tasks(len(tasks))
    layers = list(loss.index.get_level_values("layer").unique())
    wide = pd.DataFrame({task: loss.xs(task, level="task") for task in tasks}).reindex(layers)
    # A layer where some task has no mass has no balance: it is left out.
    finite = np.isfinite(wide.to_numpy())
    complete = finite.all(axis=1)
    values = wide.to_numpy()[complete]
    n_layers, n_tasks = values.shape
    # A task without mass in any layer leaves no layer complete, however many.
    without_mass = [task for task, seen in zip(tasks, finite.any(axis=0), strict=True) if not seen]
    check_network_layers(
        n_layers, n_tasks, without_mass=without_mass, left_out=int((~complete).sum())
    )
    cov = np.cov(values, rowvar=False)
    check_independent_losses(cov, tasks)
    omega = np.linalg.inv(cov)
    rho = pcor_from_precision(omega)
    # Ordinary variables: each pair is conditioned on the other T - 2, so
    # df = n - (T - 2) - 2, the residual df of the regression of one task on
    # the other T - 1 with an intercept.
    df = n_layers - n_tasks
    tests = _t_tests(pair_table(tasks, {"r": rho}), df, "two-sided", adjust)
    graph = network_from_pcor(
        pd.DataFrame(rho, index=tasks, columns=tasks),
        tests=tests,
        rule="fdr",
        alpha=alpha,
        min_abs=min_abs,
        # The residual variance of each task's loss given the others, as
        # coda.network gives every part (and plot_network sizes nodes by).
        node_data=pd.DataFrame({"partial_variance": 1.0 / np.diag(omega)}, index=tasks),
    )
    graph.graph.update(
        adjust="none" if adjust is None else adjust,
        method="exact",
        n_samples=n_layers,
        statistic="interference_loss",
    )
    return graph


def task_network(stat_frame, /, *, method="exact", alpha=0.05, adjust="fdr_bh", min_abs=None):
    r"""The partial-correlation network among tasks across layers.

    Each layer is one sample; the network joins two tasks whose statistics
    keep a partial correlation across layers once the other tasks are
    accounted for. Three statistics give three networks:

    - S1 task shares (:func:`coda.merging.task_shares`): two tasks are joined
      when their shares of the fine-tuning change rise and fall together
      across layers beyond what the other tasks explain (where fine-tuning
      concentrated, before any merging);
    - S4 ownership (:func:`coda.merging.ownership`): the same for the tasks'
      shares of the merged update (whose change survived the merge together);
    - S3 mass fate (:func:`coda.merging.mass_fate`): two tasks are joined
      when their interference losses (the ``interference_loss`` balance of
      :func:`fate_balances`, mass dropped by the sign election against mass
      that survives it) go up and down together across layers (which tasks
      lose to the election in the same layers).

    Parameters
    ----------
    stat_frame : DataFrame
        S1 or S4 compositions (rows the layers, columns ``task0``,
        ``task1``, ...) or the S3 frame of :func:`coda.merging.mass_fate`
        (rows (task, layer)), as found in :func:`coda.merging.describe`'s
        result; at least 4 tasks.
    method : {"exact", "shrink"}, default "exact"
        The partial-correlation estimator of :func:`coda.network` (S1, S4);
        the S3 network has "exact" only.
    alpha, adjust, min_abs
        The edge selection of :func:`coda.network`: q-values (``adjust``,
        see :func:`coda.pcor_test`) at most ``alpha``, and ``|pcor| >=
        min_abs`` when given.

    Returns
    -------
    networkx.Graph
        Nodes the tasks, edges the selected partial correlations with
        ``pcor``, ``pvalue``, ``qvalue`` and ``sign``; settings in
        ``G.graph`` (for S3 also ``statistic="interference_loss"`` and
        ``n_samples``, the layers used).

    Raises
    ------
    ValueError
        If ``stat_frame`` is none of S1, S3 or S4, has fewer than 4 tasks,
        ``method`` or ``adjust`` is unknown, ``method="shrink"`` is asked of
        S3, S1 or S4 has fewer than T layers with mass, or S3 has a task
        without mass in any layer, fewer than T + 1 layers where every task
        has mass, or tasks whose interference losses are linearly dependent
        across layers (identical or rescaled models).

    See Also
    --------
    coda.network : The network of any composition.
    fate_balances : The interference-loss balances of S3.
    coda.plot_network : Draws the result.

    Notes
    -----
    S1 and S4 are compositions over tasks: their network is that of
    :func:`coda.network`, reference-independent partial correlations of the
    log-ratio parts (Erb 2020). Each row is closed to 1, then zeros (a task
    that owns nothing of a layer) become ``ZERO_DELTA`` = 1e-5 by
    multiplicative replacement; layers without mass (rows of NaN, or of
    zeros in a frame with ``closed=False``) are left out. A frame of masses
    and its closed frame therefore give the same network. With 3 tasks the
    partial correlations of clr parts are fixed by closure alone, hence the
    bound of 4.

    S3 is a composition per (task, layer), not over tasks: each task's
    balance is one real-valued coordinate, so the T balances of a layer are
    T ordinary variables. With S their sample covariance over the n layers
    (layers where some task has no mass, hence no balance, left out; a task
    without mass in any layer is an error) and :math:`\Omega = S^{-1}`, the
    partial correlation is
    :math:`\rho_{st} = -\Omega_{st} / \sqrt{\Omega_{ss}\Omega_{tt}}`, and
    :math:`t = \rho \sqrt{df / (1 - \rho^2)}` with
    :math:`df = n - (T - 2) - 2 = n - T`: a pair conditioned on the other
    T - 2 variables, the residual degrees of freedom of the regression of one
    task on the other T - 1 with an intercept (there is no lost dimension
    here, unlike the clr of :func:`coda.pcor_test`). Hence n >= T + 1 layers.

    References
    ----------
    .. [1] Erb, I. (2020). Partial correlations in compositional data
       analysis. Applied Computing and Geosciences 6, 100026.
       https://doi.org/10.1016/j.acags.2020.100026
    .. [2] Anderson, T. W. (2003). An Introduction to Multivariate
       Statistical Analysis, 3rd ed., Wiley, section 4.3.
       ISBN 978-0-471-36091-9

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from coda.merging import task_network
    >>> rng = np.random.default_rng(0)
    >>> shares = pd.DataFrame(
    ...     rng.dirichlet(np.ones(4), size=30),
    ...     index=pd.Index([f"l{i}" for i in range(30)], name="layer"),
    ...     columns=["task0", "task1", "task2", "task3"],
    ... )
    >>> shares.attrs["statistic"] = "task_shares"
    >>> sorted(task_network(shares).nodes)
    ['task0', 'task1', 'task2', 'task3']
    """
    check_option(method, "method", ("exact", "shrink"))
    check_merge_statistic(
        stat_frame, "stat_frame", None, statistics=("task_shares", "ownership", "mass_fate")
    )
    if stat_frame.attrs["statistic"] == "mass_fate":
        check_option(method, "method", ("exact",))
        if adjust is not None:
            check_option(adjust, "adjust", _ADJUSTMENTS)
        return _balance_network(stat_frame, alpha, adjust, min_abs)
    n_tasks = stat_frame.shape[1]
    check_network_tasks(n_tasks)
    check_tasks_with_mass(stat_frame)
    closed = _closed_rows(stat_frame)
    check_composition_layers(len(closed), n_tasks, len(stat_frame) - len(closed))
    x = replace_zeros(closed, method="multiplicative", delta=ZERO_DELTA)
    # The q-value rule for both estimators, as documented (coda.network's own
    # default for "shrink" would be the threshold rule).
    return network(x, method=method, rule="fdr", alpha=alpha, adjust=adjust, min_abs=min_abs)
