"""Reductions: sum, mean, max, min, var, and the index-valued argmax/argmin.

``axis`` may be None (everything), an int, a tuple, or negative; ``keepdims`` keeps the
reduced dimensions with size 1. PyTorch's spellings ``dim=`` and ``keepdim=`` work too.
"""
from __future__ import annotations

import builtins
from typing import Any

from minigrad.ops.movement import broadcast_to, normalize_axis, reshape
from minigrad.tensor import Tensor, wrap, record

Axis = "int | tuple[int, ...] | None"


def reduced_axes(axis: Any, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    axes = tuple(sorted({normalize_axis(x, ndim) for x in axes}))
    return axes


def _kept_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _count(shape: tuple[int, ...], axes: tuple[int, ...]) -> int:
    count = 1
    for x in axes:
        count *= shape[x]
    return count


def _resolve(dim: Any, keepdim: bool, axis: Any, keepdims: bool | None) -> tuple[Any, bool]:
    """PyTorch's ``dim``/``keepdim`` or NumPy's ``axis``/``keepdims`` (not both)."""
    if axis is not None:
        if dim is not None:
            raise TypeError("pass dim or axis, not both")
        dim = axis
    return dim, keepdim if keepdims is None else keepdims


def sum(a: Tensor, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
        keepdims: bool | None = None) -> Tensor:
    axis, keepdims = _resolve(dim, keepdim, axis, keepdims)
    axes = reduced_axes(axis, a.ndim)
    kept = _kept_shape(a.shape, axes)
    return record(a.array.sum(axis=axes, keepdims=keepdims), a.device, (a,),
                  lambda g, out: (broadcast_to(reshape(g, kept), a.shape),))


def mean(a: Tensor, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
         keepdims: bool | None = None) -> Tensor:
    axis, keepdims = _resolve(dim, keepdim, axis, keepdims)
    axes = reduced_axes(axis, a.ndim)
    return sum(a, axes, keepdims) * (1.0 / builtins.max(_count(a.shape, axes), 1))


def var(a: Tensor, dim: Any = None, unbiased: bool = True, keepdim: bool = False, *,
        axis: Any = None, keepdims: bool | None = None, correction: int | None = None) -> Tensor:
    """Variance: sum((a - mean)^2) / (N - 1), or / N with ``unbiased=False``."""
    axis, keepdims = _resolve(dim, keepdim, axis, keepdims)
    axes = reduced_axes(axis, a.ndim)
    divisor = _count(a.shape, axes) - (correction if correction is not None else int(unbiased))
    centred = a - mean(a, axes, keepdims=True)
    return sum(centred * centred, axes, keepdims) * (1.0 / divisor if divisor > 0 else float("nan"))


def _extreme(a: Tensor, axis: Any, keepdims: bool, largest: bool) -> Tensor:
    """max or min; tied extremes share the gradient equally."""
    axes = reduced_axes(axis, a.ndim)
    if a.array.size == 0:
        raise ValueError(f"{'max' if largest else 'min'} of an empty tensor of shape {a.shape}")
    kept = (a.array.max if largest else a.array.min)(axis=axes, keepdims=True)

    def backward(g: Tensor, out: Tensor) -> tuple[Tensor]:
        hits = a.array == kept
        share = wrap(hits / hits.sum(axis=axes, keepdims=True), a.device)
        return (reshape(g, kept.shape) * share,)
    data = kept if keepdims else kept.reshape([n for i, n in enumerate(a.shape) if i not in axes])
    return record(data, a.device, (a,), backward)


def max(a: Tensor, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
        keepdims: bool | None = None) -> Tensor:
    """The largest values along ``axis`` (values only, unlike PyTorch's ``max(dim)``)."""
    axis, keepdims = _resolve(dim, keepdim, axis, keepdims)
    return _extreme(a, axis, keepdims, largest=True)


def min(a: Tensor, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
        keepdims: bool | None = None) -> Tensor:
    """The smallest values along ``axis`` (values only, unlike PyTorch's ``min(dim)``)."""
    axis, keepdims = _resolve(dim, keepdim, axis, keepdims)
    return _extreme(a, axis, keepdims, largest=False)


def argmax(a: Tensor, dim: int | None = None, keepdim: bool = False, *, axis: int | None = None,
           keepdims: bool | None = None) -> Tensor:
    axis, keepdims = _resolve(dim, keepdim, axis, keepdims)
    return wrap(a.array.argmax(axis=axis, keepdims=keepdims), a.device)


def argmin(a: Tensor, dim: int | None = None, keepdim: bool = False, *, axis: int | None = None,
           keepdims: bool | None = None) -> Tensor:
    axis, keepdims = _resolve(dim, keepdim, axis, keepdims)
    return wrap(a.array.argmin(axis=axis, keepdims=keepdims), a.device)


def any(a: Tensor, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
        keepdims: bool | None = None) -> Tensor:
    axis, keepdims = _resolve(dim, keepdim, axis, keepdims)
    return wrap(a.array.any(axis=axis, keepdims=keepdims), a.device)


def all(a: Tensor, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
        keepdims: bool | None = None) -> Tensor:
    axis, keepdims = _resolve(dim, keepdim, axis, keepdims)
    return wrap(a.array.all(axis=axis, keepdims=keepdims), a.device)
