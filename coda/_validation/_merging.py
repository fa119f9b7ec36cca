"""Checks of merge options, merge commands and the statistics of merges.

Part of :mod:`coda._validation`, where every user-facing check lives; the
checks of checkpoints and their tensors are in
:mod:`coda._validation._checkpoints`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from coda._validation._base import CodaWarning, _listing, check_flag, check_fraction, warn
from coda._validation._checkpoints import check_checkpoint_source

#: Covariance eigenvalues at most this fraction of the largest count as zero
#: (as coda.partial's rank check does for the clr covariance).
_RANK_TOL = 1e-12


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
    # float32 rounds a weight below its smallest normal number to a subnormal
    # (digits lost) or to 0 (the model silently dropped).
    smallest = float(np.finfo(np.float32).tiny)
    magnitudes = np.abs(values.astype(np.float64))
    if np.any((magnitudes > 0) & (magnitudes < smallest)):
        raise ValueError(
            f"{name}={values.tolist()!r} holds a non-zero value below float32's smallest "
            f"normal number ({smallest:.4g}), in which merges compute: it would lose its "
            "digits or become 0; rescale the weights (e.g. divide them by their largest "
            "magnitude), or pass 0 to leave a model out"
        )
    return values.astype(np.float32)


def check_weighted_range(taus: Sequence[Mapping], weights: np.ndarray, name: str = "weights"):
    """Raise if a weighted task vector ``weights[t] * tau_t`` overflows float32.

    The merges weight each task vector in float32: beyond its range an entry
    becomes inf, and the statistics built on it NaN.
    """
    largest = float(np.finfo(np.float32).max)
    for t, (tau, weight) in enumerate(zip(taus, weights, strict=True)):
        if abs(float(weight)) <= 1.0:
            # tau_t is finite in float32 (checked), so w_t tau_t is too: no pass.
            continue
        for key, values in tau.items():
            # The largest magnitude without an |values| temporary.
            size = max(float(values.max(initial=0.0)), -float(values.min(initial=0.0)))
            peak = size * abs(float(weight))
            if peak > largest:
                raise ValueError(
                    f"{name}[{t}]={float(weight):g} times task{t}'s tensor {key!r} reaches "
                    f"{peak:.4g}, beyond float32's range (|x| <= {largest:.4g}), in which "
                    "merges weight the task vectors: it would become inf; rescale the "
                    "weights (e.g. divide them by their largest magnitude)"
                )


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
    if not keys:
        raise ValueError(
            "the base holds no tensors, so there is nothing to describe; pass checkpoints "
            "that hold floating-point weights"
        )
    if not weights:
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


def check_out_dtype(dtype, name: str, floats: dict):
    """Return None, ``"base"`` or the dtype of ``floats`` (name -> numpy dtype) ``dtype`` names.

    ``dtype`` is the merges' output dtype: None (float32), ``"base"``, or a
    numpy dtype or its name among ``floats``.
    """
    if dtype is None or (isinstance(dtype, str) and dtype == "base"):
        return dtype
    fix = (
        "pass None (float32, the default), 'base' (each tensor in the base's dtype) or one of "
        f"{', '.join(repr(key) for key in floats)}"
    )
    try:
        found = np.dtype(dtype)
    except TypeError:
        error = ValueError if isinstance(dtype, str) else TypeError
        raise error(f"{name}={dtype!r} is not a numpy dtype; {fix}") from None
    if found.name in floats:
        return floats[found.name]
    if found == np.float64:
        raise ValueError(
            f"{name}={dtype!r} (float64) is not an output dtype: merges compute in float32, so "
            "float64 would store the same values at twice the size; pass 'float32', or 'base' "
            "to keep the dtype of a float64 base"
        )
    raise ValueError(f"{name}={dtype!r} ({found}) is not a floating-point dtype to store; {fix}")


def check_base_out_dtypes(dtypes: dict, kept: Sequence, name: str = "dtype") -> None:
    """Raise with ``name="base"`` if a base tensor's dtype (``dtypes``) is not one of ``kept``."""
    other = {key: dt for key, dt in dtypes.items() if dt not in kept}
    if other:
        key, dt = next(iter(other.items()))
        raise ValueError(
            f"{name}='base' keeps each tensor in the base's dtype, one of "
            f"{', '.join(str(k) for k in kept)}, but the base stores {len(other)} tensor(s) in "
            f"another (the first, {key!r}, in {dt}); pass {name}='bfloat16' or "
            f"{name}='float32' for the merged model"
        )


def check_out_range(values: np.ndarray, dtype: np.dtype, limit, top: float, tensor: str) -> None:
    """Raise if float32 ``values`` of merged tensor ``tensor`` round to inf in ``dtype``.

    ``limit`` is the least float32 magnitude that rounds to inf and ``top``
    the largest finite value of ``dtype``. Two reductions (min and max)
    clear most tensors; the values are counted only when one reaches it.
    """
    if values.size == 0 or (-limit < values.min() and values.max() < limit):
        return
    magnitudes = np.abs(values)
    beyond = magnitudes >= limit
    count = int(np.count_nonzero(beyond))
    if count == 0:  # NaN, which min and max pass on, is not out of range
        return
    largest = float(magnitudes[beyond].max())
    if np.isinf(largest):
        fix = (
            "the float32 merge itself overflows there (see the Notes of "
            "coda.merging.task_arithmetic): merge with a smaller lam or smaller weights"
        )
    elif dtype.name == "bfloat16":
        fix = "pass dtype='float32', which holds them"
    else:
        # bfloat16 has float32's exponent: it holds what float16 cannot, up to about 3.4e38.
        fix = "pass dtype='float32' or 'bfloat16', which hold them"
    raise ValueError(
        f"tensor {tensor!r} of the merged model has {count} value(s) that would round to inf "
        f"in {dtype.name}, whose largest finite value is {top:.6g} (the largest magnitude "
        f"here is {largest:.6g}); {fix}"
    )
