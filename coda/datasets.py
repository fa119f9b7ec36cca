"""Data sets: the Roman glass cups, a published composition.

:func:`load_roman_cups` returns the Roman glass cups data, from a local file
or a checksum-verified download that it caches; the project ships no data
files. Nothing here reads or downloads anything at import. Simulated
compositions with a known graph are :func:`coda.simulate`
(:mod:`coda.simulation`).
"""

from __future__ import annotations

import hashlib
import http.client
import io
import os
import tempfile
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from coda._validation import (
    _listing,
    check_data_file,
    check_flag,
    check_folder,
    check_option,
    check_path,
    check_published_rows,
    check_table,
    read_csv_table,
)

__all__ = ["load_dataset", "load_roman_cups"]

_CUPS_PARTS = ("Si", "Al", "Fe", "Mg", "Ca", "Na", "K", "Ti", "P", "Mn", "Sb")
_CUPS_INDEX = "cup"
_CUPS_CSV = "roman_cups.csv"
_CUPS_RDATA = "cups.RData"  # the name of the file in easyCODA
_CUPS_OBJECT = "cups"  # the name of the data frame inside the RData file
_CUPS_URL = "https://raw.githubusercontent.com/cran/easyCODA/master/data/cups.RData"
# SHA-256 of the easyCODA file; a changed or corrupted download is refused.
_CUPS_SHA256 = "53d5f2c0cc85de9ce28e638c903d036edfa02509e14e087e4da264d5202aca81"
# The 47 published cups, in cup order, by the SHA-256 of each cup's values to 6
# decimals (its first 16 hex digits; coda._validation._row_digests), not of a
# file: a copy in CODA_DATA_DIR, which has no checksum file beside it, is
# checked against them however it writes the numbers (CSV or R data).
_CUPS_ROWS = (
    "6b6f7d113a3c3ca1", "d2cc656ef690bc65", "d59c1e8b4926f368", "e69830ef8b25400e",
    "c118465e832f1bc0", "c4c2b371de7db010", "ad5fc28e360bd8f2", "7db33f6284d42a49",
    "0e324ec98a561555", "77a7f6d68695c430", "5b3cd8bbbf22ec72", "6d8e5455a3f111b1",
    "8f35b34f4acf67de", "2f6ec1701a2d9da2", "4e89ae6b381953ad", "047d4e5f2d836afc",
    "f50fcf22d8016a12", "8fabf29a70b33bc6", "9c43d96c3b6f6494", "8044e563cb7e5205",
    "80fc44a6254a74e9", "aa0e8de03b7af1c4", "805142504d049b43", "d9d34692b3e36dd0",
    "3ad8344c0db95dbe", "f6d1aaa11405b123", "b357548322a588ce", "b96c8872e4c553bd",
    "62f35e8303e9742d", "1298f3a4c34cd602", "f635c94c78289417", "f375a4aa5de9d67b",
    "393d5f2884a8b40d", "c9202063cb9f8617", "25541b9ab2b2f193", "90b2ec033ffe4b20",
    "cc0838a64e0cf94a", "1c21628664834360", "6a72f7fdb172bc77", "fd4dc6932d9d3de1",
    "cfd7cfd007a19e7f", "944239132637b914", "df42c7a0a8d0c96c", "13af2d9d27be8a17",
    "14096011bcada1c8", "0a956223cea0c57a", "f2d0c8d1668f6fbe",
)  # fmt: skip
_DOWNLOAD_TIMEOUT = 30.0  # seconds without an answer before the download counts as failed
# Matched in lower case; the messages spell them as the files are named.
_SUFFIXES = (".csv", ".RData", ".rda")
_SUFFIXES_SHOWN = "a CSV file (.csv) or an R data file (.RData or .rda)"


@dataclass(frozen=True)
class _Wording:
    """How the messages name the loader's options, so that each user reads what they type.

    ``_ARGUMENTS`` names the Python arguments of :func:`load_roman_cups`;
    ``coda roman-glass`` (:mod:`coda.cli`) passes the names of its options.
    """

    path_name: str  # the option naming a file, in "NAME='x' is ..." messages
    path: str  # the same, in prose: "name a CSV copy with {path}"
    download: str  # how to allow the download
    no_download: str  # that the download was not allowed
    other_cache: str  # how to use another cache folder
    fetch_again: str  # how to fetch the data again


_ARGUMENTS = _Wording(
    path_name="path",
    path="path=",
    download="download=True",
    no_download="download=False",
    other_cache="pass cache_dir= another folder",
    fetch_again="call load_roman_cups(download=True)",
)


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


def _check_cache_folder(cache: Path, name: str | None, words: _Wording) -> None:
    """Raise NotADirectoryError if the cache folder, or a folder above it, is a file.

    ``name`` is the argument that gave ``cache``; None for the default cache folder.
    """
    if name is None:
        check_folder(
            cache,
            f"the cache folder {str(cache)!r} (from $XDG_CACHE_HOME, else ~/.cache)",
            fix=f"move or delete that file, or {words.other_cache}",
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


def _cups_from_rdata(data: bytes, name: str, words: _Wording) -> pd.DataFrame:
    try:
        import rdata
    except ImportError as error:
        raise ImportError(
            f"reading the R data file {name} needs the package rdata; install it with "
            "pip install 'coda-logratio[data]' (or pip install rdata), or name a CSV copy "
            f"of the data with {words.path} instead"
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
            "the file is damaged or not R data: fetch it again, or name a CSV copy of the "
            f"data with {words.path}"
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


def _cups_from_path(path: Path, name: str, words: _Wording) -> pd.DataFrame:
    described = f"{name}={str(path)!r}"
    if path.suffix.lower() == ".csv":
        return _cups_from_csv(path, described)
    return _cups_from_rdata(path.read_bytes(), described, words)


def _unavailable(cached: Path, reason: str, words: _Wording) -> FileNotFoundError:
    return FileNotFoundError(
        f"the Roman cups data are not available: {reason}. Put {_CUPS_CSV} (a header "
        f"row cup,{','.join(_CUPS_PARTS)}, then one row per cup) or the R data file "
        f"{_CUPS_RDATA} in a folder and set the environment variable CODA_DATA_DIR to "
        f"that folder, or name either file with {words.path}; {_CUPS_RDATA} can be "
        f"downloaded from {_CUPS_URL} (SHA-256 {_CUPS_SHA256}); with network access, "
        f"{words.download} caches it in {cached.parent}"
    )


def _download_cups(cached: Path, reason: str, words: _Wording) -> pd.DataFrame:
    try:
        data = _fetch(_CUPS_URL)
    except (OSError, http.client.HTTPException) as error:
        raise _unavailable(
            cached, f"{reason}, and the download failed ({error})", words
        ) from error
    digest = _sha256(data)
    if digest != _CUPS_SHA256:
        raise OSError(
            f"the file downloaded from {_CUPS_URL} has SHA-256 {digest}, not the expected "
            f"{_CUPS_SHA256}; nothing was cached. The download was corrupted or the source "
            f"changed: try again, or check the file and name it with {words.path}"
        )
    frame = _cups_from_rdata(data, _CUPS_URL, words)
    text = frame.to_csv(lineterminator="\n").encode("utf-8")
    checksum = f"{_sha256(text)}  {_CUPS_CSV}\n".encode("ascii")
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        # The data first, then their checksum: a crash in between leaves a file
        # without a matching checksum, which the next call fetches again.
        _write_atomic(cached, text)
        _write_atomic(cached.with_name(cached.name + ".sha256"), checksum)
    except OSError as error:
        # The system's message names a temporary file or the folder alone, and no fix.
        raise type(error)(
            f"the Roman cups data were downloaded and verified but cannot be cached in "
            f"{cached.parent} ({error}); {words.other_cache} that you can write to, or put "
            f"{_CUPS_RDATA} from {_CUPS_URL} in a folder and set CODA_DATA_DIR to it"
        ) from error
    return frame


def load_roman_cups(*, path=None, cache_dir=None, download: bool = True) -> pd.DataFrame:
    r"""Load the Roman glass cups data: 11 oxides (percent) in 47 cups.

    The compositions of 47 Roman glass cups found at an archaeological site
    in eastern England, as percentages of 11 oxides, from the R package
    easyCODA (data set ``cups``). coda ships no copy: the data are read from
    the first of these places that has them,

    1. ``path``, a CSV file or the R data file ``cups.RData``;
    2. the folder named by the environment variable ``CODA_DATA_DIR``:
       its ``roman_cups.csv``, else its ``cups.RData``;
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
    IsADirectoryError
        If ``path`` is a folder (pass the file in it, or set
        ``CODA_DATA_DIR`` to the folder).
    NotADirectoryError
        If ``CODA_DATA_DIR`` names a file rather than a folder; or if the
        cache folder (``cache_dir``, or the default one), or a folder above
        it, is an existing file; checked before anything is downloaded.
    OSError
        If the downloaded file does not have the expected SHA-256 (nothing is
        then cached), or the cached CSV is damaged or its checksum file is
        missing and ``download=False``; or if the downloaded data cannot be
        written to the cache folder (the message names it; pass
        ``cache_dir=`` a folder you can write to).
    ValueError
        If a file is not a readable CSV or R data file (damaged, truncated,
        empty, or of another format); if it lacks a column, has other
        columns, has no rows, or holds non-numeric, missing, infinite, zero
        or negative values; if the file in ``CODA_DATA_DIR`` is a copy of the
        published data that lacks cups or whose values differ; or if ``path`` has
        another suffix than ``.csv``, ``.RData`` or ``.rda``.
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
    numbers, else the row numbers 1, 2, ... Local files are read without a
    checksum, so that they load without network access; only their columns
    and values are checked. A file in ``CODA_DATA_DIR`` holding any of the
    published cups (the same 11 values, to 6 decimals) is taken for a copy
    of the data, and must then hold all 47, unchanged, and no other cups: a
    copy cut short, edited or added to is refused. A table of other values
    is read as it is, there and at ``path``. ``cups.RData`` in either place
    needs the package ``rdata``, as a download does. The published
    percentages are all positive (the smallest is 0.01), so a zero or
    negative value is refused as damage rather than passed on for zero
    replacement.

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
    if cache_dir is not None:
        check_path(cache_dir, "cache_dir", example="data/cache")
    return _find_roman_cups(path, cache_dir, download, _ARGUMENTS)


def _coda_data_dir() -> tuple[Path | None, str]:
    """The file in ``$CODA_DATA_DIR`` (CSV first), or None and why there is none."""
    folder = os.environ.get("CODA_DATA_DIR")
    if not folder:
        return None, "CODA_DATA_DIR is not set"
    folder = Path(folder)
    check_folder(
        folder,
        f"CODA_DATA_DIR={str(folder)!r}",
        fix=f"set CODA_DATA_DIR to the folder that holds {_CUPS_CSV} or {_CUPS_RDATA}, "
        "not to a file",
    )
    for name in (_CUPS_CSV, _CUPS_RDATA):
        if (folder / name).is_file():
            return folder / name, ""
    if not folder.is_dir():
        return None, f"the folder CODA_DATA_DIR={str(folder)!r} does not exist"
    # A folder under the file's name is not the file: say so rather than "holds neither".
    folders = [name for name in (_CUPS_CSV, _CUPS_RDATA) if (folder / name).is_dir()]
    if folders:
        return None, (
            f"CODA_DATA_DIR={str(folder)!r} holds a folder named {folders[0]}, not the file "
            "(put the file itself there)"
        )
    return None, f"CODA_DATA_DIR={str(folder)!r} holds neither {_CUPS_CSV} nor {_CUPS_RDATA}"


def _find_roman_cups(path, cache_dir, download: bool, words: _Wording) -> pd.DataFrame:
    """:func:`load_roman_cups`, its messages naming the options as ``words`` says."""
    if path is not None:
        path = check_data_file(
            path,
            words.path_name,
            suffixes=_SUFFIXES,
            kinds=_SUFFIXES_SHOWN,
            example=_CUPS_CSV,
            folder_hint=" (or set CODA_DATA_DIR to the folder)",
        )
        return _cups_from_path(path, words.path_name, words)
    cache = _default_cache_dir() if cache_dir is None else check_path(cache_dir, "cache_dir")
    cached = cache / _CUPS_CSV
    local, searched = _coda_data_dir()
    if local is not None:
        try:
            cups = _cups_from_path(local, "CODA_DATA_DIR", words)
            # Columns and values can be right and cups missing (a copy cut at
            # a line end) or a number changed; a table of other values is not
            # a copy, and is read as it is.
            check_published_rows(
                cups,
                f"CODA_DATA_DIR={str(local)!r}",
                published=_CUPS_ROWS,
                fix=f"to analyse a table of your own instead, name it with {words.path}",
            )
            return cups
        except ValueError as error:
            # "Fetch it again" alone misleads here: a download would never be read.
            raise ValueError(
                f"{error}; CODA_DATA_DIR={str(local.parent)!r} is read before the cache and "
                f"any download: put a good copy of {local.name} there, or unset CODA_DATA_DIR"
            ) from error
    # Before anything is downloaded, which could then not be cached.
    _check_cache_folder(cache, None if cache_dir is None else "cache_dir", words)
    damage = _cache_damage(cached) if cached.is_file() else None
    if damage is None:
        reason = f"no {words.path} was given, {searched} and nothing is cached in {cache}"
    elif not damage:
        return _cups_from_csv(cached, f"the cached file {cached}")
    elif download:
        reason = f"the cached file {cached} {damage} and must be fetched again"
    else:
        raise OSError(
            f"the cached file {cached} {damage}; delete it, or {words.fetch_again} to fetch "
            "it again (a local copy of the data belongs in CODA_DATA_DIR, which needs no "
            "checksum file)"
        )
    if not download:
        raise _unavailable(cached, f"{reason}, and {words.no_download}", words)
    return _download_cups(cached, reason, words)


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
