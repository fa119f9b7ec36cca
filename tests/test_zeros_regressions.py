"""Regressions of coda.replace_zeros and coda.simulate found in review."""

from __future__ import annotations

import numpy as np
import pytest

import coda

BAYESIAN = ("gbm", "sq", "bl")


def _cmult_repl(counts, method, frac=0.65):
    """cmultRepl (zCompositions) written out row by row, prior totals summed without row i."""
    x = np.asarray(counts, dtype=np.float64)
    n_rows, d = x.shape
    out = x / x.sum(axis=1, keepdims=True)
    observed = np.where(x > 0, out, np.inf).min(axis=0)
    for i in range(n_rows):
        others = np.delete(x, i, axis=0).sum(axis=0)
        t = others / others.sum()
        n = x[i].sum()
        s = {"gbm": 1 / np.exp(np.log(t).mean()), "sq": np.sqrt(n), "bl": d}[method]
        zero = x[i] == 0
        estimate = t[zero] * s / (n + s)
        estimate = np.where(estimate > observed[zero], frac * observed[zero], estimate)
        out[i, ~zero] *= 1 - estimate.sum()
        out[i, zero] = estimate
    return out


@pytest.mark.parametrize("method", BAYESIAN)
def test_bayesian_prior_when_one_row_holds_most_of_a_part(method):
    # Part 0 totals 1e20 + 2; the prior of row 0 needs the other rows' total, 2.
    # Subtracting row 0 from the column total (both 1e20 in float64) left 0:
    # GBM's log(0) made row 0 NaN, SQ and BL replaced from a wrong prior.
    x = np.array([[1e20, 0, 1], [1, 1, 1], [1, 1, 0]])
    got = coda.replace_zeros(x, method=method)
    assert np.isfinite(got).all() and (got > 0).all()
    np.testing.assert_allclose(got, _cmult_repl(x, method), rtol=1e-12)


def test_sq_prior_when_one_row_holds_most_of_a_part_hand_worked():
    # Row 0: other rows' totals (2, 2, 1), t = (0.4, 0.4, 0.2); n = 1e20 + 1,
    # s = sqrt(n) = 1e10, s / (n + s) = 1e-10 to 1e-20: the zero gets 0.4e-10.
    x = np.array([[1e20, 0, 1], [1, 1, 1], [1, 1, 0]])
    got = coda.replace_zeros(x, method="sq")
    np.testing.assert_allclose(got[0, 1], 4e-11, rtol=1e-9)
