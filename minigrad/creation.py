"""Functions that make new tensors: from data, filled with constants, ranges, random."""
from __future__ import annotations

from typing import Any

from minigrad import backend
from minigrad.ops.movement import _shape_arg
from minigrad.tensor import Tensor, to_array, wrap


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None,
           device: str | None = None) -> Tensor:
    """A new tensor holding a copy of ``data`` (a list, number, array or tensor).

    Python floats become the default dtype (float32), Python ints int64, bools bool;
    arrays keep their dtype. ``device`` defaults to the array's own, else the default.
    """
    array, device = to_array(data, dtype, device)
    return wrap(array, device).requires_grad_(requires_grad)


def _filled(fill: str, shape: tuple[Any, ...], dtype: Any, device: str | None,
            requires_grad: bool, value: Any = None) -> Tensor:
    device = backend.normalize_device(device)
    dtype = backend.get_default_dtype() if dtype is None else backend.as_dtype(dtype)
    xp = backend.xp(device)
    shape = _shape_arg(shape)
    data = xp.full(shape, value, dtype=dtype) if fill == "full" else getattr(xp, fill)(shape, dtype=dtype)
    return wrap(data, device).requires_grad_(requires_grad)


def zeros(*shape: Any, dtype: Any = None, device: str | None = None,
          requires_grad: bool = False) -> Tensor:
    return _filled("zeros", shape, dtype, device, requires_grad)


def ones(*shape: Any, dtype: Any = None, device: str | None = None,
         requires_grad: bool = False) -> Tensor:
    return _filled("ones", shape, dtype, device, requires_grad)


def full(shape: Any, fill_value: float, dtype: Any = None, device: str | None = None,
         requires_grad: bool = False) -> Tensor:
    return _filled("full", (shape,), dtype, device, requires_grad, fill_value)


def zeros_like(t: Tensor, dtype: Any = None, device: str | None = None,
               requires_grad: bool = False) -> Tensor:
    return zeros(t.shape, dtype=dtype or t.dtype, device=device or t.device,
                 requires_grad=requires_grad)


def ones_like(t: Tensor, dtype: Any = None, device: str | None = None,
              requires_grad: bool = False) -> Tensor:
    return ones(t.shape, dtype=dtype or t.dtype, device=device or t.device,
                requires_grad=requires_grad)


def eye(n: int, m: int | None = None, dtype: Any = None, device: str | None = None,
        requires_grad: bool = False) -> Tensor:
    device = backend.normalize_device(device)
    dtype = backend.get_default_dtype() if dtype is None else backend.as_dtype(dtype)
    return wrap(backend.xp(device).eye(n, m, dtype=dtype), device).requires_grad_(requires_grad)


def arange(start: float, end: float | None = None, step: float = 1, dtype: Any = None,
           device: str | None = None, requires_grad: bool = False) -> Tensor:
    """Values from ``start`` to ``end`` (exclusive): int64 for integer arguments, else the
    default float dtype, as in PyTorch."""
    if end is None:
        start, end = 0, start
    device = backend.normalize_device(device)
    if dtype is None:
        integral = all(isinstance(v, int) for v in (start, end, step))
        dtype = backend.int64 if integral else backend.get_default_dtype()
    data = backend.xp(device).arange(start, end, step, dtype=backend.as_dtype(dtype))
    return wrap(data, device).requires_grad_(requires_grad)


def _random(kind: str, shape: tuple[Any, ...], dtype: Any, device: str | None,
            requires_grad: bool) -> Tensor:
    device = backend.normalize_device(device)
    dtype = backend.get_default_dtype() if dtype is None else backend.as_dtype(dtype)
    gen = backend.generator(device)
    data = getattr(gen, kind)(_shape_arg(shape), dtype=dtype)
    return wrap(data, device).requires_grad_(requires_grad)


def randn(*shape: Any, dtype: Any = None, device: str | None = None,
          requires_grad: bool = False) -> Tensor:
    """Samples of the standard normal distribution (seeded by :func:`manual_seed`)."""
    return _random("standard_normal", shape, dtype, device, requires_grad)


def rand(*shape: Any, dtype: Any = None, device: str | None = None,
         requires_grad: bool = False) -> Tensor:
    """Samples of the uniform distribution on [0, 1) (seeded by :func:`manual_seed`)."""
    return _random("random", shape, dtype, device, requires_grad)


def randint(low: int, high: int, size: tuple[int, ...], dtype: Any = None,
            device: str | None = None) -> Tensor:
    """Random integers in [low, high) (int64 unless ``dtype`` is given)."""
    device = backend.normalize_device(device)
    dtype = backend.int64 if dtype is None else backend.as_dtype(dtype)
    data = backend.generator(device).integers(low, high, size=tuple(size), dtype=dtype)
    return wrap(data, device)
