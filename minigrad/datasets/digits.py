"""The UCI handwritten digits, bundled with minigrad: a real task that trains in seconds.

Data: E. Alpaydin and C. Kaynak, "Optical Recognition of Handwritten Digits", UCI Machine
Learning Repository, 1998, https://doi.org/10.24432/C50P49, licensed CC BY 4.0
(https://creativecommons.org/licenses/by/4.0/). The 1,797 samples (the UCI test part) are
stored in ``digits.npz`` next to this module; ``DIGITS_LICENSE.txt`` there gives the
attribution and what was changed. Nothing is downloaded.
"""
from __future__ import annotations

import functools
from importlib import resources
from typing import Any

from minigrad import backend
from minigrad.creation import tensor
from minigrad.tensor import Tensor

SPLITS = ("train", "val", "test")
NUM_CLASSES = 10
MAX_PIXEL = 16  # pixels count the "on" cells of a 4x4 block: 0..16


def load_digits(split: str | None = None, *, flatten: bool = True,
                device: str | None = None) -> tuple[Tensor, Tensor]:
    """The digits as ``(X, y)``: float32 pixels scaled to [0, 1] and int64 labels 0-9.

    ``split`` picks the fixed, stratified 60/20/20 partition: ``"train"`` (1,078 samples),
    ``"val"`` (359) or ``"test"`` (360); None gives all 1,797 in the original order. The
    split is stored with the data, so it is the same on every machine and NumPy version.
    ``X`` has shape (n, 64), or (n, 8, 8) images with ``flatten=False``.
    """
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS} or None, got {split!r}")
    images, labels, parts = _archive()
    if split is not None:
        keep = parts == SPLITS.index(split)
        images, labels = images[keep], labels[keep]
    pixels = images.reshape(len(images), -1) if flatten else images
    X = tensor(pixels.astype("float32") / MAX_PIXEL, dtype="float32", device=device)
    y = tensor(labels, dtype="int64", device=device)
    return X, y


@functools.lru_cache(maxsize=1)
def _archive() -> tuple[Any, Any, Any]:
    """The stored arrays ``images`` (uint8 n x 8 x 8), ``labels`` and ``split`` (uint8)."""
    source = resources.files("minigrad.datasets").joinpath("digits.npz")
    with source.open("rb") as f, backend.xp("cpu").load(f) as archive:
        return archive["images"], archive["labels"], archive["split"]
