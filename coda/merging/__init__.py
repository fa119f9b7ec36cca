"""Merged neural networks: checkpoint I/O, task vectors and merging, statistics of merges.

Importing :mod:`coda` does not import this package: its dependencies
(safetensors, ml_dtypes) come with the ``merge`` extra,
``pip install 'coda-logratio[merge]'``.
"""

from coda.merging.analysis import category_balances, fate_balances, task_network
from coda.merging.checkpoints import (
    Checkpoint,
    check_compatible,
    open_checkpoint,
    write_checkpoint,
)
from coda.merging.dare import dare
from coda.merging.demo import evaluate, merge_grid, train_digit_models
from coda.merging.describe import describe
from coda.merging.patterns import conflict_curve, sign_agreement_log_odds, sign_patterns
from coda.merging.plots import plot_balance_depth, plot_layer_composition
from coda.merging.stats import entry_categories, mass_fate, ownership, task_shares
from coda.merging.ties import task_arithmetic, task_vectors, ties_merge

__all__ = [
    "Checkpoint",
    "category_balances",
    "check_compatible",
    "conflict_curve",
    "dare",
    "describe",
    "entry_categories",
    "evaluate",
    "fate_balances",
    "mass_fate",
    "merge_grid",
    "open_checkpoint",
    "ownership",
    "plot_balance_depth",
    "plot_layer_composition",
    "sign_agreement_log_odds",
    "sign_patterns",
    "task_arithmetic",
    "task_network",
    "task_shares",
    "task_vectors",
    "ties_merge",
    "train_digit_models",
    "write_checkpoint",
]
