"""Tests of coda.merging.analysis: named balances and task networks of merge statistics."""

import numpy as np
import pandas as pd
import pytest

import coda
from coda.merging import category_balances, describe, fate_balances, task_network
from coda.merging.analysis import ZERO_DELTA

CATEGORIES = ["trimmed", "one_pos", "one_neg", "agree_pos", "agree_neg", "conflict"]


def _gmean(values):
    return np.exp(np.mean(np.log(values)))


def _models(n_tasks, n_layers=6, seed=0):
    rng = np.random.default_rng(seed)
    base = {f"l{i}.w": rng.normal(size=(6, 5)).astype(np.float32) for i in range(n_layers)}
    models = [
        {
            key: value + rng.normal(size=value.shape).astype(np.float32)
            for key, value in base.items()
        }
        for _ in range(n_tasks)
    ]
    return base, models


def test_category_balances_by_hand():
    row = np.array([0.4, 0.25, 0.15, 0.06, 0.04, 0.1])
    s2 = pd.DataFrame([row], index=pd.Index(["a"], name="layer"), columns=CATEGORIES)
    before = s2.copy()
    got = category_balances(s2).loc["a"]
    trimmed, one_pos, one_neg, agree_pos, agree_neg, conflict = row
    # Egozcue and Pawlowsky-Glahn (2005): sqrt(rs/(r+s)) ln(g(num)/g(den)).
    expected = {
        "kept_vs_trimmed": np.sqrt(5 / 6) * np.log(_gmean(row[1:]) / trimmed),
        "overlap": np.sqrt(6 / 5)
        * np.log(_gmean([agree_pos, agree_neg, conflict]) / _gmean([one_pos, one_neg])),
        "interference": np.sqrt(2 / 3) * np.log(conflict / _gmean([agree_pos, agree_neg])),
        "direction_one": np.log(one_pos / one_neg) / np.sqrt(2),
        "direction_agree": np.log(agree_pos / agree_neg) / np.sqrt(2),
    }
    assert list(got.index) == list(expected)
    np.testing.assert_allclose(got.to_numpy(), list(expected.values()), rtol=1e-12)
    pd.testing.assert_frame_equal(s2, before)


def test_fate_balances_by_hand_and_zero_handling():
    index = pd.MultiIndex.from_tuples(
        [("t0", "a"), ("t0", "b"), ("t1", "a")], names=["task", "layer"]
    )
    s3 = pd.DataFrame(
        [[0.5, 0.4, 0.1], [0.5, 0.5, 0.0], [np.nan, np.nan, np.nan]],
        index=index,
        columns=["trimmed", "survives", "dropped"],
    )
    got = fate_balances(s3)
    np.testing.assert_allclose(got.iloc[0, 0], np.log(0.1 / 0.4) / np.sqrt(2), rtol=1e-12)
    np.testing.assert_allclose(
        got.iloc[0, 1], np.sqrt(2 / 3) * np.log(np.sqrt(0.4 * 0.1) / 0.5), rtol=1e-12
    )
    # Multiplicative replacement: the zero becomes delta, the others shrink by 1 - delta.
    survives = 0.5 * (1 - ZERO_DELTA)
    np.testing.assert_allclose(got.iloc[1, 0], np.log(ZERO_DELTA / survives) / np.sqrt(2))
    assert got.iloc[2].isna().all()
    assert "delta=1e-05" in got.attrs["zeros"]
    assert got.attrs["statistic"] == "mass_fate_balances"


def test_balances_of_describe_keep_settings():
    base, models = _models(3)
    description = describe(base, models, density=0.3, seed=0)
    cats = category_balances(description.categories)
    assert cats.shape == (6, 5)
    assert cats.attrs["density"] == 0.3
    assert np.isfinite(cats.to_numpy()).all()
    fate = fate_balances(description.fate)
    assert fate.index.equals(description.fate.index)


def test_task_network_matches_pcor_test():
    base, models = _models(4, n_layers=30, seed=1)
    description = describe(base, models, density=0.3, seed=0)
    shares = description.shares
    G = task_network(shares, alpha=0.5)
    tests = coda.pcor_test(shares)
    expected = {
        frozenset((i, j))
        for i, j, q in tests[["part_i", "part_j", "qvalue"]].itertuples(index=False)
        if q <= 0.5
    }
    assert {frozenset(edge) for edge in G.edges} == expected
    assert sorted(G.nodes) == [f"task{t}" for t in range(4)]
    for i, j, r in tests[["part_i", "part_j", "r"]].itertuples(index=False):
        if G.has_edge(i, j):
            np.testing.assert_allclose(G.edges[i, j]["pcor"], r, rtol=1e-10)


def test_task_network_on_ownership_with_shrinkage():
    base, models = _models(4, n_layers=12, seed=2)
    description = describe(base, models, density=0.3, seed=0)
    G = task_network(description.ownership, method="shrink")
    assert sorted(G.nodes) == [f"task{t}" for t in range(4)]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda d: task_network(d.shares), "at least 4 tasks, got 3"),
        (lambda d: task_network(d.fate), r"statistics \['task_shares', 'ownership'\]"),
        (lambda d: fate_balances(d.shares), "must have the columns"),
        (lambda d: category_balances(d.shares.to_numpy()), "must be a DataFrame"),
        (lambda d: task_network(d.ownership, method="glasso"), "not a known option"),
    ],
)
def test_errors(call, match):
    base, models = _models(3)
    description = describe(base, models, density=0.3, seed=0)
    with pytest.raises(ValueError, match=match):
        call(description)


@pytest.fixture
def plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    yield pyplot
    pyplot.close("all")


def test_plot_layer_composition_stacks_bars(plt):
    from coda.merging import plot_layer_composition

    s2 = pd.DataFrame(
        [[0.4, 0.25, 0.15, 0.06, 0.04, 0.1], [0.5, 0.1, 0.1, 0.1, 0.1, 0.1]],
        index=pd.Index(["a", "b"], name="layer"),
        columns=CATEGORIES,
    )
    _, ax = plt.subplots()
    assert plot_layer_composition(s2, ax=ax, edgecolor="k") is ax
    assert len(ax.containers) == 6
    tops = [bar.get_y() + bar.get_height() for bar in ax.containers[-1]]
    np.testing.assert_allclose(tops, [1.0, 1.0])
    np.testing.assert_allclose([bar.get_height() for bar in ax.containers[5]], [0.1, 0.1])
    np.testing.assert_allclose([bar.get_y() for bar in ax.containers[1]], [0.4, 0.5])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == CATEGORIES
    with pytest.raises(TypeError, match="plot_layer_composition"):
        plot_layer_composition(s2, ax=ax, not_a_keyword=1)


def test_plot_balance_depth_lines_per_task(plt):
    from coda.merging import plot_balance_depth

    base, models = _models(3, n_layers=4)
    fate = fate_balances(describe(base, models, density=0.3, seed=0).fate)
    _, ax = plt.subplots()
    plot_balance_depth(fate, ax=ax, lw=3)
    lines = ax.get_lines()[1:]
    assert len(lines) == 3 * 2
    assert lines[0].get_label() == "task0: interference_loss"
    np.testing.assert_allclose(lines[0].get_ydata(), fate.loc["task0", "interference_loss"])
    np.testing.assert_allclose(lines[0].get_xdata(), np.arange(4))
    assert lines[0].get_linewidth() == 3
    assert [t.get_text() for t in ax.get_xticklabels()] == [f"l{i}.w" for i in range(4)]
    with pytest.raises(TypeError, match="plot_balance_depth"):
        plot_balance_depth(fate, ax=ax, not_a_keyword=1)


def _checkpoints(tmp_path, n_tasks, n_layers=8):
    from coda.merging import write_checkpoint

    base, models = _models(n_tasks, n_layers=n_layers, seed=3)
    paths = [str(write_checkpoint(base, tmp_path / "base.safetensors"))]
    for t, model in enumerate(models):
        paths.append(str(write_checkpoint(model, tmp_path / f"ft{t}.safetensors")))
    return base, models, paths


def test_cli_merge_stats_end_to_end(tmp_path, capsys):
    from coda.cli import main

    base, models, paths = _checkpoints(tmp_path, 4)
    out = tmp_path / "stats"
    assert main(["merge-stats", *paths, "--density", "0.3", "--out", str(out), "--seed", "1"]) == 0
    printed = capsys.readouterr().out
    assert "4 models" in printed and "8 layers" in printed
    assert "wrote 11 CSV tables and 5 PNG plots" in printed
    assert "no task network" not in printed
    expected = describe(base, models, density=0.3, seed=1)
    shares = pd.read_csv(out / "shares.csv", index_col=0)
    np.testing.assert_allclose(shares.to_numpy(), expected.shares.to_numpy(), rtol=1e-12)
    cats = pd.read_csv(out / "category_balances.csv", index_col=0)
    np.testing.assert_allclose(
        cats.to_numpy(), category_balances(expected.categories).to_numpy(), rtol=1e-12
    )
    fate = pd.read_csv(out / "fate_balances.csv", index_col=[0, 1])
    assert fate.shape == (4 * 8, 2)
    for name in ("categories", "shares", "category_balances", "fate_balances", "task_network"):
        assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_merge_stats_three_models_has_no_network(tmp_path, capsys):
    from coda.cli import main

    _, _, paths = _checkpoints(tmp_path, 3, n_layers=3)
    out = tmp_path / "stats"
    assert main(["merge-stats", *paths, "--out", str(out)]) == 0
    assert "no task network: it needs at least 4 models, got 3" in capsys.readouterr().out
    assert not (out / "task_network.png").exists()


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--density", "1.5"], "density"),
        (["--scope", "global"], "scope"),
    ],
)
def test_cli_merge_stats_errors(tmp_path, capsys, args, match):
    from coda.cli import main

    _, _, paths = _checkpoints(tmp_path, 2, n_layers=2)
    out = tmp_path / "stats"
    assert main(["merge-stats", *paths, *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("coda: error:") and match in err
    assert not out.exists()


def test_cli_merge_stats_missing_file(tmp_path, capsys):
    from coda.cli import main

    _, _, paths = _checkpoints(tmp_path, 2, n_layers=2)
    out = tmp_path / "stats"
    code = main(
        ["merge-stats", paths[0], paths[1], str(tmp_path / "nope.safetensors"), "--out", str(out)]
    )
    assert code == 2
    assert "nope.safetensors" in capsys.readouterr().err
    assert not out.exists()
