"""Tests of coda.merging.analysis: named balances and task networks of merge statistics."""

import numpy as np
import pandas as pd
import pytest

import coda
from coda.merging import (
    category_balances,
    describe,
    fate_balances,
    mass_fate,
    ownership,
    task_network,
    task_shares,
)
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


def test_category_empty_in_every_layer_is_replaced_not_refused():
    # Two layers without any conflict: the conflict part is zero everywhere,
    # which replace_zeros refuses for measured data but is "below 1e-5" here.
    rows = np.array([[0.5, 0.2, 0.2, 0.06, 0.04, 0.0], [0.6, 0.1, 0.1, 0.1, 0.1, 0.0]])
    s2 = pd.DataFrame(rows, index=pd.Index(["a", "b"], name="layer"), columns=CATEGORIES)
    got = category_balances(s2)
    agree = rows[:, 3:5] * (1 - ZERO_DELTA)
    expected = np.sqrt(2 / 3) * np.log(ZERO_DELTA / np.sqrt(agree[:, 0] * agree[:, 1]))
    np.testing.assert_allclose(got["interference"].to_numpy(), expected, rtol=1e-12)
    assert np.isfinite(got.to_numpy()).all()


def test_merge_stats_with_two_models_and_few_layers(tmp_path, capsys):
    # Regression: 2 models, 2 layers, density 0.2 left S2 categories empty in
    # every layer, and the balances failed on them.
    from coda.cli import main
    from coda.merging import write_checkpoint

    base, models = _models(2, n_layers=2, seed=3)
    paths = [
        str(write_checkpoint(m, tmp_path / f"m{t}.safetensors"))
        for t, m in enumerate([base, *models])
    ]
    for scope in ("tensor", "global"):
        out = tmp_path / scope
        args = ["merge-stats", *paths, "--density", "0.2", "--scope", scope, "--out", str(out)]
        assert main(args) == 0
        assert (out / "category_balances.csv").exists()
    capsys.readouterr()


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
    # selected by q-value, as documented, with or without min_abs
    assert G.graph["rule"] == "fdr"
    G = task_network(description.ownership, method="shrink", min_abs=0.05)
    assert G.graph["rule"] == "fdr" and G.graph["min_abs"] == 0.05
    assert all({"pvalue", "qvalue"} <= set(data) for *_, data in G.edges(data=True))


def _ols_pcor_and_pvalue(values, s, t):
    """Partial correlation of columns s and t and its t-test p-value, from statsmodels OLS."""
    import statsmodels.api as sm

    others = [k for k in range(values.shape[1]) if k not in (s, t)]
    controls = sm.add_constant(values[:, others])
    resid_s = sm.OLS(values[:, s], controls).fit().resid
    resid_t = sm.OLS(values[:, t], controls).fit().resid
    r = np.corrcoef(resid_s, resid_t)[0, 1]
    # The t test of t's coefficient in the regression of s on t and the others.
    full = sm.OLS(values[:, s], sm.add_constant(values[:, [t, *others]])).fit()
    return r, full.pvalues[1], full.df_resid


def test_task_network_from_interference_loss_matches_ols():
    from statsmodels.stats.multitest import multipletests

    base, models = _models(5, n_layers=24, seed=4)
    fate = describe(base, models, density=0.6, seed=0).fate
    loss = fate_balances(fate)["interference_loss"]
    values = np.column_stack([loss.xs(f"task{t}", level="task").to_numpy() for t in range(5)])
    G = task_network(fate, alpha=0.9, adjust="holm")
    assert list(G.nodes) == [f"task{t}" for t in range(5)]
    assert G.graph["statistic"] == "interference_loss" and G.graph["n_samples"] == 24
    pairs = [(s, t) for s in range(5) for t in range(s + 1, 5)]
    oracle = [_ols_pcor_and_pvalue(values, s, t) for s, t in pairs]
    assert {df for _, _, df in oracle} == {24 - 5}
    qvalues = multipletests([p for _, p, _ in oracle], method="holm")[1]
    expected = {
        (f"task{s}", f"task{t}") for (s, t), q in zip(pairs, qvalues, strict=True) if q <= 0.9
    }
    assert set(G.edges) == expected and expected
    for (s, t), (r, p, _), q in zip(pairs, oracle, qvalues, strict=True):
        if G.has_edge(f"task{s}", f"task{t}"):
            edge = G.edges[f"task{s}", f"task{t}"]
            np.testing.assert_allclose(edge["pcor"], r, rtol=1e-9)
            np.testing.assert_allclose(edge["pvalue"], p, rtol=1e-7)
            np.testing.assert_allclose(edge["qvalue"], q, rtol=1e-7)
    # Node sizes: the residual variance of each task's loss regressed on the
    # others with an intercept, RSS / (n - 1) as the divisor of np.cov.
    for t in range(5):
        others = np.column_stack([np.ones(24), np.delete(values, t, axis=1)])
        residual = values[:, t] - others @ np.linalg.lstsq(others, values[:, t], rcond=None)[0]
        np.testing.assert_allclose(
            G.nodes[f"task{t}"]["partial_variance"], residual @ residual / 23, rtol=1e-9
        )
    # min_abs filters the same selection further.
    strong = task_network(fate, alpha=0.9, adjust="holm", min_abs=0.3)
    assert set(strong.edges) == {e for e in expected if abs(G.edges[e]["pcor"]) >= 0.3}


def test_task_network_from_interference_loss_leaves_out_layers_without_mass():
    base, models = _models(4, n_layers=9, seed=5)
    base["l0.w"] = models[0]["l0.w"].copy()  # task0 changes nothing in layer l0
    fate = describe(base, models, density=0.5, seed=0).fate
    assert fate.loc[("task0", "l0.w")].isna().all()
    assert task_network(fate).graph["n_samples"] == 8


def _sparse_models(without_mass, n_layers=30, seed=0):
    """4 tasks on small layers whose fates and ownership hold many zeros (the QA case).

    ``without_mass``: task0 leaves layer l0 as it was, and no task changes
    layer l1: rows without mass, NaN when closed and zeros when not.
    """
    rng = np.random.default_rng(seed)
    base = {f"l{i}": np.zeros(6, np.float32) for i in range(n_layers)}
    models = [
        {key: rng.normal(scale=1 + t, size=6).astype(np.float32) for key in base} for t in range(4)
    ]
    if without_mass:
        models[0]["l0"] = base["l0"].copy()
        for model in models:
            model["l1"] = base["l1"].copy()
    return base, models


def _edges(graph):
    return {(u, v): (data["pcor"], data["pvalue"]) for u, v, data in graph.edges(data=True)}


def _assert_same_network(got, expected):
    assert set(_edges(got)) == set(_edges(expected))
    for edge, values in _edges(expected).items():
        np.testing.assert_allclose(_edges(got)[edge], values, rtol=1e-9)
    assert got.graph == expected.graph


@pytest.mark.parametrize("without_mass", [False, True])
def test_balances_and_networks_are_those_of_the_closed_frame(without_mass):
    # Zeros become ZERO_DELTA of a closed row: masses (closed=False) give the
    # balances and networks of their fractions (they differed by up to 2.4).
    base, models = _sparse_models(without_mass)
    options = {"density": 0.2}
    fractions = mass_fate(base, models, **options)
    masses = mass_fate(base, models, closed=False, **options)
    assert (fractions == 0).any(axis=None)
    expected = fate_balances(fractions)
    got = fate_balances(masses)
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=1e-12, atol=1e-12)
    if without_mass:
        assert (masses.loc[("task0", "l0")] == 0).all()
        assert got.loc[("task0", "l0")].isna().all()
        assert expected.loc[("task0", "l0")].isna().all()
    # Each network from all pairs (alpha near 1), and with a selection.
    for alpha in (0.999, 0.5):
        _assert_same_network(
            task_network(masses, alpha=alpha), task_network(fractions, alpha=alpha)
        )
        for statistic in (ownership, task_shares):
            kwargs = options if statistic is ownership else {}
            closed = statistic(base, models, **kwargs)
            unclosed = statistic(base, models, closed=False, **kwargs)
            if without_mass:
                assert closed.loc["l1"].isna().all() and (unclosed.loc["l1"] == 0).all()
            _assert_same_network(
                task_network(unclosed, alpha=alpha), task_network(closed, alpha=alpha)
            )
    assert task_network(masses).graph["n_samples"] == (28 if without_mass else 30)


def test_category_balances_of_counts_are_those_of_fractions():
    counts = pd.DataFrame(
        [[40.0, 25.0, 15.0, 6.0, 4.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]],
        index=pd.Index(["a", "b"], name="layer"),
        columns=CATEGORIES,
    )
    fractions = counts / 90.0
    np.testing.assert_allclose(
        category_balances(counts.loc[["a"]]).to_numpy(),
        category_balances(fractions.loc[["a"]]).to_numpy(),
        rtol=1e-12,
    )
    # A layer without entries: zeros in counts, NaN in fractions.
    fractions.loc["b"] = np.nan
    expected = category_balances(fractions)
    np.testing.assert_allclose(category_balances(counts).to_numpy(), expected.to_numpy())
    assert expected.loc["b"].isna().all()


@pytest.mark.parametrize(
    ("identical", "match"),
    [
        ([2], "'task2' has no mass in any layer"),
        ([1, 3], "'task1', 'task3' have no mass in any layer"),
    ],
)
@pytest.mark.parametrize("closed", [True, False])
def test_task_network_from_interference_loss_names_tasks_without_mass(identical, match, closed):
    base, models = _models(4, n_layers=8)
    for t in identical:
        models[t] = {key: value.copy() for key, value in base.items()}
    fate = mass_fate(base, models, density=0.5, closed=closed)
    with pytest.raises(ValueError, match=match) as error:
        task_network(fate)
    assert "adding layers cannot help" in str(error.value)
    assert "more layers" not in str(error.value)


def test_task_network_from_interference_loss_counts_the_layers_left_out():
    base, models = _models(4, n_layers=5)
    base["l0.w"] = models[0]["l0.w"].copy()  # task0 changes nothing in layer l0
    fate = describe(base, models, density=0.5, seed=0).fate
    with pytest.raises(ValueError, match=r"has 4 layers with mass \(1 more left out: some task"):
        task_network(fate)


@pytest.mark.parametrize(
    ("n_tasks", "n_layers", "options", "match"),
    [
        (3, 12, {}, "at least 4 tasks, got 3"),
        (4, 4, {}, "at least 5 layers"),
        (4, 12, {"method": "shrink"}, "not a known option"),
        (4, 12, {"adjust": "fdr"}, "not a known option"),
    ],
)
def test_task_network_from_interference_loss_errors(n_tasks, n_layers, options, match):
    base, models = _models(n_tasks, n_layers=n_layers)
    fate = describe(base, models, density=0.5, seed=0).fate
    with pytest.raises(ValueError, match=match):
        task_network(fate, **options)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda d: task_network(d.shares), "at least 4 tasks, got 3"),
        (
            lambda d: task_network(d.categories.observed),
            r"statistics \['task_shares', 'ownership', 'mass_fate'\]",
        ),
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
    assert "wrote 11 CSV tables and 7 PNG plots" in printed
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
    networks = [f"task_network_{name}" for name in ("shares", "fate", "ownership")]
    for name in ("categories", "shares", "category_balances", "fate_balances", *networks):
        assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_merge_stats_weights_reach_describe(tmp_path, capsys):
    from coda.cli import main

    base, models, paths = _checkpoints(tmp_path, 4)
    out = tmp_path / "stats"
    args = ["merge-stats", *paths, "--density", "0.3", "--weights", "1,0.5,2,1", "--seed", "1"]
    assert main([*args, "--out", str(out)]) == 0
    assert "weights 1,0.5,2,1, 8 layers" in capsys.readouterr().out
    weighted = describe(base, models, density=0.3, weights=[1, 0.5, 2, 1], seed=1)
    plain = describe(base, models, density=0.3, seed=1)
    for name in ("fate", "ownership"):
        table = pd.read_csv(out / f"{name}.csv", index_col=[0, 1] if name == "fate" else 0)
        np.testing.assert_allclose(
            table.to_numpy(), getattr(weighted, name).to_numpy(), rtol=1e-12
        )
        # The weights change these statistics: the comparison above is not vacuous.
        assert not np.allclose(table.to_numpy(), getattr(plain, name).to_numpy())


def test_cli_merge_stats_skips_a_network_with_too_few_layers(tmp_path, capsys):
    from coda.cli import main

    # 4 tasks over 4 layers: S1 and S4 have enough layers, S3 needs T + 1 = 5.
    _, _, paths = _checkpoints(tmp_path, 4, n_layers=4)
    out = tmp_path / "stats"
    assert main(["merge-stats", *paths, "--density", "0.3", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "no task network from fate:" in printed
    assert sorted(p.name for p in out.glob("task_network*.png")) == [
        "task_network_ownership.png",
        "task_network_shares.png",
    ]


def test_cli_merge_stats_three_models_has_no_network(tmp_path, capsys):
    from coda.cli import main

    _, _, paths = _checkpoints(tmp_path, 3, n_layers=3)
    out = tmp_path / "stats"
    assert main(["merge-stats", *paths, "--out", str(out)]) == 0
    assert "no task network: it needs at least 4 models, got 3" in capsys.readouterr().out
    assert not list(out.glob("task_network*.png"))


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--density", "1.5"], "density"),
        (["--density", "0"], "density"),
        (["--weights", "1"], "expected 2 numbers, one per model"),
        (["--weights", "1,x"], "--weights holds 'x', which is not a number"),
        (["--weights", "1,nan"], "not finite; pass finite weights"),
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


def test_fate_balances_of_a_model_that_changed_nothing_are_all_nan():
    # Every task identical to the base: no layer has mass, every balance is
    # undefined, as for one such layer among others.
    base = {f"l{i}": np.zeros(6, np.float32) for i in range(3)}
    models = [dict(base) for _ in range(3)]
    for closed in (True, False):
        fate = mass_fate(base, models, density=0.2, closed=closed)
        result = fate_balances(fate)
        assert list(result.columns) == ["interference_loss", "kept_vs_trimmed"]
        assert result.index.equals(fate.index)
        assert result.isna().all().all()


def test_task_network_names_a_task_without_mass():
    # a model equal to the base has no share in any layer: the message named
    # x and a "part" from replace_zeros
    rng = np.random.default_rng(0)
    base = {f"l{i}": rng.normal(size=50).astype("f4") for i in range(12)}
    models = [
        {k: v + rng.normal(scale=0.1, size=50).astype("f4") for k, v in base.items()}
        for _ in range(4)
    ]
    shares = task_shares(base, [*models, dict(base)])
    with pytest.raises(
        ValueError,
        match=r"stat_frame has tasks with no share in any layer "
        r"\(task4\).*leave those models out",
    ):
        task_network(shares)
