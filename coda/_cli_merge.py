"""The ``coda merge`` and ``coda merge-stats`` commands (:mod:`coda.cli` parses their arguments).

``coda merge BASE FT1 FT2 ...`` merges fine-tuned models (task arithmetic,
TIES or DARE) from checkpoint files into a safetensors checkpoint; ``coda
merge-stats BASE FT1 FT2 ...`` writes the compositional statistics of a TIES
merge, their balances and plots into a directory. coda.merging is imported
only when one of them runs.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from coda._cli_checks import check_out_folder, check_seed
from coda._validation import (
    check_folder,
    check_merge_command,
    check_model_count,
    check_number_text,
    check_real,
    check_safetensors_out,
    check_shard_bytes,
    check_unused,
)

__all__ = ["DENSITY", "SCOPE", "run_merge", "run_merge_stats"]

# Defaults of --density and --scope.
DENSITY = 0.2
SCOPE = "tensor"


def _weights(args) -> list[float] | None:
    """The numbers of ``--weights`` (coda merge and merge-stats), None if not given."""
    if args.weights is None:
        return None
    return [check_number_text(w, "--weights") for w in args.weights.split(",")]


def run_merge(args) -> None:
    from coda.merging import dare, task_arithmetic, ties_merge
    from coda.merging._sources import check_out_spares_inputs

    weights = _weights(args)
    options = {"weights": weights, "lam": check_real(args.lam, "--lam"), "dtype": args.dtype}
    used = {"ties": ("density", "scope"), "dare": ("density", "seed"), "task_arithmetic": ()}
    for option in ("density", "scope", "seed"):
        if option not in used[args.method]:
            check_unused(getattr(args, option), f"--{option}", f"by --method {args.method}")
    density = DENSITY if args.density is None else args.density
    if args.method == "ties":
        merge = ties_merge
        scope = args.scope or SCOPE
        options.update(density=density, scope=scope)
        rule = f"ties (scope {scope}, density {density:g})"
    elif args.method == "dare":
        merge = dare
        seed = 0 if args.seed is None else check_seed(args.seed)
        options.update(density=density, seed=seed)
        rule = f"dare (density {density:g}, seed {seed})"
    else:
        merge = task_arithmetic
        rule = "task arithmetic"
    check_merge_command(args.base, args.models, args.density, weights)
    check_shard_bytes(args.max_shard_bytes, "--max-shard-bytes")
    out = check_safetensors_out(args.out, "--out")
    if out.is_dir():
        raise IsADirectoryError(
            f"--out {args.out!r} is a folder; name the output file inside it, e.g. "
            f"--out {str(out / 'model.safetensors')!r}"
        )
    check_folder(out.parent, f"--out {args.out!r}: {str(out.parent)!r}", fix="pass another --out")
    sources = [("BASE", args.base), *(("FT", model) for model in args.models)]
    check_out_spares_inputs(out, sources, "--out ")
    # Directories made for the output are removed again if the merge fails, so
    # bad input leaves nothing behind.
    made = [d for d in (out.parent, *out.parent.parents) if not d.exists()]
    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        written = merge(
            args.base, args.models, out=out, max_shard_bytes=args.max_shard_bytes, **options
        )
    except BaseException as error:
        for directory in made:
            directory.rmdir()
        if isinstance(error, ValueError) and "dtype='" in str(error):
            # The merges name their Python argument: a merged value beyond --dtype's range.
            message = str(error).replace("dtype='", "--dtype '")
            raise ValueError(message) from error
        raise
    elapsed = time.perf_counter() - start
    from coda.merging import open_checkpoint

    with open_checkpoint(written) as merged:
        names = merged.keys()
        parameters = sum(int(np.prod(merged.shape(name))) for name in names)
        files = sorted({str(merged.file_of(name)) for name in names}) or [str(written)]
    dtype = "" if args.dtype is None else f", dtype {args.dtype}"
    print(
        f"coda merge: {len(args.models)} models onto {args.base} by {rule}, "
        f"lam {args.lam:g}{dtype}"
    )
    print(f"{len(names)} tensors, {parameters} parameters, {elapsed:.2f} s")
    extra = f" (index {written})" if written.name.endswith(".index.json") else ""
    print("wrote " + ", ".join(files) + extra)


def run_merge_stats(args) -> None:
    from matplotlib.figure import Figure

    from coda.merging import (
        category_balances,
        describe,
        fate_balances,
        plot_balance_depth,
        plot_layer_composition,
        task_network,
    )
    from coda.plotting import plot_network

    check_out_folder(args.out)
    check_seed(args.seed)
    weights = _weights(args)
    check_merge_command(args.base, args.models, args.density, weights)
    check_model_count(len(args.models), name="FT")
    density = DENSITY if args.density is None else args.density
    scope = args.scope or SCOPE
    # Everything is computed before the directory is made, so bad input
    # leaves nothing behind.
    described = describe(
        args.base, args.models, density=density, scope=scope, weights=weights, seed=args.seed
    )
    tables = {
        "shares": described.shares,
        "categories": described.categories.observed,
        "categories_null": described.categories.null,
        "categories_permutation": described.categories.permutation,
        "fate": described.fate,
        "ownership": described.ownership,
        "conflict": described.conflict,
        "patterns": described.patterns,
        "log_odds": described.log_odds,
        "category_balances": category_balances(described.categories),
        "fate_balances": fate_balances(described.fate),
    }
    # describe leaves S6 out (None) above 8 models: 2^T sign patterns per layer.
    missing = [name for name, table in tables.items() if table is None]
    tables = {name: table for name, table in tables.items() if table is not None}
    n_tasks = described.shares.shape[1]
    plots = {
        "categories": (plot_layer_composition, tables["categories"]),
        "shares": (plot_layer_composition, tables["shares"]),
        "category_balances": (plot_balance_depth, tables["category_balances"]),
        "fate_balances": (plot_balance_depth, tables["fate_balances"]),
    }
    skipped = []
    if n_tasks >= 4:
        # Three networks among the tasks across layers: who shares the change
        # (S1), who loses mass to interference (S3), who owns the merge (S4).
        sources = {"shares": "shares", "fate": "fate", "ownership": "ownership"}
        for name, field in sources.items():
            try:
                graph = task_network(getattr(described, field))
            except ValueError as err:  # too few layers for this many tasks
                skipped.append(f"no task network from {name}: {err}")
            else:
                plots[f"task_network_{name}"] = (plot_network, graph)
    check_out_folder(args.out, [*(f"{t}.csv" for t in tables), *(f"{p}.png" for p in plots)])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        table.to_csv(out / f"{name}.csv")
    for name, (draw, data) in plots.items():
        figure = Figure(figsize=(7, 5), layout="constrained")
        draw(data, ax=figure.add_subplot())
        figure.savefig(out / f"{name}.png", dpi=100)
    balances = tables["category_balances"]
    interference = balances["interference"]
    print(
        f"coda merge-stats: {len(args.models)} models onto {args.base}, "
        f"ties scope {scope}, density {density:g}, "
        + ("" if weights is None else f"weights {','.join(f'{w:g}' for w in weights)}, ")
        + f"{balances.shape[0]} layers"
    )
    print(
        f"most interference (conflict vs agreeing balance): {interference.idxmax()} "
        f"({interference.max():.3f}); least: {interference.idxmin()} ({interference.min():.3f})"
    )
    if n_tasks < 4:
        print(f"no task network: it needs at least 4 models, got {n_tasks}")
    if missing:
        print(f"no {' or '.join(missing)} tables: sign patterns need at most 8 models")
    for line in skipped:
        print(line)
    print(f"wrote {len(tables)} CSV tables and {len(plots)} PNG plots into {out}")
