"""pytest configuration shared by the test files."""

from __future__ import annotations

import os

import numba
import pytest
from hypothesis import settings

# Shared CI runners have noisy timings, so no per-example deadline there, and
# a failing example is printed with the blob that reproduces it.
settings.register_profile("ci", deadline=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture
def thread_counts() -> tuple[int, int]:
    """One thread and the most numba has, for tests that results do not depend on them.

    With one thread only there is nothing to compare: such a test is skipped
    on a developer's machine and fails in CI, where it would otherwise pass
    without testing anything.
    """
    most = numba.config.NUMBA_NUM_THREADS
    if most < 2:
        message = f"numba has {most} thread here; comparing 1 thread with several needs 2"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return 1, most


@pytest.fixture
def thread_client():
    """A dask.distributed client of one worker thread in this process (quick to start)."""
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client
