"""coda's regularised and bootstrapped partial correlations against dense pipelines.

- ``pcor(method="shrink")`` and ``"bshrink"``, n=100, D=2_000, against forming
  the D x D shrunk matrix with numpy and inverting it (``np.linalg.inv``),
  with the same shrinkage intensities.
- ``pcor_bootstrap``, n=200, D=50, 1_000 resamples, against a Python loop that
  calls ``pcor`` on each of the same resamples.

``pcor`` exact is measured with the variation matrix in ``bench_covariance.py``.
Run ``python -m benchmarks.bench_partial`` (see ``benchmarks/README.md``).
"""

from __future__ import annotations

import sys

import numpy as np

import coda
from benchmarks._baselines import lognormal
from benchmarks._timing import (
    Headline,
    Section,
    main,
    markdown_table,
    seconds,
    time_interleaved,
)

TITLE = "Partial correlations: shrinkage and bootstrap"
SHRINK = (100, 2_000)
BOOT = (200, 50, 1_000)
QUICK_SHRINK = (50, 400)
QUICK_BOOT = (100, 20, 100)
REPEATS = 5


def _cor_shrunk(data, lam, lam_var):
    """Schafer-Strimmer shrunk covariance formed densely (corpcor's cov.shrink)."""
    centred = data - data.mean(axis=0)
    sd = np.sqrt((centred**2).sum(axis=0) / (len(data) - 1))
    scaled = centred / sd
    r = scaled.T @ scaled / (len(data) - 1)
    r *= 1.0 - lam
    r[np.diag_indices_from(r)] = 1.0
    target = np.median(sd**2)
    shrunk_sd = np.sqrt(lam_var * target + (1.0 - lam_var) * sd**2)
    return r * shrunk_sd[:, None] * shrunk_sd[None, :]


def dense_shrink(x, lam, lam_var):
    logs = np.log(x)
    clr = logs - logs.mean(axis=1, keepdims=True)
    omega = np.linalg.inv(_cor_shrunk(clr, lam, lam_var))
    scale = 1.0 / np.sqrt(np.diag(omega))
    return -omega * scale[:, None] * scale[None, :]


def dense_bshrink(x, lam, lam_var):
    logs = np.log(x / x.sum(axis=1, keepdims=True))
    b_inv = np.linalg.inv(_cor_shrunk(logs, lam, lam_var))
    ones = b_inv.sum(axis=1)
    omega = b_inv - np.outer(ones, ones) / ones.sum()
    scale = 1.0 / np.sqrt(np.diag(omega))
    return -omega * scale[:, None] * scale[None, :]


def loop_bootstrap(x, n_boot, seed):
    rng = np.random.default_rng(seed)
    n = len(x)
    return [coda.pcor(x[rng.integers(0, n, n)]) for _ in range(n_boot)]


def _row(h: Headline):
    return [
        f"{h.operation} {h.shape}",
        seconds(h.coda.median),
        seconds(h.base.median),
        h.baseline,
        f"{h.speedup:.2f}x",
        f"{max(h.coda.spread, h.base.spread):.0%}",
    ]


def run(*, quick: bool = False, repeats: int | None = None) -> Section:
    repeats = repeats or REPEATS
    headlines, checks = [], []

    n, d = QUICK_SHRINK if quick else SHRINK
    x = lognormal(n, d, seed=1)
    for method, dense in (("shrink", dense_shrink), ("bshrink", dense_bshrink)):
        fit = coda.pcor_shrink(x, method=method)
        lam, lam_var = fit.intensity, fit.intensity_var
        # timed in turns, so that both see the same machine load
        timings = time_interleaved(
            {
                "coda": lambda m=method: coda.pcor(x, method=m),
                "dense": lambda f=dense, a=lam, b=lam_var: f(x, a, b),
            },
            repeats={"coda": repeats, "dense": max(2, repeats // 2)},
        )
        ours, base = timings["coda"], timings["dense"]
        diff = np.abs(fit.pcor - dense(x, lam, lam_var))
        np.fill_diagonal(diff, 0.0)
        # The D x D product V diag(g) V^T (2 n D^2) and the n x n Gram matrix
        # and thin SVD factor (2 n^2 D each); no D^3 step.
        flops = 2 * n * d * d + 4 * n * n * d
        headline = Headline(
            f"pcor {method}",
            f"{n:,} x {d:,}",
            ours,
            "dense numpy inverse",
            base,
            target=5.0,
            bound="gemm",
            work=flops,
        )
        headlines.append(headline)
        speedup = f"{headline.speedup:.2f}x"
        checks.append([f"{method} >= 5x faster than dense", speedup, headline.met])
        checks.append([f"{method} max |coda - dense|", f"{diff.max():.1e}", diff.max() < 1e-8])
    del x

    n, d, n_boot = QUICK_BOOT if quick else BOOT
    x = lognormal(n, d, seed=2)
    boot_repeats = max(1, repeats // 2)
    timings = time_interleaved(
        {
            "coda": lambda: coda.pcor_bootstrap(x, n_boot=n_boot, seed=0, progress=False),
            "loop": lambda: loop_bootstrap(x, n_boot, 0),
        },
        repeats={"coda": boot_repeats, "loop": boot_repeats},
    )
    ours, base = timings["coda"], timings["loop"]
    headline = Headline(
        "pcor_bootstrap",
        f"{n} x {d}, {n_boot} resamples",
        ours,
        "loop over pcor",
        base,
        target=3.0,
        bound="gemm",
        # per resample: the Gram product (n D^2) and the inverse (D^3)
        work=n_boot * (n * d * d + d**3),
    )
    headlines.append(headline)
    checks.append(["bootstrap >= 3x faster than a loop", f"{headline.speedup:.2f}x", headline.met])

    headers = ["operation", "coda", "baseline", "baseline is", "baseline / coda", "max spread"]
    text = "\n".join(
        [
            f"## {TITLE}" + (" (quick)" if quick else ""),
            "",
            f"Medians of {repeats} calls after a warm-up call (fewer for slow baselines), "
            "coda and its baseline timed in turns.",
            "",
            markdown_table(headers, [_row(h) for h in headlines]),
            "",
            markdown_table(
                ["target", "measured", ""],
                [[c[0], c[1], "met" if c[2] else "**missed**"] for c in checks],
            ),
        ]
    )
    return Section(text, tuple(headlines))


if __name__ == "__main__":
    main([sys.modules[__name__]])
