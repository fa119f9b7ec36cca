"""Tests for coda.merging.patterns: S5 conflict curves and S6 sign patterns."""

from itertools import product

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

import coda  # noqa: F401  (registers DataFrame.coda)
from coda.merging import conflict_curve, sign_agreement_log_odds, sign_patterns
from coda.merging.patterns import _agreement_contrasts, _null_conflict

# density 0.5 keeps 2 of 4 per task: t0 -> [3, 0, 0, 2], t1 -> [0, -2, 0, 4],
# t2 -> [-5, 0, 0, 1].
BASE = {"w": np.zeros(4)}
MODELS = [
    {"w": np.array([3.0, -1.0, 0.5, 2.0])},
    {"w": np.array([-1.0, -2.0, 0.1, 4.0])},
    {"w": np.array([-5.0, 0.2, 0.1, 1.0])},
]


def _random(seed, n_models=3, shapes=((40,), (6, 5), (1,))):
    rng = np.random.default_rng(seed)
    base = {f"t{i}": rng.normal(size=s) for i, s in enumerate(shapes)}
    models = [{k: v + rng.normal(size=v.shape) for k, v in base.items()} for _ in range(n_models)]
    return base, models


# ---------------------------------------------------------------------------
# S5 conflict curve


def test_conflict_curve_by_hand():
    curve = conflict_curve(BASE, MODELS, density=0.5)
    # {0,1}: kept at 0, 1, 3, no conflict; {0,2}: kept at 0, 3, conflict at 0;
    # {1,2}: kept at 0, 1, 3, none; all three: conflict at 0 of 0, 1, 3.
    assert_allclose(curve["observed"].to_numpy(), [0.0, 0.5, 0.0, 1 / 3])
    assert list(curve.index.get_level_values("subset")) == [
        "task0,task1",
        "task0,task2",
        "task1,task2",
        "task0,task1,task2",
    ]
    # k = 1/2: m = 2 gives (k/2)/(2-k) = 1/6; m = 3 gives 0.28125/0.875.
    assert_allclose(curve["null"].to_numpy(), [1 / 6, 1 / 6, 1 / 6, 0.28125 / 0.875])
    assert curve.attrs["statistic"] == "conflict_curve"
    assert curve.attrs["scope"] == "tensor"


def test_conflict_curve_global_scope_by_hand():
    # One threshold per task, r = 4 - floor(4 * 0.5) = 2nd smallest |tau|, keep
    # |tau| >= h: t0 -> [3, -1, 0, 2], t1 -> [-1, -2, 0, 4], t2 -> [-5, 0.2, 0, 1].
    curve = conflict_curve(BASE, MODELS, density=0.5, scope="global")
    assert_allclose(curve["observed"].to_numpy(), [1 / 3, 2 / 3, 1 / 3, 2 / 3])
    # Every subset keeps 3 of 4 entries per task: k = 3/4.
    k = 0.75
    assert_allclose(curve["null"].iloc[0], (k / 2) / (2 - k))
    assert curve.attrs["scope"] == "global"


def test_conflict_null_closed_form_against_simulation():
    rng = np.random.default_rng(1)
    n, k = 200_000, 0.3
    for m in (2, 3, 5):
        kept = rng.random((m, n)) < k
        sign = np.where(rng.random((m, n)) < 0.5, 1.0, -1.0)
        values = kept * sign
        some = (values != 0).any(axis=0)
        both = (values > 0).any(axis=0) & (values < 0).any(axis=0)
        simulated = both.sum() / some.sum()
        # Binomial standard error of a share near 0.5 over >= 100k entries < 0.002.
        assert abs(simulated - _null_conflict(k, m)) < 0.008


def test_conflict_curve_observed_matches_null_on_independent_signs():
    # Random independent task vectors: the observed share tracks the null.
    rng = np.random.default_rng(3)
    base = {"w": np.zeros(50_000)}
    models = [{"w": rng.normal(size=50_000)} for _ in range(4)]
    curve = conflict_curve(base, models, density=0.2)
    assert_allclose(curve["observed"], curve["null"], atol=0.02)


def test_conflict_curve_sampling_is_seeded_and_bounded():
    base, models = _random(0, n_models=6)
    first = conflict_curve(base, models, density=0.3, max_subsets=4, seed=7)
    again = conflict_curve(base, models, density=0.3, max_subsets=4, seed=7)
    pd.testing.assert_frame_equal(first, again)
    sizes = first.xs("t0", level="layer").groupby(level="m").size()
    # C(6, m) = 15, 20, 15, 6, 1: capped at 4 except the single subset of 6.
    assert sizes.to_dict() == {2: 4, 3: 4, 4: 4, 5: 4, 6: 1}
    assert first.index.is_unique


def test_conflict_curve_pooling_and_input_untouched():
    base, models = _random(2)
    copies = [{k: v.copy() for k, v in m.items()} for m in models]
    per_tensor = conflict_curve(base, models, density=0.4)
    pooled = conflict_curve(base, models, density=0.4, layers=lambda key: "all")
    for model, copy in zip(models, copies, strict=True):
        for key in model:
            assert_array_equal(model[key], copy[key])
    assert set(pooled.index.get_level_values("layer")) == {"all"}
    assert len(pooled) == len(per_tensor) // 3
    assert ((pooled["observed"] >= 0) & (pooled["observed"] <= 1)).all()


def test_conflict_curve_errors():
    with pytest.raises(ValueError, match="at least 2"):
        conflict_curve(BASE, MODELS[:1], density=0.5)
    with pytest.raises(ValueError, match="max_subsets=0"):
        conflict_curve(BASE, MODELS, density=0.5, max_subsets=0)
    with pytest.raises(ValueError, match="scope='layer' is not a known option"):
        conflict_curve(BASE, MODELS, density=0.5, scope="layer")


# ---------------------------------------------------------------------------
# S6 sign patterns and agreement log odds


def test_sign_patterns_by_hand():
    models = [{"w": np.array([3.0, -1.0, 0.5, -2.0])}, {"w": np.array([1.0, -2.0, 0.1, 4.0])}]
    counts = sign_patterns(BASE, models, density=1.0, closed=False)
    assert list(counts.columns) == ["++", "+-", "-+", "--"]
    assert_array_equal(counts.to_numpy(), [[2.0, 0.0, 1.0, 1.0]])
    # density 0.5: t0 keeps 3, -2 (entries 0, 3); t1 keeps -2, 4 (entries 1, 3):
    # only entry 3 is kept by both, with signs -, +.
    assert_array_equal(
        sign_patterns(BASE, models, density=0.5, closed=False).to_numpy(), [[0, 0, 1, 0]]
    )


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**31), st.integers(2, 5), st.sampled_from([0.5, 1.0]))
def test_sign_patterns_close_and_count_entries_kept_by_all(seed, n_models, density):
    base, models = _random(seed, n_models=n_models)
    shares = sign_patterns(base, models, density=density, layers=lambda key: "all")
    counts = sign_patterns(base, models, density=density, layers=lambda key: "all", closed=False)
    assert shares.shape == (1, 2**n_models)
    if density == 1.0:
        # Every entry of a continuous random task vector is non-zero and kept.
        assert counts.to_numpy().sum() == sum(v.size for v in base.values())
    if counts.to_numpy().sum() > 0:
        assert_allclose(shares.sum(axis=1), 1.0)


def _direct_log_odds(signs: np.ndarray, s: int, t: int, pseudocount=0.5) -> float:
    """Mean over the other tasks' sign configurations of the 2x2 log odds ratio."""
    n_tasks = signs.shape[0]
    others = [u for u in range(n_tasks) if u not in (s, t)]
    logs = []
    for config in product([True, False], repeat=len(others)):
        rows = np.ones(signs.shape[1], dtype=bool)
        for u, c in zip(others, config, strict=True):
            rows &= signs[u] == c
        table = (
            pd.crosstab(
                pd.Categorical(signs[s][rows], categories=[True, False]),
                pd.Categorical(signs[t][rows], categories=[True, False]),
                dropna=False,
            ).to_numpy()
            + pseudocount
        )
        logs.append(np.log(table[0, 0] * table[1, 1] / (table[0, 1] * table[1, 0])))
    return float(np.mean(logs))


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 2**31), st.integers(2, 4))
def test_log_odds_equal_direct_two_by_two_tables(seed, n_models):
    rng = np.random.default_rng(seed)
    n = 300
    shared = rng.normal(size=n)
    base = {"w": np.zeros(n)}
    # Correlated task vectors so that agreement is not trivial.
    models = [{"w": shared * rng.uniform(0, 1) + rng.normal(size=n)} for _ in range(n_models)]
    odds = sign_agreement_log_odds(base, models, density=1.0)
    signs = np.stack([m["w"] > 0 for m in models])
    for s in range(n_models):
        for t in range(s + 1, n_models):
            assert_allclose(odds.loc["w", f"task{s}:task{t}"], _direct_log_odds(signs, s, t))


def test_log_odds_are_log_contrasts():
    for n_tasks in range(2, 6):
        pairs, contrasts = _agreement_contrasts(n_tasks)
        assert len(pairs) == n_tasks * (n_tasks - 1) // 2
        assert_allclose(contrasts.sum(axis=1), 0.0, atol=1e-12)
    # Log-contrasts of the closed composition equal those of the counts.
    base, models = _random(5, n_models=3)
    counts = sign_patterns(base, models, density=1.0, layers=lambda key: "all", closed=False)
    _, contrasts = _agreement_contrasts(3)
    shares = (counts + 0.5) / (counts + 0.5).to_numpy().sum()
    odds = sign_agreement_log_odds(base, models, density=1.0, layers=lambda key: "all")
    assert_allclose(odds.to_numpy(), np.log(shares.to_numpy()) @ contrasts.T)
    assert odds.attrs["pseudocount"] == 0.5


def test_sign_pattern_errors():
    many = [{"w": np.full(4, float(i + 1))} for i in range(9)]
    with pytest.raises(ValueError, match="at most 8 models"):
        sign_patterns(BASE, many, density=0.5)
    with pytest.raises(ValueError, match="pseudocount=0"):
        sign_agreement_log_odds(BASE, MODELS, density=0.5, pseudocount=0)
    with pytest.raises(TypeError, match="pseudocount='a'"):
        sign_agreement_log_odds(BASE, MODELS, density=0.5, pseudocount="a")


# ---------------------------------------------------------------------------
# integer and boolean tensors (buffers) are not layers


@pytest.mark.parametrize(
    ("statistic", "options"),
    [
        (conflict_curve, {"density": 0.4, "seed": 1}),
        (conflict_curve, {"density": 0.4, "scope": "global", "max_subsets": 2, "seed": 1}),
        (sign_patterns, {"density": 0.6}),
        (sign_patterns, {"density": 0.6, "scope": "global", "closed": False}),
        (sign_agreement_log_odds, {"density": 0.7, "scope": "global"}),
    ],
)
def test_sign_statistics_skip_integer_tensors(statistic, options):
    floats, float_models = _random(6, n_models=4)
    ids = np.arange(2**24, 2**24 + 5, dtype=np.int64)
    base = {"ids": ids, **floats, "mask": np.ones((2, 2), dtype=bool)}
    models = [{**base, **m} for m in float_models]
    expected = statistic(floats, float_models, **options)
    pd.testing.assert_frame_equal(statistic(base, models, **options), expected)
    with pytest.raises(ValueError, match="every tensor of the base is integer or boolean"):
        statistic({"ids": ids}, [{"ids": ids}] * 4, **options)
    models[3] = {**models[3], "mask": np.zeros((2, 2), dtype=bool)}
    with pytest.raises(ValueError, match=r"tensor 'mask' of models\[3\] differs .* in 4 of 4"):
        statistic(base, models, **options)
