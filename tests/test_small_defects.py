"""Small defects of the command, graphs, the accessor and the Roman cups loader.

Each test failed on the code before its fix (or pins a rule that was
examined and kept, as said in the test): rows named from 0 by the command;
a test table by position matched to a labelled matrix by network_from_pcor;
the accessor's check of a label naming two columns outside coda._validation;
DataFrame.attrs lost by df.coda's transforms; a truncated or changed copy of
the Roman cups in CODA_DATA_DIR loaded without a word.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

import coda
from coda.cli import main

# The CI runner sets CODA_DATA_DIR; read before any test changes it.
REAL_DATA_DIR = os.environ.get("CODA_DATA_DIR")


def run(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _refused(argv, capsys) -> str:
    code, out, err = run(argv, capsys)
    assert (code, out) == (2, "")
    assert err.startswith("coda: error: ") and err.count("\n") == 1
    return err


# --- 1. the command names rows a user finds in the file ------------------------------

GOOD = ["0.2,0.3,0.4,0.1", "0.1,0.4,0.2,0.3", "0.2,0.2,0.2,0.4", "0.1,0.1,0.7,0.1"]


def _file(tmp_path, rows, *, header="a,b,c,d", name="data.csv") -> Path:
    path = tmp_path / name
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize(
    ("bad", "options", "said"),
    [
        ("0.3,0,0.4,0.3", [], "has 1 zeros (rows 3 on line 4); log-ratios need"),
        ("0.3,,0.4,0.3", [], "in columns b (rows 3 on line 4); fill them in"),
        ("0.3,-1,0.4,0.3", [], "contains 1 negative values (rows 3 on line 4)"),
        ("0,0,0,0", [], "has rows whose parts are all zero (rows 3 on line 4)"),
        ("3,0.5,4,3", ["--zeros", "gbm"], "has 1 non-integer values (rows 3 on line 4)"),
    ],
    ids=["zeros", "empty-cell", "negative", "all-zero", "zeros-option"],
)
def test_rows_of_a_file_without_identifiers_are_counted_from_1_with_their_line(
    tmp_path, capsys, bad, options, said
):
    # The rows were pandas' positions from 0 ("rows 2" for the third sample,
    # on line 4), which no one finds in the file.
    counts = ["2,3,4,1", "1,4,2,3", "2,2,2,4", "1,1,7,1"]
    rows = counts if options else GOOD
    path = _file(tmp_path, [*rows[:2], bad, *rows[2:]])
    err = _refused(["pcor", path, "--out", tmp_path / "o", *options], capsys)
    assert err.startswith(f"coda: error: DATA.csv {str(path)!r} ")
    assert said in err


def test_the_line_of_a_row_counts_the_blank_lines_pandas_skips(tmp_path, capsys):
    path = tmp_path / "blank.csv"
    path.write_text(
        "\na,b,c,d\n" + GOOD[0] + "\n\n   \n" + GOOD[1] + "\n0.3,0,0.4,0.3\n" + "\n".join(GOOD[2:])
    )
    err = _refused(["pcor", path, "--out", tmp_path / "o"], capsys)
    assert "has 1 zeros (rows 3 on line 7)" in err


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ('"a","b"\n1,2\n\n3,4\n', ["1 on line 2", "2 on line 4"]),
        ("a,b\r\n1,2\r\n\r\n3,4\r\n", ["1 on line 2", "2 on line 4"]),
        ('a,b\n"1\n",2\n3,4\n', ["1 on line 2", "2 on line 4"]),
        ("a,b\r1,2\r\r3,4\r", ["1 on line 2", "2 on line 4"]),
        ("a,b\n1,2\n,\n3,4", ["1 on line 2", "2 on line 3", "3 on line 4"]),
    ],
    ids=["quoted-header", "crlf", "quoted-line-break", "cr", "row-of-commas"],
)
def test_the_line_of_each_row_is_the_one_an_editor_shows(tmp_path, text, names):
    from coda._cli_checks import _row_names

    path = tmp_path / "data.csv"
    path.write_bytes(text.encode())
    assert len(pd.read_csv(path, index_col=False)) == len(names)
    assert _row_names(path, len(names)) == names


def test_rows_of_a_file_with_identifiers_are_named_by_them(tmp_path, capsys):
    rows = [f"s{k + 1},{r}" for k, r in enumerate([*GOOD[:2], "0.3,0,0.4,0.3", *GOOD[2:]])]
    path = _file(tmp_path, rows, header="sample,a,b,c,d")
    err = _refused(["pcor", path, "--out", tmp_path / "o"], capsys)
    assert "has 1 zeros (rows s3); log-ratios need" in err


def test_a_file_without_identifiers_still_runs(tmp_path, capsys):
    rows = [*GOOD, "0.3,0.1,0.4,0.2"]
    code, out, err = run(["pcor", _file(tmp_path, rows), "--out", tmp_path / "o"], capsys)
    assert (code, err) == (0, "")
    assert "5 samples, 4 parts" in out


# --- 2. the header rule of the command is its own (kept, with its reason) ------------


def test_the_header_check_keeps_its_own_rule_of_whole_numbers(tmp_path, capsys):
    # numbers_as_text takes 12.0 for an identifier; as a header it is data
    # (counts that pandas wrote as floats), so the command keeps its rule.
    from coda._validation import numbers_as_text

    first = ["12.0", "40.0", "7.0", "5.0"]
    assert numbers_as_text(first) is None
    path = _file(tmp_path, ["2,3,4,1", "1,4,2,3", "2,2,2,4", "1,1,7,1"], header=",".join(first))
    err = _refused(["pcor", path, "--out", tmp_path / "o"], capsys)
    assert "has no header row: its first row (12.0, 40.0, 7.0, 5.0) holds numbers" in err


# --- 3. network_from_pcor refuses a positional test table with a labelled matrix ----


@pytest.fixture(scope="module")
def chain():
    return coda.simulate(200, 5, graph="chain", seed=1).data


def test_network_from_pcor_refuses_a_table_by_position_for_a_labelled_matrix(chain):
    # It matched the positions to the labels in column order; plot_pcor_heatmap
    # refuses the same pair.
    rho, positional = coda.pcor(chain), coda.pcor_test(chain.to_numpy())
    message = (
        r"^tests names the parts by position \(0, 1, 2, 3, 4\), as coda.pcor_test does for "
        r"an array, but pcor is a DataFrame labelled by parts \('p01', 'p02', 'p03', 'p04', "
        r"'p05'\); pass the test table of the labelled data, coda.pcor_test\(x\) with x a "
        r"DataFrame, or match by position with pcor.to_numpy\(\)$"
    )
    with pytest.raises(ValueError, match=message):
        coda.network_from_pcor(rho, tests=positional, rule="fdr")
    # plot_pcor_heatmap gives the same message, naming its own argument.
    heatmap = message.replace("pcor is", "matrix is").replace("pcor.to", "matrix.to")
    with pytest.raises(ValueError, match=heatmap):
        coda.plot_pcor_heatmap(rho, tests=positional)
    # Each matched as it is named: positions to an array, labels to labels.
    by_position = coda.network_from_pcor(rho.to_numpy(), tests=positional, rule="fdr")
    by_label = coda.network_from_pcor(rho, tests=coda.pcor_test(chain), rule="fdr")
    assert by_position.number_of_edges() == by_label.number_of_edges() == 4


def test_network_from_pcor_matches_integer_labels_by_label(chain):
    for labels in ([10, 20, 30, 40, 50], [4, 3, 2, 1, 0]):
        x = chain.set_axis(labels, axis=1)
        rho, tests = coda.pcor(x), coda.pcor_test(x)
        G = coda.network_from_pcor(rho, tests=tests, rule="fdr")
        chosen = tests[tests["qvalue"] <= 0.05]
        expected = {
            frozenset((str(a), str(b))) for a, b in zip(chosen.part_i, chosen.part_j, strict=True)
        }
        assert {frozenset(e) for e in G.edges} == expected
    x = chain.set_axis([10, 20, 30, 40, 50], axis=1)
    with pytest.raises(ValueError, match=r"tests names the parts by position \(0, 1, 2, 3, 4\)"):
        coda.network_from_pcor(coda.pcor(x), tests=coda.pcor_test(x.to_numpy()))


# --- 4. the accessor's "label names two columns" check is in coda._validation --------


def test_a_label_naming_two_columns_is_checked_in_validation():
    from coda._validation import check_one_column

    frame = pd.DataFrame([[1.0, 2.0, 3.0]], columns=["a", "b", "a"])
    with pytest.raises(
        ValueError,
        match=r"^groups='a' names 2 columns \(positions 0, 2\); pass one of them, e\.g\. "
        r"groups=df\.iloc\[:, 2\], or rename the others$",
    ):
        check_one_column(frame, "a", "groups")
    mixed = pd.DataFrame({"x": [1.0], "g": ["north"], "y": [2.0]}).set_axis(
        ["a", "a", "b"], axis=1
    )
    assert check_one_column(mixed, "a", "groups") == 1  # the ignored column, not the part
    assert check_one_column(mixed, "b", "groups") == 2


# --- 5. df.coda keeps attrs on results with the frame's rows ------------------------


def test_transforms_keep_the_attrs_of_the_frame_and_matrices_do_not():
    df = pd.DataFrame(
        {
            "id": ["a", "b", "c"],
            "Si": [4.0, 1.0, 2.0],
            "Al": [2.0, 1.0, 3.0],
            "Fe": [1.0, 1.0, 1.0],
        }
    )
    df.attrs = {"source": "lab", "units": {"Si": "%"}}
    before = df.copy()
    for method in ("closure", "clr", "alr", "ilr", "replace_zeros"):
        result = getattr(df.coda, method)()
        # alr and ilr also keep coda's record of the parts behind their columns.
        frames = {k: v for k, v in result.attrs.items() if not k.startswith("coda.")}
        assert frames == df.attrs, method
    assert df.coda.clr().coda.clr_inv().attrs == df.attrs
    assert df.coda.alr().coda.alr_inv().attrs == df.attrs
    assert df.coda.ilr().coda.ilr_inv().attrs == df.attrs

    # A copy, as pandas' __finalize__ makes: changing it leaves the frame's alone.
    result = df.coda.clr()
    result.attrs["units"]["Si"] = "ppm"
    assert df.attrs == {"source": "lab", "units": {"Si": "%"}}
    pd.testing.assert_frame_equal(df, before)
    # Matrices of parts x parts are another kind of table (pandas' own df.cov()
    # keeps attrs; coda's describe the parts, not the samples).
    assert df.coda.variation().attrs == {} and df.coda.clr_cov().attrs == {}


@pytest.mark.parametrize("attrs", [{}, {"source": "lab"}])
def test_alr_and_ilr_round_trips_give_the_parts_back_whatever_the_attrs(attrs):
    # The frame's attrs replaced coda's record of the parts (pandas' __finalize__
    # copies the whole dict): alr_inv put the reference last, ilr_inv numbered
    # the parts 0, 1, 2.
    df = pd.DataFrame({"Si": [4.0, 1.0], "Al": [2.0, 1.0], "Fe": [1.0, 1.0]})
    df.attrs = attrs
    assert list(df.coda.alr(ref="Si").coda.alr_inv().columns) == ["Si", "Al", "Fe"]
    assert list(df.coda.ilr().coda.ilr_inv().columns) == ["Si", "Al", "Fe"]
    numbered = df.set_axis([1, 2, 3], axis=1)
    numbered.attrs = attrs
    assert list(numbered.coda.alr(ref=0).coda.alr_inv().columns) == [1, 2, 3]
    # A record the frame carries (copied from an alr result) does not pass to a clr.
    stale = df.copy()
    stale.attrs = {**attrs, "coda.alr": df.coda.alr(ref="Si").attrs["coda.alr"]}
    assert stale.coda.clr().attrs == attrs


def test_series_transforms_keep_the_attrs_of_the_series():
    s = pd.Series({"Si": 4.0, "Al": 2.0, "Fe": 1.0})
    s.attrs = {"sample": "cup 7"}
    assert s.coda.clr().attrs == {"sample": "cup 7"}
    assert s.coda.closure(total=100).attrs == {"sample": "cup 7"}
    assert pd.Series({"Si": 1.0, "Al": 2.0}).coda.clr().attrs == {}


# --- 7. a truncated or changed copy of the Roman cups in CODA_DATA_DIR ----------------


@pytest.fixture
def published() -> bytes:
    if REAL_DATA_DIR and (Path(REAL_DATA_DIR) / "roman_cups.csv").exists():
        return (Path(REAL_DATA_DIR) / "roman_cups.csv").read_bytes()
    if os.environ.get("CI"):
        pytest.fail("CODA_DATA_DIR/roman_cups.csv is missing in CI; .ci/run must set it")
    pytest.skip("set CODA_DATA_DIR to the folder holding roman_cups.csv")


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setenv("CODA_DATA_DIR", str(folder))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return folder


def test_the_shared_copy_still_loads(published, data_dir):
    (data_dir / "roman_cups.csv").write_bytes(published)
    cups = coda.load_roman_cups(download=False)
    assert cups.shape == (47, 11) and cups.index.tolist() == list(range(1, 48))


def test_a_copy_written_otherwise_with_the_same_values_loads(published, data_dir):
    # Line endings and how numbers are written are not the data.
    cups = coda.load_roman_cups(path=_saved(data_dir.parent, published))
    cups.to_csv(data_dir / "roman_cups.csv", lineterminator="\r\n", float_format="%.4f")
    pd.testing.assert_frame_equal(coda.load_roman_cups(download=False), cups)


def _saved(folder: Path, data: bytes) -> Path:
    path = folder / "elsewhere.csv"
    path.write_bytes(data)
    return path


def test_a_copy_cut_at_a_line_end_is_refused_as_truncated(published, data_dir):
    text = published.decode()
    cut = text[: text.index("\n45,") + 1]  # cups 1 to 44
    (data_dir / "roman_cups.csv").write_text(cut)
    with pytest.raises(ValueError, match="the file is truncated or rows were deleted") as info:
        coda.load_roman_cups(download=False)
    where = str(data_dir / "roman_cups.csv")
    assert str(info.value) == (
        f"CODA_DATA_DIR={where!r} holds 44 of the 47 rows of the published data, without "
        "cup 45, cup 46, cup 47: the file is truncated or rows were deleted; to analyse a "
        f"table of your own instead, name it with path=; CODA_DATA_DIR={str(data_dir)!r} is "
        "read before the cache and any download: put a good copy of roman_cups.csv there, "
        "or unset CODA_DATA_DIR"
    )
    # A table of one's own is still read from path=, as it is.
    assert coda.load_roman_cups(path=data_dir / "roman_cups.csv").shape == (44, 11)


def test_a_copy_with_a_cup_added_is_refused_naming_it(published, data_dir):
    # A 48th cup was reported as a cup whose values differ from the published ones.
    text = published.decode()
    last = text.rstrip("\n").rsplit("\n", 1)[1]
    extra = "48," + last.split(",", 1)[1]
    (data_dir / "roman_cups.csv").write_text(text.rstrip("\n") + "\n" + extra + "\n")
    with pytest.raises(
        ValueError,
        match=r"is a copy of the published data with rows they do not have \(cup 48; the "
        r"published data have cups 1 to 47\): the file was changed; to analyse a table",
    ):
        coda.load_roman_cups(download=False)


def test_a_table_of_other_values_in_coda_data_dir_is_read_as_it_is(data_dir):
    # Not a copy of the published data: as before, nothing to compare it with.
    mine = pd.DataFrame(
        [[70.0, 2.0, 0.3, 0.5, 6.0, 18.0, 0.5, 0.07, 0.05, 0.02, 0.3]] * 2,
        columns=["Si", "Al", "Fe", "Mg", "Ca", "Na", "K", "Ti", "P", "Mn", "Sb"],
        index=pd.Index([1, 2], name="cup"),
    )
    mine.to_csv(data_dir / "roman_cups.csv")
    pd.testing.assert_frame_equal(coda.load_roman_cups(download=False), mine)


@pytest.mark.parametrize("damage", ["last-digit-cut", "digit-changed"])
def test_a_copy_with_changed_values_is_refused(published, data_dir, damage):
    text = published.decode()
    if damage == "last-digit-cut":
        changed = text.rstrip("\n")[:-1]  # the last value loses its last digit
    else:
        changed = text.replace("75.2,", "76.2,", 1)
    (data_dir / "roman_cups.csv").write_text(changed)
    cup = "cup 47" if damage == "last-digit-cut" else "cup 1"
    with pytest.raises(
        ValueError,
        match=rf"is a copy of the published data whose values differ from them in {cup}: the "
        "file is damaged or was changed; to analyse a table of your own instead, name it with "
        "path=",
    ):
        coda.load_roman_cups(download=False)


def test_roman_glass_names_its_option_for_a_truncated_copy(published, data_dir, capsys):
    text = published.decode()
    (data_dir / "roman_cups.csv").write_text(text[: text.index("\n40,") + 1])
    err = _refused(["roman-glass", "--out", data_dir.parent / "report"], capsys)
    assert "holds 39 of the 47 rows of the published data, without cup 40, cup 41" in err
    assert "name it with --path;" in err and "path=" not in err
    assert not (data_dir.parent / "report").exists()
