"""Claims of README.md and docs/*.md that tests/test_docs.py does not run.

tests/test_docs.py executes the code blocks of docs/*.md. This file runs the
README's example, and checks what the pages state in prose and tables against
the code: signature defaults, the contents of extras, the fields of results,
the options of the `coda` command, the names of the README's module table and
the links between pages.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import inspect
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import coda
import coda.cli
import coda.merging

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = [README, *sorted(p for p in (ROOT / "docs").glob("*.md") if p.name != "performance.md")]
FENCE = re.compile(r"^```([\w-]*)[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def _fenced(text: str, language: str) -> list[str]:
    return [m.group(2) for m in FENCE.finditer(text) if m.group(1) == language]


def _prose(text: str) -> str:
    """The page without its fenced blocks."""
    return FENCE.sub("", text)


def _readme_example() -> dict:
    namespace: dict = {"__name__": "readme_example"}
    (code,) = _fenced(README.read_text(encoding="utf-8"), "python")
    exec(compile(code, "README.md", "exec"), namespace)
    return namespace


# --- README -----------------------------------------------------------------


def test_readme_example_runs_and_its_comments_hold():
    ns = _readme_example()
    x = ns["x"]
    assert x.shape == (200, 5)
    assert np.allclose(ns["z"].sum(axis=1), 0)  # "rows sum to 0"
    assert ns["b"].shape == (200, 4)  # "D - 1 columns"
    assert np.isclose(ns["d"], np.linalg.norm(coda.clr(x[0]) - coda.clr(x[1])))
    t = ns["t"]
    assert np.isclose(t[0, 1], np.var(np.log(x[:, 0] / x[:, 1]), ddof=1))
    assert ns["rho"].shape == (5, 5) and ns["pi"].shape == (5,)
    rho_k = ns["rho_k"]  # "partial out only parts 3 and 4"
    assert np.isnan(rho_k[[3, 4]]).all() and np.isnan(rho_k[:, [3, 4]]).all()
    assert np.isfinite(rho_k[:3, :3]).all()


def test_readme_dataframe_labels_sentence():
    x = _readme_example()["x"]
    parts = ["Si", "Al", "Fe", "Mn", "Ca"]
    df = pd.DataFrame(x, columns=parts, index=[f"s{k}" for k in range(len(x))])
    assert list(coda.clr(df).columns) == parts
    assert list(coda.clr(df).index) == list(df.index)
    assert list(coda.alr(df, ref="Mn").columns) == ["Si/Mn", "Al/Mn", "Fe/Mn", "Ca/Mn"]
    for matrix in (coda.variation(df), coda.clr_cov(df), coda.pcor(df), coda.precision(df)):
        assert list(matrix.index) == parts and list(matrix.columns) == parts


def test_readme_module_table_names_exist():
    rows = [
        line
        for line in README.read_text(encoding="utf-8").splitlines()
        if line.startswith("| `coda.")
    ]
    assert len(rows) > 10
    missing = []
    for row in rows:
        cells = row.split("|")
        modules = [importlib.import_module(m) for m in re.findall(r"`(coda[\w.]*)`", cells[1])]
        names = set(re.findall(r"`([a-z_]\w*)`", cells[2])) - {"coda"}  # the command
        missing += [(cells[1], n) for n in names if not any(hasattr(m, n) for m in modules)]
    assert not missing, missing


# --- signature defaults -----------------------------------------------------


def _table_calls(text: str):
    """``(name, keyword, literal)`` for each ``name(..., kw=literal)`` in table rows."""
    for line in text.splitlines():
        if not line.startswith("|"):
            continue
        for span in re.findall(r"`([^`]+)`", line):
            call = re.fullmatch(r"(\w+)\((.*)\)", span)
            if call is None:
                continue
            try:
                node = ast.parse(span, mode="eval").body
            except SyntaxError:
                continue
            for keyword in node.keywords:
                try:
                    value = ast.literal_eval(keyword.value)
                except ValueError:
                    continue
                yield call.group(1), keyword.arg, value


def test_signature_defaults_in_tables_match_the_code():
    # geometry.md's summary table listed alr_inv(y, ref=-1), but alr_inv's
    # default is ref=None: the reference goes back where alr took it from.
    checked, wrong = 0, []
    for page in PAGES:
        for name, keyword, value in _table_calls(page.read_text(encoding="utf-8")):
            func = getattr(coda, name, None)
            if func is None:
                continue
            default = inspect.signature(func).parameters[keyword].default
            checked += 1
            if default != value:
                wrong.append((page.name, name, keyword, value, default))
    assert checked >= 4
    assert not wrong, wrong


def test_alr_inv_default_is_not_ref_minus_one():
    frame = pd.DataFrame([[1.0, 2.0, 5.0]], columns=["a", "b", "c"])
    y = coda.alr(frame, ref="a")
    assert list(coda.alr_inv(y).columns) == ["a", "b", "c"]
    assert list(coda.alr_inv(y, ref=-1).columns) == ["b", "c", "a"]


# --- install commands and extras --------------------------------------------


def _extra(name: str) -> set[str]:
    """The distributions of one extra of pyproject.toml (tomllib needs Python 3.11)."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    block = re.search(rf"^{name} = \[(.*?)^\]", text, re.MULTILINE | re.DOTALL)
    lines = [line.split("#")[0] for line in block.group(1).splitlines()]
    return {
        re.split(r"[\[<>=; ]", r, maxsplit=1)[0] for r in re.findall(r'"([^"]+)"', "".join(lines))
    }


def test_dask_page_lists_what_the_extra_brings():
    text = (ROOT / "docs" / "dask.md").read_text(encoding="utf-8")
    sentence = re.search(r"The extra\s+brings (.*?)(?:;|\.\s)", text, re.DOTALL)
    assert sentence is not None
    named = {re.split(r"\[", name)[0] for name in re.findall(r"`([^`]+)`", sentence.group(1))}
    # threadpoolctl is a core dependency, not part of the extra
    assert named == _extra("dask")


def test_install_commands_install_from_a_clone():
    # README and getting-started install from a clone; the dask page led with
    # `pip install "coda-logratio[dask]"` from the package index instead.
    commands = [
        line.split("#")[0].strip()
        for page in PAGES
        for block in _fenced(page.read_text(encoding="utf-8"), "bash")
        for line in block.splitlines()
        if line.startswith("pip install")
    ]
    assert len(commands) >= 5
    assert all(command.startswith("pip install -e ") for command in commands), commands
    for command in commands:
        extras = re.search(r'"\.\[(\w+)\]"', command)
        if extras:
            assert _extra(extras.group(1))


# --- merging.md: the fields of describe --------------------------------------


def test_merging_page_describes_the_fields_of_describe():
    from coda.merging import describe

    rng = np.random.default_rng(0)
    base = {f"layer{i}.weight": rng.normal(size=(8, 8)).astype(np.float32) for i in range(3)}
    models = [
        {
            key: value + rng.normal(scale=0.1, size=value.shape).astype(np.float32)
            for key, value in base.items()
        }
        for _ in range(3)
    ]
    described = describe(base, models, density=0.5, seed=0)
    for name in ("shares", "fate", "ownership", "conflict", "patterns", "log_odds"):
        assert isinstance(getattr(described, name), pd.DataFrame), name
    for name in ("shares", "fate", "ownership"):
        assert np.allclose(getattr(described, name).sum(axis=1), 1.0), name
    # S2 is not a DataFrame: it holds three, as the page now says.
    assert not isinstance(described.categories, pd.DataFrame)
    for name in ("observed", "null", "permutation"):
        frame = getattr(described.categories, name)
        assert isinstance(frame, pd.DataFrame) and np.allclose(frame.sum(axis=1), 1.0)
    text = " ".join((ROOT / "docs" / "merging.md").read_text(encoding="utf-8").split())
    assert "Each is a tidy DataFrame whose rows are compositions" not in text
    assert "`.observed` and its two nulls `.null` and `.permutation`" in text
    assert list(described.fate.index.names) == ["task", "layer"]
    assert list(described.conflict.index.names) == ["layer", "m", "subset"]


# --- graphs.md: node attributes of networks from results ---------------------


def test_graphs_page_node_attributes_from_results():
    x = coda.simulate(200, 6, graph="chain", seed=1).data
    from_data = coda.network(x)
    assert {"clr_variance", "partial_variance"} <= set(from_data.nodes["p01"])
    shrunk = coda.network(coda.pcor_shrink(x), min_abs=0.2)
    assert "partial_variance" in shrunk.nodes["p01"]
    assert "clr_variance" not in shrunk.nodes["p01"]
    boot = coda.network(coda.pcor_bootstrap(x, n_boot=20, seed=0, progress=False))
    assert "partial_variance" not in boot.nodes["p01"]
    text = " ".join((ROOT / "docs" / "graphs.md").read_text(encoding="utf-8").split())
    assert "its nodes then carry only what the result holds" in text


# --- the command line --------------------------------------------------------


def _help(*command: str) -> str:
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout), pytest.raises(SystemExit) as exit_:
        coda.cli.main([*command, "--help"])
    assert exit_.value.code == 0
    return stdout.getvalue()


def test_cli_commands_and_flags_in_the_docs_exist():
    known = {"pcor", "demo", "roman-glass", "merge", "merge-stats"}
    assert all(f"\n    {name}" in _help() for name in known)
    helps = {name: _help(name) for name in known}
    mentions = []
    for page in PAGES:
        prose = _prose(page.read_text(encoding="utf-8"))
        # `coda CMD ...` spans, and the option lists written next to them
        for span in re.findall(r"`(coda [^`]+)`", prose):
            words = span.split()
            if len(words) > 1 and words[1] in known:
                mentions += [(page.name, words[1], f) for f in re.findall(r"--[\w-]+", span)]
        for command, options in re.findall(
            r"`coda (\w[\w-]*) [^`]*`\s*\(options ([^)]*)\)", prose
        ):
            mentions += [(page.name, command, f) for f in re.findall(r"--[\w-]+", options)]
    assert len(mentions) >= 10
    unknown = [m for m in mentions if m[2] not in helps[m[1]]]
    assert not unknown, unknown


def test_cli_defaults_stated_in_the_docs():
    assert "(default: coda-demo)" in _help("demo")
    assert "(default: coda-out)" in _help("pcor")
    # getting-started.md: an out-of-range --alpha is a usage error, exit 2
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), pytest.raises(SystemExit) as exit_:
        coda.cli.main(["demo", "--alpha", "2"])
    assert exit_.value.code == 2
    assert "coda demo: error: argument --alpha: --alpha=2.0; expected a number in (0, 1)" in (
        stderr.getvalue()
    )


# --- links ---------------------------------------------------------------------


def _slug(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_relative_links_resolve():
    bad = []
    for page in PAGES:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8")):
            if target.startswith(("http://", "https://")) or target.startswith("_gallery/"):
                continue  # _gallery/ is drawn when the site is built
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            if not linked.exists():
                bad.append((page.name, target))
            elif anchor:
                headings = re.findall(r"^#+ (.*)$", linked.read_text(encoding="utf-8"), re.M)
                if anchor not in {_slug(h) for h in headings}:
                    bad.append((page.name, target))
    assert not bad, bad


def test_merging_names_in_the_readme_are_public():
    row = next(
        line
        for line in README.read_text(encoding="utf-8").splitlines()
        if line.startswith("| `coda.merging`")
    )
    names = [n for n in re.findall(r"`([a-zA-Z_]\w*)`", row) if n != "out"]
    assert len(names) > 20
    assert [n for n in names if n not in coda.merging.__all__] == []
