"""The methods ``df.coda`` and ``s.coda`` share: closure, the transforms, zero replacement.

Each calls the coda function of the same name on the object's parts (see
:mod:`coda.accessor` for which columns are parts) and returns its result,
with the object's ``DataFrame.attrs`` (the rows are the same samples).
"""

from __future__ import annotations

import pandas as pd

from coda import _records
from coda._accessor_plot import _restrict
from coda.geometry import closure
from coda.transforms import alr, alr_inv, clr, clr_inv, ilr, ilr_inv
from coda.zeros import replace_zeros


class _Transforms:
    """Methods shared by the DataFrame and the Series accessor, which set ``_obj``."""

    _obj: pd.DataFrame | pd.Series

    @property
    def _parts(self):
        return _restrict(self._obj)

    def _same_rows(self, result):
        """``result`` with the ``attrs`` of the object, as pandas keeps them on its own methods.

        The results here have the object's rows (a DataFrame) or are the same
        composition (a Series), so metadata about the samples still holds;
        pandas' methods pass ``attrs`` on through ``__finalize__``, which
        copies them (a deep copy: the result's ``attrs`` are its own).
        coda's records of the parts behind alr and ilr coordinates are the
        result's own, not copied from the object.
        """
        if result is self._obj:
            return result
        # coda's own records ("coda.alr", "coda.ilr": the parts behind the
        # coordinates) describe the result's columns: the result keeps those
        # it was made with, and none of the object's (__finalize__ replaces
        # the whole of ``attrs``).
        own = dict(result.attrs)
        result = result.__finalize__(self._obj)
        kept = {k: v for k, v in result.attrs.items() if not _records.is_record_key(k)}
        result.attrs = {**kept, **own}
        return result

    def closure(self, **options):
        """Rescale each composition to a constant total: :func:`coda.closure`.

        Parameters
        ----------
        **options
            Keywords of :func:`coda.closure` (``total``).

        Returns
        -------
        DataFrame or Series
            ``coda.closure(parts, **options)``.

        See Also
        --------
        coda.closure : the function called.

        Examples
        --------
        >>> import pandas as pd
        >>> import coda
        >>> df = pd.DataFrame({"id": ["a", "b"], "Si": [6, 1], "Al": [3, 1], "Fe": [1, 2]})
        >>> df.coda.closure(total=100)
             Si    Al    Fe
        0  60.0  30.0  10.0
        1  25.0  25.0  50.0
        """
        return self._same_rows(closure(self._parts, **options))

    def clr(self, **options):
        """Centred log-ratio transform: :func:`coda.clr`.

        Parameters
        ----------
        **options
            Keywords of :func:`coda.clr` (``validate``).

        Returns
        -------
        DataFrame or Series
            ``coda.clr(parts, **options)``, labelled by part.

        See Also
        --------
        coda.clr : the function called.
        clr_inv : back from clr coordinates.

        Examples
        --------
        >>> import pandas as pd
        >>> import coda
        >>> df = pd.DataFrame({"id": ["a", "b"], "Si": [4, 1], "Al": [2, 1], "Fe": [1, 1]})
        >>> df.coda.clr()
                 Si   Al        Fe
        0  0.693147  0.0 -0.693147
        1  0.000000  0.0  0.000000
        """
        return self._same_rows(clr(self._parts, **options))

    def clr_inv(self, **options):
        """Compositions from clr coordinates: :func:`coda.clr_inv`.

        Parameters
        ----------
        **options
            Keywords of :func:`coda.clr_inv` (none at present).

        Returns
        -------
        DataFrame or Series
            ``coda.clr_inv(coordinates, **options)``, closed to 1.

        See Also
        --------
        coda.clr_inv : the function called.
        clr : the forward transform.

        Examples
        --------
        >>> import pandas as pd
        >>> import coda
        >>> df = pd.DataFrame({"Si": [4.0, 1.0], "Al": [2.0, 1.0], "Fe": [2.0, 2.0]})
        >>> df.coda.clr().coda.clr_inv()
             Si    Al    Fe
        0  0.50  0.25  0.25
        1  0.25  0.25  0.50
        """
        return self._same_rows(clr_inv(self._parts, **options))

    def alr(self, **options):
        """Additive log-ratio transform: :func:`coda.alr`.

        Parameters
        ----------
        **options
            Keywords of :func:`coda.alr` (``ref``, a part position or name).

        Returns
        -------
        DataFrame or Series
            ``coda.alr(parts, **options)``, columns named like ``Si/Fe``.

        See Also
        --------
        coda.alr : the function called.
        alr_inv : back from alr coordinates.

        Examples
        --------
        >>> import pandas as pd
        >>> import coda
        >>> df = pd.DataFrame({"id": ["a", "b"], "Si": [4, 1], "Al": [2, 1], "Fe": [1, 1]})
        >>> df.coda.alr(ref="Fe")
              Si/Fe     Al/Fe
        0  1.386294  0.693147
        1  0.000000  0.000000
        """
        return self._same_rows(alr(self._parts, **options))

    def alr_inv(self, **options):
        """Compositions from alr coordinates: :func:`coda.alr_inv`.

        Parameters
        ----------
        **options
            Keywords of :func:`coda.alr_inv` (``ref``).

        Returns
        -------
        DataFrame or Series
            ``coda.alr_inv(coordinates, **options)``, closed to 1.

        See Also
        --------
        coda.alr_inv : the function called.
        alr : the forward transform.

        Examples
        --------
        >>> import pandas as pd
        >>> import coda
        >>> df = pd.DataFrame({"Si": [4.0, 1.0], "Al": [2.0, 1.0], "Fe": [2.0, 2.0]})
        >>> df.coda.alr().coda.alr_inv()
             Si    Al    Fe
        0  0.50  0.25  0.25
        1  0.25  0.25  0.50
        """
        return self._same_rows(alr_inv(self._parts, **options))

    def ilr(self, **options):
        """Isometric log-ratio transform: :func:`coda.ilr`.

        Parameters
        ----------
        **options
            Keywords of :func:`coda.ilr` (``basis``).

        Returns
        -------
        DataFrame or Series
            ``coda.ilr(parts, **options)``, one column per coordinate.

        See Also
        --------
        coda.ilr : the function called.
        ilr_inv : back from ilr coordinates.

        Examples
        --------
        >>> import pandas as pd
        >>> import coda
        >>> df = pd.DataFrame({"id": ["a", "b"], "Si": [4, 1], "Al": [2, 1], "Fe": [1, 1]})
        >>> df.coda.ilr()
               ilr1      ilr2
        0  0.490129  0.848928
        1  0.000000  0.000000
        """
        return self._same_rows(ilr(self._parts, **options))

    def ilr_inv(self, **options):
        """Compositions from ilr coordinates: :func:`coda.ilr_inv`.

        Parameters
        ----------
        **options
            Keywords of :func:`coda.ilr_inv` (``basis``, the one used forward).

        Returns
        -------
        DataFrame or Series
            ``coda.ilr_inv(coordinates, **options)``, closed to 1; the
            coordinates of :func:`coda.ilr` give back the part names.

        See Also
        --------
        coda.ilr_inv : the function called.
        ilr : the forward transform.

        Examples
        --------
        >>> import pandas as pd
        >>> import coda
        >>> df = pd.DataFrame({"Si": [4.0, 1.0], "Al": [2.0, 1.0], "Fe": [2.0, 2.0]})
        >>> df.coda.ilr().coda.ilr_inv()
             Si    Al    Fe
        0  0.50  0.25  0.25
        1  0.25  0.25  0.50
        """
        return self._same_rows(ilr_inv(self._parts, **options))

    def replace_zeros(self, **options):
        """Replace zeros by small positive values: :func:`coda.replace_zeros`.

        Parameters
        ----------
        **options
            Keywords of :func:`coda.replace_zeros` (``method``, ``delta``,
            ``detection_limit``, ``frac``, ``output``).

        Returns
        -------
        DataFrame or Series
            ``coda.replace_zeros(parts, **options)``.

        See Also
        --------
        coda.replace_zeros : the function called.

        Examples
        --------
        >>> import pandas as pd
        >>> import coda
        >>> df = pd.DataFrame({"Si": [0.5, 0.4], "Al": [0.5, 0.4], "Fe": [0.0, 0.2]})
        >>> df.coda.replace_zeros(delta=0.01)
              Si     Al    Fe
        0  0.495  0.495  0.01
        1  0.400  0.400  0.20
        """
        return self._same_rows(replace_zeros(self._parts, **options))
