"""Merges whose float32 sums over tasks overflow where the result does not.

Each task vector is finite in float32 (coda refuses those that overflow),
but the merges sum several tasks' entries in float32: two task vectors of
-2e38 summed to -inf before the mean was taken, so ``ties_merge`` and
``task_arithmetic`` gave -inf where the answer is -2e38, and ``ownership``
NaN. The entries whose float32 arithmetic overflows are now computed again
in float64 and rounded once. Expected values come from an independent
float64 computation of each rule, rounded to float32 at the end; a result
beyond float32's range is still +-inf, without numpy's overflow warning
(which the test suite turns into an error).
"""

from __future__ import annotations

import naive_merging
import numpy as np
import pytest
from numpy.testing import assert_array_equal, assert_array_max_ulp

from coda.merging import describe, ownership, task_arithmetic, ties_merge
from coda.merging._rules import _tensor_update

F32 = np.float32


def _wide_ties(base, models, density, *, scope="tensor", merge="mean", weights=None, lam=1.0):
    """TIES in float64 from its definition (mergekit's or the paper's), rounded to float32 last.

    Task vectors are the float32 differences (exact for these inputs);
    trimming keeps the top k of a stable sort (``scope="tensor"``) or every
    |tau_t| >= the r-th smallest (``scope="global"``, one tensor).
    """
    base64 = np.asarray(base, dtype=np.float64)
    taus = np.stack([np.asarray(m, dtype=np.float64) - base64 for m in models])
    n_tasks, n = taus.shape
    w = np.ones(n_tasks) if weights is None else np.asarray(weights, dtype=np.float64)
    if scope == "tensor":
        k = max(1, int(density * n))
        kept = np.zeros_like(taus, dtype=bool)
        for t in range(n_tasks):
            kept[t, np.argsort(-np.abs(taus[t]), kind="stable")[:k]] = True
    else:
        r = n - int(n * density)
        h = np.sort(np.abs(taus), axis=1)[:, r - 1 : r] if r else np.zeros((n_tasks, 1))
        kept = np.abs(taus) >= h
    hats = w[:, None] * taus * kept
    sigma = np.where(hats.sum(axis=0) >= 0, 1.0, -1.0)
    if scope == "global":
        sigma = np.sign(hats.sum(axis=0))
    agree = ((hats > 0) & (sigma > 0)) | ((hats < 0) & (sigma < 0))
    total = (hats * agree).sum(axis=0)
    if merge == "max":
        merged = np.abs(hats * agree).max(axis=0) * sigma
    elif merge == "sum":
        merged = total
    elif scope == "tensor":
        divisor = (agree * w[:, None]).sum(axis=0)
        merged = total / np.where(divisor == 0, 1.0, divisor)
    else:
        merged = total / np.maximum(agree.sum(axis=0), 1)
    with np.errstate(over="ignore"):
        return (base64 + lam * merged).astype(F32)


def _ties(base, models, **options):
    return ties_merge({"w": base}, [{"w": m} for m in models], **options)["w"]


BIG = F32(-2e38)
ZERO3 = np.zeros(3, dtype=F32)
TWO = [np.array([BIG, 1.0, 3.0], dtype=F32)] * 2


@pytest.mark.parametrize("scope", ["tensor", "global"])
@pytest.mark.parametrize("n_tasks", [2, 5])  # up to four tasks in registers, beyond in a buffer
def test_ties_mean_of_equal_task_vectors_near_the_range_is_finite(scope, n_tasks):
    # -2e38 + -2e38 was -inf before the division by 2 (or by the agreeing weights).
    models = [TWO[0]] * n_tasks
    merged = _ties(ZERO3, models, density=1.0, scope=scope)
    assert_array_equal(merged, np.array([BIG, 1.0, 3.0], dtype=F32))
    assert_array_equal(merged, _wide_ties(ZERO3, models, 1.0, scope=scope))


@pytest.mark.parametrize("n_tasks", [2, 5])
def test_ties_mean_at_the_cut_is_finite(n_tasks):
    # With k = 1 both large entries lie in the bin of the cut, so they are
    # merged again with the exact cut (the kernels' deferred entries).
    model = np.array([BIG, F32(-2.0001e38), 1.0, 1.0], dtype=F32)
    models = [model] * n_tasks
    base = np.zeros(4, dtype=F32)
    merged = _ties(base, models, density=0.25)
    expected = _wide_ties(base, models, 0.25)
    assert expected[1] == model[1] and np.isfinite(merged).all()
    assert_array_equal(merged, expected)


@pytest.mark.parametrize("scope", ["tensor", "global"])
def test_ties_sum_scaled_back_into_range_is_finite(scope):
    # sum = -4e38 is beyond float32, lam * sum = -2e38 is not.
    merged = _ties(ZERO3, TWO, density=1.0, scope=scope, merge="sum", lam=0.5)
    assert_array_equal(merged, _wide_ties(ZERO3, TWO, 1.0, scope=scope, merge="sum", lam=0.5))
    assert merged[0] == BIG


@pytest.mark.parametrize("scope", ["tensor", "global"])
def test_base_plus_lam_times_update_is_finite_when_the_sum_is(scope):
    # theta_0 = -3e38, tau = 3e38: lam tau = 6e38 overflowed, theta_0 + lam tau = 3e38.
    base = np.array([-3e38, 1.0], dtype=F32)
    model = np.array([0.0, 2.0], dtype=F32)
    merged = _ties(base, [model], density=1.0, scope=scope, lam=2.0)
    expected = _wide_ties(base, [model], 1.0, scope=scope, lam=2.0)
    assert_array_max_ulp(merged, expected, maxulp=1)
    assert np.isfinite(merged).all()


@pytest.mark.parametrize("n_tasks", [4, 5])
def test_ties_election_that_overflows_elects_the_sign_of_the_sum(n_tasks):
    # 2e38 + 2e38 overflowed to +inf, and the sign stayed +, but the sum of
    # 2e38, 2e38, -3e38, -3e38 is -2e38: "max" keeps the negative -3e38.
    values = [2e38, 2e38, -3e38, -3e38, 0.0][:n_tasks]
    models = [np.array([v, 1.0], dtype=F32) for v in values]
    base = np.zeros(2, dtype=F32)
    for merge in ("max", "mean"):
        merged = _ties(base, models, density=1.0, merge=merge)
        assert_array_max_ulp(merged, _wide_ties(base, models, 1.0, merge=merge), maxulp=1)
    assert _ties(base, models, density=1.0, merge="max")[0] == F32(-3e38)


def test_weighted_mean_with_weights_below_one_is_finite():
    # w = 0.75 each: the divisor 1.5 and the sum 1.5 * -2e38 = -3e38 fit, the
    # mean -2e38 too; with five tasks the sum -7.5e38 overflowed.
    models = [TWO[0]] * 5
    weights = [0.75] * 5
    merged = _ties(ZERO3, models, density=1.0, weights=weights)
    assert_array_max_ulp(merged, _wide_ties(ZERO3, models, 1.0, weights=weights), maxulp=1)
    assert merged[0] == BIG


@pytest.mark.parametrize(
    ("start", "taus", "weights", "lam"),
    [
        (0.0, [-2e38] * 2, None, 0.5),  # -4e38 scaled back by lam
        (0.0, [-2e38] * 3, [1.0, 1.0, -1.0], 1.0),  # -4e38 on the way to -2e38
        (3e38, [-2e38] * 2, None, 1.0),  # theta_0 + -4e38 = -1e38
        (-3e38, [3e38], None, 2.0),  # lam tau = 6e38, theta_0 + lam tau = 3e38
    ],
    ids=["lam", "weights", "base", "lam-base"],
)
def test_task_arithmetic_sum_beyond_the_range_with_a_finite_result(start, taus, weights, lam):
    base = np.array([start, 0.0], dtype=F32)
    taus = [np.array([tau, 1.0], dtype=F32) for tau in taus]
    models = [{"w": base + tau} for tau in taus]
    merged = task_arithmetic({"w": base}, models, weights=weights, lam=lam)["w"]
    w = np.ones(len(taus)) if weights is None else np.asarray(weights, dtype=np.float64)
    total = sum(wt * tau.astype(np.float64) for wt, tau in zip(w, taus, strict=True))
    expected = (base.astype(np.float64) + lam * total).astype(F32)
    assert np.isfinite(merged).all()
    assert_array_max_ulp(merged, expected, maxulp=1)


def test_a_result_beyond_the_range_is_inf_without_a_warning():
    # The true value -4e38 has no float32: -inf, as float32 arithmetic gives
    # it, from every merge alike (numpy's overflow warning is an error here).
    models = [{"w": m} for m in TWO]
    for merged in (
        task_arithmetic({"w": ZERO3}, models)["w"],
        ties_merge({"w": ZERO3}, models, density=1.0, merge="sum")["w"],
        ties_merge({"w": ZERO3}, models, density=1.0, merge="sum", scope="global")["w"],
    ):
        assert_array_equal(merged, np.array([-np.inf, 2.0, 6.0], dtype=F32))


@pytest.mark.parametrize("scope", ["tensor", "global"])
@pytest.mark.parametrize("merge", ["mean", "sum"])
def test_ownership_of_a_merge_near_the_range_is_finite(scope, merge):
    # Each task owns half of |tau_m|: 1e38 of the mean 2e38, 2e38 of the sum
    # 4e38 (beyond float32, but the ownership is float64).
    models = [{"w": m} for m in TWO]
    owned = ownership({"w": ZERO3}, models, density=1.0, scope=scope, merge=merge, closed=False)
    half = {"mean": 1e38, "sum": 2e38}[merge] + {"mean": 2.0, "sum": 4.0}[merge]
    np.testing.assert_allclose(owned.to_numpy(), [[half, half]], rtol=1e-7)
    closed = ownership({"w": ZERO3}, models, density=1.0, scope=scope, merge=merge)
    assert_array_equal(closed.to_numpy(), [[0.5, 0.5]])


def test_describe_ownership_near_the_range_is_not_nan():
    result = describe({"w": ZERO3}, [{"w": m} for m in TWO], density=1.0, seed=0)
    assert_array_equal(result.ownership.to_numpy(), [[0.5, 0.5]])


@pytest.mark.parametrize("n_tasks", [3, 4, 6])
@pytest.mark.parametrize("merge", ["mean", "sum"])  # "max": see the election test above
def test_kernels_match_their_twin_on_task_vectors_near_the_range(n_tasks, merge):
    # Finite task vectors of magnitude up to half of float32's largest, in
    # random signs: many sums over tasks overflow; the kernels (theta_0 + lam
    # tau_m written by them) and the numpy twin flag and merge again the same
    # entries, bit for bit.
    rng = np.random.default_rng(n_tasks)
    n = 5000
    big = np.finfo(F32).max
    base = (rng.uniform(-0.25, 0.25, n) * big).astype(F32)
    models = [(base + rng.uniform(-0.5, 0.5, n) * big).astype(F32) for _ in range(n_tasks)]
    weights = np.array([0.5, -1.0, 1.0, 0.75, 0.3, 0.9][:n_tasks], dtype=F32)
    merged = _tensor_update(base, models, 0.6, "mass", merge, weights, True, lam=0.5)
    expected = naive_merging.tensor_update(
        base, models, True, 0.6, "mass", merge, weights, True, 0.5
    )
    assert_array_equal(merged.view(np.uint32), expected.view(np.uint32))
    with np.errstate(over="ignore"):
        plain = sum(w * (m - base) for w, m in zip(weights, models, strict=True))
    # Entries whose float32 sum overflowed have a finite merge.
    assert (~np.isfinite(plain) & np.isfinite(merged)).sum() > 10


def test_dare_adds_the_base_in_float64_where_float32_overflows():
    # theta_0 = -3e38 and tau = 3e38 with lam = 2: lam tau overflowed in the
    # float32 sum with the base (DARE adds it apart from the merge), theta is 3e38.
    from coda.merging import dare

    base = np.array([-3e38, 1.0, 2.0], dtype=F32)
    model = np.array([0.0, 2.0, 2.5], dtype=F32)
    merged = dare({"w": base}, [{"w": model}], density=1.0, seed=0, lam=2.0)["w"]
    expected = (base.astype(np.float64) + 2.0 * (model.astype(np.float64) - base)).astype(F32)
    assert_array_max_ulp(merged, expected, maxulp=1)
    assert np.isfinite(merged).all()


@pytest.mark.parametrize("weights", [None, [1.0, 0.5]])
def test_dare_sum_that_overflows_float32_equals_task_arithmetic(weights):
    # DARE merges its dropped vectors by task arithmetic; with density 1 and
    # nothing dropped, the two agree, also where the float32 sum overflows.
    from coda.merging import dare

    base = {"w": np.zeros(3, dtype=F32)}
    models = [{"w": np.array([-2e38, 1.0, 3.0], dtype=F32)}] * 2
    options = {"weights": weights, "lam": 0.5}
    merged = dare(base, models, density=1.0, seed=0, **options)["w"]
    assert_array_equal(merged, task_arithmetic(base, models, **options)["w"])
    assert np.isfinite(merged).all()


@pytest.mark.parametrize("rescale", ["inverse", "l1"])
@pytest.mark.parametrize("seed", [2, 3])
def test_dare_rescaled_vectors_beyond_the_range_are_merged_in_float64(rescale, seed):
    # tau = 2e38 kept at density 1/2 is 4e38 after rescaling: inf in float32
    # (with numpy's warning), where theta = lam * 4e38 = 1e38 is in range.
    from coda.merging import dare

    base = {"w": np.zeros(4, dtype=F32)}
    tau = np.array([2e38, 1.0, 2.0, 3.0], dtype=F32)
    options = {"density": 0.5, "seed": seed, "lam": 0.25, "rescale": rescale}
    # The draws depend on the seed and the shapes only: the same entries are kept.
    kept = dare(base, [{"w": np.ones(4, dtype=F32)}], **options)["w"] != 0
    assert kept[0]
    wide = tau.astype(np.float64) * kept
    factor = 2.0 if rescale == "inverse" else np.abs(tau.astype(np.float64)).sum() / wide.sum()
    expected = (0.25 * factor * wide).astype(F32)
    merged = dare(base, [{"w": tau}], **options)["w"]
    assert_array_max_ulp(merged, expected, maxulp=1)
    assert np.isfinite(merged).all()
