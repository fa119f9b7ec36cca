"""clr and the Helmert and pivot ilr against exact rational arithmetic.

The reference takes numpy's float64 logs of the data as given and does the
rest exactly (``fractions.Fraction``), rounding once at the end (the ilr
coefficients ``sqrt(k/(k+1))`` once more). Errors are measured against the
largest coordinate of the row, the scale a user reads them on: the centred
logs and the coordinates of a nearly constant row are small beside the logs
themselves, which is where sums of raw logs lose digits.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from exact import EPS, exact_logs

import coda


def _rows(kind: str, d: int) -> np.ndarray:
    rng = np.random.default_rng(d)
    if kind == "percent near 50":
        return 50.0 + rng.random((3, d))
    if kind == "proportions":
        return rng.dirichlet(np.ones(d), size=3)
    if kind == "wide":
        return np.exp(rng.normal(0.0, 3.0, (3, d)))
    if kind == "one tiny part":
        rows = 1.0 + 1e-3 * rng.random((3, d))
        rows[:, 0] = 1e-9
        return rows
    raise AssertionError(kind)


def _exact_clr(x: np.ndarray) -> np.ndarray:
    out = []
    for logs in exact_logs(x):
        mean = sum(logs) / len(logs)
        out.append([float(v - mean) for v in logs])
    return np.array(out)


def _exact_helmert(x: np.ndarray) -> np.ndarray:
    out = []
    for logs in exact_logs(x):
        row, total = [], Fraction(0)
        for k in range(1, len(logs)):
            total += logs[k - 1]
            row.append(math.sqrt(k / (k + 1)) * float(total / k - logs[k]))
        out.append(row)
    return np.array(out)


def _exact_pivot(x: np.ndarray) -> np.ndarray:
    out = []
    for logs in exact_logs(x):
        d = len(logs)
        suffix = [Fraction(0)] * d  # suffix[j]: sum of logs[j + 1:]
        for j in range(d - 2, -1, -1):
            suffix[j] = suffix[j + 1] + logs[j + 1]
        out.append(
            [
                math.sqrt((d - j - 1) / (d - j)) * float(logs[j] - suffix[j] / (d - j - 1))
                for j in range(d - 1)
            ]
        )
    return np.array(out)


def _errors_in_eps(actual: np.ndarray, expected: np.ndarray) -> float:
    """The largest error of each row, in units of eps times the row's largest value."""
    scale = np.abs(expected).max(axis=1, keepdims=True)
    return float((np.abs(actual - expected) / (EPS * scale)).max())


KINDS = ["percent near 50", "proportions", "wide", "one tiny part"]
PARTS = [3, 100, 1000, 2500]  # 2500: several of the kernels' 256-value sum chunks


@pytest.mark.parametrize("d", PARTS)
@pytest.mark.parametrize("kind", KINDS)
def test_clr_is_within_a_few_roundings_of_exact(kind, d):
    x = _rows(kind, d)
    expected = _exact_clr(x)
    logs = np.log(x)
    # The mean is a float: one rounding of it is the floor, and it can be far
    # above eps * max|clr| (percentages near 50). Its sum has a condition
    # number: eps * mean(|log x|) is what one rounding per part costs when the
    # logs cancel (the mean near 0 while the logs are not). Sums of raw logs
    # in one chain (as before) were 3-9 times this bound at D >= 1000.
    floor = (
        np.spacing(np.abs(logs.mean(axis=1, keepdims=True)))
        + EPS * np.abs(logs).mean(axis=1, keepdims=True)
        + np.spacing(np.abs(expected))
    )
    assert (np.abs(coda.clr(x) - expected) <= 2 * floor).all()


@pytest.mark.parametrize("d", PARTS)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("basis", "exact"), [("helmert", _exact_helmert), ("pivot", _exact_pivot)]
)
def test_ilr_is_within_a_few_roundings_of_exact(kind, d, basis, exact):
    # Running sums of raw logs (as before) were hundreds to thousands of eps
    # off for percentages near 50, and 3-14 for proportions at D >= 100.
    x = _rows(kind, d)
    assert _errors_in_eps(coda.ilr(x, basis=basis), exact(x)) <= 4


@pytest.mark.parametrize("d", PARTS)
@pytest.mark.parametrize("basis", ["helmert", "pivot"])
def test_log_ratios_of_a_constant_row_vanish(d, basis):
    # Exactly 0 would need the mean of d equal logs to round to that log; it
    # is within one rounding, so what is left is a rounding of a rounding.
    floor = EPS * np.spacing(math.log(3.7))
    assert np.abs(coda.clr(np.full(d, 3.7))).max() <= 2 * floor / EPS
    assert np.abs(coda.ilr(np.full(d, 3.7), basis=basis)).max() <= 4 * floor
