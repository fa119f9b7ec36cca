"""numba kernels: contiguous arrays in, arrays out; no validation, no pandas.

Every kernel is compiled through :data:`jit` (one set of flags for the
package; the one helper that sums in vector lanes, ``_lane_sum``, through
:data:`jit_reassoc`, which adds only "reassoc") and is called by exactly one
public wrapper with the same stem, which validates, converts with
``np.ascontiguousarray`` and shapes the result. Each kernel has a plain numpy
twin in ``tests/naive.py``.

The kernels work on a block of rows that fits in cache, in place or into an
``out`` array the caller allocated: the wrappers hand them blocks in parallel
threads (the kernels release the GIL), after numpy's vectorised ``log`` has
filled the block, because a scalar ``log`` in a numba loop is slower than
numpy's SIMD one.

The kernels live in this package only, in one module per subject:
``_logratio`` (closure, clr, ilr and their inverses, zero replacement),
``_covariance`` (covariance, precision, graphical lasso, bootstrap),
``_ties`` (TIES-Merging's top-k cuts, trimming and election), ``_merging``
(the fused merge), ``_wide`` (its float64 fallback for entries whose float32
arithmetic overflows) and ``_facts`` (the merge's per-entry statistics).
Callers import the package and name the kernel, ``_kernels._clr``; the flags
are in ``_jit``.
"""

from __future__ import annotations

from coda._kernels._covariance import (
    _clr_cov,
    _glasso,
    _ilr_cov_of_gamma,
    _less_row_and_shift,
    _pcor_bootstrap,
    _precision,
    _row_ends,
    _shift_sums,
    _symmetrise,
)
from coda._kernels._facts import (
    _decide_by_bounds,
    _facts_chunk,
    _facts_scratch,
    _fate_add,
    _fate_sums,
    _lanes_sum,
    _lanes_total,
    _merge_facts,
    _merge_facts_at,
    _overflowed,
)
from coda._kernels._jit import jit, jit_reassoc
from coda._kernels._logratio import (
    _closure,
    _clr,
    _clr_inv,
    _extremes,
    _helmert_scales,
    _ilr_helmert,
    _ilr_helmert_inv,
    _ilr_pivot,
    _ilr_pivot_inv,
    _lane_sum,
    _log_ratios,
    _neumaier,
    _pivot_scales,
    _pow2_scale,
    _replace_zeros_multiplicative,
    _row_sum,
    _unscale,
)
from coda._kernels._merging import (
    _elect_merge,
    _hold,
    _hold_pending,
    _merge_code,
    _not_finite,
    _put_merged,
    _repair,
    _tensor_update,
    _tensor_update_at,
    _tensor_update_few,
)
from coda._kernels._ties import (
    _bin_count,
    _boundary_cuts,
    _decide_at,
    _decide_chunk,
    _elect,
    _fill_tau,
    _kth_smallest,
    _signs,
    _tensor_decide,
    _tie_stop,
    _top_bin,
    _top_k_counts,
    _top_k_cuts,
    _top_k_prefix,
    _trim_one,
    _vote_sums,
)
from coda._kernels._wide import _elected, _finite, _vote, _wide_merge, _wide_value

__all__ = [
    "_bin_count",
    "_boundary_cuts",
    "_closure",
    "_clr",
    "_clr_cov",
    "_clr_inv",
    "_decide_at",
    "_decide_by_bounds",
    "_decide_chunk",
    "_elect",
    "_elect_merge",
    "_elected",
    "_extremes",
    "_facts_chunk",
    "_facts_scratch",
    "_fate_add",
    "_fate_sums",
    "_fill_tau",
    "_finite",
    "_glasso",
    "_helmert_scales",
    "_hold",
    "_hold_pending",
    "_ilr_cov_of_gamma",
    "_ilr_helmert",
    "_ilr_helmert_inv",
    "_ilr_pivot",
    "_ilr_pivot_inv",
    "_kth_smallest",
    "_lane_sum",
    "_lanes_sum",
    "_lanes_total",
    "_less_row_and_shift",
    "_log_ratios",
    "_merge_code",
    "_merge_facts",
    "_merge_facts_at",
    "_neumaier",
    "_not_finite",
    "_overflowed",
    "_pcor_bootstrap",
    "_pivot_scales",
    "_pow2_scale",
    "_precision",
    "_put_merged",
    "_repair",
    "_replace_zeros_multiplicative",
    "_row_ends",
    "_row_sum",
    "_shift_sums",
    "_signs",
    "_symmetrise",
    "_tensor_decide",
    "_tensor_update",
    "_tensor_update_at",
    "_tensor_update_few",
    "_tie_stop",
    "_top_bin",
    "_top_k_counts",
    "_top_k_cuts",
    "_top_k_prefix",
    "_trim_one",
    "_unscale",
    "_vote",
    "_vote_sums",
    "_wide_merge",
    "_wide_value",
    "jit",
    "jit_reassoc",
]
