"""Regression tests: the Roman cups loader, the case study report and the graph exports."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pytest

import coda
from coda import datasets
from coda.casestudy import write_report

RDATA = Path(__file__).parent / "reference" / "rdata"


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """No test reaches the network, the user's cache or the CI data folder."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("CODA_DATA_DIR", raising=False)

    def no_network(url):
        raise AssertionError("a test reached the network")

    monkeypatch.setattr(datasets, "_fetch", no_network)


@pytest.fixture
def sim():
    return coda.simulate(200, 5, graph="chain", seed=7)


# --- coda.datasets ----------------------------------------------------------------


def test_cache_that_cannot_be_written_names_the_folder_and_the_fix(tmp_path, monkeypatch):
    # The download succeeded, then the system's bare "[Errno 13] Permission
    # denied: '<temporary file>'" came out, naming neither the cache nor a fix.
    payload = (RDATA / "default.RData").read_bytes()
    monkeypatch.setattr(datasets, "_CUPS_SHA256", hashlib.sha256(payload).hexdigest())
    monkeypatch.setattr(datasets, "_fetch", lambda url: payload)

    def deny(target, data):
        raise PermissionError(13, "Permission denied", str(target))

    monkeypatch.setattr(datasets, "_write_atomic", deny)
    cache = tmp_path / "cache"
    with pytest.raises(PermissionError) as info:
        coda.load_roman_cups(cache_dir=cache)
    message = str(info.value)
    assert message.startswith(
        f"the Roman cups data were downloaded and verified but cannot be cached in {cache} ("
    )
    assert "Permission denied" in message
    assert "pass cache_dir= another folder that you can write to" in message
    assert "CODA_DATA_DIR" in message


def test_coda_data_dir_with_a_folder_named_like_the_file(tmp_path, monkeypatch):
    # The message said the folder "holds neither roman_cups.csv nor cups.RData".
    folder = tmp_path / "data"
    (folder / "roman_cups.csv").mkdir(parents=True)
    monkeypatch.setenv("CODA_DATA_DIR", str(folder))
    with pytest.raises(FileNotFoundError) as info:
        coda.load_roman_cups(cache_dir=tmp_path / "cache", download=False)
    message = str(info.value)
    assert (
        f"CODA_DATA_DIR={str(folder)!r} holds a folder named roman_cups.csv, not the file"
        in message
    )
    assert "holds neither" not in message


# --- coda.casestudy.write_report ----------------------------------------------------


@pytest.mark.parametrize("alpha", [5, 0.0])
def test_report_checks_alpha_before_writing_anything(sim, tmp_path, alpha):
    # alpha was checked only when the figures were drawn, after the three
    # tables had been written: a half-written report was left behind.
    out = tmp_path / "report"
    with pytest.raises(ValueError, match=rf"^alpha={alpha!r}; expected a number in \(0, 1\)$"):
        write_report(sim.data, out, given=["p02"], n_boot=20, alpha=alpha)
    assert not out.exists()


def test_report_seed_that_is_not_a_seed_is_named(sim, tmp_path):
    # numpy's own message ("SeedSequence expects int or sequence of ints")
    # did not say which argument was wrong.
    out = tmp_path / "report"
    with pytest.raises(TypeError, match=r"^seed='abc' is not a seed .*numpy Generator$"):
        write_report(sim.data, out, given=["p02"], n_boot=20, seed="abc")
    assert not out.exists()


def test_report_given_unknown_is_refused_before_writing_anything(sim, tmp_path, monkeypatch):
    import coda.casestudy as casestudy

    def not_called(*args, **kwargs):
        raise AssertionError("the bootstrap ran before given was checked")

    monkeypatch.setattr(casestudy, "pcor_bootstrap", not_called)
    with pytest.raises(ValueError, match=r"^given='Si' is not a part; the parts are p01"):
        write_report(sim.data, tmp_path / "report", n_boot=20)
    assert not (tmp_path / "report").exists()


@pytest.mark.parametrize("given", ["p02", 1])
def test_report_names_the_given_part(sim, tmp_path, given):
    # given="p02" was joined letter by letter ("Partialling out only p, 0, 2"),
    # and a position was shown as a number rather than the part.
    files = write_report(sim.data, tmp_path / "r", given=given, n_boot=20, seed=1)
    text = files[0].read_text(encoding="utf-8")
    assert "## Partialling out only p02\n" in text
    pairs = pd.read_csv(files[1])
    expected = write_report(sim.data, tmp_path / "s", given=["p02"], n_boot=20, seed=1)
    pd.testing.assert_frame_equal(pairs, pd.read_csv(expected[1]))


# --- coda.export --------------------------------------------------------------------


def test_graphml_writes_numpy_scalars_as_python_values(tmp_path):
    # networkx's writer refused numpy's bool and left an empty file.
    G = nx.Graph()
    G.add_edge("a", "b", w=np.float32(0.5), n=np.int64(3), ok=np.bool_(True))
    G.nodes["a"]["size"] = np.float64(2.5)
    G.graph["alpha"] = np.float64(0.05)
    path = tmp_path / "g.graphml"
    coda.write_graphml(G, path)
    H = nx.read_graphml(path)
    assert H.edges["a", "b"] == {"w": 0.5, "n": 3, "ok": True}
    assert H.nodes["a"] == {"size": 2.5}
    assert H.graph["alpha"] == 0.05
    assert isinstance(G.edges["a", "b"]["ok"], np.bool_)  # the input is left as it was


@pytest.mark.parametrize(
    ("value", "shown"),
    [(None, "NoneType (None)"), ((1.0, 2.0), "tuple ((1.0, 2.0))"), ([1], "list ([1])")],
)
def test_graphml_refuses_other_values_by_name_and_keeps_the_old_file(tmp_path, value, shown):
    path = tmp_path / "g.graphml"
    path.write_text("an earlier export")
    G = nx.Graph()
    G.add_edge("a", "b", w=value)
    with pytest.raises(TypeError) as info:
        coda.write_graphml(G, path)
    assert str(info.value).startswith(
        f"the attribute 'w' of edge ('a', 'b') is a {shown}; GraphML holds only str, int, "
        "float and bool values"
    )
    assert path.read_text() == "an earlier export"


@pytest.mark.parametrize("write", [coda.write_graphml, coda.write_edge_list])
def test_nodes_with_the_same_name_as_text_are_refused(tmp_path, write):
    # 1 and "1" were both written as "1": one node with a self-loop when read back.
    G = nx.Graph()
    G.add_edge(1, "1", pcor=0.5)
    path = tmp_path / "out"
    with pytest.raises(ValueError, match=r"^G has the nodes 1 and '1', which .* as '1', merging"):
        write(G, path)
    assert not path.exists()
    # Odd labels that differ as text survive (as text).
    G = nx.Graph()
    G.add_edge(("a", 1), "Sí", pcor=0.5)
    G.add_edge(2.5, "日本", pcor=-0.25)
    write(G, path)
    if write is coda.write_graphml:
        assert set(nx.read_graphml(path).edges) >= {("('a', 1)", "Sí"), ("2.5", "日本")}
    else:
        table = pd.read_csv(path, dtype={"source": str, "target": str})
        assert table.to_numpy().tolist() == [["('a', 1)", "Sí", 0.5], ["2.5", "日本", -0.25]]


def test_node_link_refuses_a_node_attribute_named_id(sim, tmp_path):
    # networkx wrote the node's name over the attribute: "OTU_17" was lost.
    G = coda.network(sim.data, node_data={"p01": {"id": "OTU_17"}})
    with pytest.raises(ValueError, match=r"^node 'p01' has the attribute 'id', the name"):
        coda.to_node_link(G)
    path = tmp_path / "g.json"
    with pytest.raises(ValueError, match="rename the attribute first"):
        coda.write_json(G, path)
    assert not path.exists()
    coda.write_graphml(G, tmp_path / "g.graphml")
    assert nx.read_graphml(tmp_path / "g.graphml").nodes["p01"]["id"] == "OTU_17"


@pytest.mark.parametrize("key", ["source", "target"])
def test_edge_attributes_named_like_the_ends_are_refused(tmp_path, key):
    # The edge list wrote the attribute in place of the edge's end.
    G = nx.Graph()
    G.add_edge("a", "b", **{key: "z", "pcor": 0.5})
    with pytest.raises(ValueError, match=rf"^edge \('a', 'b'\) has the attribute '{key}'"):
        coda.write_edge_list(G, tmp_path / "e.csv")
    with pytest.raises(ValueError, match=rf"^edge \('a', 'b'\) has the attribute '{key}'"):
        coda.to_node_link(G)
    assert not (tmp_path / "e.csv").exists()


def test_json_makes_values_inside_tuples_safe(tmp_path):
    # A NaN or numpy scalar inside a tuple reached json.dump: "Out of range
    # float values are not JSON compliant", "float32 is not JSON serializable".
    G = nx.Graph()
    G.add_edge(("a", 1), ("b", 2), ci=(np.float32(0.5), math.nan))
    data = coda.to_node_link(G)
    assert data["edges"] == [{"ci": (0.5, None), "source": ("a", 1), "target": ("b", 2)}]
    assert isinstance(data["edges"][0]["ci"][0], float)
    path = tmp_path / "g.json"
    coda.write_json(G, path)
    back = json.loads(path.read_text(encoding="utf-8"))
    assert back["edges"] == [{"ci": [0.5, None], "source": ["a", 1], "target": ["b", 2]}]
    assert math.isnan(G.edges[("a", 1), ("b", 2)]["ci"][1])  # the input is left as it was


def test_json_refuses_values_it_cannot_hold_and_keeps_the_old_file(tmp_path):
    # The file was opened first and left half-written by json.dump's TypeError.
    path = tmp_path / "g.json"
    path.write_text("an earlier export")
    G = nx.Graph()
    G.add_edge("a", "b", pcor=0.5)
    G.nodes["a"]["seen"] = pd.Timestamp("2020-01-02")
    with pytest.raises(TypeError, match=r"^node 'a' holds a Timestamp \(Timestamp\('2020-01-02"):
        coda.write_json(G, path)
    assert path.read_text() == "an earlier export"
