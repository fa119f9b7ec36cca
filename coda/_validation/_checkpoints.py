"""Checks of model checkpoints and their tensors: files, names, shapes and values.

Part of :mod:`coda._validation`, where every user-facing check lives; the
checks of merge options and of the statistics of merges are in
:mod:`coda._validation._merging`.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from coda._validation._base import _MAX_LISTED, _listing
from coda._validation._tables import check_path


def check_checkpoint_source(source, name: str) -> Path:
    """Return ``source`` as a Path to a checkpoint file or directory that exists."""
    path = check_path(source, name, example="models/base.safetensors")
    if not path.exists():
        raise FileNotFoundError(
            f"{name}={str(path)!r} does not exist; pass a .safetensors, .npz or PyTorch file, "
            "a model.safetensors.index.json, a directory holding one of them, or a mapping "
            "of tensor names to arrays"
        )
    return path


def raise_corrupt_checkpoint(path, problem: str, *, tensor: str | None = None):
    """Raise the error for a checkpoint file that cannot be read as it claims to be."""
    where = f"tensor {tensor!r} in " if tensor is not None else ""
    raise ValueError(
        f"{where}checkpoint file {str(path)!r} is corrupt or truncated: {problem}; "
        "save or copy the file again"
    )


def check_output_target(path: Path, name: str = "path") -> None:
    """Raise unless the output file ``path`` (argument ``name``) can be made where it is named.

    Checked before any tensor is read or written: renaming into a directory,
    or making a temporary file in a folder that does not exist, would
    otherwise fail only after the whole model was merged and written, with
    an error naming the temporary file.
    """
    if path.is_dir():
        raise IsADirectoryError(
            f"{name}={str(path)!r} is a directory; name the output file inside it, e.g. "
            f"{str(path / 'model.safetensors')!r}"
        )
    if not path.parent.is_dir():
        raise FileNotFoundError(
            f"{name}={str(path)!r} is in the directory {str(path.parent)!r}, which does not "
            "exist; create it first, e.g. Path(...).mkdir(parents=True, exist_ok=True)"
        )


def raise_out_over_input(name: str, out, hit: str, role: str, source) -> None:
    """Raise: writing ``out`` (argument ``name``) would replace or remove ``hit`` of an input."""
    raise ValueError(
        f"{name}{str(out)!r} would overwrite or remove {hit}, a file of {role} "
        f"{str(getattr(source, 'source', source))!r}; write the merged model elsewhere, "
        "e.g. merged/model.safetensors"
    )


def check_open_checkpoint(source, closed: bool) -> None:
    """Raise if the checkpoint ``source`` has been closed."""
    if closed:
        raise ValueError(
            f"checkpoint {source} is closed (its with block has ended, or close() was "
            "called); open it again with open_checkpoint, or read it inside the with block"
        )


def check_torch_entry(path, name, value, torch) -> None:
    """Raise unless entry ``name`` of PyTorch file ``path`` is a str name of a dense tensor.

    ``weights_only`` still loads ints, strings and nested dicts (an epoch
    count, an optimizer state, a state dict under "state_dict"). ``torch`` is
    the module, whose ``strided`` is the dense layout.
    """
    if not isinstance(name, str):
        raise ValueError(
            f"checkpoint file {str(path)!r} has the key {name!r}, which is not a "
            "string; coda.merging reads state dicts of tensor names (str) to tensors"
        )
    if not all(hasattr(value, attr) for attr in ("detach", "dtype", "shape")):
        nested = (
            f", e.g. torch.save(checkpoint[{name!r}], path) if the state dict is under {name!r}"
            if isinstance(value, Mapping)
            else ""
        )
        raise ValueError(
            f"{name!r} of checkpoint file {str(path)!r} is of type {type(value).__name__}, "
            "not a tensor; coda.merging reads state dicts of tensor names to tensors only: "
            f"save the model's state dict alone{nested}"
        )
    layout = getattr(value, "layout", None)
    if layout is not None and layout != torch.strided:
        raise ValueError(
            f"tensor {name!r} in checkpoint file {str(path)!r} has the layout {layout}; "
            "coda.merging reads dense tensors: save it as tensor.to_dense()"
        )


def check_readable_dtype(path, tensor: str, code, readable: Sequence[str]) -> None:
    """Raise unless a safetensors header gives ``tensor`` a dtype code coda reads."""
    if code not in readable:
        raise ValueError(
            f"tensor {tensor!r} in checkpoint file {str(path)!r} has dtype {code!r}, which "
            f"coda.merging does not read (it reads {', '.join(readable)}); convert the "
            "checkpoint to one of those dtypes, e.g. float32"
        )


def check_shard_holds(index, weight_map: dict, held: dict) -> None:
    """Raise unless each shard holds exactly the tensors that the index maps to it.

    ``held`` maps each shard to the names it holds. A mapped tensor missing
    from its shard is named first; then a tensor a shard holds that the
    index maps elsewhere, or not at all, which reading through the index
    would silently drop (or take from the other shard), where loading every
    shard would not.
    """
    mapped = {shard: set() for shard in held}
    for name, shard in weight_map.items():
        mapped.setdefault(shard, set()).add(name)
    for shard, names in held.items():
        absent = sorted(mapped[shard] - set(names))
        if absent:
            others = absent[1:]
            also = (
                f" (nor {len(others)} other tensor(s) the index maps there: "
                f"{_listing([repr(name) for name in others])})"
                if others
                else ""
            )
            raise ValueError(
                f"shard index {str(index)!r} maps tensor {absent[0]!r} to the shard {shard!r}, "
                f"which does not contain it{also}; the index and its shards do not belong "
                "together: copy the index and every shard again from one checkpoint"
            )
    for shard, names in held.items():
        extra = sorted(set(names) - mapped[shard])
        if extra:
            name = extra[0]
            listed = (
                f"which the index maps to the shard {weight_map[name]!r}: a tensor name in "
                "two shards"
                if name in weight_map
                else "which the index does not list"
            )
            raise_corrupt_checkpoint(
                index,
                f"its shard {shard!r} also holds the tensor, {listed}; the index and its "
                "shards do not belong together",
                tensor=name,
            )


def check_written_tensor(tensor, seen: set) -> str:
    """Return ``tensor``, a name a safetensors file can hold that is not in ``seen`` yet.

    Adds the name to ``seen``. The header maps each name to one tensor, and
    ``__metadata__`` is the key of its metadata, so either would make a file
    that does not read back.
    """
    if not isinstance(tensor, str):
        raise TypeError(f"tensor name {tensor!r} is not a string; name every tensor with a str")
    if tensor == "__metadata__":
        raise ValueError(
            "a tensor is named '__metadata__', which safetensors reserves for the header "
            "metadata; rename that tensor (e.g. 'metadata'), or pass text as metadata=..."
        )
    if tensor in seen:
        raise ValueError(
            f"tensor {tensor!r} comes twice in tensors; a checkpoint holds each name once: "
            "drop or rename one of them"
        )
    seen.add(tensor)
    return tensor


def check_model_shapes(shapes: dict, expected: dict, model: str, made_by: str) -> None:
    """Raise unless a model has each tensor of ``expected`` (name -> shape) in that shape.

    ``shapes`` maps the model's tensor names to their shapes; ``made_by``
    says where models of that architecture come from.
    """
    missing = [name for name in expected if name not in shapes]
    if missing:
        raise ValueError(
            f"the model {model} lacks tensor(s) {_listing([repr(n) for n in missing])} of the "
            f"network it is evaluated as; pass a model made by {made_by} or merged from such "
            "models"
        )
    for name, shape in expected.items():
        if tuple(shapes[name]) != tuple(shape):
            raise ValueError(
                f"tensor {name!r} of the model {model} has shape {tuple(shapes[name])} but the "
                f"network it is evaluated as needs {tuple(shape)}; pass a model made by "
                f"{made_by} or merged from such models"
            )


def check_tensor_name(tensor, source: str, keys: Sequence[str]) -> str:
    """Return ``tensor`` if it names a tensor of the checkpoint ``source``."""
    if tensor not in keys:
        raise KeyError(
            f"checkpoint {source} has no tensor {tensor!r}; its tensors are {_listing(list(keys))}"
        )
    return tensor


def _from_torch(value):
    """``value`` as a numpy array if it is a torch tensor (exactly, without copying), else itself.

    numpy cannot take torch's bfloat16 and float8 tensors (np.asarray raises
    "unsupported ScalarType"), nor tensors that require grad: their bits are
    viewed as ml_dtypes' types, as the PyTorch file reader does.
    """
    # Only when torch is imported already; a stand-in module may lack Tensor.
    torch = sys.modules.get("torch")
    tensor_type = getattr(torch, "Tensor", None)
    if tensor_type is None or not isinstance(value, tensor_type):
        return value
    tensor = value.detach().cpu()
    code = str(tensor.dtype).removeprefix("torch.")
    if code in ("bfloat16", "float8_e4m3fn", "float8_e5m2"):
        import ml_dtypes

        bits = torch.int16 if code == "bfloat16" else torch.uint8
        return tensor.view(bits).numpy().view(getattr(ml_dtypes, code))
    return tensor.numpy()


def check_tensor_mapping(tensors, name: str) -> dict:
    """Return a mapping of tensor names to arrays with str names and numeric arrays.

    torch tensors come back as numpy arrays (:func:`_from_torch`).
    """
    if not isinstance(tensors, Mapping):
        raise TypeError(
            f"{name} is a {type(tensors).__name__}; expected a mapping of tensor names to "
            "arrays: this function works on checkpoints in memory. Read a file with "
            "coda.merging.open_checkpoint (ckpt.read(name) for each of ckpt.keys()), or use "
            "ties_merge, task_arithmetic, dare or describe, which take file paths"
        )
    bad = [repr(k) for k in tensors if not isinstance(k, str)]
    if bad:
        raise TypeError(
            f"{name} has tensor names that are not strings: {_listing(bad)}; name every "
            "tensor with a str, e.g. 'layers.0.weight'"
        )
    tensors = {key: _from_torch(value) for key, value in tensors.items()}
    for key, value in tensors.items():
        try:
            dtype = np.asarray(value).dtype
        except ValueError as error:  # a ragged nested list
            raise ValueError(
                f"{name}[{key!r}] is not a rectangular array ({error}); pass each tensor as "
                "an array (numpy, or a nested list of equal-length rows)"
            ) from None
        # ml_dtypes' bfloat16 and float8 types are floats that numpy gives kind 'V'.
        if dtype.kind not in "biuf" and not dtype.name.startswith(("bfloat16", "float8")):
            raise TypeError(
                f"{name}[{key!r}] has dtype {dtype}; tensors must be "
                "boolean, integer or floating-point arrays"
            )
    return dict(tensors)


def check_same_tensors(base_keys: Sequence[str], keys: Sequence[str], base: str, model: str):
    """Raise unless a model checkpoint has exactly the tensors of its base."""
    missing_in_base = sorted(set(keys) - set(base_keys))
    if missing_in_base:
        raise ValueError(
            f"checkpoint {model} has tensors missing from the base {base}: "
            f"{_listing(missing_in_base)}; every model must be fine-tuned from the same base"
        )
    missing = sorted(set(base_keys) - set(keys))
    if missing:
        raise ValueError(
            f"checkpoint {model} lacks tensors of the base {base}: {_listing(missing)}; "
            "every model must hold every tensor of the base"
        )


def check_same_shape(tensor: str, shape: tuple, base_shape: tuple, base: str, model: str):
    """Raise unless a model's tensor has the shape of the base's tensor of that name."""
    if tuple(shape) != tuple(base_shape):
        raise ValueError(
            f"tensor {tensor!r} has shape {tuple(shape)} in checkpoint {model} but "
            f"{tuple(base_shape)} in the base {base}; models merge only with the "
            "architecture of their base"
        )


def check_metadata(metadata, name: str = "metadata") -> dict | None:
    """Return safetensors header ``metadata``: None or a mapping of str to str."""
    if metadata is None:
        return None
    if not hasattr(metadata, "items"):
        raise TypeError(
            f"{name}={metadata!r}; expected a mapping of str to str such as "
            "{'format': 'pt'}, or None"
        )
    bad = [repr(k) for k, v in metadata.items() if not (isinstance(k, str) and isinstance(v, str))]
    if bad:
        raise TypeError(
            f"{name} has entries that are not str to str (keys {_listing(bad)}); the "
            "safetensors header stores text only: convert values with str(...)"
        )
    return dict(metadata)


def check_shard_bytes(value, name: str = "max_shard_bytes") -> int | None:
    """Return ``value``: None (one file) or a positive number of bytes per shard."""
    if value is None:
        return None
    # On the command line (an option's name) a single file is the option left out.
    single = "leave it out" if name.startswith("--") else "None"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(
            f"{name}={value!r}; expected a positive integer number of bytes, e.g. "
            f"5 * 2**30 for 5 GiB shards, or {single} for a single file"
        )
    if value <= 0:
        raise ValueError(
            f"{name}={value}; expected a positive number of bytes, or {single} for a single file"
        )
    return int(value)


def _not_finite(values: np.ndarray) -> np.ndarray:
    """Flat positions of the values that are not finite (NaN, inf).

    A finite sum needs every entry finite: one pass without temporaries
    clears most tensors. A sum that overflows (or a NaN) falls through to
    the exact check.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.sum(values)):
            return np.empty(0, dtype=np.intp)
    return np.flatnonzero(~np.isfinite(values))


def check_finite_tensor(values: np.ndarray, tensor: str, model: str) -> None:
    """Raise if a tensor of a checkpoint holds NaN or infinite values."""
    bad = _not_finite(values)
    if bad.size:
        raise ValueError(
            f"tensor {tensor!r} of {model} has {bad.size} values that are not finite (flat "
            f"positions {_listing(bad.tolist(), bad.size)}); merging would spread them: "
            "repair or drop that checkpoint"
        )


def check_float32_tensor(values: np.ndarray, cast: np.ndarray, tensor: str, model: str) -> None:
    """Raise if ``cast``, a tensor ``values`` cast to float32, overflowed where it was finite."""
    bad = _not_finite(cast)
    bad = bad[np.isfinite(values.ravel()[bad])]
    if bad.size:
        raise ValueError(
            f"tensor {tensor!r} of {model} has {bad.size} values beyond float32's range (|x| <= "
            f"{float(np.finfo(np.float32).max):.4g}; flat positions "
            f"{_listing(bad.tolist(), bad.size)}), in which merges compute: they would become "
            "inf; rescale those weights into float32's range, or drop that checkpoint"
        )


def check_task_vector(tau: np.ndarray, tensor: str, model: str) -> None:
    """Raise if ``tau``, a float32 task vector of finite tensors, overflowed to inf.

    ``tau`` is tensor ``tensor`` of the checkpoint ``model`` minus the base's,
    both finite: a value that is not finite is a difference beyond float32's range.
    """
    bad = _not_finite(tau)
    if bad.size:
        raise ValueError(
            f"the task vector of tensor {tensor!r} of {model} (model - base) overflows "
            f"float32 at {bad.size} values (flat positions "
            f"{_listing(bad.tolist(), bad.size)}): the model and the base differ there by "
            f"more than float32's range (|x| <= {float(np.finfo(np.float32).max):.4g}), in "
            "which merges compute task vectors; rescale those weights of the model and the "
            "base well into float32's range, or drop that checkpoint"
        )


def check_same_buffer(tensor: str, values, base_values, base: str, model: str) -> None:
    """Raise unless a model's tensor equals its base's integer or boolean tensor ``tensor``.

    Integer and boolean tensors (position ids, attention masks, step
    counters) are buffers, not weights: merges pass the base's through and
    cannot merge a model's other values.
    """
    values, base_values = np.asarray(values), np.asarray(base_values)
    if values.dtype.kind not in "biuf":
        # bfloat16 and the float8 formats compare through float64, exactly.
        values = values.astype(np.float64)
    if values.dtype == base_values.dtype:
        differ = values != base_values
    else:
        # Python's int and float compare exactly; numpy would compare an int64
        # of 2**53 + 1 and the float 2**53 as float64, and call them equal.
        differ = values.astype(object) != base_values.astype(object)
    bad = np.flatnonzero(differ)
    if not bad.size:
        return
    positions = _listing(bad[:_MAX_LISTED].tolist(), bad.size)
    raise ValueError(
        f"tensor {tensor!r} of {model} differs from the base {base} in {bad.size} of "
        f"{base_values.size} values (flat positions {positions}); "
        f"it is {base_values.dtype} in the base, and integer and boolean tensors (buffers "
        "such as position ids, masks or step counters) are passed through a merge "
        f"unchanged, never merged: give that model the base's {tensor!r}, or, if it is a "
        "weight, store it as floating point in the base"
    )


def check_safetensors_out(path, name: str = "path") -> Path:
    """Return ``path`` as a Path if it names a ``.safetensors`` file to write."""
    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(
            f"{name}={str(path)!r} does not end in .safetensors; name the output e.g. "
            "'merged/model.safetensors'"
        )
    return path
