"""DARE: merge fine-tuned models after dropping task-vector entries at random.

Like :mod:`coda.merging.ties`, :func:`dare` reads checkpoint files one tensor
at a time and can write the merged model as safetensors; the random drops are
those of one sequential stream of draws, however the tensors are visited.
"""

from __future__ import annotations

import numpy as np

from coda._validation import (
    check_float32_range,
    check_fraction,
    check_model_weights,
    check_models,
    check_option,
    check_real,
    seeded_rng,
)
from coda.merging._out_dtype import _checked_dtype
from coda.merging._rules import _weighted_sum
from coda.merging._sources import _check_out, _emit, _inputs

__all__ = ["dare"]


def _ahead(rng: np.random.Generator, offset: int) -> np.random.Generator:
    """A copy of ``rng`` as if ``offset`` doubles had been drawn from it.

    Each double takes one 64-bit output of the bit generator, so the copy
    reproduces a block of one sequential stream while the tensors are visited
    in another order.
    """
    state = rng.bit_generator.state
    generator = type(rng.bit_generator)()
    generator.state = state
    ahead = np.random.Generator(generator)
    if isinstance(generator, (np.random.PCG64, np.random.PCG64DXSM)):
        generator.advance(offset)
        # advance drops a buffered 32-bit output, which drawing doubles keeps.
        generator.state = {
            **generator.state,
            "has_uint32": state["has_uint32"],
            "uinteger": state["uinteger"],
        }
    else:
        # Bit generators without an exact advance skip by drawing, in chunks.
        chunk = 1 << 20
        for start in range(0, offset, chunk):
            ahead.random(min(chunk, offset - start))
    return ahead


def _dare(theta0, taus, shapes, density, rescale, rng, weights, lam):
    """Yield ``(key, theta_0 + lam sum_t w_t tau'_t)`` per tensor, tau' the dropped vectors.

    The sum and theta_0 are added as :func:`coda.merging.task_arithmetic`
    adds them (in float32; in float64 where float32 overflows).

    The draws are those of one stream over models, then the floating-point
    tensors (``theta0``'s keys) in the base's key order: one cursor per
    model, started at that model's offset in the stream, draws its tensors
    in turn, so the tensors can be merged one at a time. The caller's
    generator is moved past every draw before the first tensor is merged.
    """
    total = sum(int(np.prod(shapes[key])) for key in theta0)
    cursors = [_ahead(rng, 0)]
    for _ in taus:
        cursors.append(_ahead(cursors[-1], total))
    # Where one sequential pass leaves the generator; set now, as the merge
    # stops asking for tensors after the last one and no code after the loop
    # would run.
    rng.bit_generator.state = cursors.pop().bit_generator.state
    for key in theta0:
        dropped, factors = [], []
        for cursor, tau in zip(cursors, taus, strict=True):
            vector = tau[key]
            draws = cursor.random(vector.shape)
            masked = np.where(draws < density, vector, np.float32(0.0))
            factor = 1.0
            # The rescaled entries may pass float32's range (tau near 3e38
            # over a density of 1/2); the merge redoes them in float64 (wide).
            with np.errstate(over="ignore"):
                if rescale == "inverse":
                    factor = 1.0 / density
                    masked = masked / np.float32(density)
                else:
                    after = np.abs(masked).sum(dtype=np.float64)
                    if after > 0:
                        factor = np.abs(vector).sum(dtype=np.float64) / after
                        masked = masked * np.float32(factor)
            dropped.append(masked)
            factors.append(factor)

        def wide(t, bad, key=key, dropped=dropped, factors=factors):
            # An entry kept is non-zero after rescaling (or was zero): its
            # float64 value is tau's times the factor, whatever float32 made of it.
            kept = np.ravel(dropped[t])[bad] != 0
            return np.where(kept, np.ravel(taus[t][key])[bad] * np.float64(factors[t]), 0.0)

        yield key, _weighted_sum(dropped, weights, theta0[key], lam, wide)


def dare(
    base,
    models,
    /,
    *,
    density,
    rescale="inverse",
    seed=None,
    weights=None,
    lam=1.0,
    out=None,
    max_shard_bytes=None,
    dtype=None,
):
    """Merge fine-tuned models with DARE: drop task-vector entries at random, rescale, add.

    Parameters
    ----------
    base : str, os.PathLike, Checkpoint or mapping of str to array_like
        The pre-trained checkpoint theta_0: a file opened with
        :func:`~coda.merging.open_checkpoint` or a mapping of tensor name to array.
    models : sequence of str, os.PathLike, Checkpoint or mapping
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
    out : str or os.PathLike, optional
        Write the merged model to this ``.safetensors`` file (its directory
        must exist) with the base's metadata, instead of returning it. A path
        that would replace or remove a file of ``base`` or ``models`` is refused.
    max_shard_bytes : int, optional
        With ``out``: most tensor bytes per file; above it the model is
        sharded with a ``.index.json`` (see :func:`~coda.merging.write_checkpoint`).
    dtype : None, "base", "float32", "float16" or "bfloat16", optional
        The dtype of the merged floating-point tensors, returned or written:
        None is float32; "base" each tensor in the base's dtype (see
        :func:`~coda.merging.task_arithmetic`). A numpy dtype is accepted too.

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
        If a tensor, ``density``, ``lam`` or ``seed`` has the wrong type.
    ValueError
        If keys or shapes differ from the base's, a model's values differ from
        the base's where the base's tensor is integer or boolean, a file is
        corrupt or truncated, a value is not finite or a task vector overflows
        float32, ``density`` is outside (0, 1], ``rescale`` is unknown,
        ``weights`` does not hold one number per model (or holds a
        non-zero one below float32's smallest normal number), ``seed`` is a negative
        integer, ``max_shard_bytes`` comes without ``out``, ``dtype`` is not
        one of the above, or a merged value would become inf in ``dtype``.
    FileNotFoundError
        If a checkpoint path does not exist.

    See Also
    --------
    ties_merge : Magnitude trimming and sign election.
    task_arithmetic : The sum DARE applies after dropping.

    Notes
    -----
    Each entry of tau_t is kept when a uniform draw is below ``density`` (a
    Bernoulli(K) mask m), so with "inverse" E[m tau / K] = tau: the dropped
    vector is unbiased. With "l1" the kept entries of each tensor are scaled by
    ||tau||_1 / ||m tau||_1 (left unscaled when no non-zero entry is kept), the
    rule of mergekit's ``rescale_norm="l1"`` (``sparsify.rescaled_masked_tensor``)
    with two differences: mergekit leaves the masked tensor unscaled when
    either norm, before or after the drop, is below 1e-7, where coda rescales
    whenever the norm after the drop is above 0; and coda sums the norms in
    float64 and rounds their ratio to float32 once, where mergekit computes
    norms, ratio and product in the tensor's dtype, so the rescaled entries
    can differ from mergekit's by 1 ulp (float32; more for a bf16 tensor,
    which mergekit rescales in bf16).

    The draws run over models, then tensors in the base's key order (sorted
    for a file), from one ``np.random.default_rng(seed)``; merging one
    tensor at a time, each model's draws are taken from a copy of the
    generator moved ahead to its place in that sequence, so the result is
    the same as drawing in sequence. A Generator passed as ``seed`` is left
    where that sequence ends (past one draw per entry of every model's
    floating-point tensors), so successive merges from it drop different
    entries. The dropped vectors are then merged by task arithmetic:
    theta = theta_0 + lam * sum_t w_t tau'_t, in float32. Where that overflows
    float32 (a rescaled tau'_t or the sum beyond its range) while theta does
    not, the entry is computed again in float64 from tau_t and rounded once,
    as :func:`coda.merging.task_arithmetic` does; a theta beyond float32's
    range is +-inf.

    Only floating-point tensors are merged, and only they take draws. The
    base's integer and boolean tensors (buffers such as position ids,
    attention masks or step counters) are passed through: every model must
    hold the base's values there (a model that changed one raises a
    ValueError naming it and the tensor, before anything is merged or
    written), and the result, returned or written, holds the base's tensor
    in its own dtype. The stream of draws skips them, so the drops of the
    weights do not depend on whether a checkpoint also stores buffers, and
    are those of earlier versions for models without buffers.

    With checkpoint files every model is checked against the base (names,
    shapes, corrupt files) before anything is computed or written, and the
    tensors are then read, merged and written one name at a time: memory is
    O(T x largest tensor); each file's header is written first (from the
    base's names and shapes), so every merged tensor goes to its file as it
    is made. The output appears atomically; a failure midway leaves no
    file.

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

    From files, with the result written to disk:

    >>> import tempfile
    >>> from pathlib import Path
    >>> from coda.merging import open_checkpoint, write_checkpoint
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     start = write_checkpoint(base, Path(tmp) / "base.safetensors")
    ...     tuned = write_checkpoint(models[0], Path(tmp) / "ft.safetensors")
    ...     out = dare(start, [tuned], density=0.5, seed=1, out=Path(tmp) / "m.safetensors")
    ...     with open_checkpoint(out) as merged:
    ...         print(merged.read("w"))
    [0. 0. 6. 0.]

    In the base's dtype, here bfloat16:

    >>> import ml_dtypes
    >>> half = {"w": base["w"].astype(ml_dtypes.bfloat16)}
    >>> dare(half, models, density=0.5, seed=1, dtype="base")["w"].dtype
    dtype(bfloat16)
    """
    density = check_fraction(density, "density", closed=True)
    rescale = check_option(rescale, "rescale", ("inverse", "l1"))
    weights = check_model_weights(weights, "weights", len(check_models(models)))
    lam = check_float32_range(check_real(lam, "lam"), "lam")
    dtype = _checked_dtype(dtype)
    max_shard_bytes = _check_out(out, max_shard_bytes, base, models)
    rng = seeded_rng(seed)
    with _inputs(base, models) as (theta0, taus, metadata, buffers):
        merged = _dare(theta0, taus, buffers.shapes, density, rescale, rng, weights, lam)
        return _emit(merged, buffers, metadata, out, max_shard_bytes, dtype=dtype)
