"""How ``coda._parallel`` cuts rows into blocks and hands them to threads.

The numerical results of the threaded path are tested with each operation
(``test_transforms.py``, ``test_ties.py``, ...); here only the bookkeeping:
every block is done exactly once, each thread walks its own run of blocks
front to back, and the block size stays within its bounds.
"""

from __future__ import annotations

import itertools
import threading

import numba
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coda import _parallel
from coda._parallel import _block_rows, _Segments, for_row_blocks

MB = 1 << 20


@settings(max_examples=200, deadline=None)
@given(
    n_blocks=st.integers(1, 60),
    n_threads=st.integers(1, 6),
    order=st.lists(st.integers(0, 5), min_size=1, max_size=200),
    backward=st.booleans(),
)
def test_segments_hand_out_every_block_once_whatever_the_order_of_the_threads(
    n_blocks, n_threads, order, backward
):
    segments = _Segments(n_blocks, n_threads, backward)
    cuts = [n_blocks * j // n_threads for j in range(n_threads + 1)]
    own = [range(cuts[j], cuts[j + 1]) for j in range(n_threads)]
    taken = []
    by_thread = [[] for _ in range(n_threads)]
    # Threads ask in the drawn order, then round robin until all are done.
    asks = [t % n_threads for t in order] + list(range(n_threads)) * (n_blocks + 1)
    for thread in asks:
        block = segments.take(thread)
        if block is not None:
            taken.append(block)
            by_thread[thread].append(block)
    assert sorted(taken) == list(range(n_blocks))
    assert all(segments.take(thread) is None for thread in range(n_threads))
    for thread, blocks in enumerate(by_thread):
        # A thread's own blocks come first, in order, from the start of its
        # run (from its end, backward).
        mine = [b for b in blocks if b in own[thread]]
        run = list(own[thread])[::-1] if backward else list(own[thread])
        assert blocks[: len(mine)] == mine == run[: len(mine)]


def test_backward_a_thread_done_with_its_run_takes_the_first_block_of_the_longest_run():
    segments = _Segments(12, 3, backward=True)  # runs 0-3, 4-7, 8-11
    assert [segments.take(0) for _ in range(4)] == [3, 2, 1, 0]
    assert segments.take(2) == 11
    # Run 1 has four left, run 2 three: thread 0 takes from the front of run 1.
    assert segments.take(0) == 4
    assert segments.take(1) == 7


def test_serial_blocks_go_backward_too(monkeypatch):
    monkeypatch.setattr(numba, "get_num_threads", lambda: 1)
    seen = []
    for_row_blocks(lambda start, stop: seen.append((start, stop)), 10, 1 << 19, backward=True)
    assert seen == [(start, start + 2) for start in (8, 6, 4, 2, 0)]


def test_a_thread_done_with_its_run_takes_the_last_block_of_the_longest_run():
    segments = _Segments(12, 3)  # runs 0-3, 4-7, 8-11
    assert [segments.take(0) for _ in range(4)] == [0, 1, 2, 3]
    assert segments.take(2) == 8
    # Run 1 has four left, run 2 three: thread 0 takes from the back of run 1.
    assert segments.take(0) == 7
    assert segments.take(1) == 4
    # Now run 1 has two left (5, 6) and run 2 three (9-11).
    assert segments.take(0) == 11
    assert [segments.take(1), segments.take(1), segments.take(1)] == [5, 6, 10]


@pytest.mark.parametrize("row_bytes", [8, 800, 16_000, 3 * MB, 9 * MB])
@pytest.mark.parametrize("n_rows", [1, 1000, 100_000, 10_000_000])
def test_blocks_hold_one_to_four_megabytes_and_many_of_them(n_rows, row_bytes):
    rows = _block_rows(n_rows, row_bytes)
    assert rows >= 1
    block = rows * row_bytes
    if row_bytes > MB:
        assert rows == 1  # rows of more than 1 MB go one a block
        return
    assert MB - row_bytes < block <= 4 * MB
    total = n_rows * row_bytes
    if total >= 64 * 4 * MB:
        assert block > 4 * MB - row_bytes  # big data: the largest blocks
    if total >= 64 * MB:
        assert -(-n_rows // rows) >= min(64, total // (4 * MB))


@pytest.mark.parametrize("n_rows", [3_000, 30_000, 300_000])
def test_the_blocks_do_not_depend_on_the_number_of_threads(n_rows, thread_counts):
    # Float sums added in block order (the Gram pass of pcor, the facts of
    # describe) then give the same bits with one thread or several.
    before = numba.get_num_threads()
    partitions = []
    try:
        for threads in thread_counts:
            numba.set_num_threads(threads)
            spans = []
            lock = threading.Lock()

            def block(start, stop, spans=spans, lock=lock):
                with lock:
                    spans.append((start, stop))

            for_row_blocks(block, n_rows, 1 << 11)  # 6 MB to 600 MB
            partitions.append(sorted(spans))
    finally:
        numba.set_num_threads(before)
    assert all(spans == partitions[0] for spans in partitions)


def test_the_threaded_path_runs_every_block_once_over_all_rows():
    n_rows, row_bytes = 10_000, 1 << 13  # 80 MB: threads, blocks of 4 MB
    assert n_rows * row_bytes >= _parallel._SERIAL_BYTES
    n_threads = numba.get_num_threads()
    step = _block_rows(n_rows, row_bytes)
    n_blocks = -(-n_rows // step)
    # Each thread waits in its first block until all have one, so all take part.
    arrived = threading.Barrier(min(n_threads, n_blocks), timeout=30)
    seen = []
    lock = threading.Lock()

    def block(start, stop):
        ident = threading.get_ident()
        with lock:
            first = all(ident != other for _, _, other in seen)
            seen.append((start, stop, ident))
        if first:
            arrived.wait()

    for_row_blocks(block, n_rows, row_bytes)
    spans = sorted((start, stop) for start, stop, _ in seen)
    assert spans[0][0] == 0 and spans[-1][1] == n_rows
    assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))
    threads = {}
    for start, _, ident in seen:
        threads.setdefault(ident, []).append(start // step)
    assert len(threads) == min(n_threads, n_blocks)
    # Every thread starts at the front of its own run of blocks.
    firsts = sorted(blocks[0] for blocks in threads.values())
    assert firsts == [n_blocks * j // len(threads) for j in range(len(threads))]
