"""Labels in, labels out: the one place where pandas labels are taken off and put back.

The numerics work on plain 2-D arrays. :func:`unwrap` records what the caller
passed (array or pandas object, one composition or many, row and part labels);
the ``Labels`` methods give results the same form: arrays in give arrays out, a
DataFrame in gives a DataFrame out with the same index.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from coda._validation import as_2d, check_composition


@dataclass(frozen=True)
class Labels:
    """What a user's input looked like, so results can look the same."""

    kind: str  # "array", "series" or "frame"
    one_d: bool
    index: pd.Index | None = None
    parts: pd.Index | None = None
    name: Hashable | None = None

    @property
    def labelled(self) -> bool:
        """Whether the input carried pandas labels."""
        return self.kind != "array"

    def part_names(self, n_parts: int) -> list[str]:
        """Part names as strings, or ``x1 .. xD`` when the input had none."""
        if self.parts is not None:
            return [str(p) for p in self.parts]
        return [f"x{i + 1}" for i in range(n_parts)]

    def rows(self, values: np.ndarray, columns: Sequence | None = None):
        """Shape an ``(n, k)`` result like the input (one row per sample)."""
        if self.kind == "frame":
            return pd.DataFrame(values, index=self.index, columns=_index(columns, values.shape[1]))
        if self.kind == "series":
            return pd.Series(values[0], index=_index(columns, values.shape[1]), name=self.name)
        return values[0] if self.one_d else values

    def per_row(self, values: np.ndarray, name: str | None = None):
        """Shape an ``(n,)`` result: one value per sample."""
        if self.one_d:
            return float(values[0])
        if self.kind == "frame":
            return pd.Series(values, index=self.index, name=name)
        return values

    def square(self, values: np.ndarray, names: Sequence | None = None):
        """Shape a D x D result, labelled by parts on both axes when labelled."""
        if not self.labelled:
            return values
        names = self.parts if names is None else names
        return pd.DataFrame(
            values, index=_index(names, values.shape[0]), columns=_index(names, values.shape[1])
        )


def _index(names, size: int) -> pd.Index:
    if names is None:
        return pd.RangeIndex(size)
    return names if isinstance(names, pd.Index) else pd.Index(list(names))


def unwrap(x, name: str = "x") -> tuple[np.ndarray, Labels]:
    """Return ``x`` as a 2-D float array and a record of its labels."""
    values = as_2d(x, name)
    if isinstance(x, pd.DataFrame):
        labels = Labels("frame", False, x.index, x.columns)
    elif isinstance(x, pd.Series):
        labels = Labels("series", True, None, x.index, x.name)
    else:
        labels = Labels("array", np.ndim(x) == 1)
    return values, labels


def composition(
    x, name: str = "x", *, allow_zeros: bool = False, min_parts: int = 1, min_samples: int = 1
) -> tuple[np.ndarray, Labels]:
    """Unwrap ``x`` and check it is a valid set of compositions (see ``check_composition``)."""
    values, labels = unwrap(x, name)
    check_composition(
        values,
        name,
        allow_zeros=allow_zeros,
        min_parts=min_parts,
        min_samples=min_samples,
        row_labels=labels.index,
    )
    return values, labels


def python_scalar(value):
    """A GraphML- and JSON-safe Python scalar (numpy scalars become Python ones)."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None:
        return ""
    if isinstance(value, (bool, int, float, str)):
        return value
    return str(value)
