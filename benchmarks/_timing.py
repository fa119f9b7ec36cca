"""Shared helpers for the benchmarks: wall-clock medians, peak memory, Markdown.

Timing: each call runs ``repeats`` times after one untimed warm-up call (which
also compiles or loads numba kernels), with the garbage collector off, and the
median is reported together with the spread (max - min) / median so that a
noisy machine shows up in the table instead of hiding in a single number.
Calls that are compared can be timed in turns (:func:`time_interleaved`).

Memory: numpy reports its array allocations to :mod:`tracemalloc`, so the peak
of traced memory during one call, less what was traced before it, is the
memory the call allocated at its worst moment, output included. The input is
allocated before tracing starts and is not counted.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    """Wall-clock seconds of repeated calls."""

    seconds: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def spread(self) -> float:
        """(max - min) / median: 0.1 means the repeats vary by about 10%."""
        return (max(self.seconds) - min(self.seconds)) / self.median


def time_call(fn: Callable[[], object], *, repeats: int, warmup: int = 1) -> Timing:
    """Median-ready timings of ``fn()``; the result of each call is dropped at once."""
    for _ in range(warmup):
        fn()
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        seconds = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            seconds.append(time.perf_counter() - start)
    finally:
        if enabled:
            gc.enable()
    return Timing(tuple(seconds))


def time_interleaved(
    fns: dict[str, Callable[[], object]], *, repeats: dict[str, int], warmup: int = 1
) -> dict[str, Timing]:
    """Timings of several calls taken in turns (a, b, c, a, b, c, ...).

    On a machine whose load changes, calls timed in turns see the same load,
    so their ratios are fairer than those of calls timed one after the
    other. ``repeats[name]`` sets each call's number of timed runs.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    try:
        for round_ in range(max(repeats.values())):
            for name, fn in fns.items():
                if round_ < repeats[name]:
                    start = time.perf_counter()
                    fn()
                    samples[name].append(time.perf_counter() - start)
    finally:
        if enabled:
            gc.enable()
    return {name: Timing(tuple(values)) for name, values in samples.items()}


def peak_bytes(fn: Callable[[], object]) -> int:
    """Bytes allocated by ``fn()`` at its peak, its result included."""
    gc.collect()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
        del result
    finally:
        tracemalloc.stop()
    return peak - before


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub-flavoured Markdown table: first column left-aligned, the rest right."""
    cells = [[str(c) for c in row] for row in rows]
    align = [":---"] + ["---:"] * (len(headers) - 1)
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines)


def seconds(value: float) -> str:
    """Seconds with three significant digits, in ms below one second."""
    return f"{value * 1e3:.3g} ms" if value < 1 else f"{value:.3g} s"


def environment() -> str:
    """What the numbers depend on: versions, threads, BLAS kernel, machine load."""
    import numba
    import numpy as np

    lines = [
        f"- python {platform.python_version()}, numpy {np.__version__}, numba {numba.__version__}",
        f"- CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        f"numba threads {numba.get_num_threads()}",
        "- OPENBLAS_CORETYPE="
        + os.environ.get("OPENBLAS_CORETYPE", "(unset)")
        + ", OPENBLAS_L2_SIZE="
        + os.environ.get("OPENBLAS_L2_SIZE", "(unset)"),
    ]
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        lines.append("- BLAS: threadpoolctl not installed, kernel unknown")
    else:
        for pool in threadpool_info():
            if pool.get("user_api") == "blas":
                lines.append(
                    f"- BLAS: {pool['internal_api']} {pool.get('version')} "
                    f"kernel {pool.get('architecture')}, {pool['num_threads']} threads "
                    f"({os.path.basename(pool['filepath'])})"
                )
    load = os.getloadavg()
    lines.append(f"- load average at start: {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}")
    return "\n".join(lines)


def main(modules: Sequence, argv: Sequence[str] | None = None) -> None:
    """Command line shared by ``python -m benchmarks`` and each bench module.

    Each module has a ``run(*, quick, repeats) -> str`` returning Markdown.
    """
    parser = argparse.ArgumentParser(description="coda benchmarks (Markdown to stdout)")
    parser.add_argument("--quick", action="store_true", help="small shapes, well under a minute")
    parser.add_argument("--repeats", type=int, default=None, help="timed calls per measurement")
    parser.add_argument("--out", default=None, help="also write the Markdown to this file")
    args = parser.parse_args(argv)
    parts = ["# coda benchmarks" + (" (quick)" if args.quick else ""), "", environment()]
    print("\n".join(parts), flush=True)
    for module in modules:
        section = module.run(quick=args.quick, repeats=args.repeats)
        print("\n" + section, flush=True)
        parts += ["", section]
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            handle.write("\n".join(parts) + "\n")
        print(f"\nwritten to {args.out}", file=sys.stderr)
