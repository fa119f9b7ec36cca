"""The pandas accessors ``DataFrame.coda`` and ``Series.coda``: thin delegates.

Importing :mod:`coda` registers both. Each method calls the public function
of the same name on the object's parts and returns exactly what that function
returns (labels kept, as every coda function keeps them); results with the
object's rows (closure, the transforms, balances, zero replacement) keep
its ``attrs`` too, as pandas' own methods do, and summaries of the parts
(matrices, the centre, fitted estimates) do not (they describe the parts,
not the samples); the plots are under ``df.coda.plot``. The accessors
hold no state beyond the object they wrap and compute nothing themselves.

Which columns are parts: a DataFrame's parts are its real-valued columns
(integers and floats); every other column (identifiers, groups, dates,
booleans) is ignored. ``df.coda.parts`` lists the columns used and
``df.coda.ignored`` the ones left out. Text columns that hold numbers (a
file's column typed as text by one cell such as ``"<0.01"``), and columns
of object dtype whose values are numbers not all whole, are ignored too,
with a ``CodaWarning`` naming them whenever ``df.coda`` is accessed on
the frame. When no numeric column remains,
accessing ``df.coda`` raises an AttributeError that names the columns and
their dtypes (pandas asks accessors to raise AttributeError when they do not
apply). A Series is one composition, its index naming the parts; it must be
real-valued.
"""

from __future__ import annotations

import pandas as pd

from coda._accessor_estimators import _Estimators
from coda._accessor_plot import CodaPlotAccessor
from coda._accessor_transforms import _Transforms
from coda._validation import check_accessor_parts, warn_numbers_as_text
from coda.covariance import clr_cov, variation
from coda.graph import network
from coda.inference import pcor_test
from coda.partial import partial_variance, pcor, precision
from coda.transforms import balances

__all__ = ["CodaAccessor", "CodaPlotAccessor", "CodaSeriesAccessor"]


@pd.api.extensions.register_dataframe_accessor("coda")
class CodaAccessor(_Estimators, _Transforms):
    """Compositional data analysis of a DataFrame's numeric columns: ``df.coda``.

    Each method calls the coda function of the same name on the parts,
    ``df[df.coda.parts]``, with the keywords given, and returns its result
    unchanged; the plots are under ``df.coda.plot``.

    Parameters
    ----------
    df : DataFrame
        One row per sample. Its real-valued columns (integers, floats) are
        the parts; other columns (identifiers, groups) are ignored:
        ``df.coda.ignored`` lists them. Text columns that hold numbers
        (``"0.35"``, ``"<0.01"``) are ignored with a ``CodaWarning`` that
        names them, since they are usually parts a file's reader typed as
        text.

    Warns
    -----
    CodaWarning
        On each access, if text columns hold numbers.

    Raises
    ------
    AttributeError
        On access, if ``df`` has no numeric column; the message names the
        columns and their dtypes.

    See Also
    --------
    CodaSeriesAccessor : ``s.coda`` for one composition.

    Examples
    --------
    >>> import pandas as pd
    >>> import coda
    >>> df = pd.DataFrame(
    ...     {"id": ["a", "b"], "group": ["x", "y"], "Si": [6, 1], "Al": [3, 1], "Fe": [1, 2]}
    ... )
    >>> df.coda.parts, df.coda.ignored
    (['Si', 'Al', 'Fe'], ['id', 'group'])
    >>> df.coda.closure()
        Si    Al   Fe
    0  0.60  0.30  0.1
    1  0.25  0.25  0.5
    """

    def __init__(self, df: pd.DataFrame) -> None:
        check_accessor_parts(df)
        warn_numbers_as_text(df)
        self._obj = df

    @property
    def parts(self) -> list:
        """The columns used as parts: the real-valued ones, in frame order.

        Examples
        --------
        >>> import pandas as pd
        >>> import coda
        >>> pd.DataFrame({"id": ["a"], "Si": [0.7], "Al": [0.3]}).coda.parts
        ['Si', 'Al']
        """
        return check_accessor_parts(self._obj)[0]

    @property
    def ignored(self) -> list:
        """The columns left out because they are not real-valued.

        Examples
        --------
        >>> import pandas as pd
        >>> import coda
        >>> pd.DataFrame({"id": ["a"], "Si": [0.7], "Al": [0.3]}).coda.ignored
        ['id']
        """
        return check_accessor_parts(self._obj)[1]

    @property
    def plot(self) -> CodaPlotAccessor:
        """The plots of the parts: ``df.coda.plot.network()`` and the others.

        Examples
        --------
        >>> import pandas as pd
        >>> import coda
        >>> df = pd.DataFrame({"Si": [0.6, 0.5], "Al": [0.3, 0.2], "Fe": [0.1, 0.3]})
        >>> type(df.coda.plot).__name__
        'CodaPlotAccessor'
        """
        return CodaPlotAccessor(self._obj)

    def variation(self, **options):
        """Variation matrix of the parts: :func:`coda.variation`.

        Parameters
        ----------
        **options
            Keywords of :func:`coda.variation` (``ddof``).

        Returns
        -------
        DataFrame
            ``coda.variation(parts, **options)``, parts x parts.

        See Also
        --------
        coda.variation : the function called.

        Examples
        --------
        >>> import pandas as pd
        >>> import coda
        >>> df = pd.DataFrame({"id": ["a", "b", "c"], "Si": [1, 2, 4], "Al": [1, 1, 1]})
        >>> df.coda.variation()
                  Si        Al
        Si  0.000000  0.480453
        Al  0.480453  0.000000
        """
        return variation(self._parts, **options)

    def clr_cov(self, **options):
        """Covariance of the clr coordinates: :func:`coda.clr_cov`.

        Parameters
        ----------
        **options
            Keywords of :func:`coda.clr_cov` (``ddof``).

        Returns
        -------
        DataFrame
            ``coda.clr_cov(parts, **options)``, parts x parts.

        See Also
        --------
        coda.clr_cov : the function called.

        Examples
        --------
        >>> import pandas as pd
        >>> import coda
        >>> df = pd.DataFrame({"id": ["a", "b", "c"], "Si": [1, 2, 4], "Al": [1, 1, 1]})
        >>> df.coda.clr_cov()
                  Si        Al
        Si  0.120113 -0.120113
        Al -0.120113  0.120113
        """
        return clr_cov(self._parts, **options)

    def precision(self, **options):
        """Precision matrix of the parts: :func:`coda.precision`.

        Parameters
        ----------
        **options
            Keywords of :func:`coda.precision` (``method``, ``ddof`` and the
            estimator's options).

        Returns
        -------
        DataFrame
            ``coda.precision(parts, **options)``, parts x parts.

        See Also
        --------
        coda.precision : the function called.

        Examples
        --------
        >>> import coda
        >>> df = coda.simulate(100, 4, seed=0).data
        >>> df.coda.precision().shape
        (4, 4)
        """
        return precision(self._parts, **options)

    def pcor(self, **options):
        """Partial correlations of the parts: :func:`coda.pcor`.

        Parameters
        ----------
        **options
            Keywords of :func:`coda.pcor` (``given``, ``method``, ``ddof``
            and the estimator's options).

        Returns
        -------
        DataFrame
            ``coda.pcor(parts, **options)``, parts x parts.

        See Also
        --------
        coda.pcor : the function called.
        pcor_test : their significance.

        Examples
        --------
        >>> import coda
        >>> df = coda.simulate(100, 4, graph="chain", seed=0).data
        >>> df.insert(0, "site", "north")
        >>> df.coda.pcor(given=["p01"]).round(2)
             p01   p02   p03   p04
        p01  NaN   NaN   NaN   NaN
        p02  NaN  1.00  0.60  0.47
        p03  NaN  0.60  1.00  0.73
        p04  NaN  0.47  0.73  1.00
        """
        return pcor(self._parts, **options)

    def partial_variance(self, **options):
        """Partial variances of the parts: :func:`coda.partial_variance`.

        Parameters
        ----------
        **options
            Keywords of :func:`coda.partial_variance` (``given``,
            ``method``, ``ddof`` and the estimator's options).

        Returns
        -------
        Series
            ``coda.partial_variance(parts, **options)``, one value per part.

        See Also
        --------
        coda.partial_variance : the function called.

        Examples
        --------
        >>> import coda
        >>> df = coda.simulate(100, 4, seed=0).data
        >>> list(df.coda.partial_variance().index)
        ['p01', 'p02', 'p03', 'p04']
        """
        return partial_variance(self._parts, **options)

    def pcor_test(self, **options):
        """Tests of the partial correlations: :func:`coda.pcor_test`.

        Parameters
        ----------
        **options
            Keywords of :func:`coda.pcor_test` (``given``, ``method``,
            ``alternative``, ``adjust``).

        Returns
        -------
        DataFrame
            ``coda.pcor_test(parts, **options)``, one row per pair of parts.

        See Also
        --------
        coda.pcor_test : the function called.
        pcor : the estimates.

        Examples
        --------
        >>> import coda
        >>> df = coda.simulate(100, 4, seed=0).data
        >>> df.coda.pcor_test()[["part_i", "part_j"]].head(2)
          part_i part_j
        0    p01    p02
        1    p01    p03
        """
        return pcor_test(self._parts, **options)

    def network(self, **options):
        """The graph of significant partial correlations: :func:`coda.network`.

        Parameters
        ----------
        **options
            Keywords of :func:`coda.network` (``method``, ``given``,
            ``alpha``, ``adjust``, ``min_abs``, ``rule``, ``n_boot``,
            ``seed``, ``node_data``).

        Returns
        -------
        networkx.Graph
            ``coda.network(parts, **options)``.

        See Also
        --------
        coda.network : the function called.
        CodaPlotAccessor.network : draw it.

        Examples
        --------
        >>> import coda
        >>> df = coda.simulate(200, 6, graph="chain", seed=1).data
        >>> df.coda.network().number_of_edges()
        5
        """
        return network(self._parts, **options)

    def balances(self, sbp, /):
        """ilr coordinates of a sequential binary partition: :func:`coda.balances`.

        Parameters
        ----------
        sbp : array_like or DataFrame of shape (n_parts - 1, n_parts)
            The partition of the parts, as for :func:`coda.sbp_basis`: one
            row per balance, +1 and -1 for the two groups, 0 elsewhere.

        Returns
        -------
        DataFrame
            ``coda.balances(parts, sbp)``, the frame's rows, one column per
            balance named after its groups (``"Si,Al/Fe"``).

        See Also
        --------
        coda.balances : the function called.
        ilr : the coordinates of a named basis.

        Examples
        --------
        >>> import pandas as pd
        >>> import coda
        >>> df = pd.DataFrame({"id": ["a", "b"], "Si": [4, 1], "Al": [2, 1], "Fe": [1, 1]})
        >>> df.coda.balances([[1, 1, -1], [1, -1, 0]])
           Si,Al/Fe     Si/Al
        0  0.848928  0.490129
        1  0.000000  0.000000
        """
        return self._same_rows(balances(self._parts, sbp))


@pd.api.extensions.register_series_accessor("coda")
class CodaSeriesAccessor(_Transforms):
    """The log-ratio transforms of one composition: ``s.coda``.

    A Series is one composition whose index names the parts. The methods
    are those of ``df.coda`` that apply to a single composition (closure,
    the transforms and their inverses, zero replacement); each calls the
    coda function of that name on the Series and returns its result.

    Parameters
    ----------
    s : Series
        Real-valued, one value per part.

    Raises
    ------
    AttributeError
        On access, if ``s`` is not real-valued (strings, categories,
        booleans).

    See Also
    --------
    CodaAccessor : ``df.coda`` for a table of compositions.

    Examples
    --------
    >>> import pandas as pd
    >>> import coda
    >>> s = pd.Series({"Si": 4.0, "Al": 2.0, "Fe": 1.0})
    >>> s.coda.clr()
    Si    0.693147
    Al    0.000000
    Fe   -0.693147
    dtype: float64
    """

    def __init__(self, s: pd.Series) -> None:
        check_accessor_parts(s)
        self._obj = s
