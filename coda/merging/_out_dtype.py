"""The dtype of a merged model: float32, the base's, or one asked for, rounded once.

Merges compute in float32. With ``dtype="base"`` or ``dtype="float16"`` or
``"bfloat16"``, each merged floating-point tensor is then rounded once to
its output dtype, to nearest with ties to even (numpy's cast to float16,
ml_dtypes' to bfloat16), after a check that no value becomes inf
(:func:`coda._validation._merging.check_out_range`): two reductions over
the float32 tensor, min and max, as it comes, so no second pass over the
model is needed; a failure midway through a written merge leaves no file,
as any failure does. A float64 base tensor kept by ``"base"`` holds the
float32 values, widened exactly. Integer and boolean buffers keep their dtype.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np

from coda._validation import check_base_out_dtypes, check_out_dtype, check_out_range

# The output dtypes that can be asked for by name.
_FLOATS = {
    "float32": np.dtype(np.float32),
    "float16": np.dtype(np.float16),
    "bfloat16": np.dtype(ml_dtypes.bfloat16),
}
# The base's dtypes that dtype="base" keeps: float8 (a quantized model,
# whose scales a merge does not know) is refused.
_KEPT = (*_FLOATS.values(), np.dtype(np.float64))


def _checked_dtype(dtype):
    """The merges' ``dtype`` argument, checked: None, ``"base"`` or a dtype of :data:`_FLOATS`."""
    return check_out_dtype(dtype, "dtype", _FLOATS)


def _out_dtypes(dtype, floats: dict) -> dict | None:
    """Name -> output dtype of each merged tensor, or None where all are float32.

    ``floats`` maps the base's floating-point tensors to their dtypes;
    ``dtype`` is checked (:func:`_checked_dtype`).
    """
    if dtype is None:
        return None
    if isinstance(dtype, str):
        check_base_out_dtypes(floats, _KEPT)
        targets = dict(floats)
    else:
        targets = dict.fromkeys(floats, dtype)
    if all(target == np.float32 for target in targets.values()):
        return None
    return targets


def _overflow_limit(dtype: np.dtype):
    """The least float32 magnitude that rounds to inf in ``dtype``, or None if none does.

    Half a spacing above the largest finite value: the tie rounds to inf,
    whose significand is even (the largest finite one's is odd).
    """
    info = ml_dtypes.finfo(dtype)
    if float(info.max) >= float(np.finfo(np.float32).max):
        return None
    spacing = 2.0 ** (info.maxexp - 1 - info.nmant)
    return np.float32(float(info.max) + spacing / 2)


def _rounded(values: np.ndarray, dtype: np.dtype, key: str) -> np.ndarray:
    """The float32 merged tensor ``key`` in ``dtype``, rounded once; raise where it overflows."""
    if values.dtype == dtype:
        return values
    limit = _overflow_limit(dtype)
    if limit is not None:
        check_out_range(values, dtype, limit, float(ml_dtypes.finfo(dtype).max), key)
    return values.astype(dtype)


def _narrowed(merged, targets: dict):
    """Yield ``(key, tensor)`` of ``merged`` with each tensor in ``targets[key]``."""
    for key, values in merged:
        rounded = _rounded(values, targets[key], key)
        # Let the float32 tensor go before the next one is merged.
        del values
        yield key, rounded
