"""The arithmetic and math functions of the ``mg`` namespace, spelled as PyTorch's are:
``mg.add(input, other, *, alpha=1, out=None)``, ``mg.exp(input, *, out=None)``, ...

They are the ops of :mod:`minigrad.ops` plus PyTorch's keyword arguments: ``input`` and
``other`` by name, ``alpha`` for add/sub, and ``out=``, which writes the result into an
existing tensor (resizing it if needed) and, as in PyTorch, is refused when the result would
need a gradient. Methods and operators (``x.exp()``, ``a + b``) call the ops directly.
"""
from __future__ import annotations

from typing import Any, Callable

from minigrad import grad_mode, ops
from minigrad.checks import require_tensor
from minigrad.tensor import Tensor, bump_version

Unary = Callable[..., Tensor]


def _into(out: Tensor | None, result: Tensor, name: str) -> Tensor:
    if out is None:
        return result
    if not isinstance(out, Tensor):
        raise TypeError(f"{name}: out must be a Tensor, got {type(out).__name__}")
    if grad_mode.enabled.get() and (result.requires_grad or out.requires_grad):
        raise RuntimeError(f"{name}(): functions with out=... arguments don't support automatic "
                           "differentiation, but one of the arguments requires grad")
    if out.shape == result.shape and out.device == result.device:
        out.array[...] = result.array
    else:
        out.array, out.device = result.array.astype(out.dtype, copy=False), result.device
    bump_version(out)
    return out


def _unary(op: Unary) -> Unary:
    def function(input: Tensor, *, out: Tensor | None = None) -> Tensor:
        return _into(out, op(require_tensor(input, op.__name__)), op.__name__)
    function.__name__ = function.__qualname__ = op.__name__
    function.__doc__ = op.__doc__
    return function


def _binary(op: Callable[[Any, Any], Tensor]) -> Callable[..., Tensor]:
    def function(input: Any, other: Any, *, out: Tensor | None = None) -> Tensor:
        return _into(out, op(input, other), op.__name__)
    function.__name__ = function.__qualname__ = op.__name__
    function.__doc__ = op.__doc__
    return function


def add(input: Any, other: Any, *, alpha: float = 1, out: Tensor | None = None) -> Tensor:
    """``input + alpha * other``."""
    return _into(out, ops.add(input, other if alpha == 1 else other * alpha), "add")


def sub(input: Any, other: Any, *, alpha: float = 1, out: Tensor | None = None) -> Tensor:
    """``input - alpha * other``."""
    return _into(out, ops.sub(input, other if alpha == 1 else other * alpha), "sub")


mul, div, pow, matmul, maximum, minimum = (
    _binary(op) for op in (ops.mul, ops.div, ops.pow, ops.matmul, ops.maximum, ops.minimum))
multiply, divide, subtract = mul, div, sub

(abs, acos, asin, atan, ceil, cos, cosh, erf, exp, expm1, floor, log, log1p, log2, log10, neg,
 reciprocal, relu, rsqrt, sigmoid, sign, sin, sinh, sqrt, square, tan, tanh) = (
    _unary(op) for op in (ops.abs, ops.acos, ops.asin, ops.atan, ops.ceil, ops.cos, ops.cosh,
                          ops.erf, ops.exp, ops.expm1, ops.floor, ops.log, ops.log1p, ops.log2,
                          ops.log10, ops.neg, ops.reciprocal, ops.relu, ops.rsqrt, ops.sigmoid,
                          ops.sign, ops.sin, ops.sinh, ops.sqrt, ops.square, ops.tan, ops.tanh))
negative = neg
arcsin, arccos, arctan = asin, acos, atan


def clamp(input: Tensor, min: Any = None, max: Any = None, *,
          out: Tensor | None = None) -> Tensor:
    """``input`` limited to [min, max] (numbers or tensors)."""
    return _into(out, ops.clamp(input, min, max), "clamp")


clip = clamp
