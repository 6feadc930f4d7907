"""Saving and loading state dicts: ``mg.save(obj, path)`` and ``mg.load(path)``.

The file is a NumPy ``.npz`` archive: each tensor (or bare array, as in an optimizer's state)
is one array, and one more entry holds the structure (nested dicts, lists, tuples, numbers,
strings, None) as JSON. Loading uses ``allow_pickle=False`` and parses only JSON, so opening
a file never runs code from it, unlike a pickle.

Nothing is lost and nothing is silent:

* ``save`` to a path is atomic. The archive goes to a temporary file in the same directory,
  which is flushed and fsynced and then renamed over the target (and the directory fsynced
  where the OS allows), so a crash, a ``kill -9`` or a full disk in the middle of a save
  leaves the previous file as it was. On a failure the temporary file is removed and the
  OSError names the path.
* ``load`` raises one error type, :class:`~minigrad.errors.CheckpointError`, whose message
  names the file and says what is wrong with it: missing, a directory, empty, truncated,
  corrupt, not a minigrad checkpoint (and what it looks like instead), or holding pickled
  objects, which are refused.
"""
from __future__ import annotations

import contextlib
import errno
import json
import numbers
import os
import secrets
import zipfile
from typing import Any, BinaryIO, Callable, Union

from minigrad import backend
from minigrad.errors import CheckpointError, CheckpointIsADirectoryError, CheckpointNotFoundError
from minigrad.tensor import Tensor, wrap

_STRUCTURE_KEY = "__minigrad_structure__"
_FORMAT = "minigrad-state-v1"
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip's first local header, or an empty zip

PathOrFile = Union[str, "os.PathLike[str]", BinaryIO]


# --- save ---------------------------------------------------------------------------------

def save(obj: Any, f: PathOrFile) -> None:
    """Write ``obj`` (a tensor, or dicts/lists/tuples of tensors, arrays, numbers, strings,
    None) to the file ``f``: a path (written exactly as given, atomically: the previous file
    stays intact unless the new one was written completely) or a binary file object (written
    directly)."""
    arrays: dict[str, Any] = {}
    structure = {"format": _FORMAT, "root": _encode(obj, arrays, "obj")}
    arrays[_STRUCTURE_KEY] = backend.xp("cpu").array(json.dumps(structure))
    if isinstance(f, (str, os.PathLike)):
        _save_atomically(os.fspath(f), arrays)
    else:
        _write_archive(f, arrays)


def _write_archive(file: BinaryIO, arrays: dict[str, Any]) -> None:
    """Write the archive to an open binary file (a path given to np.savez would get .npz)."""
    backend.xp("cpu").savez(file, **arrays)


def _save_atomically(path: str, arrays: dict[str, Any]) -> None:
    # Writing through a symlink keeps the link (as a plain open() would) and replaces its file.
    target = os.path.realpath(path) if os.path.islink(path) else path
    if os.path.isdir(target):
        raise IsADirectoryError(errno.EISDIR, "mg.save needs a file path, this is a directory",
                                path)
    directory = os.path.dirname(os.path.abspath(target))
    temp = None
    try:
        fd, temp = _create_temporary(directory, os.path.basename(target))
        with os.fdopen(fd, "wb") as file:
            _write_archive(file, arrays)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, target)
        temp = None
        _fsync_directory(directory)
    except OSError as exc:
        raise _save_error(exc, path) from exc
    except BaseException as exc:  # an interrupt or a bug: clean up, and say where
        if hasattr(exc, "add_note"):
            exc.add_note(f"while saving {path!r} (the file there, if any, is unchanged)")
        raise
    finally:
        if temp is not None:
            with contextlib.suppress(OSError):
                os.unlink(temp)


def _create_temporary(directory: str, name: str) -> tuple[int, str]:
    """A new file next to the target, hidden (a leading dot, so ``*.npz`` does not match it),
    with the permissions a plain ``open(path, "wb")`` would give."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        temp = os.path.join(directory, f".{name[:200]}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(temp, flags, 0o666), temp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free name for a temporary file", directory)


def _fsync_directory(directory: str) -> None:
    """Make the rename itself durable, where the OS lets a directory be fsynced."""
    if not hasattr(os, "O_DIRECTORY"):
        return  # Windows: directories cannot be opened
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse; the data itself is already on disk
    finally:
        os.close(fd)


def _save_error(exc: OSError, path: str) -> OSError:
    """``exc`` again (same errno, so the same OSError subclass), naming the checkpoint."""
    reason = f"{exc.strerror or exc}; mg.save could not write the checkpoint, and the file " \
             "there, if any, is unchanged"
    if exc.errno is None:
        return OSError(f"{reason}: {path!r}")
    return OSError(exc.errno, reason, path)  # str(): "[Errno 28] No space ...: 'path'"


def _encode(obj: Any, arrays: dict[str, Any], path: str) -> Any:
    """``obj`` as JSON-compatible data; tensors go to ``arrays`` and are referenced by key."""
    if isinstance(obj, Tensor):
        key = f"tensor{len(arrays)}"
        arrays[key] = backend.to_numpy(obj.array)
        return {"tensor": key, "requires_grad": obj.requires_grad}
    if backend.is_array(obj):  # optimizer state keeps bare arrays
        key = f"array{len(arrays)}"
        arrays[key] = backend.to_numpy(obj)
        return {"array": key}
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, numbers.Integral):
        return int(obj)
    if isinstance(obj, numbers.Real):
        return float(obj)
    if isinstance(obj, dict):
        items = []
        for key, value in obj.items():
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                raise TypeError(f"save: dict keys must be str or int, got {key!r} at {path}")
            items.append([key, _encode(value, arrays, f"{path}[{key!r}]")])
        return {"dict": items}
    if isinstance(obj, (list, tuple)):
        values = [_encode(v, arrays, f"{path}[{i}]") for i, v in enumerate(obj)]
        return {"tuple": values} if isinstance(obj, tuple) else {"list": values}
    raise TypeError(f"save: cannot store a {type(obj).__name__} (at {path}); supported are "
                    "tensors, arrays, dicts, lists, tuples, numbers, strings and None")


# --- load ---------------------------------------------------------------------------------

class _Corrupt(Exception):
    """The archive opened, but what is inside is broken."""


class _NotOurs(Exception):
    """The archive is intact but not one mg.save wrote (the message says what it is)."""


class _Pickled(Exception):
    """An entry holds Python objects, which only unpickling could read."""


def load(f: PathOrFile, map_location: Any = None, weights_only: bool | None = None) -> Any:
    """Read what :func:`save` wrote. Tensors (and arrays) come back on ``map_location``
    (default "cpu") with their dtypes, tensors with their ``requires_grad`` flags.
    ``weights_only`` is accepted for PyTorch programs: loading never runs code anyway.

    Raises :class:`~minigrad.errors.CheckpointError` naming the file and what is wrong with
    it when it cannot be given back."""
    device = backend.normalize_device(map_location or "cpu")
    backend.xp(device)  # no GPU: say so before reading anything
    if not isinstance(f, (str, os.PathLike)):
        if not (callable(getattr(f, "read", None)) and callable(getattr(f, "seek", None))):
            raise TypeError(f"load: f must be a path (str or os.PathLike) or a binary file "
                            f"object with read and seek, got {type(f).__name__} {f!r}")
        return _load_from(f, _describe_file(f), device)
    path = os.fspath(f)
    name = repr(path)
    if os.path.isdir(path):
        raise CheckpointIsADirectoryError(
            f"cannot load {name}: it is a directory, not a checkpoint file", path)
    try:
        file = open(path, "rb")
    except FileNotFoundError:
        raise CheckpointNotFoundError(f"cannot load {name}: there is no such file", path) from None
    except OSError as exc:
        raise CheckpointError(f"cannot load {name}: {exc.strerror or exc}", path) from exc
    with file:
        return _load_from(file, name, device, path)


def _describe_file(f: Any) -> str:
    name = getattr(f, "name", None)
    return repr(name) if isinstance(name, str) else f"the {type(f).__name__} object"


def _load_from(file: Any, name: str, device: str, path: Any = None) -> Any:
    def fail(what: str) -> CheckpointError:
        return CheckpointError(f"cannot load {name}: {what}", path if path is not None else name)

    start = file.tell()
    head = file.read(16)
    file.seek(start)
    if not isinstance(head, bytes):
        raise fail("the file is open in text mode; open it with 'rb'")
    if not head:
        raise fail("the file is empty (0 bytes), not a checkpoint")
    if not head.startswith(_ZIP_MAGIC):
        raise fail(_what_it_is(head))
    numpy = backend.xp("cpu")
    try:
        archive = numpy.load(file, allow_pickle=False)
    except zipfile.BadZipFile as exc:
        if "not a zip file" in str(exc):  # no end-of-archive record: the end is missing
            raise fail("the file is truncated: it starts like the zip archive mg.save writes "
                       "but its end (the archive's directory) is missing; the save or copy "
                       "that made it was cut short") from None
        raise fail(f"the file is corrupt (bad zip archive: {exc})") from None
    except MemoryError:
        raise
    except Exception as exc:  # zipfile's parser meets garbage in many ways
        raise fail(f"the file is corrupt (bad zip archive: {type(exc).__name__}: {exc})") from None
    try:
        with archive:
            root = _read_structure(archive, name)
            return _decode(root, _entry_reader(archive), device)
    except _NotOurs as exc:
        raise fail(str(exc)) from None
    except _Pickled as exc:
        raise fail(f"entry {exc} holds pickled Python objects; they were refused, because "
                   "loading them could run code from the file (mg.save never writes them)"
                   ) from None
    except _Corrupt as exc:
        raise fail(f"the file is corrupt ({exc})") from None


def _what_it_is(head: bytes) -> str:
    """What a file that is not a zip archive looks like, from its first bytes."""
    if any(magic.startswith(head) for magic in _ZIP_MAGIC):
        size = f"{len(head)} byte{'s' if len(head) > 1 else ''}"
        return (f"the file is truncated: it ends after {size}, inside the header of the zip "
                "archive mg.save writes")
    if len(head) > 1 and head[0] == 0x80 and 2 <= head[1] <= 5:  # pickle protocols 2-5
        return ("it is a Python pickle (as pickle.dump or the legacy torch.save format write), "
                "not a minigrad checkpoint; it was refused, because loading a pickle can run "
                "arbitrary code")
    known = [(b"\x93NUMPY", "a plain NumPy .npy array (np.save)"),
             (b"\x89PNG\r\n\x1a\n", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"),
             (b"\x1f\x8b", "a gzip-compressed file"), (b"%PDF", "a PDF document"),
             (b"\x89HDF\r\n\x1a\n", "an HDF5 file")]
    for magic, kind in known:
        if head.startswith(magic):
            return f"it is {kind}, not a minigrad checkpoint (mg.save writes a zip archive)"
    if len(head) >= 10 and head[8:10] == b'{"':
        return "it looks like a safetensors file, not a minigrad checkpoint"
    if all(32 <= b < 127 or b in b"\t\n\r" for b in head):
        return (f"it is a text file (it starts with {head.decode('ascii')!r}), not a minigrad "
                "checkpoint")
    return (f"it is not a minigrad checkpoint (mg.save writes a zip archive; this file starts "
            f"with the bytes {head[:8].hex(' ')})")


def _read_structure(archive: Any, name: str) -> Any:
    files = list(archive.files)
    if _STRUCTURE_KEY not in files:
        names = archive.zip.namelist()
        if any(n.endswith("data.pkl") for n in names):
            raise _NotOurs("it was written by torch.save, which stores pickled objects, and is "
                           "not a minigrad checkpoint; it was refused, because loading a pickle "
                           "can run arbitrary code")
        listed = ", ".join(repr(n) for n in files[:5]) + (", ..." if len(files) > 5 else "")
        kind = ("a NumPy .npz archive" if names and all(n.endswith(".npy") for n in names)
                else "a zip archive")
        raise _NotOurs(f"it is {kind} but not a minigrad checkpoint: it has no "
                       f"{_STRUCTURE_KEY!r} entry (mg.save writes one; this file holds "
                       f"{listed or 'no entries'})")
    entry = _entry_reader(archive)(_STRUCTURE_KEY)
    if entry.ndim != 0 or entry.dtype.kind != "U":
        raise _Corrupt(f"the structure entry is a {entry.dtype} array of shape {entry.shape}, "
                       "not JSON text")
    try:
        structure = json.loads(str(entry[()]))
    except (ValueError, RecursionError) as exc:
        raise _Corrupt(f"the structure entry is not valid JSON: {exc}") from None
    if not isinstance(structure, dict) or "root" not in structure:
        raise _Corrupt("the structure entry has no 'root'")
    if structure.get("format") != _FORMAT:
        raise _NotOurs(f"it has an unknown format {structure.get('format')!r} (this minigrad "
                       f"reads {_FORMAT!r}; was it written by a newer version?)")
    return structure["root"]


def _entry_reader(archive: Any) -> Callable[[str], Any]:
    """A function reading one array of the archive, mapping every failure to ours."""
    numpy = backend.xp("cpu")

    def read(key: Any) -> Any:
        if not isinstance(key, str) or key not in archive.files:
            raise _Corrupt(f"the structure refers to an entry {key!r} that the archive does "
                           "not hold")
        try:
            value = archive[key]
        except MemoryError:
            raise
        except Exception as exc:
            if _holds_objects(archive, key):
                raise _Pickled(repr(key)) from None
            raise _Corrupt(f"entry {key!r} cannot be read: {type(exc).__name__}: {exc}") from None
        if not isinstance(value, numpy.ndarray):
            raise _Corrupt(f"entry {key!r} is not a NumPy array")
        return value

    return read


def _holds_objects(archive: Any, key: str) -> bool:
    """Whether the entry's .npy header declares Python objects (read without unpickling)."""
    fmt = backend.xp("cpu").lib.format
    member = key + ".npy" if key + ".npy" in archive.zip.namelist() else key
    try:
        with archive.zip.open(member) as entry:
            version = fmt.read_magic(entry)
            reader = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
            _, _, dtype = reader(entry)
    except Exception:
        return False
    return bool(dtype.hasobject)


def _decode(data: Any, read: Callable[[str], Any], device: str) -> Any:
    if data is None or isinstance(data, (bool, str, int, float)):
        return data
    if not isinstance(data, dict) or len(data) not in (1, 2):
        raise _Corrupt(f"unknown entry {_short(data)} in the structure")
    if "tensor" in data:
        array = read(data["tensor"])
        tensor = wrap(backend.to_device(array, device), device)
        return tensor.requires_grad_(True) if data.get("requires_grad") else tensor
    if "array" in data and len(data) == 1:
        return backend.to_device(read(data["array"]), device)
    if len(data) == 1:
        (kind, values), = data.items()
        if kind in ("tuple", "list") and isinstance(values, list):
            decoded = [_decode(v, read, device) for v in values]
            return tuple(decoded) if kind == "tuple" else decoded
        if kind == "dict" and isinstance(values, list):
            result = {}
            for item in values:
                if not (isinstance(item, list) and len(item) == 2
                        and isinstance(item[0], (str, int)) and not isinstance(item[0], bool)):
                    raise _Corrupt(f"unknown entry {_short(item)} in a dict of the structure")
                result[item[0]] = _decode(item[1], read, device)
            return result
    raise _Corrupt(f"unknown entry {_short(data)} in the structure")


def _short(data: Any) -> str:
    text = json.dumps(data) if not isinstance(data, str) else data
    return text if len(text) <= 80 else text[:77] + "..."
