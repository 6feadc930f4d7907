"""Saving and loading state dicts: ``mg.save(obj, path)`` and ``mg.load(path)``.

The file is a NumPy ``.npz`` archive: each tensor (or bare array, as in an optimizer's state)
is one array, and one more entry holds the structure (nested dicts, lists, tuples, numbers,
strings, None) as JSON. Loading uses
``allow_pickle=False`` and parses only JSON, so opening a file never runs code from it,
unlike a pickle.
"""
from __future__ import annotations

import json
import numbers
import os
from typing import Any, BinaryIO, Union

from minigrad import backend
from minigrad.tensor import Tensor, wrap

_STRUCTURE_KEY = "__minigrad_structure__"
_FORMAT = "minigrad-state-v1"

PathOrFile = Union[str, "os.PathLike[str]", BinaryIO]


def save(obj: Any, f: PathOrFile) -> None:
    """Write ``obj`` (a tensor, or dicts/lists/tuples of tensors, arrays, numbers, strings,
    None) to the file ``f`` (a path, written exactly as given, or a binary file object)."""
    arrays: dict[str, Any] = {}
    structure = {"format": _FORMAT, "root": _encode(obj, arrays, "obj")}
    numpy = backend.xp("cpu")
    arrays[_STRUCTURE_KEY] = numpy.array(json.dumps(structure))
    if isinstance(f, (str, os.PathLike)):
        with open(f, "wb") as file:  # a path given as-is: np.savez would append ".npz"
            numpy.savez(file, **arrays)
    else:
        numpy.savez(f, **arrays)


def load(f: PathOrFile, map_location: Any = None, weights_only: bool | None = None) -> Any:
    """Read what :func:`save` wrote. Tensors (and arrays) come back on ``map_location``
    (default "cpu") with their dtypes, tensors with their ``requires_grad`` flags.
    ``weights_only`` is accepted for PyTorch programs: loading never runs code anyway."""
    device = backend.normalize_device(map_location or "cpu")
    with backend.xp("cpu").load(f, allow_pickle=False) as archive:
        if _STRUCTURE_KEY not in archive.files:
            raise ValueError(f"{f!r} is not a file written by minigrad.save (no structure entry)")
        structure = json.loads(str(archive[_STRUCTURE_KEY]))
        if structure.get("format") != _FORMAT:
            raise ValueError(f"{f!r} has unknown format {structure.get('format')!r}; "
                             f"expected {_FORMAT!r}")
        return _decode(structure["root"], archive, device)


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


def _decode(data: Any, archive: Any, device: str) -> Any:
    if not isinstance(data, dict):
        return data
    if "tensor" in data:
        array = archive[data["tensor"]]
        tensor = wrap(backend.to_device(array, device), device)
        return tensor.requires_grad_(True) if data.get("requires_grad") else tensor
    if "array" in data:
        return backend.to_device(archive[data["array"]], device)
    if "dict" in data:
        return {key: _decode(value, archive, device) for key, value in data["dict"]}
    if "tuple" in data:
        return tuple(_decode(v, archive, device) for v in data["tuple"])
    if "list" in data:
        return [_decode(v, archive, device) for v in data["list"]]
    raise ValueError(f"corrupt minigrad file: unknown entry {sorted(data)}")
