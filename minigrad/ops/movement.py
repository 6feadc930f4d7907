"""Ops that move values around without arithmetic: shapes, indexing, joining, devices.

Each backward is the opposite movement (reshape back, permute back, scatter the
indexed values back, ...), so all of them stay differentiable to any order.
"""
from __future__ import annotations

from typing import Any, Sequence

import operator

from minigrad import backend
from minigrad.errors import DeviceError, ShapeError
from minigrad.tensor import (Tensor, check_same_device, index_arrays, record,
                             as_view_of, to_array, wrap)


def _shape_arg(shape: tuple[Any, ...]) -> tuple[int, ...]:
    """``f(2, 3)`` and ``f((2, 3))`` both mean the shape (2, 3)."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def dim_or_axis(name: str, dim: Any, axis: Any, default: Any = 0) -> Any:
    """PyTorch's ``dim`` or NumPy's ``axis`` (not both); ``default`` when neither is given."""
    if axis is not None and dim is not None:
        raise TypeError(f"{name}: pass dim or axis, not both")
    return axis if axis is not None else dim if dim is not None else default


def normalize_axis(axis: int, ndim: int) -> int:
    if not -max(ndim, 1) <= axis < max(ndim, 1):  # a 0-d tensor takes 0 and -1, as in PyTorch
        raise ShapeError(f"axis {axis} is out of range for a tensor with {ndim} dimensions")
    return axis % max(ndim, 1)


def dim_arg(dim: Any, ndim: int, name: str) -> int:
    """``dim`` of a tensor with ``ndim`` dimensions as an index in [0, ndim), or an error
    that names the op; a 0-d tensor takes dim 0 or -1, as in PyTorch."""
    if isinstance(dim, bool) or not hasattr(dim, "__index__"):
        raise TypeError(f"{name}: dim must be an int, got {type(dim).__name__}")
    dim = operator.index(dim)
    if not -max(ndim, 1) <= dim < max(ndim, 1):
        raise ShapeError(f"{name}: dim {dim} is out of range for a tensor with {ndim} "
                         f"dimensions (valid: {-max(ndim, 1)} to {max(ndim, 1) - 1})")
    return dim % max(ndim, 1)


def _checked_shape(shape: tuple[Any, ...], name: str) -> tuple[int, ...]:
    """A target shape checked as PyTorch checks it: ints >= -1, at most one -1."""
    for n in shape:
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"{name}: shape must be ints, got {shape!r}")
    if min(shape, default=0) < -1 or shape.count(-1) > 1:
        raise ValueError(f"{name}: invalid shape {shape}: sizes must be >= 0, and only one "
                         "dimension can be -1 (inferred)")
    return shape


def reshape(a: Tensor, *shape: Any) -> Tensor:
    """``a`` with another shape (one dimension may be -1); a view of a's memory when the
    layout allows, else a copy, as in PyTorch."""
    shape = _checked_shape(_shape_arg(shape), "reshape")
    try:
        data = a.array.reshape(shape)
    except ValueError:
        raise ShapeError(f"cannot reshape a tensor of shape {a.shape} ({a.array.size} elements) "
                         f"into shape {shape}") from None
    out = _reshaped(a, data)
    if data.base is not None and backend.xp(a.device).may_share_memory(data, a.array):
        as_view_of(out, a)
    return out


def _reshaped(a: Tensor, data: Any) -> Tensor:
    before = a.shape
    return record(data, a.device, (a,), lambda g, out: (reshape(g, before),))


def view(a: Tensor, *shape: Any) -> Tensor:
    """``a`` with another shape, always sharing its memory; like PyTorch, it refuses a
    layout that would need a copy (use :func:`reshape` there)."""
    shape = _checked_shape(_shape_arg(shape), "view")
    data = a.array.view()
    try:
        data.shape = data.reshape(shape).shape if -1 in shape else shape
    except ValueError:
        raise ShapeError(f"view: a tensor of shape {a.shape} ({a.array.size} elements) can't be "
                         f"viewed as shape {shape}") from None
    except AttributeError:
        raise ShapeError(f"view: a tensor of shape {a.shape} (strides {a.array.strides}) can't "
                         f"be viewed as shape {shape} without a copy; use .reshape(...)") from None
    return as_view_of(_reshaped(a, data), a)


def permute(a: Tensor, *axes: Any) -> Tensor:
    """The dimensions of ``a`` reordered: output dim i is input dim ``axes[i]``."""
    axes = tuple(normalize_axis(x, a.ndim) for x in _shape_arg(axes))
    if sorted(axes) != list(range(a.ndim)):
        raise ShapeError(f"permute needs each of the {a.ndim} dimensions once, got {axes}")
    inverse = tuple(sorted(range(len(axes)), key=axes.__getitem__))
    out = record(a.array.transpose(axes), a.device, (a,), lambda g, out: (permute(g, inverse),))
    return as_view_of(out, a)


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
    return as_view_of(out, a)


def flatten(a: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    if a.ndim == 0:
        return reshape(a, (1,))
    start, end = normalize_axis(start_dim, a.ndim), normalize_axis(end_dim, a.ndim)
    if start > end:
        raise ValueError(f"flatten: start_dim ({start_dim}) cannot come after end_dim "
                         f"({end_dim}) for a tensor with {a.ndim} dimensions")
    return reshape(a, a.shape[:start] + (-1,) + a.shape[end + 1:])


def unsqueeze(a: Tensor, dim: int | None = None, *, axis: int | None = None) -> Tensor:
    dim = dim_or_axis("unsqueeze", dim, axis, None)
    if dim is None:
        raise TypeError("unsqueeze needs the position of the new dimension (dim)")
    dim = normalize_axis(dim, a.ndim + 1)
    return reshape(a, a.shape[:dim] + (1,) + a.shape[dim:])


def squeeze(a: Tensor, dim: int | None = None, *, axis: int | None = None) -> Tensor:
    dim = dim_or_axis("squeeze", dim, axis, None)
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
    return as_view_of(out, a)


def expand(a: Tensor, *sizes: Any) -> Tensor:
    """``a`` broadcast to ``sizes`` as a view (PyTorch's ``expand``): -1 keeps a dimension,
    a dimension of size 1 may take any size, new dimensions may be added in front."""
    sizes = _shape_arg(sizes)
    if len(sizes) < a.ndim:
        raise ShapeError(f"expand: the number of sizes provided ({len(sizes)}) must be greater "
                         f"or equal to the number of dimensions in the tensor ({a.ndim}); "
                         f"sizes {sizes}, tensor shape {a.shape}")
    lead = len(sizes) - a.ndim
    target = []
    for i, n in enumerate(sizes):
        if isinstance(n, bool) or not hasattr(n, "__index__"):
            raise TypeError(f"expand: sizes must be ints, got {sizes}")
        n = operator.index(n)
        old = a.shape[i - lead] if i >= lead else None
        if n == -1 and old is not None:
            n = old
        elif n < 0:
            where = "a leading, new dimension" if old is None else "dimension"
            raise ShapeError(f"expand: the size {n} isn't allowed in {where} {i}; sizes {sizes}, "
                             f"tensor shape {a.shape}")
        elif old is not None and old != 1 and old != n:
            raise ShapeError(f"expand: the expanded size ({n}) must match the existing size "
                             f"({old}) at non-singleton dimension {i}; target sizes {sizes}, "
                             f"tensor shape {a.shape}")
        target.append(n)
    data = backend.xp(a.device).broadcast_to(a.array, tuple(target))
    before = a.shape
    out = record(data, a.device, (a,), lambda g, out: (sum_to(g, before),))
    return as_view_of(out, a)


def repeat(a: Tensor, *sizes: Any) -> Tensor:
    """``a`` tiled ``sizes[i]`` times along each dimension (PyTorch's ``repeat``, NumPy's
    ``tile``); extra leading sizes add dimensions. A copy. Backward: the sum of the tiles."""
    sizes = _shape_arg(sizes)
    if len(sizes) < a.ndim:
        raise ShapeError(f"repeat: the number of repeat dims ({len(sizes)}) can not be smaller "
                         f"than the number of dimensions of the tensor ({a.ndim}); sizes "
                         f"{sizes}, tensor shape {a.shape}")
    if any(isinstance(n, bool) or not hasattr(n, "__index__") or operator.index(n) < 0
           for n in sizes):
        raise ShapeError(f"repeat: sizes must be non-negative ints, got {sizes}")
    sizes = tuple(operator.index(n) for n in sizes)
    shape = (1,) * (len(sizes) - a.ndim) + a.shape
    data = backend.xp(a.device).tile(a.array.reshape(shape), sizes)
    tiles = tuple(x for r, n in zip(sizes, shape) for x in (r, n))  # (r0, n0, r1, n1, ...)
    one_tile = tuple(x for n in shape for x in (1, n))
    before = a.shape
    return record(data, a.device, (a,),
                  lambda g, out: (reshape(sum_to(reshape(g, tiles), one_tile), before),))


def sum_to(a: Tensor, shape: tuple[int, ...]) -> Tensor:
    """Sum ``a`` over the dimensions that broadcasting added or stretched to reach ``shape``.

    The engine calls this once per gradient whose shape differs from its input's.
    """
    shape, before = tuple(shape), a.array.shape
    if before == shape:
        return a
    lead = len(before) - len(shape)
    data = a.array.sum(axis=tuple(range(lead))) if lead > 0 else a.array  # dims added in front
    if data.shape != shape:  # dims stretched from 1
        stretched = tuple(i for i, n in enumerate(shape) if n == 1 and data.shape[i] != 1)
        data = data.sum(axis=stretched, keepdims=True)
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
        raise IndexError(f"t[index]: {describe_index(index)} does not index a tensor of shape "
                         f"{a.shape}: {exc}") from None
    if not backend.is_array(data):  # NumPy gives a scalar for one element; view it instead
        data = a.array[(index if isinstance(index, tuple) else (index,)) + (None,)].reshape(())
    before = a.shape
    out = record(data, a.device, (a,), lambda g, out: (index_into_zeros(g, before, index),))
    if data.base is not None and backend.xp(a.device).may_share_memory(data, a.array):
        as_view_of(out, a)
    return out


def describe_index(index: Any) -> str:
    """An index as an error message names it: its parts and, for arrays, dtype and shape."""
    parts = index if isinstance(index, tuple) else (index,)

    def one(part: Any) -> str:
        if backend.is_array(part):
            kind = "boolean mask" if part.dtype == bool else f"{part.dtype} index tensor"
            return f"a {kind} of shape {part.shape}"
        return f"{part!r} ({type(part).__name__})"
    return "index " + ", ".join(one(p) for p in parts)


def index_into_zeros(values: Tensor, shape: tuple[int, ...], index: Any) -> Tensor:
    """A zero tensor of ``shape`` with ``values`` added at ``index`` (getitem's adjoint)."""
    data = backend.xp(values.device).zeros(shape, dtype=values.dtype)
    if _is_advanced(index):
        backend.scatter_add(data, index, values.array)
    else:
        data[index] = values.array
    return record(data, values.device, (values,), lambda g, out: (getitem(g, index),))


def _index_tensor(index: Any, like: Tensor, name: str) -> Tensor:
    """``index`` as an integer tensor on ``like``'s device, or an error naming ``name``."""
    if not isinstance(index, Tensor):
        try:
            array, device = to_array(index, None, like.device)
        except TypeError:
            raise TypeError(f"{name}: index must be an integer tensor, got "
                            f"{type(index).__name__}") from None
        index = wrap(array, device)
    if index.device != like.device:
        raise DeviceError(f"{name}: input is on {like.device} but index is on {index.device}; "
                          "move one with .to(device)")
    if index.array.dtype.kind not in "iu":
        raise TypeError(f"{name}: index must be an integer tensor (int64), got dtype "
                        f"{index.dtype}")
    return index


def check_index_range(index: Any, size: int, name: str, where: str, device: str) -> Any:
    """Refuse an integer index array with an entry outside 0..size-1, naming the first
    offender and ``where`` it points ("for dimension 0 with size 3"); returns the index to use.

    On a device whose checks are deferred (the GPU: reading the index would wait for it), the
    check runs there and is reported at the next synchronisation, as a device-side assert is
    in PyTorch; the index returned is then clamped into range, so no read or write strays out
    of the array meanwhile (``optimizer.step()`` synchronises first, so no step uses it).
    """
    if not index.size:
        return index
    if backend.defers_checks(device):
        xp = backend.xp(device)
        low, high = index.min(), index.max()
        backend.defer_check(xp.logical_or(low < 0, high >= size), IndexError,
                            lambda: _out_of_range(int(low), int(high), size, name, where))
        return xp.clip(index, 0, size - 1)
    low, high = int(index.min()), int(index.max())
    if low < 0 or high >= size:
        raise IndexError(_out_of_range(low, high, size, name, where))
    return index


def _out_of_range(low: int, high: int, size: int, name: str, where: str) -> str:
    return f"{name}: index {low if low < 0 else high} is out of {where}"


def _check_bounds(index: Any, size: int, dim: int, name: str, device: str) -> Any:
    return check_index_range(index, size, name, f"bounds for dimension {dim} with size {size}",
                             device)


def _along(index: Any, dim: int, xp: Any) -> tuple[Any, ...]:
    """The advanced index that picks ``index`` along ``dim`` and the same position along
    every other dimension (``take_along_axis``'s, for an index smaller than the input)."""
    parts = []
    for d, n in enumerate(index.shape):
        if d == dim:
            parts.append(index)
        else:
            parts.append(xp.arange(n).reshape([n if k == d else 1 for k in range(index.ndim)]))
    return tuple(parts)


def gather(input: Tensor, dim: int | None = None, index: Any = None, *, sparse_grad: bool = False,
           axis: int | None = None) -> Tensor:
    """``out[i][j][k] = input[index[i][j][k]][j][k]`` for ``dim=0`` (and likewise for other
    dims), PyTorch's ``gather``: ``index`` has input's number of dimensions and is no larger
    than it along the others; the result has index's shape. Backward: the gradient is
    scattered back, repeated indices accumulating (:func:`scatter_add_into_zeros`)."""
    dim = dim_or_axis("gather", dim, axis, None)
    if dim is None or index is None:
        raise TypeError("gather needs dim and index")
    index = _index_tensor(index, input, "gather")
    x, idx = input.array, index.array
    if input.ndim == 0:  # a 0-d input is gathered as a vector of one element
        x, idx = x.reshape(1), idx.reshape(-1)
    if idx.ndim != x.ndim:
        raise ShapeError(f"gather: index must have the same number of dimensions as input, "
                         f"got index shape {index.shape} and input shape {input.shape}")
    dim = dim_arg(dim, x.ndim, "gather")
    for d, (n, m) in enumerate(zip(idx.shape, x.shape)):
        if d != dim and n > m:
            raise ShapeError(f"gather: index shape {index.shape} is larger than input shape "
                             f"{input.shape} at dimension {d} (only dim={dim} may differ)")
    safe = _check_bounds(idx, x.shape[dim], dim, "gather", input.device)
    if safe is not idx:  # clamped where the check is deferred: the backward must use it too
        idx, index = safe, wrap(safe.reshape(index.shape), input.device)
    data = x[_along(idx, dim, backend.xp(input.device))].reshape(index.shape)
    shape = input.shape
    return record(data, input.device, (input,),
                  lambda g, out: (scatter_add_into_zeros(g, dim, index, shape),))


def scatter_add_into_zeros(values: Tensor, dim: int, index: Tensor,
                           shape: tuple[int, ...]) -> Tensor:
    """A zero tensor of ``shape`` with ``values`` added at ``index`` along ``dim``, repeats
    accumulating: :func:`gather`'s adjoint. Its own backward is that gather."""
    xp = backend.xp(values.device)
    data = xp.zeros(shape, dtype=values.dtype)
    flat, idx = (data.reshape(1), index.array.reshape(-1)) if len(shape) == 0 else \
        (data, index.array)
    backend.scatter_add(flat, _along(idx, dim, xp), values.array.reshape(idx.shape))
    return record(data, values.device, (values,),
                  lambda g, out: (gather(g, dim, index),))


def index_select(input: Tensor, dim: int | None = None, index: Any = None, *,
                 axis: int | None = None) -> Tensor:
    """The entries of ``input`` at the positions ``index`` (1-D) along ``dim``; repeats are
    allowed and accumulate in the gradient. A copy, as in PyTorch."""
    dim = dim_or_axis("index_select", dim, axis, None)
    if dim is None or index is None:
        raise TypeError("index_select needs dim and index")
    index = _index_tensor(index, input, "index_select")
    if index.ndim > 1:
        raise ShapeError(f"index_select: index must be 1-D (or 0-d), got shape {index.shape}")
    dim = dim_arg(dim, input.ndim, "index_select")
    if input.ndim == 0:  # selects from the one element; the result stays 0-d
        if index.numel() != 1:
            raise ShapeError(f"index_select: a 0-d input takes one index, got shape "
                             f"{index.shape}")
        return reshape(index_select(reshape(input, (1,)), 0, index), ())
    safe = _check_bounds(index.array, input.shape[dim], dim, "index_select", input.device)
    if safe is not index.array:
        index = wrap(safe, input.device)
    lead = (slice(None),) * dim
    data = input.array[lead + (index.array.reshape(-1),)]
    shape = input.shape
    return record(data, input.device, (input,),
                  lambda g, out: (index_into_zeros(g, shape, lead + (index.array.reshape(-1),)),))


# --- splitting ----------------------------------------------------------------------------

def split(a: Tensor, split_size_or_sections: Any, dim: int | None = None, *,
          axis: int | None = None) -> tuple[Tensor, ...]:
    """Views of consecutive pieces of ``a`` along ``dim``: of ``split_size`` each (the last
    may be smaller), or of the sizes in the list ``sections``, which must add up to the size."""
    if a.ndim == 0:
        raise ShapeError("split expects a tensor with at least one dimension, got a 0-d tensor")
    dim = dim_arg(dim_or_axis("split", dim, axis), a.ndim, "split")
    n = a.shape[dim]
    size = split_size_or_sections
    if isinstance(size, bool):
        raise TypeError("split: split_size_or_sections must be an int or a list of ints, got bool")
    if hasattr(size, "__index__"):
        size = operator.index(size)
        if size < 0:
            raise ValueError(f"split: split_size must be non-negative, got {size}")
        if size == 0 and n != 0:
            raise ValueError(f"split: split_size can only be 0 if the dimension size is 0, but "
                             f"dimension {dim} has size {n}")
        count = max(-(-n // size), 1) if size else 1
        sizes = [min(size, n - i * size) for i in range(count)]
    else:
        try:
            sizes = [operator.index(k) for k in size]
        except TypeError:
            raise TypeError(f"split: split_size_or_sections must be an int or a list of ints, "
                            f"got {split_size_or_sections!r}") from None
        if any(k < 0 for k in sizes) or sum(sizes) != n:
            raise ValueError(f"split: sections {sizes} must be non-negative and sum exactly to "
                             f"{n} (the size of dimension {dim} of the tensor of shape {a.shape})")
    return _pieces(a, dim, sizes)


def _pieces(a: Tensor, dim: int, sizes: Sequence[int]) -> tuple[Tensor, ...]:
    lead = (slice(None),) * dim
    bounds = [0]
    for k in sizes:
        bounds.append(bounds[-1] + k)
    return tuple(getitem(a, lead + (slice(lo, hi),)) for lo, hi in zip(bounds, bounds[1:]))


def chunk(a: Tensor, chunks: int, dim: int | None = None, *,
          axis: int | None = None) -> tuple[Tensor, ...]:
    """``a`` split into at most ``chunks`` views of ceil(size / chunks) along ``dim`` (the
    last may be smaller, and there may be fewer than ``chunks``), as PyTorch's ``chunk``."""
    if a.ndim == 0:
        raise ShapeError("chunk expects a tensor with at least one dimension, got a 0-d tensor")
    if isinstance(chunks, bool) or not hasattr(chunks, "__index__") or operator.index(chunks) <= 0:
        raise ValueError(f"chunk: chunks must be an int greater than 0, got {chunks!r}")
    chunks = operator.index(chunks)
    dim = dim_arg(dim_or_axis("chunk", dim, axis), a.ndim, "chunk")
    n = a.shape[dim]
    if n == 0:  # PyTorch: ``chunks`` empty pieces
        return _pieces(a, dim, [0] * chunks)
    return split(a, -(-n // chunks), dim)


def unbind(a: Tensor, dim: int | None = None, *, axis: int | None = None) -> tuple[Tensor, ...]:
    """The slices of ``a`` along ``dim``, each without that dimension, as views."""
    if a.ndim == 0:
        raise ShapeError("unbind: dim 0 is out of range for a 0-d tensor (it has no dimensions)")
    dim = dim_arg(dim_or_axis("unbind", dim, axis), a.ndim, "unbind")
    lead = (slice(None),) * dim
    return tuple(getitem(a, lead + (i,)) for i in range(a.shape[dim]))


# --- joining ------------------------------------------------------------------------------

def _tensor_sequence(tensors: Any, name: str) -> list[Tensor]:
    """``tensors`` as a non-empty list of tensors, or an error naming what it holds."""
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{name}: expected a list or tuple of tensors, got "
                        f"{type(tensors).__name__}")
    if not tensors:
        raise ValueError(f"{name} needs at least one tensor")
    for k, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"{name}: element {k} of the sequence is a {type(t).__name__}, not "
                            "a Tensor")
    return list(tensors)


def concatenate(tensors: Sequence[Tensor], dim: int | None = None, *,
                axis: int | None = None) -> Tensor:
    """The tensors joined along ``dim`` (PyTorch's ``cat``; NumPy's ``axis=`` works too)."""
    axis = dim_or_axis("concatenate", dim, axis)
    tensors = _tensor_sequence(tensors, "cat")
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


def stack(tensors: Sequence[Tensor], dim: int | None = None, *,
          axis: int | None = None) -> Tensor:
    """The tensors, all of one shape, joined along a new dimension ``dim`` (or ``axis=``)."""
    axis = dim_or_axis("stack", dim, axis)
    tensors = _tensor_sequence(tensors, "stack")
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


# --- triangles and grids ------------------------------------------------------------------

def _triangle(a: Tensor, diagonal: int, lower: bool, name: str) -> Tensor:
    if a.ndim < 2:
        raise ShapeError(f"{name} needs a tensor with at least 2 dimensions, got shape {a.shape}")
    xp = backend.xp(a.device)
    rows, cols = a.shape[-2:]
    keep = (xp.tri(rows, cols, diagonal, dtype=bool) if lower
            else ~xp.tri(rows, cols, diagonal - 1, dtype=bool))
    mask = wrap(keep.astype(a.dtype), a.device)
    return record(a.array * keep, a.device, (a,), lambda g, out: (g * mask,))


def tril(a: Tensor, diagonal: int = 0) -> Tensor:
    """The lower triangle of the last two dims (entries on and below ``diagonal``), the rest 0."""
    return _triangle(a, diagonal, True, "tril")


def triu(a: Tensor, diagonal: int = 0) -> Tensor:
    """The upper triangle of the last two dims (entries on and above ``diagonal``), the rest 0."""
    return _triangle(a, diagonal, False, "triu")


def meshgrid(*tensors: Any, indexing: str = "ij") -> tuple[Tensor, ...]:
    """Coordinate grids from 1-D tensors, as PyTorch's (``indexing='ij'`` or ``'xy'``):
    differentiable, each grid a broadcast of its vector."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    for k, t in enumerate(tensors):
        if not isinstance(t, Tensor) or t.ndim > 1:
            raise TypeError(f"meshgrid: argument {k} must be a 0-d or 1-D tensor, got "
                            f"{getattr(t, 'shape', type(t).__name__)}")
    vectors = [reshape(t, (-1,)) for t in tensors]
    sizes = [v.shape[0] for v in vectors]
    if indexing == "xy" and len(vectors) >= 2:
        sizes[0], sizes[1] = sizes[1], sizes[0]
    grids = []
    for k, v in enumerate(vectors):
        axis = k
        if indexing == "xy" and len(vectors) >= 2 and k < 2:
            axis = 1 - k
        shape = [1] * len(vectors)
        shape[axis] = v.shape[0]
        grids.append(broadcast_to(reshape(v, tuple(shape)), tuple(sizes)))
    return tuple(grids)
