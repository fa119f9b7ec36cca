"""Regressions found in a second QA pass over coda.inference."""

import warnings

import pytest

import coda
from coda import CodaWarning, pcor_bootstrap, pcor_test


def _int_labelled(seed=3):
    """A 5-part composition whose parts are labelled 4, 3, 2, 1, 0 (not their positions)."""
    x = coda.simulate(60, 5, graph="chain", seed=seed).data
    return x.set_axis([4, 3, 2, 1, 0], axis=1)


@pytest.mark.parametrize(
    "call",
    [
        lambda x: pcor_test(x, given=[0]),
        lambda x: pcor_bootstrap(x, given=[0], n_boot=5, seed=0, progress=False),
    ],
    ids=["pcor_test", "pcor_bootstrap"],
)
def test_ambiguous_given_warns_once(call):
    # given=0 on parts labelled by integers is read as a position and warns
    # that the part labelled 0 is elsewhere. pcor_test and pcor_bootstrap
    # checked given and then called coda.pcor, which checked it again: the
    # same warning came twice for one call.
    x = _int_labelled()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call(x)
    messages = [str(w.message) for w in caught if issubclass(w.category, CodaWarning)]
    assert len(messages) == 1
    assert "given=0 is read as the position 0" in messages[0]
