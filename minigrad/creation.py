"""Functions that make new tensors: from data, filled with constants, ranges, random."""
from __future__ import annotations

import math
import numbers
import operator
from typing import Any, Sequence

from minigrad import backend
from minigrad.checks import require_tensor
from minigrad.tensor import Tensor, to_array, wrap


# --- argument checks ----------------------------------------------------------------------

def size_arg(func: str, size: Sequence[Any], arg: str = "size") -> tuple[int, ...]:
    """``f(2, 3)`` and ``f((2, 3))`` both as the shape (2, 3), checked: a TypeError naming
    ``func`` and ``arg`` for a size that is not an int, a ValueError for a negative one
    (NumPy's own messages name neither). Python ints pass with one cheap look each."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    for s in size:
        if type(s) is not int or s < 0:
            return _checked_ints(func, arg, tuple(size), sequence=True)
    return tuple(size)


def count_arg(func: str, value: Any, arg: str) -> int:
    """A single non-negative int argument (``eye``'s n, ``randperm``'s n, ``steps``),
    checked as :func:`size_arg` checks each size."""
    if type(value) is int and value >= 0:
        return value
    return _checked_ints(func, arg, (value,), sequence=False)[0]


def _checked_ints(func: str, arg: str, values: tuple[Any, ...], sequence: bool) -> tuple[int, ...]:
    """The slow path of the size checks: ints of other types (NumPy's, a 0-d int tensor) are
    accepted, as in PyTorch; what is no int, or negative, raises naming ``arg``."""
    shown = values if sequence else values[0]
    what = "non-negative ints" if sequence else "a non-negative int"
    out = []
    for v in values:
        if isinstance(v, bool) or not hasattr(v, "__index__"):
            raise TypeError(f"{func}: {arg} must be {what}, got {shown!r} "
                            f"({type(v).__name__} {v!r})")
        try:
            out.append(operator.index(v))
        except TypeError:  # e.g. a float tensor, whose __index__ refuses
            raise TypeError(f"{func}: {arg} must be {what}, got {shown!r} "
                            f"({type(v).__name__})") from None
    if any(v < 0 for v in out):
        raise ValueError(f"{func}: {arg} must be {what}, got {shown!r}")
    return tuple(out)


def _floating_dtype(func: str, dtype: Any) -> Any:
    """``dtype`` (default: the default dtype) for a function that draws floats."""
    if dtype is None:
        return backend.get_default_dtype()
    dtype = backend.as_dtype(dtype)
    if dtype not in backend.FLOAT_DTYPES:
        raise TypeError(f"{func}: dtype must be a floating dtype (float16, float32 or float64), "
                        f"got {dtype}")
    return dtype


def _fill_value(func: str, value: Any) -> Any:
    """A number (or a one-element tensor) to fill with; a TypeError naming fill_value else."""
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise ValueError(f"{func}: fill_value must be a number or a one-element tensor, got "
                             f"a tensor of shape {tuple(value.shape)}")
        return value.item()
    if not isinstance(value, numbers.Number) and \
            getattr(getattr(value, "dtype", None), "kind", "") not in tuple("biufc"):
        raise TypeError(f"{func}: fill_value must be a number, got {value!r} "
                        f"({type(value).__name__})")
    return value


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None,
           device: str | None = None) -> Tensor:
    """A new tensor holding a copy of ``data`` (a list, number, array or tensor).

    Python floats become the default dtype (float32), Python ints int64, bools bool;
    arrays keep their dtype. ``device`` defaults to the array's own, else the default.
    """
    try:
        array, device = to_array(data, dtype, device)
    except TypeError:
        _explain_bad_data(data, dtype)
        raise
    if dtype is None and array.dtype == backend.float64 and array.size == 0 \
            and isinstance(data, (list, tuple)):
        array = array.astype(backend.get_default_dtype())  # [] and [[], []], as in PyTorch
    elif array.dtype.kind == "f" and isinstance(data, (list, tuple)) and array.size \
            and backend.xp(device).isnan(array).any():
        _explain_bad_data(data, dtype)  # NumPy reads None as NaN for a float dtype
    return wrap(array, device).requires_grad_(requires_grad)


def _explain_bad_data(data: Any, dtype: Any) -> None:
    """After a failed (or suspicious) conversion of nested Python data: raise naming the
    first element that is no number, or an int too large for int64; return if none is."""
    stack: list[tuple[tuple[int, ...], Any]] = \
        [((), data)] if isinstance(data, (list, tuple)) else []
    if not stack:
        _explain_element((), data, dtype)
        return
    while stack:
        where, item = stack.pop()
        if isinstance(item, (list, tuple)):
            stack.extend(((*where, i), x) for i, x in reversed(list(enumerate(item))))
        else:
            _explain_element(where, item, dtype)


def _explain_element(where: tuple[int, ...], item: Any, dtype: Any) -> None:
    at = f" at index {list(where)}" if where else ""
    if item is None:
        raise TypeError(f"cannot make a tensor: None{at} is not a number (could not infer a "
                        "dtype for NoneType)")
    if isinstance(item, (str, bytes)):
        raise TypeError(f"cannot make a tensor: {item!r}{at} is a {type(item).__name__}; strings "
                        "are not numbers (convert them first, e.g. with float(...))")
    if isinstance(item, int) and not isinstance(item, bool) and dtype is None \
            and not -2 ** 63 <= item < 2 ** 63:
        raise ValueError(f"cannot make a tensor: {item}{at} is too large for int64 (overflow); "
                         "pass dtype=mg.float64 for a float")


def _filled(fill: str, shape: tuple[Any, ...], dtype: Any, device: str | None,
            requires_grad: bool, value: Any = None, func: str | None = None) -> Tensor:
    func = func or fill
    device = backend.normalize_device(device)
    dtype = backend.get_default_dtype() if dtype is None else backend.as_dtype(dtype)
    xp = backend.xp(device)
    shape = size_arg(func, shape)
    if fill == "full":
        data = xp.full(shape, _fill_value(func, value), dtype=dtype)
    else:
        data = getattr(xp, fill)(shape, dtype=dtype)
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
    require_tensor(t, "zeros_like")
    return zeros(t.shape, dtype=dtype or t.dtype, device=device or t.device,
                 requires_grad=requires_grad)


def ones_like(t: Tensor, dtype: Any = None, device: str | None = None,
              requires_grad: bool = False) -> Tensor:
    require_tensor(t, "ones_like")
    return ones(t.shape, dtype=dtype or t.dtype, device=device or t.device,
                requires_grad=requires_grad)


def eye(n: int, m: int | None = None, dtype: Any = None, device: str | None = None,
        requires_grad: bool = False) -> Tensor:
    n = count_arg("eye", n, "n")
    m = None if m is None else count_arg("eye", m, "m")
    device = backend.normalize_device(device)
    dtype = backend.get_default_dtype() if dtype is None else backend.as_dtype(dtype)
    return wrap(backend.xp(device).eye(n, m, dtype=dtype), device).requires_grad_(requires_grad)


def arange(start: float, end: float | None = None, step: float = 1, dtype: Any = None,
           device: str | None = None, requires_grad: bool = False) -> Tensor:
    """Values from ``start`` to ``end`` (exclusive): int64 for integer arguments, else the
    default float dtype, as in PyTorch."""
    if end is None:
        start, end = 0, start
    _check_range(start, end, step)
    device = backend.normalize_device(device)
    if dtype is None:
        integral = all(isinstance(v, int) for v in (start, end, step))
        dtype = backend.int64 if integral else backend.get_default_dtype()
    data = backend.xp(device).arange(start, end, step, dtype=backend.as_dtype(dtype))
    return wrap(data, device).requires_grad_(requires_grad)


def _check_range(start: Any, end: Any, step: Any) -> None:
    """PyTorch's checks of arange's bounds: finite, a nonzero step that points from start
    towards end (or start == end)."""
    try:
        lo, hi, by = float(start), float(end), float(step)
    except (TypeError, ValueError):
        raise TypeError(f"arange: start, end and step must be numbers, got start={start!r}, "
                        f"end={end!r}, step={step!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and math.isfinite(by)):
        raise ValueError(f"arange: unsupported range {start!r} -> {end!r} (step {step!r}): "
                         "the bounds and the step must be finite, not nan or inf")
    if by == 0:
        raise ValueError("arange: step must be nonzero")
    if (by > 0 and hi < lo) or (by < 0 and hi > lo):
        raise ValueError(f"arange: the upper bound and lower bound are inconsistent with the "
                         f"step sign (start={start!r}, end={end!r}, step={step!r})")


def _random(kind: str, shape: tuple[Any, ...], dtype: Any, device: str | None,
            requires_grad: bool) -> Tensor:
    func = "randn" if kind == "standard_normal" else "rand"
    shape = size_arg(func, shape)
    dtype = _floating_dtype(func, dtype)
    device = backend.normalize_device(device)
    gen = backend.generator(device)
    if dtype == backend.float16:  # NumPy draws no half floats: draw float32 and round
        data = getattr(gen, kind)(shape, dtype=backend.float32).astype(dtype)
    else:
        data = getattr(gen, kind)(shape, dtype=dtype)
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
    if not isinstance(size, (tuple, list)):
        raise TypeError(f"randint: size must be a tuple of ints, got {size!r} "
                        f"({type(size).__name__})")
    size = size_arg("randint", tuple(size))
    if not low < high:
        raise ValueError(f"randint: low must be less than high, got low={low!r} >= high={high!r}")
    device = backend.normalize_device(device)
    dtype = backend.int64 if dtype is None else backend.as_dtype(dtype)
    data = backend.generator(device).integers(low, high, size=size, dtype=dtype)
    return wrap(data, device)


def empty(*shape: Any, dtype: Any = None, device: str | None = None,
          requires_grad: bool = False) -> Tensor:
    """A tensor whose values are whatever the memory held (zeros here, for repeatability)."""
    return _filled("zeros", shape, dtype, device, requires_grad, func="empty")


def empty_like(t: Tensor, dtype: Any = None, device: str | None = None,
               requires_grad: bool = False) -> Tensor:
    require_tensor(t, "empty_like")
    return zeros_like(t, dtype=dtype, device=device, requires_grad=requires_grad)


def full_like(t: Tensor, fill_value: float, dtype: Any = None, device: str | None = None,
              requires_grad: bool = False) -> Tensor:
    require_tensor(t, "full_like")
    return full(t.shape, fill_value, dtype=dtype or t.dtype, device=device or t.device,
                requires_grad=requires_grad)


def linspace(start: float, end: float, steps: int, dtype: Any = None, device: str | None = None,
             requires_grad: bool = False) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end``, both included."""
    device = backend.normalize_device(device)
    dtype = backend.get_default_dtype() if dtype is None else backend.as_dtype(dtype)
    steps = count_arg("linspace", steps, "steps")
    data = backend.xp(device).linspace(start, end, steps, dtype=dtype)
    return wrap(data, device).requires_grad_(requires_grad)


def logspace(start: float, end: float, steps: int, base: float = 10.0, dtype: Any = None,
             device: str | None = None, requires_grad: bool = False) -> Tensor:
    """``base ** linspace(start, end, steps)``."""
    device = backend.normalize_device(device)
    dtype = backend.get_default_dtype() if dtype is None else backend.as_dtype(dtype)
    data = backend.xp(device).logspace(start, end, count_arg("logspace", steps, "steps"), base=base)
    return wrap(data.astype(dtype), device).requires_grad_(requires_grad)


def randn_like(t: Tensor, dtype: Any = None, device: str | None = None,
               requires_grad: bool = False) -> Tensor:
    require_tensor(t, "randn_like")
    return randn(t.shape, dtype=dtype or t.dtype, device=device or t.device,
                 requires_grad=requires_grad)


def rand_like(t: Tensor, dtype: Any = None, device: str | None = None,
              requires_grad: bool = False) -> Tensor:
    require_tensor(t, "rand_like")
    return rand(t.shape, dtype=dtype or t.dtype, device=device or t.device,
                requires_grad=requires_grad)


def randint_like(t: Tensor, low: int, high: int | None = None, dtype: Any = None,
                 device: str | None = None) -> Tensor:
    require_tensor(t, "randint_like")
    if high is None:
        low, high = 0, low
    return randint(low, high, t.shape, dtype=dtype or t.dtype, device=device or t.device)


def randperm(n: int, dtype: Any = None, device: str | None = None) -> Tensor:
    """A random permutation of 0..n-1 (int64 unless ``dtype`` is given)."""
    device = backend.normalize_device(device)
    dtype = backend.int64 if dtype is None else backend.as_dtype(dtype)
    data = backend.generator(device).permutation(count_arg("randperm", n, "n")).astype(dtype)
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
