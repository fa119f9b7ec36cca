"""Tests of ties_merge and describe on a dask cluster: the same results as the local run."""

import functools
import importlib
import sys

import distributed
import numpy as np
import pandas as pd
import pytest

from coda.merging import describe, open_checkpoint, ties_merge, write_checkpoint
from tests.test_describe import _frames


@pytest.fixture(scope="module")
def client():
    # Threads in one process: the workers' code is coda's, the start is fast.
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as connected,
    ):
        yield connected


def _models(seed, n_models=4, shapes=((30,), (5, 4), (1,), (8,), (3, 3))):
    rng = np.random.default_rng(seed)
    base = {f"t{i}": rng.normal(size=s).astype(np.float32) for i, s in enumerate(shapes)}
    models = [
        {k: (v + rng.normal(size=v.shape)).astype(np.float32) for k, v in base.items()}
        for _ in range(n_models)
    ]
    return base, models


def _files(directory, seed=0, n_models=4):
    base, models = _models(seed, n_models)
    base_path = write_checkpoint(base, directory / "base.safetensors", metadata={"m": "b"})
    paths = [write_checkpoint(m, directory / f"ft{i}.safetensors") for i, m in enumerate(models)]
    return base_path, paths


def _listing(directory):
    return sorted(p.name for p in directory.iterdir())


@pytest.mark.parametrize(
    "options",
    [
        {"scope": "tensor", "elect": "mass", "merge": "mean"},
        {"scope": "tensor", "elect": "count", "merge": "max", "weights": [1, 2, 0.5, 1]},
        {"scope": "global", "elect": "mass", "merge": "mean"},
        {"scope": "global", "elect": "count", "merge": "sum", "lam": 0.7},
    ],
)
def test_ties_merge_on_a_cluster_equals_the_local_merge(client, tmp_path, options):
    base, models = _files(tmp_path)
    local = ties_merge(base, models, density=0.3, **options)
    remote = ties_merge(base, models, density=0.3, client=client, **options)
    assert list(remote) == list(local)
    for key, tensor in local.items():
        np.testing.assert_array_equal(remote[key], tensor)
        assert remote[key].dtype == tensor.dtype


def test_ties_merge_on_a_cluster_writes_the_same_shards(client, tmp_path):
    base, models = _files(tmp_path)
    (tmp_path / "local").mkdir()
    (tmp_path / "remote").mkdir()
    options = {"density": 0.4, "scope": "global", "max_shard_bytes": 100}
    local = ties_merge(base, models, out=tmp_path / "local" / "model.safetensors", **options)
    remote = ties_merge(
        base, models, out=tmp_path / "remote" / "model.safetensors", client=client, **options
    )
    assert remote.name == local.name == "model.safetensors.index.json"
    assert _listing(tmp_path / "remote") == _listing(tmp_path / "local")
    # Same tensors, order, shards and metadata: the files are byte for byte the same.
    for name in _listing(tmp_path / "local"):
        assert (tmp_path / "remote" / name).read_bytes() == (
            tmp_path / "local" / name
        ).read_bytes()
    with open_checkpoint(remote) as merged:
        assert merged.metadata == {"m": "b"}


@pytest.mark.parametrize(
    ("scope", "layers"),
    [("tensor", None), ("global", None), ("global", {"a": ["t0", "t4"], "b": ["t1", "t2", "t3"]})],
)
def test_describe_on_a_cluster_equals_the_local_description(client, tmp_path, scope, layers):
    base, models = _files(tmp_path, seed=1)
    options = {
        "density": 0.3,
        "scope": scope,
        "layers": layers,
        "elect": "count",
        "weights": [1.0, 0.5, 2.0, 1.0],
        "n_permutations": 2,
        "max_subsets": 3,
        "seed": 4,
    }
    local = describe(base, models, **options)
    remote = describe(base, models, client=client, **options)
    for name, frame in _frames(local).items():
        pd.testing.assert_frame_equal(_frames(remote)[name], frame, check_exact=True, obj=name)
        assert _frames(remote)[name].attrs == frame.attrs


def test_a_task_that_raises_surfaces_and_leaves_no_output(client, tmp_path):
    base, models = _models(2)
    models[1]["t3"][2] = np.nan  # valid headers: only the worker reading t3 sees it
    base_path = write_checkpoint(base, tmp_path / "base.safetensors")
    paths = [write_checkpoint(m, tmp_path / f"ft{i}.safetensors") for i, m in enumerate(models)]
    before = _listing(tmp_path)
    for scope in ("tensor", "global"):
        with pytest.raises(ValueError, match=r"tensor 't3' of .*ft1\.safetensors.* not finite"):
            ties_merge(
                base_path,
                paths,
                density=0.5,
                scope=scope,
                out=tmp_path / "merged.safetensors",
                max_shard_bytes=64,
                client=client,
            )
        assert _listing(tmp_path) == before
    with pytest.raises(ValueError, match="not finite"):
        describe(base_path, paths, density=0.5, client=client)


@pytest.mark.parametrize("module", ["coda.merging._distributed", "coda.merging.describe"])
def test_a_checkpoint_corrupted_after_the_check_leaves_no_output(
    client, tmp_path, monkeypatch, module
):
    from coda.merging.checkpoints import check_compatible

    base, models = _files(tmp_path)

    def check_then_truncate(*args):
        check_compatible(*args)
        data = models[2].read_bytes()
        models[2].write_bytes(data[: len(data) - 40])

    # ties_merge checks in coda.merging._distributed, describe in its own module.
    monkeypatch.setattr(importlib.import_module(module), "check_compatible", check_then_truncate)
    if module == "coda.merging.describe":
        call = functools.partial(describe, base, models, density=0.5, client=client)
    else:
        out = tmp_path / "merged.safetensors"
        call = functools.partial(ties_merge, base, models, density=0.5, out=out, client=client)
    before = _listing(tmp_path)
    with pytest.raises(ValueError, match=r"ft2\.safetensors"):
        call()
    assert _listing(tmp_path) == before


def test_in_memory_models_and_a_wrong_client_are_refused(client, tmp_path):
    base, models = _models(3, n_models=2)
    base_path, paths = _files(tmp_path, n_models=2)
    with pytest.raises(TypeError, match=r"models\[1\] is a dict; with client=\.\.\..*a path"):
        ties_merge(base_path, [paths[0], models[1]], density=0.5, client=client)
    with pytest.raises(TypeError, match="base is a dict; with client"):
        describe(base, paths, density=0.5, client=client)
    with pytest.raises(TypeError, match=r"client is a str; expected a dask\.distributed\.Client"):
        ties_merge(base_path, paths, density=0.5, client="tcp://127.0.0.1:8786")


def test_client_without_dask_names_the_extra(tmp_path, monkeypatch):
    base_path, paths = _files(tmp_path, n_models=2)
    # A None entry in sys.modules makes the import fail as if not installed.
    monkeypatch.setitem(sys.modules, "distributed", None)
    for call in (ties_merge, describe):
        with pytest.raises(ImportError, match=r'pip install "coda-logratio\[dask\]"'):
            call(base_path, paths, density=0.5, client=object())


@pytest.mark.parametrize("scope", ["tensor", "global"])
def test_a_cluster_sum_that_overflows_float32_equals_the_local_merge(client, tmp_path, scope):
    # Two tau of -2e38 sum to -inf in float32; lam 0.5 brings the result back
    # in range. The workers merged tau_m apart from the base (already -inf).
    base = {"w": np.zeros(3, dtype=np.float32)}
    models = [{"w": np.array([-2e38, 1.0, 3.0], dtype=np.float32)}] * 2
    base_path = write_checkpoint(base, tmp_path / "base.safetensors")
    paths = [write_checkpoint(m, tmp_path / f"ft{i}.safetensors") for i, m in enumerate(models)]
    options = {"density": 1.0, "scope": scope, "merge": "sum", "lam": 0.5}
    local = ties_merge(base_path, paths, **options)
    remote = ties_merge(base_path, paths, client=client, **options)
    np.testing.assert_array_equal(local["w"], np.array([-2e38, 1.0, 3.0], dtype=np.float32))
    np.testing.assert_array_equal(remote["w"], local["w"])


@pytest.mark.parametrize("scope", ["tensor", "global"])
def test_a_cluster_merge_near_the_float32_range_equals_the_local_merge(client, tmp_path, scope):
    # theta_0 + lam tau_m overflowed float32 on the workers (they added the
    # base in float32) where the local merge is finite (float64 there).
    base = {"w": np.array([-3e38, 1.0, 2.0, -1.0], dtype=np.float32)}
    models = [{"w": np.array([0.0, 2.0, 2.5, -1.5], dtype=np.float32)}] * 2
    base_path = write_checkpoint(base, tmp_path / "base.safetensors")
    paths = [write_checkpoint(m, tmp_path / f"ft{i}.safetensors") for i, m in enumerate(models)]
    options = {"density": 1.0, "scope": scope, "lam": 2.0}
    local = ties_merge(base_path, paths, **options)
    remote = ties_merge(base_path, paths, client=client, **options)
    assert np.isfinite(local["w"]).all()
    np.testing.assert_array_equal(remote["w"], local["w"])
