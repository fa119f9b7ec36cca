"""Build the documentation site with warnings as errors and check what it holds.

``docs/build.py`` lays out the Sphinx source tree (pages, generated API pages,
gallery images, notebooks as stored) and runs ``sphinx -W --keep-going``; this
file builds it once into a temporary folder and reads the HTML.
"""

from __future__ import annotations

import importlib.util
import inspect
from html.parser import HTMLParser
from pathlib import Path

import pytest

import coda
import coda.cli

ROOT = Path(__file__).resolve().parent.parent


def _load_build():
    spec = importlib.util.spec_from_file_location("coda_docs_build", ROOT / "docs" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Html(HTMLParser):
    """Ids of the documented objects and sources of the images of one page."""

    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()
        self.images: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "dt" and attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "img" and attrs.get("src"):
            self.images.append(attrs["src"])


def _parse(path: Path) -> _Html:
    parser = _Html()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    # An empty data folder: the build must need only simulated data.
    result = _load_build().build(out, data_dir=tmp_path_factory.mktemp("no_data"))
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def test_build_succeeds_without_warnings(site):
    assert (site / "docs" / "index.html").exists()
    assert "docs/index.html" in (site / "index.html").read_text(encoding="utf-8")


def test_api_reference_lists_every_public_name(site):
    pages = sorted((site / "docs" / "api").glob("*.html"))
    documented = set().union(*(_parse(page).ids for page in pages))
    missing = [name for name in coda.__all__ if f"coda.{name}" not in documented]
    assert not missing, f"not in the API reference: {missing}"
    # each name has one entry, on one topic page
    topic_pages = [page for page in pages if page.name != "index.html"]
    counts = [sum(f"coda.{name}" in _parse(p).ids for p in topic_pages) for name in coda.__all__]
    assert counts == [1] * len(coda.__all__)


def test_api_reference_documents_the_accessor(site):
    ids = _parse(site / "docs" / "api" / "accessor.html").ids
    for name in ("CodaAccessor", "CodaPlotAccessor", "CodaSeriesAccessor"):
        assert f"coda.accessor.{name}" in ids
    # methods inherited from the shared base are listed too
    assert {"coda.accessor.CodaAccessor.clr", "coda.accessor.CodaSeriesAccessor.closure"} <= ids
    assert "coda.accessor.CodaPlotAccessor.network" in ids


def test_a_warning_fails_the_build(tmp_path):
    # the site's configuration on a one-page tree with a link to a missing page
    (tmp_path / "src" / "docs").mkdir(parents=True)
    index = "# Home\n\nSee [nowhere](nowhere.md).\n"
    (tmp_path / "src" / "docs" / "index.md").write_text(index, encoding="utf-8")
    build = _load_build()
    result = build.run_sphinx(tmp_path / "src", tmp_path / "out", doctrees=tmp_path / "dt")
    assert result.returncode != 0
    assert "nowhere" in result.stderr
    fixed = "# Home\n\nNo links.\n"
    (tmp_path / "src" / "docs" / "index.md").write_text(fixed, encoding="utf-8")
    result = build.run_sphinx(tmp_path / "src", tmp_path / "out", doctrees=tmp_path / "dt")
    assert result.returncode == 0, result.stderr


def test_cups_section_embeds_each_image():
    build = _load_build()
    section = build._cups_section([Path("cups_network.png"), Path("cups_ternary.png")])
    assert "![cups_network](_gallery/cups_network.png)" in section
    assert "![cups_ternary](_gallery/cups_ternary.png)" in section


def test_api_entries_render_numpydoc_sections(site):
    html = (site / "docs" / "api" / "partial.html").read_text(encoding="utf-8")
    for section in ("Parameters", "Returns", "References", "Examples"):
        assert f">{section}<" in html or f">{section}:<" in html, section


def test_every_page_and_notebook_is_rendered(site):
    pages = [p.stem for p in (ROOT / "docs").glob("*.md") if p.name != "README.md"]
    for page in pages:
        assert (site / "docs" / f"{page}.html").exists(), page
    for notebook in (ROOT / "notebooks").glob("*.ipynb"):
        assert (site / "notebooks" / f"{notebook.stem}.html").exists(), notebook.name
    assert (site / "docs" / "api" / "index.html").exists()


def test_plots_page_embeds_the_simulated_gallery(site):
    page = site / "docs" / "plots.html"
    images = [src for src in _parse(page).images if "simulated_" in src]
    assert len(images) >= 9
    for src in images:
        assert (page.parent / src).resolve().is_file(), src
    # no Roman cups without their data
    assert not any("cups_" in src for src in _parse(page).images)


def test_api_groups_put_each_name_once_and_keep_unknown_modules():
    build = _load_build()
    modules = {
        "pcor": "coda.partial",
        "clr": "coda.transforms",
        "clr_inv": "coda.transforms",
        "ilr_basis": "coda.bases",
        "perturb": "coda.geometry",
        "main": "coda.cli",
    }
    groups = build._api_groups(list(modules), modules)
    assert groups == [
        ("geometry", "Geometry of the simplex", ["perturb"]),
        ("transforms", "Log-ratio transforms and bases", ["clr", "clr_inv", "ilr_basis"]),
        ("partial", "Partial correlations", ["pcor"]),
        # a module without a topic gets its own page, titled by its docstring
        ("cli", inspect.getdoc(coda.cli).splitlines()[0].rstrip("."), ["main"]),
    ]
