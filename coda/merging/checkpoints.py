"""Checkpoint input and output: state dicts read lazily, merged models written atomically.

A :class:`Checkpoint` gives one interface over safetensors files (single or
sharded with a ``model.safetensors.index.json``, memory-mapped), ``.npz``
archives, PyTorch files (through ``torch.load(..., weights_only=True)``, only
when torch is installed) and in-memory mappings of tensor name to array. It
reads one tensor at a time, so code that walks the tensors of several models
holds a few tensors in memory, never whole models. :func:`write_checkpoint`
writes safetensors, sharded in the Hugging Face layout above a size limit,
and makes every output file appear atomically.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import ml_dtypes
import numpy as np

from coda._validation import (
    check_checkpoint_source,
    check_float32_tensor,
    check_metadata,
    check_open_checkpoint,
    check_output_target,
    check_safetensors_out,
    check_same_buffer,
    check_same_shape,
    check_same_tensors,
    check_shard_bytes,
    check_tensor_name,
)
from coda.merging._formats import _InMemory, _open_backend
from coda.merging._writer import _check_names, _held_shards, _write_shards

__all__ = ["Checkpoint", "check_compatible", "open_checkpoint", "write_checkpoint"]

# half-precision floats are read and computed in float32 (issue 6)
_WIDENED = (np.dtype(np.float16), np.dtype(ml_dtypes.bfloat16))


def _is_buffer(dtype) -> bool:
    """Whether tensors of ``dtype`` are buffers (integer or boolean), passed through merges.

    Position ids, attention masks and step counters are not weights: adding
    task vectors to them in float32 would change integers of 2^24 or more
    and turn them into floats.
    """
    return np.dtype(dtype).kind in "biu"


def _as_float32(values, tensor: str, source: str) -> np.ndarray:
    """``values`` as float32 (not copied if float32 already), for tensor ``tensor`` of ``source``.

    A finite value of a wider dtype (float64) beyond float32's range would
    become inf: raised as that (:func:`check_float32_tensor`), not later as
    a value that is not finite, and without numpy's overflow warning.
    """
    values = np.asarray(values)
    with np.errstate(over="ignore"):
        cast = np.asarray(values, dtype=np.float32)
    if values.dtype.itemsize > cast.dtype.itemsize:
        check_float32_tensor(values, cast, tensor, source)
    return cast


class Checkpoint:
    """A model state dict whose tensors are read one at a time.

    Build one with :func:`open_checkpoint`. A checkpoint is a context manager
    that closes its files on exit; tensor names are listed sorted.

    Parameters
    ----------
    backend : object
        The reader of one kind of source, made by :func:`open_checkpoint`.
    source : str
        How messages name the checkpoint: its path in quotes, or
        ``'<in-memory>'``.

    Attributes
    ----------
    source : str
        How messages name the checkpoint.
    metadata : dict of str to str
        The safetensors header metadata (of the first shard of a sharded
        checkpoint); empty for other kinds of file and for mappings.

    See Also
    --------
    open_checkpoint : Open a path or mapping as a checkpoint.
    write_checkpoint : Write tensors as safetensors.

    Examples
    --------
    >>> import numpy as np
    >>> from coda.merging import open_checkpoint
    >>> with open_checkpoint({"w": np.ones((2, 3), dtype=np.float16)}) as ckpt:
    ...     print(ckpt.keys(), ckpt.shape("w"), ckpt.dtype("w"), ckpt.read("w").dtype)
    ['w'] (2, 3) float16 float32
    """

    def __init__(self, backend, source: str):
        self._backend = backend
        self.source = source
        self.metadata = dict(backend.metadata)
        self._closed = False

    def __repr__(self) -> str:
        return f"Checkpoint({self.source}, {len(self._backend.keys())} tensors)"

    def __enter__(self) -> Checkpoint:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def keys(self) -> list[str]:
        """Return the tensor names, sorted."""
        # Once closed, every read would fail with an error of the reader's
        # insides (a KeyError naming a shard, an AttributeError).
        check_open_checkpoint(self.source, self._closed)
        return self._backend.keys()

    def shape(self, name: str, /) -> tuple:
        """Return the shape of tensor ``name`` without reading its data."""
        return self._backend.shape(check_tensor_name(name, self.source, self.keys()))

    def dtype(self, name: str, /) -> np.dtype:
        """Return the stored dtype of tensor ``name`` without reading its data."""
        return self._backend.dtype(check_tensor_name(name, self.source, self.keys()))

    def read(self, name: str, /) -> np.ndarray:
        """Return tensor ``name`` as a new array that the caller owns.

        float16 and bfloat16 tensors come back as float32 (exactly: every
        half-precision value is a float32 value); other dtypes as stored.
        """
        check_tensor_name(name, self.source, self.keys())
        values = self._backend.raw(name)
        if values.dtype in _WIDENED:
            return values.astype(np.float32)
        return np.array(values, copy=True)

    def _view(self, name: str) -> np.ndarray:
        """Tensor ``name`` as float32 for reading only, without a copy where the file allows.

        A float32 tensor of a safetensors file is a read-only view of its
        memory map; other tensors are read (and widened or narrowed to
        float32: a float64 value beyond float32's range raises, naming the
        tensor and the checkpoint). Callers must not write to the result.
        """
        check_tensor_name(name, self.source, self.keys())
        return _as_float32(self._backend.view(name), name, self.source)

    def file_of(self, name: str, /) -> Path | None:
        """Return the file that holds tensor ``name`` (None for a mapping)."""
        return self._backend.file_of(check_tensor_name(name, self.source, self.keys()))

    def _files(self) -> set[Path]:
        """The files that hold the tensors (none for a mapping)."""
        backend = self._backend
        files = {backend.file_of(name) for name in self.keys()}
        return {file for file in files if file is not None}

    def close(self) -> None:
        """Close the files behind the checkpoint; reading it afterwards raises."""
        self._backend.close()
        self._closed = True


def open_checkpoint(source, /) -> Checkpoint:
    """Open a model state dict for reading one tensor at a time.

    A path selects its reader by name: ``*.safetensors`` (memory-mapped
    through ``safetensors.safe_open``), ``*.index.json`` (a sharded
    safetensors checkpoint in the Hugging Face layout), ``*.npz`` (numpy's
    lazy archive) or ``*.pt``, ``*.pth``, ``*.bin``, ``*.ckpt`` (PyTorch,
    needs torch). A directory is opened through its
    ``model.safetensors.index.json`` or ``model.safetensors``. A mapping of
    tensor name to array is offered through the same interface.

    Parameters
    ----------
    source : str, os.PathLike, Checkpoint or mapping of str to array_like
        The checkpoint. A :class:`Checkpoint` is returned as it is.

    Returns
    -------
    Checkpoint
        The opened checkpoint; use it as a context manager to close it.

    Raises
    ------
    FileNotFoundError
        If the path does not exist, or a directory holds no checkpoint.
    ValueError
        If a file is corrupt or truncated (a safetensors header that does not
        parse, or tensor data past the end of the file; the message names the
        file and, when known, the tensor), a shard index maps a tensor to a
        shard that does not hold it, lists a tensor twice, or has a shard
        that holds a tensor the index maps elsewhere or not at all (the
        message names the index, the shard and the tensor), a PyTorch file
        holds something other than tensors under str names (an epoch count,
        a nested state dict, a sparse tensor), a tensor has a dtype
        coda.merging does not read (complex, object arrays of an ``.npz``,
        strings, or a format such as ``F8_E8M0`` or ``F4`` that numpy has no
        dtype for; for an ``.npz``, raised when the tensor's shape, dtype or
        data is first asked for), or the name has an unknown suffix. Reading
        a tensor of a damaged file later raises a ValueError naming both,
        too, and so does using the checkpoint after it is closed.
    ImportError
        If a PyTorch file is opened and torch is not installed.
    TypeError
        If a mapping has non-str names or non-numeric arrays.

    See Also
    --------
    write_checkpoint : Write tensors as safetensors.
    check_compatible : Check that models share their base's tensors and shapes.

    Notes
    -----
    Nothing is read at opening beyond headers (and, for PyTorch files, what
    ``torch.load(..., weights_only=True, mmap=True)`` reads; a file of torch's
    legacy format, which cannot be memory-mapped, is loaded whole); PyTorch files are
    never unpickled beyond tensors and plain containers. Reading half-precision
    tensors widens them to float32 exactly; bfloat16 is handled by ml_dtypes.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> from coda.merging import open_checkpoint, write_checkpoint
    >>> rng = np.random.default_rng(0)
    >>> tensors = {"b": rng.standard_normal(3, dtype=np.float32), "a": np.eye(2)}
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = write_checkpoint(tensors, Path(tmp) / "model.safetensors",
    ...                             metadata={"format": "np"})
    ...     with open_checkpoint(path) as ckpt:
    ...         print(ckpt.keys(), ckpt.metadata, ckpt.read("a"))
    ['a', 'b'] {'format': 'np'} [[1. 0.]
     [0. 1.]]
    """
    if isinstance(source, Checkpoint):
        return source
    if isinstance(source, Mapping):
        return Checkpoint(_InMemory(source), "'<in-memory>'")
    path = check_checkpoint_source(source, "source")
    return Checkpoint(_open_backend(path), repr(str(path)))


def check_compatible(base, models, /) -> None:
    """Check that fine-tuned models hold exactly their base's tensors, in its shapes.

    Opening each checkpoint checks its headers (a corrupt or truncated file
    raises there), so a merge that calls this first fails before writing any
    output. The base's integer and boolean tensors (buffers such as position
    ids, masks or step counters, which merges pass through unchanged) are
    read, one at a time, and every model's must hold the same values.

    Parameters
    ----------
    base : str, os.PathLike, Checkpoint or mapping
        The base (pre-trained) model.
    models : sequence of str, os.PathLike, Checkpoint or mapping
        The fine-tuned models.

    Returns
    -------
    None

    Raises
    ------
    ValueError
        If a model has a tensor the base lacks, lacks a tensor of the base,
        or has a tensor of another shape (the message names both checkpoints
        and the tensor), a tensor that is integer or boolean in the base
        holds other values in a model (the message names the model, the
        tensor and where they differ), or a file cannot be opened as
        :func:`open_checkpoint` says (corrupt or truncated, a shard index that
        does not match its shards, a dtype it does not read).

    See Also
    --------
    open_checkpoint : Open a path or mapping as a checkpoint.

    Examples
    --------
    >>> import numpy as np
    >>> from coda.merging import check_compatible
    >>> base = {"w": np.zeros((2, 2))}
    >>> check_compatible(base, [{"w": np.ones((2, 2))}])
    >>> check_compatible(base, [{"w": np.ones(4)}])
    Traceback (most recent call last):
    ...
    ValueError: tensor 'w' has shape (4,) in checkpoint '<models[0] in memory>' but (2, 2) in
    the base '<base in memory>'; models merge only with the architecture of their base
    >>> step = {"w": np.zeros(2), "step": np.array(7)}
    >>> check_compatible(step, [{"w": np.ones(2), "step": np.array(9)}])
    Traceback (most recent call last):
    ...
    ValueError: tensor 'step' of '<models[0] in memory>' differs from the base '<base in
    memory>' in 1 of 1 values (flat positions 0); it is int64 in the base, and integer and
    boolean tensors (buffers such as position ids, masks or step counters) are passed through
    a merge unchanged, never merged: give that model the base's 'step', or, if it is a weight,
    store it as floating point in the base
    """
    opened = []
    try:
        base_ckpt, *checkpoints = _open_all(base, models, opened)
        base_keys = base_ckpt.keys()
        for ckpt in checkpoints:
            check_same_tensors(base_keys, ckpt.keys(), base_ckpt.source, ckpt.source)
            for name in base_keys:
                check_same_shape(
                    name, ckpt.shape(name), base_ckpt.shape(name), base_ckpt.source, ckpt.source
                )
        for name in base_keys:
            if _is_buffer(base_ckpt.dtype(name)):
                # One buffer at a time: the base's and one model's.
                start = base_ckpt.read(name)
                for ckpt in checkpoints:
                    check_same_buffer(name, ckpt.read(name), start, base_ckpt.source, ckpt.source)
    finally:
        for ckpt in opened:
            ckpt.close()


def _roles(n_models: int) -> list[str]:
    """Names of the base and the models in messages: ``base``, ``models[0]``, ..."""
    return ["base"] + [f"models[{t}]" for t in range(n_models)]


def _open_all(base, models, opened: list) -> list[Checkpoint]:
    """The base and each model as checkpoints, base first; those opened here go to ``opened``.

    Each is appended as it opens, so the caller can close them even if a
    later one fails; a Checkpoint passed in is used as it is. An in-memory
    mapping is named by its role (``'<models[2] in memory>'``): a list of
    mappings would otherwise all be ``'<in-memory>'`` in error messages.
    Files keep their path.
    """
    checkpoints = []
    for source, role in zip([base, *models], _roles(len(models)), strict=True):
        if isinstance(source, Checkpoint):
            ckpt = source
        else:
            if isinstance(source, Mapping):
                ckpt = Checkpoint(_InMemory(source), f"'<{role} in memory>'")
            else:
                ckpt = open_checkpoint(source)
            opened.append(ckpt)
        checkpoints.append(ckpt)
    return checkpoints


def write_checkpoint(tensors, path, /, *, metadata=None, max_shard_bytes=None) -> Path:
    r"""Write tensors as safetensors, sharded above a size limit, atomically.

    With every tensor in one shard the result is the file ``path``; with
    several, the shards are ``{stem}-00001-of-0000N.safetensors`` next to it
    and an index ``{name}.index.json`` maps each tensor to its shard (the
    Hugging Face layout, e.g. ``model.safetensors.index.json``).

    Parameters
    ----------
    tensors : mapping of str to array_like, or iterable of (str, array_like)
        The tensors, in the order they are written. An iterable (e.g. a
        generator merging one tensor at a time) is consumed shard by shard.
    path : str or os.PathLike
        The output file, ending in ``.safetensors``; its directory must exist.
    metadata : mapping of str to str, optional
        Header metadata written into every file (e.g. the base model's
        ``Checkpoint.metadata``).
    max_shard_bytes : int, optional
        Most tensor bytes per shard; None writes one file.

    Returns
    -------
    pathlib.Path
        The file to open: ``path``, or the index of a sharded checkpoint.

    Raises
    ------
    TypeError
        If ``metadata`` is not str to str, a tensor name is not a str, a
        tensor's dtype is not one safetensors stores, or ``max_shard_bytes``
        is not an integer.
    IsADirectoryError
        If ``path`` is a directory.
    FileNotFoundError
        If the directory of ``path`` does not exist.
    ValueError
        If ``path`` does not end in ``.safetensors``, ``max_shard_bytes``
        is not positive, or two tensors have one name or a tensor is named
        ``__metadata__`` (names a safetensors file cannot hold); no output
        appears then.

    See Also
    --------
    open_checkpoint : Read the written checkpoint back.

    Notes
    -----
    Each file is written under a temporary name in the output directory and
    renamed (``os.replace``) into place only after every shard is written,
    the index last; if writing fails midway, the temporary files are removed
    and no output appears. Each file's full size is reserved first
    (``os.posix_fallocate``, where the platform and file system support it),
    so a full disk fails before any data is written. At most one shard's tensors are held in memory
    (all of them when ``max_shard_bytes`` is None). The files get the
    permissions of any new file: 0o666 less the umask. safetensors files are
    little-endian: big-endian arrays (``>f4``, e.g. from an ``.npz`` written on
    such a machine) are written with their bytes swapped, holding the same values.

    The output replaces an earlier one written to the same ``path``, in
    either layout, so that the directory holds one consistent model:
    writing one file removes the index ``{name}.index.json`` and the shards
    ``{stem}-NNNNN-of-NNNNN.safetensors`` of an earlier sharded write, and
    writing shards removes an earlier single file ``path`` and the shards
    the new index does not list. An earlier index is renamed aside before
    any new file is renamed into place (:func:`open_checkpoint` opens a
    directory through its index when it has one), and the earlier files are
    removed only once the new ones are all in place, so a failure midway
    never leaves a directory that opens as the earlier model with new files
    beside it, nor as a mix of both: if a rename fails, the new files
    already renamed are removed and the earlier index is put back, unless a
    new file replaced one of the earlier output's (then the directory is
    left without an index rather than pointing at a mix).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> from coda.merging import open_checkpoint, write_checkpoint
    >>> tensors = {f"layer{i}": np.full(4, i, dtype=np.float32) for i in range(3)}
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     index = write_checkpoint(tensors, Path(tmp) / "model.safetensors",
    ...                              max_shard_bytes=32)
    ...     print(*sorted(p.name for p in Path(tmp).iterdir()), sep="\n")
    ...     with open_checkpoint(index) as ckpt:
    ...         print(index.name, ckpt.read("layer2"))
    model-00001-of-00002.safetensors
    model-00002-of-00002.safetensors
    model.safetensors.index.json
    model.safetensors.index.json [2. 2. 2. 2.]
    """
    metadata = check_metadata(metadata)
    max_shard_bytes = check_shard_bytes(max_shard_bytes)
    path = check_safetensors_out(path)
    check_output_target(path)
    if isinstance(tensors, Mapping):
        # Names known up front are checked before any file is made; those
        # of an iterable as it is consumed (its temporary files then go).
        _check_names(tensors)
        tensors = tensors.items()
    return _write_shards(path, _held_shards(tensors, max_shard_bytes), metadata)
