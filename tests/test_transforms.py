"""Tests of coda.transforms: the Aitchison geometry and the log-ratio transforms.

Three kinds of oracle: hypothesis properties of the geometry (round trips,
invariances, isometries) on compositions spanning twelve orders of
magnitude; values worked by hand, with the arithmetic in comments; and
scikit-bio's composition module as an independent implementation.
Tolerances: float64 1e-12 relative to the size of the coordinates, float32
1e-5.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import threading
import warnings
from fractions import Fraction

import naive
import numba
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skbio.stats import composition as skc
from strategies import (
    DTYPES,
    composition_pairs,
    compositions,
    coordinates,
    orthonormal_bases,
    sbps,
)

import coda

TOL = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-5}
E = math.e
LN2 = math.log(2.0)

fast = settings(max_examples=40, deadline=None)
SBP4 = [[1, 1, -1, -1], [1, -1, 0, 0], [0, 0, 1, -1]]


def _tol(a) -> float:
    return TOL[np.asarray(a).dtype]


def assert_coords_close(actual, expected, tol, scale=None):
    """|actual - expected| <= tol * max(1, scale), scale defaulting to max|expected|."""
    actual = np.asarray(actual)
    expected = np.asarray(expected, dtype=np.float64)
    if scale is None:
        scale = np.abs(expected).max(initial=0.0)
    np.testing.assert_allclose(actual, expected, rtol=0, atol=tol * max(1.0, scale))


def assert_parts_close(actual, expected, tol):
    """Compositions agree part by part to a relative tol."""
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=tol, atol=0)


def _clr64(x):
    """clr in float64 from the formula, independent of coda."""
    logs = np.log(np.asarray(x, dtype=np.float64))
    return logs - logs.mean(axis=-1, keepdims=True)


def _alr_map(d: int, r: int) -> np.ndarray:
    """F_r: the (D-1) x D matrix with rows e_k - e_r, k != r."""
    eye = np.eye(d)
    return np.delete(eye, r, axis=0) - eye[r]


# ---------------------------------------------------------------------------
# Values worked by hand


def test_closure_by_hand():
    # 1 + 2 + 5 = 8
    np.testing.assert_array_equal(coda.closure([1, 2, 5]), [1 / 8, 2 / 8, 5 / 8])
    # rows sum to 2 and 4, scaled to 100
    np.testing.assert_allclose(
        coda.closure([[1, 1], [1, 3]], total=100), [[50, 50], [25, 75]], rtol=1e-15
    )


def test_clr_by_hand():
    # log [1, e, e^2] = [0, 1, 2], mean 1, so clr = [-1, 0, 1]
    np.testing.assert_allclose(coda.clr([1, E, E**2]), [-1, 0, 1], rtol=0, atol=1e-15)
    # log [1, 2, 4] = ln2 [0, 1, 2], mean ln2: clr = ln2 [-1, 0, 1]
    np.testing.assert_allclose(coda.clr([1, 2, 4]), [-LN2, 0, LN2], rtol=0, atol=1e-15)


def test_clr_inv_by_hand():
    # exp([0, ln3]) = [1, 3], closed: [1/4, 3/4]; a constant added changes nothing
    np.testing.assert_allclose(coda.clr_inv([0.0, math.log(3)]), [0.25, 0.75], rtol=1e-15)
    np.testing.assert_allclose(coda.clr_inv([7.0, 7.0 + math.log(3)]), [0.25, 0.75], rtol=1e-14)


def test_alr_by_hand():
    # alr([1, 2, 4]) against the last part: [ln(1/4), ln(2/4)] = [-2 ln2, -ln2]
    np.testing.assert_allclose(coda.alr([1, 2, 4]), [-2 * LN2, -LN2], rtol=1e-15)
    # against part 0: [ln(2/1), ln(4/1)] = [ln2, 2 ln2]
    np.testing.assert_allclose(coda.alr([1, 2, 4], ref=0), [LN2, 2 * LN2], rtol=1e-15)
    # against the middle part: [ln(1/2), ln(4/2)]
    np.testing.assert_allclose(coda.alr([1, 2, 4], ref=1), [-LN2, LN2], rtol=1e-15)


def test_alr_inv_by_hand():
    # y = [ln2, ln3] against the last part: exp -> [2, 3, 1], sum 6
    np.testing.assert_allclose(coda.alr_inv([LN2, math.log(3)]), [2 / 6, 3 / 6, 1 / 6], rtol=1e-15)
    # the same y with ref=0 puts the 1 first: [1, 2, 3] / 6
    np.testing.assert_allclose(
        coda.alr_inv([LN2, math.log(3)], ref=0), [1 / 6, 2 / 6, 3 / 6], rtol=1e-15
    )


@pytest.mark.parametrize("kind", ["helmert", "pivot"])
def test_ilr_two_parts_by_hand(kind):
    # Both bases for D = 2 are the column sqrt(1/2) (1, -1):
    # ilr([a, b]) = (ln a - ln b) / sqrt(2); ilr([e, 1]) = 1 / sqrt(2)
    np.testing.assert_allclose(coda.ilr([E, 1.0], basis=kind), [1 / math.sqrt(2)], rtol=1e-15)
    np.testing.assert_allclose(
        coda.ilr([[1.0, 4.0]], basis=kind), [[-2 * LN2 / math.sqrt(2)]], rtol=1e-15
    )
    # and back: z = 1/sqrt(2) gives clr (1/2, -1/2), so parts e^(1/2) : e^(-1/2)
    np.testing.assert_allclose(
        coda.ilr_inv([1 / math.sqrt(2)], basis=kind), [E / (E + 1), 1 / (E + 1)], rtol=1e-15
    )


def test_ilr_three_parts_by_hand():
    # logs of [1, 1, 4] = [0, 0, 2 ln2]
    # Helmert: z1 = sqrt(1/2) (0 - 0) = 0; z2 = sqrt(2/3) (mean(0, 0) - 2 ln2)
    np.testing.assert_allclose(
        coda.ilr([1, 1, 4]), [0.0, -math.sqrt(2 / 3) * 2 * LN2], rtol=1e-15, atol=1e-16
    )
    # pivot: z1 = sqrt(2/3) (0 - mean(0, 2 ln2)) = -sqrt(2/3) ln2;
    #        z2 = sqrt(1/2) (0 - 2 ln2) = -sqrt(2) ln2
    np.testing.assert_allclose(
        coda.ilr([1, 1, 4], basis="pivot"),
        [-math.sqrt(2 / 3) * LN2, -math.sqrt(2) * LN2],
        rtol=1e-15,
    )


def test_ilr_basis_by_hand():
    r2, r6 = 1 / math.sqrt(2), 1 / math.sqrt(6)
    # Helmert, D = 3: column 1 = sqrt(1/2)(1, -1, 0); column 2 = sqrt(2/3)(1/2, 1/2, -1)
    np.testing.assert_allclose(
        coda.ilr_basis(3), [[r2, r6], [-r2, r6], [0, -2 * r6]], rtol=1e-15, atol=0
    )
    # pivot, D = 3: column 1 = sqrt(2/3)(1, -1/2, -1/2); column 2 = sqrt(1/2)(0, 1, -1)
    np.testing.assert_allclose(
        coda.ilr_basis(3, kind="pivot"), [[2 * r6, 0], [-r6, r2], [-r6, -r2]], rtol=1e-15, atol=0
    )


def test_sbp_basis_by_hand():
    # row [1, 1, -1]: r = 2, s = 1: +sqrt(1/(2*3)) = 1/sqrt6 and -sqrt(2/(1*3)) = -2/sqrt6
    # row [1, -1, 0]: r = s = 1: +-sqrt(1/2)
    r2, r6 = 1 / math.sqrt(2), 1 / math.sqrt(6)
    np.testing.assert_allclose(
        coda.sbp_basis([[1, 1, -1], [1, -1, 0]]),
        [[r6, r2], [r6, -r2], [-2 * r6, 0]],
        rtol=1e-15,
        atol=0,
    )


def test_balances_by_hand():
    # x = [1, 4, 2]: balance a,b/c = sqrt(2*1/3) ln(g(1, 4) / 2) = sqrt(2/3) ln(2/2) = 0
    #                balance a/b = sqrt(1/2) ln(1/4) = -sqrt(2) ln2
    x = pd.DataFrame({"a": [1.0, 2.0], "b": [4.0, 2.0], "c": [2.0, 1.0]}, index=["s1", "s2"])
    got = coda.balances(x, [[1, 1, -1], [1, -1, 0]])
    assert list(got.columns) == ["a,b/c", "a/b"]
    assert list(got.index) == ["s1", "s2"]
    # second row: [2, 2, 1]: a,b/c = sqrt(2/3) ln 2; a/b = 0
    expected = [[0.0, -math.sqrt(2) * LN2], [math.sqrt(2 / 3) * LN2, 0.0]]
    np.testing.assert_allclose(got.to_numpy(), expected, rtol=1e-14, atol=1e-15)


def test_operations_by_hand():
    # perturb: [1, 2, 1] * [1, 1, 2] = [1, 2, 2], sum 5
    np.testing.assert_allclose(coda.perturb([1, 2, 1], [1, 1, 2]), [0.2, 0.4, 0.4], rtol=1e-15)
    # perturb_inv: [1, 2, 2] / [1, 1, 2] = [1, 2, 1], sum 4
    np.testing.assert_allclose(
        coda.perturb_inv([1, 2, 2], [1, 1, 2]), [0.25, 0.5, 0.25], rtol=1e-15
    )
    # power: [1, 2, 4]^2 = [1, 4, 16], sum 21
    np.testing.assert_allclose(coda.power([1, 2, 4], 2), [1 / 21, 4 / 21, 16 / 21], rtol=1e-15)
    # power, one value per row: [1, 2, 4]^-1 = [1, 1/2, 1/4] -> [4, 2, 1]/7; [1, 1, 1]^3
    np.testing.assert_allclose(
        coda.power([[1, 2, 4], [1, 1, 1]], [-1.0, 3.0]),
        [[4 / 7, 2 / 7, 1 / 7], [1 / 3, 1 / 3, 1 / 3]],
        rtol=1e-15,
    )
    # center: geometric means of the parts of [1, 1, 1] and [1, 4, 16] are [1, 2, 4], sum 7
    np.testing.assert_allclose(
        coda.center([[1, 1, 1], [1, 4, 16]]), [1 / 7, 2 / 7, 4 / 7], rtol=1e-15
    )


def test_metric_by_hand():
    # clr([1, 2, 4]) = ln2 (-1, 0, 1); clr([1, 1, 2]) = ln2 (-1/3, -1/3, 2/3)
    # inner = ln2^2 (1/3 + 0 + 2/3) = ln2^2
    assert coda.inner([1, 2, 4], [1, 1, 2]) == pytest.approx(LN2**2, rel=1e-15)
    # norm([1, 2, 4]) = ln2 sqrt(2); norm of the neutral element is 0
    assert coda.norm([1, 2, 4]) == pytest.approx(LN2 * math.sqrt(2), rel=1e-15)
    assert coda.norm([3, 3, 3]) == 0.0
    # clr([1, e]) = (-1/2, 1/2), clr([1, 1]) = 0: distance sqrt(1/2)
    assert coda.distance([1, 1], [1, E]) == pytest.approx(math.sqrt(0.5), rel=1e-15)
    # proportional compositions are the same point
    assert coda.distance([1, 2, 4], [2, 4, 8]) == pytest.approx(0.0, abs=1e-15)


# ---------------------------------------------------------------------------
# Properties: transforms and their inverses


@fast
@given(compositions())
def test_clr_rows_sum_to_zero(x):
    z = coda.clr(x)
    assert z.dtype == x.dtype
    scale = np.abs(z).max()
    np.testing.assert_allclose(z.sum(axis=1), 0.0, atol=_tol(x) * max(1.0, scale) * x.shape[1])


@fast
@given(compositions())
def test_clr_matches_formula(x):
    assert_coords_close(coda.clr(x), _clr64(x), _tol(x))


@fast
@given(compositions())
def test_clr_inv_undoes_clr(x):
    assert_parts_close(coda.clr_inv(coda.clr(x)), coda.closure(x), _tol(x))


@fast
@given(compositions(max_log10=5), st.sampled_from(["helmert", "pivot"]))
def test_ilr_inv_undoes_ilr_for_basis_kinds(x, kind):
    z = coda.ilr(x, basis=kind)
    assert z.dtype == x.dtype
    assert z.shape == (x.shape[0], x.shape[1] - 1)
    assert_parts_close(coda.ilr_inv(z, basis=kind), coda.closure(x), _tol(x))


@fast
@given(st.data())
def test_ilr_inv_undoes_ilr_for_explicit_bases(data):
    x = data.draw(compositions(max_log10=5))
    basis = data.draw(orthonormal_bases(x.shape[1]))
    z = coda.ilr(x, basis=basis)
    assert_coords_close(z, _clr64(x) @ basis, _tol(x))
    assert_parts_close(coda.ilr_inv(z, basis=basis), coda.closure(x), _tol(x))


@fast
@given(st.data())
def test_ilr_inv_undoes_ilr_for_random_sbps(data):
    x = data.draw(compositions(max_log10=5))
    basis = coda.sbp_basis(data.draw(sbps(x.shape[1])))
    z = coda.ilr(x, basis=basis)
    assert_coords_close(z, _clr64(x) @ basis, _tol(x))
    assert_parts_close(coda.ilr_inv(z, basis=basis), coda.closure(x), _tol(x))


@pytest.mark.parametrize("kind", ["helmert", "pivot"])
@pytest.mark.parametrize("d", [2, 3, 4, 7, 12, 40])
def test_ilr_basis_is_orthonormal_and_matches_formula(kind, d):
    v = coda.ilr_basis(d, kind=kind)
    assert v.shape == (d, d - 1)
    np.testing.assert_allclose(v.T @ v, np.eye(d - 1), rtol=0, atol=1e-14)
    np.testing.assert_allclose(v.T @ np.ones(d), 0.0, rtol=0, atol=1e-14)
    twin = naive.helmert_basis(d) if kind == "helmert" else naive.pivot_basis(d)
    np.testing.assert_allclose(v, twin, rtol=0, atol=1e-15)


@fast
@given(sbps())
def test_sbp_basis_is_orthonormal_with_the_partition_signs(sbp):
    v = coda.sbp_basis(sbp)
    d = sbp.shape[1]
    assert v.shape == (d, d - 1)
    np.testing.assert_allclose(v.T @ v, np.eye(d - 1), rtol=0, atol=1e-14)
    np.testing.assert_allclose(v.T @ np.ones(d), 0.0, rtol=0, atol=1e-14)
    # Column j is the balance of row j: positive on its +1 parts, negative on
    # its -1 parts, zero elsewhere.
    np.testing.assert_array_equal(np.sign(v.T), sbp)


@fast
@given(compositions(max_log10=5), st.sampled_from(["helmert", "pivot"]))
def test_ilr_kinds_equal_clr_times_their_basis(x, kind):
    """The O(D) kernels agree with the explicit matrix product."""
    basis = coda.ilr_basis(x.shape[1], kind=kind)
    assert_coords_close(coda.ilr(x, basis=kind), _clr64(x) @ basis, _tol(x))
    assert_coords_close(
        coda.ilr(x, basis=kind), coda.ilr(x, basis=basis), _tol(x), scale=np.abs(_clr64(x)).max()
    )


@fast
@given(coordinates(min_parts=1, max_parts=11), st.sampled_from(["helmert", "pivot"]))
def test_ilr_undoes_ilr_inv(z, kind):
    """The other round trip: coordinates -> composition -> the same coordinates."""
    assert_coords_close(coda.ilr(coda.ilr_inv(z, basis=kind), basis=kind), z, 1e-12)


@fast
@given(coordinates(min_parts=1, max_parts=11), st.integers(-12, 11))
def test_alr_undoes_alr_inv(y, ref):
    ref = ref % (y.shape[1] + 1)
    assert_coords_close(coda.alr(coda.alr_inv(y, ref=ref), ref=ref), y, 1e-12)


@fast
@given(compositions(), st.integers(0, 11))
def test_alr_inv_undoes_alr(x, ref):
    ref = ref % x.shape[1]
    y = coda.alr(x, ref=ref)
    assert y.dtype == x.dtype
    assert_parts_close(coda.alr_inv(y, ref=ref), coda.closure(x), _tol(x))


@fast
@given(compositions(dtype=np.float64), st.integers(0, 11))
def test_alr_is_a_fixed_linear_map_of_clr(x, ref):
    # alr = clr F_r^T (Aitchison 1986, sect. 5.1): the clr's mean cancels in x_k / x_r.
    ref = ref % x.shape[1]
    f = _alr_map(x.shape[1], ref)
    assert_coords_close(coda.alr(x, ref=ref), coda.clr(x) @ f.T, 1e-12)


# ---------------------------------------------------------------------------
# Properties: invariances


@fast
@given(st.data())
def test_scale_invariance(data):
    x, y = data.draw(composition_pairs())
    c = 10.0 ** np.array(
        data.draw(st.lists(st.floats(-8, 8), min_size=x.shape[0], max_size=x.shape[0]))
    )
    xs = x * c[:, None]
    ref = data.draw(st.integers(0, x.shape[1] - 1))
    scale = np.abs(_clr64(x)).max()
    for f in (
        coda.clr,
        lambda a: coda.alr(a, ref=ref),
        coda.ilr,
        lambda a: coda.ilr(a, basis="pivot"),
    ):
        assert_coords_close(f(xs), f(x), 1e-12, scale=scale)
    assert_parts_close(coda.closure(xs), coda.closure(x), 1e-14)
    assert_coords_close(coda.distance(xs, y), coda.distance(x, y), 1e-12, scale=scale)
    assert_coords_close(coda.inner(xs, y), coda.inner(x, y), 1e-12, scale=scale**2 * x.shape[1])
    assert_coords_close(coda.norm(xs), coda.norm(x), 1e-12, scale=scale)


@fast
@given(st.data())
def test_permutation_equivariance(data):
    x = data.draw(compositions(dtype=np.float64))
    d = x.shape[1]
    p = np.array(data.draw(st.permutations(range(d))))
    xp = x[:, p]  # part j of xp is part p[j] of x
    assert_coords_close(coda.clr(xp), coda.clr(x)[:, p], 1e-12)
    assert_parts_close(coda.closure(xp), coda.closure(x)[:, p], 1e-15)
    r = data.draw(st.integers(0, d - 1))
    q = int(np.flatnonzero(p == r)[0])  # where part r went
    # alr(x, ref=r) has one column per part k != r, at position k - (k > r)
    cols = [p[j] - (p[j] > r) for j in range(d) if j != q]
    assert_coords_close(coda.alr(xp, ref=q), coda.alr(x, ref=r)[:, cols], 1e-12)


@fast
@given(st.data())
def test_distance_is_invariant_under_perturbation(data):
    x, y = data.draw(composition_pairs(max_log10=4))
    a = data.draw(compositions(shape=(1, x.shape[1]), dtype=np.float64, max_log10=4))[0]
    scale = np.abs(_clr64(x)).max() + np.abs(_clr64(y)).max() + np.abs(_clr64(a)).max()
    assert_coords_close(
        coda.distance(coda.perturb(x, a), coda.perturb(y, a)), coda.distance(x, y), 1e-12, scale
    )


@fast
@given(st.data())
def test_distance_is_euclidean_in_clr_and_ilr(data):
    x, y = data.draw(composition_pairs(max_log10=5))
    d = coda.distance(x, y)
    scale = np.abs(_clr64(x)).max() + np.abs(_clr64(y)).max()
    assert_coords_close(d, np.linalg.norm(coda.clr(x) - coda.clr(y), axis=1), 1e-12, scale)
    for basis in ("helmert", "pivot", data.draw(orthonormal_bases(x.shape[1]))):
        zx, zy = coda.ilr(x, basis=basis), coda.ilr(y, basis=basis)
        assert_coords_close(d, np.linalg.norm(zx - zy, axis=1), 1e-12, scale)
    # and the norm of the difference
    assert_coords_close(d, coda.norm(coda.perturb_inv(x, y)), 1e-12, scale)


@fast
@given(st.data())
def test_inner_and_norm_are_the_clr_metric(data):
    x, y = data.draw(composition_pairs(max_log10=4))
    w = data.draw(compositions(shape=x.shape, dtype=np.float64, max_log10=4))
    a = data.draw(st.floats(-3, 3))
    scale = (np.abs(_clr64(x)).max() + np.abs(_clr64(y)).max() + np.abs(_clr64(w)).max()) ** 2
    scale *= x.shape[1]
    assert_coords_close(coda.inner(x, y), (_clr64(x) * _clr64(y)).sum(axis=1), 1e-12, scale)
    assert_coords_close(coda.norm(x) ** 2, coda.inner(x, x), 1e-12, scale)
    # bilinearity: <x + y, w> = <x, w> + <y, w>; <a x, w> = a <x, w>
    assert_coords_close(
        coda.inner(coda.perturb(x, y), w), coda.inner(x, w) + coda.inner(y, w), 1e-12, scale
    )
    assert_coords_close(coda.inner(coda.power(x, a), w), a * coda.inner(x, w), 1e-12, 3 * scale)


# ---------------------------------------------------------------------------
# Properties: operations


@fast
@given(composition_pairs())
def test_perturb_inv_then_perturb_gives_closure(pair):
    x, y = pair
    assert_parts_close(coda.perturb(coda.perturb_inv(x, y), y), coda.closure(x), 1e-12)


@fast
@given(composition_pairs(max_log10=3))
def test_perturb_is_closure_of_product(pair):
    x, y = pair
    assert_parts_close(coda.perturb(x, y), coda.closure(x * y), 1e-12)
    assert_parts_close(coda.perturb_inv(x, y), coda.closure(x / y), 1e-12)


@fast
@given(st.data())
def test_perturb_one_composition_with_every_row(data):
    x = data.draw(compositions(dtype=np.float64, max_log10=3))
    y = data.draw(compositions(shape=(1, x.shape[1]), dtype=np.float64, max_log10=3))[0]
    expected = coda.closure(x * y)
    assert_parts_close(coda.perturb(x, y), expected, 1e-12)
    assert_parts_close(coda.perturb(y, x), expected, 1e-12)


@fast
@given(compositions(max_log10=4), st.floats(-4, 4))
def test_power_is_clr_inv_of_scaled_clr(x, a):
    got = coda.power(x, a)
    assert got.dtype == x.dtype
    assert_parts_close(got, coda.clr_inv(a * _clr64(x)), _tol(x) * 10)


@fast
@given(compositions(dtype=np.float64, max_log10=2), st.floats(-3, 3))
def test_power_is_closure_of_power(x, a):
    assert_parts_close(coda.power(x, a), coda.closure(x**a), 1e-12)


@fast
@given(compositions(dtype=np.float64, min_rows=2, max_rows=8, max_parts=6, max_log10=3))
def test_center_is_closed_geometric_mean(x):
    gmean = np.exp(np.log(x).mean(axis=0))
    assert_parts_close(coda.center(x), gmean / gmean.sum(), 1e-12)


@fast
@given(st.data())
def test_center_minimises_squared_aitchison_distances(data):
    x = data.draw(compositions(dtype=np.float64, min_rows=2, max_rows=8, max_parts=6, max_log10=3))
    g = coda.center(x)
    # First-order condition: the clr of the differences to the centre sum to zero.
    resid = coda.clr(coda.perturb_inv(x, g))
    np.testing.assert_allclose(resid.sum(axis=0), 0.0, atol=1e-11 * max(1.0, np.abs(resid).max()))
    # And any perturbation of the centre increases the sum of squared distances,
    # by exactly n ||d||^2 (Pythagoras in the clr plane).
    step = data.draw(compositions(shape=(1, x.shape[1]), dtype=np.float64, max_log10=1))[0]

    def loss(c):
        return (coda.distance(x, c) ** 2).sum()

    moved = coda.perturb(g, step)
    expected = loss(g) + x.shape[0] * coda.norm(step) ** 2
    assert loss(moved) == pytest.approx(expected, rel=1e-10, abs=1e-10)
    assert loss(moved) >= loss(g) - 1e-12


# ---------------------------------------------------------------------------
# scikit-bio as an independent implementation


@fast
@given(compositions(dtype=np.float64))
def test_agrees_with_skbio_closure_clr_clr_inv(x):
    assert_parts_close(coda.closure(x), skc.closure(x), 1e-12)
    z = coda.clr(x)
    assert_coords_close(z, skc.clr(x), 1e-12)
    assert_parts_close(coda.clr_inv(z), skc.clr_inv(z), 1e-12)


@fast
@given(compositions(dtype=np.float64), st.integers(0, 11))
def test_agrees_with_skbio_alr(x, ref):
    ref = ref % x.shape[1]
    y = coda.alr(x, ref=ref)
    assert_coords_close(y, skc.alr(x, ref_idx=ref), 1e-12)
    assert_parts_close(coda.alr_inv(y, ref=ref), skc.alr_inv(y, ref_idx=ref), 1e-12)


@fast
@given(compositions(dtype=np.float64))
def test_agrees_with_skbio_ilr_default_basis(x):
    z = coda.ilr(x)
    assert_coords_close(z, skc.ilr(x), 1e-12)
    assert_parts_close(coda.ilr_inv(z), skc.ilr_inv(z), 1e-12)


def _r_compositions_basis(d):
    # R compositions 2.0 gsi.ilrBase(D): t(normalize(t(contr.helmert(D)))).
    # contr.helmert(D) column j (1-based) holds -1 in rows 1..j and j in row j + 1.
    helmert = np.zeros((d, d - 1))
    for j in range(1, d):
        helmert[:j, j - 1] = -1.0
        helmert[j, j - 1] = j
    return helmert / np.linalg.norm(helmert, axis=0)


@pytest.mark.parametrize("d", [2, 3, 7])
def test_r_compositions_default_basis_is_the_negated_helmert_basis(d):
    # What the ilr docstring tells users of R's compositions::ilr.
    np.testing.assert_array_equal(np.sign(_r_compositions_basis(d)), -np.sign(coda.ilr_basis(d)))
    np.testing.assert_allclose(_r_compositions_basis(d), -coda.ilr_basis(d), rtol=0, atol=1e-15)
    x = np.random.default_rng(d).lognormal(size=(5, d))
    np.testing.assert_allclose(
        coda.ilr(x, basis=-coda.ilr_basis(d)),
        coda.clr(x) @ _r_compositions_basis(d),
        rtol=0,
        atol=1e-13,
    )


# ---------------------------------------------------------------------------
# Numerical care


@pytest.mark.parametrize("big", [1e3, 1e5])
def test_inverses_do_not_overflow_on_large_coordinates(big):
    # exp(1e3) overflows: the inverses must shift before exponentiating.
    # clr_inv([big, big + ln3, -big]) = [1/4, 3/4, exp(-2 big)/...] = [1/4, 3/4, 0]
    np.testing.assert_allclose(
        coda.clr_inv([big, big + math.log(3), -big]), [0.25, 0.75, 0.0], rtol=1e-12, atol=0
    )
    # alr_inv([big, big]) = closure([e^big, e^big, 1]) = [1/2, 1/2, e^-big / 2] ~ [1/2, 1/2, 0]
    np.testing.assert_allclose(coda.alr_inv([big, big]), [0.5, 0.5, 0.0], rtol=1e-12, atol=0)
    np.testing.assert_allclose(coda.alr_inv([-big, -big]), [0.0, 0.0, 1.0], rtol=1e-12, atol=0)
    for kind in ("helmert", "pivot"):
        # ilr coordinates of [e^big, e^big, 1] (times any constant) are big times
        # ilr([e, e, 1]); the inverse must give back [1/2, 1/2, ~0].
        z = big * coda.ilr([E, E, 1.0], basis=kind)
        got = coda.ilr_inv(z, basis=kind)
        assert np.isfinite(got).all()
        np.testing.assert_allclose(got, [0.5, 0.5, 0.0], rtol=1e-9, atol=0)
        got = coda.ilr_inv(-z, basis=kind)
        np.testing.assert_allclose(got, [0.0, 0.0, 1.0], rtol=1e-9, atol=0)
    explicit = coda.ilr_inv(big * coda.ilr([E, E, 1.0]), basis=coda.ilr_basis(3))
    np.testing.assert_allclose(explicit, [0.5, 0.5, 0.0], rtol=1e-9, atol=0)


@fast
@given(coordinates(min_parts=2, max_parts=12, bound=1e5))
def test_clr_inv_is_finite_and_closed_for_any_coordinates(z):
    out = coda.clr_inv(z)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-14)
    # The largest coordinate always gets the largest part.
    rows = np.arange(z.shape[0])
    np.testing.assert_array_equal(out[rows, z.argmax(axis=1)], out.max(axis=1))


def _exact_closure(row):
    """Closure in exact rational arithmetic, rounded once to float64."""
    total = sum(Fraction(v) for v in row)
    return np.array([float(Fraction(v) / total) for v in row])


def _assert_within_ulps(actual, expected, ulps):
    err = np.abs(actual - expected)
    assert (err <= ulps * np.spacing(np.abs(expected))).all(), (actual, expected)


@pytest.mark.parametrize(
    "row",
    [
        [1e300, 1e300, 3e300],  # the sum overflows in naive float arithmetic
        [1.7e308, 1.7e308],
        [1e300, 1.0, 1e-300],
        [1e-300, 3e-300, 7e-301],
        [0.1, 0.2, 0.3, 1e-17],
    ],
)
def test_closure_keeps_full_precision_at_the_float_limits(row):
    _assert_within_ulps(coda.closure(row), _exact_closure(row), 2)


def test_closure_of_float32_rows_whose_sum_overflows_float32():
    # 3e38 + 3e38 + 1e38 > 3.4e38, the largest float32: the sum is taken in float64
    row = np.array([3e38, 3e38, 1e38], dtype=np.float32)
    got = coda.closure(row)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, _exact_closure(row.astype(np.float64)), rtol=1e-7)


@pytest.mark.parametrize("row", [[1e-310, 3e-310], [5e-324, 5e-324, 1e-323]])
def test_closure_keeps_full_precision_for_subnormal_rows(row):
    _assert_within_ulps(coda.closure(row), _exact_closure(row), 2)


@fast
@given(
    st.integers(-1000, 993),
    st.lists(
        st.tuples(st.floats(0.5, 1.0, exclude_max=True), st.integers(0, 30)),
        min_size=2,
        max_size=6,
    ),
)
def test_closure_matches_exact_rationals(base, parts):
    # Parts m * 2**(base + k), 0.5 <= m < 1: normal floats anywhere from 2**-1001
    # to 2**1023, where six parts add up past the largest float.
    row = [math.ldexp(m, base + k) for m, k in parts]
    _assert_within_ulps(coda.closure(row), _exact_closure(row), 2)


# ---------------------------------------------------------------------------
# dtypes and input types

X3 = [[1.0, 2.0, 4.0], [3.0, 1.0, 1.0]]

# Every function that returns compositions or coordinates, called on x.
SHAPED = {
    "closure": coda.closure,
    "clr": coda.clr,
    "clr_inv": coda.clr_inv,
    "alr": coda.alr,
    "alr_inv": coda.alr_inv,
    "ilr": coda.ilr,
    "ilr_pivot": lambda x: coda.ilr(x, basis="pivot"),
    "ilr_matrix": lambda x: coda.ilr(x, basis=coda.ilr_basis(3)),
    "ilr_inv": coda.ilr_inv,
    "ilr_inv_pivot": lambda x: coda.ilr_inv(x, basis="pivot"),
    "ilr_inv_matrix": lambda x: coda.ilr_inv(x, basis=coda.ilr_basis(4)),
    "perturb": lambda x: coda.perturb(x, x),
    "perturb_inv": lambda x: coda.perturb_inv(x, np.asarray(x)[::-1]),
    "power": lambda x: coda.power(x, 0.5),
    "center": coda.center,
    "balances": lambda x: coda.balances(x, [[1, 1, -1], [1, -1, 0]]),
}


@pytest.mark.parametrize("name", sorted(SHAPED))
@pytest.mark.parametrize("dtype", DTYPES)
def test_float_dtype_is_kept(name, dtype):
    x = np.array(X3, dtype=dtype)
    assert SHAPED[name](x).dtype == dtype


@pytest.mark.parametrize("name", sorted(SHAPED))
def test_integers_are_computed_in_float64(name):
    x = np.array([[1, 2, 4], [3, 1, 1]], dtype=np.int64)
    got = SHAPED[name](x)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, SHAPED[name](x.astype(np.float64)), rtol=1e-15, atol=0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_float32_results_are_float32_accurate(dtype):
    x = np.array(X3, dtype=dtype)
    tol = TOL[np.dtype(dtype)]
    assert_coords_close(coda.clr(x), _clr64(X3), tol)
    assert_coords_close(coda.ilr(x), _clr64(X3) @ naive.helmert_basis(3), tol)
    assert_coords_close(coda.alr(x), np.log(np.array(X3))[:, :2] - np.log(X3)[:, 2:], tol)
    assert_parts_close(coda.closure(x), np.array(X3) / np.sum(X3, axis=1, keepdims=True), tol)


@pytest.mark.parametrize("name", sorted(SHAPED))
def test_lists_equal_arrays(name):
    np.testing.assert_array_equal(SHAPED[name](X3), SHAPED[name](np.array(X3)))


# center reduces rows; perturb_inv's call above reverses the rows it is given
@pytest.mark.parametrize("name", sorted(set(SHAPED) - {"center", "perturb_inv"}))
def test_one_composition_in_gives_one_out(name):
    f = SHAPED[name]
    one = f(np.array(X3[0]))
    assert isinstance(one, np.ndarray)
    assert one.ndim == 1
    np.testing.assert_allclose(one, f(np.array(X3))[0], rtol=1e-15)
    # a 2-D array with one row stays 2-D: no squeezing
    assert f(np.array(X3[:1])).ndim == 2


def test_center_and_perturb_inv_shapes():
    assert coda.center(np.array(X3)).shape == (3,)
    assert coda.center(np.array(X3[:1])).shape == (3,)
    assert coda.perturb_inv(np.array(X3[0]), np.array(X3[1])).shape == (3,)


@pytest.mark.parametrize("name", ["inner", "distance", "norm"])
def test_metrics_return_float_array_or_series(name):
    f = getattr(coda, name)
    args = (lambda a: (a,)) if name == "norm" else (lambda a: (a, a[::-1]))
    assert isinstance(f(*args(np.array(X3[0]))), float)
    got = f(*args(np.array(X3)))
    assert isinstance(got, np.ndarray)
    assert got.shape == (2,)
    frame = pd.DataFrame(X3, index=["r1", "r2"], columns=["a", "b", "c"])
    # rows pair by position: the partner's rows reversed, without its labels
    series = f(frame) if name == "norm" else f(frame, frame.to_numpy()[::-1])
    assert isinstance(series, pd.Series)
    assert list(series.index) == ["r1", "r2"]
    assert series.name == name
    np.testing.assert_allclose(series.to_numpy(), got, rtol=1e-15)


FRAME = pd.DataFrame(
    [[1.0, 2.0, 4.0], [3.0, 1.0, 1.0]], index=["s1", "s2"], columns=["Si", "Na", "Mn"]
)
SERIES = pd.Series([1.0, 2.0, 4.0], index=["Si", "Na", "Mn"], name="rock")


@pytest.mark.parametrize("f", [coda.closure, coda.clr, lambda x: coda.power(x, 2.0)])
def test_part_preserving_functions_keep_labels(f):
    got = f(FRAME)
    assert isinstance(got, pd.DataFrame)
    pd.testing.assert_index_equal(got.index, FRAME.index)
    pd.testing.assert_index_equal(got.columns, FRAME.columns)
    np.testing.assert_array_equal(got.to_numpy(), f(FRAME.to_numpy()))
    one = f(SERIES)
    assert isinstance(one, pd.Series)
    pd.testing.assert_index_equal(one.index, SERIES.index)
    assert one.name == "rock"


def test_clr_inv_keeps_labels():
    z = coda.clr(FRAME)
    back = coda.clr_inv(z)
    pd.testing.assert_frame_equal(back, coda.closure(FRAME), rtol=1e-14)


def test_perturb_keeps_labels_of_the_matrix_argument():
    for got in (coda.perturb(FRAME, SERIES), coda.perturb(SERIES, FRAME)):
        assert list(got.index) == ["s1", "s2"]
        assert list(got.columns) == ["Si", "Na", "Mn"]
    one_row = FRAME.iloc[:1]
    got = coda.perturb(one_row, FRAME)
    assert list(got.index) == ["s1", "s2"]
    assert list(coda.distance(one_row, FRAME).index) == ["s1", "s2"]


def test_center_of_frame_is_named_series():
    got = coda.center(FRAME)
    assert isinstance(got, pd.Series)
    assert list(got.index) == ["Si", "Na", "Mn"]
    np.testing.assert_allclose(got.to_numpy(), coda.center(FRAME.to_numpy()), rtol=1e-15)


@pytest.mark.parametrize(
    ("ref", "columns"),
    [
        (-1, ["Si/Mn", "Na/Mn"]),
        (2, ["Si/Mn", "Na/Mn"]),
        (0, ["Na/Si", "Mn/Si"]),
        (-3, ["Na/Si", "Mn/Si"]),
        ("Na", ["Si/Na", "Mn/Na"]),
        (np.int64(1), ["Si/Na", "Mn/Na"]),
    ],
)
def test_alr_names_and_references(ref, columns):
    got = coda.alr(FRAME, ref=ref)
    assert list(got.columns) == columns
    pd.testing.assert_index_equal(got.index, FRAME.index)
    r = ["Si", "Na", "Mn"].index(columns[0].split("/")[1])
    np.testing.assert_array_equal(got.to_numpy(), coda.alr(FRAME.to_numpy(), ref=r))
    one = coda.alr(SERIES, ref=ref)
    assert list(one.index) == columns
    assert one.name == "rock"


@pytest.mark.parametrize("ref", [0, 1, 2, -1, -2])
def test_alr_inv_puts_the_reference_back_and_recovers_names(ref):
    y = coda.alr(FRAME, ref=ref)
    back = coda.alr_inv(y, ref=ref)
    pd.testing.assert_frame_equal(back, coda.closure(FRAME), rtol=1e-14)
    one = coda.alr_inv(coda.alr(SERIES, ref=ref), ref=ref)
    pd.testing.assert_series_equal(one, coda.closure(SERIES), rtol=1e-14)
    # plain arrays: the reference is back at its position
    arr = coda.alr_inv(y.to_numpy(), ref=ref)
    np.testing.assert_allclose(arr, coda.closure(FRAME.to_numpy()), rtol=1e-14)


@pytest.mark.parametrize(
    "columns",
    [
        [10, 20, 30],
        ["FeO", "Fe2O3", "Fe2O3/FeO"],
        [("a", 1), ("a", 2), ("b", 1)],
        pd.MultiIndex.from_tuples([("a", 1), ("a", 2), ("b", 1)], names=["g", "k"]),
        pd.Index(["Si", "Al", "Fe"], name="oxide"),
        pd.CategoricalIndex(["Si", "Al", "Fe"], categories=["Fe", "Si", "Al"], name="oxide"),
    ],
)
@pytest.mark.parametrize("ref", [0, -1])
def test_alr_inv_gives_back_labels_of_any_type(columns, ref):
    # Labels that are not text, and names holding "/", cannot be read back
    # from "k/r" column names; alr's record in attrs gives them back.
    x = pd.DataFrame([[1.0, 2.0, 3.0], [2.0, 2.0, 1.0]], columns=columns)
    y = coda.alr(x, ref=ref)
    pd.testing.assert_frame_equal(coda.alr_inv(y, ref=ref), coda.closure(x), rtol=1e-14)
    pd.testing.assert_series_equal(
        coda.alr_inv(y.iloc[1], ref=ref), coda.closure(x.iloc[1]), rtol=1e-14
    )
    # the record is plain data: pandas can compare it when it concatenates
    both = coda.alr_inv(pd.concat([y, y]), ref=ref)
    pd.testing.assert_frame_equal(both, coda.closure(pd.concat([x, x])), rtol=1e-14)
    # renamed columns no longer match the record: names are parsed from them
    renamed = y.set_axis(["u/w", "v/w"], axis=1)
    assert list(coda.alr_inv(renamed).columns) == ["u", "v", "w"]


@pytest.mark.parametrize(
    "columns",
    [
        ["Si", "Al", "Fe", "Mn"],
        [10, 20, 30, 40],
        pd.MultiIndex.from_tuples([("a", 1), ("a", 2), ("b", 1), ("b", 2)], names=["g", "k"]),
        pd.CategoricalIndex(list("dcba"), categories=list("abcd"), ordered=True, name="p"),
    ],
    ids=["text", "numbers", "multi", "categorical"],
)
@pytest.mark.parametrize(
    ("forward", "basis"),
    [
        (coda.ilr, "helmert"),
        (lambda v: coda.ilr(v, basis="pivot"), "pivot"),
        (lambda v: coda.balances(v, SBP4), coda.sbp_basis(SBP4)),
    ],
    ids=["helmert", "pivot", "balances"],
)
def test_ilr_inv_gives_back_the_parts_of_ilr_and_balances(columns, forward, basis):
    # ilr coordinates are named ilr1.. (or after an SBP): the parts' labels
    # are kept in the result's attrs, as alr's are, while its columns stand
    x = pd.DataFrame(np.exp(np.random.default_rng(8).normal(size=(5, 4))), columns=columns)
    z = forward(x)
    json.dumps(z.attrs)
    pd.testing.assert_frame_equal(coda.ilr_inv(z, basis=basis), coda.closure(x), rtol=1e-13)
    pd.testing.assert_series_equal(
        coda.ilr_inv(z.iloc[2], basis=basis), coda.closure(x.iloc[2]), rtol=1e-13
    )
    pd.testing.assert_series_equal(
        coda.ilr_inv(forward(x.iloc[2]), basis=basis), coda.closure(x.iloc[2]), rtol=1e-13
    )
    both = coda.ilr_inv(pd.concat([z, z]), basis=basis)
    pd.testing.assert_frame_equal(both, coda.closure(pd.concat([x, x])), rtol=1e-13)
    # other columns are other coordinates: their parts are numbered
    renamed = z.set_axis(["u", "v", "w"], axis=1)
    assert list(coda.ilr_inv(renamed, basis=basis).columns) == [0, 1, 2, 3]


def test_alr_inv_takes_the_reference_from_alr_or_by_name():
    x = pd.DataFrame(np.exp(np.random.default_rng(4).normal(size=(6, 4))), columns=list("abcd"))
    y = coda.alr(x, ref="b")
    # by default the reference goes back where alr took it from, or by name
    pd.testing.assert_frame_equal(coda.alr_inv(y), coda.closure(x), rtol=1e-14)
    pd.testing.assert_frame_equal(coda.alr_inv(y, ref="b"), coda.closure(x), rtol=1e-14)
    # a position puts it there, as before
    assert list(coda.alr_inv(y, ref=-1).columns) == ["a", "c", "d", "b"]
    # without alr's record (plain arrays), the default is last and names are refused
    np.testing.assert_allclose(
        coda.alr_inv(y.to_numpy()), coda.closure(x[["a", "c", "d", "b"]]).to_numpy(), rtol=1e-14
    )
    with pytest.raises(ValueError, match=r"ref='b' is a name, but the data have no part names"):
        coda.alr_inv(y.to_numpy(), ref="b")


def test_alr_inv_without_ratio_names_gives_positions():
    y = pd.DataFrame([[0.0, 0.0]], columns=["u", "v"])
    got = coda.alr_inv(y)
    assert list(got.columns) == [0, 1, 2]


def test_ilr_columns_and_series():
    got = coda.ilr(FRAME)
    assert list(got.columns) == ["ilr1", "ilr2"]
    pd.testing.assert_index_equal(got.index, FRAME.index)
    np.testing.assert_array_equal(got.to_numpy(), coda.ilr(FRAME.to_numpy()))
    one = coda.ilr(SERIES, basis="pivot")
    assert list(one.index) == ["ilr1", "ilr2"]
    assert one.name == "rock"
    back = coda.ilr_inv(got)
    np.testing.assert_allclose(back.to_numpy(), coda.closure(FRAME.to_numpy()), rtol=1e-14)
    pd.testing.assert_index_equal(back.index, FRAME.index)


def test_sbp_frame_names_basis_balances_and_parts():
    sbp = pd.DataFrame(
        [[1, 1, -1], [1, -1, 0]], index=["SiNa/Mn", "Si/Na"], columns=["Si", "Na", "Mn"]
    )
    basis = coda.sbp_basis(sbp)
    assert list(basis.index) == ["Si", "Na", "Mn"]
    assert list(basis.columns) == ["SiNa/Mn", "Si/Na"]
    z = coda.ilr(FRAME, basis=basis)
    assert list(z.columns) == ["SiNa/Mn", "Si/Na"]
    back = coda.ilr_inv(z, basis=basis)
    pd.testing.assert_frame_equal(back, coda.closure(FRAME), rtol=1e-14)
    named = coda.balances(FRAME, sbp)
    assert list(named.columns) == ["SiNa/Mn", "Si/Na"]
    np.testing.assert_allclose(named.to_numpy(), z.to_numpy(), rtol=1e-14)
    # without sbp labels, balances are named after the groups of parts
    auto = coda.balances(FRAME, sbp.to_numpy())
    assert list(auto.columns) == ["Si,Na/Mn", "Si/Na"]
    assert list(coda.balances(SERIES, sbp.to_numpy()).index) == ["Si,Na/Mn", "Si/Na"]


# ---------------------------------------------------------------------------
# Bad input

BAD_VALUES = [
    ([1.0, -2.0, 3.0], r"x contains 1 negative values \(rows 0\).*non-negative"),
    ([1.0, np.nan, 3.0], r"x contains 1 NaN or infinite values \(rows 0\); drop or impute"),
    ([1.0, np.inf, 3.0], r"x contains 1 NaN or infinite values"),
]

LOG_RATIOS = {
    "clr": coda.clr,
    "alr": coda.alr,
    "ilr": coda.ilr,
    "ilr_pivot": lambda x: coda.ilr(x, basis="pivot"),
    "ilr_matrix": lambda x: coda.ilr(x, basis=coda.ilr_basis(3)),
    "balances": lambda x: coda.balances(x, [[1, 1, -1], [1, -1, 0]]),
    "norm": coda.norm,
    "power": lambda x: coda.power(x, 2.0),
    "center": coda.center,
}


@pytest.mark.parametrize("name", sorted(LOG_RATIOS))
@pytest.mark.parametrize(("x", "match"), BAD_VALUES)
def test_log_ratios_reject_bad_values(name, x, match):
    with pytest.raises(ValueError, match=match):
        LOG_RATIOS[name](x)


@pytest.mark.parametrize("name", sorted(LOG_RATIOS))
def test_log_ratios_reject_zeros_and_point_to_replace_zeros(name):
    x = [[1.0, 2.0, 3.0], [1.0, 0.0, 3.0], [0.0, 1.0, 0.0]]
    with pytest.raises(
        ValueError,
        match=r"x has 3 zeros \(rows 1, 2\); log-ratios need positive parts.*"
        r"coda\.replace_zeros\(x",
    ):
        LOG_RATIOS[name](x)


def test_bad_rows_are_named_by_frame_index():
    frame = pd.DataFrame([[1.0, 2.0], [0.0, 1.0]], index=["good", "bad"], columns=["a", "b"])
    with pytest.raises(ValueError, match=r"rows bad\)"):
        coda.clr(frame)


@pytest.mark.parametrize(("x", "match"), BAD_VALUES)
def test_closure_and_binary_operations_reject_bad_values(x, match):
    with pytest.raises(ValueError, match=match):
        coda.closure(x)
    ok = [1.0, 1.0, 1.0]
    for f in (coda.perturb, coda.perturb_inv, coda.inner, coda.distance):
        with pytest.raises(ValueError, match=match):
            f(x, ok)
        with pytest.raises(ValueError, match=match.replace("x contains", "y contains")):
            f(ok, x)


def test_closure_allows_zeros_but_not_empty_rows():
    np.testing.assert_array_equal(coda.closure([0.0, 1.0, 3.0]), [0.0, 0.25, 0.75])
    with pytest.raises(
        ValueError, match=r"x has rows whose parts are all zero \(rows 1\).*drop it"
    ):
        coda.closure([[1.0, 1.0], [0.0, 0.0]])


@pytest.mark.parametrize(
    "f",
    [coda.alr, coda.ilr, lambda x: coda.ilr(x, basis="pivot"), lambda x: coda.balances(x, [[1]])],
    ids=["alr", "ilr", "ilr_pivot", "balances"],
)
def test_fewer_than_two_parts(f):
    with pytest.raises(
        ValueError, match=r"x has 1 part; at least 2 are needed.*one column per part"
    ):
        f([[2.0], [3.0]])


def test_alr_unknown_reference():
    with pytest.raises(
        ValueError, match=r"ref=3 is out of range for 3 parts; use an index from -3 to 2"
    ):
        coda.alr(X3, ref=3)
    with pytest.raises(ValueError, match=r"ref=-4 is out of range"):
        coda.alr(X3, ref=-4)
    with pytest.raises(ValueError, match=r"ref='Fe' is not a part; the parts are Si, Na, Mn"):
        coda.alr(FRAME, ref="Fe")
    with pytest.raises(ValueError, match=r"ref='Si' is a name, but the data have no part names"):
        coda.alr(X3, ref="Si")
    with pytest.raises(TypeError, match=r"ref must be a part index or a part name, not a bool"):
        coda.alr(X3, ref=True)
    with pytest.raises(ValueError, match=r"ref=3 is out of range for 3 parts"):
        coda.alr_inv([0.0, 0.0], ref=3)


def test_non_numeric_frame_columns_are_named():
    frame = FRAME.assign(site=["north", "south"], day=pd.Timestamp("2024-01-01"))
    with pytest.raises(
        TypeError, match=r"x has non-numeric columns: site, day; select the numeric"
    ):
        coda.clr(frame)
    with pytest.raises(TypeError, match=r"x has dtype <U1; expected real numbers"):
        coda.closure(np.array(["a", "b"]))


@pytest.mark.parametrize("f", [coda.closure, coda.clr, coda.alr, coda.ilr, coda.clr_inv])
def test_empty_and_3d_arrays(f):
    with pytest.raises(ValueError, match=r"x is empty|z is empty"):
        f(np.empty((0, 3)))
    with pytest.raises(
        ValueError, match=r"must be 1-D \(one composition\) or 2-D.*got 3 dimensions"
    ):
        f(np.ones((2, 3, 4)))


def test_basis_of_wrong_shape():
    with pytest.raises(
        ValueError,
        match=r"basis has shape \(2, 3\).*3 x 2 matrix.*looks transposed: pass basis\.T",
    ):
        coda.ilr(X3, basis=coda.ilr_basis(3).T)
    with pytest.raises(
        ValueError, match=r"basis has shape \(4, 3\); a basis for 3 parts is a 3 x 2 matrix"
    ) as info:
        coda.ilr(X3, basis=coda.ilr_basis(4))
    assert "transposed" not in str(info.value)
    with pytest.raises(ValueError, match=r"basis has shape \(3, 2\); a basis for 4 parts"):
        coda.ilr_inv([0.0, 0.0, 0.0], basis=coda.ilr_basis(3))


def test_non_orthonormal_basis():
    # orthonormal but not in the clr plane: the columns do not sum to zero
    with pytest.raises(
        ValueError, match=r"basis is not an orthonormal basis of the clr plane.*coda\.ilr_basis"
    ):
        coda.ilr(X3, basis=np.eye(3)[:, :2])
    # in the plane but not normalised
    with pytest.raises(ValueError, match=r"largest \|V\^T V - I\| 3"):
        coda.ilr(X3, basis=2 * coda.ilr_basis(3))
    with pytest.raises(ValueError, match=r"basis contains NaN or infinite values"):
        coda.ilr_inv([0.0, 0.0], basis=np.full((3, 2), np.nan))


@pytest.mark.parametrize("f", [coda.ilr, coda.ilr_inv])
def test_unknown_basis_kind(f):
    with pytest.raises(
        ValueError, match=r"basis='helmet' is not a known option; choose one of 'helmert', 'pivot'"
    ):
        f([1.0, 2.0, 3.0], basis="helmet")


def test_ilr_basis_bad_arguments():
    with pytest.raises(
        ValueError, match=r"kind='ilr' is not a known option; choose one of 'helmert', 'pivot'"
    ):
        coda.ilr_basis(3, kind="ilr")
    with pytest.raises(ValueError, match=r"n_parts=1; an ilr basis needs at least 2 parts"):
        coda.ilr_basis(1)
    with pytest.raises(TypeError, match=r"n_parts must be an integer number of parts, not float"):
        coda.ilr_basis(3.0)


@pytest.mark.parametrize(
    ("sbp", "match"),
    [
        ([[1, 2, -1], [1, -1, 0]], r"sbp must contain only \+1, -1 and 0"),
        (
            [[1, 1, -1]],
            r"sbp has shape \(1, 3\); a sequential binary partition of 3 parts has 2 rows",
        ),
        ([1, 1, -1], r"sbp must be a 2-D matrix.*got shape \(3,\)"),
        ([[1, 1, 0], [1, -1, 0]], r"sbp row 0 must have at least one \+1 and one -1"),
        # the second row cuts across the first split instead of splitting a group of it
        (
            [[1, 1, -1], [1, 0, -1]],
            r"sbp is not a sequential binary partition: row\(s\) 1 do not split",
        ),
        # no row uses every part: the first split leaves part 2 out
        (
            [[1, -1, 0], [1, -1, 0]],
            r"sbp is not a sequential binary partition: row\(s\) 0, 1 do not split",
        ),
        # the same split twice, and the group {a, b} never split
        ([[1, 1, -1], [1, 1, -1]], r"row\(s\) 1 do not split"),
        # four parts: rows 1 and 2 split the same group
        ([[1, 1, -1, -1], [1, -1, 0, 0], [-1, 1, 0, 0]], r"row\(s\) 2 do not split"),
    ],
)
def test_invalid_sbp(sbp, match):
    with pytest.raises(ValueError, match=match):
        coda.sbp_basis(sbp)
    with pytest.raises(ValueError, match=match):
        coda.balances(np.ones(np.shape(sbp)[-1]), sbp)


def test_sbp_rows_in_any_sequential_order():
    # the split of {a, b} may come before the split of everything
    basis = coda.sbp_basis([[1, -1, 0], [1, 1, -1]])
    np.testing.assert_allclose(
        basis, coda.sbp_basis([[1, 1, -1], [1, -1, 0]])[:, ::-1], rtol=1e-15
    )


def test_balances_sbp_of_wrong_width():
    with pytest.raises(ValueError, match=r"sbp has 3 columns but x has 4 parts"):
        coda.balances(np.ones(4), [[1, 1, -1], [1, -1, 0]])


def test_pairs_must_match():
    with pytest.raises(ValueError, match=r"x has 3 parts and y has 2; both need the same parts"):
        coda.distance([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match=r"x has 2 rows and y has 3; pass matching rows"):
        coda.perturb(np.ones((2, 3)), np.ones((3, 3)))


@pytest.mark.parametrize("f", [coda.perturb, coda.perturb_inv, coda.inner, coda.distance])
def test_labelled_pairs_must_name_the_same_parts_and_rows(f):
    x = pd.DataFrame({"a": [1.0, 2.0], "b": [4.0, 5.0], "c": [7.0, 9.0]}, index=["r", "s"])
    # Matched by position: the same compositions with their parts or rows in
    # another order would silently pair the wrong values.
    with pytest.raises(ValueError, match=r"y lists the parts of x in another order.*y\[x"):
        f(x, x[["c", "b", "a"]])
    with pytest.raises(ValueError, match=r"y is labelled with other parts than x.*: a\)"):
        f(x, x.rename(columns={"a": "z"}))
    with pytest.raises(ValueError, match=r"x and y have different row labels.*y\.loc"):
        f(x, x.iloc[::-1])
    with pytest.raises(ValueError, match=r"y lists the parts of x in another order"):
        f(x.iloc[0], x.iloc[1][["b", "a", "c"]])
    # Unlabelled partners, one composition against many, and aligned labels
    # are matched by position as before.
    expected = f(x.to_numpy(), x.to_numpy()[::-1])
    np.testing.assert_array_equal(np.asarray(f(x, x.to_numpy()[::-1])), expected)
    np.testing.assert_array_equal(np.asarray(f(x, x.iloc[::-1].set_axis(x.index))), expected)
    np.testing.assert_array_equal(np.asarray(f(x, x.iloc[0])), f(x.to_numpy(), x.to_numpy()[0]))


def test_ilr_inv_checks_labelled_coordinates_against_a_labelled_basis():
    x = pd.DataFrame({"a": [1.0, 2.0], "b": [4.0, 5.0], "c": [7.0, 9.0]})
    sbp = pd.DataFrame([[1, 1, -1], [1, -1, 0]], columns=list("abc"), index=["ab|c", "a|b"])
    basis = coda.sbp_basis(sbp)
    z = coda.balances(x, sbp)
    pd.testing.assert_frame_equal(coda.ilr_inv(z, basis=basis), coda.closure(x))
    with pytest.raises(ValueError, match=r"z lists the basis's coordinates in another order"):
        coda.ilr_inv(z[["a|b", "ab|c"]], basis=basis)
    with pytest.raises(ValueError, match=r"z's columns \(ab\|c, q\) are not the basis's"):
        coda.ilr_inv(z.rename(columns={"a|b": "q"}), basis=basis)
    np.testing.assert_allclose(
        coda.ilr_inv(z.to_numpy(), basis=basis), coda.closure(x).to_numpy(), atol=1e-15
    )


def test_power_bad_scalars():
    with pytest.raises(
        ValueError, match=r"a contains NaN or infinite values; powers must be finite"
    ):
        coda.power([1, 2, 3], np.nan)
    with pytest.raises(
        ValueError, match=r"a has shape \(2,\); pass a scalar or one value per row \(1\)"
    ):
        coda.power([1, 2, 3], [1.0, 2.0])


@pytest.mark.parametrize("f", [coda.clr_inv, coda.alr_inv, coda.ilr_inv])
def test_inverses_reject_non_finite_coordinates(f):
    with pytest.raises(
        ValueError, match=r"contains \d+ NaN or infinite values .*coordinates must be finite"
    ):
        f([0.0, np.nan])
    with pytest.raises(ValueError, match=r"contains 1 NaN or infinite values"):
        f([0.0, -np.inf])


def test_clr_without_validation_gives_non_finite_values():
    with np.errstate(divide="ignore", invalid="ignore"):
        got = coda.clr([[1.0, 0.0, 3.0], [1.0, 2.0, 4.0]], validate=False)
    assert not np.isfinite(got[0]).any()
    np.testing.assert_allclose(got[1], [-LN2, 0.0, LN2], rtol=1e-15)
    got = coda.clr([1.0, -1.0], validate=False)
    assert np.isnan(got).all()


# ---------------------------------------------------------------------------
# Inputs are never modified

CALLS = {
    **SHAPED,
    "alr_ref": lambda x: coda.alr(x, ref=0),
    "inner": lambda x: coda.inner(x, x),
    "norm": coda.norm,
    "distance": lambda x: coda.distance(x, np.asarray(x)[::-1]),
    "closure_total": lambda x: coda.closure(x, total=100.0),
}


@pytest.mark.parametrize("name", sorted(CALLS))
@pytest.mark.parametrize("dtype", DTYPES)
def test_arrays_are_not_modified(name, dtype):
    # Fortran order and a float dtype that needs no conversion: the functions
    # see the caller's memory, not a copy.
    x = np.asfortranarray(np.arange(1.0, 7.0).reshape(2, 3).astype(dtype))
    before = x.copy()
    CALLS[name](x)
    np.testing.assert_array_equal(x, before)
    c = np.ascontiguousarray(x)
    CALLS[name](c)
    np.testing.assert_array_equal(c, before)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_frames_are_not_modified(name):
    frame = pd.DataFrame(
        np.arange(1.0, 7.0).reshape(2, 3), index=["r1", "r2"], columns=["a", "b", "c"]
    )
    before = frame.copy(deep=True)
    CALLS[name](frame)
    pd.testing.assert_frame_equal(frame, before)


# ---------------------------------------------------------------------------
# Large inputs: the threaded row-block path


def test_large_inputs_take_the_threaded_path_and_agree():
    from coda import _parallel

    d = 8
    # just above the size below which the work stays in one thread
    n = _parallel._SERIAL_BYTES // (8 * d) + 1024
    rng = np.random.default_rng(7)
    x = 10.0 ** rng.uniform(-6, 6, (n, d))
    centred = _clr64(x)
    assert_coords_close(coda.clr(x), centred, 1e-12)
    assert_parts_close(coda.closure(x), x / x.sum(axis=1, keepdims=True), 1e-14)
    for kind in ("helmert", "pivot"):
        expected = centred @ coda.ilr_basis(d, kind=kind)
        assert_coords_close(coda.ilr(x, basis=kind), expected, 1e-12)
    assert_coords_close(coda.ilr(x, basis=coda.ilr_basis(d)), centred @ coda.ilr_basis(d), 1e-12)
    # a bad row deep in a late block is still caught and named
    x[n - 3, 5] = 0.0
    with pytest.raises(ValueError, match=rf"x has 1 zeros \(rows {n - 3}\)"):
        coda.clr(x)
    with pytest.raises(ValueError, match=rf"x has 1 zeros \(rows {n - 3}\)"):
        coda.ilr(x)
    x[n - 3, 5] = -1.0
    with pytest.raises(ValueError, match=rf"x contains 1 negative values \(rows {n - 3}\)"):
        coda.closure(x)


def test_threaded_path_stops_taking_blocks_after_an_error():
    from coda import _parallel

    calls = []
    lock = threading.Lock()

    def block(start, stop):
        with lock:
            calls.append(start)
            third = len(calls) == 3
        if third:
            raise ValueError("block failed")

    # 64 rows a block (4 MB), 157 blocks, enough bytes for the threaded path.
    with pytest.raises(ValueError, match="block failed"):
        _parallel.for_row_blocks(block, 10_000, 1 << 16)
    # The other threads finish the block in hand and take no more (an
    # interrupted computation returns promptly instead of running to the end).
    assert len(calls) <= 3 + numba.get_num_threads()


def _clr_sum_in_child(x):
    return float(coda.clr(x).sum())


@pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(), reason="no fork on this platform"
)
# Python >= 3.12 warns that forking a process with threads may deadlock: the
# deadlock is what this test rules out for coda's own pool.
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_threaded_path_works_in_a_forked_child():
    from coda import _parallel

    d = 8
    x = np.random.default_rng(3).lognormal(size=(_parallel._SERIAL_BYTES // (8 * d) + 1024, d))
    # The parent's pool exists now; a forked child gets the object without its
    # threads, and used to wait for them forever.
    expected = _clr_sum_in_child(x)
    with multiprocessing.get_context("fork").Pool(1) as pool:
        result = pool.apply_async(_clr_sum_in_child, (x,)).get(timeout=60)
    assert result == expected


def test_labelled_basis_must_match_the_parts_of_x():
    x = pd.DataFrame([[1.0, 2.0, 4.0], [2.0, 1.0, 3.0]], columns=["a", "b", "c"])
    sbp = pd.DataFrame([[1, 1, -1], [1, -1, 0]], columns=["a", "b", "c"], index=["ab_c", "a_b"])
    basis = coda.sbp_basis(sbp)
    np.testing.assert_allclose(coda.ilr(x, basis=basis), coda.balances(x, sbp), atol=1e-15)
    with pytest.raises(
        ValueError, match=r"basis lists the parts of x in another order.*basis\.loc"
    ):
        coda.ilr(x, basis=basis.loc[["c", "a", "b"]])
    with pytest.raises(ValueError, match=r"sbp lists the parts of x in another order.*sbp\[x"):
        coda.balances(x, sbp[["b", "a", "c"]])
    other = basis.rename(index={"c": "z"})
    with pytest.raises(ValueError, match=r"basis is labelled with other parts than x.*c"):
        coda.ilr(x, basis=other)
    with pytest.raises(ValueError, match=r"sbp has 2 columns but x has 3 parts"):
        coda.balances(x, [[1, -1]])


@pytest.mark.parametrize("total", [0, -1.0, np.nan, np.inf])
def test_closure_rejects_bad_totals(total):
    with pytest.raises(ValueError, match=r"total=.*expected a finite positive number"):
        coda.closure([1.0, 2.0], total=total)
    with pytest.raises(TypeError, match=r"total='100'"):
        coda.closure([1.0, 2.0], total="100")


@pytest.mark.parametrize("inverse", [coda.clr_inv, coda.alr_inv, coda.ilr_inv])
def test_inverse_transforms_name_rows_of_bad_coordinates_by_their_labels(inverse):
    z = pd.DataFrame(np.zeros((4, 3)), index=list("pqrs"))
    z.iloc[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"contains 1 NaN or infinite values \(rows r\)"):
        inverse(z)


@pytest.mark.parametrize("validate", ["no", 0, None])
def test_clr_validate_must_be_a_flag(validate):
    # a string was taken as True
    with pytest.raises(TypeError, match=r"validate=.*; expected True or False"):
        coda.clr([1.0, 2.0], validate=validate)


def test_alr_of_parts_labelled_by_timestamps_can_be_written_as_json():
    # pandas writes attrs to Parquet as JSON: timestamps in alr's record of the
    # parts made to_parquet raise; the record keeps the reference's position
    x = coda.simulate(20, 4, seed=0).data
    x.columns = pd.date_range("2020-01-01", periods=4)
    y = coda.alr(x, ref=1)
    json.dumps(y.attrs)
    back = coda.alr_inv(y)
    assert back.columns.tolist() == [str(c) for c in x.columns]
    np.testing.assert_allclose(back.to_numpy(), coda.closure(x).to_numpy(), rtol=1e-14)
    json.dumps(coda.alr_cov(x, ref=1).attrs)
    # labels JSON can hold still come back as they were
    x.columns = [10, 20, 30, 40]
    assert coda.alr_inv(coda.alr(x, ref=1)).columns.tolist() == [10, 20, 30, 40]


@pytest.mark.parametrize(
    "apply",
    [coda.alr, coda.clr, coda.ilr, coda.norm, coda.center, lambda v: coda.power(v, 0.3)],
    ids=["alr", "clr", "ilr", "norm", "center", "power"],
)
def test_strided_views_give_the_results_of_their_values(apply):
    # numpy's SIMD log skips a reversed view of a Fortran array and rounds
    # about 0.6% of values differently: alr, norm and power differed in the last bit
    x = np.random.default_rng(5).lognormal(size=(50_000, 2))
    view = np.asfortranarray(x)[::-1]
    assert not (view.flags.c_contiguous or view.flags.f_contiguous)
    np.testing.assert_array_equal(apply(view), apply(np.ascontiguousarray(view)))


def test_a_float_reference_is_told_that_positions_are_integers():
    with pytest.raises(ValueError, match=r"ref=1.0 is not a part position, .*; pass ref=1$"):
        coda.alr([1.0, 2.0, 3.0], ref=1.0)
    with pytest.raises(ValueError, match=r"ref=1.5 is not a part position, .*integer position"):
        coda.alr_cov_to_clr_cov(np.eye(2), ref=1.5)
    # a float that names a part is a name
    x = pd.DataFrame([[1.0, 2.0, 3.0]], columns=[0.5, 1.5, 2.5])
    assert coda.alr(x, ref=1.5).columns.tolist() == ["0.5/1.5", "2.5/1.5"]


def test_integer_labels_that_are_not_positions_are_pointed_out():
    x = pd.DataFrame(
        np.exp(np.random.default_rng(0).normal(size=(5, 4))), columns=[10, 20, 30, 40]
    )
    with pytest.raises(ValueError, match=r"the part labelled 20 is at position 1: pass ref=1\)"):
        coda.alr(x, ref=20)
    shuffled = x.set_axis([2, 0, 1, 3], axis=1)
    with pytest.warns(coda.CodaWarning, match=r"ref=0 is read as the position 0 \(the part 2\)"):
        assert coda.alr(shuffled, ref=0).columns.tolist() == ["0/2", "1/2", "3/2"]
    # labels equal to their positions are not ambiguous
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        coda.alr(x.set_axis(range(4), axis=1), ref=1)
