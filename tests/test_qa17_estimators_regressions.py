"""QA of the estimators, export and diagrams (round 17): regressions found in review."""

from __future__ import annotations

import io
import math

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import coda


def _with_zero_outside_the_ternary_parts():
    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.lognormal(size=(12, 5)), columns=list("abcde"))
    x.iloc[3, 4] = 0.0  # part "e", not one of the three shown
    return x


def test_ternary_region_ignores_zeros_in_parts_it_does_not_show():
    # The region of (a, b, c) was refused because part e had a zero, with
    # advice to replace zeros in x: data the diagram never uses
    x = _with_zero_outside_the_ternary_parts()
    center, region = coda.ternary_region(x, parts=["a", "b", "c"], level=0.9, n_points=8)
    # Hotelling's region of the ilr mean, worked independently of coda
    sub = x[["a", "b", "c"]].to_numpy()
    logs = np.log(sub)
    z = np.column_stack(
        [
            (logs[:, 0] - logs[:, 1]) / math.sqrt(2),
            (logs[:, 0] + logs[:, 1] - 2 * logs[:, 2]) / math.sqrt(6),
        ]
    )
    n = z.shape[0]
    mean = z.mean(axis=0)
    cov = np.cov(z, rowvar=False)
    g = np.exp(logs.mean(axis=0))
    g /= g.sum()
    np.testing.assert_allclose(center.to_numpy(), [[g[1] + g[2] / 2, math.sqrt(3) / 2 * g[2]]])
    # every boundary point lies on the ellipse n (m - zbar)' S^-1 (m - zbar) = c
    b = region.to_numpy()
    p3 = b[:, 1] / (math.sqrt(3) / 2)
    p2 = b[:, 0] - p3 / 2
    p = np.column_stack([1 - p2 - p3, p2, p3])
    lp = np.log(p)
    m = np.column_stack(
        [(lp[:, 0] - lp[:, 1]) / math.sqrt(2), (lp[:, 0] + lp[:, 1] - 2 * lp[:, 2]) / math.sqrt(6)]
    )
    d = m - mean
    t2 = n * np.einsum("ij,jk,ik->i", d, np.linalg.inv(cov), d)
    expected = 2 * (n - 1) / (n - 2) * stats.f.ppf(0.9, 2, n - 2)
    np.testing.assert_allclose(t2, expected, rtol=1e-8)


def test_plot_ternary_centre_ignores_zeros_in_parts_it_does_not_show():
    import matplotlib.pyplot as plt

    x = _with_zero_outside_the_ternary_parts()
    fig, ax = plt.subplots()
    try:
        coda.plot_ternary(x, parts=["a", "b", "c"], ax=ax, center=True, region=0.9)
        assert ax.get_legend_handles_labels()[1] == ["90% region", "centre"]
    finally:
        plt.close(fig)


def test_ternary_region_still_refuses_zeros_in_the_parts_it_shows():
    x = _with_zero_outside_the_ternary_parts()
    x.index = [f"s{i}" for i in range(12)]
    x.iloc[5, 1] = 0.0  # part "b"
    with pytest.raises(ValueError, match=r"x has 1 zeros \(rows s5\).*replace_zeros"):
        coda.ternary_region(x, parts=["a", "b", "c"])


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (np.complex128(1 + 2j), "complex"),
        (np.datetime64("2020-01-01T10:00"), "datetime64"),
        (np.timedelta64(3, "s"), "timedelta64"),
        # At nanoseconds (pandas' default) .item() gives an int, which was written.
        (np.datetime64("2020-01-01T00:00:00.000000000"), "datetime64"),
        (np.timedelta64(5, "ns"), "timedelta64"),
        (np.bytes_(b"ab"), "bytes"),
        (np.longdouble(1.5), "longdouble"),
    ],
)
def test_node_link_refuses_numpy_values_json_cannot_hold(value, kind):
    # numpy scalars JSON cannot hold were written as their text ("(1+2j)",
    # "2020-01-01 10:00:00", "1.5" for a float), where the Python values raise
    G = nx.Graph()
    G.add_edge("a", "b", w=value)
    with pytest.raises(TypeError, match=rf"edge \('a', 'b'\) holds a {kind} .*JSON cannot hold"):
        coda.to_node_link(G)


@pytest.mark.parametrize(
    "where",
    ["node name", "attribute value", "attribute name", "graph attribute"],
)
@pytest.mark.parametrize("char", ["\x00", "\x1b", "\ufffe"])
def test_write_graphml_refuses_text_xml_cannot_hold_and_keeps_the_old_file(tmp_path, where, char):
    # networkx wrote such characters as they were: the file replaced the old
    # one and could not be read back (not well-formed XML).
    G = nx.Graph()
    G.add_edge("a", "b", pcor=0.5)
    path = tmp_path / "g.graphml"
    coda.write_graphml(G, path)
    before = path.read_bytes()
    bad = f"x{char}y"
    if where == "node name":
        G.add_edge("a", bad)
    elif where == "attribute value":
        G.edges["a", "b"]["note"] = bad
    elif where == "attribute name":
        G.nodes["a"][bad] = 1
    else:
        G.graph["title"] = bad
    with pytest.raises(ValueError, match=rf"holds the character U\+{ord(char):04X}, which an XML"):
        coda.write_graphml(G, path)
    assert path.read_bytes() == before
    assert set(nx.read_graphml(path).edges) == {("a", "b")}


def test_write_graphml_keeps_tabs_newlines_and_other_scripts():
    # What XML can hold is written and read back unchanged.
    G = nx.Graph()
    G.add_edge("Sí\tO₂", "b", note="line 1\nline 2 — ok")
    out = io.BytesIO()
    coda.write_graphml(G, out)
    back = nx.read_graphml(io.BytesIO(out.getvalue()))
    assert set(back.nodes) == {"Sí\tO₂", "b"}
    assert back.edges["Sí\tO₂", "b"]["note"] == "line 1\nline 2 — ok"


@pytest.mark.parametrize(
    "value", [np.datetime64("2020-01-01T00:00:00.000000000"), np.timedelta64(5, "ns")]
)
def test_write_graphml_refuses_nanosecond_times_written_as_integers(tmp_path, value):
    # .item() of a nanosecond datetime64 or timedelta64 is an int, written as one.
    G = nx.Graph()
    G.add_edge("a", "b", when=value)
    with pytest.raises(TypeError, match=r"the attribute 'when' of edge \('a', 'b'\) is a "):
        coda.write_graphml(G, tmp_path / "g.graphml")
    assert not (tmp_path / "g.graphml").exists()
