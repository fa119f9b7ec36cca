"""Helpers of coda.covariance's maps between variation, clr and alr covariance matrices.

The matrices the maps multiply by (``G`` and ``F_r``, in the notation of
:mod:`coda.covariance`), and the labels of a square matrix argument and of
an alr covariance result. Arrays in, arrays out, labels at the edge.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from coda._alr_labels import alr_names, with_alr_record
from coda._labels import Labels
from coda._validation import check_square


def double_centre(matrix: np.ndarray) -> np.ndarray:
    """``G M G`` in O(D^2): subtract row and column means, add the grand mean."""
    rows = matrix.mean(axis=1, keepdims=True)
    cols = matrix.mean(axis=0, keepdims=True)
    return matrix - rows - cols + rows.mean()


def alr_matrix(n_parts: int, r: int) -> np.ndarray:
    """``F_r``: rows ``e_k - e_r`` for k != r, shape (D-1, D)."""
    f = np.delete(np.eye(n_parts), r, axis=0)
    f[:, r] = -1.0
    return f


def square_argument(matrix, name: str):
    """A labelled or plain square matrix argument: values and its labels."""
    values = check_square(matrix, name)
    if isinstance(matrix, pd.DataFrame):
        return values, Labels("frame", False, matrix.index, matrix.columns)
    return values, Labels("array", False)


def alr_square(labels: Labels, sigma: np.ndarray, r: int):
    """An alr covariance labelled ``"k/r"`` on both axes, for labelled input.

    Like :func:`coda.alr`'s result, the frame records the parts its names
    were made from, which :func:`coda.alr_cov_to_clr_cov` gives back.
    """
    if not labels.labelled:
        return sigma
    names = alr_names(labels, sigma.shape[0] + 1, r)
    return with_alr_record(labels.square(sigma, names), labels, names, r)
