"""coda's dask path against its in-memory path: throughput in GB/s.

Data: strictly positive float64, D = 200 parts, written once (untimed) to a
``.npy`` file and memory-mapped, so the dask array reads it from the page
cache one chunk of rows at a time, as it would read a file too large for
memory. The dask case is 4 GB (2,500,000 rows); the in-memory case is the
first quarter of the same rows, 1 GB, loaded into a numpy array.

Each operation is timed on both and reported as bytes of input per second:

- ``pcor`` exact: one pass of row blocks, each giving a mean and a D x D
  co-moment, merged pairwise, then the D x D algebra (dask); the in-memory
  ``coda.pcor`` on 1 GB.
- ``clr``: ``coda.clr(dx).sum(axis=0).compute()`` (the clr streams through and
  is reduced to D numbers, so that nothing of input size is kept) against
  ``coda.clr`` of the 1 GB array (which writes a 1 GB result).
- the floor of the dask path: ``dx.sum(axis=0).compute()``, reading every
  chunk through dask and adding it up, with nothing of coda in it.

The threaded scheduler runs the dask cases, with ``numba`` and BLAS each given
the machine's cores. Run ``python -m benchmarks.bench_dask`` (see
``benchmarks/README.md``); it needs the dask extra.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

import coda
from benchmarks._timing import Headline, Section, Timing, main, markdown_table, seconds, time_call

TITLE = "The dask path"
PARTS = 200
ROWS = 2_500_000
QUICK_ROWS = 100_000
CHUNK_BYTES = 64 << 20
REPEATS = 3


def write_data(path: Path, n: int, d: int, seed: int = 0) -> Path:
    """A ``.npy`` file of n x d log-normal values, written in blocks of rows."""
    rng = np.random.default_rng(seed)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=(n, d))
    step = max(1, CHUNK_BYTES // (8 * d))
    for start in range(0, n, step):
        stop = min(n, start + step)
        out[start:stop] = np.exp(rng.standard_normal((stop - start, d)))
    out.flush()
    del out
    return path


def _rate(nbytes: int, timing) -> str:
    return f"{nbytes / timing.median / 1e9:.2f} GB/s"


def run(*, quick: bool = False, repeats: int | None = None) -> Section:
    try:
        import dask
        import dask.array as da
    except ImportError:
        return Section(f'## {TITLE}\n\ndask is not installed: `pip install -e ".[dask]"`.')
    repeats = repeats or REPEATS
    n = QUICK_ROWS if quick else ROWS
    with tempfile.TemporaryDirectory() as tmp:
        path = write_data(Path(tmp) / "x.npy", n, PARTS)
        mapped = np.load(path, mmap_mode="r")
        rows_per_chunk = max(1, CHUNK_BYTES // (8 * PARTS))
        dx = da.from_array(mapped, chunks=(rows_per_chunk, PARTS))
        x = np.array(mapped[: n // 4])
        big, small = dx.nbytes, x.nbytes
        with dask.config.set(scheduler="threads"):
            timings = {
                "pcor": (
                    time_call(lambda: coda.pcor(dx), repeats=repeats),
                    time_call(lambda: coda.pcor(x), repeats=repeats),
                ),
                "clr": (
                    time_call(lambda: coda.clr(dx).sum(axis=0).compute(), repeats=repeats),
                    time_call(lambda: coda.clr(x), repeats=repeats),
                ),
                "read": (
                    time_call(lambda: dx.sum(axis=0).compute(), repeats=repeats),
                    time_call(lambda: x.sum(axis=0), repeats=repeats),
                ),
            }
            diff = np.abs(coda.pcor(dx[: n // 4]) - coda.pcor(x)).max()
    rows, headlines = [], []
    for name, label in (
        ("pcor", "pcor exact"),
        ("clr", "clr (dask: reduced to column sums)"),
        ("read", "read and sum, no coda (the floor)"),
    ):
        lazy, eager = timings[name]
        rows.append(
            [
                label,
                seconds(lazy.median),
                _rate(big, lazy),
                seconds(eager.median),
                _rate(small, eager),
                f"{(big / lazy.median) / (small / eager.median):.2f}",
                f"{max(lazy.spread, eager.spread):.0%}",
            ]
        )
        # The in-memory call ran on a quarter of the rows: its times scaled to
        # the same bytes make "baseline / coda" the ratio of the two rates.
        scaled = Timing(tuple(t * big / small for t in eager.seconds))
        headlines.append(
            Headline(
                f"{label} on dask (threads)",
                f"{n:,} x {PARTS} ({big / 1e9:.2g} GB)",
                lazy,
                f"in memory on {small / 1e9:.2g} GB, time x {big // small}",
                scaled,
                bound="copy",
                work=float(big),
            )
        )
    headers = [
        "operation",
        f"dask, {big / 1e9:.2g} GB",
        "dask rate",
        f"in memory, {small / 1e9:.2g} GB",
        "in-memory rate",
        "dask / in-memory rate",
        "max spread",
    ]
    text = [
        f"## {TITLE}" + (" (quick)" if quick else ""),
        "",
        f"{n:,} x {PARTS} float64 memory-mapped from a .npy file in chunks of "
        f"{rows_per_chunk:,} rows ({CHUNK_BYTES >> 20} MiB), threaded scheduler; "
        f"in memory: the first {n // 4:,} rows. Medians of {repeats} calls after a "
        "warm-up call; rates are input bytes per second.",
        "",
        markdown_table(headers, rows),
        "",
        f"max |pcor(dask) - pcor(numpy)| on the same {n // 4:,} rows: {diff:.1e}",
    ]
    return Section("\n".join(text), tuple(headlines))


if __name__ == "__main__":
    main([sys.modules[__name__]])
