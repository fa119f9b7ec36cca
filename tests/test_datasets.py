"""Tests of coda.datasets: the Roman cups loader (offline, with a fake network) and simulate."""

from __future__ import annotations

import hashlib
import os
import sys
import urllib.error
import warnings
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import coda
from coda import datasets

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


# --- load_roman_cups ------------------------------------------------------

PARTS = ["Si", "Al", "Fe", "Mg", "Ca", "Na", "K", "Ti", "P", "Mn", "Sb"]
# The CI runner sets CODA_DATA_DIR; read before the autouse fixture removes it.
REAL_DATA_DIR = os.environ.get("CODA_DATA_DIR")
# Four made-up cups (not the published values), shaped like easyCODA's `cups`.
VALUES = np.array(
    [
        [74.1, 1.9, 0.31, 0.52, 5.4, 16.9, 0.47, 0.07, 0.05, 0.02, 0.29],
        [70.8, 2.3, 0.45, 0.61, 6.2, 18.4, 0.55, 0.08, 0.06, 0.03, 0.41],
        [72.0, 2.0, 0.38, 0.49, 5.9, 17.6, 0.5, 0.06, 0.04, 0.015, 0.35],
        [69.25, 2.6, 0.5, 0.7, 7.1, 18.8, 0.6, 0.09, 0.07, 0.04, 0.0625],
    ]
)


def expected_frame(ids=(1, 2, 3, 4)):
    return pd.DataFrame(VALUES, columns=PARTS, index=pd.Index(list(ids), name="cup"))


class FakeNetwork:
    """Stands in for coda.datasets._fetch: serves bytes or raises, and counts calls."""

    def __init__(self, payload=None, error=None):
        self.payload, self.error, self.urls = payload, error, []

    def __call__(self, url):
        self.urls.append(url)
        if self.error is not None:
            raise self.error
        return self.payload


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """No test reaches the network, the user's cache or the CI data folder by accident."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("CODA_DATA_DIR", raising=False)
    network = FakeNetwork(error=AssertionError("a test reached the network"))
    monkeypatch.setattr(datasets, "_fetch", network)
    return network


@pytest.fixture(scope="module")
def rdata_files():
    """R data files written by R's own save(): the format the loader downloads.

    Made by ``tests/reference/rdata/make_rdata_fixtures.R`` and committed, so
    the tests need no R installation.
    """
    return Path(__file__).parent / "reference" / "rdata"


@pytest.fixture
def served(rdata_files, monkeypatch):
    """The fake network serves an R-made cups.RData whose checksum the loader expects."""
    payload = (rdata_files / "default.RData").read_bytes()
    monkeypatch.setattr(datasets, "_CUPS_SHA256", hashlib.sha256(payload).hexdigest())
    network = FakeNetwork(payload=payload)
    monkeypatch.setattr(datasets, "_fetch", network)
    return network


def write_csv(path, frame):
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path)
    return path


def test_real_checksum_and_url_are_the_published_ones():
    assert datasets._CUPS_SHA256 == (
        "53d5f2c0cc85de9ce28e638c903d036edfa02509e14e087e4da264d5202aca81"
    )
    assert datasets._CUPS_URL == (
        "https://raw.githubusercontent.com/cran/easyCODA/master/data/cups.RData"
    )


# R CMD build may resave data with other compression; easyCODA's file format is not known here.
@pytest.mark.parametrize("name", ["default.RData", "v2xz.RData", "bzip2.RData"])
def test_rdata_written_by_r_is_parsed(rdata_files, name):
    cups = coda.load_roman_cups(path=rdata_files / name)
    pd.testing.assert_frame_equal(cups, expected_frame(), check_exact=True)
    assert cups.index.dtype == np.int64


def test_rdata_row_names_are_the_cup_ids_when_numeric(rdata_files):
    named = coda.load_roman_cups(path=str(rdata_files / "named.RData"))
    pd.testing.assert_frame_equal(named, expected_frame([3, 7, 11, 12]))
    lettered = coda.load_roman_cups(path=rdata_files / "lettered.RData")
    pd.testing.assert_frame_equal(lettered, expected_frame())


def test_rdata_without_cups_is_refused(rdata_files):
    with pytest.raises(ValueError, match=r"no data frame named 'cups' \(it holds: glass\)"):
        coda.load_roman_cups(path=rdata_files / "glass.rda")


def test_rdata_needs_the_rdata_package(rdata_files, monkeypatch):
    monkeypatch.setitem(sys.modules, "rdata", None)
    with pytest.raises(ImportError, match=r"pip install 'coda-logratio\[data\]'"):
        coda.load_roman_cups(path=rdata_files / "default.RData")


def test_download_is_verified_parsed_and_cached(served, tmp_path):
    cache = tmp_path / "cache"
    cups = coda.load_roman_cups(cache_dir=cache)
    pd.testing.assert_frame_equal(cups, expected_frame(), check_exact=True)
    assert served.urls == [datasets._CUPS_URL]
    csv = cache / "roman_cups.csv"
    recorded = (cache / "roman_cups.csv.sha256").read_text().split()
    assert recorded == [hashlib.sha256(csv.read_bytes()).hexdigest(), "roman_cups.csv"]
    # the temporary files were renamed into place, none is left behind
    assert sorted(p.name for p in cache.iterdir()) == ["roman_cups.csv", "roman_cups.csv.sha256"]
    again = coda.load_roman_cups(cache_dir=cache, download=False)
    pd.testing.assert_frame_equal(again, cups, check_exact=True)
    coda.load_roman_cups(cache_dir=cache)
    assert len(served.urls) == 1


def test_default_cache_is_under_xdg_cache_home(served, tmp_path, monkeypatch):
    coda.load_roman_cups()
    assert (tmp_path / "xdg" / "coda" / "roman_cups.csv").is_file()
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert datasets._default_cache_dir() == tmp_path / "home" / ".cache" / "coda"


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        ("truncate", r"is damaged \(truncated or changed: its SHA-256 differs from the one in "),
        ("edit", r"is damaged \(truncated or changed: its SHA-256 differs from the one in "),
        ("lose checksum", r"has no checksum file beside it \(roman_cups\.csv\.sha256 is missing"),
    ],
)
def test_damaged_cache_is_detected_and_fetched_again(served, tmp_path, damage, problem):
    cache = tmp_path / "cache"
    cups = coda.load_roman_cups(cache_dir=cache)
    csv = cache / "roman_cups.csv"
    text = csv.read_text()
    if damage == "truncate":
        # cut inside the last row: still a readable CSV, with missing values
        csv.write_text(text[: text.rindex(",")])
    elif damage == "edit":
        csv.write_text(text.replace("74.1", "47.1"))
    else:
        (cache / "roman_cups.csv.sha256").unlink()
    with pytest.raises(OSError, match=rf"cached file {csv} {problem}.*download=True") as info:
        coda.load_roman_cups(cache_dir=cache, download=False)
    assert str(info.value).count("\n") == 0
    assert len(served.urls) == 1
    repaired = coda.load_roman_cups(cache_dir=cache)
    assert len(served.urls) == 2
    pd.testing.assert_frame_equal(repaired, cups, check_exact=True)
    assert datasets._cache_damage(csv) == ""


def test_corrupt_download_is_refused_and_nothing_cached(served, tmp_path):
    served.payload = served.payload[:-7]
    cache = tmp_path / "cache"
    with pytest.raises(OSError, match=r"has SHA-256 [0-9a-f]{64}, not the expected.*nothing"):
        coda.load_roman_cups(cache_dir=cache)
    assert not cache.exists() or not any(cache.iterdir())


def test_unchanged_file_with_another_checksum_is_refused(served, tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "_CUPS_SHA256", "0" * 64)
    with pytest.raises(OSError, match=r"not the expected 0{64}"):
        coda.load_roman_cups(cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache" / "roman_cups.csv").exists()


def test_network_error_says_where_to_put_the_file(tmp_path, monkeypatch):
    network = FakeNetwork(error=urllib.error.URLError("no route to host"))
    monkeypatch.setattr(datasets, "_fetch", network)
    with pytest.raises(FileNotFoundError, match="download failed") as info:
        coda.load_roman_cups(cache_dir=tmp_path / "cache")
    message = str(info.value)
    assert "CODA_DATA_DIR" in message and "path=" in message
    assert datasets._CUPS_URL in message and datasets._CUPS_SHA256 in message
    assert network.urls == [datasets._CUPS_URL]
    assert not (tmp_path / "cache").exists()


def test_offline_without_download_never_fetches(tmp_path, offline, monkeypatch):
    folder = tmp_path / "empty"
    with pytest.raises(FileNotFoundError, match=r"CODA_DATA_DIR is not set.*download=False"):
        coda.load_roman_cups(cache_dir=tmp_path / "cache", download=False)
    monkeypatch.setenv("CODA_DATA_DIR", str(folder))
    with pytest.raises(
        FileNotFoundError, match=r"the folder CODA_DATA_DIR='.*empty' does not exist"
    ):
        coda.load_roman_cups(cache_dir=tmp_path / "cache", download=False)
    folder.mkdir()
    with pytest.raises(
        FileNotFoundError, match=r"empty' holds neither roman_cups\.csv nor cups\.RData"
    ):
        coda.load_roman_cups(cache_dir=tmp_path / "cache", download=False)
    assert offline.urls == []


def test_coda_data_dir_reads_cups_rdata_after_the_csv(rdata_files, tmp_path, monkeypatch):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "cups.RData").write_bytes((rdata_files / "named.RData").read_bytes())
    monkeypatch.setenv("CODA_DATA_DIR", str(folder))
    cups = coda.load_roman_cups(cache_dir=tmp_path / "cache", download=False)
    pd.testing.assert_frame_equal(cups, expected_frame([3, 7, 11, 12]))
    # The CSV comes first when both are there.
    write_csv(folder / "roman_cups.csv", expected_frame().iloc[:2])
    cups = coda.load_roman_cups(cache_dir=tmp_path / "cache", download=False)
    pd.testing.assert_frame_equal(cups, expected_frame().iloc[:2])
    # A damaged cups.RData there is named as the variable's file.
    (folder / "roman_cups.csv").unlink()
    (folder / "cups.RData").write_bytes(b"not R data")
    with pytest.raises(ValueError, match=r"CODA_DATA_DIR='.*cups\.RData' is not a readable R"):
        coda.load_roman_cups(cache_dir=tmp_path / "cache", download=False)


def test_coda_data_dir_naming_a_file_says_it_must_name_a_folder(tmp_path, monkeypatch, offline):
    csv = write_csv(tmp_path / "data" / "roman_cups.csv", expected_frame())
    monkeypatch.setenv("CODA_DATA_DIR", str(csv))
    with pytest.raises(NotADirectoryError) as info:
        coda.load_roman_cups(cache_dir=tmp_path / "cache", download=False)
    assert str(info.value) == (
        f"CODA_DATA_DIR={str(csv)!r} is a file; it must be a folder: set CODA_DATA_DIR to "
        "the folder that holds roman_cups.csv or cups.RData, not to a file"
    )
    assert offline.urls == []


def test_path_that_is_a_folder_says_what_to_pass(tmp_path):
    with pytest.raises(IsADirectoryError) as info:
        coda.load_roman_cups(path=tmp_path)
    assert str(info.value) == (
        f"path={str(tmp_path)!r} is a folder; it must name the file itself, a CSV file "
        "(.csv) or an R data file (.RData or .rda), e.g. "
        f"path={str(tmp_path / 'roman_cups.csv')!r} (or set CODA_DATA_DIR to the folder)"
    )


def test_failed_write_leaves_no_temporary_file(served, tmp_path, monkeypatch):
    def refuse(src, dst):
        raise PermissionError(f"cannot rename {src}")

    monkeypatch.setattr(datasets.os, "replace", refuse)
    cache = tmp_path / "cache"
    with pytest.raises(PermissionError, match="cannot rename"):
        coda.load_roman_cups(cache_dir=cache)
    assert list(cache.iterdir()) == []


def test_coda_data_dir_comes_before_the_cache(served, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    coda.load_roman_cups(cache_dir=cache)
    local = expected_frame().iloc[:2] * 2
    write_csv(tmp_path / "data" / "roman_cups.csv", local)
    monkeypatch.setenv("CODA_DATA_DIR", str(tmp_path / "data"))
    pd.testing.assert_frame_equal(coda.load_roman_cups(cache_dir=cache), local)
    assert len(served.urls) == 1


def test_path_comes_first(tmp_path, monkeypatch):
    write_csv(tmp_path / "data" / "roman_cups.csv", expected_frame())
    monkeypatch.setenv("CODA_DATA_DIR", str(tmp_path / "data"))
    mine = write_csv(tmp_path / "mine.csv", expected_frame().iloc[[2]])
    pd.testing.assert_frame_equal(coda.load_roman_cups(path=mine), expected_frame().iloc[[2]])


@pytest.fixture
def real_data_dir():
    if REAL_DATA_DIR and (Path(REAL_DATA_DIR) / "roman_cups.csv").exists():
        return REAL_DATA_DIR
    if os.environ.get("CI"):
        pytest.fail("CODA_DATA_DIR/roman_cups.csv is missing in CI; .ci/run must set it")
    pytest.skip("set CODA_DATA_DIR to the folder holding roman_cups.csv")


def test_real_data_through_coda_data_dir(real_data_dir, monkeypatch, offline):
    monkeypatch.setenv("CODA_DATA_DIR", real_data_dir)
    cups = coda.load_roman_cups(download=False)
    assert cups.shape == (47, 11)
    assert list(cups.columns) == PARTS
    assert cups.index.name == "cup"
    assert cups.index.tolist() == list(range(1, 48))
    first = [75.2, 1.84, 0.26, 0.47, 5.0, 16.3, 0.44, 0.06, 0.04, 0.01, 0.36]
    np.testing.assert_array_equal(cups.loc[1].to_numpy(), first)
    # percentages of the 11 oxides: each cup adds up to about 100
    np.testing.assert_allclose(cups.sum(axis=1), 100.0, atol=2.0)
    assert offline.urls == []


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda t: t.drop(columns="Sb"), "must have the columns cup, Si, .*; it lacks Sb"),
        (lambda t: t.drop(columns="cup"), "it lacks cup"),
        (lambda t: t.assign(Cu=1.0), "it has other columns: Cu"),
        (
            lambda t: t.astype({"Al": object}).assign(Al=["2", "abc", "2", "x"]),
            r"non-numeric, missing or infinite values in column Al \('abc', 'x'\)",
        ),
        (lambda t: t.assign(Fe=[0.3, np.nan, 0.4, 0.5]), r"column Fe \(missing\)"),
        (lambda t: t.assign(Mn=[0.3, np.inf, 0.4, -np.inf]), r"column Mn \(inf, -inf\)"),
        (lambda t: t.assign(cup=[1, 2, 2, 3]), "column cup that is not unique integers"),
        (lambda t: t.assign(cup=[1, 2.5, 3, 4]), "column cup that is not unique integers"),
        (
            lambda t: t.assign(Na=[16.9, -18.4, 17.6, 0.0]),
            r"values that are not positive in column Na \(cup 2: -18\.4, cup 4: 0\.0\); the",
        ),
        (lambda t: t.assign(Mn=0.0), r"column Mn \(cup 1: 0\.0, cup 2: 0\.0, cup 3: 0\.0"),
    ],
)
def test_csv_with_wrong_contents_is_refused(tmp_path, edit, match):
    table = edit(expected_frame().reset_index())
    path = tmp_path / "bad.csv"
    table.to_csv(path, index=False)
    with pytest.raises(ValueError, match=match):
        coda.load_roman_cups(path=path)


def test_csv_that_is_not_a_table_is_refused(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match=r"empty\.csv' is not a readable CSV file"):
        coda.load_roman_cups(path=empty)


def test_csv_with_a_header_and_no_cups_is_refused(tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("cup," + ",".join(PARTS) + "\n")
    with pytest.raises(ValueError, match=r"header\.csv' holds no cups \(its columns are there,"):
        coda.load_roman_cups(path=path)


def test_real_data_have_no_zeros(real_data_dir):
    # Why a zero is refused as damage rather than accepted as a composition
    # that needs zero replacement: the published data have none.
    table = pd.read_csv(Path(real_data_dir) / "roman_cups.csv", index_col="cup")
    assert (table.to_numpy() > 0).all()


@pytest.mark.parametrize(
    ("content", "name"),
    [
        (b"not an R data file at all", "junk.RData"),
        (b"", "empty.rda"),
        (b"cup,Si\n1,2\n", "csv.RData"),
        ("half", "truncated.rda"),
        ("flipped", "flipped.RData"),
    ],
)
def test_damaged_rdata_is_refused_with_one_clear_message(rdata_files, tmp_path, content, name):
    good = (rdata_files / "default.RData").read_bytes()
    if content == "half":
        content = good[: len(good) // 2]
    elif content == "flipped":
        # one bit of the gzip stream changed: the CRC check fails
        content = good[:-6] + bytes([good[-6] ^ 1]) + good[-5:]
    path = tmp_path / name
    path.write_bytes(content)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ValueError, match=r"is not a readable R data file") as info:
            coda.load_roman_cups(path=path)
    message = str(info.value)
    assert message.startswith(f"path={str(path)!r} is not a readable R data file (")
    assert "damaged or not R data" in message
    assert caught == []  # rdata's guesses about the format stay inside the loader


def test_rds_file_is_refused(tmp_path):
    import rdata

    # saveRDS output named like R data: one unnamed object, not a data frame `cups`
    path = tmp_path / "cups.rda"
    rdata.write_rds(path, expected_frame().reset_index(drop=True))
    with pytest.raises(ValueError, match=r"cups\.rda' is an RDS file \(one DataFrame saved by"):
        coda.load_roman_cups(path=path)


def test_cache_dir_that_is_a_file_is_refused_before_downloading(served, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    for cache_dir in (afile, afile / "sub"):
        with pytest.raises(NotADirectoryError) as info:
            coda.load_roman_cups(cache_dir=cache_dir)
        where = "is a file" if cache_dir == afile else f"is inside {str(afile)!r}, a file"
        assert str(info.value).startswith(
            f"cache_dir={str(cache_dir)!r} {where}; it must be a folder: pass cache_dir="
        )
    assert served.urls == []
    assert afile.read_text() == "x"


def test_default_cache_that_is_a_file_is_refused(served, tmp_path):
    (tmp_path / "xdg").mkdir()
    (tmp_path / "xdg" / "coda").write_text("x")
    with pytest.raises(
        NotADirectoryError, match=r"the cache folder .*coda' \(from .*\) is a file; it must be"
    ):
        coda.load_roman_cups()
    assert served.urls == []


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"path": "no/such/file.csv"}, FileNotFoundError, "is not an existing file"),
        ({"path": 3}, TypeError, "path=3; expected a path"),
        (
            {"cache_dir": 3},
            TypeError,
            r"^cache_dir=3; expected a path \(a str or pathlib\.Path\), "
            r"e\.g\. cache_dir='data/cache'$",
        ),
        ({"download": "no"}, TypeError, "download"),
    ],
)
def test_argument_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        coda.load_roman_cups(**kwargs)


def test_other_suffix_is_refused(tmp_path):
    path = write_csv(tmp_path / "cups.txt", expected_frame())
    with pytest.raises(
        ValueError,
        match=r"suffix '\.txt'; expected a CSV file \(\.csv\) or an R data file "
        r"\(\.RData or \.rda\)$",
    ):
        coda.load_roman_cups(path=path)


@settings(max_examples=25, deadline=None)
@given(
    values=st.lists(
        st.lists(
            st.floats(1e-6, 100.0, allow_nan=False, allow_infinity=False), min_size=11, max_size=11
        ),
        min_size=1,
        max_size=6,
    )
)
def test_csv_round_trip_is_exact(tmp_path_factory, values):
    frame = pd.DataFrame(
        values, columns=PARTS, index=pd.Index(range(5, 5 + len(values)), name="cup")
    )
    path = tmp_path_factory.mktemp("csv") / "roman_cups.csv"
    path.write_bytes(frame.to_csv(lineterminator="\n").encode())
    pd.testing.assert_frame_equal(coda.load_roman_cups(path=path), frame, check_exact=True)


def test_load_dataset_by_name(tmp_path):
    frame = pd.DataFrame(
        np.full((2, 11), 9.0), columns=list(coda.datasets._CUPS_PARTS), index=[1, 2]
    )
    frame.index.name = "cup"
    path = tmp_path / "cups.csv"
    frame.to_csv(path)
    pd.testing.assert_frame_equal(
        coda.load_dataset("roman_cups", path=path), coda.load_roman_cups(path=path)
    )
    with pytest.raises(ValueError, match=r"name='cups' is not a known option.*'roman_cups'"):
        coda.load_dataset("cups")
