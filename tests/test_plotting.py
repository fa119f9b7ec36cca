"""Tests of coda.plotting: the artists each plot draws, inspected without looking at pixels."""

from __future__ import annotations

import io
import itertools

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import LineCollection, PathCollection, QuadMesh
from matplotlib.colors import to_hex
from matplotlib.patches import FancyArrow

import coda
from coda.graph_layout import NEGATIVE_COLOR, POSITIVE_COLOR

# A hand-made partial-correlation matrix: five edges of distinct strengths
# and both signs, one isolated part.
NAMES = ["a", "b", "c", "d", "e"]
RHO = pd.DataFrame(
    [
        [1.0, 0.8, -0.3, 0.0, 0.0],
        [0.8, 1.0, 0.5, -0.6, 0.0],
        [-0.3, 0.5, 1.0, 0.2, 0.0],
        [0.0, -0.6, 0.2, 1.0, 0.0],
        [0.0, 0.0, 0.0, 0.0, 1.0],
    ],
    index=NAMES,
    columns=NAMES,
)


@pytest.fixture(autouse=True)
def _figures(monkeypatch):
    """No plot may call plt.show(); every figure is closed after each test."""

    def show(*args, **kwargs):
        raise AssertionError("plt.show() was called")

    monkeypatch.setattr(plt, "show", show)
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def sim():
    return coda.simulate(150, 6, graph="random", seed=3)


def _graph():
    return coda.network_from_pcor(RHO, min_abs=0.1)


def _edges(ax) -> LineCollection:
    (edges,) = [c for c in ax.collections if isinstance(c, LineCollection)]
    return edges


def _points(ax) -> list[PathCollection]:
    return [c for c in ax.collections if isinstance(c, PathCollection)]


def _render(ax) -> None:
    ax.figure.canvas.draw()


# --- plot_network -----------------------------------------------------------


def test_network_draws_one_segment_per_edge_with_widths_and_colours():
    G = _graph()
    ax = coda.plot_network(G, node_size_by=None)
    edges = _edges(ax)
    assert len(edges.get_segments()) == G.number_of_edges() == 5
    pcor = np.array([d["pcor"] for _, _, d in G.edges(data=True)])
    widths = np.asarray(edges.get_linewidths())
    # Distinct |pcor| here, so widths must be in the same strict order.
    assert (np.argsort(np.abs(pcor)) == np.argsort(widths)).all()
    colours = [to_hex(c).upper() for c in edges.get_colors()]
    expected = [POSITIVE_COLOR if r > 0 else NEGATIVE_COLOR for r in pcor]
    assert colours == [c.upper() for c in expected]


def test_network_segments_join_the_nodes_of_each_edge():
    G = _graph()
    ax = coda.plot_network(G, node_size_by=None)
    (nodes,) = _points(ax)
    where = dict(zip(G.nodes, map(tuple, nodes.get_offsets()), strict=True))
    for (a, b), segment in zip(G.edges, _edges(ax).get_segments(), strict=True):
        np.testing.assert_allclose(segment, [where[a], where[b]])


def test_network_nodes_sizes_and_labels(sim):
    G = coda.network(sim.data)
    ax = coda.plot_network(G)
    (nodes,) = _points(ax)
    assert len(nodes.get_offsets()) == G.number_of_nodes()
    pvar = np.array([G.nodes[n]["partial_variance"] for n in G.nodes])
    sizes = nodes.get_sizes()
    assert (np.argsort(pvar) == np.argsort(sizes)).all()
    labels = [t.get_text() for t in ax.texts]
    assert labels == [str(n) for n in G.nodes]


def _every_kind_of_graph(sim):
    x = sim.data
    graphs = {f"network {m}": coda.network(x, method=m) for m in ("exact", "shrink", "glasso")}
    graphs["network bshrink threshold"] = coda.network(x, method="bshrink", min_abs=0.1)
    graphs["network given"] = coda.network(x, given=["p01"])
    graphs["network bootstrap rule"] = coda.network(x, rule="bootstrap", n_boot=50, seed=0)
    graphs["network_from_pcor"] = coda.network_from_pcor(coda.pcor(x), min_abs=0.2)
    graphs["network of pcor_glasso"] = coda.network(coda.pcor_glasso(x))
    graphs["network of pcor_shrink"] = coda.network(coda.pcor_shrink(x), min_abs=0.1)
    graphs["network of pcor_bootstrap"] = coda.network(coda.pcor_bootstrap(x, n_boot=50, seed=0))
    return graphs


def test_network_default_draws_every_graph_coda_makes(sim):
    for kind, G in _every_kind_of_graph(sim).items():
        ax = coda.plot_network(G, ax=plt.figure().subplots())
        (nodes,) = _points(ax)
        sizes = nodes.get_sizes()
        assert len(sizes) == G.number_of_nodes(), kind
        if all("partial_variance" in d for _, d in G.nodes(data=True)):
            pvar = np.array([d["partial_variance"] for _, d in G.nodes(data=True)])
            finite = np.isfinite(pvar)
            assert (np.argsort(pvar[finite]) == np.argsort(sizes[finite])).all(), kind
            assert len(set(sizes)) > 1, kind
        else:
            assert len(set(sizes)) == 1, kind
        plt.close("all")
    assert "partial_variance" not in coda.network_from_pcor(RHO, min_abs=0.1).nodes["a"]


def test_network_node_size_by_a_missing_attribute_is_an_error():
    with pytest.raises(ValueError, match="node_size_by='partial_variance' is not an attribute"):
        coda.plot_network(_graph(), node_size_by="partial_variance")
    with pytest.raises(ValueError, match="node_size_by='abundance' is not an attribute"):
        coda.plot_network(
            coda.network(coda.simulate(50, 4, seed=0).data), node_size_by="abundance"
        )


def test_network_node_size_by_another_attribute():
    node_data = pd.DataFrame({"abundance": [5.0, 1.0, 3.0, 2.0, 4.0]}, index=NAMES)
    G = coda.network_from_pcor(RHO, min_abs=0.1, node_data=node_data)
    sizes = _points(coda.plot_network(G, node_size_by="abundance"))[0].get_sizes()
    assert (np.argsort(sizes) == np.argsort(node_data["abundance"].to_numpy())).all()


def test_network_legend_signs_and_scale():
    ax = coda.plot_network(_graph(), node_size_by=None)
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts == ["positive", "negative", "|pcor| = 0.20", "|pcor| = 0.80"]
    handles = ax.get_legend().legend_handles
    assert handles[2].get_linewidth() < handles[3].get_linewidth()
    ax = coda.plot_network(_graph(), ax=plt.figure().subplots(), node_size_by=None, legend=False)
    assert ax.get_legend() is None


def test_network_edge_labels_show_the_values():
    G = _graph()
    ax = coda.plot_network(G, node_size_by=None, edge_labels=True)
    values = sorted(t.get_text() for t in ax.texts if t.get_text() not in NAMES)
    assert values == sorted(f"{d['pcor']:.2f}" for _, _, d in G.edges(data=True))


def test_network_without_edges_draws_nodes_and_says_so():
    G = coda.network_from_pcor(RHO, min_abs=0.95)
    assert G.number_of_edges() == 0
    ax = coda.plot_network(G, node_size_by=None)
    assert "no edges" in ax.get_title()
    assert len(_edges(ax).get_segments()) == 0
    assert len(_points(ax)[0].get_offsets()) == 5
    assert ax.get_legend() is None


def test_network_title_counts_edges():
    assert coda.plot_network(_graph(), node_size_by=None).get_title() == (
        "Partial-correlation network: 5 edges among 5 parts"
    )


def test_network_rejects_a_directed_graph():
    import networkx as nx

    with pytest.raises(TypeError, match="G is a DiGraph; expected an undirected"):
        coda.plot_network(nx.DiGraph([("a", "b")]))


def test_network_keywords_reach_scatter():
    ax = coda.plot_network(_graph(), node_size_by=None, c="red", lw=3, marker="s")
    (nodes,) = _points(ax)
    assert to_hex(nodes.get_facecolors()[0]) == "#ff0000"
    assert nodes.get_linewidths()[0] == 3


# --- plot_pcor_heatmap -------------------------------------------------------


def _mesh(ax) -> QuadMesh:
    (mesh,) = [c for c in ax.collections if isinstance(c, QuadMesh)]
    return mesh


def test_heatmap_lower_triangle_only():
    ax = coda.plot_pcor_heatmap(RHO)
    data = _mesh(ax).get_array()
    d = len(NAMES)
    assert data.shape == (d - 1, d - 1)
    np.testing.assert_array_equal(
        np.ma.getmaskarray(data), np.triu(np.ones((d - 1, d - 1), dtype=bool), k=1)
    )
    # Row r is part r + 1, column c part c: the pairs below the diagonal.
    for r, c in zip(*np.tril_indices(d - 1), strict=True):
        assert data[r, c] == RHO.iloc[r + 1, c]


def test_heatmap_scale_labels_and_colorbar():
    ax = coda.plot_pcor_heatmap(RHO)
    mesh = _mesh(ax)
    assert (mesh.norm.vmin, mesh.norm.vmax) == (-1.0, 1.0)
    # Diverging and centred: zero maps to the middle of the colormap.
    assert mesh.norm(0.0) == pytest.approx(0.5)
    assert [t.get_text() for t in ax.get_xticklabels()] == NAMES[:-1]
    assert [t.get_text() for t in ax.get_yticklabels()] == NAMES[1:]
    assert len(ax.figure.axes) == 2  # the heatmap and its colorbar
    assert mesh.colorbar is not None


def test_heatmap_significance_marks_match_the_test_table(sim):
    x = sim.data
    tests = coda.pcor_test(x)
    for alpha in (0.001, 0.05, 0.5):
        ax = plt.figure().subplots()
        coda.plot_pcor_heatmap(coda.pcor(x), ax=ax, tests=tests, alpha=alpha)
        marks = [t for t in ax.texts if t.get_text() == "*"]
        assert len(marks) == int((tests["qvalue"] <= alpha).sum())


def test_heatmap_marks_sit_on_their_pairs(sim):
    x = sim.data
    tests = coda.pcor_test(x)
    ax = coda.plot_pcor_heatmap(coda.pcor(x), tests=tests, cluster=True)
    xlab = [t.get_text() for t in ax.get_xticklabels()]
    ylab = [t.get_text() for t in ax.get_yticklabels()]
    marked = {
        frozenset((xlab[int(t.get_position()[0])], ylab[int(t.get_position()[1])]))
        for t in ax.texts
        if t.get_text() == "*"
    }
    chosen = tests[tests["qvalue"] <= 0.05]
    assert marked == {frozenset(p) for p in zip(chosen["part_i"], chosen["part_j"], strict=True)}


def test_heatmap_cluster_order_and_arrays():
    values = RHO.to_numpy()
    order = coda.cluster_order(values)
    ax = coda.plot_pcor_heatmap(values, cluster=True)
    assert [t.get_text() for t in ax.get_xticklabels()] == [f"x{k + 1}" for k in order[:-1]]
    data = _mesh(ax).get_array()
    assert data[0, 0] == values[order[1], order[0]]


def test_heatmap_with_array_tests(sim):
    x = sim.data.to_numpy()
    tests = coda.pcor_test(x)
    ax = coda.plot_pcor_heatmap(coda.pcor(x), tests=tests)
    assert sum(t.get_text() == "*" for t in ax.texts) == int((tests["qvalue"] <= 0.05).sum())


def test_array_heatmaps_label_parts_x1_to_xd_like_the_other_plots(sim):
    x = sim.data.to_numpy()
    names = [f"x{k}" for k in range(1, 7)]
    ax = coda.plot_pcor_heatmap(coda.pcor(x))
    assert [t.get_text() for t in ax.get_xticklabels()] == names[:-1]
    assert [t.get_text() for t in ax.get_yticklabels()] == names[1:]
    ax = coda.plot_variation(coda.variation(x), ax=plt.figure().subplots())
    assert [t.get_text() for t in ax.get_xticklabels()] == names
    assert [t.get_text() for t in ax.get_yticklabels()] == names
    # The same names as the nodes of the network of the same array.
    assert list(coda.network(x)) == names


def test_heatmap_leaves_given_parts_blank(sim):
    rho = coda.pcor(sim.data, given=["p01", "p02"])
    data = _mesh(coda.plot_pcor_heatmap(rho)).get_array()
    # p01 is column 0 and p02 row 0 and column 1: all blank.
    assert np.ma.getmaskarray(data)[:, :2].all() and np.ma.getmaskarray(data)[0].all()
    assert not np.ma.getmaskarray(data)[2:, 2:][np.tril_indices(3)].any()


def test_heatmap_rejects_bad_input():
    with pytest.raises(ValueError, match="outside \\[-1, 1\\]"):
        coda.plot_pcor_heatmap(RHO * 2)
    one, other = (coda.simulate(30, 5, seed=k).data for k in (0, 1))
    with pytest.raises(ValueError, match="tests does not match pcor"):
        coda.plot_pcor_heatmap(coda.pcor(one), tests=coda.pcor_test(other))
    with pytest.raises(ValueError, match=r"alpha=1.5; expected a number in \(0, 1\)"):
        coda.plot_pcor_heatmap(RHO, alpha=1.5)


def test_heatmap_does_not_mutate_its_input(sim):
    rho = coda.pcor(sim.data)
    tests = coda.pcor_test(sim.data)
    before, tests_before = rho.copy(), tests.copy()
    coda.plot_pcor_heatmap(rho, tests=tests, cluster=True)
    pd.testing.assert_frame_equal(rho, before)
    pd.testing.assert_frame_equal(tests, tests_before)


# --- plot_variation -----------------------------------------------------------


def test_variation_heatmap(sim):
    t = coda.variation(sim.data)
    ax = coda.plot_variation(t)
    mesh = _mesh(ax)
    np.testing.assert_array_equal(np.asarray(mesh.get_array()), t.to_numpy())
    assert mesh.norm.vmin == 0.0
    assert [x.get_text() for x in ax.get_xticklabels()] == list(t.columns)
    assert [y.get_text() for y in ax.get_yticklabels()] == list(t.index)
    assert mesh.colorbar is not None
    assert ax.get_title() == "Variation matrix"


def test_variation_rejects_mislabelled_and_asymmetric_matrices(sim):
    t = coda.variation(sim.data)
    with pytest.raises(ValueError, match="index and columns differ"):
        coda.plot_variation(t.iloc[::-1])
    with pytest.raises(ValueError, match="t is not symmetric"):
        coda.plot_variation(np.triu(t.to_numpy()))


# --- plot_biplot -----------------------------------------------------------


def test_biplot_rays_points_and_percentages(sim):
    x = sim.data
    ax = coda.plot_biplot(x)
    arrows = [p for p in ax.patches if isinstance(p, FancyArrow)]
    assert len(arrows) == x.shape[1]
    (points,) = _points(ax)
    assert len(points.get_offsets()) == x.shape[0]
    coords = coda.biplot_coordinates(x)
    np.testing.assert_allclose(points.get_offsets(), coords.samples.to_numpy())
    assert ax.get_xlabel() == f"PC1 ({100 * coords.explained[0]:.1f}% of clr variance)"
    assert ax.get_ylabel() == f"PC2 ({100 * coords.explained[1]:.1f}%)"
    assert [t.get_text() for t in ax.texts] == list(x.columns)


def test_biplot_rays_keep_their_directions_and_relative_lengths(sim):
    x = sim.data
    ax = coda.plot_biplot(x, scaling="covariance")
    rays = coda.biplot_coordinates(x, scaling="covariance").parts.to_numpy()
    tips = np.array([t.xy for t in ax.texts])
    # One common factor maps every ray onto its drawn tip.
    factor = np.linalg.norm(tips) / np.linalg.norm(rays)
    np.testing.assert_allclose(tips, factor * rays, rtol=1e-10)
    assert "covariance" in ax.get_title()


def test_biplot_groups_get_colours_and_a_legend(sim):
    x = sim.data
    groups = np.where(np.arange(x.shape[0]) % 3 == 0, "first", "rest")
    ax = coda.plot_biplot(x, groups=groups)
    points = _points(ax)
    assert [len(p.get_offsets()) for p in points] == [50, 100]
    assert len({to_hex(p.get_facecolors()[0]) for p in points}) == 2
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["first", "rest"]
    with pytest.raises(ValueError, match="groups has 3 labels but x has 150 samples"):
        coda.plot_biplot(x, groups=["a", "b", "c"])


def test_biplot_keywords_reach_scatter(sim):
    (points,) = _points(coda.plot_biplot(sim.data, s=7, marker="^"))
    assert (points.get_sizes() == 7).all()


# --- plot_ternary --------------------------------------------------------------


def test_ternary_points_vertices_and_grid(sim):
    x = sim.data
    parts = ["p02", "p04", "p05"]
    ax = coda.plot_ternary(x, parts=parts)
    (points,) = _points(ax)
    np.testing.assert_allclose(
        points.get_offsets(), coda.ternary_coordinates(x, parts=parts).to_numpy()
    )
    assert [t.get_text() for t in ax.texts] == parts
    (grid,) = [c for c in ax.collections if isinstance(c, LineCollection)]
    # Nine lines (0.1 .. 0.9) for each of the three parts.
    assert len(grid.get_segments()) == 27
    assert not ax.axison


def test_ternary_grid_lines_join_points_of_constant_proportion():
    ax = coda.plot_ternary([[1.0, 1.0, 1.0]])
    (grid,) = [c for c in ax.collections if isinstance(c, LineCollection)]
    h = np.sqrt(3) / 2
    for (x0, y0), (x1, y1) in grid.get_segments():
        # Each end lies on an edge of the triangle: y = 0, y = h*2x or y = h*2(1-x).
        for px, py in ((x0, y0), (x1, y1)):
            on_edge = np.isclose(
                [py, py - 2 * h * px, py - 2 * h * (1 - px)], 0.0, atol=1e-12
            ).any()
            assert on_edge
    ax = coda.plot_ternary([[1.0, 1.0, 1.0]], ax=plt.figure().subplots(), grid=False)
    assert not [c for c in ax.collections if isinstance(c, LineCollection)]


def test_ternary_centre_and_region(sim):
    x = sim.data
    parts = ("p01", "p02", "p03")
    ax = coda.plot_ternary(x, parts=parts, center=True, region=0.9)
    centre, region = coda.ternary_region(x, parts=parts, level=0.9)
    lines = {line.get_label(): line for line in ax.get_lines()}
    np.testing.assert_allclose(lines["90% region"].get_xydata(), region.to_numpy())
    np.testing.assert_allclose(lines["centre"].get_xydata(), centre.to_numpy())
    with pytest.raises(ValueError, match=r"region=1.2; expected a number in \(0, 1\)"):
        coda.plot_ternary(x, parts=parts, region=1.2)


def test_ternary_array_vertex_labels():
    ax = coda.plot_ternary(np.array([[1.0, 2.0, 3.0, 4.0]]), parts=[3, 0, 1])
    assert [t.get_text() for t in ax.texts] == ["x4", "x1", "x2"]


# --- plot_balance_dendrogram ----------------------------------------------------

SBP = [
    [1, 1, -1, -1, -1, 1],
    [1, -1, 0, 0, 0, 1],
    [1, 0, 0, 0, 0, -1],
    [0, 0, 1, -1, -1, 0],
    [0, 0, 0, 1, -1, 0],
]


def test_dendrogram_draws_the_layout(sim):
    x = sim.data
    ax = coda.plot_balance_dendrogram(SBP, x)
    tree = coda.dendrogram_layout(SBP, x)
    segments = _edges(ax).get_segments()
    assert len(segments) == len(tree.segments)
    np.testing.assert_allclose(
        np.array(segments).reshape(-1, 4), tree.segments[["x0", "y0", "x1", "y1"]].to_numpy()
    )
    assert [t.get_text() for t in ax.get_xticklabels()] == list(tree.leaves.index)
    (means,) = ax.get_lines()
    np.testing.assert_allclose(means.get_xdata(), tree.balances["mean_x"].to_numpy())


def test_dendrogram_rejects_a_labelled_sbp_in_another_order(sim):
    x = sim.data
    reverse = pd.DataFrame(SBP, columns=list(reversed(x.columns)))
    with pytest.raises(ValueError, match="sbp lists the parts of x in another order"):
        coda.plot_balance_dendrogram(reverse, x)
    assert not plt.gca().has_data()
    ax = coda.plot_balance_dendrogram(reverse[list(x.columns)], x)
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == list(coda.dendrogram_layout(reverse[list(x.columns)], x).leaves.index)


def test_dendrogram_keywords_reach_the_line_collection(sim):
    ax = coda.plot_balance_dendrogram(SBP, sim.data, lw=3, colors="green")
    lines = _edges(ax)
    assert (np.asarray(lines.get_linewidths()) == 3).all()
    assert to_hex(lines.get_colors()[0]) == "#008000"


# --- shared behaviour -----------------------------------------------------------


def _calls(sim):
    x = sim.data
    return {
        "plot_network": lambda **kw: coda.plot_network(_graph(), node_size_by=None, **kw),
        "plot_pcor_heatmap": lambda **kw: coda.plot_pcor_heatmap(RHO, **kw),
        "plot_variation": lambda **kw: coda.plot_variation(coda.variation(x), **kw),
        "plot_biplot": lambda **kw: coda.plot_biplot(x, **kw),
        "plot_ternary": lambda **kw: coda.plot_ternary(x, parts=["p01", "p02", "p03"], **kw),
        "plot_balance_dendrogram": lambda **kw: coda.plot_balance_dendrogram(SBP, x, **kw),
    }


NAMES_OF_PLOTS = [
    "plot_network",
    "plot_pcor_heatmap",
    "plot_variation",
    "plot_biplot",
    "plot_ternary",
    "plot_balance_dendrogram",
]
TARGETS = {
    "plot_network": "Axes.scatter",
    "plot_pcor_heatmap": "Axes.pcolormesh",
    "plot_variation": "Axes.pcolormesh",
    "plot_biplot": "Axes.scatter",
    "plot_ternary": "Axes.scatter",
    "plot_balance_dendrogram": "LineCollection",
}


@pytest.mark.parametrize("name", NAMES_OF_PLOTS)
def test_draws_on_the_given_axes(sim, name):
    _, (left, right) = plt.subplots(1, 2)
    plt.sca(left)
    assert _calls(sim)[name](ax=right) is right
    assert left.has_data() is False and right.has_data()


@pytest.mark.parametrize("name", NAMES_OF_PLOTS)
def test_draws_on_the_current_axes_by_default(sim, name):
    _, (_, right) = plt.subplots(1, 2)
    plt.sca(right)
    assert _calls(sim)[name]() is right


@pytest.mark.parametrize("name", NAMES_OF_PLOTS)
def test_unknown_keyword_raises_naming_the_function_and_target(sim, name):
    message = f"{name}\\(\\) got unexpected keyword arguments colour; its extra keywords go to "
    with pytest.raises(TypeError, match=message + TARGETS[name]):
        _calls(sim)[name](colour="red")
    # Nothing was drawn before the error.
    assert not plt.gca().has_data()


@pytest.mark.parametrize("name", NAMES_OF_PLOTS)
def test_renders_and_saves_without_warnings(sim, name):
    ax = _calls(sim)[name]()
    ax.figure.tight_layout()
    buffer = io.BytesIO()
    ax.figure.savefig(buffer, format="png", dpi=150)
    assert buffer.getvalue().startswith(b"\x89PNG\r\n\x1a\n")


@pytest.mark.parametrize("keyword", ["color", "c", "facecolor", "facecolors", "fc"])
@pytest.mark.parametrize("name", ["plot_network", "plot_biplot", "plot_ternary"])
def test_a_users_colour_replaces_the_default_fill(sim, name, keyword):
    # The plots pass their own c=; matplotlib refused it with color= ("Supply
    # a 'c' argument or a 'color' kwarg but not both") and let it beat facecolor=.
    (points,) = _points(_calls(sim)[name](**{keyword: "red"}))
    assert {to_hex(c) for c in points.get_facecolors()} == {"#ff0000"}


def test_color_sets_the_edges_too_as_in_matplotlib():
    _, (left, right) = plt.subplots(1, 2)
    (nodes,) = _points(coda.plot_network(_graph(), ax=left, node_size_by=None, color="red"))
    assert to_hex(nodes.get_edgecolors()[0]) == "#ff0000"
    (nodes,) = _points(coda.plot_network(_graph(), ax=right, node_size_by=None, c="red"))
    assert to_hex(nodes.get_edgecolors()[0]) == "#404040"


def test_biplot_groups_take_a_users_colour(sim):
    groups = ["first"] * 20 + ["rest"] * (len(sim.data) - 20)
    points = _points(coda.plot_biplot(sim.data, groups=groups, color="red"))
    assert len(points) == 2
    assert {to_hex(p.get_facecolors()[0]) for p in points} == {"#ff0000"}


@pytest.mark.parametrize("keyword", ["color", "colors", "edgecolor", "ec"])
def test_dendrogram_takes_a_users_line_colour(sim, keyword):
    lines = _edges(coda.plot_balance_dendrogram(SBP, sim.data, **{keyword: "red"}))
    assert {to_hex(c) for c in lines.get_colors()} == {"#ff0000"}


def _dask_calls(sim) -> dict:
    """Each plot or diagram function with one argument a dask collection: (its name, the call)."""
    import dask.array as da
    import dask.dataframe as dd

    x = sim.data
    lazy = da.from_array(x.to_numpy(), chunks=(50, x.shape[1]))
    rho = coda.pcor(x)
    lazy_sbp = da.from_array(np.asarray(SBP))
    return {
        "plot_variation": (
            "t",
            lambda: coda.plot_variation(da.from_array(coda.variation(x).to_numpy())),
        ),
        "plot_pcor_heatmap": (
            "matrix",
            lambda: coda.plot_pcor_heatmap(dd.from_pandas(rho, npartitions=1)),
        ),
        "plot_pcor_heatmap-tests": (
            "tests",
            lambda: coda.plot_pcor_heatmap(
                rho, tests=dd.from_pandas(coda.pcor_test(x), npartitions=1)
            ),
        ),
        "plot_biplot": ("x", lambda: coda.plot_biplot(lazy)),
        "plot_biplot-groups": (
            "groups",
            lambda: coda.plot_biplot(x, groups=da.from_array(np.arange(len(x)) % 2)),
        ),
        "plot_ternary": ("x", lambda: coda.plot_ternary(lazy, parts=[0, 1, 2])),
        "plot_balance_dendrogram": ("sbp", lambda: coda.plot_balance_dendrogram(lazy_sbp, x)),
        "plot_network": ("x", lambda: coda.plot_network(_graph(), layout="biplot", x=lazy)),
        "cluster_order": ("matrix", lambda: coda.cluster_order(da.from_array(rho.to_numpy()))),
        "dendrogram_layout": ("sbp", lambda: coda.dendrogram_layout(lazy_sbp, x)),
    }


DASK_CASES = [
    "plot_variation",
    "plot_pcor_heatmap",
    "plot_pcor_heatmap-tests",
    "plot_biplot",
    "plot_biplot-groups",
    "plot_ternary",
    "plot_balance_dendrogram",
    "plot_network",
    "cluster_order",
    "dendrogram_layout",
]


@pytest.mark.parametrize("case", DASK_CASES)
def test_dask_input_is_refused_not_computed(sim, case):
    # np.asarray would compute the whole collection; the docs (dask.md) promise a TypeError.
    name, call = _dask_calls(sim)[case]
    with pytest.raises(TypeError, match=f"^{name} is a dask .*compute it first"):
        call()
    assert not plt.gca().has_data()


def _overlaps(labels) -> list:
    boxes = [t.get_window_extent() for t in labels if t.get_text()]
    return [
        (a, b)
        for a, b in itertools.combinations(range(len(boxes)), 2)
        if boxes[a].overlaps(boxes[b])
    ]


@pytest.mark.parametrize("plot", ["pcor", "variation", "dendrogram"])
def test_twelve_part_names_do_not_overlap(plot):
    x = coda.simulate(80, 12, seed=5).data
    x.columns = [f"oxide_{k}" for k in range(12)]
    if plot == "pcor":
        ax = coda.plot_pcor_heatmap(coda.pcor(x))
    elif plot == "variation":
        ax = coda.plot_variation(coda.variation(x))
    else:
        sbp = _chain_sbp(12)
        ax = coda.plot_balance_dendrogram(sbp, x)
    _render(ax)
    assert _overlaps(ax.get_xticklabels()) == []
    assert _overlaps(ax.get_yticklabels()) == []


def _chain_sbp(d: int) -> np.ndarray:
    """Part k against all parts after it: a valid partition of any size."""
    rows = np.zeros((d - 1, d), dtype=int)
    for k in range(d - 1):
        rows[k, k] = 1
        rows[k, k + 1 :] = -1
    return rows


def test_plots_do_not_import_pyplot_at_module_import():
    import subprocess
    import sys

    code = "import sys, coda.plotting; print('matplotlib.pyplot' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_clustered_heatmap_keeps_given_parts_last():
    sim = coda.simulate(60, 6, seed=0)
    rho = coda.pcor(sim.data, given=["p03"])
    assert coda.cluster_order(rho)[-1] == "p03"
    ax = coda.plot_pcor_heatmap(rho, cluster=True)
    assert [t.get_text() for t in ax.get_xticklabels()][-1] != "p03"


def test_biplot_with_many_groups_draws_one_colour_per_group():
    sim = coda.simulate(60, 5, seed=1)
    groups = [f"g{i % 10}" for i in range(60)]
    ax = coda.plot_biplot(sim.data, groups=groups)
    colours = {tuple(c.get_facecolor()[0]) for c in ax.collections if len(c.get_offsets()) == 6}
    assert len(colours) == 10
