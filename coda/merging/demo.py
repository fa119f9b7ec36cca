"""A real merging demonstration: small networks fine-tuned on handwritten digits.

A 64-64-64-10 ReLU network is pre-trained on scikit-learn's ``load_digits``
(8 x 8 images shipped with scikit-learn, so nothing is downloaded) and copies
of it are fine-tuned on four tasks that share the one 10-way output head:

``low``
    images of the digits 0-4 only, label = the digit;
``high``
    images of the digits 5-9 only, label = the digit;
``parity``
    every image, label = 0 for an even digit and 1 for an odd one (the first
    two outputs of the head);
``occluded``
    every image with its three left pixel columns set to 0, label = the digit.

Accuracy on a task is the share of that task's test images whose largest
output is the task's label. Images with index ``i % 4 == 0`` form the test
split and are never trained on. Training is full-batch Adam on softmax cross
entropy, written in numpy and computed in float32.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd

from coda._validation import (
    check_flag,
    check_fraction,
    check_integer,
    check_model_shapes,
    check_option,
    check_task_models,
)
from coda.merging.checkpoints import open_checkpoint, write_checkpoint
from coda.merging.dare import dare
from coda.merging.ties import task_arithmetic, ties_merge

__all__ = ["evaluate", "merge_grid", "train_digit_models"]

TASKS = ("low", "high", "parity", "occluded")
_WIDTHS = (64, 64, 64, 10)
_LEARNING_RATE = 0.01


def _digits() -> tuple[np.ndarray, np.ndarray]:
    try:
        from sklearn.datasets import load_digits
    except ImportError as error:
        raise ImportError(
            "the digits demonstration needs scikit-learn for load_digits; install it "
            "with pip install 'coda-logratio[merge]' (or pip install scikit-learn)"
        ) from error
    data = load_digits()
    # pixel values are 0..16; scaled to [0, 1]
    return (data.data / 16.0).astype(np.float32), data.target.astype(np.int64)


def _task_data(task: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    images, digits = _digits()
    test = np.arange(len(digits)) % 4 == 0
    rows = test if split == "test" else ~test
    if task == "low":
        rows = rows & (digits <= 4)
    elif task == "high":
        rows = rows & (digits >= 5)
    images, digits = images[rows], digits[rows]
    if task == "parity":
        return images, digits % 2
    if task == "occluded":
        occluded = images.reshape(-1, 8, 8).copy()
        occluded[:, :, :3] = 0.0
        return occluded.reshape(-1, 64), digits
    return images, digits


def _architecture() -> dict[str, tuple]:
    """Tensor name -> shape of the network: weights (out, in) as in torch, biases (out,)."""
    shapes = {}
    for i, (n_in, n_out) in enumerate(itertools.pairwise(_WIDTHS)):
        shapes[f"layer{i}.weight"] = (n_out, n_in)
        shapes[f"layer{i}.bias"] = (n_out,)
    return shapes


def _initial(rng: np.random.Generator) -> dict[str, np.ndarray]:
    params = {}
    for i, (n_in, n_out) in enumerate(itertools.pairwise(_WIDTHS)):
        # He initialisation for ReLU layers; weights stored (out, in) as in torch
        params[f"layer{i}.weight"] = (
            rng.standard_normal((n_out, n_in)) * np.sqrt(2.0 / n_in)
        ).astype(np.float32)
        params[f"layer{i}.bias"] = np.zeros(n_out, dtype=np.float32)
    return params


def _logits(params, images: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    n_layers = len(_WIDTHS) - 1
    activations = [images]
    hidden = images
    for i in range(n_layers):
        hidden = hidden @ params[f"layer{i}.weight"].T + params[f"layer{i}.bias"]
        if i < n_layers - 1:
            hidden = np.maximum(hidden, np.float32(0.0))
            activations.append(hidden)
    return hidden, activations


def _train(params: dict, images: np.ndarray, labels: np.ndarray, epochs: int) -> dict:
    params = {name: value.copy() for name, value in params.items()}
    moments = {name: (np.zeros_like(v), np.zeros_like(v)) for name, v in params.items()}
    beta1, beta2, eps = np.float32(0.9), np.float32(0.999), np.float32(1e-8)
    onehot = np.eye(_WIDTHS[-1], dtype=np.float32)[labels]
    n_layers = len(_WIDTHS) - 1
    for step in range(1, epochs + 1):
        logits, activations = _logits(params, images)
        logits = logits - logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        # gradient of the mean softmax cross entropy with respect to the logits
        delta = (probs - onehot) / np.float32(len(labels))
        grads = {}
        for i in reversed(range(n_layers)):
            grads[f"layer{i}.weight"] = delta.T @ activations[i]
            grads[f"layer{i}.bias"] = delta.sum(axis=0)
            if i > 0:
                delta = (delta @ params[f"layer{i}.weight"]) * (activations[i] > 0)
        # Kingma & Ba (2015), Algorithm 1
        correction = np.float32(np.sqrt(1 - 0.999**step) / (1 - 0.9**step))
        for name, grad in grads.items():
            first, second = moments[name]
            first *= beta1
            first += (1 - beta1) * grad
            second *= beta2
            second += (1 - beta2) * grad * grad
            params[name] -= (
                np.float32(_LEARNING_RATE) * correction * first / (np.sqrt(second) + eps)
            )
    return params


def train_digit_models(out_dir, /, *, seed=0, epochs=300, quick=False) -> dict[str, Path]:
    """Pre-train a digit classifier, fine-tune copies on four tasks, save all as safetensors.

    The base network is pre-trained on the clean training images with the ten
    digit labels; each fine-tuned model starts from the base and is trained on
    one task of :data:`TASKS` (see the module description) for a third of
    ``epochs``.

    Parameters
    ----------
    out_dir : str or os.PathLike
        An existing directory; the files ``base.safetensors`` and
        ``{task}.safetensors`` are written into it (replacing files of the
        same names).
    seed : int, default 0
        Seed of the one random generator that draws the initial weights.
    epochs : int, default 300
        Full-batch Adam steps of pre-training.
    quick : bool, default False
        Train for 60 steps (fine-tuning 20) whatever ``epochs`` says: a
        reduced run for tests and examples.

    Returns
    -------
    dict of str to pathlib.Path
        The written files, keyed ``"base"`` and by task name.

    Raises
    ------
    ImportError
        If scikit-learn is not installed.
    TypeError
        If ``seed`` or ``epochs`` is not an integer or ``quick`` not a bool.
    ValueError
        If ``epochs`` is below 3.

    See Also
    --------
    evaluate : Accuracy of a saved model on a task.
    merge_grid : Merge the fine-tuned models and evaluate the merges.

    Notes
    -----
    The tensors are ``layer{i}.weight`` of shape (out, in) and ``layer{i}.bias``
    for i = 0, 1, 2, in float32. The run is deterministic: the same seed gives
    files with identical bytes.

    References
    ----------
    .. [1] Kingma, D. P. and Ba, J. (2015). Adam: a method for stochastic
       optimization. ICLR. doi:10.48550/arXiv.1412.6980

    Examples
    --------
    >>> import tempfile
    >>> from coda.merging.demo import evaluate, train_digit_models
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     paths = train_digit_models(tmp, seed=0, quick=True)
    ...     print(sorted(paths))
    ...     print(evaluate(paths["parity"], "parity") > evaluate(paths["base"], "parity"))
    ['base', 'high', 'low', 'occluded', 'parity']
    True
    """
    seed = check_integer(seed, "seed", minimum=0)
    epochs = check_integer(epochs, "epochs", minimum=3)
    quick = check_flag(quick, "quick")
    if quick:
        epochs = 60
    out_dir = Path(out_dir)
    rng = np.random.default_rng(seed)
    images, digits = _task_data("base", "train")
    base = _train(_initial(rng), images, digits, epochs)
    # no header metadata: safetensors orders metadata keys by a hash map, and
    # the files must be byte-identical across runs
    paths = {"base": write_checkpoint(base, out_dir / "base.safetensors")}
    for task in TASKS:
        tuned = _train(base, *_task_data(task, "train"), epochs // 3)
        paths[task] = write_checkpoint(tuned, out_dir / f"{task}.safetensors")
    return paths


def evaluate(model, task, /) -> float:
    """Accuracy of a digits model on one task's test images.

    Parameters
    ----------
    model : str, os.PathLike, Checkpoint or mapping of str to array_like
        A model with the tensors written by :func:`train_digit_models`.
    task : {"low", "high", "parity", "occluded"}
        The task (see the module description).

    Returns
    -------
    float
        The share of the task's test images whose largest output is the label.

    Raises
    ------
    ImportError
        If scikit-learn is not installed.
    ValueError
        If ``task`` is unknown, or the model lacks a tensor of the network or
        has one of another shape (the message names the tensor).

    See Also
    --------
    train_digit_models : Make the models.

    Notes
    -----
    Chance level is 1/5 for ``low`` and ``high`` among their five digits and
    1/2 for ``parity`` (for a model that only uses the task's outputs), 1/10
    for ``occluded``.

    Examples
    --------
    >>> import tempfile
    >>> from coda.merging.demo import evaluate, train_digit_models
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     paths = train_digit_models(tmp, quick=True)
    ...     print(evaluate(paths["low"], "low") > 0.9)
    True
    """
    task = check_option(task, "task", TASKS)
    expected = _architecture()
    with open_checkpoint(model) as ckpt:
        names = set(ckpt.keys())
        shapes = {name: ckpt.shape(name) for name in expected if name in names}
        check_model_shapes(shapes, expected, ckpt.source, "train_digit_models")
        params = {name: ckpt.read(name).astype(np.float32) for name in expected}
    images, labels = _task_data(task, "test")
    logits, _ = _logits(params, images)
    return float(np.mean(logits.argmax(axis=1) == labels))


def merge_grid(base, models, /, *, densities=(0.1, 0.2, 0.5, 1.0), seed=0) -> pd.DataFrame:
    """Merge the fine-tuned digits models over a grid of densities and evaluate every merge.

    Parameters
    ----------
    base : str, os.PathLike, Checkpoint or mapping of str to array_like
        The pre-trained model.
    models : mapping of str to checkpoint
        Fine-tuned models keyed by their task name (keys from :data:`TASKS`),
        e.g. the result of :func:`train_digit_models` without ``"base"``.
    densities : sequence of float, default (0.1, 0.2, 0.5, 1.0)
        Densities in (0, 1] for TIES (both scopes) and DARE.
    seed : int, default 0
        Seed of DARE's random drop.

    Returns
    -------
    pandas.DataFrame
        One row per (model, task) with columns ``model``, ``method``
        (``"base"``, ``"fine-tuned"``, ``"task_arithmetic"``, ``"ties"``,
        ``"dare"``), ``scope`` (``"tensor"``/``"global"`` for TIES, else
        empty), ``density`` (NaN where none applies), ``task`` and
        ``accuracy``.

    Raises
    ------
    TypeError
        If ``models`` is not a mapping.
    ValueError
        If ``models`` is empty, a key of ``models`` is not a task, a density
        is outside (0, 1], or a model is not a digits network (see
        :func:`evaluate`).

    See Also
    --------
    coda.merging.task_arithmetic, coda.merging.ties_merge, coda.merging.dare

    Notes
    -----
    Task arithmetic adds the mean task vector (lambda = 1/T); TIES averages the
    agreeing entries (``merge="mean"``, lambda = 1); DARE rescales by 1/density
    and adds the mean (lambda = 1/T).

    Examples
    --------
    >>> import tempfile
    >>> from coda.merging.demo import merge_grid, train_digit_models
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     paths = train_digit_models(tmp, quick=True)
    ...     base = paths.pop("base")
    ...     grid = merge_grid(base, paths, densities=(0.2,))
    >>> print(grid.shape, list(grid.columns))
    (36, 6) ['model', 'method', 'scope', 'density', 'task', 'accuracy']
    """
    names = check_task_models(models, TASKS)
    densities = [check_fraction(d, "densities", closed=True) for d in densities]
    seed = check_integer(seed, "seed", minimum=0)
    tuned = [models[name] for name in names]
    lam = 1.0 / len(tuned)
    merged = [("base", "base", "", np.nan, base)]
    merged += [(name, "fine-tuned", "", np.nan, models[name]) for name in names]
    merged.append(
        ("task_arithmetic", "task_arithmetic", "", np.nan, task_arithmetic(base, tuned, lam=lam))
    )
    for density in densities:
        for scope in ("tensor", "global"):
            model = ties_merge(base, tuned, density=density, scope=scope)
            merged.append((f"ties-{scope}-{density:g}", "ties", scope, density, model))
        model = dare(base, tuned, density=density, seed=seed, lam=lam)
        merged.append((f"dare-{density:g}", "dare", "", density, model))
    rows = [
        {
            "model": label,
            "method": method,
            "scope": scope,
            "density": density,
            "task": task,
            "accuracy": evaluate(model, task),
        }
        for label, method, scope, density, model in merged
        for task in names
    ]
    return pd.DataFrame(rows)
