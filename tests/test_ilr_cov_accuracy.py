"""ilr_cov against exact rational arithmetic, for nearly proportional parts.

The reference takes numpy's float64 logs of the data as given and does the
rest exactly (``fractions.Fraction``): the Helmert and pivot coordinates from
their definitions (``sqrt(k/(k+1)) (mean(l[:k]) - l[k])`` and
``sqrt(m/(m+1)) (l[j] - mean(l[j+1:]))``, the square roots rounded once, as
scales of the covariance), an explicit basis from its float entries applied
to the exact clr; then the covariance, rounded once. Errors are in eps times
the entry itself. Where parts are nearly proportional, some coordinates vary
little beside the clr values they are made of: ``V^T Gamma V`` (as before)
was 1e12 to 1e13 eps off there, and ``np.cov(coda.ilr(x))`` 1e6 to 1e7.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from exact import (
    CLOSE_OTHER_SBP,
    errors_in_eps,
    exact_basis_cov,
    exact_helmert_cov,
    exact_pivot_cov,
    nearly_proportional,
)

import coda


@pytest.mark.parametrize(
    ("close", "other", "bound"),
    # 18 close parts: Helmert coordinate k sums k differences, so its error grows with k.
    [(4, 2, 16.0), (18, 2, 64.0)],
)
def test_helmert_ilr_cov_of_nearly_proportional_parts(close, other, bound):
    # Before: 6e12 (4 close parts) and 3e13 eps (18) from V^T Gamma V.
    x = nearly_proportional(25, close, other, seed=close)
    assert errors_in_eps(coda.ilr_cov(x), exact_helmert_cov(x)).max() <= bound


def test_pivot_ilr_cov_of_nearly_proportional_last_parts():
    # The last pivot coordinates contrast the last parts; before: 1e11 eps and more. The
    # worst entry (10 eps) is a covariance of a widely and a narrowly varying coordinate.
    x = nearly_proportional(30, 3, 3, seed=7)[:, ::-1]
    assert errors_in_eps(coda.ilr_cov(x, basis="pivot"), exact_pivot_cov(x)).max() <= 16.0


def test_sbp_balances_of_a_dataframe_with_ddof_zero():
    # Balances within a group of nearly proportional parts, labelled by the SBP's rows.
    x = nearly_proportional(30, 4, 2, seed=8)
    frame = pd.DataFrame(x, columns=list("abcdef"))
    copy = frame.copy()
    sbp = pd.DataFrame(
        CLOSE_OTHER_SBP,
        columns=list("abcdef"),
        index=["close/other", "ab/cd", "a/b", "c/d", "e/f"],
    )
    basis = coda.sbp_basis(sbp)
    psi = coda.ilr_cov(frame, basis=basis, ddof=0)
    pd.testing.assert_frame_equal(frame, copy)
    assert list(psi.index) == list(psi.columns) == list(sbp.index)
    expected = exact_basis_cov(x, basis.to_numpy(), ddof=0)
    assert errors_in_eps(psi.to_numpy(), expected).max() <= 8.0


@pytest.mark.parametrize("rows", [4, 9, 25])
@pytest.mark.parametrize("basis", ["helmert", "pivot", "sbp"])
def test_dask_ilr_cov_of_nearly_proportional_parts(rows, basis):
    # Before: dask input always took V^T Gamma V (up to 1e13 eps off here).
    import dask.array as da

    x = nearly_proportional(25, 4, 2, seed=4)
    if basis == "helmert":
        expected, bound = exact_helmert_cov(x), 16.0
    elif basis == "pivot":
        x = x[:, ::-1]
        expected, bound = exact_pivot_cov(x), 16.0
    else:
        basis = coda.sbp_basis(CLOSE_OTHER_SBP)
        expected, bound = exact_basis_cov(x, basis), 8.0
    got = coda.ilr_cov(da.from_array(x, chunks=(rows, -1)), basis=basis)
    # Merging seven blocks of four rows adds some eps: 21 at worst, against 8 in memory.
    assert errors_in_eps(got, expected).max() <= 2 * bound
    np.testing.assert_allclose(got, coda.ilr_cov(x, basis=basis), rtol=1e-9, atol=0)
