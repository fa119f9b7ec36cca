"""Data sets: a published composition and simulated compositions with a known graph.

:func:`load_roman_cups` returns the Roman glass cups data, from a local file
or a checksum-verified download that it caches; the project ships no data
files. :func:`simulate` draws compositions (or counts) whose clr precision
has a chosen sparse pattern, so that estimated networks can be scored against
the truth. Nothing here reads or downloads anything at import.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import os
import tempfile
import urllib.request
import warnings
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd

from coda._results import Simulation
from coda._validation import (
    _listing,
    check_data_file,
    check_flag,
    check_folder,
    check_fraction,
    check_integer,
    check_option,
    check_path,
    check_table,
    read_csv_table,
    seeded_rng,
)
from coda.transforms import clr_inv

__all__ = ["load_dataset", "load_roman_cups", "simulate"]

_GRAPHS = ("chain", "hub", "random")
_HUB_GROUP = 10  # parts per hub module: hub edges then have partial correlations near 1/3
_LOG_SIZE_SD = 1.0  # sd of the per-sample log total abundance, which closure removes
_MIN_EIGENVALUE = 0.05  # relative to the tree part, keeps the clr covariance well conditioned


def _tree_and_extra_edges(graph: str, d: int, density, rng) -> tuple[list, list]:
    """Edges of a spanning tree (connectivity) and of the extra edges that close cycles."""
    if graph == "chain":
        return [(i, i + 1) for i in range(d - 1)], []
    if graph == "hub":
        starts = list(range(0, d, _HUB_GROUP))
        if len(starts) > 1 and d - starts[-1] < 2:
            starts.pop()
        bounds = [*starts, d]
        tree = [(a, m) for a, b in pairwise(bounds) for m in range(a + 1, b)]
        # Hubs join in a chain so the graph is connected (a tree, like the modules).
        tree += list(pairwise(starts))
        return tree, []
    order = rng.permutation(d)
    # A random recursive tree: each part joins one of the parts placed before it.
    tree = [tuple(sorted((int(order[k]), int(order[rng.integers(k)])))) for k in range(1, d)]
    pairs = d * (d - 1) // 2
    p_extra = (density * pairs - (d - 1)) / max(pairs - (d - 1), 1)
    in_tree = set(tree)
    i, j = np.triu_indices(d, k=1)
    draws = rng.random(i.size) < p_extra
    extra = [
        (int(a), int(b))
        for a, b, keep in zip(i, j, draws, strict=True)
        if keep and (a, b) not in in_tree
    ]
    return tree, extra


def _laplacian(d: int, edges: list, weights: np.ndarray) -> np.ndarray:
    """``sum_e w_e (e_i - e_j)(e_i - e_j)^T``: zero row sums, ``Omega_ij = -w_e``."""
    omega = np.zeros((d, d))
    for (a, b), w in zip(edges, weights, strict=True):
        omega[a, b] -= w
        omega[b, a] -= w
        omega[a, a] += w
        omega[b, b] += w
    return omega


def _clr_precision(graph: str, d: int, density, rng) -> np.ndarray:
    """Return a sparse clr precision with zero row sums and rank D - 1."""
    tree, extra = _tree_and_extra_edges(graph, d, density, rng)
    tree_w = rng.uniform(0.5, 1.0, len(tree))
    base = _laplacian(d, tree, tree_w)
    if not extra:
        return base
    extra_w = rng.uniform(0.5, 1.0, len(extra)) * rng.choice([-1.0, 1.0], len(extra))
    floor = _MIN_EIGENVALUE * np.linalg.eigvalsh(base + 1.0 / d)[0]
    # Negative weights (negative partial correlations) can break positive
    # semi-definiteness: halve them until the smallest eigenvalue on the clr
    # plane (that of Omega + J/D, whose extra eigenvalue 1 sits on 1) is safe.
    while True:
        omega = base + _laplacian(d, extra, extra_w)
        if np.linalg.eigvalsh(omega + 1.0 / d)[0] > floor:
            return omega
        extra_w = np.where(extra_w < 0, extra_w / 2, extra_w)


def simulate(n_samples, n_parts, /, *, graph: str = "chain", density=None, seed=None, counts=None):
    r"""Simulate compositions whose clr partial correlations follow a known sparse graph.

    The clr precision :math:`\Omega` (zero row sums, rank D-1) is built
    with the chosen sparsity pattern; clr coordinates are drawn from
    :math:`N(0, \Omega^+)`, shifted by a mean log-abundance per part and a
    log total abundance per sample, exponentiated and closed. Optionally the
    compositions are then sampled as multinomial counts, which gives zeros.

    Parameters
    ----------
    n_samples : int
        Number of samples (rows), at least 1.
    n_parts : int
        Number of parts (columns) D, at least 3.
    graph : {"chain", "hub", "random"}, default "chain"
        ``"chain"``: part i linked to part i+1. ``"hub"``: modules of
        10 consecutive parts, each linked to its first part (the hub), hubs
        linked in a chain. ``"random"``: a random spanning tree plus
        independent extra edges, with random signs.
    density : float, optional
        For ``graph="random"`` only: the expected fraction of the
        ``D(D-1)/2`` pairs that are edges, at least ``2/D`` (the spanning
        tree); default ``min(1, 3/D)`` (about three neighbours per part).
    seed : None, int or numpy.random.Generator
        Seed of ``numpy.random.default_rng``; the same seed gives the same
        data set.
    counts : int, optional
        If given, each sample is drawn as multinomial counts with this total
        (the "sequencing depth"); the data are then integers with zeros.

    Returns
    -------
    Simulation
        ``data`` (DataFrame with parts ``p01 .. pD``, closed compositions or
        counts), ``precision`` (of the log-abundances), ``clr_precision``
        (:math:`\Omega`, whose pattern is the graph), ``adjacency`` (boolean
        D x D), ``graph``, and the properties ``pcor`` (true partial
        correlations) and ``edges``.

    Raises
    ------
    ValueError
        If ``n_samples < 1``, ``n_parts < 3``, ``counts < 1``, ``graph`` is unknown, or
        ``density`` is given for another graph or is below ``2/D``.
    TypeError
        If ``n_samples``, ``n_parts`` or ``counts`` is not an integer.

    See Also
    --------
    coda.pcor : the estimator whose target is ``clr_precision``.
    coda.compare_graphs : score an estimated graph against ``adjacency``.

    Notes
    -----
    **Which graph is recoverable.** The partial correlations of Erb (2020)
    estimate :math:`\Omega = \Gamma^+`, the pseudo-inverse of the clr
    covariance :math:`\Gamma = G \Sigma G` (:math:`G = I - J/D`), not the
    precision :math:`\Sigma^{-1}` of the unobserved log-abundances. For a
    general :math:`\Sigma` the two have different off-diagonal zero patterns,
    because :math:`(G \Sigma G)^+` mixes all entries. This simulator
    therefore defines :math:`\Omega` directly: a weighted graph Laplacian
    :math:`\Omega = \sum_{(i,j)} w_{ij} (e_i - e_j)(e_i - e_j)^T`, so that
    :math:`\Omega 1 = 0`, :math:`\Omega_{ij} = -w_{ij}` on edges and 0
    elsewhere. The clr covariance is :math:`\Gamma = \Omega^+`, scaled so
    that the mean clr variance :math:`\operatorname{tr}(\Gamma)/D` is 1.
    The log-abundances are :math:`y = \mu + z + s 1` with clr part
    :math:`z \sim N(0, \Gamma)`, means :math:`\mu_i \sim N(0, 1)` and an
    independent log size :math:`s \sim N(0, 1)` per sample, so
    :math:`\Sigma = \Gamma + J` and
    ``precision`` :math:`= \Sigma^{-1} = \Omega + J/D^2`: it is dense (every
    entry shifted by :math:`1/D^2`), while ``clr_precision`` and
    ``adjacency`` are sparse. The graph the method can recover is
    ``adjacency``, the pattern of ``clr_precision``.

    Weights are drawn uniformly from [0.5, 1]. On a tree (``"chain"``,
    ``"hub"``) a zero-row-sum precision is positive semi-definite only if
    every weight is positive, so all true partial correlations are
    positive. ``"random"`` graphs also have cycles; their extra edges get
    random signs, and negative weights are halved until :math:`\Omega` stays
    well conditioned on the clr plane.

    With ``counts``, each row is ``Multinomial(counts, composition)``:
    rare parts become zeros, as in sequencing data, and zero replacement
    (:func:`coda.replace_zeros`) is needed before any log-ratio analysis.

    References
    ----------
    .. [1] Erb, I. (2020). Partial correlations in compositional data
       analysis. Applied Computing and Geosciences 6:100026.
       https://doi.org/10.1016/j.acags.2020.100026

    Examples
    --------
    >>> import coda
    >>> sim = coda.simulate(100, 5, graph="chain", seed=0)
    >>> sim.data.shape
    (100, 5)
    >>> sim.edges
    [('p01', 'p02'), ('p02', 'p03'), ('p03', 'p04'), ('p04', 'p05')]
    >>> sim.pcor.round(2)
          p01   p02   p03   p04  p05
    p01  1.00  0.75  0.00  0.00  0.0
    p02  0.75  1.00  0.49  0.00  0.0
    p03  0.00  0.49  1.00  0.48  0.0
    p04  0.00  0.00  0.48  1.00  0.7
    p05  0.00  0.00  0.00  0.70  1.0
    """
    n = check_integer(n_samples, "n_samples", minimum=1)
    d = check_integer(n_parts, "n_parts", minimum=3)
    check_option(graph, "graph", _GRAPHS)
    if counts is not None:
        counts = check_integer(counts, "counts", minimum=1)
    if graph == "random":
        density = (
            min(1.0, 3.0 / d)
            if density is None
            else check_fraction(density, "density", closed=True)
        )
        if density < 2.0 / d:
            raise ValueError(
                f"density={density!r} is below 2/D = {2.0 / d:.3g}, the density of the "
                "spanning tree that keeps the graph connected; use a larger density"
            )
    elif density is not None:
        raise ValueError(
            f"density={density!r} applies to graph='random' only; graph={graph!r} "
            "has a fixed pattern: leave density=None"
        )
    rng = seeded_rng(seed)
    omega = _clr_precision(graph, d, density, rng)
    gamma = np.linalg.inv(omega + 1.0 / d) - 1.0 / d
    scale = np.trace(gamma) / d
    gamma /= scale
    omega *= scale
    vals, vecs = np.linalg.eigh(gamma)
    # The largest D - 1 eigenvalues span the clr plane; the smallest is the 1 direction.
    root = vecs[:, 1:] * np.sqrt(vals[1:])
    z = rng.standard_normal((n, d - 1)) @ root.T
    mu = rng.standard_normal(d)
    log_size = rng.normal(0.0, _LOG_SIZE_SD, (n, 1))
    proportions = clr_inv(mu + z + log_size)
    data = rng.multinomial(counts, proportions) if counts is not None else proportions
    width = max(2, len(str(d)))
    parts = pd.Index([f"p{k + 1:0{width}d}" for k in range(d)])

    def square(values):
        return pd.DataFrame(values, index=parts, columns=parts)

    adjacency = omega != 0
    np.fill_diagonal(adjacency, False)
    return Simulation(
        data=pd.DataFrame(data, columns=parts),
        precision=square(omega + 1.0 / (_LOG_SIZE_SD**2 * d**2)),
        clr_precision=square(omega),
        adjacency=square(adjacency),
        graph=graph,
    )


_CUPS_PARTS = ("Si", "Al", "Fe", "Mg", "Ca", "Na", "K", "Ti", "P", "Mn", "Sb")
_CUPS_INDEX = "cup"
_CUPS_CSV = "roman_cups.csv"
_CUPS_OBJECT = "cups"  # the name of the data frame inside the RData file
_CUPS_URL = "https://raw.githubusercontent.com/cran/easyCODA/master/data/cups.RData"
# SHA-256 of the easyCODA file; a changed or corrupted download is refused.
_CUPS_SHA256 = "53d5f2c0cc85de9ce28e638c903d036edfa02509e14e087e4da264d5202aca81"
_DOWNLOAD_TIMEOUT = 30.0  # seconds without an answer before the download counts as failed
_SUFFIXES = {".csv": "a CSV file", ".rdata": "an R data file", ".rda": "an R data file"}


def _fetch(url: str) -> bytes:
    """Return the bytes at ``url`` (the one place that touches the network)."""
    with urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT) as response:
        return response.read()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _default_cache_dir() -> Path:
    # XDG base directory specification: $XDG_CACHE_HOME, else ~/.cache.
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "coda"


def _write_atomic(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` so that readers see the old file or the new one, whole."""
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _cache_damage(csv: Path) -> str:
    """What is wrong with the cached ``csv``; ``""`` if it matches the SHA-256 beside it."""
    sidecar = csv.with_name(csv.name + ".sha256")
    if not sidecar.is_file():
        return f"has no checksum file beside it ({sidecar.name} is missing)"
    recorded = sidecar.read_text(encoding="ascii", errors="replace").split()
    if recorded and recorded[0] == _sha256(csv.read_bytes()):
        return ""
    return f"is damaged (truncated or changed: its SHA-256 differs from the one in {sidecar.name})"


def _check_cache_folder(cache: Path, name: str | None) -> None:
    """Raise NotADirectoryError if the cache folder, or a folder above it, is a file.

    ``name`` is the argument that gave ``cache``; None for the default cache folder.
    """
    if name is None:
        check_folder(
            cache,
            f"the cache folder {str(cache)!r} (from $XDG_CACHE_HOME, else ~/.cache)",
            fix="move or delete that file, or pass cache_dir= another folder",
        )
    else:
        check_folder(
            cache,
            f"{name}={str(cache)!r}",
            fix=f"pass {name}= a folder (it is created if missing), or leave {name} out to "
            "use the default cache folder",
        )


def _cups_table(table: pd.DataFrame, name: str) -> pd.DataFrame:
    """Return the checked cups of a table read from ``name``: at least one, all positive."""
    cups = check_table(table, name, index=_CUPS_INDEX, columns=_CUPS_PARTS)
    if cups.empty:
        raise ValueError(
            f"{name} holds no cups (its columns are there, but no rows); the file is "
            "damaged or not this data set: fetch it again"
        )
    values = cups.to_numpy()
    # Compositions: the published percentages are all positive (the smallest is
    # 0.01), so a zero or a negative value is damage, not a value to replace.
    bad = values <= 0
    if bad.any():
        column = int(np.flatnonzero(bad.any(axis=0))[0])
        rows = np.flatnonzero(bad[:, column])
        shown = [f"cup {cups.index[r]}: {float(values[r, column])!r}" for r in rows]
        raise ValueError(
            f"{name} has values that are not positive in column {cups.columns[column]} "
            f"({_listing(shown)}); the percentages of the data set are all positive: the "
            "file is damaged or not this data set: fetch it again"
        )
    return cups


def _cups_from_csv(source, name: str) -> pd.DataFrame:
    table = read_csv_table(
        source, name, fix="the file is damaged or not this data set: fetch it again"
    )
    return _cups_table(table, name)


def _cups_from_rdata(data: bytes, name: str) -> pd.DataFrame:
    try:
        import rdata
    except ImportError as error:
        raise ImportError(
            f"reading the R data file {name} needs the package rdata; install it with "
            "pip install 'coda-logratio[data]' (or pip install rdata), or pass "
            "path= to a CSV copy of the data instead"
        ) from error
    try:
        with warnings.catch_warnings():
            # rdata warns as it guesses at a file it does not recognise ("Unknown
            # file type: assumed RDS"); the error below says what went wrong.
            warnings.filterwarnings("ignore", module=r"rdata(\.|$)")
            objects = rdata.read_rda(io.BytesIO(data))
    # Damaged input makes rdata raise many types (EOFError, NotImplementedError,
    # OSError, ValueError, IndexError, KeyError, AssertionError, zlib and lzma
    # errors, ...), none of them documented: all mean the same thing here.
    except Exception as error:
        raise ValueError(
            f"{name} is not a readable R data file ({str(error) or type(error).__name__}); "
            "the file is damaged or not R data: fetch it again, or pass path= to a CSV copy "
            "of the data"
        ) from error
    if not isinstance(objects, dict):
        # read_rda also parses an .rds file (saveRDS), which holds one unnamed object.
        raise ValueError(
            f"{name} is an RDS file (one {type(objects).__name__} saved by saveRDS), not "
            f"an R data file holding a data frame named {_CUPS_OBJECT!r}; use "
            "data/cups.RData of easyCODA"
        )
    frame = objects.get(_CUPS_OBJECT)
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(
            f"{name} holds no data frame named {_CUPS_OBJECT!r} (it holds: "
            f"{', '.join(map(str, objects)) or 'nothing'}); use data/cups.RData of easyCODA"
        )
    ids = pd.to_numeric(pd.Series(frame.index), errors="coerce")
    # R's row names are the cup ids when they are numbers; otherwise number the rows.
    if ids.isna().any():
        ids = pd.Series(np.arange(1, len(frame) + 1))
    table = frame.set_axis(ids.to_numpy(), axis=0).rename_axis(_CUPS_INDEX).reset_index()
    return _cups_table(table, name)


def _cups_from_path(path, name: str = "path") -> pd.DataFrame:
    path = check_data_file(path, name, suffixes=_SUFFIXES)
    described = f"{name}={str(path)!r}"
    if path.suffix.lower() == ".csv":
        return _cups_from_csv(path, described)
    return _cups_from_rdata(path.read_bytes(), described)


def _unavailable(cached: Path, reason: str) -> FileNotFoundError:
    return FileNotFoundError(
        f"the Roman cups data are not available: {reason}. Put {_CUPS_CSV} (a header "
        f"row cup,{','.join(_CUPS_PARTS)}, then one row per cup) in a folder and set "
        "the environment variable CODA_DATA_DIR to that folder, or pass path= to that "
        f"CSV or to the R data file, which can be downloaded from {_CUPS_URL} "
        f"(SHA-256 {_CUPS_SHA256}); with network access, download=True caches it "
        f"in {cached.parent}"
    )


def _download_cups(cached: Path, reason: str) -> pd.DataFrame:
    try:
        data = _fetch(_CUPS_URL)
    except (OSError, http.client.HTTPException) as error:
        raise _unavailable(cached, f"{reason}, and the download failed ({error})") from error
    digest = _sha256(data)
    if digest != _CUPS_SHA256:
        raise OSError(
            f"the file downloaded from {_CUPS_URL} has SHA-256 {digest}, not the expected "
            f"{_CUPS_SHA256}; nothing was cached. The download was corrupted or the source "
            "changed: try again, or check the file and pass it as path="
        )
    frame = _cups_from_rdata(data, _CUPS_URL)
    text = frame.to_csv(lineterminator="\n").encode("utf-8")
    cached.parent.mkdir(parents=True, exist_ok=True)
    # The data first, then their checksum: a crash in between leaves a file
    # without a matching checksum, which the next call fetches again.
    _write_atomic(cached, text)
    checksum = f"{_sha256(text)}  {_CUPS_CSV}\n".encode("ascii")
    _write_atomic(cached.with_name(cached.name + ".sha256"), checksum)
    return frame


def load_roman_cups(*, path=None, cache_dir=None, download: bool = True) -> pd.DataFrame:
    r"""Load the Roman glass cups data: 11 oxides (percent) in 47 cups.

    The compositions of 47 Roman glass cups found at an archaeological site
    in eastern England, as percentages of 11 oxides, from the R package
    easyCODA (data set ``cups``). coda ships no copy: the data are read from
    the first of these places that has them,

    1. ``path``, a CSV file or the R data file ``cups.RData``;
    2. ``$CODA_DATA_DIR/roman_cups.csv``;
    3. ``roman_cups.csv`` in the cache folder;
    4. a download of ``data/cups.RData`` from the GitHub mirror of easyCODA,
       whose SHA-256 is checked before it is read and cached as CSV.

    Parameters
    ----------
    path : str or os.PathLike, optional
        A CSV file (a header row ``cup,Si,Al,Fe,Mg,Ca,Na,K,Ti,P,Mn,Sb`` then
        one row per cup) or an R data file (``.RData``, ``.rda``) holding a
        data frame ``cups``. When given, nothing else is searched.
    cache_dir : str or os.PathLike, optional
        The cache folder; default ``$XDG_CACHE_HOME/coda``, or
        ``~/.cache/coda`` when that variable is not set.
    download : bool, default True
        Whether to download the data when no local copy is found (or the
        cached copy is damaged). With ``False`` the function never uses the
        network.

    Returns
    -------
    pandas.DataFrame
        One row per cup, indexed by the integer cup id (index name ``cup``,
        1 to 47 in the published data), and the float columns ``Si, Al, Fe,
        Mg, Ca, Na, K, Ti, P, Mn, Sb``, all positive.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist; or if no local copy is found and
        ``download=False`` or the download fails (no network). The message
        says where to put the file and where to download it.
    NotADirectoryError
        If the cache folder (``cache_dir``, or the default one), or a folder
        above it, is an existing file; checked before anything is downloaded.
    OSError
        If the downloaded file does not have the expected SHA-256 (nothing is
        then cached), or the cached CSV is damaged or its checksum file is
        missing and ``download=False``.
    ValueError
        If a file is not a readable CSV or R data file (damaged, truncated,
        empty, or of another format); if it lacks a column, has other
        columns, has no rows, or holds non-numeric, missing, infinite, zero
        or negative values; or if ``path`` has another suffix than ``.csv``,
        ``.RData`` or ``.rda``.
    TypeError
        If ``path`` or ``cache_dir`` is not a path, or ``download`` is not a
        bool.
    ImportError
        If an R data file must be read and the package ``rdata`` is missing
        (``pip install 'coda-logratio[data]'``).

    See Also
    --------
    coda.simulate : simulated compositions with a known graph.
    coda.pcor : partial correlations, e.g. of these oxides.

    Notes
    -----
    The download comes from
    https://raw.githubusercontent.com/cran/easyCODA/master/data/cups.RData
    and must have the SHA-256
    ``53d5f2c0cc85de9ce28e638c903d036edfa02509e14e087e4da264d5202aca81``.
    It is parsed with the package ``rdata`` and cached as
    ``roman_cups.csv`` beside ``roman_cups.csv.sha256``, the SHA-256 of the
    CSV; both are written to a temporary file first and then renamed, so
    that an interrupted call leaves no half-written file. A cached CSV whose
    checksum no longer matches (truncated, edited) is fetched again, or
    reported with its name when ``download=False``.

    The cup ids are the row names of the R data frame when these are
    numbers, else the row numbers 1, 2, ... The CSV at ``CODA_DATA_DIR`` and
    at ``path`` is trusted as it is (only its columns and values are
    checked), so that a local copy works without network access. The
    published percentages are all positive (the smallest is 0.01), so a
    zero or negative value is refused as damage rather than passed on for
    zero replacement.

    References
    ----------
    .. [1] Baxter, M. J., Beardah, C. C., Cool, H. E. M. and Jackson, C. M.
       (2005). Compositional data analysis of some alkaline glasses.
       Mathematical Geology 37:183-196.
       https://doi.org/10.1007/s11004-005-1308-8
    .. [2] Greenacre, M. (2018). Compositional Data Analysis in Practice.
       Chapman & Hall/CRC. R package easyCODA.

    Examples
    --------
    Read a CSV given as ``path=`` (here two cups written on the spot; with
    no arguments the function finds or downloads the full 47 cups):

    >>> import tempfile
    >>> from pathlib import Path
    >>> import coda
    >>> header = "cup,Si,Al,Fe,Mg,Ca,Na,K,Ti,P,Mn,Sb\n"
    >>> rows = "1,75.2,1.84,0.26,0.47,5.0,16.3,0.44,0.06,0.04,0.01,0.36\n"
    >>> rows += "2,72.4,1.8,0.28,0.46,5.89,18.2,0.44,0.06,0.04,0.01,0.33\n"
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     csv = Path(folder) / "roman_cups.csv"
    ...     _ = csv.write_text(header + rows)
    ...     cups = coda.load_roman_cups(path=csv)
    >>> cups[["Si", "Al", "Na", "Sb"]]
           Si    Al    Na    Sb
    cup
    1    75.2  1.84  16.3  0.36
    2    72.4  1.80  18.2  0.33
    >>> coda.clr(cups)[["Si", "Na"]].round(3)
            Si     Na
    cup
    1    4.798  3.269
    2    4.743  3.363
    """
    download = check_flag(download, "download")
    if path is not None:
        return _cups_from_path(path)
    cache = _default_cache_dir() if cache_dir is None else check_path(cache_dir, "cache_dir")
    cached = cache / _CUPS_CSV
    folder = os.environ.get("CODA_DATA_DIR")
    if folder and (Path(folder) / _CUPS_CSV).is_file():
        return _cups_from_path(Path(folder) / _CUPS_CSV, "CODA_DATA_DIR")
    searched = (
        f"{Path(folder) / _CUPS_CSV} does not exist" if folder else "CODA_DATA_DIR is not set"
    )
    # Before anything is downloaded, which could then not be cached.
    _check_cache_folder(cache, None if cache_dir is None else "cache_dir")
    damage = _cache_damage(cached) if cached.is_file() else None
    if damage is None:
        reason = f"no path= was given, {searched} and nothing is cached in {cache}"
    elif not damage:
        return _cups_from_csv(cached, f"the cached file {cached}")
    elif download:
        reason = f"the cached file {cached} {damage} and must be fetched again"
    else:
        raise OSError(
            f"the cached file {cached} {damage}; delete it, or call "
            "load_roman_cups(download=True) to fetch it again (a copy of your own belongs "
            "in CODA_DATA_DIR, which is read without a checksum)"
        )
    if not download:
        raise _unavailable(cached, f"{reason}, and download=False")
    return _download_cups(cached, reason)


def load_dataset(name, /, **options):
    """Load a data set shipped through coda's loaders, by name.

    Parameters
    ----------
    name : {"roman_cups"}
        The data set: ``"roman_cups"`` is :func:`load_roman_cups`.
    **options
        Passed to the loader (for example ``path=`` or ``download=``).

    Returns
    -------
    DataFrame
        What the loader returns.

    Raises
    ------
    ValueError
        If ``name`` is not a known data set (the message lists them).

    See Also
    --------
    load_roman_cups : the Roman glass cups.

    Examples
    --------
    >>> import coda
    >>> coda.load_dataset("roman_glass")
    Traceback (most recent call last):
    ...
    ValueError: name='roman_glass' is not a known option; choose one of 'roman_cups'
    """
    check_option(name, "name", sorted(_LOADERS))
    return _LOADERS[name](**options)


_LOADERS = {"roman_cups": load_roman_cups}
