"""The public API: a snapshot of ``coda.__all__`` and the shape of what it exports."""

from __future__ import annotations

import importlib
import inspect
import re

import pytest

import coda

# The snapshot, by the module that defines each name: add a name under its
# module (or a new module key) when it becomes public.
PUBLIC_BY_MODULE = {
    "coda._validation._base": ["CodaWarning", "ConvergenceWarning", "DaskChunkWarning"],
    "coda.bases": ["ilr_basis", "sbp_basis"],
    "coda.covariance": [
        "alr_cov",
        "alr_cov_change_ref",
        "alr_cov_to_clr_cov",
        "clr_cov",
        "clr_cov_to_alr_cov",
        "clr_cov_to_variation",
        "ilr_cov",
        "total_variance",
        "variation",
        "variation_to_clr_cov",
    ],
    "coda.datasets": ["load_dataset", "load_roman_cups"],
    "coda.dendrogram": ["dendrogram_layout"],
    "coda.glasso": ["pcor_glasso"],
    "coda.diagrams": [
        "biplot_coordinates",
        "cluster_order",
        "ternary_coordinates",
        "ternary_region",
    ],
    "coda.export": ["to_node_link", "write_edge_list", "write_graphml", "write_json"],
    "coda.graph": ["network", "network_from_pcor"],
    "coda.graph_compare": ["compare_graphs"],
    "coda.graph_layout": ["layout", "network_style"],
    "coda.inference": ["pcor_bootstrap", "pcor_test"],
    "coda.partial": ["multiple_r2", "partial_variance", "pcor", "precision"],
    "coda.plot_diagrams": ["plot_balance_dendrogram", "plot_biplot", "plot_ternary"],
    "coda.plotting": ["plot_network", "plot_pcor_heatmap", "plot_variation"],
    "coda.proportionality": ["balance_correlation", "proportionality"],
    "coda.shrinkage": ["pcor_shrink"],
    "coda.simulation": ["simulate"],
    "coda.geometry": [
        "center",
        "closure",
        "distance",
        "inner",
        "norm",
        "perturb",
        "perturb_inv",
        "power",
    ],
    "coda.transforms": ["alr", "alr_inv", "balances", "clr", "clr_inv", "ilr", "ilr_inv"],
    "coda.zeros": ["replace_zeros"],
}
EXPECTED_PUBLIC = sorted(name for names in PUBLIC_BY_MODULE.values() for name in names)
HOME = {name: module for module, names in PUBLIC_BY_MODULE.items() for name in names}

# numpydoc's order of sections (summary and description come first).
SECTIONS = ["Parameters", "Returns", "Raises", "See Also", "Notes", "References", "Examples"]


def _sections(doc: str) -> list[str]:
    """Section titles of a numpydoc docstring, in the order they appear."""
    doc = inspect.cleandoc(doc)
    return re.findall(r"^([A-Z][A-Za-z ]+)\n-{3,}$", doc, flags=re.MULTILINE)


def test_all_is_the_snapshot():
    assert sorted(coda.__all__) == EXPECTED_PUBLIC


def test_all_is_sorted_without_duplicates():
    assert coda.__all__ == sorted(set(coda.__all__))


@pytest.mark.parametrize("name", EXPECTED_PUBLIC)
def test_name_is_importable_from_coda_and_its_module(name):
    obj = getattr(importlib.import_module("coda"), name)
    # One object per name: coda re-exports the one its home module defines.
    assert obj.__module__ == HOME[name]
    assert getattr(importlib.import_module(HOME[name]), name) is obj


MERGING_PUBLIC = sorted(importlib.import_module("coda.merging").__all__)


@pytest.mark.parametrize(
    ("package", "name"),
    [("coda", n) for n in EXPECTED_PUBLIC] + [("coda.merging", n) for n in MERGING_PUBLIC],
)
def test_docstring_has_numpydoc_sections_in_order(package, name):
    doc = getattr(importlib.import_module(package), name).__doc__
    assert doc, f"{name} has no docstring"
    found = [s for s in _sections(doc) if s in SECTIONS]
    assert "Examples" in found, f"{name} has no Examples section"
    assert found == sorted(found, key=SECTIONS.index), f"{name}: sections out of order: {found}"
    assert len(found) == len(set(found)), f"{name}: a section appears twice: {found}"


@pytest.mark.parametrize(
    "name", [n for n in EXPECTED_PUBLIC if inspect.isfunction(getattr(coda, n))]
)
def test_options_are_keyword_only(name):
    """Data first and positional; every parameter with a default is keyword-only."""
    params = inspect.signature(getattr(coda, name)).parameters.values()
    for p in params:
        if p.default is not inspect.Parameter.empty:
            assert p.kind is inspect.Parameter.KEYWORD_ONLY, (
                f"{name}: {p.name} is not keyword-only"
            )
        assert p.kind is not inspect.Parameter.VAR_POSITIONAL, f"{name} takes *{p.name}"


def test_sections_parser_sees_real_sections():
    doc = """Summary.

    Parameters
    ----------
    x : int

    Examples
    --------
    >>> 1
    1
    """
    assert _sections(doc) == ["Parameters", "Examples"]
