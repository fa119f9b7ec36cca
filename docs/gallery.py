"""Render every coda plot to PNG (150 dpi): ``python docs/gallery.py OUTDIR``.

The plots are drawn on simulated data (:func:`coda.simulate`, always) and on
the Roman cups data (when ``roman_cups.csv`` is in ``data_dir``, by default
``$CODA_DATA_DIR``). The test suite calls :func:`render_all` and checks that
every file is a PNG.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd

import coda

DPI = 150

# A partition of the cups' oxides by their role in the glass: network
# formers and colourants/decolourants against the alkali and alkaline-earth
# fluxes, then each group split further.
CUPS_SBP = pd.DataFrame(
    [
        [1, 1, 1, -1, -1, -1, -1, 1, 1, 1, 1],
        [1, -1, -1, 0, 0, 0, 0, -1, -1, -1, -1],
        [0, 1, 1, 0, 0, 0, 0, 1, -1, -1, -1],
        [0, 1, -1, 0, 0, 0, 0, -1, 0, 0, 0],
        [0, 0, 1, 0, 0, 0, 0, -1, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 0, -1, -1, 1],
        [0, 0, 0, 0, 0, 0, 0, 0, -1, 1, 0],
        [0, 0, 0, -1, -1, 1, 1, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 1, -1, 0, 0, 0, 0],
        [0, 0, 0, -1, 1, 0, 0, 0, 0, 0, 0],
    ],
    columns=["Si", "Al", "Fe", "Mg", "Ca", "Na", "K", "Ti", "P", "Mn", "Sb"],
)


def halving_sbp(n_parts: int) -> np.ndarray:
    """A sequential binary partition that splits every group into halves."""
    rows = []

    def split(group):
        if len(group) < 2:
            return
        half = len(group) // 2
        row = np.zeros(n_parts, dtype=int)
        row[group[:half]] = 1
        row[group[half:]] = -1
        rows.append(row)
        split(group[:half])
        split(group[half:])

    split(list(range(n_parts)))
    return np.array(rows)


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    return path


def _render_set(x: pd.DataFrame, sbp, ternary_parts, groups, prefix: str, outdir: Path):
    """Draw every plot of one data set; return the files written."""
    import matplotlib.pyplot as plt

    written = []

    def figure(name, draw, size=(6.4, 4.8)):
        fig, ax = plt.subplots(figsize=size)
        try:
            draw(ax)
            written.append(_save(fig, outdir / f"{prefix}_{name}.png"))
        finally:
            plt.close(fig)

    graph = coda.network(x)
    figure("network", lambda ax: coda.plot_network(graph, ax=ax))
    figure(
        "network_spring",
        lambda ax: coda.plot_network(graph, ax=ax, layout="spring", seed=1, edge_labels=True),
    )
    rho, tests = coda.pcor(x), coda.pcor_test(x)
    figure("pcor_heatmap", lambda ax: coda.plot_pcor_heatmap(rho, ax=ax, tests=tests))
    figure(
        "pcor_heatmap_clustered",
        lambda ax: coda.plot_pcor_heatmap(rho, ax=ax, tests=tests, cluster=True),
    )
    figure("variation", lambda ax: coda.plot_variation(coda.variation(x), ax=ax))
    figure("biplot", lambda ax: coda.plot_biplot(x, ax=ax, groups=groups))
    figure("biplot_covariance", lambda ax: coda.plot_biplot(x, ax=ax, scaling="covariance"))
    figure(
        "ternary",
        lambda ax: coda.plot_ternary(x, parts=ternary_parts, ax=ax, center=True, region=0.95),
    )
    figure("dendrogram", lambda ax: coda.plot_balance_dendrogram(sbp, x, ax=ax), size=(7.5, 4.8))
    return written


def render_all(outdir, data_dir=None) -> list[Path]:
    """Render every plot into ``outdir`` and return the PNG files written.

    The Roman cups plots are drawn only when ``data_dir`` (default
    ``$CODA_DATA_DIR``) holds ``roman_cups.csv``.
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    sim = coda.simulate(300, 10, graph="random", seed=7)
    x = sim.data
    groups = np.where(x["p01"] > x["p01"].median(), "p01 > median", "p01 \u2264 median")
    written = _render_set(
        x, halving_sbp(x.shape[1]), ("p01", "p02", "p03"), groups, "simulated", outdir
    )
    folder = data_dir if data_dir is not None else os.environ.get("CODA_DATA_DIR")
    if folder and (Path(folder) / "roman_cups.csv").exists():
        cups = coda.load_roman_cups(path=Path(folder) / "roman_cups.csv", download=False)
        # Cups richest in soda against the rest: a split visible in the biplot.
        groups = np.where(cups["Na"] > cups["Na"].median(), "Na > median", "Na \u2264 median")
        written += _render_set(cups, CUPS_SBP, ("Fe", "Mn", "Sb"), groups, "cups", outdir)
    return written


if __name__ == "__main__":
    matplotlib.use("Agg")
    if len(sys.argv) != 2:
        sys.exit("usage: python docs/gallery.py OUTDIR")
    for path in render_all(sys.argv[1]):
        print(path)
