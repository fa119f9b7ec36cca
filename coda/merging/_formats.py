"""Readers of the checkpoint formats behind :class:`coda.merging.Checkpoint`.

One small class per format (safetensors, sharded safetensors through their
index, npz, PyTorch files, in-memory mappings), each reading one tensor at a
time; :func:`_open_backend` picks the class for a path.
"""

from __future__ import annotations

import json
import struct
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path

import ml_dtypes
import numpy as np
import safetensors
from safetensors import safe_open

from coda._validation import (
    check_readable_dtype,
    check_shard_holds,
    check_tensor_mapping,
    check_torch_entry,
    raise_corrupt_checkpoint,
)

INDEX_NAME = "model.safetensors.index.json"
_TORCH_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")

# safetensors dtype codes (the header's "dtype" field) and the numpy dtypes they store
_SAFETENSORS_DTYPES = {
    "BOOL": np.dtype(np.bool_),
    "U8": np.dtype(np.uint8),
    "I8": np.dtype(np.int8),
    "U16": np.dtype(np.uint16),
    "I16": np.dtype(np.int16),
    "U32": np.dtype(np.uint32),
    "I32": np.dtype(np.int32),
    "U64": np.dtype(np.uint64),
    "I64": np.dtype(np.int64),
    "F16": np.dtype(np.float16),
    "BF16": np.dtype(ml_dtypes.bfloat16),
    "F32": np.dtype(np.float32),
    "F64": np.dtype(np.float64),
    "F8_E4M3": np.dtype(ml_dtypes.float8_e4m3fn),
    "F8_E5M2": np.dtype(ml_dtypes.float8_e5m2),
}


# safetensors' numpy reader looks these up as attributes of numpy, which has
# none: they are read from the memory map and viewed as ml_dtypes' types.
_NOT_IN_SAFETENSORS_NUMPY = ("F8_E4M3", "F8_E5M2")

# The dtypes read from other formats, by numpy name (any byte order).
_READABLE = [dtype.name for dtype in _SAFETENSORS_DTYPES.values()]


def _check_numpy_dtype(path: Path, name: str, dtype: np.dtype) -> None:
    """Raise unless tensor ``name`` of a file is boolean, integer or floating-point."""
    if dtype.kind not in "biuf":
        check_readable_dtype(path, name, dtype.name, _READABLE)


def _check_safetensors_header(path: Path) -> dict:
    """Parse a safetensors header, check the data it describes is all in the file, return it.

    safetensors' own error for a bad file does not say which tensor lies past
    the end; this check does, before anything is memory-mapped or written.
    """
    size = path.stat().st_size
    with path.open("rb") as handle:
        prefix = handle.read(8)
        if len(prefix) < 8:
            raise_corrupt_checkpoint(path, f"the file has {size} bytes, fewer than a header")
        (length,) = struct.unpack("<Q", prefix)
        if length > size - 8:
            raise_corrupt_checkpoint(
                path,
                f"the header claims {length} bytes but the file has {size - 8} after "
                "the length prefix",
            )
        try:
            header = json.loads(handle.read(length))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise_corrupt_checkpoint(path, f"the header is not valid JSON ({error})")
    if not isinstance(header, dict):
        raise_corrupt_checkpoint(path, "the header is not a JSON object")
    available = size - 8 - length
    ends = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            ends[name] = int(info["data_offsets"][1])
        except (TypeError, KeyError, IndexError, ValueError):
            raise_corrupt_checkpoint(path, "the header entry has no data_offsets", tensor=name)
    cut = sorted((end, name) for name, end in ends.items() if end > available)
    if cut:
        # name the tensor the file ends inside; those after it are lost too
        end, name = cut[0]
        raise_corrupt_checkpoint(
            path,
            f"its data ends at byte {end} of the data section, which holds only "
            f"{available} bytes ({len(cut)} tensors lie past the end)",
            tensor=name,
        )
    return header


class _Safetensors:
    """One or several memory-mapped safetensors files (shards) read through safe_open.

    ``files`` maps each shard's name to its path; ``weight_map`` each tensor
    to its shard's name, as the shard index ``index`` does (None for one
    file). Every shard must hold the tensors the index maps to it: that is
    checked here, at opening, so that no read fails later.
    """

    def __init__(
        self, files: dict[str, Path], weight_map: dict[str, str] | None, index: Path | None = None
    ):
        self._handles = {}
        self._maps = {}
        try:
            for key, path in files.items():
                header = _check_safetensors_header(path)
                try:
                    self._handles[key] = safe_open(path, framework="numpy")
                except safetensors.SafetensorError as error:
                    raise_corrupt_checkpoint(path, str(error))
                # A dtype safetensors knows but this module does not read
                # (F8_E8M0, F4, complex, ...) is refused by name now, not
                # when the tensor is read.
                for name, info in header.items():
                    if name != "__metadata__":
                        check_readable_dtype(path, name, info["dtype"], list(_SAFETENSORS_DTYPES))
            if weight_map is not None:
                held = {key: handle.keys() for key, handle in self._handles.items()}
                check_shard_holds(index, weight_map, held)
        except BaseException:
            self.close()
            raise
        self._files = files
        if weight_map is None:
            (key,) = files
            weight_map = dict.fromkeys(self._handles[key].keys(), key)
        self._where = weight_map
        # An index of no tensors names no shard: its checkpoint is empty.
        first = next(iter(self._handles.values()), None)
        self.metadata = {} if first is None else dict(first.metadata() or {})

    def keys(self) -> list[str]:
        return sorted(self._where)

    def _slice(self, name: str):
        try:
            return self._handles[self._where[name]].get_slice(name)
        except safetensors.SafetensorError as error:
            raise_corrupt_checkpoint(self.file_of(name), str(error), tensor=name)

    def shape(self, name: str) -> tuple:
        return tuple(self._slice(name).get_shape())

    def dtype(self, name: str) -> np.dtype:
        return _SAFETENSORS_DTYPES[self._slice(name).get_dtype()]

    def raw(self, name: str) -> np.ndarray:
        code = self._slice(name).get_dtype()
        if code in _NOT_IN_SAFETENSORS_NUMPY:
            mapped, start, header = self._mapped(self.file_of(name))
            begin, end = (start + offset for offset in header[name]["data_offsets"])
            values = np.array(mapped[begin:end]).view(_SAFETENSORS_DTYPES[code])
            return values.reshape(header[name]["shape"])
        try:
            return self._handles[self._where[name]].get_tensor(name)
        except safetensors.SafetensorError as error:
            raise_corrupt_checkpoint(self.file_of(name), str(error), tensor=name)

    def _mapped(self, path: Path) -> tuple:
        """The memory map of a safetensors file, where its data start, and its header."""
        if path not in self._maps:
            with path.open("rb") as handle:
                (length,) = struct.unpack("<Q", handle.read(8))
                header = json.loads(handle.read(length))
            self._maps[path] = np.memmap(path, dtype=np.uint8, mode="r"), 8 + length, header
        return self._maps[path]

    def view(self, name: str) -> np.ndarray:
        """A float32 tensor as a read-only view of the file's memory map, else :meth:`raw`.

        ``get_tensor`` copies the tensor out of the map; a reader that only
        reads (the merge kernels) is spared that copy, which costs more than
        the merge. The header was checked when the file was opened.
        """
        mapped, start, header = self._mapped(self.file_of(name))
        info = header[name]
        if info["dtype"] == "F32":
            begin, end = (start + offset for offset in info["data_offsets"])
            values = np.asarray(mapped[begin:end]).view("<f4")
            # Files from before safetensors padded its header may hold
            # unaligned data, which the kernels are not compiled for.
            if values.flags.aligned:
                return values.reshape(info["shape"])
        return self.raw(name)

    def file_of(self, name: str) -> Path:
        return self._files[self._where[name]]

    def close(self) -> None:
        for handle in self._handles.values():
            handle.__exit__(None, None, None)
        self._handles = {}
        self._maps = {}


class _Npz:
    """A ``.npz`` archive read member by member through numpy's lazy NpzFile."""

    def __init__(self, path: Path):
        self._path = path
        try:
            self._archive = np.load(path, allow_pickle=False)
        # EOFError: numpy's error for an empty file.
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
            raise_corrupt_checkpoint(path, f"it is not a readable .npz archive ({error})")
        if not isinstance(self._archive, np.lib.npyio.NpzFile):
            # np.load reads any .npy file, whatever its name, as one array.
            raise_corrupt_checkpoint(
                path,
                "it holds a single .npy array, not an .npz archive of named tensors "
                "(write one with np.savez(path, **tensors))",
            )
        self.metadata = {}

    def keys(self) -> list[str]:
        return sorted(self._archive.files)

    def _header(self, name: str) -> tuple[tuple, np.dtype]:
        """The shape and dtype of member ``name``, from its .npy header, not its data.

        A dtype coda does not read (object arrays, which hold pickles and are
        never loaded; complex; strings; dates) is refused here, so the shape
        checks of :func:`coda.merging.check_compatible` refuse it before a merge.
        """
        # The member numpy's NpzFile reads for the name: itself, else with .npy added.
        member = name if name in self._archive.zip.namelist() else f"{name}.npy"
        try:
            with self._archive.zip.open(member) as member:
                version = np.lib.format.read_magic(member)
                read_header = (
                    np.lib.format.read_array_header_1_0
                    if version == (1, 0)
                    else np.lib.format.read_array_header_2_0
                )
                shape, _, dtype = read_header(member)
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as error:
            raise_corrupt_checkpoint(
                self._path, f"its .npy header is unreadable ({error})", tensor=name
            )
        _check_numpy_dtype(self._path, name, np.dtype(dtype))
        return tuple(shape), np.dtype(dtype)

    def shape(self, name: str) -> tuple:
        return self._header(name)[0]

    def dtype(self, name: str) -> np.dtype:
        return self._header(name)[1]

    def raw(self, name: str) -> np.ndarray:
        self._header(name)
        try:
            return self._archive[name]
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as error:
            raise_corrupt_checkpoint(self._path, f"its data is unreadable ({error})", tensor=name)

    # Nothing to gain over raw here: these readers copy anyway.
    view = raw

    def file_of(self, name: str) -> Path:
        return self._path

    def close(self) -> None:
        self._archive.close()


class _Torch:
    """A PyTorch state dict loaded with ``weights_only=True`` (no arbitrary unpickling)."""

    def __init__(self, path: Path):
        try:
            import torch
        except ImportError:
            raise ImportError(
                f"reading the PyTorch checkpoint {str(path)!r} needs torch, which is not "
                "installed; install torch (pip install torch) next to the merge extra "
                "(pip install 'coda-logratio[merge]'), or convert the file to safetensors"
            ) from None
        self._torch = torch
        self._path = path
        try:
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except Exception as error:  # torch raises many kinds for a bad file
            if zipfile.is_zipfile(path):
                raise_corrupt_checkpoint(path, f"torch.load failed ({error})")
            # The format of torch.save(..., _use_new_zipfile_serialization=False)
            # cannot be memory-mapped; it is read whole.
            try:
                state = torch.load(path, map_location="cpu", weights_only=True)
            except Exception as error:
                raise_corrupt_checkpoint(path, f"torch.load failed ({error})")
        if not isinstance(state, Mapping):
            raise_corrupt_checkpoint(
                path,
                f"it holds a {type(state).__name__}, not a state dict of tensor names to tensors",
            )
        self._state = state
        self.metadata = {}
        for name, value in state.items():
            self._check_entry(name, value)

    def _check_entry(self, name, value) -> None:
        """Raise unless ``name`` is a str and ``value`` a dense tensor of a dtype coda reads."""
        check_torch_entry(self._path, name, value, self._torch)
        try:
            dtype = self.dtype(name)
        except (TypeError, RuntimeError):  # numpy has no such dtype (quantized, ...)
            # str of a torch dtype is 'torch.qint8', never one of _READABLE
            check_readable_dtype(self._path, name, str(value.dtype), _READABLE)
        else:
            _check_numpy_dtype(self._path, name, dtype)

    def keys(self) -> list[str]:
        return sorted(self._state)

    def shape(self, name: str) -> tuple:
        return tuple(self._state[name].shape)

    def _float8(self, dtype):
        """The ml_dtypes type of a torch float8 dtype (which numpy lacks), else None."""
        for code in ("float8_e4m3fn", "float8_e5m2"):
            if dtype == getattr(self._torch, code, None):
                return np.dtype(getattr(ml_dtypes, code))
        return None

    def dtype(self, name: str) -> np.dtype:
        dtype = self._state[name].dtype
        if dtype == self._torch.bfloat16:
            return np.dtype(ml_dtypes.bfloat16)
        float8 = self._float8(dtype)
        if float8 is not None:
            return float8
        return self._torch.empty((), dtype=dtype).numpy().dtype

    def raw(self, name: str) -> np.ndarray:
        tensor = self._state[name].detach()
        if tensor.dtype == self._torch.bfloat16:
            # numpy has no bfloat16; torch widens it exactly to float32
            return tensor.to(self._torch.float32).numpy()
        float8 = self._float8(tensor.dtype)
        if float8 is not None:
            # nor float8: its bytes are viewed as ml_dtypes' type, as safetensors' are
            return tensor.view(self._torch.uint8).numpy().view(float8)
        return tensor.numpy()

    # Nothing to gain over raw here: these readers copy anyway.
    view = raw

    def file_of(self, name: str) -> Path:
        return self._path

    def close(self) -> None:
        self._state = {}


class _InMemory:
    """A mapping of tensor name to array, offered through the checkpoint interface."""

    def __init__(self, tensors: Mapping):
        self._tensors = check_tensor_mapping(tensors, "tensors")
        self.metadata = {}

    def keys(self) -> list[str]:
        return sorted(self._tensors)

    def shape(self, name: str) -> tuple:
        return tuple(np.shape(self._tensors[name]))

    def dtype(self, name: str) -> np.dtype:
        return np.asarray(self._tensors[name]).dtype

    def raw(self, name: str) -> np.ndarray:
        return np.asarray(self._tensors[name])

    # raw is the caller's own array already, which a reader only reads.
    view = raw

    def file_of(self, name: str) -> None:
        return None

    def close(self) -> None:
        self._tensors = {}


class _RepeatedKey(ValueError):
    """A key given twice in one JSON object, with both values."""


def _no_repeats(pairs: list) -> dict:
    # json.loads keeps the last of repeated keys silently: a shard index
    # that lists a tensor in two shards would open as one of them.
    found = {}
    for key, value in pairs:
        if key in found:
            raise _RepeatedKey(key, found[key], value)
        found[key] = value
    return found


def _open_backend(path: Path):
    """Return the reader for a checkpoint path, chosen by its name."""
    if path.is_dir():
        if (path / INDEX_NAME).is_file():
            path = path / INDEX_NAME
        elif (path / "model.safetensors").is_file():
            path = path / "model.safetensors"
        else:
            raise FileNotFoundError(
                f"directory {str(path)!r} holds neither {INDEX_NAME} nor model.safetensors; "
                "pass the checkpoint file itself"
            )
    name = path.name.lower()
    if name.endswith(".index.json"):
        try:
            index = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=_no_repeats)
            weight_map = {str(k): str(v) for k, v in index["weight_map"].items()}
        except _RepeatedKey as error:
            key, first, second = error.args
            raise_corrupt_checkpoint(
                path,
                f"it gives {key!r} twice, as {first!r} and {second!r} (a tensor listed in two "
                "shards, or a repeated key)",
                tensor=key,
            )
        except (
            UnicodeDecodeError,
            json.JSONDecodeError,
            KeyError,
            TypeError,
            AttributeError,
        ) as error:
            raise_corrupt_checkpoint(path, f"it is not a shard index with a weight_map ({error})")
        files = {shard: path.parent / shard for shard in sorted(set(weight_map.values()))}
        for shard, file in files.items():
            if not file.is_file():
                tensor = min(k for k, v in weight_map.items() if v == shard)
                raise_corrupt_checkpoint(path, f"its shard {shard!r} is missing", tensor=tensor)
        return _Safetensors(files, weight_map, path)
    if name.endswith(".safetensors"):
        return _Safetensors({path.name: path}, None)
    if name.endswith(".npz"):
        return _Npz(path)
    if name.endswith(_TORCH_SUFFIXES):
        return _Torch(path)
    raise ValueError(
        f"checkpoint {str(path)!r} has an unknown kind of name; expected a .safetensors "
        f"file, a {INDEX_NAME}, a .npz archive or a PyTorch file "
        f"({', '.join(_TORCH_SUFFIXES)})"
    )
