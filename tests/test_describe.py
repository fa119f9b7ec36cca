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
    with pytest.raises(ValueError, match="scope='global' is not supported by describe"):
        describe(base, models, density=0.5, scope="global")
    with pytest.raises(ValueError, match="at least 2"):
        describe(base, models[:1], density=0.5)
    bad = dict(models[0])
    bad["t0"] = np.zeros(31, dtype=np.float32)
    with pytest.raises(ValueError, match="tensor 't0' has shape"):
        describe(base, [bad, models[1]], density=0.5)
    with pytest.raises(FileNotFoundError):
        describe(tmp_path / "missing.safetensors", models, density=0.5)
