"""Regression tests of checkpoint reading and writing (coda.merging.checkpoints and its readers).

Each test here failed before the fix it comes with: files coda.merging cannot
read are refused by name before any output, shard indexes that do not match
their shards are refused, outputs are checked before anything is merged.
"""

from __future__ import annotations

import io
import json
import sys
import types
import zipfile

import ml_dtypes
import numpy as np
import pytest

from coda.merging import (
    check_compatible,
    open_checkpoint,
    task_arithmetic,
    ties_merge,
    write_checkpoint,
)


class _FakeTensor:
    """The part of torch.Tensor that the PyTorch reader uses, backed by numpy."""

    def __init__(self, array, dtype=None, layout=None):
        self._array, self.shape = array, array.shape
        self.dtype = array.dtype if dtype is None else dtype
        if layout is not None:
            self.layout = layout

    def detach(self):
        return self

    def numpy(self):
        return self._array

    def view(self, dtype):
        assert dtype == "uint8"
        return _FakeTensor(self._array.view(np.uint8))


def _fake_torch(load):
    torch = types.ModuleType("torch")
    torch.bfloat16, torch.float32, torch.strided = "bfloat16", "float32", "strided"
    torch.uint8, torch.float8_e4m3fn, torch.float8_e5m2 = "uint8", "f8e4m3", "f8e5m2"

    def empty(shape, dtype):
        if dtype in ("f8e4m3", "f8e5m2", "torch.qint8"):
            # as torch's Tensor.numpy() for dtypes numpy lacks
            raise TypeError(f"Got unsupported ScalarType {dtype}")
        return _FakeTensor(np.empty(shape, dtype=dtype))

    torch.empty = empty
    torch.load = load
    return torch


def _torch_file(tmp_path, monkeypatch, state):
    path = tmp_path / "model.pt"
    path.write_bytes(b"\0")
    monkeypatch.setitem(sys.modules, "torch", _fake_torch(lambda path, **kwargs: state))
    return path


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"epoch": 3},
            r"'epoch' of checkpoint file '[^']*model\.pt' is of type int, not a tensor",
        ),
        (
            {"state_dict": {"w": _FakeTensor(np.ones(2, np.float32))}},
            r"'state_dict' of checkpoint file .* is of type dict, not a tensor.*"
            r"torch\.save\(checkpoint\['state_dict'\], path\)",
        ),
        ({"lr": "0.1"}, r"'lr' of checkpoint file .* is of type str, not a tensor"),
        ({7: _FakeTensor(np.ones(2, np.float32))}, r"has the key 7, which is not a string"),
    ],
)
def test_a_torch_file_holding_more_than_tensors_is_refused_at_opening(
    tmp_path, monkeypatch, extra, message
):
    # weights_only=True still loads ints, strings and dicts: they raised
    # AttributeError: 'int' object has no attribute 'shape' in check_compatible
    # (or TypeError from sorting int and str names).
    state = {"w": _FakeTensor(np.ones(2, np.float32)), **extra}
    path = _torch_file(tmp_path, monkeypatch, state)
    with pytest.raises(ValueError, match=message):
        open_checkpoint(path)
    with pytest.raises(ValueError, match=message):
        check_compatible({"w": np.ones(2, np.float32)}, [path])


@pytest.mark.parametrize(
    ("tensor", "message"),
    [
        (_FakeTensor(np.ones(2, np.complex64)), "has dtype 'complex64', which coda.merging"),
        (
            _FakeTensor(np.ones(2, np.int8), dtype="torch.qint8"),
            "has dtype 'torch.qint8', which coda.merging",
        ),
        (
            _FakeTensor(np.ones(2, np.float32), layout="sparse_coo"),
            r"has the layout sparse_coo; coda.merging reads dense tensors: save it as "
            r"tensor\.to_dense\(\)",
        ),
    ],
)
def test_torch_tensors_of_kinds_not_read_are_refused_at_opening(
    tmp_path, monkeypatch, tensor, message
):
    # complex tensors lost their imaginary part in a merge (a ComplexWarning
    # at most); quantized and sparse tensors raised TypeError from torch on reading.
    path = _torch_file(tmp_path, monkeypatch, {"w": tensor})
    with pytest.raises(ValueError, match=rf"tensor 'w' in checkpoint file .*model\.pt' {message}"):
        open_checkpoint(path)


@pytest.mark.parametrize(
    ("code", "dtype"),
    [("f8e4m3", ml_dtypes.float8_e4m3fn), ("f8e5m2", ml_dtypes.float8_e5m2)],
)
def test_float8_torch_tensors_are_read(tmp_path, monkeypatch, code, dtype):
    # numpy has no float8: Tensor.numpy() raised TypeError from torch.
    values = np.array([1.0, -2.0, 0.5]).astype(dtype)
    tensor = _FakeTensor(values.view(np.uint8).view(np.dtype(dtype)), dtype=code)
    path = _torch_file(tmp_path, monkeypatch, {"w": tensor})
    with open_checkpoint(path) as ckpt:
        assert ckpt.dtype("w") == np.dtype(dtype)
        got = ckpt.read("w")
        assert got.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(got.astype(np.float32), [1.0, -2.0, 0.5])
        np.testing.assert_array_equal(ckpt._view("w"), [1.0, -2.0, 0.5])


def test_a_legacy_torch_file_is_loaded_without_mmap(tmp_path, monkeypatch):
    # torch.load(mmap=True) refuses files of torch's pre-zip format, which
    # were reported as "corrupt or truncated".
    path = tmp_path / "model.bin"
    path.write_bytes(b"\x80\x02 legacy pickle")
    calls = []

    def load(path, **kwargs):
        calls.append(kwargs)
        if kwargs.get("mmap"):
            raise RuntimeError("mmap can only be used with files saved with zipfile")
        return {"w": _FakeTensor(np.arange(3, dtype=np.float32))}

    monkeypatch.setitem(sys.modules, "torch", _fake_torch(load))
    with open_checkpoint(path) as ckpt:
        np.testing.assert_array_equal(ckpt.read("w"), np.arange(3, dtype=np.float32))
    assert calls == [
        {"map_location": "cpu", "weights_only": True, "mmap": True},
        {"map_location": "cpu", "weights_only": True},
    ]


@pytest.mark.parametrize(
    ("values", "name"),
    [
        (np.array([1, "a"], dtype=object), "object"),
        (np.array([1 + 2j, 3]), "complex128"),
        (np.array(["1.5", "2"]), r"str\d+"),
        (np.array(["2020-01-01"], dtype="datetime64[D]"), r"datetime64\[D\]"),
    ],
)
def test_npz_tensors_of_dtypes_not_read_are_refused_before_any_output(tmp_path, values, name):
    # Object arrays failed only while the merge was writing; complex lost its
    # imaginary part, strings were parsed as numbers and dates merged as day
    # counts, silently.
    weights = np.ones(3, np.float32)
    np.savez(tmp_path / "base.npz", w=weights, odd=values)
    np.savez(tmp_path / "model.npz", w=weights + 1, odd=values)
    message = rf"tensor 'odd' in checkpoint file '[^']*\.npz' has dtype '{name}'"
    with pytest.raises(ValueError, match=message):
        check_compatible(tmp_path / "base.npz", [tmp_path / "model.npz"])
    out = tmp_path / "out" / "merged.safetensors"
    out.parent.mkdir()
    with pytest.raises(ValueError, match=message):
        task_arithmetic(tmp_path / "base.npz", [tmp_path / "model.npz"], out=out)
    assert list(out.parent.iterdir()) == []
    with open_checkpoint(tmp_path / "base.npz") as ckpt, pytest.raises(ValueError, match=message):
        ckpt.read("odd")


def test_npz_member_stored_without_the_npy_suffix(tmp_path):
    # numpy reads a member named "w" (no .npy) as the tensor "w"; its header
    # was looked up as "w.npy" and raised a bare KeyError.
    buffer = io.BytesIO()
    np.save(buffer, np.arange(6, dtype=np.float32).reshape(2, 3))
    path = tmp_path / "model.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("w", buffer.getvalue())
    with open_checkpoint(path) as ckpt:
        assert ckpt.keys() == ["w"]
        assert ckpt.shape("w") == (2, 3)
        assert ckpt.dtype("w") == np.float32
        np.testing.assert_array_equal(ckpt.read("w"), np.arange(6).reshape(2, 3))


def test_npz_member_that_is_not_an_array_names_the_tensor(tmp_path):
    # numpy returns a member that is not .npy data as bytes, which merged as
    # a string array; now its header is refused.
    path = tmp_path / "model.npz"
    np.savez(path, w=np.ones(2, np.float32))
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("notes.txt", b"trained for 3 epochs")
    with (
        open_checkpoint(path) as ckpt,
        pytest.raises(ValueError, match=r"tensor 'notes\.txt' in checkpoint file .*model\.npz'"),
    ):
        ckpt.read("notes.txt")


def test_damaged_compressed_npz_header_names_the_tensor_for_shape_too(tmp_path):
    path = tmp_path / "model.npz"
    np.savez_compressed(path, good=np.arange(3.0), bad=np.linspace(0, 1, 500))
    raw = bytearray(path.read_bytes())
    # flip the first deflated bytes of "bad.npy", where its .npy header is
    at = raw.find(b"bad.npy") + len(b"bad.npy")
    raw[at : at + 30] = bytes(b ^ 0xFF for b in raw[at : at + 30])
    path.write_bytes(bytes(raw))
    with open_checkpoint(path) as ckpt:
        for read in (ckpt.shape, ckpt.dtype, ckpt.read):
            with pytest.raises(ValueError, match=r"tensor 'bad' in checkpoint file .*model\.npz'"):
                read("bad")


# The index of the shards below when each tensor is where it should be.
_INDEX = json.dumps({"weight_map": {"w": "a.safetensors", "v": "b.safetensors"}})


def _shards(tmp_path, first: dict, second: dict, index: str = _INDEX):
    """Shards a.safetensors and b.safetensors of ``first`` and ``second``; their index path."""
    write_checkpoint(first, tmp_path / "a.safetensors")
    write_checkpoint(second, tmp_path / "b.safetensors")
    path = tmp_path / "model.safetensors.index.json"
    path.write_text(index)
    return path


def test_a_tensor_in_two_shards_is_refused(tmp_path):
    # The index maps "w" to a.safetensors, but b.safetensors holds a "w"
    # too: which one is the model's? It read a's silently.
    _shards(tmp_path, {"w": np.ones(2, np.float32)}, {"w": np.zeros(2), "v": np.ones(1)})
    with pytest.raises(
        ValueError,
        match=r"tensor 'w' in checkpoint file '[^']*index\.json' is corrupt or truncated: its "
        r"shard 'b\.safetensors' also holds the tensor, which the index maps to the shard "
        r"'a\.safetensors': a tensor name in two shards",
    ):
        open_checkpoint(tmp_path)


def test_a_tensor_the_index_does_not_list_is_refused(tmp_path):
    # It was left out of the model silently (loading every shard keeps it).
    index = _shards(
        tmp_path, {"w": np.ones(2, np.float32)}, {"v": np.ones(1), "extra": np.ones(3)}
    )
    with pytest.raises(
        ValueError,
        match=r"tensor 'extra' in checkpoint file .*: its shard 'b\.safetensors' also holds "
        "the tensor, which the index does not list",
    ):
        open_checkpoint(index)


def test_an_index_listing_a_tensor_twice_is_refused(tmp_path):
    # json.loads kept the last of the repeated names silently.
    index = _shards(
        tmp_path,
        {"w": np.ones(2, np.float32)},
        {"w": np.zeros(2, np.float32)},
        '{"weight_map": {"w": "a.safetensors", "w": "b.safetensors"}}',
    )
    with pytest.raises(
        ValueError,
        match=r"tensor 'w' in checkpoint file .*: it gives 'w' twice, as 'a\.safetensors' and "
        r"'b\.safetensors'",
    ):
        open_checkpoint(index)


def test_an_index_of_no_tensors_opens_as_an_empty_checkpoint(tmp_path):
    # StopIteration escaped from looking for a first shard.
    index = tmp_path / "model.safetensors.index.json"
    index.write_text(json.dumps({"metadata": {"total_size": 0}, "weight_map": {}}))
    with open_checkpoint(str(tmp_path)) as ckpt:
        assert ckpt.keys() == []
        assert ckpt.metadata == {}
    assert task_arithmetic(index, [index]) == {}


def test_big_endian_arrays_are_written_little_endian(tmp_path):
    # They were refused: "tensor 'w' has dtype >f4, which safetensors cannot store".
    tensors = {"w": np.arange(3, dtype=">f4"), "n": np.array([1, 2**40], dtype=">i8")}
    for max_shard_bytes in (None, 8):
        out = write_checkpoint(
            tensors, tmp_path / f"m{max_shard_bytes}.safetensors", max_shard_bytes=max_shard_bytes
        )
        with open_checkpoint(out) as ckpt:
            for name, values in tensors.items():
                assert ckpt.dtype(name) == values.dtype.newbyteorder("<")
                np.testing.assert_array_equal(ckpt.read(name), values)
    assert tensors["w"].dtype == np.dtype(">f4")


def test_a_merge_of_big_endian_npz_files_passes_their_integers_through(tmp_path):
    # The integer buffer arrived in the writer as >i8 and was refused after
    # the merge had started.
    step = np.array([3, 2**40], dtype=">i8")
    np.savez(tmp_path / "base.npz", w=np.zeros(3, dtype=">f4"), step=step)
    np.savez(tmp_path / "model.npz", w=np.ones(3, dtype=">f4"), step=step)
    out = task_arithmetic(
        tmp_path / "base.npz", [tmp_path / "model.npz"], out=tmp_path / "merged.safetensors"
    )
    with open_checkpoint(out) as ckpt:
        np.testing.assert_array_equal(ckpt.read("w"), np.ones(3, np.float32))
        assert ckpt.dtype("step") == np.int64
        np.testing.assert_array_equal(ckpt.read("step"), step)


@pytest.mark.parametrize("kind", ["directory", "no parent"])
def test_an_output_that_cannot_be_made_fails_before_any_tensor_is_read(tmp_path, kind):
    # Renaming onto a directory failed after the whole model was written,
    # with "IsADirectoryError: ... '.model-<hex>.tmp' -> ..."; a missing
    # directory raised FileNotFoundError naming the temporary file.
    target = tmp_path / "model.safetensors"
    if kind == "directory":
        target.mkdir()
        error, message = IsADirectoryError, "is a directory; name the output file inside it"
    else:
        target = tmp_path / "missing" / "model.safetensors"
        error, message = FileNotFoundError, r"is in the directory '[^']*missing', which does not"
    read = []

    def tensors():
        read.append(1)
        yield "w", np.ones(2, np.float32)

    with pytest.raises(error, match=rf"path='[^']*model\.safetensors' {message}"):
        write_checkpoint(tensors(), target)
    assert read == []
    base = tmp_path / "base.safetensors"
    write_checkpoint({"w": np.zeros(2, np.float32)}, base)
    for merge, options in ((task_arithmetic, {}), (ties_merge, {"density": 0.5})):
        with pytest.raises(error, match=rf"out='[^']*model\.safetensors' {message}"):
            merge(base, [{"w": np.ones(2, np.float32)}], out=target, **options)
    assert (
        sorted(p.name for p in tmp_path.iterdir())
        == ["base.safetensors", "model.safetensors"][: 2 if kind == "directory" else 1]
    )


def test_merges_name_their_out_argument_for_a_wrong_suffix():
    # The message said path='merged.bin', the writer's argument.
    base, model = {"w": np.zeros(2, np.float32)}, {"w": np.ones(2, np.float32)}
    with pytest.raises(ValueError, match=r"^out='merged\.bin' does not end in \.safetensors"):
        task_arithmetic(base, [model], out="merged.bin")


@pytest.mark.parametrize("dtype", [ml_dtypes.float8_e4m3fn, ml_dtypes.float8_e5m2])
def test_float8_safetensors_tensors_are_read(tmp_path, dtype):
    # safetensors' numpy reader looks float8 up on numpy, which raised
    # AttributeError: module 'numpy' has no attribute 'float8_e4m3fn'.
    values = np.array([[1.0, -2.0, 0.5], [448.0, -0.0, 3.0]]).astype(dtype)
    path = write_checkpoint(
        {"w": values, "b": np.ones(3, np.float32)}, tmp_path / "f8.safetensors"
    )
    with open_checkpoint(path) as ckpt:
        got = ckpt.read("w")
        assert got.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(got.astype(np.float32), values.astype(np.float32))
    merged = ties_merge(path, [path], density=1.0)
    np.testing.assert_array_equal(merged["w"], values.astype(np.float32))


@pytest.mark.parametrize("kind", ["safetensors", "npz", "sharded"])
def test_a_closed_checkpoint_says_it_is_closed(tmp_path, kind):
    # It raised KeyError: 'model.safetensors' or AttributeError: 'NoneType'
    # object has no attribute 'namelist'.
    tensors = {"w": np.ones(2, np.float32), "v": np.zeros(3, np.float32)}
    if kind == "npz":
        path = tmp_path / "model.npz"
        np.savez(path, **tensors)
    else:
        limit = 8 if kind == "sharded" else None
        path = write_checkpoint(tensors, tmp_path / "model.safetensors", max_shard_bytes=limit)
    with open_checkpoint(path) as ckpt:
        np.testing.assert_array_equal(ckpt.read("w"), tensors["w"])
    for use in (ckpt.keys, lambda: ckpt.read("w"), lambda: ckpt.shape("w")):
        with pytest.raises(ValueError, match=r"checkpoint '[^']*' is closed"):
            use()
    with pytest.raises(ValueError, match="is closed"):
        task_arithmetic(ckpt, [tensors])
