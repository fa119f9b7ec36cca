"""Recognising dask collections without importing dask.

dask is an optional extra. These helpers tell a dask array or DataFrame
from any other input by its type's module, so that ``import coda`` never
imports dask and a dask input never reaches ``np.asarray`` (which would
silently compute the whole collection into memory).
"""

from __future__ import annotations

import importlib


def is_dask(x) -> bool:
    """Whether ``x`` is a dask collection (array, DataFrame, Series)."""
    module = type(x).__module__
    return module == "dask" or module.startswith("dask.")


def import_dask(module: str = "dask.array"):
    """Import a part of dask, or raise an ImportError that names coda's extra."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(
            f"dask input needs {module}, which is not installed; install coda's "
            f'dask extra: pip install "coda-logratio[dask]"'
        ) from err
