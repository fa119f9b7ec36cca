"""Compositional statistics of TIES merges, per layer: S1 to S4 of issue 6.

Each function returns a tidy DataFrame whose columns are the parts of a
composition and whose rows are layers (or (task, layer) pairs), so that
``df.coda`` works on it directly. The merge settings are kept in
``DataFrame.attrs`` (never as columns, which the accessor would read as
parts): ``statistic``, ``scope``, ``density``, ``elect``, ``merge``,
``weights``, ``normalize``, ``rule`` (the reference implementation followed)
and ``layers`` (the pooling, layer name to tensor names). Settings that do
not apply are None: ``normalize`` is recorded by the ownership only, and only
with ``scope="tensor"`` and ``merge="mean"``, the one merge it changes.

The statistics describe the floating-point tensors, the ones merges change.
The base's integer and boolean tensors (buffers such as position ids or
masks, which merges pass through) are skipped: they are no layer, may be
named in ``layers`` or left out of it, and a layer of buffers alone is
dropped. Every model must hold the base's values there, as for a merge, and
a base with no floating-point tensor is an error.
"""

from __future__ import annotations

from math import comb

import numpy as np
import pandas as pd

from coda._results import EntryCategories
from coda._validation import (
    check_flag,
    check_fraction,
    check_integer,
    check_layers,
    check_model_weights,
    check_normalize,
    check_option,
    check_weighted_range,
    seeded_rng,
)
from coda.merging._facts import _categories, _facts, _kept_values
from coda.merging._sources import _checked

__all__ = ["entry_categories", "mass_fate", "ownership", "task_shares"]

CATEGORIES = ("trimmed", "one_pos", "one_neg", "agree_pos", "agree_neg", "conflict")
FATES = ("trimmed", "survives", "dropped")
_RULES = {
    "tensor": "mergekit ties: exactly max(1, floor(density n)) entries per tensor",
    "global": "ties-merging merge_utils: one threshold per task over the whole model",
}


def _tasks(n: int) -> list[str]:
    return [f"task{t}" for t in range(n)]


def _frame(rows: dict, columns, closed: bool, attrs: dict, names) -> pd.DataFrame:
    """Stack per-layer vectors into a frame, closed to rows summing to 1 if asked."""
    index = list(rows)
    values = np.array([rows[key] for key in index], dtype=np.float64).reshape(len(index), -1)
    if closed:
        totals = values.sum(axis=1, keepdims=True)
        # A layer with no mass has no composition: NaN, not a 0/0 warning.
        values = np.divide(values, totals, out=np.full_like(values, np.nan), where=totals > 0)
    if isinstance(names, str):
        # Layer names may be tuples (a callable ``layers`` returning (block, kind),
        # say): one level of tuples, not a MultiIndex pandas would build from them.
        index = pd.Index(index, name=names, tupleize_cols=False)
    else:
        index = pd.MultiIndex.from_tuples(index, names=names)
    frame = pd.DataFrame(values, index=index, columns=pd.Index(list(columns), name="part"))
    frame.attrs.update(attrs)
    return frame


def _attrs(
    statistic,
    pooling,
    scope=None,
    density=None,
    elect=None,
    merge=None,
    weights=None,
    normalize=None,
):
    return {
        "statistic": statistic,
        "scope": scope,
        "density": density,
        "elect": elect,
        "merge": merge,
        "weights": None if weights is None else [float(w) for w in weights],
        # Only mergekit's weighted mean divides by the agreeing weights or not.
        "normalize": normalize if scope == "tensor" and merge == "mean" else None,
        "rule": None if scope is None else _RULES[scope],
        "layers": {layer: list(keys) for layer, keys in pooling.items()},
    }


def _options(taus, density, scope, elect, merge, weights, normalize):
    density = check_fraction(density, "density", closed=True)
    scope = check_option(scope, "scope", ("tensor", "global"))
    elect = check_option(elect, "elect", ("mass", "count"))
    merge = check_option(merge, "merge", ("mean", "sum", "max"))
    weights = check_model_weights(weights, "weights", len(taus))
    normalize = check_normalize(normalize, scope, merge)
    return density, scope, elect, merge, weights, normalize


def task_shares(base, models, /, *, layers=None, closed=True) -> pd.DataFrame:
    """S1: each task's share of the total task-vector change, per layer.

    Parameters
    ----------
    base : mapping of str to array_like
        The pre-trained checkpoint theta_0.
    models : sequence of mappings of str to array_like
        The fine-tuned checkpoints, with the tensors and shapes of ``base``.
    layers : None, mapping or callable, optional
        The pooling of tensors into layers: None for one layer per tensor, a
        mapping of layer name to a list of tensor names, or a callable from a
        tensor name to its layer name. Every tensor must be in one layer, and
        every layer must hold a tensor; the base's integer and boolean
        tensors are skipped (see the module docstring).
    closed : bool, default True
        Return shares summing to 1 (True) or the L1 norms themselves.

    Returns
    -------
    pandas.DataFrame
        Rows the layers (index ``layer``), columns ``task0``, ``task1``, ...;
        the settings in ``attrs`` (see the module docstring).

    Raises
    ------
    TypeError
        If a tensor or ``layers`` has the wrong type.
    ValueError
        If keys or shapes differ from the base's, a value is not finite or a
        task vector overflows float32, a model's values differ from the base's
        where the base's tensor is integer or boolean, the base has no
        floating-point tensor, or ``layers`` does not give every tensor to
        exactly one layer or gives a layer no tensors.

    See Also
    --------
    ownership : The tasks' shares of the merged update instead.

    Notes
    -----
    x_{l,t} = ||tau_t|l||_1 / sum_s ||tau_s|l||_1 with tau_t = theta_t - theta_0
    in float32 and the norms summed in float64. Scaling every task vector by one
    factor leaves the shares unchanged. A layer where no task changed is NaN.

    References
    ----------
    .. [1] Yadav, P., Tam, D., Choshen, L., Raffel, C. and Bansal, M. (2023).
       TIES-Merging: Resolving interference when merging models. NeurIPS.
       doi:10.48550/arXiv.2306.01708

    Examples
    --------
    >>> import numpy as np
    >>> from coda.merging import task_shares
    >>> base = {"a": np.zeros(2), "b": np.zeros(1)}
    >>> models = [{"a": np.array([1.0, -1.0]), "b": np.array([3.0])},
    ...           {"a": np.array([0.0, 6.0]), "b": np.array([1.0])}]
    >>> task_shares(base, models)
    part   task0  task1
    layer
    a      0.25   0.75
    b      0.75   0.25
    """
    _, taus, buffers = _checked(base, models)
    pooling = check_layers(layers, buffers.order, buffers=buffers)
    closed = check_flag(closed, "closed")
    return _task_shares(taus, pooling, closed)


def _task_shares(taus, pooling, closed) -> pd.DataFrame:
    l1 = {key: _l1(taus, key) for keys in pooling.values() for key in keys}
    return _shares_frame(l1, pooling, len(taus), closed)


def _l1(taus, key) -> list:
    """||tau_t||_1 of one tensor for each task, summed in float64."""
    return [np.abs(tau[key]).sum(dtype=np.float64) for tau in taus]


def _shares_frame(l1, pooling, n_tasks, closed) -> pd.DataFrame:
    """The S1 frame from the per-tensor L1 norms of :func:`_l1`."""
    rows = {
        layer: [sum(l1[key][t] for key in keys) for t in range(n_tasks)]
        for layer, keys in pooling.items()
    }
    return _frame(rows, _tasks(n_tasks), closed, _attrs("task_shares", pooling), "layer")


def _null_categories(k: float, n_tasks: int) -> np.ndarray:
    """The six probabilities for independent keeps with probability k and fair signs."""
    t = n_tasks
    trimmed = (1 - k) ** t
    one = t * k * (1 - k) ** (t - 1) / 2
    # sum_{m>=2} C(T,m) (k/2)^m (1-k)^(T-m) = (1 - k/2)^T - (1-k)^T - T (k/2) (1-k)^(T-1)
    agree = sum(comb(t, m) * (k / 2) ** m * (1 - k) ** (t - m) for m in range(2, t + 1))
    return np.array([trimmed, one, one, agree, agree, 1 - trimmed - 2 * one - 2 * agree])


def entry_categories(
    base, models, /, *, density, scope="tensor", layers=None, n_permutations=1, seed=None
) -> EntryCategories:
    """S2: the composition of entries after TIES trimming, with two null compositions.

    Parameters
    ----------
    base : mapping of str to array_like
        The pre-trained checkpoint theta_0.
    models : sequence of mappings of str to array_like
        The fine-tuned checkpoints, with the tensors and shapes of ``base``.
    density : float
        The fraction K of entries kept per task, in (0, 1].
    scope : {"tensor", "global"}, default "tensor"
        Trim as ``ties_merge`` does with this scope.
    layers : None, mapping or callable, optional
        The pooling of tensors into layers, as in :func:`task_shares`.
    n_permutations : int, default 1
        Number of shuffles averaged into the permutation null.
    seed : None, int or numpy.random.Generator, optional
        Seed of the one generator that draws every shuffle.

    Returns
    -------
    EntryCategories
        ``observed``, ``null`` and ``permutation``: frames with rows the layers
        and the six category columns, closed to 1, settings in ``attrs``.

    Raises
    ------
    TypeError
        If a tensor, ``density``, ``layers`` or ``n_permutations`` has the wrong type.
    ValueError
        If keys or shapes differ, a value is not finite or a task vector
        overflows float32, ``density`` is outside (0, 1], ``scope`` is unknown
        or ``layers`` is not a partition.

    See Also
    --------
    mass_fate : Where each task's mass goes.
    coda.merging.ties_merge : The trimming counted here.

    Notes
    -----
    Each entry p is counted by its kept trimmed values: ``trimmed`` (no task
    keeps a non-zero value), ``one_pos``/``one_neg`` (one task, by its sign),
    ``agree_pos``/``agree_neg`` (two or more, all of that sign), ``conflict``
    (both signs). A kept entry equal to 0 has no sign and counts as trimmed.

    Null: each of T tasks keeps an entry independently with probability k and
    its sign is + or - with probability 1/2, independently. The number kept
    is Binomial(T, k), and given m kept the signs agree with probability
    2 * 2^-m, so

    - P(trimmed) = (1-k)^T;
    - P(one_pos) = P(one_neg) = T k (1-k)^(T-1) / 2;
    - P(agree_pos) = P(agree_neg) = sum_{m>=2} C(T,m) k^m (1-k)^(T-m) 2^-m
      = (1-k/2)^T - (1-k)^T - T (k/2) (1-k)^(T-1);
    - P(conflict) = 1 - the five above.

    k is each layer's observed kept fraction (kept non-zero entries over
    T times the layer's entries): with ``scope="tensor"`` about K, with
    ``scope="global"`` whatever the global threshold left in that layer.

    The permutation null shuffles the positions of each task's trimmed
    vector within each tensor (one permutation per task, tensor and round),
    which keeps every task's kept count and signs but breaks their alignment.
    It is drawn without permuting: a shuffle puts task t's k_t kept values on
    a uniform random k_t-subset of positions in random order, so, task after
    task, the number landing on each combination of the earlier tasks' states
    is multivariate hypergeometric, and so is the split of its positive values
    among them. Two such draws per task give the categories of the shuffled
    tensor exactly in distribution, at a cost of O(3^T) instead of O(n).

    References
    ----------
    .. [1] Yadav, P., Tam, D., Choshen, L., Raffel, C. and Bansal, M. (2023).
       TIES-Merging: Resolving interference when merging models. NeurIPS.
       doi:10.48550/arXiv.2306.01708

    Examples
    --------
    >>> import numpy as np
    >>> from coda.merging import entry_categories
    >>> base = {"w": np.zeros(4)}
    >>> models = [{"w": np.array([3.0, -1.0, 0.5, 2.0])},
    ...           {"w": np.array([-1.0, -2.0, 0.1, 4.0])}]
    >>> result = entry_categories(base, models, density=0.5, seed=0)
    >>> result.observed
    part   trimmed  one_pos  one_neg  agree_pos  agree_neg  conflict
    layer
    w         0.25     0.25     0.25       0.25        0.0       0.0
    >>> result.null
    part   trimmed  one_pos  one_neg  agree_pos  agree_neg  conflict
    layer
    w         0.25     0.25     0.25     0.0625     0.0625     0.125
    """
    theta0, taus, buffers = _checked(base, models)
    pooling = check_layers(layers, buffers.order, buffers=buffers)
    density, scope, *_ = _options(taus, density, scope, "mass", "mean", None, True)
    n_permutations = check_integer(n_permutations, "n_permutations", minimum=1)
    rng = seeded_rng(seed)
    return _entry_categories(theta0, taus, pooling, density, scope, n_permutations, rng)


def _entry_categories(
    theta0, taus, pooling, density, scope, n_permutations, rng, context=None
) -> EntryCategories:
    """S2 of checked inputs; only the trim masks of ``context`` matter here."""
    options = {"n_permutations": n_permutations, "rng": rng, "context": context}
    facts = _facts(theta0, taus, density, scope, **options)
    return _categories_frames(facts, pooling, len(taus), scope, density)


def _categories_frames(facts, pooling, n_tasks, scope, density) -> EntryCategories:
    """The three S2 frames from the per-tensor facts ``states`` and ``shuffled``."""
    observed, null, permuted = {}, {}, {}
    for layer, keys in pooling.items():
        states = [facts[key]["states"] for key in keys]
        observed[layer] = sum(_categories(*histogram) for histogram in states)
        entries = sum(int(counts.sum()) for _, counts in states)
        kept = sum(_kept_values(*histogram) for histogram in states)
        # A layer without entries has no composition: NaN, as a row of zeros
        # closes to in _frame.
        null[layer] = (
            _null_categories(kept / (n_tasks * entries), n_tasks)
            if entries
            else np.zeros(len(CATEGORIES))
        )
        permuted[layer] = sum(facts[key]["shuffled"] for key in keys)
    attrs = _attrs("entry_categories", pooling, scope, density)
    return EntryCategories(
        observed=_frame(observed, CATEGORIES, True, attrs, "layer"),
        null=_frame(
            null, CATEGORIES, True, attrs | {"statistic": "entry_categories_null"}, "layer"
        ),
        permutation=_frame(
            permuted,
            CATEGORIES,
            True,
            attrs | {"statistic": "entry_categories_permutation"},
            "layer",
        ),
    )


def mass_fate(
    base,
    models,
    /,
    *,
    density,
    scope="tensor",
    elect="mass",
    weights=None,
    layers=None,
    closed=True,
) -> pd.DataFrame:
    """S3: the fate of each task's L1 mass under TIES: trimmed, survives or dropped.

    Parameters
    ----------
    base : mapping of str to array_like
        The pre-trained checkpoint theta_0.
    models : sequence of mappings of str to array_like
        The fine-tuned checkpoints, with the tensors and shapes of ``base``.
    density : float
        The fraction K of entries kept per task, in (0, 1].
    scope : {"tensor", "global"}, default "tensor"
        Trim as ``ties_merge`` does with this scope.
    elect : {"mass", "count"}, default "mass"
        The sign election of ``ties_merge``.
    weights : array_like of float, optional
        One weight per model, entering the election as in ``ties_merge``.
    layers : None, mapping or callable, optional
        The pooling of tensors into layers, as in :func:`task_shares`.
    closed : bool, default True
        Return fractions of each task's mass (True) or the masses themselves.

    Returns
    -------
    pandas.DataFrame
        Rows (task, layer), columns ``trimmed``, ``survives``, ``dropped``;
        the settings in ``attrs``.

    Raises
    ------
    TypeError
        If a tensor, ``density`` or ``layers`` has the wrong type.
    ValueError
        If keys or shapes differ, a value is not finite or a task vector
        overflows float32, ``density`` is outside (0, 1], an option is unknown,
        ``weights`` does not hold one number per model (or holds one that
        float32 cannot hold, or that takes a weighted task vector beyond
        float32's range) or ``layers`` is not a partition.

    See Also
    --------
    ownership : How the surviving mass is shared in the merged update.
    coda.merging.ties_merge : The merge whose trimming and election are used.

    Notes
    -----
    For task t and layer l the mass ||tau_t|l||_1 (unweighted) splits into
    the abs(tau_t,p) that trimming removed, those kept whose sign equals the
    elected sign sigma_p (they enter the merge), and those kept with the other
    sign (election drops them). The three sum to ||tau_t|l||_1. With
    ``merge="sum"`` and unit weights, sum_t survives_{t,l} = ||tau_m|l||_1,
    because agreeing entries share one sign.

    References
    ----------
    .. [1] Yadav, P., Tam, D., Choshen, L., Raffel, C. and Bansal, M. (2023).
       TIES-Merging: Resolving interference when merging models. NeurIPS.
       doi:10.48550/arXiv.2306.01708

    Examples
    --------
    >>> import numpy as np
    >>> from coda.merging import mass_fate
    >>> base = {"w": np.zeros(4)}
    >>> models = [{"w": np.array([3.0, -1.0, 0.5, 2.0])},
    ...           {"w": np.array([-1.0, -2.0, 0.1, 4.0])}]
    >>> mass_fate(base, models, density=0.5, closed=False)
    part        trimmed  survives  dropped
    task  layer
    task0 w         1.5       5.0      0.0
    task1 w         1.1       6.0      0.0
    """
    theta0, taus, buffers = _checked(base, models)
    pooling = check_layers(layers, buffers.order, buffers=buffers)
    closed = check_flag(closed, "closed")
    density, scope, elect, _, weights, _ = _options(
        taus, density, scope, elect, "mean", weights, True
    )
    check_weighted_range(taus, weights)
    return _mass_fate(theta0, taus, pooling, density, scope, elect, weights, closed)


def _mass_fate(
    theta0, taus, pooling, density, scope, elect, weights, closed, context=None
) -> pd.DataFrame:
    """S3 of checked inputs, given or computing the global context."""
    options = {"elect": elect, "weights": weights, "context": context}
    facts = _facts(theta0, taus, density, scope, **options)
    return _fate_frame(facts, pooling, len(taus), scope, density, elect, weights, closed)


def _fate_frame(facts, pooling, n_tasks, scope, density, elect, weights, closed) -> pd.DataFrame:
    """The S3 frame from the per-tensor facts ``fate``."""
    rows = {
        (task, layer): sum(facts[key]["fate"][t] for key in keys)
        for t, task in enumerate(_tasks(n_tasks))
        for layer, keys in pooling.items()
    }
    attrs = _attrs("mass_fate", pooling, scope, density, elect, None, weights)
    return _frame(rows, FATES, closed, attrs, ["task", "layer"])


def ownership(
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
    closed=True,
) -> pd.DataFrame:
    """S4: the exact split of the merged update's L1 norm over tasks, per layer.

    Parameters
    ----------
    base : mapping of str to array_like
        The pre-trained checkpoint theta_0.
    models : sequence of mappings of str to array_like
        The fine-tuned checkpoints, with the tensors and shapes of ``base``.
    density : float
        The fraction K of entries kept per task, in (0, 1].
    scope : {"tensor", "global"}, default "tensor"
        Trim as ``ties_merge`` does with this scope.
    elect : {"mass", "count"}, default "mass"
        The sign election of ``ties_merge``.
    merge : {"mean", "sum", "max"}, default "mean"
        How ``ties_merge`` combines the agreeing entries.
    weights : array_like of float, optional
        One weight per model, as in ``ties_merge``.
    normalize : bool, default True
        As in ``ties_merge`` (``scope="tensor"``, ``merge="mean"`` only).
    layers : None, mapping or callable, optional
        The pooling of tensors into layers, as in :func:`task_shares`.
    closed : bool, default True
        Return shares summing to 1 (True) or the owned L1 masses, which sum
        to ||tau_m|l||_1.

    Returns
    -------
    pandas.DataFrame
        Rows the layers, columns ``task0``, ``task1``, ...; settings in
        ``attrs``, ``normalize`` among them where it applies (None elsewhere).

    Raises
    ------
    TypeError
        If a tensor, ``density`` or ``layers`` has the wrong type.
    ValueError
        If keys or shapes differ, a value is not finite or a task vector
        overflows float32, ``density`` is outside (0, 1], an option is unknown,
        ``weights`` does not hold one number per model (or holds one that
        float32 cannot hold, or that takes a weighted task vector beyond
        float32's range), ``normalize=False``
        where it does not apply, or ``layers`` is not a partition.

    See Also
    --------
    mass_fate : The part of each task's mass that survives.
    task_shares : The tasks' shares before merging.

    Notes
    -----
    Let hat tau_t,p be the trimmed, weighted entries, A_p the tasks whose
    entry agrees with the elected sign, and tau_m,p the merged entry of
    ``ties_merge`` (before lam). Task t owns

        o_t,p = abs(tau_m,p) * abs(hat tau_t,p) / sum_{s in A_p} abs(hat tau_s,p)

    for t in A_p and 0 otherwise, so sum_t o_t,p = abs(tau_m,p) exactly and
    sum_{t,p in l} o_t,p = ||tau_m|l||_1. Agreeing entries share one sign, so
    for ``merge="sum"`` o_t,p = abs(hat tau_t,p); for ``"mean"`` of the original
    (divide by #A_p) o_t,p = abs(hat tau_t,p) / #A_p, each agreeing entry's
    share divided by the number of agreeing tasks; for mergekit's weighted
    mean it is abs(hat tau_t,p) / sum_{s in A_p} w_s; for ``"max"`` the largest
    entry is split in proportion to the agreeing magnitudes. tau_m comes from
    ``ties_merge``'s own code, so the totals are its L1 norm up to float64
    summation of float32 values. Where tau_m,p is beyond float32's range
    (``ties_merge`` gives +-inf there), its float64 value is split, so the
    ownership stays finite.

    References
    ----------
    .. [1] Yadav, P., Tam, D., Choshen, L., Raffel, C. and Bansal, M. (2023).
       TIES-Merging: Resolving interference when merging models. NeurIPS.
       doi:10.48550/arXiv.2306.01708

    Examples
    --------
    >>> import numpy as np
    >>> from coda.merging import ownership
    >>> base = {"w": np.zeros(4)}
    >>> models = [{"w": np.array([3.0, -1.0, 0.5, 2.0])},
    ...           {"w": np.array([-1.0, -2.0, 0.1, 4.0])}]
    >>> ownership(base, models, density=0.5, closed=False)
    part   task0  task1
    layer
    w        4.0    4.0
    """
    theta0, taus, buffers = _checked(base, models)
    pooling = check_layers(layers, buffers.order, buffers=buffers)
    closed = check_flag(closed, "closed")
    density, scope, elect, merge, weights, normalize = _options(
        taus, density, scope, elect, merge, weights, normalize
    )
    check_weighted_range(taus, weights)
    options = (density, scope, elect, merge, weights, normalize)
    return _ownership(theta0, taus, pooling, *options, closed)


def _ownership(
    theta0, taus, pooling, density, scope, elect, merge, weights, normalize, closed, context=None
) -> pd.DataFrame:
    """S4 of checked inputs: the merged update from the same decisions as the shares."""
    options = {
        "elect": elect,
        "weights": weights,
        "merge": merge,
        "normalize": normalize,
        "context": context,
    }
    facts = _facts(theta0, taus, density, scope, **options)
    settings = (scope, density, elect, merge, weights, normalize)
    return _owned_frame(facts, pooling, len(taus), *settings, closed)


def _owned_frame(
    facts, pooling, n_tasks, scope, density, elect, merge, weights, normalize, closed
) -> pd.DataFrame:
    """The S4 frame from the per-tensor facts ``owned``."""
    rows = {layer: sum(facts[key]["owned"] for key in keys) for layer, keys in pooling.items()}
    attrs = _attrs("ownership", pooling, scope, density, elect, merge, weights, normalize)
    return _frame(rows, _tasks(n_tasks), closed, attrs, "layer")
