"""Writing safetensors: shards laid out, files reserved, written, and renamed into place.

The machinery under :func:`coda.merging.write_checkpoint` and the merges'
streamed output: tensors are grouped into shards below a size limit, each
file gets its full size reserved before any data is written, goes to a
temporary name next to its target and is renamed into place, and an earlier
output of the same name (single file or shards with an index) is replaced as
a whole.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import secrets
import struct
from pathlib import Path

import numpy as np

from coda._validation import (
    check_metadata,
    check_safetensors_out,
    check_shard_bytes,
    check_written_tensor,
)
from coda.merging._formats import _SAFETENSORS_DTYPES

# The header's dtype code of each numpy dtype safetensors stores.
_DTYPE_CODES = {dtype: code for code, dtype in _SAFETENSORS_DTYPES.items()}


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


def _little_endian(dtype) -> np.dtype:
    """``dtype`` in the byte order of safetensors files, which are little-endian."""
    return np.dtype(dtype).newbyteorder("<")


def _contiguous(array) -> np.ndarray:
    # Not np.ascontiguousarray, which returns at least 1-d: a 0-d tensor
    # (a logit scale, a step counter) would be written with shape (1,).
    array = np.asarray(array, order="C")
    little = _little_endian(array.dtype)
    # A big-endian array (from an .npz written on such a machine, or a
    # FITS or HDF5 file) has its bytes swapped; the values stay the same.
    return array if array.dtype == little else array.astype(little)


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

    entries = [
        (name, _little_endian(dtype), tuple(shape)) for name, (dtype, shape) in layout.items()
    ]
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
    path = check_safetensors_out(path)
    _check_names(layout)
    return _write_shards(path, _streamed_shards(tensors, layout, max_shard_bytes), metadata)


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


def _replaced_files(path: Path) -> set[str]:
    """The real paths of the files a write to ``path`` replaces or removes.

    ``path`` itself, its index ``path.index.json`` and the shards of an
    earlier sharded write beside it (see :func:`_move_into_place`).
    """
    files = [path, Path(f"{path}.index.json")]
    if path.parent.is_dir():
        files += _shards_of(path)
    return {os.path.realpath(file) for file in files}


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
