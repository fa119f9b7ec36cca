"""Regression tests for the geometry on logs of ratios, found in QA of that change.

Each test failed before its fix:

- ``power`` with a power near the float maximum (``a=1e308``) let numpy's
  "overflow encountered in multiply" escape from the rows that go through
  logs of ratios (``a`` times a log of a ratio beyond the float range is
  ``-inf``, as intended, and closes to 0);
- ``power`` with one power per row gave rows one unit in the last place
  away from the same row powered alone, or from the same power given once
  for all rows: numpy's ``power`` takes an exponent that is constant over
  the operation (a broadcast scalar, or a single row's) of 0.5, 2 or -1 as
  ``sqrt``, a square or a reciprocal, and any other as ``pow``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import coda

ROWS = np.random.default_rng(7).lognormal(size=(400, 5))


@pytest.mark.parametrize("a", [1e308, -1e308, 1.7e308])
def test_power_near_the_float_maximum_warns_of_nothing(a):
    x = np.array([[1.0, 2.0, 3.0], [1e-300, 1e300, 1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = coda.power(x, a)
    # The largest part (the smallest for a < 0) takes the whole row.
    top = np.argmax(x, axis=1) if a > 0 else np.argmin(x, axis=1)
    np.testing.assert_array_equal(got, np.eye(3)[top])


@pytest.mark.parametrize("a", [0.5, 2.0, -1.0])
def test_power_per_row_is_the_row_powered_alone(a):
    powers = np.full(ROWS.shape[0], a)
    powers[::3] = 1.5  # not all rows share the power
    together = coda.power(ROWS, powers)
    for i in range(0, ROWS.shape[0], 7):
        np.testing.assert_array_equal(together[i], coda.power(ROWS[i], powers[i]))
        np.testing.assert_array_equal(together[i], coda.power(ROWS[i : i + 1], powers[i])[0])


@pytest.mark.parametrize("a", [0.5, 2.0, -1.0])
def test_power_once_for_all_rows_or_per_row_agree(a):
    frame = pd.DataFrame(ROWS, columns=list("abcde"))
    once = coda.power(frame, a)
    per_row = coda.power(frame, pd.Series(a, index=frame.index))
    pd.testing.assert_frame_equal(once, per_row, check_exact=True)


_EXTREMES = [1e-300, 3e-200, 1e-30, 1.0, 1e30, 1e300, 5e-324, 2.2e-308, 1e-320]


@pytest.mark.parametrize(
    "operation",
    [
        lambda x, y: coda.perturb(x, y),
        lambda x, y: coda.perturb_inv(x, y),
        lambda x, y: coda.power(x, 2.0),
        lambda x, y: coda.power(x, -3.0),
        lambda x, y: coda.power(x, y[:, 0] if y[0, 0] < 1e10 else 2.0),
    ],
    ids=["perturb", "perturb_inv", "power 2", "power -3", "power per row"],
)
def test_floating_point_traps_set_by_the_user_do_not_fire(operation):
    # Before: under np.errstate(all="raise"), rows near 1e-300 raised on the
    # underflow of the scaled products, and rows of subnormals on the overflow
    # of a power of two never used; numpy's own default ignores underflow.
    rows = np.array([[a, b] for a in _EXTREMES for b in _EXTREMES])
    partner = rows[::-1].copy()
    expected = operation(rows, partner)
    with np.errstate(all="raise"):
        got = operation(rows, partner)
    np.testing.assert_array_equal(got, expected)


def test_float32_results_below_float32_range_do_not_trip_a_users_traps():
    # The last cast to float32 underflows for parts below 1e-45 of the row;
    # numpy's default ignores that, and so does coda under np.errstate(all="raise").
    x = np.float32([[3e38, 1e-45, 1.0]])
    y = np.float32([[1.0, 1e-30, 1.0]])
    operations = [
        lambda: coda.perturb(x, y),
        lambda: coda.perturb_inv(x, y),
        lambda: coda.power(x, 2.0),
        lambda: coda.center(np.vstack([x, y])),
    ]
    for operation in operations:
        expected = operation()
        with np.errstate(all="raise"):
            got = operation()
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, expected)
