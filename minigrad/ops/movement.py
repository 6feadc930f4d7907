"""Ops that move values around without arithmetic: shapes, indexing, joining, devices.

Each backward is the opposite movement (reshape back, permute back, scatter the
indexed values back, ...), so all of them stay differentiable to any order.
"""
from __future__ import annotations

from typing import Any, Sequence

from minigrad import backend
from minigrad.errors import ShapeError
from minigrad.tensor import (Tensor, check_same_device, index_arrays, record,
                             share_memory_versions)


def _shape_arg(shape: tuple[Any, ...]) -> tuple[int, ...]:
    """``f(2, 3)`` and ``f((2, 3))`` both mean the shape (2, 3)."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def normalize_axis(axis: int, ndim: int) -> int:
    if not -ndim <= axis < max(ndim, 1):
        raise ShapeError(f"axis {axis} is out of range for a tensor with {ndim} dimensions")
    return axis % max(ndim, 1)


def reshape(a: Tensor, *shape: Any) -> Tensor:
    """``a`` with another shape (one dimension may be -1); a view of a's memory when the
    layout allows, else a copy, as in PyTorch."""
    shape = _shape_arg(shape)
    try:
        data = a.array.reshape(shape)
    except ValueError:
        raise ShapeError(f"cannot reshape a tensor of shape {a.shape} ({a.array.size} elements) "
                         f"into shape {shape}") from None
    out = _reshaped(a, data)
    if data.base is not None and backend.xp(a.device).may_share_memory(data, a.array):
        share_memory_versions(out, a)
    return out


def _reshaped(a: Tensor, data: Any) -> Tensor:
    before = a.shape
    return record(data, a.device, (a,), lambda g, out: (reshape(g, before),))


def view(a: Tensor, *shape: Any) -> Tensor:
    """``a`` with another shape, always sharing its memory; like PyTorch, it refuses a
    layout that would need a copy (use :func:`reshape` there)."""
    shape = _shape_arg(shape)
    data = a.array.view()
    try:
        data.shape = data.reshape(shape).shape if -1 in shape else shape
    except (AttributeError, ValueError):
        raise ShapeError(f"view: a tensor of shape {a.shape} (strides {a.array.strides}) can't "
                         f"be viewed as shape {shape} without a copy; use .reshape(...)") from None
    return share_memory_versions(_reshaped(a, data), a)


def permute(a: Tensor, *axes: Any) -> Tensor:
    """The dimensions of ``a`` reordered: output dim i is input dim ``axes[i]``."""
    axes = tuple(normalize_axis(x, a.ndim) for x in _shape_arg(axes))
    if sorted(axes) != list(range(a.ndim)):
        raise ShapeError(f"permute needs each of the {a.ndim} dimensions once, got {axes}")
    inverse = tuple(sorted(range(len(axes)), key=axes.__getitem__))
    out = record(a.array.transpose(axes), a.device, (a,), lambda g, out: (permute(g, inverse),))
    return share_memory_versions(out, a)


def transpose(a: Tensor, dim0: int | None = None, dim1: int | None = None) -> Tensor:
    """Swap two dimensions (PyTorch); with no arguments reverse them all (NumPy, ``.T``)."""
    if dim0 is None and dim1 is None:
        return permute(a, tuple(reversed(range(a.ndim)))) if a.ndim > 2 else \
            transpose(a, 0, 1) if a.ndim == 2 else a
    if dim0 is None or dim1 is None:
        raise TypeError("transpose takes both dim0 and dim1, or neither")
    try:
        data = a.array.swapaxes(dim0, dim1)
    except (ValueError, IndexError):  # NumPy's AxisError is both
        raise ShapeError(f"transpose: dims ({dim0}, {dim1}) are out of range for a tensor with "
                         f"{a.ndim} dimensions") from None
    out = record(data, a.device, (a,), lambda g, out: (transpose(g, dim0, dim1),))
    return share_memory_versions(out, a)


def flatten(a: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    if a.ndim == 0:
        return reshape(a, (1,))
    start, end = normalize_axis(start_dim, a.ndim), normalize_axis(end_dim, a.ndim)
    return reshape(a, a.shape[:start] + (-1,) + a.shape[end + 1:])


def unsqueeze(a: Tensor, dim: int) -> Tensor:
    dim = normalize_axis(dim, a.ndim + 1)
    return reshape(a, a.shape[:dim] + (1,) + a.shape[dim:])


def squeeze(a: Tensor, dim: int | None = None) -> Tensor:
    if dim is None:
        return reshape(a, tuple(n for n in a.shape if n != 1))
    dim = normalize_axis(dim, a.ndim)
    if a.shape[dim] != 1:
        return a
    return reshape(a, a.shape[:dim] + a.shape[dim + 1:])


def broadcast_to(a: Tensor, *shape: Any) -> Tensor:
    shape = _shape_arg(shape)
    try:
        data = backend.xp(a.device).broadcast_to(a.array, shape)
    except ValueError:
        raise ShapeError(f"cannot broadcast a tensor of shape {a.shape} to shape {shape}") from None
    before = a.shape
    out = record(data, a.device, (a,), lambda g, out: (sum_to(g, before),))
    return share_memory_versions(out, a)


def sum_to(a: Tensor, shape: tuple[int, ...]) -> Tensor:
    """Sum ``a`` over the dimensions that broadcasting added or stretched to reach ``shape``.

    The engine calls this once per gradient whose shape differs from its input's.
    """
    shape = tuple(shape)
    if a.shape == shape:
        return a
    lead = a.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape)
                                      if n == 1 and a.shape[lead + i] != 1)
    data = a.array.sum(axis=axes, keepdims=True).reshape(shape)
    before = a.shape
    return record(data, a.device, (a,), lambda g, out: (broadcast_to(g, before),))


# --- indexing -----------------------------------------------------------------------------

def _is_advanced(index: Any) -> bool:
    """True when the index holds an integer array (whose repeats must accumulate)."""
    parts = index if isinstance(index, tuple) else (index,)
    return any(backend.is_array(p) and p.dtype.kind in "iu" for p in parts)


def host_lists_to_arrays(index: Any, device: str) -> Any:
    xp = backend.xp(device)
    if isinstance(index, list):
        return xp.asarray(index)
    if isinstance(index, tuple):
        return tuple(xp.asarray(p) if isinstance(p, list) else p for p in index)
    return index


def getitem(a: Tensor, index: Any) -> Tensor:
    """``a[index]``: slices, integers, integer arrays (repeats accumulate), boolean masks."""
    index = host_lists_to_arrays(index_arrays(index), a.device)
    try:
        data = a.array[index]
    except IndexError as exc:
        raise IndexError(f"index out of range for a tensor of shape {a.shape}: {exc}") from None
    before = a.shape
    out = record(data, a.device, (a,), lambda g, out: (index_into_zeros(g, before, index),))
    if data.base is not None and backend.xp(a.device).may_share_memory(data, a.array):
        share_memory_versions(out, a)
    return out


def index_into_zeros(values: Tensor, shape: tuple[int, ...], index: Any) -> Tensor:
    """A zero tensor of ``shape`` with ``values`` added at ``index`` (getitem's adjoint)."""
    data = backend.xp(values.device).zeros(shape, dtype=values.dtype)
    if _is_advanced(index):
        backend.scatter_add(data, index, values.array)
    else:
        data[index] = values.array
    return record(data, values.device, (values,), lambda g, out: (getitem(g, index),))


# --- joining ------------------------------------------------------------------------------

def concatenate(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    tensors = list(tensors)
    if not tensors:
        raise ValueError("concatenate needs at least one tensor")
    check_same_device(*tensors)
    axis = normalize_axis(axis, tensors[0].ndim)
    xp = backend.xp(tensors[0].device)
    try:
        data = xp.concatenate([t.array for t in tensors], axis=axis)
    except ValueError:
        raise ShapeError(f"cannot concatenate shapes {[t.shape for t in tensors]} along axis "
                         f"{axis}: every other dimension must match") from None
    bounds = [0]
    for t in tensors:
        bounds.append(bounds[-1] + t.shape[axis])
    lead = (slice(None),) * axis

    def backward(g: Tensor, out: Tensor) -> list[Tensor]:
        return [getitem(g, lead + (slice(lo, hi),)) for lo, hi in zip(bounds, bounds[1:])]
    return record(data, tensors[0].device, tuple(tensors), backward)


def stack(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack needs at least one tensor")
    if len({t.shape for t in tensors}) > 1:
        raise ShapeError(f"stack needs tensors of one shape, got {[t.shape for t in tensors]}")
    axis = normalize_axis(axis, tensors[0].ndim + 1)
    return concatenate([unsqueeze(t, axis) for t in tensors], axis)


# --- devices and dtypes -------------------------------------------------------------------

def to_device(a: Tensor, device: str) -> Tensor:
    if a.device == device:
        return a
    return record(backend.to_device(a.array, device), device, (a,),
                  lambda g, out: (to_device(g, a.device),))


def to_dtype(a: Tensor, dtype: Any) -> Tensor:
    if a.dtype == dtype:
        return a
    before = a.dtype
    out = record(a.array.astype(dtype), a.device, (a,), lambda g, out: (to_dtype(g, before),))
    if dtype.kind not in "fc":  # integers and booleans carry no gradient
        out.requires_grad, out._backward, out._parents = False, None, ()
    return out
