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
    """A tensor of ``shape`` holding ``fill_value``; without ``dtype``, the value's kind
    chooses it as in PyTorch (bool, int64, or the default float dtype)."""
    if dtype is None and isinstance(fill_value, (bool, int)):
        dtype = backend.bool_ if isinstance(fill_value, bool) else backend.int64
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


def randint(low: int, high: Any = None, size: Any = None, dtype: Any = None,
            device: str | None = None) -> Tensor:
    """Random integers in [low, high) (int64 unless ``dtype`` is given); like PyTorch,
    ``randint(high, size)`` starts at 0."""
    if size is None:
        if high is None:
            raise TypeError("randint needs a size: randint(low, high, size) or randint(high, size)")
        low, high, size = 0, low, high
    device = backend.normalize_device(device)
    dtype = backend.int64 if dtype is None else backend.as_dtype(dtype)
    data = backend.generator(device).integers(low, high, size=tuple(size), dtype=dtype)
    return wrap(data, device)


def empty(*shape: Any, dtype: Any = None, device: str | None = None,
          requires_grad: bool = False) -> Tensor:
    """A tensor whose values are whatever the memory held (zeros here, for repeatability)."""
    return _filled("zeros", shape, dtype, device, requires_grad)


def empty_like(t: Tensor, dtype: Any = None, device: str | None = None,
               requires_grad: bool = False) -> Tensor:
    return zeros_like(t, dtype=dtype, device=device, requires_grad=requires_grad)


def full_like(t: Tensor, fill_value: float, dtype: Any = None, device: str | None = None,
              requires_grad: bool = False) -> Tensor:
    return full(t.shape, fill_value, dtype=dtype or t.dtype, device=device or t.device,
                requires_grad=requires_grad)


def linspace(start: float, end: float, steps: int, dtype: Any = None, device: str | None = None,
             requires_grad: bool = False) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end``, both included."""
    device = backend.normalize_device(device)
    dtype = backend.get_default_dtype() if dtype is None else backend.as_dtype(dtype)
    data = backend.xp(device).linspace(start, end, _count(steps, "linspace"), dtype=dtype)
    return wrap(data, device).requires_grad_(requires_grad)


def logspace(start: float, end: float, steps: int, base: float = 10.0, dtype: Any = None,
             device: str | None = None, requires_grad: bool = False) -> Tensor:
    """``base ** linspace(start, end, steps)``."""
    device = backend.normalize_device(device)
    dtype = backend.get_default_dtype() if dtype is None else backend.as_dtype(dtype)
    data = backend.xp(device).logspace(start, end, _count(steps, "logspace"), base=base)
    return wrap(data.astype(dtype), device).requires_grad_(requires_grad)


def _count(steps: Any, name: str) -> int:
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"{name}: steps must be a non-negative int, got {steps!r}")
    return steps


def randn_like(t: Tensor, dtype: Any = None, device: str | None = None,
               requires_grad: bool = False) -> Tensor:
    return randn(t.shape, dtype=dtype or t.dtype, device=device or t.device,
                 requires_grad=requires_grad)


def rand_like(t: Tensor, dtype: Any = None, device: str | None = None,
              requires_grad: bool = False) -> Tensor:
    return rand(t.shape, dtype=dtype or t.dtype, device=device or t.device,
                requires_grad=requires_grad)


def randint_like(t: Tensor, low: int, high: int | None = None, dtype: Any = None,
                 device: str | None = None) -> Tensor:
    if high is None:
        low, high = 0, low
    return randint(low, high, t.shape, dtype=dtype or t.dtype, device=device or t.device)


def randperm(n: int, dtype: Any = None, device: str | None = None) -> Tensor:
    """A random permutation of 0..n-1 (int64 unless ``dtype`` is given)."""
    device = backend.normalize_device(device)
    dtype = backend.int64 if dtype is None else backend.as_dtype(dtype)
    data = backend.generator(device).permutation(_count(n, "randperm")).astype(dtype)
    return wrap(data, device)


def from_numpy(array: Any) -> Tensor:
    """A CPU tensor sharing ``array``'s memory: writes through either show in both."""
    numpy = backend.xp("cpu")
    if not isinstance(array, numpy.ndarray):
        raise TypeError(f"from_numpy expects a numpy.ndarray, got {type(array).__name__}")
    if array.dtype.kind not in "biufc":
        raise TypeError(f"from_numpy: can't convert an array of dtype {array.dtype}")
    return wrap(array, backend.CPU)


def as_tensor(data: Any, dtype: Any = None, device: str | None = None) -> Tensor:
    """``data`` as a tensor, sharing its memory when it already is an array (or tensor) of
    the asked dtype on the asked device; copying otherwise."""
    if isinstance(data, Tensor):
        return data.to(device=device, dtype=dtype) if device or dtype else data
    if backend.is_array(data):
        want_device = backend.normalize_device(device) if device else backend.device_of(data)
        if want_device == backend.device_of(data) and (dtype is None or
                                                       backend.as_dtype(dtype) == data.dtype):
            return wrap(data, want_device)
    return tensor(data, dtype=dtype, device=device)


def _typed(dtype: Any, name: str) -> Any:
    def make(*data: Any, device: str | None = None) -> Tensor:
        return Tensor(*data, dtype=dtype, device=device)
    make.__name__ = make.__qualname__ = name
    make.__doc__ = (f"PyTorch's legacy ``{name}(data)`` / ``{name}(*shape)``: a tensor of "
                    f"dtype {dtype}.")
    return make


FloatTensor = _typed(backend.float32, "FloatTensor")
DoubleTensor = _typed(backend.float64, "DoubleTensor")
HalfTensor = _typed(backend.float16, "HalfTensor")
LongTensor = _typed(backend.int64, "LongTensor")
IntTensor = _typed(backend.int32, "IntTensor")
BoolTensor = _typed(backend.bool_, "BoolTensor")
ByteTensor = _typed(backend.uint8, "ByteTensor")
