"""Each numba kernel against its plain numpy twin in ``tests/naive.py``.

The kernels are called directly, with the contiguous arrays and ``out``
buffers their wrappers hand them. Tolerances are relative to the size of the
input (float64: 1e-12; float32: 1e-5), well above the rounding the kernels'
different summation orders cause and far below any formula error.
"""

from __future__ import annotations

import os
from fractions import Fraction

import naive
import naive_merging
import numba
import numpy as np
import pytest
from numpy.testing import assert_array_equal

from coda import _kernels
from coda._bootstrap import resample_sums
from coda.merging import _rules, _top_k

EPS = float(np.finfo(np.float64).eps)

SHAPES = [(1, 2), (3, 5), (17, 12), (64, 33)]
DTYPES = [np.float64, np.float32]
TOL = {np.float64: 1e-12, np.float32: 1e-5}

grid = pytest.mark.parametrize(
    ("shape", "dtype"), [(s, t) for s in SHAPES for t in DTYPES], ids=lambda v: str(v)
)


def _positive(shape, dtype, seed):
    """Values 10**u with u uniform in [-6, 6]: twelve orders of magnitude in a row."""
    rng = np.random.default_rng(seed)
    return (10.0 ** rng.uniform(-6, 6, shape)).astype(dtype)


def _real(shape, dtype, seed, bound=20.0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-bound, bound, shape).astype(dtype)


def _close(actual, expected, dtype, scale):
    """Assert ``|actual - expected| <= tol * scale`` elementwise, with the dtype's tol."""
    assert actual.dtype == dtype
    np.testing.assert_allclose(actual, expected, rtol=0, atol=TOL[dtype] * scale)


# ---------------------------------------------------------------------------
# _closure


@grid
def test_closure_matches_twin(shape, dtype):
    x = _positive(shape, dtype, 1)
    out = np.empty_like(x)
    rowcheck = np.empty(shape[0])
    _kernels._closure(x, out, rowcheck)
    expected, valid = naive.closure(x)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, expected, rtol=TOL[dtype], atol=0)
    assert valid.all()
    assert np.isfinite(rowcheck).all()
    assert (rowcheck > 0).all()
    # rowcheck is the row total scaled by a power of two, so the ratio is one.
    ratio = np.log2(x.astype(np.float64).sum(axis=1) / rowcheck)
    np.testing.assert_allclose(ratio, np.round(ratio), atol=1e-9)


@pytest.mark.parametrize("dtype", DTYPES)
def test_closure_flags_exactly_the_invalid_rows(dtype):
    x = np.array(
        [
            [1.0, 2.0, 3.0],
            [0.0, 0.0, 0.0],  # all zero: no composition
            [1.0, -2.0, 3.0],  # negative
            [1.0, np.nan, 3.0],
            [1.0, np.inf, 3.0],
            [0.0, 2.0, 0.0],  # zeros are fine for closure
            [np.nan, -1.0, 2.0],
        ],
        dtype=dtype,
    )
    out = np.empty_like(x)
    rowcheck = np.empty(x.shape[0])
    with np.errstate(invalid="ignore", divide="ignore"):
        _kernels._closure(x, out, rowcheck)
    _, valid = naive.closure(x)
    flagged_ok = np.isfinite(rowcheck) & (rowcheck > 0)
    np.testing.assert_array_equal(flagged_ok, valid)
    np.testing.assert_array_equal(valid, [True, False, False, False, False, True, False])


# ---------------------------------------------------------------------------
# _clr


@grid
def test_clr_matches_twin(shape, dtype):
    logs = np.log(_positive(shape, dtype, 2))
    work = logs.copy()
    rowsum = np.empty(shape[0])
    _kernels._clr(work, rowsum)
    expected, expected_sum = naive.clr(logs)
    scale = np.abs(logs).max()
    _close(work, expected, dtype, scale)
    np.testing.assert_allclose(rowsum, expected_sum, rtol=0, atol=TOL[dtype] * scale * shape[1])


def test_clr_rowsum_flags_bad_logs():
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log(np.array([[1.0, 2.0], [0.0, 2.0], [-1.0, 2.0], [np.inf, 1.0]]))
    rowsum = np.empty(4)
    with np.errstate(invalid="ignore"):
        _kernels._clr(logs, rowsum)
    np.testing.assert_array_equal(np.isfinite(rowsum), [True, False, False, False])


# ---------------------------------------------------------------------------
# _ilr_helmert and _ilr_pivot


@grid
@pytest.mark.parametrize(
    ("kernel", "twin"),
    [(_kernels._ilr_helmert, naive.ilr_helmert), (_kernels._ilr_pivot, naive.ilr_pivot)],
    ids=["helmert", "pivot"],
)
def test_ilr_matches_twin(kernel, twin, shape, dtype):
    logs = np.log(_positive(shape, dtype, 3))
    n, d = shape
    out = np.empty((n, d - 1), dtype=dtype)
    rowsum = np.empty(n)
    kernel(logs, out, rowsum)
    expected, expected_sum = twin(logs)
    scale = np.abs(logs).max()
    _close(out, expected, dtype, scale)
    np.testing.assert_allclose(rowsum, expected_sum, rtol=0, atol=TOL[dtype] * scale * d)


# ---------------------------------------------------------------------------
# _ilr_cov_of_gamma


@pytest.mark.parametrize("d", [2, 3, 4, 5, 64, 65, 130, 200])
@pytest.mark.parametrize("helmert", [True, False], ids=["helmert", "pivot"])
def test_ilr_cov_of_gamma_matches_twin(d, helmert):
    y = np.random.default_rng(d).standard_normal((3 * d, d)) * np.linspace(0.1, 3.0, d)
    clr = y - y.mean(axis=1, keepdims=True)
    gamma = np.cov(clr.T).reshape(d, d)
    half, out = np.empty((d, d - 1)), np.empty((d - 1, d - 1))
    _kernels._ilr_cov_of_gamma(gamma, helmert, half, out)
    np.testing.assert_allclose(
        out, naive.ilr_cov_of_gamma(gamma, helmert), rtol=0, atol=1e-13 * np.abs(gamma).max()
    )
    np.testing.assert_array_equal(out, out.T)


# ---------------------------------------------------------------------------
# _symmetrise


@pytest.mark.parametrize("d", [1, 2, 63, 64, 65, 200])
def test_symmetrise_matches_twin(d):
    matrix = np.random.default_rng(d).standard_normal((d, d))
    expected = naive.symmetrise(matrix)
    _kernels._symmetrise(matrix)
    np.testing.assert_array_equal(matrix, expected)
    np.testing.assert_array_equal(matrix, matrix.T)


# ---------------------------------------------------------------------------
# _ilr_helmert_inv and _ilr_pivot_inv


@grid
@pytest.mark.parametrize(
    ("kernel", "twin"),
    [
        (_kernels._ilr_helmert_inv, naive.ilr_helmert_inv),
        (_kernels._ilr_pivot_inv, naive.ilr_pivot_inv),
    ],
    ids=["helmert", "pivot"],
)
def test_ilr_inv_matches_twin(kernel, twin, shape, dtype):
    n, d = shape
    z = _real((n, d - 1), dtype, 4)
    out = np.empty((n, d), dtype=dtype)
    kernel(z, out)
    _close(out, twin(z), dtype, 20.0)


# ---------------------------------------------------------------------------
# _clr_inv


@grid
def test_clr_inv_matches_twin(shape, dtype):
    z = _real(shape, dtype, 5)
    out = np.empty_like(z)
    _kernels._clr_inv(z, out)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, naive.clr_inv(z), rtol=TOL[dtype] * 20, atol=0)


# ---------------------------------------------------------------------------
# _log_ratios


@grid
@pytest.mark.parametrize("broadcast", ["none", "one row", "one column", "row and column"])
def test_log_ratios_match_twin(shape, dtype, broadcast):
    n, d = shape
    a = _positive(shape, dtype, 7).astype(np.float64)
    b = _positive(shape, dtype, 8).astype(np.float64)
    if broadcast == "one row":
        b = b[:1]
    elif broadcast == "one column":
        b = np.ascontiguousarray(b[:, :1])
    elif broadcast == "row and column":
        a, b = a[:1], np.ascontiguousarray(b[:, :1])
    b[0, 0] = a[0, 0]  # a ratio of exactly 1
    out = np.empty((n, d))
    _kernels._log_ratios(a, b, out, False)
    np.log1p(out, out=out)
    _kernels._log_ratios(a, b, out, True)
    expected = naive.log_ratios(a, b)
    np.testing.assert_allclose(out, expected, rtol=1e-15, atol=0)
    assert out[0, 0] == 0.0


def test_log_ratios_beyond_the_float_range_match_twin():
    a = np.array([[1e300, 1e-300, 2.0]])
    b = np.array([[1e-300, 1e300, 3.0]])
    out = np.empty((1, 3))
    with np.errstate(over="ignore"):  # as Python (NUMBA_DISABLE_JIT=1) the quotient warns
        _kernels._log_ratios(a, b, out, False)
    np.log1p(out, out=out)
    _kernels._log_ratios(a, b, out, True)
    np.testing.assert_allclose(out, naive.log_ratios(a, b), rtol=1e-15, atol=0)
    np.testing.assert_allclose(out[0, :2], [1381.551055796427, -1381.551055796427], rtol=1e-15)


# ---------------------------------------------------------------------------
# The kernels' Python lines, run by the interpreter


def test_kernels_compiled_unless_jit_disabled():
    """The kernels are numba dispatchers, or plain functions under NUMBA_DISABLE_JIT=1."""
    disabled = os.environ.get("NUMBA_DISABLE_JIT") == "1"
    for kernel in (_kernels._closure, _kernels._clr, _kernels._clr_inv):
        assert isinstance(kernel, numba.core.dispatcher.Dispatcher) is not disabled


def test_kernels_pass_with_disable_jit():
    """Re-run this file with numba's JIT off, so the kernels run as Python."""
    # The timeout only guards against a hang: the run takes about a minute on
    # two quiet cores and took over two on a busy machine.
    naive.run_without_jit(__file__, "not disable_jit", timeout=600)


# ---------------------------------------------------------------------------
# _row_ends


@pytest.mark.parametrize(
    ("n", "n_low", "n_high"), [(1, 1, 1), (5, 5, 2), (300, 7, 11), (64, 1, 64)]
)
@pytest.mark.parametrize("ties", [False, True])
def test_row_ends_match_twin(n, n_low, n_high, ties):
    rng = np.random.default_rng(n + n_low)
    values = rng.normal(size=(6, n))
    if ties:
        values = np.round(values, 1)  # many equal values
    low, high = np.full((6, n_low), np.nan), np.full((6, n_high), np.nan)
    _kernels._row_ends(values, low, high)
    expected_low, expected_high = naive.row_ends(values, n_low, n_high)
    assert_array_equal(low, expected_low)
    assert_array_equal(high, expected_high)


# ---------------------------------------------------------------------------
# _pcor_bootstrap


@pytest.mark.parametrize(
    ("n_boot", "d", "scale"), [(1, 3, 1), (7, 5, 1), (40, 12, 1), (7, 5, 1e-7)]
)
def test_pcor_bootstrap_matches_twin(n_boot, d, scale):
    # scale 1e-7: log-ratios that vary little (a fixed J/D shift lost every
    # digit there and called the resamples singular)
    rng = np.random.default_rng(d)
    n = 4 * d + 10  # enough distinct rows in every resample for a full rank
    logs = scale * (rng.normal(size=(n, d)) @ rng.normal(size=(d, d)))
    y = logs - logs.mean(axis=1, keepdims=True)
    y -= y.mean(axis=0)
    weights = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(n_boot)])
    weights = weights.astype(np.float64)
    iu, ju = np.triu_indices(d, k=1)
    out = np.empty((n_boot, iu.size))
    ok = np.zeros(n_boot, dtype=np.bool_)
    # The packed sums by one matrix product, as pcor_bootstrap forms them.
    _kernels._pcor_bootstrap(*resample_sums(y, weights), n, iu, ju, out, ok)
    assert ok.all()
    np.testing.assert_allclose(out, naive.pcor_bootstrap(y, weights), rtol=0, atol=1e-9)


def test_pcor_bootstrap_flags_singular_resamples():
    # Every resample draws the first row only: its covariance is zero, so
    # Gamma + J/D has rank one and a pivot vanishes.
    d, n = 4, 6
    y = np.random.default_rng(0).normal(size=(n, d))
    weights = np.zeros((2, n))
    weights[:, 0] = n
    iu, ju = np.triu_indices(d, k=1)
    out = np.empty((2, iu.size))
    ok = np.ones(2, dtype=np.bool_)
    _kernels._pcor_bootstrap(*resample_sums(y, weights), n, iu, ju, out, ok)
    assert not ok.any()
    assert np.isnan(out).all()


# ---------------------------------------------------------------------------
# _shift_sums, _clr_cov and _precision


@pytest.mark.parametrize(("n", "d"), [(1, 2), (7, 3), (131, 40), (64, 43)])
def test_shift_sums_match_twin(n, d):
    rng = np.random.default_rng(n + d)
    block = rng.normal(size=(n, d)) * 10.0 ** rng.uniform(-3, 3, size=d)
    shift = rng.normal(size=d)
    expected, sums_expected, widest_expected = naive.shift_sums(block, shift)
    sums = np.full(d, np.nan)
    widest = np.full(1, np.nan)
    _kernels._shift_sums(block, shift, sums, widest)
    assert widest[0] == pytest.approx(widest_expected, rel=4 * EPS)
    # Each row's clr values minus the shift to a few eps of the row's largest
    # (the kernel sums rows in vector lanes; the twin exactly).
    scale = np.abs(expected).max(axis=1, keepdims=True)
    assert (np.abs(block - expected) <= 4 * EPS * scale).all()
    np.testing.assert_allclose(sums, sums_expected, rtol=0, atol=4 * EPS * n * scale.max())


def test_shift_sums_keep_small_values_beside_large_logs():
    # Logs near 40 and -20 that vary by 1e-3: Y keeps its digits (a subtraction
    # of the row's mean first rounded at the scale of the logs: 1e4 eps of Y).
    rng = np.random.default_rng(4)
    centre = np.array([40.0, -20.0, 3.0, -23.0])
    block = centre + 1e-3 * rng.normal(size=(50, 4))
    exact = [[Fraction(v) for v in row] for row in block]
    # The shift near the clr values, as _log_shift makes it: Y is about 1e-3.
    shift = centre - centre.mean() + 1e-4 * rng.normal(size=4)
    sums = np.empty(4)
    got = block.copy()
    _kernels._shift_sums(got, shift, sums, np.empty(1))
    for row, want in zip(got, exact, strict=True):
        mean = sum(want) / 4
        for value, v, s in zip(row, want, shift, strict=True):
            expected = v - mean - Fraction(s)
            assert abs(Fraction(value) - expected) <= 2 * EPS * abs(expected) + Fraction(1, 10**30)


@pytest.mark.parametrize(("n", "d", "ddof"), [(5, 2, 1), (30, 7, 1), (200, 40, 0)])
def test_clr_cov_matches_twin(n, d, ddof):
    rng = np.random.default_rng(n)
    y = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + rng.normal(size=d)
    lower = np.asfortranarray(np.tril(y.T @ y) + np.triu(rng.normal(size=(d, d)), 1))
    mean = y.mean(axis=0)
    gamma = np.empty((d, d))
    smallest = np.empty(3)
    _kernels._clr_cov(lower, mean, n, ddof, gamma, smallest)
    expected, (t, i, j) = naive.clr_cov(lower, mean, n, ddof)
    scale = np.abs(expected).max()
    np.testing.assert_allclose(gamma, expected, rtol=0, atol=1e-12 * scale)
    assert smallest[0] == pytest.approx(t, rel=1e-9, abs=1e-12 * scale)
    assert (int(smallest[1]), int(smallest[2])) == (i, j)


@pytest.mark.parametrize("d", [2, 9, 33, 130])
def test_precision_matches_twin(d):
    rng = np.random.default_rng(d)
    # Only the lower triangle is read: the upper one holds noise, as after potri.
    # d = 130 spans several 64 x 64 tiles, the last one partial.
    inverse = np.asfortranarray(rng.normal(size=(d, d)))
    omega = np.empty((d, d))
    _kernels._precision(inverse, 1.0 / d, omega, False)
    np.testing.assert_allclose(omega, naive.precision(inverse, 1.0 / d), rtol=0, atol=1e-15)


@pytest.mark.parametrize("d", [2, 9, 33, 130])
def test_precision_to_correlations_matches_twin(d):
    rng = np.random.default_rng(d)
    a = rng.normal(size=(d, d))
    omega = a @ a.T + np.eye(d)
    # potri's output: Omega + shift in the lower triangle, noise above it.
    inverse = np.asfortranarray(np.tril(omega + 1.0 / d) + np.triu(rng.normal(size=(d, d)), 1))
    rho = np.empty((d, d))
    _kernels._precision(inverse, 1.0 / d, rho, True)
    np.testing.assert_allclose(rho, naive.pcor_from_precision(omega), rtol=0, atol=1e-15)
    assert np.array_equal(rho, rho.T)
    # In place, as coda._exact_precision.exact_precision runs it: the same bits.
    for correlations, expected in [(True, rho), (False, None)]:
        inplace = inverse.copy(order="F")
        if expected is None:
            expected = np.empty((d, d))
            _kernels._precision(inverse, 1.0 / d, expected, False)
        _kernels._precision(inplace, 1.0 / d, inplace, correlations)
        assert_array_equal(inplace, expected)


# ---------------------------------------------------------------------------
# _top_k_counts, _top_k_prefix, _top_k_cuts, _tensor_decide, _tensor_update,
# _boundary_cuts and _tensor_update_at
# (ties_merge, scope="tensor"): compared bit for bit with the numpy twins.


@pytest.mark.parametrize("kind", ["distinct", "ties", "one value", "sorted", "reversed", "organ"])
@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 1000])
def test_kth_smallest_matches_partition(kind, size):
    # The selection of _boundary_cuts against np.partition, at every rank; runs
    # of ties (the common case for bf16 checkpoints) and orders that defeat a
    # naive pivot included.
    rng = np.random.default_rng(size)
    values = {
        "distinct": rng.random(size),
        "ties": rng.integers(0, 4, size) * 0.5,
        "one value": np.full(size, 0.25),
        "sorted": np.arange(size, dtype=float),
        "reversed": np.arange(size, dtype=float)[::-1],
        "organ": np.concatenate([np.arange(size // 2), np.arange(size - size // 2)[::-1]]),
    }[kind].astype(np.float32)
    for rank in sorted({0, size // 3, size // 2, size - 1, *rng.integers(0, size, 5).tolist()}):
        work = values.copy()
        found = _kernels._kth_smallest(work, rank)
        assert found == naive_merging.kth_smallest(values, rank)
        # A permutation of the input: nothing lost or invented.
        assert_array_equal(np.sort(work), np.sort(values))


def _readonly(a):
    view = np.ascontiguousarray(a, dtype=np.float32).view()
    view.flags.writeable = False
    return view


def _ties_inputs(kind, n, n_tasks, seed):
    """(base, models): float32 theta_0 and theta_t of one flat tensor.

    "normal": distinct magnitudes; "ties": a few values, so most |tau| tie
    and many are zero (with -0.0 from -0.0 - +0.0); "zeros": every tau 0;
    "overflow": finite inputs whose tau overflow to +-inf in a third of the
    entries, so that the k-th largest |tau| of density 0.2 is inf.
    """
    rng = np.random.default_rng(seed)
    if kind == "overflow":
        big = np.finfo(np.float32).max
        base = np.where(rng.random(n) < 0.5, -big, big) * (rng.random(n) < 0.35)
        models = [np.where(base < 0, big, -big) * (base != 0) + rng.standard_normal(n)]
        models += [-base * (rng.random(n) < 0.5) for _ in range(n_tasks - 1)]
    elif kind == "normal":
        base = 0.02 * rng.standard_normal(n)
        models = [base + 0.01 * rng.standard_normal(n) for _ in range(n_tasks)]
    elif kind == "ties":
        base = np.zeros(n)
        models = [rng.integers(-2, 3, n) * 0.5 for _ in range(n_tasks)]
        for model in models:
            model[rng.random(n) < 0.2] = -0.0
    else:
        base = rng.standard_normal(n)
        models = [base.copy() for _ in range(n_tasks)]
    return _readonly(base), tuple(_readonly(m) for m in models)


def _split_counts(base, models, diff, prefix, dtype):
    """Two threads' histograms: entries before n // 3 in one, the rest in the other."""
    n_tasks, n = len(models), models[0].size
    parts = tuple(np.zeros((n_tasks, 1 << 16), dtype=dtype) for _ in range(2))
    _kernels._top_k_counts(base, models, diff, prefix, 0, n // 3, parts[0])
    _kernels._top_k_counts(base, models, diff, prefix, n // 3, n, parts[1])
    return parts


def _select(base, models, diff, k, dtype=np.int64):
    """cuts and stops as coda.merging._rules._tensor_update makes them, serially.

    The histograms are counted in two parts, as two threads count them, which
    the kernels add bin by bin.
    """
    n_tasks, n = len(models), models[0].size
    cuts = np.zeros(n_tasks, dtype=np.float32)
    stops = np.full(n_tasks, n, dtype=np.int64)
    if k < n:
        prefix = np.full(n_tasks, -1, dtype=np.int64)
        ranks = np.empty(n_tasks, dtype=np.int64)
        _kernels._top_k_prefix(_split_counts(base, models, diff, prefix, dtype), k, prefix, ranks)
        low = _split_counts(base, models, diff, prefix, dtype)
        _kernels._top_k_cuts(base, models, diff, low, prefix, ranks, n, cuts, stops)
    return cuts, stops


def _kept(base, models, diff, cuts, stops):
    taus = np.abs(naive_merging.task_vector_stack(base, models, diff))
    index = np.arange(taus.shape[1])
    return (taus > cuts[:, None]) | ((taus == cuts[:, None]) & (index < stops[:, None]))


TIES_CASES = [
    (kind, n, n_tasks)
    for kind, n in [("normal", 1), ("normal", 7), ("normal", 5000), ("ties", 40), ("ties", 5000)]
    for n_tasks in (2, 3, 5)
] + [("zeros", 300, 2), ("normal", 70_000, 4), ("ties", 70_000, 3)]
if os.environ.get("NUMBA_DISABLE_JIT") == "1":
    # Interpreted, the kernels take seconds per thousand entries: the small
    # cases run every line.
    TIES_CASES = [case for case in TIES_CASES if case[1] <= 300]


@pytest.mark.parametrize(("kind", "n", "n_tasks"), TIES_CASES, ids=str)
@pytest.mark.parametrize("diff", [True, False], ids=["thetas", "taus"])
def test_top_k_counts_match_twin(kind, n, n_tasks, diff):
    base, models = _ties_inputs(kind, n, n_tasks, 11)
    upper = np.full(n_tasks, -1, dtype=np.int64)
    counts = np.zeros((n_tasks, 1 << 16), dtype=np.int64)
    # In two blocks, as the threads add them up.
    _kernels._top_k_counts(base, models, diff, upper, 0, n // 3, counts)
    _kernels._top_k_counts(base, models, diff, upper, n // 3, n, counts)
    assert_array_equal(counts, naive_merging.top_k_counts(base, models, diff, upper))
    prefix = np.argmax(counts, axis=1).astype(np.int64)  # the fullest bin of each task
    low = np.zeros_like(counts)
    _kernels._top_k_counts(base, models, diff, prefix, 0, n, low)
    assert_array_equal(low, naive_merging.top_k_counts(base, models, diff, prefix))


@pytest.mark.parametrize(("kind", "n", "n_tasks"), TIES_CASES, ids=str)
@pytest.mark.parametrize("density", [0.0, 0.2, 0.5, 0.999])
@pytest.mark.parametrize("dtype", [np.int32, np.int64])  # the threads' counts, by tensor size
def test_top_k_cuts_keep_the_twins_entries(kind, n, n_tasks, density, dtype):
    base, models = _ties_inputs(kind, n, n_tasks, 12)
    k = max(1, int(density * n))
    cuts, stops = _select(base, models, True, k, dtype)
    kept = _kept(base, models, True, cuts, stops)
    taus = naive_merging.task_vector_stack(base, models, True)
    for t in range(n_tasks):
        assert_array_equal(kept[t], naive_merging.top_k_mask(taus[t], k))
        if k < n:
            assert cuts[t] == naive_merging.kth_largest(taus[t], k)


@pytest.mark.parametrize(("kind", "n", "n_tasks"), TIES_CASES, ids=str)
@pytest.mark.parametrize("elect", ["mass", "count"])
@pytest.mark.parametrize("density", [0.2, 1.0])
def test_tensor_decide_matches_twin_bit_for_bit(kind, n, n_tasks, elect, density):
    base, models = _ties_inputs(kind, n, n_tasks, 15)
    taus = naive_merging.task_vector_stack(base, models, True)
    models = tuple(_readonly(t) for t in taus)
    weights = np.array([0.5, -1.0, 1.0, 2.0, 0.3][:n_tasks], dtype=np.float32)
    cuts, stops = _select(models[0], models, False, max(1, int(density * n)))
    kept = np.zeros((n_tasks, n), dtype=bool)
    weighted = np.full((n_tasks, n), np.nan, dtype=np.float32)
    sigma = np.full(n, np.nan, dtype=np.float32)
    middle = min(n, 2048 + 5)
    for start, stop in [(middle, n), (0, middle)]:
        _kernels._tensor_decide(
            models, cuts, stops, weights, elect == "count", start, stop, kept, weighted, sigma
        )
    expected = naive_merging.tensor_decisions(taus, density, elect, weights)
    assert_array_equal(kept, expected[0])
    assert_array_equal(weighted.view(np.uint32), expected[1].view(np.uint32))
    assert_array_equal(sigma.view(np.uint32), expected[2].view(np.uint32))


def _weights(n_tasks, kind):
    if kind == "ones":
        return np.ones(n_tasks, dtype=np.float32)
    # Mixed signs and a cancelling pair: sums of agreeing weights can be 0.
    return np.array([0.5, -1.0, 1.0, 2.0, 0.3][:n_tasks], dtype=np.float32)


# With "overflow": finite inputs whose task vectors overflow, including at the
# cut; each case through _tensor_update_few (at most four tasks) and the
# general _tensor_update.
MERGE_KERNEL_CASES = [
    (*case, kernel)
    for case in [*TIES_CASES, ("overflow", 300, 2), ("overflow", 300, 4), ("normal", 300, 1)]
    for kernel in ("_tensor_update", "_tensor_update_few")
    if kernel == "_tensor_update" or case[2] <= 4
]


@pytest.mark.parametrize(("kind", "n", "n_tasks", "kernel"), MERGE_KERNEL_CASES, ids=str)
@pytest.mark.parametrize(
    ("elect", "merge", "normalize"),
    [
        ("mass", "mean", True),
        ("mass", "mean", False),
        ("count", "mean", True),
        ("mass", "sum", True),
        ("count", "max", True),
        ("mass", "max", True),
    ],
)
@pytest.mark.parametrize("weighting", ["ones", "mixed"])
def test_tensor_update_matches_twin_bit_for_bit(
    kind, n, n_tasks, kernel, elect, merge, normalize, weighting
):
    base, models = _ties_inputs(kind, n, n_tasks, 14)
    weights = _weights(n_tasks, weighting)
    kernel = getattr(_kernels, kernel)
    with np.errstate(over="ignore", invalid="ignore"):
        _check_tensor_update(kernel, base, models, weights, elect, merge, normalize, weighting)


def _check_tensor_update(kernel, base, models, weights, elect, merge, normalize, weighting):
    n = models[0].size
    for diff, density in [(True, 0.2), (False, 0.6), (True, 1.0)]:
        inputs = base, models
        if not diff:
            # The task vectors themselves, with base unused.
            taus = naive_merging.task_vector_stack(base, models, True)
            inputs = _readonly(taus[0]), tuple(_readonly(t) for t in taus)
        k = max(1, int(density * n))
        by_count, code = elect == "count", ("mean", "sum", "max").index(merge)
        add = diff and weighting == "mixed"  # theta_0 + lam tau_m written by the kernels
        lam = np.float32(0.7)
        rule = (weights, by_count, code, normalize, lam, add)
        out = _merge_by_kernels(kernel, *inputs, diff, k, *rule)
        expected = naive_merging.tensor_update(
            *inputs, diff, density, elect, merge, weights, normalize
        )
        if add:
            expected = inputs[0] + lam * expected
        assert out.dtype == np.float32
        assert_array_equal(out.view(np.uint32), expected.view(np.uint32))


def _merge_by_kernels(kernel, base, models, diff, k, weights, by_count, code, normalize, lam, add):
    """The merge as coda.merging._rules._tensor_update runs ``kernel``, serially.

    Also checks that the cuts from the deferred entries alone keep the
    entries that the two full histogram passes (``_select``) keep.
    """
    n_tasks, n = len(models), models[0].size
    lows, highs, ranks = _top_k._top_k_bounds(base, models, diff, k, None)
    out = np.full(n, np.nan, dtype=np.float32)
    rule = (weights, lows, highs, by_count, code, normalize, lam, add)
    # Two blocks, the second not on a chunk boundary: blocks are independent,
    # each with its own list of deferred entries.
    middle = min(n, 2048 + 5)
    found = {}
    for start, stop in [(middle, n), (0, middle)]:
        deferred = np.full(stop - start, -1, dtype=np.int64)
        held = np.full((n_tasks + 1, stop - start), np.nan, dtype=np.float32)
        count = kernel(base, models, diff, *rule, start, stop, out, deferred, held)
        found[start] = deferred[:count], held[:, :count]
    blocks = [found[s] for s in sorted(found)]
    positions = np.concatenate([deferred for deferred, _ in blocks])
    values = np.concatenate([held for _, held in blocks], axis=1)
    assert np.all(np.diff(positions) > 0)
    # What the kernel kept of each deferred entry: its tau_t and theta_0.
    taus = naive_merging.task_vector_stack(base, models, diff)
    assert_array_equal(values[:-1].view(np.uint32), taus[:, positions].view(np.uint32))
    assert_array_equal(values[-1].view(np.uint32), base[positions].view(np.uint32))
    if positions.size:
        cuts, stops = _rules._settle(values, positions, ranks, n, rule, out)
        expected = _kept(base, models, diff, *_select(base, models, diff, k))
        assert_array_equal(_kept(base, models, diff, cuts, stops), expected)
    else:
        # Nothing between the bounds: every task keeps all.
        assert (ranks == 0).all()
    return out


@pytest.mark.parametrize("m", [0, 1, 15, 16, 17, 2047, 2048])
def test_fate_sums_equal_lane_sums_of_the_stored_parts(m):
    # _fate_sums adds each fate in _lanes_sum's order without storing the
    # parts: the same float64 sums, bit for bit, pending entries adding +0.0.
    rng = np.random.default_rng(m)
    tau = rng.choice(np.array([0.0, -0.0, 1.5, -2.0], dtype=np.float32), size=m)
    tau += rng.normal(size=m).astype(np.float32)
    kept = rng.random(m) < 0.4
    hat = (tau * kept * np.float32(1.25)).astype(np.float32)
    sigma = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=m)
    pending = (rng.random(m) < 0.1).astype(np.uint8)
    fate = np.full(3, 0.5)
    _kernels._fate_sums(tau, kept, hat, sigma, pending, m, fate)
    agree = ((sigma > 0) & (hat > 0)) | ((sigma <= 0) & (hat < 0))
    mass = np.abs(tau).astype(np.float64) * (pending == 0)
    parts = [mass * ~kept, mass * agree, mass * (kept & ~agree)]
    expected = [0.5 + _kernels._lanes_sum(part, m) for part in parts]
    assert_array_equal(fate.view(np.uint64), np.array(expected).view(np.uint64))
    np.testing.assert_allclose(fate, [0.5 + part.sum() for part in parts], rtol=1e-12)
