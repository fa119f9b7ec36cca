"""Data sources for the dask tests that record how dask reads them."""

from __future__ import annotations

import numpy as np


class CountingArray:
    """An array-like that records the number of rows of each read dask makes of it."""

    def __init__(self, values: np.ndarray):
        self.values = values
        self.shape = values.shape
        self.dtype = values.dtype
        self.ndim = values.ndim
        self.reads: list[int] = []

    def __getitem__(self, key):
        self.reads.append(len(range(self.shape[0])[key[0]]))
        return self.values[key]
