"""The merged tensors of TIES, one at a time: the loops of the local run and of dask workers.

:func:`coda.merging.ties_merge` draws its merged tensors from these
generators, and the tasks of :mod:`coda.merging._distributed` call them for
one tensor each, so a merge on a cluster is the local one.
"""

from __future__ import annotations

import numpy as np

from coda.merging._rules import _decisions, _merge_global, _Outputs, _tensor_update


def _global_updates(theta0, taus, density, elect, merge, weights, context=None, lam=None):
    """Yield ``(key, tau_m)`` per tensor for ``scope="global"``, given or computing the context.

    With ``lam``, ``(key, theta_0 + lam tau_m)`` instead, in one evaluation
    (:func:`coda.merging._rules._merge_global`).
    """
    decisions = _decisions(theta0, taus, density, "global", elect, weights, context)
    for key, _kept, weighted, sigma in decisions:
        start = None if lam is None else np.ravel(theta0[key])
        merged = _merge_global(weighted, sigma, merge, start, lam)
        yield key, merged.reshape(theta0[key].shape)


def _fused_merge(key, tensors, rule, check, outputs):
    # A function of its own, so that no reference to this key's tensors
    # outlives the call while the next key is read.
    start, *tuned = tensors(key)
    density, elect, merge, weights, normalize, lam = rule
    on_bad = None if check is None else (lambda: check(key))
    merged = _tensor_update(
        np.ravel(start),
        [np.ravel(theta) for theta in tuned],
        density,
        elect,
        merge,
        weights,
        normalize,
        on_bad,
        lam,
        outputs,
    )
    return merged.reshape(np.shape(start))


def _fused_merges(keys, tensors, rule, check=None, *, streamed=False):
    """Yield ``(key, theta_0 + lam tau_m)`` per tensor for ``scope="tensor"``.

    ``tensors(key)`` gives ``[theta_0, theta_1, ..., theta_T]`` of one tensor
    (float32 views of checkpoint files, or in-memory arrays); ``rule`` is
    ``(density, elect, merge, weights, normalize, lam)``. The kernels form
    tau_t themselves and add the merged update to theta_0 as they write it,
    so no task vector is stored. ``check(key)``, for
    tensors not yet checked, raises for non-finite values. With
    ``streamed`` (a consumer done with each tensor before it asks for the
    next, as the writer of ``out=``), every tensor is yielded in the same
    memory, overwritten by the next.
    """
    outputs = _Outputs(reuse=streamed)
    for key in keys:
        yield key, _fused_merge(key, tensors, rule, check, outputs)
