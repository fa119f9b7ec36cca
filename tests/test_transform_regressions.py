"""Regressions in the row-block threads behind the log-ratio transforms.

Each test here failed before the fix it names: ``coda._parallel.for_row_blocks``
handing blocks to a thread pool that takes no more work.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
import pytest

import coda
from coda import _parallel

# 10,000 rows of 8 KB: 80 MB, well above the size kept in one thread.
N_ROWS, ROW_BYTES = 10_000, 1 << 13


def _recorder():
    spans, lock = [], threading.Lock()

    def block(start, stop):
        with lock:
            spans.append((start, stop, threading.get_ident()))

    return spans, block


def _assert_every_row_once(spans):
    ordered = sorted((start, stop) for start, stop, _ in spans)
    assert ordered[0][0] == 0 and ordered[-1][1] == N_ROWS
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ordered))


@pytest.fixture
def two_threads():
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.fail("these tests need numba to have 2 threads (NUMBA_NUM_THREADS >= 2)")
    before = numba.get_num_threads()
    numba.set_num_threads(2)
    yield
    numba.set_num_threads(before)


def test_a_pool_that_is_shut_down_leaves_the_work_to_the_calling_thread(monkeypatch, two_threads):
    # At interpreter exit (an atexit handler) the pool refuses work with
    # RuntimeError("cannot schedule new futures after ... shutdown"), which
    # every threaded coda function raised.
    closed = ThreadPoolExecutor(max_workers=1)
    closed.shutdown()
    monkeypatch.setattr(_parallel, "_executor", lambda: closed)
    spans, block = _recorder()
    _parallel.for_row_blocks(block, N_ROWS, ROW_BYTES)
    _assert_every_row_once(spans)
    assert {ident for _, _, ident in spans} == {threading.get_ident()}


class _ThreadThatFailsToStart:
    """A pool whose ``submit`` queues the task, then fails to start a thread for it.

    As ``ThreadPoolExecutor`` when the system refuses a new thread: the task
    stays queued and may still run later, here in a thread of its own that
    starts at once.
    """

    def __init__(self):
        self.orphans = []

    def submit(self, fn, *args):
        orphan = threading.Thread(target=fn, args=args)
        orphan.start()
        self.orphans.append(orphan)
        raise RuntimeError("can't start new thread")


def test_a_task_left_queued_by_a_failed_thread_start_takes_no_block(monkeypatch, two_threads):
    pool = _ThreadThatFailsToStart()
    monkeypatch.setattr(_parallel, "_executor", lambda: pool)
    spans, block = _recorder()
    caller = threading.get_ident()

    def first_waits_for_the_orphan(start, stop):
        if not spans:
            # Give the queued task every chance to take blocks before the caller does.
            pool.orphans[0].join(timeout=30)
        block(start, stop)

    _parallel.for_row_blocks(first_waits_for_the_orphan, N_ROWS, ROW_BYTES)
    pool.orphans[0].join(timeout=30)
    # The caller returns only once every block is written, by threads it waits for.
    assert {ident for _, _, ident in spans} == {caller}
    _assert_every_row_once(spans)


_AT_EXIT = """
import atexit
import numpy as np
import coda
from coda import _parallel

x = np.random.default_rng(0).lognormal(size=(_parallel._SERIAL_BYTES // 64 + 1000, 8))
expected = coda.clr(x), coda.ilr(x), coda.closure(x)

def at_exit():
    got = coda.clr(x), coda.ilr(x), coda.closure(x)
    same = all(np.array_equal(a, b) for a, b in zip(got, expected))
    print("same" if same else "different")

atexit.register(at_exit)
"""


def test_threaded_transforms_work_in_an_atexit_handler():
    env = {**os.environ, "NUMBA_NUM_THREADS": "2"}
    done = subprocess.run(
        [sys.executable, "-c", _AT_EXIT], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "cannot schedule new futures" not in done.stderr
    assert done.stdout.split() == ["same"], done.stderr


def test_threaded_results_do_not_depend_on_the_pool_taking_work(monkeypatch, two_threads):
    x = np.random.default_rng(1).lognormal(size=(70_001, 9))  # 5 MB: uneven blocks
    expected = {
        "clr": coda.clr(x),
        "ilr": coda.ilr(x, basis="pivot"),
        "closure": coda.closure(x),
    }
    closed = ThreadPoolExecutor(max_workers=1)
    closed.shutdown()
    monkeypatch.setattr(_parallel, "_executor", lambda: closed)
    np.testing.assert_array_equal(coda.clr(x), expected["clr"])
    np.testing.assert_array_equal(coda.ilr(x, basis="pivot"), expected["ilr"])
    np.testing.assert_array_equal(coda.closure(x), expected["closure"])


def test_float32_helmert_ilr_sums_in_float64():
    # the running sum took the logs' float32 type: for equal parts (exact
    # answer 0) the coordinates drifted to 2e-3 at D = 100,000
    z = coda.ilr(np.full(100_000, 7.0, np.float32))
    assert z.dtype == np.float32
    assert np.abs(z).max() < 1e-12
    x = np.random.default_rng(3).lognormal(size=(20, 5_000)).astype(np.float32)
    exact = coda.ilr(x.astype(np.float64))
    assert np.abs(coda.ilr(x) - exact).max() <= 4 * np.finfo(np.float32).eps * np.abs(exact).max()


def test_a_partition_listed_bottom_up_is_valid_and_checked_by_its_groups():
    d = 300
    sbp = np.zeros((d - 1, d), np.int8)
    for i in range(d - 1):
        sbp[i, i], sbp[i, i + 1 :] = 1, -1
    np.testing.assert_allclose(
        coda.sbp_basis(sbp[::-1].copy()), coda.sbp_basis(sbp)[:, ::-1], atol=1e-15
    )
    with pytest.raises(ValueError, match=r"sbp has rows of different lengths"):
        coda.sbp_basis([[1, -1, 0], [1, -1]])
    with pytest.raises(ValueError, match=r"row\(s\) 2 do not split a group"):
        coda.sbp_basis([[1, 1, -1, -1], [1, -1, 0, 0], [1, -1, 0, 0]])
