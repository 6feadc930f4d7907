"""Argument checks shared by the public functions and layers: each raises at the public call
with a message naming the function or layer, the argument and what was wrong."""
from __future__ import annotations

import math
from typing import Any

from minigrad.tensor import Tensor


def require_tensor(value: Any, where: str, what: str = "input") -> Tensor:
    """``value`` itself, if it is a Tensor; a TypeError naming ``where`` and ``what`` if not
    (PyTorch's layers take tensors only: ``mg.tensor(data)`` converts a list or array)."""
    if not isinstance(value, Tensor):
        raise TypeError(f"{where}: {what} must be a Tensor, got {type(value).__name__}; "
                        "convert it with mg.tensor(...)")
    return value


def require_floating(value: Any, where: str, what: str = "input") -> Tensor:
    """A floating-point Tensor, or a TypeError naming its dtype."""
    require_tensor(value, where, what)
    if value.array.dtype.kind != "f":
        raise TypeError(f"{where}: {what} must be floating point, got dtype {value.dtype}")
    return value


def require_number(value: Any, where: str, what: str, low: float = -math.inf,
                   high: float = math.inf, low_open: bool = False) -> float:
    """A finite real number in [low, high] (or (low, high] with ``low_open``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value < low or value > high or (low_open and value == low):
        bounds = f"{'(' if low_open else '['}{low:g}, {high:g}]"
        raise ValueError(f"{where}: {what} must be a finite number in {bounds}, got {value!r}")
    return float(value)
