"""One call for every compositional statistic of a TIES merge, reading lazily."""

from __future__ import annotations

import numpy as np
import pandas as pd

from coda._results import EntryCategories, MergeDescription
from coda._validation import (
    check_describe_scope,
    check_integer,
    check_layers,
    check_model_count,
    check_models,
)
from coda.merging.checkpoints import check_compatible, open_checkpoint
from coda.merging.patterns import conflict_curve, sign_agreement_log_odds, sign_patterns
from coda.merging.stats import entry_categories, mass_fate, ownership, task_shares

__all__ = ["describe"]


def _stack(frames: list[pd.DataFrame], pooling: dict, closed: bool) -> pd.DataFrame:
    """Concatenate per-layer frames, record the whole pooling, close rows if asked."""
    frame = pd.concat(frames)
    if frame.index.names == ["task", "layer"]:
        # Task-major order, as mass_fate gives on the whole model.
        tasks = frame.index.get_level_values("task").unique()
        frame = frame.reindex(
            pd.MultiIndex.from_product([tasks, list(pooling)], names=["task", "layer"])
        )
    if closed:
        values = frame.to_numpy()
        totals = values.sum(axis=1, keepdims=True)
        # A layer with no mass has no composition: NaN, as in coda.merging.stats.
        frame = frame.copy()
        frame[:] = np.divide(values, totals, out=np.full_like(values, np.nan), where=totals > 0)
    frame.attrs.update(frames[0].attrs)
    frame.attrs["layers"] = {layer: list(keys) for layer, keys in pooling.items()}
    return frame


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
    scope : {"tensor"}, default "tensor"
        Trim per tensor as ``ties_merge(scope="tensor")``; "global" is not
        supported here yet (see Notes).
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
        Seed of the one generator behind the S2 shuffles and S5 subset draws.

    Returns
    -------
    MergeDescription
        One frame per statistic, closed to 1 per row where it is a
        composition, settings in ``attrs``; S6 is None when T > 8.

    Raises
    ------
    FileNotFoundError
        If a checkpoint path does not exist.
    TypeError
        If an argument has the wrong type.
    ValueError
        If a model's tensors or shapes differ from the base's (raised before
        any tensor is read), a file is corrupt, a value is not finite, an
        option is unknown, ``scope="global"``, fewer than 2 models are given
        or ``layers`` is not a partition.

    See Also
    --------
    coda.merging.ties_merge : The merge these statistics describe.
    coda.merging.entry_categories : S2, with the closed-form null.

    Notes
    -----
    With ``scope="tensor"`` every decision of TIES (trimming, election,
    merging) is made within one tensor, so computing each statistic on one
    layer's tensors at a time is exactly the same as computing it on the
    whole model; pooled layers are summed before closing. Memory holds the
    T + 1 copies of one layer and their task vectors: O(T x largest layer),
    which is O(T x largest tensor) for the default one layer per tensor.

    ``scope="global"`` needs each task's model-wide threshold and the
    model-wide majority sign before any tensor is trimmed. Supporting it
    lazily needs a first pass computing those and a way to hand them to
    ``coda.merging.ties._decisions``, which does not take them yet.

    The S2 shuffles and the S5 subsets come from one generator seeded by
    ``seed``; the S5 subsets are drawn once and used for every layer.

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
    scope = check_describe_scope(scope)
    n_permutations = check_integer(n_permutations, "n_permutations", minimum=1)
    max_subsets = check_integer(max_subsets, "max_subsets", minimum=1)
    check_compatible(base, models)
    rng = np.random.default_rng(seed)
    # One seed for the S5 draws, so every layer uses the same subsets.
    subset_seed = int(rng.integers(2**63))
    checkpoints = [open_checkpoint(base)] + [open_checkpoint(model) for model in models]
    try:
        pooling = check_layers(layers, checkpoints[0].keys())
        options = {"density": density, "scope": scope}
        merge_options = options | {"elect": elect, "weights": weights}
        parts: dict[str, list] = {
            name: []
            for name in ("shares", "observed", "null", "permutation", "fate", "owned", "conflict")
        }
        parts |= {"patterns": [], "log_odds": []}
        with_patterns = len(models) <= 8
        for layer, keys in pooling.items():
            # The only tensors alive: this layer's, from every checkpoint.
            base_layer, *model_layers = [
                {key: ckpt.read(key) for key in keys} for ckpt in checkpoints
            ]
            one = {layer: keys}
            parts["shares"].append(task_shares(base_layer, model_layers, layers=one, closed=False))
            categories = entry_categories(
                base_layer,
                model_layers,
                layers=one,
                n_permutations=n_permutations,
                seed=rng,
                **options,
            )
            parts["observed"].append(categories.observed)
            parts["null"].append(categories.null)
            parts["permutation"].append(categories.permutation)
            parts["fate"].append(
                mass_fate(base_layer, model_layers, layers=one, closed=False, **merge_options)
            )
            parts["owned"].append(
                ownership(
                    base_layer,
                    model_layers,
                    layers=one,
                    closed=False,
                    merge=merge,
                    normalize=normalize,
                    **merge_options,
                )
            )
            parts["conflict"].append(
                conflict_curve(
                    base_layer,
                    model_layers,
                    layers=one,
                    max_subsets=max_subsets,
                    seed=subset_seed,
                    **options,
                )
            )
            if with_patterns:
                parts["patterns"].append(
                    sign_patterns(base_layer, model_layers, layers=one, closed=False, **options)
                )
                parts["log_odds"].append(
                    sign_agreement_log_odds(base_layer, model_layers, layers=one, **options)
                )
            del base_layer, model_layers
    finally:
        # Close what was opened here; a Checkpoint passed in stays the caller's.
        for ckpt, source in zip(checkpoints, [base, *models], strict=True):
            if ckpt is not source:
                ckpt.close()
    return MergeDescription(
        shares=_stack(parts["shares"], pooling, True),
        categories=EntryCategories(
            observed=_stack(parts["observed"], pooling, False),
            null=_stack(parts["null"], pooling, False),
            permutation=_stack(parts["permutation"], pooling, False),
        ),
        fate=_stack(parts["fate"], pooling, True),
        ownership=_stack(parts["owned"], pooling, True),
        conflict=_stack(parts["conflict"], pooling, False),
        patterns=_stack(parts["patterns"], pooling, True) if with_patterns else None,
        log_odds=_stack(parts["log_odds"], pooling, False) if with_patterns else None,
    )
