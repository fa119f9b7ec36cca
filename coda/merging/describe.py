"""One call for every compositional statistic of a TIES merge, reading lazily."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from coda._results import MergeDescription
from coda._validation import (
    check_integer,
    check_layers,
    check_model_count,
    check_models,
    seeded_rng,
    warn_tasks_without_change,
)
from coda.merging._facts import _facts
from coda.merging._rules import _global_context
from coda.merging._sources import _checked_thetas, _finite_check, _Stream, _View
from coda.merging.checkpoints import _is_buffer, _open_all, check_compatible, open_checkpoint
from coda.merging.patterns import _all_subsets, _conflict_frame, _log_odds, _patterns_frame
from coda.merging.stats import (
    _categories_frames,
    _fate_frame,
    _options,
    _owned_frame,
    _shares_frame,
)

__all__ = ["describe"]

# Empirical-logit pseudocount of the S6 log odds (sign_agreement_log_odds' default).
_PSEUDOCOUNT = 0.5


def _tensor_names(base) -> tuple[list[str], list[str]]:
    """The base's tensor names in its order, as the whole-model statistics take them.

    A mapping's own order (that of :func:`task_shares` and the others); a
    checkpoint's :meth:`Checkpoint.keys`, sorted. Returned with the names of
    the integer and boolean tensors among them, which the statistics skip. A
    Checkpoint passed in stays open.
    """
    ckpt = open_checkpoint(base)
    try:
        names = list(base) if isinstance(base, Mapping) else ckpt.keys()
        return names, [name for name in names if _is_buffer(ckpt.dtype(name))]
    finally:
        if ckpt is not base:
            ckpt.close()


def _layer_statistics(checkpoints, keys, options, rng, context) -> dict:
    """The facts of one layer's tensors, reading only those tensors from each checkpoint.

    Per tensor key, what :func:`coda.merging._facts._facts` gives (one
    trimming and election, every statistic derived from it) and the tasks'
    L1 norms (``"l1"``, for S1): a few numbers per tensor, so the facts of
    every layer are kept and the frames built once at the end, by the
    functions that build them for the whole-model statistics. ``options``
    holds the checked settings; ``context`` the global scope's model-wide
    thresholds and majority (None for ``scope="tensor"``).
    """
    # The only tensors alive: this layer's base and fine-tuned tensors, read
    # without copies where the file allows (views of the memory map): they
    # are only read. The kernels form the task vectors chunk by chunk and
    # find non-finite values as they select (then ``check`` names them).
    base_layer, *model_layers = [{key: ckpt._view(key) for key in keys} for ckpt in checkpoints]
    # Messages name each checkpoint as scope="global"'s first pass does: a file by its path.
    labels = [ckpt.source for ckpt in checkpoints]
    theta0, thetas, _ = _checked_thetas(base_layer, model_layers, finite=False, labels=labels)
    del base_layer, model_layers
    facts = _facts(
        theta0,
        thetas,
        options["density"],
        options["scope"],
        elect=options["elect"],
        weights=options["weights"],
        merge=options["merge"],
        normalize=options["normalize"],
        n_permutations=options["n_permutations"],
        rng=rng,
        context=context,
        tuned=True,
        check=_finite_check(theta0, thetas, labels),
    )
    for key in keys:
        # ||tau_t||_1 for S1 is the sum of S3's three masses (trimmed, survives,
        # dropped), which part every entry's |tau_t| between them: no pass of its own.
        facts[key]["l1"] = list(facts[key]["fate"].sum(axis=1))
    return facts


def _assemble(per_layer: list[dict], pooling: dict, options: dict, subsets: dict, n_tasks: int):
    """One MergeDescription from every layer's facts, framed as the whole-model functions do."""
    facts = {key: fact for layer in per_layer for key, fact in layer.items()}
    density, scope = options["density"], options["scope"]
    elect, merge, weights = options["elect"], options["merge"], options["weights"]
    normalize = options["normalize"]
    patterns = log_odds = None
    if n_tasks <= 8:
        patterns = _patterns_frame(facts, pooling, n_tasks, scope, density, True)
        counts = _patterns_frame(facts, pooling, n_tasks, scope, density, False)
        log_odds = _log_odds(counts, _PSEUDOCOUNT)
    l1 = {key: fact["l1"] for key, fact in facts.items()}
    warn_tasks_without_change(np.sum(list(l1.values()), axis=0))
    return MergeDescription(
        shares=_shares_frame(l1, pooling, n_tasks, True),
        categories=_categories_frames(facts, pooling, n_tasks, scope, density),
        fate=_fate_frame(facts, pooling, n_tasks, scope, density, elect, weights, True),
        ownership=_owned_frame(
            facts, pooling, n_tasks, scope, density, elect, merge, weights, normalize, True
        ),
        conflict=_conflict_frame(
            facts, pooling, n_tasks, scope, density, subsets, options["max_subsets"]
        ),
        patterns=patterns,
        log_odds=log_odds,
    )


def describe(
    base,
    models,
    /,
    *,
    density,
    scope="tensor",
    elect="mass",
    merge="mean",
    weights=None,
    normalize=True,
    layers=None,
    n_permutations=1,
    max_subsets=100,
    seed=None,
    client=None,
) -> MergeDescription:
    """The compositional statistics S1 to S6 of a TIES merge, reading one layer at a time.

    Checks that the models are compatible with their base, then reads each
    layer's tensors from every checkpoint, computes the statistics of
    :func:`task_shares`, :func:`entry_categories`, :func:`mass_fate`,
    :func:`ownership`, :func:`conflict_curve`, :func:`sign_patterns` and
    :func:`sign_agreement_log_odds` on them, and lets them go before the
    next layer.

    Parameters
    ----------
    base : str, os.PathLike, Checkpoint or mapping of str to array_like
        The pre-trained checkpoint theta_0 (see :func:`open_checkpoint`).
    models : sequence of str, os.PathLike, Checkpoint or mapping
        The fine-tuned checkpoints (at least 2), with the tensors of ``base``.
    density : float
        The fraction K of entries kept per task, in (0, 1].
    scope : {"tensor", "global"}, default "tensor"
        Trim as ``ties_merge`` does with this scope: within each tensor, or
        with one threshold per task over the whole model (see Notes).
    elect : {"mass", "count"}, default "mass"
        The sign election of ``ties_merge`` (S3, S4).
    merge : {"mean", "sum", "max"}, default "mean"
        How ``ties_merge`` combines agreeing entries (S4).
    weights : array_like of float, optional
        One weight per model, as in ``ties_merge`` (S3, S4).
    normalize : bool, default True
        As in ``ties_merge`` (S4).
    layers : None, mapping or callable, optional
        The pooling of tensors into layers, as in :func:`task_shares`.
    n_permutations : int, default 1
        Shuffles averaged into the permutation null of S2.
    max_subsets : int, default 100
        The cap on subsets of each size in S5.
    seed : None, int or numpy.random.Generator, optional
        Seed of the one generator behind the S2 shuffles and S5 subset draws
        (the subsets are those :func:`conflict_curve` draws with this seed).
    client : dask.distributed.Client, optional
        Compute each layer as one task on this dask cluster; ``base`` and
        ``models`` must then be paths, which the workers open (see Notes).

    Returns
    -------
    MergeDescription
        One frame per statistic, closed to 1 per row where it is a
        composition, settings in ``attrs``; S6 is None when T > 8. Layers
        come in the base's tensor order, as in the whole-model functions:
        a mapping's own order, a file's tensors sorted by name
        (:meth:`Checkpoint.keys`), or the order of ``layers`` when it is a
        mapping (of first appearance when it is a callable).

    Raises
    ------
    FileNotFoundError
        If a checkpoint path does not exist.
    TypeError
        If an argument has the wrong type, ``client`` is not a dask
        ``Client``, or a checkpoint given with ``client`` is not a path.
    ValueError
        If a model's tensors or shapes differ from the base's (raised before
        any tensor is read), a model's values differ from the base's where
        the base's tensor is integer or boolean, the base has no
        floating-point tensor, a file is corrupt, a value is not finite or a
        task vector overflows float32 (the message names the tensor, and the
        file it came from), an
        option is unknown, fewer than 2 models are given or ``layers`` is
        not a partition. With ``client``, an error of a task on a worker is
        raised here.
    ImportError
        If ``client`` is given and dask.distributed is not installed.

    See Also
    --------
    coda.merging.ties_merge : The merge these statistics describe.
    coda.merging.entry_categories : S2, with the closed-form null.

    Notes
    -----
    With ``scope="tensor"`` every decision of TIES (trimming, election,
    merging) is made within one tensor, so computing each statistic on one
    layer's tensors at a time is exactly the same as computing it on the
    whole model; pooled layers are summed before closing. Each tensor is
    trimmed and elected once, and every statistic is derived from those
    decisions in one pass (S4's merged update bit for bit that of
    ``ties_merge``); what is kept per tensor is a few numbers (the task
    norms, the fate and ownership sums, and the joint histogram of the kept
    signs, at most 3^T counts, from which S2, S5 and S6 follow), and the
    frames are built at the end by the code of the functions above. Memory
    holds the T + 1 copies of one layer and their task vectors:
    O(T x largest layer), which is O(T x largest tensor) for the default
    one layer per tensor.

    Only floating-point tensors are described. The base's integer and
    boolean tensors (buffers such as position ids, masks or step counters,
    which merges pass through unchanged) are no layer: they may be named in
    ``layers`` or left out of it, and a layer of buffers alone is dropped.
    Every model must hold the base's values there; they are compared with
    the compatibility check, one buffer at a time, before the statistics.

    ``scope="global"`` needs each task's model-wide threshold h_t and the
    model-wide majority sign (the fallback of a zero elected sum) before any
    tensor is trimmed. A first pass computes them, one tensor at a time (two
    histogram passes for the thresholds, one pass of elected signs for the
    majority, with ``elect`` and ``weights``, over the floating-point
    tensors as :func:`coda.merging.ties_merge` does); each layer's statistics are
    then computed from that layer's tensors and this context, still holding
    O(T x largest layer). The result equals that of the functions above
    called with ``scope="global"`` on the whole model in memory. S2, S5 and
    S6 use only the trim masks, which depend on h_t alone; S3 and S4 also
    use the elected signs. S5 counts, for each subset of tasks, the signs of
    the values they keep: trimming is per task (h_t is computed once, over
    the whole model, from task t alone), so it does not depend on the
    subset; the elected sign, whose majority fallback would depend on which
    tasks are merged, plays no part in it, as in :func:`conflict_curve`.

    The S5 subsets are drawn once, first, from the generator seeded by
    ``seed``, exactly as :func:`conflict_curve` draws them, and used for
    every layer: with the same ``seed`` (an int, or a Generator in the same
    state) and ``max_subsets``, ``conflict`` equals :func:`conflict_curve`'s,
    also when the subsets are sampled (more than ``max_subsets`` subsets of
    some size). Each layer's S2 shuffles come from its own child generator
    (``Generator.spawn``, one per layer in pooling order), so a layer's
    shuffles do not depend on the other layers, on the subsets drawn, nor on
    where it is computed. They therefore differ from the shuffles of
    :func:`entry_categories` called with the same seed on the whole model.

    With ``client``, each layer is one task: the worker opens the
    checkpoints from their paths (paths travel, not arrays), reads that
    layer and returns its frames, computed by the same code as without a
    client; for ``scope="global"`` the thresholds and the majority come
    first, from one task per tensor whose histograms and vote counts are
    summed on the client. The result is identical to the local one.
    In-memory mappings and open :class:`Checkpoint` objects are refused with
    a client, rather than scattered to the workers: the point of the cluster
    is that models larger than one machine's memory are read where they
    are, and a mapping is already in this process's memory.

    References
    ----------
    .. [1] Yadav, P., Tam, D., Choshen, L., Raffel, C. and Bansal, M. (2023).
       TIES-Merging: Resolving interference when merging models. NeurIPS.
       doi:10.48550/arXiv.2306.01708

    Examples
    --------
    >>> import numpy as np
    >>> from coda.merging import describe
    >>> base = {"w": np.zeros(4)}
    >>> models = [{"w": np.array([3.0, -1.0, 0.5, 2.0])},
    ...           {"w": np.array([-1.0, -2.0, 0.1, 4.0])}]
    >>> result = describe(base, models, density=0.5, seed=0)
    >>> result.ownership
    part   task0  task1
    layer
    w        0.5    0.5
    >>> result.conflict
    part                 observed      null
    layer m subset
    w     2 task0,task1       0.0  0.166667
    """
    models = check_models(models)
    check_model_count(len(models))
    density, scope, elect, merge, weights, normalize = _options(
        models, density, scope, elect, merge, weights, normalize
    )
    options = {
        "density": density,
        "scope": scope,
        "elect": elect,
        "merge": merge,
        "weights": weights,
        "normalize": normalize,
        "n_permutations": check_integer(n_permutations, "n_permutations", minimum=1),
        "max_subsets": check_integer(max_subsets, "max_subsets", minimum=1),
    }
    rng = seeded_rng(seed)
    if client is not None:
        from coda.merging._distributed import _cluster_paths, _describe_on_cluster

        # Checked before anything is read: the client, and paths for every source.
        paths = _cluster_paths(client, base, models)
    check_compatible(base, models)
    # The S5 subsets come first from this generator, as conflict_curve draws
    # them from its own: the same seed gives the same subsets, for every layer.
    subsets = _all_subsets(len(models), options["max_subsets"], rng)
    names, buffers = _tensor_names(base)
    pooling = check_layers(layers, names, buffers=buffers)
    # Each layer's S2 shuffles from its own child generator: the result does
    # not depend on the order, or the worker, in which the layers are computed.
    layer_rngs = dict(zip(pooling, rng.spawn(len(pooling)), strict=True))
    if client is not None:
        per_layer = _describe_on_cluster(client, paths, pooling, options, layer_rngs)
        return _assemble(per_layer, pooling, options, subsets, len(models))
    opened = []
    try:
        checkpoints = _open_all(base, models, opened)
        context = None
        if scope == "global":
            # First pass: the model-wide thresholds and majority, one tensor at a time.
            stream = _Stream(checkpoints[0], checkpoints[1:])
            views = [_View(stream, t) for t in range(len(models))]
            context = _global_context(views, stream.keys, density, elect, weights)
            del stream, views
        per_layer = []
        for layer, keys in pooling.items():
            per_layer.append(
                _layer_statistics(checkpoints, keys, options, layer_rngs[layer], context)
            )
    finally:
        # Close what was opened here; a Checkpoint passed in stays the caller's.
        for ckpt in opened:
            ckpt.close()
    return _assemble(per_layer, pooling, options, subsets, len(models))
