"""Regressions of the analyses of merge statistics (coda.merging.analysis and plots)."""

import numpy as np
import pytest

import coda
from coda.merging import describe, fate_balances, task_network
from tests.test_merge_analysis import _models


@pytest.fixture
def plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    yield pyplot
    pyplot.close("all")


@pytest.mark.parametrize("scale", [1.0, 2.0])
def test_interference_loss_network_of_identical_models_is_a_clear_error(scale):
    # Two identical (or rescaled) fine-tuned models lose the same share of
    # their mass in every layer: the covariance of the balances is singular,
    # which np.linalg.inv reported as a bare LinAlgError("Singular matrix").
    base, models = _models(5, n_layers=12)
    models[1] = {key: base[key] + scale * (value - base[key]) for key, value in models[0].items()}
    fate = describe(base, models, density=0.4, seed=0).fate
    with pytest.raises(ValueError, match=r"linearly dependent.*'task0' and 'task1'"):
        task_network(fate)


def test_interference_loss_network_names_a_task_whose_loss_does_not_vary():
    base, models = _models(4, n_layers=8)
    fate = describe(base, models, density=0.4, seed=0).fate.copy()
    # Task 2 keeps the same fate fractions in every layer.
    fate.loc["task2"] = np.tile([0.5, 0.4, 0.1], (8, 1))
    with pytest.raises(ValueError, match=r"'task2' do not vary across layers"):
        task_network(fate)


def test_cli_merge_stats_skips_the_network_of_identical_models(tmp_path, capsys):
    from coda.cli import main
    from coda.merging import write_checkpoint

    base, models = _models(4, n_layers=8, seed=3)
    models[3] = {key: value.copy() for key, value in models[0].items()}
    paths = [str(write_checkpoint(base, tmp_path / "base.safetensors"))]
    for t, model in enumerate(models):
        paths.append(str(write_checkpoint(model, tmp_path / f"ft{t}.safetensors")))
    out = tmp_path / "stats"
    assert main(["merge-stats", *paths, "--density", "0.3", "--out", str(out)]) == 0
    # Skipped with the reason, not numpy's bare "Singular matrix".
    printed = capsys.readouterr().out
    assert "no task network from fate: the task network from interference-loss" in printed
    assert "'task0' and 'task3'" in printed


@pytest.mark.parametrize("statistic", ["shares", "ownership"])
@pytest.mark.parametrize("method", ["exact", "shrink"])
def test_composition_network_with_too_few_layers_says_how_many_layers(statistic, method):
    # coda.network's message spoke of "samples" and advised rule=..., given=...
    # or method="glasso", none of which task_network takes.
    base, models = _models(5, n_layers=4)
    frame = getattr(describe(base, models, density=0.4, seed=0), statistic)
    with pytest.raises(ValueError, match=r"5 tasks has 4 layers with mass;.*at least 5 layers"):
        task_network(frame, method=method)


def test_composition_network_counts_the_layers_without_mass():
    base, models = _models(5, n_layers=5)
    for model in models:
        model["l2.w"] = base["l2.w"].copy()
    shares = describe(base, models, density=0.4, seed=0).shares
    with pytest.raises(ValueError, match=r"4 layers with mass \(1 more left out"):
        task_network(shares)
    # With as many layers as tasks the network is drawn.
    base, models = _models(5, n_layers=5)
    assert sorted(task_network(describe(base, models, density=0.4, seed=0).shares).nodes) == [
        f"task{t}" for t in range(5)
    ]


def test_plot_balance_depth_keeps_each_layer_on_its_tick(plt):
    from coda.merging import plot_balance_depth

    base, models = _models(2, n_layers=3)
    # Task 0 does not change layer l1: its balances there are NaN, and dropna
    # removes that row. Its l2 must stay at the tick of l2, not move to l1's.
    models[0]["l1.w"] = base["l1.w"].copy()
    balances = fate_balances(describe(base, models, density=0.4, seed=0).fate).dropna()
    _, ax = plt.subplots()
    plot_balance_depth(balances, ax=ax)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["l0.w", "l1.w", "l2.w"]
    lines = {line.get_label(): line for line in ax.get_lines()[1:]}
    task0 = lines["task0: interference_loss"]
    np.testing.assert_array_equal(task0.get_xdata(), [0, 1, 2])
    expected = balances.loc["task0", "interference_loss"]
    np.testing.assert_array_equal(task0.get_ydata(), [expected["l0.w"], np.nan, expected["l2.w"]])
    task1 = lines["task1: interference_loss"]
    np.testing.assert_array_equal(
        task1.get_ydata(), balances.loc["task1", "interference_loss"].loc[["l0.w", "l1.w", "l2.w"]]
    )


def test_plot_balance_depth_of_a_frame_without_rows(plt):
    from coda.merging import plot_balance_depth

    base, models = _models(2, n_layers=2)
    balances = fate_balances(describe(base, models, density=0.4, seed=0).fate)
    _, ax = plt.subplots()
    assert plot_balance_depth(balances.iloc[:0], ax=ax) is ax
    assert len(ax.get_lines()) == 1  # only the dashed zero line
    assert ax.get_legend() is None


def test_describe_warns_of_models_identical_to_the_base():
    # A zero task vector gave all-NaN shares and finite, meaningless category
    # balances without a word.
    base, models = _models(3, n_layers=4)
    models[1] = dict(base)
    with pytest.warns(coda.CodaWarning, match=r"^task1 \(models\[1\]\) does not differ from"):
        described = describe(base, models, density=0.5)
    assert (described.shares["task1"] == 0).all()
    assert described.fate.loc["task1"].isna().all().all()
