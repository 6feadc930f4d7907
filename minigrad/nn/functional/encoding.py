"""Encodings of class indices."""
from __future__ import annotations

from minigrad import backend
from minigrad.tensor import Tensor, wrap


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """Class indices of shape (*) as an int64 tensor of shape (*, num_classes), with 1 at
    each index and 0 elsewhere (no gradient: the result is integer).

    ``num_classes=-1`` takes the largest index + 1. Any integer dtype is accepted (PyTorch
    takes int64 only); indices must lie in 0..num_classes-1.
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"one_hot: tensor must be a Tensor, got {type(tensor).__name__}")
    if tensor.array.dtype.kind not in "iu":
        raise TypeError(f"one_hot: tensor must hold integer class indices (e.g. mg.int64), got "
                        f"dtype {tensor.dtype}")
    if not isinstance(num_classes, int) or num_classes < -1:
        raise ValueError(f"one_hot: num_classes must be a non-negative int, or -1 to infer it, "
                         f"got {num_classes!r}")
    indices = tensor.array
    if indices.size:
        low, high = int(indices.min()), int(indices.max())
        if num_classes == -1:
            num_classes = high + 1
        if low < 0:
            raise ValueError(f"one_hot: class values must be non-negative, got {low}")
        if high >= num_classes:
            raise ValueError(f"one_hot: class values must be smaller than num_classes "
                             f"({num_classes}), got {high}")
    elif num_classes == -1:
        raise ValueError("one_hot: cannot infer the number of classes from an empty tensor; "
                         "pass num_classes")
    xp = backend.xp(tensor.device)
    out = xp.zeros((indices.size, num_classes), dtype=backend.int64)
    out[xp.arange(indices.size), indices.reshape(-1)] = 1
    return wrap(out.reshape(indices.shape + (num_classes,)), tensor.device)
