"""The dtype of a merged model: ``dtype=`` of the merges and ``coda merge --dtype``.

Oracles: the float32 merge (``dtype=None``, the behaviour before the option)
rounded to the nearest value of the 16-bit format found in a table of all its
values (ties to the even bit pattern), a second implementation of
round-to-nearest-even that does not cast; bit patterns worked by hand for
ties; headers, indexes and tensors of written files read as raw bytes and
JSON. torch is not a test dependency.
"""

from __future__ import annotations

import inspect
import json
import struct
import tracemalloc

import ml_dtypes
import numpy as np
import pytest
from safetensors import safe_open

from coda.cli import main
from coda.merging import dare, open_checkpoint, task_arithmetic, ties_merge, write_checkpoint

BF16 = np.dtype(ml_dtypes.bfloat16)
F16 = np.dtype(np.float16)
F32 = np.dtype(np.float32)
# Bit patterns of the largest finite magnitude and of inf, per 16-bit format.
_LARGEST = {BF16: 0x7F7F, F16: 0x7BFF}
_INF = {BF16: 0x7F80, F16: 0x7C00}


class _ForeignDtype:
    """A dtype of another library (as torch.bfloat16 is): not something numpy interprets."""

    def __repr__(self) -> str:
        return "torch.bfloat16"


MERGES = {
    "task_arithmetic": (task_arithmetic, {"lam": 0.7}),
    "ties_tensor": (ties_merge, {"density": 0.4}),
    "ties_global": (ties_merge, {"density": 0.4, "scope": "global"}),
    "dare": (dare, {"density": 0.6, "seed": 3}),
}


@pytest.mark.parametrize("merge", [task_arithmetic, ties_merge, dare])
def test_dtype_is_a_keyword_only_option_defaulting_to_none(merge):
    parameter = inspect.signature(merge).parameters["dtype"]
    assert parameter.kind is inspect.Parameter.KEYWORD_ONLY
    assert parameter.default is None


def _models(dtypes, n_models=2, seed=0):
    """A base of one tensor per dtype in ``dtypes`` (and an int64 buffer), with fine-tuned models.

    The models store each tensor in the base's dtype, as fine-tuned checkpoints do.
    """
    rng = np.random.default_rng(seed)
    shapes = [(6, 5), (7,), (3, 4, 2), (1,)]
    base = {
        f"t{i}": rng.normal(size=shapes[i % len(shapes)]).astype(np.float32).astype(dtype)
        for i, dtype in enumerate(dtypes)
    }
    base["position_ids"] = np.arange(5, dtype=np.int64)
    models = []
    for _ in range(n_models):
        model = {}
        for key, value in base.items():
            if value.dtype.kind == "i":
                model[key] = value.copy()
            else:
                tuned = value.astype(np.float32) + rng.normal(size=value.shape).astype(np.float32)
                model[key] = tuned.astype(value.dtype)
        models.append(model)
    return base, models


def _magnitudes(dtype: np.dtype) -> np.ndarray:
    """The value of every finite non-negative bit pattern 0 .. largest of ``dtype``, as float64.

    Widening is exact for both formats: bfloat16 is the upper half of a
    float32; float16 widens through numpy's exact conversion.
    """
    patterns = np.arange(_LARGEST[dtype] + 1, dtype=np.uint32)
    if dtype == BF16:
        return (patterns << 16).view(np.float32).astype(np.float64)
    return patterns.astype(np.uint16).view(np.float16).astype(np.float64)


def _nearest_even(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """float32 ``values`` rounded to ``dtype`` as bit patterns, without a cast to it.

    The nearest of the format's values (increasing with the pattern for
    magnitudes), the even pattern on a tie, inf from half a spacing above
    the largest finite value, then the sign bit.
    """
    table = _magnitudes(dtype)
    wide = np.asarray(values, dtype=np.float64).ravel()
    size = np.abs(wide)
    above = np.minimum(np.searchsorted(table, size), table.size - 1)
    below = np.maximum(above - 1, 0)
    down, up = size - table[below], table[above] - size
    pattern = np.where((down < up) | ((down == up) & (below % 2 == 0)), below, above)
    pattern = np.where(size <= table[-1], pattern, table.size - 1)
    spacing = table[-1] - table[-2]
    pattern = np.where(size >= table[-1] + spacing / 2, _INF[dtype], pattern)
    sign = np.signbit(wide).astype(np.uint32) << 15
    return (pattern.astype(np.uint32) | sign).astype(np.uint16).reshape(np.shape(values))


def _bits(values: np.ndarray) -> np.ndarray:
    return values.view(np.uint16 if values.dtype.itemsize == 2 else np.uint32)


def _header(path) -> dict:
    with open(path, "rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        return json.loads(handle.read(length))


def _listing(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@pytest.mark.parametrize("name", list(MERGES))
@pytest.mark.parametrize("dtype", [BF16, F16])
def test_dtype_none_is_float32_bit_for_bit_and_float32_the_same(name, dtype):
    merge, options = MERGES[name]
    base, models = _models([dtype, dtype, F32])
    before = merge(base, models, **options)
    for given in (None, "float32", np.float32):
        after = merge(base, models, dtype=given, **options)
        assert list(after) == list(before)
        for key, tensor in before.items():
            assert after[key].dtype == tensor.dtype
            np.testing.assert_array_equal(_bits(after[key]), _bits(tensor))
    assert {str(t.dtype) for t in before.values()} == {"float32", "int64"}


@pytest.mark.parametrize("name", list(MERGES))
@pytest.mark.parametrize("dtype", [BF16, F16])
def test_base_dtype_in_memory_is_the_float32_merge_rounded_once(name, dtype):
    merge, options = MERGES[name]
    base, models = _models([dtype, dtype, dtype])
    copies = [{k: v.copy() for k, v in m.items()} for m in [base, *models]]
    wide = merge(base, models, **options)
    narrow = merge(base, models, dtype="base", **options)
    assert list(narrow) == list(wide)
    for key, tensor in narrow.items():
        if key == "position_ids":
            assert tensor.dtype == np.int64
            np.testing.assert_array_equal(tensor, base[key])
            continue
        assert tensor.dtype == dtype
        np.testing.assert_array_equal(_bits(tensor), _nearest_even(wide[key], dtype))
    # The callers' tensors are left as they were.
    for copy, original in zip(copies, [base, *models], strict=True):
        for key, value in copy.items():
            np.testing.assert_array_equal(_bits(original[key]), _bits(value))


@pytest.mark.parametrize("target", ["bfloat16", "float16", BF16, np.float16])
def test_an_explicit_dtype_rounds_every_floating_tensor_and_keeps_buffers(target):
    base, models = _models([F32, np.dtype(np.float64), BF16, F16])
    base["mask"] = np.array([True, False])
    for model in models:
        model["mask"] = base["mask"].copy()
    wide = ties_merge(base, models, density=0.5)
    narrow = ties_merge(base, models, density=0.5, dtype=target)
    expected = np.dtype(target)
    for key, tensor in narrow.items():
        if key in ("position_ids", "mask"):
            assert tensor.dtype == base[key].dtype
            np.testing.assert_array_equal(tensor, base[key])
        else:
            assert tensor.dtype == expected
            np.testing.assert_array_equal(_bits(tensor), _nearest_even(wide[key], expected))


def test_mixed_dtypes_in_one_base_each_keep_their_own():
    f64 = np.dtype(np.float64)
    base, models = _models([BF16, F16, F32, f64])
    base["mask"] = np.array([True, False, True])
    for model in models:
        model["mask"] = base["mask"].copy()
        # A model may store a tensor in another dtype than the base: the base's decides.
        model["t2"] = model["t2"].astype(BF16)
    wide = task_arithmetic(base, models, lam=0.5)
    narrow = task_arithmetic(base, models, lam=0.5, dtype="base")
    assert {key: str(t.dtype) for key, t in narrow.items()} == {
        "t0": "bfloat16",
        "t1": "float16",
        "t2": "float32",
        "t3": "float64",
        "position_ids": "int64",
        "mask": "bool",
    }
    np.testing.assert_array_equal(_bits(narrow["t0"]), _nearest_even(wide["t0"], BF16))
    np.testing.assert_array_equal(_bits(narrow["t1"]), _nearest_even(wide["t1"], F16))
    np.testing.assert_array_equal(_bits(narrow["t2"]), _bits(wide["t2"]))
    # float64 holds the float32 values, widened exactly.
    np.testing.assert_array_equal(narrow["t3"], wide["t3"].astype(np.float64))
    assert (narrow["t3"].astype(np.float32).astype(np.float64) == narrow["t3"]).all()
    np.testing.assert_array_equal(narrow["mask"], base["mask"])


# Float32 values and their rounding to nearest, ties to even, worked by hand.
# bfloat16 keeps 7 significand bits: near 1 the spacing is 2^-7, so 1 + 2^-8 is
# halfway between 1 (0x3F80, even) and 1 + 2^-7 (0x3F81, odd) and goes to 1;
# 1 + 3 2^-8 is halfway between 0x3F81 and 0x3F82 and goes up to the even one.
_BF16_TIES = [
    (1 + 2**-8, 0x3F80),
    (1 + 3 * 2**-8, 0x3F82),
    (-(1 + 2**-8), 0xBF80),
    (1 + 2**-8 + 2**-20, 0x3F81),  # just above the tie: up
    (1 + 2**-8 - 2**-20, 0x3F80),  # just below: down
]
# float16 keeps 10: spacing 2 from 2048 on, so 2049 ties between 2048 (0x6800,
# even) and 2050 (0x6801) and goes to 2048; 2051 goes up to 2052 (0x6802).
_F16_TIES = [
    (1 + 2**-11, 0x3C00),
    (1 + 3 * 2**-11, 0x3C02),
    (2049.0, 0x6800),
    (2051.0, 0x6802),
    (-2049.0, 0xE800),
    (65519.0, 0x7BFF),  # below 65520, the tie with inf: the largest finite 65504
]


@pytest.mark.parametrize(("dtype", "cases"), [(BF16, _BF16_TIES), (F16, _F16_TIES)])
def test_ties_round_to_even_as_worked_by_hand(dtype, cases):
    values = np.array([value for value, _ in cases], dtype=np.float32)
    # Exactly those float32 values: theta_0 = 0 plus tau.
    assert [float(v) for v in values] == [value for value, _ in cases]
    base = {"w": np.zeros(values.shape, dtype=dtype)}
    merged = task_arithmetic(base, [{"w": values}], dtype="base")["w"]
    assert merged.dtype == dtype
    assert _bits(merged).tolist() == [bits for _, bits in cases]


def _files(directory, dtypes, n_models=2):
    base, models = _models(dtypes, n_models)
    paths = []
    for name, tensors in [("base", base), *((f"ft{t}", m) for t, m in enumerate(models))]:
        paths.append(write_checkpoint(tensors, directory / f"{name}.safetensors"))
    return base, models, paths


def _raw_tensors(path) -> dict:
    """``{name: (dtype code, bytes)}`` of a safetensors file, from its header and data."""
    data = path.read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    start = 8 + length
    return {
        key: (
            entry["dtype"],
            data[start + entry["data_offsets"][0] : start + entry["data_offsets"][1]],
        )
        for key, entry in header.items()
        if key != "__metadata__"
    }


@pytest.mark.parametrize("name", list(MERGES))
def test_base_dtype_from_files_is_written_and_returned_in_the_base_dtype(tmp_path, name):
    merge, options = MERGES[name]
    base, models, paths = _files(tmp_path, [BF16, F16, F32])
    in_memory = merge(base, models, dtype="base", **options)
    from_files = merge(paths[0], paths[1:], dtype="base", **options)
    out = merge(paths[0], paths[1:], dtype="base", out=tmp_path / "merged.safetensors", **options)
    codes = {key: entry["dtype"] for key, entry in _header(out).items() if key != "__metadata__"}
    assert codes == {"t0": "BF16", "t1": "F16", "t2": "F32", "position_ids": "I64"}
    written = _raw_tensors(out)
    for key, tensor in in_memory.items():
        assert from_files[key].dtype == tensor.dtype
        np.testing.assert_array_equal(_bits(from_files[key]), _bits(tensor))
        code, raw = written[key]
        assert code == codes[key]
        assert raw == np.ascontiguousarray(tensor).astype(tensor.dtype.newbyteorder("<")).tobytes()


def test_sharded_output_records_the_narrow_dtypes_and_sizes(tmp_path):
    base, models, paths = _files(tmp_path, [BF16, F16, BF16, F32])
    expected = ties_merge(base, models, density=0.5, dtype="base")
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "model.safetensors"
    index = ties_merge(paths[0], paths[1:], density=0.5, dtype="base", out=out, max_shard_bytes=64)
    assert index.name == "model.safetensors.index.json"
    listing = json.loads(index.read_text())
    # Bytes per entry: 2 for t0 (30 entries, bf16), t1 (7, fp16) and t2 (24,
    # bf16), 4 for t3 (1, float32), 8 for the 5 int64 position ids.
    assert listing["metadata"]["total_size"] == 2 * (30 + 7 + 24) + 4 * 1 + 8 * 5
    shards = sorted(set(listing["weight_map"].values()))
    assert len(shards) > 1
    codes = {}
    for shard in shards:
        header = _header(index.parent / shard)
        codes.update({k: v["dtype"] for k, v in header.items() if k != "__metadata__"})
    assert codes == {"t0": "BF16", "t1": "F16", "t2": "BF16", "t3": "F32", "position_ids": "I64"}
    with open_checkpoint(index) as merged:
        for key, tensor in expected.items():
            assert merged.dtype(key) == tensor.dtype
            np.testing.assert_array_equal(merged.read(key), tensor.astype(merged.read(key).dtype))


def _overflowing(directory):
    # t1 merges to 60000 + 2 (65504 - 60000) = 71008 and -71008 in two entries,
    # beyond float16's 65504; t0, before it, fits.
    base = {
        "t0": np.array([1.0, 2.0], dtype=np.float16),
        "t1": np.array([60000.0, -60000.0, 0.0], dtype=np.float16),
    }
    tuned = {
        "t0": np.array([1.5, 2.5], dtype=np.float16),
        "t1": np.array([65504.0, -65504.0, 1.0], dtype=np.float16),
    }
    paths = [write_checkpoint(base, directory / "base.safetensors")]
    paths.append(write_checkpoint(tuned, directory / "ft.safetensors"))
    return base, tuned, paths


_OVERFLOW = (
    r"tensor 't1' of the merged model has 2 value\(s\) that would round to inf in float16, "
    r"whose largest finite value is 65504 \(the largest magnitude here is 71008\); "
    r"pass dtype='float32' or 'bfloat16'"
)


@pytest.mark.parametrize("target", ["base", "float16"])
def test_float16_overflow_raises_and_nothing_is_written(tmp_path, target):
    base, tuned, paths = _overflowing(tmp_path)
    with pytest.raises(ValueError, match=_OVERFLOW):
        task_arithmetic(base, [tuned], lam=2.0, dtype=target)
    out = tmp_path / "merged.safetensors"
    before = _listing(tmp_path)
    with pytest.raises(ValueError, match=_OVERFLOW):
        task_arithmetic(paths[0], paths[1:], lam=2.0, dtype=target, out=out)
    assert _listing(tmp_path) == before
    # An earlier output of the same name is left whole, and sharded writes leave nothing.
    earlier = write_checkpoint({"x": np.ones(3, dtype=np.float32)}, out)
    content = earlier.read_bytes()
    with pytest.raises(ValueError, match=_OVERFLOW):
        task_arithmetic(paths[0], paths[1:], lam=2.0, dtype=target, out=out, max_shard_bytes=4)
    assert _listing(tmp_path) == sorted([*before, out.name])
    assert out.read_bytes() == content
    # bfloat16 and float32 hold the values.
    merged = task_arithmetic(base, [tuned], lam=2.0, dtype="bfloat16")
    assert merged["t1"].astype(np.float32).tolist() == [71168.0, -71168.0, 2.0]


def test_bfloat16_overflow_is_refused_at_the_tie_with_inf():
    # bfloat16's largest finite value is 0x7F7F; float32 0x7F7F8000 is halfway
    # to inf (0x7F80, even) and rounds to it, 0x7F7F7FFF rounds down to 0x7F7F.
    below, tie = np.array([0x7F7F7FFF, 0x7F7F8000], dtype=np.uint32).view(np.float32)
    base = {"w": np.zeros(2, dtype=BF16)}
    fits = task_arithmetic(base, [{"w": np.array([below, -below])}], dtype="base")["w"]
    assert _bits(fits).tolist() == [0x7F7F, 0xFF7F]
    with pytest.raises(
        ValueError,
        match=r"1 value\(s\) that would round to inf in bfloat16, .*3\.39618e\+38\); "
        r"pass dtype='float32',",
    ):
        task_arithmetic(base, [{"w": np.array([below, -tie])}], dtype="base")


@pytest.mark.parametrize(
    ("dtype", "error", "match"),
    [
        ("float64", ValueError, r"dtype='float64' \(float64\) is not an output dtype: merges "),
        (np.float64, ValueError, r"merges compute in float32.*'base' to keep"),
        ("int8", ValueError, r"dtype='int8' \(int8\) is not a floating-point dtype to store"),
        (bool, ValueError, r"\(bool\) is not a floating-point dtype"),
        (np.complex64, ValueError, r"\(complex64\) is not a floating-point dtype"),
        ("float8_e4m3fn", ValueError, r"\(float8_e4m3fn\) is not a floating-point dtype"),
        ("bf16", ValueError, r"dtype='bf16' is not a numpy dtype; pass None \(float32"),
        ("Base", ValueError, r"dtype='Base' is not a numpy dtype; .*'base'"),
        (_ForeignDtype(), TypeError, r"dtype=torch.bfloat16 is not a numpy dtype; .*'bfloat16'"),
        (16, TypeError, r"dtype=16 is not a numpy dtype"),
    ],
)
@pytest.mark.parametrize("name", ["task_arithmetic", "ties_tensor", "dare"])
def test_an_invalid_dtype_is_refused_before_any_file_is_read(tmp_path, name, dtype, error, match):
    merge, options = MERGES[name]
    missing = tmp_path / "missing.safetensors"
    with pytest.raises(error, match=match):
        merge(missing, [missing], dtype=dtype, **options)


def test_base_refuses_a_float8_base_tensor_before_merging():
    e4m3 = np.dtype(ml_dtypes.float8_e4m3fn)
    base = {"a": np.zeros(2, dtype=F16), "q": np.zeros(2, dtype=e4m3)}
    models = [{"a": np.ones(2, dtype=F16), "q": np.ones(2, dtype=e4m3)}]
    with pytest.raises(ValueError, match=r"1 tensor\(s\) in another \(the first, 'q', in "):
        ties_merge(base, models, density=1.0, dtype="base")
    assert ties_merge(base, models, density=1.0, dtype="bfloat16")["q"].dtype == BF16


def test_rounding_holds_one_output_sized_temporary_more():
    rng = np.random.default_rng(1)
    base = {"w": rng.normal(size=1 << 20).astype(np.float32)}
    models = [{"w": rng.normal(size=1 << 20).astype(np.float32)} for _ in range(2)]

    def peak(dtype):
        tracemalloc.start()
        try:
            task_arithmetic(base, models, dtype=dtype)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    # float16 output: 2 MB more at most (plus slack for small objects).
    assert peak("float16") - peak(None) <= 2 * (1 << 20) + (64 << 10)


def _merge_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_dtype_base_round_trips_through_safetensors(tmp_path, capsys):
    base, models, paths = _files(tmp_path, [BF16, F16, F32])
    out = tmp_path / "merged" / "model.safetensors"
    argv = ["merge", *paths, "--method", "task_arithmetic", "--lam", "0.5", "--out", out]
    code, printed, err = _merge_cli(capsys, *argv, "--dtype", "base")
    assert (code, err) == (0, "")
    assert "by task arithmetic, lam 0.5, dtype base" in printed
    expected = task_arithmetic(base, models, lam=0.5, dtype="base")
    # safetensors' numpy reader (bfloat16 through ml_dtypes, which coda imports).
    with safe_open(out, framework="numpy") as handle:
        for key, tensor in expected.items():
            read = handle.get_tensor(key)
            assert read.dtype == tensor.dtype
            np.testing.assert_array_equal(
                _bits(read) if read.dtype.itemsize == 2 else read,
                _bits(tensor) if tensor.dtype.itemsize == 2 else tensor,
            )
    # The raw bytes, and coda's own reader.
    written = _raw_tensors(out)
    assert {key: code for key, (code, _) in written.items()} == {
        "t0": "BF16",
        "t1": "F16",
        "t2": "F32",
        "position_ids": "I64",
    }
    with open_checkpoint(out) as again:
        assert again.dtype("t0") == BF16 and again.dtype("t1") == F16
        for key, tensor in expected.items():
            # The reader widens bfloat16 and float16 to float32, exactly.
            read = again.read(key)
            np.testing.assert_array_equal(read, tensor.astype(read.dtype))


def test_cli_dtype_overflow_names_the_option_and_leaves_nothing(tmp_path, capsys):
    _, _, paths = _overflowing(tmp_path)
    out = tmp_path / "new" / "model.safetensors"
    argv = ["merge", *paths, "--method", "task_arithmetic", "--lam", "2", "--out", out]
    code, _, err = _merge_cli(capsys, *argv, "--dtype", "float16")
    assert code == 2
    assert "would round to inf in float16" in err
    assert "pass --dtype 'float32' or 'bfloat16'" in err
    assert not (tmp_path / "new").exists()


def test_cli_refuses_an_unknown_dtype(tmp_path, capsys):
    _, _, paths = _overflowing(tmp_path)
    with pytest.raises(SystemExit) as stop:
        main(["merge", *map(str, paths), "--dtype", "float64"])
    assert stop.value.code == 2
    assert "--dtype: invalid choice: 'float64'" in capsys.readouterr().err


def test_on_a_dask_cluster_the_dtype_is_the_local_one(tmp_path):
    distributed = pytest.importorskip("distributed")
    paths = _files(tmp_path, [BF16, F16, F32])[2]
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        for scope in ("tensor", "global"):
            local = ties_merge(paths[0], paths[1:], density=0.4, scope=scope, dtype="base")
            remote = ties_merge(
                paths[0], paths[1:], density=0.4, scope=scope, dtype="base", client=client
            )
            assert list(remote) == list(local)
            for key, tensor in local.items():
                assert remote[key].dtype == tensor.dtype
                np.testing.assert_array_equal(_bits(remote[key]), _bits(tensor))
        (tmp_path / "local").mkdir()
        (tmp_path / "remote").mkdir()
        options = {"density": 0.4, "dtype": "bfloat16", "max_shard_bytes": 64}
        ties_merge(paths[0], paths[1:], out=tmp_path / "local" / "m.safetensors", **options)
        ties_merge(
            paths[0],
            paths[1:],
            out=tmp_path / "remote" / "m.safetensors",
            client=client,
            **options,
        )
        names = _listing(tmp_path / "local")
        assert names == _listing(tmp_path / "remote")
        for name in names:
            local_bytes = (tmp_path / "local" / name).read_bytes()
            assert (tmp_path / "remote" / name).read_bytes() == local_bytes
        _, _, bad = _overflowing(tmp_path)
        with pytest.raises(ValueError, match=_OVERFLOW):
            ties_merge(bad[0], bad[1:], density=1.0, lam=2.0, dtype="float16", client=client)
