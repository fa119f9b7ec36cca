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

import errno
import json
import math
import os
import re
import secrets
import struct
from collections.abc import Mapping
from pathlib import Path

import ml_dtypes
import numpy as np

from coda._validation import (
    check_checkpoint_source,
    check_metadata,
    check_same_shape,
    check_same_tensors,
    check_shard_bytes,
    check_tensor_name,
    check_written_tensor,
)
from coda.merging._formats import _SAFETENSORS_DTYPES, _InMemory, _open_backend

__all__ = ["Checkpoint", "check_compatible", "open_checkpoint", "write_checkpoint"]

# The header's dtype code of each numpy dtype safetensors stores.
_DTYPE_CODES = {dtype: code for code, dtype in _SAFETENSORS_DTYPES.items()}

# half-precision floats are read and computed in float32 (issue 6)
_WIDENED = (np.dtype(np.float16), np.dtype(ml_dtypes.bfloat16))


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

    def __repr__(self) -> str:
        return f"Checkpoint({self.source}, {len(self._backend.keys())} tensors)"

    def __enter__(self) -> Checkpoint:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def keys(self) -> list[str]:
        """Return the tensor names, sorted."""
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
        float32). Callers must not write to the result.
        """
        check_tensor_name(name, self.source, self.keys())
        return np.asarray(self._backend.view(name), dtype=np.float32)

    def file_of(self, name: str, /) -> Path | None:
        """Return the file that holds tensor ``name`` (None for a mapping)."""
        return self._backend.file_of(check_tensor_name(name, self.source, self.keys()))

    def close(self) -> None:
        """Close the files behind the checkpoint."""
        self._backend.close()


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
        shard that does not hold it (the message names the index, the shard
        and the tensor), a tensor has a dtype coda.merging does not read
        (complex, or a format such as ``F8_E8M0`` or ``F4`` that numpy has no
        dtype for), or the name has an unknown suffix. Reading a tensor
        of a damaged file later raises a ValueError naming both, too.
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
    ``torch.load(..., weights_only=True, mmap=True)`` reads); PyTorch files are
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
    output.

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
        and the tensor), or a file cannot be opened as :func:`open_checkpoint`
        says (corrupt or truncated, a shard index that does not match its
        shards, a dtype it does not read).

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


def _grouped(items, nbytes, max_shard_bytes: int | None):
    """Yield lists of consecutive ``items`` whose ``nbytes(item)`` sum within ``max_shard_bytes``.

    Items are taken in the order given; one larger than the limit gets a
    shard of its own, as in Hugging Face's sharding. None: one shard.
    """
    shard, size = [], 0
    for item in items:
        if shard and max_shard_bytes is not None and size + nbytes(item) > max_shard_bytes:
            yield shard
            shard, size = [], 0
        shard.append(item)
        size += nbytes(item)
    if shard:
        yield shard


def _contiguous(array) -> np.ndarray:
    # Not np.ascontiguousarray, which returns at least 1-d: a 0-d tensor
    # (a logit scale, a step counter) would be written with shape (1,).
    return np.asarray(array, order="C")


def _named_arrays(tensors):
    """``(name, contiguous array)`` pairs, names checked to be str, unique and not reserved."""
    seen = set()
    for name, array in tensors:
        yield check_written_tensor(name, seen), _contiguous(array)


def _held_shards(tensors, max_shard_bytes: int | None):
    """Yield ``(entries, arrays)`` per shard, each shard's arrays held in memory."""
    for shard in _grouped(_named_arrays(tensors), lambda pair: pair[1].nbytes, max_shard_bytes):
        entries = [(name, array.dtype, array.shape) for name, array in shard]
        yield entries, [array for _, array in shard]


def _streamed_shards(tensors, layout: dict, max_shard_bytes: int | None):
    """Yield ``(entries, arrays)`` per shard, the shards laid out from ``layout`` in advance.

    ``layout`` maps each tensor name, in the order ``tensors`` yields them,
    to its ``(dtype, shape)``; ``arrays`` then draws each shard's tensors
    from ``tensors`` one at a time as the file is written, so only the
    tensor being written is held. A tensor that arrives out of order or with
    another dtype or shape is an error.
    """
    stream = iter(tensors)

    def arrays(entries):
        for name, dtype, shape in entries:
            got, array = next(stream, (None, None))
            array = None if array is None else _contiguous(array)
            if got != name or array is None or array.dtype != dtype or array.shape != shape:
                raise ValueError(
                    f"tensor {name!r} ({np.dtype(dtype)}, shape {shape}) was expected next, got "
                    f"{got!r}" + ("" if array is None else f" ({array.dtype}, {array.shape})")
                )
            yield array

    entries = [(name, np.dtype(dtype), tuple(shape)) for name, (dtype, shape) in layout.items()]
    for shard in _grouped(entries, _entry_bytes, max_shard_bytes):
        yield shard, arrays(shard)


def _entry_bytes(entry) -> int:
    """Bytes of the data of a ``(name, dtype, shape)`` header entry."""
    _, dtype, shape = entry
    return dtype.itemsize * math.prod(shape)


def _write_safetensors(file: Path, entries: list, arrays, metadata: dict | None) -> None:
    """One safetensors file: the header of ``entries``, then each array's bytes as it comes.

    The header is the format's: an 8-byte little-endian length, then JSON
    mapping each tensor name to its dtype code, shape and byte range in the
    data (ranges in the order written), with the metadata under
    ``"__metadata__"``, padded with spaces so the data start on 8 bytes.
    """
    header = {} if metadata is None else {"__metadata__": dict(metadata)}
    offset = 0
    for name, dtype, shape in entries:
        if dtype not in _DTYPE_CODES:
            raise TypeError(
                f"tensor {name!r} has dtype {dtype}, which safetensors cannot store; convert it "
                f"to one of {', '.join(sorted(str(d) for d in _DTYPE_CODES))}"
            )
        nbytes = _entry_bytes((name, dtype, shape))
        header[name] = {
            "dtype": _DTYPE_CODES[dtype],
            "shape": list(shape),
            "data_offsets": [offset, offset + nbytes],
        }
        offset += nbytes
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(file, "wb") as out:
        _reserve(out.fileno(), 8 + len(text) + offset)
        out.write(struct.pack("<Q", len(text)))
        out.write(text)
        for array in arrays:
            # Bytes of the array as laid out in memory: no copy to a bytes object.
            out.write(_contiguous(array).reshape(-1).view(np.uint8).data)


def _reserve(fd: int, size: int) -> None:
    """Allocate a new file's ``size`` bytes at once, where the platform can.

    A full disk (or quota) then fails here, before any data is written, and
    the writes that follow only fill allocated space (on ext4 this also
    spares the flush that renaming over an existing file would start). A file
    system that cannot reserve space is written without the reservation.
    """
    if not hasattr(os, "posix_fallocate"):
        return
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as error:
        if error.errno not in (errno.EINVAL, errno.EOPNOTSUPP, errno.ENOSYS):
            raise


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
    permissions of any new file: 0o666 less the umask.

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
    path = _output_path(path)
    if isinstance(tensors, Mapping):
        # Names known up front are checked before any file is made; those
        # of an iterable as it is consumed (its temporary files then go).
        _check_names(tensors)
        tensors = tensors.items()
    return _write_shards(path, _held_shards(tensors, max_shard_bytes), metadata)


def _check_names(names) -> None:
    seen = set()
    for name in names:
        check_written_tensor(name, seen)


def _write_streamed(tensors, path, layout: dict, metadata=None, max_shard_bytes=None) -> Path:
    """:func:`write_checkpoint` of ``(name, array)`` pairs of known names, dtypes and shapes.

    With ``layout`` (name -> (dtype, shape), in the order the pairs come),
    every header is written before the data, so each tensor goes to its file
    as it arrives and is let go: a merge holds one merged tensor, not the
    whole unsharded result. The files are those of :func:`write_checkpoint`.
    """
    metadata = check_metadata(metadata)
    max_shard_bytes = check_shard_bytes(max_shard_bytes)
    path = _output_path(path)
    _check_names(layout)
    return _write_shards(path, _streamed_shards(tensors, layout, max_shard_bytes), metadata)


def _output_path(path) -> Path:
    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(
            f"path={str(path)!r} does not end in .safetensors; name the output e.g. "
            "'merged/model.safetensors'"
        )
    return path


def _temporary(path: Path) -> Path:
    """A new empty file next to ``path``, under a hidden name, to be renamed into place.

    Made as any new file is (``open(..., "x")``: mode 0o666 less the umask),
    not with ``tempfile.mkstemp``'s 0o600, which the renamed output would keep.
    """
    while True:
        name = path.with_name(f".{path.stem}-{secrets.token_hex(8)}.tmp")
        try:
            with open(name, "xb"):
                return name
        except FileExistsError:
            # Another write's temporary: 2^-64 per file in the directory, drawn again.
            continue


def _shards_of(path: Path) -> list[Path]:
    """The files next to ``path`` named as the shards of a sharded write to it."""
    pattern = re.compile(rf"{re.escape(path.stem)}-\d{{5,}}-of-\d{{5,}}\.safetensors")
    return sorted(file for file in path.parent.iterdir() if pattern.fullmatch(file.name))


def _write_shards(path: Path, shards, metadata: dict | None) -> Path:
    """Write each ``(entries, arrays)`` shard to a temporary file, then rename all into place.

    The renames and the removal of an earlier output follow
    :func:`_move_into_place`; the temporary files go whatever happens.
    """
    temporary = []  # (temporary path, tensor names, bytes)
    try:
        for entries, arrays in shards:
            name = _temporary(path)
            size = sum(_entry_bytes(entry) for entry in entries)
            temporary.append((name, [entry[0] for entry in entries], size))
            _write_safetensors(name, entries, arrays, metadata)
        if not temporary:
            name = _temporary(path)
            temporary.append((name, [], 0))
            _write_safetensors(name, [], [], metadata)
        if len(temporary) == 1:
            _move_into_place(path, [(temporary[0][0], path)], temporary)
            return path
        n_shards = len(temporary)
        final = [
            path.with_name(f"{path.stem}-{i:05d}-of-{n_shards:05d}.safetensors")
            for i in range(1, n_shards + 1)
        ]
        index = {
            "metadata": {"total_size": sum(size for _, _, size in temporary)},
            "weight_map": {
                n: file.name
                for file, (_, names, _) in zip(final, temporary, strict=True)
                for n in names
            },
        }
        name = _temporary(path)
        temporary.append((name, [], 0))
        with open(name, "w", encoding="utf-8") as out:
            json.dump(index, out, indent=2, sort_keys=True)
        index_path = path.with_name(f"{path.name}.index.json")
        moves = [(tmp, file) for (tmp, _, _), file in zip(temporary[:-1], final, strict=True)]
        _move_into_place(path, [*moves, (name, index_path)], temporary)
        return index_path
    finally:
        for tmp, _, _ in temporary:
            tmp.unlink(missing_ok=True)


def _move_into_place(path: Path, moves: list, temporary: list) -> None:
    """Rename each ``(temporary, final)`` file of a write to ``path``; remove the earlier output.

    :func:`open_checkpoint` opens a directory through its index if it has
    one, so an earlier index ``{name}.index.json`` is renamed aside (to a
    name added to ``temporary``, removed with them) before any file is
    renamed into place: no moment of the renames opens as the earlier
    model or as a mix of both. If a rename fails, the files already renamed
    into place are removed, and the earlier index comes back unless one of
    them replaced a file of the earlier output. Once every file is in place,
    the earlier output's other files go: the single file ``path`` (after the
    new index is in place) and shards ``{stem}-NNNNN-of-NNNNN.safetensors``
    that are not among the new files.
    """
    index_path = path.with_name(f"{path.name}.index.json")
    aside = None
    if index_path.exists():
        aside = _temporary(path)
        temporary.append((aside, [], 0))
        os.replace(index_path, aside)
    placed, replaced = [], False
    try:
        for source, target in moves:
            existed = os.path.lexists(target)
            os.replace(source, target)
            placed.append(target)
            replaced = replaced or existed
    except BaseException:
        for target in placed:
            target.unlink(missing_ok=True)
        if aside is not None and not replaced:
            os.replace(aside, index_path)
        raise
    kept = {target for _, target in moves}
    for stale in [path, *_shards_of(path)]:
        if stale not in kept:
            stale.unlink(missing_ok=True)
