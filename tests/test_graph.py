"""Tests of coda.graph: network construction, export, layouts, drawing data, compare_graphs."""

from __future__ import annotations

import json
import math
import os
import re
import warnings
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import coda
from coda import compare_graphs
from coda.graph_layout import NEGATIVE_COLOR, POSITIVE_COLOR


def adjacency(d, edges):
    a = np.zeros((d, d), dtype=bool)
    for i, j in edges:
        a[i, j] = a[j, i] = True
    return a


def test_hand_worked_path():
    # truth: the path 0-1-2-3, edges {01, 12, 23}; estimate {01, 13, 23}.
    # TP = {01, 23} = 2, FP = {13} = 1, FN = {12} = 1:
    # precision = 2/3, recall = 2/3, F1 = 2/3, SHD = FP + FN = 2.
    result = compare_graphs(
        adjacency(4, [(0, 1), (1, 3), (2, 3)]), adjacency(4, [(0, 1), (1, 2), (2, 3)])
    )
    assert (result.true_positives, result.false_positives, result.false_negatives) == (2, 1, 1)
    assert result.precision == pytest.approx(2 / 3, abs=1e-15)
    assert result.recall == pytest.approx(2 / 3, abs=1e-15)
    assert result.f1 == pytest.approx(2 / 3, abs=1e-15)
    assert result.shd == 2


def test_hand_worked_unequal_precision_and_recall():
    # truth: 5 edges; estimate: 4 edges of which 3 are true.
    # precision = 3/4, recall = 3/5, F1 = 2 * 0.75 * 0.6 / 1.35 = 0.9 / 1.35 = 2/3,
    # SHD = 1 false positive + 2 false negatives = 3.
    true = adjacency(5, [(0, 1), (1, 2), (2, 3), (3, 4), (0, 4)])
    est = adjacency(5, [(0, 1), (1, 2), (2, 3), (1, 4)])
    result = compare_graphs(est, true)
    assert result.precision == pytest.approx(0.75, abs=1e-15)
    assert result.recall == pytest.approx(0.6, abs=1e-15)
    assert result.f1 == pytest.approx(2 / 3, abs=1e-15)
    assert result.shd == 3


def test_no_estimated_edges_gives_nan_precision_and_zero_f1():
    # 0/0 precision is NaN; recall 0 of 2; F1 = 2TP/(2TP+FP+FN) = 0: an empty
    # estimate (too large a penalty) found none of the edges (it was NaN)
    result = compare_graphs(np.zeros((3, 3), dtype=bool), adjacency(3, [(0, 1), (1, 2)]))
    assert math.isnan(result.precision)
    assert result.recall == 0.0
    assert result.f1 == 0.0
    assert result.shd == 2
    # only two empty graphs leave F1 undefined
    empty = compare_graphs(np.zeros((3, 3), dtype=bool), np.zeros((3, 3), dtype=bool))
    assert math.isnan(empty.precision) and math.isnan(empty.recall) and math.isnan(empty.f1)
    # an estimate of a graph without edges: precision 0, recall NaN, F1 0
    spurious = compare_graphs(adjacency(3, [(0, 1)]), np.zeros((3, 3), dtype=bool))
    assert (spurious.precision, spurious.f1) == (0.0, 0.0) and math.isnan(spurious.recall)


def test_disjoint_edges_give_zero_f1():
    result = compare_graphs(adjacency(3, [(0, 2)]), adjacency(3, [(0, 1)]))
    assert (result.precision, result.recall, result.f1, result.shd) == (0.0, 0.0, 0.0, 2)


def test_diagonal_is_ignored_and_zero_one_matrices_accepted():
    est = adjacency(3, [(0, 1)]).astype(int)
    np.fill_diagonal(est, 1)
    result = compare_graphs(est, adjacency(3, [(0, 1)]))
    assert (result.precision, result.recall, result.shd) == (1.0, 1.0, 0)


def test_networkx_and_dataframes_are_matched_by_label():
    true = nx.Graph([("a", "b"), ("b", "c")])
    true.add_node("d")
    # The same graph as a DataFrame in another node order, plus one wrong edge c-d.
    order = ["d", "c", "b", "a"]
    est = pd.DataFrame(False, index=order, columns=order)
    for u, v in [("a", "b"), ("b", "c"), ("c", "d")]:
        est.loc[u, v] = est.loc[v, u] = True
    result = compare_graphs(est, true)
    assert (result.true_positives, result.false_positives, result.false_negatives) == (2, 1, 0)
    result = compare_graphs(true, est)
    assert (result.true_positives, result.false_positives, result.false_negatives) == (2, 0, 1)


def test_array_is_matched_by_position_to_the_labelled_graph():
    names = ["x", "y", "z"]
    true = pd.DataFrame(adjacency(3, [(0, 1)]), index=names, columns=names)
    result = compare_graphs(adjacency(3, [(0, 1)]), true)
    assert result.shd == 0
    graph = nx.Graph()
    graph.add_nodes_from(names)
    graph.add_edge("y", "z")
    result = compare_graphs(adjacency(3, [(1, 2)]), graph)
    assert result.shd == 0


def test_inputs_are_not_mutated():
    est = adjacency(4, [(0, 1)])
    true = adjacency(4, [(0, 1), (2, 3)])
    before = est.copy(), true.copy()
    compare_graphs(est, true)
    np.testing.assert_array_equal(est, before[0])
    np.testing.assert_array_equal(true, before[1])


@st.composite
def symmetric_adjacency(draw, d):
    upper = draw(hnp.arrays(np.bool_, (d, d)))
    upper = np.triu(upper, k=1)
    return upper | upper.T


@settings(max_examples=50, deadline=None)
@given(
    st.integers(2, 8).flatmap(lambda d: st.tuples(symmetric_adjacency(d), symmetric_adjacency(d)))
)
def test_swapping_roles_swaps_precision_and_recall(pair):
    est, true = pair
    forward, backward = compare_graphs(est, true), compare_graphs(true, est)
    np.testing.assert_equal(forward.precision, backward.recall)
    np.testing.assert_equal(forward.recall, backward.precision)
    assert forward.shd == backward.shd == int((np.triu(est ^ true, k=1)).sum())
    itself = compare_graphs(true, true)
    assert itself.shd == 0
    if true.any():
        assert itself.precision == itself.recall == itself.f1 == 1.0


@pytest.mark.parametrize(
    ("estimated", "match", "error"),
    [
        (np.zeros((3, 4), dtype=bool), "square adjacency matrix", ValueError),
        (
            np.array([[0, 1, 0], [0, 0, 0], [0, 0, 0]], dtype=bool),
            r"not symmetric \(entry \[0, 1\]",
            ValueError,
        ),
        (np.full((3, 3), 0.5), "must hold booleans", ValueError),
        (nx.DiGraph([(0, 1)]), "directed graph", ValueError),
        ("edges", "expected a networkx Graph", TypeError),
        (np.zeros((4, 4), dtype=bool), "estimated has 4 nodes and true has 3", ValueError),
    ],
)
def test_errors(estimated, match, error):
    with pytest.raises(error, match=match):
        compare_graphs(estimated, adjacency(3, [(0, 1)]))


def test_error_on_different_labels():
    a = pd.DataFrame(np.zeros((2, 2), dtype=bool), index=["a", "b"], columns=["a", "b"])
    b = pd.DataFrame(np.zeros((2, 2), dtype=bool), index=["a", "c"], columns=["a", "c"])
    with pytest.raises(ValueError, match="only in estimated: b; only in true: c"):
        compare_graphs(a, b)
    c = pd.DataFrame(np.zeros((2, 2), dtype=bool), index=["b", "a"], columns=["a", "b"])
    with pytest.raises(ValueError, match="index and columns differ"):
        compare_graphs(c, a)


# --- network construction -------------------------------------------------------


@pytest.fixture(scope="module")
def sim():
    return coda.simulate(120, 6, seed=3)


def _edge_set(graph):
    return {tuple(sorted(e)) for e in graph.edges}


def test_fdr_rule_matches_pcor_test_filtered_by_hand(sim):
    x = sim.data
    tests = coda.pcor_test(x)
    expected = {
        tuple(sorted((a, b)))
        for a, b, q in zip(tests.part_i, tests.part_j, tests.qvalue, strict=True)
        if q <= 0.05
    }
    G = coda.network(x)
    assert list(G.nodes) == list(x.columns)
    assert _edge_set(G) == expected
    assert len(expected) > 0
    row = tests[(tests.part_i == "p01") & (tests.part_j == "p02")].iloc[0]
    data = G.edges["p01", "p02"]
    assert data["pcor"] == pytest.approx(row.r, abs=1e-14)
    assert data["pvalue"] == pytest.approx(row.pvalue, abs=1e-14)
    assert data["qvalue"] == pytest.approx(row.qvalue, abs=1e-14)
    assert data["sign"] == (1 if row.r > 0 else -1)
    assert G.graph == {
        "rule": "fdr",
        "alpha": 0.05,
        "adjust": "fdr_bh",
        "min_abs": 0.0,
        "method": "exact",
        "given": "",
        "n_samples": 120,
    }


def test_node_attributes(sim):
    x = sim.data
    G = coda.network(x, node_data={"p01": {"taxon": "A"}})
    clr_var = np.diag(coda.clr_cov(x))
    pvar = coda.partial_variance(x)
    for k, part in enumerate(x.columns):
        assert G.nodes[part]["clr_variance"] == pytest.approx(clr_var[k], rel=1e-12)
        assert G.nodes[part]["partial_variance"] == pytest.approx(pvar[part], rel=1e-12)
        assert G.nodes[part]["given"] is False
    assert G.nodes["p01"]["taxon"] == "A"
    frame = pd.DataFrame({"size": [1.0, 2.0]}, index=["p02", "p03"])
    assert coda.network(x, node_data=frame).nodes["p03"]["size"] == 2.0


def test_threshold_nonzero_and_min_abs_filter(sim):
    x = sim.data
    tests = coda.pcor_test(x)
    G = coda.network(x, rule="threshold", min_abs=0.3)
    expected = {
        tuple(sorted((a, b)))
        for a, b, r in zip(tests.part_i, tests.part_j, tests.r, strict=True)
        if abs(r) >= 0.3
    }
    assert _edge_set(G) == expected
    both = coda.network(x, min_abs=0.3)
    fdr = {
        tuple(sorted((a, b)))
        for a, b, q in zip(tests.part_i, tests.part_j, tests.qvalue, strict=True)
        if q <= 0.05
    }
    assert _edge_set(both) == fdr & expected
    glasso = coda.network(x, method="glasso")
    assert glasso.graph["rule"] == "nonzero"
    rho = coda.pcor(x, method="glasso").to_numpy()
    i, j = np.nonzero(np.triu(rho != 0, k=1))
    assert _edge_set(glasso) == {(x.columns[a], x.columns[b]) for a, b in zip(i, j, strict=True)}
    assert coda.network(x, method="shrink", min_abs=0.2).graph["rule"] == "threshold"


def test_bootstrap_rule(sim):
    x = sim.data
    G = coda.network(x, rule="bootstrap", n_boot=200, seed=7)
    boot = coda.pcor_bootstrap(x, n_boot=200, seed=7, ci=0.95).to_frame()
    expected = {
        (a, b)
        for a, b, lo, hi in zip(boot.part_i, boot.part_j, boot.lower, boot.upper, strict=True)
        if lo > 0 or hi < 0
    }
    assert _edge_set(G) == expected
    a, b = next(iter(G.edges))
    assert G.edges[a, b]["ci_low"] <= G.edges[a, b]["pcor"] <= G.edges[a, b]["ci_high"]
    assert G.graph["n_boot"] == 200
    assert _edge_set(coda.network(x, rule="bootstrap", n_boot=200, seed=7)) == expected


def test_given_parts_stay_isolated(sim):
    x = sim.data
    G = coda.network(x, given=["p01", "p02"])
    assert list(G.nodes) == list(x.columns)
    assert G.degree["p01"] == 0 and G.nodes["p01"]["given"] is True
    assert math.isnan(G.nodes["p01"]["partial_variance"])
    assert G.graph["given"] == "p01,p02"


def test_empty_selection_and_array_input(sim):
    x = sim.data.to_numpy()
    G = coda.network(x, rule="threshold", min_abs=1.0)
    assert list(G.nodes) == [f"x{k}" for k in range(1, 7)]
    assert G.number_of_edges() == 0
    style = coda.network_style(G)
    assert style.edges.empty and list(style.edges.columns)[:2] == ["source", "target"]


def test_network_does_not_mutate(sim):
    x = sim.data.copy()
    before = x.copy()
    coda.network(x)
    pd.testing.assert_frame_equal(x, before)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"rule": "magic"}, "rule='magic' is not a known option"),
        ({"rule": "threshold"}, "pass min_abs"),
        ({"method": "glasso", "rule": "bootstrap"}, "cannot be bootstrapped"),
        ({"min_abs": 1.5}, r"outside \[0, 1\]"),
        ({"node_data": {"zz": {"a": 1}}}, "not nodes: zz"),
        ({"alpha": 0}, "alpha=0"),
    ],
)
def test_network_errors(sim, kwargs, match):
    with pytest.raises(ValueError, match=match):
        coda.network(sim.data, **kwargs)


@pytest.fixture(scope="module")
def wide():
    """Fewer samples than parts (n = 25 <= D - 1 = 39): no t test can run."""
    return coda.simulate(25, 40, graph="chain", seed=3).data


def test_regularised_networks_need_no_test_with_fewer_samples_than_parts(wide):
    G = coda.network(wide, method="glasso")
    fit = coda.pcor_glasso(wide)
    assert G.graph["rule"] == "nonzero"
    assert _edge_set(G) == _edge_set(coda.network(fit))
    assert G.number_of_edges() > 0
    # No test was run: no p- or q-values, and no adjustment recorded.
    assert all(set(data) == {"pcor", "sign"} for _, _, data in G.edges(data=True))
    assert "adjust" not in G.graph
    assert G.nodes["p01"]["partial_variance"] == pytest.approx(1 / fit.precision.iloc[0, 0])
    assert _edge_set(wide.coda.network(method="glasso")) == _edge_set(G)
    for method in ("shrink", "bshrink"):
        G = coda.network(wide, method=method, min_abs=0.1)
        assert G.graph["rule"] == "threshold"
        rho = coda.pcor(wide, method=method).to_numpy()
        i, j = np.nonzero(np.triu(np.abs(rho) >= 0.1, k=1))
        cols = wide.columns
        assert _edge_set(G) == {(cols[a], cols[b]) for a, b in zip(i, j, strict=True)}


@pytest.mark.parametrize(
    ("kwargs", "fix"),
    [
        ({"method": "glasso", "rule": "fdr"}, 'rule="nonzero"'),
        ({"method": "shrink"}, 'rule="threshold" with min_abs'),
        ({}, 'method="glasso"'),
    ],
)
def test_fdr_rule_without_degrees_of_freedom_says_to_choose_another_rule(wide, kwargs, fix):
    message = (
        r'rule="fdr" selects edges by the t tests of coda.pcor_test, .* x has 25 samples and '
        r"each pair is conditioned on 38 parts \(df = -14\): choose a rule that runs no test"
    )
    with pytest.raises(ValueError, match=message) as info:
        coda.network(wide, **kwargs)
    assert fix in str(info.value)


def test_edge_attributes_exist_only_for_the_rule_that_made_them(sim):
    x = sim.data
    threshold = coda.network(x, rule="threshold", min_abs=0.2)
    same = coda.network_from_pcor(coda.pcor(x), min_abs=0.2)
    assert _edge_set(threshold) == _edge_set(same) and threshold.number_of_edges() > 0
    for a, b, data in threshold.edges(data=True):
        assert data == pytest.approx(same.edges[a, b])
        assert set(data) == {"pcor", "sign"}
    assert "adjust" not in threshold.graph
    fdr = coda.network(x, adjust="holm")
    assert all(set(d) == {"pcor", "pvalue", "qvalue", "sign"} for *_, d in fdr.edges(data=True))
    assert fdr.graph["adjust"] == "holm"
    boot = coda.network(x, rule="bootstrap", n_boot=100, seed=1)
    assert all(set(d) == {"pcor", "ci_low", "ci_high", "sign"} for *_, d in boot.edges(data=True))
    # An unknown adjustment is an error even where no test uses it.
    with pytest.raises(ValueError, match="adjust='fdr-bh' is not a known option"):
        coda.network(x, rule="threshold", min_abs=0.2, adjust="fdr-bh")


@pytest.mark.parametrize(
    ("columns", "shown"),
    [(["a", "b", "a", "c", "d"], "'a' (positions 0, 2)"), ([1, "1", "b", "c", "d"], "'1'")],
)
def test_network_rejects_parts_with_the_same_name(columns, shown):
    x = coda.simulate(200, 5, graph="chain", seed=1).data
    x.columns = columns
    message = f"x has parts with the same name as strings: {shown}"
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        coda.network(x)
    assert "rename the columns of x" in str(info.value)
    with pytest.raises(ValueError, match=re.escape(message)):
        coda.network(x, method="glasso")
    with pytest.raises(ValueError, match=re.escape(message)):
        coda.network(coda.pcor_glasso(x))


def test_network_from_pcor_rejects_parts_with_the_same_name():
    rho = pd.DataFrame(np.eye(3), index=list("aab"), columns=list("aab"))
    with pytest.raises(ValueError, match="pcor has parts with the same name as strings: 'a'"):
        coda.network_from_pcor(rho, rule="nonzero")
    rho.index = rho.columns = [1, "1", "b"]
    with pytest.raises(ValueError, match="rename its rows and columns"):
        coda.network_from_pcor(rho, rule="nonzero")


@pytest.mark.parametrize("rule", ["fdr", "threshold"])
def test_network_from_pcor_rejects_tests_that_are_not_a_table(rule):
    with pytest.raises(TypeError, match="tests is a list; expected the DataFrame"):
        coda.network_from_pcor(np.eye(3), tests=[1, 2], rule=rule, min_abs=0.1)


# --- network_from_pcor ---------------------------------------------------------


def test_network_from_pcor_matches_network(sim):
    x = sim.data
    rho, tests = coda.pcor(x), coda.pcor_test(x)
    G = coda.network_from_pcor(rho, tests=tests, rule="fdr")
    assert _edge_set(G) == _edge_set(coda.network(x))
    a, b = next(iter(G.edges))
    assert G.edges[a, b]["qvalue"] <= 0.05
    arr = coda.network_from_pcor(rho.to_numpy(), tests=coda.pcor_test(x.to_numpy()), rule="fdr")
    assert _edge_set(arr) == {(f"x{int(a[1:])}", f"x{int(b[1:])}") for a, b in _edge_set(G)}


def test_network_from_pcor_given_rows():
    rho = np.array([[1, np.nan, np.nan], [np.nan, 1, 0.4], [np.nan, 0.4, 1]])
    G = coda.network_from_pcor(rho, rule="nonzero")
    assert list(G.edges) == [("x2", "x3")]
    assert G.nodes["x1"]["given"] is True and G.graph["given"] == "x1"


@pytest.mark.parametrize(
    ("pcor", "match"),
    [
        (np.ones((2, 3)), "square"),
        (np.array([[1, 0.5], [0.4, 1]]), "not symmetric"),
        (np.array([[1, 2.0], [2.0, 1]]), r"outside \[-1, 1\]"),
        (np.array([[1, np.nan, 0.1], [np.nan, 1, 0.2], [0.1, 0.2, 1]]), "NaN at"),
    ],
)
def test_network_from_pcor_errors(pcor, match):
    with pytest.raises(ValueError, match=match):
        coda.network_from_pcor(pcor, min_abs=0.1)


def test_network_from_pcor_mismatched_tests(sim):
    x = sim.data
    rho = coda.pcor(x)
    with pytest.raises(ValueError, match="needs the test table"):
        coda.network_from_pcor(rho, rule="fdr")
    other = coda.pcor_test(coda.simulate(120, 6, seed=4).data)
    with pytest.raises(ValueError, match="does not match pcor"):
        coda.network_from_pcor(rho, tests=other, rule="fdr")
    with pytest.raises(ValueError, match="lacks the columns"):
        coda.network_from_pcor(rho, tests=other.drop(columns="qvalue"), rule="fdr")


# --- export ---------------------------------------------------------------------


def test_graphml_round_trip(sim, tmp_path):
    G = coda.network(sim.data, given=["p06"], node_data={"p01": {"taxon": "A"}})
    path = tmp_path / "g.graphml"
    coda.write_graphml(G, path)
    H = nx.read_graphml(path)
    assert list(H.nodes) == list(G.nodes)
    assert _edge_set(H) == _edge_set(G)
    # networkx's reader adds its own empty defaults to the graph attributes.
    assert {k: v for k, v in H.graph.items() if not k.endswith("_default")} == G.graph
    for a, b, data in G.edges(data=True):
        assert H.edges[a, b] == data
    for node, data in G.nodes(data=True):
        back = H.nodes[node]
        assert back.keys() == data.keys()
        for key, value in data.items():
            if isinstance(value, float) and math.isnan(value):
                assert math.isnan(back[key])
            else:
                assert back[key] == value


def test_edge_list_and_json(sim, tmp_path):
    G = coda.network(sim.data, given=["p06"])
    coda.write_edge_list(G, tmp_path / "e.csv")
    table = pd.read_csv(tmp_path / "e.csv")
    assert list(table.columns) == ["source", "target", "pcor", "pvalue", "qvalue", "sign"]
    assert len(table) == G.number_of_edges()
    first = table.iloc[0]
    assert G.edges[first.source, first.target]["pcor"] == pytest.approx(first.pcor, rel=1e-15)
    coda.write_json(G, tmp_path / "g.json")
    data = json.loads((tmp_path / "g.json").read_text())
    assert data == coda.to_node_link(G)
    assert [n["id"] for n in data["nodes"]] == list(G.nodes)
    assert data["nodes"][-1]["partial_variance"] is None
    assert len(data["edges"]) == G.number_of_edges()
    assert data["graph"]["given"] == "p06"


# --- layouts and styles ---------------------------------------------------------


def test_circular_layout_order_and_radius():
    G = nx.Graph()
    G.add_nodes_from(["c", "a", "b", "d", "e", "f"])
    pos = coda.layout(G)
    assert list(pos) == ["c", "a", "b", "d", "e", "f"]
    assert pos["c"] == pytest.approx((0.0, 1.0), abs=1e-15)
    assert pos["a"][0] > 0 and pos["a"][1] > 0  # clockwise: the second node is to the right
    assert pos["b"] == pytest.approx((math.sqrt(3) / 2, -0.5), abs=1e-15)
    assert all(math.hypot(*p) == pytest.approx(1.0, abs=1e-15) for p in pos.values())


def test_spring_is_reproducible_and_biplot_equals_rays(sim):
    G = coda.network(sim.data)
    assert coda.layout(G, kind="spring", seed=1) == coda.layout(G, kind="spring", seed=1)
    pos = coda.layout(G, kind="biplot", x=sim.data)
    rays = coda.biplot_coordinates(sim.data).parts
    for part in sim.data.columns:
        assert pos[part] == (rays.loc[part, "PC1"], rays.loc[part, "PC2"])
    with pytest.raises(ValueError, match="needs the data"):
        coda.layout(G, kind="biplot")
    with pytest.raises(ValueError, match="layout='grid' is not a known option"):
        coda.layout(G, kind="grid")
    with pytest.raises(TypeError, match="undirected networkx Graph"):
        coda.layout(nx.DiGraph())


def test_network_style_widths_colours_sizes():
    rho = pd.DataFrame(
        [[1, 0.8, -0.2, 0.0], [0.8, 1, 0.0, -0.5], [-0.2, 0.0, 1, 0.3], [0.0, -0.5, 0.3, 1]],
        index=list("abcd"),
        columns=list("abcd"),
    )
    G = coda.network_from_pcor(
        rho,
        min_abs=0.1,
        node_data={k: {"w": v} for k, v in zip("abcd", [1, 3, 2, 5], strict=True)},
    )
    style = coda.network_style(G, node_size_by="w", width_range=(1, 9), size_range=(100, 500))
    edges = style.edges
    order = np.argsort(np.abs(edges.pcor.to_numpy()))
    assert (np.diff(edges.width.to_numpy()[order]) > 0).all()
    assert edges.width.to_numpy() == pytest.approx(1 + 8 * np.abs(edges.pcor.to_numpy()))
    assert (edges.color == np.where(edges.pcor > 0, POSITIVE_COLOR, NEGATIVE_COLOR)).all()
    assert (edges.sign == np.sign(edges.pcor)).all()
    assert style.nodes["size"].tolist() == [100.0, 300.0, 200.0, 500.0]
    pos = coda.layout(G)
    row = edges.iloc[0]
    assert (row.x0, row.y0) == pos[row.source] and (row.x1, row.y1) == pos[row.target]
    with pytest.raises(ValueError, match="not an attribute of every node"):
        coda.network_style(G, node_size_by="partial_variance")
    with pytest.raises(ValueError, match="width_range"):
        coda.network_style(G, node_size_by=None, width_range=(3, 1))


def test_network_style_default_sizes_work_on_every_graph_coda_makes(sim):
    x = sim.data
    # By partial variance where every node has one (NaN for a given part: smallest).
    G = coda.network(x, given=["p01"])
    sizes = coda.network_style(G, size_range=(100, 500)).nodes["size"]
    pvar = pd.Series({n: d["partial_variance"] for n, d in G.nodes(data=True)})
    assert sizes["p01"] == 100.0
    assert sizes.drop("p01").min() == 100.0 and sizes.max() == 500.0
    rest = pvar.drop("p01")
    assert (np.argsort(sizes.drop("p01").to_numpy()) == np.argsort(rest.to_numpy())).all()
    # Equal sizes where no node has one.
    for graph in (
        coda.network_from_pcor(coda.pcor(x), min_abs=0.2),
        coda.network(coda.pcor_bootstrap(x, n_boot=50, seed=0)),
    ):
        assert set(coda.network_style(graph, size_range=(100, 500)).nodes["size"]) == {300.0}
        with pytest.raises(ValueError, match="'partial_variance' is not an attribute"):
            coda.network_style(graph, node_size_by="partial_variance")


# --- biplot, ternary, clustering, dendrogram ------------------------------------


def test_biplot_against_independent_svd(sim):
    x = sim.data
    z = coda.clr(x).to_numpy()
    z = z - z.mean(axis=0)
    _, s, vt = np.linalg.svd(z)
    bp = coda.biplot_coordinates(x)
    for k in range(2):
        ray = bp.parts.iloc[:, k].to_numpy()
        assert abs(ray @ vt[k]) == pytest.approx(1.0, abs=1e-10)
        assert np.abs(ray).max() == ray.max()
    assert bp.explained == pytest.approx(s[:2] ** 2 / np.sum(s**2), rel=1e-12)
    # samples U S are the projections of the centred clr data on the rays.
    assert bp.samples.to_numpy() == pytest.approx(z @ bp.parts.to_numpy(), abs=1e-10)
    assert list(bp.samples.index) == list(x.index)


def test_covariance_biplot_rays_give_the_clr_covariance_for_three_parts():
    x = coda.simulate(50, 3, seed=2).data
    rays = coda.biplot_coordinates(x, scaling="covariance").parts.to_numpy()
    assert rays @ rays.T == pytest.approx(coda.clr_cov(x).to_numpy(), abs=1e-12)
    with pytest.raises(ValueError, match="scaling='pca' is not a known option"):
        coda.biplot_coordinates(x, scaling="pca")


def test_ternary_vertices_and_centre():
    x = pd.DataFrame([*np.eye(3).tolist(), [1, 1, 1]], columns=["a", "b", "c"]) * 5
    xy = coda.ternary_coordinates(x).to_numpy()
    h = math.sqrt(3) / 2
    assert xy == pytest.approx(np.array([[0, 0], [1, 0], [0.5, h], [0.5, h / 3]]), abs=1e-15)
    wide = x.assign(d=7.0)[["d", "c", "b", "a"]]
    assert coda.ternary_coordinates(wide, parts=["a", "b", "c"]).to_numpy() == pytest.approx(xy)
    with pytest.raises(ValueError, match="'z' is not a part"):
        coda.ternary_coordinates(wide, parts=["a", "b", "z"])
    with pytest.raises(ValueError, match="pass parts"):
        coda.ternary_coordinates(wide)


@pytest.mark.parametrize("scale", [1e-300, 1e300])
def test_ternary_diagrams_of_rows_near_the_float_limits(scale):
    # rows of huge or subnormal totals sit where the same rows scaled to 1 sit
    # (the sum of a row near 1e308 overflows, a plain division gave (0, 0))
    x = coda.simulate(12, 3, seed=3).data.to_numpy(copy=True)
    extreme = x.copy()
    extreme[4] *= scale
    # subnormals: whole multiples of the smallest one, 5e-324, are exact
    extreme[7] = [1e308, 1.5e308, 1.7e308] if scale > 1 else np.array([1, 2000, 400]) * 5e-324
    scaled = extreme.copy()
    scaled[4] = x[4]
    scaled[7] = [1.0, 1.5, 1.7] if scale > 1 else [1.0, 2000, 400]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = coda.ternary_coordinates(extreme).to_numpy()
        center, region = coda.ternary_region(extreme)
    expected = coda.ternary_coordinates(scaled).to_numpy()
    assert got == pytest.approx(expected, rel=1e-14, abs=1e-15)
    want_center, want_region = coda.ternary_region(scaled)
    assert center.to_numpy() == pytest.approx(want_center.to_numpy(), rel=1e-9)
    assert region.to_numpy() == pytest.approx(want_region.to_numpy(), rel=1e-9)


def test_ternary_region_of_a_subnormal_part():
    # a part 5e-324 next to parts near 1 has a log-ratio of about -744: far
    # out, but finite
    # (rows summing to 10: closing first made the part 0 and its log -inf)
    x = 10 * coda.simulate(9, 3, seed=0).data.to_numpy()
    x[2, 1] = 5e-324
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        center, region = coda.ternary_region(x)
    assert np.isfinite(center.to_numpy()).all() and np.isfinite(region.to_numpy()).all()


def _inside(point, polygon):
    # Ray casting: count crossings of a horizontal ray from the point.
    px, py = point
    inside = False
    for (x0, y0), (x1, y1) in zip(polygon, np.roll(polygon, -1, axis=0), strict=True):
        if (y0 > py) != (y1 > py) and px < x0 + (py - y0) * (x1 - x0) / (y1 - y0):
            inside = not inside
    return inside


def test_ternary_region_contains_mean_and_satisfies_hotelling():
    x = coda.simulate(40, 4, seed=5).data
    center, region = coda.ternary_region(x, parts=["p01", "p02", "p04"], level=0.9, n_points=60)
    sub = x[["p01", "p02", "p04"]].to_numpy()
    gmean = np.exp(np.log(sub).mean(axis=0))
    expected = coda.ternary_coordinates(gmean[None, :] / gmean.sum()).to_numpy()
    assert center.to_numpy() == pytest.approx(expected, abs=1e-12)
    assert _inside(center.to_numpy()[0], region.to_numpy())
    # Boundary points back in ilr coordinates sit on the Hotelling T^2 contour.
    h = math.sqrt(3) / 2
    c = region.y.to_numpy() / h
    b = region.x.to_numpy() - c / 2
    comp = np.column_stack([1 - b - c, b, c])
    z, zs = coda.ilr(comp), coda.ilr(sub)
    n = len(sub)
    d = z - zs.mean(axis=0)
    t2 = n * np.einsum("ij,jk,ik->i", d, np.linalg.inv(np.cov(zs, rowvar=False)), d)
    from scipy import stats

    bound = 2 * (n - 1) / (n - 2) * stats.f.ppf(0.9, 2, n - 2)
    assert t2 == pytest.approx(np.full(60, bound), rel=1e-8)


def test_cluster_order_puts_correlated_pair_together():
    rho = np.array(
        [
            [1, 0.1, 0.05, 0.95, 0.1],
            [0.1, 1, 0.2, 0.1, 0.1],
            [0.05, 0.2, 1, 0.0, -0.9],
            [0.95, 0.1, 0.0, 1, 0.1],
            [0.1, 0.1, -0.9, 0.1, 1],
        ]
    )
    order = coda.cluster_order(rho)
    assert sorted(order) == [0, 1, 2, 3, 4]
    assert abs(order.index(0) - order.index(3)) == 1
    assert abs(order.index(2) - order.index(4)) == 1
    labelled = coda.cluster_order(pd.DataFrame(rho, index=list("abcde"), columns=list("abcde")))
    assert labelled == ["abcde"[k] for k in order]
    with pytest.raises(ValueError, match="not symmetric"):
        coda.cluster_order(np.array([[1, 0.2], [0.3, 1]]))


@pytest.mark.parametrize(
    "matrix",
    [
        np.ones((2, 3)),
        np.ones((3, 2)),
        np.ones((0, 0)),
        np.ones((1, 1)),
        np.ones(3),
        pd.DataFrame(np.ones((2, 3)), columns=list("abc")),
    ],
)
def test_cluster_order_rejects_matrices_that_are_not_square(matrix):
    shape = re.escape(str(np.shape(matrix)))
    with pytest.raises(ValueError, match=f"matrix must be a square .* got shape {shape}"):
        coda.cluster_order(matrix)


def test_cluster_order_rejects_mislabelled_frames():
    rho = pd.DataFrame(np.eye(3), index=list("abc"), columns=list("bca"))
    with pytest.raises(ValueError, match="matrix is a DataFrame whose index and columns differ"):
        coda.cluster_order(rho)


def test_dendrogram_means_and_variances_equal_balances(sim):
    x = sim.data
    sbp = np.array(
        [
            [1, 1, 1, -1, -1, -1],
            [1, -1, -1, 0, 0, 0],
            [0, 1, -1, 0, 0, 0],
            [0, 0, 0, 1, 1, -1],
            [0, 0, 0, 1, -1, 0],
        ]
    )
    dl = coda.dendrogram_layout(sbp, x)
    coords = coda.balances(x, sbp)
    assert list(dl.balances.index) == list(coords.columns)
    assert dl.balances["mean"].to_numpy() == pytest.approx(coords.mean().to_numpy(), rel=1e-12)
    assert dl.balances["variance"].to_numpy() == pytest.approx(coords.var().to_numpy(), rel=1e-12)
    assert list(dl.leaves.index) == list(x.columns)
    b = dl.balances
    # A balance's vertical runs from its bar up to its parent's bar: length = its variance.
    verticals = dl.segments[dl.segments.kind == "balance"]
    tops = dict(zip(zip(verticals.x0, verticals.y0, strict=True), verticals.y1, strict=True))
    for _, row in b.iterrows():
        top = tops[(row.x, row.height)]
        if row.parent:
            assert top == b.loc[row.parent, "height"]
        assert top - row.height == pytest.approx(row.variance, rel=1e-12)
    assert b.height.min() == pytest.approx(0.0, abs=1e-15)
    assert ((b.mean_x >= b.bar_x0) & (b.mean_x <= b.bar_x1)).all()
    kinds = dl.segments.kind.value_counts()
    assert (kinds["bar"], kinds["balance"], kinds["leaf"]) == (5, 5, 6)
    with pytest.raises(ValueError, match="sbp has 4 columns"):
        coda.dendrogram_layout(sbp[:3, :4], x)


SBP6 = np.array(
    [
        [-1, -1, -1, 1, 1, 1],
        [1, -1, -1, 0, 0, 0],
        [0, 1, -1, 0, 0, 0],
        [0, 0, 0, 1, -1, -1],
        [0, 0, 0, 0, 1, -1],
    ]
)


def test_dendrogram_matches_a_labelled_sbp_to_the_parts_like_balances():
    x = coda.simulate(50, 6, seed=1).data
    reverse = pd.DataFrame(SBP6, columns=list(reversed(x.columns)))
    with pytest.raises(ValueError, match="sbp lists the parts of x in another order") as info:
        coda.dendrogram_layout(reverse, x)
    with pytest.raises(ValueError, match=re.escape(str(info.value))):
        coda.balances(x, reverse)
    other = pd.DataFrame(SBP6, columns=list("abcdef"))
    with pytest.raises(ValueError, match="sbp is labelled with other parts than x"):
        coda.dendrogram_layout(other, x)
    # An array x has no labels to match: the columns are taken by position, as in balances.
    by_position = coda.dendrogram_layout(other, x.to_numpy())
    assert list(by_position.leaves.index) == ["x4", "x5", "x6", "x1", "x2", "x3"]


def test_dendrogram_names_balances_after_a_labelled_sbp():
    x = coda.simulate(50, 6, seed=1).data
    names = ["root", "p1", "p23", "p4", "p56"]
    sbp = pd.DataFrame(SBP6, index=names, columns=x.columns)
    dl = coda.dendrogram_layout(sbp, x)
    coords = coda.balances(x, sbp)
    assert list(dl.balances.index) == list(coords.columns) == names
    assert dl.balances["parent"].tolist() == ["", "root", "p1", "root", "p4"]
    assert dl.balances["mean"].to_numpy() == pytest.approx(coords.mean().to_numpy(), rel=1e-12)
    plain = coda.dendrogram_layout(SBP6, x)
    assert list(plain.balances.index) == list(coda.balances(x, SBP6).columns)
    assert plain.balances.drop(columns="parent").to_numpy() == pytest.approx(
        dl.balances.drop(columns="parent").to_numpy(), rel=1e-12
    )


# --- Roman cups -----------------------------------------------------------------


@pytest.fixture(scope="module")
def cups():
    folder = os.environ.get("CODA_DATA_DIR")
    path = Path(folder) / "roman_cups.csv" if folder else None
    if path is None or not path.exists():
        if os.environ.get("CI"):
            pytest.fail("CODA_DATA_DIR/roman_cups.csv is missing in CI; .ci/run must set it")
        pytest.skip("set CODA_DATA_DIR to the folder holding roman_cups.csv")
    return pd.read_csv(path, index_col="cup")


def test_roman_cups_network_and_biplot(cups):
    G = coda.network(cups)
    tests = coda.pcor_test(cups)
    assert list(G.nodes) == list(cups.columns)
    assert G.number_of_edges() == int((tests.qvalue <= 0.05).sum())
    bp = coda.biplot_coordinates(cups, scaling="covariance")
    total = np.trace(coda.clr_cov(cups).to_numpy())
    rays = bp.parts.to_numpy()
    assert np.sum(rays**2) == pytest.approx(bp.explained.sum() * total, rel=1e-10)


def test_network_from_estimator_results():
    sim = coda.simulate(150, 6, seed=2)
    fit = coda.pcor_glasso(sim.data)
    graph = coda.network(fit)
    rho = fit.pcor.to_numpy()
    iu, ju = np.triu_indices(6, k=1)
    expected = {
        (fit.pcor.index[i], fit.pcor.columns[j])
        for i, j in zip(iu, ju, strict=True)
        if rho[i, j] != 0
    }
    assert set(graph.edges) == expected
    assert graph.graph["rule"] == "nonzero"
    assert graph.graph["method"] == "glasso"
    precision = fit.precision.to_numpy()
    for k, name in enumerate(graph.nodes):
        assert graph.nodes[name]["partial_variance"] == pytest.approx(1 / precision[k, k])

    shrunk = coda.pcor_shrink(sim.data)
    graph = coda.network(shrunk, min_abs=0.3)
    kept = {(a, b) for a, b in graph.edges}
    values = shrunk.pcor.to_numpy()
    assert kept == {
        (shrunk.pcor.index[i], shrunk.pcor.columns[j])
        for i, j in zip(iu, ju, strict=True)
        if abs(values[i, j]) >= 0.3
    }
    assert graph.graph["method"] == "shrink"


def test_network_from_bootstrap_result():
    sim = coda.simulate(150, 5, seed=3)
    boot = coda.pcor_bootstrap(sim.data, n_boot=200, seed=0, ci=0.9)
    graph = coda.network(boot)
    frame = boot.to_frame()
    excluded = frame[(frame["lower"] > 0) | (frame["upper"] < 0)]
    assert set(graph.edges) == set(zip(excluded["part_i"], excluded["part_j"], strict=True))
    assert graph.graph["rule"] == "bootstrap"
    assert graph.graph["alpha"] == pytest.approx(0.1)
    u, v = next(iter(graph.edges))
    row = frame[(frame["part_i"] == u) & (frame["part_j"] == v)].iloc[0]
    assert graph.edges[u, v]["ci_low"] == pytest.approx(row["lower"])
    assert graph.edges[u, v]["pcor"] == pytest.approx(row["estimate"])
    with pytest.raises(ValueError, match=r"seed: these options apply to compositional data"):
        coda.network(boot, seed=1)
    with pytest.raises(ValueError, match=r"rule='fdr' is not a known option"):
        coda.network(boot, rule="fdr")


@pytest.mark.parametrize(
    ("options", "refused"),
    [
        ({"method": "shrink", "min_abs": 0.1, "alpha": 0.01}, "alpha=0.01"),
        ({"method": "glasso", "alpha": 0.2}, "alpha=0.2"),
        ({"rule": "threshold", "min_abs": 0.1, "adjust": None}, "adjust=None"),
        ({"rule": "bootstrap", "adjust": "bonferroni", "n_boot": 50}, "adjust='bonferroni'"),
        ({"n_boot": 50}, "n_boot=50"),
        ({"rule": "nonzero", "alpha": 0.1, "n_boot": 20}, "alpha=0.1, n_boot=20"),
    ],
)
def test_network_refuses_options_its_rule_would_ignore(options, refused):
    # Before, each of these was accepted and silently ignored (alpha was even
    # recorded in G.graph as if it had been used).
    sim = coda.simulate(60, 5, seed=3)
    with pytest.raises(ValueError, match=rf"^{re.escape(refused)}: not used by rule="):
        coda.network(sim.data, **options)


def test_network_accepts_each_option_where_its_rule_uses_it():
    sim = coda.simulate(60, 5, seed=3)
    assert coda.network(sim.data, alpha=0.2, adjust="bonferroni").graph["alpha"] == 0.2
    boot = coda.network(sim.data, rule="bootstrap", alpha=0.2, n_boot=30, seed=0)
    assert boot.graph["n_boot"] == 30
    # The defaults, written out (numpy's numbers too), are not "asked for"; a
    # seed is never refused.
    plain = coda.network(sim.data, method="glasso", alpha=0.05, adjust="fdr_bh", n_boot=1000)
    numpy_defaults = coda.network(
        sim.data, method="glasso", alpha=np.float64(0.05), n_boot=np.int64(1000)
    )
    assert set(numpy_defaults.edges) == set(plain.edges)
    seeded = coda.network(sim.data, method="glasso", seed=5)
    assert set(plain.edges) == set(seeded.edges)


def test_network_of_a_bootstrap_result_refuses_alpha():
    # The result's own ci is the level: an alpha that disagreed with it was ignored.
    sim = coda.simulate(100, 5, seed=3)
    boot = coda.pcor_bootstrap(sim.data, n_boot=50, seed=0, ci=0.9)
    with pytest.raises(ValueError, match=r"^alpha: these options apply to compositional data"):
        coda.network(boot, alpha=0.01)
    assert coda.network(boot).graph["alpha"] == pytest.approx(0.1)
