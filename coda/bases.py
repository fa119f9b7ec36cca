"""Orthonormal bases of the clr plane for the isometric log-ratio transform.

:func:`ilr_basis` builds the Helmert and pivot bases; :func:`sbp_basis` the
basis of a sequential binary partition. Each is a D x (D-1) matrix ``V`` in
clr coordinates with ``V.T @ V = I`` and ``V.T @ 1 = 0``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from coda._validation import BASIS_KINDS, check_n_parts, check_option, check_sbp

__all__ = ["ilr_basis", "sbp_basis"]


def ilr_basis(n_parts: int, /, *, kind: str = "helmert") -> np.ndarray:
    r"""An orthonormal basis of the clr plane, as a D x (D-1) matrix.

    Parameters
    ----------
    n_parts : int
        The number of parts D (at least 2).
    kind : {"helmert", "pivot"}, default "helmert"
        ``"helmert"``: column j (0-based, ``i = j + 1``) is
        :math:`\sqrt{i/(i+1)}\,(1/i, \dots, 1/i, -1, 0, \dots, 0)` with ``i``
        leading entries, the default basis of scikit-bio's ``ilr`` (same
        signs and column order; R's ``compositions`` negates every
        column). ``"pivot"``: pivot coordinates (Hron, Filzmoser and
        colleagues), column j is
        :math:`\sqrt{m/(m+1)}\,(0, \dots, 0, 1, -1/m, \dots, -1/m)` with the 1
        at part j and ``m = D - j - 1``, so the first coordinate contrasts the
        first part with all others.

    Returns
    -------
    ndarray of shape (n_parts, n_parts - 1)
        ``V`` with ``V.T @ V = I`` and ``V.T @ 1 = 0``; ``ilr(x) = clr(x) @ V``.

    Raises
    ------
    ValueError
        If ``n_parts < 2`` or ``kind`` is unknown.

    See Also
    --------
    sbp_basis : a basis from a sequential binary partition.
    ilr : uses these bases without forming the matrix.

    References
    ----------
    .. [1] Egozcue, J. J., Pawlowsky-Glahn, V., Mateu-Figueras, G. and
       Barcelo-Vidal, C. (2003). Isometric logratio transformations for
       compositional data analysis. Mathematical Geology 35:279-300.
       https://doi.org/10.1023/A:1023818214614
    .. [2] Hron, K., Filzmoser, P., de Caritat, P., Fiserova, E. and Gardlo, A.
       (2017). Weighted pivot coordinates for compositional data and their
       application to geochemical mapping. Mathematical Geosciences
       49:797-814. https://doi.org/10.1007/s11004-017-9684-z

    Examples
    --------
    >>> import coda
    >>> coda.ilr_basis(3)
    array([[ 0.70710678,  0.40824829],
           [-0.70710678,  0.40824829],
           [ 0.        , -0.81649658]])
    >>> coda.ilr_basis(3, kind="pivot")
    array([[ 0.81649658,  0.        ],
           [-0.40824829,  0.70710678],
           [-0.40824829, -0.70710678]])
    """
    d = check_n_parts(n_parts)
    check_option(kind, "kind", BASIS_KINDS)
    basis = np.zeros((d, d - 1))
    columns = np.arange(d - 1)
    # Written row by row, each row's non-zero entries one contiguous run
    # (filling the matrix column by column made ilr_basis(10_000) take seconds).
    if kind == "helmert":
        i = columns + 1.0  # column j: 1/i on parts 0..j, -1 on part i, scaled
        scale = np.sqrt(i / (i + 1.0))
        mean = (1.0 / i) * scale
        for r in range(d - 1):
            basis[r, r:] = mean[r:]
        basis[columns + 1, columns] = -scale
    else:
        m = d - columns - 1.0  # column j: 1 on part j, -1/m on the m parts after it
        scale = np.sqrt(m / (m + 1.0))
        rest = (-1.0 / m) * scale
        for r in range(1, d):
            basis[r, :r] = rest[:r]
        basis[columns, columns] = scale
    return basis


def sbp_basis(sbp, /):
    r"""The orthonormal basis of a sequential binary partition.

    Parameters
    ----------
    sbp : array_like or DataFrame of shape (n_parts - 1, n_parts)
        One row per balance, one column per part: +1 for parts in the
        numerator group, -1 for the denominator group, 0 for parts not in
        this balance. A DataFrame's columns name the parts and its index the
        balances.

    Returns
    -------
    ndarray or DataFrame of shape (n_parts, n_parts - 1)
        The basis ``V`` in clr coordinates (one column per balance); a
        DataFrame when ``sbp`` is one, with parts as index and balances as
        columns, so that :func:`ilr` and :func:`ilr_inv` keep those names.

    Raises
    ------
    ValueError
        If ``sbp`` holds values other than +1, -1, 0, has the wrong shape, or
        is not a sequential binary partition.

    See Also
    --------
    balances : the ilr coordinates of a partition, named after it.
    ilr_basis : the Helmert and pivot bases.

    Notes
    -----
    With ``r`` parts in the numerator and ``s`` in the denominator, the
    balance's clr vector has :math:`+\sqrt{s/(r(r+s))}` on the numerator
    parts and :math:`-\sqrt{r/(s(r+s))}` on the denominator parts, so that
    the coordinate is :math:`\sqrt{rs/(r+s)}\,\log(g(x_+)/g(x_-))` with
    ``g`` the geometric mean.

    Examples
    --------
    >>> import coda
    >>> coda.sbp_basis([[1, 1, -1], [1, -1, 0]])
    array([[ 0.40824829,  0.70710678],
           [ 0.40824829, -0.70710678],
           [-0.81649658,  0.        ]])
    """
    basis = basis_of_signs(check_sbp(sbp))
    if isinstance(sbp, pd.DataFrame):
        return pd.DataFrame(basis, index=sbp.columns, columns=sbp.index)
    return basis


def basis_of_signs(signs: np.ndarray) -> np.ndarray:
    """The basis of :func:`sbp_basis` from a partition ``check_sbp`` has passed."""
    plus = (signs > 0).sum(axis=1, keepdims=True).astype(float)
    minus = (signs < 0).sum(axis=1, keepdims=True).astype(float)
    coef_plus = np.sqrt(minus / (plus * (plus + minus)))
    coef_minus = np.sqrt(plus / (minus * (plus + minus)))
    # signs are +1, -1 or 0, so the product is +coef_plus, -coef_minus or 0 exactly.
    return (signs * np.where(signs > 0, coef_plus, coef_minus)).T
