"""Reading MNIST and Fashion-MNIST from the IDX files a user already has on disk.

IDX (LeCun et al., http://yann.lecun.com/exdb/mnist/) is a big-endian binary format: two
zero bytes, a type code, the number of dimensions ``d``, then ``d`` unsigned 32-bit sizes
and the values in C order. Fashion-MNIST uses the same files and names, so
:func:`load_mnist` reads both. Files may be gzip-compressed; nothing is downloaded.
"""
from __future__ import annotations

import gzip
import math
import os
from typing import Any

from minigrad import backend
from minigrad.creation import tensor
from minigrad.tensor import Tensor

_np = backend.xp("cpu")

# type code -> big-endian dtype of the values
IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_GZIP_MAGIC = b"\x1f\x8b"
_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
          "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


class IdxFormatError(ValueError):
    """A file is not a well-formed IDX file (bad magic number, type code or size)."""


def read_idx(path: str | os.PathLike) -> Any:
    """The array stored in an IDX file (plain or gzip), as a NumPy array in native byte order."""
    raw = _read_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise IdxFormatError(f"{path}: not an IDX file (it must start with two zero bytes, "
                             f"a type code and a dimension count; got {raw[:4]!r})")
    type_code, ndim = raw[2], raw[3]
    if type_code not in IDX_TYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_TYPES)
        raise IdxFormatError(f"{path}: unknown IDX type code 0x{type_code:02X} (known: {known})")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IdxFormatError(f"{path}: truncated header: {ndim} dimension sizes need "
                             f"{header} bytes, the file has {len(raw)}")
    shape = tuple(int(s) for s in _np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = _np.dtype(IDX_TYPES[type_code])
    expected = dtype.itemsize * math.prod(shape)
    if len(raw) - header != expected:
        raise IdxFormatError(f"{path}: shape {shape} of {dtype.name} needs {expected} bytes of "
                             f"data, the file has {len(raw) - header}")
    values = _np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return values.astype(dtype.newbyteorder("="))


def load_mnist(root: str | os.PathLike, split: str = "train", *, flatten: bool = True,
               device: str | None = None) -> tuple[Tensor, Tensor]:
    """MNIST or Fashion-MNIST from the directory ``root`` as ``(X, y)``.

    ``root`` holds the standard files (``train-images-idx3-ubyte``,
    ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``,
    each optionally ending in ``.gz``); ``split`` is ``"train"`` (60,000 samples) or
    ``"test"`` (10,000). ``X`` is float32 pixels scaled to [0, 1], shape (n, 784), or
    (n, 28, 28) with ``flatten=False``; ``y`` holds int64 labels 0-9.
    """
    if split not in _FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    image_path, label_path = (_find(root, name) for name in _FILES[split])
    images, labels = read_idx(image_path), read_idx(label_path)
    if images.ndim != 3 or images.dtype != _np.uint8:
        raise IdxFormatError(f"{image_path}: expected uint8 images of shape (n, rows, cols), "
                             f"got {images.dtype} of shape {images.shape}")
    if labels.ndim != 1 or labels.dtype != _np.uint8:
        raise IdxFormatError(f"{label_path}: expected uint8 labels of shape (n,), "
                             f"got {labels.dtype} of shape {labels.shape}")
    if len(images) != len(labels):
        raise IdxFormatError(f"{image_path} holds {len(images)} images but {label_path} "
                             f"holds {len(labels)} labels")
    if labels.size and labels.max() > 9:
        raise IdxFormatError(f"{label_path}: labels must be digits 0-9, found {labels.max()}")
    pixels = images.reshape(len(images), -1) if flatten else images
    X = tensor(pixels.astype("float32") / 255.0, dtype="float32", device=device)
    return X, tensor(labels, dtype="int64", device=device)


def _read_bytes(path: str | os.PathLike) -> bytes:
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError) as exc:
        raise IdxFormatError(f"{path}: corrupt gzip data ({exc})") from None


def _find(root: str | os.PathLike, name: str) -> str:
    for candidate in (name, name + ".gz"):
        path = os.path.join(root, candidate)
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(f"no {name} or {name}.gz in {os.fspath(root)!r}; download MNIST "
                            f"or Fashion-MNIST there first (minigrad does not download)")

