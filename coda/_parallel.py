"""Run a function over blocks of rows in a few threads.

The numba kernels release the GIL and so do numpy's ufuncs, so plain threads
run them in parallel without copying data. Blocks hold 1 to 4 MB of input
rows, at least 64 of them where the data allow, so that a thread slowed by
other work leaves its share to the others. The size depends on the data
alone, not on the number of threads: sums over blocks, added in block order,
then give the same bits with any number of threads. Each thread works
through a run of consecutive blocks, writing one stretch of a new output
front to back: with 1 MB blocks handed out in turn, ``clr`` of
10,000 x 2,000 took 1.57-1.65x ``np.copy`` of its input in paired runs,
against 1.23-1.49x this way. Into an output already written once, the block
size made no difference, so the cost was in the first writes to new pages
(transparent huge pages of 2 MB; ``benchmarks/README.md``).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import threading
from concurrent.futures import ThreadPoolExecutor, wait

import numba

_MIN_BLOCK_BYTES = 1 << 20
_MAX_BLOCK_BYTES = 1 << 22
_BLOCKS = 64
_SERIAL_BYTES = 1 << 22  # below this, threads cost more than they save

_pool: ThreadPoolExecutor | None = None
_lock = threading.Lock()

# The limit of one_blas_thread, shared by the threads inside it.
_blas_lock = threading.Lock()
_blas_limiter = None


def _forget_pool() -> None:
    """In a forked child: drop the parent's pool, whose threads were not copied.

    A child made by ``fork`` (``multiprocessing``'s default on Linux) inherits
    the pool object but none of its worker threads, so work handed to it
    would wait forever; the child starts a pool of its own on first use. The
    lock is renewed too, in case another thread held it at the fork.

    Forked while another thread was inside :func:`one_blas_thread` (a
    ``coda.pcor_bootstrap`` in a thread of its own), the child inherits BLAS
    on one thread; the thread that would restore the caller's settings was
    not copied, so the child restores them itself, or keeps one BLAS thread
    for good.
    """
    global _pool, _lock, _blas_lock, _blas_limiter
    _pool = None
    _lock = threading.Lock()
    _blas_lock = threading.Lock()
    limiter, _blas_limiter = _blas_limiter, None
    if limiter is not None:
        limiter.__exit__(None, None, None)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=max(1, numba.config.NUMBA_NUM_THREADS))
            atexit.register(_pool.shutdown)
        return _pool


def _block_rows(n_rows: int, row_bytes: int) -> int:
    """Rows per block: 1/64 of the bytes, kept within 1 to 4 MB."""
    size = min(_MAX_BLOCK_BYTES, max(_MIN_BLOCK_BYTES, n_rows * row_bytes // _BLOCKS))
    return max(1, size // max(1, row_bytes))


class _Segments:
    """Blocks ``0 .. n_blocks - 1`` cut into one run of consecutive blocks per thread.

    Thread j takes the blocks of its own run in order, so that each thread
    reads and writes one stretch of memory front to back; once its run is
    used up it takes the last block of the run with the most left. With
    ``backward`` both go the other way: runs back to front, the first block
    of the richest run. Callers hold a lock around :meth:`take`.
    """

    def __init__(self, n_blocks: int, n_threads: int, backward: bool = False):
        cuts = [n_blocks * j // n_threads for j in range(n_threads + 1)]
        self.front = cuts[:-1]
        self.back = cuts[1:]
        self.backward = backward

    def take(self, thread: int) -> int | None:
        if self.front[thread] < self.back[thread]:
            return self._end(thread, not self.backward)
        left = [back - front for front, back in zip(self.front, self.back, strict=True)]
        richest = max(range(len(left)), key=left.__getitem__)
        if left[richest] == 0:
            return None
        return self._end(richest, self.backward)

    def _end(self, thread: int, front: bool) -> int:
        # The first (front) or last block left in the run of ``thread``, taken.
        if front:
            self.front[thread] += 1
            return self.front[thread] - 1
        self.back[thread] -= 1
        return self.back[thread]


def for_row_blocks(fn, n_rows: int, row_bytes: int, *, backward: bool = False) -> None:
    """Call ``fn(start, stop)`` over consecutive row blocks covering ``n_rows``.

    Threads: ``numba.get_num_threads()`` (set it with ``numba.set_num_threads``
    or ``NUMBA_NUM_THREADS``), the calling thread being one of them. Each
    thread works through a run of consecutive blocks of its own, then takes
    blocks left in the others' runs (:class:`_Segments`), so a thread slowed
    by other processes on the machine does less of the work instead of
    holding up the result. Blocks are disjoint; ``fn`` must only write rows
    ``start:stop`` of shared outputs. When ``fn`` raises in any thread (or the
    caller is interrupted, e.g. by Ctrl-C in Jupyter), the other threads
    finish the block in hand and take no more; the error is raised once they
    have, instead of after the rest of the work. Where the pool takes no more
    work (at interpreter exit, in an ``atexit`` handler), the calling thread
    does it all.

    With ``backward``, each thread walks its run from the last block to the
    first (and takes the first block left in another run): for a pass that
    follows one over the same rows, whose last blocks are then the likeliest
    to be still in the cache (the merge's second pass over a tensor ran
    about 10% faster).
    """
    step = _block_rows(n_rows, row_bytes)
    n_blocks = -(-n_rows // step)
    n_threads = min(numba.get_num_threads(), n_blocks)
    if n_threads <= 1 or n_rows * row_bytes < _SERIAL_BYTES:
        starts = range(0, n_rows, step)
        for start in reversed(starts) if backward else starts:
            fn(start, min(start + step, n_rows))
        return
    segments = _Segments(n_blocks, n_threads, backward)
    taking = threading.Lock()
    failed = threading.Event()
    started = n_threads  # threads whose task went to the pool, the caller's included

    def run(thread: int) -> None:
        while True:
            with taking:
                idle = failed.is_set() or thread >= started
                block = None if idle else segments.take(thread)
            if block is None:
                return
            start = block * step
            try:
                fn(start, min(start + step, n_rows))
            except BaseException:
                failed.set()
                raise

    futures = []
    try:
        with taking:
            for thread in range(1, n_threads):
                try:
                    futures.append(_executor().submit(run, thread))
                except RuntimeError:
                    # The pool takes no more work: it is shut down (at interpreter
                    # exit, e.g. in an atexit handler) or cannot start a thread.
                    # The threads started take the other runs' blocks; a task
                    # left queued by a failed thread start takes none.
                    started = thread
                    break
        run(0)
    except BaseException:
        failed.set()
        raise
    finally:
        # Every block is taken (or the call failed): a task still queued would
        # take none, so it is cancelled, not waited for. Queued behind the
        # tasks of another thread's long coda call, it held this call up until
        # that one was done (a 10 ms ``clr`` took 0.8 s). ``wait`` would still
        # wait for a worker to dequeue a cancelled task: only started ones count.
        # Never return (or raise) while other threads still write the outputs;
        # interrupted while cancelling or waiting, stop them first, then wait
        # for their block.
        started_tasks = futures
        try:
            started_tasks = [future for future in futures if not future.cancel()]
            wait(started_tasks)
        except BaseException:
            failed.set()
            wait(started_tasks)
            raise
    for future in started_tasks:
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


@functools.cache
def _blas_pools():
    """The BLAS thread pools of this process (threadpoolctl), found once.

    numpy's and scipy's BLAS, the ones coda calls, are loaded with coda.
    """
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@contextlib.contextmanager
def one_blas_thread():
    """A context in which BLAS runs on one thread; the caller's settings come back after.

    For BLAS calls next to coda's own threads: OpenBLAS called from several
    threads at once, each with its own team, slows down several-fold, and
    its threads keep spinning for a while (about 0.1 s) after a call
    returns, sharing the cores with the numba kernels that follow.

    The limit is the process's, not the thread's, so it is set once: by the
    thread that enters while no limit is set, which restores the settings
    when it leaves; a thread entering while it is set leaves it alone. Each
    thread setting its own would leave BLAS on one thread for good after two
    calls that overlap (two threads each calling ``coda.clr_cov`` of dask
    data, or ``coda.pcor_bootstrap``): the second would find one thread and
    restore that, after the first had restored the user's setting.
    """
    global _blas_limiter
    with _blas_lock:
        mine = _blas_limiter is None
        if mine:
            _blas_limiter = _blas_pools().limit(limits=1, user_api="blas")
            # Entered, so that threadpoolctl lets this thread restore the limits.
            _blas_limiter.__enter__()
    try:
        yield
    finally:
        if mine:
            with _blas_lock:
                limiter, _blas_limiter = _blas_limiter, None
                limiter.__exit__(None, None, None)
