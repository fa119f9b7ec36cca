"""Build the documentation site: ``python docs/build.py [OUTDIR]``.

The site is built by Sphinx with warnings as errors (``-W --keep-going``) from
a source tree laid out in a temporary folder that mirrors the repository:

- ``docs/*.md``: the pages, as they are in the repository;
- ``docs/api/*.rst``: the API reference, generated from ``coda.__all__``, one
  page per topic, each name documented from its numpydoc docstring;
- ``docs/_gallery/*.png``: the plots drawn by ``docs/gallery.py`` (simulated
  data always, the Roman cups too when ``$CODA_DATA_DIR`` holds them);
- ``docs/_static/``: images kept in the repository (the scaling curves that
  ``python -m benchmarks.scaling`` draws for performance.md);
- ``notebooks/*.ipynb``: the case studies, rendered as stored, never executed;
- ``data/README.md``: where the data come from.

OUTDIR defaults to ``docs/_build/html``; open ``OUTDIR/index.html``. The test
suite (``tests/test_docs_build.py``) calls :func:`build` into a temporary
folder.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent

# Topics of the API reference, in reading order, by the module that defines
# each public name; a name from a module not listed here gets a page titled by
# its module's docstring, so that a new public name is never left out.
TOPICS = [
    ("geometry", "Geometry of the simplex", ["coda.geometry"]),
    ("transforms", "Log-ratio transforms and bases", ["coda.transforms", "coda.bases"]),
    ("zeros", "Zero replacement", ["coda.zeros"]),
    ("covariance", "Covariance", ["coda.covariance"]),
    (
        "partial",
        "Partial correlations",
        ["coda.partial", "coda.shrinkage", "coda.glasso", "coda.inference"],
    ),
    ("graphs", "Graphs and export", ["coda.graph", "coda.export"]),
    (
        "plots",
        "Plots and diagram coordinates",
        ["coda.plotting", "coda.plot_diagrams", "coda.diagrams", "coda.dendrogram"],
    ),
    ("accessor", "pandas accessor", ["coda.accessor"]),
    ("data", "Data sets", ["coda.datasets"]),
    ("warnings", "Warnings", ["coda._validation"]),
]

REDIRECT = """<!DOCTYPE html>
<html><head><meta charset="utf-8">
<meta http-equiv="refresh" content="0; url=docs/index.html">
<title>coda</title></head>
<body><a href="docs/index.html">coda documentation</a></body></html>
"""


def _api_groups(names, modules):
    """``[(slug, title, [name, ...]), ...]`` covering every name exactly once."""
    by_module: dict[str, list[str]] = {}
    for name in names:
        by_module.setdefault(modules[name], []).append(name)
    groups = []
    for slug, title, members in TOPICS:
        found = [n for m in members for n in sorted(by_module.pop(m, []))]
        if found:
            groups.append((slug, title, found))
    for module in sorted(by_module):
        doc = inspect.getdoc(sys.modules[module]) or module
        title = doc.splitlines()[0].rstrip(".")
        groups.append((module.rsplit(".", 1)[-1].strip("_"), title, sorted(by_module[module])))
    return groups


def _underline(title: str, char: str) -> str:
    return f"{title}\n{char * len(title)}\n"


def _accessor_group(public) -> tuple[str, str, list[str], str] | None:
    """The accessor classes (``df.coda``), documented under ``coda.accessor``."""
    try:
        accessor = importlib.import_module("coda.accessor")
    except ModuleNotFoundError:
        return None
    names = [name for name in getattr(accessor, "__all__", []) if name not in public]
    return ("accessor", "pandas accessor", names, "coda.accessor") if names else None


def _merging_group() -> tuple[str, str, list[str], str] | None:
    """``coda.merging``, imported on its own (it needs the ``merge`` extra)."""
    try:
        merging = importlib.import_module("coda.merging")
    except ModuleNotFoundError:
        return None
    return ("merging", "model merging (coda.merging)", sorted(merging.__all__), "coda.merging")


def write_api(dest: Path) -> list[Path]:
    """Write the API reference pages for ``coda.__all__`` into ``dest``."""
    import coda

    modules = {name: getattr(getattr(coda, name), "__module__", "coda") for name in coda.__all__}
    groups = [(*group, "coda") for group in _api_groups(coda.__all__, modules)]
    extra = _accessor_group(coda.__all__)
    if extra is not None and extra[0] not in {group[0] for group in groups}:
        groups.append(extra)
    merging = _merging_group()
    if merging is not None:
        groups.append(merging)
    dest.mkdir(parents=True, exist_ok=True)
    index = [
        _underline("API reference", "="),
        "Every public name of ``coda`` (``coda.__all__``), grouped by topic, the",
        "classes behind the pandas accessor ``df.coda``, and ``coda.merging``. The entries are",
        "generated from the numpydoc docstrings; their examples run as doctests",
        "in the test suite.\n",
        ".. toctree::\n   :hidden:\n",
        *[f"   {group[0]}" for group in groups],
        "",
    ]
    written = []
    for slug, title, names, module in groups:
        namespace = importlib.import_module(module)
        index += [_underline(title, "-"), f".. currentmodule:: {module}\n", ".. autosummary::\n"]
        index += [f"   {name}" for name in names] + [""]
        page = [_underline(title, "="), f".. currentmodule:: {module}\n"]
        for name in names:
            obj = getattr(namespace, name)
            if not inspect.isclass(obj):
                page.append(f".. autofunction:: {name}\n")
            elif issubclass(obj, BaseException):
                page.append(f".. autoexception:: {name}\n")
            else:
                page.append(f".. autoclass:: {name}\n   :members:\n   :inherited-members:\n")
        path = dest / f"{slug}.rst"
        path.write_text("\n".join(page), encoding="utf-8")
        written.append(path)
    (dest / "index.rst").write_text("\n".join(index), encoding="utf-8")
    return [dest / "index.rst", *written]


def _cups_section(images: list[Path]) -> str:
    lines = [
        "\n## The Roman glass cups\n",
        "The same plots of the 47 Roman glass cups (`coda.load_roman_cups`),",
        "drawn because `$CODA_DATA_DIR` held `roman_cups.csv` when this site was built.\n",
    ]
    for path in images:
        lines.append(f"![{path.stem}](_gallery/{path.name})\n")
    return "\n".join(lines)


def stage(src: Path, *, data_dir=None) -> Path:
    """Lay out the Sphinx source tree in ``src`` and return it."""
    src = Path(src)
    pages = src / "docs"
    pages.mkdir(parents=True, exist_ok=True)
    for page in DOCS.glob("*.md"):
        shutil.copy2(page, pages / page.name)
    # images kept in the repository (the scaling curves of performance.md)
    shutil.copytree(DOCS / "_static", pages / "_static", dirs_exist_ok=True)
    (src / "notebooks").mkdir(exist_ok=True)
    for notebook in (ROOT / "notebooks").glob("*.ipynb"):
        shutil.copy2(notebook, src / "notebooks" / notebook.name)
    (src / "data").mkdir(exist_ok=True)
    shutil.copy2(ROOT / "data" / "README.md", src / "data" / "README.md")
    write_api(pages / "api")

    spec = importlib.util.spec_from_file_location("coda_docs_gallery", DOCS / "gallery.py")
    gallery = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gallery)
    import matplotlib

    matplotlib.use("Agg")
    images = gallery.render_all(pages / "_gallery", data_dir=data_dir)
    cups = [p for p in images if p.name.startswith("cups_")]
    if cups:
        with open(pages / "plots.md", "a", encoding="utf-8") as page:
            page.write(_cups_section(cups))
    return src


def run_sphinx(src, outdir, *, doctrees) -> subprocess.CompletedProcess:
    """Run Sphinx on the source tree ``src`` with this folder's conf.py.

    Returns the finished process (``returncode`` 0 on success; its ``stderr``
    holds the warnings otherwise).
    """
    # -W: every warning (a broken link, a malformed docstring) fails the build
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html"]
    command += ["-c", str(DOCS), "-d", str(doctrees), str(src), str(outdir)]
    # Sphinx imports the coda of this tree, whatever else is installed.
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return subprocess.run(command, capture_output=True, text=True, check=False, env=env, cwd=ROOT)


def build(outdir, *, data_dir=None) -> subprocess.CompletedProcess:
    """Build the HTML site into ``outdir`` with warnings as errors.

    Returns the finished Sphinx process, as :func:`run_sphinx`; on success
    ``outdir/index.html`` forwards to the home page, ``docs/index.html``.
    """
    outdir = Path(outdir)
    with tempfile.TemporaryDirectory(prefix="coda-docs-") as tmp:
        src = stage(Path(tmp) / "src", data_dir=data_dir)
        result = run_sphinx(src, outdir, doctrees=Path(tmp) / "doctrees")
    if result.returncode == 0:
        (outdir / "index.html").write_text(REDIRECT, encoding="utf-8")
    return result


if __name__ == "__main__":
    if len(sys.argv) > 2:
        sys.exit("usage: python docs/build.py [OUTDIR]")
    target = Path(sys.argv[1]) if len(sys.argv) == 2 else DOCS / "_build" / "html"
    finished = build(target)
    sys.stderr.write(finished.stdout + finished.stderr)
    if finished.returncode:
        sys.exit(finished.returncode)
    print(target / "index.html")
