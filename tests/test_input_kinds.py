"""The kinds of input a user passes: layouts, masked arrays, pandas dtypes.

Each test here failed before its fix: results that depended on the memory
layout of the data, and masked values that entered the results as data.
"""

import numpy as np
import pandas as pd
import pytest

import coda
from coda._validation import as_2d


def _data():
    return np.random.default_rng(1).random((40, 7)) + 0.01


SHRINKAGE = {
    "pcor_shrink": lambda x: coda.pcor(x, method="shrink"),
    "pcor_bshrink": lambda x: coda.pcor(x, method="bshrink"),
    "precision_shrink": lambda x: coda.precision(x, method="shrink"),
    "partial_variance_shrink": lambda x: coda.partial_variance(x, method="shrink"),
}


@pytest.mark.parametrize("name", sorted(SHRINKAGE))
def test_shrinkage_of_a_frame_equals_that_of_its_values(name):
    # A DataFrame's values are Fortran-ordered: BLAS summed their products in
    # another order than for the C-ordered array, and the last bits differed.
    x = _data()
    frame = pd.DataFrame(x, columns=list("abcdefg"))
    np.testing.assert_array_equal(
        np.asarray(SHRINKAGE[name](frame)), np.asarray(SHRINKAGE[name](x))
    )


@pytest.mark.parametrize("name", sorted(SHRINKAGE))
@pytest.mark.parametrize("layout", ["fortran", "transposed"])
def test_shrinkage_does_not_depend_on_the_memory_layout(name, layout):
    x = _data()
    view = np.asfortranarray(x) if layout == "fortran" else np.ascontiguousarray(x.T).T
    assert not view.flags.c_contiguous
    np.testing.assert_array_equal(SHRINKAGE[name](view), SHRINKAGE[name](x))


@pytest.mark.parametrize("dtype", [np.float64, np.int64])
def test_as_2d_leaves_a_dataframe_s_values_uncopied_and_the_input_alone(dtype):
    # The shrinkage estimators take their logs C-ordered; copying every
    # Fortran-ordered input (a DataFrame's values) cost pcor 800 MB at
    # 1,000,000 x 100 for nothing.
    x = np.asfortranarray((_data() * 100).astype(dtype))
    x.flags.writeable = False
    before = x.copy()
    values = as_2d(x)
    np.testing.assert_array_equal(values, before.astype(values.dtype))
    np.testing.assert_array_equal(x, before)
    fortran = np.asfortranarray(x, dtype=np.float64)
    assert as_2d(fortran) is fortran  # nothing to convert: no copy
    assert as_2d(fortran[:, ::2]).flags.c_contiguous  # a strided view is copied


def _masked():
    x = np.random.default_rng(2).random((6, 4)) + 0.1
    mask = np.zeros(x.shape, dtype=bool)
    mask[1, 2] = mask[4, 0] = True
    return np.ma.masked_array(x, mask=mask)


MASKED_X = {
    "closure": coda.closure,
    "clr": coda.clr,
    "ilr": coda.ilr,
    "norm": coda.norm,
    "center": coda.center,
    "variation": coda.variation,
    "clr_cov": coda.clr_cov,
    "pcor": coda.pcor,
    "pcor_shrink": lambda x: coda.pcor(x, method="shrink"),
    "replace_zeros": coda.replace_zeros,
    "power": lambda x: coda.power(x, 2.0),
}


@pytest.mark.parametrize("name", sorted(MASKED_X))
def test_masked_values_of_x_are_refused_not_read_as_data(name):
    # np.asarray drops the mask: the values under it entered the results.
    with pytest.raises(
        ValueError,
        match=r"^x is a masked array with 2 masked values \(rows 1, 4\); numpy would use the "
        r"values under the mask as data, so they are refused: drop those rows first, "
        r"e\.g\. x\[~x\.mask\.any\(axis=1\)\], or fill them, e\.g\. x\.filled\(\.\.\.\)$",
    ):
        MASKED_X[name](_masked())


def test_masked_rows_are_named_and_the_fix_offered_works():
    x = _masked()
    with pytest.raises(ValueError, match=r"\(rows 1, 4\); .* x\[~x\.mask\.any\(axis=1\)\]"):
        coda.clr(x)
    kept = x[~x.mask.any(axis=1)]
    np.testing.assert_array_equal(coda.clr(kept), coda.clr(x.data[[0, 2, 3, 5]]))
    # with nothing masked a masked array is its data, and gives an ndarray
    unmasked = np.ma.masked_array(x.data)
    np.testing.assert_array_equal(coda.clr(unmasked), coda.clr(x.data))
    assert type(coda.clr(unmasked)) is np.ndarray


def test_masked_partner_and_one_masked_composition_are_named():
    x = _masked()
    with pytest.raises(ValueError, match=r"^y is a masked array with 2 masked values"):
        coda.perturb(x.data, x)
    with pytest.raises(
        ValueError, match=r"^x is a masked array with 1 masked value; .* x\.filled\(\.\.\.\)$"
    ):
        coda.clr(x[1])


def test_masked_bases_partitions_and_per_part_values_are_refused():
    basis = np.ma.masked_array(coda.ilr_basis(4), mask=np.eye(4, 3, dtype=bool))
    x = _masked().data
    with pytest.raises(ValueError, match=r"^basis is a masked array with 3 masked values; "):
        coda.ilr(x, basis=basis)
    sbp = np.ma.masked_array(
        [[1, 1, -1, -1], [1, -1, 0, 0], [0, 0, 1, -1]], mask=np.eye(3, 4, dtype=bool)
    )
    with pytest.raises(ValueError, match=r"^sbp is a masked array with 3 masked values; "):
        coda.sbp_basis(sbp)
    delta = np.ma.masked_array([0.1, 0.2, 0.3, 0.4], mask=[0, 1, 0, 0])
    with pytest.raises(ValueError, match=r"^delta is a masked array with 1 masked value; "):
        coda.replace_zeros(x, delta=delta)
    powers = np.ma.masked_array(np.arange(1.0, 7.0), mask=[0, 0, 1, 0, 0, 0])
    with pytest.raises(ValueError, match=r"^a is a masked array with 1 masked value; "):
        coda.power(x, powers)


def test_a_one_row_masked_partner_is_refused():
    # perturb and the like take a one-row partner as one composition: its
    # row was taken with np.asarray, which dropped the mask.
    x = _masked().data
    partner = np.ma.masked_array(x[:1], mask=[[False, True, False, False]])
    for apply in (coda.perturb, coda.perturb_inv, coda.inner, coda.distance):
        with pytest.raises(ValueError, match=r"^y is a masked array with 1 masked value"):
            apply(x, partner)


def _frame():
    return pd.DataFrame(np.random.default_rng(3).random((5, 3)) + 0.1, columns=["Si", "Al", "Fe"])


def test_numbers_in_columns_of_object_dtype_are_named_with_the_conversion():
    # The message said the columns were non-numeric, and to select the numeric ones.
    frame = _frame()
    stored = frame.astype(object)
    message = (
        r"^x holds numbers in columns whose dtype is not numeric: Si \(object\), "
        r"Al \(object\), Fe \(object\); convert them first, e\.g\. x\.astype\(float\)$"
    )
    with pytest.raises(TypeError, match=message):
        coda.clr(stored)
    pd.testing.assert_frame_equal(coda.clr(stored.astype(float)), coda.clr(frame))
    with pytest.raises(TypeError, match=message.replace("x", "y")):
        coda.perturb(frame, stored.iloc[:1])


def test_numbers_as_objects_beside_identifiers_are_named_apart():
    frame = _frame().astype({"Fe": object}).assign(id=list("abcde"))
    with pytest.raises(
        TypeError,
        match=r"^x has non-numeric columns: id; select .* x\.set_index\(\.\.\.\); the columns "
        r"Fe \(object\) hold numbers in a dtype that is not numeric: convert them, "
        r"e\.g\. x\.astype\(\{'Fe': float\}\)$",
    ):
        coda.closure(frame)


def test_a_series_or_array_of_numbers_as_objects_says_how_to_convert_it():
    values = _frame().to_numpy()
    with pytest.raises(
        TypeError,
        match=r"^x has dtype object; expected real numbers; convert it first, "
        r"e\.g\. x\.astype\(float\)$",
    ):
        coda.clr(pd.Series(values[0], dtype=object))
    with pytest.raises(
        TypeError,
        match=r"^x has dtype object; .*; convert it first, e\.g\. "
        r"np\.asarray\(x, dtype=float\)$",
    ):
        coda.clr(values.astype(object))
    # objects that are not all numbers get no such advice
    with pytest.raises(TypeError, match=r"one column per part$"):
        coda.clr(np.array([[1.0, None, 2.0]]))


def test_masked_matrices_are_named_by_their_argument():
    # The checks of square matrices called numeric_values without the name:
    # the message said "the array" and suggested "values.filled(...)".
    gamma = np.eye(4) - 0.25
    masked = np.ma.masked_array(gamma, mask=np.eye(4, dtype=bool))
    with pytest.raises(ValueError, match=r"^gamma is a masked array .* gamma\.filled"):
        coda.clr_cov_to_variation(masked)
    rho = np.ma.masked_array(np.eye(3), mask=np.eye(3, dtype=bool))
    with pytest.raises(ValueError, match=r"^matrix is a masked array"):
        coda.plot_pcor_heatmap(rho)


def test_the_fix_for_nan_names_the_argument():
    with pytest.raises(ValueError, match=r"e\.g\. y\[np\.isfinite\(y\)\.all\(axis=1\)\]"):
        coda.perturb([[1.0, 2.0, 3.0]], [[1.0, np.nan, 3.0]])
