"""Helpers for the accuracy tests: exact references and hard data.

The references take numpy's float64 logs of the data as given and do the rest
in exact rational arithmetic (``fractions.Fraction``); errors are read in
units of eps times the natural scale of each result.
"""

from __future__ import annotations

import math
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


def drifting(n: int = 30, *, spread: float = 1e-3, seed: int = 1) -> np.ndarray:
    """Log-ratios that drift over the rows by 30 against a spread of ``spread``: sorted data.

    The clr covariance has one large eigenvalue (the drift) and four of about
    ``spread**2``: condition numbers of about 1e9 and 1e11 for spreads of
    1e-3 and 1e-4.
    """
    rng = np.random.default_rng(seed)
    trend = np.linspace(0.0, 30.0, n)[:, None] * np.array([1.0, 0.0, 0.0, -1.0, 0.0, 2.0])
    return np.exp(trend + spread * rng.normal(size=(n, 6)))


def exact_precision(x, ddof: int = 1) -> list[list[Fraction]]:
    """The pseudo-inverse of the clr covariance of numpy's logs of ``x``, exactly.

    ``Omega = B (B^T Gamma B)^{-1} B^T`` for any basis ``B`` of the clr plane,
    orthonormal or not; here the rational ``B = [I; -1^T]``, so that
    ``B^T Gamma B`` is the covariance of the logs relative to the last part.
    """
    logs = exact_logs(x)
    n, k = len(logs), len(logs[0]) - 1
    rel = [[row[a] - row[-1] for a in range(k)] for row in logs]
    means = [sum(row[a] for row in rel) / n for a in range(k)]
    centred = [[row[a] - means[a] for a in range(k)] for row in rel]
    cov = [[sum(r[a] * r[b] for r in centred) / (n - ddof) for b in range(k)] for a in range(k)]
    # Gauss-Jordan on [cov | I]
    work = [cov[a] + [Fraction(int(a == b)) for b in range(k)] for a in range(k)]
    for col in range(k):
        pivot = next(r for r in range(col, k) if work[r][col] != 0)
        work[col], work[pivot] = work[pivot], work[col]
        lead = work[col][col]
        work[col] = [v / lead for v in work[col]]
        for r in range(k):
            if r != col and work[r][col] != 0:
                f = work[r][col]
                work[r] = [v - f * w for v, w in zip(work[r], work[col], strict=True)]
    inverse = [row[k:] for row in work]
    # B S^{-1} B^T: rows a < k of B are unit vectors, the last row is -1^T.
    d = k + 1
    body = [[*row, -sum(row)] for row in inverse]
    last = [-sum(body[a][j] for a in range(k)) for j in range(d)]
    return [*body, last]


def _correlations(matrix, sign: float) -> np.ndarray:
    """``sign * m_ij / sqrt(m_ii m_jj)`` of an exact symmetric matrix, each rounded once."""
    d = len(matrix)
    out = np.eye(d)
    for i in range(d):
        for j in range(d):
            if i != j:
                square = matrix[i][j] ** 2 / (matrix[i][i] * matrix[j][j])
                # The square root to 120 bits, from integers.
                num, den = square.numerator, square.denominator
                root = Fraction(math.isqrt(num * 4**120 // den), 2**120)
                out[i, j] = math.copysign(float(root), sign * matrix[i][j])
    return out


def exact_pcor(x, ddof: int = 1) -> np.ndarray:
    """``-Omega_ij / sqrt(Omega_ii Omega_jj)`` of :func:`exact_precision`, rounded once."""
    return _correlations(exact_precision(x, ddof), -1.0)


def exact_conditional_cov(x, given: list[int], ddof: int = 1) -> list[list[Fraction]]:
    """The covariance of the logs of the parts outside ``given`` relative to ``given[0]``,
    after partialling out those of ``given[1:]`` (a Schur complement), exactly."""
    logs = exact_logs(x)
    n, d = len(logs), len(logs[0])
    pivot, others = given[0], list(given[1:])
    columns = others + [i for i in range(d) if i not in given]
    rel = [[row[c] - row[pivot] for c in columns] for row in logs]
    m = len(columns)
    means = [sum(row[a] for row in rel) / n for a in range(m)]
    centred = [[row[a] - means[a] for a in range(m)] for row in rel]
    cov = [[sum(r[a] * r[b] for r in centred) / (n - ddof) for b in range(m)] for a in range(m)]
    for p in range(len(others)):
        for a in range(p + 1, m):
            f = cov[a][p] / cov[p][p]
            for b in range(p + 1, m):
                cov[a][b] -= f * cov[p][b]
    q = len(others)
    return [row[q:] for row in cov[q:]]


def exact_conditional_pcor(x, given: list[int], ddof: int = 1) -> np.ndarray:
    """The partial correlations of the parts outside ``given`` (in order), rounded once."""
    return _correlations(exact_conditional_cov(x, given, ddof), 1.0)


def exact_cov(z: list[list[Fraction]], ddof: int) -> np.ndarray:
    n, k = len(z), len(z[0])
    means = [sum(row[a] for row in z) / n for a in range(k)]
    centred = [[row[a] - means[a] for a in range(k)] for row in z]
    out = np.empty((k, k))
    for a in range(k):
        for b in range(a, k):
            value = sum(row[a] * row[b] for row in centred) / (n - ddof)
            out[a, b] = out[b, a] = float(value)
    return out


def exact_helmert_cov(x: np.ndarray, ddof: int = 1) -> np.ndarray:
    z = []
    for logs in exact_logs(x):
        total, row = Fraction(0), []
        for k in range(1, len(logs)):
            total += logs[k - 1]
            row.append(total / k - logs[k])
        z.append(row)
    d = x.shape[1]
    scale = np.array([math.sqrt(k / (k + 1)) for k in range(1, d)])
    return exact_cov(z, ddof) * np.outer(scale, scale)


def exact_pivot_cov(x: np.ndarray, ddof: int = 1) -> np.ndarray:
    d = x.shape[1]
    z = [
        [logs[j] - sum(logs[j + 1 :]) / (d - j - 1) for j in range(d - 1)]
        for logs in exact_logs(x)
    ]
    scale = np.array([math.sqrt((d - j - 1) / (d - j)) for j in range(d - 1)])
    return exact_cov(z, ddof) * np.outer(scale, scale)


def exact_basis_cov(x: np.ndarray, basis: np.ndarray, ddof: int = 1) -> np.ndarray:
    v = [[Fraction(float(a)) for a in row] for row in np.asarray(basis)]
    z = []
    for logs in exact_logs(x):
        mean = sum(logs) / len(logs)
        clr = [value - mean for value in logs]
        z.append(
            [sum(c * row[k] for c, row in zip(clr, v, strict=True)) for k in range(len(v[0]))]
        )
    return exact_cov(z, ddof)


# Four close parts against two others, then balances inside each group.
CLOSE_OTHER_SBP = [
    [1, 1, 1, 1, -1, -1],
    [1, 1, -1, -1, 0, 0],
    [1, -1, 0, 0, 0, 0],
    [0, 0, 1, -1, 0, 0],
    [0, 0, 0, 0, 1, -1],
]


# The logs of the parts: far apart, as major and trace elements are.
FAR_OFFSETS = np.array([5.0, 45.0, -20.0, 25.0, 40.0, 10.0])


def far_apart(n: int = 30, seed: int = 0, totals: float = 0.0) -> np.ndarray:
    """Parts e^-20 to e^45 varying by 1e-2; part 1 is part 0 times e^40, up to 1e-7.

    ``totals``: the spread of a factor common to all parts of a row.
    """
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, 1e-2, (n, 6)) + rng.normal(0.0, totals, (n, 1))
    noise[:, 1] = noise[:, 0] + rng.normal(0.0, 1e-7, n)
    return np.exp(FAR_OFFSETS + noise)


def errors_on_own_scale(sigma, exact: np.ndarray) -> np.ndarray:
    """``|sigma - exact|`` in eps of ``sqrt(S_kk S_ll)``, the entry's own scale."""
    scale = np.sqrt(np.outer(np.diag(exact), np.diag(exact)))
    return np.abs(np.asarray(sigma) - exact) / scale / EPS


def assert_same(got, expected) -> None:
    """``got`` is exactly ``expected``: same type, labels and bits; result fields and graphs too.

    For the delegates (``df.coda``) checked against the functions they call:
    the same arithmetic, so no tolerance.
    """
    import dataclasses

    import networkx as nx
    import pandas as pd

    assert type(got) is type(expected)
    if isinstance(expected, pd.DataFrame):
        pd.testing.assert_frame_equal(got, expected, check_exact=True)
    elif isinstance(expected, pd.Series):
        pd.testing.assert_series_equal(got, expected, check_exact=True)
    elif isinstance(expected, nx.Graph):
        assert nx.utils.graphs_equal(got, expected)
    elif dataclasses.is_dataclass(expected):
        for field in dataclasses.fields(expected):
            assert_same(getattr(got, field.name), getattr(expected, field.name))
    elif isinstance(expected, np.ndarray):
        np.testing.assert_array_equal(got, expected, strict=True)
    else:
        assert got == expected or (np.isnan(got) and np.isnan(expected))
