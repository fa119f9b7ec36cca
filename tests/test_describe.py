"""Tests for coda.merging.describe: S1 to S6 in one lazy pass over checkpoints."""

import weakref

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

import coda  # noqa: F401  (registers DataFrame.coda)
from coda._results import MergeDescription
from coda.merging import (
    Checkpoint,
    conflict_curve,
    describe,
    entry_categories,
    mass_fate,
    open_checkpoint,
    ownership,
    sign_agreement_log_odds,
    sign_patterns,
    task_shares,
    write_checkpoint,
)


def _random(seed, n_models=3, shapes=((30,), (5, 4), (1,), (8,))):
    rng = np.random.default_rng(seed)
    base = {f"t{i}": rng.normal(size=s).astype(np.float32) for i, s in enumerate(shapes)}
    models = [
        {k: (v + rng.normal(size=v.shape)).astype(np.float32) for k, v in base.items()}
        for _ in range(n_models)
    ]
    return base, models


def _frames(result: MergeDescription) -> dict:
    return {
        "shares": result.shares,
        "observed": result.categories.observed,
        "null": result.categories.null,
        "permutation": result.categories.permutation,
        "fate": result.fate,
        "ownership": result.ownership,
        "conflict": result.conflict,
        "patterns": result.patterns,
        "log_odds": result.log_odds,
    }


def test_describe_equals_the_separate_statistics():
    base, models = _random(0)
    pooling = {"first": ["t0", "t1"], "rest": ["t2", "t3"]}
    options = {"density": 0.4, "layers": pooling}
    result = describe(base, models, weights=[1.0, 2.0, 0.5], seed=0, **options)
    pd.testing.assert_frame_equal(result.shares, task_shares(base, models, layers=pooling))
    weighted = options | {"weights": [1.0, 2.0, 0.5]}
    pd.testing.assert_frame_equal(result.fate, mass_fate(base, models, **weighted))
    pd.testing.assert_frame_equal(result.ownership, ownership(base, models, **weighted))
    categories = entry_categories(base, models, **options)
    pd.testing.assert_frame_equal(result.categories.observed, categories.observed)
    pd.testing.assert_frame_equal(result.categories.null, categories.null)
    pd.testing.assert_frame_equal(result.conflict, conflict_curve(base, models, **options))
    pd.testing.assert_frame_equal(result.patterns, sign_patterns(base, models, **options))
    pd.testing.assert_frame_equal(
        result.log_odds, sign_agreement_log_odds(base, models, **options)
    )
    assert result.shares.attrs["layers"] == pooling
    assert_allclose(result.fate.sum(axis=1), 1.0)
    # The closed frames are compositions df.coda works on.
    assert result.ownership.coda.clr().shape == result.ownership.shape


def test_describe_on_files_equals_describe_on_mappings(tmp_path):
    base, models = _random(1, n_models=4)
    base_path = write_checkpoint(base, tmp_path / "base.safetensors")
    paths = [write_checkpoint(m, tmp_path / f"ft{i}.safetensors") for i, m in enumerate(models)]
    on_files = describe(base_path, paths, density=0.3, seed=5, max_subsets=2)
    in_memory = describe(base, models, density=0.3, seed=5, max_subsets=2)
    for name, frame in _frames(in_memory).items():
        pd.testing.assert_frame_equal(_frames(on_files)[name], frame, obj=name)
    assert (on_files.conflict.groupby(level=["layer", "m"]).size() <= 2).all()


_WHOLE_MODEL = ("shares", "observed", "null", "fate", "ownership", "conflict", "patterns")


def _whole_model(base, models, *, weights, elect, merge, **options):
    """The statistics of describe computed by the whole-model functions."""
    categories = entry_categories(base, models, **options)
    weighted = options | {"weights": weights, "elect": elect}
    return {
        "shares": task_shares(base, models, layers=options["layers"]),
        "observed": categories.observed,
        "null": categories.null,
        "fate": mass_fate(base, models, **weighted),
        "ownership": ownership(base, models, merge=merge, **weighted),
        "conflict": conflict_curve(base, models, **options),
        "patterns": sign_patterns(base, models, **options),
        "log_odds": sign_agreement_log_odds(base, models, **options),
    }


@pytest.mark.parametrize(
    ("seed", "n_models", "elect", "merge", "pooled"),
    [
        (10, 3, "mass", "mean", False),
        (11, 4, "count", "sum", True),
        (12, 2, "count", "max", False),
        (13, 5, "mass", "mean", True),
    ],
)
def test_describe_global_equals_the_whole_model_statistics(seed, n_models, elect, merge, pooled):
    # Ties of the count election (an even number of kept signs) fall back on
    # the model-wide majority, so these cases exercise it.
    base, models = _random(seed, n_models=n_models, shapes=((30,), (5, 4), (1,), (8,), (3, 3)))
    pooling = {"first": ["t0", "t1", "t4"], "rest": ["t2", "t3"]} if pooled else None
    weights = np.linspace(0.5, 2.0, n_models).tolist()
    options = {"density": 0.3, "scope": "global", "layers": pooling}
    result = describe(base, models, weights=weights, elect=elect, merge=merge, seed=0, **options)
    expected = _whole_model(base, models, weights=weights, elect=elect, merge=merge, **options)
    for name, frame in expected.items():
        pd.testing.assert_frame_equal(_frames(result)[name], frame, check_exact=True, obj=name)
    assert result.fate.attrs["scope"] == "global"
    # Global trimming leaves each layer its own kept fraction, not K.
    assert_allclose(result.fate.sum(axis=1), 1.0)


def test_describe_global_on_files_equals_in_memory(tmp_path):
    base, models = _random(14, n_models=4)
    base_path = write_checkpoint(base, tmp_path / "base.safetensors")
    paths = [write_checkpoint(m, tmp_path / f"ft{i}.safetensors") for i, m in enumerate(models)]
    options = {"density": 0.2, "scope": "global", "seed": 3, "elect": "count"}
    on_files = describe(base_path, paths, **options)
    in_memory = describe(base, models, **options)
    for name, frame in _frames(in_memory).items():
        pd.testing.assert_frame_equal(_frames(on_files)[name], frame, check_exact=True, obj=name)


def test_describe_tensor_scope_equals_the_whole_model_statistics_exactly():
    base, models = _random(15, n_models=3)
    pooling = {"first": ["t0", "t3"], "rest": ["t1", "t2"]}
    options = {"density": 0.4, "scope": "tensor", "layers": pooling}
    result = describe(base, models, weights=[1.0, 2.0, 0.5], elect="count", seed=0, **options)
    expected = _whole_model(
        base, models, weights=[1.0, 2.0, 0.5], elect="count", merge="mean", **options
    )
    for name, frame in expected.items():
        pd.testing.assert_frame_equal(_frames(result)[name], frame, check_exact=True, obj=name)


def test_describe_permutation_null_uses_one_child_generator_per_layer():
    base, models = _random(16, n_models=3)
    result = describe(base, models, density=0.5, n_permutations=2, seed=7)
    # Children of the seed's generator, whatever the S5 subsets drew from it.
    children = np.random.default_rng(7).spawn(len(base))
    for key, child in zip(sorted(base), children, strict=True):
        alone = entry_categories(
            {key: base[key]},
            [{key: m[key]} for m in models],
            density=0.5,
            n_permutations=2,
            seed=child,
        )
        pd.testing.assert_frame_equal(
            result.categories.permutation.loc[[key]],
            alone.permutation,
            check_exact=True,
            check_like=False,
            obj=key,
        )


@pytest.mark.parametrize("scope", ["tensor", "global"])
def test_describe_samples_the_subsets_of_conflict_curve(scope):
    # C(6, m) > 4 for m = 2..4: sampled subsets, the same for the same seed.
    base, models = _random(18, n_models=6)
    options = {"density": 0.5, "scope": scope, "max_subsets": 4}
    for seed in (3, 11):
        result = describe(base, models, seed=seed, **options)
        expected = conflict_curve(base, models, seed=seed, **options)
        pd.testing.assert_frame_equal(result.conflict, expected, check_exact=True)
    # A Generator in the same state draws the same subsets too.
    result = describe(base, models, seed=np.random.default_rng(5), **options)
    expected = conflict_curve(base, models, seed=np.random.default_rng(5), **options)
    pd.testing.assert_frame_equal(result.conflict, expected, check_exact=True)
    assert (result.conflict.groupby(level=["layer", "m"]).size() <= 4).all()


def test_describe_records_normalize_in_the_ownership():
    base, models = _random(19, n_models=3)
    options = {"density": 0.5, "weights": [1, 2, 3], "seed": 0}
    normalized = describe(base, models, **options)
    summed = describe(base, models, normalize=False, **options)
    assert not np.allclose(normalized.ownership, summed.ownership)
    assert normalized.ownership.attrs["normalize"] is True
    assert summed.ownership.attrs["normalize"] is False
    pd.testing.assert_frame_equal(
        summed.ownership, ownership(base, models, density=0.5, weights=[1, 2, 3], normalize=False)
    )
    assert (
        summed.ownership.attrs
        == ownership(base, models, density=0.5, weights=[1, 2, 3], normalize=False).attrs
    )
    # The other statistics do not depend on it.
    for name, frame in _frames(summed).items():
        if name != "ownership":
            assert frame.attrs["normalize"] is None, name
            pd.testing.assert_frame_equal(frame, _frames(normalized)[name], obj=name)


_LAYERED = [
    task_shares,
    entry_categories,
    mass_fate,
    ownership,
    conflict_curve,
    sign_patterns,
    sign_agreement_log_odds,
    describe,
]


@pytest.mark.parametrize("statistic", _LAYERED, ids=lambda f: f.__name__)
def test_a_layer_without_tensors_is_refused(statistic):
    # It crashed (describe, entry_categories, mass_fate, conflict_curve) or
    # gave a NaN row (task_shares): a layer with no tensors describes nothing.
    base = {"a": np.zeros(3, np.float32)}
    models = [{"a": np.array([1, 2, 3], np.float32)}, {"a": np.array([1, -2, 3], np.float32)}]
    match = (
        r"layers gives no tensors to the layer\(s\) 'E'; a layer without tensors has no "
        "statistics: leave it out of layers, or give it tensors of the base"
    )
    options = {} if statistic is task_shares else {"density": 0.5}
    with pytest.raises(ValueError, match=match):
        statistic(base, models, layers={"A": ["a"], "E": []}, **options)


class _Counting:
    """A checkpoint backend that records how many tensors it has handed out and are alive."""

    alive = 0
    peak = 0
    reads = 0

    def __init__(self, tensors):
        self._tensors = tensors
        self.metadata = {}

    def keys(self):
        return sorted(self._tensors)

    def shape(self, name):
        return self._tensors[name].shape

    def dtype(self, name):
        return self._tensors[name].dtype

    def raw(self, name):
        array = self._tensors[name].copy()
        cls = type(self)
        cls.alive += 1
        cls.reads += 1
        cls.peak = max(cls.peak, cls.alive)
        weakref.finalize(array, cls._release)
        return array

    view = raw

    @classmethod
    def _release(cls):
        cls.alive -= 1

    def file_of(self, name):
        return None

    def close(self):
        self._tensors = {}


def test_describe_holds_one_tensor_per_checkpoint_at_a_time():
    base, models = _random(2, n_models=3)
    _Counting.alive = _Counting.peak = _Counting.reads = 0
    opened = [Checkpoint(_Counting(m), f"'fake{i}'") for i, m in enumerate([base, *models])]
    result = describe(opened[0], opened[1:], density=0.5, seed=0)
    # Each tensor is read once from each of the 4 checkpoints, and at most one
    # tensor of each is alive at any moment.
    assert _Counting.reads == 4 * len(base)
    assert _Counting.peak <= 4
    assert _Counting.alive == 0
    assert list(result.shares.index) == sorted(base)


def test_describe_global_reads_three_passes_then_one_holding_one_tensor_each():
    base, models = _random(17, n_models=3)
    _Counting.alive = _Counting.peak = _Counting.reads = 0
    opened = [Checkpoint(_Counting(m), f"'fake{i}'") for i, m in enumerate([base, *models])]
    describe(opened[0], opened[1:], density=0.5, scope="global", seed=0)
    # Two histogram passes and one vote pass for the global context, then the
    # statistics: each tensor read four times from each of the 4 checkpoints.
    assert _Counting.reads == 4 * 4 * len(base)
    assert _Counting.peak <= 4
    assert _Counting.alive == 0


def test_describe_does_not_mutate_and_handles_many_models():
    base, models = _random(3, n_models=9, shapes=((12,),))
    copies = [{k: v.copy() for k, v in m.items()} for m in models]
    result = describe(base, models, density=0.5, max_subsets=3, seed=1)
    assert result.patterns is None and result.log_odds is None
    assert result.shares.shape == (1, 9)
    for model, copy in zip(models, copies, strict=True):
        np.testing.assert_array_equal(model["t0"], copy["t0"])


def test_describe_errors_before_reading(tmp_path):
    base, models = _random(4)
    with pytest.raises(ValueError, match="scope"):
        describe(base, models, density=0.5, scope="layer")
    with pytest.raises(ValueError, match="at least 2"):
        describe(base, models[:1], density=0.5)
    bad = dict(models[0])
    bad["t0"] = np.zeros(31, dtype=np.float32)
    with pytest.raises(ValueError, match="tensor 't0' has shape"):
        describe(base, [bad, models[1]], density=0.5)
    with pytest.raises(FileNotFoundError):
        describe(tmp_path / "missing.safetensors", models, density=0.5)


@pytest.mark.parametrize("scope", ["tensor", "global"])
@pytest.mark.parametrize("density", [0.5, 1.0])
def test_describe_names_non_finite_tensors(scope, density):
    # With scope="tensor" the kernels find a non-finite task vector while they
    # select (or, when every entry is kept, check each tensor first); the
    # error names the tensor and the model as the up-front check does.
    base, models = _random(6)
    bad = {k: v.copy() for k, v in models[1].items()}
    bad["t1"][2, 3] = np.nan
    # Both scopes name a mapping by its place, as checkpoints are named.
    model = r"'<models\[1\] in memory>'"
    with pytest.raises(ValueError, match=rf"tensor 't1' of {model} has 1 values that are not"):
        describe(base, [models[0], bad, models[2]], density=density, scope=scope)
    inf_base = {k: v.copy() for k, v in base.items()}
    inf_base["t3"][0] = -np.inf
    with pytest.raises(
        ValueError, match="tensor 't3' of '<base in memory>' has 1 values that are not finite"
    ):
        describe(inf_base, models, density=density, scope=scope)


@pytest.mark.parametrize("scope", ["tensor", "global"])
@pytest.mark.parametrize("density", [0.3, 1.0])
def test_describe_names_the_file_of_a_non_finite_tensor(tmp_path, scope, density):
    base, models = _random(6)
    bad = {k: v.copy() for k, v in models[1].items()}
    bad["t1"][2, 3] = np.nan
    (tmp_path / "bad").mkdir()
    base_path = write_checkpoint(base, tmp_path / "base.safetensors")
    good = write_checkpoint(models[0], tmp_path / "ft0.safetensors")
    nan = write_checkpoint(bad, tmp_path / "bad" / "nan.safetensors")
    with pytest.raises(
        ValueError, match=r"tensor 't1' of '[^']*bad/nan\.safetensors' has 1 values that are not"
    ):
        describe(base_path, [good, nan], density=density, scope=scope)
    inf_base = {k: v.copy() for k, v in base.items()}
    inf_base["t3"][0] = -np.inf
    inf = write_checkpoint(inf_base, tmp_path / "bad" / "inf.safetensors")
    with pytest.raises(ValueError, match=r"tensor 't3' of '[^']*bad/inf\.safetensors' has 1"):
        describe(inf, [good, base_path], density=density, scope=scope)


def _deep(n_layers=12, n_models=3):
    """A model whose layers' sorted names are not in model order (layer10 < layer2)."""
    rng = np.random.default_rng(11)
    base = {f"layer{i}": rng.normal(size=(4, 5)).astype(np.float32) for i in range(n_layers)}
    models = [
        {k: v + rng.normal(scale=i + 1, size=v.shape).astype(np.float32) for k, v in base.items()}
        for i in range(n_models)
    ]
    return base, models


@pytest.mark.parametrize("scope", ["tensor", "global"])
def test_describe_keeps_the_order_of_the_base_mapping(scope):
    base, models = _deep()
    order = list(base)
    assert order != sorted(order)
    result = describe(base, models, density=0.3, scope=scope, seed=0)
    assert list(task_shares(base, models).index) == order
    for name, frame in _frames(result).items():
        assert list(frame.index.get_level_values("layer").unique()) == order, name
    # The fate rows are (task, layer), each task's layers in model order.
    assert list(result.fate.loc["task2"].index) == order
    # The frames are those of the whole-model functions, row for row.
    expected = _whole_model(
        base,
        models,
        weights=None,
        elect="mass",
        merge="mean",
        density=0.3,
        scope=scope,
        layers=None,
    )
    for name, frame in expected.items():
        pd.testing.assert_frame_equal(_frames(result)[name], frame, obj=name)
    # A mapping in another order gives the same rows in that order.
    backwards = dict(reversed(base.items()))
    flipped = describe(backwards, models, density=0.3, scope=scope, seed=0)
    assert list(flipped.shares.index) == order[::-1]
    pd.testing.assert_frame_equal(flipped.shares.loc[order], result.shares)


def test_describe_of_files_lists_layers_sorted_or_in_the_order_of_layers(tmp_path):
    # Checkpoint.keys lists a file's tensors sorted; a layers mapping fixes the order.
    base, models = _deep()
    base_path = write_checkpoint(base, tmp_path / "base.safetensors")
    paths = [write_checkpoint(m, tmp_path / f"ft{i}.safetensors") for i, m in enumerate(models)]
    on_files = describe(base_path, paths, density=0.3, seed=0)
    assert list(on_files.shares.index) == sorted(base)
    in_order = describe(base_path, paths, density=0.3, seed=0, layers={k: [k] for k in base})
    assert list(in_order.shares.index) == list(base)
    in_memory = describe(base, models, density=0.3, seed=0)
    pd.testing.assert_frame_equal(in_order.shares, in_memory.shares)


def test_describe_scalar_tensors_from_files(tmp_path):
    # 0-d tensors (a logit scale, a step count) are layers with one entry.
    rng = np.random.default_rng(4)
    base = {"scale": np.array(1.0, np.float32), "w": rng.normal(size=6).astype(np.float32)}
    models = [
        {"scale": np.array(1.0 + t, np.float32), "w": base["w"] + t + 1.0} for t in range(1, 3)
    ]
    base_path = write_checkpoint(base, tmp_path / "base.safetensors")
    paths = [write_checkpoint(m, tmp_path / f"ft{i}.safetensors") for i, m in enumerate(models)]
    with open_checkpoint(paths[1]) as ckpt:
        assert ckpt.shape("scale") == ()
    for scope in ("tensor", "global"):
        on_files = describe(base_path, paths, density=0.5, scope=scope, seed=0)
        in_memory = describe(base, models, density=0.5, scope=scope, seed=0)
        for name, frame in _frames(in_memory).items():
            pd.testing.assert_frame_equal(_frames(on_files)[name], frame, obj=name)
        assert_allclose(on_files.shares.loc["scale"], [1 / 3, 2 / 3])


def test_describe_task_vectors_that_overflow_from_finite_tensors_are_refused():
    # theta_t - theta_0 may overflow float32 although both are finite: the
    # statistics of inf masses are NaN, so describe names the tensor and model,
    # as the whole-model statistics do.
    base, models = _random(8)
    base["t0"][4] = np.float32(-3e38)
    models[0]["t0"][4] = np.float32(3e38)
    match = r"task vector of tensor 't0' of .*models\[0\].* overflows float32 at 1 values"
    with pytest.raises(ValueError, match=match):
        describe(base, models, density=0.5, seed=0)
    with pytest.raises(ValueError, match=match):
        task_shares(base, models)


def test_describe_layer_without_entries_is_nan_not_an_error():
    # A tensor of shape (0,) (an empty buffer in a state dict) has no
    # composition: every statistic gives NaN for it, the others are unchanged.
    rng = np.random.default_rng(3)
    base = {"a": rng.normal(size=8).astype(np.float32), "e": np.zeros(0, np.float32)}
    models = [
        {"a": base["a"] + rng.normal(size=8).astype(np.float32), "e": np.zeros(0, np.float32)}
        for _ in range(3)
    ]
    with_empty = describe(base, models, density=0.5, seed=0)
    alone = describe({"a": base["a"]}, [{"a": m["a"]} for m in models], density=0.5, seed=0)
    for name, frame in _frames(with_empty).items():
        if frame is None:
            continue
        rows = frame.index.get_level_values("layer") == "e"
        assert frame[rows].isna().all().all(), name
        if name not in ("permutation",):
            pd.testing.assert_frame_equal(
                frame[~rows], _frames(alone)[name], check_exact=True, check_names=False
            )


# ---------------------------------------------------------------------------
# integer and boolean tensors (buffers) are not layers


def _with_buffers(seed):
    floats, float_models = _random(seed)
    buffers = {
        "ids": np.arange(2**24, 2**24 + 6, dtype=np.int64),
        "mask": np.array([[True], [False]]),
        "step": np.array(5, dtype=np.int32),
    }
    base = {"ids": buffers["ids"], **floats, **buffers}
    models = [{**base, **m} for m in float_models]
    return base, models, floats, float_models


def _assert_same_description(got: MergeDescription, expected: MergeDescription):
    for name, frame in _frames(expected).items():
        pd.testing.assert_frame_equal(_frames(got)[name], frame)


@pytest.mark.parametrize("scope", ["tensor", "global"])
@pytest.mark.parametrize("source", ["mapping", "file"])
def test_describe_skips_integer_tensors(tmp_path, scope, source):
    base, models, floats, float_models = _with_buffers(7)
    if source == "file":
        # Files list their tensors sorted: so must the expected description.
        floats = dict(sorted(floats.items()))
        float_models = [dict(sorted(m.items())) for m in float_models]
        base = write_checkpoint(base, tmp_path / "base.safetensors")
        models = [
            write_checkpoint(m, tmp_path / f"ft{t}.safetensors") for t, m in enumerate(models)
        ]
    options = {"density": 0.4, "scope": scope, "seed": 3, "n_permutations": 2}
    expected = describe(floats, float_models, **options)
    _assert_same_description(describe(base, models, **options), expected)
    pooling = {"first": ["t0", "t1"], "rest": ["t2", "t3"]}
    expected = describe(floats, float_models, layers=pooling, **options)
    listed = {"first": ["ids", "t0", "t1"], "rest": ["t2", "mask", "t3"], "counter": ["step"]}
    _assert_same_description(describe(base, models, layers=listed, **options), expected)


def test_describe_refuses_changed_integer_tensors_and_models_of_buffers_alone(tmp_path):
    base, models, _, _ = _with_buffers(8)
    base_path = write_checkpoint(base, tmp_path / "base.safetensors")
    changed = write_checkpoint(
        {**models[1], "step": np.array(6, dtype=np.int32)}, tmp_path / "ft.safetensors"
    )
    with pytest.raises(
        ValueError,
        match=r"tensor 'step' of '[^']*ft\.safetensors' differs from the base "
        r"'[^']*base\.safetensors' in 1 of 1 values \(flat positions 0\); it is int32",
    ):
        describe(base_path, [models[0], changed], density=0.5)
    buffers = {key: base[key] for key in ("ids", "mask", "step")}
    with pytest.raises(ValueError, match=r"every tensor of the base is integer or boolean"):
        describe(buffers, [buffers, buffers], density=0.5)


def test_describe_on_a_cluster_skips_integer_tensors(tmp_path, thread_client):
    client = thread_client
    base, models, floats, float_models = _with_buffers(9)
    base = write_checkpoint(base, tmp_path / "base.safetensors")
    models = [write_checkpoint(m, tmp_path / f"ft{t}.safetensors") for t, m in enumerate(models)]
    for scope in ("tensor", "global"):
        options = {"density": 0.4, "scope": scope, "seed": 1}
        expected = describe(floats, float_models, **options)
        _assert_same_description(describe(base, models, client=client, **options), expected)
