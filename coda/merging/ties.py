"""Task vectors and the rules that merge them: task arithmetic and TIES-Merging.

Every function takes the base checkpoint and a list of fine-tuned checkpoints,
each a mapping of tensor name to array, computes in float32, and returns a dict
of tensor name to array in the base's key order: float32 for the floating-point
tensors, the base's own dtype for its integer and boolean tensors (buffers such
as position ids or masks, which are never merged). The merging functions also
read checkpoint files (through :func:`coda.merging.open_checkpoint`) one tensor
at a time and can write the merged model to disk as safetensors, so merging T
models holds O(T x largest tensor) in memory, not T whole models.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from coda._validation import (
    check_float32_range,
    check_fraction,
    check_model_weights,
    check_models,
    check_normalize,
    check_option,
    check_real,
)
from coda.merging._out_dtype import _checked_dtype
from coda.merging._rules import _weighted_sum
from coda.merging._sources import (
    _check_out,
    _checked,
    _checked_thetas,
    _emit,
    _finite_check,
    _inputs,
    _tensor_inputs,
)
from coda.merging._ties_updates import _fused_merges, _global_updates

__all__ = ["task_arithmetic", "task_vectors", "ties_merge"]


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
        float32, in the base's key order; zeros in the base's dtype for its
        integer and boolean tensors (see Notes).

    Raises
    ------
    TypeError
        If a tensor name is not a str or a tensor is not numeric.
    ValueError
        If a model lacks a tensor of the base or has one the base lacks, a shape
        differs from the base's, a value is not finite, a task vector
        overflows float32 (see Notes), a model's values differ from the base's
        where the base's tensor is integer or boolean, or ``models`` is empty.

    See Also
    --------
    task_arithmetic : Add weighted task vectors back to the base.
    ties_merge : Trim, elect and merge task vectors.

    Notes
    -----
    Both checkpoints are converted to float32 and subtracted in float32:
    tau_t is the float32 subtraction of the widened values, their difference
    rounded once to float32. Widening fp16 and bf16 is exact (each of their
    values is a float32 value), so for such checkpoints tau_t is the exact
    difference of their values whenever that fits in float32's 24-bit
    significand: when one value is 0, or the two are within a factor of 2^12
    (fp16) or 2^15 (bf16) of each other in magnitude (and, for bf16, whose
    range is float32's, the difference does not overflow). From a factor of
    about 2^13 (fp16) or 2^16 (bf16) on it may be rounded: the fp16 values
    2^-24 and 1024 differ by 1023.99999994, which float32 rounds to 1024.
    float64 inputs are rounded to float32 before the subtraction (a value
    beyond float32's range raises). A difference beyond float32's range
    (possible only where a value of the model or the base exceeds half of
    it, about 1.7e38 in magnitude) raises a ValueError naming the tensor and
    the model, rather than becoming inf; so does every merge and statistic
    of merges, from mappings and files alike.

    The base's integer and boolean tensors (buffers such as position ids,
    attention masks or step counters) are not weights and no merge changes
    them (see :func:`task_arithmetic`): every model must hold the base's
    values there, and their task vectors are zeros in the base's dtype, so
    that theta_0 + tau_t keeps that dtype. The base's dtype decides: a
    model's integer tensor where the base's is floating point is converted
    to float32 and subtracted like any other.

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
    _, taus, buffers = _checked(base, models)
    # A buffer is checked equal in every model: its task vector is 0, in its dtype.
    shapes, dtypes = buffers.shapes, buffers.dtypes
    return [
        {
            key: np.zeros(shapes[key], dtype=dtypes[key]) if key in dtypes else tau[key]
            for key in buffers.order
        }
        for tau in taus
    ]


def task_arithmetic(
    base, models, /, *, weights=None, lam=1.0, out=None, max_shard_bytes=None, dtype=None
):
    """Merge fine-tuned models by adding their weighted task vectors to the base.

    Parameters
    ----------
    base : str, os.PathLike, Checkpoint or mapping of str to array_like
        The pre-trained checkpoint theta_0: a file opened with
        :func:`~coda.merging.open_checkpoint` or a mapping of tensor name to array.
    models : sequence of str, os.PathLike, Checkpoint or mapping
        The fine-tuned checkpoints, with the tensors and shapes of ``base``.
    weights : array_like of float, optional
        One weight w_t per model; None gives every model weight 1.
    lam : float, default 1.0
        The scaling lambda of the summed task vectors.
    out : str or os.PathLike, optional
        Write the merged model to this ``.safetensors`` file (its directory
        must exist) with the base's metadata, instead of returning it. A path
        that would replace or remove a file of ``base`` or ``models`` is refused.
    max_shard_bytes : int, optional
        With ``out``: most tensor bytes per file; above it the model is
        sharded with a ``.index.json`` (see :func:`~coda.merging.write_checkpoint`).
    dtype : None, "base", "float32", "float16" or "bfloat16", optional
        The dtype of the merged floating-point tensors, returned or written:
        None is float32; "base" each tensor in the base's dtype (see Notes).
        A numpy dtype is accepted too (``ml_dtypes.bfloat16`` for bfloat16).

    Returns
    -------
    dict of str to numpy.ndarray or pathlib.Path
        Without ``out``, the merged checkpoint in the base's key order (sorted
        for a file): float32 (or ``dtype``), and the base's integer and boolean
        tensors unchanged in their dtype (see Notes); with ``out``, the written
        file to open (the index of a sharded checkpoint), with the same dtypes.

    Raises
    ------
    TypeError
        If a tensor is not numeric, ``lam`` is not a number or ``dtype`` is
        not a dtype.
    ValueError
        If keys or shapes differ from the base's, a model's values differ from
        the base's where the base's tensor is integer or boolean, a file is
        corrupt or truncated, a value is not finite, a task vector overflows
        float32 (see :func:`task_vectors`), ``weights`` does not hold
        one finite number per model (or holds a non-zero one below float32's
        smallest normal number), ``max_shard_bytes`` comes without
        ``out``, ``dtype`` is not one of the above (float64 included; with
        "base", a float8 base tensor), or a merged value would become inf in
        ``dtype`` (see Notes).
    FileNotFoundError
        If a checkpoint path does not exist.

    See Also
    --------
    task_vectors : The differences that are added.
    ties_merge : Trim and elect signs before adding.

    Notes
    -----
    theta = theta_0 + lam * sum_t w_t tau_t, with the tasks added in the order
    given, in float32. Every tau_t is finite in float32, but the sum may not
    be (two tau of -2e38 sum to -4e38) where the result is (with lam = 0.5):
    an entry whose float32 result is not finite is computed again in float64
    and rounded once, so a result within float32's range is finite and
    within 1 ulp of the exact value. A result beyond float32's range is
    +-inf, as float32 arithmetic gives it.

    Only floating-point tensors are merged. The base's integer and boolean
    tensors (buffers such as position ids, attention masks or step counters)
    are passed through: every model must hold the base's values there (a
    model that changed one raises a ValueError naming it and the tensor,
    before anything is merged or written), and the result, returned or
    written, holds the base's tensor in its own dtype. Merging them would
    make them float32 and change every integer of 2^24 or more. The base's
    dtype decides: a model's integer tensor where the base's is floating
    point is converted to float32 and merged. mergekit instead merges every
    tensor and casts the result back to the base's dtype.

    The merge computes in float32 whatever ``dtype``; each merged tensor is
    then rounded once from float32 to ``dtype``, to nearest with ties to
    even (numpy's and ml_dtypes' casts). "base" keeps a float16, bfloat16,
    float32 or float64 base tensor's dtype (a float64 one holds the float32
    values, widened exactly) and refuses float8. A value that would round to
    inf (in float16 from 65520 in magnitude) raises a ValueError naming the
    tensor, the count and the largest, before that tensor is returned or
    written: each tensor is checked as it comes (its min and max, a read of
    the float32 result, not a second pass over the model), and a written
    output then leaves no file, as with any failure.

    With checkpoint files every model is checked against the base (names,
    shapes, corrupt files) before anything is computed or written, and the
    tensors are then read, merged and written one name at a time: memory is
    O(T x largest tensor); each file's header is written first (from the
    base's names and shapes), so every merged tensor goes to its file as it
    is made. The output appears atomically; a failure midway leaves no
    file.

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

    Checkpoint files in, a safetensors file out:

    >>> import tempfile
    >>> from pathlib import Path
    >>> from coda.merging import open_checkpoint, write_checkpoint
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     files = [write_checkpoint(m, Path(tmp) / f"ft{t}.safetensors")
    ...              for t, m in enumerate(models)]
    ...     start = write_checkpoint(base, Path(tmp) / "base.safetensors",
    ...                              metadata={"format": "np"})
    ...     out = task_arithmetic(start, files, lam=0.5, out=Path(tmp) / "merged.safetensors")
    ...     with open_checkpoint(out) as merged:
    ...         print(out.name, merged.metadata, merged.read("w"))
    merged.safetensors {'format': 'np'} [2. 0.]

    A float16 base stays float16 with ``dtype="base"``:

    >>> half = {"w": np.zeros(2, dtype=np.float16)}
    >>> task_arithmetic(half, models, lam=0.5, dtype="base")
    {'w': array([2., 0.], dtype=float16)}
    """
    weights = check_model_weights(weights, "weights", len(check_models(models)))
    lam = check_float32_range(check_real(lam, "lam"), "lam")
    dtype = _checked_dtype(dtype)
    max_shard_bytes = _check_out(out, max_shard_bytes, base, models)
    with _inputs(base, models) as (theta0, taus, metadata, buffers):
        merged = (
            (key, _weighted_sum([tau[key] for tau in taus], weights, theta0[key], lam))
            for key in theta0
        )
        return _emit(merged, buffers, metadata, out, max_shard_bytes, dtype=dtype)


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
    out=None,
    max_shard_bytes=None,
    client=None,
    dtype=None,
):
    """Merge fine-tuned models with TIES: trim, elect a sign, merge the agreeing entries.

    TIES-Merging [1]_ keeps the largest entries of each task vector, elects one
    sign per parameter, and averages only the kept entries with that sign. Two
    exact reference behaviours are offered: ``scope="global"`` is the authors'
    code, ``scope="tensor"`` is mergekit's ``ties`` method.

    Parameters
    ----------
    base : str, os.PathLike, Checkpoint or mapping of str to array_like
        The pre-trained checkpoint theta_0: a file opened with
        :func:`~coda.merging.open_checkpoint` or a mapping of tensor name to array.
    models : sequence of str, os.PathLike, Checkpoint or mapping
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
    out : str or os.PathLike, optional
        Write the merged model to this ``.safetensors`` file (its directory
        must exist) with the base's metadata, instead of returning it. A path
        that would replace or remove a file of ``base`` or ``models`` is refused.
    max_shard_bytes : int, optional
        With ``out``: most tensor bytes per file; above it the model is
        sharded with a ``.index.json`` (see :func:`~coda.merging.write_checkpoint`).
    client : dask.distributed.Client, optional
        Merge each tensor as one task on this dask cluster; ``base`` and
        ``models`` must then be paths, which the workers open (see Notes).
    dtype : None, "base", "float32", "float16" or "bfloat16", optional
        The dtype of the merged floating-point tensors, returned or written:
        None is float32; "base" each tensor in the base's dtype (rounded once
        from float32, see :func:`task_arithmetic`). A numpy dtype is accepted too.

    Returns
    -------
    dict of str to numpy.ndarray or pathlib.Path
        Without ``out``, the merged checkpoint in the base's key order (sorted
        for a file): float32 (or ``dtype``), and the base's integer and boolean
        tensors unchanged in their dtype (see Notes); with ``out``, the written
        file to open (the index of a sharded checkpoint), with the same dtypes.

    Raises
    ------
    TypeError
        If a tensor, ``density``, ``lam`` or ``normalize`` has the wrong type,
        ``client`` is not a dask ``Client``, or a checkpoint given with
        ``client`` is not a path.
    ValueError
        If keys or shapes differ from the base's, a model's values differ
        from the base's where the base's tensor is integer or boolean, a file
        is corrupt or truncated, a value is not finite, a task vector overflows
        float32 (see :func:`task_vectors`), ``density`` is outside (0, 1], an
        option is unknown, ``weights`` does not hold one number per model (or holds a
        non-zero one below float32's smallest normal number),
        ``normalize=False`` where it does not apply, ``max_shard_bytes``
        comes without ``out``, ``dtype`` is not one of the above, or a merged
        value would become inf in ``dtype``.
    FileNotFoundError
        If a checkpoint path does not exist.
    ImportError
        If ``client`` is given and dask.distributed is not installed.

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
    and concatenated (d entries); each task keeps every entry with abs(tau) >= h_t,
    h_t the r-th smallest abs(tau_t) with r = d - floor(d K), so floor(d K) + 1
    entries plus ties at h_t; sigma_p = sign(sum_t hat tau_t,p) and, where that
    is 0, the model-wide majority sign(sum_p sigma_p); "mean" divides the sum of
    agreeing entries by their number (at least 1). Where even the majority is 0,
    the original keeps the negative entries, and so does coda. The original has
    no weights and no "count" election; here weights scale the trimmed vectors
    and "count" elects sign(sum_t sign hat tau_t,p) with the same fallback.
    With K = 1 the original fails (kthvalue of rank 0); coda keeps everything.
    The model is the floating-point tensors only (see below): d counts their
    entries, and h_t and the majority sign come from them alone. The
    original flattens state dicts of T5 and IA3 weights, all floating point,
    so it never meets an integer buffer.

    ``scope="tensor"`` follows mergekit (``sparsify.magnitude`` then
    ``generalized_task_arithmetic`` with ``get_mask``): each tensor of n entries
    keeps exactly k = max(1, floor(K n)) entries of largest abs(tau); among equal
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
    - "max" (original only): sigma_p times the largest agreeing abs(hat tau);
    - arithmetic dtype: the original runs in float32, mergekit and PEFT in the
      checkpoint's dtype (often bf16); coda always in float32, and in
      float64 for the entries where float32 overflows (below);
    - integer and boolean tensors: mergekit merges them too and casts the
      result back to the base's dtype; coda passes them through (below).

    Only floating-point tensors are merged. The base's integer and boolean
    tensors (buffers such as position ids, attention masks or step counters)
    are passed through: every model must hold the base's values there (a
    model that changed one raises a ValueError naming it and the tensor,
    before anything is merged or written), and the result, returned or
    written, holds the base's tensor in its own dtype. Merging them would
    make them float32 and change every integer of 2^24 or more. The base's
    dtype decides: a model's integer tensor where the base's is floating
    point is converted to float32 and merged.

    Each task vector is finite in float32, but a sum over tasks (the
    election's, the merge's, the sum of agreeing weights) or theta_0 + lam
    tau_m may overflow where the result does not: two tau of -2e38 sum to
    -inf, their mean is -2e38. An entry where any of these is not finite in
    float32 is merged again from the same hat tau_t in float64 and rounded
    once: its sign is elected by the float64 sum, and a result within
    float32's range is finite and within 1 ulp of the exact value; one
    beyond it is +-inf, as float32 arithmetic gives it. Every other entry is
    computed in float32 as described. The weighted vectors w_t hat tau_t
    themselves are float32: with a weight above 1, an entry whose w_t tau_t
    is beyond float32's range is +-inf whatever the result, and NaN where
    two such of opposite signs meet (divide the
    weights and multiply ``lam`` by the same factor for the same merge up to
    rounding; for ``merge="mean"`` with ``normalize``, divide the weights
    alone).

    Selection is O(n), not a sort: an exact radix selection over the float32
    bit patterns of abs(tau_t) (a histogram of the upper 16 bits, then one of the
    lower 16 bits within the bin that holds the cut). With ``scope="tensor"``
    it runs per tensor in compiled code in two passes over the tensors: the
    histogram of the upper bits, then one pass that trims, elects and merges
    every entry outside the bins holding the cuts and lists the few inside
    them, whose exact cut (and, for ties, the index) is then found among
    those entries alone by selection and which are then merged again. Both
    passes run in blocks spread over threads (the result does not depend on
    their number) and read theta_0 and the theta_t without storing task
    vectors (float32 tensors of safetensors files straight from the memory
    map, without a copy). With ``scope="global"`` the histograms are summed
    over the tensors, one tensor at a time, which finds the same h_t as a
    partition of the concatenated model.

    With checkpoint files every model is checked against the base (names,
    shapes, corrupt files) before anything is computed or written, and the
    tensors are then read, merged and written one name at a time: memory is
    O(T x largest tensor); each file's header is written first (from the
    base's names and shapes), so every merged tensor goes to its file as it
    is made. The output appears atomically; a failure midway leaves no
    file.

    With ``client`` the same happens on a dask cluster: given the global
    thresholds and majority, each tensor's merge depends on that tensor
    alone, so after the compatibility check every tensor is one task that
    opens the checkpoints on its worker (paths travel, never arrays), merges
    the tensor with the same code as the local run and returns it. For
    ``scope="global"`` first rounds of one task per tensor return its
    histograms of abs(tau_t) and then its vote counts, which are summed on the
    client into the thresholds and the majority sign. The client writes the
    merged tensors in the local order with the same writer, so the result,
    returned or written (atomic and sharded), is identical to the local one;
    with ``dtype`` each worker rounds and checks its tensor before returning
    it, so a bfloat16 or float16 tensor travels at half the size of float32.
    A task that raises, or a lost worker, raises here; the remaining tasks
    are cancelled and no output file is left. The workers hold the merged
    tensors until the client has read them. In-memory mappings and open
    :class:`~coda.merging.Checkpoint` objects are refused with a client:
    they are already in this process's memory.

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
    >>> ties_merge(base, models, density=0.5, dtype="float16")
    {'w': array([ 3., -2.,  0.,  3.], dtype=float16)}

    The same merge from files to a file sharded every 8 bytes:

    >>> import tempfile
    >>> from pathlib import Path
    >>> from coda.merging import open_checkpoint, write_checkpoint
    >>> two = [{"a": m["w"][:2], "b": m["w"][2:]} for m in [base, *models]]
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     files = [write_checkpoint(m, Path(tmp) / f"m{t}.safetensors")
    ...              for t, m in enumerate(two)]
    ...     out = ties_merge(files[0], files[1:], density=0.5, scope="global",
    ...                      out=Path(tmp) / "model.safetensors", max_shard_bytes=8)
    ...     with open_checkpoint(out) as merged:
    ...         print(out.name, merged.read("a"), merged.read("b"))
    model.safetensors.index.json [ 3.  -1.5] [0. 3.]
    """
    density = check_fraction(density, "density", closed=True)
    scope = check_option(scope, "scope", ("tensor", "global"))
    elect = check_option(elect, "elect", ("mass", "count"))
    merge = check_option(merge, "merge", ("mean", "sum", "max"))
    weights = check_model_weights(weights, "weights", len(check_models(models)))
    lam = check_float32_range(check_real(lam, "lam"), "lam")
    normalize = check_normalize(normalize, scope, merge)
    dtype = _checked_dtype(dtype)
    max_shard_bytes = _check_out(out, max_shard_bytes, base, models)
    if client is not None:
        from coda.merging._distributed import _ties_on_cluster

        options = {
            "density": density,
            "scope": scope,
            "elect": elect,
            "merge": merge,
            "weights": weights,
            "lam": lam,
            "normalize": normalize,
            "dtype": dtype,
        }
        return _ties_on_cluster(client, base, models, options, out, max_shard_bytes)
    rule = (density, elect, merge, weights, normalize, lam)
    if scope == "tensor" and all(isinstance(s, Mapping) for s in [base, *models]):
        theta0, thetas, buffers = _checked_thetas(base, models)

        def tensors(key):
            return [theta0[key], *(theta[key] for theta in thetas)]

        # Checked finite already: the check, called when the kernels meet an
        # inf |tau_t| (or keep everything), finds task vectors that overflow.
        check = _finite_check(theta0, thetas, finite=False)
        merged = _fused_merges(theta0, tensors, rule, check, streamed=out is not None)
        return _emit(merged, buffers, {}, out, max_shard_bytes, dtype=dtype)
    if scope == "tensor":
        with _tensor_inputs(base, models) as (theta0, metadata):
            merged = _fused_merges(
                theta0, theta0.tensors, rule, theta0.check, streamed=out is not None
            )
            return _emit(merged, theta0.buffers, metadata, out, max_shard_bytes, dtype=dtype)
    with _inputs(base, models) as (theta0, taus, metadata, buffers):
        merged = _global_updates(theta0, taus, density, elect, merge, weights, lam=lam)
        # The global scope visits the tensors sorted by name, as ties-merging does.
        order = sorted(buffers.order)
        return _emit(merged, buffers, metadata, out, max_shard_bytes, order, dtype)
