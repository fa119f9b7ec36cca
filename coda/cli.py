"""The ``coda`` command: partial-correlation networks from a CSV file, a demo, a case study.

``coda pcor DATA.csv`` estimates the network of a data set; ``coda demo``
simulates data with a known network and shows how well it is recovered.
Both write ``pcor.csv``, ``partial_variance.csv`` and ``edges.csv`` into the
output directory and print a short summary. ``coda roman-glass`` writes the
Roman glass case study (``coda.casestudy``) as ``report.md`` with PNG figures
and CSV tables. ``coda merge BASE FT1 FT2 ...`` merges fine-tuned models
(task arithmetic, TIES or DARE) from checkpoint files into a safetensors
checkpoint; ``coda merge-stats BASE FT1 FT2 ...`` writes the compositional
statistics of a TIES merge, their balances and plots into a directory. Bad
input ends with exit code 2 and a one-line
``coda: error: ...`` message on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from coda._cli_checks import (
    check_demo_size,
    check_out_folder,
    check_seed,
    read_table,
    replace_zeros_of,
)
from coda._cli_merge import DENSITY, SCOPE, run_merge, run_merge_stats
from coda._exact_precision import REGULARISED
from coda._results import pair_table
from coda._validation import (
    CodaWarning,
    check_composition,
    check_count,
    check_file,
    check_fraction,
    check_no_zeros,
    check_pcor_options,
    check_unused,
)
from coda.datasets import _find_roman_cups, _Wording
from coda.graph_compare import compare_graphs
from coda.inference import pcor_test
from coda.partial import partial_variance, pcor
from coda.simulation import simulate

__all__ = ["main"]

_METHODS = ("exact", "shrink", "bshrink", "glasso")
_ZEROS = ("multiplicative", "gbm", "sq", "bl", "pseudocount")
_GRAPHS = ("chain", "hub", "random")
_STRONGEST = 5
# The FDR level of coda pcor and coda demo.
_ALPHA = 0.05
# The files that coda pcor and coda demo write into --out.
_PCOR_FILES = ("pcor.csv", "partial_variance.csv", "edges.csv")
_MERGES = ("ties", "task_arithmetic", "dare")
# Choices of coda merge --dtype (the merges' dtype=).
_OUT_DTYPES = ("base", "float32", "float16", "bfloat16")
# How the messages of the Roman cups loader name its options in `coda roman-glass`.
_CUPS_OPTIONS = _Wording(
    path_name="--path",
    path="--path",
    download="--download",
    no_download="--download was not given",
    other_cache="set XDG_CACHE_HOME to another folder",
    fetch_again="rerun with --download",
)


def _alpha(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    try:
        return check_fraction(value, "--alpha")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="coda",
        description="Reference-independent partial correlations of compositional data (Erb 2020).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--method", choices=_METHODS, default="exact", help="estimator (default: exact)"
    )
    # No argparse default: --method glasso selects edges without it, and refuses it.
    common.add_argument(
        "--alpha",
        type=_alpha,
        help=f"FDR level for edges, not used by --method glasso (default: {_ALPHA})",
    )

    run = commands.add_parser(
        "pcor",
        parents=[common],
        help="partial-correlation network of a CSV file",
        description="Estimate the partial-correlation network of a CSV file (rows are "
        "samples, columns are parts) and write pcor.csv, partial_variance.csv and "
        "edges.csv.",
    )
    run.add_argument("data", metavar="DATA.csv", help="CSV file, one row per sample")
    run.add_argument("--given", help="partial out only these parts, comma-separated: A,B")
    run.add_argument("--out", default="coda-out", help="output directory (default: coda-out)")
    run.add_argument(
        "--index-col",
        help="column of sample identifiers (default: the first column if it is "
        "non-numeric or named like id/sample/cup)",
    )
    run.add_argument(
        "--zeros",
        choices=_ZEROS,
        help="replace zeros with this method (default: zeros are an error): multiplicative "
        "for proportions or measurements, gbm, sq or bl for counts; pseudocount adds 0.5 to "
        "every value, counts only",
    )
    run.set_defaults(handler=_run_pcor)

    demo = commands.add_parser(
        "demo",
        parents=[common],
        help="simulate data with a known network and measure its recovery",
        description="Simulate compositions whose clr precision has a known sparse graph, "
        "estimate the network and report precision, recall and F1 of the recovered edges.",
    )
    demo.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    demo.add_argument("--n", type=int, default=200, help="number of samples (default: 200)")
    demo.add_argument("--parts", type=int, default=20, help="number of parts (default: 20)")
    demo.add_argument(
        "--graph", choices=_GRAPHS, default="random", help="true graph (default: random)"
    )
    demo.add_argument("--out", default="coda-demo", help="output directory (default: coda-demo)")
    demo.set_defaults(handler=_run_demo)

    glass = commands.add_parser(
        "roman-glass",
        help="the Roman glass case study as a report",
        description="Run the log-ratio analysis of the 47 Roman glass cups "
        "(coda.load_roman_cups: the file given with --path, else roman_cups.csv or "
        "cups.RData in the folder CODA_DATA_DIR names, else the cached copy) and write "
        "report.md with its PNG figures and CSV tables.",
    )
    glass.add_argument(
        "--path",
        metavar="FILE",
        help="the data: a CSV file (header cup,Si,Al,...,Sb) or easyCODA's cups.RData "
        "(default: search CODA_DATA_DIR, then the cache)",
    )
    glass.add_argument(
        "--out",
        default="roman-glass-report",
        help="output directory (default: roman-glass-report)",
    )
    glass.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    glass.add_argument(
        "--n-boot", type=int, default=1000, help="bootstrap resamples (default: 1000)"
    )
    glass.add_argument(
        "--download",
        action="store_true",
        help="download the data if no local copy is found (default: never download)",
    )
    glass.set_defaults(handler=_run_roman_glass)

    merge = commands.add_parser(
        "merge",
        help="merge fine-tuned models of one base into a safetensors checkpoint",
        description="Merge fine-tuned checkpoints (safetensors, sharded index, npz or "
        "PyTorch files) of one base model by task arithmetic, TIES or DARE, one tensor "
        "at a time, and write the merged model as safetensors with the base's metadata "
        "(float32, or with --dtype the base's dtype or another).",
    )
    _add_merge_inputs(merge)
    merge.add_argument(
        "--method", choices=_MERGES, default="ties", help="merging rule (default: ties)"
    )
    merge.add_argument("--lam", type=float, default=1.0, help="scaling lambda (default: 1.0)")
    merge.add_argument("--seed", type=int, help="dare random seed (default: 0)")
    merge.add_argument(
        "--out",
        default="merged/model.safetensors",
        help="output safetensors file (default: merged/model.safetensors)",
    )
    merge.add_argument(
        "--max-shard-bytes",
        type=int,
        help="shard the output above this many bytes per file (default: one file)",
    )
    merge.add_argument(
        "--dtype",
        choices=_OUT_DTYPES,
        help="dtype of the merged floating-point tensors, rounded once from the float32 "
        "merge: base (each in the base's dtype), float32, float16 or bfloat16 "
        "(default: float32)",
    )
    merge.set_defaults(handler=run_merge)
    stats = commands.add_parser(
        "merge-stats",
        help="compositional statistics of a TIES merge, as CSV tables and PNG plots",
        description="Describe a TIES merge of fine-tuned checkpoints by its compositional "
        "statistics (coda.merging.describe), their named balances and, with 4 or more "
        "models, the task networks from the task shares, the interference-loss balances and "
        "the ownership (each where there are enough layers); write them as CSV and PNG "
        "files into a directory.",
    )
    _add_merge_inputs(stats)
    stats.add_argument(
        "--out", default="merge-stats", help="output directory (default: merge-stats)"
    )
    stats.add_argument("--seed", type=int, default=0, help="permutation null seed (default: 0)")
    stats.set_defaults(handler=run_merge_stats)
    return parser


def _add_merge_inputs(parser) -> None:
    """The arguments that ``coda merge`` and ``coda merge-stats`` share."""
    parser.add_argument("base", metavar="BASE", help="checkpoint of the base model")
    parser.add_argument("models", metavar="FT", nargs="+", help="fine-tuned checkpoints")
    # No argparse defaults: coda merge refuses options its --method does not use,
    # so it needs to know which were given (see _merge_options).
    parser.add_argument(
        "--density", type=float, help=f"fraction kept per task (default: {DENSITY})"
    )
    parser.add_argument(
        "--scope",
        choices=("tensor", "global"),
        help="ties trimming per tensor (mergekit) or over the whole model (original code) "
        f"(default: {SCOPE})",
    )
    parser.add_argument(
        "--weights",
        help="one weight per model, comma-separated: 1,0.5,1 (with a negative first weight, "
        "write --weights=-1,1)",
    )


def _analyse(frame: pd.DataFrame, args, header: str, given=None) -> pd.DataFrame:
    """Estimate, test, write the files and print the summary; return the pairs called edges."""
    n, d = frame.shape
    alpha = _ALPHA if args.alpha is None else args.alpha
    try:
        rho = pcor(frame, given=given, method=args.method)
    except ValueError as error:
        # Left after check_pcor_options: what only the data show (collinear parts,
        # parts that --given determines), in the library's words, which name the
        # regularised estimators by the method= they take.
        message = str(error).replace(REGULARISED, "--method shrink, bshrink or glasso")
        if given is not None:
            message = f"--given {','.join(given)}: {message}"
        raise ValueError(message) from error
    variance = partial_variance(frame, given=given, method=args.method)
    # The t tests need n > D - 1 (without given); the regularised estimators
    # exist for fewer samples, and then come without tests.
    tested = args.method == "exact" or n > d - 1
    if tested:
        table = pcor_test(frame, given=given, method=args.method)
    else:
        # pcor_test's columns, without its tests
        table = pair_table(list(frame.columns), {"r": rho.to_numpy()})
        table[["statistic", "df", "pvalue", "qvalue"]] = np.nan
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    files = [out / name for name in _PCOR_FILES]
    rho.to_csv(files[0])
    variance.to_csv(files[1])
    table.to_csv(files[2], index=False)

    # The graphical lasso selects edges itself (its non-zero pattern); t tests
    # of its shrunken estimates are not a valid second selection.
    sparse = args.method == "glasso"
    edges = table[table["r"] != 0] if sparse else table[table["qvalue"] <= alpha]
    strongest = edges.reindex(edges["r"].abs().sort_values(ascending=False).index)
    print(header)
    conditioning = "all other parts" if given is None else ", ".join(given)
    print(f"{n} samples, {d} parts, method {args.method}, partialling out {conditioning}")
    if not tested:
        print(
            f"no t tests: they need more samples than parts less one ({n} <= {d - 1}); "
            "edges.csv lists the estimates without p- or q-values"
            + ("" if sparse else ", and --method glasso selects edges without them")
        )
    if sparse:
        print(f"edges non-zero in the graphical lasso: {len(edges)} of {len(table)} pairs")
    elif tested:
        print(f"edges at FDR {alpha:g}: {len(edges)} of {len(table)} pairs")
    else:
        print("edges: none selected, as there are no q-values to select them by")
    if len(edges):
        print("strongest:")
        for row in strongest.head(_STRONGEST).itertuples():
            q = f"  q = {row.qvalue:.2g}" if tested else ""
            print(f"  {row.part_i} -- {row.part_j}  r = {row.r:+.3f}{q}")
    print("wrote " + ", ".join(str(f) for f in files))
    return edges


def _check_alpha(args) -> None:
    if args.method == "glasso":
        check_unused(args.alpha, "--alpha", "by --method glasso, which selects its non-zero edges")


def _run_pcor(args) -> None:
    check_out_folder(args.out, _PCOR_FILES)
    _check_alpha(args)
    path = check_file(args.data, "DATA.csv")
    frame = read_table(path, args.index_col)
    name = f"DATA.csv {str(path)!r}"
    # The size pcor and pcor_test need; zeros are checked, or replaced, below.
    check_composition(
        frame.to_numpy(),
        name,
        allow_zeros=True,
        min_parts=3,
        min_samples=3,
        row_labels=frame.index,
    )
    given = check_pcor_options(frame, name, args.method, args.given)
    if args.zeros is not None:
        frame = replace_zeros_of(frame, args.zeros, name)
    else:
        check_no_zeros(
            frame.to_numpy(),
            name,
            fix="pass --zeros multiplicative (or gbm, sq, bl for counts, or pseudocount) "
            "to replace them",
            row_labels=frame.index,
        )
    _analyse(frame, args, f"coda pcor {path}", given)


def _run_demo(args) -> None:
    check_out_folder(args.out, (*_PCOR_FILES, "data.csv"))
    _check_alpha(args)
    check_seed(args.seed)
    check_demo_size(args.n, args.parts, args.method)
    sim = simulate(args.n, args.parts, graph=args.graph, seed=args.seed)
    header = (
        f"coda demo: {args.graph} graph with {len(sim.edges)} true edges among "
        f"{args.parts} parts (seed {args.seed})"
    )
    # The edges the summary announced: recovery is scored on the same selection.
    edges = _analyse(sim.data, args, header)
    data_file = Path(args.out) / "data.csv"
    sim.data.to_csv(data_file, index_label="sample")
    print(f"wrote {data_file} (the simulated data: rerun with coda pcor {data_file})")
    estimated = pd.DataFrame(False, index=sim.adjacency.index, columns=sim.adjacency.columns)
    for a, b in zip(edges["part_i"], edges["part_j"], strict=True):
        estimated.loc[a, b] = estimated.loc[b, a] = True
    score = compare_graphs(estimated, sim.adjacency)
    print(
        f"recovery of the true graph (the clr precision's): precision {score.precision:.2f}, "
        f"recall {score.recall:.2f}, F1 {score.f1:.2f}, structural Hamming distance {score.shd}"
    )


def _run_roman_glass(args) -> None:
    from coda.casestudy import _REPORT_FILES, write_report

    check_out_folder(args.out, _REPORT_FILES)
    check_seed(args.seed)
    check_count(args.n_boot, "--n-boot")
    cups = _find_roman_cups(args.path, None, args.download, _CUPS_OPTIONS)
    try:
        files = write_report(cups, args.out, n_boot=args.n_boot, seed=args.seed)
    except ValueError as error:
        # The analysis' own checks name its Python arguments; say which data failed.
        source = "the Roman cups data" if args.path is None else f"--path {args.path!r}"
        raise ValueError(
            f"{source} ({cups.shape[0]} cups; the published data have 47) cannot be "
            f"analysed as the case study does: {error}"
        ) from error
    print(f"coda roman-glass: {cups.shape[0]} cups, {cups.shape[1]} oxides")
    print("wrote " + ", ".join(str(f) for f in files))


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"coda: warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run the ``coda`` command with ``argv`` (default: ``sys.argv[1:]``); return the exit code.

    Parameters
    ----------
    argv : list of str, optional
        The arguments after the program name.

    Returns
    -------
    int
        0 on success, 2 on bad input (the message goes to stderr as
        ``coda: error: ...``; argparse usage errors exit with 2 as well), 1
        without a message when the reader of the output closes it early
        (``coda demo | head``), 130 when interrupted (Ctrl-C). Warnings go
        to stderr as ``coda: warning: ...``.

    Examples
    --------
    >>> from coda.cli import main
    >>> main(["pcor", "no-such-file.csv"])
    2
    """
    args = _parser().parse_args(argv)
    try:
        with warnings.catch_warnings():
            # coda's warnings as one line each, like its errors, not as Python
            # prints them (a file name, a line number and a source line).
            warnings.showwarning = _show_warning
            warnings.simplefilter("default", CodaWarning)
            args.handler(args)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader of the output went away (``coda demo | head``): stop
        # quietly, as other command-line tools do, and send what Python would
        # flush at exit to devnull so that the flush does not fail again.
        # (A stdout without a file descriptor, as in Jupyter, is left alone.)
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        # Ctrl-C: one line instead of a traceback, and the shell's code for it.
        print("coda: interrupted", file=sys.stderr)
        return 130
    except (ValueError, TypeError, OSError, ImportError) as exc:
        print(f"coda: error: {exc}", file=sys.stderr)
        return 2
    return 0
