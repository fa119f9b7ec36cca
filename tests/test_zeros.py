"""Tests of coda.replace_zeros (coda/zeros.py) and its kernel.

Oracles: scikit-bio's ``multi_replace`` (a peer package, test-only), the
numpy twins in ``tests/naive.py`` (the Bayesian twin is written row by row
from the formulas of Martin-Fernandez et al. 2015), values worked by hand on
a 3 x 3 count table, and hypothesis properties.
"""

from __future__ import annotations

import naive
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skbio.stats.composition import multi_replace
from strategies import DTYPES, compositions_with_zeros, count_tables

import coda
from coda import _kernels

BAYESIAN = ("gbm", "sq", "bl")
FAST = settings(max_examples=40, deadline=None)

# The hand-worked table: every part is positive in two rows, every row sums to 4.
COUNTS = np.array([[1, 0, 3], [2, 2, 0], [1, 1, 2]])


def _with_zeros(shape, dtype=np.float64, seed=0, zero_share=0.3):
    """Values 10**u (|u| <= 3) with about ``zero_share`` zeros, none in column 0 or row 0."""
    rng = np.random.default_rng(seed)
    x = 10.0 ** rng.uniform(-3, 3, shape)
    mask = rng.random(shape) < zero_share
    mask[:, 0] = False
    mask[0, :] = False
    x[mask] = 0.0
    return x.astype(dtype)


def _closed(x):
    return x / x.sum(axis=1, keepdims=True)


# ---------------------------------------------------------------------------
# Multiplicative replacement


@pytest.mark.parametrize("delta", [None, 1e-3, 0.01])
def test_multiplicative_matches_scikit_bio(delta):
    x = _closed(_with_zeros((50, 9), seed=1))
    ours = coda.replace_zeros(x, delta=delta)
    np.testing.assert_allclose(ours, multi_replace(x, delta=delta), rtol=0, atol=1e-12)


def test_multiplicative_matches_scikit_bio_on_percentages_once_closed():
    x = 100 * _closed(_with_zeros((30, 6), seed=2))
    ours = coda.replace_zeros(x, output="proportions")
    np.testing.assert_allclose(ours, multi_replace(_closed(x)), rtol=0, atol=1e-12)


def test_multiplicative_worked_example():
    # D = 4, so delta = 1/16 = 0.0625 of each row. Row 0 has one zero:
    # non-zero parts times 1 - 0.0625 = 0.9375, so 0.2 -> 0.1875, 0.4 -> 0.375.
    # Row 1 has one zero: 0.5 -> 0.46875, 0.2 -> 0.1875, 0.3 -> 0.28125.
    got = coda.replace_zeros([[0.2, 0.4, 0.4, 0.0], [0.0, 0.5, 0.2, 0.3]])
    expected = [[0.1875, 0.375, 0.375, 0.0625], [0.0625, 0.46875, 0.1875, 0.28125]]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-15)


def test_detection_limit_worked_example():
    # Percentages, detection limits 1 and 2: zeros become 0.65 and 1.3; the
    # other parts of row 0 shrink by 1 - 0.65/100, those of row 1 by 1 - 1.3/100.
    x = np.array([[20.0, 40.0, 40.0, 0.0], [50.0, 0.0, 20.0, 30.0]])
    got = coda.replace_zeros(x, detection_limit=[1.0, 2.0, 1.0, 1.0])
    expected = [
        [20 * 0.9935, 40 * 0.9935, 40 * 0.9935, 0.65],
        [50 * 0.987, 1.3, 20 * 0.987, 30 * 0.987],
    ]
    np.testing.assert_allclose(got, expected, rtol=1e-15)
    half = coda.replace_zeros(x, detection_limit=1.0, frac=0.5)
    np.testing.assert_allclose(half[:, 3][0], 0.5)
    np.testing.assert_allclose(half[1, 1], 0.5)


def test_per_part_delta_and_series_aligned_by_part_name():
    x = pd.DataFrame({"a": [0.0, 0.5], "b": [0.3, 0.0], "c": [0.7, 0.5]}, index=["s1", "s2"])
    # Given in another order than the columns: matched by name.
    delta = pd.Series({"c": 0.03, "b": 0.02, "a": 0.01})
    got = coda.replace_zeros(x, delta=delta)
    assert got.loc["s1", "a"] == 0.01
    assert got.loc["s2", "b"] == 0.02
    np.testing.assert_allclose(got.loc["s1", ["b", "c"]], [0.3 * 0.99, 0.7 * 0.99])
    positional = coda.replace_zeros(x.to_numpy(), delta=[0.01, 0.02, 0.03])
    np.testing.assert_array_equal(got.to_numpy(), positional)


@given(x=compositions_with_zeros(dtype=np.float64))
@FAST
def test_multiplicative_keeps_ratios_totals_and_positivity(x):
    out = coda.replace_zeros(x)
    assert (out > 0).all()
    np.testing.assert_allclose(out.sum(axis=1), x.sum(axis=1), rtol=1e-12)
    nonzero = x > 0
    for row_x, row_out, keep in zip(x, out, nonzero, strict=True):
        # every ratio among non-zero parts: part k over the row's first non-zero part
        ref = np.flatnonzero(keep)[0]
        np.testing.assert_allclose(
            row_out[keep] / row_out[ref], row_x[keep] / row_x[ref], rtol=1e-12
        )


def test_percentages_keep_summing_to_100():
    x = 100 * _closed(_with_zeros((40, 7), seed=3))
    out = coda.replace_zeros(x, delta=0.1)
    np.testing.assert_allclose(out.sum(axis=1), 100.0, rtol=1e-13)
    np.testing.assert_array_equal(out[x == 0], 0.1)


@given(
    x=compositions_with_zeros(dtype=np.float64),
    scale=st.floats(1e-3, 1e3),
    data=st.data(),
)
@FAST
def test_multiplicative_default_is_scale_invariant(x, scale, data):
    # The default delta is a fraction of each row's total: scaling a row
    # scales its result, and closed results do not move.
    row_scales = data.draw(
        st.lists(st.floats(1e-3, 1e3), min_size=x.shape[0], max_size=x.shape[0])
    )
    scaled = x * np.asarray(row_scales)[:, None]
    np.testing.assert_allclose(
        coda.replace_zeros(scale * x), scale * coda.replace_zeros(x), rtol=1e-12
    )
    np.testing.assert_allclose(
        coda.replace_zeros(scaled, output="proportions"),
        coda.replace_zeros(x, output="proportions"),
        rtol=1e-12,
    )


@given(x=compositions_with_zeros(dtype=np.float64), data=st.data())
@FAST
def test_multiplicative_is_permutation_equivariant(x, data):
    n, d = x.shape
    rows = np.asarray(data.draw(st.permutations(range(n))))
    parts = np.asarray(data.draw(st.permutations(range(d))))
    delta = np.linspace(1e-9, 1e-8, d)
    expected = coda.replace_zeros(x, delta=delta)[rows][:, parts]
    got = coda.replace_zeros(x[rows][:, parts], delta=delta[parts])
    np.testing.assert_allclose(got, expected, rtol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dtype_is_kept(dtype):
    x = _with_zeros((5, 4), dtype=dtype)
    assert coda.replace_zeros(x).dtype == dtype
    assert coda.replace_zeros(x, method="pseudocount").dtype == dtype
    counts = np.array([[1, 0, 3], [2, 2, 0]], dtype=dtype)
    assert coda.replace_zeros(counts, method="bl").dtype == np.float64


def test_integers_are_computed_in_float64():
    out = coda.replace_zeros(COUNTS)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.sum(axis=1), 4.0, rtol=1e-15)


def test_output_proportions_closes_the_multiplicative_result():
    x = 100 * _closed(_with_zeros((10, 5), seed=4))
    np.testing.assert_allclose(
        coda.replace_zeros(x, delta=0.5, output="proportions"),
        coda.replace_zeros(x, delta=0.5) / 100,
        rtol=1e-14,
    )


@pytest.mark.parametrize("power", [-1070, -1040, -1000, -700, 0, 700, 1000, 1018])
def test_rows_with_totals_near_the_float_limits(power):
    # Scaling by a power of two is exact, so the replacement of the scaled
    # rows is the replacement of the rows, scaled, down to subnormal totals
    # and up to totals that overflow (row sums of 2**1018 * 16 > 1.8e308).
    x = np.array([[1.0, 0.0, 3.0, 12.0], [0.0, 5.0, 5.0, 6.0]])
    scaled = np.ldexp(x, power)
    np.testing.assert_allclose(
        coda.replace_zeros(scaled, output="proportions"),
        coda.replace_zeros(x, output="proportions"),
        rtol=1e-15,
    )
    np.testing.assert_allclose(
        coda.replace_zeros(
            scaled, method="pseudocount", delta=np.ldexp(0.5, power), output="proportions"
        ),
        coda.replace_zeros(x, method="pseudocount", delta=0.5, output="proportions"),
        rtol=1e-15,
    )
    if power > -1040:  # the scaled results are normal floats: exact scaling
        np.testing.assert_allclose(
            coda.replace_zeros(scaled), np.ldexp(coda.replace_zeros(x), power), rtol=1e-15
        )
        np.testing.assert_allclose(
            coda.replace_zeros(scaled, delta=np.ldexp(0.25, power)),
            np.ldexp(coda.replace_zeros(x, delta=0.25), power),
            rtol=1e-15,
        )


def test_large_input_runs_in_threaded_blocks():
    # 6.4 MB of float64: above the size where coda._parallel uses threads.
    x = _with_zeros((20_000, 40), seed=5)
    expected, _, _ = naive.replace_zeros_multiplicative(x, np.full(40, 1 / 1600), True, False)
    np.testing.assert_allclose(coda.replace_zeros(x), expected, rtol=1e-13)


# ---------------------------------------------------------------------------
# The kernel against its numpy twin


@pytest.mark.parametrize("shape", [(1, 2), (3, 5), (17, 12), (64, 33)])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("relative", "close"), [(True, False), (False, False), (False, True), (True, True)]
)
def test_kernel_matches_twin(shape, dtype, relative, close):
    x = _with_zeros(shape, dtype=dtype, seed=shape[0])
    delta = np.linspace(1e-4, 2e-4, shape[1])
    if relative:
        delta = np.full(shape[1], 1.0 / shape[1] ** 2)
    out = np.empty_like(x)
    factor = np.empty(shape[0])
    nzeros = np.empty(shape[0], dtype=np.int64)
    _kernels._replace_zeros_multiplicative(x, delta, relative, close, out, factor, nzeros)
    expected, expected_factor, expected_nzeros = naive.replace_zeros_multiplicative(
        x, delta, relative, close
    )
    assert out.dtype == dtype
    tol = 1e-12 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(out, expected, rtol=tol)
    np.testing.assert_allclose(factor, expected_factor, rtol=1e-12)
    np.testing.assert_array_equal(nzeros, expected_nzeros)


def test_kernel_flags_invalid_rows_like_twin():
    x = np.array(
        [
            [1.0, 0.0, 2.0],
            [1.0, -1.0, 2.0],
            [np.nan, 1.0, 0.0],
            [0.0, 0.0, 0.0],
            [1.0, np.inf, 0.0],
        ]
    )
    delta = np.full(3, 0.1)
    out = np.empty_like(x)
    factor = np.empty(5)
    nzeros = np.empty(5, dtype=np.int64)
    # The row of zeros divides by its zero total (NUMBA_DISABLE_JIT runs warn).
    with np.errstate(divide="ignore", invalid="ignore"):
        _kernels._replace_zeros_multiplicative(x, delta, False, False, out, factor, nzeros)
    _, expected_factor, expected_nzeros = naive.replace_zeros_multiplicative(
        x, delta, False, False
    )
    np.testing.assert_array_equal(np.isfinite(factor), np.isfinite(expected_factor))
    np.testing.assert_array_equal(np.isfinite(factor), [True, False, False, False, False])
    np.testing.assert_array_equal(nzeros, expected_nzeros)


# ---------------------------------------------------------------------------
# Bayesian-multiplicative replacement


def test_bl_hand_worked():
    # Row totals n_i = 4; part totals (4, 3, 5); BL: s = D = 3, s/(n+s) = 3/7.
    # Row 0 (1, 0, 3): other rows' part totals (3, 3, 2), t = (3, 3, 2)/8;
    #   zero part 1 -> 3/8 * 3/7 = 9/56, below part 1's smallest proportion 1/4;
    #   the others shrink by 1 - 9/56 = 47/56: 1/4 -> 47/224, 3/4 -> 141/224.
    # Row 1 (2, 2, 0): other rows' totals (2, 1, 5), t = (2, 1, 5)/8;
    #   zero part 2 -> 5/8 * 3/7 = 15/56 (smallest proportion 1/2: kept);
    #   the others: 1/2 * 41/56 = 41/112.
    # Row 2 has no zero: (1, 1, 2)/4.
    expected = [[47 / 224, 9 / 56, 141 / 224], [41 / 112, 41 / 112, 15 / 56], [0.25, 0.25, 0.5]]
    np.testing.assert_allclose(coda.replace_zeros(COUNTS, method="bl"), expected, rtol=1e-15)
    # Pseudo-counts: zeros become proportion * n_i / (1 - replaced share):
    # 9/56 * 4 / (47/56) = 36/47 and 15/56 * 4 / (41/56) = 60/41.
    counts = coda.replace_zeros(COUNTS, method="bl", output="counts")
    expected_counts = [[1, 36 / 47, 3], [2, 2, 60 / 41], [1, 1, 2]]
    np.testing.assert_allclose(counts, expected_counts, rtol=1e-15)


def test_sq_hand_worked():
    # SQ: s = sqrt(4) = 2, s/(n+s) = 1/3, with the t of test_bl_hand_worked.
    # Row 0: 3/8 * 1/3 = 1/8; others times 7/8: 7/32, 21/32.
    # Row 1: 5/8 * 1/3 = 5/24; others: 1/2 * 19/24 = 19/48.
    expected = [[7 / 32, 1 / 8, 21 / 32], [19 / 48, 19 / 48, 5 / 24], [0.25, 0.25, 0.5]]
    np.testing.assert_allclose(coda.replace_zeros(COUNTS, method="sq"), expected, rtol=1e-15)


def test_gbm_hand_worked():
    # GBM: s_i = 1 / geometric mean of t_i.
    # Row 0: t = (3, 3, 2)/8, g = (18/512)^(1/3), s = (512/18)^(1/3);
    #   zero -> 3/8 * s/(4+s); others times 1 minus that.
    # Row 1: t = (2, 1, 5)/8, s = (512/10)^(1/3); zero -> 5/8 * s/(4+s).
    s0 = (512 / 18) ** (1 / 3)
    s1 = (512 / 10) ** (1 / 3)
    r0 = 3 / 8 * s0 / (4 + s0)
    r1 = 5 / 8 * s1 / (4 + s1)
    expected = [
        [0.25 * (1 - r0), r0, 0.75 * (1 - r0)],
        [0.5 * (1 - r1), 0.5 * (1 - r1), r1],
        [0.25, 0.25, 0.5],
    ]
    np.testing.assert_allclose(coda.replace_zeros(COUNTS, method="gbm"), expected, rtol=1e-14)


def test_estimates_above_the_smallest_proportion_are_corrected():
    # BL on rows (0, 1), (1, 999), (999, 1000): row 0 has n = 1, s/(n+s) = 2/3,
    # other rows' totals (1000, 1999), t_0 = 1000/2999, estimate 2000/8997 > 1/1000,
    # the smallest proportion of part 0 (row 1); corrected to 0.65 * 1/1000.
    x = np.array([[0, 1], [1, 999], [999, 1000]])
    got = coda.replace_zeros(x, method="bl")
    np.testing.assert_allclose(got[0], [0.00065, 0.99935], rtol=1e-14)
    np.testing.assert_allclose(coda.replace_zeros(x, method="bl", frac=0.5)[0], [0.0005, 0.9995])
    pseudo = coda.replace_zeros(x, method="bl", output="counts")
    np.testing.assert_allclose(pseudo[0], [0.00065 / 0.99935, 1.0], rtol=1e-14)


@pytest.mark.parametrize("method", BAYESIAN)
@given(counts=count_tables())
@FAST
def test_bayesian_matches_twin(method, counts):
    props, pseudo = naive.bayesian_replace(counts, method)
    np.testing.assert_allclose(coda.replace_zeros(counts, method=method), props, rtol=1e-12)
    np.testing.assert_allclose(
        coda.replace_zeros(counts, method=method, output="counts"), pseudo, rtol=1e-12
    )


@pytest.mark.parametrize("method", BAYESIAN)
@given(counts=count_tables(), data=st.data())
@FAST
def test_bayesian_properties(method, counts, data):
    out = coda.replace_zeros(counts, method=method)
    assert (out > 0).all()
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-12)
    pseudo = coda.replace_zeros(counts, method=method, output="counts")
    np.testing.assert_array_equal(pseudo[counts > 0], counts[counts > 0])
    np.testing.assert_allclose(_closed(pseudo), out, rtol=1e-12)
    n, d = counts.shape
    rows = np.asarray(data.draw(st.permutations(range(n))))
    parts = np.asarray(data.draw(st.permutations(range(d))))
    np.testing.assert_allclose(
        coda.replace_zeros(counts[rows][:, parts], method=method), out[rows][:, parts], rtol=1e-12
    )


# ---------------------------------------------------------------------------
# Pseudocount


def test_pseudocount():
    np.testing.assert_array_equal(coda.replace_zeros(COUNTS, method="pseudocount"), COUNTS + 0.5)
    np.testing.assert_allclose(
        coda.replace_zeros(COUNTS, method="pseudocount", delta=1, output="proportions"),
        (COUNTS + 1) / 7,
        rtol=1e-15,
    )


# ---------------------------------------------------------------------------
# Labels, shapes and inputs


@pytest.mark.parametrize("method", ["multiplicative", "pseudocount", *BAYESIAN])
def test_dataframe_keeps_labels_and_input_is_not_mutated(method):
    frame = pd.DataFrame(COUNTS, index=["u", "v", "w"], columns=["Si", "Al", "Fe"])
    before = frame.copy()
    array = COUNTS.astype(float)
    array_before = array.copy()
    out = coda.replace_zeros(frame, method=method)
    assert isinstance(out, pd.DataFrame)
    assert out.index.equals(frame.index)
    assert out.columns.equals(frame.columns)
    np.testing.assert_array_equal(out.to_numpy(), coda.replace_zeros(array, method=method))
    pd.testing.assert_frame_equal(frame, before)
    np.testing.assert_array_equal(array, array_before)


def test_one_composition_in_gives_one_out():
    out = coda.replace_zeros([0.5, 0.0, 0.5])
    assert out.shape == (3,)
    np.testing.assert_allclose(out, [0.5 * (1 - 1 / 9), 1 / 9, 0.5 * (1 - 1 / 9)])
    series = pd.Series([0.5, 0.0, 0.5], index=["a", "b", "c"], name="s")
    got = coda.replace_zeros(series)
    assert isinstance(got, pd.Series)
    assert list(got.index) == ["a", "b", "c"]
    np.testing.assert_array_equal(got.to_numpy(), out)


def test_data_without_zeros_is_returned_unchanged():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(coda.replace_zeros(x), x)
    np.testing.assert_allclose(coda.replace_zeros(x, method="gbm"), _closed(x), rtol=1e-15)


# ---------------------------------------------------------------------------
# Errors


@pytest.mark.parametrize("method", ["multiplicative", "pseudocount", *BAYESIAN])
@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (-1.0, r"x contains 1 negative values \(rows 1\)"),
        (np.nan, r"x contains 1 NaN or infinite values \(rows 1\)"),
        (np.inf, r"x contains 1 NaN or infinite values \(rows 1\)"),
    ],
)
def test_invalid_values_are_named(method, bad, match):
    x = COUNTS.astype(float)
    x[1, 1] = bad
    with pytest.raises(ValueError, match=match):
        coda.replace_zeros(x, method=method)


@pytest.mark.parametrize("method", ["multiplicative", "pseudocount", *BAYESIAN])
def test_rows_of_zeros_are_named(method):
    x = np.array([[1, 2, 3], [0, 0, 0], [2, 1, 1]])
    with pytest.raises(ValueError, match=r"rows whose parts are all zero \(rows 1\)"):
        coda.replace_zeros(x, method=method)


@pytest.mark.parametrize("method", ["multiplicative", "pseudocount", *BAYESIAN])
def test_parts_of_zeros_are_named(method):
    x = pd.DataFrame({"Si": [1, 0, 2], "Al": [0, 0, 0], "Fe": [3, 2, 0]})
    with pytest.raises(
        ValueError, match=r"parts that are zero in every sample \(Al\); .* drop it"
    ):
        coda.replace_zeros(x, method=method)


def test_gbm_needs_two_positive_values_per_part():
    x = pd.DataFrame({"a": [1, 0, 2], "b": [0, 0, 5], "c": [3, 2, 1]})
    with pytest.raises(
        ValueError, match=r"parts with fewer than 2 positive values \(b\); method=\"gbm\""
    ):
        coda.replace_zeros(x, method="gbm")
    # SQ and BL are defined there.
    assert (coda.replace_zeros(x, method="bl").to_numpy() > 0).all()


@pytest.mark.parametrize("method", BAYESIAN)
def test_bayesian_methods_need_counts(method):
    with pytest.raises(
        ValueError,
        match=r"x has 1 non-integer values \(rows 0\); method=\"\w+\" models count zeros, so "
        r"it needs counts",
    ):
        coda.replace_zeros([[0.5, 0.0, 2.0], [1.0, 1.0, 1.0]], method=method)


@pytest.mark.parametrize("method", BAYESIAN)
def test_bayesian_methods_need_two_rows(method):
    with pytest.raises(ValueError, match="x has 1 sample; at least 2 are needed"):
        coda.replace_zeros([1, 0, 3], method=method)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"delta": 1.0}, r"delta is too large: in rows 0, 1 .* use a smaller delta"),
        ({"delta": [0.6, 0.5, 0.1]}, r"delta is too large: in rows 1 the"),
        ({"detection_limit": 2.0}, r"detection_limit is too large: in rows 0, 1"),
    ],
)
def test_delta_too_large(kwargs, match):
    x = np.array([[0.5, 0.0, 0.5], [0.0, 0.0, 1.0]])
    with pytest.raises(ValueError, match=match):
        coda.replace_zeros(x, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (
            {"method": "bayes"},
            ValueError,
            r"method='bayes' is not a known option; choose one of 'multiplicative'",
        ),
        (
            {"output": "prop"},
            ValueError,
            r"output='prop' is not a known option; choose one of 'proportions', 'counts'",
        ),
        (
            {"delta": 0.1, "detection_limit": 1.0},
            ValueError,
            r"delta is not used when detection_limit is given",
        ),
        (
            {"method": "gbm", "delta": 0.1},
            ValueError,
            r"delta is not used by method=\"gbm\"; leave it out",
        ),
        (
            {"method": "sq", "detection_limit": 1},
            ValueError,
            r"detection_limit is not used by method=\"sq\"",
        ),
        (
            {"method": "pseudocount", "detection_limit": 1},
            ValueError,
            r"detection_limit is not used by method=\"pseudocount\"",
        ),
        ({"delta": -0.1}, ValueError, r"delta=-0.1; expected positive finite values"),
        (
            {"delta": [0.1, 0.2]},
            ValueError,
            r"delta has shape \(2,\); pass one number for all parts or one per part \(3\)",
        ),
        ({"delta": True}, TypeError, r"delta=True; expected a positive number or one per part"),
        (
            {"detection_limit": 1, "frac": 1.5},
            ValueError,
            r"frac=1.5; expected a number in \(0, 1\]",
        ),
        ({"method": "bl", "frac": 0}, ValueError, r"frac=0; expected a number in \(0, 1\]"),
        (
            {"method": "bl", "frac": "half"},
            TypeError,
            r"frac='half'; expected a number in \(0, 1\]",
        ),
    ],
)
def test_option_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        coda.replace_zeros(COUNTS, **kwargs)


def test_delta_series_must_name_every_part():
    x = pd.DataFrame({"a": [0.0, 1.0], "b": [1.0, 1.0]})
    with pytest.raises(ValueError, match=r"delta has no value for parts b"):
        coda.replace_zeros(x, delta=pd.Series({"a": 0.1}))


def test_non_numeric_columns_are_named():
    x = pd.DataFrame({"a": [1.0, 0.0], "site": ["p", "q"]})
    with pytest.raises(TypeError, match=r"x has non-numeric columns: site"):
        coda.replace_zeros(x)


@pytest.mark.parametrize("method", ["multiplicative", "pseudocount", "gbm"])
def test_frac_is_checked_by_every_method(method):
    # frac=-1 was accepted silently by the methods that do not use it
    with pytest.raises(ValueError, match="frac"):
        coda.replace_zeros(np.array([[1.0, 0.0, 2.0], [2.0, 1.0, 1.0]]), method=method, frac=-1)


def test_sparse_columns_are_read_as_their_dense_values():
    # pandas' sparse columns are numeric: they were taken as parts, then
    # numpy could not interpret their dtype ("Cannot interpret 'Sparse[...]'").
    dense = pd.DataFrame({"a": [1.0, 0.0, 2.0], "b": [0.0, 3.0, 1.0], "c": [1.0, 2.0, 3.0]})
    sparse = dense.astype({"a": pd.SparseDtype(float, 0.0), "b": pd.SparseDtype(float, 0.0)})
    pd.testing.assert_frame_equal(coda.replace_zeros(sparse), coda.replace_zeros(dense))
    pd.testing.assert_frame_equal(coda.clr(sparse + 1.0), coda.clr(dense + 1.0))
