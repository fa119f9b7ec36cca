"""Tests of coda._validation: the input checks and their messages.

Each message must name the argument, say what was expected and what arrived,
and point to the fix; these tests pin those parts of every message.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from strategies import orthonormal_bases, sbps

import coda
from coda import _validation as v

# ---------------------------------------------------------------------------
# float_dtype and as_2d


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [
        (np.float32, np.float32),
        (np.float64, np.float64),
        (np.float16, np.float64),
        (np.int8, np.float64),
        (np.int64, np.float64),
        (np.uint32, np.float64),
        (">f4", np.float32),  # byte-swapped float32 stays float32, in native order
        (">f8", np.float64),
    ],
)
def test_float_dtype(dtype, expected):
    assert v.float_dtype(np.dtype(dtype)) == expected


def test_as_2d_shapes_and_no_copy():
    x = np.ones((3, 4))
    out = v.as_2d(x)
    assert out is x  # float64 2-D input needs no copy
    assert v.as_2d(np.ones(4)).shape == (1, 4)
    assert v.as_2d([[1, 2], [3, 4]]).dtype == np.float64
    assert v.as_2d(np.ones(3, dtype=np.float32)).dtype == np.float32
    frame = pd.DataFrame({"a": [1, 2], "b": [3.0, 4.0]})
    np.testing.assert_array_equal(v.as_2d(frame), [[1.0, 3.0], [2.0, 4.0]])
    assert v.as_2d(pd.Series([1, 2, 3])).shape == (1, 3)


def test_as_2d_messages_name_the_argument():
    with pytest.raises(
        ValueError, match=r"^z is empty \(shape \(0,\)\); it needs at least one value$"
    ):
        v.as_2d([], "z")
    with pytest.raises(
        ValueError, match=r"^z must be 1-D .* got 3 dimensions with shape \(1, 1, 1\)$"
    ):
        v.as_2d(np.ones((1, 1, 1)), "z")
    with pytest.raises(TypeError, match=r"^z has dtype object; expected real numbers"):
        v.as_2d(np.array([1, "a"], dtype=object), "z")
    with pytest.raises(TypeError, match=r"^z has dtype complex128; expected real numbers"):
        v.as_2d(np.ones(2, dtype=complex), "z")
    with pytest.raises(TypeError, match=r"^s has dtype (str|object); expected real numbers$"):
        v.as_2d(pd.Series(["a", "b"]), "s")


def test_as_2d_non_numeric_columns_are_listed_with_a_count_of_the_rest():
    frame = pd.DataFrame({f"c{k}": ["x"] for k in range(8)} | {"ok": [1.0]})
    with pytest.raises(
        TypeError, match=r"x has non-numeric columns: c0, c1, c2, c3, c4, \.\.\. \(3 more\)"
    ):
        v.as_2d(frame)
    # categoricals and booleans (numpy's or pandas' nullable ones) are not numbers
    with pytest.raises(TypeError, match=r"non-numeric columns: c, b, n; select"):
        v.as_2d(
            pd.DataFrame(
                {
                    "c": pd.Categorical([1, 2]),
                    "b": [True, False],
                    "n": pd.array([True, False], dtype="boolean"),
                    "ok": [1.0, 2.0],
                }
            )
        )


def test_as_2d_takes_pandas_nullable_numbers_with_missing_values_as_nan():
    frame = pd.DataFrame(
        {
            "i": pd.array([1, 2], dtype="Int64"),
            "f": pd.array([0.5, None], dtype="Float64"),
            "u": pd.array([3, 4], dtype="UInt8"),
            "plain": [1.0, 2.0],
        }
    )
    got = v.as_2d(frame)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, [[1.0, 0.5, 3.0, 1.0], [2.0, np.nan, 4.0, 2.0]])
    assert v.as_2d(pd.Series([1.0, 2.0], dtype="Float32")).dtype == np.float32
    # the missing value is reported as any NaN is
    with pytest.raises(ValueError, match=r"x contains 1 NaN or infinite values \(rows 1\)"):
        coda.clr(frame)
    np.testing.assert_allclose(
        coda.clr(frame.iloc[:1]).to_numpy(), coda.clr(frame.iloc[:1].astype(float)).to_numpy()
    )


def test_byte_swapped_input_keeps_its_precision():
    x = np.array([[1.0, 2.0, 4.0], [3.0, 1.0, 1.0]])
    for dtype in (">f4", ">f8"):
        got = coda.clr(x.astype(dtype))
        assert got.dtype == np.dtype(dtype).newbyteorder("=")
        np.testing.assert_allclose(got, coda.clr(x.astype(np.dtype(dtype).newbyteorder("="))))


# ---------------------------------------------------------------------------
# check_shape and check_composition


def test_check_shape():
    v.check_shape(np.ones((2, 3)), min_parts=3, min_samples=2)
    with pytest.raises(ValueError, match=r"^y has 2 parts; at least 3 are needed"):
        v.check_shape(np.ones((2, 2)), "y", min_parts=3)
    with pytest.raises(ValueError, match=r"^y has 1 sample; at least 2 are needed$"):
        v.check_shape(np.ones((1, 2)), "y", min_samples=2)


def test_check_composition_counts_values_and_lists_rows():
    x = np.ones((9, 2))
    x[[1, 2, 3, 5, 6, 7, 8], 0] = -1.0
    x[8, 1] = -2.0
    with pytest.raises(
        ValueError, match=r"x contains 8 negative values \(rows 1, 2, 3, 5, 6, \.\.\. \(2 more\)\)"
    ):
        v.check_composition(x)


def test_check_composition_order_of_checks():
    # non-finite values are reported before negatives, and negatives before zeros
    x = np.array([[np.nan, -1.0, 0.0]])
    with pytest.raises(ValueError, match="NaN or infinite"):
        v.check_composition(x)
    with pytest.raises(ValueError, match="negative"):
        v.check_composition(np.array([[1.0, -1.0, 0.0]]))


def test_check_composition_zeros():
    x = np.array([[1.0, 0.0], [2.0, 3.0]])
    with pytest.raises(ValueError, match=r'replace_zeros\(w, method="multiplicative"\)'):
        v.check_composition(x, "w")
    v.check_composition(x, allow_zeros=True)
    with pytest.raises(ValueError, match=r"rows whose parts are all zero \(rows r2\)"):
        v.check_composition(
            np.array([[1.0, 1.0], [0.0, 0.0]]), allow_zeros=True, row_labels=["r1", "r2"]
        )


# ---------------------------------------------------------------------------
# check_option and check_part


def test_check_option():
    assert v.check_option("b", "method", ("a", "b")) == "b"
    with pytest.raises(
        ValueError, match=r"^method='c' is not a known option; choose one of 'a', 'b'$"
    ):
        v.check_option("c", "method", ("a", "b"))
    # no case folding and no non-strings: an unknown value never falls through
    with pytest.raises(ValueError, match=r"method='A'"):
        v.check_option("A", "method", ("a", "b"))
    with pytest.raises(ValueError, match=r"method=None"):
        v.check_option(None, "method", ("a", "b"))


@pytest.mark.parametrize(("ref", "expected"), [(0, 0), (2, 2), (-1, 2), (-3, 0), (np.int32(1), 1)])
def test_check_part_positions(ref, expected):
    assert v.check_part(ref, "ref", None, 3) == expected


def test_check_part_names():
    parts = pd.Index(["a", "b", "c"])
    assert v.check_part("c", "ref", parts, 3) == 2
    with pytest.raises(ValueError, match=r"^ref='d' is not a part; the parts are a, b, c$"):
        v.check_part("d", "ref", parts, 3)
    with pytest.raises(ValueError, match=r"ref='a' names 2 parts; part names must be unique"):
        v.check_part("a", "ref", ["a", "b", "a"], 3)
    with pytest.raises(TypeError, match=r"ref must be a part index or a part name, not a bool"):
        v.check_part(False, "ref", parts, 3)


# ---------------------------------------------------------------------------
# check_basis


@settings(max_examples=30, deadline=None)
@given(orthonormal_bases())
def test_check_basis_accepts_orthonormal_bases(basis):
    np.testing.assert_array_equal(v.check_basis(basis, "basis", basis.shape[0]), basis)
    frame = pd.DataFrame(basis)
    np.testing.assert_array_equal(v.check_basis(frame, "basis", basis.shape[0]), basis)


@settings(max_examples=30, deadline=None)
@given(orthonormal_bases(min_parts=3))
def test_check_basis_rejects_perturbed_bases(basis):
    bent = basis.copy()
    bent[0, 0] += 1e-6
    with pytest.raises(ValueError, match="not an orthonormal basis of the clr plane"):
        v.check_basis(bent, "basis", basis.shape[0])
    # a dependent column: orthonormality fails even though columns sum to zero
    twin = basis.copy()
    twin[:, 1] = twin[:, 0]
    with pytest.raises(ValueError, match=r"largest \|V\^T V - I\| 1"):
        v.check_basis(twin, "basis", basis.shape[0])


def test_check_basis_takes_a_float32_basis_at_its_own_precision():
    basis = coda.ilr_basis(5)
    single = basis.astype(np.float32)
    np.testing.assert_array_equal(v.check_basis(single, "basis", 5), single.astype(float))
    x = np.float32([[1, 2, 4, 8, 3]])
    np.testing.assert_allclose(coda.ilr(x, basis=single), coda.ilr(x), rtol=1e-6)
    # a float32 basis bent beyond float32 rounding is still refused
    bent = single.copy()
    bent[0, 0] += np.float32(1e-3)
    with pytest.raises(ValueError, match="not an orthonormal basis of the clr plane"):
        v.check_basis(bent, "basis", 5)


def test_check_basis_dtype_and_type():
    assert v.check_basis(coda.ilr_basis(3), "basis", 3, dtype=np.float32).dtype == np.float32
    with pytest.raises(TypeError, match=r"^basis has dtype <U1; expected a real matrix$"):
        v.check_basis(np.full((3, 2), "a"), "basis", 3)


# ---------------------------------------------------------------------------
# check_sbp


@settings(max_examples=50, deadline=None)
@given(sbps())
def test_check_sbp_accepts_random_partitions_in_any_row_order(sbp):
    np.testing.assert_array_equal(v.check_sbp(sbp), sbp)
    reordered = sbp[::-1]
    np.testing.assert_array_equal(v.check_sbp(reordered), reordered)
    # and as floats or a labelled frame
    np.testing.assert_array_equal(v.check_sbp(sbp.astype(float)), sbp)
    np.testing.assert_array_equal(v.check_sbp(pd.DataFrame(sbp)), sbp)
    # flipping the signs of a row swaps numerator and denominator: still valid
    flipped = sbp.copy()
    flipped[0] *= -1
    np.testing.assert_array_equal(v.check_sbp(flipped), flipped)


@settings(max_examples=50, deadline=None)
@given(sbps(min_parts=3))
def test_check_sbp_rejects_broken_partitions(sbp):
    # merging two rows' supports: drop a row and the partition is short
    with pytest.raises(ValueError, match=r"has \d+ rows \(balances\) and \d+ columns \(parts\)"):
        v.check_sbp(sbp[1:])
    # zeroing one entry of the first split breaks "the first split uses every part"
    # or empties a side of some split
    broken = sbp.copy()
    broken[:, 0] = 0
    with pytest.raises(ValueError, match="sbp"):
        v.check_sbp(broken)
    # duplicating a row (in place of another) leaves a group unsplit
    dup = sbp.copy()
    dup[-1] = dup[0]
    with pytest.raises(ValueError, match="is not a sequential binary partition"):
        v.check_sbp(dup)


def test_check_sbp_messages():
    with pytest.raises(
        ValueError,
        match=r"^sbp must contain only \+1, -1 and 0; got 2, 3: mark numerator parts \+1",
    ):
        v.check_sbp([[1, 2, -1], [3, -1, 0]])
    with pytest.raises(ValueError, match=r"^sbp must contain only \+1, -1 and 0; got 0.5"):
        v.check_sbp([[1, 0.5, -1], [1, -1, 0]])
    with pytest.raises(ValueError, match=r"^sbp must contain only \+1, -1 and 0; got a, b"):
        v.check_sbp([["a", "b"]])
    with pytest.raises(ValueError, match=r"^part_groups must be a 2-D matrix"):
        v.check_sbp(np.ones((2, 3, 4)), "part_groups")
    with pytest.raises(ValueError, match=r"^sbp has shape \(1, 1\)"):
        v.check_sbp([[1]])
    with pytest.raises(ValueError, match=r"^sbp must contain only .*; got values of dtype bool"):
        v.check_sbp(np.array([[True, True, False], [True, False, False]]))


def test_ragged_input_and_non_numeric_powers_are_named():
    with pytest.raises(ValueError, match=r"^x has rows of different lengths; every composition"):
        v.as_2d([[1, 2], [1, 2, 3]])
    for a in ("2", True, [1, "b"], None):
        with pytest.raises(TypeError, match=r"is not a number; pass a real scalar or one per row"):
            v.check_powers(a, "a", 2)
    np.testing.assert_array_equal(v.check_powers(np.float32(2), "a", 2), 2.0)
    np.testing.assert_array_equal(v.check_powers([1, 2], "a", 2), [1.0, 2.0])


@pytest.mark.parametrize(
    "values",
    [
        np.array([1.0, 2.0], dtype=np.float32),
        np.full(4, 3e38, dtype=np.float32),  # finite, but the sum overflows
        np.zeros((2, 3), dtype=np.float32),
    ],
)
def test_check_finite_tensor_passes_finite_values(values):
    v.check_finite_tensor(values, "w", "base")


@pytest.mark.parametrize(
    ("values", "count"),
    [
        (np.array([1.0, np.nan, 2.0], dtype=np.float32), 1),
        (np.array([np.inf, -np.inf], dtype=np.float32), 2),
        (np.array([3e38, 3e38, np.nan], dtype=np.float32), 1),
    ],
)
def test_check_finite_tensor_names_the_tensor_and_counts_bad_values(values, count):
    with pytest.raises(ValueError, match=rf"tensor 'w' of base has {count} values that are not"):
        v.check_finite_tensor(values, "w", "base")


def test_seeded_rng_names_the_argument():
    assert v.seeded_rng(3).integers(100) == np.random.default_rng(3).integers(100)
    generator = np.random.default_rng(0)
    assert v.seeded_rng(generator) is generator
    with pytest.raises(ValueError, match=r"^seed=-1 is not a seed \(.*\); pass None, a non-neg"):
        v.seeded_rng(-1)
    for bad in (True, "a", 1.5):
        with pytest.raises(TypeError, match=r"^n_seed="):
            v.seeded_rng(bad, "n_seed")
    with pytest.raises(ValueError, match=r"^seed=-1 is not a seed"):
        coda.simulate(20, 4, seed=-1)
