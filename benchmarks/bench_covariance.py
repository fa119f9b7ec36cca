"""coda's variation matrix and exact partial correlations against numpy pipelines.

At n=10_000, D=1_000 (quick: 2_000 x 200), on exp of standard normals:

- ``variation`` against (a) the naive numpy pipeline: clr, ``np.cov``, then
  T_ij = Gamma_ii + Gamma_jj - 2 Gamma_ij (the loop-free form of
  var(log x_i - log x_j)), and (b) the floor: the D x D Gram product of the
  centred log data alone (BLAS syrk, n D^2 flops). The direct definition,
  var(log x_i - log x_j) broadcast over an n x D x D array, is too large to
  time at this size; it checks coda's result on the first 40 parts.
- ``pcor`` exact against (a) the naive pipeline: clr, ``np.cov``,
  ``np.linalg.pinv``, rescale, and (b) the floor: the Gram product and one
  Cholesky factorisation of a D x D matrix (syrk + potrf).

Both are bound by dense algebra: the syrk's n D^2 flops, and for ``pcor`` the
D^3 of the Cholesky factorisation and inverse (potrf D^3/3, potri 2 D^3/3).

Run ``python -m benchmarks.bench_covariance`` (see ``benchmarks/README.md``).
"""

from __future__ import annotations

import sys

import numpy as np

import coda
from benchmarks._baselines import (
    centred_logs,
    direct_variation,
    gram,
    gram_and_cholesky,
    lognormal,
    naive_pcor,
    naive_variation,
)
from benchmarks._timing import (
    Headline,
    Section,
    main,
    markdown_table,
    seconds,
    time_interleaved,
)

TITLE = "Variation matrix and exact partial correlations"
SHAPE = (10_000, 1_000)
QUICK_SHAPE = (2_000, 200)
REPEATS = 5
CHECK_PARTS = 40  # the direct n x D x D definition of the variation matrix, on this many parts


def _row(h: Headline):
    return [
        h.operation,
        seconds(h.coda.median),
        seconds(h.base.median),
        h.baseline,
        f"{h.speedup:.2f}x",
        f"{max(h.coda.spread, h.base.spread):.0%}",
    ]


def run(*, quick: bool = False, repeats: int | None = None) -> Section:
    # The naive pipelines get as many calls as coda: their time varies more
    # (LAPACK's SVD), and the median of two calls made the headline ratio
    # swing by a third from run to run.
    repeats = repeats or REPEATS
    n, d = QUICK_SHAPE if quick else SHAPE
    shape = f"{n:,} x {d:,}"
    x = lognormal(n, d)
    centred = centred_logs(x)
    gram_flops = n * d * d  # syrk: half of a GEMM's 2 n D^2

    # Each operation's calls are timed in turns with its baselines, so that
    # the ratios compare calls made under the same machine load.
    var_t = time_interleaved(
        {
            "coda": lambda: coda.variation(x),
            "naive": lambda: naive_variation(x),
            "floor": lambda c=centred: gram(c),
        },
        repeats=dict.fromkeys(("coda", "naive", "floor"), repeats),
    )
    pcor_t = time_interleaved(
        {
            "coda": lambda: coda.pcor(x),
            "naive": lambda: naive_pcor(x),
            "floor": lambda c=centred: gram_and_cholesky(c),
        },
        repeats=dict.fromkeys(("coda", "naive", "floor"), repeats),
    )
    variation, naive_var, syrk = var_t["coda"], var_t["naive"], var_t["floor"]
    pcor, naive, floor = pcor_t["coda"], pcor_t["naive"], pcor_t["floor"]
    del centred
    # potrf D^3/3 and potri 2 D^3/3 after the Gram product
    pcor_flops = gram_flops + d**3
    headlines = (
        Headline("variation", shape, variation, "naive numpy (clr, np.cov)", naive_var),
        Headline(
            "variation", shape, variation, "Gram floor (syrk)", syrk, bound="gemm", work=gram_flops
        ),
        Headline("pcor exact", shape, pcor, "naive numpy (pinv)", naive, target=3.0),
        Headline(
            "pcor exact",
            shape,
            pcor,
            "Gram + Cholesky floor",
            floor,
            target=1 / 1.5,
            bound="gemm",
            work=pcor_flops,
        ),
    )

    diff_var = np.abs(coda.variation(x) - naive_variation(x)).max()
    small = x[:, :CHECK_PARTS]
    diff_direct = np.abs(coda.variation(small) - direct_variation(small)).max()
    diff_pcor = np.abs(coda.pcor(x) - naive_pcor(x)).max()
    checks = [[h.goal(), f"{h.speedup:.2f}x", h.met] for h in headlines if h.target is not None]
    checks += [
        ["variation: max |coda - naive|", f"{diff_var:.1e}", diff_var < 1e-8],
        [
            f"variation: max |coda - direct var(log x_i - log x_j)|, {CHECK_PARTS} parts",
            f"{diff_direct:.1e}",
            diff_direct < 1e-10,
        ],
        ["pcor: max |coda - naive|", f"{diff_pcor:.1e}", diff_pcor < 1e-8],
    ]
    headers = ["operation", "coda", "baseline", "baseline is", "baseline / coda", "max spread"]
    text = "\n".join(
        [
            f"## {TITLE}" + (" (quick)" if quick else ""),
            "",
            f"n = {n:,}, D = {d:,}. Medians of {repeats} calls after a warm-up call "
            "(the naive pipelines too), each operation timed in turns with its baselines. "
            "The floors start from the centred log data, computed outside the timed call.",
            "",
            markdown_table(headers, [_row(h) for h in headlines]),
            "",
            markdown_table(
                ["target", "measured", ""],
                [[c[0], c[1], "met" if c[2] else "**missed**"] for c in checks],
            ),
        ]
    )
    return Section(text, headlines)


if __name__ == "__main__":
    main([sys.modules[__name__]])
