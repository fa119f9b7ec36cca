"""Part labels kept in a result's ``attrs``, so that an inverse gives them back.

Log-ratio coordinates are named after the parts as text (``"Si/Mn"``) or not
at all (``"ilr1"``), so their inverses cannot read the part labels off the
columns. :func:`attach` keeps the labels beside the coordinates, in the
result's ``DataFrame.attrs`` (or ``Series.attrs``), as plain lists: pandas
compares the ``attrs`` of frames it concatenates, and writes them to Parquet
as JSON. :func:`find` returns the record only while the columns are still the
ones it was made for, and :func:`part_index` rebuilds the labels from it (a
MultiIndex or a CategoricalIndex comes back as one, with its names).
"""

from __future__ import annotations

import json

import pandas as pd

from coda._labels import Labels


def is_record_key(key) -> bool:
    """Whether ``key`` of ``attrs`` is one of coda's records (``"coda.alr"``, ``"coda.ilr"``)."""
    return isinstance(key, str) and key.startswith("coda.")


def attach(result, key: str, labels: Labels, columns, **extra):
    """``result`` with a record of ``labels.parts`` under ``result.attrs[key]``.

    ``columns`` are the result's own column names (the record is used only
    while they are unchanged); ``extra`` holds JSON-safe facts of the
    transform (for alr, the reference's position). Labels that JSON cannot
    hold (timestamps, other objects) are left out of the record (its
    ``"parts"`` is None), and columns that JSON cannot hold leave no record.
    """
    parts = labels.parts
    record = {
        "columns": list(columns),
        "parts": list(parts),
        "multi": isinstance(parts, pd.MultiIndex),
        "names": list(parts.names),
        "categories": None,
        "ordered": False,
        **extra,
    }
    if isinstance(parts, pd.CategoricalIndex):
        record["categories"] = list(parts.categories)
        record["ordered"] = bool(parts.ordered)
    if not _json_safe(record["columns"]):
        return result
    if not _json_safe([record["parts"], record["names"], record["categories"]]):
        record.update(parts=None, names=None, categories=None)
    result.attrs[key] = record
    return result


def _json_safe(value) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def find(labels: Labels, attrs: dict, key: str) -> dict | None:
    """The record under ``attrs[key]``, if the columns are still the ones it was made for."""
    made = attrs.get(key)
    if labels.labelled and isinstance(made, dict) and list(labels.parts) == made.get("columns"):
        return made
    return None


def part_index(record: dict, move: tuple[int, int] | None = None) -> pd.Index | None:
    """The part labels kept in ``record``, or None when it could not keep them.

    ``move=(old, new)`` takes the part at position ``old`` to position ``new``
    (alr's reference, rebuilt where the caller asks).
    """
    if record.get("parts") is None:
        return None
    parts = list(record["parts"])
    if move is not None:
        parts.insert(move[1], parts.pop(move[0]))
    name = record["names"][0]
    if record["multi"]:
        return pd.MultiIndex.from_tuples([tuple(p) for p in parts], names=record["names"])
    if record.get("categories") is not None:
        return pd.CategoricalIndex(
            parts, categories=record["categories"], ordered=record["ordered"], name=name
        )
    return pd.Index(parts, name=name, tupleize_cols=False)
