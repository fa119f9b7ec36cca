"""Conventions the public API shares, checked across functions rather than one at a time.

A user who learns one function expects its siblings to behave alike: the
same keyword is refused or used the same way everywhere, and every
docstring documents exactly the parameters of its signature.
"""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
import pytest
from numpydoc.docscrape import NumpyDocString

import coda
from coda._accessor_plot import CodaPlotAccessor
from coda.accessor import CodaAccessor, CodaSeriesAccessor


@pytest.fixture(scope="module")
def frame():
    return coda.simulate(60, 5, seed=0).data


# --- estimator options with given= ----------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda x, **kw: coda.pcor(x, **kw), id="pcor"),
        pytest.param(lambda x, **kw: coda.partial_variance(x, **kw), id="partial_variance"),
        pytest.param(lambda x, **kw: x.coda.pcor(**kw), id="df.coda.pcor"),
        pytest.param(lambda x, **kw: x.coda.partial_variance(**kw), id="df.coda.partial_variance"),
    ],
)
@pytest.mark.parametrize("given", [["p01"], "p01", [0, 1]])
def test_exact_method_refuses_estimator_options_with_given(frame, call, given):
    # method="exact" refused lam= without given= but silently dropped it with given=,
    # returning the exact estimate as if the shrinkage intensity had been used.
    with pytest.raises(TypeError, match=r"method='exact' takes no options; got lam"):
        call(frame, given=given, lam=0.3)


def test_given_with_an_option_refused_before_reading_the_data(frame):
    # The option is refused on arrays too, and the message names it.
    with pytest.raises(TypeError, match=r"got criterion, penalty"):
        coda.pcor(frame.to_numpy(), given=[0], penalty=0.1, criterion="ebic")


# --- docstrings document the signature --------------------------------------------------


def _public_callables():
    for name in coda.__all__:
        obj = getattr(coda, name)
        if inspect.isclass(obj) and issubclass(obj, Warning):
            continue
        yield f"coda.{name}", obj
    for cls in (CodaAccessor, CodaSeriesAccessor, CodaPlotAccessor):
        for name, obj in inspect.getmembers(cls):
            if not name.startswith("_") and inspect.isfunction(obj):
                yield f"{cls.__name__}.{name}", obj


def _signature_names(obj) -> set[str]:
    names = set()
    for parameter in inspect.signature(obj).parameters.values():
        if parameter.name == "self":
            continue
        prefix = {parameter.VAR_KEYWORD: "**", parameter.VAR_POSITIONAL: "*"}.get(
            parameter.kind, ""
        )
        names.add(prefix + parameter.name)
    return names


@pytest.mark.parametrize(("name", "obj"), list(_public_callables()), ids=lambda v: str(v))
def test_docstring_parameters_are_the_signature(name, obj):
    doc = NumpyDocString(inspect.getdoc(obj) or "")
    # "method, given, alpha" documents several parameters in one entry.
    documented = {part.strip() for entry in doc["Parameters"] for part in entry.name.split(",")}
    assert documented == _signature_names(obj), name


@pytest.mark.parametrize("given", [0.0, 1.5])
def test_a_float_scalar_given_is_explained_like_a_float_in_a_list(given):
    # Was: TypeError "'float' object is not iterable", naming neither given nor the fix.
    x = np.exp(np.random.default_rng(0).normal(size=(20, 4)))
    with pytest.raises(ValueError, match=rf"^given={given} is not a part position"):
        coda.pcor(x, given=given)


@pytest.mark.parametrize("labelled", [False, True])
def test_ref_none_names_no_part(labelled):
    # Was: "ref=None is a name, but the data have no part names" (or "is not a part").
    x = np.exp(np.random.default_rng(1).normal(size=(20, 4)))
    data = pd.DataFrame(x, columns=list("abcd")) if labelled else x
    with pytest.raises(TypeError, match=r"^ref=None names no part; pass an integer position"):
        coda.alr(data, ref=None)


def test_a_numpy_integer_seeds_the_spring_layout_as_a_python_int():
    # Was: networkx's ValueError "0 cannot be used to create a numpy.random.RandomState".
    truth = coda.simulate(50, 6, graph="chain", seed=3)
    graph = coda.network(truth.data)
    assert coda.layout(graph, kind="spring", seed=np.int64(5)) == coda.layout(
        graph, kind="spring", seed=5
    )


def test_ternary_coordinates_of_a_series_name_the_row_as_the_series():
    # Was: index [0], where coda's other functions keep a Series' name.
    cup = pd.Series([1.0, 2.0, 3.0], index=["a", "b", "c"], name="cup7")
    got = coda.ternary_coordinates(cup)
    pd.testing.assert_frame_equal(got, coda.ternary_coordinates(cup.to_frame().T))
    assert list(got.index) == ["cup7"]
    assert list(coda.ternary_coordinates(cup.rename(None)).index) == [0]


@pytest.mark.parametrize(
    ("seed", "error", "match"),
    [
        (True, TypeError, r"^seed=True; pass None, a non-negative integer"),
        (-1, ValueError, r"^seed=-1 is not a seed"),
        ("0", TypeError, r"^seed='0' is not a seed"),
    ],
)
def test_glasso_seed_is_checked_like_the_others(seed, error, match):
    # Was: seed=True read as 1; -1 and "0" gave numpy's messages, naming no argument.
    x = coda.simulate(40, 5, graph="chain", seed=1).data
    with pytest.raises(error, match=match):
        coda.pcor_glasso(x, criterion="stars", n_penalties=3, n_subsamples=3, seed=seed)
