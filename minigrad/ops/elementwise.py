"""Elementwise ops: arithmetic, the usual functions, and selections.

Each op computes its forward on arrays and records a backward rule written with tensor
ops, so gradients can be differentiated again. Binary ops broadcast like NumPy; the engine
sums each gradient back to its input's shape, so rules here ignore broadcasting.
"""
from __future__ import annotations

import math
import operator
from typing import Any, TypeAlias

from minigrad import backend
from minigrad.errors import DeviceError, ShapeError
from minigrad.tensor import Tensor, wrap, constant, record

Operand: TypeAlias = "Tensor | float | int"


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
            b = wrap(b.array.astype(a.array.dtype), b.device)
        elif kind_b == "f" and kind_a in "iu":
            a = wrap(a.array.astype(b.array.dtype), a.device)
    return a, b


def _broadcasting(fn: Any, a: Tensor, b: Tensor, name: str) -> Any:
    try:
        return fn(a.array, b.array)
    except ValueError as exc:
        try:
            backend.numpy.broadcast_shapes(a.shape, b.shape)
        except ValueError:
            raise ShapeError(f"{name}: shapes {a.shape} and {b.shape} cannot be broadcast "
                             "together") from None
        raise ValueError(f"{name}: {exc}") from None  # e.g. integers to negative powers
    except TypeError as exc:
        raise TypeError(f"{name} is not defined for tensors of dtype {a.dtype} and {b.dtype} "
                        f"({exc})") from None


def add(a: Operand, b: Operand) -> Tensor:
    a, b = operands(a, b)
    return record(_broadcasting(operator.add, a, b, "add"), a.device, (a, b),
                  lambda g, out: (g, g))


def sub(a: Operand, b: Operand) -> Tensor:
    a, b = operands(a, b)
    if a.array.dtype.kind == "b" and b.array.dtype.kind == "b":
        raise TypeError("sub: subtraction of two boolean tensors is not supported, as in "
                        "PyTorch; use ^ (bitwise_xor) or logical_xor")
    return record(_broadcasting(operator.sub, a, b, "sub"), a.device, (a, b),
                  lambda g, out: (g, -g))


def mul(a: Operand, b: Operand) -> Tensor:
    a, b = operands(a, b)
    # each side's gradient needs only the other side, so only that one is saved
    for_a = b if a.requires_grad else None
    for_b = a if b.requires_grad else None
    return record(_broadcasting(operator.mul, a, b, "mul"), a.device, (a, b),
                  lambda g, out: (None if for_a is None else g * for_a,
                                  None if for_b is None else g * for_b))


def div(a: Operand, b: Operand) -> Tensor:
    """``a / b``, true division: integer operands give the default float dtype (PyTorch)."""
    a, b = operands(a, b)
    if a.array.dtype.kind not in "fc" and b.array.dtype.kind not in "fc":
        a, b = floating(a), floating(b)
    need_a, need_b = a.requires_grad, b.requires_grad
    return record(_broadcasting(operator.truediv, a, b, "div"), a.device, (a, b),
                  lambda g, out: (g / b if need_a else None,
                                  -g * out / b if need_b else None))


def pow(a: Operand, b: Operand) -> Tensor:
    """``a ** b``; d/da = b a^(b-1), d/db = a^b log a."""
    a, b = operands(a, b)
    need_a, need_b = a.requires_grad, b.requires_grad
    return record(_broadcasting(operator.pow, a, b, "pow"), a.device, (a, b),
                  lambda g, out: (g * b * a ** (b - 1) if need_a else None,
                                  g * out * log(a) if need_b else None))


def neg(a: Tensor) -> Tensor:
    if a.array.dtype.kind == "b":
        raise TypeError("neg: negation of a boolean tensor is not supported, as in PyTorch; "
                        "use ~ (bitwise_not) or logical_not")
    return record(-a.array, a.device, (a,), lambda g, out: (-g,))


def exp(a: Tensor) -> Tensor:
    a = floating(a)
    return record(backend.xp(a.device).exp(a.array), a.device, (a,), lambda g, out: (g * out,))


def log(a: Tensor) -> Tensor:
    a = floating(a)
    return record(backend.xp(a.device).log(a.array), a.device, (a,), lambda g, out: (g / a,))


def sqrt(a: Tensor) -> Tensor:
    a = floating(a)
    return record(backend.xp(a.device).sqrt(a.array), a.device, (a,),
                  lambda g, out: (g * 0.5 / out,))


def abs(a: Tensor) -> Tensor:
    """|a|, with gradient sign(a) (0 at 0, as in PyTorch)."""
    xp = backend.xp(a.device)
    return record(xp.abs(a.array), a.device, (a,),
                  lambda g, out: (g * wrap(xp.sign(a.array), a.device),))


def tanh(a: Tensor) -> Tensor:
    a = floating(a)
    return record(backend.xp(a.device).tanh(a.array), a.device, (a,),
                  lambda g, out: (g * (1 - out * out),))


def sigmoid(a: Tensor) -> Tensor:
    """1 / (1 + e^-a), computed as (1 + tanh(a/2)) / 2 so that no exp can overflow."""
    a = floating(a)
    xp = backend.xp(a.device)
    return record(0.5 + 0.5 * xp.tanh(0.5 * a.array), a.device, (a,),
                  lambda g, out: (g * out * (1 - out),))


def relu(a: Tensor) -> Tensor:
    """max(a, 0), with gradient 0 at 0 (as in PyTorch). Backward finds where ``a`` is
    positive from ``a`` itself, which the graph keeps anyway: no mask is stored."""
    return record(backend.xp(a.device).maximum(a.array, 0), a.device, (a,),
                  lambda g, out: (g * wrap(a.array > 0, a.device),))


def clip(a: Tensor, min: float | None = None, max: float | None = None) -> Tensor:
    """``a`` limited to [min, max]; the gradient passes where min <= a <= max."""
    if min is None and max is None:
        raise ValueError("clip needs at least one of min and max")
    for bound, name in ((min, "min"), (max, "max")):
        if bound is not None and (isinstance(bound, bool) or not isinstance(bound, (int, float))):
            raise TypeError(f"clamp: {name} must be a number or a tensor, got "
                            f"{type(bound).__name__}")
    if isinstance(min, float) or isinstance(max, float):
        a = floating(a)  # an integer tensor clamped to a float bound gives floats (PyTorch)
    xp = backend.xp(a.device)
    inside = xp.ones(a.shape, dtype=bool)
    if min is not None:
        inside &= a.array >= min
    if max is not None:
        inside &= a.array <= max
    return record(xp.clip(a.array, min, max), a.device, (a,),
                  lambda g, out: (g * wrap(inside, a.device),))


def maximum(a: Operand, b: Operand) -> Tensor:
    """Elementwise max; where a == b the gradient is split evenly (as in PyTorch)."""
    return _select_larger(a, b, 1.0)


def minimum(a: Operand, b: Operand) -> Tensor:
    """Elementwise min; where a == b the gradient is split evenly (as in PyTorch)."""
    return _select_larger(a, b, -1.0)


def _select_larger(a: Operand, b: Operand, sign: float, tie_to_first: bool = False) -> Tensor:
    """maximum (sign 1) or minimum (-1), NaN-propagating as NumPy's; the gradient goes to
    the chosen side, ties sharing it (or going to ``a`` with ``tie_to_first``)."""
    a, b = operands(a, b)
    xp = backend.xp(a.device)
    choose = xp.maximum if sign > 0 else xp.minimum
    data = _broadcasting(choose, a, b, "maximum" if sign > 0 else "minimum")
    tie_share = 1.0 if tie_to_first else 0.5

    def backward(g: Tensor, out: Tensor) -> tuple[Tensor, Tensor]:
        x, y = a.array, b.array
        wins = x > y if sign > 0 else x < y
        weight_a = wrap((wins + tie_share * (x == y)).astype(out.dtype), a.device)
        return g * weight_a, g * (1 - weight_a)
    return record(data, a.device, (a, b), backward)


def where(condition: Any, a: Operand, b: Operand) -> Tensor:
    """``a`` where ``condition`` holds, else ``b``; the gradient goes to the chosen side."""
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        a, b = operands(a, b)
    else:
        a = wrap(backend.xp(backend.get_default_device()).asarray(
            a, dtype=backend.get_default_dtype() if isinstance(a, float) else None),
            backend.get_default_device())
        b = constant(b, a)
    cond = condition.array if isinstance(condition, Tensor) else backend.xp(a.device).asarray(condition)
    if cond.dtype != bool:
        raise TypeError(f"where: condition must be a boolean tensor, got dtype {cond.dtype} "
                        "(compare it, e.g. x > 0)")
    xp = backend.xp(a.device)
    try:
        data = xp.where(cond, a.array, b.array)
    except ValueError:
        raise ShapeError(f"where: shapes {cond.shape}, {a.shape} and {b.shape} cannot be "
                         "broadcast together") from None
    keep, drop = wrap(cond, a.device), wrap(~cond, a.device)
    return record(data, a.device, (a, b), lambda g, out: (g * keep, g * drop))


# --- comparisons: no gradient, boolean results --------------------------------------------

def _elementwise_no_grad(fn: Any, name: str, integers_only: bool = False) -> Any:
    """A binary op with no gradient (a comparison, a bitwise or logical op) over broadcast
    operands; ``integers_only`` refuses floating-point operands."""
    def op(a: Operand, b: Operand) -> Tensor:
        a, b = operands(a, b)
        if integers_only and (a.array.dtype.kind in "fc" or b.array.dtype.kind in "fc"):
            raise TypeError(f"{name} needs boolean or integer tensors, got {a.dtype} and "
                            f"{b.dtype}")
        return wrap(_broadcasting(fn, a, b, name), a.device)
    op.__name__ = op.__qualname__ = name
    return op


eq = _elementwise_no_grad(lambda x, y: x == y, "eq")
ne = _elementwise_no_grad(lambda x, y: x != y, "ne")
lt = _elementwise_no_grad(lambda x, y: x < y, "lt")
le = _elementwise_no_grad(lambda x, y: x <= y, "le")
gt = _elementwise_no_grad(lambda x, y: x > y, "gt")
ge = _elementwise_no_grad(lambda x, y: x >= y, "ge")


# --- more functions of one tensor ---------------------------------------------------------

def floating(a: Tensor) -> Tensor:
    """``a`` itself when floating point, else cast to the default float dtype (PyTorch's
    rule for ops whose results are not integers, such as sin or sqrt)."""
    if a.array.dtype.kind in "fc":
        return a
    return wrap(a.array.astype(backend.get_default_dtype()), a.device)


def expm1(a: Tensor) -> Tensor:
    a = floating(a)
    return record(backend.xp(a.device).expm1(a.array), a.device, (a,),
                  lambda g, out: (g * (out + 1),))


def log2(a: Tensor) -> Tensor:
    a = floating(a)
    return record(backend.xp(a.device).log2(a.array), a.device, (a,),
                  lambda g, out: (g / (a * math.log(2.0)),))


def log10(a: Tensor) -> Tensor:
    a = floating(a)
    return record(backend.xp(a.device).log10(a.array), a.device, (a,),
                  lambda g, out: (g / (a * math.log(10.0)),))


def log1p(a: Tensor) -> Tensor:
    a = floating(a)
    return record(backend.xp(a.device).log1p(a.array), a.device, (a,),
                  lambda g, out: (g / (a + 1),))


def rsqrt(a: Tensor) -> Tensor:
    """1 / sqrt(a); d/da = -out^3 / 2."""
    a = floating(a)
    return record(1 / backend.xp(a.device).sqrt(a.array), a.device, (a,),
                  lambda g, out: (g * out * out * out * -0.5,))


def square(a: Tensor) -> Tensor:
    return record(a.array * a.array, a.device, (a,), lambda g, out: (g * a * 2,))


def reciprocal(a: Tensor) -> Tensor:
    a = floating(a)
    return record(1 / a.array, a.device, (a,), lambda g, out: (-g * out * out,))


def _piecewise_constant(a: Tensor, array: Any) -> Tensor:
    """A step function's value: its gradient is zero wherever it is defined (PyTorch's)."""
    return record(array, a.device, (a,), lambda g, out: (g * 0,))


def sign(a: Tensor) -> Tensor:
    return _piecewise_constant(a, backend.xp(a.device).sign(a.array))


def floor(a: Tensor) -> Tensor:
    return _piecewise_constant(a, backend.xp(a.device).floor(a.array))


def ceil(a: Tensor) -> Tensor:
    return _piecewise_constant(a, backend.xp(a.device).ceil(a.array))


def round(a: Tensor, decimals: int = 0) -> Tensor:
    """Round half to even, as PyTorch and NumPy do."""
    if isinstance(decimals, bool) or not isinstance(decimals, int):
        raise TypeError(f"round: decimals must be an int, got {decimals!r}")
    return _piecewise_constant(a, backend.xp(a.device).round(a.array, decimals))


def floor_divide(a: Operand, b: Operand) -> Tensor:
    """``a // b`` (rounding toward minus infinity, as PyTorch's ``//``); a step function,
    so its gradient is zero."""
    a, b = operands(a, b)
    _check_integer_divisor(b, "floor_divide")
    return record(_broadcasting(lambda x, y: x // y, a, b, "floor_divide"), a.device, (a, b),
                  lambda g, out: (g * 0, g * 0))


def remainder(a: Operand, b: Operand) -> Tensor:
    """``a % b`` with the sign of ``b`` (Python's rule); d/da = 1, d/db = -floor(a / b)."""
    a, b = operands(a, b)
    _check_integer_divisor(b, "remainder")
    data = _broadcasting(lambda x, y: x % y, a, b, "remainder")
    return record(data, a.device, (a, b),
                  lambda g, out: (g, -g * floor(a / b)))


def _check_integer_divisor(b: Tensor, name: str) -> None:
    """Integer division by zero is an error, as in PyTorch (NumPy would give 0)."""
    if b.array.dtype.kind in "iub" and not b.array.all():
        raise ZeroDivisionError(f"{name}: integer division by zero")


def sin(a: Tensor) -> Tensor:
    a = floating(a)
    return record(backend.xp(a.device).sin(a.array), a.device, (a,), lambda g, out: (g * cos(a),))


def cos(a: Tensor) -> Tensor:
    a = floating(a)
    return record(backend.xp(a.device).cos(a.array), a.device, (a,), lambda g, out: (-g * sin(a),))


def tan(a: Tensor) -> Tensor:
    """d/da = 1 + tan^2."""
    a = floating(a)
    return record(backend.xp(a.device).tan(a.array), a.device, (a,),
                  lambda g, out: (g * (out * out + 1),))


def asin(a: Tensor) -> Tensor:
    """d/da = 1 / sqrt(1 - a^2)."""
    a = floating(a)
    return record(backend.xp(a.device).arcsin(a.array), a.device, (a,),
                  lambda g, out: (g * rsqrt(1 - a * a),))


def acos(a: Tensor) -> Tensor:
    """d/da = -1 / sqrt(1 - a^2)."""
    a = floating(a)
    return record(backend.xp(a.device).arccos(a.array), a.device, (a,),
                  lambda g, out: (-g * rsqrt(1 - a * a),))


def atan(a: Tensor) -> Tensor:
    """d/da = 1 / (1 + a^2)."""
    a = floating(a)
    return record(backend.xp(a.device).arctan(a.array), a.device, (a,),
                  lambda g, out: (g / (a * a + 1),))


def sinh(a: Tensor) -> Tensor:
    a = floating(a)
    return record(backend.xp(a.device).sinh(a.array), a.device, (a,),
                  lambda g, out: (g * cosh(a),))


def cosh(a: Tensor) -> Tensor:
    a = floating(a)
    return record(backend.xp(a.device).cosh(a.array), a.device, (a,),
                  lambda g, out: (g * sinh(a),))


def clamp(a: Tensor, min: Operand | None = None, max: Operand | None = None) -> Tensor:
    """``a`` limited to [min, max], where the bounds are numbers or tensors (broadcast);
    the gradient passes to ``a`` where it lies inside, and to a tensor bound where it binds."""
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        out = a
        if min is not None:
            out = _select_larger(out, min, 1.0, tie_to_first=True)
        if max is not None:
            out = _select_larger(out, max, -1.0, tie_to_first=True)
        return out
    return clip(a, min, max)


def masked_fill(a: Tensor, mask: Any, value: Operand) -> Tensor:
    """``a`` with ``value`` where the boolean ``mask`` (broadcast to a's shape) is True."""
    mask_array = mask.array if isinstance(mask, Tensor) else backend.xp(a.device).asarray(mask)
    if mask_array.dtype != bool:
        raise TypeError(f"masked_fill: mask must be a boolean tensor, got dtype {mask_array.dtype}")
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise ShapeError(f"masked_fill: value must be a number or a one-element tensor, got "
                             f"shape {value.shape}")
    else:
        value = constant(value, a)
    try:
        out = where(mask_array, value.reshape(()), a)
    except ShapeError:
        out = None
    if out is None or out.shape != a.shape:
        raise ShapeError(f"masked_fill: mask of shape {mask_array.shape} does not broadcast to "
                         f"the tensor's shape {a.shape}")
    return out


def clone(a: Tensor) -> Tensor:
    """A copy of ``a`` in new memory; the gradient passes through unchanged."""
    return record(a.array.copy(), a.device, (a,), lambda g, out: (g,))


# --- bitwise and logical ops: no gradient -------------------------------------------------

def bitwise_not(a: Tensor) -> Tensor:
    """``~a``: logical not of a boolean tensor, bitwise not of an integer one."""
    if a.array.dtype.kind in "fc":
        raise TypeError(f"~ (bitwise not) needs a boolean or integer tensor, got {a.dtype}")
    return wrap(~a.array, a.device)


bitwise_and = _elementwise_no_grad(lambda x, y: x & y, "bitwise_and", integers_only=True)
bitwise_or = _elementwise_no_grad(lambda x, y: x | y, "bitwise_or", integers_only=True)
bitwise_xor = _elementwise_no_grad(lambda x, y: x ^ y, "bitwise_xor", integers_only=True)
logical_and = _elementwise_no_grad(backend.numpy.logical_and, "logical_and", False)
logical_or = _elementwise_no_grad(backend.numpy.logical_or, "logical_or", False)
logical_xor = _elementwise_no_grad(backend.numpy.logical_xor, "logical_xor", False)


def logical_not(a: Tensor) -> Tensor:
    """True where ``a`` is zero (or False), for any dtype."""
    return wrap(backend.xp(a.device).logical_not(a.array), a.device)


def isnan(a: Tensor) -> Tensor:
    return wrap(backend.xp(a.device).isnan(a.array), a.device)


def isinf(a: Tensor) -> Tensor:
    return wrap(backend.xp(a.device).isinf(a.array), a.device)


def isfinite(a: Tensor) -> Tensor:
    return wrap(backend.xp(a.device).isfinite(a.array), a.device)


def isclose(a: Operand, b: Operand, rtol: float = 1e-05, atol: float = 1e-08,
            equal_nan: bool = False) -> Tensor:
    """|a - b| <= atol + rtol |b|, elementwise (no gradient)."""
    a, b = operands(a, b)
    xp = backend.xp(a.device)
    return wrap(_broadcasting(lambda x, y: xp.isclose(x, y, rtol, atol, equal_nan), a, b,
                              "isclose"), a.device)
