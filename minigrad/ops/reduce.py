"""Reductions and the ops that order or normalise along a dimension.

sum, mean, prod, var, std, norm, logsumexp, max/min (PyTorch's three forms), amax/amin,
argmax/argmin, any/all; cumsum, softmax/log_softmax, sort and topk.

PyTorch's ``dim``/``keepdim`` come first; NumPy's ``axis=``/``keepdims=`` work too. A
``dim`` may be None (everything), an int, a tuple, or negative; kept dimensions have size 1.
"""
from __future__ import annotations

import builtins
import math
import operator
import os
import sys
import warnings
from collections import namedtuple
from types import FrameType
from typing import Any

from minigrad import backend
from minigrad.ops.elementwise import abs, floating, maximum, minimum, sign, sqrt, where
from minigrad.ops.movement import (broadcast_to, dim_arg, dim_or_axis, gather, getitem,
                                   normalize_axis, reshape, to_dtype)
from minigrad.tensor import Tensor, wrap, record

Axis = "int | tuple[int, ...] | None"


def _values_indices(name: str) -> type:
    """A named tuple ``(values, indices)``, like ``torch.return_types.<name>``."""
    # one class per op, named after it: the name is deliberately not a literal
    cls = namedtuple(name, ["values", "indices"])  # type: ignore[misc]
    cls.__module__ = "minigrad.return_types"
    cls.__doc__ = f"The result of {name}: ``values`` and their ``indices`` along the dim."
    return cls


class return_types:
    """The named tuples returned by max/min along a dim, sort and topk (PyTorch's names)."""
    max = _values_indices("max")
    min = _values_indices("min")
    sort = _values_indices("sort")
    topk = _values_indices("topk")


def reduced_axes(axis: Any, ndim: int) -> tuple[int, ...]:
    """The dims to reduce, checked: ints in range, each once (PyTorch's rules; a 0-d tensor
    takes dim 0 or -1 and reduces nothing)."""
    if axis is None:
        return tuple(range(ndim))
    if type(axis) is int:  # the common case (a bool is refused below)
        one = normalize_axis(axis, ndim)
        return (one,) if ndim else ()
    axes = (axis,) if isinstance(axis, int) else tuple(axis) if isinstance(axis, (tuple, list)) \
        else None
    if axes is None or builtins.any(isinstance(x, bool) or not isinstance(x, int) for x in axes):
        raise TypeError(f"dim must be an int or a tuple of ints, got {axis!r}")
    normalized = [normalize_axis(x, ndim) for x in axes]
    if len(set(normalized)) != len(normalized):
        raise ValueError(f"dim {axis!r} names a dimension more than once")
    return () if ndim == 0 else tuple(sorted(normalized))


def _kept_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _count(shape: tuple[int, ...], axes: tuple[int, ...]) -> int:
    count = 1
    for x in axes:
        count *= shape[x]
    return count


def _resolve(dim: Any, keepdim: bool, axis: Any, keepdims: bool | None) -> tuple[Any, bool]:
    """PyTorch's ``dim``/``keepdim`` or NumPy's ``axis``/``keepdims`` (not both)."""
    return dim_or_axis("reduction", dim, axis, None), keepdim if keepdims is None else keepdims


def _cast(a: Tensor, dtype: Any) -> Tensor:
    """``a`` cast to ``dtype`` first (PyTorch's ``dtype=`` argument), differentiably."""
    return a if dtype is None else to_dtype(a, backend.as_dtype(dtype))


def _named(out: Tensor, name: str) -> Tensor:
    """Give ``out``'s node PyTorch's name when it is made of several steps."""
    if out._backward is not None:
        out._grad_fn_name = name
    return out


def sum(a: Tensor, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
        keepdims: bool | None = None, dtype: Any = None) -> Tensor:
    axis, keepdims = _resolve(dim, keepdim, axis, keepdims)
    a = _cast(a, dtype)
    return _sum(a, reduced_axes(axis, a.ndim), keepdims)


def _sum(a: Tensor, axes: tuple[int, ...], keepdims: bool) -> Tensor:
    """:func:`sum` over ``axes``, already checked by :func:`reduced_axes` (its node is named
    from this function's name: SumBackward0)."""
    kept, shape = _kept_shape(a.array.shape, axes), a.array.shape
    return record(a.array.sum(axis=axes, keepdims=keepdims), a.device, (a,),
                  lambda g, out: (broadcast_to(reshape(g, kept), shape),))


def mean(a: Tensor, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
         keepdims: bool | None = None, dtype: Any = None) -> Tensor:
    """The sum times 1 / count (NaN over nothing); one node for floating inputs, whose
    backward spreads g / count back over the reduced dims."""
    axis, keepdims = _resolve(dim, keepdim, axis, keepdims)
    a = _cast(a, dtype)
    axes = reduced_axes(axis, a.ndim)
    count = _count(a.shape, axes)
    scale = 1.0 / count if count else math.nan
    if a.array.dtype.kind not in "fc":  # an integer sum times a float: the float dtype
        return _sum(a, axes, keepdims) * scale
    kept, shape = _kept_shape(a.array.shape, axes), a.array.shape
    data = a.array.sum(axis=axes, keepdims=keepdims) * a.array.dtype.type(scale)
    return record(data, a.device, (a,),
                  lambda g, out: (broadcast_to(reshape(g * scale, kept), shape),))


def prod(a: Tensor, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
         keepdims: bool | None = None, dtype: Any = None) -> Tensor:
    """The product of the entries along ``dim`` (all of them by default).

    Backward: each entry's gradient is the product of the others along the reduced
    dimensions, out / a where no entry of that slice is zero. Where some are, the product
    of the nonzero others times the zero ones but itself (see :func:`_product_of_others`),
    so first and second derivatives are exact at zeros too.
    """
    axis, keepdims = _resolve(dim, keepdim, axis, keepdims)
    a = _cast(a, dtype)
    axes = reduced_axes(axis, a.ndim)
    kept = _kept_shape(a.shape, axes)

    def backward(g: Tensor, out: Tensor) -> tuple[Tensor]:
        zero = a.array == 0
        if bool(zero.any()):
            return (reshape(g, kept) * _product_of_others(a, axes, zero),)
        return (reshape(g, kept) * reshape(out, kept) / a,)
    return record(a.array.prod(axis=axes, keepdims=keepdims), a.device, (a,), backward)


def _product_of_others(a: Tensor, axes: tuple[int, ...], zero: Any) -> Tensor:
    """For each entry of ``a``, the product of the other entries of its slice along ``axes``,
    for slices that hold zeros (``zero`` marks them).

    That product is (the product of the nonzero others) x (the product of the zero others).
    The first factor is P / a_safe, P the product of a with its zeros replaced by 1. The
    second is 1 with no zero other, the zero other itself with one (a tensor whose value is
    0 but whose derivative is 1), and a product of two or more zeros otherwise, taken as 0:
    exact in value and first derivative, so gradients and their gradients are exact.
    """
    count = zero.sum(axis=axes, keepdims=True)  # zeros per slice
    zero_t = wrap(zero, a.device)
    safe = where(zero_t, 1.0, a)
    nonzero_others = prod(safe, axes, True) / safe
    zero_sum = _sum(where(zero_t, a, 0.0), axes, True)  # value 0, derivative 1 at each zero
    others_zero = count - zero  # zero entries among the others
    one = wrap((others_zero == 0).astype(a.dtype), a.device)
    first = wrap((others_zero == 1) & ~zero, a.device)  # one zero other, entry nonzero
    second = wrap((others_zero == 1) & zero, a.device)  # one zero other, entry zero
    zero_factor = one + where(first, zero_sum, 0.0) + where(second, zero_sum - a, 0.0)
    return nonzero_others * zero_factor


def var(a: Tensor, dim: Any = None, unbiased: bool = True, keepdim: bool = False, *,
        axis: Any = None, keepdims: bool | None = None, correction: float | None = None) -> Tensor:
    """Variance: sum((a - mean)^2) / (N - 1), or / N with ``unbiased=False``, or
    / (N - correction). ``var(True)`` (a bool first) means ``unbiased``, as in PyTorch."""
    if isinstance(dim, bool):
        dim, unbiased = None, dim
    axis, keepdims = _resolve(dim, keepdim, axis, keepdims)
    axes = reduced_axes(axis, a.ndim)
    divisor = _count(a.shape, axes) - (correction if correction is not None else int(unbiased))
    if divisor <= 0:
        warnings.warn("var(): degrees of freedom is <= 0 (too few elements for the correction); "
                      "the result is NaN", UserWarning, stacklevel=3)
    centred = a - mean(a, axes, keepdims=True)
    return _sum(centred * centred, axes, keepdims) * \
        (1.0 / divisor if divisor > 0 else float("nan"))


def var_mean(a: Tensor, dim: Any = None, unbiased: bool = True, keepdim: bool = False,
             **kw: Any) -> tuple[Tensor, Tensor]:
    """(var, mean) over ``dim``, as PyTorch's ``var_mean``."""
    return var(a, dim, unbiased, keepdim, **kw), mean(a, dim, keepdim, axis=kw.get("axis"))


def std_mean(a: Tensor, dim: Any = None, unbiased: bool = True, keepdim: bool = False,
             **kw: Any) -> tuple[Tensor, Tensor]:
    """(std, mean) over ``dim``, as PyTorch's ``std_mean``."""
    return std(a, dim, unbiased, keepdim, **kw), mean(a, dim, keepdim, axis=kw.get("axis"))


def std(a: Tensor, dim: Any = None, unbiased: bool = True, keepdim: bool = False, *,
        axis: Any = None, keepdims: bool | None = None, correction: float | None = None) -> Tensor:
    """Standard deviation, the square root of :func:`var` (same arguments)."""
    return sqrt(var(a, dim, unbiased, keepdim, axis=axis, keepdims=keepdims,
                    correction=correction))


def norm(a: Tensor, p: Any = "fro", dim: Any = None, keepdim: bool = False, *,
         axis: Any = None, keepdims: bool | None = None, dtype: Any = None) -> Tensor:
    """The vector p-norm (sum |a|^p)^(1/p) over ``dim`` (all entries by default), as
    ``torch.norm``: ``p`` a number, ``inf`` (max |a|), ``-inf`` (min |a|), 0 (the count of
    nonzeros), or ``'fro'`` (the 2-norm over the given dims). Its gradient at a zero norm is
    0, as in PyTorch."""
    axis, keepdims = _resolve(dim, keepdim, axis, keepdims)
    a = _cast(a, dtype)
    if a.array.dtype.kind != "f":
        raise TypeError(f"norm needs a floating-point tensor, got dtype {a.dtype} (pass dtype=)")
    if p is None or p == "fro":
        p = 2.0
    elif isinstance(p, str):
        raise ValueError(f"norm: p={p!r} is not supported; use 'fro' or a number (vector norms)")
    elif isinstance(p, bool) or not isinstance(p, (int, float)):
        raise TypeError(f"norm: p must be a number, inf or 'fro', got {p!r}")
    axes = reduced_axes(axis, a.ndim)
    if math.isinf(p):
        return (amax if p > 0 else amin)(abs(a), axes, keepdims)
    return _vector_norm(a, float(p), axes, keepdims)


def _vector_norm(a: Tensor, p: float, axes: tuple[int, ...], keepdims: bool) -> Tensor:
    xp = backend.xp(a.device)
    x = xp.abs(a.array)
    kept = _kept_shape(a.shape, axes)
    if p == 0:
        data = (x != 0).sum(axis=axes, keepdims=keepdims).astype(a.dtype)
        shape = a.shape
        return record(data, a.device, (a,),
                      lambda g, out: (broadcast_to(reshape(g, kept), shape) * 0.0,))
    if p == 1:
        data = x.sum(axis=axes, keepdims=keepdims)
    elif p == 2:
        data = xp.sqrt((x * x).sum(axis=axes, keepdims=keepdims))
    else:
        data = (x ** p).sum(axis=axes, keepdims=keepdims) ** (1.0 / p)
    zero_norm = wrap(xp.reshape(data, kept) == 0, a.device)
    zero_entry = a.array == 0

    def backward(g: Tensor, out: Tensor) -> tuple[Tensor]:
        g = reshape(g, kept)
        if p == 1:
            return (g * wrap(xp.sign(a.array), a.device),)
        safe_norm = where(zero_norm, 1.0, reshape(out, kept))
        if p == 2:
            return (where(zero_norm, 0.0, g / safe_norm) * a,)
        # sign(a) |a|^(p-1) / norm^(p-1), 0 where a entry or the norm is 0 (PyTorch's)
        zero_t = wrap(zero_entry, a.device)
        scaled = where(zero_t, 0.0, sign(a) * where(zero_t, 1.0, abs(a)) ** (p - 1))
        return (where(zero_norm, 0.0, g / safe_norm ** (p - 1)) * scaled,)
    return record(data, a.device, (a,), backward)


def logsumexp(a: Tensor, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
              keepdims: bool | None = None) -> Tensor:
    """log(sum(exp(a))) over ``dim``, with the maximum taken out first so nothing overflows.
    Backward: g * softmax(a), from the output itself (differentiable again)."""
    axis, keepdims = _resolve(dim, keepdim, axis, keepdims)
    a = floating(a)
    axes = reduced_axes(axis, a.ndim)
    xp = backend.xp(a.device)
    kept = _kept_shape(a.shape, axes)
    if a.array.size == 0:
        data = xp.full(kept, -xp.inf, dtype=a.dtype)
    else:
        top = a.array.max(axis=axes, keepdims=True)
        top = xp.where(xp.isfinite(top), top, 0)
        with backend.xp("cpu").errstate(divide="ignore"):  # log(0) = -inf is the answer
            data = xp.log(xp.exp(a.array - top).sum(axis=axes, keepdims=True)) + top
    if not keepdims:
        data = data.reshape([n for i, n in enumerate(a.shape) if i not in axes])
    return record(data, a.device, (a,),
                  lambda g, out: (reshape(g, kept) * (a - reshape(out, kept)).exp(),))


def cumsum(a: Tensor, dim: Any = None, *, axis: Any = None, dtype: Any = None) -> Tensor:
    """Running sums along ``dim`` (required, as in PyTorch). Backward: the running sums of
    the gradient from the other end."""
    if axis is not None:
        if dim is not None:
            raise TypeError("cumsum: pass dim or axis, not both")
        dim = axis
    if dim is None:
        raise TypeError("cumsum() missing required argument 'dim'")
    a = _cast(a, dtype)
    dim = dim_arg(dim, a.ndim, "cumsum")
    data = a.array.cumsum(axis=dim) if a.ndim else a.array.copy()
    if a.array.dtype.kind == "b":
        data = data.astype(backend.int64)
    if a.ndim == 0:
        return record(data, a.device, (a,), lambda g, out: (g,))
    flip = (slice(None),) * dim + (slice(None, None, -1),)
    return record(data, a.device, (a,),
                  lambda g, out: (getitem(cumsum(getitem(g, flip), dim), flip),))


# --- max and min: three forms ---------------------------------------------------------------

def _extreme(a: Tensor, axis: Any, keepdims: bool, largest: bool) -> Tensor:
    """max or min over ``axis`` (values only); tied extremes share the gradient equally."""
    name = "max" if largest else "min"
    axes = reduced_axes(axis, a.ndim)
    if a.array.size == 0 and (not axes or builtins.any(a.shape[x] == 0 for x in axes)):
        raise ValueError(f"{name} of an empty tensor of shape {a.shape}: the reduced "
                         f"dimensions {axes} must have a nonzero size")
    kept = (a.array.max if largest else a.array.min)(axis=axes, keepdims=True)

    def backward(g: Tensor, out: Tensor) -> tuple[Tensor]:
        hits = a.array == kept
        share = wrap(hits / hits.sum(axis=axes, keepdims=True), a.device)
        return (reshape(g, kept.shape) * share,)
    data = kept if keepdims else kept.reshape([n for i, n in enumerate(a.shape) if i not in axes])
    return _named(record(data, a.device, (a,), backward), f"{name.capitalize()}Backward1")


def _max_or_min(a: Tensor, dim: Any, keepdim: bool, axis: Any, keepdims: bool | None,
                other: Any, largest: bool) -> Any:
    name = "max" if largest else "min"
    if isinstance(dim, Tensor) or other is not None:
        if isinstance(dim, Tensor) and other is not None:
            raise TypeError(f"{name}: pass the other tensor once")
        if keepdim or axis is not None or keepdims is not None:
            raise TypeError(f"{name}(input, other) is elementwise and takes no dim or keepdim")
        return (maximum if largest else minimum)(a, dim if other is None else other)
    if axis is not None:  # NumPy's form: the values only
        if dim is not None:
            raise TypeError(f"{name}: pass dim or axis, not both")
        return _extreme(a, axis, bool(keepdims), largest)
    keepdim = keepdim if keepdims is None else keepdims
    if dim is None:
        return _extreme(a, None, keepdim, largest)
    if isinstance(dim, (tuple, list)):
        raise TypeError(f"{name}(dim) takes one int dim and returns (values, indices); for "
                        f"several dims use amax/amin or {name}(axis={tuple(dim)})")
    return _values_and_indices(a, dim, keepdim, largest, name)


def _values_and_indices(a: Tensor, dim: Any, keepdim: bool, largest: bool, name: str) -> Any:
    """PyTorch's ``max(dim)``: the named tuple (values, indices), the first extreme's index
    where there are ties; the gradient goes to that entry only (through a gather)."""
    d = dim_arg(dim, a.ndim, name)
    if a.ndim and a.shape[d] == 0:
        raise IndexError(f"{name}(): the reduced dim {dim} of the tensor of shape {a.shape} "
                         "has size 0")
    flat = a if a.ndim else reshape(a, (1,))
    index = (flat.array.argmax if largest else flat.array.argmin)(axis=d, keepdims=True)
    index = index.astype(backend.int64, copy=False)
    values = gather(flat, d, wrap(index, a.device))
    shape = flat.shape[:d] + flat.shape[d + 1:] if a.ndim else ()
    if not keepdim or not a.ndim:
        values, index = reshape(values, shape), index.reshape(shape)
    cls = return_types.max if largest else return_types.min
    return cls(_named(values, f"{name.capitalize()}Backward0"), wrap(index, a.device))


def max(a: Tensor, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
        keepdims: bool | None = None, other: Tensor | None = None) -> Any:
    """PyTorch's three forms: ``max(a)`` the largest value (ties share the gradient);
    ``max(a, dim, keepdim=False)`` the named tuple (values, indices) along ``dim``, the
    gradient going to the returned index; ``max(a, other)`` the elementwise maximum.
    NumPy's ``max(a, axis=..., keepdims=...)`` gives the values only (tuple axes allowed)."""
    return _max_or_min(a, dim, keepdim, axis, keepdims, other, largest=True)


def min(a: Tensor, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
        keepdims: bool | None = None, other: Tensor | None = None) -> Any:
    """The smallest value, (values, indices) along ``dim``, or the elementwise minimum with
    another tensor; see :func:`max`."""
    return _max_or_min(a, dim, keepdim, axis, keepdims, other, largest=False)


def _dims(dim: Any) -> Any:
    """amax/amin's dims: ``()`` (their default in PyTorch) means every dimension."""
    return None if isinstance(dim, (tuple, list)) and len(dim) == 0 else dim


def amax(a: Tensor, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
         keepdims: bool | None = None) -> Tensor:
    """The largest values over ``dim`` (an int or a tuple; all by default); tied maxima
    share the gradient evenly, as in PyTorch."""
    axis, keepdims = _resolve(_dims(dim), keepdim, _dims(axis), keepdims)
    return _named(_extreme(a, axis, keepdims, largest=True), "AmaxBackward0")


def amin(a: Tensor, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
         keepdims: bool | None = None) -> Tensor:
    """The smallest values over ``dim``; see :func:`amax`."""
    axis, keepdims = _resolve(_dims(dim), keepdim, _dims(axis), keepdims)
    return _named(_extreme(a, axis, keepdims, largest=False), "AminBackward0")


def argmax(a: Tensor, dim: int | None = None, keepdim: bool = False, *, axis: int | None = None,
           keepdims: bool | None = None) -> Tensor:
    return _arg_extreme(a, "argmax", *_resolve(dim, keepdim, axis, keepdims))


def argmin(a: Tensor, dim: int | None = None, keepdim: bool = False, *, axis: int | None = None,
           keepdims: bool | None = None) -> Tensor:
    return _arg_extreme(a, "argmin", *_resolve(dim, keepdim, axis, keepdims))


def _arg_extreme(a: Tensor, name: str, dim: Any, keepdims: bool) -> Tensor:
    """The index of the largest/smallest value (of the flattened tensor without ``dim``)."""
    if dim is not None:
        if isinstance(dim, bool) or not isinstance(dim, int):
            raise TypeError(f"{name}: dim must be an int, got {dim!r}")
        dim = normalize_axis(dim, a.ndim) if a.ndim else None
    if a.array.size == 0 or (dim is not None and a.shape[dim] == 0):
        raise ValueError(f"{name} of an empty tensor (shape {a.shape}) has no answer")
    return wrap(getattr(a.array, name)(axis=dim, keepdims=keepdims), a.device)


def any(a: Tensor, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
        keepdims: bool | None = None) -> Tensor:
    axis, keepdims = _resolve(dim, keepdim, axis, keepdims)
    return wrap(a.array.any(axis=axis, keepdims=keepdims), a.device)


def all(a: Tensor, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
        keepdims: bool | None = None) -> Tensor:
    axis, keepdims = _resolve(dim, keepdim, axis, keepdims)
    return wrap(a.array.all(axis=axis, keepdims=keepdims), a.device)


# --- ordering: sort, argsort, topk ----------------------------------------------------------

def _argsort(x: Any, dim: int, descending: bool, xp: Any) -> Any:
    """Stable argsort along ``dim``; descending keeps equal values in their original order
    (sort the reversed array ascending, reverse the result, map the positions back)."""
    stable = {"kind": "stable"} if xp is backend.xp("cpu") else {}  # CuPy's is always stable
    if not descending:
        return xp.argsort(x, axis=dim, **stable)
    flip = (slice(None),) * dim + (slice(None, None, -1),)
    return (x.shape[dim] - 1) - xp.argsort(x[flip], axis=dim, **stable)[flip]


def sort(a: Tensor, dim: int | None = None, descending: bool = False, stable: bool = False, *,
         axis: int | None = None) -> Any:
    """The values of ``a`` sorted along ``dim`` and the positions they came from, as the
    named tuple (values, indices). The sort is always stable (``stable`` is accepted);
    NaN sorts as the largest value, as in PyTorch. The gradient flows through the values."""
    d = dim_arg(dim_or_axis("sort", dim, axis, -1), a.ndim, "sort")
    flat = a if a.ndim else reshape(a, (1,))
    index = _argsort(flat.array, d, descending, backend.xp(a.device)).astype(backend.int64)
    values = gather(flat, d, wrap(index, a.device))
    if not a.ndim:
        values, index = reshape(values, ()), index.reshape(())
    return return_types.sort(_named(values, "SortBackward0"), wrap(index, a.device))


def argsort(a: Tensor, dim: int | None = None, descending: bool = False, stable: bool = False,
            *, axis: int | None = None) -> Tensor:
    """The indices that sort ``a`` along ``dim`` (:func:`sort`'s indices)."""
    return sort(a, dim, descending, stable, axis=axis).indices


def topk(a: Tensor, k: int, dim: int | None = None, largest: bool = True, sorted: bool = True, *,
         axis: int | None = None) -> Any:
    """The ``k`` largest (or smallest) entries along ``dim`` and their indices, as the named
    tuple (values, indices), in sorted order (also when ``sorted=False``, which allows any
    order). The gradient flows through the values."""
    if isinstance(k, bool) or not hasattr(k, "__index__"):
        raise TypeError(f"topk: k must be an int, got {type(k).__name__}")
    k = operator.index(k)
    d = dim_arg(dim_or_axis("topk", dim, axis, -1), a.ndim, "topk")
    size = a.shape[d] if a.ndim else 1
    if not 0 <= k <= size:
        raise IndexError(f"topk: k={k} is out of range for dimension {d} of size {size} "
                         f"(tensor of shape {a.shape})")
    flat = a if a.ndim else reshape(a, (1,))
    order = _argsort(flat.array, d, largest, backend.xp(a.device))
    index = order[(slice(None),) * d + (slice(0, k),)].astype(backend.int64)
    values = gather(flat, d, wrap(index, a.device))
    if not a.ndim and k == 1:
        values, index = reshape(values, ()), index.reshape(())
    return return_types.topk(_named(values, "TopkBackward0"), wrap(index, a.device))


# --- softmax and log-softmax ----------------------------------------------------------------

def _softmax_dim(name: str, input: Tensor, dim: Any, axis: Any, stacklevel: int) -> int:
    if axis is not None:
        if dim is not None:
            raise TypeError(f"{name}: pass dim or axis, not both")
        dim = axis
    if dim is None:
        warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the "
                      "call to include dim=X as an argument.", UserWarning,
                      stacklevel=_outside_minigrad(stacklevel))
        dim = 0 if input.ndim in (0, 1, 3) else 1
    return dim_arg(dim, input.ndim, name)


_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def _outside_minigrad(stacklevel: int) -> int:
    """The stack level of the first caller outside minigrad (Tensor.softmax, nn.Softmax...),
    so that a warning names the user's line."""
    # 0 is this function, 1 its caller (level 1)
    frame: FrameType | None = sys._getframe(stacklevel)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame, stacklevel = frame.f_back, stacklevel + 1
    return stacklevel


def _softmax_input(name: str, input: Tensor, dtype: Any) -> Tensor:
    if not isinstance(input, Tensor):
        raise TypeError(f"{name}: input must be a Tensor, got {type(input).__name__}")
    input = _cast(input, dtype)
    if input.array.dtype.kind != "f":
        raise TypeError(f"{name} needs a floating-point tensor, got dtype {input.dtype} "
                        "(pass dtype=mg.float32 to cast it)")
    return input


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None, *,
            axis: int | None = None) -> Tensor:
    """exp(x) / sum(exp(x)) along ``dim``, computed after subtracting the maximum so that
    large logits cannot overflow. ``dtype`` casts the input first. Without a dim it warns
    and takes PyTorch's implicit one (0 for 0-, 1- and 3-D input, else 1)."""
    input = _softmax_input("softmax", input, dtype)
    dim = _softmax_dim("softmax", input, dim, axis, _stacklevel)
    xp = backend.xp(input.device)
    x = input.array if input.ndim else input.array.reshape(1)
    if x.size == 0:  # nothing to normalise
        return softmax_node(input, x.copy().reshape(input.shape), dim if input.ndim else None)
    probs = xp.exp(x - x.max(axis=dim, keepdims=True))
    probs /= probs.sum(axis=dim, keepdims=True)
    return softmax_node(input, probs.reshape(input.shape), dim if input.ndim else None)


def softmax_node(input: Tensor, probs: Any, dim: int | None) -> Tensor:
    """``probs`` = softmax(input) along ``dim``, already computed, as a node of the graph.

    Backward: p * (g - sum(g * p)); it uses the node itself, so it is differentiable again.
    """
    return record(probs, input.device, (input,),
                  lambda g, out: (out * (g - (g * out).sum(dim, keepdims=True)),))


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
                dtype: Any = None, *, axis: int | None = None) -> Tensor:
    """x - log(sum(exp(x))) along ``dim``, with the maximum subtracted first (stable for
    logits of any size). Backward: g - softmax(x) * sum(g). Arguments as :func:`softmax`."""
    input = _softmax_input("log_softmax", input, dtype)
    dim = _softmax_dim("log_softmax", input, dim, axis, _stacklevel)
    xp = backend.xp(input.device)
    x = input.array if input.ndim else input.array.reshape(1)
    shifted = x - x.max(axis=dim, keepdims=True)
    log_probs = shifted - xp.log(xp.exp(shifted).sum(axis=dim, keepdims=True))
    return log_softmax_node(input, log_probs.reshape(input.shape), dim if input.ndim else None)


def log_softmax_node(input: Tensor, log_probs: Any, dim: int | None) -> Tensor:
    """``log_probs`` = log_softmax(input) along ``dim``, already computed, as a node of the
    graph. Backward: g - softmax(x) * sum(g), from the node itself (differentiable again)."""
    return record(log_probs, input.device, (input,),
                  lambda g, out: (g - out.exp() * g.sum(dim, keepdims=True),))

