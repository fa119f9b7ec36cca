"""Regressions: float32 overflow in merges, rows named by check_table, the merging checks split.

Merges compute in float32. A float64 checkpoint file with values beyond
float32's range used to warn (numpy's cast overflow) and then call them "not
finite"; a task vector theta_t - theta_0 beyond float32's range, from finite
tensors, used to make a silently wrong TIES merge (-inf for a merge whose
answer is the model itself) or a raw numpy overflow warning elsewhere.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import save_file

import coda
import coda._validation
from coda import merging

PARTS = ["Si", "Al", "Fe", "Mg", "Ca", "Na", "K", "Ti", "P", "Mn", "Sb"]


def _files(tmp_path, base, model):
    paths = []
    for name, tensors in (("base", base), ("model", model)):
        path = tmp_path / f"{name}.safetensors"
        save_file(tensors, str(path))
        paths.append(path)
    return paths


@pytest.mark.parametrize(
    "merge",
    [
        lambda b, m: merging.ties_merge(b, [m], density=1.0),
        lambda b, m: merging.ties_merge(b, [m], density=0.5),
        lambda b, m: merging.describe(b, [m, m], density=1.0),
    ],
    ids=["ties-dense", "ties", "describe"],
)
def test_float64_file_beyond_float32_range_is_named_without_a_warning(tmp_path, merge):
    # Warnings are errors in the test suite: numpy's "overflow encountered in
    # cast" would fail this test before the clear error is raised.
    tensors = {"w": np.array([1e300, 1.0])}
    base, model = _files(tmp_path, tensors, tensors)
    with pytest.raises(
        ValueError, match=r"tensor 'w' of '.*base\.safetensors' has 1 values beyond"
    ):
        merge(base, model)


_BASE = {"w": np.array([3e38, 1.0, 0.0, 2.0], dtype=np.float32)}
_MODEL = {"w": np.array([-3e38, 1.0, 0.5, 2.0], dtype=np.float32)}

_ENTRY_POINTS = {
    "ties-tensor-dense": lambda b, m: merging.ties_merge(b, [m], density=1.0),
    "ties-tensor": lambda b, m: merging.ties_merge(b, [m], density=0.5),
    "ties-tensor-5-tasks": lambda b, m: merging.ties_merge(b, [m] * 5, density=0.5),
    "ties-global": lambda b, m: merging.ties_merge(b, [m], density=0.5, scope="global"),
    "task_arithmetic": lambda b, m: merging.task_arithmetic(b, [m]),
    "dare": lambda b, m: merging.dare(b, [m], density=0.5, seed=0),
    "describe-tensor": lambda b, m: merging.describe(b, [m, m], density=0.5),
    "describe-dense": lambda b, m: merging.describe(b, [m, m], density=1.0),
    "describe-global": lambda b, m: merging.describe(b, [m, m], density=0.5, scope="global"),
}
_IN_MEMORY_ONLY = {
    "task_vectors": lambda b, m: merging.task_vectors(b, [m]),
    "task_shares": lambda b, m: merging.task_shares(b, [m, m]),
    "entry_categories": lambda b, m: merging.entry_categories(b, [m, m], density=0.5),
    "mass_fate": lambda b, m: merging.mass_fate(b, [m, m], density=0.5),
    "ownership": lambda b, m: merging.ownership(b, [m, m], density=0.5),
    "conflict_curve": lambda b, m: merging.conflict_curve(b, [m, m], density=0.5),
    "sign_patterns": lambda b, m: merging.sign_patterns(b, [m, m], density=0.5),
    "sign_agreement_log_odds": lambda b, m: merging.sign_agreement_log_odds(
        b, [m, m], density=0.5
    ),
}


@pytest.mark.parametrize("call", [*_ENTRY_POINTS, *_IN_MEMORY_ONLY])
def test_task_vector_beyond_float32_range_in_memory_is_named(call):
    # -3e38 - 3e38 overflows float32: ties_merge returned -inf (the answer is
    # the model, -3e38), the others raised numpy's overflow RuntimeWarning.
    func = {**_ENTRY_POINTS, **_IN_MEMORY_ONLY}[call]
    base, model = dict(_BASE), dict(_MODEL)
    with pytest.raises(
        ValueError,
        match=r"the task vector of tensor 'w' of .*models\[0\].* \(model - base\) overflows "
        r"float32 at 1 values \(flat positions 0\)",
    ):
        func(base, model)
    np.testing.assert_array_equal(base["w"], _BASE["w"])


@pytest.mark.parametrize("call", list(_ENTRY_POINTS))
def test_task_vector_beyond_float32_range_in_files_is_named(tmp_path, call):
    base, model = _files(tmp_path, _BASE, _MODEL)
    with pytest.raises(
        ValueError,
        match=r"the task vector of tensor 'w' of '.*model\.safetensors' \(model - base\) "
        r"overflows float32",
    ):
        _ENTRY_POINTS[call](base, model)


def _cups(tmp_path, **columns) -> Path:
    table = pd.DataFrame({"cup": [1, 2, 3, 4], **{p: [1.0, 2.0, 3.0, 4.0] for p in PARTS}})
    path = tmp_path / "miss.csv"
    table.assign(**columns).to_csv(path, index=False)
    return path


def test_check_table_names_the_cups_of_missing_values(tmp_path):
    path = _cups(tmp_path, Al=[1.0, 2.0, np.nan, 4.0])
    with pytest.raises(ValueError, match=r"values in column Al \(missing\) at cup 3; the file"):
        coda.load_roman_cups(path=path)
    path = _cups(tmp_path, Fe=[np.inf, 2.0, np.nan, 4.0])
    with pytest.raises(ValueError, match=r"column Fe \(inf, missing\) at cup 1, cup 3; the"):
        coda.load_roman_cups(path=path)


def test_check_table_names_the_rows_of_a_bad_index(tmp_path):
    path = _cups(tmp_path, cup=[1.0, 2.0, np.nan, 4.0])
    with pytest.raises(ValueError, match=r"column cup \(missing\) at row 3; the file"):
        coda.load_roman_cups(path=path)


_MERGING_CHECKS = [
    "check_checkpoint_source",
    "check_cluster_sources",
    "check_composition_layers",
    "check_finite_tensor",
    "check_float32_range",
    "check_float32_tensor",
    "check_independent_losses",
    "check_layers",
    "check_merge_command",
    "check_merge_statistic",
    "check_metadata",
    "check_model_count",
    "check_model_shapes",
    "check_model_weights",
    "check_models",
    "check_network_layers",
    "check_network_tasks",
    "check_normalize",
    "check_open_checkpoint",
    "check_output_target",
    "check_readable_dtype",
    "check_safetensors_out",
    "check_same_buffer",
    "check_same_shape",
    "check_same_tensors",
    "check_shard_bytes",
    "check_shard_holds",
    "check_shard_out",
    "check_task_models",
    "check_tasks_with_mass",
    "check_tensor_mapping",
    "check_tensor_name",
    "check_torch_entry",
    "check_written_tensor",
    "raise_corrupt_checkpoint",
    "raise_out_over_input",
    "warn_tasks_without_change",
]


def test_merging_checks_are_split_under_the_module_limit_and_still_importable():
    folder = Path(coda._validation.__file__).parent
    for module in ("_checkpoints.py", "_merging.py"):
        lines = (folder / module).read_text(encoding="utf-8").splitlines()
        assert len(lines) <= 600, (module, len(lines))
    for name in _MERGING_CHECKS:
        assert callable(getattr(coda._validation, name)), name
