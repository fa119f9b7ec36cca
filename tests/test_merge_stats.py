"""Tests for coda.merging.stats: S1 to S4, compositional statistics of TIES merges."""

import os

import naive
import naive_merging
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

import coda  # noqa: F401  (registers DataFrame.coda)
from coda._results import EntryCategories
from coda.merging import (
    _facts,
    entry_categories,
    mass_fate,
    ownership,
    task_shares,
    task_vectors,
    ties_merge,
)
from coda.merging.stats import CATEGORIES, _null_categories

# t0 keeps 3, 2 (k = 2 of 4); t1 keeps -2, 4. Entry 0: t0 + alone; entry 1:
# t1 - alone; entry 2: trimmed by both; entry 3: both + (agree).
BASE = {"w": np.zeros(4)}
MODELS = [{"w": np.array([3.0, -1.0, 0.5, 2.0])}, {"w": np.array([-1.0, -2.0, 0.1, 4.0])}]


def _random(seed, n_models=3, shapes=((6,), (3, 4), (1,))):
    rng = np.random.default_rng(seed)
    base = {f"t{i}": rng.normal(size=s) for i, s in enumerate(shapes)}
    models = [{k: v + rng.normal(size=v.shape) for k, v in base.items()} for _ in range(n_models)]
    return base, models


# ---------------------------------------------------------------------------
# S1 task shares


def test_task_shares_by_hand_with_pooling():
    base = {"a": np.zeros(2), "b": np.zeros(1), "c": np.zeros(1)}
    models = [
        {"a": np.array([1.0, -1.0]), "b": np.array([3.0]), "c": np.array([1.0])},
        {"a": np.array([0.0, 6.0]), "b": np.array([1.0]), "c": np.array([0.0])},
    ]
    # a: |tau_0| = 2, |tau_1| = 6 -> 0.25, 0.75; b+c: 4 and 1 -> 0.8, 0.2.
    pooled = task_shares(base, models, layers={"first": ["a"], "rest": ["b", "c"]})
    assert_allclose(pooled.to_numpy(), [[0.25, 0.75], [0.8, 0.2]])
    assert list(pooled.index) == ["first", "rest"]
    assert pooled.attrs["layers"] == {"first": ["a"], "rest": ["b", "c"]}
    by_name = task_shares(base, models, layers=lambda key: "first" if key == "a" else "rest")
    pd.testing.assert_frame_equal(by_name, pooled)
    raw = task_shares(base, models, layers={"first": ["a"], "rest": ["b", "c"]}, closed=False)
    assert_allclose(raw.to_numpy(), [[2.0, 6.0], [4.0, 1.0]])


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**31), st.floats(0.01, 100.0))
def test_task_shares_close_and_are_scale_equivariant(seed, factor):
    base, models = _random(seed)
    shares = task_shares(base, models)
    assert_allclose(shares.sum(axis=1), 1.0, rtol=1e-12)
    taus = task_vectors(base, models)
    # Scaled around a zero base: adding a small scaled tau to the base would
    # lose digits of tau to float32 rounding, which is not what is tested.
    zero = {k: np.zeros_like(v) for k, v in base.items()}
    scaled = [{k: factor * tau[k].astype(np.float64) for k in base} for tau in taus]
    assert_allclose(task_shares(zero, scaled).to_numpy(), shares.to_numpy(), rtol=1e-4)


def test_task_shares_frame_works_with_the_accessor():
    shares = task_shares(*_random(1))
    assert_allclose(shares.coda.clr().sum(axis=1), 0.0, atol=1e-12)


def test_inputs_are_not_mutated():
    base, models = _random(2)
    copies = [{k: v.copy() for k, v in m.items()} for m in [base, *models]]
    task_shares(base, models)
    entry_categories(base, models, density=0.3, seed=0)
    mass_fate(base, models, density=0.3)
    ownership(base, models, density=0.3, scope="global")
    for before, after in zip(copies, [base, *models], strict=True):
        for key in before:
            assert_array_equal(before[key], after[key])


# ---------------------------------------------------------------------------
# S2 entry categories and their nulls


def test_entry_categories_by_hand():
    result = entry_categories(BASE, MODELS, density=0.5, seed=0)
    assert isinstance(result, EntryCategories)
    assert list(result.observed.columns) == list(CATEGORIES)
    assert_allclose(result.observed.to_numpy(), [[0.25, 0.25, 0.25, 0.25, 0.0, 0.0]])
    # k = 4 kept / (2 tasks * 4 entries) = 0.5, T = 2: (1-k)^2 = 0.25,
    # 2 k (1-k) / 2 = 0.25, k^2 / 4 = 0.0625, conflict 1 - 0.25 - 0.5 - 0.125.
    assert_allclose(result.null.to_numpy(), [[0.25, 0.25, 0.25, 0.0625, 0.0625, 0.125]])
    assert result.observed.attrs["scope"] == "tensor"
    assert result.observed.attrs["density"] == 0.5


def test_entry_categories_conflict_and_global_scope():
    base = {"w": np.zeros(3)}
    models = [{"w": np.array([2.0, -3.0, 1.0])}, {"w": np.array([-2.0, -3.0, 0.5])}]
    # Global, K = 0.5, d = 3: r = 3 - 1 = 2, h_0 = 2 keeps 2, -3 (|.| >= 2);
    # h_1 = 2 keeps -2, -3. Entry 0 conflict, 1 agree -, 2 trimmed.
    result = entry_categories(base, models, density=0.5, scope="global")
    assert_allclose(result.observed.to_numpy(), [[1 / 3, 0, 0, 0, 1 / 3, 1 / 3]])


@pytest.mark.parametrize(("k", "n_tasks"), [(0.2, 3), (0.5, 4), (0.05, 2)])
def test_null_against_simulation(k, n_tasks):
    rng = np.random.default_rng(7)
    n = 200_000
    kept = rng.random((n_tasks, n)) < k
    signs = rng.choice([-1.0, 1.0], size=(n_tasks, n))
    npos = ((signs > 0) & kept).sum(axis=0)
    nneg = ((signs < 0) & kept).sum(axis=0)
    total = npos + nneg
    simulated = np.array(
        [
            np.mean(total == 0),
            np.mean((total == 1) & (npos == 1)),
            np.mean((total == 1) & (nneg == 1)),
            np.mean((total >= 2) & (nneg == 0)),
            np.mean((total >= 2) & (npos == 0)),
            np.mean((npos > 0) & (nneg > 0)),
        ]
    )
    expected = _null_categories(k, n_tasks)
    # Five binomial standard errors per category.
    error = 5 * np.sqrt(expected * (1 - expected) / n)
    assert np.all(np.abs(simulated - expected) <= error)
    assert_allclose(expected.sum(), 1.0)
    # The closed sum of agreeing patterns: (1-k/2)^T - (1-k)^T - T (k/2) (1-k)^(T-1).
    closed = (
        (1 - k / 2) ** n_tasks - (1 - k) ** n_tasks - n_tasks * k / 2 * (1 - k) ** (n_tasks - 1)
    )
    assert_allclose(expected[3], closed)


def test_permutation_null_is_seeded_and_keeps_single_task_counts():
    base, models = _random(3, n_models=3, shapes=((50,), (20,)))
    first = entry_categories(base, models, density=0.3, n_permutations=3, seed=5)
    again = entry_categories(base, models, density=0.3, n_permutations=3, seed=5)
    pd.testing.assert_frame_equal(first.permutation, again.permutation)
    assert_allclose(first.permutation.sum(axis=1), 1.0)
    # One task: shuffling moves entries but not their categories.
    single = entry_categories(base, models[:1], density=0.3, seed=1)
    pd.testing.assert_frame_equal(
        single.permutation, single.observed.rename_axis(index="layer"), check_like=True
    )


def _placed_categories(states, counts, rounds, rng):
    """The permutation null by permuting positions: each round shuffles every task's row."""
    codes = np.repeat(states, counts, axis=0).T  # (T, n) states of a stack with this histogram
    total = np.zeros(6)
    for _ in range(rounds):
        shuffled = np.stack([row[rng.permutation(row.size)] for row in codes])
        npos, nneg = (shuffled == 1).sum(axis=0), (shuffled == 2).sum(axis=0)
        kept = npos + nneg
        total += [
            np.sum(kept == 0),
            np.sum((kept == 1) & (npos == 1)),
            np.sum((kept == 1) & (nneg == 1)),
            np.sum((kept >= 2) & (nneg == 0)),
            np.sum((kept >= 2) & (npos == 0)),
            np.sum((npos > 0) & (nneg > 0)),
        ]
    return total / rounds


def _two_task_expectation(n, a0, b0, a1, b1):
    """E[category counts] when two tasks' kept values sit on independent random positions."""
    k0, k1 = a0 + b0, a1 + b1
    return np.array(
        [
            n - k0 - k1 + k0 * k1 / n,
            a0 * (1 - k1 / n) + a1 * (1 - k0 / n),
            b0 * (1 - k1 / n) + b1 * (1 - k0 / n),
            a0 * a1 / n,
            b0 * b1 / n,
            (a0 * b1 + b0 * a1) / n,
        ]
    )


@pytest.mark.parametrize("limit", [_facts._MARGINALS_LIMIT, 10])
def test_permutation_null_mean_is_the_two_task_expectation(monkeypatch, limit):
    # limit=10 sends every draw to numpy's "count" sampler, used for tensors
    # of 10^9 entries or more.
    monkeypatch.setattr(_facts, "_MARGINALS_LIMIT", limit)
    # n = 40 entries; task 0 keeps 5 + 1 positive and 4 negative values,
    # task 1 keeps 2 positive and 8 + 1 negative ones.
    states = np.array([[0, 0], [1, 0], [2, 0], [0, 1], [0, 2], [1, 2]], dtype=np.uint8)
    counts = np.array([20, 5, 4, 2, 8, 1])
    a0, b0, a1, b1 = 6, 4, 2, 9
    rounds = 4000
    mean = _facts._shuffled_categories(states, counts, rounds, np.random.default_rng(0))
    expected = _two_task_expectation(40, a0, b0, a1, b1)
    # Each category count lies in [0, 40]: its standard deviation is at most 20.
    assert np.all(np.abs(mean - expected) <= 5 * 20 / np.sqrt(rounds))
    assert_allclose(mean.sum(), 40)


def test_permutation_null_has_the_distribution_of_shuffled_positions():
    # Three tasks: the hypergeometric draws against permuting whole rows.
    rng = np.random.default_rng(1)
    codes = rng.choice(3, size=(3, 60), p=[0.6, 0.25, 0.15]).astype(np.uint8)
    states, counts = np.unique(codes, axis=1, return_counts=True)
    states = states.T
    rounds = 3000
    drawn = _facts._shuffled_categories(states, counts, rounds, np.random.default_rng(2))
    placed = _placed_categories(states, counts, rounds, np.random.default_rng(3))
    # Two means of 3000 rounds of counts within [0, 60]: sd of each <= 30.
    assert np.all(np.abs(drawn - placed) <= 5 * 30 * np.sqrt(2 / rounds))
    assert_allclose(drawn.sum(), 60)


# ---------------------------------------------------------------------------
# S3 mass fate


def test_mass_fate_by_hand_with_a_drop():
    base = {"w": np.zeros(3)}
    models = [{"w": np.array([2.0, -3.0, 1.0])}, {"w": np.array([-5.0, -3.0, 0.5])}]
    # Tensor scope, k = max(1, floor(0.5 * 3)) = 1: t0 keeps -3, t1 keeps -5.
    # Entry 0: sum -5 -> sigma -, t1 survives 5; entry 1: -3 survives for t0.
    fate = mass_fate(base, models, density=0.5, closed=False)
    assert_allclose(fate.to_numpy(), [[3.0, 3.0, 0.0], [3.5, 5.0, 0.0]])
    # Global, K = 0.5, d = 3, r = 2: h_0 = 2 keeps 2, -3; h_1 = 3 keeps -5, -3.
    # Entry 0: 2 - 5 = -3 -> sigma -, t0's 2 is dropped.
    fate = mass_fate(base, models, density=0.5, scope="global", closed=False)
    assert_allclose(fate.to_numpy(), [[1.0, 3.0, 2.0], [0.5, 8.0, 0.0]])
    assert fate.index.names == ["task", "layer"]


@settings(max_examples=15, deadline=None)
@given(
    st.integers(0, 2**31), st.sampled_from([0.1, 0.3, 1.0]), st.sampled_from(["tensor", "global"])
)
def test_mass_fate_reproduces_the_summed_merge(seed, density, scope):
    base, models = _random(seed)
    fate = mass_fate(base, models, density=density, scope=scope, closed=False)
    taus = task_vectors(base, models)
    for t, tau in enumerate(taus):
        totals = [np.abs(tau[k]).sum(dtype=np.float64) for k in base]
        assert_allclose(fate.loc[f"task{t}"].sum(axis=1), totals, rtol=1e-6)
    zero = {k: np.zeros_like(v) for k, v in base.items()}
    shifted = [{k: tau[k] for k in base} for tau in taus]
    merged = ties_merge(zero, shifted, density=density, scope=scope, merge="sum")
    survived = fate["survives"].groupby(level="layer", sort=False).sum()
    assert_allclose(survived, [np.abs(merged[k]).sum(dtype=np.float64) for k in base], rtol=1e-5)
    assert_allclose(mass_fate(base, models, density=density, scope=scope).sum(axis=1), 1.0)


# ---------------------------------------------------------------------------
# S4 ownership


def test_ownership_by_hand():
    # Merged [3, -2, 0, 3]; entry 3 is the mean (2 + 4) / 2 = 3, owned 2/6 and 4/6:
    # task0 3 + 1 = 4, task1 2 + 2 = 4, total 8 = ||tau_m||_1.
    owned = ownership(BASE, MODELS, density=0.5, closed=False)
    assert_allclose(owned.to_numpy(), [[4.0, 4.0]])
    assert_allclose(ownership(BASE, MODELS, density=0.5).to_numpy(), [[0.5, 0.5]])
    # merge="sum": entry 3 is 6, each task owns its own entry: 3 + 2, 2 + 4.
    owned = ownership(BASE, MODELS, density=0.5, merge="sum", closed=False)
    assert_allclose(owned.to_numpy(), [[5.0, 6.0]])


@settings(max_examples=20, deadline=None)
@given(
    st.integers(0, 2**31),
    st.sampled_from(["tensor", "global"]),
    st.sampled_from(["mean", "sum", "max"]),
    st.sampled_from(["mass", "count"]),
    st.booleans(),
)
def test_ownership_identity(seed, scope, merge, elect, weighted):
    base, models = _random(seed, n_models=4)
    weights = [0.5, 1.0, 2.0, 1.5] if weighted else None
    options = {"density": 0.3, "scope": scope, "merge": merge, "elect": elect, "weights": weights}
    owned = ownership(base, models, **options, closed=False)
    merged = ties_merge(base, models, **options)
    norms = [np.abs(merged[k] - base[k].astype(np.float32)).sum(dtype=np.float64) for k in base]
    # ties_merge returns theta_0 + tau_m in float32: rounding of theta_0's scale.
    assert_allclose(owned.sum(axis=1), norms, rtol=1e-5, atol=1e-5)
    # Against the merged task vector itself (zero base), equal to float64 rounding.
    zero = {k: np.zeros_like(v) for k, v in base.items()}
    taus = task_vectors(base, models)
    exact = ties_merge(zero, taus, **options)
    owned = ownership(zero, taus, **options, closed=False)
    assert_allclose(
        owned.sum(axis=1), [np.abs(exact[k]).sum(dtype=np.float64) for k in base], rtol=1e-12
    )
    shares = ownership(zero, taus, **options)
    assert_allclose(shares.dropna().sum(axis=1), 1.0, rtol=1e-12)
    assert shares.attrs["merge"] == merge


def test_ownership_records_normalize_where_it_changes_the_merge():
    # mergekit's weighted mean divides by the agreeing weights (normalize=True)
    # or not: different shares, so attrs that tell them apart.
    base, models = _random(4)
    options = {"density": 0.5, "weights": [1.0, 2.0, 3.0]}
    normalized = ownership(base, models, **options)
    summed = ownership(base, models, normalize=False, **options)
    assert not np.allclose(normalized.to_numpy(), summed.to_numpy())
    assert normalized.attrs["normalize"] is True and summed.attrs["normalize"] is False
    assert normalized.attrs != summed.attrs
    # Where normalize changes nothing it is None, as every setting that does not apply.
    for frame in (
        ownership(base, models, merge="sum", **options),
        ownership(base, models, scope="global", **options),
        mass_fate(base, models, **options),
        entry_categories(base, models, density=0.5).observed,
        task_shares(base, models),
    ):
        assert frame.attrs["normalize"] is None, frame.attrs["statistic"]


# ---------------------------------------------------------------------------
# errors


@pytest.mark.parametrize(
    ("layers", "match"),
    [
        ({"x": ["t0", "t1", "t2", "nope"]}, "names tensors the models lack: 'nope'"),
        ({"x": ["t0", "t1", "t2"], "y": ["t0"]}, "more than one layer: 't0'"),
        ({"x": ["t0"]}, "leaves tensors out of every layer: 't1', 't2'"),
        (
            {"x": ["t0", "t1", "t2"], "e": [], "f": ()},
            "layers gives no tensors to the layer[(]s[)] 'e', 'f'; a layer without tensors",
        ),
    ],
)
def test_bad_layers(layers, match):
    with pytest.raises(ValueError, match=match):
        task_shares(*_random(0), layers=layers)


def test_bad_options():
    base, models = _random(0)
    with pytest.raises(TypeError, match="layers=3; expected None, a mapping"):
        task_shares(base, models, layers=3)
    with pytest.raises(ValueError, match="scope"):
        entry_categories(base, models, density=0.2, scope="layer")
    with pytest.raises(ValueError, match=r"density=0; expected a number in \(0, 1\]"):
        mass_fate(base, models, density=0)
    with pytest.raises(ValueError, match="n_permutations=0"):
        entry_categories(base, models, density=0.2, n_permutations=0)
    with pytest.raises(ValueError, match="weights"):
        ownership(base, models, density=0.2, weights=[1.0])
    with pytest.raises(ValueError, match="merge"):
        ownership(base, models, density=0.2, merge="median")


# ---------------------------------------------------------------------------
# per-tensor facts: the _merge_facts kernel against its twin and ties_merge


def _decided(rng, n_tasks, n):
    """Task vectors with zeros, signed zeros and ties, random masks, weights and signs."""
    taus = rng.choice(
        np.array([0.0, -0.0, 1.5, -1.5, 0.25, -3.0], dtype=np.float32), size=(n_tasks, n)
    )
    taus += rng.normal(size=(n_tasks, n)).astype(np.float32) * (rng.random((n_tasks, n)) < 0.5)
    kept = rng.random((n_tasks, n)) < rng.choice([0.2, 1.0])
    weights = rng.uniform(0.5, 2.0, n_tasks).astype(np.float32)
    weighted = np.stack([w * (tau * m) for tau, w, m in zip(taus, weights, kept, strict=True)])
    # sigma 0 is the global scope's unresolved majority.
    sigma = rng.choice(np.array([-1.0, 0.0, 1.0], dtype=np.float32), size=n)
    return list(taus), kept, weighted, sigma, weights


MERGE_MODES = [
    ("tensor", "mean", True),
    ("tensor", "mean", False),
    ("tensor", "sum", True),
    ("global", "max", True),
    ("global", "mean", True),
]


@pytest.mark.parametrize(("scope", "merge", "normalize"), MERGE_MODES)
@pytest.mark.parametrize(("n_tasks", "n"), [(2, 1), (3, 7), (5, 2500), (11, 40)])
def test_merge_facts_matches_twin(scope, merge, normalize, n_tasks, n):
    rng = np.random.default_rng(n_tasks * 1000 + n)
    taus, kept, weighted, sigma, weights = _decided(rng, n_tasks, n)
    histogram, merged, fate, owned = _facts._merge_facts(
        taus, kept, weighted, sigma, weights, scope, merge, normalize
    )
    code = _facts._merge_code(scope, merge, normalize)
    want = naive_merging.merge_facts(taus, kept, weighted, sigma, weights, code)
    if n_tasks <= _facts._TERNARY_TASKS:
        assert_array_equal(histogram, np.bincount(want[0], minlength=3**n_tasks))
    else:
        assert histogram is None
    # Bit for bit, signed zeros included.
    assert_array_equal(merged.view(np.uint32), want[1].view(np.uint32))
    assert_allclose(fate, want[2], rtol=1e-12, atol=0)
    assert_allclose(owned, want[3], rtol=1e-12, atol=0)


FUSED_SIZES = [(2, 1), (3, 7), (5, 2500), (8, 5000)]
if os.environ.get("NUMBA_DISABLE_JIT") == "1":
    # Interpreted, the kernels take seconds per thousand entries: the small
    # sizes run every line (entries deferred to the exact cut included).
    FUSED_SIZES = [(3, 300)]


@pytest.mark.parametrize("elect", ["mass", "count"])
@pytest.mark.parametrize(("merge", "normalize"), [("mean", True), ("sum", True), ("max", True)])
@pytest.mark.parametrize(("n_tasks", "n"), FUSED_SIZES)
def test_merge_facts_deciding_in_the_kernel_equals_decisions_given(
    elect, merge, normalize, n_tasks, n
):
    rng = np.random.default_rng(n_tasks * 100 + n)
    taus, _, _, _, weights = _decided(rng, n_tasks, n)
    # The decisions by numpy (a stable sort for the top k), handed to the kernel.
    kept, weighted, sigma = naive_merging.tensor_decisions(np.stack(taus), 0.3, elect, weights)
    given = _facts._merge_facts(taus, kept, weighted, sigma, weights, "tensor", merge, normalize)
    decide = (0.3, elect == "count", None)
    fused = _facts._merge_facts(
        taus, None, None, None, weights, "tensor", merge, normalize, decide
    )
    assert_array_equal(fused[0], given[0])
    assert_array_equal(fused[1].view(np.uint32), given[1].view(np.uint32))
    # The entries at each task's cut bin are summed last: the same sums in
    # another order.
    assert_allclose(fused[2], given[2], rtol=1e-13, atol=0)
    assert_allclose(fused[3], given[3], rtol=1e-13, atol=0)


@pytest.mark.parametrize("kind", ["ties", "tuned"])
def test_merge_facts_fused_with_ties_and_fine_tuned_tensors(kind):
    # Many equal |tau| (the exact cut needs the index rule for ties), or the
    # fine-tuned tensors with the base, whose task vectors the kernel forms.
    rng = np.random.default_rng(11)
    n, weights = 20_000, np.array([1.0, 0.5, 2.0], dtype=np.float32)
    if kind == "ties":
        base = None
        tensors = [(rng.integers(-3, 4, n) * 0.25).astype(np.float32) for _ in range(3)]
        taus = tensors
    else:
        base = (0.02 * rng.standard_normal(n)).astype(np.float32)
        tensors = [base + (0.01 * rng.standard_normal(n)).astype(np.float32) for _ in range(3)]
        taus = [t - base for t in tensors]
    kept, weighted, sigma = naive_merging.tensor_decisions(np.stack(taus), 0.2, "mass", weights)
    given = _facts._merge_facts(taus, kept, weighted, sigma, weights, "tensor", "mean", True)
    fused = _facts._merge_facts(
        tensors, None, None, None, weights, "tensor", "mean", True, (0.2, False, None), base
    )
    assert_array_equal(fused[0], given[0])
    assert_array_equal(fused[1].view(np.uint32), given[1].view(np.uint32))
    assert_allclose(fused[2], given[2], rtol=1e-13, atol=0)
    assert_allclose(fused[3], given[3], rtol=1e-13, atol=0)


@pytest.mark.parametrize("decide", [None, (0.2, False, None)])
def test_merge_facts_without_the_merged_tensor_gives_the_same_statistics(decide):
    # describe needs no tau_m array: without it the kernel writes none (at
    # the deferred entries neither), and every statistic is the same bits.
    rng = np.random.default_rng(5)
    taus, kept, weighted, sigma, weights = _decided(rng, 3, 20_000)
    if decide is not None:
        kept = weighted = sigma = None
    args = (taus, kept, weighted, sigma, weights, "tensor", "mean", True, decide)
    full = _facts._merge_facts(*args)
    bare = _facts._merge_facts(*args, merged=False)
    assert full[1].shape == (20_000,)
    assert bare[1] is None
    for a, b in [(full[0], bare[0]), (full[2], bare[2]), (full[3], bare[3])]:
        assert_array_equal(a.view(np.uint64), b.view(np.uint64))


@pytest.mark.parametrize("merge", ["max", "mean"])
def test_merge_facts_merge_overflowing_task_vectors_as_ties_merge_does(merge):
    from coda.merging._rules import _tensor_update

    # Finite inputs whose task vectors overflow to +-inf: an inf of the losing
    # sign times its 0 agreement is NaN, which numpy's max (and mean) carries.
    rng = np.random.default_rng(9)
    n, big = 3000, np.finfo(np.float32).max
    base = (np.where(rng.random(n) < 0.5, -big, big) * (rng.random(n) < 0.3)).astype(np.float32)
    tensors = [(-base * (rng.random(n) < 0.6)).astype(np.float32) for _ in range(3)]
    weights = np.array([0.5, -1.0, 2.0], dtype=np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        decide = (0.2, False, None)
        facts = _facts._merge_facts(
            tensors, None, None, None, weights, "tensor", merge, True, decide, base
        )
        merged = _tensor_update(base, tensors, 0.2, "mass", merge, weights, True)
        taus = naive_merging.task_vector_stack(base, tensors, True)
        want = naive_merging.tensor_update(base, tensors, True, 0.2, "mass", merge, weights, True)
    assert np.isnan(merged).any() and np.isinf(taus).any()
    assert_array_equal(merged.view(np.uint32), want.view(np.uint32))
    assert_array_equal(facts[1].view(np.uint32), want.view(np.uint32))


def test_merge_facts_block_sums_do_not_depend_on_threads(thread_counts):
    import numba

    rng = np.random.default_rng(5)
    # Large enough for several row blocks spread over threads.
    taus, kept, weighted, sigma, weights = _decided(rng, 3, 150_000)
    previous = numba.get_num_threads()
    results = []
    try:
        for threads in thread_counts:
            numba.set_num_threads(threads)
            given = _facts._merge_facts(
                taus, kept, weighted, sigma, weights, "tensor", "mean", True
            )
            decide = (0.2, False, None)  # decided in the kernel, with deferred entries
            fused = _facts._merge_facts(
                taus, None, None, None, weights, "tensor", "mean", True, decide
            )
            results.append((*given, *fused))
    finally:
        numba.set_num_threads(previous)
    for first, again in zip(*results, strict=True):
        assert_array_equal(first, again)


@pytest.mark.parametrize("n_tasks", [3, 11])
def test_sign_states_count_the_columns_of_the_state_stack(n_tasks):
    rng = np.random.default_rng(n_tasks)
    taus, kept, weighted, sigma, weights = _decided(rng, n_tasks, 300)
    stack = np.stack(
        [
            np.where(m & (t > 0), 1, 0) + np.where(m & (t < 0), 2, 0)
            for t, m in zip(taus, kept, strict=True)
        ]
    )
    want = {}
    for column in stack.T:
        want[tuple(column)] = want.get(tuple(column), 0) + 1
    # The kernel's histogram of base-3 codes, or None beyond _TERNARY_TASKS.
    histogram = _facts._merge_facts(taus, kept, weighted, sigma, weights, "tensor", "sum", True)[0]
    routes = [None] if histogram is None else [None, histogram]
    for route in routes:
        states, counts = _facts._sign_states(route, taus, kept)
        got = {tuple(int(s) for s in row): int(c) for row, c in zip(states, counts, strict=True)}
        assert got == want


@settings(max_examples=10, deadline=None)
@given(
    st.integers(0, 2**31),
    st.sampled_from(["tensor", "global"]),
    st.sampled_from(["mean", "sum", "max"]),
    st.sampled_from(["mass", "count"]),
)
def test_merged_update_is_ties_merge_bit_for_bit(seed, scope, merge, elect):
    from coda.merging._rules import _decisions

    base, models = _random(seed, n_models=4, shapes=((40,), (6, 5), (1,)))
    zero = {k: np.zeros_like(v, dtype=np.float32) for k, v in base.items()}
    taus = task_vectors(base, models)
    weights = np.array([0.5, 1.0, 2.0, 1.5], dtype=np.float32)
    options = {"density": 0.3, "scope": scope, "merge": merge, "elect": elect}
    merged = ties_merge(zero, taus, weights=weights, **options)
    for key, kept, weighted, sigma in _decisions(zero, taus, 0.3, scope, elect, weights):
        tensors = [tau[key].ravel() for tau in taus]
        update = _facts._merge_facts(tensors, kept, weighted, sigma, weights, scope, merge, True)
        # ties_merge returns 0 + 1 * tau_m: the same bits but for the sign of zero.
        assert_array_equal(update[1], merged[key].ravel())


def test_merge_facts_pass_with_disable_jit():
    """Re-run the kernel's tests with numba's JIT off, so its lines run as Python."""
    naive.run_without_jit(
        __file__, "merge_facts_matches_twin or sign_states or deciding_in_the_kernel"
    )


# ---------------------------------------------------------------------------
# integer and boolean tensors (buffers) are not layers


def _with_buffers(seed):
    base, models = _random(seed)
    buffers = {"ids": np.arange(2**24, 2**24 + 4), "mask": np.array([True, False, True])}
    # Buffers first, between and last in the base's order.
    base = {"ids": buffers["ids"], **base, "mask": buffers["mask"]}
    models = [{"ids": buffers["ids"].copy(), **m, "mask": buffers["mask"].copy()} for m in models]
    return base, models, _random(seed)


_STATISTICS = [
    (task_shares, {}),
    (task_shares, {"closed": False}),
    (mass_fate, {"density": 0.4, "scope": "global"}),
    (mass_fate, {"density": 0.4, "weights": [1.0, 2.0, 0.5]}),
    (ownership, {"density": 0.3, "scope": "global", "merge": "max"}),
    (ownership, {"density": 0.3, "normalize": False}),
]


@pytest.mark.parametrize(("statistic", "options"), _STATISTICS)
def test_statistics_skip_integer_tensors(statistic, options):
    base, models, (floats, float_models) = _with_buffers(3)
    expected = statistic(floats, float_models, **options)
    pd.testing.assert_frame_equal(statistic(base, models, **options), expected)
    # A pooling may list the buffers or leave them out; a layer of buffers alone goes.
    listed = {"a": ["ids", "t0", "t1"], "b": ["t2"], "c": ["mask"]}
    pooled = statistic(floats, float_models, layers={"a": ["t0", "t1"], "b": ["t2"]}, **options)
    pd.testing.assert_frame_equal(statistic(base, models, layers=listed, **options), pooled)
    without = {"a": ["t0", "t1"], "b": ["t2"]}
    pd.testing.assert_frame_equal(statistic(base, models, layers=without, **options), pooled)


@pytest.mark.parametrize("scope", ["tensor", "global"])
def test_entry_categories_skip_integer_tensors(scope):
    base, models, (floats, float_models) = _with_buffers(4)
    options = {"density": 0.3, "scope": scope, "n_permutations": 3, "seed": 2}
    got = entry_categories(base, models, **options)
    expected = entry_categories(floats, float_models, **options)
    for field in ("observed", "null", "permutation"):
        pd.testing.assert_frame_equal(getattr(got, field), getattr(expected, field))


@pytest.mark.parametrize(("statistic", "options"), _STATISTICS)
def test_statistics_of_models_with_only_integer_tensors_are_an_error(statistic, options):
    base = {"ids": np.arange(3), "mask": np.array([True])}
    models = [dict(base) for _ in range(3)]
    with pytest.raises(
        ValueError,
        match=r"every tensor of the base is integer or boolean \(ids, mask\): buffers .* "
        "the statistics skip, so there is nothing to describe; pass checkpoints that hold "
        "floating-point weights",
    ):
        statistic(base, models, **options)


def test_statistics_refuse_a_changed_integer_tensor():
    base, models, _ = _with_buffers(5)
    models[2]["ids"] = models[2]["ids"] + 1
    with pytest.raises(ValueError, match=r"tensor 'ids' of models\[2\] differs from the base"):
        task_shares(base, models)
