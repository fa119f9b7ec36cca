"""Sign statistics of TIES merges, per layer: S5 and S6 of issue 6.

S5 (:func:`conflict_curve`) follows how sign conflict grows with the number
of merged models; S6 (:func:`sign_patterns`, :func:`sign_agreement_log_odds`)
is the composition of the 2^T joint sign patterns and the pairwise
conditional log odds ratios of agreement written as log-contrasts of it.
Frames follow :mod:`coda.merging.stats`: parts as columns, settings in
``DataFrame.attrs``; integer and boolean tensors are skipped as there.
"""

from __future__ import annotations

from itertools import combinations, product
from math import comb, fsum

import numpy as np
import pandas as pd

from coda._validation import (
    check_flag,
    check_fraction,
    check_integer,
    check_layers,
    check_model_count,
    check_option,
    check_positive,
    seeded_rng,
)
from coda.merging._facts import _conflict_counts, _facts, _pattern_counts
from coda.merging._sources import _checked
from coda.merging.stats import _attrs, _frame, _tasks

__all__ = ["conflict_curve", "sign_agreement_log_odds", "sign_patterns"]


def _trimmed(base, models, density, scope, layers):
    """Checked inputs, the pooling and the options, after checks."""
    theta0, taus, buffers = _checked(base, models)
    pooling = check_layers(layers, buffers.order, buffers=buffers)
    density = check_fraction(density, "density", closed=True)
    scope = check_option(scope, "scope", ("tensor", "global"))
    return theta0, taus, pooling, density, scope


def _subsets(n_tasks: int, size: int, max_subsets: int, rng) -> list[tuple]:
    """All subsets of ``size`` tasks, or ``max_subsets`` distinct ones drawn at random."""
    if comb(n_tasks, size) <= max_subsets:
        return list(combinations(range(n_tasks), size))
    drawn: set = set()
    while len(drawn) < max_subsets:
        drawn.add(tuple(sorted(rng.choice(n_tasks, size, replace=False).tolist())))
    return sorted(drawn)


def _null_conflict(k: float, m: int) -> float:
    """P(both signs among m | at least one kept), independent keeps k and fair signs."""
    kept = 1 - (1 - k) ** m
    if kept == 0:
        return np.nan
    return (1 - 2 * (1 - k / 2) ** m + (1 - k) ** m) / kept


def conflict_curve(
    base, models, /, *, density, scope="tensor", layers=None, max_subsets=100, seed=None
) -> pd.DataFrame:
    """S5: the share of sign conflicts against the number of merged models, with its null.

    Parameters
    ----------
    base : mapping of str to array_like
        The pre-trained checkpoint theta_0.
    models : sequence of mappings of str to array_like
        The fine-tuned checkpoints (at least 2), with the tensors of ``base``.
    density : float
        The fraction K of entries kept per task, in (0, 1].
    scope : {"tensor", "global"}, default "tensor"
        Trim as ``ties_merge`` does with this scope.
    layers : None, mapping or callable, optional
        The pooling of tensors into layers, as in :func:`coda.merging.task_shares`.
    max_subsets : int, default 100
        For each size m, use every subset of m tasks if there are at most this
        many, else this many distinct subsets drawn at random.
    seed : None, int or numpy.random.Generator, optional
        Seed of the generator drawing subsets (used only when sampling).

    Returns
    -------
    pandas.DataFrame
        Rows (layer, m, subset), with ``subset`` naming the tasks (for example
        ``"task0,task2"``); columns ``observed`` and ``null``; settings in
        ``attrs``.

    Raises
    ------
    TypeError
        If a tensor, ``density``, ``layers`` or ``max_subsets`` has the wrong type.
    ValueError
        If keys or shapes differ, a value is not finite or a task vector
        overflows float32, ``density`` is outside (0, 1], ``scope`` is unknown,
        ``layers`` is not a partition, there are fewer than 2 models or
        ``max_subsets`` < 1.

    See Also
    --------
    coda.merging.entry_categories : The six-part composition of all T tasks.

    Notes
    -----
    Each task is trimmed once, as ``ties_merge`` trims it with all T models
    (trimming is per task, so it does not depend on the subset; with
    ``scope="global"`` task t's threshold is over the whole model but from
    task t alone). Only the signs of the kept values count, never the
    elected sign: with ``scope="global"`` its majority fallback would depend
    on the subset merged, and it plays no part here. For a subset
    S of m tasks, an entry is *kept* when some task of S keeps a non-zero
    value there, and *conflicting* when S keeps both a positive and a
    negative value there. ``observed`` is conflicting over kept entries in the
    layer (NaN when nothing is kept).

    Null: every task keeps each entry independently with probability k and
    gives it sign + or - with probability 1/2. Then P(no kept +) =
    P(no kept -) = (1 - k/2)^m and P(nothing kept) = (1 - k)^m, so by
    inclusion-exclusion P(both signs) = 1 - 2 (1 - k/2)^m + (1 - k)^m and

        null = (1 - 2 (1 - k/2)^m + (1 - k)^m) / (1 - (1 - k)^m),

    with k the subset's observed kept fraction in the layer (kept non-zero
    values over m times the layer's entries). For m = 2 this is
    (k/2) / (2 - k); as m grows it tends to 1.

    References
    ----------
    .. [1] Yadav, P., Tam, D., Choshen, L., Raffel, C. and Bansal, M. (2023).
       TIES-Merging: Resolving interference when merging models. NeurIPS.
       doi:10.48550/arXiv.2306.01708

    Examples
    --------
    >>> import numpy as np
    >>> from coda.merging import conflict_curve
    >>> base = {"w": np.zeros(4)}
    >>> models = [{"w": np.array([3.0, -1.0, 0.5, 2.0])},
    ...           {"w": np.array([-1.0, -2.0, 0.1, 4.0])},
    ...           {"w": np.array([-5.0, 0.2, 0.1, 1.0])}]
    >>> conflict_curve(base, models, density=0.5)
    part                       observed      null
    layer m subset
    w     2 task0,task1        0.000000  0.166667
            task0,task2        0.500000  0.166667
            task1,task2        0.000000  0.166667
          3 task0,task1,task2  0.333333  0.321429
    """
    theta0, taus, pooling, density, scope = _trimmed(base, models, density, scope, layers)
    n_tasks = len(taus)
    check_model_count(n_tasks)
    max_subsets = check_integer(max_subsets, "max_subsets", minimum=1)
    subsets = _all_subsets(n_tasks, max_subsets, seed)
    return _conflict_curve(theta0, taus, pooling, density, scope, subsets, max_subsets)


def _all_subsets(n_tasks: int, max_subsets: int, seed) -> dict:
    """The subsets of every size m >= 2, drawn from one generator seeded by ``seed``."""
    rng = seeded_rng(seed)
    return {m: _subsets(n_tasks, m, max_subsets, rng) for m in range(2, n_tasks + 1)}


def _conflict_curve(
    theta0, taus, pooling, density, scope, subsets, max_subsets, context=None
) -> pd.DataFrame:
    """S5 of checked inputs over the given subsets."""
    facts = _facts(theta0, taus, density, scope, context=context)
    return _conflict_frame(facts, pooling, len(taus), scope, density, subsets, max_subsets)


def _conflict_frame(facts, pooling, n_tasks, scope, density, subsets, max_subsets) -> pd.DataFrame:
    """The S5 frame from the per-tensor facts ``states``."""
    # Trimming is per task (a per-tensor count, or the task's own model-wide
    # threshold), so the kept entries do not depend on which other tasks are
    # merged: one sign histogram serves every subset.
    rows = {}
    names = _tasks(n_tasks)
    for layer, keys in pooling.items():
        for m, chosen in subsets.items():
            for subset in chosen:
                counts = sum(_conflict_counts(*facts[key]["states"], subset) for key in keys)
                kept, conflict, values, slots = counts
                observed = conflict / kept if kept > 0 else np.nan
                label = ",".join(names[t] for t in subset)
                null = _null_conflict(values / slots, m) if slots > 0 else np.nan
                rows[layer, m, label] = [observed, null]
    attrs = _attrs("conflict_curve", pooling, scope, density) | {"max_subsets": max_subsets}
    return _frame(rows, ("observed", "null"), False, attrs, ["layer", "m", "subset"])


def _pattern_names(n_tasks: int) -> list[str]:
    # Character t is task t's sign; "+" before "-", first task most significant.
    return ["".join(signs) for signs in product("+-", repeat=n_tasks)]


def sign_patterns(
    base, models, /, *, density, scope="tensor", layers=None, closed=True
) -> pd.DataFrame:
    """S6: the composition of the 2^T joint sign patterns of the kept entries, per layer.

    Parameters
    ----------
    base : mapping of str to array_like
        The pre-trained checkpoint theta_0.
    models : sequence of mappings of str to array_like
        The fine-tuned checkpoints (2 to 8), with the tensors of ``base``.
    density : float
        The fraction K of entries kept per task, in (0, 1].
    scope : {"tensor", "global"}, default "tensor"
        Trim as ``ties_merge`` does with this scope.
    layers : None, mapping or callable, optional
        The pooling of tensors into layers, as in :func:`coda.merging.task_shares`.
    closed : bool, default True
        Return shares summing to 1 (True) or the counts of entries.

    Returns
    -------
    pandas.DataFrame
        Rows the layers, columns the patterns ``"++"``, ``"+-"``, ... (character
        t is the sign of task t); settings in ``attrs``.

    Raises
    ------
    TypeError
        If a tensor, ``density`` or ``layers`` has the wrong type.
    ValueError
        If keys or shapes differ, a value is not finite or a task vector
        overflows float32, ``density`` is outside (0, 1], ``scope`` is unknown,
        ``layers`` is not a partition or there are fewer than 2 or more than 8
        models.

    See Also
    --------
    sign_agreement_log_odds : Pairwise agreement as log-contrasts of this composition.

    Notes
    -----
    The entries counted are those that every task keeps after trimming with a
    non-zero value, so that every task has a sign there; with independent
    keeps that is about a fraction K^T of the entries, so small densities and
    many tasks leave few entries. A layer with no such entry is NaN when
    ``closed``. Patterns that never occur are zero parts: replace them (for
    example with :mod:`coda.zeros`) before log-ratio analysis, or use the
    pseudocount of :func:`sign_agreement_log_odds`.

    References
    ----------
    .. [1] Yadav, P., Tam, D., Choshen, L., Raffel, C. and Bansal, M. (2023).
       TIES-Merging: Resolving interference when merging models. NeurIPS.
       doi:10.48550/arXiv.2306.01708

    Examples
    --------
    >>> import numpy as np
    >>> from coda.merging import sign_patterns
    >>> base = {"w": np.zeros(4)}
    >>> models = [{"w": np.array([3.0, -1.0, 0.5, -2.0])},
    ...           {"w": np.array([1.0, -2.0, 0.1, 4.0])}]
    >>> sign_patterns(base, models, density=1.0, closed=False)
    part    ++   +-   -+   --
    layer
    w      2.0  0.0  1.0  1.0
    """
    theta0, taus, pooling, density, scope = _trimmed(base, models, density, scope, layers)
    check_model_count(len(taus), maximum=8)
    closed = check_flag(closed, "closed")
    return _sign_patterns(theta0, taus, pooling, density, scope, closed)


def _sign_patterns(theta0, taus, pooling, density, scope, closed, context=None) -> pd.DataFrame:
    """S6 pattern composition of checked inputs."""
    facts = _facts(theta0, taus, density, scope, context=context)
    return _patterns_frame(facts, pooling, len(taus), scope, density, closed)


def _patterns_frame(facts, pooling, n_tasks, scope, density, closed) -> pd.DataFrame:
    """The S6 frame from the per-tensor facts ``states``."""
    rows = {
        layer: sum(_pattern_counts(*facts[key]["states"]) for key in keys)
        for layer, keys in pooling.items()
    }
    attrs = _attrs("sign_patterns", pooling, scope, density)
    return _frame(rows, _pattern_names(n_tasks), closed, attrs, "layer")


def _agreement_contrasts(n_tasks: int) -> tuple[list[str], np.ndarray]:
    """Pair labels and the (pairs, 2^T) log-contrast matrix of conditional agreement."""
    names = _pattern_names(n_tasks)
    pairs, rows = [], []
    for s, t in combinations(range(n_tasks), 2):
        agree = np.array([name[s] == name[t] for name in names])
        # 2^(T-1) agreeing and 2^(T-1) disagreeing patterns: coefficients sum to 0.
        rows.append(np.where(agree, 1.0, -1.0) / 2 ** (n_tasks - 2))
        pairs.append(f"task{s}:task{t}")
    return pairs, np.array(rows)


def sign_agreement_log_odds(
    base, models, /, *, density, scope="tensor", layers=None, pseudocount=0.5
) -> pd.DataFrame:
    """S6: pairwise conditional log odds ratios of sign agreement, as log-contrasts.

    Parameters
    ----------
    base : mapping of str to array_like
        The pre-trained checkpoint theta_0.
    models : sequence of mappings of str to array_like
        The fine-tuned checkpoints (2 to 8), with the tensors of ``base``.
    density : float
        The fraction K of entries kept per task, in (0, 1].
    scope : {"tensor", "global"}, default "tensor"
        Trim as ``ties_merge`` does with this scope.
    layers : None, mapping or callable, optional
        The pooling of tensors into layers, as in :func:`coda.merging.task_shares`.
    pseudocount : float, default 0.5
        Added to every pattern count before taking logs (must be > 0).

    Returns
    -------
    pandas.DataFrame
        Rows the layers, one column per pair ``"task{s}:task{t}"`` (s < t);
        settings in ``attrs`` (plus ``pseudocount``).

    Raises
    ------
    TypeError
        If a tensor, ``density``, ``layers`` or ``pseudocount`` has the wrong type.
    ValueError
        As :func:`sign_patterns`, or if ``pseudocount`` is not positive.

    See Also
    --------
    sign_patterns : The composition whose log-contrasts these are.

    Notes
    -----
    Let n_p be the count of pattern p (:func:`sign_patterns`) plus the
    pseudocount. For tasks s < t and a configuration c of the other T - 2
    tasks' signs, the 2x2 table of the signs of s and t gives the conditional
    log odds ratio of agreement

        L_st|c = log(n_{++c} n_{--c} / (n_{+-c} n_{-+c})),

    positive when s and t agree more often than independent signs would.
    The value reported is its mean over the 2^(T-2) configurations,

        L_st = 2^-(T-2) sum_c L_st|c = sum_p a_p log n_p,

    with a_p = +2^-(T-2) where s and t have the same sign in p and
    -2^-(T-2) where not. The coefficients sum to 0, so L_st is a log-contrast:
    unchanged by closing the counts to proportions. It equals L_st|c for
    every c when the sign distribution has no interaction of order three or
    more involving s and t (a log-linear model with pairwise terms only), and
    is then 4 times the pairwise interaction in +-1 coding. For T = 2 it is
    the plain log odds ratio of the 2x2 table. The pseudocount of 0.5 is that
    of the empirical logit (Haldane's correction): it keeps empty cells finite.
    A layer where no entry is kept by every task has no table at all: its log
    odds are NaN, not the 0 that the pseudocount alone would give.

    References
    ----------
    .. [1] Agresti, A. (2013). Categorical Data Analysis, 3rd ed., Wiley,
       sections 2.4 and 9.1. doi:10.1002/0471249688
    .. [2] Aitchison, J. (1986). The Statistical Analysis of Compositional
       Data. Chapman and Hall. doi:10.1007/978-94-009-4109-0

    Examples
    --------
    >>> import numpy as np
    >>> from coda.merging import sign_agreement_log_odds
    >>> base = {"w": np.zeros(4)}
    >>> models = [{"w": np.array([3.0, -1.0, 0.5, -2.0])},
    ...           {"w": np.array([1.0, -2.0, 0.1, 4.0])}]
    >>> sign_agreement_log_odds(base, models, density=1.0).round(6)
    part   task0:task1
    layer
    w         1.609438
    """
    pseudocount = check_positive(
        pseudocount, "pseudocount", hint=" such as 0.5, the empirical-logit pseudocount"
    )
    counts = sign_patterns(base, models, density=density, scope=scope, layers=layers, closed=False)
    return _log_odds(counts, pseudocount)


def _log_odds(counts: pd.DataFrame, pseudocount: float) -> pd.DataFrame:
    """S6 log odds ratios from the unclosed pattern counts of :func:`sign_patterns`."""
    pairs, contrasts = _agreement_contrasts(len(counts.columns).bit_length() - 1)
    logs = np.log(counts.to_numpy() + pseudocount)
    # Correctly rounded sums (math.fsum) of the element-wise products, not a
    # matrix product, whose rounding depends on the kernel, the number of rows
    # and memory alignment: a layer gets the same value whether computed alone
    # (describe) or with the others.
    products = logs[:, None, :] * contrasts[None, :, :]
    values = np.array([[fsum(terms) for terms in layer] for layer in products])
    values = values.reshape(len(logs), len(pairs))
    # A layer without entries has nothing to contrast: NaN, not the prior's 0.
    values[counts.to_numpy().sum(axis=1) == 0] = np.nan
    frame = pd.DataFrame(values, index=counts.index, columns=pd.Index(pairs, name="part"))
    frame.attrs.update(counts.attrs | {"statistic": "sign_agreement_log_odds"})
    frame.attrs["pseudocount"] = pseudocount
    return frame
