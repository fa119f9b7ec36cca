"""Tests of the ``coda`` command (``coda pcor``, ``coda demo``), in-process and as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import coda
from coda.cli import main


@pytest.fixture
def data_csv(tmp_path):
    """A CSV with an id column named ``sample`` and 6 strictly positive parts."""
    sim = coda.simulate(80, 6, graph="chain", seed=1)
    path = tmp_path / "data.csv"
    sim.data.rename(index=lambda k: f"s{k}").to_csv(path, index_label="sample")
    return path, sim


def run(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_pcor_writes_files_and_summary(data_csv, tmp_path, capsys):
    path, sim = data_csv
    out_dir = tmp_path / "out"
    code, out, err = run(["pcor", path, "--out", out_dir], capsys)
    assert code == 0, err
    assert err == ""
    rho = pd.read_csv(out_dir / "pcor.csv", index_col=0)
    assert list(rho.columns) == list(sim.data.columns)
    np.testing.assert_allclose(rho.to_numpy(), coda.pcor(sim.data).to_numpy(), atol=1e-12)
    variance = pd.read_csv(out_dir / "partial_variance.csv", index_col=0)
    np.testing.assert_allclose(
        variance.iloc[:, 0].to_numpy(), coda.partial_variance(sim.data).to_numpy(), rtol=1e-12
    )
    edges = pd.read_csv(out_dir / "edges.csv")
    expected = coda.pcor_test(sim.data)
    assert list(edges.columns) == list(expected.columns)
    np.testing.assert_allclose(edges["qvalue"], expected["qvalue"], rtol=1e-12)
    n_edges = int((expected["qvalue"] <= 0.05).sum())
    assert "80 samples, 6 parts, method exact" in out
    assert f"edges at FDR 0.05: {n_edges} of 15 pairs" in out
    strongest = expected.loc[expected["r"].abs().idxmax()]
    assert f"{strongest['part_i']} -- {strongest['part_j']}" in out
    assert "pcor.csv" in out


def test_pcor_given_alpha_and_index_col(tmp_path, capsys):
    sim = coda.simulate(50, 5, graph="chain", seed=2)
    frame = sim.data.copy()
    frame.insert(2, "batch", 7)  # a numeric id column, not first: named explicitly
    path = tmp_path / "d.csv"
    frame.to_csv(path, index=False)
    code, out, err = run(
        [
            "pcor",
            path,
            "--index-col",
            "batch",
            "--given",
            "p01, p03",
            "--alpha",
            "0.2",
            "--out",
            tmp_path / "o",
        ],
        capsys,
    )
    assert code == 0, err
    edges = pd.read_csv(tmp_path / "o" / "edges.csv")
    assert len(edges) == 3  # pairs among p02, p04, p05
    assert (edges["df"] == 50 - 2 - 1).all()
    assert "partialling out p01, p03" in out
    assert "edges at FDR 0.2:" in out


def test_first_non_numeric_column_becomes_the_index(tmp_path, capsys):
    sim = coda.simulate(30, 4, seed=3)
    frame = sim.data.copy()
    frame.insert(0, "who", [f"x{k}" for k in range(30)])
    path = tmp_path / "d.csv"
    frame.to_csv(path, index=False)
    code, _, err = run(["pcor", path, "--out", tmp_path / "o"], capsys)
    assert code == 0, err
    assert len(pd.read_csv(tmp_path / "o" / "edges.csv")) == 6


def test_zeros_are_replaced_only_when_asked(tmp_path, capsys):
    sim = coda.simulate(40, 5, seed=4, counts=60)
    assert (sim.data == 0).any().any()
    path = tmp_path / "counts.csv"
    sim.data.to_csv(path, index_label="sample")
    code, out, err = run(["pcor", path, "--out", tmp_path / "o"], capsys)
    assert code == 2
    assert out == ""
    assert err.startswith("coda: error: ")
    assert "zeros" in err
    assert "--zeros multiplicative" in err
    assert err.count("\n") == 1
    code, _, err = run(
        ["pcor", path, "--zeros", "multiplicative", "--out", tmp_path / "o"], capsys
    )
    assert code == 0, err
    assert (tmp_path / "o" / "edges.csv").exists()


@pytest.mark.parametrize(
    ("content", "extra", "match"),
    [
        (None, [], "does not exist"),
        (
            "sample,a,b,c\ns1,1,2,3\ns2,2,3,4\ns3,3,1,2\ns4,1,1,2\n",
            ["--given", "a,zz"],
            "--given='zz' is not a part",
        ),
        ("id,a,b,c\nx,1,2,q\ny,2,3,r\nz,3,1,s\n", [], "non-numeric columns: c"),
        (
            "a,b,c\n1,2,3\n2,3,4\n3,1,2\n",
            ["--index-col", "nope"],
            "--index-col='nope' is not a column",
        ),
        ("a,b,c\n1,-2,3\n2,3,4\n3,1,2\n", [], "negative values"),
    ],
)
def test_bad_input_exits_with_code_2(tmp_path, capsys, content, extra, match):
    path = tmp_path / "bad.csv"
    if content is not None:
        path.write_text(content)
    code, _, err = run(["pcor", path, *extra, "--out", tmp_path / "o"], capsys)
    assert code == 2
    assert err.startswith("coda: error: ")
    assert match in err
    assert err.count("\n") == 1  # one line, no traceback
    assert "Traceback" not in err


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["pcor", "x.csv", "--alpha", "2"])
    assert info.value.code == 2
    assert "--alpha=2.0; expected a number in (0, 1)" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2


def test_demo_recovers_the_graph_and_is_deterministic(tmp_path, capsys):
    argv = ["demo", "--n", "150", "--parts", "10", "--seed", "3"]
    code, out, err = run([*argv, "--out", tmp_path / "a"], capsys)
    assert code == 0, err
    for name in ("pcor.csv", "partial_variance.csv", "edges.csv", "data.csv"):
        assert (tmp_path / "a" / name).exists()
    sim = coda.simulate(150, 10, graph="random", seed=3)
    table = coda.pcor_test(sim.data)
    found = table[table["qvalue"] <= 0.05]
    estimated = pd.DataFrame(False, index=sim.adjacency.index, columns=sim.adjacency.columns)
    for a, b in zip(found["part_i"], found["part_j"], strict=True):
        estimated.loc[a, b] = estimated.loc[b, a] = True
    score = coda.compare_graphs(estimated, sim.adjacency)
    assert f"precision {score.precision:.2f}, recall {score.recall:.2f}, F1 {score.f1:.2f}" in out
    assert f"{len(sim.edges)} true edges among 10 parts" in out
    assert score.f1 > 0.6
    code, again, _ = run([*argv, "--out", tmp_path / "b"], capsys)
    assert code == 0
    assert (tmp_path / "a" / "edges.csv").read_text() == (tmp_path / "b" / "edges.csv").read_text()
    assert again.replace(str(tmp_path / "b"), "") == out.replace(str(tmp_path / "a"), "")
    # The written data reproduce the analysis through `coda pcor`.
    code, _, err = run(["pcor", tmp_path / "a" / "data.csv", "--out", tmp_path / "c"], capsys)
    assert code == 0, err
    assert (tmp_path / "a" / "edges.csv").read_text() == (tmp_path / "c" / "edges.csv").read_text()


def test_python_dash_m_coda(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "coda",
            "demo",
            "--parts",
            "8",
            "--n",
            "100",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "recovery of the true graph" in done.stdout
    assert (tmp_path / "edges.csv").exists()
    done = subprocess.run(
        [sys.executable, "-m", "coda", "pcor", str(tmp_path / "missing.csv")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("coda: error: ")
    assert done.stderr.count("\n") == 1


def test_output_closed_by_its_reader_ends_quietly(tmp_path):
    # As in `coda demo | head`: the reader is gone before coda writes.
    command = [sys.executable, "-m", "coda", "demo", "--parts", "8", "--n", "100"]
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [*command, "--out", str(tmp_path)],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 1
    assert done.stderr == ""


def test_interrupt_ends_with_one_line_and_code_130(monkeypatch, capsys):
    import coda.cli as cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_run_demo", interrupted)
    assert main(["demo"]) == 130
    assert capsys.readouterr().err == "coda: interrupted\n"


def test_pcor_glasso_reports_its_nonzero_edges(data_csv, tmp_path, capsys):
    path, sim = data_csv
    code, out, err = run(["pcor", path, "--method", "glasso", "--out", tmp_path / "g"], capsys)
    assert code == 0, err
    rho = coda.pcor(sim.data, method="glasso").to_numpy()
    n_nonzero = int((rho[np.triu_indices(6, k=1)] != 0).sum())
    assert f"edges non-zero in the graphical lasso: {n_nonzero} of 15 pairs" in out


def test_demo_glasso_scores_the_edges_it_reports(tmp_path, capsys):
    # The graphical lasso's edges are its non-zero estimates (coda.network's
    # "nonzero" rule); the recovery must score those, not t-test selections.
    argv = ["demo", "--method", "glasso", "--parts", "10", "--n", "100", "--seed", "0"]
    code, out, err = run([*argv, "--out", tmp_path / "g"], capsys)
    assert code == 0, err
    sim = coda.simulate(100, 10, graph="random", seed=0)
    graph = coda.network(sim.data, method="glasso")
    assert f"edges non-zero in the graphical lasso: {graph.number_of_edges()} of 45 pairs" in out
    estimated = pd.DataFrame(False, index=sim.adjacency.index, columns=sim.adjacency.columns)
    for a, b in graph.edges():
        estimated.loc[a, b] = estimated.loc[b, a] = True
    score = coda.compare_graphs(estimated, sim.adjacency)
    assert f"precision {score.precision:.2f}, recall {score.recall:.2f}, F1 {score.f1:.2f}" in out
    assert f"structural Hamming distance {score.shd}\n" in out


def _glass_env(monkeypatch, tmp_path):
    """No Roman cups data and no cache, so that nothing but the checks can run."""
    monkeypatch.setenv("CODA_DATA_DIR", str(tmp_path / "no-data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "no-cache"))


@pytest.mark.parametrize(
    "command",
    [["demo"], ["pcor", "DATA"], ["roman-glass"], ["merge-stats", "base.npz", "a.npz", "b.npz"]],
    ids=["demo", "pcor", "roman-glass", "merge-stats"],
)
def test_out_that_is_a_file_is_refused_before_any_work(
    data_csv, tmp_path, monkeypatch, capsys, command
):
    _glass_env(monkeypatch, tmp_path)
    path, _ = data_csv
    afile = tmp_path / "afile.txt"
    afile.write_text("keep me")
    argv = [path if a == "DATA" else a for a in command]
    code, out, err = run([*argv, "--out", afile], capsys)
    assert code == 2
    assert out == ""
    assert err.startswith(f"coda: error: --out {str(afile)!r} is a file")
    assert "it must be a folder: --out names a folder" in err
    assert err.count("\n") == 1
    code, _, err = run([*argv, "--out", afile / "sub"], capsys)
    assert code == 2
    assert f"is inside {str(afile)!r}, a file; it must be a folder" in err
    assert afile.read_text() == "keep me"


@pytest.mark.parametrize(
    "command",
    [
        ["demo"],
        ["roman-glass"],
        ["merge", "--method", "dare", "base.npz", "a.npz", "b.npz"],
        ["merge-stats", "base.npz", "a.npz", "b.npz"],
    ],
    ids=["demo", "roman-glass", "merge", "merge-stats"],
)
def test_negative_seed_names_the_option(tmp_path, monkeypatch, capsys, command):
    _glass_env(monkeypatch, tmp_path)
    code, out, err = run([*command, "--seed", "-1", "--out", tmp_path / "o"], capsys)
    assert code == 2
    assert out == ""
    assert err == "coda: error: --seed=-1; expected an integer of at least 0\n"
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", "is not a readable CSV file (No columns to parse from file)"),
        (bytes(range(128, 256)) * 4, "is not a readable CSV file ('utf-8' codec"),
        (b"a,b,c\n", "has a header row but no data rows"),
    ],
    ids=["empty", "binary", "header-only"],
)
def test_unreadable_or_empty_csv_names_the_file(tmp_path, capsys, content, match):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    code, out, err = run(["pcor", path, "--out", tmp_path / "o"], capsys)
    assert code == 2
    assert out == ""
    assert err.startswith(f"coda: error: DATA.csv {str(path)!r} ")
    assert match in err
    assert err.count("\n") == 1
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("method", ["glasso", "shrink", "bshrink"])
def test_regularised_methods_run_with_fewer_samples_than_parts(tmp_path, capsys, method):
    data = coda.simulate(20, 30, graph="chain", seed=1).data
    path = tmp_path / "wide.csv"
    data.to_csv(path, index_label="sample")
    code, out, err = run(["pcor", path, "--method", method, "--out", tmp_path / "o"], capsys)
    assert code == 0, err
    assert "no t tests: they need more samples than parts less one (20 <= 29)" in out
    rho = coda.pcor(data, method=method)
    written = pd.read_csv(tmp_path / "o" / "pcor.csv", index_col=0)
    np.testing.assert_allclose(written.to_numpy(), rho.to_numpy(), atol=1e-12)
    table = pd.read_csv(tmp_path / "o" / "edges.csv")
    assert len(table) == 30 * 29 // 2 and table["qvalue"].isna().all()
    found = int((rho.to_numpy()[np.triu_indices(30, k=1)] != 0).sum())
    if method == "glasso":
        assert f"edges non-zero in the graphical lasso: {found} of 435 pairs" in out
    else:
        assert "edges: none selected, as there are no q-values to select them by" in out


def test_the_unnamed_index_column_of_to_csv_is_not_a_part(tmp_path, capsys):
    data = coda.simulate(30, 4, graph="chain", seed=0).data.reset_index(drop=True)
    path = tmp_path / "unnamed.csv"
    data.to_csv(path)  # header ",p01,...": the row numbers, from 0
    code, _out, err = run(["pcor", path, "--out", tmp_path / "o"], capsys)
    assert code == 0, err
    written = pd.read_csv(tmp_path / "o" / "pcor.csv", index_col=0)
    assert list(written.columns) == ["p01", "p02", "p03", "p04"]
    np.testing.assert_allclose(written.to_numpy(), coda.pcor(data).to_numpy(), atol=1e-12)


def test_repeated_column_names_are_refused(tmp_path, capsys):
    data = coda.simulate(30, 4, graph="chain", seed=0).data
    data.columns = ["a", "b", "a", "c"]
    path = tmp_path / "dup.csv"
    data.to_csv(path, index=False)
    code, _out, err = run(["pcor", path, "--out", tmp_path / "o"], capsys)
    assert code == 2
    assert err == (
        f"coda: error: DATA.csv {str(path)!r} names more than one column a; every part "
        "needs its own name: rename the columns\n"
    )


def _wide(tmp_path, n, d, name="data.csv"):
    """A CSV of n positive samples of d parts a, b, c, ..."""
    values = np.exp(np.random.default_rng(0).normal(size=(n, d)))
    path = tmp_path / name
    pd.DataFrame(values, columns=list("abcdefghij"[:d])).to_csv(path, index_label="id")
    return path


@pytest.mark.parametrize(
    ("n", "d", "extra", "message"),
    [
        (2, 4, [], "DATA.csv {path!r} has 2 samples; at least 3 are needed"),
        (
            5,
            2,
            [],
            "DATA.csv {path!r} has 2 parts; at least 3 are needed (parts are columns: pass one "
            "row per sample and one column per part)",
        ),
        (
            4,
            8,
            [],
            "DATA.csv {path!r} has 4 samples and 8 parts: the clr covariance has rank at most "
            "3 < D - 1 = 7, so its exact inverse does not exist; use --method shrink, bshrink "
            "or glasso, or fewer parts",
        ),
        (
            30,
            6,
            ["--given", "a,b,c,d,e"],
            "--given names 5 of the 6 parts of DATA.csv {path!r}; at least two parts must "
            "remain outside --given to have a partial correlation: name fewer parts",
        ),
        (30, 6, ["--given", "a,a"], "--given names parts more than once: a"),
        (
            30,
            6,
            ["--given", ""],
            "--given is empty; name the parts to partial out, comma-separated (--given A,B), "
            "or leave --given out to partial out all other parts",
        ),
        (
            30,
            6,
            ["--given", "a", "--method", "glasso"],
            "--given is available with --method exact only; got --method glasso",
        ),
        (
            3,
            6,
            ["--given", "a,b"],
            "DATA.csv {path!r} has 3 samples, too few to partial out 2 parts (--given): at "
            "least 4 samples are needed; name fewer parts with --given",
        ),
    ],
    ids=[
        "samples",
        "parts",
        "exact-rank",
        "given-all",
        "given-twice",
        "given-empty",
        "given-glasso",
        "given-samples",
    ],
)
def test_pcor_errors_name_the_file_and_the_options(tmp_path, capsys, n, d, extra, message):
    path = _wide(tmp_path, n, d)
    code, out, err = run(["pcor", path, *extra, "--out", tmp_path / "o"], capsys)
    assert code == 2
    assert out == ""
    assert err == f"coda: error: {message.format(path=str(path))}\n"
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("column", "given", "match"),
    [
        (lambda v: 2 * v[:, 0], "a,b", "--given a,b: part 'e' is determined by the parts in"),
        (lambda v: 3 * v[:, 1], "a,b,e", "--given a,b,e: the log-ratios among the parts in"),
    ],
    ids=["determined", "collinear"],
)
def test_pcor_given_that_the_data_make_singular_names_given(
    tmp_path, capsys, column, given, match
):
    values = np.exp(np.random.default_rng(1).normal(size=(30, 5)))
    values[:, 4] = column(values)
    path = tmp_path / "data.csv"
    pd.DataFrame(values, columns=list("abcde")).to_csv(path, index_label="id")
    code, out, err = run(["pcor", path, "--given", given, "--out", tmp_path / "o"], capsys)
    assert code == 2
    assert out == ""
    assert err.startswith(f"coda: error: {match}")
    assert err.count("\n") == 1


def test_pcor_negative_values_name_the_file(tmp_path, capsys):
    path = tmp_path / "neg.csv"
    path.write_text("a,b,c,d\n1,-2,3,1\n2,3,4,1\n3,1,2,2\n4,4,1,3\n")
    code, _, err = run(["pcor", path, "--out", tmp_path / "o"], capsys)
    assert code == 2
    assert err.startswith(f"coda: error: DATA.csv {str(path)!r} contains 1 negative values")


def test_roman_glass_n_boot_names_the_option(tmp_path, monkeypatch, capsys):
    _glass_env(monkeypatch, tmp_path)
    code, out, err = run(["roman-glass", "--n-boot", "0", "--out", tmp_path / "o"], capsys)
    assert code == 2
    assert out == ""
    assert err == "coda: error: --n-boot=0; expected an integer >= 1\n"
    assert not (tmp_path / "o").exists()


def test_merge_stats_help_shows_the_default_out(capsys):
    with pytest.raises(SystemExit):
        main(["merge-stats", "--help"])
    assert "output directory (default: merge-stats)" in " ".join(capsys.readouterr().out.split())


def test_pcor_of_collinear_parts_names_the_option(tmp_path, capsys):
    # a log-contrast dependency is found only by the estimate; the message
    # named method='shrink', a Python argument
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(np.exp(rng.normal(size=(30, 5))), columns=list("abcde"))
    frame["f"] = frame["a"] * frame["b"] / frame["c"]
    path = tmp_path / "contrast.csv"
    frame.to_csv(path, index=False)
    code, _, err = run(["pcor", path, "--out", tmp_path / "o"], capsys)
    assert code == 2
    assert "numerically singular" in err
    assert "(--method shrink, bshrink or glasso)" in err and "method=" not in err
