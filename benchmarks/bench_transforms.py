"""coda's closure, clr, ilr and multiplicative zero replacement against peers.

For each shape, on one float64 array in (0, 1] (for zero replacement, the same
array with every value below 0.1 set to zero, about 10% zeros), it times:

- coda's function with its defaults (validation included);
- a plain numpy version of the same formula (the obvious vectorised code);
- scikit-bio's equivalent with its defaults (``closure``, ``clr``, ``ilr``,
  ``multi_replace``), when scikit-bio is installed;
- ``np.copy`` of the input: reading the input and writing a new array of the
  same size is the memory-bandwidth floor for any transform that returns one.

Run ``python -m benchmarks.bench_transforms`` (see ``benchmarks/README.md``).
"""

from __future__ import annotations

import sys

import numpy as np

import coda
from benchmarks._timing import (
    Headline,
    Section,
    Timing,
    main,
    markdown_table,
    peak_bytes,
    seconds,
    time_interleaved,
)

try:
    from skbio.stats import composition as skbio_composition
except ImportError:  # scikit-bio is an optional peer (the "bench" extra)
    skbio_composition = None

TITLE = "Transforms"
SHAPES = ((1_000_000, 100), (10_000, 2_000))
QUICK_SHAPES = ((20_000, 100), (500, 2_000))
REPEATS = 5
QUICK_REPEATS = 3
ZERO_BELOW = 0.1


def numpy_closure(x):
    return x / x.sum(axis=1, keepdims=True)


def numpy_clr(x):
    logs = np.log(x)
    logs -= logs.mean(axis=1, keepdims=True)
    return logs


def numpy_ilr(x, basis):
    return numpy_clr(x) @ basis


def numpy_multiplicative(x):
    # Martin-Fernandez et al. (2003): zeros become delta, the other parts of a
    # row shrink by 1 - (number of zeros) * delta; delta = 1 / D**2 as in
    # scikit-bio's multi_replace.
    delta = 1.0 / x.shape[1] ** 2
    out = x / x.sum(axis=1, keepdims=True)
    zero = out == 0
    out *= 1.0 - delta * zero.sum(axis=1, keepdims=True)
    out[zero] = delta
    return out


def _operations(x, basis):
    """``(name, coda, numpy, scikit-bio or None)`` for the strictly positive ``x``."""
    sk = skbio_composition
    return [
        (
            "closure",
            lambda: coda.closure(x),
            lambda: numpy_closure(x),
            sk and (lambda: sk.closure(x)),
        ),
        ("clr", lambda: coda.clr(x), lambda: numpy_clr(x), sk and (lambda: sk.clr(x))),
        ("ilr", lambda: coda.ilr(x), lambda: numpy_ilr(x, basis), sk and (lambda: sk.ilr(x))),
    ]


def _zero_operations(x):
    sk = skbio_composition
    if not hasattr(coda, "replace_zeros"):
        return []
    return [
        (
            "replace_zeros multiplicative",
            # closed output, as scikit-bio's (coda keeps each row's total by default)
            lambda: coda.replace_zeros(x, method="multiplicative", output="proportions"),
            lambda: numpy_multiplicative(x),
            sk and (lambda: sk.multi_replace(x)),
        ),
    ]


def _measure(name, coda_fn, numpy_fn, skbio_fn, *, copy_fn, repeats, input_bytes):
    """Timings, peak memory (multiples of the input) and the coda-numpy difference.

    The four calls, ``np.copy`` included, are timed in turns, so that the
    ratios compare calls made under the same machine load.
    """
    row = {"name": name}
    fns = {"copy": copy_fn, "coda": coda_fn, "numpy": numpy_fn}
    counts = {"copy": repeats, "coda": repeats, "numpy": repeats}
    if skbio_fn:
        fns["skbio"], counts["skbio"] = skbio_fn, repeats
    # Touch about the most any of them allocates (scikit-bio's ilr: 2x the input).
    row.update(time_interleaved(fns, repeats=counts, prefault=3 * input_bytes))
    row.setdefault("skbio", None)
    row["mem_coda"] = peak_bytes(coda_fn) / input_bytes
    row["mem_numpy"] = peak_bytes(numpy_fn) / input_bytes
    row["mem_skbio"] = peak_bytes(skbio_fn) / input_bytes if skbio_fn else None
    ours, plain = coda_fn(), numpy_fn()
    row["out_bytes"] = ours.nbytes
    row["diff"] = float(np.max(np.abs(ours - plain)))
    del ours, plain
    return row


def _ratio(a: Timing | None, b: Timing | None) -> str:
    return "n/a" if a is None or b is None else f"{a.median / b.median:.2f}x"


def _targets(rows, input_bytes: int) -> list[list[str]]:
    """The issue's targets, each with the measured figure and met / missed."""
    by_name = {r["name"]: r for r in rows}
    checks = []

    def check(what, figure, ok):
        checks.append([what, figure, "met" if ok else "**missed**"])

    clr, ilr = by_name["clr"], by_name["ilr"]
    ratio = clr["coda"].median / clr["copy"].median
    check("clr within 1.5x of np.copy", f"{ratio:.2f}x", ratio <= 1.5)
    if clr["skbio"] is not None:
        speedup = clr["skbio"].median / clr["coda"].median
        check("clr >= 3x faster than scikit-bio", f"{speedup:.1f}x", speedup >= 3)
    ratio = ilr["coda"].median / clr["coda"].median
    check("ilr within 2x of coda's clr", f"{ratio:.2f}x", ratio <= 2)
    if ilr["skbio"] is not None:
        speedup = ilr["skbio"].median / ilr["coda"].median
        check("ilr >= 10x faster than scikit-bio", f"{speedup:.1f}x", speedup >= 10)
    for r in rows:
        # At most one output-sized temporary beyond the input (not counted:
        # it exists before the call) and the output.
        limit = 2 * r["out_bytes"] / input_bytes
        check(
            f"{r['name']} peak memory <= output + one temporary ({limit:.2f}x input)",
            f"{r['mem_coda']:.2f}x",
            r["mem_coda"] <= limit + 0.01,
        )
    return checks


def _headlines(rows, shape, input_bytes: int) -> list[Headline]:
    """Summary rows: each operation against plain numpy and scikit-bio, with the
    issue's targets; clr also against np.copy and ilr against coda's clr.

    All four stream their data, so the binding limit is the copy's bandwidth,
    reached when the input is read once and the output written once.
    """
    label = f"{shape[0]:,} x {shape[1]:,}"
    clr = next(r["coda"] for r in rows if r["name"] == "clr")
    skbio_targets = {"clr": 3.0, "ilr": 10.0}
    out = []
    for r in rows:
        name, ours = r["name"], r["coda"]
        moved = {"bound": "copy", "work": input_bytes + r["out_bytes"]}
        if name == "clr":
            out.append(Headline(name, label, ours, "np.copy (floor)", r["copy"], 1 / 1.5, **moved))
            moved = {}
        out.append(Headline(name, label, ours, "plain numpy", r["numpy"], **moved))
        if r["skbio"] is not None:
            out.append(
                Headline(name, label, ours, "scikit-bio", r["skbio"], skbio_targets.get(name))
            )
        if name == "ilr":
            out.append(Headline(name, label, ours, "coda clr", clr, target=0.5))
    return out


def bench_shape(shape, *, repeats, seed=0) -> tuple[str, list[Headline]]:
    rng = np.random.default_rng(seed)
    # 1 - U[0, 1) lies in (0, 1]: strictly positive, as the log-ratios need.
    x = rng.random(shape)
    np.subtract(1.0, x, out=x)
    input_bytes = x.nbytes
    basis = coda.ilr_basis(shape[1])

    kw = {
        "copy_fn": lambda: np.copy(x),
        "repeats": repeats,
        "input_bytes": input_bytes,
    }
    copy_mem = peak_bytes(kw["copy_fn"]) / input_bytes
    rows = [_measure(*op, **kw) for op in _operations(x, basis)]
    zero_ops = _zero_operations(x)
    if zero_ops:
        x[x < ZERO_BELOW] = 0.0
        rows += [_measure(*op, **kw) for op in zero_ops]
    # every np.copy timing of the run, taken in turns with the other calls
    copy = Timing(tuple(t for r in rows for t in r["copy"].seconds))

    table = [
        [
            "np.copy (floor)",
            seconds(copy.median),
            "",
            "",
            "1.00x",
            "",
            "",
            f"{copy.spread:.0%}",
            f"{copy_mem:.2f}x",
            "",
            "",
            "",
        ]
    ]
    for r in rows:
        timings = [t for t in (r["coda"], r["numpy"], r["skbio"]) if t is not None]
        table.append(
            [
                r["name"],
                seconds(r["coda"].median),
                seconds(r["numpy"].median),
                seconds(r["skbio"].median) if r["skbio"] else "n/a",
                _ratio(r["coda"], r["copy"]),
                _ratio(r["numpy"], r["coda"]),
                _ratio(r["skbio"], r["coda"]),
                f"{max(t.spread for t in timings):.0%}",
                f"{r['mem_coda']:.2f}x",
                f"{r['mem_numpy']:.2f}x",
                f"{r['mem_skbio']:.2f}x" if r["mem_skbio"] is not None else "n/a",
                f"{r['diff']:.1e}",
            ]
        )
    headers = [
        "operation",
        "coda",
        "numpy",
        "scikit-bio",
        "coda / copy",
        "numpy / coda",
        "scikit-bio / coda",
        "max spread",
        "peak mem coda",
        "peak mem numpy",
        "peak mem scikit-bio",
        "max abs(coda - numpy)",
    ]
    n, d = shape
    text = [
        f"### {n:,} x {d:,} float64 ({input_bytes / 1e6:.0f} MB)",
        "",
        f"Medians of {repeats} calls (scikit-bio too) after a warm-up call, "
        "each row's calls and an np.copy timed in turns; coda / copy uses that row's "
        "np.copy, and the np.copy row pools all of them. Ratios divide medians. Max "
        "spread: (max - min) / median over the repeats of that row, the worst of its "
        "columns. Peak memory: allocations at the worst moment of one call, output "
        "included, as multiples of the input size.",
        "",
        markdown_table(headers, table),
        "",
        markdown_table(["target", "measured", ""], _targets(rows, input_bytes)),
    ]
    if not zero_ops:
        text += ["", "coda.replace_zeros does not exist yet: zero replacement not measured."]
    return "\n".join(text), _headlines(rows, shape, input_bytes)


def run(*, quick: bool = False, repeats: int | None = None) -> Section:
    shapes = QUICK_SHAPES if quick else SHAPES
    repeats = repeats or (QUICK_REPEATS if quick else REPEATS)
    sections = [f"## {TITLE}"]
    if quick:
        sections.append(
            "Quick shapes fit in cache, where np.copy is far faster than from memory: "
            "the targets are set for the full shapes, and here only show that the "
            "script runs."
        )
    if skbio_composition is None:
        sections.append("scikit-bio is not installed: its column is n/a.")
    headlines = []
    for shape in shapes:
        text, rows = bench_shape(shape, repeats=repeats)
        sections.append(text)
        headlines += rows
    return Section("\n\n".join(sections), tuple(headlines))


if __name__ == "__main__":
    main([sys.modules[__name__]])
