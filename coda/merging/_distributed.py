"""TIES merges and their statistics computed on a dask cluster, one task per tensor or layer.

``ties_merge(..., client=client)`` and ``describe(..., client=client)`` come
here. Given the global context (each task's model-wide threshold and the
majority sign, :func:`coda.merging._rules._context_of`), every tensor is
merged, and every layer described, from its own tensors alone; so each is
one task that opens the checkpoints on its worker (paths travel, never
arrays) and returns its result, computed by the same functions as in the
local run. For ``scope="global"`` the context comes first, from per-tensor
tasks whose histograms and vote counts are summed here. The merged tensors
are written here, in the order of the local run, by
:func:`coda.merging.write_checkpoint`: atomic and sharded alike.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np

from coda._dask import import_dask
from coda._validation import check_cluster_client, check_cluster_sources
from coda.merging._out_dtype import _out_dtypes, _rounded
from coda.merging._rules import _context_of
from coda.merging._sources import _file_buffers, _Stream, _Tensors
from coda.merging._ties_updates import _fused_merge, _global_updates
from coda.merging._writer import _write_streamed
from coda.merging.checkpoints import check_compatible, open_checkpoint
from coda.merging.describe import _layer_statistics


def _cluster_paths(client, base, models) -> list[str]:
    """The absolute paths of base and models, after checking the client and the sources."""
    distributed = import_dask("distributed")
    check_cluster_client(client, distributed.Client)
    sources = [base, *models]
    check_cluster_sources(sources)
    # Absolute, so a worker with another working directory opens the same files.
    return [str(Path(source).resolve()) for source in sources]


@contextlib.contextmanager
def _opened(paths: list[str]):
    """The checkpoints at ``paths``, opened on a worker and closed afterwards."""
    checkpoints = []
    try:
        for path in paths:
            checkpoints.append(open_checkpoint(path))
        yield checkpoints
    finally:
        for ckpt in checkpoints:
            ckpt.close()


def _tensors(paths: list[str], key: str) -> tuple:
    """``(theta_0, [tau_t])`` of tensor ``key``, read and checked as the local run does."""
    with _opened(paths) as checkpoints:
        return _Stream(checkpoints[0], checkpoints[1:]).tensors(key)


def _on_tensor(paths: list[str], key: str, func, *args):
    """A worker task: ``func`` of the task vectors of one tensor (a context pass)."""
    return func(_tensors(paths, key)[1], *args)


def _merge_tensor(paths: list[str], key: str, options: dict, context, dtype=None) -> np.ndarray:
    """A worker task: the merged tensor theta_0 + lam tau_m of ``key``, as the local merge.

    With ``dtype``, rounded to it (and checked) here, so a bfloat16 or
    float16 tensor travels back at half the size of float32.
    """
    rule = (options["density"], options["elect"], options["merge"], options["weights"])
    if options["scope"] == "global":
        start, taus = _tensors(paths, key)
        theta0, views = {key: start}, [{key: tau} for tau in taus]
        ((_, merged),) = _global_updates(theta0, views, *rule, context, lam=options["lam"])
    else:
        # The fused kernels form tau_t and add theta_0 themselves, in float64
        # where float32 overflows (a tau_m made apart would be -inf already).
        with _opened(paths) as checkpoints:
            inputs = _Tensors(checkpoints)
            fused = (*rule, options["normalize"], options["lam"])
            merged = _fused_merge(key, inputs.tensors, fused, inputs.check, None)
    return merged if dtype is None else _rounded(merged, dtype, key)


def _base_tensor(path: str, key: str) -> np.ndarray:
    """A worker task: the base's integer or boolean tensor ``key``, passed through unmerged."""
    with _opened([path]) as (base,):
        return base.read(key)


def _describe_layer(paths: list[str], keys, options, rng, context) -> dict:
    """A worker task: the facts of one layer's tensors, as the local run computes them."""
    with _opened(paths) as checkpoints:
        return _layer_statistics(checkpoints, keys, options, rng, context)


def _results(client, futures: list):
    """Yield the futures' results in order, letting each go once read.

    On any failure (a task that raised, a worker lost) the error surfaces
    here and the tasks not yet read are cancelled.
    """
    try:
        for k, future in enumerate(futures):
            yield future.result()
            futures[k] = None
    finally:
        pending = [future for future in futures if future is not None]
        if pending:
            client.cancel(pending)


def _cluster_context(client, paths: list[str], keys: list[str], options: dict) -> tuple:
    """The global context from per-tensor tasks, their integer sums taken here."""

    def total(func, *args):
        futures = [client.submit(_on_tensor, paths, key, func, *args, pure=False) for key in keys]
        result = 0
        for value in _results(client, futures):
            result = result + value
        return result

    return _context_of(
        total, len(paths) - 1, options["density"], options["elect"], options["weights"]
    )


def _base_buffers(paths: list[str]):
    """The base's metadata and :class:`_Buffers` (its names, shapes and unmerged tensors)."""
    with open_checkpoint(paths[0]) as base:
        return base.metadata, _file_buffers(base)


def _ties_on_cluster(client, base, models, options: dict, out, max_shard_bytes):
    """``ties_merge`` with one task per tensor; see :func:`coda.merging.ties_merge`."""
    paths = _cluster_paths(client, base, models)
    check_compatible(paths[0], paths[1:])
    metadata, buffers = _base_buffers(paths)
    targets = _out_dtypes(options["dtype"], buffers.floats) or {}
    keys, merged, layout = buffers.order, buffers.merged, buffers.layout(None, targets)
    context = None
    if options["scope"] == "global":
        context = _cluster_context(client, paths, merged, options)
    futures = [
        client.submit(_base_tensor, paths[0], key, pure=False)
        if key in buffers
        else client.submit(
            _merge_tensor, paths, key, options, context, targets.get(key), pure=False
        )
        for key in keys
    ]
    tensors = zip(keys, _results(client, futures), strict=True)
    if out is not None:
        return _write_streamed(tensors, out, layout, metadata, max_shard_bytes)
    return dict(tensors)


def _describe_on_cluster(client, paths: list[str], pooling, options, layer_rngs):
    """The per-layer facts of ``describe``, one task per layer, in pooling order."""
    context = None
    if options["scope"] == "global":
        merged = _base_buffers(paths)[1].merged
        context = _cluster_context(client, paths, merged, options)
    futures = [
        client.submit(
            _describe_layer,
            paths,
            list(keys),
            options,
            layer_rngs[layer],
            context,
            pure=False,
        )
        for layer, keys in pooling.items()
    ]
    return list(_results(client, futures))
