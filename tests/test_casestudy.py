"""Tests of coda/casestudy.py and the ``coda roman-glass`` command."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings

import coda
from coda import balance_correlation
from coda.casestudy import alr_pcor, case_figures, pair_table, write_report
from coda.cli import main
from tests.strategies import full_rank_compositions


def _paper_balances(x, i, j):
    """The symmetric pivot coordinates of parts i and j, written as in Kynclova et al. (2017)."""
    d = x.shape[1]
    rest = [k for k in range(d) if k not in (i, j)]
    g = d - 1 + np.sqrt(d * (d - 2))
    p1 = np.sqrt(g) / np.sqrt(2 * d)
    p3 = (np.sqrt(d - 2) + np.sqrt(d)) / (np.sqrt(d - 2) * g)
    p4 = 1 / g
    rest_prod = np.prod(x[:, rest], axis=1)
    z1 = p1 * np.log(x[:, i] / (x[:, j] ** p4 * rest_prod**p3))
    z2 = p1 * np.log(x[:, j] / (x[:, i] ** p4 * rest_prod**p3))
    return z1, z2


@settings(max_examples=25, deadline=None)
@given(full_rank_compositions(min_parts=3, max_parts=7))
def test_balance_correlation_matches_the_paper_formula(x):
    r = balance_correlation(x)
    d = x.shape[1]
    assert r.shape == (d, d)
    np.testing.assert_allclose(r, r.T, atol=1e-12)
    np.testing.assert_array_equal(np.diag(r), 1.0)
    for i in range(d):
        for j in range(i + 1, d):
            z1, z2 = _paper_balances(x, i, j)
            assert r[i, j] == pytest.approx(np.corrcoef(z1, z2)[0, 1], abs=1e-8)


def test_balance_correlation_keeps_part_labels_of_any_type():
    x = pd.DataFrame(
        np.exp(np.random.default_rng(1).normal(size=(20, 4))), columns=[10, 20, 30, 40]
    )
    r = balance_correlation(x)
    assert list(r.index) == list(r.columns) == [10, 20, 30, 40]
    np.testing.assert_array_equal(r.to_numpy(), balance_correlation(x.to_numpy()))


@pytest.mark.parametrize("d", [3, 4, 7, 11])
def test_symmetric_balances_are_orthonormal_log_contrasts(d):
    # The coefficient vectors of z1 and z2 on ln x: each sums to zero (a log
    # contrast), has unit norm and they are orthogonal, as ilr coordinates must be.
    g = d - 1 + np.sqrt(d * (d - 2))
    p1 = np.sqrt(g / (2 * d))
    c = (np.sqrt(d - 2) + np.sqrt(d)) / (np.sqrt(d - 2) * g)
    a1 = p1 * np.r_[1.0, -1 / g, np.full(d - 2, -c)]
    a2 = p1 * np.r_[-1 / g, 1.0, np.full(d - 2, -c)]
    assert a1.sum() == pytest.approx(0, abs=1e-12)
    assert a1 @ a1 == pytest.approx(1, rel=1e-12)
    assert a2 @ a2 == pytest.approx(1, rel=1e-12)
    assert a1 @ a2 == pytest.approx(0, abs=1e-12)


def test_balance_correlation_labels_scale_invariance_and_input():
    sim = coda.simulate(40, 5, seed=3)
    frame = sim.data
    before = frame.copy()
    r = balance_correlation(frame)
    assert list(r.index) == list(r.columns) == list(frame.columns)
    pd.testing.assert_frame_equal(frame, before)
    scaled = frame.to_numpy() * np.arange(1, 41)[:, None]
    np.testing.assert_allclose(balance_correlation(scaled), r.to_numpy(), atol=1e-10)
    with pytest.raises(ValueError, match="x"):
        balance_correlation(frame.iloc[:, :2])


@settings(max_examples=20, deadline=None)
@given(full_rank_compositions(min_parts=4, max_parts=7))
def test_alr_pcor_is_pcor_from_every_reference(x):
    check = alr_pcor(x, pair=[0, 2])
    assert list(check.index) == [f"x{k + 1}" for k in range(x.shape[1]) if k not in (0, 2)]
    np.testing.assert_allclose(check.to_numpy(), coda.pcor(x)[0, 2], atol=1e-7)


@pytest.mark.parametrize(
    ("pair", "match"),
    [
        ("p01", "expected two distinct parts"),
        (["p01"], "two distinct"),
        (["p01", "p01"], "more than once"),
        (["p01", "zz"], "'zz' is not a part"),
    ],
)
def test_alr_pcor_pair_errors(pair, match):
    x = coda.simulate(30, 5, seed=1).data
    with pytest.raises(ValueError, match=match):
        alr_pcor(x, pair=pair)


def test_pair_table_columns_from_independent_computations():
    x = coda.simulate(60, 6, graph="chain", seed=5).data
    table = pair_table(x, given=["p01", "p04"], n_boot=100, seed=0)
    assert list(table.columns) == [
        "part_i",
        "part_j",
        "pearson",
        "variation",
        "rho",
        "balance_cor",
        "pcor",
        "qvalue",
        "lower",
        "upper",
        "pcor_given",
    ]
    closed = x.div(x.sum(axis=1), axis=0)
    logs = np.log(x)
    rho_given = coda.pcor(x, given=["p01", "p04"])
    for row in table.itertuples():
        a, b = row.part_i, row.part_j
        assert row.pearson == pytest.approx(closed[a].corr(closed[b]), abs=1e-12)
        assert row.variation == pytest.approx((logs[a] - logs[b]).var(ddof=1), rel=1e-10)
        # Proportionality rho = 1 - var(ln a/b) / (var clr_a + var clr_b).
        clr = logs.sub(logs.mean(axis=1), axis=0)
        expected = 1 - row.variation / (clr[a].var() + clr[b].var())
        assert row.rho == pytest.approx(expected, abs=1e-10)
        assert row.lower <= row.pcor <= row.upper
        if "p01" in (a, b) or "p04" in (a, b):
            assert np.isnan(row.pcor_given)
        else:
            assert row.pcor_given == pytest.approx(rho_given.loc[a, b], abs=1e-12)
    # pcor from the pseudo-inverse of the clr covariance; its t tests with
    # n - D + 1 degrees of freedom, Benjamini-Hochberg by statsmodels; the
    # balance correlations from the paper's coordinates.
    from scipy import stats
    from statsmodels.stats.multitest import multipletests

    n, d = x.shape
    clr_values = logs.sub(logs.mean(axis=1), axis=0).to_numpy()
    omega = np.linalg.pinv(np.cov(clr_values.T))
    scale = 1 / np.sqrt(np.diag(omega))
    expected_pcor = -omega * scale[:, None] * scale[None, :]
    i, j = (np.array([x.columns.get_loc(p) for p in table[c]]) for c in ("part_i", "part_j"))
    np.testing.assert_allclose(table["pcor"], expected_pcor[i, j], atol=1e-10)
    df = n - d + 1
    r = expected_pcor[i, j]
    pvalues = 2 * stats.t.sf(np.abs(r * np.sqrt(df / (1 - r**2))), df)
    np.testing.assert_allclose(
        table["qvalue"], multipletests(pvalues, method="fdr_bh")[1], rtol=1e-8
    )
    values = x.to_numpy()
    for row, a, b in zip(table.itertuples(), i, j, strict=True):
        z1, z2 = _paper_balances(values, a, b)
        assert row.balance_cor == pytest.approx(np.corrcoef(z1, z2)[0, 1], abs=1e-8)
    again = pair_table(x, given=["p01", "p04"], n_boot=100, seed=0)
    pd.testing.assert_frame_equal(table, again)
    assert "pcor_given" not in pair_table(x, n_boot=50, seed=0)


def test_figures_and_report_on_simulated_data(tmp_path):
    x = coda.simulate(50, 5, graph="chain", seed=7).data
    figures = case_figures(x, seed=0)
    assert len(figures["raw_vs_logratio"].axes[0].collections) == 2
    files = write_report(x, tmp_path / "r", given=["p02"], n_boot=100, seed=1)
    assert files[0].name == "report.md"
    text = files[0].read_text()
    for f in files[1:]:
        assert f.stat().st_size > 0
        if f.suffix == ".png":
            assert f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            assert f"]({f.name})" in text
    assert "## Partialling out only p02" in text
    assert (
        "Partialling out"
        not in write_report(x, tmp_path / "s", given=None, n_boot=50)[0].read_text()
    )
    with pytest.raises(ValueError, match="n_boot"):
        write_report(x, tmp_path / "t", n_boot=0)


def test_report_into_a_file_is_refused_before_any_work(tmp_path, monkeypatch):
    import coda.casestudy as casestudy

    def not_called(*args, **kwargs):
        raise AssertionError("the analysis ran before out was checked")

    monkeypatch.setattr(casestudy, "pair_table", not_called)
    x = coda.simulate(50, 5, graph="chain", seed=7).data
    afile = tmp_path / "report.txt"
    afile.write_text("keep me")
    for out in (afile, afile / "sub"):
        with pytest.raises(NotADirectoryError) as info:
            write_report(x, out, given=["p02"], n_boot=50)
        where = "is a file" if out == afile else f"is inside {str(afile)!r}, a file"
        assert str(info.value) == (
            f"out={str(out)!r} {where}; it must be a folder: pass a folder (created if missing)"
        )
    assert afile.read_text() == "keep me"


def _cups_folder() -> Path | None:
    folder = os.environ.get("CODA_DATA_DIR")
    if folder and (Path(folder) / "roman_cups.csv").exists():
        return Path(folder)
    return None


def test_roman_glass_command_writes_the_report(tmp_path, capsys):
    if _cups_folder() is None:
        if os.environ.get("CI"):
            pytest.fail("CODA_DATA_DIR/roman_cups.csv is missing in CI; .ci/run must set it")
        pytest.skip("set CODA_DATA_DIR to the folder holding roman_cups.csv")
    out = tmp_path / "report"
    code = main(["roman-glass", "--out", str(out), "--n-boot", "200"])
    stdout, err = capsys.readouterr()
    assert code == 0, err
    assert "47 cups, 11 oxides" in stdout
    names = {p.name for p in out.iterdir()}
    assert {"report.md", "pairs.csv", "variances.csv", "alr_check.csv"} <= names
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) == 5
    assert all(p.stat().st_size > 1000 for p in pngs)
    pairs = pd.read_csv(out / "pairs.csv")
    assert len(pairs) == 55
    check = pd.read_csv(out / "alr_check.csv", index_col=0)
    np.testing.assert_allclose(check["pcor"], 0.726681, atol=5e-6)  # Al-Fe, 9 references
    assert "Al-Fe" in (out / "report.md").read_text()


def test_roman_glass_command_without_data_exits_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CODA_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    code = main(["roman-glass", "--out", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err.startswith("coda: error: the Roman cups data are not available")
    assert "CODA_DATA_DIR" in err
    # The options of the command, not the arguments of load_roman_cups.
    assert "no --path was given" in err and "name either file with --path;" in err
    assert "--download was not given" in err and "--download caches it" in err
    assert "path=" not in err and "download=" not in err
    assert err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def _oxides(n=47, seed=3):
    """Simulated percentages under the cups' column names and index."""
    parts = ["Si", "Al", "Fe", "Mg", "Ca", "Na", "K", "Ti", "P", "Mn", "Sb"]
    frame = coda.simulate(n, 11, seed=seed).data * 100
    frame.columns = parts
    frame.index = pd.RangeIndex(1, n + 1, name="cup")
    return frame


def test_roman_glass_command_reads_the_file_given_with_path(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CODA_DATA_DIR", str(tmp_path / "no-data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "no-cache"))
    cups = _oxides()
    csv = tmp_path / "mine.csv"
    cups.to_csv(csv)
    out = tmp_path / "report"
    code = main(["roman-glass", "--path", str(csv), "--out", str(out), "--n-boot", "20"])
    stdout, err = capsys.readouterr()
    assert code == 0, err
    assert "47 cups, 11 oxides" in stdout
    variances = pd.read_csv(out / "variances.csv", index_col=0)
    expected = np.diag(coda.clr_cov(cups))
    np.testing.assert_allclose(variances["clr_variance"], expected, rtol=1e-6)


def test_roman_glass_command_reads_r_data_with_path(tmp_path, monkeypatch, capsys):
    import coda.casestudy as casestudy

    seen = []
    monkeypatch.setattr(casestudy, "write_report", lambda x, out, **kw: seen.append(x) or [])
    rdata = Path(__file__).parent / "reference" / "rdata" / "named.RData"
    code = main(["roman-glass", "--path", str(rdata), "--out", str(tmp_path / "o")])
    _, err = capsys.readouterr()
    assert code == 0, err
    assert seen[0].index.tolist() == [3, 7, 11, 12]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("missing.csv", "--path={file!r} is not an existing file; check the spelling"),
        (".", "--path={file!r} is a folder; it must name the file itself"),
        ("cups.txt", "--path={file!r} has the suffix '.txt'; expected a CSV file (.csv) or"),
    ],
    ids=["missing", "folder", "suffix"],
)
def test_roman_glass_path_errors_name_the_option(tmp_path, capsys, name, message):
    (tmp_path / "cups.txt").write_text("cup,Si\n")
    file = str(tmp_path / name) if name != "." else str(tmp_path)
    code = main(["roman-glass", "--path", file, "--out", str(tmp_path / "o")])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err.startswith(f"coda: error: {message.format(file=file)}")
    assert not (tmp_path / "o").exists()


def test_roman_glass_names_a_path_too_small_for_the_analysis(tmp_path, capsys):
    # the analysis' own message ("x has 4 samples") did not say which data failed
    small = tmp_path / "c4.csv"
    small.write_text(
        "cup,Si,Al,Fe,Mg,Ca,Na,K,Ti,P,Mn,Sb\n"
        + "\n".join(
            f"{k},75.{k},1.8,0.26,0.4{k},5.0,16.3,0.44,0.06,0.04,0.01,0.3{k}" for k in range(1, 5)
        )
        + "\n"
    )
    code = main(
        ["roman-glass", "--path", str(small), "--n-boot", "20", "--out", str(tmp_path / "o")]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(
        f"coda: error: --path {str(small)!r} (4 cups; the published data have 47)"
    )
    assert not (tmp_path / "o").exists()
