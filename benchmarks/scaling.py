"""Scaling curves: how time and peak memory grow with the size of the problem.

``python -m benchmarks.scaling [--quick] [--out DIR] [--only CURVES] [--repeats N]``

Four curves, each point the fastest and the median of ``repeats`` calls after
a warm-up call, and the peak of memory traced during one more call (numpy
reports its allocations to :mod:`tracemalloc`; the input is made before and
not counted). The fits use the fastest call: on a machine shared with other
work, a call can only be slowed by the others, never sped up, so the minimum
is the least disturbed estimate of the cost (the median is kept in the CSV):

- ``pcor_n``: ``coda.pcor`` exact against n at D = 200, n = 1,000 ... 256,000
  (doubling). Expected: time and memory linear in n (the Gram product costs
  n D^2 flops, the log data n D values), so log-log slopes of 1.
- ``pcor_d``: ``coda.pcor`` exact against D at n = 20,000, D = 100 ... 1,600.
  Expected: time c n D + a n D^2 + b D^3 (logs, Gram product, then Cholesky
  and inverse), fitted by non-negative least squares; 1/a and 1/b are the
  flop rates of the dense steps, to compare with the GEMM's. Memory n D (the
  log data) plus a few D^2.
- ``shrink_d``: ``coda.pcor(method="shrink")`` and ``"bshrink"`` against D at
  n = 100, D = 250 ... 8,000. Expected: no D^3 term when n << D, since the
  inverse is a rank-n update of a diagonal: time and memory grow as D^2 (the
  D x D result), slope 2 (a D^3 inverse would show slope 3).
- ``ties_p``: ``coda.merging.ties_merge`` in memory, ``scope="tensor"``,
  density 0.2, a base and 3 models of P float32 parameters in tensors of at
  most 1,000,000, against P = 1e5 ... 3.2e7. Expected: linear in P (a
  selection per tensor, not a sort), slope 1, at a fixed number of bytes per
  parameter.

Slopes are least-squares fits of log(time) and log(peak memory) on log(size)
over the largest points (``FIT_POINTS``), where fixed costs no longer matter.
The physical limits (``np.copy`` bandwidth, BLAS GEMM rate) are measured first
in the same process, so the rates implied by the fits can be compared with
them. Writes ``scaling.csv`` (every point), ``scaling_fits.csv`` (the fits)
and ``scaling_<curve>.png`` into DIR (default ``docs/_static``), and prints a
Markdown table. ``--quick`` runs three tiny points per curve into a temporary
folder unless ``--out`` is given: it checks that the script runs.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.optimize

import coda
from benchmarks._baselines import lognormal
from benchmarks._timing import (
    Limits,
    blas_threads,
    environment,
    load_average,
    markdown_table,
    measure_limits,
    peak_bytes,
    time_call,
)
from coda.merging import ties_merge

DOCS_STATIC = Path(__file__).resolve().parent.parent / "docs" / "_static"
FIT_POINTS = 5
REPEATS = 5
TENSOR = 1_000_000  # entries per tensor of the TIES models
N_MODELS = 3


@dataclass(frozen=True)
class Curve:
    """One scaling curve: the points to measure and what to expect of them."""

    name: str
    title: str
    variable: str  # "n", "D" or "P"
    methods: tuple[str, ...]
    points: tuple[int, ...]
    fixed: dict
    expected: float  # the expected log-log slope of time


def curves(quick: bool) -> dict[str, Curve]:
    if quick:
        return {
            "pcor_n": Curve("pcor_n", "pcor exact, D = 20", "n", ("exact",), (500, 1000, 2000),
                            {"d": 20}, 1.0),
            "pcor_d": Curve("pcor_d", "pcor exact, n = 500", "D", ("exact",), (10, 20, 40),
                            {"n": 500}, 2.0),
            "shrink_d": Curve("shrink_d", "pcor shrink and bshrink, n = 20", "D",
                              ("shrink", "bshrink"), (50, 100, 200), {"n": 20}, 2.0),
            "ties_p": Curve("ties_p", "TIES, 3 models", "P", ("ties",), (1_000, 2_000, 4_000),
                            {}, 1.0),
        }  # fmt: skip
    return {
        "pcor_n": Curve("pcor_n", "pcor exact, D = 200", "n", ("exact",),
                        tuple(1_000 * 2**k for k in range(9)), {"d": 200}, 1.0),
        "pcor_d": Curve("pcor_d", "pcor exact, n = 20,000", "D", ("exact",),
                        (100, 200, 400, 800, 1_600), {"n": 20_000}, 2.0),
        "shrink_d": Curve("shrink_d", "pcor shrink and bshrink, n = 100", "D",
                          ("shrink", "bshrink"), (250, 500, 1_000, 2_000, 4_000, 8_000),
                          {"n": 100}, 2.0),
        "ties_p": Curve("ties_p", "TIES, 3 models, scope tensor", "P", ("ties",),
                        tuple(int(p) for p in np.geomspace(1e5, 3.2e7, 9).round(-3)), {}, 1.0),
    }  # fmt: skip


def _models(p: int, seed: int = 0):
    """A float32 base of ``p`` parameters and ``N_MODELS`` fine-tuned copies."""
    rng = np.random.default_rng(seed)
    sizes = [TENSOR] * (p // TENSOR) + ([p % TENSOR] if p % TENSOR else [])
    base = {f"t{k:03d}": rng.standard_normal(s, dtype=np.float32) for k, s in enumerate(sizes)}
    models = [
        {
            name: w + 0.01 * rng.standard_normal(w.size, dtype=np.float32)
            for name, w in base.items()
        }
        for _ in range(N_MODELS)
    ]
    return base, models


def _call(curve: Curve, method: str, size: int) -> Callable[[], object]:
    """The measured call at one point, its data made outside it."""
    if curve.name == "ties_p":
        base, models = _models(size)
        return lambda: ties_merge(base, models, density=0.2, scope="tensor")
    n, d = (size, curve.fixed["d"]) if curve.variable == "n" else (curve.fixed["n"], size)
    x = lognormal(n, d)
    return lambda: coda.pcor(x, method=method)


def measure(curve: Curve, *, repeats: int) -> list[dict]:
    rows = []
    for method in curve.methods:
        for size in curve.points:
            fn = _call(curve, method, size)
            timing = time_call(fn, repeats=repeats)
            rows.append(
                {
                    "curve": curve.name,
                    "method": method,
                    "size": size,
                    "seconds": min(timing.seconds),
                    "median": timing.median,
                    "spread": timing.spread,
                    "peak_bytes": peak_bytes(fn),
                }
            )
            del fn
    return rows


def _slope(sizes, values) -> float:
    """Least-squares slope of log(values) on log(sizes) over the largest FIT_POINTS points."""
    sizes, values = np.asarray(sizes, float)[-FIT_POINTS:], np.asarray(values, float)[-FIT_POINTS:]
    return float(np.polyfit(np.log(sizes), np.log(values), 1)[0])


def _exact_model(n: int, d, seconds):
    """Non-negative least squares ``t = c n D + a n D^2 + b D^3``, relative errors weighted.

    ``c n D`` is the pass of logarithms over the data, ``a n D^2`` the Gram
    product, ``b D^3`` the Cholesky factorisation and inverse. Returns
    ``(c, a, b, worst relative residual)``.
    """
    d, seconds = np.asarray(d, float), np.asarray(seconds, float)
    terms = np.column_stack([n * d, n * d**2, d**3])
    # non-negative: a negative cost per value or flop would be no physical rate
    coef, _ = scipy.optimize.nnls(terms / seconds[:, None], np.ones_like(d))
    fitted = terms @ coef
    c, a, b = (float(v) for v in coef)
    return c, a, b, float(np.max(np.abs(fitted / seconds - 1.0)))


def _rate(cost: float) -> float:
    return 1 / cost if cost > 0 else float("inf")


def fits(curve: Curve, rows: list[dict], limits: Limits) -> list[dict]:
    out = []
    for method in curve.methods:
        mine = [r for r in rows if r["method"] == method]
        sizes = [r["size"] for r in mine]
        times = [r["seconds"] for r in mine]
        fit = {
            "curve": curve.name,
            "method": method,
            "expected_slope": curve.expected,
            "time_slope": _slope(sizes, times),
            "memory_slope": _slope(sizes, [r["peak_bytes"] for r in mine]),
            "note": "",
        }
        big, t_big = sizes[-1], times[-1]
        if curve.name == "pcor_n":
            d = curve.fixed["d"]
            rate = big * d * d / t_big
            fit["note"] = (
                f"{rate / 1e9:.1f} GFLOP/s counting n D^2 at n = {big:,} "
                f"(GEMM {limits.flop_rate / 1e9:.1f}); "
                f"{mine[-1]['peak_bytes'] / (big * d * 8):.2f}x the n x D float64 data"
            )
        elif curve.name == "pcor_d":
            n = curve.fixed["n"]
            c, a, b, worst = _exact_model(n, sizes, times)
            fit.update(log_ns=c * 1e9, gram_rate=_rate(a), cubic_rate=_rate(b))
            fit["note"] = (
                f"t = c n D + a n D^2 + b D^3: c = {c * 1e9:.2f} ns a value (logs), "
                f"1/a = {fit['gram_rate'] / 1e9:.1f} GFLOP/s (Gram), "
                f"1/b = {fit['cubic_rate'] / 1e9:.1f} GFLOP/s (D^3 steps); "
                f"GEMM {limits.flop_rate / 1e9:.1f} GFLOP/s; worst residual {worst:.0%}"
            )
        elif curve.name == "shrink_d":
            n = curve.fixed["n"]
            out_bytes = big * big * 8
            flops = 2 * n * big * big + 4 * n * n * big
            fit["note"] = (
                f"at D = {big:,}: {t_big * 1e3:.0f} ms, {flops / t_big / 1e9:.1f} GFLOP/s "
                f"counting 2 n D^2 + 4 n^2 D (GEMM {limits.flop_rate / 1e9:.1f}); "
                f"peak {mine[-1]['peak_bytes'] / out_bytes:.1f}x the D x D result"
            )
        else:
            moved = (N_MODELS + 2) * 4 * big  # base, models and result, float32
            fit["note"] = (
                f"at P = {big:,}: {moved / t_big / 1e9:.2f} GB/s over base + models + result "
                f"(copy {limits.rate('copy') / 1e9:.1f} GB/s); peak "
                f"{mine[-1]['peak_bytes'] / big:.1f} bytes per parameter (the result: 4)"
            )
        out.append(fit)
    return out


def _short(value: float) -> str:
    """Tick labels: 1,600 -> "1.6k", 32,000,000 -> "32M"."""
    for scale, suffix in ((1e6, "M"), (1e3, "k")):
        if value >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:g}"


def plot(curve: Curve, rows: list[dict], curve_fits: list[dict], path: Path) -> None:
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(7.5, 3.0), layout="constrained")
    for method, fit in zip(curve.methods, curve_fits, strict=True):
        mine = [r for r in rows if r["method"] == method]
        sizes = np.array([r["size"] for r in mine], float)
        times = np.array([r["seconds"] for r in mine])
        memory = np.array([r["peak_bytes"] for r in mine]) / 2**20
        label = method if len(curve.methods) > 1 else "measured"
        ax_t.plot(sizes, times, "o-", label=f"{label}: slope {fit['time_slope']:.2f}")
        ax_m.plot(sizes, memory, "o-", label=f"{label}: slope {fit['memory_slope']:.2f}")
        if "gram_rate" in fit:
            n = curve.fixed["n"]
            model = (
                fit["log_ns"] * 1e-9 * n * sizes
                + n * sizes**2 / fit["gram_rate"]
                + sizes**3 / fit["cubic_rate"]
            )
            ax_t.plot(sizes, model, "k--", lw=1, label="fit c n D + a n D^2 + b D^3")
    # the expected order through the last measured point
    last = [r for r in rows if r["method"] == curve.methods[0]]
    s = np.array([r["size"] for r in last], float)
    ax_t.plot(
        s,
        last[-1]["seconds"] * (s / s[-1]) ** curve.expected,
        ":",
        color="grey",
        label=f"slope {curve.expected:g}",
    )
    every = 1 if len(s) <= 6 else 2
    for ax, what in ((ax_t, "fastest call (s)"), (ax_m, "peak traced memory (MiB)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(s[::every], labels=[_short(v) for v in s[::every]], fontsize=7)
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel(curve.variable)
        ax.set_ylabel(what)
        ax.legend(fontsize=7)
        ax.grid(True, which="major", lw=0.3)
    fig.suptitle(curve.title, fontsize=10)
    fig.savefig(path, dpi=72)
    plt.close(fig)


def _numbers(row: dict) -> dict:
    """A CSV row with its numeric fields as numbers again, and its empty fields left out."""
    out = {}
    for key, value in row.items():
        if value == "":
            continue
        try:
            out[key] = float(value)
        except ValueError:
            out[key] = value
    return out


def replot(folder: Path, *, quick: bool) -> None:
    """Redraw every curve's PNG from ``scaling.csv`` and ``scaling_fits.csv`` in ``folder``."""
    with open(folder / "scaling.csv", newline="", encoding="utf-8") as handle:
        rows = [_numbers(row) for row in csv.DictReader(handle)]
    with open(folder / "scaling_fits.csv", newline="", encoding="utf-8") as handle:
        all_fits = [_numbers(row) for row in csv.DictReader(handle)]
    for curve in curves(quick).values():
        mine = [r for r in rows if r["curve"] == curve.name]
        if mine:
            fit = [f for f in all_fits if f["curve"] == curve.name]
            plot(curve, mine, fit, folder / f"scaling_{curve.name}.png")


def _kept(path: Path, measured) -> list[dict]:
    """Rows of an earlier CSV for the curves not measured now."""
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        return [_numbers(r) for r in csv.DictReader(handle) if r["curve"] not in measured]


def _write_csv(path: Path, rows: list[dict]) -> None:
    fields = list(dict.fromkeys(key for row in rows for key in row))
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def run(*, quick: bool, out: Path, only=None, repeats: int = REPEATS) -> str:
    """Measure the curves, write CSVs and PNGs into ``out``, return a Markdown report."""
    out.mkdir(parents=True, exist_ok=True)
    selected = curves(quick)
    if only:
        selected = {name: selected[name] for name in only}
    header = environment()
    limits = measure_limits(quick=quick, repeats=repeats)
    rows, all_fits = [], []
    for curve in selected.values():
        curve_rows = measure(curve, repeats=repeats)
        curve_fits = fits(curve, curve_rows, limits)
        plot(curve, curve_rows, curve_fits, out / f"scaling_{curve.name}.png")
        rows += curve_rows
        all_fits += curve_fits
    # A run of some curves keeps the other curves' rows of an earlier run.
    rows = _kept(out / "scaling.csv", selected) + rows
    all_fits = _kept(out / "scaling_fits.csv", selected) + all_fits
    _write_csv(out / "scaling.csv", rows)
    _write_csv(out / "scaling_fits.csv", all_fits)
    table = [
        [
            f["curve"],
            f["method"],
            f"{f['expected_slope']:g}",
            f"{f['time_slope']:.2f}",
            f"{f['memory_slope']:.2f}",
            f["note"],
        ]
        for f in all_fits
    ]
    return "\n".join(
        [
            "# coda scaling curves" + (" (quick)" if quick else ""),
            "",
            header,
            f"- load average at end: {load_average()}",
            "",
            limits.markdown(),
            "",
            "## Fitted slopes",
            "",
            f"Log-log least-squares slopes over the largest {FIT_POINTS} points; the fastest "
            f"of {repeats} calls after a warm-up call.",
            "",
            markdown_table(
                ["curve", "method", "expected", "time slope", "memory slope", "rates"], table
            ),
        ]
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="coda scaling curves (CSV, PNG, Markdown)")
    parser.add_argument("--quick", action="store_true", help="three tiny points per curve")
    parser.add_argument("--out", type=Path, default=None, help="folder for CSV and PNG files")
    parser.add_argument("--only", default=None, help="comma-separated curves, e.g. pcor_n")
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument(
        "--replot", action="store_true", help="redraw the PNGs from the CSVs in --out"
    )
    parser.add_argument(
        "--blas-threads", type=int, default=None, help="limit BLAS to this many threads"
    )
    args = parser.parse_args(argv)
    with blas_threads(args.blas_threads):
        _main(args, parser)


def _main(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    if args.replot:
        replot(args.out or DOCS_STATIC, quick=args.quick)
        return
    only = None
    if args.only:
        only = [name.strip() for name in args.only.split(",") if name.strip()]
        unknown = sorted(set(only) - set(curves(args.quick)))
        if unknown:
            parser.error(
                f"--only: no curve {', '.join(unknown)}; choose from {', '.join(curves(False))}"
            )
    if args.out is None and args.quick:
        # quick points say nothing about scaling: keep them out of the docs
        with tempfile.TemporaryDirectory(prefix="coda-scaling-") as tmp:
            print(run(quick=True, out=Path(tmp), only=only, repeats=args.repeats))
        return
    out = args.out or DOCS_STATIC
    print(run(quick=args.quick, out=out, only=only, repeats=args.repeats))
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
