"""The Roman-glass case study: the tables, figures and report shared by notebook and command.

``notebooks/roman_glass.ipynb`` and ``coda roman-glass`` run the same
analysis of the 47 Roman glass cups (``coda.load_roman_cups``) through the
functions here, so that the two cannot drift apart. The functions accept
any strictly positive composition with named parts, which is how their
examples run on simulated data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from coda._labels import composition
from coda._validation import (
    check_count,
    check_files_free,
    check_folder,
    check_fraction,
    check_pair,
    check_parts,
    check_path,
    seeded_rng,
)
from coda.covariance import clr_cov, variation
from coda.graph import network
from coda.inference import pcor_bootstrap, pcor_test
from coda.partial import partial_variance, pcor
from coda.plot_diagrams import plot_biplot
from coda.plotting import plot_network, plot_pcor_heatmap, plot_variation
from coda.proportionality import balance_correlation, proportionality

__all__ = ["alr_pcor", "case_figures", "pair_table", "write_report"]

# The figures of case_figures, and every file write_report writes, report.md first.
_FIGURES = ("raw_vs_logratio", "variation", "biplot", "pcor_heatmap", "network")
_REPORT_FILES = (
    "report.md",
    "pairs.csv",
    "variances.csv",
    "alr_check.csv",
    *(f"{name}.png" for name in _FIGURES),
)


def alr_pcor(x, /, *, pair):
    """Partial correlation of two parts computed from every alr reference by regression.

    For each reference part ``r`` outside the pair, regress ``ln(x_i/x_r)``
    and ``ln(x_j/x_r)`` on the other alr coordinates (with an intercept) and
    correlate the residuals. Erb (2020) shows these all equal
    ``coda.pcor(x)[i, j]``; this function makes that visible by doing the
    regressions explicitly.

    Parameters
    ----------
    x : array_like or DataFrame of shape (n_samples, n_parts)
        Strictly positive compositions, at least four parts.
    pair : sequence of two parts
        The parts ``i`` and ``j``, as names or positions.

    Returns
    -------
    Series
        One partial correlation per reference part, indexed by its name.

    Raises
    ------
    ValueError
        If ``x`` is not a valid composition or ``pair`` does not name two
        distinct parts.

    See Also
    --------
    coda.pcor : the same number, from the clr precision matrix.

    Notes
    -----
    The residual correlation is the partial correlation of the two alr
    coordinates given the others (Frisch-Waugh-Lovell); its independence of
    ``r`` is Erb (2020), section 3.

    References
    ----------
    Erb I (2020). Partial correlations in compositional data analysis.
    Applied Computing and Geosciences 6:100026.
    https://doi.org/10.1016/j.acags.2020.100026

    Examples
    --------
    >>> import numpy as np
    >>> from coda.casestudy import alr_pcor
    >>> rng = np.random.default_rng(1)
    >>> x = np.exp(rng.normal(size=(40, 5)))
    >>> alr_pcor(x, pair=[0, 1]).round(4).tolist()
    [-0.0572, -0.0572, -0.0572]
    """
    values, labels = composition(x, min_parts=4, min_samples=3)
    d = values.shape[1]
    names = labels.part_names(d)
    i, j = check_pair(pair, "pair", labels.parts, d)
    logs = np.log(values)
    refs = [r for r in range(d) if r not in (i, j)]
    out = []
    for r in refs:
        others = [k for k in range(d) if k not in (i, j, r)]
        design = np.column_stack([np.ones(len(logs)), logs[:, others] - logs[:, [r]]])
        targets = logs[:, [i, j]] - logs[:, [r]]
        residuals = targets - design @ np.linalg.lstsq(design, targets, rcond=None)[0]
        out.append(np.corrcoef(residuals, rowvar=False)[0, 1])
    return pd.Series(out, index=pd.Index([names[r] for r in refs], name="ref"), name="pcor")


def _pairs(matrix: np.ndarray) -> np.ndarray:
    """The upper-triangle entries of a square matrix, row by row (the pcor_test order)."""
    return matrix[np.triu_indices(matrix.shape[0], k=1)]


def pair_table(x, /, *, given=None, n_boot: int = 1000, seed=None):
    """One row per pair of parts: raw, log-ratio, partial and balance correlations side by side.

    The table puts the measures a case study compares next to each other:
    the Pearson correlation of the closed percentages, the log-ratio
    variance, the proportionality coefficient, the symmetric-balance
    correlation, the partial correlation with its FDR-adjusted p-value and a
    bootstrap interval, and, with ``given``, the partial correlation that
    partials out only those parts.

    Parameters
    ----------
    x : DataFrame of shape (n_samples, n_parts)
        Strictly positive compositions with named parts, at least four.
    given : sequence of parts, optional
        Parts to partial out in the column ``pcor_given`` (pairs that include
        one of them get NaN there); default no such column.
    n_boot : int, default 1000
        Bootstrap resamples for ``lower`` and ``upper``.
    seed : None, int or numpy.random.Generator
        Seed of the bootstrap.

    Returns
    -------
    DataFrame
        Columns ``part_i``, ``part_j``, ``pearson``, ``variation``, ``rho``,
        ``balance_cor``, ``pcor``, ``qvalue``, ``lower``, ``upper`` and, with
        ``given``, ``pcor_given``; pairs in the order of ``coda.pcor_test``.

    Raises
    ------
    ValueError
        If ``x`` is not a valid composition or ``given`` names unknown parts.

    See Also
    --------
    balance_correlation, coda.pcor_test, coda.pcor_bootstrap,
    coda.proportionality

    Notes
    -----
    ``pearson`` is computed on the closed data (rows summing to one), the
    naive analysis the log-ratio columns correct. ``qvalue`` is the
    Benjamini-Hochberg adjustment of the t-test of each partial correlation,
    and ``lower``/``upper`` the 95% percentile bootstrap interval.

    References
    ----------
    Erb I (2020). Partial correlations in compositional data analysis.
    Applied Computing and Geosciences 6:100026.
    https://doi.org/10.1016/j.acags.2020.100026

    Examples
    --------
    >>> import coda
    >>> from coda.casestudy import pair_table
    >>> x = coda.simulate(60, 5, graph="chain", seed=2).data
    >>> table = pair_table(x, given=["p01"], n_boot=200, seed=0)
    >>> table.shape
    (10, 11)
    >>> table.loc[0, ["part_i", "part_j"]].tolist()
    ['p01', 'p02']
    """
    values, labels = composition(x, min_parts=4, min_samples=5)
    frame = pd.DataFrame(values, index=labels.index, columns=labels.part_names(values.shape[1]))
    closed = values / values.sum(axis=1, keepdims=True)
    tests = pcor_test(frame)
    boot = pcor_bootstrap(frame, n_boot=n_boot, seed=seed, progress=False)
    table = tests[["part_i", "part_j"]].copy()
    table["pearson"] = _pairs(np.corrcoef(closed, rowvar=False))
    table["variation"] = _pairs(variation(frame).to_numpy())
    table["rho"] = _pairs(proportionality(frame).to_numpy())
    table["balance_cor"] = _pairs(balance_correlation(frame).to_numpy())
    table["pcor"] = tests["r"]
    table["qvalue"] = tests["qvalue"]
    table["lower"] = _pairs(boot.lower.to_numpy())
    table["upper"] = _pairs(boot.upper.to_numpy())
    if given is not None:
        check_parts(given, "given", frame.columns, frame.shape[1])
        table["pcor_given"] = _pairs(pcor(frame, given=given).to_numpy())
    return table


def case_figures(x, /, *, alpha: float = 0.05, seed=None) -> dict:
    """The case study's figures, each on its own matplotlib Figure.

    Parameters
    ----------
    x : DataFrame of shape (n_samples, n_parts)
        Strictly positive compositions with named parts, at least four.
    alpha : float, default 0.05
        FDR level of the network's edges and of the heatmap's marks.
    seed : None, int or numpy.random.Generator
        Seed of the network layout.

    Returns
    -------
    dict of str to matplotlib.figure.Figure
        ``"raw_vs_logratio"`` (Pearson correlation of the percentages
        against partial and balance correlations), ``"variation"``,
        ``"biplot"`` (clr, form scaling), ``"pcor_heatmap"`` and
        ``"network"``. They are not attached to pyplot, so nothing needs
        closing; in a Jupyter notebook, run ``%matplotlib inline`` first to
        see one as an image when a cell ends with it (IPython shows a bare
        Figure as text otherwise).

    Raises
    ------
    ValueError
        If ``x`` is not a valid composition or ``alpha`` is not in (0, 1).

    See Also
    --------
    coda.plot_variation, coda.plot_biplot, coda.plot_pcor_heatmap,
    coda.plot_network

    Examples
    --------
    >>> import coda
    >>> from coda.casestudy import case_figures
    >>> x = coda.simulate(60, 5, graph="chain", seed=2).data
    >>> sorted(case_figures(x, seed=0))
    ['biplot', 'network', 'pcor_heatmap', 'raw_vs_logratio', 'variation']
    """
    from matplotlib.figure import Figure

    values, labels = composition(x, min_parts=4, min_samples=5)
    frame = pd.DataFrame(values, index=labels.index, columns=labels.part_names(values.shape[1]))
    closed = values / values.sum(axis=1, keepdims=True)
    figures = {name: Figure(figsize=(6, 5), layout="constrained") for name in _FIGURES}
    ax = figures["raw_vs_logratio"].subplots()
    raw = _pairs(np.corrcoef(closed, rowvar=False))
    ax.axhline(0, color="0.7", linewidth=0.8)
    ax.axvline(0, color="0.7", linewidth=0.8)
    ax.scatter(raw, _pairs(pcor(frame).to_numpy()), label="partial correlation")
    ax.scatter(
        raw,
        _pairs(balance_correlation(frame).to_numpy()),
        marker="s",
        label="symmetric-balance correlation",
    )
    ax.set(
        xlabel="Pearson correlation of the percentages",
        ylabel="log-ratio measure",
        xlim=(-1, 1),
        ylim=(-1, 1),
    )
    ax.legend()
    plot_variation(variation(frame), ax=figures["variation"].subplots())
    plot_biplot(frame, ax=figures["biplot"].subplots())
    plot_pcor_heatmap(
        pcor(frame), tests=pcor_test(frame), alpha=alpha, ax=figures["pcor_heatmap"].subplots()
    )
    plot_network(network(frame, alpha=alpha), ax=figures["network"].subplots(), seed=seed)
    return figures


def _markdown(frame: pd.DataFrame, digits: int = 3) -> str:
    """A DataFrame as a GitHub-flavoured Markdown table, numbers rounded to ``digits``."""

    def cell(v):
        return f"{v:.{digits}g}" if isinstance(v, (float, np.floating)) else str(v)

    head = "| " + " | ".join([frame.index.name or "", *map(str, frame.columns)]) + " |"
    rule = "|" + "---|" * (frame.shape[1] + 1)
    rows = [
        "| " + " | ".join([str(k), *map(cell, row)]) + " |"
        for k, row in zip(frame.index, frame.to_numpy(), strict=True)
    ]
    return "\n".join([head, rule, *rows])


def write_report(
    x, out, /, *, given=("Si", "Na"), alpha: float = 0.05, n_boot: int = 1000, seed=0
) -> list:
    """Write the case study as ``report.md`` with its PNG figures and CSV tables.

    Parameters
    ----------
    x : DataFrame of shape (n_samples, n_parts)
        Strictly positive compositions with named parts, at least four.
    out : str or Path
        Output directory, created if missing; files in it are overwritten.
    given : part or sequence of parts, default ("Si", "Na")
        Parts partialled out in the report's second partial-correlation table,
        as names or positions; the report names them; None for no such table.
    alpha : float, default 0.05
        FDR level for the edges.
    n_boot : int, default 1000
        Bootstrap resamples for the intervals.
    seed : None, int or numpy.random.Generator, default 0
        Seed of the bootstrap and the network layout.

    Returns
    -------
    list of Path
        The files written, ``report.md`` first.

    Raises
    ------
    ValueError
        If ``x`` is not a valid composition, ``given`` names unknown parts,
        ``alpha`` is not in (0, 1), ``n_boot`` is below 1 or ``seed`` is a
        negative integer.
    TypeError
        If ``out`` is not a path, ``n_boot`` is not an integer or ``seed``
        is not a seed.
    NotADirectoryError
        If ``out``, or the nearest existing folder above it, is a file.
    IsADirectoryError
        If ``out`` holds a folder under the name of a file the report writes
        (``report.md``, ``pairs.csv``, ...).
    OSError
        If ``out`` cannot be created or written.

    See Also
    --------
    pair_table, case_figures

    Notes
    -----
    ``report.md`` links the figures by relative path, so the folder can be
    moved or zipped as a whole. The tables are ``pairs.csv`` (from
    :func:`pair_table`), ``variances.csv`` (each part's clr variance, its
    partial variance and their ratio, how much of the clr variance is left
    once the other parts are known: one minus it is no R^2, as the ratio
    can exceed 1 in the clr geometry; see :func:`coda.multiple_r2`) and
    ``alr_check.csv`` (:func:`alr_pcor` for the strongest pair).

    All arguments are checked before the analysis runs and before anything
    is written.

    Examples
    --------
    >>> import tempfile
    >>> import coda
    >>> from coda.casestudy import write_report
    >>> x = coda.simulate(60, 5, graph="chain", seed=2).data
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     [p.name for p in write_report(x, folder, given=["p01"], n_boot=100)][:4]
    ['report.md', 'pairs.csv', 'variances.csv', 'alr_check.csv']
    """
    out = check_path(out, "out")
    check_folder(out, f"out={str(out)!r}", fix="pass a folder (created if missing)")
    check_files_free(out, _REPORT_FILES, f"out={str(out)!r}", writer="write_report", option="out")
    check_count(n_boot, "n_boot")
    alpha = check_fraction(alpha, "alpha")
    values, labels = composition(x, min_parts=4, min_samples=5)
    frame = pd.DataFrame(values, index=labels.index, columns=labels.part_names(values.shape[1]))
    if given is not None:
        # By name, so that the report shows given="Si" as Si (not S, i) and positions as parts.
        given = [
            frame.columns[k] for k in check_parts(given, "given", labels.parts, frame.shape[1])
        ]
    rng = seeded_rng(seed)
    table = pair_table(frame, given=given, n_boot=n_boot, seed=rng)
    clr_var = pd.Series(np.diag(clr_cov(frame).to_numpy()), index=frame.columns)
    pvar = partial_variance(frame)
    variances = pd.DataFrame(
        {"clr_variance": clr_var, "partial_variance": pvar, "ratio": pvar / clr_var}
    )
    variances.index.name = "part"
    strongest = table.loc[table["pcor"].abs().idxmax()]
    check = alr_pcor(frame, pair=[strongest["part_i"], strongest["part_j"]]).to_frame()
    out.mkdir(parents=True, exist_ok=True)
    files = [out / name for name in _REPORT_FILES[:4]]  # then the figures, below
    table.to_csv(files[1], index=False)
    variances.to_csv(files[2])
    check.to_csv(files[3])
    for name, figure in case_figures(frame, alpha=alpha, seed=rng).items():
        files.append(out / f"{name}.png")
        figure.savefig(files[-1], dpi=100)

    def pairs(rows, columns):
        shown = rows.set_index(rows["part_i"] + "-" + rows["part_j"])[columns]
        shown.index.name = "pair"
        return _markdown(shown)

    edges = table[table["qvalue"] <= alpha]
    edges = edges.reindex(edges["pcor"].abs().sort_values(ascending=False).index)
    flipped = table[np.sign(table["pearson"]) != np.sign(table["pcor"])]
    if given is None:
        given_section = ""
    else:
        kept = table.dropna(subset="pcor_given")
        kept = kept.reindex(kept["pcor_given"].abs().sort_values(ascending=False).index)
        given_section = (
            f"## Partialling out only {', '.join(map(str, given))}\n\n"
            f"{pairs(kept.head(10), ['pcor_given', 'pcor'])}\n\n"
        )

    n, d = frame.shape
    figure_links = "\n\n".join(f"![{p.stem}]({p.name})" for p in files if p.suffix == ".png")
    text = f"""# Log-ratio analysis of {n} samples of {d} parts

Parts: {", ".join(frame.columns)}. Generated by `coda roman-glass`
(seed {seed}, {n_boot} bootstrap resamples, FDR level {alpha:g}).

## Raw correlations against log-ratio measures

{len(flipped)} of {len(table)} pairs have a Pearson correlation of the
percentages with the opposite sign to their partial correlation.

## Clr and partial variances

{_markdown(variances)}

## Edges: partial correlations at FDR {alpha:g} ({len(edges)} of {len(table)} pairs)

{pairs(edges, ["pcor", "qvalue", "lower", "upper", "pearson", "rho", "balance_cor"])}

## The same partial correlation from every alr reference

{strongest["part_i"]}-{strongest["part_j"]} from explicit alr regressions,
against `coda.pcor` = {strongest["pcor"]:.6f}:

{_markdown(check, digits=6)}

{given_section}## Figures

{figure_links}
"""
    files[0].write_text(text, encoding="utf-8")
    return files
