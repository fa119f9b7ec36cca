"""Helpers for the accuracy tests: exact references and hard data.

The references take numpy's float64 logs of the data as given and do the rest
in exact rational arithmetic (``fractions.Fraction``); errors are read in
units of eps times the natural scale of each result.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

EPS = np.finfo(np.float64).eps


def exact_logs(x) -> list[list[Fraction]]:
    """numpy's float64 logs of ``x``, row by row, as exact fractions."""
    return [[Fraction(float(v)) for v in row] for row in np.log(np.asarray(x, dtype=np.float64))]


def errors_in_eps(actual, expected) -> np.ndarray:
    """``|actual - expected| / (eps |expected|)`` entry by entry (eps alone where 0)."""
    expected = np.asarray(expected, dtype=np.float64)
    scale = np.where(expected == 0.0, 1.0, np.abs(expected))
    return np.abs(np.asarray(actual, dtype=np.float64) - expected) / (EPS * scale)


def nearly_proportional(n: int, close: int, other: int, seed: int) -> np.ndarray:
    """``close`` parts that differ by factors within 1e-6 of 1, then ``other`` parts."""
    rng = np.random.default_rng(seed)
    base = np.exp(rng.normal(0.0, 1.0, (n, 1)))
    close_parts = base * (1.0 + 1e-6 * rng.random((n, close)))
    return np.hstack([close_parts, np.exp(rng.normal(0.0, 1.0, (n, other)))])
