"""Regressions found by fuzzing the public API with hypothesis (QA pass F1).

Each test names the input that failed: a raw library error instead of a
message naming the argument, or a silent NaN where the result is promised
finite.
"""

from __future__ import annotations

import numpy as np
import pytest

import coda
from coda.merging import describe, mass_fate, ownership, task_shares, ties_merge


def _f32(*values):
    return np.array(values, dtype=np.float32)


BASE = {"a.w": _f32(0, 0, 0), "b.w": _f32(0, 0)}
MODELS = [
    {"a.w": _f32(1, -1, 0), "b.w": _f32(1, 2)},
    {"a.w": _f32(1, 1, 0), "b.w": _f32(-1, 2)},
    {"a.w": _f32(2, 1, 0), "b.w": _f32(-1, -2)},
]


@pytest.mark.parametrize(
    "layers",
    [{("block", 0): ["a.w"], ("block", 1): ["b.w"]}, lambda name: (name[0], 0)],
    ids=["mapping", "callable"],
)
def test_tuple_layer_names_label_the_rows(layers):
    # Was: ValueError "Names should be list-like for a MultiIndex" from pandas.
    shares = task_shares(BASE, MODELS, layers=layers)
    assert shares.index.nlevels == 1
    assert all(isinstance(layer, tuple) for layer in shares.index)
    np.testing.assert_allclose(shares.sum(axis=1), 1.0)
    owned = ownership(BASE, MODELS, density=0.5, layers=layers)
    assert list(owned.index) == list(shares.index)


def test_empty_base_is_a_clear_error():
    # Was: ValueError "cannot reshape array of size 0 into shape (0,newaxis)".
    with pytest.raises(ValueError, match="base holds no tensors"):
        task_shares({}, [{}])
    with pytest.raises(ValueError, match="base holds no tensors"):
        ownership({}, [{}, {}], density=0.5)


@pytest.mark.parametrize("weight", [1e-300, 1e-40])
def test_weights_below_float32_range_are_refused(weight):
    # Was: float32 rounded them to 0 (or a subnormal): NaN ownership, every
    # task's mass "dropped", a zero merge.
    models = [{"a": _f32(1, -1, 0)}, {"a": _f32(1, 1, 0)}]
    base = {"a": _f32(0, 0, 0)}
    weights = [weight, weight]
    for call in (
        lambda: ownership(base, models, density=1.0, weights=weights),
        lambda: mass_fate(base, models, density=1.0, weights=weights),
        lambda: ties_merge(base, models, density=1.0, weights=weights),
    ):
        with pytest.raises(ValueError, match="below float32's smallest normal"):
            call()
    # A weight of exactly 0 still leaves a model out.
    owned = ownership(base, models, density=1.0, weights=[1.0, 0.0])
    np.testing.assert_allclose(owned.to_numpy(), [[1.0, 0.0]])


@pytest.mark.parametrize("scope", ["tensor", "global"])
def test_weighted_task_vector_beyond_float32_is_refused(scope):
    # Was: NaN ownership (scope="tensor") or a RuntimeWarning "overflow
    # encountered in multiply" (scope="global"): 1e38 * 10 overflows float32.
    models = [{"a": _f32(10, -10, 0)}, {"a": _f32(10, 10, 0)}]
    base = {"a": _f32(0, 0, 0)}
    for statistic in (ownership, mass_fate):
        with pytest.raises(ValueError, match=r"weights\[0\]=1e\+38 times task0's tensor 'a'"):
            statistic(base, models, density=1.0, scope=scope, weights=[1e38, 1e38])


def test_describe_accepts_tuple_layer_names():
    result = describe(BASE, MODELS, density=0.5, layers=lambda name: (name[0], 0), seed=0)
    assert list(result.shares.index) == [("a", 0), ("b", 0)]
    assert list(result.fate.index.get_level_values("layer").unique()) == [("a", 0), ("b", 0)]


@pytest.mark.parametrize("total", [1e300, 1e-300])
def test_closure_refuses_a_total_beyond_float32_for_float32_data(total):
    # Was: inf with an overflow warning (1e300), or rows of silent zeros (1e-300).
    x = np.array([[1.0, 2.0, 3.0]], dtype=np.float32)
    with pytest.raises(
        ValueError,
        match=r"total=1e[+-]300 is outside the range of float32.*"
        r"x\.astype\('float64'\)",
    ):
        coda.closure(x, total=total)
    wide = coda.closure(x.astype(np.float64), total=total)
    np.testing.assert_allclose(wide, total * np.array([[1.0, 2.0, 3.0]]) / 6.0, rtol=1e-15)
    assert coda.closure(x, total=100).dtype == np.float32
