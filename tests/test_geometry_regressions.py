"""Regression tests for coda/geometry.py found in QA of zero replacement and geometry.

Each test failed before its fix:

- a pair of one numpy and one pandas argument of the same shape took the
  numpy argument's form when it came first, so ``distance(array, frame)``
  lost the row labels that ``distance(frame, array)`` kept;
- ``power(frame, a)`` with ``a`` a Series labelled in another order than the
  rows applied the powers by position, to the wrong rows, without a word;
- with dask input, a one-row DataFrame partner gave its own index to the
  one-row blocks of a dask DataFrame, and made ``perturb(one_row_frame,
  dask_array)`` fail with "'DataFrame' object has no attribute 'dtype'".
"""

from __future__ import annotations

import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

import coda

PARTS = ["Si", "Na", "Mn"]
FRAME = pd.DataFrame(
    [[1.0, 2.0, 4.0], [3.0, 1.0, 1.0], [2.0, 5.0, 1.0], [1.0, 1.0, 6.0]],
    index=["s1", "s2", "s3", "s4"],
    columns=PARTS,
)
REF = pd.DataFrame([[1.0, 2.0, 3.0]], index=["ref"], columns=PARTS)
PAIRS = [coda.perturb, coda.perturb_inv, coda.inner, coda.distance]


@pytest.mark.parametrize("f", PAIRS)
def test_array_then_frame_keeps_the_frame_labels(f):
    array = FRAME.to_numpy()[::-1].copy()
    for got in (f(array, FRAME), f(FRAME, array)):
        assert isinstance(got, (pd.Series, pd.DataFrame))
        pd.testing.assert_index_equal(got.index, FRAME.index)
    np.testing.assert_array_equal(np.asarray(f(array, FRAME)), f(array, FRAME.to_numpy()))


@pytest.mark.parametrize("f", [coda.perturb, coda.perturb_inv])
def test_array_then_series_keeps_the_part_names(f):
    one = REF.iloc[0]
    got = f(np.array([2.0, 1.0, 1.0]), one)
    assert isinstance(got, pd.Series)
    pd.testing.assert_index_equal(got.index, one.index)
    np.testing.assert_array_equal(got.to_numpy(), f(np.array([2.0, 1.0, 1.0]), one.to_numpy()))


def test_power_refuses_a_series_labelled_in_another_order():
    a = pd.Series([1.0, 2.0, 3.0, 4.0], index=FRAME.index)
    expected = coda.power(FRAME.to_numpy(), a.to_numpy())
    np.testing.assert_array_equal(coda.power(FRAME, a).to_numpy(), expected)
    with pytest.raises(ValueError, match=r"a is a Series whose index is not x's index.*a\.loc"):
        coda.power(FRAME, a.iloc[::-1])
    with pytest.raises(ValueError, match=r"a is a Series whose index is not x's index"):
        coda.power(FRAME, a.set_axis(["p", "q", "r", "s"]))
    # aligned by the caller, or unlabelled: by position
    np.testing.assert_array_equal(
        coda.power(FRAME, a.iloc[::-1].loc[FRAME.index]).to_numpy(), expected
    )
    np.testing.assert_array_equal(coda.power(FRAME, a.to_numpy()).to_numpy(), expected)


@pytest.mark.parametrize("f", [coda.perturb, coda.perturb_inv])
def test_one_row_frame_partner_of_a_dask_array(f):
    x = da.from_array(FRAME.to_numpy(), chunks=(3, 3))
    expected = f(FRAME.to_numpy(), REF.to_numpy())
    got = f(x, REF).compute()
    assert isinstance(got, np.ndarray)
    np.testing.assert_array_equal(got, expected)
    swapped = f(REF, x).compute()
    assert isinstance(swapped, np.ndarray)
    np.testing.assert_array_equal(swapped, f(REF.to_numpy(), FRAME.to_numpy()))


@pytest.mark.parametrize("f", PAIRS)
def test_one_row_frame_partner_keeps_the_index_of_one_row_partitions(f):
    x = dd.from_pandas(FRAME, chunksize=3)
    assert [len(p) for p in x.partitions] == [3, 1]  # the last partition is one row
    for got, expected in ((f(REF, x), f(REF, FRAME)), (f(x, REF), f(FRAME, REF))):
        got = got.compute()
        # dask stores string labels as its own string dtype: compare the labels
        assert list(got.index) == list(FRAME.index)
        np.testing.assert_array_equal(np.asarray(got), np.asarray(expected))
