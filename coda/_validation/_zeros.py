"""Checks of zero replacement's results: values the dtype of the data cannot hold.

Part of :mod:`coda._validation`, where every user-facing check lives.
"""

from __future__ import annotations

import numpy as np

from coda._validation._base import _listing, _positions


def _wider(dtype: np.dtype) -> str:
    """The fix of a result that does not fit ``dtype``: a wider dtype, if there is one."""
    return ", or pass x as float64 (x.astype(np.float64))" if dtype != np.float64 else ""


def check_replaced_positive(out: np.ndarray, values: np.ndarray, option, *, row_labels=None):
    """Raise if replacing the zeros of ``values`` left a zero in ``out``, the result.

    A replacement (or a non-zero part scaled down to make room for it) below
    the smallest positive number of ``out``'s dtype becomes 0 when stored.
    ``option`` names the argument that sets the replacements (``"delta"``,
    ``"detection_limit"``); None for the Bayesian methods, which have none.
    """
    if not out.size or out.min() > 0:
        return
    lost = ~(out > 0)
    rows, total = _positions(lost, row_labels)
    tiny = np.finfo(out.dtype).smallest_subnormal
    if option is None:
        fix = (
            "the counts of those rows are too large beside the other rows' counts of their "
            'zero parts; use method="multiplicative" with a delta that suits the data'
        )
    elif (lost & (values == 0)).any():
        fix = f"use a larger {option}{_wider(out.dtype)}"
    else:
        # Only the non-zero parts, shrunk to make room for the replacements, were lost.
        fix = f"use a smaller {option}{_wider(out.dtype)}"
    raise ValueError(
        f"replacing the zeros of x gives {int(lost.sum())} values below the smallest positive "
        f"{out.dtype} ({tiny:.3g}) in rows {_listing(rows, total)}, which would be 0 instead "
        f"of positive; {fix}"
    )


def check_pseudocount_range(out: np.ndarray, *, row_labels=None) -> None:
    """Raise if ``out``, ``x + delta`` of finite non-negative ``x``, overflowed its dtype."""
    if not out.size or np.isfinite(out.max()):
        return
    over = ~np.isfinite(out)
    rows, total = _positions(over, row_labels)
    raise ValueError(
        f'method="pseudocount" adds delta to x, and the sum overflows {out.dtype} (largest '
        f"{np.finfo(out.dtype).max:.4g}) in {int(over.sum())} values (rows "
        f"{_listing(rows, total)}); use a smaller delta{_wider(out.dtype)}"
    )


def check_count_totals(totals: np.ndarray, others: np.ndarray, method: str, *, row_labels=None):
    """Raise if the row totals or the other rows' totals of counts overflowed float64.

    ``totals[i]`` is row ``i``'s total count; ``others[i]`` the total of
    every other row, which the leave-one-out prior divides by.
    """
    over = ~(np.isfinite(totals) & np.isfinite(others))
    if not over.any():
        return
    rows, total = _positions(over[:, None], row_labels)
    raise ValueError(
        f'method="{method}" sums the counts of each row and of all the other rows, and in '
        f"rows {_listing(rows, total)} those sums overflow float64 (largest "
        f"{np.finfo(np.float64).max:.4g}); no count data are that large: if x holds amounts "
        'rather than counts, use method="multiplicative"'
    )
