"""Shared hypothesis strategies for coda's tests.

Compositions are strictly positive ``(n, D)`` arrays whose values span
several orders of magnitude; sequential binary partitions are drawn by
splitting the parts recursively at random; orthonormal bases of the clr plane
come from the QR factorisation of a random centred matrix, so they owe
nothing to coda's own basis code.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

DTYPES = (np.float64, np.float32)

MAX_ROWS = 20
MAX_PARTS = 12


@st.composite
def shapes(draw, *, min_rows=1, max_rows=MAX_ROWS, min_parts=2, max_parts=MAX_PARTS):
    """``(n, D)`` with ``n`` in ``min_rows..max_rows`` and ``D`` in ``min_parts..max_parts``."""
    return (
        draw(st.integers(min_rows, max_rows)),
        draw(st.integers(min_parts, max_parts)),
    )


@st.composite
def compositions(
    draw,
    *,
    shape=None,
    dtype=None,
    max_log10: float = 6.0,
    min_rows=1,
    max_rows=MAX_ROWS,
    min_parts=2,
    max_parts=MAX_PARTS,
):
    """Strictly positive ``(n, D)`` arrays with values ``10**u``, ``|u| <= max_log10``.

    ``shape`` fixes ``(n, D)``, ``dtype`` fixes the dtype (otherwise float64
    or float32). The values are drawn as powers of ten so that one row can
    mix parts a trillion times apart, which a uniform draw never does.
    """
    if shape is None:
        shape = draw(
            shapes(min_rows=min_rows, max_rows=max_rows, min_parts=min_parts, max_parts=max_parts)
        )
    if dtype is None:
        dtype = draw(st.sampled_from(DTYPES))
    exponents = draw(
        hnp.arrays(
            np.float64,
            shape,
            elements=st.floats(-max_log10, max_log10, allow_nan=False, allow_infinity=False),
        )
    )
    return (10.0**exponents).astype(dtype)


@st.composite
def composition_pairs(draw, *, dtype=np.float64, max_log10: float = 6.0, **shape_bounds):
    """Two compositions of the same shape and dtype."""
    shape = draw(shapes(**shape_bounds))
    x = draw(compositions(shape=shape, dtype=dtype, max_log10=max_log10))
    y = draw(compositions(shape=shape, dtype=dtype, max_log10=max_log10))
    return x, y


@st.composite
def coordinates(draw, *, shape=None, dtype=np.float64, bound: float = 20.0, **shape_bounds):
    """Real ``(n, k)`` arrays with entries in ``[-bound, bound]`` (log-ratio coordinates)."""
    if shape is None:
        shape = draw(shapes(**shape_bounds))
    return draw(
        hnp.arrays(
            dtype,
            shape,
            elements=st.floats(
                -bound,
                bound,
                allow_nan=False,
                allow_infinity=False,
                width=np.dtype(dtype).itemsize * 8,
            ),
        )
    )


@st.composite
def sbps(draw, n_parts=None, *, min_parts=2, max_parts=MAX_PARTS):
    """A random sequential binary partition: an int8 ``(D - 1, D)`` matrix of +1/-1/0.

    Start from the group of all parts; repeatedly take one group of two or
    more parts not split yet (chosen at random, so rows come in many valid
    orders), cut a random permutation of it in two, and record the split as
    a row (+1 for the first half, -1 for the second, 0 elsewhere).
    """
    d = draw(st.integers(min_parts, max_parts)) if n_parts is None else n_parts
    pending = [list(range(d))]
    rows = []
    while pending:
        group = pending.pop(draw(st.integers(0, len(pending) - 1)))
        order = draw(st.permutations(group))
        cut = draw(st.integers(1, len(group) - 1))
        plus, minus = order[:cut], order[cut:]
        row = np.zeros(d, dtype=np.int8)
        row[plus] = 1
        row[minus] = -1
        rows.append(row)
        pending.extend(g for g in (plus, minus) if len(g) > 1)
    return np.array(rows)


@st.composite
def orthonormal_bases(draw, n_parts=None, *, min_parts=2, max_parts=MAX_PARTS):
    """A random ``(D, D - 1)`` orthonormal basis of the clr plane (columns sum to 0).

    The Q factor of a Gaussian matrix whose columns are centred: centring
    puts every column in the plane orthogonal to the ones vector, and a
    Gaussian matrix has full column rank with probability one.
    """
    d = draw(st.integers(min_parts, max_parts)) if n_parts is None else n_parts
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    a = rng.standard_normal((d, d - 1))
    q, _ = np.linalg.qr(a - a.mean(axis=0))
    return q


@st.composite
def full_rank_compositions(draw, *, min_parts=3, max_parts=8, max_extra_rows=30):
    """Well-conditioned ``(n, D)`` compositions with ``n > D`` (full-rank clr covariance).

    The values come from a seeded numpy generator (log-normal with a random
    correlation structure), so hypothesis shrinks over the shape and seed
    rather than over individual values, which could make parts proportional.
    """
    d = draw(st.integers(min_parts, max_parts))
    n = d + draw(st.integers(2, max_extra_rows))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    mixing = rng.normal(size=(d, d)) + 2.0 * np.eye(d)
    logs = rng.normal(size=(n, d)) @ mixing + rng.normal(scale=3.0, size=d)
    return np.exp(logs)


@st.composite
def compositions_with_zeros(
    draw, *, shape=None, dtype=None, max_log10: float = 6.0, **shape_bounds
):
    """Non-negative ``(n, D)`` arrays with zeros, but no row and no part that is all zeros.

    A random mask of zeros is laid over :func:`compositions`; then one
    randomly chosen part of each row, and (with several rows) one randomly
    chosen row of each part, is kept non-zero.
    """
    x = draw(compositions(shape=shape, dtype=dtype, max_log10=max_log10, **shape_bounds))
    n, d = x.shape
    mask = draw(hnp.arrays(np.bool_, (n, d)))
    for i in range(n):
        mask[i, draw(st.integers(0, d - 1))] = False
    if n > 1:
        for j in range(d):
            mask[draw(st.integers(0, n - 1)), j] = False
    x[mask] = 0
    return x


@st.composite
def count_tables(draw, *, min_rows=2, max_rows=12, min_parts=2, max_parts=8, max_count=200):
    """Integer ``(n, D)`` count arrays with every part positive in at least two rows.

    Each row has a positive count, and two distinct rows of each part are
    made positive, so all Bayesian-multiplicative priors (GBM included) are
    defined.
    """
    n, d = draw(
        shapes(
            min_rows=max(min_rows, 2), max_rows=max_rows, min_parts=min_parts, max_parts=max_parts
        )
    )
    counts = draw(hnp.arrays(np.int64, (n, d), elements=st.integers(0, max_count)))
    for i in range(n):
        counts[i, draw(st.integers(0, d - 1))] = draw(st.integers(1, max_count))
    for j in range(d):
        rows = draw(st.lists(st.integers(0, n - 1), min_size=2, max_size=2, unique=True))
        counts[rows, j] = np.maximum(counts[rows, j], draw(st.integers(1, max_count)))
    return counts
