"""Regressions of the merge rules (coda.merging.ties, dare): each test failed before its fix."""

import sys
import types

import ml_dtypes
import numpy as np
import pytest
from numpy.testing import assert_array_equal

from coda.merging import dare, open_checkpoint, task_arithmetic, ties_merge, write_checkpoint


def _sequential_dare(base, models, density, rescale, rng, weights, lam):
    """DARE drawn in one sequential pass: models, then the floating-point tensors in order."""
    keys = [k for k, v in base.items() if np.asarray(v).dtype.kind not in "biu"]
    dropped = []
    for model in models:
        per_key = {}
        for key in keys:
            start = np.asarray(base[key], dtype=np.float32)
            tau = np.asarray(model[key], dtype=np.float32) - start
            kept = np.where(rng.random(start.shape) < density, tau, np.float32(0.0))
            if rescale == "inverse":
                kept = kept / np.float32(density)
            elif np.abs(kept).sum() > 0:
                ratio = np.abs(tau).sum(dtype=np.float64) / np.abs(kept).sum(dtype=np.float64)
                kept = kept * np.float32(ratio)
            per_key[key] = kept
        dropped.append(per_key)
    merged = {}
    for key in base:
        if key not in keys:
            merged[key] = np.asarray(base[key])
            continue
        total = np.float32(weights[0]) * dropped[0][key]
        for w, per_key in zip(weights[1:], dropped[1:], strict=True):
            total = total + np.float32(w) * per_key[key]
        merged[key] = np.asarray(base[key], dtype=np.float32) + np.float32(lam) * total
    return merged


def _checkpoints(dtype, n_models, seed=0):
    rng = np.random.default_rng(seed)
    shapes = {"b": (4, 3), "a": (), "ids": None, "c": (1,), "d": (9,)}
    base = {
        k: np.arange(5) if s is None else rng.normal(size=s).astype(dtype)
        for k, s in shapes.items()
    }
    models = [
        {
            k: v.copy() if k == "ids" else (v + rng.normal(size=v.shape)).astype(dtype)
            for k, v in base.items()
        }
        for _ in range(n_models)
    ]
    return base, models


@pytest.mark.parametrize(
    "bit_generator",
    [np.random.PCG64, np.random.PCG64DXSM, np.random.MT19937, np.random.Philox, np.random.SFC64],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float16, ml_dtypes.bfloat16])
def test_dare_moves_a_generator_as_one_sequential_pass_does(bit_generator, dtype):
    # The generator passed as seed was left where it started (the code that
    # advanced it ran only if the merge asked for a tensor past the last), so
    # two merges drawn from one generator dropped exactly the same entries.
    base, models = _checkpoints(dtype, 3)
    mine, twin = (np.random.Generator(bit_generator(7)) for _ in range(2))
    # A buffered 32-bit output, which drawing doubles keeps.
    assert mine.random(dtype=np.float32) == twin.random(dtype=np.float32)
    options = {"density": 0.4, "weights": [1.0, -0.5, 0.0], "lam": 0.7}
    for rescale in ("inverse", "l1", "inverse"):
        got = dare(base, models, rescale=rescale, seed=mine, **options)
        expected = _sequential_dare(
            base, models, options["density"], rescale, twin, options["weights"], options["lam"]
        )
        for key in base:
            assert_array_equal(got[key], expected[key], strict=True)
    # Both continue alike, from the buffered 32-bit output on.
    assert mine.random(dtype=np.float32) == twin.random(dtype=np.float32)
    assert_array_equal(mine.random(5), twin.random(5))


def test_two_dare_merges_from_one_generator_draw_different_entries(tmp_path):
    base = {"w": np.zeros(64, dtype=np.float32)}
    models = [{"w": np.arange(1, 65, dtype=np.float32)}]
    rng = np.random.default_rng(0)
    first = dare(base, models, density=0.5, seed=rng)["w"]
    second = dare(base, models, density=0.5, seed=rng)["w"]
    assert not np.array_equal(first != 0, second != 0)
    # The same from files, written to a file: the second merge draws the next 64.
    paths = [
        write_checkpoint(m, tmp_path / f"m{t}.safetensors") for t, m in enumerate([base, *models])
    ]
    rng = np.random.default_rng(0)
    dare(paths[0], paths[1:], density=0.5, seed=rng, out=tmp_path / "one.safetensors")
    out = dare(paths[0], paths[1:], density=0.5, seed=rng, out=tmp_path / "two.safetensors")
    with open_checkpoint(out) as merged:
        assert_array_equal(merged.read("w"), second, strict=True)


@pytest.mark.parametrize(
    ("seed", "error"), [(-1, ValueError), (1.5, TypeError), ("a", TypeError), (True, TypeError)]
)
def test_dare_names_a_bad_seed(seed, error):
    # numpy's own "expected non-negative integer" did not say which argument.
    base = {"w": np.zeros(3)}
    with pytest.raises(error, match=r"seed=.*pass None, a non-negative integer or a numpy"):
        dare(base, [{"w": np.ones(3)}], density=0.5, seed=seed)


@pytest.mark.parametrize("options", [{"weights": [1e40]}, {"lam": -1e39}])
def test_weights_and_lam_beyond_float32_are_refused(options):
    # merges compute in float32: they became inf and the merge inf or NaN
    name = next(iter(options))
    with pytest.raises(ValueError, match=rf"^{name}=.* beyond float32's range"):
        task_arithmetic({"s": np.float32(1)}, [{"s": np.float32(2)}], **options)


def test_float8_and_ragged_tensors_in_memory():
    e4m3 = ml_dtypes.float8_e4m3fn
    merged = ties_merge(
        {"w": np.array([0.5, 1], e4m3)}, [{"w": np.array([1, 2], e4m3)}], density=1.0
    )
    np.testing.assert_array_equal(merged["w"], np.array([1.0, 2.0], np.float32))
    with pytest.raises(ValueError, match=r"models\[0\]\['w'\] is not a rectangular array"):
        ties_merge({"w": np.zeros(2)}, [{"w": [[1], [1, 2]]}], density=0.5)


@pytest.mark.parametrize(
    ("seed", "error"), [(-1, ValueError), (1.5, TypeError), ("a", TypeError), (True, TypeError)]
)
@pytest.mark.parametrize("statistic", ["entry_categories", "conflict_curve", "describe"])
def test_statistics_name_a_bad_seed(statistic, seed, error):
    # numpy's "expected non-negative integer" did not say which argument; True was taken as 1.
    import coda.merging

    base = {"w": np.zeros(4)}
    models = [{"w": np.array([1.0, -2.0, 3.0, 0.5])}, {"w": np.array([-1.0, 2.0, 3.0, 1.0])}]
    function = getattr(coda.merging, statistic)
    with pytest.raises(error, match=r"seed=.*pass None, a non-negative integer or a numpy"):
        function(base, models, density=0.5, seed=seed)


def test_npz_that_is_empty_or_one_npy_array_is_a_corrupt_checkpoint(tmp_path):
    # An empty file raised numpy's EOFError; a .npy array saved under an
    # .npz name an AttributeError ('numpy.ndarray' object has no attribute 'files').
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    single = tmp_path / "single.npz"
    with single.open("wb") as handle:
        np.save(handle, np.ones(3))
    with pytest.raises(ValueError, match=r"empty\.npz' is corrupt or truncated: it is not a"):
        open_checkpoint(empty)
    with pytest.raises(ValueError, match=r"single\.npz' is corrupt .* a single \.npy array"):
        ties_merge({"w": np.zeros(3)}, [single], density=0.5)


class _TorchDtype:
    def __init__(self, name):
        self.name = name

    def __str__(self):
        return f"torch.{self.name}"


class _FakeTensor:
    """The part of torch.Tensor that in-memory checkpoints use, backed by numpy.

    Like torch, it refuses numpy conversion of bfloat16 and float8 and of a
    tensor that requires grad (torch is not a test dependency).
    """

    def __init__(self, values, name, requires_grad=False):
        self._values, self.dtype, self.requires_grad = values, _TorchDtype(name), requires_grad

    def detach(self):
        return _FakeTensor(self._values, self.dtype.name)

    def cpu(self):
        return self

    def view(self, dtype):
        # A reinterpretation of the bits, as torch's Tensor.view(dtype).
        return _FakeTensor(self._values.view(dtype.name), dtype.name)

    def numpy(self):
        if self.requires_grad:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad.")
        if self.dtype.name in ("bfloat16", "float8_e4m3fn", "float8_e5m2"):
            raise TypeError(f"Got unsupported ScalarType {self.dtype.name}")
        return self._values

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.numpy(), dtype=dtype)


def _fake_torch():
    torch = types.ModuleType("torch")
    torch.Tensor = _FakeTensor
    torch.int16, torch.uint8 = _TorchDtype("int16"), _TorchDtype("uint8")
    return torch


@pytest.mark.parametrize("dtype", ["bfloat16", "float8_e4m3fn", "float16"])
def test_torch_tensors_in_memory_of_every_float_dtype(dtype, monkeypatch):
    # np.asarray raised torch's "Got unsupported ScalarType BFloat16" for the
    # state dict of a bf16 model, naming no tensor; a Parameter that requires
    # grad raised "Can't call numpy() on Tensor that requires grad".
    monkeypatch.setitem(sys.modules, "torch", _fake_torch())
    values = np.array([[0.5, -1.0], [2.0, 0.25]], dtype=np.float32)
    kind = np.dtype(getattr(ml_dtypes, dtype, dtype))
    base = {"w": _FakeTensor(np.zeros((2, 2), kind), dtype), "ids": np.arange(3)}
    tuned = [
        {"w": _FakeTensor(values.astype(kind), dtype, requires_grad=True), "ids": np.arange(3)},
        {"w": _FakeTensor((-values / 2).astype(kind), dtype), "ids": np.arange(3)},
    ]
    plain = [{"w": values, "ids": np.arange(3)}, {"w": -values / 2, "ids": np.arange(3)}]
    zero = {"w": np.zeros((2, 2), dtype=np.float32), "ids": np.arange(3)}
    for merge in (task_arithmetic, ties_merge):
        options = {} if merge is task_arithmetic else {"density": 0.5, "scope": "global"}
        got, expected = merge(base, tuned, **options), merge(zero, plain, **options)
        for key in expected:
            assert_array_equal(got[key], expected[key], strict=True)
    with open_checkpoint(base) as ckpt:
        assert ckpt.dtype("w") == kind
