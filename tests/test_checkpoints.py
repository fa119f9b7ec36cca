"""Tests of coda.merging.checkpoints: lazy reading, sharded atomic writing, validation."""

from __future__ import annotations

import errno
import itertools
import json
import os
import struct
import subprocess
import sys
import types
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coda.merging import Checkpoint, check_compatible, open_checkpoint, write_checkpoint
from coda.merging import _formats as formats_module
from coda.merging import _writer as writer_module


def _tensors(seed=0):
    rng = np.random.default_rng(seed)
    return {
        "layers.0.weight": rng.standard_normal((4, 3), dtype=np.float32),
        "layers.0.bias": rng.standard_normal(4, dtype=np.float32),
        "layers.1.weight": rng.standard_normal((2, 4)),
        "step": np.array([7], dtype=np.int64),
        "mask": np.array([True, False]),
    }


def _assert_same(ckpt: Checkpoint, tensors: dict):
    assert ckpt.keys() == sorted(tensors)
    for name, value in tensors.items():
        got = ckpt.read(name)
        assert ckpt.shape(name) == value.shape
        assert ckpt.dtype(name) == value.dtype
        assert got.dtype == value.dtype
        np.testing.assert_array_equal(got, value)


def _data_offsets(path: Path) -> tuple[int, dict]:
    """Return the start of the data section and the header of a safetensors file."""
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    return 8 + length, json.loads(raw[8 : 8 + length])


def test_single_file_round_trip(tmp_path):
    tensors = _tensors()
    out = write_checkpoint(tensors, tmp_path / "model.safetensors", metadata={"format": "pt"})
    assert out == tmp_path / "model.safetensors"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]
    with open_checkpoint(out) as ckpt:
        _assert_same(ckpt, tensors)
        assert ckpt.metadata == {"format": "pt"}
        assert ckpt.file_of("step") == out
    # a directory holding model.safetensors opens the same
    with open_checkpoint(tmp_path) as ckpt:
        _assert_same(ckpt, tensors)


def test_sharded_round_trip_and_index_layout(tmp_path):
    tensors = _tensors()
    out = write_checkpoint(
        tensors, tmp_path / "model.safetensors", metadata={"base": "b0"}, max_shard_bytes=64
    )
    assert out == tmp_path / "model.safetensors.index.json"
    index = json.loads(out.read_text())
    n_shards = len(set(index["weight_map"].values()))
    assert n_shards > 1
    names = sorted(p.name for p in tmp_path.iterdir())
    shards = [f"model-{i:05d}-of-{n_shards:05d}.safetensors" for i in range(1, n_shards + 1)]
    assert names == sorted([*shards, "model.safetensors.index.json"])
    assert index["metadata"]["total_size"] == sum(v.nbytes for v in tensors.values())
    assert set(index["weight_map"]) == set(tensors)
    for source in (out, tmp_path):
        with open_checkpoint(source) as ckpt:
            _assert_same(ckpt, tensors)
            assert ckpt.metadata == {"base": "b0"}
            assert ckpt.file_of("step").name == index["weight_map"]["step"]
    # every shard carries the base metadata
    for shard in shards:
        with open_checkpoint(tmp_path / shard) as ckpt:
            assert ckpt.metadata == {"base": "b0"}


@settings(max_examples=25, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=12),
    limit=st.integers(min_value=1, max_value=200),
)
def test_sharding_respects_the_size_limit(tmp_path_factory, sizes, limit):
    tmp = tmp_path_factory.mktemp("shards")
    tensors = [(f"t{i:02d}", np.arange(n, dtype=np.float32)) for i, n in enumerate(sizes)]
    out = write_checkpoint(iter(tensors), tmp / "model.safetensors", max_shard_bytes=limit)
    if out.name.endswith(".index.json"):
        weight_map = json.loads(out.read_text())["weight_map"]
    else:
        weight_map = {name: out.name for name, _ in tensors}
    per_shard = {}
    for name, array in tensors:
        per_shard.setdefault(weight_map[name], []).append(array.nbytes)
    for shard_sizes in per_shard.values():
        # a tensor larger than the limit is alone in its shard
        assert sum(shard_sizes) <= limit or len(shard_sizes) == 1
    # greedy packing: a shard and the next one's first tensor exceed the limit
    ordered = [per_shard[k] for k in sorted(per_shard)]
    for this, following in itertools.pairwise(ordered):
        assert sum(this) + following[0] > limit
    with open_checkpoint(out) as ckpt:
        _assert_same(ckpt, dict(tensors))


def test_npz_round_trip(tmp_path):
    tensors = _tensors()
    np.savez(tmp_path / "model.npz", **tensors)
    with open_checkpoint(tmp_path / "model.npz") as ckpt:
        _assert_same(ckpt, tensors)
        assert ckpt.metadata == {}


def test_npz_reads_half_precision_as_float32(tmp_path):
    half = np.array([1.5, -2.25, 65504.0], dtype=np.float16)
    np.savez(tmp_path / "model.npz", h=half)
    with open_checkpoint(tmp_path / "model.npz") as ckpt:
        assert ckpt.dtype("h") == np.float16
        got = ckpt.read("h")
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, half.astype(np.float32))


def test_in_memory_mapping_and_no_mutation():
    tensors = _tensors()
    before = {k: v.copy() for k, v in tensors.items()}
    ckpt = open_checkpoint(tensors)
    assert open_checkpoint(ckpt) is ckpt
    _assert_same(ckpt, tensors)
    got = ckpt.read("layers.0.bias")
    got += 1.0
    for name in tensors:
        np.testing.assert_array_equal(tensors[name], before[name])
    assert ckpt.source == "'<in-memory>'"
    assert ckpt.file_of("step") is None
    assert repr(ckpt) == "Checkpoint('<in-memory>', 5 tensors)"


@pytest.mark.parametrize("dtype", [np.float16, ml_dtypes.bfloat16])
def test_half_precision_reads_as_float32_exactly(tmp_path, dtype):
    rng = np.random.default_rng(1)
    # values spread over many binades, plus signed zeros, extremes and infinities
    values = (rng.standard_normal(500) * 10.0 ** rng.integers(-4, 4, 500)).astype(dtype)
    info = ml_dtypes.finfo(dtype)
    special = np.array([0.0, -0.0, np.inf, -np.inf, float(info.max), float(info.tiny)])
    values = np.concatenate([values, special.astype(dtype)])
    out = write_checkpoint({"w": values}, tmp_path / "model.safetensors")
    for source in (out, {"w": values}):
        with open_checkpoint(source) as ckpt:
            assert ckpt.dtype("w") == np.dtype(dtype)
            got = ckpt.read("w")
        assert got.dtype == np.float32
        expected = values.astype(np.float32)
        np.testing.assert_array_equal(got, expected)
        np.testing.assert_array_equal(np.signbit(got), np.signbit(expected))


def test_reading_one_tensor_does_not_touch_the_others(tmp_path):
    tensors = {"bad": np.arange(4, dtype=np.float32), "good": np.arange(3, dtype=np.float32)}
    out = write_checkpoint(tensors, tmp_path / "model.safetensors")
    start, header = _data_offsets(out)
    begin, end = header["bad"]["data_offsets"]
    raw = bytearray(out.read_bytes())
    raw[start + begin : start + end] = np.full(4, np.nan, dtype=np.float32).tobytes()
    out.write_bytes(bytes(raw))
    with open_checkpoint(out) as ckpt:
        np.testing.assert_array_equal(ckpt.read("good"), tensors["good"])
        assert np.isnan(ckpt.read("bad")).all()


def test_reading_is_lazy_through_safe_open(tmp_path, monkeypatch):
    out = write_checkpoint(_tensors(), tmp_path / "model.safetensors")
    requested = []
    real = formats_module.safe_open

    class Recording:
        def __init__(self, *args, **kwargs):
            self._handle = real(*args, **kwargs)

        def __getattr__(self, attr):
            return getattr(self._handle, attr)

        def get_tensor(self, name):
            requested.append(name)
            return self._handle.get_tensor(name)

    monkeypatch.setattr(formats_module, "safe_open", Recording)
    with open_checkpoint(out) as ckpt:
        ckpt.shape("step")
        ckpt.dtype("layers.1.weight")
        assert requested == []
        ckpt.read("step")
    assert requested == ["step"]


def test_iterable_input_is_consumed_shard_by_shard(tmp_path):
    held = []

    def generate():
        for i in range(6):
            held.append(i)
            yield f"t{i}", np.full(8, i, dtype=np.float32)

    out = write_checkpoint(generate(), tmp_path / "model.safetensors", max_shard_bytes=64)
    with open_checkpoint(out) as ckpt:
        assert ckpt.keys() == [f"t{i}" for i in range(6)]
        assert len({ckpt.file_of(k) for k in ckpt.keys()})  # noqa: SIM118 (Checkpoint is not iterable) == 3


def test_failed_write_leaves_no_file(tmp_path, monkeypatch):
    real = writer_module._write_safetensors
    calls = []

    def failing(filename, entries, arrays, metadata):
        calls.append(filename)
        if len(calls) == 2:
            # a partial file, as a crash midway through the second shard would leave
            Path(filename).write_bytes(b"partial")
            raise OSError("disk full")
        return real(filename, entries, arrays, metadata)

    monkeypatch.setattr(writer_module, "_write_safetensors", failing)
    with pytest.raises(OSError, match="disk full"):
        write_checkpoint(_tensors(), tmp_path / "model.safetensors", max_shard_bytes=64)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("max_shard_bytes", [None, 40])
def test_files_are_exactly_header_and_data(tmp_path, max_shard_bytes):
    # The writer reserves each file's size before writing: a wrong size would
    # leave bytes past the data, which safetensors readers reject.
    tensors = {"a": np.ones((3, 5), np.float32), "b": np.arange(7.0), "c": np.zeros(0, np.int8)}
    out = write_checkpoint(
        tensors, tmp_path / "m.safetensors", metadata={"k": "v"}, max_shard_bytes=max_shard_bytes
    )
    files = sorted(tmp_path.glob("*.safetensors"))
    assert (len(files) == 1) == (max_shard_bytes is None)
    for file in files:
        raw = file.read_bytes()
        (length,) = struct.unpack("<Q", raw[:8])
        header = json.loads(raw[8 : 8 + length])
        data = sum(
            e["data_offsets"][1] - e["data_offsets"][0] for e in header.values() if "dtype" in e
        )
        assert len(raw) == 8 + length + data
    with open_checkpoint(out) as ckpt:
        np.testing.assert_array_equal(ckpt.read("b"), np.arange(7.0, dtype=np.float32))


@pytest.mark.skipif(not hasattr(os, "posix_fallocate"), reason="no posix_fallocate here")
def test_full_disk_fails_before_data_is_written(tmp_path, monkeypatch):
    written = []
    real_write = writer_module._write_safetensors

    def no_space(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(writer_module.os, "posix_fallocate", no_space)
    monkeypatch.setattr(
        writer_module, "_write_safetensors", lambda *a: written.append(a[0]) or real_write(*a)
    )
    with pytest.raises(OSError, match="No space left"):
        write_checkpoint(_tensors(), tmp_path / "model.safetensors")
    assert len(written) == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("code", [errno.EOPNOTSUPP, errno.EINVAL])
def test_file_system_without_reservation_is_written_anyway(tmp_path, monkeypatch, code):
    def unsupported(fd, offset, length):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(writer_module.os, "posix_fallocate", unsupported, raising=False)
    out = write_checkpoint(_tensors(), tmp_path / "model.safetensors")
    with open_checkpoint(out) as ckpt:
        for name, values in _tensors().items():
            np.testing.assert_array_equal(ckpt.read(name), values)


def test_failing_generator_leaves_no_file_and_keeps_existing_output(tmp_path):
    old = write_checkpoint({"w": np.zeros(2, dtype=np.float32)}, tmp_path / "model.safetensors")

    def generate():
        yield "w", np.ones(2, dtype=np.float32)
        raise RuntimeError("merge failed")

    with pytest.raises(RuntimeError, match="merge failed"):
        write_checkpoint(generate(), tmp_path / "model.safetensors")
    assert list(tmp_path.iterdir()) == [old]
    with open_checkpoint(old) as ckpt:
        np.testing.assert_array_equal(ckpt.read("w"), np.zeros(2, dtype=np.float32))


def test_empty_checkpoint_round_trip(tmp_path):
    out = write_checkpoint({}, tmp_path / "model.safetensors", metadata={"format": "pt"})
    with open_checkpoint(out) as ckpt:
        assert ckpt.keys() == []
        assert ckpt.metadata == {"format": "pt"}


def test_check_compatible_accepts_matching_models(tmp_path):
    base = write_checkpoint(_tensors(0), tmp_path / "base.safetensors")
    np.savez(tmp_path / "ft.npz", **_tensors(1))
    check_compatible(base, [tmp_path / "ft.npz", _tensors(2)])
    with open_checkpoint(base) as opened:
        check_compatible(opened, [opened])
        # a checkpoint passed in stays open
        assert opened.read("step")[0] == 7


@pytest.mark.parametrize("kind", ["safetensors", "npz", "mapping"])
def test_check_compatible_compares_integer_and_boolean_tensors(tmp_path, kind):
    base = write_checkpoint(_tensors(0), tmp_path / "base.safetensors")
    changed = {**_tensors(1), "step": np.array([8], dtype=np.int64)}
    if kind == "safetensors":
        model, name = (
            write_checkpoint(changed, tmp_path / "ft.safetensors"),
            "'[^']*ft.safetensors'",
        )
    elif kind == "npz":
        np.savez(tmp_path / "ft.npz", **changed)
        model, name = tmp_path / "ft.npz", "'[^']*ft.npz'"
    else:
        model, name = changed, r"'<models\[1\] in memory>'"
    with pytest.raises(
        ValueError,
        match=rf"tensor 'step' of {name} differs from the base '[^']*base\.safetensors' in 1 "
        r"of 1 values \(flat positions 0\); it is int64 in the base, .* passed through a merge "
        "unchanged, never merged: give that model the base's 'step'",
    ):
        check_compatible(base, [_tensors(2), model])
    flipped = {**_tensors(1), "mask": np.array([True, True])}
    with pytest.raises(ValueError, match=r"tensor 'mask' of .* in 1 of 2 values .*bool in the"):
        check_compatible(base, [flipped])
    # A model's integer tensor where the base's is floating point is a weight.
    check_compatible(base, [{**_tensors(1), "layers.0.bias": np.arange(4)}])


def test_check_compatible_extra_tensor(tmp_path):
    base = write_checkpoint(_tensors(0), tmp_path / "base.safetensors")
    model = {**_tensors(1), "head.weight": np.zeros(2)}
    ft = write_checkpoint(model, tmp_path / "ft.safetensors")
    with pytest.raises(
        ValueError,
        match=r"ft\.safetensors' has tensors missing from the base "
        r".*base\.safetensors'.*head\.weight",
    ):
        check_compatible(base, [ft])


def test_check_compatible_missing_tensor(tmp_path):
    base = write_checkpoint(_tensors(0), tmp_path / "base.safetensors")
    model = _tensors(1)
    del model["layers.0.bias"]
    with pytest.raises(
        ValueError,
        # The in-memory model is named by its place in the list.
        match=r"'<models\[1\] in memory>' lacks tensors of the base "
        r".*base\.safetensors'.*layers\.0\.bias",
    ):
        check_compatible(base, [_tensors(1), model])


def test_check_compatible_shape_mismatch(tmp_path):
    base = write_checkpoint(_tensors(0), tmp_path / "base.safetensors")
    model = {**_tensors(1), "layers.0.weight": np.zeros((3, 4), dtype=np.float32)}
    ft = write_checkpoint(model, tmp_path / "ft.safetensors")
    with pytest.raises(
        ValueError,
        match=r"tensor 'layers\.0\.weight' has shape \(3, 4\) in "
        r"checkpoint .*ft\.safetensors' but \(4, 3\) in the base",
    ):
        check_compatible(base, [ft])


def test_truncated_safetensors_names_file_and_tensor(tmp_path):
    out = write_checkpoint(_tensors(), tmp_path / "model.safetensors")
    start, header = _data_offsets(out)
    size = out.stat().st_size
    # cut the file inside the data of the tensor stored last
    last = max(
        (k for k in header if k != "__metadata__"), key=lambda k: header[k]["data_offsets"][1]
    )
    begin, end = header[last]["data_offsets"]
    assert end == size - start and end - begin >= 2
    out.write_bytes(out.read_bytes()[:-1])
    with pytest.raises(
        ValueError,
        match=rf"tensor '{last}' in checkpoint file .*model\."
        r"safetensors' is corrupt or truncated: its data ends .*\(1 tensors",
    ):
        open_checkpoint(out)
    base = write_checkpoint(_tensors(), tmp_path / "base.safetensors")
    with pytest.raises(ValueError, match=rf"tensor '{last}' in checkpoint file"):
        check_compatible(base, [out])


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"abc", "the file has 3 bytes, fewer than a header"),
        (struct.pack("<Q", 1000) + b"{}", "the header claims 1000 bytes"),
        (struct.pack("<Q", 5) + b"{nope", "the header is not valid JSON"),
        (struct.pack("<Q", 2) + b"[]", "the header is not a JSON object"),
        (struct.pack("<Q", 11) + b'{"w": null}', "the header entry has no data_offsets"),
    ],
)
def test_corrupt_safetensors_header(tmp_path, content, problem):
    path = tmp_path / "broken.safetensors"
    path.write_bytes(content)
    with pytest.raises(
        ValueError,
        match=rf"broken\.safetensors' is corrupt or truncated: "
        rf"{problem}",
    ):
        open_checkpoint(path)


def test_header_that_safetensors_rejects(tmp_path):
    path = tmp_path / "odd.safetensors"
    header = json.dumps({"w": {"dtype": "XX", "shape": [1], "data_offsets": [0, 4]}}).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 4)
    with pytest.raises(ValueError, match=r"odd\.safetensors' is corrupt or truncated"):
        open_checkpoint(path)


def test_sharded_checkpoint_with_missing_shard(tmp_path):
    out = write_checkpoint(_tensors(), tmp_path / "model.safetensors", max_shard_bytes=64)
    weight_map = json.loads(out.read_text())["weight_map"]
    shard = weight_map["layers.0.bias"]
    (tmp_path / shard).unlink()
    first = min(k for k, v in weight_map.items() if v == shard)
    with pytest.raises(
        ValueError,
        match=rf"tensor '{first}' in checkpoint file .*index\.json' "
        rf"is corrupt or truncated: its shard '{shard}' is missing",
    ):
        open_checkpoint(tmp_path)


def test_sharded_checkpoint_with_truncated_shard(tmp_path):
    # one tensor per shard
    out = write_checkpoint(_tensors(), tmp_path / "model.safetensors", max_shard_bytes=1)
    shard = tmp_path / json.loads(out.read_text())["weight_map"]["step"]
    shard.write_bytes(shard.read_bytes()[:-1])
    with pytest.raises(ValueError, match=rf"tensor 'step' in checkpoint file .*{shard.name}'"):
        open_checkpoint(out)


def test_bad_index(tmp_path):
    path = tmp_path / "model.safetensors.index.json"
    path.write_text('{"metadata": {}}')
    with pytest.raises(
        ValueError,
        match=r"index\.json' is corrupt or truncated: it is not a "
        "shard index",
    ):
        open_checkpoint(path)


def test_corrupt_npz(tmp_path):
    path = tmp_path / "model.npz"
    path.write_bytes(b"not a zip archive")
    with pytest.raises(
        ValueError,
        match=r"model\.npz' is corrupt or truncated: it is not a "
        r"readable \.npz",
    ):
        open_checkpoint(path)


def test_npz_with_corrupt_member_names_the_tensor(tmp_path):
    path = tmp_path / "model.npz"
    np.savez(path, good=np.arange(3.0), bad=np.arange(3.0))
    raw = bytearray(path.read_bytes())
    # the stored (uncompressed) member "bad.npy" starts with the .npy magic string
    at = raw.find(b"\x93NUMPY", raw.find(b"bad.npy"))
    raw[at : at + 6] = b"XXXXXX"
    path.write_bytes(bytes(raw))
    with open_checkpoint(path) as ckpt:
        np.testing.assert_array_equal(ckpt.read("good"), np.arange(3.0))
        with pytest.raises(ValueError, match=r"tensor 'bad' in checkpoint file .*model\.npz'"):
            ckpt.shape("bad")
        with pytest.raises(ValueError, match=r"tensor 'bad' in checkpoint file .*model\.npz'"):
            ckpt.read("bad")


def test_compressed_npz_with_damaged_data_names_the_tensor(tmp_path):
    path = tmp_path / "model.npz"
    np.savez_compressed(path, good=np.arange(3.0), bad=np.linspace(0, 1, 500))
    raw = bytearray(path.read_bytes())
    # flip bytes inside the deflated data of "bad.npy" (past its local header)
    at = raw.find(b"bad.npy") + 40
    raw[at : at + 30] = bytes(b ^ 0xFF for b in raw[at : at + 30])
    path.write_bytes(bytes(raw))
    with open_checkpoint(path) as ckpt:
        np.testing.assert_array_equal(ckpt.read("good"), np.arange(3.0))
        with pytest.raises(ValueError, match=r"tensor 'bad' in checkpoint file .*model\.npz'"):
            ckpt.read("bad")


def test_torch_file_without_torch_names_the_extra(tmp_path, monkeypatch):
    path = tmp_path / "model.pt"
    path.write_bytes(b"\0")
    # a None entry makes `import torch` fail whether or not torch is installed
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ImportError, match=r"model\.pt' needs torch.*coda-logratio\[merge\]"):
        open_checkpoint(path)


class _FakeTensor:
    """The part of torch.Tensor that the PyTorch reader uses, backed by numpy."""

    def __init__(self, array, dtype):
        self._array, self.dtype, self.shape = array, dtype, array.shape

    def detach(self):
        return self

    def to(self, dtype):
        assert dtype == "float32"
        return _FakeTensor(self._array.astype(np.float32), dtype)

    def numpy(self):
        return self._array


def _fake_torch(loaded, calls):
    torch = types.ModuleType("torch")
    torch.bfloat16, torch.float32 = "bfloat16", "float32"
    torch.empty = lambda shape, dtype: _FakeTensor(np.empty(shape, dtype=dtype), dtype)

    def load(path, **kwargs):
        calls.append(kwargs)
        if isinstance(loaded, Exception):
            raise loaded
        return loaded

    torch.load = load
    return torch


def test_torch_file_is_loaded_with_weights_only(tmp_path, monkeypatch):
    path = tmp_path / "model.pt"
    path.write_bytes(b"\0")
    half = np.array([1.5, -0.0, 3.0e38], dtype=ml_dtypes.bfloat16)
    steps = np.arange(3, dtype=np.int64)
    calls = []
    state = {"w": _FakeTensor(half, "bfloat16"), "b": _FakeTensor(steps, np.int64)}
    monkeypatch.setitem(sys.modules, "torch", _fake_torch(state, calls))
    with open_checkpoint(path) as ckpt:
        assert ckpt.keys() == ["b", "w"]
        assert ckpt.shape("w") == (3,)
        assert ckpt.dtype("w") == np.dtype(ml_dtypes.bfloat16)
        assert ckpt.dtype("b") == np.int64
        np.testing.assert_array_equal(ckpt.read("w"), half.astype(np.float32))
        assert ckpt.read("w").dtype == np.float32
        np.testing.assert_array_equal(ckpt.read("b"), steps)
    assert calls == [{"map_location": "cpu", "weights_only": True, "mmap": True}]


@pytest.mark.parametrize(
    ("loaded", "problem"),
    [
        (RuntimeError("Weights only load failed"), r"torch\.load failed \(Weights only"),
        ([1, 2], "it holds a list, not a state dict"),
    ],
)
def test_torch_file_that_is_not_a_state_dict(tmp_path, monkeypatch, loaded, problem):
    path = tmp_path / "model.bin"
    path.write_bytes(b"\0")
    monkeypatch.setitem(sys.modules, "torch", _fake_torch(loaded, []))
    with pytest.raises(ValueError, match=rf"model\.bin' is corrupt or truncated: {problem}"):
        open_checkpoint(path)


def test_unknown_names_and_options(tmp_path):
    with pytest.raises(
        FileNotFoundError,
        match=r"source='.*nowhere\.safetensors' does not "
        "exist",
    ):
        open_checkpoint(tmp_path / "nowhere.safetensors")
    with pytest.raises(FileNotFoundError, match=r"holds neither model\.safetensors\.index\.json"):
        open_checkpoint(tmp_path)
    (tmp_path / "model.h5").write_bytes(b"")
    with pytest.raises(ValueError, match=r"model\.h5' has an unknown kind of name"):
        open_checkpoint(tmp_path / "model.h5")
    with pytest.raises(TypeError, match=r"source=3; expected a path"):
        open_checkpoint(3)
    ckpt = open_checkpoint(_tensors())
    with pytest.raises(KeyError, match=r"checkpoint '<in-memory>' has no tensor 'nope'"):
        ckpt.read("nope")
    with pytest.raises(TypeError, match="tensor names that are not strings: 1"):
        open_checkpoint({1: np.zeros(2)})
    with pytest.raises(TypeError, match=r"tensors\['s'\] has dtype <U1"):
        open_checkpoint({"s": np.array(["a"])})


def test_write_checkpoint_argument_errors(tmp_path):
    tensors = _tensors()
    with pytest.raises(ValueError, match=r"model\.bin' does not end in \.safetensors"):
        write_checkpoint(tensors, tmp_path / "model.bin")
    with pytest.raises(TypeError, match="metadata has entries that are not str to str"):
        write_checkpoint(tensors, tmp_path / "m.safetensors", metadata={"epoch": 3})
    with pytest.raises(TypeError, match="metadata=3; expected a mapping"):
        write_checkpoint(tensors, tmp_path / "m.safetensors", metadata=3)
    with pytest.raises(TypeError, match=r"max_shard_bytes=1\.5; expected a positive integer"):
        write_checkpoint(tensors, tmp_path / "m.safetensors", max_shard_bytes=1.5)
    with pytest.raises(ValueError, match="max_shard_bytes=0; expected a positive number"):
        write_checkpoint(tensors, tmp_path / "m.safetensors", max_shard_bytes=0)
    with pytest.raises(TypeError, match="tensor name 3 is not a string"):
        write_checkpoint([(3, np.zeros(2))], tmp_path / "m.safetensors")
    assert list(tmp_path.iterdir()) == []


def test_import_coda_does_not_import_merging_dependencies():
    code = (
        "import sys, coda; "
        "print(any(m in sys.modules for m in ('safetensors', 'ml_dtypes', 'coda.merging')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


# ---------------------------------------------------------------------------
# The safetensors writer: files safetensors itself reads, and the streamed
# writer of the merges, which must give the same files.


def test_written_files_are_read_by_safetensors_itself(tmp_path):
    from safetensors import safe_open
    from safetensors.numpy import load_file

    # Names not in sorted order and mixed dtypes: the data follow the order given.
    tensors = {"z": np.arange(6, dtype=np.float32).reshape(2, 3), **_tensors(1)}
    tensors["half"] = np.array([1.5, -2.0], dtype=np.float16)
    path = write_checkpoint(tensors, tmp_path / "m.safetensors", metadata={"format": "np"})
    loaded = load_file(str(path))
    assert sorted(loaded) == sorted(tensors)
    for name, array in tensors.items():
        np.testing.assert_array_equal(loaded[name], array)
        assert loaded[name].dtype == array.dtype
    with safe_open(str(path), framework="numpy") as handle:
        assert handle.metadata() == {"format": "np"}
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    assert length % 8 == 0
    header = json.loads(raw[8 : 8 + length])
    assert list(header)[:2] == ["__metadata__", "z"]
    assert header["z"] == {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}


def test_bfloat16_tensors_are_written_and_read_back(tmp_path):
    values = np.array([1.0, -0.5, 3.0], dtype=ml_dtypes.bfloat16)
    path = write_checkpoint({"w": values}, tmp_path / "m.safetensors")
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    assert json.loads(raw[8 : 8 + length])["w"]["dtype"] == "BF16"
    with open_checkpoint(path) as ckpt:
        np.testing.assert_array_equal(ckpt.read("w"), values.astype(np.float32))


def test_unstorable_dtype_is_an_error_naming_the_tensor(tmp_path):
    with pytest.raises(TypeError, match="tensor 'c' has dtype complex128, which safetensors"):
        write_checkpoint({"c": np.zeros(2, dtype=complex)}, tmp_path / "m.safetensors")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("max_shard_bytes", [None, 40, 1000])
def test_streamed_writer_gives_the_same_files(tmp_path, max_shard_bytes):
    tensors = {f"t{i}": np.full((i + 1, 2), i, dtype=np.float32) for i in range(5)}
    layout = {name: (np.float32, array.shape) for name, array in tensors.items()}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    held = write_checkpoint(
        tensors, tmp_path / "a" / "m.safetensors", max_shard_bytes=max_shard_bytes
    )
    streamed = writer_module._write_streamed(
        iter(tensors.items()), tmp_path / "b" / "m.safetensors", layout, None, max_shard_bytes
    )
    assert held.name == streamed.name
    held_files = sorted(p.name for p in held.parent.iterdir())
    assert held_files == sorted(p.name for p in streamed.parent.iterdir())
    for name in held_files:
        assert (held.parent / name).read_bytes() == (streamed.parent / name).read_bytes()


@pytest.mark.parametrize(
    ("arriving", "message"),
    [
        ([("b", np.zeros(2, np.float32))], r"tensor 'a' \(float32, shape \(2,\)\) was expected"),
        ([("a", np.zeros(3, np.float32))], r"got 'a' \(float32, \(3,\)\)"),
        ([("a", np.zeros(2, np.float64))], r"got 'a' \(float64, \(2,\)\)"),
        ([("a", np.zeros(2, np.float32))], r"tensor 'b' .* was expected next, got None"),
    ],
)
def test_streamed_writer_refuses_tensors_off_its_layout(tmp_path, arriving, message):
    layout = {"a": (np.float32, (2,)), "b": (np.float32, (1,))}
    with pytest.raises(ValueError, match=message):
        writer_module._write_streamed(iter(arriving), tmp_path / "m.safetensors", layout)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------
# Scalars, names a file cannot hold, earlier outputs, file modes, damaged
# shard indexes.


def _scalars():
    return {
        "logit_scale": np.array(2.5, dtype=np.float32),
        "num_batches_tracked": np.array(7, dtype=np.int64),
        "w": np.arange(6, dtype=np.float32).reshape(2, 3),
        "half": np.array(-1.5, dtype=np.float16),
    }


@pytest.mark.parametrize("max_shard_bytes", [None, 8])
def test_scalar_tensors_keep_their_shape(tmp_path, max_shard_bytes):
    from safetensors.numpy import load_file

    tensors = _scalars()
    out = write_checkpoint(tensors, tmp_path / "m.safetensors", max_shard_bytes=max_shard_bytes)
    with open_checkpoint(out) as ckpt:
        for name, value in tensors.items():
            assert ckpt.shape(name) == value.shape
            assert ckpt.read(name).shape == value.shape
            assert ckpt._view(name).shape == value.shape
            np.testing.assert_array_equal(ckpt.read(name), value)
        names = ckpt.keys()
        for name in names:
            file = ckpt.file_of(name)
            assert load_file(str(file))[name].shape == tensors[name].shape
    # The streamed writer of the merges lays out 0-d tensors as they are.
    layout = {name: (value.dtype, value.shape) for name, value in tensors.items()}
    (tmp_path / "streamed").mkdir()
    streamed = writer_module._write_streamed(
        iter(tensors.items()),
        tmp_path / "streamed" / "m.safetensors",
        layout,
        None,
        max_shard_bytes,
    )
    with open_checkpoint(streamed) as ckpt:
        names = ckpt.keys()
        assert {name: ckpt.shape(name) for name in names} == {
            name: value.shape for name, value in tensors.items()
        }


def test_scalar_tensors_of_npz_and_mappings(tmp_path):
    tensors = _scalars()
    np.savez(tmp_path / "m.npz", **tensors)
    for source in (tmp_path / "m.npz", tensors):
        with open_checkpoint(source) as ckpt:
            for name, value in tensors.items():
                assert ckpt.shape(name) == value.shape
                assert ckpt.read(name).shape == value.shape


@pytest.mark.parametrize("max_shard_bytes", [None, 8])
def test_names_a_safetensors_file_cannot_hold_raise_before_any_output(tmp_path, max_shard_bytes):
    x, y = np.ones(2, np.float32), np.zeros(2, np.float32)
    with pytest.raises(ValueError, match="tensor 'a' comes twice in tensors"):
        write_checkpoint([("a", x), ("a", y)], tmp_path / "d.safetensors", max_shard_bytes=8)
    with pytest.raises(ValueError, match="tensor 'a' comes twice in tensors"):
        write_checkpoint(
            iter([("a", x), ("b", x), ("a", y)]),
            tmp_path / "d.safetensors",
            max_shard_bytes=max_shard_bytes,
        )
    for tensors in ({"__metadata__": x}, [("w", x), ("__metadata__", y)]):
        with pytest.raises(ValueError, match="named '__metadata__', which safetensors reserves"):
            write_checkpoint(tensors, tmp_path / "m.safetensors", max_shard_bytes=max_shard_bytes)
    layout = {"w": (np.float32, (2,)), "__metadata__": (np.float32, (2,))}
    with pytest.raises(ValueError, match="'__metadata__'"):
        writer_module._write_streamed(
            iter([("w", x), ("__metadata__", y)]), tmp_path / "s.safetensors", layout
        )
    assert list(tmp_path.iterdir()) == []


def test_a_mapping_is_checked_before_any_file_is_made(tmp_path, monkeypatch):
    made = []
    monkeypatch.setattr(
        writer_module, "_temporary", lambda path: made.append(path) or tmp_path / "never"
    )
    with pytest.raises(ValueError, match="__metadata__"):
        write_checkpoint(
            {"w": np.ones(4), "__metadata__": np.ones(1)},
            tmp_path / "m.safetensors",
            max_shard_bytes=8,
        )
    assert made == []


def _listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def _model_values(directory_or_file) -> float:
    with open_checkpoint(directory_or_file) as ckpt:
        names = ckpt.keys()
        values = {float(ckpt.read(name)[0]) for name in names}
    (value,) = values
    return value


def _model(value, n=4):
    return {f"t{i}": np.full(4, value, dtype=np.float32) for i in range(n)}


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        # single over sharded: the earlier index and shards go
        (16, None, ["model.safetensors"]),
        # sharded over single: the earlier file goes
        (None, 16, [f"model-0000{i}-of-00004.safetensors" for i in range(1, 5)]),
        # sharded over sharded of another count: the earlier shards go
        (16, 32, [f"model-0000{i}-of-00002.safetensors" for i in range(1, 3)]),
        (32, 16, [f"model-0000{i}-of-00004.safetensors" for i in range(1, 5)]),
        (16, 16, [f"model-0000{i}-of-00004.safetensors" for i in range(1, 5)]),
        (None, None, ["model.safetensors"]),
    ],
)
def test_rewriting_an_output_leaves_only_the_new_model(tmp_path, first, second, expected):
    target = tmp_path / "stale" / "model.safetensors"
    target.parent.mkdir()
    other = target.with_name("other.safetensors")
    write_checkpoint(_model(9.0), other, max_shard_bytes=16)
    before = _listing(target.parent)
    write_checkpoint(_model(1.0), target, max_shard_bytes=first)
    out = write_checkpoint(_model(2.0), target, max_shard_bytes=second)
    if second is not None:
        expected = [*expected, "model.safetensors.index.json"]
    assert _listing(target.parent) == sorted([*before, *expected])
    assert _model_values(target.parent) == 2.0
    assert _model_values(out) == 2.0
    # Files of other stems are left alone.
    assert _model_values(other.with_name("other.safetensors.index.json")) == 9.0


def _failing_replace(monkeypatch, fails):
    real = os.replace

    def replace(source, target):
        if fails(Path(target)):
            raise OSError(errno.EIO, "rename failed")
        return real(source, target)

    monkeypatch.setattr(writer_module.os, "replace", replace)


@pytest.mark.parametrize(
    ("first", "second", "fails"),
    [
        # the single file cannot be renamed over an earlier sharded output
        (16, None, lambda target: target.name == "model.safetensors"),
        # the third new shard fails, the first two being new names
        (32, 16, lambda target: target.name == "model-00003-of-00004.safetensors"),
        # the new index fails, after every new shard is in place
        (None, 16, lambda target: target.name.endswith(".index.json")),
    ],
)
def test_a_failed_rename_leaves_the_earlier_output_whole(
    tmp_path, monkeypatch, first, second, fails
):
    target = tmp_path / "model.safetensors"
    write_checkpoint(_model(1.0), target, max_shard_bytes=first)
    before = _listing(tmp_path)
    _failing_replace(monkeypatch, fails)
    with pytest.raises(OSError, match="rename failed"):
        write_checkpoint(_model(2.0), target, max_shard_bytes=second)
    monkeypatch.undo()
    assert _listing(tmp_path) == before
    assert _model_values(tmp_path) == 1.0


def test_a_failed_rename_after_an_earlier_shard_was_replaced_leaves_no_mix(tmp_path, monkeypatch):
    # Same shard names: once one is replaced the earlier index would read a
    # mix of old and new shards, so it is not put back.
    target = tmp_path / "model.safetensors"
    write_checkpoint(_model(1.0), target, max_shard_bytes=16)
    _failing_replace(monkeypatch, lambda t: t.name == "model-00003-of-00004.safetensors")
    with pytest.raises(OSError, match="rename failed"):
        write_checkpoint(_model(2.0), target, max_shard_bytes=16)
    monkeypatch.undo()
    assert "model.safetensors.index.json" not in _listing(tmp_path)
    assert not any(name.endswith(".tmp") for name in _listing(tmp_path))
    with pytest.raises(FileNotFoundError):
        open_checkpoint(tmp_path)


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
@pytest.mark.parametrize("max_shard_bytes", [None, 16])
def test_written_files_get_the_mode_of_a_new_file(tmp_path, umask, max_shard_bytes):
    old = os.umask(umask)
    try:
        write_checkpoint(
            _model(1.0), tmp_path / "model.safetensors", max_shard_bytes=max_shard_bytes
        )
        (tmp_path / "reference").touch()
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()}
    assert set(modes.values()) == {0o666 & ~umask}, modes


def test_a_temporary_name_in_use_is_drawn_again(tmp_path, monkeypatch):
    tokens = iter(["aaaa", "aaaa", "bbbb"])
    monkeypatch.setattr(writer_module.secrets, "token_hex", lambda n: next(tokens))
    first = writer_module._temporary(tmp_path / "m.safetensors")
    second = writer_module._temporary(tmp_path / "m.safetensors")
    assert (first.name, second.name) == (".m-aaaa.tmp", ".m-bbbb.tmp")


def _misfiled_index(tmp_path) -> tuple[Path, str, str]:
    """A sharded checkpoint whose index maps one tensor to a shard without it."""
    out = write_checkpoint(_tensors(), tmp_path / "model.safetensors", max_shard_bytes=64)
    index = json.loads(out.read_text())
    name = "layers.0.bias"
    shard = next(
        s for s in sorted(set(index["weight_map"].values())) if s != index["weight_map"][name]
    )
    index["weight_map"][name] = shard
    out.write_text(json.dumps(index))
    return out, name, shard


def test_index_mapping_a_tensor_to_the_wrong_shard_fails_at_opening(tmp_path):
    out, name, shard = _misfiled_index(tmp_path)
    message = (
        rf"shard index '[^']*model\.safetensors\.index\.json' maps tensor '{name}' to the "
        rf"shard '{shard}', which does not contain it"
    )
    for source in (out, tmp_path):
        with pytest.raises(ValueError, match=message):
            open_checkpoint(source)
    with pytest.raises(ValueError, match=message):
        check_compatible(_tensors(), [out])
    # Several misfiled tensors of one shard: the first named, the others listed.
    index = json.loads(out.read_text())
    moved = sorted(k for k, v in index["weight_map"].items() if v != shard)
    index["weight_map"].update(dict.fromkeys(moved, shard))
    out.write_text(json.dumps(index))
    first, *others = sorted([name, *moved])
    listed = ", ".join(repr(other) for other in others)
    with pytest.raises(
        ValueError,
        match=rf"maps tensor '{first}' to the shard '{shard}', which does not contain it "
        rf"\(nor {len(others)} other tensor\(s\) the index maps there: {listed}\);",
    ):
        open_checkpoint(out)


def test_safetensors_errors_on_reading_are_value_errors_naming_file_and_tensor(
    tmp_path, monkeypatch
):
    import safetensors

    out = write_checkpoint(_tensors(), tmp_path / "model.safetensors")
    with open_checkpoint(out) as ckpt:
        handle = ckpt._backend._handles["model.safetensors"]

        class Damaged:
            def keys(self):
                return handle.keys()

            def get_tensor(self, name):
                raise safetensors.SafetensorError("File does not contain tensor " + name)

            get_slice = get_tensor

            def __exit__(self, *exc_info):
                return handle.__exit__(*exc_info)

        ckpt._backend._handles["model.safetensors"] = Damaged()
        for read in (ckpt.read, ckpt.shape, ckpt.dtype):
            with pytest.raises(
                ValueError,
                match=r"tensor 'step' in checkpoint file '[^']*model\.safetensors' is corrupt.*"
                "does not contain tensor step",
            ):
                read("step")


@pytest.mark.parametrize(
    ("code", "nbytes"), [("F8_E8M0", 8), ("F4", 4), ("C64", 64), ("F6_E2M3", 6)]
)
def test_a_dtype_not_read_is_refused_at_opening(tmp_path, code, nbytes):
    # safetensors knows these codes (8 values take nbytes); reading them
    # would fail in safetensors or numpy, or drop the imaginary part, so the
    # file is refused by name when it is opened.
    path = tmp_path / "odd.safetensors"
    header = {
        "w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
        "x": {"dtype": code, "shape": [8], "data_offsets": [4, 4 + nbytes]},
    }
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + bytes(4 + nbytes))
    with pytest.raises(
        ValueError,
        match=rf"tensor 'x' in checkpoint file '[^']*odd\.safetensors' has dtype '{code}'",
    ):
        open_checkpoint(path)


def test_functions_on_mappings_say_so_when_given_a_path(tmp_path):
    # task_vectors and the statistics take mappings; a path raised
    # "AttributeError: 'str' object has no attribute 'items'"
    from coda.merging import task_shares, task_vectors

    base = write_checkpoint({"w": np.zeros(4, "f4")}, tmp_path / "b.safetensors")
    model = write_checkpoint({"w": np.ones(4, "f4")}, tmp_path / "m.safetensors")
    for function in (task_vectors, task_shares):
        with pytest.raises(TypeError, match=r"base is a str; expected a mapping of tensor names"):
            function(str(base), [str(model)])
