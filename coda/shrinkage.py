"""Shrinkage estimates of partial correlations between parts.

:func:`pcor_shrink` implements two estimators for when parts approach or
outnumber samples: ``method="shrink"``, the Schafer-Strimmer shrinkage of the
clr data exactly as R's ``corpcor::pcor.shrink``, and ``method="bshrink"``,
the "basis shrinkage" of Jin, Notredame and Erb (R package propr's
``pcor.bshrink``), which shrinks the covariance of the log data and maps it to
the clr plane, so that the result does not depend on any reference.

Both shrink a correlation matrix ``R`` of rank ``m <= n - 1`` towards the
identity. With the thin SVD of the standardised n x D data
``Xs = U diag(d) V^T``, ``R = V diag(c) V^T`` with ``c = d^2 / (n - 1)``, and
the shrunk ``R_lam = (1 - lam) R + lam I`` has the inverse (Woodbury)

    R_lam^{-1} = (I - V diag(f) V^T) / lam,   f = (1 - lam) c / ((1 - lam) c + lam),

so no D x D matrix is ever inverted: the work is the SVD of the data (from
the eigen-decomposition of the n x n Gram matrix ``Xs Xs^T``, or of the D x D
one when n > D) and one D x m times m x D product for the D x D result.
"""

from __future__ import annotations

import numpy as np
import scipy.special

from coda._labels import composition
from coda._linalg import pcor_from_precision, symmetrised
from coda._results import ShrinkageResult
from coda._validation import check_option, check_unit_interval, check_varying

__all__ = ["pcor_shrink"]

_METHODS = ("shrink", "bshrink")


def _clip01(value: float) -> float:
    return min(1.0, max(0.0, value))


def _correlation_intensity(xs: np.ndarray, gram: np.ndarray) -> float:
    """Schafer-Strimmer estimate of the correlation shrinkage intensity.

    ``lam = sum_{i != j} Var(r_ij) / sum_{i != j} r_ij^2``, clipped to [0, 1]
    (Schafer and Strimmer 2005, Appendix A). With ``w_kij = xs_ki xs_kj`` and
    ``wbar_ij`` its mean over samples, this is
    ``(sum mean(w^2) - sum wbar^2) / sum wbar^2 / (n - 1)``. Both sums run over
    ``i != j`` and cost O(n D min(n, D)): the first from row sums of ``xs^2``,
    the second from the Frobenius norm of ``gram``, the smaller Gram matrix
    (``||Xs^T Xs|| = ||Xs Xs^T||``).
    """
    n = xs.shape[0]
    squares = xs * xs
    diag = squares.sum(axis=0)
    sum_wbar2 = (np.einsum("ij,ij->", gram, gram) - diag @ diag) / n**2
    row = squares.sum(axis=1)
    sum_w2 = (row @ row - np.einsum("ij,ij->", squares, squares)) / n
    if sum_wbar2 == 0.0:
        return 1.0
    return _clip01((sum_w2 - sum_wbar2) / sum_wbar2 / (n - 1))


def _variance_intensity(centred: np.ndarray, variances: np.ndarray) -> float:
    """Opgen-Rhein and Strimmer estimate of the variance shrinkage intensity.

    ``lam_var = sum_k Var(v_k) / sum_k (v_k - median(v))^2``, clipped to
    [0, 1], with the moments of ``w_ik = (x_ik - mean_k)^2`` computed as
    corpcor does (divisor n inside, one factor ``1 / (n - 1)`` outside).
    """
    n = centred.shape[0]
    target = np.median(variances)
    squares = centred * centred
    q1 = squares.mean(axis=0)
    q2 = (squares * squares).mean(axis=0) - q1 * q1
    denominator = np.sum((q1 - target * (n - 1) / n) ** 2)
    if denominator == 0.0:
        return 1.0
    return _clip01(q2.sum() / denominator / (n - 1))


def _shrunk_inverse_factors(data, lam, lam_var, name, parts, what):
    """Everything needed for the inverse of the shrunk covariance of ``data``.

    Returns ``(sd, a, v, g, lam, lam_var, c)`` with the shrunk covariance
    ``S R_lam S`` (``S = diag(sd)``) and ``R_lam^{-1} = a I + V diag(g) V^T``;
    at ``lam = 0`` this is the pseudo-inverse of ``R`` (``a = 0``, ``g = 1/c``).
    ``c`` are the non-zero eigenvalues of the sample correlation matrix.
    """
    n, d = data.shape
    centred = data - data.mean(axis=0)
    variances = np.einsum("ij,ij->j", centred, centred) / (n - 1)
    check_varying(variances, name, parts, what)
    xs = centred / np.sqrt(variances)
    # One Gram matrix, of the smaller side, serves the intensity and the SVD.
    gram = xs @ xs.T if n <= d else xs.T @ xs
    if lam is None:
        lam = _correlation_intensity(xs, gram)
    if lam_var is None:
        lam_var = _variance_intensity(centred, variances)
    # Variances shrink towards their median (Opgen-Rhein and Strimmer 2007).
    shrunk = lam_var * np.median(variances) + (1.0 - lam_var) * variances
    sd = np.sqrt(shrunk)
    if lam == 1.0:
        return sd, 1.0, np.zeros((d, 0)), np.zeros(0), lam, lam_var, np.zeros(0)
    # The SVD Xs = U diag(s) V^T from the eigenpairs (s^2, U or V) of the Gram
    # matrix, as corpcor's fast.svd: an n x n eigenproblem and two products
    # instead of a LAPACK SVD of the n x D matrix. Eigenvalues at rounding
    # level are zero (clr data have rank D - 1, centred data rank n - 1).
    eigvals, vecs = np.linalg.eigh(gram)
    keep = eigvals > max(n, d) * np.finfo(np.float64).eps * eigvals[-1]
    eigvals, vecs = eigvals[keep], vecs[:, keep]
    v = xs.T @ (vecs / np.sqrt(eigvals)) if n <= d else vecs
    c = eigvals / (n - 1)
    if lam == 0.0:
        return sd, 0.0, v, 1.0 / c, lam, lam_var, c
    if v.shape[1] == d:
        # V spans every direction (n > D, full rank): I - V V^T is zero but for
        # rounding, which the Woodbury form's 1 / lam would amplify (lam = 1e-20
        # gave NaN), so R_lam^{-1} = V diag(1 / ((1 - lam) c + lam)) V^T exactly.
        return sd, 0.0, v, 1.0 / ((1.0 - lam) * c + lam), lam, lam_var, c
    f = (1.0 - lam) * c / ((1.0 - lam) * c + lam)
    return sd, 1.0 / lam, v, -f / lam, lam, lam_var, c


def _low_rank_plus_identity(a: float, v: np.ndarray, g: np.ndarray, inv_sd: np.ndarray):
    """``S^{-1} (a I + V diag(g) V^T) S^{-1}`` as one D x D array, built in place."""
    out = (v * g) @ v.T
    out[np.diag_indices_from(out)] += a
    out *= inv_sd[:, None]
    out *= inv_sd[None, :]
    return out


def _clr_pinv_of_log_basis(sd, v, c):
    """``pinv(G B G)`` for a singular basis covariance ``B = S V diag(c) V^T S``.

    ``G B G = L L^T`` with ``L = G S V diag(sqrt(c))`` (D x m), so
    ``pinv(G B G) = P diag(1 / sigma^2) P^T`` from the thin SVD ``L = P diag(sigma) Q^T``.
    """
    factor = (sd[:, None] * v) * np.sqrt(c)
    factor -= factor.mean(axis=0)
    p, sigma, _ = np.linalg.svd(factor, full_matrices=False)
    keep = sigma > max(factor.shape) * np.finfo(np.float64).eps * sigma[0]
    p = p[:, keep] / sigma[keep]
    return p @ p.T


def pcor_shrink(x, /, *, method: str = "shrink", lam=None, lam_var=None):
    r"""Partial correlations between parts from a shrinkage covariance estimate.

    Regularised partial correlations for data with few samples and many parts,
    where the sample clr covariance has no useful inverse. The correlations are
    shrunk towards the identity and the variances towards their median, with
    intensities estimated from the data (Schafer and Strimmer 2005) unless
    given.

    Parameters
    ----------
    x : array_like of shape (n_samples, n_parts)
        Strictly positive compositions, at least three samples and three parts.
    method : {"shrink", "bshrink"}, default "shrink"
        ``"shrink"``: shrink the covariance of the clr data, exactly as R's
        ``corpcor::pcor.shrink(clr(x))`` and ``corpcor::invcov.shrink(clr(x))``;
        with ``n`` well above D its partial correlations are pulled towards a
        common negative value (see Notes).
        ``"bshrink"``: shrink the covariance ``B`` of the log of the closed data
        (``corpcor::cov.shrink(log(closure(x)))``), map it to the clr plane,
        ``G B G`` with ``G = I - 11^T / D``, and take the partial correlations
        of its pseudo-inverse, as R's propr does for ``pcor.bshrink``.
    lam : float, optional
        Correlation shrinkage intensity in [0, 1] (corpcor's ``lambda``);
        estimated when omitted. 0 is the sample correlation matrix (its
        pseudo-inverse is used), 1 the identity.
    lam_var : float, optional
        Variance shrinkage intensity in [0, 1] (corpcor's ``lambda.var``);
        estimated when omitted. With ``"shrink"`` it changes the precision
        matrix but not the partial correlations; with ``"bshrink"`` it changes
        both, as the shrunk variances enter ``G B G`` before the inverse.

    Returns
    -------
    ShrinkageResult
        Frozen dataclass with ``pcor`` and ``precision`` (D x D, DataFrames
        labelled by part names on both axes when ``x`` is a DataFrame),
        ``intensity`` and ``intensity_var`` (the intensities used, estimated
        or given) and ``method``.

    Raises
    ------
    ValueError
        If ``x`` has fewer than three samples or parts, zeros, negative or
        non-finite values, or a part whose clr values (``"shrink"``) or log
        proportions (``"bshrink"``) are constant; if ``lam`` or ``lam_var`` is
        outside [0, 1]; if ``method`` is unknown.
    TypeError
        If ``x`` is a dask collection: the shrinkage estimators are for data
        that fit in memory (compute it first).

    See Also
    --------
    coda.pcor : partial correlations, exact or regularised (``method=``).
    coda.pcor_glasso : sparse partial correlations from the graphical lasso.

    Notes
    -----
    ``"shrink"``: with ``Z = clr(x)``, sample variances ``v`` and correlation
    ``R`` (divisor ``n - 1``), the estimate is
    ``Sigma = S R_lam S`` with ``R_lam = (1 - lam) R + lam I``,
    ``S^2 = diag(lam_var median(v) + (1 - lam_var) v)``; ``precision`` is
    ``Sigma^{-1}`` and ``pcor_ij = -P_ij / sqrt(P_ii P_jj)``. The shrinkage
    target is diagonal in clr coordinates, so ``precision`` does not have the
    ones vector in its null space: it is not a pseudo-inverse of a clr
    covariance, and the estimate depends on the clr being the chosen
    log-ratio representation. The clr covariance is singular along ``1``,
    and the shrunk ``Sigma`` gives that direction an eigenvalue of about
    ``lam mean(S^2)``. With ``n < D`` the sample covariance has ``D - n``
    more null directions that get the same eigenvalue; with ``n`` well above
    D the estimated ``lam`` is small and ``1`` is the only such direction,
    so its inverse dominates ``precision`` (about
    ``1 / (D lam mean(S^2))`` added to every entry) and pushes every partial
    correlation towards one negative value. On 300 samples of an 8-part
    chain (``coda.simulate(300, 8, graph="chain", seed=1)``) ``lam`` is
    0.017 and every pair gets a partial correlation between -0.85 and
    -0.53, where the exact estimate of the edge p01-p02 is +0.67. Use
    ``"shrink"`` only with ``n`` at most about D and many parts, where
    ``lam`` is large and the pull weak; ``"bshrink"`` keeps the ones vector
    in the null space, does not depend on a reference and has no such pull
    (+0.66 for p01-p02 above).

    ``"bshrink"``: ``B = S R_lam S`` as above from ``log(closure(x))``, and
    ``precision = pinv(G B G)``. For symmetric positive definite ``B``
    (any ``lam > 0``) and ``u = B^{-1} 1``,

    .. math:: (GBG)^+ = B^{-1} - \frac{u u^T}{1^T u}.

    Proof: call the right-hand side ``Omega``. ``Omega 1 = u - u = 0``, so
    ``G Omega = Omega G = Omega``, and ``(G B G) Omega = G B Omega =
    G (I - 1 u^T / 1^T u) = G``; likewise ``Omega (G B G) = G``. Both products
    are the symmetric projector ``G``, ``(GBG) Omega (GBG) = G (GBG) = GBG``
    and ``Omega (GBG) Omega = G Omega = Omega``: the four Penrose conditions.
    ``B^{-1}`` itself comes from the Woodbury form of ``R_lam^{-1}``, so no
    D x D matrix is inverted. ``precision`` then has the ones vector in its
    null space, like the exact clr precision of Erb (2020), and does not
    depend on a reference part. At ``lam = 0`` with ``n <= D``, ``B`` is
    singular and the pseudo-inverse comes from the SVD of a D x (n - 1)
    factor of ``G B G`` instead.

    Invariances: both methods are unchanged by a positive factor per sample
    and permute with the parts. ``"shrink"`` sees the data only through the
    clr values, centred per part, so perturbing every sample by the same
    composition (changing the units of a part) leaves it unchanged too.
    ``"bshrink"`` does not have that invariance: a perturbation changes the
    log proportions beyond a shift of each part (the log of each row's total
    changes), so it changes ``B``, and the shrinkage acts on ``B``, not only
    on its clr projection ``G B G``, which the perturbation leaves alone.
    Only ``lam = lam_var = 0`` with ``n > D``, where ``precision`` is the
    exact ``pinv(Gamma)``, is invariant. On 20 samples of a 40-part chain
    (``coda.simulate(20, 40, graph="chain", seed=1)``) its estimate for
    p01-p02 is 0.19, and 0.32 with p01 in units a thousand times smaller
    (``x["p01"] * 1000``).

    Cost: the SVD of the n x D data, from the eigen-decomposition of its
    smaller Gram matrix, and one D x m by m x D product
    (``m <= min(n - 1, D)``): O(n D min(n, D) + m D^2), against O(D^3) for
    forming and inverting the shrunk matrix.

    References
    ----------
    .. [1] Schafer, J. and Strimmer, K. (2005). A shrinkage approach to
       large-scale covariance matrix estimation and implications for
       functional genomics. Statistical Applications in Genetics and
       Molecular Biology 4:32. https://doi.org/10.2202/1544-6115.1175
    .. [2] Opgen-Rhein, R. and Strimmer, K. (2007). Accurate ranking of
       differentially expressed genes by a distribution-free shrinkage
       approach. Statistical Applications in Genetics and Molecular Biology
       6:9. https://doi.org/10.2202/1544-6115.1252
    .. [3] Erb, I. (2020). Partial correlations in compositional data
       analysis. Applied Computing and Geosciences 6:100026.
       https://doi.org/10.1016/j.acags.2020.100026
    .. [4] Jin, S., Notredame, C. and Erb, I. (2022). Compositional
       covariance shrinkage and regularised partial correlations.
       arXiv:2212.00496. https://doi.org/10.48550/arXiv.2212.00496

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> import coda
    >>> rng = np.random.default_rng(1)
    >>> x = pd.DataFrame(rng.lognormal(size=(6, 4)), columns=["a", "b", "c", "d"])
    >>> result = coda.pcor_shrink(x)
    >>> round(result.intensity, 4), round(result.intensity_var, 4)
    (0.7349, 1.0)
    >>> result.pcor.round(3)
           a      b      c      d
    a  1.000  0.115 -0.154 -0.129
    b  0.115  1.000 -0.082 -0.189
    c -0.154 -0.082  1.000 -0.092
    d -0.129 -0.189 -0.092  1.000
    >>> coda.pcor_shrink(x, method="bshrink", lam=0.5).pcor.round(3)
           a      b      c      d
    a  1.000  0.653  0.106  0.322
    b  0.653  1.000  0.300  0.103
    c  0.106  0.300  1.000  0.503
    d  0.322  0.103  0.503  1.000
    """
    values, labels = composition(x, "x", min_parts=3, min_samples=3)
    method = check_option(method, "method", _METHODS)
    lam, lam_var = _intensities(lam, lam_var)
    logs = np.log(values, dtype=np.float64, order="C")
    omega, lam, lam_var = _shrunk_precision(
        _shrinkage_data(logs, method), method, lam, lam_var, "x", labels.part_names(logs.shape[1])
    )
    rho = pcor_from_precision(omega)
    return ShrinkageResult(
        pcor=labels.square(rho),
        precision=labels.square(omega),
        intensity=float(lam),
        intensity_var=float(lam_var),
        method=method,
    )


def _intensities(lam=None, lam_var=None) -> tuple:
    """``(lam, lam_var)`` checked, each a float in [0, 1] or None (estimated from the data)."""
    hint = "; an intensity runs from 0 (no shrinkage) to 1 (the target), or omit it to estimate it"
    if lam is not None:
        lam = check_unit_interval(lam, "lam", hint=hint)
    if lam_var is not None:
        lam_var = check_unit_interval(lam_var, "lam_var", hint=hint)
    return lam, lam_var


def _shrinkage_data(logs: np.ndarray, method: str) -> np.ndarray:
    """The data whose covariance ``method`` shrinks, row by row from the logs of ``x``.

    ``"shrink"``: the clr values; ``"bshrink"``: the log proportions. Each
    row depends on that row alone, so the rows of a resample are rows of
    this array (:func:`coda.pcor_bootstrap` computes it once).
    """
    if method == "shrink":
        return logs - logs.mean(axis=1, keepdims=True)
    # log(closure(x)) row by row, without forming the closure; the row sums
    # come from the logs (log-sum-exp), as values near the largest float
    # would overflow a sum of the values themselves.
    return logs - scipy.special.logsumexp(logs, axis=1, keepdims=True)


def _shrunk_precision(data, method, lam, lam_var, name, parts):
    """``(omega, lam, lam_var)``: the precision of :func:`pcor_shrink` from its data.

    ``data`` from :func:`_shrinkage_data`; ``lam`` and ``lam_var`` checked, or
    None to estimate them; ``name`` and ``parts`` name a part whose data do
    not vary.
    """
    what = "clr values" if method == "shrink" else "log proportions"
    sd, a, v, g, lam, lam_var, c = _shrunk_inverse_factors(data, lam, lam_var, name, parts, what)
    inv_sd = 1.0 / sd
    if method == "bshrink" and lam == 0.0:
        omega = _clr_pinv_of_log_basis(sd, v, c)
    else:
        omega = _low_rank_plus_identity(a, v, g, inv_sd)
        if method == "bshrink":
            # u = B^{-1} 1 through the low-rank form, O(D m).
            u = inv_sd * (a * inv_sd + v @ (g * (v.T @ inv_sd)))
            omega -= np.outer(u / u.sum(), u)
    # The products above are symmetric only up to rounding.
    return symmetrised(omega), lam, lam_var
