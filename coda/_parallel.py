"""Run a function over blocks of rows in a few threads.

The numba kernels release the GIL and so do numpy's ufuncs, so plain threads
run them in parallel without copying data. Blocks are sized to stay in cache
between numpy's vectorised ``log`` and the kernel that follows it, and large
enough that the Python work per block (slicing, dispatch), which holds the
GIL, stays a few percent of the time (``benchmarks/bench_transforms.py``).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor, wait

import numba

_BLOCK_BYTES = 1 << 20  # a block of rows stays in one core's L2 between the passes
_SERIAL_BYTES = 1 << 22  # below this, threads cost more than they save

_pool: ThreadPoolExecutor | None = None
_lock = threading.Lock()


def _forget_pool() -> None:
    """In a forked child: drop the parent's pool, whose threads were not copied.

    A child made by ``fork`` (``multiprocessing``'s default on Linux) inherits
    the pool object but none of its worker threads, so work handed to it
    would wait forever; the child starts a pool of its own on first use. The
    lock is renewed too, in case another thread held it at the fork.
    """
    global _pool, _lock
    _pool = None
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=max(1, numba.config.NUMBA_NUM_THREADS))
            atexit.register(_pool.shutdown)
        return _pool


def for_row_blocks(fn, n_rows: int, row_bytes: int) -> None:
    """Call ``fn(start, stop)`` over consecutive row blocks covering ``n_rows``.

    Threads: ``numba.get_num_threads()`` (set it with ``numba.set_num_threads``
    or ``NUMBA_NUM_THREADS``), the calling thread being one of them. Each
    thread takes the next block not yet taken until none is left, so a thread
    slowed by other processes on the machine does less of the work instead of
    holding up the result. Blocks are disjoint; ``fn`` must only write rows
    ``start:stop`` of shared outputs. When ``fn`` raises in any thread (or the
    caller is interrupted, e.g. by Ctrl-C in Jupyter), the other threads
    finish the block in hand and take no more; the error is raised once they
    have, instead of after the rest of the work.
    """
    step = max(1, _BLOCK_BYTES // max(1, row_bytes))
    n_blocks = -(-n_rows // step)
    n_threads = min(numba.get_num_threads(), n_blocks)
    if n_threads <= 1 or n_rows * row_bytes < _SERIAL_BYTES:
        for start in range(0, n_rows, step):
            fn(start, min(start + step, n_rows))
        return
    starts = iter(range(0, n_rows, step))
    taking = threading.Lock()
    failed = threading.Event()

    def run() -> None:
        while True:
            with taking:
                start = None if failed.is_set() else next(starts, None)
            if start is None:
                return
            try:
                fn(start, min(start + step, n_rows))
            except BaseException:
                failed.set()
                raise

    futures = [_executor().submit(run) for _ in range(n_threads - 1)]
    try:
        run()
    except BaseException:
        failed.set()
        raise
    finally:
        # Never return (or raise) while other threads still write the outputs;
        # interrupted while waiting, stop them first, then wait for their block.
        try:
            wait(futures)
        except BaseException:
            failed.set()
            wait(futures)
            raise
    for future in futures:
        future.result()


@contextlib.contextmanager
def one_thread():
    """Run :func:`for_row_blocks` serially in the calling thread while the block lasts.

    For work that is already parallel one level up (a dask task per block of
    rows): threads inside each task would only compete with the other tasks
    for the same cores. ``numba.set_num_threads`` is local to the calling
    thread, so other threads keep their setting.
    """
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(before)
