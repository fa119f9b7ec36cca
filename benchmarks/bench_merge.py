"""TIES-Merging and its statistics from safetensors on disk to safetensors on disk.

Three fine-tuned models and their base, float32, 50 tensors of 1,000,000
entries each (50 million parameters, 200 MB per checkpoint), written with
safetensors into a temporary folder; then

- (a) the bandwidth floor: open every checkpoint and ``np.copy`` every tensor
  out of its memory map (reading the inputs once, nothing computed);
- (b) a plain numpy TIES per tensor (mergekit's rule, as
  ``ties_merge(scope="tensor")``) whose top-k is a full ``np.argsort``,
  written to safetensors;
- (c) ``coda.merging.ties_merge(base, models, density=0.2, out=...)``;
- (d) ``coda.merging.describe(base, models, density=0.2)`` (S1 to S6, default
  options).

Also timed, as a limit outside the floor: writing the output alone (the
base's tensors, read into memory first, written by ``write_checkpoint``).

(c) must equal (b) bit for bit. Peak memory is the rise of the peak resident
set size of a fresh process that makes the one call.

Run ``python -m benchmarks.bench_merge`` (see ``benchmarks/README.md``, which
also explains the memory measurement).
"""

from __future__ import annotations

import json
import multiprocessing
import shutil
import struct
import tempfile
import tracemalloc
from pathlib import Path

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file

from benchmarks._timing import main, markdown_table, seconds, time_interleaved
from coda.merging import write_checkpoint

TITLE = "TIES-Merging from and to safetensors"
N_MODELS = 3
DENSITY = 0.2
FULL = (50, 1_000_000)  # tensors x entries per tensor
QUICK = (8, 250_000)
REPEATS = 3


def _write_models(folder: Path, n_tensors: int, size: int, seed: int = 0) -> tuple[Path, list]:
    """Base and fine-tuned checkpoints: theta_t = theta_0 + tau_t, tau_t ~ N(0, 0.01^2)."""
    rng = np.random.default_rng(seed)
    names = [f"layers.{i:02d}.weight" for i in range(n_tensors)]
    base = {name: (0.02 * rng.standard_normal(size)).astype(np.float32) for name in names}
    base_path = folder / "base.safetensors"
    save_file(base, str(base_path))
    paths = []
    for t in range(N_MODELS):
        tuned = {
            name: base[name] + (0.01 * rng.standard_normal(size)).astype(np.float32)
            for name in names
        }
        paths.append(folder / f"model{t}.safetensors")
        save_file(tuned, str(paths[-1]))
        del tuned
    return base_path, paths


def _tensor_ranges(path: Path) -> dict:
    """Byte ranges of each tensor in a safetensors file, from its JSON header."""
    with path.open("rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(length))
    start = 8 + length
    return {
        name: (start + info["data_offsets"][0], start + info["data_offsets"][1])
        for name, info in header.items()
        if name != "__metadata__"
    }


def floor_read(paths: list) -> int:
    """(a) ``np.copy`` of every tensor of every checkpoint out of its memory map."""
    total = 0
    for path in paths:
        mapped = np.memmap(path, dtype=np.uint8, mode="r")
        for begin, end in _tensor_ranges(path).values():
            copy = np.copy(mapped[begin:end])
            total += copy.nbytes
            del copy
        del mapped
    return total


def _top_k_sorted(magnitude: np.ndarray, k: int) -> np.ndarray:
    # A stable sort of -|tau| keeps equal magnitudes in index order, so the k
    # kept entries break ties to the lowest flat index, as coda does.
    mask = np.zeros(magnitude.size, dtype=bool)
    mask[np.argsort(-magnitude, kind="stable")[:k]] = True
    return mask


def sort_ties(base_path: Path, model_paths: list, out: Path, density: float) -> Path:
    """(b) TIES per tensor in plain numpy with a full sort, written to safetensors.

    mergekit's rule with unit weights: keep k = max(1, floor(K n)) entries of
    largest |tau_t| per task, sigma = +1 where the sum of the trimmed vectors
    is >= 0 (else -1), average the entries whose sign is sigma.
    """
    merged = {}
    with safe_open(str(base_path), framework="numpy") as base_file:
        handles = [safe_open(str(p), framework="numpy") for p in model_paths]
        for key in sorted(base_file.keys()):
            theta0 = base_file.get_tensor(key)
            flat = theta0.ravel()
            k = max(1, int(density * flat.size))
            trimmed = np.empty((len(handles), flat.size), dtype=np.float32)
            for row, handle in zip(trimmed, handles, strict=True):
                tau = handle.get_tensor(key).ravel() - flat
                row[:] = np.where(_top_k_sorted(np.abs(tau), k), tau, np.float32(0.0))
            positive = trimmed.sum(axis=0) >= 0
            agree = np.where(positive, trimmed > 0, trimmed < 0)
            count = agree.sum(axis=0).astype(np.float32)
            update = np.where(agree, trimmed, np.float32(0.0)).sum(axis=0) / np.maximum(
                count, np.float32(1.0)
            )
            merged[key] = (flat + update).reshape(theta0.shape)
        del handles
    save_file(merged, str(out))
    return out


def coda_ties(base_path: Path, model_paths: list, out: Path, density: float) -> Path:
    """(c) coda's merge, checkpoint files in and out."""
    from coda.merging import ties_merge

    return ties_merge(base_path, model_paths, density=density, out=out)


def coda_describe(base_path: Path, model_paths: list, out: Path, density: float):
    """(d) every statistic of the same merge, read one layer at a time."""
    from coda.merging import describe

    del out  # describe writes nothing
    return describe(base_path, model_paths, density=density, seed=0)


MEASURED = {
    "floor": lambda base, models, out, density: floor_read([base, *models]),
    "sort": sort_ties,
    "coda": coda_ties,
    "describe": coda_describe,
}


def _status_kib(key: str) -> int:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def _child(name: str, base: Path, models: list, out: Path, density: float, queue) -> None:
    """Make one measured call in a fresh process; report its peak RSS rise and traced peak."""
    # Writing 5 to clear_refs resets the peak resident set (VmHWM) to the
    # current one (Linux >= 4.0), so the imports' own peak is not counted.
    with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
        handle.write("5")
    before = _status_kib("VmRSS")
    tracemalloc.start()
    MEASURED[name](base, models, out, density)
    _, traced = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    queue.put(((_status_kib("VmHWM") - before) * 1024, traced))


def peak_memory(name: str, base: Path, models: list, out: Path, density: float) -> tuple:
    """(peak RSS rise, tracemalloc peak) in bytes of one call in a fresh process.

    The process is forked from a forkserver that has imported coda once, so
    each call starts clean without paying for the imports again.
    """
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["coda.merging", "benchmarks.bench_merge"])
    queue = context.Queue()
    process = context.Process(target=_child, args=(name, base, models, out, density, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def merge_passes(base: Path, models: list, out: Path, repeats: int) -> dict:
    """Where (c)'s time goes, with each fused kernel: medians over interleaved calls.

    Each call of (c) is timed whole and in its two passes over the tensors:
    the top-k histogram (``_top_k._top_k_bounds``, patched where ``_rules``
    calls it) and the rest of ``_rules._tensor_update`` (the fused pass, then
    settling the entries at the cuts), the latter with ``_kernels._tensor_update_few`` (the default
    up to four tasks) and with the general ``_kernels._tensor_update``.
    Returns ``{kernel: (total, top-k pass, fused pass)}`` in seconds.
    """
    import time

    from coda.merging import _rules, _ties_updates

    spent = {}

    def timed(name, fn):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name] = spent.get(name, 0.0) + time.perf_counter() - start

        return wrapper

    kernels = {"_tensor_update_few": _rules._FEW_TASKS, "_tensor_update": 0}
    saved = _rules._FEW_TASKS, _rules._top_k_bounds, _ties_updates._tensor_update
    results = {name: [] for name in kernels}
    try:
        _rules._top_k_bounds = timed("top-k", saved[1])
        _ties_updates._tensor_update = timed("update", saved[2])
        for round_ in range(repeats + 1):  # the first round warms up
            for name, few in kernels.items():
                _rules._FEW_TASKS = few
                spent.clear()
                start = time.perf_counter()
                coda_ties(base, models, out, DENSITY)
                total = time.perf_counter() - start
                if round_:
                    results[name].append((total, spent["top-k"], spent["update"] - spent["top-k"]))
    finally:
        _rules._FEW_TASKS, _rules._top_k_bounds, _ties_updates._tensor_update = saved
    return {name: tuple(np.median(rows, axis=0)) for name, rows in results.items()}


def _bits_equal(first: Path, second: Path) -> bool:
    with safe_open(str(first), framework="numpy") as a, safe_open(str(second), "numpy") as b:
        keys = sorted(a.keys())
        if keys != sorted(b.keys()):
            return False
        return all(
            np.array_equal(a.get_tensor(k).view(np.uint32), b.get_tensor(k).view(np.uint32))
            for k in keys
        )


def _mb(n_bytes: float) -> str:
    return f"{n_bytes / 1e6:,.0f} MB"


def run(*, quick: bool = False, repeats: int | None = None) -> str:
    repeats = repeats or REPEATS
    n_tensors, size = QUICK if quick else FULL
    folder = Path(tempfile.mkdtemp(prefix="coda-bench-merge-"))
    try:
        base, models = _write_models(folder, n_tensors, size)
        outs = {name: folder / f"out-{name}.safetensors" for name in MEASURED}
        fns = {
            name: (lambda f=fn, o=outs[name]: f(base, models, o, DENSITY))
            for name, fn in MEASURED.items()
        }
        # What writing the output costs on its own: the base's tensors, read
        # into memory first, written as one safetensors file as the merge
        # writes its result.
        with safe_open(str(base), framework="numpy") as handle:
            held = {key: handle.get_tensor(key) for key in sorted(handle.keys())}
        write_out = folder / "out-write.safetensors"
        timed = fns | {"write": lambda h=held: write_checkpoint(h, write_out)}
        # Touch twice a model's size first: room for the merged output, whose
        # file pages are new memory at each call, and the work arrays.
        timings = time_interleaved(
            timed, repeats=dict.fromkeys(timed, repeats), prefault=2 * n_tensors * size * 4
        )
        del held, timed
        passes = merge_passes(base, models, outs["coda"], repeats)
        identical = _bits_equal(outs["sort"], outs["coda"])
        memory = {name: peak_memory(name, base, models, outs[name], DENSITY) for name in fns}
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    labels = {
        "floor": "(a) np.copy of every input tensor (bandwidth floor)",
        "sort": "(b) plain numpy TIES, full argsort",
        "coda": "(c) coda ties_merge",
        "describe": "(d) coda describe (S1-S6)",
    }
    coda_median = timings["coda"].median
    rows = [
        [
            labels[name],
            seconds(timings[name].median),
            f"{timings[name].median / coda_median:.2f}x",
            f"{timings[name].spread:.0%}",
            _mb(memory[name][0]),
            _mb(memory[name][1]),
        ]
        for name in fns
    ]
    input_bytes = (N_MODELS + 1) * n_tensors * size * 4
    floor_ratio = coda_median / timings["floor"].median
    sort_ratio = timings["sort"].median / coda_median
    describe_ratio = timings["describe"].median / coda_median
    write_ratio = timings["write"].median / timings["floor"].median
    peak = max(memory["coda"][0], memory["describe"][0])
    checks = [
        ["merge within 3x of the bandwidth floor", f"{floor_ratio:.2f}x", floor_ratio <= 3],
        ["merge at least 3x faster than the full sort", f"{sort_ratio:.2f}x", sort_ratio >= 3],
        ["describe within 2x of the merge", f"{describe_ratio:.2f}x", describe_ratio <= 2],
        ["peak memory (RSS rise) of merge and describe < 1.5 GB", _mb(peak), peak < 1.5e9],
        ["(c) equals (b) bit for bit", str(identical), identical],
    ]
    return "\n".join(
        [
            f"## {TITLE}" + (" (quick)" if quick else ""),
            "",
            f"{N_MODELS} models and their base, {n_tensors} float32 tensors of {size:,} "
            f"entries each ({_mb(input_bytes)} of input), density {DENSITY}, "
            f"scope tensor. Medians of {repeats} calls taken in turns after a "
            "warm-up call; the files are in the page cache. Peak memory of one "
            "call in a fresh process: rise of the peak resident set (mapped input "
            "pages included) and the peak traced by tracemalloc (heap only).",
            "",
            f"Writing the output alone (the base's {n_tensors} tensors, held in memory, "
            f"written with `write_checkpoint`) takes {seconds(timings['write'].median)}, "
            f"{write_ratio:.2f}x the floor, which only reads: part of every merge that "
            "writes a file, and outside the floor's definition.",
            "",
            markdown_table(
                ["operation", "median", "/ coda merge", "spread", "peak RSS rise", "traced"],
                rows,
            ),
            "",
            markdown_table(
                ["target", "measured", ""],
                [[c[0], c[1], "met" if c[2] else "**missed**"] for c in checks],
            ),
            "",
            f"Where (c)'s time goes, by the kernel of its fused pass (medians of {repeats} "
            "calls of each, taken in turns after the calls above): the top-k pass "
            "(histogram of the upper 16 bits of |tau_t|, the first read of the files), "
            "the fused pass (trim, elect, merge; then the entries at the cuts), and the "
            "rest (reading headers, writing the file, Python).",
            "",
            markdown_table(
                ["fused kernel", "merge", "top-k pass", "fused pass", "rest"],
                [
                    [
                        f"`{name}`" + (" (default)" if name.endswith("few") else ""),
                        *(seconds(value) for value in (total, top, fused)),
                        seconds(total - top - fused),
                    ]
                    for name, (total, top, fused) in passes.items()
                ],
            ),
        ]
    )


if __name__ == "__main__":
    # Run from the imported module, so that the spawned memory probes can
    # import the function they call by its module name.
    from benchmarks import bench_merge

    main([bench_merge])
