"""Tests of coda.merging.demo: digits models trained, fine-tuned, merged, evaluated."""

import numpy as np
import pytest

from coda.merging import open_checkpoint, write_checkpoint
from coda.merging.demo import TASKS, evaluate, merge_grid, train_digit_models


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    return train_digit_models(tmp_path_factory.mktemp("digits"), seed=0, quick=True)


@pytest.fixture(scope="module")
def grid(paths):
    models = {task: paths[task] for task in TASKS}
    return merge_grid(paths["base"], models, densities=(0.1, 1.0), seed=0)


def test_same_seed_same_bytes(paths, tmp_path):
    again = train_digit_models(tmp_path, seed=0, quick=True)
    for name, path in paths.items():
        assert again[name].read_bytes() == path.read_bytes()


def test_other_seed_other_weights(paths, tmp_path):
    other = train_digit_models(tmp_path, seed=1, quick=True)
    assert other["base"].read_bytes() != paths["base"].read_bytes()


@pytest.mark.parametrize("task", TASKS)
def test_fine_tuned_beats_base_on_its_task(paths, task):
    assert evaluate(paths[task], task) > evaluate(paths["base"], task)


def test_evaluate_mapping_equals_path(paths):
    with open_checkpoint(paths["low"]) as ckpt:
        names = ckpt.keys()
        mapping = {name: ckpt.read(name) for name in names}
    for task in TASKS:
        assert evaluate(mapping, task) == evaluate(paths["low"], task)


def test_tensor_names_and_shapes(paths):
    with open_checkpoint(paths["base"]) as ckpt:
        names = ckpt.keys()
        shapes = {name: ckpt.shape(name) for name in names}
    assert shapes == {
        "layer0.bias": (64,),
        "layer0.weight": (64, 64),
        "layer1.bias": (64,),
        "layer1.weight": (64, 64),
        "layer2.bias": (10,),
        "layer2.weight": (10, 64),
    }


def test_grid_shape_and_columns(grid):
    # base, 4 fine-tuned, task arithmetic, and per density 2 TIES scopes + DARE
    assert grid.shape == ((1 + 4 + 1 + 2 * 3) * 4, 6)
    assert list(grid.columns) == ["model", "method", "scope", "density", "task", "accuracy"]
    assert grid["accuracy"].between(0, 1).all()
    assert set(grid.loc[grid["method"] == "ties", "scope"]) == {"tensor", "global"}


def test_grid_individual_rows_match_evaluate(grid, paths):
    row = grid[(grid["model"] == "parity") & (grid["task"] == "parity")]
    assert row["accuracy"].item() == evaluate(paths["parity"], "parity")


def test_task_arithmetic_above_chance_on_every_task(grid):
    accuracy = grid[grid["method"] == "task_arithmetic"].set_index("task")["accuracy"]
    # chance among ten outputs is 1/10; parity has two labels, chance 1/2
    assert (accuracy[["low", "high", "occluded"]] > 0.1).all()
    assert accuracy["parity"] > 0.5


def test_ties_at_full_density_agrees_across_scopes(grid):
    # at density 1 nothing is trimmed, so both scopes elect and average alike
    full = grid[(grid["method"] == "ties") & (grid["density"] == 1.0)]
    by_scope = full.pivot(index="task", columns="scope", values="accuracy")
    np.testing.assert_array_equal(by_scope["tensor"], by_scope["global"])


def test_merged_not_better_than_each_specialist(grid):
    specialist = grid[grid["model"] == grid["task"]].set_index("task")["accuracy"]
    merged = grid[grid["method"].isin(["task_arithmetic", "ties", "dare"])]
    for task, accuracy in merged.groupby("task")["accuracy"].max().items():
        assert accuracy <= specialist[task]


def test_unknown_task_raises(paths):
    with pytest.raises(ValueError, match="task"):
        evaluate(paths["base"], "odd")


def test_unknown_model_key_raises(paths):
    with pytest.raises(ValueError, match="models"):
        merge_grid(paths["base"], {"nine": paths["low"]})


def _digits_model(paths):
    with open_checkpoint(paths["base"]) as ckpt:
        names = ckpt.keys()
        return {name: ckpt.read(name) for name in names}


def test_evaluate_names_a_missing_tensor(paths, tmp_path):
    model = _digits_model(paths)
    del model["layer1.bias"]
    with pytest.raises(
        ValueError, match=r"model '<in-memory>' lacks tensor\(s\) 'layer1.bias' of the network"
    ):
        evaluate(model, "low")
    path = write_checkpoint(model, tmp_path / "short.safetensors")
    with pytest.raises(ValueError, match=r"short\.safetensors' lacks tensor\(s\) 'layer1.bias'"):
        evaluate(path, "low")


def test_evaluate_names_a_tensor_of_another_shape(paths):
    model = _digits_model(paths)
    model["layer2.weight"] = model["layer2.weight"][:, :10]
    with pytest.raises(
        ValueError,
        match=r"tensor 'layer2.weight' of the model .* has shape \(10, 10\) but the "
        r"network it is evaluated as needs \(10, 64\)",
    ):
        evaluate(model, "parity")


def test_evaluate_ignores_extra_tensors(paths):
    model = {**_digits_model(paths), "logit_scale": np.array(1.0, np.float32)}
    assert evaluate(model, "low") == evaluate(paths["base"], "low")


def test_merge_grid_needs_a_mapping_of_some_models(paths):
    with pytest.raises(ValueError, match="models is empty; pass at least one fine-tuned model"):
        merge_grid(paths["base"], {})
    with pytest.raises(TypeError, match="models is a list; pass a mapping of task name"):
        merge_grid(paths["base"], [paths["low"]])
