"""Fully connected layers."""
from __future__ import annotations

import math
from typing import Any

from minigrad import backend
from minigrad.nn import functional as F, init
from minigrad.nn.module import Module
from minigrad.nn.parameter import Parameter
from minigrad.tensor import Tensor, wrap


class Identity(Module):
    """Returns its input unchanged (a placeholder where a layer is optional)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, input: Any) -> Any:
        return input


class Linear(Module):
    """y = x Wᵀ + b, with weight W of shape (out_features, in_features).

    Both are initialised as in PyTorch, from U(-1/sqrt(in_features), 1/sqrt(in_features))
    (for the weight, that is kaiming_uniform_ with a = sqrt(5)).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 device: str | None = None, dtype: Any = None) -> None:
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"Linear: {name} must be a non-negative int, got {value!r}")
        self.in_features = in_features
        self.out_features = out_features
        self.weight = Parameter(_empty((out_features, in_features), device, dtype))
        self.bias = Parameter(_empty((out_features,), device, dtype)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw fresh initial values (seeded by ``mg.manual_seed``)."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1.0 / math.sqrt(self.in_features) if self.in_features else 0.0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


def _empty(shape: tuple[int, ...], device: str | None, dtype: Any) -> Tensor:
    """An uninitialised float tensor, to be filled by a layer's initialiser."""
    device = backend.normalize_device(device)
    dtype = backend.get_default_dtype() if dtype is None else backend.as_dtype(dtype)
    return wrap(backend.xp(device).empty(shape, dtype=dtype), device)
