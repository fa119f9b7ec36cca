"""Regressions of the input checks (coda._validation) and their messages, found by QA."""

from __future__ import annotations

import numpy as np
import pytest

import coda
import coda.merging

# 1. Zero replacement into float32 (or float64 near its limits) must not keep a zero.


@pytest.mark.parametrize("method", ["multiplicative", "pseudocount"])
def test_replace_zeros_delta_below_float32_raises(method):
    x = np.array([[1, 0, 1]], np.float32)
    with pytest.raises(
        ValueError, match=r"below the smallest positive float32.*larger delta.*float64"
    ):
        coda.replace_zeros(x, method=method, delta=1e-50)
    # float64 holds that delta: the zero becomes it.
    out = coda.replace_zeros(x.astype(np.float64), method=method, delta=1e-50)
    assert (out > 0).all()


def test_replace_zeros_default_delta_below_float32_raises():
    x = np.array([[1e-45, 0, 1e-45]], np.float32)
    with pytest.raises(ValueError, match=r"below the smallest positive float32 .* rows 0"):
        coda.replace_zeros(x)


def test_replace_zeros_float32_proportions_below_float32_raises():
    x = np.array([[1, 0, 1]], np.float32)
    with pytest.raises(ValueError, match="below the smallest positive float32"):
        coda.replace_zeros(x, delta=1e-50, output="proportions")


def test_replace_zeros_bayesian_estimate_underflow_raises():
    # The prior of the zero, 1e-300, times 3 / 1e300 underflows float64.
    with pytest.raises(ValueError, match=r"below the smallest positive float64.*multiplicative"):
        coda.replace_zeros([[1e300, 0, 1], [1e300, 1, 1]], method="bl")


# 2. A pseudocount that overflows the dtype.


@pytest.mark.parametrize(
    ("x", "delta", "dtype"),
    [
        (np.array([[1.7e308, 0, 1e308]]), 1e308, "float64"),
        (np.array([[3e38, 0, 1e38]], np.float32), 1e39, "float32"),
    ],
)
@pytest.mark.parametrize("output", [None, "proportions"])
@pytest.mark.filterwarnings("error")
def test_replace_zeros_pseudocount_overflow_raises(x, delta, dtype, output):
    with pytest.raises(ValueError, match=rf"adds delta to x.*overflows {dtype}.*smaller delta"):
        coda.replace_zeros(x, method="pseudocount", delta=delta, output=output)


# 3. Bayesian replacement of counts whose totals overflow float64.


@pytest.mark.parametrize("method", ["gbm", "sq", "bl"])
@pytest.mark.filterwarnings("error")
def test_replace_zeros_bayesian_total_overflow_raises(method):
    x = [[1e308, 0, 1e308], [1e308, 1e308, 1e308], [1e308, 1e308, 1e308]]
    with pytest.raises(ValueError, match=rf'method="{method}" sums the counts.*overflow float64'):
        coda.replace_zeros(x, method=method)


# 4. simulate's counts beyond int64.


def test_simulate_counts_beyond_int64_raises():
    with pytest.raises(
        ValueError, match=r"counts=9223372036854775808; expected an integer from 1"
    ):
        coda.simulate(5, 3, counts=2**63)
    data = coda.simulate(5, 3, counts=2**63 - 1, seed=0).data
    assert (data.sum(axis=1) == 2**63 - 1).all()


# 5. check_square's fix text fits its caller.


def test_cluster_order_asymmetric_message_fits():
    with pytest.raises(
        ValueError, match=r"not symmetric .*; pass a correlation-like matrix"
    ) as err:
        coda.cluster_order(np.array([[1, 0.5], [0.4, 1]]))
    assert "covariance" not in str(err.value)
    # The callers that want a covariance or variation matrix keep their text.
    with pytest.raises(ValueError, match=r"t is not symmetric .*; pass a covariance or variation"):
        coda.variation_to_clr_cov(np.array([[0, 0.5], [0.4, 0]]))


# 6. check_same_nodes' fix text fits the biplot layout.


def test_biplot_layout_other_parts_message_fits():
    sim = coda.simulate(100, 6, seed=0)
    with pytest.raises(ValueError, match=r"pass x with the graph's parts as its columns") as err:
        coda.layout(coda.network(sim.data), kind="biplot", x=sim.data.to_numpy())
    assert "compare graphs" not in str(err.value)


# 7. Merges compute in float32: a finite value beyond its range is named as such.


@pytest.mark.parametrize("function", ["ties_merge", "task_arithmetic", "task_vectors"])
@pytest.mark.filterwarnings("error")
def test_merge_value_beyond_float32_raises(function):
    merge = getattr(coda.merging, function)
    options = {"density": 1.0} if function == "ties_merge" else {}
    with pytest.raises(ValueError, match=r"tensor 'w' of base has 1 values beyond float32's"):
        merge({"w": np.array([1e300])}, [{"w": np.array([1e300])}], **options)
    with pytest.raises(ValueError, match=r"tensor 'w' of models\[0\] has 1 values beyond"):
        merge({"w": np.array([1.0, 2.0])}, [{"w": np.array([1.0, -1e39])}], **options)
    # A NaN is still reported as not finite.
    with pytest.raises(ValueError, match=r"models\[0\] has 1 values that are not finite"):
        merge({"w": np.array([1.0, 2.0])}, [{"w": np.array([1.0, np.nan])}], **options)
