"""Simulated compositions from a known sparse clr precision, to score networks against.

:func:`simulate` draws compositions (or counts) whose clr precision has a
chosen sparse pattern (a chain, hubs, or a random graph), so that estimated
partial-correlation networks can be compared with the truth.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pandas as pd

from coda._results import Simulation
from coda._validation import (
    check_fraction,
    check_integer,
    check_option,
    seeded_rng,
)
from coda.transforms import clr_inv

__all__ = ["simulate"]

_GRAPHS = ("chain", "hub", "random")
_HUB_GROUP = 10  # parts per hub module: hub edges then have partial correlations near 1/3
_LOG_SIZE_SD = 1.0  # sd of the per-sample log total abundance, which closure removes
_MIN_EIGENVALUE = 0.05  # relative to the tree part, keeps the clr covariance well conditioned


def _tree_and_extra_edges(graph: str, d: int, density, rng) -> tuple[list, list]:
    """Edges of a spanning tree (connectivity) and of the extra edges that close cycles."""
    if graph == "chain":
        return [(i, i + 1) for i in range(d - 1)], []
    if graph == "hub":
        starts = list(range(0, d, _HUB_GROUP))
        if len(starts) > 1 and d - starts[-1] < 2:
            starts.pop()
        bounds = [*starts, d]
        tree = [(a, m) for a, b in pairwise(bounds) for m in range(a + 1, b)]
        # Hubs join in a chain so the graph is connected (a tree, like the modules).
        tree += list(pairwise(starts))
        return tree, []
    order = rng.permutation(d)
    # A random recursive tree: each part joins one of the parts placed before it.
    tree = [tuple(sorted((int(order[k]), int(order[rng.integers(k)])))) for k in range(1, d)]
    pairs = d * (d - 1) // 2
    p_extra = (density * pairs - (d - 1)) / max(pairs - (d - 1), 1)
    in_tree = set(tree)
    i, j = np.triu_indices(d, k=1)
    draws = rng.random(i.size) < p_extra
    extra = [
        (int(a), int(b))
        for a, b, keep in zip(i, j, draws, strict=True)
        if keep and (a, b) not in in_tree
    ]
    return tree, extra


def _laplacian(d: int, edges: list, weights: np.ndarray) -> np.ndarray:
    """``sum_e w_e (e_i - e_j)(e_i - e_j)^T``: zero row sums, ``Omega_ij = -w_e``."""
    omega = np.zeros((d, d))
    for (a, b), w in zip(edges, weights, strict=True):
        omega[a, b] -= w
        omega[b, a] -= w
        omega[a, a] += w
        omega[b, b] += w
    return omega


def _clr_precision(graph: str, d: int, density, rng) -> np.ndarray:
    """Return a sparse clr precision with zero row sums and rank D - 1."""
    tree, extra = _tree_and_extra_edges(graph, d, density, rng)
    tree_w = rng.uniform(0.5, 1.0, len(tree))
    base = _laplacian(d, tree, tree_w)
    if not extra:
        return base
    extra_w = rng.uniform(0.5, 1.0, len(extra)) * rng.choice([-1.0, 1.0], len(extra))
    floor = _MIN_EIGENVALUE * np.linalg.eigvalsh(base + 1.0 / d)[0]
    # Negative weights (negative partial correlations) can break positive
    # semi-definiteness: halve them until the smallest eigenvalue on the clr
    # plane (that of Omega + J/D, whose extra eigenvalue 1 sits on 1) is safe.
    while True:
        omega = base + _laplacian(d, extra, extra_w)
        if np.linalg.eigvalsh(omega + 1.0 / d)[0] > floor:
            return omega
        extra_w = np.where(extra_w < 0, extra_w / 2, extra_w)


def simulate(n_samples, n_parts, /, *, graph: str = "chain", density=None, seed=None, counts=None):
    r"""Simulate compositions whose clr partial correlations follow a known sparse graph.

    The clr precision :math:`\Omega` (zero row sums, rank D-1) is built
    with the chosen sparsity pattern; clr coordinates are drawn from
    :math:`N(0, \Omega^+)`, shifted by a mean log-abundance per part and a
    log total abundance per sample, exponentiated and closed. Optionally the
    compositions are then sampled as multinomial counts, which gives zeros.

    Parameters
    ----------
    n_samples : int
        Number of samples (rows), at least 1.
    n_parts : int
        Number of parts (columns) D, at least 3.
    graph : {"chain", "hub", "random"}, default "chain"
        ``"chain"``: part i linked to part i+1. ``"hub"``: modules of
        10 consecutive parts, each linked to its first part (the hub), hubs
        linked in a chain; a last module of one part joins the one before
        (so with D = 21 the last module has 11 parts). ``"random"``: a
        random spanning tree plus
        independent extra edges, with random signs.
    density : float, optional
        For ``graph="random"`` only: the expected fraction of the
        ``D(D-1)/2`` pairs that are edges, at least ``2/D`` (the spanning
        tree); default ``min(1, 3/D)`` (about three neighbours per part).
    seed : None, int or numpy.random.Generator
        Seed of ``numpy.random.default_rng``; the same seed gives the same
        data set.
    counts : int, optional
        If given, each sample is drawn as multinomial counts with this total
        (the "sequencing depth", at most ``2**63 - 1``); the data are then
        integers with zeros.

    Returns
    -------
    Simulation
        ``data`` (DataFrame with parts ``p01 .. pD``, closed compositions or
        counts), ``precision`` (of the log-abundances), ``clr_precision``
        (:math:`\Omega`, whose pattern is the graph), ``adjacency`` (boolean
        D x D), ``graph``, and the properties ``pcor`` (true partial
        correlations) and ``edges``.

    Raises
    ------
    ValueError
        If ``n_samples < 1``, ``n_parts < 3``, ``counts`` is below 1 or above
        ``2**63 - 1`` (numpy's int64), ``graph`` is unknown, or
        ``density`` is given for another graph or is below ``2/D``.
    TypeError
        If ``n_samples``, ``n_parts`` or ``counts`` is not an integer.

    See Also
    --------
    coda.pcor : the estimator whose target is ``clr_precision``.
    coda.compare_graphs : score an estimated graph against ``adjacency``.

    Notes
    -----
    **Which graph is recoverable.** The partial correlations of Erb (2020)
    estimate :math:`\Omega = \Gamma^+`, the pseudo-inverse of the clr
    covariance :math:`\Gamma = G \Sigma G` (:math:`G = I - J/D`), not the
    precision :math:`\Sigma^{-1}` of the unobserved log-abundances. For a
    general :math:`\Sigma` the two have different off-diagonal zero patterns,
    because :math:`(G \Sigma G)^+` mixes all entries. This simulator
    therefore defines :math:`\Omega` directly: a weighted graph Laplacian
    :math:`\Omega = \sum_{(i,j)} w_{ij} (e_i - e_j)(e_i - e_j)^T`, so that
    :math:`\Omega 1 = 0`, :math:`\Omega_{ij} = -w_{ij}` on edges and 0
    elsewhere. The clr covariance is :math:`\Gamma = \Omega^+`, scaled so
    that the mean clr variance :math:`\operatorname{tr}(\Gamma)/D` is 1.
    The log-abundances are :math:`y = \mu + z + s 1` with clr part
    :math:`z \sim N(0, \Gamma)`, means :math:`\mu_i \sim N(0, 1)` and an
    independent log size :math:`s \sim N(0, 1)` per sample, so
    :math:`\Sigma = \Gamma + J` and
    ``precision`` :math:`= \Sigma^{-1} = \Omega + J/D^2`: it is dense (every
    entry shifted by :math:`1/D^2`), while ``clr_precision`` and
    ``adjacency`` are sparse. The graph the method can recover is
    ``adjacency``, the pattern of ``clr_precision``.

    Weights are drawn uniformly from [0.5, 1]. On a tree (``"chain"``,
    ``"hub"``) a zero-row-sum precision is positive semi-definite only if
    every weight is positive, so all true partial correlations are
    positive. ``"random"`` graphs also have cycles; their extra edges get
    random signs, and negative weights are halved until :math:`\Omega` stays
    well conditioned on the clr plane.

    With ``counts``, each row is ``Multinomial(counts, composition)``:
    rare parts become zeros, as in sequencing data, and zero replacement
    (:func:`coda.replace_zeros`) is needed before any log-ratio analysis.

    References
    ----------
    .. [1] Erb, I. (2020). Partial correlations in compositional data
       analysis. Applied Computing and Geosciences 6:100026.
       https://doi.org/10.1016/j.acags.2020.100026

    Examples
    --------
    >>> import coda
    >>> sim = coda.simulate(100, 5, graph="chain", seed=0)
    >>> sim.data.shape
    (100, 5)
    >>> sim.edges
    [('p01', 'p02'), ('p02', 'p03'), ('p03', 'p04'), ('p04', 'p05')]
    >>> sim.pcor.round(2)
          p01   p02   p03   p04  p05
    p01  1.00  0.75  0.00  0.00  0.0
    p02  0.75  1.00  0.49  0.00  0.0
    p03  0.00  0.49  1.00  0.48  0.0
    p04  0.00  0.00  0.48  1.00  0.7
    p05  0.00  0.00  0.00  0.70  1.0
    """
    n = check_integer(n_samples, "n_samples", minimum=1)
    d = check_integer(n_parts, "n_parts", minimum=3)
    check_option(graph, "graph", _GRAPHS)
    if counts is not None:
        # numpy draws multinomial counts as int64.
        counts = check_integer(counts, "counts", minimum=1, maximum=np.iinfo(np.int64).max)
    if graph == "random":
        density = (
            min(1.0, 3.0 / d)
            if density is None
            else check_fraction(density, "density", closed=True)
        )
        if density < 2.0 / d:
            raise ValueError(
                f"density={density!r} is below 2/D = {2.0 / d:.3g}, the density of the "
                "spanning tree that keeps the graph connected; use a larger density"
            )
    elif density is not None:
        raise ValueError(
            f"density={density!r} applies to graph='random' only; graph={graph!r} "
            "has a fixed pattern: leave density=None"
        )
    rng = seeded_rng(seed)
    omega = _clr_precision(graph, d, density, rng)
    gamma = np.linalg.inv(omega + 1.0 / d) - 1.0 / d
    scale = np.trace(gamma) / d
    gamma /= scale
    omega *= scale
    vals, vecs = np.linalg.eigh(gamma)
    # The largest D - 1 eigenvalues span the clr plane; the smallest is the 1 direction.
    root = vecs[:, 1:] * np.sqrt(vals[1:])
    z = rng.standard_normal((n, d - 1)) @ root.T
    mu = rng.standard_normal(d)
    log_size = rng.normal(0.0, _LOG_SIZE_SD, (n, 1))
    proportions = clr_inv(mu + z + log_size)
    data = rng.multinomial(counts, proportions) if counts is not None else proportions
    width = max(2, len(str(d)))
    parts = pd.Index([f"p{k + 1:0{width}d}" for k in range(d)])

    def square(values):
        return pd.DataFrame(values, index=parts, columns=parts)

    adjacency = omega != 0
    np.fill_diagonal(adjacency, False)
    return Simulation(
        data=pd.DataFrame(data, columns=parts),
        precision=square(omega + 1.0 / (_LOG_SIZE_SD**2 * d**2)),
        clr_precision=square(omega),
        adjacency=square(adjacency),
        graph=graph,
    )
