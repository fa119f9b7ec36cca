"""Merged neural networks: checkpoint I/O, task vectors and merging, statistics of merges.

Importing :mod:`coda` does not import this package: its dependencies
(safetensors, ml_dtypes) come with the ``merge`` extra,
``pip install 'coda-logratio[merge]'``.
"""

from coda.merging.checkpoints import (
    Checkpoint,
    check_compatible,
    open_checkpoint,
    write_checkpoint,
)
from coda.merging.describe import describe
from coda.merging.patterns import conflict_curve, sign_agreement_log_odds, sign_patterns
from coda.merging.stats import entry_categories, mass_fate, ownership, task_shares
from coda.merging.ties import dare, task_arithmetic, task_vectors, ties_merge

__all__ = [
    "Checkpoint",
    "check_compatible",
    "conflict_curve",
    "dare",
    "describe",
    "entry_categories",
    "mass_fate",
    "open_checkpoint",
    "ownership",
    "sign_agreement_log_odds",
    "sign_patterns",
    "task_arithmetic",
    "task_shares",
    "task_vectors",
    "ties_merge",
    "write_checkpoint",
]
