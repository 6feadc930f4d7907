"""All differentiable ops, by family; ``bind_tensor_methods`` makes them Tensor methods."""
from __future__ import annotations

from minigrad.ops import elementwise, linalg, movement, reduce
from minigrad.ops.elementwise import (abs, add, clip, div, exp, log, maximum, minimum, mul, neg,
                                      pow, relu, sigmoid, sqrt, sub, tanh, where)
from minigrad.ops.linalg import matmul
from minigrad.ops.movement import (broadcast_to, concatenate, flatten, getitem, permute, reshape,
                                   squeeze, stack, sum_to, transpose, unsqueeze)
from minigrad.ops.reduce import argmax, argmin, max, mean, min, sum, var


def _reflected(op):
    def reflected(self, other):
        return op(other, self)
    reflected.__name__ = f"r{op.__name__}"
    return reflected


def bind_tensor_methods(cls: type) -> None:
    """Attach the ops to ``Tensor`` as operators and methods (``a + b``, ``a.sum()``...)."""
    ew = elementwise
    methods = {
        "__add__": add, "__radd__": _reflected(add), "__sub__": sub, "__rsub__": _reflected(sub),
        "__mul__": mul, "__rmul__": _reflected(mul), "__truediv__": div,
        "__rtruediv__": _reflected(div), "__pow__": pow, "__rpow__": _reflected(pow),
        "__matmul__": matmul, "__rmatmul__": _reflected(matmul), "__neg__": neg,
        "__getitem__": getitem,
        "__eq__": ew.eq, "__ne__": ew.ne, "__lt__": ew.lt, "__le__": ew.le, "__gt__": ew.gt,
        "__ge__": ew.ge,
        "add": add, "sub": sub, "mul": mul, "div": div, "pow": pow, "matmul": matmul, "neg": neg,
        "exp": exp, "log": log, "sqrt": sqrt, "abs": abs, "tanh": tanh, "sigmoid": sigmoid,
        "relu": relu, "clip": clip, "clamp": clip, "maximum": maximum, "minimum": minimum,
        "sum": sum, "mean": mean, "var": var, "max": max, "min": min, "argmax": argmax,
        "argmin": argmin, "any": reduce.any, "all": reduce.all,
        "reshape": reshape, "view": reshape, "permute": permute, "transpose": transpose,
        "flatten": flatten, "squeeze": squeeze, "unsqueeze": unsqueeze,
        "broadcast_to": broadcast_to, "sum_to": sum_to,
    }
    for name, fn in methods.items():
        setattr(cls, name, fn)
    cls.T = property(lambda self: transpose(self, 0, 1) if self.array.ndim == 2 else transpose(self))
    cls.mT = property(lambda self: transpose(self, -1, -2))


__all__ = ["elementwise", "linalg", "movement", "reduce", "abs", "add", "clip", "div", "exp",
           "log", "maximum", "minimum", "mul", "neg", "pow", "relu", "sigmoid", "sqrt", "sub",
           "tanh", "where", "matmul", "broadcast_to", "concatenate", "flatten", "getitem",
           "permute", "reshape", "squeeze", "stack", "sum_to", "transpose", "unsqueeze",
           "argmax", "argmin", "max", "mean", "min", "sum", "var"]
