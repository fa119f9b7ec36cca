"""The ``coda`` command on the files and options a user gets wrong: each message names them."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import coda
from coda.cli import main
from coda.merging import write_checkpoint

ROWS = ["2,3,4,1", "3,1,2,2", "1,1,2,3", "2,2,1,1", "3,4,1,2"]


def run(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _csv(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _refused(argv, capsys, out_dir):
    """Run ``argv``; check exit code 2, one line on stderr, nothing written; return stderr."""
    code, out, err = run(argv, capsys)
    assert code == 2
    assert out == ""
    assert err.startswith("coda: error: ") and err.count("\n") == 1
    assert not out_dir.exists()
    return err


@pytest.mark.parametrize(
    ("cell", "fix"),
    [("<0.01", "as 0 and pass --zeros multiplicative"), ('"1,5"', "decimals with a point")],
    ids=["detection-limit", "decimal-comma"],
)
def test_first_part_holding_numbers_as_text_is_not_dropped_as_identifiers(
    tmp_path, capsys, cell, fix
):
    # The first column was taken as sample identifiers because one cell made it
    # text: part a was left out and the network of b, c, d came back, exit 0.
    path = _csv(tmp_path, "a,b,c,d\n" + f"{cell},2,3,4\n" + "\n".join(ROWS) + "\n")
    err = _refused(["pcor", path, "--out", tmp_path / "o"], capsys, tmp_path / "o")
    assert err.startswith(
        f"coda: error: DATA.csv {str(path)!r} has numbers written as text in columns a (e.g. "
    )
    assert fix in err
    assert "name it with --index-col" in err


def test_numbers_as_text_in_a_later_column_name_the_cell(tmp_path, capsys):
    # The message was "data.csv has non-numeric columns: a; ... name the
    # identifier column with --index-col", which does not fit a part column.
    path = _csv(
        tmp_path,
        "id,a,b,c,d\ns0,<0.01,2,3,4\n" + "\n".join(f"s{k + 1},{r}" for k, r in enumerate(ROWS)),
    )
    err = _refused(["pcor", path, "--out", tmp_path / "o"], capsys, tmp_path / "o")
    assert err == (
        f"coda: error: DATA.csv {str(path)!r} has numbers written as text in columns a (e.g. "
        "'<0.01'), which would not be read as parts; write a value below a detection limit "
        "such as '<0.01' as 0 and pass --zeros multiplicative; leave only numbers in the part "
        "columns\n"
    )


@pytest.mark.parametrize(("sep", "word"), [(";", "semicolons"), ("\t", "tabs")])
def test_a_file_not_separated_by_commas_is_named_so(tmp_path, capsys, sep, word):
    lines = ["id,a,b,c,d", "s0,1,2,3,4", *(f"s{k},{r}" for k, r in enumerate(ROWS))]
    path = _csv(tmp_path, "\n".join(line.replace(",", sep) for line in lines) + "\n")
    err = _refused(["pcor", path, "--out", tmp_path / "o"], capsys, tmp_path / "o")
    assert err.startswith(f"coda: error: DATA.csv {str(path)!r} is separated by {word}, not ")
    assert "save it as comma-separated CSV" in err


def test_rows_longer_than_the_header_are_refused(tmp_path, capsys):
    # pandas took the first field of such rows as the row labels and read
    # every value under the column to its left
    lines = ["a,b,c,d", *(f"s{k},{r}" for k, r in enumerate(ROWS))]
    path = _csv(tmp_path, "\n".join(lines) + "\n")
    err = _refused(["pcor", path, "--out", tmp_path / "o"], capsys, tmp_path / "o")
    assert "has rows with more fields than its header has names" in err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "id,a,b,c,d\ns0,,2,3,4\n",
            "has 1 empty, NaN or infinite cells, in columns a (rows s0); fill them in, or "
            "delete those rows from the file",
        ),
        (
            "id,a,b,c,d,\ns0,1,2,3,4,\n",
            "has columns with no numbers: one with no name; delete them (a comma at the end "
            "of every line makes one with no name)",
        ),
    ],
    ids=["empty-cell", "trailing-comma"],
)
def test_missing_cells_are_named_without_python_advice(tmp_path, capsys, text, message):
    # The message ended "e.g. x[np.isfinite(x).all(axis=1)]": Python for a shell user.
    trailing = "," if text.split("\n")[0].endswith(",") else ""
    rows = "\n".join(f"s{k + 1},{r}{trailing}" for k, r in enumerate(ROWS))
    path = _csv(tmp_path, text + rows + "\n")
    err = _refused(["pcor", path, "--out", tmp_path / "o"], capsys, tmp_path / "o")
    assert err == f"coda: error: DATA.csv {str(path)!r} {message}\n"


@pytest.mark.parametrize(
    ("text", "zeros", "message"),
    [
        (
            "id,a,b,c,d\ns0,0.1,0,0.3,0.6\n",
            "gbm",
            "has 18 non-integer values (rows s0, s1, s2, s3, s4, ... (1 more)); --zeros gbm "
            "models count zeros, so it needs counts (whole numbers); for proportions, "
            "percentages or concentrations pass --zeros multiplicative",
        ),
        (
            "id,a,b,c,d\ns0,1,0,3,4\n",
            "multiplicative",
            "has parts that are zero in every sample (b); a part never observed carries no "
            "information to replace it from: drop it",
        ),
    ],
    ids=["counts", "part-never-observed"],
)
def test_zero_replacement_errors_name_the_file_and_zeros(tmp_path, capsys, text, zeros, message):
    # They named the Python argument x and method="gbm".
    rows = ["0.2,0,0.4,0.4", "0.3,0,0.2,0.5", "0.1,0,0.2,0.7", "0.2,0,0.1,0.7", "0.3,0,0.1,0.6"]
    path = _csv(tmp_path, text + "\n".join(f"s{k + 1},{r}" for k, r in enumerate(rows)) + "\n")
    argv = ["pcor", path, "--zeros", zeros, "--out", tmp_path / "o"]
    err = _refused(argv, capsys, tmp_path / "o")
    assert err == f"coda: error: DATA.csv {str(path)!r} {message}\n"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--n", "0"], "--n=0; expected an integer of at least 3"),
        (["--parts", "2"], "--parts=2; expected an integer of at least 3"),
        (
            ["--n", "5", "--parts", "10"],
            "--n 5 samples of --parts 10 parts: the clr covariance has rank at most 4 < D - 1 "
            "= 9, so its exact inverse does not exist; pass --n 10 or more, fewer --parts, or "
            "--method shrink, bshrink or glasso",
        ),
    ],
    ids=["n", "parts", "exact-rank"],
)
def test_demo_sizes_name_the_options(tmp_path, capsys, extra, message):
    # They named simulate's n_samples= and n_parts=, and pcor's x.
    err = _refused(["demo", *extra, "--out", tmp_path / "o"], capsys, tmp_path / "o")
    assert err == f"coda: error: {message}\n"


@pytest.mark.parametrize("command", ["pcor", "demo"])
def test_alpha_is_refused_by_glasso_which_does_not_use_it(tmp_path, capsys, command):
    data = coda.simulate(40, 5, graph="chain", seed=0).data
    path = tmp_path / "d.csv"
    data.to_csv(path, index_label="sample")
    argv = ["pcor", path] if command == "pcor" else ["demo", "--parts", "5", "--n", "40"]
    argv += ["--method", "glasso", "--out", tmp_path / "o"]
    err = _refused([*argv, "--alpha", "0.3"], capsys, tmp_path / "o")
    assert err == (
        "coda: error: --alpha is not used by --method glasso, which selects its non-zero "
        "edges; leave it out\n"
    )
    code, out, err = run(argv, capsys)
    assert code == 0, err
    assert "edges non-zero in the graphical lasso" in out


def test_pcor_writes_nothing_when_an_output_name_is_a_folder(tmp_path, capsys):
    # pcor.csv and partial_variance.csv were written, then "[Errno 21] Is a
    # directory: '.../edges.csv'".
    data = coda.simulate(40, 5, graph="chain", seed=0).data
    path = tmp_path / "d.csv"
    data.to_csv(path, index_label="sample")
    out = tmp_path / "o"
    (out / "edges.csv").mkdir(parents=True)
    code, printed, err = run(["pcor", path, "--out", out], capsys)
    assert code == 2 and printed == ""
    assert err == (
        f"coda: error: --out {str(out)!r} holds folders named edges.csv, where coda writes "
        "files; move them away or pass another --out\n"
    )
    assert [p.name for p in out.iterdir()] == ["edges.csv"]


@pytest.fixture
def checkpoints(tmp_path):
    """A base and three fine-tuned safetensors checkpoints of four tensors."""
    rng = np.random.default_rng(0)
    base = {f"layer{i}.weight": rng.normal(size=(6, 5)).astype(np.float32) for i in range(4)}
    base_path = write_checkpoint(base, tmp_path / "base.safetensors")
    paths = [
        write_checkpoint(
            {k: v + rng.normal(0, 0.1, v.shape).astype(np.float32) for k, v in base.items()},
            tmp_path / f"ft{t}.safetensors",
        )
        for t in range(3)
    ]
    return base_path, paths, base


def test_merge_stats_writes_nothing_when_an_output_name_is_a_folder(tmp_path, capsys, checkpoints):
    base_path, paths, _ = checkpoints
    out = tmp_path / "stats"
    (out / "fate.csv").mkdir(parents=True)
    code, _, err = run(["merge-stats", base_path, *paths, "--out", out], capsys)
    assert code == 2
    assert err == (
        f"coda: error: --out {str(out)!r} holds folders named fate.csv, where coda writes "
        "files; move them away or pass another --out\n"
    )
    assert [p.name for p in out.iterdir()] == ["fate.csv"]


@pytest.mark.parametrize("target", ["base", "ft"])
def test_merge_does_not_write_over_an_input_checkpoint(tmp_path, capsys, checkpoints, target):
    # The merged model replaced the base (or a fine-tuned model) it was made from.
    base_path, paths, _ = checkpoints
    victim = base_path if target == "base" else paths[1]
    before = victim.read_bytes()
    code, out, err = run(["merge", base_path, *paths, "--out", victim], capsys)
    assert code == 2 and out == ""
    role = "BASE" if target == "base" else "FT"
    assert err.startswith(f"coda: error: --out {str(victim)!r} would overwrite or remove ")
    assert f", a file of {role} {str(victim)!r}; write the merged model elsewhere" in err
    assert victim.read_bytes() == before


def test_merge_does_not_remove_the_shards_of_a_sharded_base(tmp_path, capsys, checkpoints):
    # A single-file write to base/model.safetensors removed the base's index and
    # shards beside it, as stale output; a second run then merged onto the merge.
    base_path, paths, base = checkpoints
    folder = tmp_path / "base"
    folder.mkdir()
    write_checkpoint(base, folder / "model.safetensors", max_shard_bytes=200)
    files = sorted(p.name for p in folder.iterdir())
    assert "model.safetensors.index.json" in files and len(files) > 2
    for extra in ([], ["--max-shard-bytes", "200"]):
        argv = ["merge", folder, *paths, "--out", folder / "model.safetensors", *extra]
        code, _, err = run(argv, capsys)
        assert code == 2
        assert f"a file of BASE {str(folder)!r}; write the merged model elsewhere" in err
        assert sorted(p.name for p in folder.iterdir()) == files
    # Another name in the same folder is fine.
    code, _, err = run(["merge", folder, *paths, "--out", folder / "merged.safetensors"], capsys)
    assert code == 0, err
    expected = coda.merging.ties_merge(base_path, paths, density=0.2)
    with coda.merging.open_checkpoint(folder / "merged.safetensors") as merged:
        for key, value in expected.items():
            np.testing.assert_array_equal(merged.read(key), value)


@pytest.mark.parametrize(
    ("out", "message"),
    [
        (
            "folder.safetensors",
            "--out {out!r} is a folder; name the output file inside it, e.g. --out {inside!r}",
        ),
        (
            "afile.txt/model.safetensors",
            "--out {out!r}: {parent!r} is a file; it must be a folder: pass another --out",
        ),
    ],
    ids=["folder", "inside-a-file"],
)
def test_merge_out_that_cannot_be_written_names_out(tmp_path, capsys, checkpoints, out, message):
    # "out='x' is a directory" named the Python argument; a file as the folder
    # gave "[Errno 17] File exists".
    base_path, paths, _ = checkpoints
    (tmp_path / "folder.safetensors").mkdir()
    (tmp_path / "afile.txt").write_text("keep")
    target = tmp_path / out
    code, printed, err = run(["merge", base_path, *paths, "--out", target], capsys)
    assert code == 2 and printed == ""
    expected = message.format(
        out=str(target), inside=str(target / "model.safetensors"), parent=str(target.parent)
    )
    assert err == f"coda: error: {expected}\n"
    assert list((tmp_path / "folder.safetensors").iterdir()) == []
    assert (tmp_path / "afile.txt").read_text() == "keep"


@pytest.mark.parametrize("lam", ["nan", "inf"])
def test_merge_lam_names_the_option(tmp_path, capsys, checkpoints, lam):
    base_path, paths, _ = checkpoints
    out = tmp_path / "o" / "m.safetensors"
    err = _refused(["merge", base_path, *paths, "--lam", lam, "--out", out], capsys, out.parent)
    assert err == f"coda: error: --lam={float(lam)!r}; expected a finite number\n"


def test_numbers_as_text_from_a_shell_end_without_a_traceback(tmp_path):
    path = _csv(tmp_path, "Si,Al,Fe\n<0.01,2,3\n" + "\n".join(r[2:] for r in ROWS) + "\n")
    done = subprocess.run(
        [sys.executable, "-m", "coda", "pcor", str(path), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith(f"coda: error: DATA.csv {str(path)!r} has numbers written ")
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_warnings_are_one_line_on_stderr(tmp_path, capsys):
    from coda.merging import write_checkpoint

    rng = np.random.default_rng(0)
    base = {f"l{i}": rng.normal(size=(4, 5)).astype(np.float32) for i in range(4)}
    path = write_checkpoint(base, tmp_path / "base.safetensors")
    code, _, err = run(["merge-stats", path, path, path, "--out", tmp_path / "o"], capsys)
    assert code == 0
    lines = err.splitlines()
    assert lines[0].startswith("coda: warning: task0 (models[0]), task1 (models[1]) do not")
    assert all(line.startswith("coda: warning: ") for line in lines)


# --- coda roman-glass and coda.casestudy.write_report ----------------------------


def _cups_csv(tmp_path, n=20):
    """A CSV of ``n`` made-up cups shaped like the Roman cups data (cup, then 11 oxides)."""
    rng = np.random.default_rng(3)
    parts = ["Si", "Al", "Fe", "Mg", "Ca", "Na", "K", "Ti", "P", "Mn", "Sb"]
    values = np.exp(rng.normal(size=(n, len(parts))))
    rows = [f"{k + 1}," + ",".join(f"{v:.4f}" for v in row) for k, row in enumerate(values)]
    return _csv(tmp_path, "cup," + ",".join(parts) + "\n" + "\n".join(rows) + "\n", "cups.csv")


@pytest.mark.parametrize("taken", ["report.md", "pairs.csv", "network.png"])
def test_roman_glass_writes_nothing_when_an_output_name_is_a_folder(tmp_path, capsys, taken):
    # The tables and figures were written, then writing over the folder failed
    # with the system's bare "[Errno 21] Is a directory: 'o/report.md'".
    out = tmp_path / "o"
    (out / taken).mkdir(parents=True)
    argv = ["roman-glass", "--path", _cups_csv(tmp_path), "--out", out, "--n-boot", "5"]
    code, stdout, err = run(argv, capsys)
    assert code == 2
    assert stdout == ""
    assert err == (
        f"coda: error: --out {str(out)!r} holds folders named {taken}, where coda writes "
        "files; move them away or pass another --out\n"
    )
    assert [p.name for p in out.iterdir()] == [taken]


def test_write_report_writes_nothing_when_an_output_name_is_a_folder(tmp_path):
    from coda.casestudy import write_report

    out = tmp_path / "o"
    (out / "variation.png").mkdir(parents=True)
    x = coda.simulate(40, 5, graph="chain", seed=1).data
    with pytest.raises(IsADirectoryError) as info:
        write_report(x, out, given=["p01"], n_boot=5)
    assert str(info.value) == (
        f"out={str(out)!r} holds folders named variation.png, where write_report writes "
        "files; move them away or pass another out"
    )
    assert [p.name for p in out.iterdir()] == ["variation.png"]


# --- coda pcor: the header row -------------------------------------------------------


@pytest.mark.parametrize(
    "first",
    ["2.5,3,4,1", "1,75.2,1.84,0.26", "2e-3,3,4,1"],
    ids=["decimal", "id-then-data", "exp"],
)
def test_a_file_without_a_header_row_is_refused(tmp_path, capsys, first):
    # The first sample was read as the part names ("2.5", "3", ...) and left
    # out of the analysis without a word.
    path = _csv(tmp_path, first + "\n" + "\n".join(ROWS) + "\n")
    err = _refused(["pcor", path, "--out", tmp_path / "o"], capsys, tmp_path / "o")
    assert err.startswith(
        f"coda: error: DATA.csv {str(path)!r} has no header row: its first row "
        f"({first.replace(',', ', ')}) holds numbers, not part names, and would be lost; "
    )
    assert err.endswith("add a header row of part names (A,B,C,...) as the first line\n")
    # Whole numbers alone are names (taxon ids, say), as before.
    path = _csv(tmp_path, "101,102,103,104\n" + "\n".join(ROWS) + "\n", "ids.csv")
    code, out, err = run(["pcor", path, "--out", tmp_path / "o"], capsys)
    assert (code, err) == (0, "")
    assert "5 samples, 4 parts" in out


# --- the Roman cups loader: a damaged copy in CODA_DATA_DIR --------------------------


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("roman_cups.csv", "cup,Si\n1,75.2\n"),
        ("roman_cups.csv", "garbage"),
        ("cups.RData", "not R data"),
    ],
    ids=["columns", "text", "rdata"],
)
def test_damaged_file_in_coda_data_dir_says_to_replace_it_there(
    tmp_path, capsys, monkeypatch, name, content
):
    # The message ended "fetch it again", but --download (download=True)
    # fetched nothing: CODA_DATA_DIR is read first, and failed the same way.
    from coda import datasets

    def no_network(url):
        raise AssertionError("the loader reached the network")

    monkeypatch.setattr(datasets, "_fetch", no_network)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / name).write_text(content)
    monkeypatch.setenv("CODA_DATA_DIR", str(folder))
    fix = (
        f"; CODA_DATA_DIR={str(folder)!r} is read before the cache and any download: put "
        f"a good copy of {name} there, or unset CODA_DATA_DIR"
    )
    with pytest.raises(ValueError, match=r"^CODA_DATA_DIR=") as info:
        coda.load_roman_cups(download=True)
    assert str(info.value).startswith(f"CODA_DATA_DIR={str(folder / name)!r} ")
    assert str(info.value).endswith(fix)
    out = tmp_path / "o"
    err = _refused(["roman-glass", "--download", "--out", out], capsys, out)
    assert err.endswith(fix + "\n")
