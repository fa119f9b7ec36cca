"""Baselines shared by the benchmark modules: data, naive numpy pipelines, floors.

- :func:`naive_variation` and :func:`naive_pcor`: the obvious numpy pipeline
  (clr, ``np.cov``, then the formula or ``np.linalg.pinv``), as a user would
  write it without coda.
- :func:`gram` and :func:`gram_and_cholesky`: the dense steps no
  implementation can avoid, the D x D Gram product of the centred log data
  (and, for partial correlations, one Cholesky factorisation), in scipy's
  BLAS and LAPACK as coda runs them.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg


def lognormal(n: int, d: int, seed: int = 0) -> np.ndarray:
    """An n x D strictly positive array, exp of independent standard normals."""
    return np.exp(np.random.default_rng(seed).normal(size=(n, d)))


def centred_logs(x: np.ndarray) -> np.ndarray:
    """log(x) with column means removed: the input of the Gram product."""
    logs = np.log(x)
    logs -= logs.mean(axis=0)
    return logs


def naive_clr_cov(x: np.ndarray) -> np.ndarray:
    logs = np.log(x)
    clr = logs - logs.mean(axis=1, keepdims=True)
    return np.cov(clr.T)


def naive_variation(x: np.ndarray) -> np.ndarray:
    """T_ij = Gamma_ii + Gamma_jj - 2 Gamma_ij from the clr covariance (Aitchison 1986)."""
    gamma = naive_clr_cov(x)
    diag = np.diag(gamma)
    return diag[:, None] + diag[None, :] - 2.0 * gamma


def direct_variation(x: np.ndarray) -> np.ndarray:
    """T_ij = var(log x_i - log x_j) by broadcasting: n x D x D memory, small D only."""
    logs = np.log(x)
    return np.var(logs[:, :, None] - logs[:, None, :], axis=0, ddof=1)


def naive_pcor(x: np.ndarray) -> np.ndarray:
    omega = np.linalg.pinv(naive_clr_cov(x))
    scale = 1.0 / np.sqrt(np.diag(omega))
    rho = -omega * scale[:, None] * scale[None, :]
    np.fill_diagonal(rho, 1.0)
    return rho


def gram(centred: np.ndarray) -> np.ndarray:
    """The lower triangle of ``Y^T Y`` by BLAS syrk (n D^2 flops)."""
    return scipy.linalg.blas.dsyrk(1.0, centred.T, trans=0, lower=1)


def gram_and_cholesky(centred: np.ndarray):
    """The two dense steps: the symmetric Gram product and one Cholesky factorisation.

    Both in scipy's BLAS/LAPACK (syrk, potrf), as coda does: mixing numpy's
    and scipy's separate OpenBLAS builds makes their threads compete.
    """
    lower = gram(centred)
    lower += 1.0 / lower.shape[0]
    return scipy.linalg.lapack.dpotrf(lower, lower=True, overwrite_a=True)
