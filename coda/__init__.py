"""coda: compositional data analysis.

Log-ratio geometry, zero replacement, Aitchison covariance and
reference-independent partial correlations, with numba kernels underneath.
"""

from coda._validation import CodaWarning
from coda.transforms import (
    alr,
    alr_inv,
    balances,
    center,
    closure,
    clr,
    clr_inv,
    distance,
    ilr,
    ilr_basis,
    ilr_inv,
    inner,
    norm,
    perturb,
    perturb_inv,
    power,
    sbp_basis,
)

__version__ = "0.1.0"

__all__ = [
    "CodaWarning",
    "alr",
    "alr_inv",
    "balances",
    "center",
    "closure",
    "clr",
    "clr_inv",
    "distance",
    "ilr",
    "ilr_basis",
    "ilr_inv",
    "inner",
    "norm",
    "perturb",
    "perturb_inv",
    "power",
    "sbp_basis",
]
