"""Graphs from partial correlations: selection, layouts and drawing data.

:func:`network` and :func:`network_from_pcor` build networkx graphs of
parts whose edges are selected partial correlations (:mod:`coda.export`
writes them for other tools). :func:`layout` and :func:`network_style`
are in :mod:`coda.graph_layout`, and :func:`compare_graphs`, which scores an
estimated graph against a known one, in :mod:`coda.graph_compare`.
Functions here return data and draw nothing.
"""

from __future__ import annotations

import functools
import inspect

import networkx as nx
import numpy as np
import pandas as pd

from coda._graph_build import build_graph, select_edges
from coda._labels import composition, python_scalar
from coda._results import (
    BootstrapResult,
    GlassoResult,
    ShrinkageResult,
    pair_table,
)
from coda._validation import (
    check_count,
    check_fdr_df,
    check_fraction,
    check_in_memory,
    check_min_abs,
    check_node_data,
    check_option,
    check_parts,
    check_pcor_matrix,
    check_result_options,
    check_rule_options,
    check_tests_frame,
    check_tests_parts,
    check_tests_table,
    check_unique_parts,
)

__all__ = ["network", "network_from_pcor"]


_RULES = ("fdr", "threshold", "nonzero", "bootstrap")


# The options of network that only some rules use: the rules, and how the
# message names them. Not seed: like scikit-learn's random_state, a seed
# asked for reproducibility is harmless where nothing is random (and
# df.coda.plot.network passes it to the layout too).
_RULE_USERS = {
    "alpha": (("fdr", "bootstrap"), "the 'fdr' and 'bootstrap' rules"),
    "adjust": (("fdr",), "the 'fdr' rule"),
    "n_boot": (("bootstrap",), "the 'bootstrap' rule"),
}


@functools.cache
def _defaults() -> dict:
    """The defaults of network's keyword options, read from its signature."""
    return {
        name: p.default
        for name, p in inspect.signature(network).parameters.items()
        if p.default is not inspect.Parameter.empty
    }


@functools.cache
def _estimator_options() -> frozenset:
    """The keyword options of coda.pcor_shrink and coda.pcor_glasso, which network passes on.

    ``method`` is network's own, and so is ``seed``, which it gives the
    glasso's StARS subsamples.
    """
    from coda.glasso import pcor_glasso
    from coda.shrinkage import pcor_shrink

    names = set()
    for estimator in (pcor_shrink, pcor_glasso):
        names |= {
            name
            for name, parameter in inspect.signature(estimator).parameters.items()
            if parameter.kind is inspect.Parameter.KEYWORD_ONLY
        }
    return frozenset(names - {"method", "seed"})


def network(
    x,
    /,
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
    **estimator_options,
) -> nx.Graph:
    r"""A network of parts whose edges are selected partial correlations.

    Parameters
    ----------
    x : array_like, DataFrame or an estimator's result
        Strictly positive compositions of shape (n_samples, n_parts), at
        least 3 samples and 3 parts; or a result already computed: a
        :func:`coda.pcor_glasso` or :func:`coda.pcor_shrink` result (edges
        from its ``pcor``, default rule ``"nonzero"`` for the graphical
        lasso and ``"threshold"`` for shrinkage; nodes get the
        ``partial_variance`` ``1 / diag(precision)``) or a
        :func:`coda.pcor_bootstrap` result (rule ``"bootstrap"``, level
        ``ci``). With a result, ``method``, ``given``, ``alpha``,
        ``adjust``, ``n_boot`` and ``seed`` do not apply and must keep their
        defaults, and a glasso or shrinkage result takes only the rules
        ``"nonzero"`` and ``"threshold"`` (the others need the data).
    method : {"exact", "shrink", "bshrink", "glasso"}, default "exact"
        The partial-correlation estimator (see :func:`coda.pcor`).
    given : sequence of int or str, optional
        Partial out only these parts (``method="exact"`` only); they stay in
        the graph as isolated nodes with ``given=True``.
    alpha : float, default 0.05
        Level of the ``"fdr"`` rule (largest q-value kept) and of the
        ``"bootstrap"`` rule (interval level ``1 - alpha``); the other rules
        refuse a value other than the default, which they would ignore.
    adjust : str or None, default "fdr_bh"
        Multiple-testing adjustment of the q-values of the ``"fdr"`` rule
        (see :func:`coda.pcor_test`); the other rules run no test and refuse
        a value other than the default.
    min_abs : float, optional
        Keep only pairs with :math:`|\rho| \ge` ``min_abs``: the rule itself
        for ``"threshold"``, an extra filter for the other rules.
    rule : {"fdr", "threshold", "nonzero", "bootstrap"}, optional
        How edges are selected (see Notes). Default: ``"nonzero"`` for
        ``method="glasso"``; ``"threshold"`` for ``"shrink"`` and
        ``"bshrink"`` when ``min_abs`` is given; ``"fdr"`` otherwise.
    n_boot : int, default 1000
        Bootstrap resamples of the ``"bootstrap"`` rule (the other rules
        refuse a value other than the default).
    seed : None, int or numpy.random.Generator
        Seed of the bootstrap, and of the graphical lasso's StARS subsamples
        (``criterion="stars"``); the other rules and estimators ignore it.
    node_data : DataFrame or dict, optional
        More node attributes: a DataFrame indexed by part (one column per
        attribute) or ``{part: {attribute: value}}``; set after the computed
        ones, so a same-named attribute replaces them.
    **estimator_options
        Options of a regularised estimator, as :func:`coda.pcor` takes them
        (``lam=``, ``lam_var=`` for shrinkage; ``penalty=`` and the others of
        :func:`coda.pcor_glasso`): passed to the estimate and the nodes'
        partial variances. The ``"fdr"`` rule's tests
        (:func:`coda.pcor_test`) take none.

    Returns
    -------
    networkx.Graph
        Nodes are the parts in column order (part names as strings; arrays:
        ``x1 .. xD``) with attributes ``clr_variance``,
        ``partial_variance`` (NaN for given parts) and ``given``. Edges
        carry ``pcor`` and ``sign`` (+1/-1); with the ``"fdr"`` rule also
        ``pvalue`` and ``qvalue`` (from :func:`coda.pcor_test` with the
        same method), with the ``"bootstrap"`` rule ``ci_low`` and
        ``ci_high``. ``G.graph`` holds ``rule``, ``alpha``, ``min_abs``
        (0.0 when not given), ``method``, ``given`` (comma-joined part
        names, ``""`` for none), ``n_samples``, ``adjust`` (``"none"`` for
        None) for the ``"fdr"`` rule and ``n_boot`` for the bootstrap rule:
        all GraphML-safe.

    Raises
    ------
    ValueError
        If ``x`` is invalid (see :func:`coda.pcor`) or has two parts with
        the same name as strings, ``rule`` or ``adjust`` is unknown,
        ``"threshold"`` has no ``min_abs``, ``alpha``, ``adjust`` or
        ``n_boot`` is set for a rule that does not use it,
        ``"fdr"`` has too few samples
        for its t tests (``n <= |K| + 1``, see Notes) or is given estimator
        options, ``"bootstrap"`` is asked for a method other than ``"exact"``
        or for a glasso or shrinkage result (as is ``"fdr"``), or
        ``node_data`` names unknown parts.
    TypeError
        If estimator options come with ``method="exact"``, or are not the
        estimator's, or ``x`` is a dask collection (compute it first).

    See Also
    --------
    network_from_pcor : the same from a computed matrix.
    write_graphml, write_edge_list, write_json : export.
    network_style : drawing data.

    Notes
    -----
    ``"fdr"``: pairs with ``qvalue <= alpha`` in :func:`coda.pcor_test`.
    ``"threshold"``: :math:`|\rho_{ij}| \ge` ``min_abs``. ``"nonzero"``:
    the non-zero entries of the estimate (for the graphical lasso, the
    non-zero pattern of the sparse precision). ``"bootstrap"``: the
    percentile interval at level ``1 - alpha`` of
    :func:`coda.pcor_bootstrap` excludes 0. An empty selection gives a
    graph with every node and no edge.

    Only ``"fdr"`` runs the t tests of :func:`coda.pcor_test`, whose
    :math:`df = n - |K| - 1` (:math:`|K| = D - 2` without ``given``) must be
    positive; the other rules need no test, so their edges have no
    ``pvalue`` or ``qvalue`` (as in :func:`network_from_pcor` without
    ``tests``). ``"threshold"`` and ``"nonzero"`` with a regularised method
    work with :math:`n \le D - 1` samples, the case those estimators are
    made for; ``"bootstrap"`` resamples the exact estimate, which needs at
    least D distinct samples in every resample (the shrinkage estimators'
    intervals do not hold their level at the true zeros: see
    :func:`coda.pcor_bootstrap`).

    References
    ----------
    .. [1] Erb, I. (2020). Partial correlations in compositional data
       analysis. Applied Computing and Geosciences 6:100026.
       https://doi.org/10.1016/j.acags.2020.100026

    Examples
    --------
    >>> import coda
    >>> sim = coda.simulate(200, 5, seed=1)
    >>> G = coda.network(sim.data)
    >>> sorted(G.edges)
    [('p01', 'p02'), ('p02', 'p03'), ('p03', 'p04'), ('p04', 'p05')]
    >>> sim.edges
    [('p01', 'p02'), ('p02', 'p03'), ('p03', 'p04'), ('p04', 'p05')]
    >>> G.graph["rule"], G.graph["n_samples"]
    ('fdr', 200)

    Fewer samples than parts: the graphical lasso with its own rule.

    >>> wide = coda.simulate(25, 40, graph="chain", seed=3).data
    >>> G = coda.network(wide, method="glasso")
    >>> G.graph["rule"], sorted(G.edges["p01", "p02"])
    ('nonzero', ['pcor', 'sign'])
    """
    from coda.covariance import clr_cov
    from coda.inference import _ADJUSTMENTS, pcor_bootstrap, pcor_test
    from coda.partial import partial_variance, pcor

    unknown = sorted(set(estimator_options) - _estimator_options())
    if unknown:
        raise TypeError(f"network() got an unexpected keyword argument {unknown[0]!r}")
    if isinstance(x, (BootstrapResult, GlassoResult, ShrinkageResult)):
        # alpha too: a bootstrap result's level is its own ci, and the other
        # results' rules run no test.
        options = {"method": method, "given": given, "alpha": alpha, "adjust": adjust}
        options.update(n_boot=n_boot, seed=seed)
        check_result_options(options, _defaults(), type(x).__name__)
        if estimator_options:
            raise TypeError(
                f"x is a {type(x).__name__}, already estimated: estimator options "
                f"({', '.join(sorted(estimator_options))}) do not apply; pass the data instead"
            )
        return _network_from_result(x, rule=rule, min_abs=min_abs, node_data=node_data)
    values, labels = composition(x, "x", min_parts=3, min_samples=3)
    check_unique_parts(
        labels.parts, "x", fix="rename the columns of x so that every part has its own name"
    )
    check_option(method, "method", ("exact", "shrink", "bshrink", "glasso"))
    if adjust is not None:
        check_option(adjust, "adjust", _ADJUSTMENTS)
    if rule is None:
        if method == "glasso":
            rule = "nonzero"
        elif method in ("shrink", "bshrink") and min_abs is not None:
            rule = "threshold"
        else:
            rule = "fdr"
    check_option(rule, "rule", _RULES)
    # Before alpha is checked, which would turn a numpy float into a float.
    check_rule_options(
        {"alpha": alpha, "adjust": adjust, "n_boot": n_boot},
        _defaults(),
        rule,
        {k: text for k, (rules, text) in _RULE_USERS.items() if rule not in rules},
    )
    alpha = check_fraction(alpha, "alpha")
    min_abs = check_min_abs(min_abs, rule)
    stars = method == "glasso" and estimator_options.get("criterion") == "stars"
    if rule == "bootstrap" and method != "exact":
        # Percentile intervals of the shrunk estimates under-cover at the true
        # zeros (0.83-0.92 at a nominal 0.95; see coda.pcor_bootstrap), so they
        # would select false edges at several times alpha.
        raise ValueError(
            f'rule="bootstrap" selects by intervals of the exact partial correlations; '
            f"method={method!r} cannot be bootstrapped here: its intervals do not hold their "
            'level at the true zeros (see coda.pcor_bootstrap); use method="exact", or rule '
            '"threshold" with min_abs=... (shrinkage) or "nonzero" (glasso)'
        )
    if stars:
        # One seed for the estimate and the partial variances: the same
        # subsamples choose the same penalty for both.
        estimator_options = {**estimator_options, "seed": seed}
    if rule == "fdr" and estimator_options:
        raise ValueError(
            f'rule="fdr" selects by the t tests of coda.pcor_test, which take no estimator '
            f"options (got {', '.join(sorted(estimator_options))}): use rule='threshold' with "
            "min_abs=... "
            "or rule='nonzero' (the graphical lasso's zeros) with those options"
        )
    n, d = values.shape
    names = labels.part_names(d)
    given_pos = check_parts(given, "given", labels.parts, d) if given is not None else []

    def name_of(part):
        return str(part) if labels.parts is not None else names[int(part)]

    metadata = {
        "rule": rule,
        "alpha": alpha,
        "min_abs": 0.0 if min_abs is None else min_abs,
        "method": method,
        "given": ",".join(names[k] for k in given_pos),
        "n_samples": n,
    }
    if rule == "fdr":
        n_given = len(given_pos) if given is not None else d - 2
        check_fdr_df(n - n_given - 1, n, n_given, method)
        tests = pcor_test(x, given=given, method=method, adjust=adjust)
        table = pd.DataFrame(
            {
                "part_i": [name_of(p) for p in tests["part_i"]],
                "part_j": [name_of(p) for p in tests["part_j"]],
                "pcor": tests["r"].to_numpy(dtype=float),
                "pvalue": tests["pvalue"].to_numpy(dtype=float),
                "qvalue": tests["qvalue"].to_numpy(dtype=float),
            }
        )
        metadata["adjust"] = "none" if adjust is None else adjust
    else:
        # No test: the estimate alone (pairs touching given parts, NaN, are left out).
        rho = np.asarray(pcor(x, given=given, method=method, **estimator_options), dtype=float)
        table = pair_table(names, {"pcor": rho})
    if rule == "bootstrap":
        n_boot = check_count(n_boot, "n_boot")
        # Exact only (checked above), which takes no options.
        boot = pcor_bootstrap(x, given=given, n_boot=n_boot, seed=seed, ci=1 - alpha).to_frame()
        boot = pd.DataFrame(
            {
                "part_i": [name_of(p) for p in boot["part_i"]],
                "part_j": [name_of(p) for p in boot["part_j"]],
                "ci_low": boot["lower"].to_numpy(dtype=float),
                "ci_high": boot["upper"].to_numpy(dtype=float),
            }
        )
        table = table.merge(boot, on=["part_i", "part_j"], how="left", validate="one_to_one")
        metadata["n_boot"] = n_boot
    clr_var = np.diag(np.asarray(clr_cov(values)))
    pvar = np.asarray(
        partial_variance(values, given=given_pos or None, method=method, **estimator_options)
    )
    node_attrs = {
        names[k]: {
            "clr_variance": clr_var[k],
            "partial_variance": pvar[k],
            "given": k in given_pos,
        }
        for k in range(d)
    }
    selected = select_edges(table, rule, alpha, min_abs)
    return build_graph(names, node_attrs, node_data, selected, metadata)


_RESULT_FIX = "estimate it again from data whose columns each name one part"


def _network_from_result(result, *, rule, min_abs, node_data) -> nx.Graph:
    """``network`` for an already computed estimator or bootstrap result."""
    if isinstance(result, BootstrapResult):
        check_option(rule or "bootstrap", "rule", ("bootstrap",))
        frame = result.to_frame()
        estimate = result.estimate
        d = estimate.shape[0]
        names = [str(c) for c in estimate.columns] if isinstance(estimate, pd.DataFrame) else None
        check_unique_parts(names, "x", fix=_RESULT_FIX)
        names = names or [f"x{k + 1}" for k in range(d)]
        lookup = dict(
            zip(
                list(estimate.columns) if isinstance(estimate, pd.DataFrame) else list(range(d)),
                names,
                strict=True,
            )
        )
        table = pd.DataFrame(
            {
                "part_i": [lookup[p] for p in frame["part_i"]],
                "part_j": [lookup[p] for p in frame["part_j"]],
                "pcor": frame["estimate"].to_numpy(dtype=float),
                "ci_low": frame["lower"].to_numpy(dtype=float),
                "ci_high": frame["upper"].to_numpy(dtype=float),
            }
        )
        diag = np.diag(np.asarray(estimate, dtype=float))
        given_mask = np.isnan(diag)
        node_attrs = {names[k]: {"given": bool(given_mask[k])} for k in range(d)}
        min_abs = check_min_abs(min_abs, "bootstrap")
        metadata = {
            "rule": "bootstrap",
            "alpha": round(1.0 - result.ci, 12),
            "min_abs": 0.0 if min_abs is None else min_abs,
            "method": "exact",
            "given": ",".join(names[k] for k in np.flatnonzero(given_mask)),
            "n_boot": result.n_boot,
        }
        selected = select_edges(table, "bootstrap", 1.0 - result.ci, min_abs)
        return build_graph(names, node_attrs, node_data, selected, metadata)
    is_glasso = isinstance(result, GlassoResult)
    if rule in ("fdr", "bootstrap"):
        # network_from_pcor would ask for a test table, which network does not take.
        if rule == "fdr":
            method = "glasso" if is_glasso else result.method
            needs, call = "the t tests of coda.pcor_test", f'method="{method}", rule="fdr"'
        else:
            needs, call = "bootstrap resamples of the exact estimate", 'rule="bootstrap"'
        raise ValueError(
            f'rule="{rule}" needs the data ({needs}); a {type(result).__name__} holds only '
            'its estimate: use rule="nonzero", or rule="threshold" with min_abs=..., or pass '
            f"the data: coda.network(x, {call})"
        )
    if rule is not None:
        check_option(rule, "rule", ("nonzero", "threshold"))
    if isinstance(result.pcor, pd.DataFrame):
        check_unique_parts(result.pcor.columns, "x", fix=_RESULT_FIX)
    rule = rule or ("nonzero" if is_glasso else "threshold")
    graph = network_from_pcor(result.pcor, rule=rule, min_abs=min_abs)
    precision = np.asarray(result.precision, dtype=float)
    for k, name in enumerate(graph.nodes):
        graph.nodes[name]["partial_variance"] = float(1.0 / precision[k, k])
    graph.graph["method"] = "glasso" if is_glasso else result.method
    if node_data is not None:
        extra = check_node_data(node_data, "node_data", list(graph.nodes))
        for name, attrs in extra.items():
            graph.nodes[name].update({k: python_scalar(v) for k, v in attrs.items()})
    return graph


def network_from_pcor(
    pcor,
    /,
    *,
    tests=None,
    rule: str = "threshold",
    alpha: float = 0.05,
    min_abs=None,
    node_data=None,
) -> nx.Graph:
    r"""A network of parts from an already computed partial-correlation matrix.

    Parameters
    ----------
    pcor : array_like or DataFrame of shape (n_parts, n_parts)
        Partial correlations (e.g. :func:`coda.pcor`), symmetric, in
        [-1, 1]. Rows and columns that are NaN off the diagonal mark parts
        that were partialled out (``given``): they stay as isolated nodes
        with ``given=True``. Parts are the DataFrame's labels (as strings),
        or ``x1 .. xD`` for an array.
    tests : DataFrame, optional
        The :func:`coda.pcor_test` table of the same data and method; adds
        ``pvalue`` and ``qvalue`` to the edges and allows ``rule="fdr"``.
    rule : {"threshold", "fdr", "nonzero"}, default "threshold"
        As in :func:`network`; ``"threshold"`` needs ``min_abs``.
    alpha : float, default 0.05
        Level of the ``"fdr"`` rule.
    min_abs : float, optional
        Keep only pairs with :math:`|\rho| \ge` ``min_abs``.
    node_data : DataFrame or dict, optional
        Node attributes, as in :func:`network`.

    Returns
    -------
    networkx.Graph
        Nodes in matrix order with attribute ``given``; edges with ``pcor``
        and ``sign``, plus ``pvalue`` and ``qvalue`` when ``tests`` is
        given. ``G.graph`` holds ``rule``, ``alpha``, ``min_abs`` (0.0 when
        not given) and ``given`` (comma-joined).

    Raises
    ------
    TypeError
        If ``pcor`` is not a real matrix or ``tests`` not a DataFrame, or
        either is a dask collection (compute it first).
    ValueError
        If ``pcor`` is not square, not symmetric, outside [-1, 1], has
        NaN outside given parts' rows or two parts with the same name as
        strings; if ``tests`` does not match it (other pairs or values, or
        parts by position for a labelled ``pcor``); if ``rule`` is unknown,
        ``"fdr"`` lacks ``tests``, or ``"threshold"`` lacks ``min_abs``.

    See Also
    --------
    network : build the graph from the data.

    Notes
    -----
    A ``tests`` table names parts as ``pcor`` does: by the DataFrame's
    labels (integer labels too), or, for an array ``pcor``, by position
    (the table of :func:`coda.pcor_test` of an array), matched to ``x1 ..
    xD``. A table by position with a labelled ``pcor`` is refused, as in
    :func:`coda.plot_pcor_heatmap`: pass the table of the labelled data, or
    ``pcor.to_numpy()``. Each pair may be listed in either order, so the matrix may be
    reordered (e.g. by :func:`coda.cluster_order`). Its ``r`` column must
    equal ``pcor`` to 1e-8.

    References
    ----------
    .. [1] Erb, I. (2020). Partial correlations in compositional data
       analysis. Applied Computing and Geosciences 6:100026.
       https://doi.org/10.1016/j.acags.2020.100026

    Examples
    --------
    >>> import numpy as np
    >>> import coda
    >>> rho = np.array([[1, 0.6, 0.05], [0.6, 1, -0.3], [0.05, -0.3, 1]])
    >>> G = coda.network_from_pcor(rho, min_abs=0.2)
    >>> list(G.edges(data="pcor"))
    [('x1', 'x2', 0.6), ('x2', 'x3', -0.3)]
    """
    check_in_memory(pcor, "pcor")
    values, given_mask = check_pcor_matrix(pcor, "pcor")
    if tests is not None:
        check_tests_frame(tests, "tests")
        check_tests_parts(tests, "tests", pcor, "pcor")
    if isinstance(pcor, pd.DataFrame):
        check_unique_parts(
            pcor.columns,
            "pcor",
            fix="rename its rows and columns so that every part has its own name",
        )
    check_option(rule, "rule", ("threshold", "fdr", "nonzero"))
    alpha = check_fraction(alpha, "alpha")
    min_abs = check_min_abs(min_abs, rule)
    if rule == "fdr" and tests is None:
        raise ValueError(
            'rule="fdr" selects by q-value and needs the test table: pass '
            "tests=coda.pcor_test(x) for the same data"
        )
    d = values.shape[0]
    # How a test table names the parts: by label, or by position for an array.
    if isinstance(pcor, pd.DataFrame):
        keys = list(pcor.columns)
        names = [str(c) for c in keys]
    else:
        keys = list(range(d))
        names = [f"x{k + 1}" for k in range(d)]
    i, j = np.triu_indices(d, k=1)
    columns = {"pcor": values[i, j]}
    if tests is not None:
        # A pair may be listed in either order (e.g. the matrix was reordered).
        a, b = check_tests_table(tests, "tests", keys, values)
        low, high = np.minimum(a, b), np.maximum(a, b)
        # Each test's place among the pairs in the order of np.triu_indices.
        at = low * (2 * d - low - 1) // 2 + high - low - 1
        for column in ("pvalue", "qvalue"):
            columns[column] = np.full(i.size, np.nan)
            columns[column][at] = tests[column].to_numpy(dtype=float)
        if rule == "fdr":
            columns["pcor"][np.isnan(columns["qvalue"])] = np.nan
    # Pairs are selected on the numbers; only the kept ones are named.
    selected = select_edges(pd.DataFrame(columns), rule, alpha, min_abs)
    kept = selected.index.to_numpy()
    labels = np.asarray(names, dtype=object)
    table = pd.DataFrame(
        {
            "part_i": labels[i[kept]],
            "part_j": labels[j[kept]],
            **{c: selected[c].to_numpy() for c in selected.columns},
        }
    )
    node_attrs = {names[k]: {"given": bool(given_mask[k])} for k in range(d)}
    metadata = {
        "rule": rule,
        "alpha": alpha,
        "min_abs": 0.0 if min_abs is None else min_abs,
        "given": ",".join(names[k] for k in np.flatnonzero(given_mask)),
    }
    return build_graph(names, node_attrs, node_data, table, metadata)
