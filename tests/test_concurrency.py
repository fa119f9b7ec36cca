"""coda called from several threads and processes at once: coda._parallel's pool and limits."""

import ast
import copy
import os
import pickle
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

import coda
from coda import _parallel
from coda.merging import describe, ties_merge


@pytest.fixture
def two_threads(monkeypatch):
    # coda's blocks go to two threads whatever the machine's cores (on one
    # core, the pool's one worker then runs the blocks of every call).
    monkeypatch.setattr(_parallel.numba, "get_num_threads", lambda: 2)


def test_a_call_does_not_wait_for_its_queued_task_behind_another_calls_work(
    monkeypatch, two_threads
):
    # The pool's one worker is busy with another thread's long call. The
    # caller's own thread does every block, yet it waited for its task,
    # queued behind that work, to start and find nothing left: a 10 ms clr
    # took as long as a clr of 300 MB in another thread.
    x = np.random.default_rng(0).lognormal(size=(_parallel._SERIAL_BYTES // 64 + 1000, 8))
    expected = coda.clr(x)
    pool = ThreadPoolExecutor(max_workers=1)
    release = threading.Event()
    pool.submit(release.wait, 60)
    monkeypatch.setattr(_parallel, "_executor", lambda: pool)
    got = []
    done = threading.Event()

    def call():
        got.append(coda.clr(x))
        done.set()

    caller = threading.Thread(target=call, daemon=True)
    caller.start()
    try:
        # A guard against a hang, not a measure of time: the call needs the
        # busy worker only if it waits for its queued task.
        returned = done.wait(timeout=20)
    finally:
        release.set()
        caller.join(timeout=60)
        pool.shutdown()
    assert returned, "clr waited for a task queued behind another call's work"
    np.testing.assert_array_equal(got[0], expected)


_FORK_INSIDE_ONE_BLAS_THREAD = """
import os
import threading

from threadpoolctl import threadpool_info

from coda import _parallel


def blas_threads():
    return sorted(p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas")


before = blas_threads()
inside, leave = threading.Event(), threading.Event()


def hold():
    # As a coda.pcor_bootstrap running in a thread of its own.
    with _parallel.one_blas_thread():
        inside.set()
        leave.wait(60)


holder = threading.Thread(target=hold)
holder.start()
inside.wait(60)
read, write = os.pipe()
pid = os.fork()
if pid == 0:
    os.write(write, repr(blas_threads()).encode())
    os._exit(0)
os.close(write)
child = os.read(read, 1000).decode()
os.waitpid(pid, 0)
leave.set()
holder.join()
print(before, child, blas_threads(), sep="|")
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_child_forked_inside_one_blas_thread_gets_the_blas_threads_back():
    # The thread that restores the caller's BLAS settings is not copied by
    # fork: the child kept BLAS on one thread for good.
    # OpenBLAS caps the variable at the number of cores: on one core the
    # parent has one thread too, and the check below cannot tell them apart.
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "2"}
    done = subprocess.run(
        [sys.executable, "-c", _FORK_INSIDE_ONE_BLAS_THREAD],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    before, child, after = (ast.literal_eval(part) for part in done.stdout.strip().split("|"))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert before and set(before) == {min(2, cores or 1)}, done.stdout
    assert child == before, f"the child's BLAS threads {child}, the parent's {before}"
    assert after == before


def _same(a, b) -> bool:
    if isinstance(a, pd.DataFrame | pd.Series):
        return a.equals(b)
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)
    if hasattr(a, "__dataclass_fields__"):
        return type(a) is type(b) and all(_same(getattr(a, k), getattr(b, k)) for k in vars(a))
    return a == b


def test_results_survive_pickle_and_deepcopy_for_other_processes():
    # Results go back from multiprocessing and dask.distributed workers by pickle.
    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.lognormal(size=(60, 5)), columns=list("abcde"))
    base = {"w": rng.standard_normal(300).astype(np.float32)}
    models = [{"w": base["w"] + rng.standard_normal(300).astype(np.float32)} for _ in range(3)]
    results = [
        coda.pcor_shrink(x),
        coda.pcor_glasso(x),
        coda.pcor_bootstrap(x, n_boot=20, seed=0),
        coda.simulate(40, 5, seed=0),
        coda.biplot_coordinates(x),
        describe(base, models, density=0.5, seed=0),
    ]
    for result in results:
        assert _same(pickle.loads(pickle.dumps(result)), result), type(result).__name__
        assert _same(copy.deepcopy(result), result), type(result).__name__


def test_concurrent_ties_merges_match_serial_ones(two_threads):
    # The top-k histograms were kept per pool thread and reused: a block of
    # one call zeroed and refilled them while another call still counted
    # into them or read them, and 10 of 32 merges came out wrong (up to 88%
    # of their entries). Tensors of different scales have different cuts.
    rng = np.random.default_rng(0)
    n = 1_000_000
    jobs = []
    for j in range(6):
        base = {"w": (0.02 * rng.standard_normal(n)).astype(np.float32)}
        scale = 10.0 ** (j - 3)
        noise = [(scale * rng.standard_normal(n)).astype(np.float32) for _ in range(3)]
        jobs.append((base, [{"w": base["w"] + e} for e in noise]))
    serial = [ties_merge(base, models, density=0.2)["w"] for base, models in jobs]
    for _ in range(3):
        with ThreadPoolExecutor(len(jobs)) as pool:
            calls = [pool.submit(ties_merge, base, models, density=0.2) for base, models in jobs]
            merged = [call.result(timeout=120)["w"] for call in calls]
        for expected, got in zip(serial, merged, strict=True):
            np.testing.assert_array_equal(got, expected)


def test_the_histogram_lender_never_lends_one_array_twice_and_keeps_few():
    from coda.merging import _top_k

    lender = _top_k._Lender(keep=2)
    lent = [lender.take((2, 8), np.int32) for _ in range(5)]
    assert len({id(array) for array in lent}) == 5
    lender.give_back(lent)
    again = [lender.take((2, 8), np.int32) for _ in range(3)]
    # Two were kept (and are lent again); what five concurrent calls took beyond that is dropped.
    assert sum(any(array is old for old in lent) for array in again) == 2
