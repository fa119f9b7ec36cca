"""Checks that labelled inputs name the parts and rows they are paired with.

Part of :mod:`coda._validation`, where every user-facing check lives. coda
pairs parts, coefficients and rows by position; when both sides carry pandas
labels, these checks make sure the positions mean the same thing, and say how
to align them when they do not.
"""

from __future__ import annotations

from coda._validation._base import _listing


def _label_match(labels, expected) -> str:
    """How ``labels`` compare with ``expected``: ``"same"``, ``"order"`` or ``"other"``.

    ``"order"`` is the same labels in another order; either being None (no
    labels to compare) counts as ``"same"``.
    """
    if labels is None or expected is None or list(labels) == list(expected):
        return "same"
    same_set = sorted(map(str, labels)) == sorted(map(str, expected))
    return "order" if same_set else "other"


def check_basis_parts(
    basis_parts, parts, name: str, *, fix: str = "build it for x's columns"
) -> None:
    """Raise if a labelled basis, partition or composition names other parts than ``x``.

    Positions decide which coefficient goes with which part, so a basis whose
    parts are in another order would silently give wrong coordinates. ``fix``
    ends the message when the parts differ.
    """
    match = _label_match(basis_parts, parts)
    if match == "order":
        hint = f"{name}.loc[x.columns]" if name == "basis" else f"{name}[x.columns]"
        raise ValueError(
            f"{name} lists the parts of x in another order; reorder it first, e.g. {hint}"
        )
    if match == "other":
        missing = [p for p in parts if p not in list(basis_parts)]
        raise ValueError(
            f"{name} is labelled with other parts than x (x's parts missing from it: "
            f"{_listing([str(p) for p in missing])}); {fix}"
        )


def check_coordinate_names(names, basis_names) -> None:
    """Raise if labelled ilr coordinates are not the columns of a labelled basis, in order."""
    match = _label_match(names, basis_names)
    if match == "order":
        raise ValueError(
            "z lists the basis's coordinates in another order; reorder it first, e.g. "
            "z[basis.columns]"
        )
    if match == "other":
        raise ValueError(
            f"z's columns ({_listing([str(n) for n in names])}) are not the basis's "
            f"({_listing([str(n) for n in basis_names])}); pass the coordinates made with "
            "this basis, or z.to_numpy() to match coordinates by position"
        )


def check_matching_labels(x_labels, y_labels) -> None:
    """Raise if two labelled compositions name different parts or different rows.

    Pairs are matched by position, so parts or rows in another order would
    silently combine the wrong values.
    """
    check_basis_parts(
        y_labels.parts, x_labels.parts, "y", fix="pass compositions of the same parts"
    )
    x_index, y_index = x_labels.index, y_labels.index
    if x_index is None or y_index is None or len(x_index) != len(y_index) or len(x_index) < 2:
        return
    if not x_index.equals(y_index):
        raise ValueError(
            "x and y have different row labels, and rows are matched by position; align "
            "them first, e.g. y.loc[x.index], or pass y.to_numpy() to pair rows in order"
        )
