"""Tests of coda.datasets.simulate: the model it documents and what the estimator recovers."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import coda

GRAPHS = ["chain", "hub", "random"]


def true_pcor(omega):
    # Independent of coda: rho_ij = -omega_ij / sqrt(omega_ii omega_jj).
    s = 1.0 / np.sqrt(np.diag(omega))
    rho = -omega * np.outer(s, s)
    np.fill_diagonal(rho, 1.0)
    return rho


@pytest.mark.parametrize("graph", GRAPHS)
def test_data_are_closed_compositions_named_by_part(graph):
    sim = coda.simulate(30, 12, graph=graph, seed=3)
    assert sim.data.shape == (30, 12)
    assert list(sim.data.columns) == [f"p{k:02d}" for k in range(1, 13)]
    assert (sim.data.to_numpy() > 0).all()
    np.testing.assert_allclose(sim.data.sum(axis=1), 1.0, rtol=1e-13)
    assert sim.graph == graph


@settings(max_examples=20, deadline=None)
@given(
    graph=st.sampled_from(GRAPHS),
    d=st.integers(3, 25),
    seed=st.integers(0, 2**32 - 1),
)
def test_clr_precision_is_a_connected_laplacian(graph, d, seed):
    sim = coda.simulate(2, d, graph=graph, seed=seed)
    omega = sim.clr_precision.to_numpy()
    np.testing.assert_allclose(omega, omega.T, atol=0)
    np.testing.assert_allclose(omega.sum(axis=1), 0.0, atol=1e-12 * np.abs(omega).max())
    eig = np.linalg.eigvalsh(omega)
    # Rank D - 1: one zero eigenvalue (the ones vector), the rest positive.
    assert abs(eig[0]) < 1e-10 * eig[-1]
    assert eig[1] > 1e-6 * eig[-1]
    adjacency = sim.adjacency.to_numpy()
    off = ~np.eye(d, dtype=bool)
    np.testing.assert_array_equal(adjacency, (omega != 0) & off)
    assert nx.is_connected(nx.from_numpy_array(adjacency.astype(int)))
    assert len(sim.edges) == adjacency.sum() // 2
    # Mean clr variance tr(Omega^+)/D is scaled to 1.
    assert np.trace(np.linalg.pinv(omega)) / d == pytest.approx(1.0, rel=1e-9)


def test_chain_and_hub_edges():
    assert coda.simulate(2, 4, graph="chain", seed=0).edges == [
        ("p01", "p02"),
        ("p02", "p03"),
        ("p03", "p04"),
    ]
    # 21 parts: modules p01..p10 and p11..p21 (a leftover single part joins the
    # last module), hubs p01 and p11 joined.
    edges = set(coda.simulate(2, 21, graph="hub", seed=0).edges)
    expected = {("p01", f"p{k:02d}") for k in range(2, 11)}
    expected |= {("p11", f"p{k:02d}") for k in range(12, 22)}
    expected |= {("p01", "p11")}
    assert edges == expected


@pytest.mark.parametrize("graph", ["chain", "hub"])
def test_tree_graphs_have_positive_partial_correlations(graph):
    sim = coda.simulate(2, 15, graph=graph, seed=5)
    rho = true_pcor(sim.clr_precision.to_numpy())[sim.adjacency.to_numpy()]
    assert (rho > 0).all()


def test_random_graph_has_both_signs_and_its_density():
    d = 40
    sims = [coda.simulate(2, d, graph="random", density=0.3, seed=s) for s in range(5)]
    rho = np.concatenate(
        [true_pcor(s.clr_precision.to_numpy())[s.adjacency.to_numpy()] for s in sims]
    )
    assert (rho < 0).any()
    assert (rho > 0).any()
    density = np.mean([len(s.edges) for s in sims]) / (d * (d - 1) / 2)
    # Expected 0.3; over 5 x 780 pairs the standard error is below 0.01.
    assert density == pytest.approx(0.3, abs=0.04)
    assert len(coda.simulate(2, 10, graph="random", seed=0).edges) >= 9


def test_precision_of_log_abundances_is_dense_and_inverts_their_covariance():
    sim = coda.simulate(2, 6, graph="chain", seed=1)
    omega = sim.clr_precision.to_numpy()
    sigma = np.linalg.pinv(omega) + np.ones((6, 6))  # Gamma + tau^2 J with tau = 1
    np.testing.assert_allclose(sim.precision.to_numpy() @ sigma, np.eye(6), atol=1e-10)
    # Its off-diagonal pattern is not the graph: non-edges are 1/D^2, not 0.
    non_edges = ~sim.adjacency.to_numpy() & ~np.eye(6, dtype=bool)
    np.testing.assert_allclose(sim.precision.to_numpy()[non_edges], 1 / 36)


def test_sample_clr_covariance_and_pcor_approach_the_truth():
    sim = coda.simulate(20_000, 6, graph="random", density=0.6, seed=2)
    z = np.log(sim.data.to_numpy())
    z -= z.mean(axis=1, keepdims=True)
    gamma = np.linalg.pinv(sim.clr_precision.to_numpy())
    np.testing.assert_allclose(np.cov(z, rowvar=False), gamma, atol=0.05)
    # The estimator's target is the clr precision's graph: non-edges near 0.
    rho = coda.pcor(sim.data).to_numpy()
    np.testing.assert_allclose(rho, sim.pcor.to_numpy(), atol=0.03)
    # The log-abundance precision's own partial correlations are another matrix,
    # non-zero on the non-edges: its graph is complete.
    non_edges = ~sim.adjacency.to_numpy() & ~np.eye(6, dtype=bool)
    assert non_edges.any()
    assert (np.abs(true_pcor(sim.precision.to_numpy())[non_edges]) > 1e-3).all()


def test_counts():
    sim = coda.simulate(50, 12, graph="hub", seed=4, counts=200)
    counts = sim.data.to_numpy()
    assert np.issubdtype(counts.dtype, np.integer)
    np.testing.assert_array_equal(counts.sum(axis=1), 200)
    assert (counts == 0).any()


def test_seed_makes_it_deterministic():
    a = coda.simulate(10, 8, graph="random", seed=7, counts=1000)
    b = coda.simulate(10, 8, graph="random", seed=7, counts=1000)
    c = coda.simulate(10, 8, graph="random", seed=8, counts=1000)
    assert a.data.equals(b.data)
    assert a.clr_precision.equals(b.clr_precision)
    assert not a.data.equals(c.data)
    rng = np.random.default_rng(7)
    assert coda.simulate(10, 8, seed=rng).data.shape == (10, 8)


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        ((10, 2), {}, ValueError, "n_parts=2; expected an integer of at least 3"),
        ((0, 5), {}, ValueError, "n_samples=0"),
        ((10.0, 5), {}, TypeError, "n_samples=10.0"),
        ((10, 5), {"graph": "star"}, ValueError, "graph='star' is not a known option"),
        ((10, 5), {"density": 0.5}, ValueError, "applies to graph='random' only"),
        ((10, 20), {"graph": "random", "density": 0.05}, ValueError, "below 2/D = 0.1"),
        (
            (10, 5),
            {"graph": "random", "density": 1.5},
            ValueError,
            r"density=1.5; expected a number in \(0, 1\]",
        ),
        ((10, 5), {"counts": 0}, ValueError, "counts=0"),
    ],
)
def test_errors(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        coda.simulate(*args, **kwargs)
