"""The Aitchison geometry, alr and clr_inv against exact arithmetic.

References work on the float inputs as given: ``fractions.Fraction`` for
products, quotients and sums (exact), ``decimal`` at 50 digits for logs and
exponentials, rounding once at the end. Compositions are compared part by
part (relative error: a part's digits matter however small it is, unless
stated otherwise); log-ratio coordinates against the row's largest one;
distances and norms against themselves, inner products against the product
of the norms (their scale by Cauchy-Schwarz).

The rows are the ones where log(x) loses the digits a log-ratio needs:
parts near 50%, totals near 1e-300 or 1e300, values from 1e-12 to 1e6 and
pairs of compositions a tiny distance apart.
"""

from __future__ import annotations

from decimal import Decimal, localcontext
from fractions import Fraction

import numpy as np
import pytest

import coda

EPS = np.finfo(np.float64).eps
EPS32 = np.finfo(np.float32).eps


def _rows(kind: str, d: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng([d, seed])
    if kind == "percent near 50":
        return 50.0 + rng.random((3, d))
    if kind == "wide":
        return 10.0 ** rng.uniform(-12.0, 6.0, (3, d))
    if kind == "total near 1e-300":
        return 1e-300 * (1.0 + rng.random((3, d)))
    if kind == "total near 1e300":
        return 1e300 * (1.0 + rng.random((3, d))) / d
    raise AssertionError(kind)


def _closed(rows) -> np.ndarray:
    """Each row of exact (Fraction or Decimal) values divided by its sum, rounded once."""
    return np.array([[float(v / sum(row)) for v in row] for row in rows])


def _exact_combine(x: np.ndarray, y: np.ndarray, sign: int) -> np.ndarray:
    """``closure(x * y)`` or ``closure(x / y)``, exactly."""
    return _closed(
        [
            [Fraction(float(a)) * Fraction(float(b)) ** sign for a, b in zip(rx, ry, strict=True)]
            for rx, ry in zip(x, y, strict=True)
        ]
    )


def _ln(v: float) -> Decimal:
    return Decimal(float(v)).ln()


def _exact_power(x: np.ndarray, a: float) -> np.ndarray:
    with localcontext(prec=50):
        rows = []
        for row in x:
            logs = [_ln(v) for v in row]
            top = max(logs) if a >= 0 else min(logs)
            rows.append([((v - top) * Decimal(a)).exp() for v in logs])
        return _closed(rows)


def _exact_rows(exact, x: np.ndarray, powers) -> np.ndarray:
    return np.vstack([exact(x[i : i + 1], a) for i, a in enumerate(powers)])


def _exact_clr(x: np.ndarray) -> list[list[Decimal]]:
    with localcontext(prec=50):
        rows = []
        for row in x:
            logs = [_ln(v) for v in row]
            mean = sum(logs) / len(logs)
            rows.append([v - mean for v in logs])
        return rows


def _exact_norm(x: np.ndarray) -> np.ndarray:
    with localcontext(prec=50):
        return np.array([float(sum(v * v for v in row).sqrt()) for row in _exact_clr(x)])


def _exact_inner(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    with localcontext(prec=50):
        pairs = zip(_exact_clr(x), _exact_clr(y), strict=True)
        return np.array([float(sum(a * b for a, b in zip(*p, strict=True))) for p in pairs])


def _exact_distance(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    with localcontext(prec=50):
        pairs = zip(_exact_clr(x), _exact_clr(y), strict=True)
        return np.array(
            [float(sum((a - b) ** 2 for a, b in zip(*p, strict=True)).sqrt()) for p in pairs]
        )


def _relative(actual, expected, eps: float = EPS) -> float:
    """The largest error of any part, in units of eps times that part."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    return float((np.abs(actual - expected) / (eps * np.abs(expected))).max())


def _against_row_max(actual, expected, eps: float = EPS) -> float:
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    scale = np.abs(expected).max(axis=-1, keepdims=True)
    return float((np.abs(actual - expected) / (eps * scale)).max())


KINDS = ["wide", "total near 1e-300", "total near 1e300"]
PARTS = [3, 200]


# ---------------------------------------------------------------------------
# clr_inv: the sum of the exponentials


@pytest.mark.parametrize("d", [1000, 3000])
def test_clr_inv_of_a_nearly_constant_row(d):
    # Every exponential is near 1: summed in one chain (as before) they were
    # 9 eps off at D=1000 and 13 at D=3000.
    z = 1e-3 * np.random.default_rng(d).standard_normal((2, d))
    with localcontext(prec=50):
        expected = _closed([[Decimal(float(v)).exp() for v in row] for row in z])
    assert _relative(coda.clr_inv(z), expected) <= 2
    assert _relative(coda.ilr_inv(coda.ilr(50.0 + z)), coda.closure(50.0 + z)) <= 4


# ---------------------------------------------------------------------------
# perturb, perturb_inv, power


@pytest.mark.parametrize("d", PARTS)
@pytest.mark.parametrize("kind", KINDS)
def test_perturbation_part_by_part(kind, d):
    # Through the logs (as before) the parts were 5 to 80 eps off for values
    # from 1e-12 to 1e6, and 150 to 550 for totals near 1e-300 or 1e300.
    x, y = _rows(kind, d, 1), _rows(kind, d, 2)
    assert _relative(coda.perturb(x, y), _exact_combine(x, y, 1)) <= 2
    assert _relative(coda.perturb_inv(x, y), _exact_combine(x, y, -1)) <= 2


@pytest.mark.parametrize("d", PARTS)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("a", [2.0, -1.0, 1.5])
def test_power_part_by_part(kind, d, a):
    # Through the logs (as before): 5 to 60 eps for values from 1e-12 to 1e6,
    # 70 to 550 for totals near 1e-300 or 1e300.
    x = _rows(kind, d, 3)
    expected = _exact_combine(x, x, 1) if a == 2.0 else _exact_power(x, a)
    assert _relative(coda.power(x, a), expected) <= 3


def test_rows_beyond_the_float_range_beside_ordinary_rows():
    # Ratios of 1e-300 to 1e300 are not floats: such rows go through logs,
    # whose roundings (eps * 1400) are what is left, while the other rows of
    # the same call are formed directly. Through logs alone (as before), the
    # first row was 10 to 30 eps off.
    x = np.array([[1e-12, 3.7, 2e6, 0.3], [1e300, 1e-300, 1.0, 1e-200]])
    y = np.array([[2e6, 1e-12, 0.3, 3.7], [1e-300, 1e300, 1.0, 1e10]])
    bounds = np.array([2, 4096])
    for got, expected in [
        (coda.perturb(x, y), _exact_combine(x, y, 1)),
        (coda.perturb_inv(x, 1 / y), _exact_combine(x, y, 1)),
        (coda.power(x, [1.5, 1e-3]), _exact_rows(_exact_power, x, [1.5, 1e-3])),
        (coda.power(x, [-2.0, -1e-3]), _exact_rows(_exact_power, x, [-2.0, -1e-3])),
    ]:
        errors = np.abs(got - expected) / (EPS * np.abs(expected))
        assert (errors.max(axis=1) <= bounds).all()


def test_float32_perturbation_and_alr():
    # float32 logs (as before) left 12 float32 eps on perturb of values from
    # 1e-12 to 1e6, and 190 on the alr of parts near 50.
    x, y = (_rows("wide", 300, s).astype(np.float32) for s in (4, 5))
    got = coda.perturb(x, y)
    assert got.dtype == np.float32
    assert _against_row_max(got, _exact_combine(x, y, 1), EPS32) <= 1
    p = _rows("percent near 50", 300, 6).astype(np.float32)
    got = coda.alr(p)
    assert got.dtype == np.float32
    logs = [[float(v) for v in row] for row in _exact_clr(p)]
    expected = np.array(logs)[:, :-1] - np.array(logs)[:, -1:]
    assert _against_row_max(got, expected, EPS32) <= 1


# ---------------------------------------------------------------------------
# distance, norm, inner, center


@pytest.mark.parametrize("d", PARTS)
@pytest.mark.parametrize("kind", ["percent near 50", *KINDS])
def test_distance_between_close_compositions(kind, d):
    # log(x) - log(y) (as before) kept little but the rounding of the logs:
    # 1e8 to 1e11 eps off a distance near 1e-9.
    x = _rows(kind, d, 7)
    y = x * (1.0 + 1e-9 * np.random.default_rng(d).standard_normal(x.shape))
    assert _relative(coda.distance(x, y), _exact_distance(x, y)) <= 4


@pytest.mark.parametrize("d", PARTS)
@pytest.mark.parametrize("kind", ["percent near 50", "total near 1e-300", "total near 1e300"])
def test_norm_and_inner(kind, d):
    # Through log(x) (as before): norms 12 to 5,000 eps off, inner products
    # up to 20 eps of the product of the norms.
    x, y = _rows(kind, d, 8), _rows(kind, d, 9)
    norms = _exact_norm(x)
    assert _relative(coda.norm(x), norms) <= 4
    scale = norms * _exact_norm(y)
    assert np.abs(coda.inner(x, y) - _exact_inner(x, y)).max() <= 4 * EPS * scale.min()


@pytest.mark.parametrize("kind", ["total near 1e-300", "total near 1e300"])
def test_center(kind):
    # Through log(x) (as before): about 500 eps off.
    x = _rows(kind, 200, 10)
    with localcontext(prec=50):
        logs = [[_ln(v) for v in row] for row in x]
        means = [sum(col) / len(col) for col in zip(*logs, strict=True)]
        expected = _closed([[(m - max(means)).exp() for m in means]])[0]
    assert _relative(coda.center(x), expected) <= 2


# ---------------------------------------------------------------------------
# alr


@pytest.mark.parametrize("d", PARTS)
@pytest.mark.parametrize("kind", ["percent near 50", "total near 1e-300", "total near 1e300"])
@pytest.mark.parametrize("ref", [0, -1])
def test_alr(kind, d, ref):
    # log(x_k) - log(x_ref) (as before): 100 to 1,100 eps of the largest
    # coordinate.
    x = _rows(kind, d, 11)
    r = ref % d
    with localcontext(prec=50):
        expected = np.array(
            [[float(_ln(v) - _ln(row[r])) for k, v in enumerate(row) if k != r] for row in x]
        )
    assert _against_row_max(coda.alr(x, ref=ref), expected) <= 1
