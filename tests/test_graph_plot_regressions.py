"""Regression tests of the graph and plotting layer: labels, test tables, colour scales, groups."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import networkx as nx
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import CenteredNorm, LogNorm
from matplotlib.lines import Line2D

import coda


@pytest.fixture(autouse=True)
def _figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def sim():
    return coda.simulate(200, 5, graph="chain", seed=1)


def _fdr_edges(tests, alpha=0.05) -> set:
    """The pairs of the test table with qvalue <= alpha, as sets of node names."""
    chosen = tests[tests["qvalue"] <= alpha]
    pairs = zip(chosen["part_i"], chosen["part_j"], strict=True)
    return {frozenset((str(a), str(b))) for a, b in pairs}


def test_network_from_pcor_matches_integer_labels_of_the_test_table(sim):
    x = sim.data.set_axis([10, 20, 30, 40, 50], axis=1)
    rho, tests = coda.pcor(x), coda.pcor_test(x)
    G = coda.network_from_pcor(rho, tests=tests, rule="fdr")
    assert list(G.nodes) == ["10", "20", "30", "40", "50"]
    assert {frozenset(e) for e in G.edges} == _fdr_edges(tests)
    for row in tests.itertuples():
        if G.has_edge(str(row.part_i), str(row.part_j)):
            data = G.edges[str(row.part_i), str(row.part_j)]
            assert data["pcor"] == pytest.approx(row.r, abs=1e-12)
            assert data["qvalue"] == row.qvalue and data["pvalue"] == row.pvalue
    # A positional table (from the array) is refused with a labelled matrix, as
    # plot_pcor_heatmap refuses it: by position, a reordered matrix would take
    # other parts' tests.
    positional = coda.pcor_test(x.to_numpy())
    with pytest.raises(ValueError, match="names the parts by position"):
        coda.network_from_pcor(rho, tests=positional, rule="fdr")


def test_a_reordered_matrix_keeps_its_test_statistics(sim):
    x = sim.data
    rho, tests = coda.pcor(x), coda.pcor_test(x)
    order = ["p03", "p01", "p05", "p02", "p04"]
    shuffled = rho.loc[order, order]
    G = coda.network_from_pcor(shuffled, tests=tests, rule="fdr")
    assert {frozenset(e) for e in G.edges} == _fdr_edges(tests)
    H = coda.network_from_pcor(shuffled, tests=tests, min_abs=0.0)
    by_pair = {frozenset((r.part_i, r.part_j)): r for r in tests.itertuples()}
    assert H.number_of_edges() == len(tests)
    for a, b, data in H.edges(data=True):
        row = by_pair[frozenset((a, b))]
        assert data["pcor"] == pytest.approx(row.r, abs=1e-12)
        assert (data["pvalue"], data["qvalue"]) == (row.pvalue, row.qvalue)
    assert shuffled.equals(rho.loc[order, order])


def test_heatmap_of_a_reordered_matrix_marks_the_significant_pairs(sim):
    x = sim.data
    rho, tests = coda.pcor(x), coda.pcor_test(x)
    order = ["p03", "p01", "p05", "p02", "p04"]
    ax = coda.plot_pcor_heatmap(rho.loc[order, order], tests=tests)
    rows = [t.get_text() for t in ax.get_yticklabels()]
    cols = [t.get_text() for t in ax.get_xticklabels()]
    marked = {
        frozenset((rows[int(t.get_position()[1])], cols[int(t.get_position()[0])]))
        for t in ax.texts
        if t.get_text() == "*"
    }
    assert marked == _fdr_edges(tests)


@pytest.mark.parametrize(
    ("kwargs", "limits"),
    [
        ({"vmax": 0.5}, (-0.5, 0.5)),
        ({"vmin": -0.25}, (-0.25, 0.25)),
        ({"clim": (-0.2, 0.2)}, (-0.2, 0.2)),
        ({"norm": CenteredNorm(vcenter=0.0, halfrange=0.4)}, (-0.4, 0.4)),
    ],
)
def test_heatmap_colour_scale_stays_centred_and_takes_a_norm(sim, kwargs, limits):
    ax = coda.plot_pcor_heatmap(coda.pcor(sim.data), **kwargs)
    norm = ax.collections[0].norm
    assert (norm.vmin, norm.vmax) == pytest.approx(limits)


def test_variation_takes_a_norm(sim):
    t = coda.variation(sim.data)
    ax = coda.plot_variation(t, norm=LogNorm())
    assert isinstance(ax.collections[0].norm, LogNorm)


def test_biplot_groups_with_missing_labels_are_one_group(sim):
    groups = pd.Series([1.0, np.nan, 2.0, np.nan] * 50)
    ax = coda.plot_biplot(sim.data, groups=groups)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["1.0", "nan", "2.0"]
    assert [len(c.get_offsets()) for c in ax.collections] == [50, 100, 50]


def test_biplot_groups_that_print_alike_are_drawn_once(sim):
    ax = coda.plot_biplot(sim.data, groups=[1, "1"] * 100)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["1"]
    assert [len(c.get_offsets()) for c in ax.collections] == [200]


def test_compare_graphs_matches_string_nodes_to_integer_labels(sim):
    x = sim.data.set_axis([10, 20, 30, 40, 50], axis=1)
    G = coda.network(x)
    truth = sim.adjacency.set_axis([10, 20, 30, 40, 50], axis=0).set_axis(
        [10, 20, 30, 40, 50], axis=1
    )
    expected = coda.compare_graphs(coda.network(sim.data), sim.adjacency)
    assert coda.compare_graphs(G, truth) == expected
    assert coda.compare_graphs(truth, G).recall == expected.precision


def test_compare_graphs_refuses_a_label_used_twice():
    est = pd.DataFrame([[0, 1, 0], [1, 0, 0], [0, 0, 0]], index=list("abb"), columns=list("abb"))
    tru = pd.DataFrame([[0, 0, 1], [0, 0, 0], [1, 0, 0]], index=list("abb"), columns=list("abb"))
    with pytest.raises(ValueError, match=r"estimated has parts with the same name.*'b'"):
        coda.compare_graphs(est, tru)


@pytest.mark.parametrize(
    ("value", "error", "match"),
    [
        (float("nan"), ValueError, r"pcor=nan.*finite and in \[-1, 1\]"),
        (1.5, ValueError, r"pcor=1.5.*finite and in \[-1, 1\]"),
        ("high", TypeError, r"pcor='high', not a number"),
    ],
)
def test_network_style_refuses_edges_that_are_not_partial_correlations(value, error, match):
    G = nx.Graph()
    G.add_edge("a", "b", pcor=value)
    with pytest.raises(error, match=match):
        coda.network_style(G)
    with pytest.raises(error, match=match):
        coda.plot_network(G)


def test_plot_network_of_a_graph_without_nodes_says_so():
    _, ax = plt.subplots()
    with pytest.raises(ValueError, match="G has no nodes"):
        coda.plot_network(nx.Graph(), ax=ax)
    assert plt.get_fignums() == [ax.figure.number]


def test_ternary_region_label_does_not_round_the_level(sim):
    ax = coda.plot_ternary(sim.data, parts=[0, 1, 2], region=0.995)
    labels = [line.get_label() for line in ax.lines if isinstance(line, Line2D)]
    assert "99.5% region" in labels


def test_a_matrix_with_nan_is_refused_with_its_place_and_the_fix():
    with pytest.raises(ValueError, match=r"t contains NaN .*row 0, column 1: nan\); pass a"):
        coda.plot_variation(np.array([[0.0, np.nan], [np.nan, 0.0]]))


@pytest.mark.parametrize(
    ("rows", "match"),
    [
        ([[0.0, 1.0, 2.0], [1.0, 2.0, 1.0], [2.0, 3.0, 1.0], [3.0, 1.0, 3.0]], "zeros"),
        ([[1.0, 2.0, 3.0], [2.0, 1.0, 1.0]], "at least 3"),
    ],
)
def test_ternary_region_refused_draws_nothing_and_opens_no_figure(rows, match):
    x = pd.DataFrame(rows, columns=list("abc"))
    with pytest.raises(ValueError, match=match):
        coda.plot_ternary(x, center=True)
    assert plt.get_fignums() == []
    _, ax = plt.subplots()
    with pytest.raises(ValueError, match=match):
        coda.plot_ternary(x, ax=ax, region=0.9)
    assert not ax.has_data() and not ax.texts and ax.get_title() == ""


def test_spring_layout_takes_a_numpy_generator(sim):
    G = coda.network(sim.data)
    first = coda.layout(G, kind="spring", seed=np.random.default_rng(5))
    assert first == coda.layout(G, kind="spring", seed=np.random.default_rng(5))
    assert list(first) == list(G.nodes)
    style = coda.network_style(G, layout="spring", seed=np.random.default_rng(5))
    assert list(zip(style.nodes["x"], style.nodes["y"], strict=True)) == list(first.values())
    ax = coda.plot_network(G, layout="spring", seed=np.random.default_rng(5))
    assert ax.collections
    # Integer seeds keep networkx's own positions.
    expected = nx.spring_layout(G, weight="pcor", seed=3)
    assert coda.layout(G, kind="spring", seed=3) == {
        k: (float(u), float(v)) for k, (u, v) in expected.items()
    }
    with pytest.raises(ValueError, match=r"seed=-1 is not a seed"):
        coda.layout(G, kind="spring", seed=-1)


@pytest.mark.parametrize("rule", ["fdr", "bootstrap"])
def test_network_of_an_estimate_refuses_rules_that_need_the_data(sim, rule):
    for result in (coda.pcor_glasso(sim.data), coda.pcor_shrink(sim.data)):
        with pytest.raises(ValueError, match=rf'rule="{rule}" needs the data') as error:
            coda.network(result, rule=rule)
        assert "tests=" not in str(error.value)
        assert f"coda.network(x, {'method=' if rule == 'fdr' else ''}" in str(error.value)
    with pytest.raises(ValueError, match=r"rule='bogus'.*'nonzero', 'threshold'"):
        coda.network(coda.pcor_glasso(sim.data), rule="bogus")


def test_biplot_layout_refuses_parts_that_share_a_name(sim):
    G = nx.Graph()
    G.add_nodes_from(["a", "b", "c"])
    G.add_edge("a", "b", pcor=0.3)
    x = sim.data.iloc[:, :4].set_axis(["a", "a", "b", "c"], axis=1)
    with pytest.raises(
        ValueError, match=r"x has parts with the same name.*'a' \(positions 0, 1\)"
    ):
        coda.layout(G, kind="biplot", x=x)
    with pytest.raises(ValueError, match=r"x has parts with the same name"):
        coda.plot_network(G, layout="biplot", x=x)
    assert plt.get_fignums() == []
