"""Shared helpers for the benchmarks: wall-clock medians, peak memory, Markdown,
the physical limits of the machine and the command line of the runner.

Timing: each call runs ``repeats`` times after one untimed warm-up call (which
also compiles or loads numba kernels), with the garbage collector off, and the
median is reported together with the spread (max - min) / median so that a
noisy machine shows up in the table instead of hiding in a single number.
Calls that are compared can be timed in turns (:func:`time_interleaved`);
before each timed call of a large array, fresh memory is touched so that
every call meets the page faults of an ordinary machine (:data:`PREFAULT`).

Memory: numpy reports its array allocations to :mod:`tracemalloc`, so the peak
of traced memory during one call, less what was traced before it, is the
memory the call allocated at its worst moment, output included. The input is
allocated before tracing starts and is not counted.

Limits: the memory bandwidth is measured by ``np.copy`` of a large array
(bytes read plus bytes written, per second) and dense algebra by a BLAS GEMM
of the size of ``pcor``'s Gram product (flops per second). Each module may
return a :class:`Section` whose :class:`Headline` rows name the limit that
binds the operation and the work it does (bytes moved or flops), so the
summary can show the fraction of that limit each operation reaches.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import mmap
import os
import platform
import statistics
import sys
import time
import traceback
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path


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


# Pause before each timed call: 0.2 s in full runs of the runner, none in
# quick ones. OpenBLAS's threads keep spinning for about 0.1 s after a call
# returns, so a call timed in turns right after a BLAS-heavy baseline shared
# the cores with them (coda's ilr at 10,000 x 2,000, medians of 7 calls
# after a matrix product: 34 ms with no pause, 51 ms with 0.02 s, 27.5 and
# 29 ms with 0.2 and 0.5 s).
SETTLE_SECONDS = 0.0

# Fresh memory touched and freed right before each timed call that passes
# ``prefault`` (bytes; ``--no-prefault`` turns it off). Some virtual machines
# hand free guest memory back to their host (Linux's free page reporting,
# shown in the header): memory freed a moment ago is then cheap to use again,
# memory left free for about a second costs the host's faults too. On the
# 2-core Xeon VM of run 20, ``np.copy`` of 800 MB took 0.26-0.31 s right
# after a copy of the same size was freed and 1.7-2.4 s after a pause of
# 1-5 s, so a call's time depended on how long the call before it had
# run. Touching enough memory first gives every call the page faults of an
# ordinary machine, the same for coda and its baselines.
PREFAULT = True


def _settle(prefault: int = 0) -> None:
    if SETTLE_SECONDS > 0:
        time.sleep(SETTLE_SECONDS)
    if prefault and PREFAULT:
        touch_memory(prefault)


def touch_memory(nbytes: int) -> None:
    """Write one byte per page of ``nbytes`` of new memory, then free it."""
    import numpy as np

    scratch = np.empty(nbytes, dtype=np.uint8)
    scratch[:: mmap.PAGESIZE] = 1
    del scratch


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
            _settle()
            start = time.perf_counter()
            fn()
            seconds.append(time.perf_counter() - start)
    finally:
        if enabled:
            gc.enable()
    return Timing(tuple(seconds))


def time_interleaved(
    fns: dict[str, Callable[[], object]],
    *,
    repeats: dict[str, int],
    warmup: int = 1,
    prefault: int = 0,
) -> dict[str, Timing]:
    """Timings of several calls taken in turns (a, b, c, a, b, c, ...).

    On a machine whose load changes, calls timed in turns see the same load,
    so their ratios are fairer than those of calls timed one after the
    other. ``repeats[name]`` sets each call's number of timed runs.
    ``prefault``: bytes of fresh memory to touch before each timed call
    (:data:`PREFAULT`), about the most any of the calls allocates.
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
                    _settle(prefault)
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


def _read_proc(path: str, key: str) -> str | None:
    """The value of the first ``key: value`` line of a /proc file (Linux), else None."""
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                name, _, value = line.partition(":")
                if name.strip() == key:
                    return value.strip()
    except OSError:
        return None
    return None


def _read_file(path: str) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError:
        return None


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f}"


def environment() -> str:
    """What the numbers depend on: machine, versions, threads, BLAS kernel, load."""
    import numba
    import numpy as np
    import scipy

    cpu = _read_proc("/proc/cpuinfo", "model name") or platform.processor() or platform.machine()
    memory = _read_proc("/proc/meminfo", "MemTotal")
    memory = f"{int(memory.split()[0]) / 2**20:.1f} GiB" if memory else "unknown"
    lines = [
        f"- machine: {cpu}, {os.cpu_count()} cores, {memory} of memory",
        f"- python {platform.python_version()}, numpy {np.__version__}, "
        f"scipy {scipy.__version__}, numba {numba.__version__} "
        f"({numba.get_num_threads()} threads)",
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
    lines.append(f"- {_memory_note()}")
    lines.append(f"- load average at start: {load_average()}")
    return "\n".join(lines)


def _memory_note() -> str:
    """Whether the kernel hands free memory back to a host, and what is done about it."""
    reported = _read_file("/sys/module/page_reporting/parameters/reported_kib")
    host = (
        "unknown whether free memory goes back to a host"
        if reported is None
        else "free page reporting to the host: "
        + (f"on, {int(reported) / 2**20:.1f} GiB so far" if reported != "0" else "not used")
    )
    touch = "touched before each timed large call" if PREFAULT else "not touched (--no-prefault)"
    return f"memory: {host}; fresh memory {touch}"


# The physical limits: bytes of the copied array, and the GEMM's (n, D), the
# shape of pcor's exact benchmark (benchmarks/bench_covariance.py).
COPY_BYTES = 1 << 30
QUICK_COPY_BYTES = 1 << 26
GEMM_SHAPE = (10_000, 1_000)
QUICK_GEMM_SHAPE = (2_000, 200)


@dataclass(frozen=True)
class Limits:
    """Memory bandwidth by copies and dense algebra by a BLAS GEMM, measured here.

    Two copies of the same array into new memory: ``np.copy``, which runs in
    one thread (the floor the issues name), and the same copy split over
    coda's threads (``coda._parallel.for_row_blocks``). The faster of the
    two is the rate a streaming operation could reach, against which the
    summary sets coda's rates. The rates come from the fastest call: a limit
    is what the machine can do, and other work on it can only slow a call
    down.
    """

    copy_bytes: int
    copy: Timing
    threads: int
    copy_threads: Timing
    gemm_shape: tuple[int, int]
    gemm: Timing

    @property
    def bandwidth(self) -> float:
        """Bytes per second of ``np.copy``, read plus written."""
        return 2 * self.copy_bytes / min(self.copy.seconds)

    @property
    def threaded_bandwidth(self) -> float:
        """Bytes per second of the copy on coda's threads, read plus written."""
        return 2 * self.copy_bytes / min(self.copy_threads.seconds)

    @property
    def flop_rate(self) -> float:
        """Floating-point operations per second of ``Y^T Y`` (Y is n x D): 2 n D^2 flops."""
        n, d = self.gemm_shape
        return 2 * n * d * d / min(self.gemm.seconds)

    def rate(self, bound: str) -> float:
        if bound == "copy":
            return max(self.bandwidth, self.threaded_bandwidth)
        return self.flop_rate

    def markdown(self) -> str:
        n, d = self.gemm_shape
        mib = f"{self.copy_bytes / 2**20:,.0f} MiB float64"
        rows = [
            [
                f"memory bandwidth: np.copy of {mib} (one thread)",
                seconds(min(self.copy.seconds)),
                seconds(self.copy.median),
                f"{self.bandwidth / 1e9:.1f} GB/s (read + write)",
                f"{self.copy.spread:.0%}",
            ],
            [
                f"memory bandwidth: the same copy on {self.threads} threads",
                seconds(min(self.copy_threads.seconds)),
                seconds(self.copy_threads.median),
                f"{self.threaded_bandwidth / 1e9:.1f} GB/s (read + write)",
                f"{self.copy_threads.spread:.0%}",
            ],
            [
                f"dense algebra: BLAS dgemm Y^T Y, Y {n:,} x {d:,}",
                seconds(min(self.gemm.seconds)),
                seconds(self.gemm.median),
                f"{self.flop_rate / 1e9:.1f} GFLOP/s",
                f"{self.gemm.spread:.0%}",
            ],
        ]
        return "\n".join(
            [
                "## Physical limits",
                "",
                "Measured in the same process, before the benchmarks; rates from the "
                "fastest call. An operation that streams its data cannot beat the "
                "faster copy's bandwidth (the summary's rates are fractions of it; "
                "`np.copy`, one thread, is the floor the issues name); one made of "
                "dense products cannot beat the GEMM's rate. Under "
                "a changing load a later call can beat a limit measured at a busier "
                "moment: fractions above 100% say so.",
                "",
                markdown_table(["limit", "fastest", "median", "rate", "spread"], rows),
            ]
        )


def threaded_copy(x):
    """A copy of the rows of ``x`` into a new array, in the blocks and threads of coda."""
    import numpy as np

    from coda._parallel import for_row_blocks

    out = np.empty_like(x)

    def run(start: int, stop: int) -> None:
        np.copyto(out[start:stop], x[start:stop])

    for_row_blocks(run, x.shape[0], x[:1].nbytes)
    return out


def measure_limits(*, quick: bool, repeats: int) -> Limits:
    """Time copies of a large array and scipy's BLAS ``dgemm`` at pcor's size.

    scipy's BLAS, because coda's dense steps (syrk, potrf) run there.
    """
    import numba
    import numpy as np
    import scipy.linalg

    copy_bytes = QUICK_COPY_BYTES if quick else COPY_BYTES
    rng = np.random.default_rng(0)
    # Rows of 128 values (1 KB), about those of the transforms' largest shape.
    x = rng.random(copy_bytes // 8).reshape(-1, 128)
    copies = time_interleaved(
        {"one": lambda a=x: np.copy(a), "threads": lambda a=x: threaded_copy(a)},
        repeats={"one": repeats, "threads": repeats},
        prefault=2 * x.nbytes,
    )
    del x
    n, d = QUICK_GEMM_SHAPE if quick else GEMM_SHAPE
    # Y^T in Fortran order is Y's own memory: BLAS reads it without a copy.
    y_t = rng.standard_normal((n, d)).T
    gemm = time_call(lambda: scipy.linalg.blas.dgemm(1.0, y_t, y_t, trans_b=True), repeats=repeats)
    return Limits(
        copy_bytes, copies["one"], numba.get_num_threads(), copies["threads"], (n, d), gemm
    )


@dataclass(frozen=True)
class Headline:
    """One row of the summary: a coda call, its baseline, the target and the binding limit.

    ``target`` is the least speed-up (baseline time / coda time) the issue
    asks for: 3 means "at least 3x faster", 1/1.5 means "within 1.5x of the
    baseline"; None means no target. ``bound`` is ``"copy"`` (memory
    bandwidth; ``work`` in bytes read plus written) or ``"gemm"`` (dense
    algebra; ``work`` in flops), or None when no limit applies.
    """

    operation: str
    shape: str
    coda: Timing
    baseline: str
    base: Timing
    target: float | None = None
    bound: str | None = None
    work: float = 0.0

    @property
    def speedup(self) -> float:
        return self.base.median / self.coda.median

    @property
    def met(self) -> bool | None:
        return None if self.target is None else self.speedup >= self.target

    def target_text(self) -> str:
        """``"within 1.5x"``, ``">= 3x faster"`` or ``""``."""
        if self.target is None:
            return ""
        if self.target < 1:
            return f"within {1 / self.target:.3g}x"
        return f">= {self.target:.3g}x faster"

    def goal(self) -> str:
        """The target as a sentence: ``"pcor exact within 1.5x of Gram + Cholesky floor"``."""
        joint = "of" if self.target is not None and self.target < 1 else "than"
        return f"{self.operation} {self.target_text()} {joint} {self.baseline}"

    def limit_text(self, limits: Limits | None) -> str:
        """The achieved rate and its fraction of the binding limit."""
        if self.bound is None or limits is None:
            return ""
        achieved = self.work / self.coda.median
        unit = "GB/s of copy" if self.bound == "copy" else "GFLOP/s of GEMM"
        return (
            f"{achieved / 1e9:.3g} of {limits.rate(self.bound) / 1e9:.3g} {unit} "
            f"({achieved / limits.rate(self.bound):.0%})"
        )


@dataclass(frozen=True)
class Section:
    """What a ``bench_*`` module's ``run`` returns: its Markdown and its summary rows."""

    markdown: str
    headlines: tuple[Headline, ...] = field(default_factory=tuple)


TARGET_HEADER = "| target | measured |  |"


def target_rows(markdown: str) -> list[list[str]]:
    """``[target, measured, verdict]`` of every target table in a module's Markdown.

    Modules that return plain Markdown enter the summary through these tables
    (``markdown_table(["target", "measured", ""], ...)``).
    """
    rows, inside = [], False
    for line in markdown.splitlines():
        if line.startswith(TARGET_HEADER):
            inside = True
        elif inside and line.startswith("|") and not line.startswith("| :---"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif not line.startswith("|"):
            inside = False
    return rows


def summary(sections: dict[str, Section], limits: Limits | None) -> str:
    """The table of every headline operation, then the targets of plain-Markdown modules."""
    rows = []
    for section in sections.values():
        for h in section.headlines:
            verdict = {None: "", True: "met", False: "**missed**"}[h.met]
            rows.append(
                [
                    h.operation,
                    h.shape,
                    seconds(h.coda.median),
                    h.baseline,
                    seconds(h.base.median),
                    f"{h.speedup:.2f}x",
                    h.target_text(),
                    verdict,
                    h.limit_text(limits),
                ]
            )
    headers = [
        "operation",
        "shape",
        "coda",
        "baseline",
        "baseline median",
        "baseline / coda",
        "target",
        "",
        "coda's rate of the binding limit",
    ]
    text = [
        "## Summary",
        "",
        "Medians (details and spreads in each module's section below); baseline / coda "
        "is the speed-up, below 1 when the baseline is faster (as a floor is).",
        "",
        markdown_table(headers, rows) if rows else "(no headline rows)",
    ]
    others = [
        [name, *row]
        for name, section in sections.items()
        if not section.headlines
        for row in target_rows(section.markdown)
    ]
    if others:
        text += [
            "",
            "Targets of the modules that report no headline rows:",
            "",
            markdown_table(["module", "target", "measured", ""], others),
        ]
    return "\n".join(text)


def _select(modules: Sequence, only: str | None, parser: argparse.ArgumentParser) -> list:
    if not only:
        return list(modules)
    stems = {m.__name__.rsplit(".", 1)[-1].removeprefix("bench_"): m for m in modules}
    wanted = [name.strip().removeprefix("bench_") for name in only.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in stems]
    if unknown:
        parser.error(
            f"--only: no benchmark module {', '.join(unknown)}; choose from {', '.join(stems)}"
        )
    return [stems[name] for name in wanted]


def blas_threads(count: int | None):
    """A context limiting BLAS to ``count`` threads (threadpoolctl); no limit for None.

    On a machine shared with other busy processes, multithreaded OpenBLAS
    calls can run several times slower than on one thread, because its
    threads wait for each other while descheduled; one thread gives steadier
    figures there. The header shows the threads in force.
    """
    if count is None:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=count, user_api="blas")


def main(modules: Sequence, argv: Sequence[str] | None = None) -> None:
    """Command line shared by ``python -m benchmarks`` and each bench module.

    Each module has a ``run(*, quick, repeats)`` returning Markdown or a
    :class:`Section`. One process runs the physical limits, then each module;
    the report is the header, the limits, the summary and each module's
    section, printed as it goes (the summary last) and written in order to
    ``--out``.
    """
    parser = argparse.ArgumentParser(description="coda benchmarks (Markdown to stdout)")
    parser.add_argument("--quick", action="store_true", help="small shapes, under two minutes")
    parser.add_argument("--repeats", type=int, default=None, help="timed calls per measurement")
    parser.add_argument("--out", default=None, help="also write the Markdown to this file")
    parser.add_argument(
        "--only", default=None, help="comma-separated modules, e.g. transforms,covariance"
    )
    parser.add_argument(
        "--no-limits", action="store_true", help="skip measuring the copy and GEMM limits"
    )
    parser.add_argument(
        "--blas-threads", type=int, default=None, help="limit BLAS to this many threads"
    )
    parser.add_argument(
        "--no-prefault",
        action="store_true",
        help="do not touch fresh memory before timed calls (see PREFAULT in _timing.py)",
    )
    args = parser.parse_args(argv)
    with blas_threads(args.blas_threads):
        _run(modules, args, parser)


def _run(modules: Sequence, args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    global SETTLE_SECONDS, PREFAULT
    SETTLE_SECONDS = 0.0 if args.quick else 0.2
    PREFAULT = not args.no_prefault
    selected = _select(modules, args.only, parser)
    start = time.perf_counter()
    title = "# coda benchmarks" + (" (quick)" if args.quick else "")
    header = [title, "", environment()]
    print("\n".join(header), flush=True)
    limits = None
    if not args.no_limits:
        limits = measure_limits(quick=args.quick, repeats=args.repeats or 5)
        print("\n" + limits.markdown(), flush=True)
    sections: dict[str, Section] = {}
    failed = []
    for module in selected:
        name = module.__name__.rsplit(".", 1)[-1]
        try:
            result = module.run(quick=args.quick, repeats=args.repeats)
        except Exception:
            # One broken module must not hide the others' results; the run
            # still fails at the end, so CI notices.
            failed.append(name)
            result = f"## {name}: failed\n\n```text\n{traceback.format_exc()}```"
        section = result if isinstance(result, Section) else Section(result)
        sections[name] = section
        print("\n" + section.markdown, flush=True)
    end = f"- load average at end: {load_average()}; total {time.perf_counter() - start:.0f} s"
    table = summary(sections, limits)
    print("\n" + end + "\n\n" + table, flush=True)
    if args.out:
        parts = [*header, end]
        if limits is not None:
            parts += ["", limits.markdown()]
        parts += ["", table]
        parts += [text for section in sections.values() for text in ("", section.markdown)]
        Path(args.out).write_text("\n".join(parts) + "\n", encoding="utf-8")
        print(f"\nwritten to {args.out}", file=sys.stderr)
    if failed:
        sys.exit(f"benchmark modules failed: {', '.join(failed)}")
