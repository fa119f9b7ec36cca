"""Small dense linear algebra shared by the covariance and partial-correlation modules.

Matrices in, matrices out: no validation, no labels.
"""

from __future__ import annotations

import numpy as np

from coda import _kernels


def centring_matrix(n_parts: int) -> np.ndarray:
    """``G = I - 11^T / D``."""
    return np.eye(n_parts) - 1.0 / n_parts


def pcor_from_precision(omega: np.ndarray) -> np.ndarray:
    """``rho_ij = -omega_ij / sqrt(omega_ii omega_jj)`` with a unit diagonal.

    Zeros come back as +0.0: ``-omega_ij`` of an absent edge would otherwise
    print as ``-0.0``. A symmetric ``omega`` gives an exactly symmetric result:
    each entry is ``omega_ij`` times the one product ``-s_i s_j``.
    """
    scale = 1.0 / np.sqrt(np.diag(omega))
    # One temporary and in-place passes: D x D matrices can be large.
    rho = np.multiply.outer(scale, -scale)
    rho *= omega
    np.fill_diagonal(rho, 1.0)
    # Rounding can push |rho| a hair past 1 for (near) collinear parts.
    np.clip(rho, -1.0, 1.0, out=rho)
    rho += 0.0  # -0.0 + 0.0 is +0.0
    return rho


def symmetrised(matrix: np.ndarray) -> np.ndarray:
    """``(M + M^T) / 2`` in ``matrix``'s memory: exactly symmetric.

    For results that are symmetric only up to rounding; in cache-sized tiles
    (``_kernels._symmetrise``).
    """
    _kernels._symmetrise(matrix)
    return matrix
