"""Per-tensor quantities behind the merge statistics S2 to S6, from one set of TIES decisions.

:func:`_facts` runs trimming and election (:func:`coda.merging._rules._decisions`)
once per tensor and derives from them what the statistics of
:mod:`coda.merging.stats` and :mod:`coda.merging.patterns` need; the
whole-model functions there and :func:`coda.merging.describe` call it, so
they share every formula. Everything S2, S5 and S6 use is the joint sign
histogram of the kept values: per entry, each task's state (trimmed or a
kept 0, kept positive, kept negative), and how many entries have each
combination of T states. It has at most 3^T rows, so the statistics of
every task subset are sums over a small table instead of passes over the
tensor.
"""

from __future__ import annotations

import threading

import numpy as np

from coda import _kernels
from coda._parallel import for_row_blocks
from coda.merging._rules import _decisions as _tie_decisions
from coda.merging._rules import _deferral_scratch, _deferred_blocks
from coda.merging._top_k import _top_k_bounds

#: Up to this many tasks the kernel counts the 3^T sign combinations in a
#: histogram of base-3 codes (3^10 = 59,049 bins); beyond, np.unique does.
_TERNARY_TASKS = 10
#: numpy's "marginals" multivariate hypergeometric sampler needs fewer items
#: than this; larger tensors use its "count" method (a temporary of n integers).
_MARGINALS_LIMIT = 10**9


def _sign_codes(tensors: list, kept: np.ndarray) -> np.ndarray:
    """(T, n) uint8 states: 0 trimmed (or a kept 0), 1 kept positive, 2 kept negative."""
    codes = np.empty(kept.shape, dtype=np.uint8)
    for row, tau, mask in zip(codes, tensors, kept, strict=True):
        # tau * m is tau where kept and +-0 elsewhere, so its sign is that of
        # tau masked by m: no float stack of trimmed vectors is needed.
        np.greater(tau, 0, out=row)
        negative = np.less(tau, 0)
        row += negative
        row += negative
        row *= mask
    return codes


def _sign_states(histogram, tensors, kept) -> tuple[np.ndarray, np.ndarray]:
    """The joint sign histogram: distinct (K, T) state rows and their (K,) entry counts.

    ``histogram`` counts the base-3 codes (:func:`_merge_facts`); None (more
    than ``_TERNARY_TASKS`` tasks) counts the distinct columns of the states.
    """
    n_tasks = len(tensors)
    if histogram is None:
        states, counts = np.unique(_sign_codes(tensors, kept), axis=1, return_counts=True)
        return states.T, counts
    present = np.flatnonzero(histogram)
    states = (present[:, None] // 3 ** np.arange(n_tasks)) % 3
    return states.astype(np.uint8), histogram[present]


def _categories(states: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Entries in each of the six categories of S2 (see entry_categories), as float64."""
    npos = np.count_nonzero(states == 1, axis=1)
    nneg = np.count_nonzero(states == 2, axis=1)
    kept = npos + nneg
    # trimmed 0, one_pos 1, one_neg 2, agree_pos 3, agree_neg 4, conflict 5.
    category = np.select(
        [kept == 0, kept == 1, nneg == 0, npos == 0],
        [0, np.where(npos == 1, 1, 2), 3, 4],
        default=5,
    )
    return np.bincount(category, weights=counts, minlength=6)


def _kept_values(states: np.ndarray, counts: np.ndarray) -> int:
    """Kept non-zero values over all tasks: sum_t of task t's kept count."""
    return int((counts * np.count_nonzero(states, axis=1)).sum())


def _hypergeometric(rng, colors: np.ndarray, nsample: int) -> np.ndarray:
    method = "marginals" if colors.sum() < _MARGINALS_LIMIT else "count"
    return rng.multivariate_hypergeometric(colors, nsample, method=method)


def _shuffled_categories(states, counts, n_permutations: int, rng) -> np.ndarray:
    """S2 categories of independently shuffled tasks, averaged over ``n_permutations`` rounds.

    Shuffling task t's trimmed vector (a uniform permutation of its n
    positions) puts its k_t kept values on a uniform random k_t-subset of
    positions, in a uniform random order. Given the histogram of the tasks
    placed before it, the number of its kept values landing on each state
    combination is therefore multivariate hypergeometric (k_t draws from
    the combinations' entry counts), and so is the split of its a_t positive
    values among those landing places. Drawing these two per task builds the
    histogram of the shuffled stack exactly, in O(3^T) per task instead of
    O(n): the same distribution as permuting the positions.
    """
    n_tasks = states.shape[1]
    kept = [int(counts[states[:, t] > 0].sum()) for t in range(n_tasks)]
    positive = [int(counts[states[:, t] == 1].sum()) for t in range(n_tasks)]
    total = np.zeros(6)
    for _ in range(n_permutations):
        placed = np.zeros((1, 0), dtype=np.uint8)
        sizes = np.array([counts.sum()], dtype=np.int64)
        for t in range(n_tasks):
            chosen = _hypergeometric(rng, sizes, kept[t])
            plus = _hypergeometric(rng, chosen, positive[t])
            split = np.concatenate([sizes - chosen, plus, chosen - plus])
            column = np.repeat(np.arange(3, dtype=np.uint8), len(sizes))[:, None]
            placed = np.hstack([np.vstack([placed] * 3), column])
            # Combinations no entry has play no further part.
            placed, sizes = placed[split > 0], split[split > 0]
        total += _categories(placed, sizes)
    return total / n_permutations


def _read_only(values: np.ndarray) -> np.ndarray:
    # The kernel takes the T task vectors as one tuple, whose arrays numba
    # must see with one type; it only reads them.
    view = np.ascontiguousarray(values, dtype=np.float32).ravel().view()
    view.flags.writeable = False
    return view


def _merge_code(scope: str, merge: str, normalize: bool) -> int:
    # The ``merge`` argument of coda._kernels._merge_facts: 0 weighted mean,
    # 1 sum, 2 max, 3 mean over the agreeing tasks (scope="global").
    if merge == "max":
        return 2
    if merge == "mean" and scope == "global":
        return 3
    return 0 if merge == "mean" and normalize else 1


def _merge_facts(
    tensors,
    kept,
    weighted,
    sigma,
    weights,
    scope,
    merge,
    normalize,
    decide=None,
    base=None,
    merged=True,
) -> tuple:
    """``(histogram, merged, fate, owned)`` of one tensor (see :func:`coda._kernels._merge_facts`).

    ``tensors`` are the T task vectors, or with ``base`` (theta_0) the T
    fine-tuned tensors, whose task vectors the kernel forms chunk by chunk.

    ``histogram`` (3^T,) counts the entries of each base-3 sign code, or is
    None beyond ``_TERNARY_TASKS`` tasks; ``merged`` (n,) float32 is tau_m,
    bit for bit that of ``ties_merge``; ``fate`` (T, 3) and ``owned`` (T,)
    are float64. With ``decide = (density, by_count, check)``
    (``scope="tensor"``) the kernel makes the decisions itself, chunk by
    chunk, and ``kept``, ``weighted`` and ``sigma`` are None: as the merge
    does (:func:`coda.merging._rules._tensor_update`), bounds around each
    task's k-th largest |tau_t| are found first
    (:func:`coda.merging._top_k._top_k_bounds`, which calls ``check`` for
    non-finite task vectors), the kernel decides every entry outside them
    and lists the others, and they are decided and counted last with
    the exact cuts (``_kernels._boundary_cuts``, ``_kernels._merge_facts_at``).
    With ``merged`` False no tau_m array is written (None in its place): the
    statistics need only each entry's |tau_m|, which the kernel uses as it
    makes it, and ``describe`` saved 2-3% of its time (a 4 MB array per
    tensor of 1,000,000 entries).
    """
    n_tasks, n = len(tensors), np.size(tensors[0])
    taus = tuple(_read_only(tau) for tau in tensors)
    diff = base is not None
    base = _read_only(base) if diff else taus[0]
    fused = decide is not None
    if fused:
        density, by_count, check = decide
        k = max(1, int(density * n))
        lows, highs, ranks = _top_k_bounds(base, taus, diff, k, check)
        kept = np.zeros((n_tasks, 0), dtype=bool)
        weighted = np.zeros((n_tasks, 0), dtype=np.float32)
        sigma = np.zeros(0, dtype=np.float32)
    else:
        kept = np.ascontiguousarray(kept, dtype=bool)
        weighted = np.ascontiguousarray(weighted, dtype=np.float32)
        sigma = np.ascontiguousarray(sigma, dtype=np.float32)
        lows = highs = np.zeros(0, np.float32)
        ranks, by_count, k = None, False, n
    weights = np.ascontiguousarray(weights, dtype=np.float32)
    ternary = n_tasks <= _TERNARY_TASKS
    tau_m = np.empty(n if merged else 0, dtype=np.float32)
    index = np.int32 if n < 2**31 else np.int64
    code = _merge_code(scope, merge, normalize)
    parts, histograms, found = {}, {}, {}

    def run(start: int, stop: int) -> None:
        # One histogram per thread: integer counts add up in any order.
        counts = histograms.setdefault(
            threading.get_ident(), np.zeros(3**n_tasks if ternary else 0, dtype=np.int64)
        )
        fate, owned = np.zeros((n_tasks, 3)), np.zeros(n_tasks)
        # The block's deferred entries: positions and tau_t, as found.
        size = stop - start if fused and k < n else 0
        positions, values = _deferral_scratch(n_tasks, size, index)
        count = _kernels._merge_facts(
            base,
            taus,
            diff,
            kept,
            weighted,
            sigma,
            weights,
            code,
            ternary,
            start,
            stop,
            counts,
            tau_m,
            fate,
            owned,
            fused,
            lows,
            highs,
            by_count,
            positions,
            values,
        )
        found[start] = positions[:count].copy(), values[:, :count].copy()
        parts[start] = fate, owned

    # Bytes read and written per entry: tau, mask and hat tau per task, sigma, tau_m.
    # Backwards after the top-k pass, as the merge (_rules._tensor_update).
    for_row_blocks(run, n, 9 * n_tasks + 8, backward=fused)
    fate, owned = np.zeros((n_tasks, 3)), np.zeros(n_tasks)
    # Blocks added in their order, so the float sums do not depend on the threads.
    for start in sorted(parts):
        fate += parts[start][0]
        owned += parts[start][1]
    histogram = sum(histograms.values(), np.zeros(3**n_tasks if ternary else 0, dtype=np.int64))
    deferred = _deferred_blocks(found)
    if deferred is not None:
        # The deferred entries, decided with the exact cuts, counted last.
        positions, values = deferred
        cuts = np.zeros(n_tasks, dtype=np.float32)
        stops = np.full(n_tasks, n, dtype=np.int64)
        _kernels._boundary_cuts(values, positions, lows, highs, ranks, n, cuts, stops)
        late = (histogram, np.zeros((n_tasks, 3)), np.zeros(n_tasks))
        rule = (weights, by_count, code, ternary)
        _kernels._merge_facts_at(values, positions, cuts, stops, *rule, tau_m, late)
        fate += late[1]
        owned += late[2]
    return (histogram if ternary else None), (tau_m if merged else None), fate, owned


def _conflict_counts(states: np.ndarray, counts: np.ndarray, subset: tuple) -> np.ndarray:
    """S5 counts of one task subset: entries kept, entries in conflict, kept values, slots."""
    chosen = states[:, list(subset)]
    some_pos = (chosen == 1).any(axis=1)
    some_neg = (chosen == 2).any(axis=1)
    return np.array(
        [
            counts[some_pos | some_neg].sum(),
            counts[some_pos & some_neg].sum(),
            _kept_values(chosen, counts),
            len(subset) * counts.sum(),
        ],
        dtype=np.float64,
    )


def _pattern_counts(states: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Counts of the 2^T sign patterns over entries kept (non-zero) by every task."""
    n_tasks = states.shape[1]
    everywhere = np.all(states > 0, axis=1)
    negative = states[everywhere] == 2
    # Pattern code: bit T-1-t set when task t is negative, matching _pattern_names.
    powers = 2 ** np.arange(n_tasks - 1, -1, -1)
    codes = negative.astype(np.int64) @ powers
    return np.bincount(codes, weights=counts[everywhere], minlength=2**n_tasks)


def _fused(scope: str, n_tasks: int) -> bool:
    """Whether the facts kernel makes the decisions itself (see :func:`_facts_decisions`)."""
    return scope == "tensor" and n_tasks <= _TERNARY_TASKS


def _facts_decisions(
    theta0, taus, density, scope, elect, weights, context, tuned=False, check=None
):
    """Yield ``(key, kept, weighted, sigma, decide)`` per tensor, in ``_decisions``' order.

    For ``scope="tensor"`` with at most ``_TERNARY_TASKS`` tasks, ``decide``
    is ``(density, by_count, check)`` for :func:`_merge_facts`, whose kernel
    makes the decisions in cache, chunk by chunk, instead of writing the
    (T, n) masks and weighted vectors to memory and reading them back; with
    ``tuned``, ``taus`` holds the fine-tuned tensors and the task vectors
    are formed by the kernels (``check(key)`` then raises for non-finite
    inputs, see :func:`coda.merging._top_k._top_k_bounds`). Otherwise the
    decisions of :func:`coda.merging._rules._decisions` and ``decide`` None.
    """
    if _fused(scope, len(taus)):
        for key in theta0:
            on_bad = None if check is None else (lambda key=key: check(key))
            yield key, None, None, None, (density, elect == "count", on_bad)
        return
    for key, kept, weighted, sigma in _tie_decisions(
        theta0, taus, density, scope, elect, weights, context
    ):
        yield key, kept, weighted, sigma, None


def _facts(
    theta0,
    taus,
    density,
    scope,
    *,
    elect="mass",
    weights=None,
    merge="mean",
    normalize=True,
    n_permutations=1,
    rng=None,
    context=None,
    tuned=False,
    check=None,
) -> dict:
    """Per tensor key, what the statistics need, from one trimming and election.

    Each tensor's dict holds ``states`` (the joint sign histogram: S2
    observed, S5, S6), ``fate`` (S3), ``owned`` (S4) and, when ``rng`` is
    given, ``shuffled`` (S2's permutation null). Trimming depends on neither
    ``elect`` nor ``weights`` (the top k and h_t come from task t's |tau|
    alone), so ``states`` and ``shuffled`` are the same under any of them;
    ``fate`` and ``owned`` use them through the elected signs. Tensors are
    visited in the order of ``_decisions``, which fixes the order of the
    draws from ``rng``.

    With ``tuned``, ``taus`` holds the fine-tuned models' tensors theta_t
    instead of the task vectors, not yet checked for non-finite values:
    ``check(key)`` raises if one of that key's tensors has any. Where the
    facts kernel decides (``scope="tensor"``), it forms the task vectors
    itself and the check runs only when a |tau_t| is inf or NaN; otherwise
    every tensor is checked and the task vectors are formed here first.
    """
    if weights is None:
        weights = np.ones(len(taus), dtype=np.float32)
    if tuned and not _fused(scope, len(taus)):
        if check is not None:
            for key in theta0:
                check(key)
        taus = [{key: tau[key] - start for key, start in theta0.items()} for tau in taus]
        tuned = False
    facts = {}
    for key, kept, weighted, sigma, decide in _facts_decisions(
        theta0, taus, density, scope, elect, weights, context, tuned, check
    ):
        tensors = [tau[key].ravel() for tau in taus]
        base = np.ravel(theta0[key]) if tuned else None
        histogram, _, fate, owned = _merge_facts(
            tensors, kept, weighted, sigma, weights, scope, merge, normalize, decide, base, False
        )
        states = _sign_states(histogram, tensors, kept)
        fact = {"states": states, "fate": fate, "owned": owned}
        if rng is not None:
            fact["shuffled"] = _shuffled_categories(*fact["states"], n_permutations, rng)
        facts[key] = fact
    return facts
