"""Tests of coda.graph.compare_graphs: hand-worked scores, input forms, errors."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from coda import compare_graphs


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


def test_no_estimated_edges_gives_nan_precision():
    # 0/0 precision is NaN; recall 0 of 2; F1 undefined (NaN).
    result = compare_graphs(np.zeros((3, 3), dtype=bool), adjacency(3, [(0, 1), (1, 2)]))
    assert math.isnan(result.precision)
    assert result.recall == 0.0
    assert math.isnan(result.f1)
    assert result.shd == 2


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
