"""Where merges read from and write to: mappings in memory or checkpoints on disk.

In-memory mappings are checked and converted to float32 up front
(:func:`_checked`); checkpoints are checked for compatibility and then read
one tensor name at a time (:class:`_Stream`), so that merging T models holds
O(T x largest tensor); :func:`_finish` returns the merged mapping or writes
it atomically with the base's metadata.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

import numpy as np

from coda._validation import (
    check_finite_tensor,
    check_models,
    check_same_shape,
    check_same_tensors,
    check_shard_bytes,
    check_shard_out,
    check_tensor_mapping,
)
from coda.merging._writer import _write_streamed
from coda.merging.checkpoints import (
    Checkpoint,
    _open_all,
    _roles,
    check_compatible,
)


def _float32(value, tensor: str, model: str, finite: bool = True) -> np.ndarray:
    array = np.asarray(value, dtype=np.float32)
    if finite:
        check_finite_tensor(array, tensor, model)
    return array


def _checked_thetas(
    base, models, *, finite: bool = True, labels: list[str] | None = None
) -> tuple[dict, list[dict]]:
    """Return the base's and each model's tensors as float32 arrays, after checks.

    Names, shapes and (unless ``finite`` is False: see :func:`_finite_check`)
    finiteness are checked; arrays already float32 are not copied. Messages
    name the base and models by ``labels`` (default their roles, ``base``,
    ``models[0]``, ...).
    """
    base = check_tensor_mapping(base, "base")
    models = check_models(models)
    labels = _roles(len(models)) if labels is None else labels
    theta0 = {key: _float32(value, key, labels[0], finite) for key, value in base.items()}
    thetas = []
    for label, model in zip(labels[1:], models, strict=True):
        model = check_tensor_mapping(model, label)
        check_same_tensors(list(theta0), list(model), "mapping", label)
        theta = {}
        for key, start in theta0.items():
            check_same_shape(key, np.shape(model[key]), start.shape, "mapping", label)
            theta[key] = _float32(model[key], key, label, finite)
        thetas.append(theta)
    return theta0, thetas


def _finite_check(theta0: dict, thetas: list[dict], labels: list[str] | None = None):
    """``check(key)``: the finiteness check of :func:`_checked_thetas` for one tensor name.

    For callers that let the kernels find non-finite task vectors as they
    select (``coda.merging._rules._top_k_bins``) instead of a pass per tensor.
    ``labels`` name the base and models as in :func:`_checked_thetas`.
    """
    labels = _roles(len(thetas)) if labels is None else labels

    def check(key: str) -> None:
        for label, tensors in zip(labels, [theta0, *thetas], strict=True):
            check_finite_tensor(tensors[key], key, label)

    return check


def _checked(base, models) -> tuple[dict, list[dict]]:
    """Return the base as float32 arrays and each model's task vectors, after checks."""
    theta0, thetas = _checked_thetas(base, models)
    taus = [{key: theta[key] - start for key, start in theta0.items()} for theta in thetas]
    return theta0, taus


class _Stream:
    """The base and the task vectors of opened checkpoints, one tensor at a time.

    Only the tensors of the last key asked for are held: the base's and one
    task vector per model, O(T x largest tensor).
    """

    def __init__(self, base: Checkpoint, models: list[Checkpoint]):
        self._base = base
        self._models = models
        self.keys = base.keys()
        self._key = None
        self._tensors = None

    def tensors(self, key: str) -> tuple:
        if key != self._key:
            # Drop the previous key's tensors before reading the next ones.
            self._key, self._tensors = None, None
            start = _float32(self._base.read(key), key, self._base.source)
            taus = [_float32(m.read(key), key, m.source) - start for m in self._models]
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
    """Yield ``(theta0, taus, metadata, shapes)`` for mappings or checkpoint paths, after checks.

    Plain mappings are converted at once (they are in memory already); when
    any source is a path or a :class:`Checkpoint`, every model is first checked
    against the base (names, shapes, corrupt files) and the tensors are then
    read lazily, one key at a time, through a :class:`_Stream`.
    """
    models = check_models(models)
    sources = [base, *models]
    if all(isinstance(s, Mapping) for s in sources):
        theta0, taus = _checked(base, models)
        yield theta0, taus, {}, {key: value.shape for key, value in theta0.items()}
        return
    check_compatible(base, models)
    opened = []
    try:
        checkpoints = _open_all(base, models, opened)
        stream = _Stream(checkpoints[0], checkpoints[1:])
        taus = [_View(stream, t) for t in range(len(models))]
        shapes = {key: checkpoints[0].shape(key) for key in stream.keys}
        yield _View(stream, None), taus, checkpoints[0].metadata, shapes
    finally:
        for ckpt in opened:
            ckpt.close()


def _finish(merged, theta0, shapes: dict, lam: float, metadata: dict, out, max_shard_bytes):
    """Add the merged task vectors to the base per tensor; return the dict or written path.

    ``merged`` yields ``(key, tau_m)`` one tensor at a time, in the order of
    ``shapes`` (name -> shape); with ``out`` each merged tensor goes to the
    writer as soon as it is made.
    """
    # theta = theta_0 + lam * tau_m, in float32.
    lam = np.float32(lam)
    tensors = ((key, theta0[key] + lam * update) for key, update in merged)
    layout = {key: (np.float32, tuple(shape)) for key, shape in shapes.items()}
    return _emit(tensors, layout, metadata, out, max_shard_bytes, order=theta0)


def _emit(tensors, layout: dict, metadata: dict, out, max_shard_bytes, order=None):
    """Write the merged ``(key, theta)`` pairs to ``out``, or return them as a dict.

    ``layout`` maps every tensor name, in the order of ``tensors``, to its
    merged ``(dtype, shape)`` (float32, the base's shape): each merged tensor
    is written as it comes (:func:`coda.merging._writer._write_streamed`).
    The dict returned without ``out`` follows ``order`` (the base's tensor
    names; default the layout's order).
    """
    order = layout if order is None else order
    if out is not None:
        return _write_streamed(tensors, out, layout, metadata, max_shard_bytes)
    result = dict(tensors)
    # In the base's order, whatever order the merge visited the tensors in.
    return {key: result[key] for key in order}


def _check_out(out, max_shard_bytes):
    check_shard_out(out, max_shard_bytes)
    return check_shard_bytes(max_shard_bytes)


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
    of the last name asked for are held.
    """

    def __init__(self, checkpoints: list):
        self._checkpoints = checkpoints
        self._keys = checkpoints[0].keys()
        self._key = None
        self._tensors = None

    def tensors(self, key: str) -> list:
        """``[theta_0, theta_1, ..., theta_T]`` of tensor ``key``, float32, not yet checked."""
        if key != self._key:
            self._key, self._tensors = None, None
            tensors = [ckpt._view(key) for ckpt in self._checkpoints]
            self._key, self._tensors = key, tensors
        return self._tensors

    def layout(self) -> dict:
        """Tensor name -> (float32, shape) of the merged model, in the base's order."""
        base = self._checkpoints[0]
        return {key: (np.float32, tuple(base.shape(key))) for key in self._keys}

    def check(self, key: str) -> None:
        """Raise if a tensor ``key`` holds NaN or inf, naming the checkpoint."""
        for ckpt, tensor in zip(self._checkpoints, self.tensors(key), strict=True):
            check_finite_tensor(tensor, key, ckpt.source)

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
