"""Checks of model checkpoints, merge options and merge statistics.

Part of :mod:`coda._validation`, where every user-facing check lives.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from coda._validation._base import (
    _MAX_LISTED,
    CodaWarning,
    _listing,
    check_flag,
    check_fraction,
    warn,
)
from coda._validation._tables import check_path

#: Covariance eigenvalues at most this fraction of the largest count as zero
#: (as coda.partial's rank check does for the clr covariance).
_RANK_TOL = 1e-12


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


def warn_tasks_without_change(masses) -> None:
    """Warn about tasks whose task vector is zero: models identical to the base.

    ``masses`` holds each task's ||tau_t||_1 over the whole model.
    """
    same = [f"task{t} (models[{t}])" for t, mass in enumerate(masses) if mass == 0]
    if same:
        warn(
            f"{_listing(same)} {'does' if len(same) == 1 else 'do'} not differ from the base "
            "in any floating-point tensor: a zero task vector adds nothing to any statistic "
            "and has no composition of its own (its fate is NaN, and every share is NaN if "
            "no model differs); leave such models out of the description",
            CodaWarning,
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


def check_task_models(models, tasks: Sequence[str], name: str = "models") -> list[str]:
    """Return the task names of ``models``, a non-empty mapping of task name to checkpoint."""
    if not hasattr(models, "items"):
        raise TypeError(
            f"{name} is a {type(models).__name__}; pass a mapping of task name to "
            "checkpoint, e.g. {'low': 'low.safetensors', 'high': 'high.safetensors'}"
        )
    if len(models) == 0:
        raise ValueError(
            f"{name} is empty; pass at least one fine-tuned model keyed by its task (one of "
            f"{', '.join(repr(t) for t in tasks)}), e.g. what train_digit_models returns "
            "without 'base'"
        )
    for task in models:
        if task not in tasks:
            raise ValueError(
                f"{name} has the key {task!r}, which is not a task; key the models by "
                f"{', '.join(repr(t) for t in tasks)}"
            )
    return list(models)


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


def check_models(models, name: str = "models") -> list:
    """Return ``models`` as a list: a non-empty sequence of fine-tuned checkpoints."""
    if isinstance(models, (str, bytes, os.PathLike)) or hasattr(models, "items"):
        raise TypeError(
            f"{name} is a single checkpoint; pass a list of them, e.g. [model_a, model_b]"
        )
    if not isinstance(models, Sequence) or len(models) == 0:
        raise ValueError(
            f"{name}={models!r}; expected a non-empty list of fine-tuned checkpoints "
            "(mappings of tensor names to arrays)"
        )
    return list(models)


def check_model_weights(weights, name: str, n_models: int) -> np.ndarray:
    """Return per-model ``weights`` as float32: ones for None, else one finite number each."""
    if weights is None:
        return np.ones(n_models, dtype=np.float32)
    values = np.asarray(weights)
    if values.dtype.kind not in "iuf" or values.shape != (n_models,):
        raise ValueError(
            f"{name} has shape {values.shape} and dtype {values.dtype}; expected "
            f"{n_models} numbers, one per model, or None for equal weights"
        )
    if not np.isfinite(values).all():
        raise ValueError(f"{name}={weights!r} has values that are not finite; pass finite weights")
    check_float32_range(values, name)
    return values.astype(np.float32)


def check_float32_range(values, name: str):
    """Return ``values`` if float32, the merges' arithmetic, holds them without overflow."""
    largest = float(np.finfo(np.float32).max)
    if np.any(np.abs(np.asarray(values, dtype=np.float64)) > largest):
        shown = values.tolist() if isinstance(values, np.ndarray) else values
        raise ValueError(
            f"{name}={shown!r} holds a value beyond float32's range (|x| <= {largest:.4g}), in "
            "which merges compute: it would become inf; pass a smaller value"
        )
    return values


def check_finite_tensor(values: np.ndarray, tensor: str, model: str) -> None:
    """Raise if a tensor of a checkpoint holds NaN or infinite values."""
    # A finite sum needs every entry finite: one pass without temporaries.
    # A sum that overflows (or a NaN) falls through to the exact check.
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.sum(values)):
            return
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise ValueError(
            f"tensor {tensor!r} of {model} has {bad.size} values that are not finite (flat "
            f"positions {_listing(bad.tolist(), bad.size)}); merging would spread them: "
            "repair or drop that checkpoint"
        )


def check_float32_tensor(values: np.ndarray, cast: np.ndarray, tensor: str, model: str) -> None:
    """Raise if ``cast``, a tensor ``values`` cast to float32, overflowed where it was finite."""
    # As check_finite_tensor: a finite sum clears the tensor in one pass.
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.sum(cast)):
            return
    bad = np.flatnonzero(np.isinf(cast) & np.isfinite(values))
    if bad.size:
        raise ValueError(
            f"tensor {tensor!r} of {model} has {bad.size} values beyond float32's range (|x| <= "
            f"{float(np.finfo(np.float32).max):.4g}; flat positions "
            f"{_listing(bad.tolist(), bad.size)}), in which merges compute: they would become "
            "inf; rescale those weights into float32's range, or drop that checkpoint"
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


def check_normalize(normalize, scope: str, merge: str) -> bool:
    """Return ``normalize`` if it applies (scope="tensor", merge="mean") or is left True."""
    normalize = check_flag(normalize, "normalize")
    if not normalize and (scope != "tensor" or merge != "mean"):
        raise ValueError(
            f"normalize=False has no effect with scope={scope!r} and merge={merge!r}; it "
            "applies to scope='tensor' with merge='mean' only: leave it out"
        )
    return normalize


def check_layers(layers, keys: Sequence[str], name: str = "layers", *, buffers=()) -> dict:
    """Return a pooling layer -> tensor names covering every tensor in ``keys`` once.

    ``layers`` is None (one layer per tensor), a mapping of layer name to a
    list of tensor names, or a callable from a tensor name to its layer name.
    ``buffers`` names the base's integer and boolean tensors, which the
    statistics skip: they may be listed in ``layers`` or left out, and are
    dropped from the pooling, as are layers that hold nothing else.
    """
    buffers = set(buffers)
    weights = [key for key in keys if key not in buffers]
    if buffers and not weights:
        raise ValueError(
            f"every tensor of the base is integer or boolean ({_listing(sorted(buffers))}): "
            "buffers such as position ids or masks, which merges pass through and the "
            "statistics skip, so there is nothing to describe; pass checkpoints that hold "
            "floating-point weights"
        )
    if layers is None:
        return {key: [key] for key in weights}
    if callable(layers):
        pooling: dict = {}
        for key in weights:
            pooling.setdefault(layers(key), []).append(key)
        return pooling
    if not hasattr(layers, "items"):
        raise TypeError(
            f"{name}={layers!r}; expected None, a mapping of layer name to a list of "
            "tensor names, or a callable from a tensor name to its layer name"
        )
    pooling = {layer: list(names) for layer, names in layers.items()}
    empty = [repr(layer) for layer, names in pooling.items() if not names]
    if empty:
        raise ValueError(
            f"{name} gives no tensors to the layer(s) {_listing(empty)}; a layer without "
            f"tensors has no statistics: leave it out of {name}, or give it tensors of the base"
        )
    listed = [key for names in pooling.values() for key in names]
    unknown = sorted({key for key in listed if key not in set(keys)})
    twice = sorted({key for key in listed if listed.count(key) > 1})
    missing = [key for key in weights if key not in set(listed)]
    for problem, found in (
        ("names tensors the models lack", unknown),
        ("puts tensors in more than one layer", twice),
        ("leaves tensors out of every layer", missing),
    ):
        if found:
            raise ValueError(
                f"{name} {problem}: {_listing([repr(k) for k in found])}; give every "
                "tensor of the base to exactly one layer"
            )
    pooling = {
        layer: [key for key in names if key not in buffers] for layer, names in pooling.items()
    }
    return {layer: names for layer, names in pooling.items() if names}


def check_model_count(n_models: int, *, maximum: int | None = None, name: str = "models") -> None:
    """Raise unless 2 <= ``n_models`` (<= ``maximum``): statistics of several models."""
    if n_models < 2:
        raise ValueError(
            f"{name} holds {n_models} model(s); this statistic compares models, so pass at least 2"
        )
    if maximum is not None and n_models > maximum:
        raise ValueError(
            f"{name} holds {n_models} models; sign patterns have 2^T parts and need at "
            f"most {maximum} models, so pass a subset of the tasks"
        )


def check_shard_out(out, max_shard_bytes) -> None:
    """Raise if ``max_shard_bytes`` is given without an ``out`` path to shard."""
    if out is None and max_shard_bytes is not None:
        raise ValueError(
            f"max_shard_bytes={max_shard_bytes!r} without out; shards exist only when the "
            "merged model is written: pass out='merged/model.safetensors' or leave it out"
        )


def check_merge_statistic(frame, name: str, columns, *, statistics=None) -> None:
    """Raise unless ``frame`` is a merge statistic DataFrame with ``columns`` (or statistic)."""
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(
            f"{name} must be a DataFrame of coda.merging.describe, got {type(frame).__name__}; "
            "pass a field of the MergeDescription"
        )
    if columns is not None and list(frame.columns) != list(columns):
        raise ValueError(
            f"{name} must have the columns {list(columns)}, got {list(frame.columns)}; "
            "pass the matching field of coda.merging.describe"
        )
    if statistics is not None and frame.attrs.get("statistic") not in statistics:
        raise ValueError(
            f"{name} must be one of the statistics {list(statistics)} (attrs['statistic']), "
            f"got {frame.attrs.get('statistic')!r}; pass describe(...).shares, .ownership "
            "or .fate"
        )


def check_cluster_sources(sources: Sequence) -> None:
    """Raise unless every checkpoint (base first, then models) is a path workers can open."""
    for k, source in enumerate(sources):
        if not isinstance(source, (str, os.PathLike)):
            label = "base" if k == 0 else f"models[{k - 1}]"
            raise TypeError(
                f"{label} is a {type(source).__name__}; with client=... every checkpoint "
                "must be a path (str or os.PathLike) that the workers open themselves, so "
                "that paths, not arrays, travel: save it with "
                "coda.merging.write_checkpoint first, or leave client=None"
            )


def check_network_layers(
    n_layers: int, n_tasks: int, *, without_mass: Sequence[str] = (), left_out: int = 0
) -> None:
    """Raise unless a real-valued task network has more layers than tasks.

    ``without_mass`` names the tasks with no mass in any layer, which no
    number of layers can give a balance; ``left_out`` counts the layers left
    out because some task has no mass there.
    """
    if without_mass:
        one = len(without_mass) == 1
        raise ValueError(
            "the task network from interference-loss balances needs every task's balance, "
            f"but {_listing([repr(task) for task in without_mass])} "
            f"{'has' if one else 'have'} no mass in any layer (a fine-tuned model identical "
            "to the base), so no layer has a balance for every task and adding layers cannot "
            f"help: drop {'that task' if one else 'those tasks'} and describe the other models"
        )
    if n_layers < n_tasks + 1:
        missing = f" ({left_out} more left out: some task has no mass there)" if left_out else ""
        raise ValueError(
            f"the task network of {n_tasks} tasks from interference-loss balances has "
            f"{n_layers} layers with mass{missing}; the covariance of {n_tasks} balances is "
            f"invertible and its t tests have df = layers - tasks > 0 only with at least "
            f"{n_tasks + 1} layers: describe a model with more layers, or pool fewer tensors "
            "per layer"
        )


def check_composition_layers(n_layers: int, n_tasks: int, left_out: int) -> None:
    """Raise unless an S1 or S4 task network has the layers its t tests need.

    Each pair is conditioned on the other T - 2 tasks, so the tests of
    :func:`coda.pcor_test` have df = n - (T - 2) - 1 > 0: n >= T layers with
    mass. Raised here rather than by :func:`coda.network`, whose message
    names options that :func:`task_network` does not take.
    """
    if n_layers >= n_tasks:
        return
    missing = f" ({left_out} more left out: rows without mass)" if left_out else ""
    raise ValueError(
        f"the task network of {n_tasks} tasks has {n_layers} layers with mass{missing}; "
        f"its t tests condition each pair on the other {n_tasks - 2} tasks and have "
        f"df = layers - tasks + 1 > 0 only with at least {n_tasks} layers: describe a "
        "model with more layers, or pool fewer tensors per layer"
    )


def check_independent_losses(cov: np.ndarray, tasks: list) -> None:
    """Raise unless the covariance of the tasks' interference losses is invertible.

    Eigenvalues at most ``_RANK_TOL`` of the largest count as zero, as for
    the clr covariance of :func:`coda.network`: rounding leaves an exact
    dependence (two identical fine-tuned models lose the same mass in every
    layer) a tiny positive eigenvalue instead of a zero.
    """
    eigenvalues = np.linalg.eigvalsh(cov)
    scale = max(eigenvalues.max(), np.finfo(float).tiny)
    if eigenvalues.min() > _RANK_TOL * scale:
        return
    variances = np.diag(cov)
    flat = [task for task, v in zip(tasks, variances, strict=True) if not v > _RANK_TOL * scale]
    if flat:
        what = f"{_listing([repr(task) for task in flat])} do not vary across layers"
    else:
        corr = cov / np.sqrt(np.outer(variances, variances))
        np.fill_diagonal(corr, 0.0)
        s, t = np.unravel_index(np.argmax(np.abs(corr)), corr.shape)
        what = (
            f"they are linearly dependent across layers (the closest pair, {tasks[s]!r} "
            f"and {tasks[t]!r}, has correlation {corr[s, t]:.6g}; identical or rescaled "
            "fine-tuned models lose the same mass everywhere)"
        )
    raise ValueError(
        "the task network from interference-loss balances needs an invertible covariance "
        f"of the tasks' balances, but {what}: drop all but one of such models and describe "
        "the others, or use task_network on describe(...).shares or .ownership"
    )


def check_network_tasks(n_tasks: int) -> None:
    """Raise unless a task network has at least 4 tasks."""
    if n_tasks < 4:
        raise ValueError(
            f"a task network needs at least 4 tasks, got {n_tasks}; with 3 or fewer the "
            "partial correlations are fixed by closure, so merge and describe 4 or more models"
        )


def check_tasks_with_mass(frame, name: str = "stat_frame") -> None:
    """Raise if a task (column) of a task-share or ownership frame is zero in every layer."""
    empty = [str(c) for c in frame.columns if not (frame[c].to_numpy() > 0).any()]
    if empty:
        raise ValueError(
            f"{name} has tasks with no share in any layer ({_listing(empty)}): such a model "
            "does not differ from the base where it counts, and a part that is zero "
            "everywhere has no log-ratios; leave those models out of the merge or drop the "
            f"columns, {name}.drop(columns=[...])"
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


def check_merge_command(base, models, density, weights=None) -> None:
    """The checks of ``coda merge`` and ``coda merge-stats`` inputs, named as typed there.

    The merging functions check the same, naming their Python arguments.
    """
    check_checkpoint_source(base, "BASE")
    for model in models:
        check_checkpoint_source(model, "FT")
    if density is not None:
        check_fraction(density, "--density", closed=True)
    if weights is not None:
        check_model_weights(weights, "--weights", len(models))
