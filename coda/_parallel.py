"""Run a function over blocks of rows in a few threads.

The numba kernels release the GIL and so do numpy's ufuncs, so plain threads
run them in parallel without copying data. Blocks are sized to stay in cache
between numpy's vectorised ``log`` and the kernel that follows it.
"""

from __future__ import annotations

import atexit
import threading
from concurrent.futures import ThreadPoolExecutor

import numba

_BLOCK_BYTES = 1 << 18  # a block of rows stays in L2 between the passes
_SERIAL_BYTES = 1 << 22  # below this, threads cost more than they save

_pool: ThreadPoolExecutor | None = None
_lock = threading.Lock()


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
    or ``NUMBA_NUM_THREADS``). Each thread takes one contiguous range of blocks.
    """
    step = max(1, _BLOCK_BYTES // max(1, row_bytes))
    starts = list(range(0, n_rows, step))
    n_threads = min(numba.get_num_threads(), len(starts))

    def run(first: int, last: int) -> None:
        for start in starts[first:last]:
            fn(start, min(start + step, n_rows))

    if n_threads <= 1 or n_rows * row_bytes < _SERIAL_BYTES:
        run(0, len(starts))
        return
    bounds = [round(k * len(starts) / n_threads) for k in range(n_threads + 1)]
    futures = [_executor().submit(run, a, b) for a, b in zip(bounds[:-1], bounds[1:])]
    for future in futures:
        future.result()
