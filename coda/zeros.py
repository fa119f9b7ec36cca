"""Zero replacement: make compositions strictly positive before taking log-ratios.

:func:`replace_zeros` offers multiplicative replacement for rounded zeros
(values below a detection limit), Bayesian-multiplicative replacement for
count zeros (the GBM, SQ and BL priors of R zCompositions' ``cmultRepl``), and
a pseudocount as the crude option.

Conventions: ``x`` has one row per sample and one column per part (a 1-D
``x`` is one composition). Arrays in give arrays out; a DataFrame in gives a
DataFrame out with the same index and part names. Inputs are never modified.

dask arrays and DataFrames are accepted by the methods ``"multiplicative"``
and ``"pseudocount"``: the in-memory replacement runs on each block of rows
when the result is computed, and the result is a dask collection of the same
kind (see the dask page of the docs).
"""

from __future__ import annotations

import numpy as np

from coda import _dask, _kernels
from coda._labels import Labels, unwrap
from coda._parallel import for_row_blocks
from coda._validation import (
    check_columns,
    check_composition,
    check_count_totals,
    check_counts,
    check_fraction,
    check_option,
    check_per_part,
    check_pseudocount_range,
    check_replaced_positive,
    check_replacement_fits,
    check_unused,
    is_dask,
    raise_dask_method,
)
from coda.geometry import closure

__all__ = ["replace_zeros"]

_METHODS = ("multiplicative", "gbm", "sq", "bl", "pseudocount")
_BAYESIAN = ("gbm", "sq", "bl")
_OUTPUTS = ("proportions", "counts")


def replace_zeros(
    x,
    /,
    *,
    method: str = "multiplicative",
    delta=None,
    detection_limit=None,
    frac: float = 0.65,
    output: str | None = None,
):
    r"""Replace the zeros of compositions by small positive values.

    Log-ratios need strictly positive parts. Zeros that stand for amounts too
    small to measure (rounded zeros, values below a detection limit, counts
    of rare parts) are replaced by small values, and the other parts are
    adjusted so that their ratios do not change.

    Parameters
    ----------
    x : array_like or dask collection of shape (n_samples, n_parts) or (n_parts,)
        Non-negative compositions (proportions, percentages, concentrations
        or counts). A DataFrame keeps its index and part names.
    method : {"multiplicative", "gbm", "sq", "bl", "pseudocount"}, default "multiplicative"
        ``"multiplicative"``: each zero becomes ``delta`` and the non-zero
        parts shrink by a common factor, keeping the row total.
        ``"gbm"``, ``"sq"``, ``"bl"``: Bayesian-multiplicative replacement
        for count data (geometric Bayesian multiplicative, square root and
        Bayes-Laplace priors); ``x`` must hold counts and at least two rows.
        ``"pseudocount"``: add ``delta`` to every value, zero or not; the
        crude option, which changes every ratio.
    delta : float or array_like of shape (n_parts,), optional
        ``"multiplicative"``: the value that replaces a zero, in the units of
        ``x`` (one for all parts or one per part). Default: ``1 / D**2`` of
        each row's total, which on closed data is scikit-bio's default.
        ``"pseudocount"``: the value added, default 0.5.
    detection_limit : float or array_like of shape (n_parts,), optional
        ``"multiplicative"`` only, instead of ``delta``: the detection limit
        of each part in the units of ``x``; zeros become
        ``frac * detection_limit``.
    frac : float, default 0.65
        The fraction of the detection limit that replaces a zero
        (``"multiplicative"`` with ``detection_limit``), and the fraction of
        a part's smallest observed proportion that replaces a Bayesian
        estimate exceeding it (``"gbm"``, ``"sq"``, ``"bl"``).
    output : {"proportions", "counts"}, optional
        ``"proportions"``: closed rows (each sums to 1). ``"counts"``: the
        scale of ``x``; for the Bayesian methods these are pseudo-counts,
        where observed counts are kept and the zeros get the replaced
        proportions times ``n_i / (1 - sum of replaced proportions)`` (like
        ``cmultRepl(..., output = "p-counts")``). Default: ``"counts"`` for
        ``"multiplicative"`` and ``"pseudocount"`` (so rows summing to 100 still
        sum to 100) and ``"proportions"`` for the Bayesian methods (like
        ``cmultRepl``).

    Returns
    -------
    ndarray, Series or DataFrame
        Strictly positive compositions of the same shape and form as ``x``.
        float32 stays float32 for ``"multiplicative"`` and ``"pseudocount"``;
        the Bayesian methods return float64.

    Raises
    ------
    ValueError
        If ``x`` holds negative, NaN or infinite values, a row of zeros, or
        (with two or more rows) a part that is zero in every row; if
        ``delta`` is so large that the non-zero parts would become zero or
        negative; if a result would be too small for the dtype of the output
        to hold (a float32 ``x`` with a tiny ``delta``) and would become 0, or,
        for ``"pseudocount"``, ``x + delta`` overflows; if both ``delta`` and
        ``detection_limit`` are given, or an option the method does not use;
        for the Bayesian methods, if ``x`` holds non-integer values or a single
        row, is a dask collection (their prior needs every row), or holds
        counts whose totals overflow float64, and for ``"gbm"`` if a part has
        fewer than two positive values; if ``method`` or ``output`` is
        unknown.
    TypeError
        If ``x`` is not numeric, or ``delta``, ``detection_limit`` or ``frac``
        is not a number.

    See Also
    --------
    coda.closure : the closed rows that ``output="proportions"`` returns.
    coda.clr : the log-ratios the replaced data are meant for.

    Notes
    -----
    **Multiplicative** [1]_. With :math:`Z_i` the zero parts of row
    :math:`i`, :math:`c_i` its total and :math:`\delta_j` the replacement
    of part :math:`j`,

    .. math::

        r_{ij} = \delta_j \ (j \in Z_i), \qquad
        r_{ij} = x_{ij} \Bigl(1 - \frac{1}{c_i} \sum_{k \in Z_i} \delta_k\Bigr)
        \ (j \notin Z_i).

    The row total :math:`c_i` and every ratio between non-zero parts are kept,
    so the covariance structure of any subcomposition without zeros is kept.
    Percentages in give percentages out. On closed data with a scalar
    ``delta``, the result is scikit-bio's ``multi_replace``. With a
    detection limit :math:`\mathrm{DL}_j`, :math:`\delta_j = 0.65\,
    \mathrm{DL}_j` (``frac``) is the value the paper recommends.

    **Bayesian-multiplicative** [2]_, as computed by zCompositions'
    ``cmultRepl`` [3]_. A Dirichlet prior with strength :math:`s_i` and
    expected proportions :math:`t_{ij}` gives a zero count the posterior
    expected proportion :math:`t_{ij} s_i / (n_i + s_i)`, with :math:`n_i` the
    row's total count. :math:`t_{ij}` is estimated leaving row :math:`i` out:
    the total of part :math:`j` over the other rows, closed over parts.
    The strength is :math:`s_i = 1 / g(t_i)` (GBM, with :math:`g` the
    geometric mean over parts, which needs every part positive in at least
    two rows), :math:`s_i = \sqrt{n_i}` (SQ) or :math:`s_i = D` (BL). An
    estimate larger than the smallest non-zero proportion of its part in
    the data is replaced by ``frac`` times that proportion (``cmultRepl``'s
    ``correct = TRUE``). The non-zero proportions are then scaled as in the
    multiplicative method so that each row sums to 1.

    **Pseudocount**: ``x + delta``; simple, but it moves every ratio, most of
    all those between small counts.

    References
    ----------
    .. [1] Martin-Fernandez, J. A., Barcelo-Vidal, C. and Pawlowsky-Glahn, V.
       (2003). Dealing with zeros and missing values in compositional data
       sets using nonparametric imputation. Mathematical Geology 35:253-278.
       https://doi.org/10.1023/A:1023866030544
    .. [2] Martin-Fernandez, J. A., Hron, K., Templ, M., Filzmoser, P. and
       Palarea-Albaladejo, J. (2015). Bayesian-multiplicative treatment of
       count zeros in compositional data sets. Statistical Modelling
       15:134-158. https://doi.org/10.1177/1471082X14535524
    .. [3] Palarea-Albaladejo, J. and Martin-Fernandez, J. A. (2015).
       zCompositions -- R package for multivariate imputation of
       left-censored data under a compositional approach. Chemometrics and
       Intelligent Laboratory Systems 143:85-96.
       https://doi.org/10.1016/j.chemolab.2015.02.019

    Examples
    --------
    >>> import coda
    >>> coda.replace_zeros([[0.2, 0.4, 0.4, 0.0], [0.0, 0.5, 0.2, 0.3]])
    array([[0.1875 , 0.375  , 0.375  , 0.0625 ],
           [0.0625 , 0.46875, 0.1875 , 0.28125]])

    Percentages stay percentages; here zeros become 65% of a detection limit
    of 1%:

    >>> coda.replace_zeros([[20.0, 40.0, 40.0, 0.0], [0.0, 50.0, 20.0, 30.0]], detection_limit=1)
    array([[19.87 , 39.74 , 39.74 ,  0.65 ],
           [ 0.65 , 49.675, 19.87 , 29.805]])

    Counts, with the Bayes-Laplace prior:

    >>> counts = [[1, 0, 3], [2, 2, 0], [1, 1, 2]]
    >>> coda.replace_zeros(counts, method="bl")
    array([[0.20982143, 0.16071429, 0.62946429],
           [0.36607143, 0.36607143, 0.26785714],
           [0.25      , 0.25      , 0.5       ]])
    >>> coda.replace_zeros(counts, method="bl", output="counts")
    array([[1.        , 0.76595745, 3.        ],
           [2.        , 2.        , 1.46341463],
           [1.        , 1.        , 2.        ]])
    """
    check_option(method, "method", _METHODS)
    if output is not None:
        check_option(output, "output", _OUTPUTS)
    # Checked even where the method does not use it: a wrong value is a mistake either way.
    frac = check_fraction(frac, "frac", closed=True)
    options = {"delta": delta, "detection_limit": detection_limit, "frac": frac}
    if is_dask(x):
        if method in _BAYESIAN:
            raise_dask_method(method)
        # A part zero in every row is a property of all rows, which no block sees.
        return _dask.map_rows(
            _replace_in_rows, x, method=method, output=output, observed=False, **options
        )
    return _replace_in_rows(x, method=method, output=output, observed=True, **options)


def _replace_in_rows(x, *, method, delta, detection_limit, frac, output, observed: bool):
    """:func:`replace_zeros` of in-memory ``x``; ``observed``: check every part is seen."""
    values, labels = unwrap(x)
    if method == "multiplicative":
        out = _multiplicative(
            values, labels, delta, detection_limit, frac, output == "proportions", observed
        )
    elif method == "pseudocount":
        check_unused(detection_limit, "detection_limit", 'by method="pseudocount"')
        out = _pseudocount(values, labels, delta, output == "proportions", observed)
    else:
        check_unused(delta, "delta", f'by method="{method}"')
        check_unused(detection_limit, "detection_limit", f'by method="{method}"')
        out = _bayesian(values, labels, method, frac, output == "counts")
    return labels.rows(out, labels.parts)


def _check_parts_observed(values: np.ndarray, labels: Labels) -> None:
    """Raise for a part that is zero in every row (checked only with two or more rows)."""
    if values.shape[0] > 1:
        check_columns(values, parts=labels.parts)


def _multiplicative(
    values, labels: Labels, delta, detection_limit, frac, close: bool, observed: bool
):
    values = np.ascontiguousarray(values)
    n, d = values.shape
    relative = False
    if detection_limit is not None:
        check_unused(
            delta, "delta", "when detection_limit is given (zeros become frac * detection_limit)"
        )
        deltas = frac * check_per_part(detection_limit, "detection_limit", d, labels.parts)
    elif delta is not None:
        deltas = check_per_part(delta, "delta", d, labels.parts)
    else:
        # scikit-bio's default, 1/D^2 of the (closed) row
        deltas = np.full(d, 1.0 / d**2)
        relative = True
    out = np.empty_like(values)
    factor = np.empty(n)
    nzeros = np.empty(n, dtype=np.int64)

    def run(start: int, stop: int) -> None:
        # A row of zeros divides by a zero total; it is reported after the pass.
        with np.errstate(divide="ignore", invalid="ignore"):
            _kernels._replace_zeros_multiplicative(
                values[start:stop],
                deltas,
                relative,
                close,
                out[start:stop],
                factor[start:stop],
                nzeros[start:stop],
            )

    for_row_blocks(run, n, d * values.itemsize)
    if not np.isfinite(factor).all():
        check_composition(values, allow_zeros=True, row_labels=labels.index)
    option = "detection_limit" if detection_limit is not None else "delta"
    check_replacement_fits(factor, option, row_labels=labels.index)
    # A part can be zero in every row only if every row has a zero.
    if observed and nzeros.min() > 0:
        _check_parts_observed(values, labels)
    # The kernel works in float64: a float32 out can round its results to 0.
    check_replaced_positive(out, values, option, row_labels=labels.index)
    return out


def _pseudocount(values, labels: Labels, delta, close: bool, observed: bool):
    check_composition(values, allow_zeros=True, row_labels=labels.index)
    if observed:
        _check_parts_observed(values, labels)
    added = check_per_part(0.5 if delta is None else delta, "delta", values.shape[1], labels.parts)
    # An overflow (of the sum, or of delta cast to float32) is reported below.
    with np.errstate(over="ignore"):
        out = values + added.astype(values.dtype)
    check_pseudocount_range(out, row_labels=labels.index)
    # closure's kernel, so that totals near the float limits neither overflow
    # nor lose precision
    out = closure(out) if close else out
    check_replaced_positive(out, values, "delta", row_labels=labels.index)
    return out


def _other_rows_totals(counts: np.ndarray) -> np.ndarray:
    """Row ``i``: the column totals of every row but ``i``.

    Summed from the rows above plus the rows below, not as the column total
    minus row ``i``: that difference cancels when row ``i`` holds most of a
    column (1e20 beside counts of 1 left 0 instead of 2, a NaN under GBM).
    """
    above = np.zeros_like(counts)
    np.cumsum(counts[:-1], axis=0, out=above[1:])
    below = np.zeros_like(counts)
    np.cumsum(counts[:0:-1], axis=0, out=below[-2::-1])
    return above + below


def _bayesian(values, labels: Labels, method: str, frac: float, as_counts: bool):
    counts = values.astype(np.float64)
    check_composition(counts, allow_zeros=True, min_samples=2, row_labels=labels.index)
    check_counts(counts, row_labels=labels.index, why=f'method="{method}" models count zeros, so ')
    _check_parts_observed(counts, labels)
    n_rows, d = counts.shape
    # An overflow of the sums is reported below.
    with np.errstate(over="ignore"):
        total = counts.sum(axis=1)
        # Leave-one-out prior: part totals over the other rows, closed (cmultRepl's t).
        t = _other_rows_totals(counts)
        others = t.sum(axis=1)
    check_count_totals(total, others, method, row_labels=labels.index)
    t /= others[:, None]
    if method == "gbm":
        check_columns(
            counts,
            parts=labels.parts,
            min_positive=2,
            why='method="gbm" takes its prior strength from the geometric mean of the '
            "other rows' part totals, which is zero when a part is positive in one row only; ",
        )
        strength = np.exp(-np.log(t).mean(axis=1))
    elif method == "sq":
        strength = np.sqrt(total)
    else:
        strength = np.full(n_rows, float(d))
    # Posterior expected proportion of a zero count under the Dirichlet prior.
    estimate = t * (strength / (total + strength))[:, None]
    zero = counts == 0
    props = counts / total[:, None]
    smallest = np.where(zero, np.inf, props).min(axis=0)
    estimate = np.where(estimate > smallest, frac * smallest, estimate)
    filled = np.where(zero, estimate, 0.0).sum(axis=1)
    if as_counts:
        out = np.where(zero, estimate * (total / (1.0 - filled))[:, None], counts)
    else:
        out = np.where(zero, estimate, props * (1.0 - filled)[:, None])
    check_replaced_positive(out, counts, None, row_labels=labels.index)
    return out
