"""Task vectors and the rules that merge them: task arithmetic, TIES-Merging and DARE.

Every function takes the base checkpoint and a list of fine-tuned checkpoints,
each a mapping of tensor name to array, computes in float32, and returns a dict
of tensor name to float32 array in the base's key order.
"""

from __future__ import annotations

import numpy as np

from coda._validation import (
    check_finite_tensor,
    check_fraction,
    check_model_weights,
    check_models,
    check_normalize,
    check_option,
    check_real,
    check_same_shape,
    check_same_tensors,
    check_tensor_mapping,
)

__all__ = ["dare", "task_arithmetic", "task_vectors", "ties_merge"]


def _float32(value, tensor: str, model: str) -> np.ndarray:
    array = np.asarray(value, dtype=np.float32)
    check_finite_tensor(array, tensor, model)
    return array


def _checked(base, models) -> tuple[dict, list[dict]]:
    """Return the base as float32 arrays and each model's task vectors, after checks."""
    base = check_tensor_mapping(base, "base")
    models = check_models(models)
    theta0 = {key: _float32(value, key, "base") for key, value in base.items()}
    taus = []
    for t, model in enumerate(models):
        label = f"models[{t}]"
        model = check_tensor_mapping(model, label)
        check_same_tensors(list(theta0), list(model), "mapping", label)
        tau = {}
        for key, start in theta0.items():
            check_same_shape(key, np.shape(model[key]), start.shape, "mapping", label)
            tau[key] = _float32(model[key], key, label) - start
        taus.append(tau)
    return theta0, taus


def _add(theta0: dict, merged: dict, lam: float) -> dict:
    # theta = theta_0 + lam * tau_m, in float32.
    lam = np.float32(lam)
    return {key: start + lam * merged[key] for key, start in theta0.items()}


def _weighted_sum(vectors: list[np.ndarray], weights: np.ndarray) -> np.ndarray:
    # Tasks are added one after another (t = 0, 1, ...) so the float32 rounding
    # is that of a plain loop, reproducible by any implementation.
    total = weights[0] * vectors[0]
    for weight, vector in zip(weights[1:], vectors[1:], strict=True):
        total = total + weight * vector
    return total


def task_vectors(base, models, /) -> list[dict]:
    """Task vectors of fine-tuned models: each model minus the base, per tensor.

    Parameters
    ----------
    base : mapping of str to array_like
        The pre-trained checkpoint theta_0, tensor name to array.
    models : sequence of mappings of str to array_like
        The fine-tuned checkpoints theta_t, each with the tensors of ``base``
        and the same shapes.

    Returns
    -------
    list of dict of str to numpy.ndarray
        One dict per model, ``tau_t[name] = theta_t[name] - theta_0[name]`` as
        float32, in the base's key order.

    Raises
    ------
    TypeError
        If a tensor name is not a str or a tensor is not numeric.
    ValueError
        If a model lacks a tensor of the base or has one the base lacks, a shape
        differs from the base's, a value is not finite, or ``models`` is empty.

    See Also
    --------
    task_arithmetic : Add weighted task vectors back to the base.
    ties_merge : Trim, elect and merge task vectors.

    Notes
    -----
    Both checkpoints are cast to float32 first and subtracted in float32, so a
    bf16 or fp16 checkpoint gives the exact difference of its values.

    References
    ----------
    .. [1] Ilharco, G. et al. (2023). Editing models with task arithmetic. ICLR.
       doi:10.48550/arXiv.2212.04089

    Examples
    --------
    >>> import numpy as np
    >>> from coda.merging import task_vectors
    >>> base = {"w": np.array([1.0, 2.0])}
    >>> task_vectors(base, [{"w": np.array([1.5, 1.0])}])
    [{'w': array([ 0.5, -1. ], dtype=float32)}]
    """
    return _checked(base, models)[1]


def task_arithmetic(base, models, /, *, weights=None, lam=1.0) -> dict:
    """Merge fine-tuned models by adding their weighted task vectors to the base.

    Parameters
    ----------
    base : mapping of str to array_like
        The pre-trained checkpoint theta_0.
    models : sequence of mappings of str to array_like
        The fine-tuned checkpoints, with the tensors and shapes of ``base``.
    weights : array_like of float, optional
        One weight w_t per model; None gives every model weight 1.
    lam : float, default 1.0
        The scaling lambda of the summed task vectors.

    Returns
    -------
    dict of str to numpy.ndarray
        The merged checkpoint as float32, in the base's key order.

    Raises
    ------
    TypeError
        If a tensor is not numeric or ``lam`` is not a number.
    ValueError
        If keys or shapes differ from the base's, a value is not finite, or
        ``weights`` does not hold one finite number per model.

    See Also
    --------
    task_vectors : The differences that are added.
    ties_merge : Trim and elect signs before adding.

    Notes
    -----
    theta = theta_0 + lam * sum_t w_t tau_t, with the tasks added in the order
    given, in float32.

    References
    ----------
    .. [1] Ilharco, G. et al. (2023). Editing models with task arithmetic. ICLR.
       doi:10.48550/arXiv.2212.04089

    Examples
    --------
    >>> import numpy as np
    >>> from coda.merging import task_arithmetic
    >>> base = {"w": np.zeros(2)}
    >>> models = [{"w": np.array([1.0, -2.0])}, {"w": np.array([3.0, 2.0])}]
    >>> task_arithmetic(base, models, lam=0.5)
    {'w': array([2., 0.], dtype=float32)}
    """
    theta0, taus = _checked(base, models)
    weights = check_model_weights(weights, "weights", len(taus))
    lam = check_real(lam, "lam")
    merged = {key: _weighted_sum([tau[key] for tau in taus], weights) for key in theta0}
    return _add(theta0, merged, lam)


def _top_k_mask(magnitude: np.ndarray, k: int) -> np.ndarray:
    """Mask of exactly ``k`` largest entries of a flat array, ties to the lowest index."""
    n = magnitude.size
    if k >= n:
        return np.ones(n, dtype=bool)
    # np.partition is an O(n) selection: the value at n - k is the k-th largest.
    kth = np.partition(magnitude, n - k)[n - k]
    mask = magnitude > kth
    tied = np.flatnonzero(magnitude == kth)
    mask[tied[: k - np.count_nonzero(mask)]] = True
    return mask


def _global_thresholds(taus: list[dict], keys: list[str], density: float) -> list:
    """Per task h_t, the r-th smallest |tau_t| over all tensors, r = d - floor(d K)."""
    thresholds = []
    for tau in taus:
        magnitude = np.concatenate([np.abs(tau[key]).ravel() for key in keys])
        d = magnitude.size
        # ties-merging merge_utils.topk_values_mask: k = d - int(d * K), then
        # kthvalue(k) (1-based) of |M|; K = 1 gives k = 0, where torch raises and
        # coda keeps every entry.
        r = d - int(d * density)
        thresholds.append(np.float32(0.0) if r == 0 else np.partition(magnitude, r - 1)[r - 1])
    return thresholds


def _elect_sums(stack: np.ndarray, elect: str) -> np.ndarray:
    if elect == "mass":
        return stack.sum(axis=0)
    return np.sign(stack).sum(axis=0)


def _agreeing(stack: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """Entries whose sign is + where ``positive`` holds and - elsewhere."""
    # Boolean algebra instead of np.where: masked selection on random masks is
    # branchy and about ten times slower than these element-wise passes.
    return ((stack > 0) & positive) | ((stack < 0) & ~positive)


def _merge_global(trimmed: np.ndarray, sigma: np.ndarray, merge: str) -> np.ndarray:
    # merge_utils.disjoint_merge: where sigma > 0 keep positive entries, else
    # (sigma < 0 or an unresolved 0) keep negative entries.
    agree = _agreeing(trimmed, sigma > 0)
    selected = trimmed * agree
    if merge == "mean":
        count = np.maximum(np.count_nonzero(agree, axis=0), 1).astype(np.float32)
        return selected.sum(axis=0) / count
    if merge == "sum":
        return selected.sum(axis=0)
    return np.abs(selected).max(axis=0) * sigma


def _decisions(theta0, taus, density, scope, elect, weights):
    """Yield ``(key, kept, weighted, sigma)`` per tensor: the TIES decisions.

    ``kept`` is each task's trim mask and ``weighted`` its trimmed, weighted
    task vector (both of shape (T, n), flattened); ``sigma`` the elected sign
    (n,) as float32. The one place where trimming and election happen: both
    :func:`ties_merge` and the statistics of :mod:`coda.merging.stats` use it,
    so they cannot drift apart.

    ``scope="global"`` (ties-merging merge_utils): one threshold per task over
    all tensors; sigma is the sign of the elected sum and, where that is 0,
    the model-wide majority sign (resolve_zero_signs), which may itself be 0.
    ``scope="tensor"`` (mergekit): exactly k entries per tensor and task;
    sigma = +1 where the weighted sum is >= 0, else -1.
    """
    if scope == "global":
        keys = sorted(theta0)
        thresholds = _global_thresholds(taus, keys, density)

        def trim(key):
            return np.stack(
                [np.abs(tau[key].ravel()) >= h for tau, h in zip(taus, thresholds, strict=True)]
            )

        def weigh(key, kept):
            return np.stack(
                [w * (tau[key].ravel() * m) for tau, w, m in zip(taus, weights, kept, strict=True)]
            )

        # merge_utils.resolve_zero_signs: the model-wide majority of elected signs.
        majority = 0
        for key in keys:
            votes = np.sign(_elect_sums(weigh(key, trim(key)), elect))
            majority += int(votes.sum(dtype=np.int64))
        majority = np.float32(np.sign(majority))
    else:
        keys = list(theta0)

        def trim(key):
            k = max(1, int(density * theta0[key].size))
            return np.stack([_top_k_mask(np.abs(tau[key].ravel()), k) for tau in taus])

        def weigh(key, kept):
            return np.stack(
                [w * (tau[key].ravel() * m) for tau, w, m in zip(taus, weights, kept, strict=True)]
            )

    for key in keys:
        kept = trim(key)
        weighted = weigh(key, kept)
        sums = _elect_sums(weighted, elect)
        if scope == "global":
            votes = np.sign(sums).astype(np.float32)
            sigma = np.where(votes == 0, majority, votes)
        else:
            # mergekit get_mask: sigma = +1 where the sum is >= 0.
            sigma = np.where(sums >= 0, np.float32(1.0), np.float32(-1.0))
        yield key, kept, weighted, sigma


def _ties_global(theta0, taus, density, elect, merge, weights):
    merged = {}
    for key, _kept, weighted, sigma in _decisions(theta0, taus, density, "global", elect, weights):
        merged[key] = _merge_global(weighted, sigma, merge).reshape(theta0[key].shape)
    return merged


def _ties_tensor(theta0, taus, density, elect, merge, weights, normalize):
    merged = {}
    for key, _kept, weighted, sigma in _decisions(theta0, taus, density, "tensor", elect, weights):
        positive = sigma > 0
        # An entry agrees when its sign equals sigma, so trimmed zeros never agree.
        agree = _agreeing(weighted, positive)
        selected = weighted * agree
        if merge == "max":
            out = np.abs(selected).max(axis=0) * sigma
        else:
            out = selected.sum(axis=0)
            if merge == "mean" and normalize:
                divisor = (agree * weights[:, None]).sum(axis=0)
                out = out / (divisor + (divisor == 0))
        merged[key] = out.reshape(theta0[key].shape)
    return merged


def ties_merge(
    base,
    models,
    /,
    *,
    density,
    scope="tensor",
    elect="mass",
    merge="mean",
    weights=None,
    lam=1.0,
    normalize=True,
) -> dict:
    """Merge fine-tuned models with TIES: trim, elect a sign, merge the agreeing entries.

    TIES-Merging [1]_ keeps the largest entries of each task vector, elects one
    sign per parameter, and averages only the kept entries with that sign. Two
    exact reference behaviours are offered: ``scope="global"`` is the authors'
    code, ``scope="tensor"`` is mergekit's ``ties`` method.

    Parameters
    ----------
    base : mapping of str to array_like
        The pre-trained checkpoint theta_0.
    models : sequence of mappings of str to array_like
        The fine-tuned checkpoints, with the tensors and shapes of ``base``.
    density : float
        The fraction K of entries kept per task, in (0, 1].
    scope : {"tensor", "global"}, default "tensor"
        Trim within each tensor (mergekit) or over the whole model (original code).
    elect : {"mass", "count"}, default "mass"
        Elect the sign of the summed values ("mass") or of the summed signs ("count").
    merge : {"mean", "sum", "max"}, default "mean"
        How the agreeing entries are combined.
    weights : array_like of float, optional
        One weight per model, multiplying its trimmed task vector before the
        election; None gives every model weight 1.
    lam : float, default 1.0
        The scaling lambda of the merged task vector.
    normalize : bool, default True
        With ``scope="tensor"`` and ``merge="mean"``: divide by the sum of the
        agreeing weights (True, mergekit's default) or not (False, a sum).

    Returns
    -------
    dict of str to numpy.ndarray
        The merged checkpoint as float32, in the base's key order.

    Raises
    ------
    TypeError
        If a tensor, ``density``, ``lam`` or ``normalize`` has the wrong type.
    ValueError
        If keys or shapes differ from the base's, a value is not finite,
        ``density`` is outside (0, 1], an option is unknown, ``weights`` does not
        hold one number per model, or ``normalize=False`` where it does not apply.

    See Also
    --------
    task_vectors : The differences that are trimmed.
    task_arithmetic : Merging without trimming or election.
    dare : Random instead of magnitude trimming.

    Notes
    -----
    With tau_t = theta_t - theta_0 and hat tau_t the trimmed, weighted vector,
    theta = theta_0 + lam * tau_m, where tau_m,p combines the hat tau_t,p whose
    sign equals the elected sign sigma_p.

    ``scope="global"`` follows ``merge_utils.py`` of the authors' repository
    (github.com/prateeky2806/ties-merging): tensors sorted by name are flattened
    and concatenated (d entries); each task keeps every entry with |tau| >= h_t,
    h_t the r-th smallest |tau_t| with r = d - floor(d K), so floor(d K) + 1
    entries plus ties at h_t; sigma_p = sign(sum_t hat tau_t,p) and, where that
    is 0, the model-wide majority sign(sum_p sigma_p); "mean" divides the sum of
    agreeing entries by their number (at least 1). Where even the majority is 0,
    the original keeps the negative entries, and so does coda. The original has
    no weights and no "count" election; here weights scale the trimmed vectors
    and "count" elects sign(sum_t sign hat tau_t,p) with the same fallback.
    With K = 1 the original fails (kthvalue of rank 0); coda keeps everything.

    ``scope="tensor"`` follows mergekit (``sparsify.magnitude`` then
    ``generalized_task_arithmetic`` with ``get_mask``): each tensor of n entries
    keeps exactly k = max(1, floor(K n)) entries of largest |tau|; among equal
    magnitudes at the cut coda keeps the lowest flat indices (mergekit's
    ``argsort`` and PEFT's ``topk`` leave the choice to torch); sigma_p = +1
    where sum_t w_t hat tau_t,p >= 0 and -1 otherwise (no fallback); "mean" with
    ``normalize`` divides by the sum of the agreeing weights (1 where it is 0).

    Differences between the three reference implementations:

    - trim scope: the original trims over the whole model, mergekit and PEFT
      per tensor;
    - number kept and ties: original floor(d K) + 1 plus ties; mergekit and
      PEFT exactly floor(n K);
    - tiny tensors: mergekit stops with an error when floor(n K) = 0, PEFT
      zeroes the tensor's task vector, coda keeps one entry;
    - sign of a zero sum: original the majority sign, mergekit and PEFT +1;
    - where weights enter: mergekit before the election, PEFT after it (the
      sign is elected from unweighted vectors); the original has no weights;
    - mean vs sum: the original divides by the number of agreeing entries,
      mergekit by the sum of their weights (or not at all without
      ``normalize``), PEFT by their number after weighting, so PEFT equals
      mergekit with weights 1 only;
    - "max" (original only): sigma_p times the largest agreeing |hat tau|;
    - arithmetic dtype: the original runs in float32, mergekit and PEFT in the
      checkpoint's dtype (often bf16); coda always in float32.

    Selection uses ``np.partition`` (O(n) per tensor or model), not a sort.

    References
    ----------
    .. [1] Yadav, P., Tam, D., Choshen, L., Raffel, C. and Bansal, M. (2023).
       TIES-Merging: Resolving interference when merging models. NeurIPS.
       doi:10.48550/arXiv.2306.01708

    Examples
    --------
    >>> import numpy as np
    >>> from coda.merging import ties_merge
    >>> base = {"w": np.zeros(4)}
    >>> models = [{"w": np.array([3.0, -1.0, 0.5, 2.0])},
    ...           {"w": np.array([-1.0, -2.0, 0.1, 4.0])}]
    >>> ties_merge(base, models, density=0.5)
    {'w': array([ 3., -2.,  0.,  3.], dtype=float32)}
    >>> ties_merge(base, models, density=0.5, scope="global")
    {'w': array([ 3. , -1.5,  0. ,  3. ], dtype=float32)}
    """
    theta0, taus = _checked(base, models)
    density = check_fraction(density, "density", closed=True)
    scope = check_option(scope, "scope", ("tensor", "global"))
    elect = check_option(elect, "elect", ("mass", "count"))
    merge = check_option(merge, "merge", ("mean", "sum", "max"))
    weights = check_model_weights(weights, "weights", len(taus))
    lam = check_real(lam, "lam")
    normalize = check_normalize(normalize, scope, merge)
    if scope == "global":
        merged = _ties_global(theta0, taus, density, elect, merge, weights)
    else:
        merged = _ties_tensor(theta0, taus, density, elect, merge, weights, normalize)
    return _add(theta0, merged, lam)


def dare(base, models, /, *, density, rescale="inverse", seed=None, weights=None, lam=1.0):
    """Merge fine-tuned models with DARE: drop task-vector entries at random, rescale, add.

    Parameters
    ----------
    base : mapping of str to array_like
        The pre-trained checkpoint theta_0.
    models : sequence of mappings of str to array_like
        The fine-tuned checkpoints, with the tensors and shapes of ``base``.
    density : float
        The probability of keeping each entry, in (0, 1].
    rescale : {"inverse", "l1"}, default "inverse"
        Divide the kept entries by ``density`` ("inverse", the paper's rule) or
        scale each tensor so its L1 norm is that before the drop ("l1").
    seed : None, int or numpy.random.Generator, optional
        Seed of the one generator that draws every drop.
    weights : array_like of float, optional
        One weight per model; None gives every model weight 1.
    lam : float, default 1.0
        The scaling lambda of the summed task vectors.

    Returns
    -------
    dict of str to numpy.ndarray
        The merged checkpoint as float32, in the base's key order.

    Raises
    ------
    TypeError
        If a tensor, ``density`` or ``lam`` has the wrong type.
    ValueError
        If keys or shapes differ from the base's, a value is not finite,
        ``density`` is outside (0, 1], ``rescale`` is unknown, or ``weights``
        does not hold one number per model.

    See Also
    --------
    ties_merge : Magnitude trimming and sign election.
    task_arithmetic : The sum DARE applies after dropping.

    Notes
    -----
    Each entry of tau_t is kept when a uniform draw is below ``density`` (a
    Bernoulli(K) mask m), so with "inverse" E[m tau / K] = tau: the dropped
    vector is unbiased. With "l1" the kept entries of each tensor are scaled by
    ||tau||_1 / ||m tau||_1 (left unscaled when nothing is kept), mergekit's
    ``rescale_norm="l1"``. The draws run over models, then tensors in the base's
    key order, from one ``np.random.default_rng(seed)``. The dropped vectors are
    then merged by task arithmetic: theta = theta_0 + lam * sum_t w_t tau'_t.

    References
    ----------
    .. [1] Yu, L., Yu, B., Yu, H., Huang, F. and Li, Y. (2024). Language models
       are Super Mario: absorbing abilities from homologous models as a free
       lunch. ICML. doi:10.48550/arXiv.2311.03099

    Examples
    --------
    >>> import numpy as np
    >>> from coda.merging import dare
    >>> base = {"w": np.zeros(4)}
    >>> models = [{"w": np.array([1.0, 2.0, 3.0, 4.0])}]
    >>> dare(base, models, density=0.5, seed=1)
    {'w': array([0., 0., 6., 0.], dtype=float32)}
    """
    theta0, taus = _checked(base, models)
    density = check_fraction(density, "density", closed=True)
    rescale = check_option(rescale, "rescale", ("inverse", "l1"))
    weights = check_model_weights(weights, "weights", len(taus))
    lam = check_real(lam, "lam")
    rng = np.random.default_rng(seed)
    dropped = []
    for tau in taus:
        kept = {}
        for key, vector in tau.items():
            masked = np.where(rng.random(vector.shape) < density, vector, np.float32(0.0))
            if rescale == "inverse":
                masked = masked / np.float32(density)
            else:
                after = np.abs(masked).sum(dtype=np.float64)
                if after > 0:
                    masked = masked * np.float32(np.abs(vector).sum(dtype=np.float64) / after)
            kept[key] = masked
        dropped.append(kept)
    merged = {key: _weighted_sum([d[key] for d in dropped], weights) for key in theta0}
    return _add(theta0, merged, lam)
