"""Run the code of the docs pages, so that every snippet works with today's coda.

Each page in docs/*.md is one session: its ```python blocks run in order in one
namespace. A ```python block followed directly by a ```text block must print
exactly that text (trailing spaces ignored), so shown output cannot drift.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import numpy as np
import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = sorted(DOCS.glob("*.md"))
FENCE = re.compile(r"^```([\w-]*)[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def blocks(text: str) -> list[tuple[str, str, str | None]]:
    """``(name, code, expected stdout or None)`` for each python block of a page."""
    fences = list(FENCE.finditer(text))
    out = []
    for k, fence in enumerate(fences):
        if fence.group(1) != "python":
            continue
        expected = None
        following = fences[k + 1] if k + 1 < len(fences) else None
        if (
            following is not None
            and following.group(1) == "text"
            and not text[fence.end() : following.start()].strip()
        ):
            expected = following.group(2)
        line = text.count("\n", 0, fence.start()) + 1
        out.append((f"line {line}", fence.group(2), expected))
    return out


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.strip("\n").splitlines()]


def test_blocks_pairs_code_with_its_output():
    page = (
        "intro\n```python\nprint(1)\n```\n\n```text\n1\n```\n"
        "```bash\nls\n```\n```python\nx = 2\n```\ntext between\n```text\nnot output\n```\n"
    )
    assert blocks(page) == [("line 2", "print(1)\n", "1\n"), ("line 12", "x = 2\n", None)]


def test_pages_exist():
    names = {p.name for p in PAGES}
    assert {"README.md", "getting-started.md", "geometry.md", "covariance.md"} <= names
    assert {"partial-correlations.md", "mathematics.md"} <= names
    assert {"index.md", "transforms.md", "zeros.md", "graphs.md", "plots.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_page_code_runs(page):
    namespace: dict = {"__name__": f"docs_{page.stem}"}
    # Pages set numpy's print options as a reader would; restore them afterwards
    # so that the doctests that run later print with the defaults.
    with np.printoptions():
        for name, code, expected in blocks(page.read_text(encoding="utf-8")):
            stdout = io.StringIO()
            with contextlib.redirect_stdout(stdout):
                exec(compile(code, f"{page.name}, {name}", "exec"), namespace)
            if expected is not None:
                assert _lines(stdout.getvalue()) == _lines(expected), f"{page.name}, {name}"


def test_page_print_options_do_not_leak():
    assert np.get_printoptions()["precision"] == 8
