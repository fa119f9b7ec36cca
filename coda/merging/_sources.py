"""Where merges read from and write to: mappings in memory or checkpoints on disk.

In-memory mappings are checked and converted to float32 up front
(:func:`_checked`); checkpoints are checked for compatibility and then read
one tensor name at a time (:class:`_Stream`), so that merging T models holds
O(T x largest tensor); :func:`_emit` returns the merged mapping or writes
it atomically with the base's metadata. Only floating-point tensors are
merged: the base's integer and boolean tensors (:class:`_Buffers`) are
checked equal in every model and passed through with their dtype.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from coda._validation import (
    check_finite_tensor,
    check_models,
    check_output_target,
    check_safetensors_out,
    check_same_buffer,
    check_same_shape,
    check_same_tensors,
    check_shard_bytes,
    check_shard_out,
    check_task_vector,
    check_tensor_mapping,
    raise_out_over_input,
)
from coda.merging._out_dtype import _narrowed, _out_dtypes
from coda.merging._writer import _replaced_files, _write_streamed
from coda.merging.checkpoints import (
    Checkpoint,
    _as_float32,
    _is_buffer,
    _open_all,
    _roles,
    check_compatible,
    open_checkpoint,
)


def _float32(value, tensor: str, model: str, finite: bool = True) -> np.ndarray:
    # A value of a wider dtype (float64) beyond float32's range raises in
    # _as_float32, whatever ``finite``.
    array = _as_float32(value, tensor, model)
    if finite:
        check_finite_tensor(array, tensor, model)
    return array


def _task_vector(theta: np.ndarray, start: np.ndarray, tensor: str, model: str) -> np.ndarray:
    """``theta - start`` in float32, for finite float32 tensors; raise where it overflows."""
    # Finite inputs make inf only by overflow, which check_task_vector names.
    with np.errstate(over="ignore"):
        tau = theta - start
    check_task_vector(tau, tensor, model)
    return tau


# |theta_t - theta_0| <= |theta_t| + |theta_0|: no task vector overflows while
# both tensors stay within half of float32's range (the common case, found by
# two reductions per tensor instead of a subtraction).
_HALF_FLOAT32 = np.float32(np.finfo(np.float32).max / 2)


def _within_half(values: np.ndarray) -> bool:
    return values.size == 0 or bool(
        values.min() >= -_HALF_FLOAT32 and values.max() <= _HALF_FLOAT32
    )


def _check_task_vectors(start, thetas: list, tensor: str, labels: list[str]) -> None:
    """Raise if a task vector ``theta_t - start`` of one tensor overflows float32.

    For checks of the fused kernels, which form the task vectors themselves
    and do not store them; every tensor is finite float32, ``labels`` name
    the models.
    """
    if _within_half(start) and all(_within_half(theta) for theta in thetas):
        return
    for theta, label in zip(thetas, labels, strict=True):
        _task_vector(theta, start, tensor, label)


class _Buffers(Mapping):
    """The base's integer and boolean tensors, which merges pass through unchanged.

    A mapping of each such tensor's name to a new array of the base's values
    in its dtype, read when asked for (``read(name)``), so that a merge from
    files holds one at a time. ``order`` lists every tensor name of the base
    (floating-point or not) in its order and ``shapes`` maps each to its
    shape; ``dtypes`` maps the buffers' names to their dtypes, and
    ``floats`` the other tensors' names (the merged ones) to the base's dtypes.
    """

    def __init__(self, order: list, shapes: dict, dtypes: dict, read, floats: dict):
        self.order = list(order)
        self.shapes = {key: tuple(shape) for key, shape in shapes.items()}
        self.dtypes = dtypes
        self.floats = {key: floats[key] for key in self.order if key not in dtypes}
        self._read = read

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self.dtypes:
            raise KeyError(key)
        return self._read(key)

    def __contains__(self, key) -> bool:
        # Without reading the tensor, as Mapping's own test would.
        return key in self.dtypes

    def __iter__(self):
        return iter(self.dtypes)

    def __len__(self) -> int:
        return len(self.dtypes)

    @property
    def merged(self) -> list[str]:
        """The names of the base's floating-point tensors, the ones merged, in its order."""
        return [key for key in self.order if key not in self.dtypes]

    def layout(self, order=None, targets=None) -> dict:
        """Name -> merged ``(dtype, shape)``, in ``order`` (default the base's).

        The dtype is the buffer's own for buffers, and for the merged tensors
        ``targets[name]`` (:func:`coda.merging._out_dtype._out_dtypes`), float32 without.
        """
        order = self.order if order is None else order
        dtypes = {**dict.fromkeys(self.floats, np.float32), **(targets or {}), **self.dtypes}
        return {key: (dtypes[key], self.shapes[key]) for key in order}

    def interleave(self, merged, order=None):
        """Yield ``(name, tensor)`` for every name of ``order`` (default the base's).

        The floating-point tensors come from ``merged``, which yields them in
        the order ``order`` lists them; the buffers are read in between.
        """
        merged = iter(merged)
        for key in self.order if order is None else order:
            yield (key, self[key]) if key in self.dtypes else next(merged)


def _mapping_buffers(base: dict) -> _Buffers:
    """The :class:`_Buffers` of a checked mapping; each read is a copy of the caller's array."""
    arrays = {key: np.asarray(value) for key, value in base.items()}
    held = {key: a for key, a in arrays.items() if _is_buffer(a.dtype)}
    shapes = {key: a.shape for key, a in arrays.items()}
    dtypes = {key: a.dtype for key, a in held.items()}
    floats = {key: a.dtype for key, a in arrays.items()}
    return _Buffers(list(arrays), shapes, dtypes, lambda key: held[key].copy(), floats)


def _file_buffers(base: Checkpoint) -> _Buffers:
    """The :class:`_Buffers` of an open checkpoint, read from it when asked for."""
    keys = base.keys()
    stored = {key: base.dtype(key) for key in keys}
    dtypes = {key: dtype for key, dtype in stored.items() if _is_buffer(dtype)}
    return _Buffers(keys, {key: base.shape(key) for key in keys}, dtypes, base.read, stored)


def _checked_thetas(
    base, models, *, finite: bool = True, labels: list[str] | None = None
) -> tuple[dict, list[dict], _Buffers]:
    """Return the floating-point tensors of the base and each model as float32, after checks.

    Names, shapes and (unless ``finite`` is False: see :func:`_finite_check`)
    finiteness are checked; arrays already float32 are not copied. The
    base's integer and boolean tensors are left out of the float32 dicts and
    returned as :class:`_Buffers`, after checking that every model holds the
    same values there. Messages name the base and models by ``labels``
    (default their roles, ``base``, ``models[0]``, ...).
    """
    base = check_tensor_mapping(base, "base")
    models = check_models(models)
    labels = _roles(len(models)) if labels is None else labels
    buffers = _mapping_buffers(base)
    theta0 = {
        key: _float32(value, key, labels[0], finite)
        for key, value in base.items()
        if key not in buffers
    }
    thetas = []
    for label, model in zip(labels[1:], models, strict=True):
        model = check_tensor_mapping(model, label)
        check_same_tensors(list(base), list(model), "mapping", label)
        for key in base:
            check_same_shape(key, np.shape(model[key]), np.shape(base[key]), "mapping", label)
        for key in buffers:
            check_same_buffer(key, model[key], base[key], "mapping", label)
        thetas.append({key: _float32(model[key], key, label, finite) for key in theta0})
    return theta0, thetas, buffers


def _finite_check(
    theta0: dict, thetas: list[dict], labels: list[str] | None = None, *, finite: bool = True
):
    """``check(key)``: the finiteness check of :func:`_checked_thetas` for one tensor name.

    For callers that let the kernels find non-finite task vectors as they
    select (``coda.merging._top_k._top_k_bins``) instead of a pass per tensor.
    ``labels`` name the base and models as in :func:`_checked_thetas`. A task
    vector that overflows float32 raises too, naming its model; with
    ``finite`` False (mappings :func:`_checked_thetas` checked finite
    already) only that is checked.
    """
    labels = _roles(len(thetas)) if labels is None else labels

    def check(key: str) -> None:
        if finite:
            for label, tensors in zip(labels, [theta0, *thetas], strict=True):
                check_finite_tensor(tensors[key], key, label)
        _check_task_vectors(theta0[key], [theta[key] for theta in thetas], key, labels[1:])

    return check


def _checked(base, models) -> tuple[dict, list[dict], _Buffers]:
    """Return the base's and each model's task vectors (floating-point tensors), after checks.

    As :func:`_checked_thetas`: the base's integer and boolean tensors are
    the :class:`_Buffers` returned last.
    """
    theta0, thetas, buffers = _checked_thetas(base, models)
    labels = _roles(len(thetas))[1:]
    taus = [
        {key: _task_vector(theta[key], start, key, label) for key, start in theta0.items()}
        for label, theta in zip(labels, thetas, strict=True)
    ]
    return theta0, taus, buffers


class _Stream:
    """The base and the task vectors of opened checkpoints, one tensor at a time.

    Only the tensors of the last key asked for are held: the base's and one
    task vector per model, O(T x largest tensor). ``keys`` are the base's
    floating-point tensors: its integer and boolean ones are not merged.
    """

    def __init__(self, base: Checkpoint, models: list[Checkpoint]):
        self._base = base
        self._models = models
        self._key = None
        self._tensors = None

    @functools.cached_property
    def keys(self) -> list[str]:
        # Found when first asked for: a worker's stream reads one given key.
        return _file_buffers(self._base).merged

    def tensors(self, key: str) -> tuple:
        if key != self._key:
            # Drop the previous key's tensors before reading the next ones.
            self._key, self._tensors = None, None
            start = _float32(self._base.read(key), key, self._base.source)
            taus = [
                _task_vector(_float32(m.read(key), key, m.source), start, key, m.source)
                for m in self._models
            ]
            self._key, self._tensors = key, (start, taus)
        return self._tensors


class _View(Mapping):
    """The base (``index=None``) or task vector ``index`` of a :class:`_Stream`."""

    def __init__(self, stream: _Stream, index: int | None):
        self._stream = stream
        self._index = index

    def __getitem__(self, key: str) -> np.ndarray:
        start, taus = self._stream.tensors(key)
        return start if self._index is None else taus[self._index]

    def __iter__(self):
        return iter(self._stream.keys)

    def __len__(self) -> int:
        return len(self._stream.keys)


@contextlib.contextmanager
def _inputs(base, models):
    """Yield ``(theta0, taus, metadata, buffers)`` for mappings or checkpoint paths, after checks.

    ``theta0`` and ``taus`` hold the floating-point tensors; ``buffers`` the
    base's integer and boolean ones (:class:`_Buffers`), checked equal in
    every model. Plain mappings are converted at once (they are in memory
    already); when any source is a path or a :class:`Checkpoint`, every
    model is first checked against the base (names, shapes, buffers, corrupt
    files) and the tensors are then read lazily, one key at a time, through
    a :class:`_Stream`.
    """
    models = check_models(models)
    sources = [base, *models]
    if all(isinstance(s, Mapping) for s in sources):
        theta0, taus, buffers = _checked(base, models)
        yield theta0, taus, {}, buffers
        return
    check_compatible(base, models)
    opened = []
    try:
        checkpoints = _open_all(base, models, opened)
        stream = _Stream(checkpoints[0], checkpoints[1:])
        taus = [_View(stream, t) for t in range(len(models))]
        yield _View(stream, None), taus, checkpoints[0].metadata, _file_buffers(checkpoints[0])
    finally:
        for ckpt in opened:
            ckpt.close()


def _emit(merged, buffers: _Buffers, metadata: dict, out, max_shard_bytes, order=None, dtype=None):
    """Write the merged model to ``out``, or return it as a dict in the base's order.

    ``merged`` yields the ``(key, theta)`` of the floating-point tensors in
    the order ``order`` (default the base's) lists them, each float32 in the
    base's shape, then rounded to the output ``dtype`` (checked; see
    :mod:`coda.merging._out_dtype`); the ``buffers`` come in between, in
    their own dtype. With ``out`` each tensor is written as it comes
    (:func:`coda.merging._writer._write_streamed`, laid out by
    :meth:`_Buffers.layout`).
    """
    targets = _out_dtypes(dtype, buffers.floats)
    if targets is not None:
        merged = _narrowed(merged, targets)
    tensors = buffers.interleave(merged, order)
    if out is not None:
        layout = buffers.layout(order, targets)
        return _write_streamed(tensors, out, layout, metadata, max_shard_bytes)
    result = dict(tensors)
    # In the base's order, whatever order the merge visited the tensors in.
    return {key: result[key] for key in buffers.order}


def _check_out(out, max_shard_bytes, base, models):
    """Check the merges' ``out`` and ``max_shard_bytes`` before any reading; return the latter.

    Messages name ``out``, the merges' argument, not the writer's ``path``;
    an ``out`` whose writing would replace or remove a file of ``base`` or
    ``models`` is refused.
    """
    check_shard_out(out, max_shard_bytes)
    if out is not None:
        path = check_safetensors_out(out, "out")
        check_output_target(path, "out")
        roles = [("base", base), *((f"models[{t}]", m) for t, m in enumerate(models))]
        check_out_spares_inputs(path, roles, "out=")
    return check_shard_bytes(max_shard_bytes)


def _source_files(source) -> set[str]:
    """The real paths of the files that hold checkpoint ``source`` (none for a mapping)."""
    if isinstance(source, Checkpoint):
        return {os.path.realpath(file) for file in source._files()}
    if not isinstance(source, (str, os.PathLike)):
        return set()
    # A damaged checkpoint fails later, in the merge, with its own message.
    with contextlib.suppress(ValueError, OSError, TypeError), open_checkpoint(source) as ckpt:
        return _source_files(ckpt)
    return set()


def check_out_spares_inputs(out: Path, sources, name: str) -> None:
    """Raise if writing ``out`` (argument ``name``) would replace or remove a file of ``sources``.

    ``sources`` pairs how each input is named (``base``, ``models[1]``; the
    command's BASE and FT) with the input.
    """
    targets = _replaced_files(out)
    for role, source in sources:
        hit = sorted(_source_files(source) & targets)
        if hit:
            raise_out_over_input(name, out, hit[0], role, source)


class _Tensors(Mapping):
    """The base's tensors of open checkpoints, with the models' tensors of the same name.

    For the fused merge of ``scope="tensor"``, which reads theta_0 and the
    theta_t and forms tau_t itself, so no task vector is stored. A float32
    tensor of a safetensors file is a read-only view of the file's memory map
    (``Checkpoint._view``; the kernels only read it): neither ``safe_open``'s
    copy out of the map nor :meth:`Checkpoint.read`'s second copy is made,
    which cost more than the merge itself. The
    kernels count the inf and NaN of tau_t as they go, so :meth:`check` (a
    whole pass per tensor) runs only when they found one. Only the tensors
    of the last name asked for are held. The names are the base's
    floating-point tensors; :attr:`buffers` are its integer and boolean ones.
    """

    def __init__(self, checkpoints: list):
        self._checkpoints = checkpoints
        self.buffers = _file_buffers(checkpoints[0])
        self._keys = self.buffers.merged
        self._key = None
        self._tensors = None

    def tensors(self, key: str) -> list:
        """``[theta_0, theta_1, ..., theta_T]`` of tensor ``key``, float32, not yet checked."""
        if key != self._key:
            self._key, self._tensors = None, None
            tensors = [ckpt._view(key) for ckpt in self._checkpoints]
            self._key, self._tensors = key, tensors
        return self._tensors

    def check(self, key: str) -> None:
        """Raise if a tensor ``key`` holds NaN or inf, or a task vector overflows float32."""
        tensors = self.tensors(key)
        for ckpt, tensor in zip(self._checkpoints, tensors, strict=True):
            check_finite_tensor(tensor, key, ckpt.source)
        labels = [ckpt.source for ckpt in self._checkpoints[1:]]
        _check_task_vectors(tensors[0], tensors[1:], key, labels)

    def __getitem__(self, key: str) -> np.ndarray:
        return self.tensors(key)[0]

    def __iter__(self):
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


@contextlib.contextmanager
def _tensor_inputs(base, models):
    """Yield ``(theta0, metadata)`` of checkpoints for :func:`_file_merges`, after checks.

    As :func:`coda.merging._sources._inputs` for files: every model is checked
    against the base first; checkpoints opened here are closed at the end.
    """
    check_compatible(base, models)
    opened = []
    try:
        checkpoints = _open_all(base, models, opened)
        yield _Tensors(checkpoints), checkpoints[0].metadata
    finally:
        for ckpt in opened:
            ckpt.close()
