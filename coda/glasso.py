"""Sparse partial correlations between parts from the graphical lasso.

:func:`pcor_glasso` fits the graphical lasso of Friedman, Hastie and
Tibshirani (2008) to the clr covariance (its missing direction filled with the
total variance), with the penalty given or chosen along a path by the
extended BIC of Foygel and Drton (2010) or by StARS (Liu, Roeder and
Wasserman 2010). The solver is the block coordinate descent kernel
``coda._kernels._glasso``.
"""

from __future__ import annotations

import numpy as np

from coda import _kernels
from coda._clr_gram import clr_cov_values
from coda._labels import composition
from coda._linalg import pcor_from_precision
from coda._results import GlassoResult
from coda._validation import (
    ConvergenceWarning,
    check_count,
    check_option,
    check_positive,
    check_subsample_size,
    check_unit_interval,
    check_unused,
    check_varying,
    seeded_rng,
    warn,
)

__all__ = ["pcor_glasso"]

_CRITERIA = ("ebic", "stars")
# Smallest penalty of the path, as a fraction of the largest: below it the
# estimates of a rank-deficient clr covariance become dense and ill-conditioned.
_MIN_RATIO = 0.05


def _solve(s, penalty, w, beta, tol, max_iter, unconverged):
    """One graphical lasso fit, warm-started from ``w`` and ``beta`` (updated in place).

    A fit that does not converge adds its penalty to the list ``unconverged``
    (:func:`_warn_unconverged` reports them, once per call).
    """
    np.fill_diagonal(w, np.diag(s) + penalty)
    theta = np.empty_like(s)
    _, converged = _kernels._glasso(s, penalty, w, beta, theta, tol, max_iter)
    if not converged:
        unconverged.append(float(penalty))
    # Columns come from separate lasso fits; average the two halves.
    return (theta + theta.T) / 2.0


def _warn_unconverged(unconverged, n_fits, chosen_failed, tol, max_iter):
    """One ConvergenceWarning for all the fits of a call that did not converge."""
    if not unconverged:
        return
    distinct = sorted(set(unconverged), reverse=True)
    where = (
        f"penalty={distinct[0]:.4g}"
        if len(distinct) == 1
        else f"penalties from {distinct[0]:.4g} to {distinct[-1]:.4g}"
    )
    verdict = "the chosen fit is one of them" if chosen_failed else "the chosen fit converged"
    warn(
        f"the graphical lasso did not converge in {max_iter} sweeps (tol={tol:g}) in "
        f"{len(unconverged)} of {n_fits} fits, at {where}; {verdict}. Raise max_iter or "
        "tol, or use a larger penalty",
        ConvergenceWarning,
    )


def _warn_not_positive_definite(theta, penalty, n, d):
    """Warn when a fit that met ``tol`` is not positive definite.

    A tiny penalty with ``n <= D`` makes ``Theta`` so ill-conditioned
    (eigenvalues near ``1 / penalty`` along the data's null directions) that
    the error left in ``W`` when the sweeps meet ``tol`` can exceed the
    smallest eigenvalue of ``Theta``: the estimate is then indefinite and its
    partial correlations are clipped at +-1 or NaN.
    """
    # A fit that overflowed (an eigenvalue near 1 / penalty beyond float64, as
    # proportional parts give) has no Cholesky factor either.
    if np.isfinite(theta).all():
        try:
            np.linalg.cholesky(theta)
        except np.linalg.LinAlgError:
            pass
        else:
            return
    warn(
        f"the graphical lasso's estimate at penalty={penalty:.4g} is not positive "
        f"definite: with n={n} samples and D={d} parts the fit is too ill-conditioned for "
        "float64, so its precision and partial correlations are unreliable; use a larger "
        "penalty, or omit penalty to choose one along a path",
        ConvergenceWarning,
    )


def _ebic(s, theta, n, gamma):
    """Extended BIC (Foygel and Drton 2010, eq. 2) of a fit, and its number of edges.

    The log-likelihood is that of the (D - 1)-dimensional ilr data under the
    fitted covariance ``W = Theta^{-1}``: with ``V`` any orthonormal ilr basis,
    ``(n/2) (-log det(V^T W V) - tr(V^T S V (V^T W V)^{-1}))``. It needs no
    basis: ``det(V^T W V) = (1^T Theta 1) / (D det Theta)`` (Schur complement of
    ``[V, 1/sqrt(D)]^T W [V, 1/sqrt(D)]``) and
    ``V (V^T W V)^{-1} V^T = pinv(G W G) = Theta - u u^T / (1^T u)`` with
    ``u = Theta 1`` (see :func:`coda.pcor_shrink`, Notes).
    """
    d = s.shape[0]
    edges = _edges(theta)
    if not np.isfinite(theta).all():
        # A penalty so small that Theta overflowed (proportional parts put an
        # eigenvalue near 1 / penalty): no likelihood, as for an indefinite fit.
        return np.inf, edges
    sign, logdet = np.linalg.slogdet(theta)
    u = theta.sum(axis=1)
    total = u.sum()
    if not (sign > 0 and total > 0):
        # Not positive definite (a fit stopped before converging): no likelihood,
        # and a fit never preferred to one that has one.
        return np.inf, edges
    trace = np.einsum("ij,ji->", s, theta) - u @ s @ u / total
    loglik = 0.5 * n * (logdet - np.log(total / d) - trace)
    return -2.0 * loglik + edges * np.log(n) + 4.0 * gamma * edges * np.log(d), edges


def _augment(gamma_clr):
    """``S = Gamma + tr(Gamma) J / D``: the direction 1 filled with the total variance.

    ``(Gamma + kappa J/D)^{-1} = Gamma^+ + J/(kappa D)`` (see pcor_glasso, Notes).
    """
    return gamma_clr + np.trace(gamma_clr) / gamma_clr.shape[0]


def _edges(theta):
    return int(np.count_nonzero(np.triu(theta, 1)))


def _choose_by_ebic(s, gamma_clr, penalties, n, gamma, tol, max_iter, unconverged):
    """Fit the path with warm starts; keep the fit of smallest EBIC."""
    w = s.copy()
    beta = np.zeros_like(s)
    scores = np.empty(penalties.size)
    n_edges = np.empty(penalties.size, dtype=np.int64)
    best, best_theta = 0, None
    for k, rho in enumerate(penalties):
        theta = _solve(s, rho, w, beta, tol, max_iter, unconverged)
        scores[k], n_edges[k] = _ebic(gamma_clr, theta, n, gamma)
        if best_theta is None or scores[k] < scores[best]:
            best, best_theta = k, theta
    return best, best_theta, scores, n_edges


def _fit_path_to(s, penalties, last, tol, max_iter, unconverged):
    """Fit the path with warm starts up to ``penalties[last]``; that fit and every edge count.

    Penalties after ``last`` are fitted too, for their edge counts only.
    """
    w = s.copy()
    beta = np.zeros_like(s)
    n_edges = np.empty(penalties.size, dtype=np.int64)
    chosen = None
    for k, rho in enumerate(penalties):
        theta = _solve(s, rho, w, beta, tol, max_iter, unconverged)
        n_edges[k] = _edges(theta)
        if k == last:
            chosen = theta
    return chosen, n_edges


def _largest_offdiag(s):
    """``max_{i != j} |S_ij|``: from this penalty up, every lasso is zero."""
    return np.abs(s - np.diag(np.diag(s))).max()


def _subsamples(n, n_subsamples, seed):
    """Row sets for StARS: ``b = min(10 sqrt(n), 0.8 n)`` rows (at least 3) without replacement."""
    size = max(3, min(int(10 * np.sqrt(n)), int(0.8 * n)))
    check_subsample_size(size, n)
    rng = seeded_rng(seed, "seed")
    return [np.sort(rng.choice(n, size=size, replace=False)) for _ in range(n_subsamples)]


def _stars_instability(values, subsamples, penalties, tol, max_iter, unconverged):
    """Monotonised StARS instability at each penalty (Liu, Roeder and Wasserman 2010).

    ``theta_ij`` is the fraction of subsamples with edge ij, the instability
    the mean of ``2 theta_ij (1 - theta_ij)`` over pairs, made non-decreasing
    as the penalty falls (a running maximum).
    """
    d = values.shape[1]
    upper = np.triu_indices(d, 1)
    counts = np.zeros((penalties.size, upper[0].size))
    for rows in subsamples:
        s = _augment(clr_cov_values(values[rows], 1))
        w = s.copy()
        beta = np.zeros_like(s)
        for k, rho in enumerate(penalties):
            counts[k] += _solve(s, rho, w, beta, tol, max_iter, unconverged)[upper] != 0
    frequency = counts / len(subsamples)
    instability = (2 * frequency * (1 - frequency)).mean(axis=1)
    return np.maximum.accumulate(instability)


def pcor_glasso(
    x,
    /,
    *,
    penalty=None,
    criterion: str = "ebic",
    gamma=None,
    n_penalties=None,
    n_subsamples=None,
    threshold=None,
    seed=None,
    tol: float = 1e-8,
    max_iter: int = 1000,
):
    r"""Sparse partial correlations between parts from the graphical lasso.

    An l1-penalised maximum likelihood estimate of the precision matrix of
    the clr data: many partial correlations are exactly zero, so the result
    reads as a network of parts. The penalty is given, or chosen among a
    decreasing path of penalties by the extended BIC or by the stability of
    the graph over subsamples (StARS).

    Parameters
    ----------
    x : array_like of shape (n_samples, n_parts)
        Strictly positive compositions, at least three samples and three parts.
    penalty : float, optional
        The l1 penalty (> 0), on the scale of the clr covariance. When omitted,
        ``n_penalties`` penalties from ``max_{i != j} |S_ij|`` (``S`` as in
        Notes; there every partial correlation is zero; for StARS the largest
        such value over the data and every subsample) down to 0.05 times
        that, evenly spaced on a log scale, are fitted with warm starts and
        scored by ``criterion``.
    criterion : {"ebic", "stars"}, default "ebic"
        How a penalty is chosen: ``"ebic"``, the smallest extended BIC;
        ``"stars"``, the smallest penalty whose graph is stable over
        subsamples (see Notes).
    gamma : float, optional
        EBIC only: the extra weight on the number of edges, in [0, 1]
        (default 0.5; 0 is the ordinary BIC).
    n_penalties : int, optional
        Length of the penalty path when ``penalty`` is omitted (default 20);
        refused with ``penalty``, where there is no path.
    n_subsamples : int, optional
        StARS only: the number of subsamples (default 20, at least 2).
    threshold : float, optional
        StARS only: the largest acceptable instability, in [0, 1] (default
        0.05; instabilities never exceed 0.5).
    seed : int or numpy.random.Generator, optional
        StARS only: seeds ``numpy.random.default_rng`` for the subsamples.
    tol : float, default 1e-8
        Convergence tolerance: the mean absolute change of the off-diagonal
        covariance estimate in a sweep, relative to the mean absolute
        off-diagonal entry of the matrix fitted, ``S`` of the Notes (the clr
        covariance plus ``kappa / D`` in every entry); also the tolerance on
        the lasso coefficients.
    max_iter : int, default 1000
        The most sweeps over all parts (and lasso passes per part).

    Returns
    -------
    GlassoResult
        Frozen dataclass with ``pcor`` and ``precision`` (D x D, DataFrames
        labelled by part names on both axes when ``x`` is a DataFrame),
        ``penalty`` (the chosen or given penalty), ``criterion``,
        ``penalties`` (decreasing; one entry when ``penalty`` is given),
        ``scores`` (at each penalty: the EBIC, or StARS' monotonised
        instability) and ``n_edges`` (non-zero partial correlations of the
        fit to all samples at each penalty).

    Raises
    ------
    ValueError
        If ``x`` has fewer than three samples or parts, zeros, negative or
        non-finite values, or a part with constant clr values; if ``penalty``
        is not positive; if ``criterion`` is unknown; if ``gamma`` or
        ``threshold`` is outside [0, 1]; if an option of the other criterion
        is given; if ``criterion="stars"`` and x has only 3 samples (its
        subsamples would all be the whole data).
    TypeError
        If ``x`` is a dask collection: the graphical lasso is for data that
        fit in memory (compute it first).

    Warns
    -----
    coda._validation.ConvergenceWarning
        If a fit stops at ``max_iter`` sweeps before meeting ``tol``, or if
        the chosen fit met ``tol`` but is not positive definite (a penalty so
        small, with ``n <= D``, that rounding swamps the estimate).

    See Also
    --------
    coda.pcor : partial correlations, exact or regularised (``method=``).
    coda.pcor_shrink : dense shrinkage estimates of the partial correlations.

    Notes
    -----
    ``Gamma``, the clr covariance (divisor ``n - 1``), is singular: clr rows
    sum to zero, so ``Gamma 1 = 0``. The graphical lasso is fitted to

    .. math:: S = \Gamma + \kappa\,\frac{11^T}{D}, \qquad \kappa = \operatorname{tr}\Gamma,

    which fills the missing direction ``1`` with the total variance. ``S`` has
    the same clr plane as ``Gamma`` (``G S G = Gamma``), is positive definite
    when ``rank(Gamma) = D - 1``, and ``S^{-1} = Gamma^+ + 11^T / (kappa D)``
    (the two terms act on orthogonal subspaces): the penalised precision
    estimates Erb's clr precision ``Gamma^+`` up to the constant
    ``1 / (kappa D)`` in every entry. As the penalty goes to zero with
    ``n > D``, ``Theta`` tends to ``Gamma^+ + 11^T / (kappa D)``, whose partial
    correlations differ from the exact ones of :func:`coda.pcor` by
    ``O(1 / D^2)`` (the offset against diagonal entries near
    ``(D - 1) / kappa``). Fitting ``Gamma`` itself would instead leave the
    direction ``1`` to the penalty alone, with an offset near ``1 / (rho D)``
    in every entry of ``Theta`` that grows without bound as the penalty
    shrinks and swamps the partial correlations when D is small.

    With penalty ``rho`` the estimate maximises

    .. math:: \log\det\Theta - \operatorname{tr}(S\Theta) - \rho\sum_{i,j}|\Theta_{ij}|

    over positive definite ``Theta``, and ``pcor_ij = -Theta_ij /
    sqrt(Theta_ii Theta_jj)``. The diagonal is penalised, as in Friedman et
    al. (2008) and R's ``glasso`` (its default): the working covariance is
    ``W = S + rho I`` on the diagonal, positive definite for every
    ``rho > 0`` even when ``n <= D`` makes ``S`` singular. Since
    ``Theta_ii > 0``, this is scikit-learn's ``graphical_lasso`` (which leaves
    the diagonal unpenalised) applied to ``S + rho I``. ``penalty=0`` is not
    allowed: for ``n <= D`` the unpenalised problem has no solution (for
    ``n > D`` use :func:`coda.pcor`, the exact estimate).

    The extended BIC of a fit with ``E`` non-zero partial correlations is
    ``-2 l + E log n + 4 gamma E log D`` (Foygel and Drton 2010), computed for
    a given penalty too. Its log-likelihood ``l`` is that of the ilr
    coordinates (any orthonormal basis gives the same value) under the fitted
    covariance ``W = Theta^{-1}``, because clr data only vary in D - 1
    dimensions: the D-dimensional Gaussian likelihood of clr data grows
    without bound along the ones vector as the penalty shrinks, and would
    always choose the smallest penalty. With ``u = Theta 1``,

    .. math:: l = \frac{n}{2}\left(\log\det\Theta - \log\frac{1^T u}{D}
              - \operatorname{tr}(S\Theta) + \frac{u^T S u}{1^T u}\right).

    When ``n <= D`` this likelihood, too, grows as the penalty goes to zero;
    the path stops at 0.05 times the largest penalty and the edge terms of the
    EBIC do the rest.

    StARS (Liu, Roeder and Wasserman 2010) fits the path to ``n_subsamples``
    subsamples of ``b = min(10 sqrt(n), 0.8 n)`` samples (at least 3) drawn
    without replacement. With ``theta_ij`` the fraction of subsamples whose
    graph has edge ``ij``, the instability of a penalty is the mean over pairs
    of ``2 theta_ij (1 - theta_ij)``, made non-decreasing along the path;
    the chosen penalty is the smallest with instability at most
    ``threshold`` (the largest penalty, an empty graph, if none is). With few
    parts the instability moves in coarse steps (one unstable pair of ten is
    already 0.05), so StARS suits larger D; EBIC is the default.

    References
    ----------
    .. [1] Friedman, J., Hastie, T. and Tibshirani, R. (2008). Sparse inverse
       covariance estimation with the graphical lasso. Biostatistics
       9:432-441. https://doi.org/10.1093/biostatistics/kxm045
    .. [2] Foygel, R. and Drton, M. (2010). Extended Bayesian information
       criteria for Gaussian graphical models. Advances in Neural Information
       Processing Systems 23. https://doi.org/10.48550/arXiv.1011.6640
    .. [3] Liu, H., Roeder, K. and Wasserman, L. (2010). Stability approach
       to regularization selection (StARS) for high dimensional graphical
       models. Advances in Neural Information Processing Systems 23.
       https://doi.org/10.48550/arXiv.1006.3316
    .. [4] Erb, I. (2020). Partial correlations in compositional data
       analysis. Applied Computing and Geosciences 6:100026.
       https://doi.org/10.1016/j.acags.2020.100026

    Examples
    --------
    Parts 0 and 1, and parts 2 and 3, share a log-scale factor:

    >>> import numpy as np
    >>> import coda
    >>> rng = np.random.default_rng(2)
    >>> z = rng.standard_normal((50, 5))
    >>> z[:, 1] += z[:, 0]
    >>> z[:, 3] += z[:, 2]
    >>> result = coda.pcor_glasso(np.exp(z))
    >>> round(result.penalty, 4), int(result.n_edges[np.argmin(result.scores)])
    (0.172, 5)
    >>> result.pcor.round(2)
    array([[1.  , 0.59, 0.07, 0.  , 0.21],
           [0.59, 1.  , 0.  , 0.  , 0.  ],
           [0.07, 0.  , 1.  , 0.55, 0.35],
           [0.  , 0.  , 0.55, 1.  , 0.  ],
           [0.21, 0.  , 0.35, 0.  , 1.  ]])
    """
    values, labels = composition(x, "x", min_parts=3, min_samples=3)
    criterion = check_option(criterion, "criterion", _CRITERIA)
    if penalty is not None:
        check_unused(n_penalties, "n_penalties", "when penalty is given (there is no path)")
    if criterion == "ebic":
        stars_options = {"n_subsamples": n_subsamples, "threshold": threshold, "seed": seed}
        for name, value in stars_options.items():
            check_unused(value, name, 'by criterion="ebic" (it is a StARS option)')
        gamma = 0.5 if gamma is None else gamma
        gamma = check_unit_interval(gamma, "gamma", hint="; 0.5 is the usual choice, 0 the BIC")
    else:
        check_unused(gamma, "gamma", 'by criterion="stars" (it is an EBIC option)')
        n_subsamples = 20 if n_subsamples is None else n_subsamples
        n_subsamples = check_count(n_subsamples, "n_subsamples", minimum=2)
        threshold = 0.05 if threshold is None else threshold
        threshold = check_unit_interval(threshold, "threshold", hint="; 0.05 is the usual choice")
    n_penalties = check_count(20 if n_penalties is None else n_penalties, "n_penalties", minimum=1)
    tol = check_positive(tol, "tol")
    max_iter = check_count(max_iter, "max_iter", minimum=1)
    n, d = values.shape
    gamma_clr = clr_cov_values(values, 1)
    check_varying(np.diag(gamma_clr), "x", labels.part_names(d), "clr values")
    s = _augment(gamma_clr)
    subsamples = _subsamples(n, n_subsamples, seed) if criterion == "stars" else []
    if penalty is None:
        top = _largest_offdiag(s)
        for rows in subsamples:
            # StARS paths start where every subsample's graph is empty too.
            top = max(top, _largest_offdiag(_augment(clr_cov_values(values[rows], 1))))
        penalties = np.geomspace(top, _MIN_RATIO * top, n_penalties)
    else:
        hint = (
            "; the clr covariance is singular, so the graphical lasso needs a penalty > 0 "
            "(for the exact estimate when n > D use coda.pcor(x))"
        )
        penalties = np.array([check_positive(penalty, "penalty", hint=hint)])
    unconverged: list[float] = []
    if criterion == "ebic":
        best, theta, scores, n_edges = _choose_by_ebic(
            s, gamma_clr, penalties, n, gamma, tol, max_iter, unconverged
        )
        n_fits = penalties.size
    else:
        scores = _stars_instability(values, subsamples, penalties, tol, max_iter, unconverged)
        # Liu et al. (2010): the smallest penalty whose monotonised instability
        # stays within the threshold; the first penalty (the largest) if none does.
        best = int(np.flatnonzero(scores <= threshold)[-1]) if scores[0] <= threshold else 0
        # the last fits on all the data: which of them failed decides the verdict
        first_full = len(unconverged)
        theta, n_edges = _fit_path_to(s, penalties, best, tol, max_iter, unconverged)
        n_fits = penalties.size * (len(subsamples) + 1)
    full_data = unconverged if criterion == "ebic" else unconverged[first_full:]
    chosen_failed = float(penalties[best]) in full_data
    _warn_unconverged(unconverged, n_fits, chosen_failed, tol, max_iter)
    if not chosen_failed:
        _warn_not_positive_definite(theta, penalties[best], n, d)
    # Adding 0.0 turns the -0.0 of absent edges (-beta * theta_jj) into 0.0.
    theta = theta + 0.0
    # A negative diagonal (an indefinite fit, warned of above) gives NaN, not
    # numpy's warning of a square root of a negative number.
    with np.errstate(invalid="ignore"):
        rho = pcor_from_precision(theta)
    return GlassoResult(
        pcor=labels.square(rho),
        precision=labels.square(theta),
        penalty=float(penalties[best]),
        criterion=criterion,
        penalties=penalties,
        scores=scores,
        n_edges=n_edges,
    )
