"""The estimators of ``df.coda`` beyond the clr covariance and partial correlations.

Each method calls the coda function of the same name on the DataFrame's parts
(see :mod:`coda.accessor` for which columns are parts), with the same
keyword-only options and defaults, and returns that function's result
unchanged: a summary of the parts, labelled by them, without the frame's
``attrs`` (it describes the parts, not the samples).
"""

from __future__ import annotations

import pandas as pd

from coda.covariance import alr_cov, ilr_cov, total_variance
from coda.geometry import center
from coda.glasso import pcor_glasso
from coda.inference import pcor_bootstrap
from coda.partial import multiple_r2
from coda.proportionality import balance_correlation, proportionality
from coda.shrinkage import pcor_shrink


class _Estimators:
    """Methods of the DataFrame accessor, which provides ``_parts``."""

    _parts: pd.DataFrame

    def center(self):
        """Centre of the compositions, the closed geometric mean: :func:`coda.center`.

        Returns
        -------
        Series
            ``coda.center(parts)``, one value per part.

        See Also
        --------
        coda.center : the function called.

        Examples
        --------
        >>> import pandas as pd
        >>> import coda
        >>> df = pd.DataFrame({"id": ["a", "b"], "Si": [4, 1], "Al": [1, 4], "Fe": [2, 2]})
        >>> df.coda.center()
        Si    0.333333
        Al    0.333333
        Fe    0.333333
        Name: center, dtype: float64
        """
        return center(self._parts)

    def total_variance(self, *, ddof: int = 1):
        """Total variance, the trace of the clr covariance: :func:`coda.total_variance`.

        Parameters
        ----------
        ddof : int, default 1
            Delta degrees of freedom, as in :func:`coda.total_variance`.

        Returns
        -------
        float
            ``coda.total_variance(parts, ddof=ddof)``.

        See Also
        --------
        coda.total_variance : the function called.
        clr_cov : the matrix whose trace it is.

        Examples
        --------
        >>> import pandas as pd
        >>> import coda
        >>> df = pd.DataFrame({"id": ["a", "b", "c"], "Si": [1, 2, 4], "Al": [1, 1, 1]})
        >>> round(df.coda.total_variance(), 6)
        0.240227
        """
        return total_variance(self._parts, ddof=ddof)

    def alr_cov(self, *, ref=-1, ddof: int = 1):
        """Covariance of the alr coordinates: :func:`coda.alr_cov`.

        Parameters
        ----------
        ref : int or str, default -1
            The reference part, a position or a column name.
        ddof : int, default 1
            Delta degrees of freedom, as in :func:`coda.alr_cov`.

        Returns
        -------
        DataFrame
            ``coda.alr_cov(parts, ref=ref, ddof=ddof)``, labelled like the alr
            columns (``"Si/Fe"``) on both axes.

        See Also
        --------
        coda.alr_cov : the function called.
        alr : the coordinates.

        Examples
        --------
        >>> import pandas as pd
        >>> import coda
        >>> df = pd.DataFrame(
        ...     {"id": ["a", "b", "c"], "Si": [1, 2, 4], "Al": [1, 1, 2], "Fe": [1, 1, 1]}
        ... )
        >>> df.coda.alr_cov(ref="Fe")
                  Si/Fe     Al/Fe
        Si/Fe  0.480453  0.240227
        Al/Fe  0.240227  0.160151
        """
        return alr_cov(self._parts, ref=ref, ddof=ddof)

    def ilr_cov(self, *, basis="helmert", ddof: int = 1):
        """Covariance of the ilr coordinates: :func:`coda.ilr_cov`.

        Parameters
        ----------
        basis : {"helmert", "pivot"} or array_like, default "helmert"
            The ilr basis, as for :func:`coda.ilr`.
        ddof : int, default 1
            Delta degrees of freedom, as in :func:`coda.ilr_cov`.

        Returns
        -------
        DataFrame
            ``coda.ilr_cov(parts, basis=basis, ddof=ddof)``, labelled by the
            coordinates (``ilr1``, ...) on both axes.

        See Also
        --------
        coda.ilr_cov : the function called.
        ilr : the coordinates.

        Examples
        --------
        >>> import pandas as pd
        >>> import coda
        >>> df = pd.DataFrame(
        ...     {"id": ["a", "b", "c"], "Si": [1, 2, 4], "Al": [1, 1, 2], "Fe": [1, 1, 1]}
        ... )
        >>> df.coda.ilr_cov(basis="pivot")
                  ilr1      ilr2
        ilr1  0.186843  0.092463
        ilr2  0.092463  0.080076
        """
        return ilr_cov(self._parts, basis=basis, ddof=ddof)

    def multiple_r2(self, *, ref=-1):
        """R^2 of each alr coordinate on all the others: :func:`coda.multiple_r2`.

        Parameters
        ----------
        ref : int or str, default -1
            The alr reference part, a position or a column name.

        Returns
        -------
        Series
            ``coda.multiple_r2(parts, ref=ref)``, one value per alr
            coordinate (``"Si/Fe"``).

        See Also
        --------
        coda.multiple_r2 : the function called.
        pcor : the partial correlations.

        Examples
        --------
        >>> import coda
        >>> df = coda.simulate(100, 4, graph="chain", seed=0).data
        >>> df.insert(0, "site", "north")
        >>> df.coda.multiple_r2(ref="p04").round(2)
        p01/p04    0.72
        p02/p04    0.76
        p03/p04    0.54
        Name: multiple_r2, dtype: float64
        """
        return multiple_r2(self._parts, ref=ref)

    def proportionality(self, *, metric: str = "rho", ddof: int = 1):
        """Proportionality between every pair of parts: :func:`coda.proportionality`.

        Parameters
        ----------
        metric : {"rho", "phi", "phs"}, default "rho"
            The measure, as in :func:`coda.proportionality`.
        ddof : int, default 1
            Delta degrees of freedom (it cancels in every metric).

        Returns
        -------
        DataFrame
            ``coda.proportionality(parts, metric=metric, ddof=ddof)``, parts x
            parts.

        See Also
        --------
        coda.proportionality : the function called.
        balance_correlation : correlations from pivot balances.

        Examples
        --------
        >>> import pandas as pd
        >>> import coda
        >>> df = pd.DataFrame(
        ...     {"id": ["a", "b", "c"], "Si": [2, 4, 8], "Al": [1, 2, 4], "Fe": [3, 1, 2]}
        ... )
        >>> df.coda.proportionality().round(3)
             Si   Al   Fe
        Si  1.0  1.0 -0.8
        Al  1.0  1.0 -0.8
        Fe -0.8 -0.8  1.0
        """
        return proportionality(self._parts, metric=metric, ddof=ddof)

    def balance_correlation(self, *, ddof: int = 1):
        """Correlations between parts from their pivot balances: :func:`coda.balance_correlation`.

        Parameters
        ----------
        ddof : int, default 1
            Delta degrees of freedom (it cancels in a correlation).

        Returns
        -------
        DataFrame
            ``coda.balance_correlation(parts, ddof=ddof)``, parts x parts.

        See Also
        --------
        coda.balance_correlation : the function called.
        proportionality : a pairwise alternative.

        Examples
        --------
        >>> import coda
        >>> df = coda.simulate(100, 4, graph="chain", seed=0).data
        >>> df.insert(0, "site", "north")
        >>> df.coda.balance_correlation().round(2)
              p01   p02   p03   p04
        p01  1.00  0.56 -0.19 -0.47
        p02  0.56  1.00  0.00 -0.38
        p03 -0.19  0.00  1.00  0.38
        p04 -0.47 -0.38  0.38  1.00
        """
        return balance_correlation(self._parts, ddof=ddof)

    def pcor_shrink(self, *, method: str = "shrink", lam=None, lam_var=None):
        """Partial correlations from a shrinkage covariance: :func:`coda.pcor_shrink`.

        Parameters
        ----------
        method : {"shrink", "bshrink"}, default "shrink"
            The estimator, as in :func:`coda.pcor_shrink`.
        lam : float, optional
            Correlation shrinkage intensity in [0, 1]; estimated when omitted.
        lam_var : float, optional
            Variance shrinkage intensity in [0, 1]; estimated when omitted.

        Returns
        -------
        ShrinkageResult
            ``coda.pcor_shrink(parts, method=method, lam=lam, lam_var=lam_var)``:
            ``pcor`` and ``precision`` labelled by parts, the intensities
            and the method.

        See Also
        --------
        coda.pcor_shrink : the function called.
        pcor : the same estimate with ``method="shrink"``.

        Examples
        --------
        >>> import coda
        >>> df = coda.simulate(30, 6, seed=0).data
        >>> df.insert(0, "site", "north")
        >>> fit = df.coda.pcor_shrink(lam=0.2)
        >>> fit.pcor.shape, fit.intensity
        ((6, 6), 0.2)
        """
        return pcor_shrink(self._parts, method=method, lam=lam, lam_var=lam_var)

    def pcor_glasso(
        self,
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
        """Sparse partial correlations from the graphical lasso: :func:`coda.pcor_glasso`.

        Parameters
        ----------
        penalty, criterion, gamma, n_penalties, n_subsamples, threshold, seed, tol, max_iter
            As in :func:`coda.pcor_glasso` (same defaults): the penalty, or
            how one is chosen along a path (``criterion="ebic"`` with
            ``gamma``, or ``"stars"`` with ``n_subsamples``, ``threshold``
            and ``seed``), and the convergence settings.

        Returns
        -------
        GlassoResult
            ``coda.pcor_glasso(parts, ...)`` with the options given:
            ``pcor`` and ``precision`` labelled by parts, the penalty and the
            path that chose it.

        See Also
        --------
        coda.pcor_glasso : the function called.
        pcor : the estimate with ``method="glasso"``.

        Examples
        --------
        >>> import coda
        >>> df = coda.simulate(200, 5, graph="chain", seed=1).data
        >>> df.insert(0, "site", "north")
        >>> fit = df.coda.pcor_glasso(penalty=0.05)
        >>> list(fit.pcor.columns)
        ['p01', 'p02', 'p03', 'p04', 'p05']
        """
        return pcor_glasso(
            self._parts,
            penalty=penalty,
            criterion=criterion,
            gamma=gamma,
            n_penalties=n_penalties,
            n_subsamples=n_subsamples,
            threshold=threshold,
            seed=seed,
            tol=tol,
            max_iter=max_iter,
        )

    def pcor_bootstrap(
        self,
        *,
        given=None,
        method: str = "exact",
        n_boot: int = 1000,
        seed=None,
        ci: float = 0.95,
        progress: bool | None = None,
        **options,
    ):
        """Bootstrap confidence intervals of the partial correlations: :func:`coda.pcor_bootstrap`.

        Parameters
        ----------
        given : sequence of int or str, optional
            Partial out only these parts (positions or column names), as in
            :func:`coda.pcor`; ``None`` partials out all other parts.
        method : {"exact", "shrink", "bshrink"}, default "exact"
            The estimator bootstrapped, as in :func:`coda.pcor_bootstrap`.
        n_boot : int, default 1000
            Number of bootstrap resamples.
        seed : None, int or numpy.random.Generator
            Seed of ``numpy.random.default_rng``.
        ci : float, default 0.95
            Confidence level, in (0, 1).
        progress : bool or None, default None
            Show a progress bar, as in :func:`coda.pcor_bootstrap`.
        **options
            Options of the shrinkage estimator (``lam``, ``lam_var``), as in
            :func:`coda.pcor_bootstrap`.

        Returns
        -------
        BootstrapResult
            ``coda.pcor_bootstrap(parts, ...)`` with the options given:
            ``estimate``, ``lower`` and ``upper`` labelled by parts, ``ci``
            and ``n_boot``.

        See Also
        --------
        coda.pcor_bootstrap : the function called.
        pcor_test : t tests of the same partial correlations.

        Examples
        --------
        >>> import coda
        >>> df = coda.simulate(100, 4, graph="chain", seed=0).data
        >>> df.insert(0, "site", "north")
        >>> boot = df.coda.pcor_bootstrap(n_boot=200, seed=0, progress=False)
        >>> bool((boot.lower <= boot.upper).all().all()), list(boot.lower.index)
        (True, ['p01', 'p02', 'p03', 'p04'])
        """
        return pcor_bootstrap(
            self._parts,
            given=given,
            method=method,
            n_boot=n_boot,
            seed=seed,
            ci=ci,
            progress=progress,
            **options,
        )
