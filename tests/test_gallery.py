"""The gallery script (docs/gallery.py) renders every plot to a PNG file."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest

ROOT = Path(__file__).resolve().parent.parent
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PLOTS = [
    "network",
    "network_spring",
    "pcor_heatmap",
    "pcor_heatmap_clustered",
    "variation",
    "biplot",
    "biplot_covariance",
    "ternary",
    "dendrogram",
]


@pytest.fixture(scope="module")
def gallery():
    spec = importlib.util.spec_from_file_location("gallery", ROOT / "docs" / "gallery.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def _no_show(monkeypatch):
    def show(*args, **kwargs):
        raise AssertionError("plt.show() was called")

    monkeypatch.setattr(plt, "show", show)
    yield
    plt.close("all")


def _check_pngs(paths, expected_names):
    assert [p.name for p in paths] == expected_names
    for path in paths:
        data = path.read_bytes()
        assert data.startswith(PNG_SIGNATURE), path
        assert len(data) > 1000, path


def test_simulated_plots_without_the_cups(gallery, tmp_path):
    # An empty data folder: only the simulated data set is drawn.
    paths = gallery.render_all(tmp_path / "out", data_dir=tmp_path)
    _check_pngs(paths, [f"simulated_{name}.png" for name in PLOTS])
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(p.name for p in paths)
    assert not plt.get_fignums()


def test_all_plots_with_the_cups(gallery, tmp_path):
    folder = os.environ.get("CODA_DATA_DIR")
    if not (folder and (Path(folder) / "roman_cups.csv").exists()):
        if os.environ.get("CI"):
            pytest.fail("CODA_DATA_DIR/roman_cups.csv is missing in CI; .ci/run must set it")
        pytest.skip("set CODA_DATA_DIR to the folder holding roman_cups.csv")
    paths = gallery.render_all(tmp_path)
    _check_pngs(
        paths,
        [f"simulated_{name}.png" for name in PLOTS] + [f"cups_{name}.png" for name in PLOTS],
    )
