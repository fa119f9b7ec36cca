"""Regressions found in QA of the dask path and its thread helpers (coda._parallel)."""

from __future__ import annotations

import threading

import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_info

import coda
from coda import _parallel


def _overlapping_calls() -> None:
    """Two threads in ``one_blas_thread`` at once: A enters, B enters, A leaves, B leaves."""
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    errors = []

    def first():
        try:
            with _parallel.one_blas_thread():
                a_in.set()
                b_in.wait()
        except BaseException as err:  # re-raised in the main thread below
            errors.append(err)
        finally:
            a_in.set()
            a_out.set()

    def second():
        try:
            a_in.wait()
            with _parallel.one_blas_thread():
                b_in.set()
                a_out.wait()
        except BaseException as err:  # re-raised in the main thread below
            errors.append(err)
        finally:
            b_in.set()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


class _FakeBlas:
    """A process-wide BLAS thread count with threadpoolctl's ``limit`` interface."""

    def __init__(self, threads: int):
        self.threads = threads

    def limit(self, *, limits, user_api):
        assert user_api == "blas"
        return _FakeLimit(self, limits)


class _FakeLimit:
    def __init__(self, blas: _FakeBlas, threads: int):
        self.blas, self.before = blas, blas.threads
        blas.threads = threads

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.restore_original_limits()

    def restore_original_limits(self):
        self.blas.threads = self.before


def test_overlapping_one_blas_thread_restores_the_users_blas_threads(monkeypatch):
    # Two threads each calling coda.clr_cov on dask data (or pcor_bootstrap) at
    # once left BLAS on one thread for the rest of the process: the second
    # thread saved the first one's limit and restored it last.
    blas = _FakeBlas(4)
    monkeypatch.setattr(_parallel, "_blas_pools", lambda: blas)
    seen = []
    with _parallel.one_blas_thread():
        seen.append(blas.threads)
        with _parallel.one_blas_thread():
            seen.append(blas.threads)
        seen.append(blas.threads)
    assert seen == [1, 1, 1]
    assert blas.threads == 4
    _overlapping_calls()
    assert blas.threads == 4


def test_overlapping_one_blas_thread_with_the_real_blas():
    def threads():
        return [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]

    before = threads()
    _overlapping_calls()
    assert threads() == before
    # A later call still limits and restores.
    with _parallel.one_blas_thread():
        assert set(threads()) <= {1}
    assert threads() == before


@pytest.mark.parametrize("func", [coda.clr, coda.closure, coda.clr_cov])
def test_dask_input_without_parts_is_empty_as_in_memory(func):
    # The transforms named the shape of coda's one-row sample, (1, 0).
    values = np.ones((100, 0))
    with pytest.raises(ValueError, match=r"^x is empty \(shape \(100, 0\)\); it needs") as memory:
        func(values)
    with pytest.raises(ValueError, match=r"^x is empty") as lazy:
        func(da.from_array(values, chunks=(30, 0)))
    assert str(lazy.value) == str(memory.value)
    frame = dd.from_pandas(pd.DataFrame({"a": [1.0, 2.0]}), npartitions=1)[[]]
    with pytest.raises(ValueError, match=r"^x is empty \(no columns\); it needs at least one"):
        func(frame)
