"""Regressions of functions that failed or blew up at sizes users meet.

Each test runs a function at a size that used to crash or to need memory
quadratic in the pairs of parts beyond the result, and checks the answer
against an independent computation.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pandas as pd

import coda


def _chain_sbp(parts: list[str]) -> pd.DataFrame:
    """Pivot partition: balance k sets part k against all the parts after it."""
    d = len(parts)
    rows = np.zeros((d - 1, d), dtype=np.int64)
    for k in range(d - 1):
        rows[k, k] = 1
        rows[k, k + 1 :] = -1
    return pd.DataFrame(rows, index=[f"b{k}" for k in range(d - 1)], columns=parts)


def test_dendrogram_layout_of_a_deep_chain_of_pivots():
    # A chain of 1,500 parts is 1,499 balances deep: the recursive walk of the
    # tree raised RecursionError from about 500 parts.
    d, n = 1500, 12
    rng = np.random.default_rng(7)
    parts = [f"p{k}" for k in range(d)]
    x = pd.DataFrame(np.exp(rng.normal(size=(n, d))), columns=parts)
    layout = coda.dendrogram_layout(_chain_sbp(parts), x)

    # Balance k = sqrt(s / (s + 1)) (ln x_k - mean of ln x_(k+1..D-1)), s = D - k - 1.
    logs = np.log(x.to_numpy())
    s = np.arange(d - 1, 0, -1)
    after = np.cumsum(logs[:, ::-1], axis=1)[:, ::-1][:, 1:]  # sums over the later parts
    balance = np.sqrt(s / (s + 1)) * (logs[:, :-1] - after / s)
    variance = balance.var(axis=0, ddof=1)
    depth = np.cumsum(variance)
    # Balance k joins leaf k (left) to balance k + 1 (right); the last joins two leaves.
    node_x = np.empty(d - 1)
    node_x[-1] = d - 1.5
    for k in range(d - 3, -1, -1):
        node_x[k] = (k + node_x[k + 1]) / 2
    right = np.append(node_x[1:], d - 1.0)

    frame = layout.balances
    assert list(layout.leaves.index) == parts
    np.testing.assert_array_equal(layout.leaves["x"].to_numpy(), np.arange(d))
    np.testing.assert_allclose(frame["x"].to_numpy(), node_x, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(frame["bar_x0"].to_numpy(), np.arange(d - 1.0))
    np.testing.assert_allclose(frame["bar_x1"].to_numpy(), right, rtol=0, atol=1e-12)
    np.testing.assert_allclose(frame["variance"].to_numpy(), variance, rtol=1e-9)
    np.testing.assert_allclose(frame["mean"].to_numpy(), balance.mean(axis=0), atol=1e-9)
    np.testing.assert_allclose(
        frame["height"].to_numpy(), depth[-1] - depth, rtol=1e-9, atol=1e-9 * depth[-1]
    )
    assert frame["parent"].tolist() == ["", *[f"b{k}" for k in range(d - 2)]]
    kinds = layout.segments["kind"].value_counts()
    assert kinds.to_dict() == {"bar": d - 1, "balance": d - 1, "leaf": d}


def test_network_from_pcor_with_tests_keeps_memory_linear_in_pairs():
    # The test table was matched to the matrix through a dict of all D (D - 1)
    # ordered pairs: about 200 bytes per pair, 36 times the matrix at D = 500
    # (1.4 GB at D = 2,000).
    d = 500
    sim = coda.simulate(700, d, graph="chain", seed=11)
    rho = coda.pcor(sim.data)
    tests = coda.pcor_test(sim.data)
    # Parts in reverse order: every test lists its pair the other way round.
    reverse = list(rho.columns[::-1])
    rho = rho.loc[reverse, reverse]
    tracemalloc.start()
    try:
        graph = coda.network_from_pcor(rho, tests=tests, rule="fdr", alpha=0.05)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 18 * rho.to_numpy().nbytes

    # Independently: the edges are the table's rows with qvalue <= alpha.
    chosen = tests[tests["qvalue"] <= 0.05]
    expected = {
        frozenset((a, b)): (r, p, q)
        for a, b, r, p, q in zip(
            chosen["part_i"],
            chosen["part_j"],
            chosen["r"],
            chosen["pvalue"],
            chosen["qvalue"],
            strict=True,
        )
    }
    assert len(expected) > d / 2
    found = {
        frozenset((a, b)): (data["pcor"], data["pvalue"], data["qvalue"])
        for a, b, data in graph.edges(data=True)
    }
    assert found.keys() == expected.keys()
    for pair, (r, p, q) in expected.items():
        pcor, pvalue, qvalue = found[pair]
        assert abs(pcor - r) <= 1e-12
        assert (pvalue, qvalue) == (p, q)
    assert list(graph.nodes) == reverse
