"""Elementwise ops: arithmetic, the usual functions, and selections.

Each op computes its forward on arrays and records a backward rule written with tensor
ops, so gradients can be differentiated again. Binary ops broadcast like NumPy; the engine
sums each gradient back to its input's shape, so rules here ignore broadcasting.
"""
from __future__ import annotations

from typing import Any

from minigrad import backend
from minigrad.errors import DeviceError, ShapeError
from minigrad.tensor import Tensor, _make, constant, record

Operand = "Tensor | float | int"


def operands(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    """Both operands as tensors on one device, numbers taking the other's dtype.

    An integer tensor meeting a float tensor is cast to the float's dtype (PyTorch's rule,
    where NumPy would widen float32 to float64); booleans (masks) need no cast.
    """
    if not isinstance(a, Tensor):
        a = constant(a, b)
    elif not isinstance(b, Tensor):
        b = constant(b, a)
    elif a.device != b.device:
        raise DeviceError(f"operands are on different devices ({a.device} and {b.device}); "
                          "move one with .to(device)")
    if a.array.dtype is not b.array.dtype:
        kind_a, kind_b = a.array.dtype.kind, b.array.dtype.kind
        if kind_a == "f" and kind_b in "iu":
            b = _make(b.array.astype(a.array.dtype), b.device)
        elif kind_b == "f" and kind_a in "iu":
            a = _make(a.array.astype(b.array.dtype), a.device)
    return a, b


def _broadcasting(fn: Any, a: Tensor, b: Tensor, name: str) -> Any:
    try:
        return fn(a.array, b.array)
    except ValueError:
        raise ShapeError(f"{name}: shapes {a.shape} and {b.shape} cannot be broadcast "
                         "together") from None


def _add(x: Any, y: Any) -> Any: return x + y
def _sub(x: Any, y: Any) -> Any: return x - y
def _mul(x: Any, y: Any) -> Any: return x * y
def _div(x: Any, y: Any) -> Any: return x / y
def _pow(x: Any, y: Any) -> Any: return x ** y


def add(a: Operand, b: Operand) -> Tensor:
    a, b = operands(a, b)
    return record(_broadcasting(_add, a, b, "add"), a.device, (a, b),
                  lambda g, out: (g, g))


def sub(a: Operand, b: Operand) -> Tensor:
    a, b = operands(a, b)
    return record(_broadcasting(_sub, a, b, "sub"), a.device, (a, b),
                  lambda g, out: (g, -g))


def mul(a: Operand, b: Operand) -> Tensor:
    a, b = operands(a, b)
    return record(_broadcasting(_mul, a, b, "mul"), a.device, (a, b),
                  lambda g, out: (g * b if a.requires_grad else None,
                                  g * a if b.requires_grad else None))


def div(a: Operand, b: Operand) -> Tensor:
    a, b = operands(a, b)
    return record(_broadcasting(_div, a, b, "div"), a.device, (a, b),
                  lambda g, out: (g / b if a.requires_grad else None,
                                  -g * out / b if b.requires_grad else None))


def pow(a: Operand, b: Operand) -> Tensor:
    """``a ** b``; d/da = b a^(b-1), d/db = a^b log a."""
    a, b = operands(a, b)
    return record(_broadcasting(_pow, a, b, "pow"), a.device, (a, b),
                  lambda g, out: (g * b * a ** (b - 1) if a.requires_grad else None,
                                  g * out * log(a) if b.requires_grad else None))


def neg(a: Tensor) -> Tensor:
    return record(-a.array, a.device, (a,), lambda g, out: (-g,))


def exp(a: Tensor) -> Tensor:
    return record(backend.xp(a.device).exp(a.array), a.device, (a,), lambda g, out: (g * out,))


def log(a: Tensor) -> Tensor:
    return record(backend.xp(a.device).log(a.array), a.device, (a,), lambda g, out: (g / a,))


def sqrt(a: Tensor) -> Tensor:
    return record(backend.xp(a.device).sqrt(a.array), a.device, (a,),
                  lambda g, out: (g * 0.5 / out,))


def abs(a: Tensor) -> Tensor:
    """|a|, with gradient sign(a) (0 at 0, as in PyTorch)."""
    xp = backend.xp(a.device)
    return record(xp.abs(a.array), a.device, (a,),
                  lambda g, out: (g * _make(xp.sign(a.array), a.device),))


def tanh(a: Tensor) -> Tensor:
    return record(backend.xp(a.device).tanh(a.array), a.device, (a,),
                  lambda g, out: (g * (1 - out * out),))


def sigmoid(a: Tensor) -> Tensor:
    """1 / (1 + e^-a), computed as (1 + tanh(a/2)) / 2 so that no exp can overflow."""
    xp = backend.xp(a.device)
    return record(0.5 + 0.5 * xp.tanh(0.5 * a.array), a.device, (a,),
                  lambda g, out: (g * out * (1 - out),))


def relu(a: Tensor) -> Tensor:
    """max(a, 0), with gradient 0 at 0 (as in PyTorch)."""
    mask = a.array > 0
    return record(a.array * mask, a.device, (a,),
                  lambda g, out: (g * _make(mask, a.device),))


def clip(a: Tensor, min: float | None = None, max: float | None = None) -> Tensor:
    """``a`` limited to [min, max]; the gradient passes where min <= a <= max."""
    if min is None and max is None:
        raise ValueError("clip needs at least one of min and max")
    xp = backend.xp(a.device)
    inside = xp.ones(a.shape, dtype=bool)
    if min is not None:
        inside &= a.array >= min
    if max is not None:
        inside &= a.array <= max
    return record(xp.clip(a.array, min, max), a.device, (a,),
                  lambda g, out: (g * _make(inside, a.device),))


def maximum(a: Operand, b: Operand) -> Tensor:
    """Elementwise max; where a == b the gradient is split evenly (as in PyTorch)."""
    return _select_larger(a, b, 1.0)


def minimum(a: Operand, b: Operand) -> Tensor:
    """Elementwise min; where a == b the gradient is split evenly (as in PyTorch)."""
    return _select_larger(a, b, -1.0)


def _select_larger(a: Operand, b: Operand, sign: float) -> Tensor:
    a, b = operands(a, b)
    diff = _broadcasting(_sub, a, b, "maximum" if sign > 0 else "minimum") * sign
    data = backend.xp(a.device).where(diff >= 0, a.array, b.array)
    weight_a = _make(((diff > 0) + 0.5 * (diff == 0)).astype(data.dtype), a.device)
    return record(data, a.device, (a, b),
                  lambda g, out: (g * weight_a, g * (1 - weight_a)))


def where(condition: Any, a: Operand, b: Operand) -> Tensor:
    """``a`` where ``condition`` holds, else ``b``; the gradient goes to the chosen side."""
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        a, b = operands(a, b)
    else:
        a = Tensor(a)
        b = constant(b, a)
    cond = condition.array if isinstance(condition, Tensor) else backend.xp(a.device).asarray(condition)
    if cond.dtype != bool:
        cond = cond.astype(bool)
    xp = backend.xp(a.device)
    try:
        data = xp.where(cond, a.array, b.array)
    except ValueError:
        raise ShapeError(f"where: shapes {cond.shape}, {a.shape} and {b.shape} cannot be "
                         "broadcast together") from None
    keep, drop = _make(cond, a.device), _make(~cond, a.device)
    return record(data, a.device, (a, b), lambda g, out: (g * keep, g * drop))


# --- comparisons: no gradient, boolean results --------------------------------------------

def _compare(fn: Any, name: str) -> Any:
    def compare(a: Operand, b: Operand) -> Tensor:
        a, b = operands(a, b)
        return _make(_broadcasting(fn, a, b, name), a.device)
    compare.__name__ = name
    return compare


eq = _compare(lambda x, y: x == y, "eq")
ne = _compare(lambda x, y: x != y, "ne")
lt = _compare(lambda x, y: x < y, "lt")
le = _compare(lambda x, y: x <= y, "le")
gt = _compare(lambda x, y: x > y, "gt")
ge = _compare(lambda x, y: x >= y, "ge")
