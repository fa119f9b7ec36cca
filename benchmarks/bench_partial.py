"""coda's partial correlations against the dense numpy pipelines they replace.

- ``pcor`` exact, n=10_000, D=1_000, against (a) the naive numpy pipeline
  (clr, ``np.cov``, ``np.linalg.pinv``, rescale) and (b) the two dense steps
  no implementation can avoid: the D x D Gram product of the centred log data
  and one Cholesky factorisation of a D x D matrix.
- ``pcor(method="shrink")`` and ``"bshrink"``, n=100, D=2_000, against forming
  the D x D shrunk matrix with numpy and inverting it (``np.linalg.inv``),
  with the same shrinkage intensities.
- ``pcor_bootstrap``, n=200, D=50, 1_000 resamples, against a Python loop that
  calls ``pcor`` on each of the same resamples.

Run ``python -m benchmarks.bench_partial`` (see ``benchmarks/README.md``).
"""

from __future__ import annotations

import sys

import numpy as np
import scipy.linalg

import coda
from benchmarks._timing import main, markdown_table, seconds, time_call

TITLE = "Partial correlations"
EXACT = (10_000, 1_000)
SHRINK = (100, 2_000)
BOOT = (200, 50, 1_000)
QUICK_EXACT = (2_000, 200)
QUICK_SHRINK = (50, 400)
QUICK_BOOT = (100, 20, 100)
REPEATS = 5


def _data(n, d, seed=0):
    rng = np.random.default_rng(seed)
    return np.exp(rng.normal(size=(n, d)))


def naive_pcor(x):
    logs = np.log(x)
    clr = logs - logs.mean(axis=1, keepdims=True)
    omega = np.linalg.pinv(np.cov(clr.T))
    scale = 1.0 / np.sqrt(np.diag(omega))
    rho = -omega * scale[:, None] * scale[None, :]
    np.fill_diagonal(rho, 1.0)
    return rho


def gram_and_cholesky(centred):
    """The two dense steps: the symmetric Gram product and one Cholesky factorisation.

    Both in scipy's BLAS/LAPACK (syrk, potrf), as coda does: mixing numpy's
    and scipy's separate OpenBLAS builds makes their threads compete.
    """
    lower = scipy.linalg.blas.dsyrk(1.0, centred.T, trans=0, lower=1)
    lower += 1.0 / lower.shape[0]
    return scipy.linalg.lapack.dpotrf(lower, lower=True, overwrite_a=True)


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


def _row(name, ours, base, what):
    return [
        name,
        seconds(ours.median),
        seconds(base.median),
        what,
        f"{base.median / ours.median:.2f}x",
        f"{max(ours.spread, base.spread):.0%}",
    ]


def run(*, quick: bool = False, repeats: int | None = None) -> str:
    repeats = repeats or REPEATS
    rows, checks = [], []

    n, d = QUICK_EXACT if quick else EXACT
    x = _data(n, d)
    centred = np.log(x)
    centred -= centred.mean(axis=0)
    ours = time_call(lambda: coda.pcor(x), repeats=repeats)
    naive = time_call(lambda: naive_pcor(x), repeats=max(2, repeats // 2))
    floor = time_call(lambda c=centred: gram_and_cholesky(c), repeats=repeats)
    del centred
    diff = np.abs(coda.pcor(x) - naive_pcor(x)).max()
    rows.append(_row(f"pcor exact {n:,} x {d:,}", ours, naive, "naive numpy (pinv)"))
    rows.append(_row(f"pcor exact {n:,} x {d:,}", ours, floor, "Gram + Cholesky floor"))
    speedup = naive.median / ours.median
    ratio = ours.median / floor.median
    checks.append(["pcor exact >= 3x faster than naive", f"{speedup:.2f}x", speedup >= 3])
    checks.append(["pcor exact within 1.5x of Gram + Cholesky", f"{ratio:.2f}x", ratio <= 1.5])
    checks.append(["max |coda - naive|", f"{diff:.1e}", diff < 1e-8])
    del x

    n, d = QUICK_SHRINK if quick else SHRINK
    x = _data(n, d, seed=1)
    for method, dense in (("shrink", dense_shrink), ("bshrink", dense_bshrink)):
        fit = coda.pcor_shrink(x, method=method)
        lam, lam_var = fit.intensity, fit.intensity_var
        ours = time_call(lambda m=method: coda.pcor(x, method=m), repeats=repeats)
        base = time_call(
            lambda f=dense, a=lam, b=lam_var: f(x, a, b), repeats=max(2, repeats // 2)
        )
        diff = np.abs(fit.pcor - dense(x, lam, lam_var))
        np.fill_diagonal(diff, 0.0)
        rows.append(_row(f"pcor {method} {n:,} x {d:,}", ours, base, "dense numpy inverse"))
        speedup = base.median / ours.median
        checks.append([f"{method} >= 5x faster than dense", f"{speedup:.2f}x", speedup >= 5])
        checks.append([f"{method} max |coda - dense|", f"{diff.max():.1e}", diff.max() < 1e-8])
    del x

    n, d, n_boot = QUICK_BOOT if quick else BOOT
    x = _data(n, d, seed=2)
    boot_repeats = max(1, repeats // 2)
    ours = time_call(
        lambda: coda.pcor_bootstrap(x, n_boot=n_boot, seed=0, progress=False),
        repeats=boot_repeats,
    )
    base = time_call(lambda: loop_bootstrap(x, n_boot, 0), repeats=boot_repeats)
    rows.append(
        _row(f"pcor_bootstrap {n} x {d}, {n_boot} resamples", ours, base, "loop over pcor")
    )
    speedup = base.median / ours.median
    checks.append(["bootstrap >= 3x faster than a loop", f"{speedup:.2f}x", speedup >= 3])

    headers = ["operation", "coda", "baseline", "baseline is", "baseline / coda", "max spread"]
    return "\n".join(
        [
            f"## {TITLE}" + (" (quick)" if quick else ""),
            "",
            f"Medians of {repeats} calls after a warm-up call (fewer for slow baselines).",
            "",
            markdown_table(headers, rows),
            "",
            markdown_table(
                ["target", "measured", ""],
                [[c[0], c[1], "met" if c[2] else "**missed**"] for c in checks],
            ),
        ]
    )


if __name__ == "__main__":
    main([sys.modules[__name__]])
