"""Tests for coda.merging.ties: task vectors, task arithmetic, TIES and DARE."""

from pathlib import Path

import ml_dtypes
import naive_merging
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from coda.merging import dare, task_arithmetic, task_vectors, ties_merge


def _zeros(**shapes):
    return {key: np.zeros(shape) for key, shape in shapes.items()}


def _models(*vectors, key="w"):
    return [{key: np.array(v, dtype=float)} for v in vectors]


def _merge(models, **options):
    size = np.asarray(models[0]["w"]).size
    return ties_merge({"w": np.zeros(size)}, models, **options)["w"]


# ---------------------------------------------------------------------------
# task vectors and task arithmetic, worked by hand


def test_task_vectors_are_float32_differences_in_base_order():
    base = {"b": np.array([1.0, 2.0]), "a": np.array([[0.5]])}
    model = {"a": np.array([[1.0]]), "b": np.array([0.0, 2.5])}
    (tau,) = task_vectors(base, [model])
    assert list(tau) == ["b", "a"]
    assert_array_equal(tau["b"], [-1.0, 0.5])
    assert_array_equal(tau["a"], [[0.5]])
    assert all(v.dtype == np.float32 for v in tau.values())


def test_task_arithmetic_by_hand():
    base = {"w": np.array([1.0, 1.0])}
    models = _models([2.0, 0.0], [0.0, 4.0])
    # tau_1 = [1, -1], tau_2 = [-1, 3]; 1 * tau_1 + 0.5 * tau_2 = [0.5, 0.5];
    # theta = 1 + 2 * 0.5 = [2, 2].
    out = task_arithmetic(base, models, weights=[1.0, 0.5], lam=2.0)
    assert_array_equal(out["w"], [2.0, 2.0])
    assert out["w"].dtype == np.float32


# ---------------------------------------------------------------------------
# TIES worked by hand, one difference between the rules per test


def test_number_kept_and_ties_at_the_cut():
    models = _models([1.0, 1.0, 1.0, 1.0])
    # tensor: k = floor(0.5 * 4) = 2, the two lowest indices among equal |tau|.
    assert_array_equal(_merge(models, density=0.5), [1.0, 1.0, 0.0, 0.0])
    # global: r = 4 - 2 = 2, h = 2nd smallest |tau| = 1, every |tau| >= 1 kept.
    assert_array_equal(_merge(models, density=0.5, scope="global"), [1.0, 1.0, 1.0, 1.0])


def test_global_keeps_floor_dk_plus_one_and_ties():
    models = _models([0.5, -4.0, 1.0, 1.0, 3.0])
    # d = 5, floor(5 * 0.4) = 2, r = 3; sorted |tau| = 0.5, 1, 1, 3, 4, h = 1:
    # four entries kept (2 + 1 plus a tie).
    out = _merge(models, density=0.4, scope="global")
    assert_array_equal(out, [0.0, -4.0, 1.0, 1.0, 3.0])
    # tensor: exactly k = 2 entries, the largest |tau| = 4 and 3.
    assert_array_equal(_merge(models, density=0.4), [0.0, -4.0, 0.0, 0.0, 3.0])


def test_trim_scope_global_concatenates_tensors():
    base = _zeros(a=2, b=2)
    models = [{"a": np.array([10.0, 9.0]), "b": np.array([0.1, 0.2])}]
    # global: d = 4, r = 4 - 2 = 2, h = 2nd smallest of (0.1, 0.2, 9, 10) = 0.2.
    out = ties_merge(base, models, density=0.5, scope="global")
    assert_array_equal(out["a"], [10.0, 9.0])
    assert_array_equal(out["b"], np.float32([0.0, 0.2]))
    # tensor: k = 1 per tensor.
    out = ties_merge(base, models, density=0.5)
    assert_array_equal(out["a"], [10.0, 0.0])
    assert_array_equal(out["b"], np.float32([0.0, 0.2]))


def test_tiny_tensor_keeps_one_entry():
    base = _zeros(big=4, bias=1)
    models = [{"big": np.array([1.0, 2.0, 3.0, 4.0]), "bias": np.array([5.0])}]
    # floor(0.5 * 1) = 0, and coda keeps max(1, 0) = 1 entry.
    out = ties_merge(base, models, density=0.5)
    assert_array_equal(out["bias"], [5.0])
    assert_array_equal(out["big"], [0.0, 0.0, 3.0, 4.0])


def test_sign_of_a_zero_sum():
    models = _models([2.0, -1.0], [-2.0, -1.0])
    # sums [0, -2]. tensor: sigma = [+1, -1]; p0 keeps 2, p1 mean(-1, -1).
    assert_array_equal(_merge(models, density=1.0), [2.0, -1.0])
    # global: sigma = [0, -1], majority sign(0 - 1) = -1 fills p0, which keeps -2.
    assert_array_equal(_merge(models, density=1.0, scope="global"), [-2.0, -1.0])


def test_unresolved_zero_sign_keeps_negative_entries_in_global():
    models = _models([2.0, 1.0, -3.0], [-2.0, 1.0, -3.0])
    # sums [0, 2, -6], sigma [0, +1, -1], majority sign(0 + 1 - 1) = 0 leaves
    # p0 at 0, where the original keeps the negative entry -2.
    out = _merge(models, density=1.0, scope="global")
    assert_array_equal(out, [-2.0, 1.0, -3.0])
    # "max" multiplies by sigma = 0.
    assert_array_equal(_merge(models, density=1.0, scope="global", merge="max"), [0, 1, -3])
    assert_array_equal(_merge(models, density=1.0), [2.0, 1.0, -3.0])


@pytest.mark.parametrize("scope", ["tensor", "global"])
def test_mean_sum_max(scope):
    models = _models([4.0, 1.0], [2.0, -1.0], [-1.0, -3.0])
    # sums [5, -3], sigma [+, -]; p0 agrees 4, 2; p1 agrees -1, -3.
    assert_array_equal(_merge(models, density=1.0, scope=scope), [3.0, -2.0])
    assert_array_equal(_merge(models, density=1.0, scope=scope, merge="sum"), [6.0, -4.0])
    assert_array_equal(_merge(models, density=1.0, scope=scope, merge="max"), [4.0, -3.0])


@pytest.mark.parametrize("scope", ["tensor", "global"])
def test_elect_mass_and_count(scope):
    models = _models([5.0], [-1.0], [-1.0])
    # mass: 5 - 1 - 1 = 3 > 0 keeps 5; count: 1 - 1 - 1 = -1 keeps mean(-1, -1).
    assert_array_equal(_merge(models, density=1.0, scope=scope), [5.0])
    assert_array_equal(_merge(models, density=1.0, scope=scope, elect="count"), [-1.0])


def test_weights_enter_before_the_election():
    models = _models([2.0], [-1.0])
    # weighted [2, -3], sum -1, sigma -1: only model 2 agrees, -3 / weight 3 = -1.
    assert_array_equal(_merge(models, density=1.0, weights=[1, 3]), [-1.0])
    assert_array_equal(_merge(models, density=1.0, weights=[1, 3], normalize=False), [-3.0])
    # global: mean over the agreeing count 1 of the weighted -3.
    assert_array_equal(_merge(models, density=1.0, weights=[1, 3], scope="global"), [-3.0])


def test_normalize_divides_by_sum_of_agreeing_weights():
    models = _models([2.0, 1.0], [4.0, -1.0], [-1.0, -1.0])
    weights = [0.5, 1.5, 1.0]
    # weighted p0 [1, 6, -1], sum 6 > 0: (1 + 6) / (0.5 + 1.5) = 3.5.
    # weighted p1 [0.5, -1.5, -1], sum -2 < 0: (-1.5 - 1) / (1.5 + 1) = -1.
    assert_array_equal(_merge(models, density=1.0, weights=weights), [3.5, -1.0])


def test_lam_scales_the_merged_vector():
    base = {"w": np.array([1.0, 1.0])}
    models = _models([3.0, 0.0], [5.0, 0.0])
    # tau = [2, -1], [4, -1]; mean [3, -1]; theta = 1 + 0.5 * [3, -1].
    for scope in ("tensor", "global"):
        out = ties_merge(base, models, density=1.0, lam=0.5, scope=scope)
        assert_array_equal(out["w"], [2.5, 0.5])


def test_docstring_example_global_by_hand():
    models = _models([3.0, -1.0, 0.5, 2.0], [-1.0, -2.0, 0.1, 4.0])
    # h = 1 for both; trimmed [3, -1, 0, 2], [-1, -2, 0, 4]; sums [2, -3, 0, 6];
    # sigma [+, -, majority +, +]; means [3, -1.5, 0, 3].
    assert_array_equal(_merge(models, density=0.5, scope="global"), [3.0, -1.5, 0.0, 3.0])


# ---------------------------------------------------------------------------
# against the full-sort twins in tests/naive.py

_values = st.integers(-4, 4).map(float)  # small integers make ties and zero sums common


@st.composite
def _checkpoints(draw):
    shapes = draw(st.lists(st.sampled_from([(1,), (3,), (2, 3), (7,)]), min_size=1, max_size=3))
    n_models = draw(st.integers(1, 4))
    keys = [f"t{i}" for i in range(len(shapes))][::-1]
    base = {
        k: np.array(
            draw(st.lists(_values, min_size=int(np.prod(s)), max_size=int(np.prod(s))))
        ).reshape(s)
        for k, s in zip(keys, shapes, strict=True)
    }
    models = [
        {
            k: base[k]
            + np.array(draw(st.lists(_values, min_size=b.size, max_size=b.size))).reshape(b.shape)
            * 0.5
            for k, b in base.items()
        }
        for _ in range(n_models)
    ]
    weights = draw(
        st.none()
        | st.lists(st.sampled_from([0.5, 1.0, 2.0, -1.0]), min_size=n_models, max_size=n_models)
    )
    return base, models, weights


_options = {
    "density": st.sampled_from([0.1, 0.3, 0.5, 0.7, 1.0]),
    "elect": st.sampled_from(["mass", "count"]),
    "merge": st.sampled_from(["mean", "sum", "max"]),
    "lam": st.sampled_from([1.0, 0.3]),
}


@settings(max_examples=150, deadline=None)
@given(data=_checkpoints(), **_options)
def test_global_scope_matches_naive(data, density, elect, merge, lam):
    base, models, weights = data
    out = ties_merge(
        base,
        models,
        density=density,
        scope="global",
        elect=elect,
        merge=merge,
        weights=weights,
        lam=lam,
    )
    expected = naive_merging.ties_global(base, models, density, elect, merge, weights, lam)
    assert list(out) == list(base)
    for key in base:
        assert out[key].dtype == np.float32
        assert_array_equal(out[key], expected[key])


@settings(max_examples=150, deadline=None)
@given(data=_checkpoints(), normalize=st.booleans(), **_options)
def test_tensor_scope_matches_naive(data, density, elect, merge, lam, normalize):
    base, models, weights = data
    normalize = normalize or merge != "mean"
    out = ties_merge(
        base,
        models,
        density=density,
        elect=elect,
        merge=merge,
        weights=weights,
        lam=lam,
        normalize=normalize,
    )
    expected = naive_merging.ties_tensor(
        base, models, density, elect, merge, weights, lam, normalize
    )
    assert list(out) == list(base)
    for key in base:
        assert out[key].dtype == np.float32
        assert_array_equal(out[key], expected[key])


def test_large_tensor_matches_naive():
    rng = np.random.default_rng(5)
    base = {"a": rng.normal(size=(60, 50)), "b": rng.normal(size=300)}
    models = [
        {k: v + rng.normal(scale=0.1, size=v.shape) for k, v in base.items()} for _ in range(3)
    ]
    for scope, twin in (
        ("tensor", naive_merging.ties_tensor),
        ("global", naive_merging.ties_global),
    ):
        out = ties_merge(base, models, density=0.2, scope=scope)
        expected = twin(base, models, 0.2)
        for key in base:
            assert_array_equal(out[key], expected[key])


def test_inputs_are_not_mutated():
    base = {"w": np.array([1.0, -2.0, 3.0])}
    models = _models([0.0, 0.0, 1.0], [2.0, -1.0, 0.0])
    copies = [base["w"].copy()] + [m["w"].copy() for m in models]
    ties_merge(base, models, density=0.5, scope="global")
    ties_merge(base, models, density=0.5)
    dare(base, models, density=0.5, seed=0)
    task_arithmetic(base, models)
    for before, after in zip(copies, [base["w"]] + [m["w"] for m in models], strict=True):
        assert_array_equal(before, after)


# ---------------------------------------------------------------------------
# DARE


def test_dare_reproducible_with_a_seed():
    rng = np.random.default_rng(0)
    base = {"a": rng.normal(size=20), "b": rng.normal(size=(3, 4))}
    models = [{k: v + rng.normal(size=v.shape) for k, v in base.items()} for _ in range(2)]
    first = dare(base, models, density=0.3, seed=11)
    second = dare(base, models, density=0.3, seed=11)
    other = dare(base, models, density=0.3, seed=12)
    for key in base:
        assert_array_equal(first[key], second[key])
    assert any(not np.array_equal(first[k], other[k]) for k in base)


def test_dare_keeps_and_rescales_by_hand():
    base = {"w": np.zeros(4)}
    tau = np.array([1.0, 2.0, 3.0, 4.0])
    out = dare(base, [{"w": tau}], density=0.5, seed=1)["w"]
    kept = out != 0
    # every kept entry is tau / 0.5, every other is 0.
    assert_array_equal(out[kept], 2 * tau[kept])
    l1 = dare(base, [{"w": tau}], density=0.5, seed=1, rescale="l1")["w"]
    # same draws; kept entries scaled to ||tau||_1 = 10.
    assert_array_equal(l1 != 0, kept)
    assert_allclose(np.abs(l1).sum(), 10.0, rtol=1e-6)


def test_dare_density_one_is_task_arithmetic():
    base = {"w": np.array([1.0, 2.0])}
    models = _models([3.0, 1.0], [0.0, 0.0])
    assert_array_equal(
        dare(base, models, density=1.0, seed=0, weights=[1, 2], lam=0.5)["w"],
        task_arithmetic(base, models, weights=[1, 2], lam=0.5)["w"],
    )


def test_dare_is_unbiased():
    base = {"w": np.zeros(40)}
    tau = np.linspace(-2.0, 2.0, 40)
    n_draws = 2000
    total = np.zeros(40)
    for seed in range(n_draws):
        total += dare(base, [{"w": tau}], density=0.4, seed=seed)["w"]
    # each entry is tau * Bernoulli(0.4) / 0.4: standard error
    # |tau| sqrt(0.6 / 0.4) / sqrt(2000) <= 0.055; allow five of them.
    assert_allclose(total / n_draws, tau, atol=0.28)


# ---------------------------------------------------------------------------
# integer and boolean tensors (buffers): passed through, never merged

_BUFFER_MERGES = [
    (task_arithmetic, {"weights": [1.0, 0.5, 2.0], "lam": 0.7}),
    (ties_merge, {"density": 0.5}),
    (ties_merge, {"density": 0.5, "scope": "global"}),
    (ties_merge, {"density": 0.25, "scope": "global", "elect": "count", "merge": "max"}),
    (dare, {"density": 0.5, "seed": 3}),
    (dare, {"density": 0.5, "seed": 4, "rescale": "l1"}),
]


def _with_buffers(seed=0):
    """A base and three models whose floats differ and whose buffers equal the base's."""
    rng = np.random.default_rng(seed)
    base = {
        # Integers from 2^24 on, which float32 cannot all hold.
        "position_ids": np.arange(2**24, 2**24 + 6, dtype=np.int64).reshape(1, 6),
        "w": rng.normal(size=(3, 4)).astype(np.float32),
        "mask": np.array([True, False, True]),
        "b": rng.normal(size=5),
        "step": np.array(7, dtype=np.uint8),
    }
    models = [
        {
            key: value + rng.normal(size=value.shape) if value.dtype.kind == "f" else value.copy()
            for key, value in base.items()
        }
        for _ in range(3)
    ]
    return base, models


def _floats(tensors):
    return {key: value for key, value in tensors.items() if np.asarray(value).dtype.kind == "f"}


@pytest.mark.parametrize(("merge", "options"), _BUFFER_MERGES)
def test_integer_and_boolean_tensors_pass_through_merges_unchanged(merge, options):
    base, models = _with_buffers()
    merged = merge(base, models, **options)
    assert list(merged) == list(base)
    for key in ("position_ids", "mask", "step"):
        assert_array_equal(merged[key], base[key], strict=True)
        assert not np.shares_memory(merged[key], base[key])
    # The floating-point tensors merge as they would without the buffers: the
    # global thresholds and majority and DARE's draws come from them alone.
    alone = merge(_floats(base), [_floats(m) for m in models], **options)
    for key in alone:
        assert_array_equal(merged[key], alone[key], strict=True)


def test_global_scope_thresholds_skip_integer_tensors():
    # tau = [1, 2, 3, 4]: d = 4, r = 4 - 2 = 2, h = 2, so 2, 3 and 4 are kept.
    # With the four zeros of an unchanged buffer counted, d = 8, r = 4 and
    # h = 0 would keep everything.
    base = {"ids": np.arange(4), "w": np.zeros(4)}
    models = [{"ids": np.arange(4), "w": np.array([1.0, 2.0, 3.0, 4.0])}]
    merged = ties_merge(base, models, density=0.5, scope="global")
    assert_array_equal(merged["w"], np.float32([0.0, 2.0, 3.0, 4.0]))


def test_dare_draws_nothing_for_integer_tensors():
    base, models = _with_buffers(1)
    with_buffers, alone = np.random.default_rng(5), np.random.default_rng(5)
    merged = dare(base, models, density=0.5, seed=with_buffers)
    expected = dare(_floats(base), [_floats(m) for m in models], density=0.5, seed=alone)
    for key in expected:
        assert_array_equal(merged[key], expected[key], strict=True)
    # The generator is left where the draws for the floating-point tensors leave it.
    assert with_buffers.bit_generator.state == alone.bit_generator.state


@pytest.mark.parametrize(("merge", "options"), _BUFFER_MERGES)
@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("position_ids", np.arange(2**24 + 1, 2**24 + 7, dtype=np.int64).reshape(1, 6)),
        ("mask", np.array([True, True, True])),
        # The base's integers, as the float32 values that would round them.
        ("position_ids", np.arange(2**24, 2**24 + 6).astype(np.float32).reshape(1, 6)),
    ],
)
def test_a_model_that_changed_an_integer_tensor_is_an_error(merge, options, key, value):
    base, models = _with_buffers()
    models[1][key] = value
    with pytest.raises(
        ValueError,
        match=rf"tensor '{key}' of models\[1\] differs from the base mapping in \d+ of \d+ "
        r"values \(flat positions .*\); it is (int64|bool) in the base, and integer and "
        "boolean tensors .* are passed through a merge unchanged, never merged",
    ):
        merge(base, models, **options)


def test_the_base_dtype_decides_what_is_merged():
    # An integer model tensor where the base's is floating point is a weight.
    base = {"w": np.zeros(2)}
    assert_array_equal(
        task_arithmetic(base, [{"w": np.array([1, -2])}])["w"], np.float32([1.0, -2.0])
    )


def test_task_vectors_of_integer_tensors_are_zeros_in_their_dtype():
    base, models = _with_buffers()
    taus = task_vectors(base, models)
    for tau, model in zip(taus, models, strict=True):
        assert list(tau) == list(base)
        for key in ("position_ids", "mask", "step"):
            assert_array_equal(tau[key], np.zeros_like(base[key]), strict=True)
            # theta_0 + tau_t is theta_t again, in the base's dtype.
            assert_array_equal(base[key] + tau[key], model[key], strict=True)
        assert tau["w"].dtype == tau["b"].dtype == np.float32
    models[2]["step"] = np.array(8, dtype=np.uint8)
    with pytest.raises(ValueError, match=r"tensor 'step' of models\[2\] differs"):
        task_vectors(base, models)


def test_half_precision_differences_are_exact_within_the_documented_factor():
    # task_vectors' Notes: exact within a factor 2^12 (fp16) or 2^15 (bf16),
    # rounded from about 2^13 (fp16) or 2^16 (bf16) on.
    rng = np.random.default_rng(0)
    for dtype, factor in ((np.float16, 12), (ml_dtypes.bfloat16, 15)):
        bits = np.arange(2**16, dtype=np.uint16).view(dtype)
        base = rng.choice(bits[np.isfinite(bits.astype(np.float32))], 20000)
        # Each tuned value within a factor of about 2^(factor + 1) of its base value.
        scale = 2.0 ** rng.uniform(-factor - 1, factor + 1, base.size) * rng.choice([-1, 1])
        with np.errstate(over="ignore"):
            tuned = (base.astype(np.float64) * scale).astype(dtype)
        a, b = base.astype(np.float64), tuned.astype(np.float64)
        # bf16 shares float32's range: a difference may overflow, which raises;
        # such pairs (and tuned values that overflowed bf16) are set to 0.
        with np.errstate(invalid="ignore"):
            fits = np.isfinite(b) & (np.abs(b - a) <= np.finfo(np.float32).max)
        (tau,) = task_vectors({"w": base}, [{"w": np.where(fits, tuned, 0)}])
        exact = np.where(fits, b, 0) - a
        small = np.minimum(np.abs(a), np.abs(b))
        within = (small == 0) | (np.maximum(np.abs(a), np.abs(b)) < 2.0**factor * small)
        within &= fits
        assert within.sum() > 10000
        assert_array_equal(tau["w"][within], exact[within])
    (tau,) = task_vectors(
        {"w": np.array([2.0**-24], np.float16)}, [{"w": np.array([1024.0], np.float16)}]
    )
    assert tau["w"][0] == 1024.0 != 1024.0 - 2.0**-24


# ---------------------------------------------------------------------------
# what docs/merging.md and the docstrings say about the reference implementations


def _peft_ties(taus, weights, density):
    """PEFT's ``merge_utils.ties`` in numpy: prune, unweighted sign, weighted disjoint mean."""
    pruned = []
    for tau in taus:
        keep = np.zeros(tau.size, dtype=bool)
        keep[np.argsort(-np.abs(tau), kind="stable")[: int(density * tau.size)]] = True
        pruned.append(tau * keep)
    stack = np.stack(pruned)
    agree = np.sign(stack) == np.where(stack.sum(axis=0) >= 0, 1.0, -1.0)
    weighted = stack * np.asarray(weights)[:, None]
    return (weighted * agree).sum(axis=0) / np.maximum(agree.sum(axis=0), 1)


def test_peft_with_equal_weights_w_is_coda_with_lam_w():
    rng = np.random.default_rng(3)
    taus = [rng.normal(size=50) for _ in range(3)]
    base = {"w": np.zeros(50)}
    models = [{"w": tau} for tau in taus]
    for w in (1.0, 0.5, 2.0):
        peft = _peft_ties(taus, [w] * 3, 0.4)
        # Any equal weights in coda: mergekit's mean divides by their sum.
        coda = ties_merge(base, models, density=0.4, weights=[w] * 3, lam=w)["w"]
        assert_allclose(coda, peft, rtol=1e-6, atol=1e-6)
        if w != 1.0:
            plain = ties_merge(base, models, density=0.4, weights=[w] * 3)["w"]
            assert not np.allclose(plain, peft)


def test_dare_l1_rescales_where_mergekit_would_not():
    # ||tau||_1 = 4e-8 < 1e-7: mergekit leaves the kept entries as they are;
    # coda rescales them to the norm before the drop.
    tau = np.full(4, 1e-8)
    l1 = dare({"w": np.zeros(4)}, [{"w": tau}], density=0.5, seed=1, rescale="l1")["w"]
    assert 0 < np.count_nonzero(l1) < 4
    assert_allclose(np.abs(l1).sum(), 4e-8, rtol=1e-6)


def _text(value):
    return " ".join(value.split())


def test_docs_state_what_the_code_does():
    docs = _text((Path(__file__).parents[1] / "docs" / "merging.md").read_text())
    # F3: the number kept, and PEFT's weights.
    assert "max(1, floor(density x n))" in docs and "exactly floor(density" not in docs
    assert "PEFT with equal weights:" not in docs and "coda's `lam=w`" in docs
    # F4: DARE's l1 rescaling against mergekit's.
    assert "below 1e-7" in docs and _text("below 1e-7") in _text(dare.__doc__)
    assert "coda sums the norms in float64" in _text(dare.__doc__)
    # F2: half-precision differences are exact only within a factor.
    notes = _text(task_vectors.__doc__)
    assert "gives the exact difference of its values" not in notes
    assert "2^12 (fp16) or 2^15 (bf16)" in notes


# ---------------------------------------------------------------------------
# errors


def test_mismatched_keys_name_the_tensor():
    base = _zeros(a=2, b=2)
    with pytest.raises(ValueError, match=r"models\[0\] lacks tensors of the base mapping: b"):
        ties_merge(base, [{"a": np.zeros(2)}], density=0.5)
    with pytest.raises(
        ValueError, match=r"models\[1\] has tensors missing from the base mapping: c"
    ):
        task_vectors(base, [_zeros(a=2, b=2), _zeros(a=2, b=2, c=1)])


def test_mismatched_shape_names_the_tensor():
    with pytest.raises(ValueError, match=r"tensor 'a' has shape \(3,\) in checkpoint models\[0\]"):
        task_arithmetic(_zeros(a=2), [_zeros(a=3)])


def test_non_finite_values_name_the_tensor():
    with pytest.raises(ValueError, match=r"tensor 'a' of models\[0\] has 1 values that are not"):
        dare(_zeros(a=2), [{"a": np.array([0.0, np.nan])}], density=0.5)


@pytest.mark.parametrize("density", [0.0, 1.5, -0.2])
def test_density_outside_unit_interval(density):
    with pytest.raises(ValueError, match=r"density=.*expected a number in \(0, 1\]"):
        ties_merge(_zeros(a=2), [_zeros(a=2)], density=density)
    with pytest.raises(ValueError, match=r"density=.*expected a number in \(0, 1\]"):
        dare(_zeros(a=2), [_zeros(a=2)], density=density)


@pytest.mark.parametrize(
    ("option", "value"), [("scope", "layer"), ("elect", "sum"), ("merge", "median")]
)
def test_unknown_ties_options(option, value):
    with pytest.raises(ValueError, match=f"{option}='{value}' is not a known option"):
        ties_merge(_zeros(a=2), [_zeros(a=2)], density=0.5, **{option: value})


def test_unknown_rescale():
    with pytest.raises(ValueError, match="rescale='l2' is not a known option"):
        dare(_zeros(a=2), [_zeros(a=2)], density=0.5, rescale="l2")


def test_bad_weights_lam_models_and_normalize():
    base, models = _zeros(a=2), [_zeros(a=2), _zeros(a=2)]
    with pytest.raises(ValueError, match=r"weights has shape \(3,\).*expected 2 numbers"):
        task_arithmetic(base, models, weights=[1, 2, 3])
    with pytest.raises(TypeError, match="lam='x'; expected a finite number"):
        ties_merge(base, models, density=0.5, lam="x")
    with pytest.raises(ValueError, match=r"models=\[\]; expected a non-empty list"):
        task_vectors(base, [])
    with pytest.raises(TypeError, match="models is a single checkpoint"):
        task_vectors(base, models[0])
    with pytest.raises(ValueError, match="normalize=False has no effect with scope='global'"):
        ties_merge(base, models, density=0.5, scope="global", normalize=False)


# ---------------------------------------------------------------------------
# scope="tensor" through the fused kernel: files, dtypes, threads, checks


def _bits(a):
    return np.asarray(a, dtype=np.float32).view(np.uint32)


def _tie_heavy(n, n_models, seed):
    """Base and models whose task vectors tie often, with zeros and -0.0 (-0.0 - +0.0).

    Tensors of 2, 1 and 0 dimensions.
    """
    rng = np.random.default_rng(seed)
    base = {"a": np.zeros((n // 4, 4)), "b": rng.integers(-3, 4, 11) * 0.25, "c": np.array(1.5)}
    models = []
    for _ in range(n_models):
        a = rng.integers(-2, 3, (n // 4, 4)) * 0.5
        a[rng.random(a.shape) < 0.2] = -0.0
        b = base["b"] + rng.integers(-2, 3, 11) * 0.5
        models.append({"a": a, "b": b, "c": np.array(rng.integers(-2, 3) * 0.5)})
    return base, models


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
@pytest.mark.parametrize(("elect", "merge"), [("mass", "mean"), ("count", "sum"), ("mass", "max")])
def test_tensor_scope_from_files_equals_in_memory_bit_for_bit(tmp_path, dtype, elect, merge):
    import ml_dtypes

    from coda.merging import open_checkpoint, write_checkpoint

    kind = ml_dtypes.bfloat16 if dtype == "bfloat16" else np.dtype(dtype)
    base, models = _tie_heavy(400, 3, 21)
    cast = [{k: np.asarray(v).astype(kind) for k, v in m.items()} for m in [base, *models]]
    paths = [write_checkpoint(m, tmp_path / f"m{t}.safetensors") for t, m in enumerate(cast)]
    options = {"density": 0.3, "elect": elect, "merge": merge, "weights": [1.0, -0.5, 2.0]}
    out = ties_merge(paths[0], paths[1:], out=tmp_path / "out.safetensors", **options)
    # In memory: the same values as float32 (every half-precision value is one).
    memory = [{k: v.astype(np.float32) for k, v in m.items()} for m in cast]
    expected = ties_merge(memory[0], memory[1:], **options)
    naive_expected = naive_merging.ties_tensor(
        memory[0], memory[1:], 0.3, elect, merge, options["weights"]
    )
    with open_checkpoint(out) as merged:
        for key in base:
            assert_array_equal(_bits(merged.read(key)), _bits(expected[key]))
            assert_array_equal(merged.read(key), naive_expected[key])


def test_tensor_scope_does_not_depend_on_the_number_of_threads(thread_counts):
    import numba

    from coda.merging._rules import _tensor_update

    # 300,000 entries x 4 arrays x 4 bytes: above the size that goes to threads.
    rng = np.random.default_rng(3)
    base = (0.02 * rng.standard_normal(300_000)).astype(np.float32)
    models = [base + (0.01 * rng.standard_normal(base.size)).astype(np.float32) for _ in range(3)]
    models[1][::7] = base[::7]  # zeros in a task vector
    weights = np.float32([1.0, 0.5, 2.0])
    before = numba.get_num_threads()
    results = []
    try:
        for threads in thread_counts:
            numba.set_num_threads(threads)
            results.append(_tensor_update(base, models, 0.2, "mass", "mean", weights, True))
    finally:
        numba.set_num_threads(before)
    taus = [m - base for m in models]
    expected = naive_merging.tensor_update(None, taus, False, 0.2, "mass", "mean", weights, True)
    for result in results:
        assert_array_equal(_bits(result), _bits(expected))


@pytest.mark.parametrize("density", [0.5, 1.0])
@pytest.mark.parametrize("where", ["base", "model"])
def test_tensor_scope_from_files_refuses_non_finite_values(tmp_path, density, where):
    from coda.merging import write_checkpoint

    base = {"w": np.zeros(6, dtype=np.float32)}
    model = {"w": np.arange(6, dtype=np.float32)}
    (base if where == "base" else model)["w"][4] = np.inf
    paths = [
        write_checkpoint(base, tmp_path / "base.safetensors"),
        write_checkpoint(model, tmp_path / "tuned.safetensors"),
    ]
    name = "base" if where == "base" else "tuned"
    with pytest.raises(
        ValueError, match=rf"'w' of .*{name}\.safetensors' has 1 values that are not"
    ):
        ties_merge(paths[0], [paths[1]], density=density)


def test_tensor_scope_overflowing_task_vector_is_refused_from_files_and_memory(tmp_path):
    from coda.merging import write_checkpoint

    # Finite inputs whose difference overflows float32: a clear error naming
    # the model, from the fused kernels' check, in both paths.
    big = np.finfo(np.float32).max
    base = {"w": np.array([-big, 0.0, 1.0, 2.0], dtype=np.float32)}
    models = [{"w": np.array([big, 1.0, -1.0, 2.5], dtype=np.float32)} for _ in range(2)]
    paths = [
        write_checkpoint(m, tmp_path / f"m{t}.safetensors") for t, m in enumerate([base, *models])
    ]
    with pytest.raises(ValueError, match=r"task vector of tensor 'w' of '.*m1\.safetensors'"):
        ties_merge(paths[0], paths[1:], density=0.5)
    with pytest.raises(ValueError, match=r"task vector of tensor 'w' of models\[0\]"):
        ties_merge(base, models, density=0.5)


def test_tensor_scope_reads_unaligned_safetensors_data(tmp_path):
    import json
    import struct

    # A header of odd length, as files written before safetensors padded it
    # have: the float32 data then start at an odd byte, and are read by copy.
    rng = np.random.default_rng(8)
    tensors = [rng.normal(size=5).astype(np.float32) for _ in range(3)]
    paths = []
    for t, values in enumerate(tensors):
        header = {"w": {"dtype": "F32", "shape": [5], "data_offsets": [0, 20]}}
        text = json.dumps(header, separators=(",", ":")).encode()
        text += b" " * (1 - len(text) % 2)  # an odd length
        paths.append(tmp_path / f"m{t}.safetensors")
        paths[-1].write_bytes(struct.pack("<Q", len(text)) + text + values.tobytes())
    out = ties_merge(paths[0], paths[1:], density=0.4)
    expected = ties_merge({"w": tensors[0]}, [{"w": v} for v in tensors[1:]], density=0.4)
    assert_array_equal(_bits(out["w"]), _bits(expected["w"]))


def test_a_buffer_is_compared_exactly_beyond_the_float64_integers():
    # int64 2**53 + 1 against a float64 2**53: numpy compared them as float64 and
    # called them equal, so the model's changed buffer passed unnoticed
    w = np.ones(2, np.float32)
    base = {"w": w, "x": np.array([2**53 + 1], np.int64)}
    with pytest.raises(ValueError, match=r"tensor 'x' of models\[0\] differs from the base"):
        task_arithmetic(base, [{"w": w + 1, "x": np.array([2.0**53])}])
    big = {"w": w, "x": np.array([2**64 - 1, 2**63 + 1], np.uint64)}
    with pytest.raises(ValueError, match=r"in 2 of 2 values"):
        task_arithmetic(big, [{"w": w, "x": np.array([2**64 - 1, 2**63 + 1], np.float64)}])
    # the same values in another integer dtype are the same buffer
    same = task_arithmetic(base, [{"w": w + 1, "x": np.array([2**53 + 1], np.uint64)}])
    assert same["x"].dtype == np.int64 and same["x"][0] == 2**53 + 1
