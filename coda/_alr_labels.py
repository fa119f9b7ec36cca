"""Labels of alr coordinates: their ``"k/r"`` names and the record behind them.

:func:`coda.alr` names its coordinates ``"k/r"`` after the parts and keeps
the parts' own labels and the reference in the result's ``attrs`` (see
:mod:`coda._records`); :func:`coda.alr_inv`, :func:`coda.alr_cov` and
:func:`coda.alr_cov_to_clr_cov` read them back here.
"""

from __future__ import annotations

import numpy as np

from coda import _records
from coda._labels import Labels
from coda._validation import check_part

# The key of the record in the ``attrs`` of alr results.
ALR_ATTR = "coda.alr"


def alr_names(labels: Labels, n_parts: int, r: int) -> list[str]:
    """``"k/r"`` names of the alr coordinates (or of the rows of their covariance)."""
    parts = labels.part_names(n_parts)
    return [f"{p}/{parts[r]}" for k, p in enumerate(parts) if k != r]


def with_alr_record(result, labels: Labels, names: list[str], r: int):
    """``result`` with a record of the parts its ``"k/r"`` names were made from.

    The names are text; :func:`coda.alr_inv` (and ``alr_cov_to_clr_cov``) give
    the parts their own labels back from the record in ``result.attrs`` (see
    :mod:`coda._records`).
    """
    return _records.attach(result, ALR_ATTR, labels, names, ref=r)


def alr_record(labels: Labels, attrs: dict) -> dict | None:
    """The record :func:`coda.alr` left in ``attrs``, if the columns are still the ones it made."""
    return _records.find(labels, attrs, ALR_ATTR)


def alr_reference(ref, record: dict | None, n_parts: int) -> int:
    """The reference's position: ``ref`` (a position, or a name known from ``record``).

    None means where :func:`coda.alr` took the reference from (``record``), or the
    last part.
    """
    if ref is None:
        return record["ref"] if record is not None else n_parts - 1
    parts = None if record is None else record["parts"]
    position = check_part(ref, "ref", parts, n_parts)
    if parts is not None and not isinstance(ref, (int, np.integer)) and position != record["ref"]:
        # A name says which part the reference is; these were made with another.
        made = parts[record["ref"]]
        raise ValueError(
            f"ref={ref!r} is not the reference of this alr result, which was made "
            f"with ref={made!r} (columns like {record['columns'][0]!r}); pass ref={made!r}, "
            "or leave ref out to put it back where it was"
        )
    return position


def alr_parts(labels: Labels, r: int, record: dict | None = None):
    """Part names recovered from ``"k/r"`` column names, or None.

    Columns made by :func:`coda.alr` (``record``, its record in their ``attrs``)
    give back the original labels, of any type, whatever characters they
    hold; other columns are split at their last ``/``.
    """
    if not labels.labelled:
        return None
    if record is not None and record["parts"] is not None:
        return _records.part_index(record, move=(record["ref"], r))
    pairs = [str(c).rsplit("/", 1) for c in labels.parts]
    if all(len(p) == 2 for p in pairs) and len({p[1] for p in pairs}) == 1:
        names = [p[0] for p in pairs]
        names.insert(r, pairs[0][1])
        return names
    return None
