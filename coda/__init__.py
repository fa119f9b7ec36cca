"""coda: compositional data analysis.

Log-ratio geometry, zero replacement, Aitchison covariance and
reference-independent partial correlations, with numba kernels underneath.
"""

import coda.accessor  # noqa: F401  (registers DataFrame.coda and Series.coda)
from coda._validation import CodaWarning, ConvergenceWarning, DaskChunkWarning
from coda.bases import ilr_basis, sbp_basis
from coda.covariance import (
    alr_cov,
    alr_cov_change_ref,
    alr_cov_to_clr_cov,
    clr_cov,
    clr_cov_to_alr_cov,
    clr_cov_to_variation,
    ilr_cov,
    total_variance,
    variation,
    variation_to_clr_cov,
)
from coda.datasets import load_dataset, load_roman_cups
from coda.dendrogram import dendrogram_layout
from coda.diagrams import (
    biplot_coordinates,
    cluster_order,
    ternary_coordinates,
    ternary_region,
)
from coda.export import to_node_link, write_edge_list, write_graphml, write_json
from coda.geometry import center, closure, distance, inner, norm, perturb, perturb_inv, power
from coda.glasso import pcor_glasso
from coda.graph import network, network_from_pcor
from coda.graph_compare import compare_graphs
from coda.graph_layout import layout, network_style
from coda.inference import pcor_bootstrap, pcor_test
from coda.partial import multiple_r2, partial_variance, pcor, precision
from coda.plot_diagrams import plot_balance_dendrogram, plot_biplot, plot_ternary
from coda.plotting import plot_network, plot_pcor_heatmap, plot_variation
from coda.proportionality import balance_correlation, proportionality
from coda.shrinkage import pcor_shrink
from coda.simulation import simulate
from coda.transforms import alr, alr_inv, balances, clr, clr_inv, ilr, ilr_inv
from coda.zeros import replace_zeros

__version__ = "0.1.0"

__all__ = [
    "CodaWarning",
    "ConvergenceWarning",
    "DaskChunkWarning",
    "alr",
    "alr_cov",
    "alr_cov_change_ref",
    "alr_cov_to_clr_cov",
    "alr_inv",
    "balance_correlation",
    "balances",
    "biplot_coordinates",
    "center",
    "closure",
    "clr",
    "clr_cov",
    "clr_cov_to_alr_cov",
    "clr_cov_to_variation",
    "clr_inv",
    "cluster_order",
    "compare_graphs",
    "dendrogram_layout",
    "distance",
    "ilr",
    "ilr_basis",
    "ilr_cov",
    "ilr_inv",
    "inner",
    "layout",
    "load_dataset",
    "load_roman_cups",
    "multiple_r2",
    "network",
    "network_from_pcor",
    "network_style",
    "norm",
    "partial_variance",
    "pcor",
    "pcor_bootstrap",
    "pcor_glasso",
    "pcor_shrink",
    "pcor_test",
    "perturb",
    "perturb_inv",
    "plot_balance_dendrogram",
    "plot_biplot",
    "plot_network",
    "plot_pcor_heatmap",
    "plot_ternary",
    "plot_variation",
    "power",
    "precision",
    "proportionality",
    "replace_zeros",
    "sbp_basis",
    "simulate",
    "ternary_coordinates",
    "ternary_region",
    "to_node_link",
    "total_variance",
    "variation",
    "variation_to_clr_cov",
    "write_edge_list",
    "write_graphml",
    "write_json",
]
