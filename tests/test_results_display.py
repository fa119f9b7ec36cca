"""How results with several fields show in a console and in Jupyter.

Before: the dataclass repr printed every matrix of a result in full, several
screens of numbers for a result of 100 parts.
"""

from __future__ import annotations

import html.parser

import numpy as np
import pandas as pd

import coda
import coda.merging


def _wide_bootstrap():
    x = coda.simulate(400, 100, graph="chain", seed=3).data
    return coda.pcor_bootstrap(x, n_boot=5, seed=0)


def test_a_result_of_100_parts_shows_one_line_per_field():
    result = _wide_bootstrap()
    lines = repr(result).splitlines()
    assert lines[0] == "BootstrapResult"
    assert len(lines) == 6
    estimate = next(line for line in lines if line.strip().startswith("estimate"))
    assert "DataFrame, 100 x 100, columns p001, p002, p003, ..., p100" in estimate
    assert lines[-1] == "  n_boot   : 5"


def test_arrays_are_summarised_by_dtype_and_shape_short_ones_shown():
    x = coda.simulate(60, 8, graph="chain", seed=1).data.to_numpy()
    fitted = coda.pcor_glasso(x)
    text = repr(fitted)
    assert "  pcor      : ndarray of float64, 8 x 8" in text
    assert f"  penalties : ndarray of float64, {fitted.penalties.size}" in text
    assert f"  penalty   : {float(fitted.penalty)!r}" in text
    short = coda.pcor_glasso(x, n_penalties=3)
    assert f"  penalties : {np.array2string(short.penalties, separator=', ')}" in repr(short)


def test_results_of_scalars_keep_the_form_of_a_call():
    truth = coda.simulate(50, 5, graph="chain", seed=2)
    comparison = coda.compare_graphs(truth.adjacency, truth.adjacency)
    assert repr(comparison) == (
        "GraphComparison(precision=1.0, recall=1.0, f1=1.0, shd=0, true_positives=4, "
        "false_positives=0, false_negatives=0)"
    )
    assert eval(repr(comparison), {"GraphComparison": type(comparison)}) == comparison


class _Cells(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.cells, self.tags = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.cells.append(data)


def test_jupyter_shows_the_same_summary_as_an_escaped_table():
    frame = pd.DataFrame(
        np.exp(np.random.default_rng(4).normal(size=(80, 4))), columns=["<a>", "b&c", "d", "e"]
    )
    result = coda.pcor_shrink(frame)
    parser = _Cells()
    parser.feed(result._repr_html_())
    assert parser.tags.count("tr") == 1 + 5
    assert "script" not in parser.tags and "a" not in parser.tags
    assert parser.cells[0] == "ShrinkageResult"
    assert "DataFrame, 4 x 4, columns <a>, b&c, d, e" in parser.cells
    summary = [line.split(" : ", 1)[1] for line in repr(result).splitlines()[1:]]
    assert summary == parser.cells[2::2]


def test_nested_results_are_named_by_their_fields():
    description = coda.merging.describe(
        {"w": np.zeros(64, dtype=np.float32)},
        [{"w": np.random.default_rng(t).normal(size=64).astype(np.float32)} for t in range(3)],
        density=0.5,
    )
    text = repr(description)
    assert "categories : EntryCategories (observed, null, permutation)" in text
    assert text.splitlines()[0] == "MergeDescription"
