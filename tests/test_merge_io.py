"""Tests of merging from and to disk: coda.merging.ties with paths and out=, and coda merge."""

from __future__ import annotations

import json
import os
import sys
import tracemalloc
import weakref

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from coda.cli import main
from coda.merging import Checkpoint, dare, open_checkpoint, task_arithmetic, ties_merge
from coda.merging.checkpoints import write_checkpoint

METADATA = {"format": "np", "model": "base"}


def _model(seed, shapes):
    rng = np.random.default_rng(seed)
    return {key: rng.standard_normal(shape, dtype=np.float32) for key, shape in shapes.items()}


SHAPES = {"b.weight": (6, 5), "a.bias": (7,), "c.weight": (3, 4), "d": (1,)}


@pytest.fixture
def models_on_disk(tmp_path):
    """Base and three fine-tuned models in memory and as safetensors files."""
    # files list their tensors sorted, and DARE draws in the base's key order:
    # the in-memory twins list them sorted too
    base = dict(sorted(_model(0, SHAPES).items()))
    tuned = [{k: v + _model(s, SHAPES)[k] for k, v in base.items()} for s in (1, 2, 3)]
    base_path = write_checkpoint(base, tmp_path / "base.safetensors", metadata=METADATA)
    paths = [write_checkpoint(m, tmp_path / f"ft{t}.safetensors") for t, m in enumerate(tuned)]
    return base, tuned, base_path, paths


MERGES = [
    (task_arithmetic, {"weights": [1.0, 0.5, 2.0], "lam": 0.7}),
    (ties_merge, {"density": 0.3, "scope": "tensor", "weights": [1.0, 0.5, 2.0]}),
    (ties_merge, {"density": 0.3, "scope": "global", "lam": 0.9}),
    (ties_merge, {"density": 0.2, "scope": "global", "elect": "count", "merge": "max"}),
    (ties_merge, {"density": 1.0, "scope": "global"}),
    (ties_merge, {"density": 0.5, "scope": "tensor", "merge": "sum"}),
    (dare, {"density": 0.4, "seed": 3}),
    (dare, {"density": 0.6, "seed": 5, "rescale": "l1", "weights": [0.2, 1.0, 1.0]}),
]


@pytest.mark.parametrize(("merge", "options"), MERGES)
def test_merge_from_files_equals_merge_in_memory_bit_for_bit(models_on_disk, merge, options):
    base, tuned, base_path, paths = models_on_disk
    expected = merge(base, tuned, **options)
    got = merge(base_path, paths, **options)
    assert list(got) == sorted(base)
    for key in base:
        assert got[key].dtype == np.float32
        assert_array_equal(got[key], expected[key], strict=True)


@pytest.mark.parametrize(("merge", "options"), MERGES)
def test_mixed_paths_and_checkpoints_and_mappings(models_on_disk, merge, options):
    base, tuned, _, paths = models_on_disk
    expected = merge(base, tuned, **options)
    with open_checkpoint(paths[1]) as middle:
        got = merge(base, [paths[0], middle, tuned[2]], **options)
        # a Checkpoint passed in stays open for its owner
        assert middle.read("d").shape == (1,)
    for key in base:
        assert_array_equal(got[key], expected[key], strict=True)


def test_dare_from_a_generator_leaves_it_where_the_in_memory_merge_does(models_on_disk):
    base, tuned, base_path, paths = models_on_disk
    first, second = np.random.default_rng(11), np.random.default_rng(11)
    expected = dare(base, tuned, density=0.5, seed=first)
    got = dare(base_path, paths, density=0.5, seed=second)
    for key in base:
        assert_array_equal(got[key], expected[key], strict=True)
    assert first.random() == second.random()


def test_dare_with_a_generator_that_cannot_advance(models_on_disk):
    base, tuned, base_path, paths = models_on_disk
    expected = dare(base, tuned, density=0.5, seed=np.random.Generator(np.random.MT19937(4)))
    got = dare(base_path, paths, density=0.5, seed=np.random.Generator(np.random.MT19937(4)))
    for key in base:
        assert_array_equal(got[key], expected[key], strict=True)


@pytest.mark.parametrize(("merge", "options"), MERGES[:4] + MERGES[6:7])
@pytest.mark.parametrize("shard", [None, 100])
def test_out_writes_a_readable_checkpoint_with_the_base_metadata(
    models_on_disk, tmp_path, merge, options, shard
):
    base, tuned, base_path, paths = models_on_disk
    expected = merge(base, tuned, **options)
    out = tmp_path / "merged" / "model.safetensors"
    out.parent.mkdir()
    written = merge(base_path, paths, out=out, max_shard_bytes=shard, **options)
    names = sorted(p.name for p in out.parent.iterdir())
    if shard is None:
        assert written == out
        assert names == ["model.safetensors"]
    else:
        assert written.name == "model.safetensors.index.json"
        assert len(names) > 2
        assert all(n.startswith("model") for n in names)
    with open_checkpoint(written) as merged:
        assert merged.metadata == METADATA
        assert merged.keys() == sorted(base)
        for key in base:
            assert_array_equal(merged.read(key), expected[key], strict=True)


def test_out_from_mappings_has_no_metadata(models_on_disk, tmp_path):
    base, tuned, _, _ = models_on_disk
    written = ties_merge(base, tuned, density=0.5, out=tmp_path / "m.safetensors")
    with open_checkpoint(written) as merged:
        assert merged.metadata == {}
        assert_array_equal(
            merged.read("b.weight"), ties_merge(base, tuned, density=0.5)["b.weight"]
        )


def test_max_shard_bytes_needs_out(models_on_disk):
    base, tuned, _, _ = models_on_disk
    with pytest.raises(ValueError, match=r"max_shard_bytes=10 without out; .*pass out="):
        task_arithmetic(base, tuned, max_shard_bytes=10)
    with pytest.raises(TypeError, match=r"max_shard_bytes=1.5; expected a positive integer"):
        dare(base, tuned, density=0.5, out="x.safetensors", max_shard_bytes=1.5)


def _corrupt(tmp_path, paths):
    broken = tmp_path / "broken.safetensors"
    data = paths[1].read_bytes()
    broken.write_bytes(data[: len(data) - 20])
    return broken


@pytest.mark.parametrize(("merge", "options"), MERGES[:3] + MERGES[6:7])
def test_corrupt_or_mismatched_model_raises_before_any_output(
    models_on_disk, tmp_path, merge, options
):
    _base, tuned, base_path, paths = models_on_disk
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "model.safetensors"
    broken = _corrupt(tmp_path, paths)
    with pytest.raises(ValueError, match=r"broken\.safetensors' is corrupt or truncated"):
        merge(base_path, [paths[0], broken, paths[2]], out=out, **options)
    odd = dict(tuned[2])
    odd["c.weight"] = np.zeros((4, 3), dtype=np.float32)
    odd_path = write_checkpoint(odd, tmp_path / "odd.safetensors")
    with pytest.raises(ValueError, match=r"tensor 'c.weight' has shape \(4, 3\) in checkpoint "):
        merge(base_path, [paths[0], paths[1], odd_path], out=out, **options)
    extra = write_checkpoint({**tuned[0], "e": np.ones(2)}, tmp_path / "extra.safetensors")
    with pytest.raises(ValueError, match=r"extra\.safetensors' has tensors missing from the base"):
        merge(base_path, [paths[0], extra, paths[2]], out=out, **options)
    with pytest.raises(FileNotFoundError):
        merge(base_path, [*paths[:2], tmp_path / "absent.safetensors"], out=out, **options)
    assert list(out_dir.iterdir()) == []


def test_non_finite_model_leaves_no_output(models_on_disk, tmp_path):
    _base, tuned, base_path, paths = models_on_disk
    bad = dict(tuned[0])
    bad["d"] = np.array([np.nan], dtype=np.float32)
    bad_path = write_checkpoint(bad, tmp_path / "nan.safetensors")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(ValueError, match=r"'d'.*nan\.safetensors"):
        ties_merge(
            base_path,
            [paths[0], bad_path],
            density=0.5,
            out=out_dir / "m.safetensors",
            max_shard_bytes=50,
        )
    assert list(out_dir.iterdir()) == []


class _Recorder:
    """A fake checkpoint backend that records reads and how many read arrays are alive."""

    def __init__(self, tensors, log):
        self._tensors = tensors
        self.metadata = {}
        self.log = log

    def keys(self):
        return sorted(self._tensors)

    def shape(self, name):
        return self._tensors[name].shape

    def dtype(self, name):
        return self._tensors[name].dtype

    def raw(self, name):
        # float16 forces Checkpoint.read to widen, so the array we hand out is
        # the one read() returns; finalize tracks when the merge lets go of it
        # (the widened float32 array is what the merge keeps or drops).
        return self._tensors[name].astype(np.float16)

    def file_of(self, name):
        return None

    def close(self):
        pass


class _Tracked(Checkpoint):
    """A checkpoint counting the tensors it has handed out that are still alive."""

    def __init__(self, tensors, log, live):
        super().__init__(_Recorder(tensors, log), "'<fake>'")
        self._log = log
        self._live = live

    def read(self, name, /):
        array = super().read(name)
        self._log.append(name)
        self._live["now"] += 1
        self._live["max"] = max(self._live["max"], self._live["now"])
        weakref.finalize(array, self._release)
        return array

    def _release(self):
        self._live["now"] -= 1

    def _view(self, name):
        # The merges read through _view (views of memory maps for files);
        # here every read is tracked the same way.
        return self.read(name)


def _half(seed, shapes):
    # values exact in float16, so the widened fakes equal the float32 originals
    return {k: v.astype(np.float16).astype(np.float32) for k, v in _model(seed, shapes).items()}


@pytest.mark.parametrize(
    ("merge", "options", "reads_per_key"),
    [
        (task_arithmetic, {}, 1),
        (ties_merge, {"density": 0.3}, 1),
        (dare, {"density": 0.5, "seed": 0}, 1),
        # two selection passes, the majority pass and the merge pass
        (ties_merge, {"density": 0.3, "scope": "global"}, 4),
    ],
)
def test_merging_holds_one_tensor_per_model_at_a_time(tmp_path, merge, options, reads_per_key):
    shapes = {f"layer{i}": (5, 4) for i in range(8)}
    base = _half(0, shapes)
    tuned = [{k: v + _half(s, shapes)[k] for k, v in base.items()} for s in (1, 2, 3)]
    tuned = [{k: v.astype(np.float16).astype(np.float32) for k, v in m.items()} for m in tuned]
    log, live = [], {"now": 0, "max": 0}
    fakes = [_Tracked(m, log, live) for m in (base, *tuned)]
    got = merge(fakes[0], fakes[1:], out=tmp_path / "m.safetensors", max_shard_bytes=80, **options)
    # at most the base and one tensor of every model are alive at once
    assert live["max"] <= len(fakes)
    # every pass visits the tensors key by key: the T + 1 reads of one key are consecutive
    assert len(log) == reads_per_key * len(shapes) * len(fakes)
    blocks = [log[i : i + len(fakes)] for i in range(0, len(log), len(fakes))]
    assert all(len(set(block)) == 1 for block in blocks)
    expected = merge(base, tuned, **options)
    with open_checkpoint(got) as merged:
        for key in shapes:
            assert_array_equal(merged.read(key), expected[key])


def _peak_merge_bytes(tmp_path, n, size, merge, options):
    """Peak traced memory of merging 3 models of ``n`` tensors of ``size`` from disk to disk."""
    shapes = {f"t{i}": (size,) for i in range(n)}
    base = _model(0, shapes)
    base_path = write_checkpoint(base, tmp_path / f"base{n}.safetensors")
    paths = [
        write_checkpoint(
            {k: v + _model(s, shapes)[k] for k, v in base.items()},
            tmp_path / f"m{n}-{s}.safetensors",
        )
        for s in (1, 2, 3)
    ]
    del base
    out = tmp_path / f"out{n}.safetensors"
    tracemalloc.start()
    try:
        merge(base_path, paths, out=out, max_shard_bytes=4 * size, **options)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(
    ("merge", "options"),
    [
        (task_arithmetic, {}),
        (ties_merge, {"density": 0.2}),
        (ties_merge, {"density": 0.2, "scope": "global"}),
        (dare, {"density": 0.2, "seed": 0}),
    ],
)
def test_peak_memory_does_not_grow_with_the_number_of_tensors(tmp_path, merge, options):
    size = 20_000
    # a first merge compiles the kernels and fills caches, which would count
    # towards whichever call came first
    (tmp_path / "warm").mkdir()
    _peak_merge_bytes(tmp_path / "warm", 3, size, merge, options)
    few = _peak_merge_bytes(tmp_path, 3, size, merge, options)
    many = _peak_merge_bytes(tmp_path, 24, size, merge, options)
    # whole models in memory would add the 4 models' copies of each of the 21
    # more tensors (320 kB each); a tensor at a time adds only bookkeeping (names,
    # headers, one shard each: about 3 kB a tensor)
    per_tensor = (many - few) / 21
    assert per_tensor < 0.1 * (4 * size)


# ---------------------------------------------------------------------------
# coda merge


def test_cli_merge_end_to_end(models_on_disk, tmp_path, capsys):
    base, tuned, base_path, paths = models_on_disk
    out = tmp_path / "cli" / "model.safetensors"
    argv = ["merge", str(base_path), *map(str, paths), "--method", "ties", "--density", "0.3"]
    argv += ["--scope", "global", "--weights", "1,0.5,2", "--lam", "0.8", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "ties" in printed and "4 tensors" in printed and "3 models" in printed
    assert str(out) in printed
    expected = ties_merge(base, tuned, density=0.3, scope="global", weights=[1, 0.5, 2], lam=0.8)
    with open_checkpoint(out) as merged:
        assert merged.metadata == METADATA
        for key in base:
            assert_array_equal(merged.read(key), expected[key], strict=True)


@pytest.mark.parametrize(
    ("method", "extra", "expected"),
    [
        ("task_arithmetic", [], lambda b, m: task_arithmetic(b, m, lam=1.0)),
        (
            "dare",
            ["--seed", "4", "--density", "0.5"],
            lambda b, m: dare(b, m, density=0.5, seed=4),
        ),
    ],
)
def test_cli_other_methods_and_sharding(models_on_disk, tmp_path, capsys, method, extra, expected):
    base, tuned, base_path, paths = models_on_disk
    out = tmp_path / "model.safetensors"
    argv = ["merge", str(base_path), *map(str, paths), "--method", method, "--out", str(out)]
    assert main([*argv, *extra, "--max-shard-bytes", "100"]) == 0
    printed = capsys.readouterr().out
    index = tmp_path / "model.safetensors.index.json"
    assert str(index) in printed
    reference = expected(base, tuned)
    with open_checkpoint(index) as merged:
        for key in base:
            assert_array_equal(merged.read(key), reference[key], strict=True)


def test_cli_merge_errors_exit_2_with_one_line(models_on_disk, tmp_path, capsys):
    _base, tuned, base_path, paths = models_on_disk
    out = tmp_path / "o" / "model.safetensors"
    out.parent.mkdir()
    cases = {
        "does not exist": [str(tmp_path / "absent.safetensors")],
        "corrupt or truncated": [str(_corrupt(tmp_path, paths))],
        "has shape": [
            str(write_checkpoint({**tuned[0], "d": np.ones(2)}, tmp_path / "w.safetensors"))
        ],
    }
    for message, models in cases.items():
        assert main(["merge", str(base_path), *models, "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("coda: error: ") and message in err
        assert err.count("\n") == 1
    assert (
        main(["merge", str(base_path), str(paths[0]), "--weights", "1,2", "--out", str(out)]) == 2
    )
    assert "weights" in capsys.readouterr().err
    assert list(out.parent.iterdir()) == []
    nested = tmp_path / "new" / "deeper" / "model.safetensors"
    bad_density = ["--density", "2", "--out", str(nested)]
    assert main(["merge", str(base_path), str(paths[0]), *bad_density]) == 2
    assert "density" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()
    assert main(["merge", str(base_path), str(paths[0]), "--weights", "1,x"]) == 2
    assert "--weights holds 'x', which is not a number" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--density", "0"], "--density=0.0; expected a number in (0, 1]"),
        (
            ["--max-shard-bytes", "0"],
            "--max-shard-bytes=0; expected a positive number of bytes, or leave it out",
        ),
        (["--weights", "1,2,3"], "--weights has shape (3,)"),
        (["--out", "o/m.bin"], "--out='o/m.bin' does not end in .safetensors"),
    ],
)
def test_cli_merge_errors_name_the_options(models_on_disk, tmp_path, capsys, extra, message):
    # the merging functions' messages named their Python arguments (density=,
    # max_shard_bytes=, weights, path=)
    _, _, base_path, paths = models_on_disk
    out = ["--out", str(tmp_path / "m.safetensors")] if "--out" not in extra else []
    assert main(["merge", str(base_path), *map(str, paths[:2]), *extra, *out]) == 2
    assert capsys.readouterr().err.startswith(f"coda: error: {message}")


def test_cli_merge_names_a_missing_model_ft(models_on_disk, tmp_path, capsys):
    _, _, base_path, _ = models_on_disk
    absent = str(tmp_path / "absent.safetensors")
    assert main(["merge", str(base_path), absent, "--out", str(tmp_path / "m.safetensors")]) == 2
    assert capsys.readouterr().err.startswith(f"coda: error: FT={absent!r} does not exist")
    assert main(["merge-stats", str(base_path), str(base_path), "--out", str(tmp_path)]) == 2
    assert "FT holds 1 model(s)" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("method", "option"),
    [
        ("task_arithmetic", ["--density", "5"]),
        ("task_arithmetic", ["--seed", "3"]),
        ("task_arithmetic", ["--scope", "global"]),
        ("ties", ["--seed", "3"]),
        ("dare", ["--scope", "tensor"]),
    ],
)
def test_cli_merge_refuses_options_its_method_does_not_use(
    models_on_disk, tmp_path, capsys, method, option
):
    _, _, base_path, paths = models_on_disk
    out = tmp_path / "o" / "model.safetensors"
    argv = ["merge", str(base_path), str(paths[0]), "--method", method, *option]
    assert main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == f"coda: error: {option[0]} is not used by --method {method}; leave it out\n"
    assert not out.parent.exists()


def test_cli_merge_of_a_pytorch_file_without_torch_is_one_line(
    models_on_disk, tmp_path, capsys, monkeypatch
):
    _, _, base_path, _ = models_on_disk
    (tmp_path / "model.pt").write_bytes(b"not read")
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch raises ImportError
    out = tmp_path / "o" / "model.safetensors"
    assert main(["merge", str(base_path), str(tmp_path / "model.pt"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("coda: error: ") and "needs torch" in err
    assert err.count("\n") == 1
    assert not out.parent.exists()


def test_cli_merge_stats_of_more_than_eight_models_leaves_out_sign_patterns(tmp_path, capsys):
    rng = np.random.default_rng(0)
    base = {f"layer{i}.w": rng.normal(size=(12, 12)).astype(np.float32) for i in range(3)}
    base_path = write_checkpoint(base, tmp_path / "base.safetensors")
    paths = [
        write_checkpoint(
            {k: v + rng.normal(0, 0.1, v.shape).astype(np.float32) for k, v in base.items()},
            tmp_path / f"ft{t}.safetensors",
        )
        for t in range(9)
    ]
    out = tmp_path / "stats"
    assert main(["merge-stats", str(base_path), *map(str, paths), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "no patterns or log_odds tables: sign patterns need at most 8 models" in printed
    written = sorted(p.name for p in out.iterdir())
    assert "shares.csv" in written and "fate.csv" in written
    assert "patterns.csv" not in written and "log_odds.csv" not in written


def test_cli_merge_rejects_unknown_method(models_on_disk, tmp_path):
    _, _, base_path, paths = models_on_disk
    with pytest.raises(SystemExit) as exit_info:
        main(["merge", str(base_path), str(paths[0]), "--method", "magic", "--out", "x"])
    assert exit_info.value.code == 2


# ---------------------------------------------------------------------------
# Scalar tensors, stale outputs and damaged indexes through the merges


@pytest.fixture
def scalar_models(tmp_path):
    """Models holding 0-d tensors (a logit scale, a step count) beside a vector."""
    rng = np.random.default_rng(7)
    base = {
        "logit_scale": np.array(2.5, np.float32),
        "num_batches_tracked": np.array(3.0, np.float32),
        "w": rng.standard_normal(5, dtype=np.float32),
    }
    tuned = [
        {k: v + rng.standard_normal(np.shape(v), dtype=np.float32) for k, v in base.items()}
        for _ in range(3)
    ]
    base_path = write_checkpoint(base, tmp_path / "base.safetensors", metadata=METADATA)
    paths = [write_checkpoint(m, tmp_path / f"ft{t}.safetensors") for t, m in enumerate(tuned)]
    return base, tuned, base_path, paths


@pytest.mark.parametrize(("merge", "options"), MERGES)
@pytest.mark.parametrize("shard", [None, 4])
def test_scalar_tensors_merge_to_files(scalar_models, tmp_path, merge, options, shard):
    base, tuned, base_path, paths = scalar_models
    expected = merge(base, tuned, **options)
    assert expected["logit_scale"].shape == ()
    for inputs in ((base, tuned), (base_path, paths)):
        out = tmp_path / "out" / f"{len(list(tmp_path.glob('out*')))}" / "m.safetensors"
        out.parent.mkdir(parents=True)
        written = merge(*inputs, out=out, max_shard_bytes=shard, **options)
        with open_checkpoint(written) as merged:
            for key in base:
                assert merged.shape(key) == np.shape(base[key])
                assert_array_equal(merged.read(key), expected[key], strict=True)


def test_cli_merge_of_scalar_tensors(scalar_models, tmp_path, capsys):
    base, tuned, base_path, paths = scalar_models
    out = tmp_path / "cli" / "model.safetensors"
    assert main(["merge", str(base_path), *map(str, paths), "--out", str(out)]) == 0
    capsys.readouterr()
    expected = ties_merge(base, tuned, density=0.2)
    with open_checkpoint(out) as merged:
        for key in base:
            assert_array_equal(merged.read(key), expected[key], strict=True)


def test_merging_again_unsharded_replaces_an_earlier_sharded_merge(models_on_disk, tmp_path):
    base, tuned, base_path, paths = models_on_disk
    out = tmp_path / "merged" / "model.safetensors"
    out.parent.mkdir()
    ties_merge(base_path, paths, density=0.3, out=out, max_shard_bytes=50)
    task_arithmetic(base_path, paths, out=out)
    assert sorted(p.name for p in out.parent.iterdir()) == ["model.safetensors"]
    expected = task_arithmetic(base, tuned)
    with open_checkpoint(out.parent) as merged:
        for key in base:
            assert_array_equal(merged.read(key), expected[key], strict=True)


def test_a_merge_never_writes_over_its_inputs(tmp_path):
    # Writing the merged model where its (sharded) base is would replace the
    # base's index and remove its shards: the input is refused as an output.
    base = {f"t{i}": np.full(4, i, dtype=np.float32) for i in range(4)}
    tuned = [{k: v + 1 for k, v in base.items()}]
    index = write_checkpoint(base, tmp_path / "model.safetensors", max_shard_bytes=16)
    before = sorted(p.name for p in tmp_path.iterdir())
    for source in (index, tmp_path, open_checkpoint(index)):
        with pytest.raises(
            ValueError,
            match=r"out='.*model\.safetensors' would overwrite or "
            r"remove .*model-0000\d-of-00004\.safetensors, a file of base",
        ):
            task_arithmetic(source, tuned, out=tmp_path / "model.safetensors")
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    model = write_checkpoint(tuned[0], tmp_path / "tuned.safetensors")
    with pytest.raises(ValueError, match=r"a file of models\[1\] '.*tuned\.safetensors'"):
        ties_merge(base, [tuned[0], model], density=0.5, out=model)


@pytest.mark.parametrize(("merge", "options"), MERGES[:3] + MERGES[6:7])
def test_index_with_a_misfiled_tensor_raises_before_any_output(
    models_on_disk, tmp_path, merge, options
):
    _base, tuned, base_path, paths = models_on_disk
    sharded = tmp_path / "sharded"
    sharded.mkdir()
    index = write_checkpoint(tuned[1], sharded / "model.safetensors", max_shard_bytes=50)
    layout = json.loads(index.read_text())
    shard = layout["weight_map"]["b.weight"]
    wrong = next(s for s in sorted(set(layout["weight_map"].values())) if s != shard)
    layout["weight_map"]["b.weight"] = wrong
    index.write_text(json.dumps(layout))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(
        ValueError,
        match=rf"shard index '[^']*index\.json' maps tensor 'b.weight' to the shard '{wrong}'",
    ):
        merge(base_path, [paths[0], sharded, paths[2]], out=out_dir / "m.safetensors", **options)
    assert list(out_dir.iterdir()) == []


def test_merged_files_get_the_mode_of_a_new_file(models_on_disk, tmp_path):
    _base, _tuned, base_path, paths = models_on_disk
    out = tmp_path / "merged" / "model.safetensors"
    out.parent.mkdir()
    old = os.umask(0o022)
    try:
        ties_merge(base_path, paths, density=0.3, out=out, max_shard_bytes=50)
    finally:
        os.umask(old)
    assert {p.stat().st_mode & 0o777 for p in out.parent.iterdir()} == {0o644}


# ---------------------------------------------------------------------------
# integer and boolean tensors (buffers): passed through, never merged


def _buffers():
    """Integer and boolean tensors, with values float32 cannot all hold."""
    return {
        "position_ids": np.arange(2**24, 2**24 + 6, dtype=np.int64).reshape(1, 6),
        "mask": np.array([[True, False], [False, True]]),
        "step": np.array(3, dtype=np.uint8),
    }


@pytest.fixture
def models_with_buffers(tmp_path):
    """models_on_disk with the same buffers in the base and every model."""
    base = dict(sorted({**_model(0, SHAPES), **_buffers()}.items()))
    floats = [k for k, v in base.items() if v.dtype.kind == "f"]
    tuned = [
        {k: v + _model(s, SHAPES)[k] if k in floats else v.copy() for k, v in base.items()}
        for s in (1, 2, 3)
    ]
    base_path = write_checkpoint(base, tmp_path / "base.safetensors", metadata=METADATA)
    paths = [write_checkpoint(m, tmp_path / f"ft{t}.safetensors") for t, m in enumerate(tuned)]
    return base, tuned, base_path, paths


@pytest.mark.parametrize(("merge", "options"), MERGES)
@pytest.mark.parametrize("shard", [None, 60])
def test_integer_tensors_pass_through_merges_of_files_in_their_dtype(
    models_with_buffers, tmp_path, merge, options, shard
):
    base, tuned, base_path, paths = models_with_buffers
    floats = [k for k, v in base.items() if v.dtype.kind == "f"]
    # The floating-point tensors merge as without the buffers (DARE draws for them alone).
    expected = merge(
        {k: base[k] for k in floats}, [{k: m[k] for k in floats} for m in tuned], **options
    )
    expected |= _buffers()
    got = merge(base_path, paths, **options)
    assert list(got) == sorted(base)
    out = tmp_path / "merged" / "model.safetensors"
    out.parent.mkdir()
    written = merge(base_path, paths, out=out, max_shard_bytes=shard, **options)
    with open_checkpoint(written) as merged:
        assert merged.keys() == sorted(base)
        for key in base:
            assert_array_equal(got[key], expected[key], strict=True)
            assert merged.dtype(key) == expected[key].dtype
            assert_array_equal(merged.read(key), expected[key], strict=True)


def test_integer_tensors_of_npz_files_pass_through(models_with_buffers, tmp_path):
    base, tuned, _, _ = models_with_buffers
    np.savez(tmp_path / "base.npz", **base)
    paths = []
    for t, model in enumerate(tuned):
        np.savez(tmp_path / f"ft{t}.npz", **model)
        paths.append(tmp_path / f"ft{t}.npz")
    merged = ties_merge(tmp_path / "base.npz", paths, density=0.3, scope="global")
    expected = ties_merge(base, tuned, density=0.3, scope="global")
    for key in base:
        assert_array_equal(merged[key], expected[key], strict=True)
    assert merged["position_ids"].dtype == np.int64


@pytest.mark.parametrize(("merge", "options"), MERGES)
@pytest.mark.parametrize(
    ("key", "value", "where"),
    [
        ("position_ids", np.arange(2**24 + 1, 2**24 + 7).reshape(1, 6), r"6 of 6 .*0, 1, 2"),
        ("mask", np.array([[True, True], [False, True]]), r"1 of 4 .*positions 1\)"),
        # The base's integers as float32, which rounds the odd ones.
        (
            "position_ids",
            np.arange(2**24, 2**24 + 6).astype(np.float32).reshape(1, 6),
            r"3 of 6 .*positions 1, 3, 5\)",
        ),
    ],
)
def test_a_changed_integer_tensor_in_a_file_raises_before_any_output(
    models_with_buffers, tmp_path, monkeypatch, merge, options, key, value, where
):
    _base, tuned, base_path, paths = models_with_buffers
    changed = write_checkpoint({**tuned[1], key: value}, tmp_path / "changed.safetensors")

    def refuse(*args, **kwargs):
        raise AssertionError("the merge started writing")

    monkeypatch.setattr("coda.merging._sources._write_streamed", refuse)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(
        ValueError,
        match=rf"tensor '{key}' of '[^']*changed\.safetensors' differs from the base "
        rf"'[^']*base\.safetensors' in {where}.*never merged: give that model the base's",
    ):
        merge(base_path, [paths[0], changed, paths[2]], out=out_dir / "m.safetensors", **options)
    assert list(out_dir.iterdir()) == []


def test_integer_tensors_on_a_cluster(models_with_buffers, tmp_path, thread_client):
    client = thread_client
    _base, _tuned, base_path, paths = models_with_buffers
    for scope in ("tensor", "global"):
        local = ties_merge(base_path, paths, density=0.3, scope=scope)
        remote = ties_merge(base_path, paths, density=0.3, scope=scope, client=client)
        assert list(remote) == list(local)
        for key in local:
            assert_array_equal(remote[key], local[key], strict=True)
        out = tmp_path / scope / "model.safetensors"
        out.parent.mkdir()
        ties_merge(base_path, paths, density=0.3, scope=scope, out=out, client=client)
        with open_checkpoint(out) as merged:
            for key in local:
                assert_array_equal(merged.read(key), local[key], strict=True)
            for key, value in _buffers().items():
                assert_array_equal(remote[key], value, strict=True)
                assert_array_equal(merged.read(key), value, strict=True)
