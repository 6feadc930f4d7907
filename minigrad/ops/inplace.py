"""In-place ops (``t += x``, ``t.mul_(x)``, ``t[i] = v``, ``t.zero_()``), with PyTorch's rules.

* With no graph to record (inside ``no_grad``, or when neither ``t`` nor the other operand
  requires a gradient) the write goes straight into ``t``'s memory.
* A leaf that requires a gradient may not be changed in place while grad mode is on: its
  ``.grad`` would no longer belong to its values. Change it under ``mg.no_grad()``, or
  through ``.data``.
* Otherwise the op is recorded: ``t`` becomes the output of the op applied to its old
  value, which keeps ``t``'s old place in the graph (a copy, as the op's backward may need
  it). Ops recorded before the change still see that old value: the engine routes their
  gradients by the stamp of the change (``t._history``).
* Every write advances ``t``'s version (see :mod:`minigrad.tensor`), so a backward rule that
  saved ``t`` (or a view of its memory) before the write refuses to run.
"""
from __future__ import annotations

import numbers
from typing import Any, Callable

from minigrad import backend, grad_mode
from minigrad.errors import ShapeError
from minigrad.ops import elementwise as ew
from minigrad.ops.movement import describe_index, getitem, host_lists_to_arrays
from minigrad.tensor import Tensor, bump_version, clocks, constant, index_arrays, record, wrap


def _requires_grad(value: Any) -> bool:
    return isinstance(value, Tensor) and value.requires_grad


def check_inplace(t: Tensor, name: str) -> None:
    """Refuse what PyTorch refuses: an in-place change of a leaf that requires grad while
    grad mode is on."""
    if t.requires_grad and t._backward is None and grad_mode.enabled.get():
        raise RuntimeError(
            f"{name}: a leaf tensor that requires grad is being used in an in-place operation; "
            "its .grad would no longer match its values. Update it under `with mg.no_grad():` "
            "or through `.data`")


def apply_(t: Tensor, op: Callable[..., Tensor], name: str, *args: Any) -> Tensor:
    """Give ``t`` the value ``op(t, *args)`` in place, recording the change when needed."""
    if not isinstance(t, Tensor):
        raise TypeError(f"{name} needs a Tensor, got {type(t).__name__}")
    check_inplace(t, name)
    if grad_mode.enabled.get() and (t.requires_grad or any(_requires_grad(a) for a in args)):
        return _recorded(t, op, name, args)
    result = op(t, *args)  # records nothing: grad mode is off, or no input requires grad
    _write(t, result.array, name)
    return t


def _write(t: Tensor, array: Any, name: str) -> None:
    if not getattr(t.array.flags, "writeable", True):
        raise RuntimeError(f"{name}: the tensor written in place is a broadcast view (from "
                           "expand or broadcast_to): several of its elements share one memory "
                           "location. Call .clone() first")
    if array.shape != t.array.shape:
        raise ShapeError(f"{name}: the result has shape {array.shape}, which does not match the "
                         f"shape {t.shape} of the tensor written in place (broadcasting may "
                         "not grow the tensor being written)")
    if array.dtype != t.array.dtype and not backend.numpy.can_cast(array.dtype, t.array.dtype,
                                                                   "same_kind"):
        raise TypeError(f"{name}: the result has dtype {array.dtype}, which can't be written in "
                        f"place into a tensor of dtype {t.dtype}")
    if array is not t.array:
        t.array[...] = array
    bump_version(t)


def _recorded(t: Tensor, op: Callable[..., Tensor], name: str, args: tuple) -> Tensor:
    base = t._base
    if base is not None and t.array is not base.array:  # a view into part of base's memory
        if base.requires_grad and base._backward is None:
            raise RuntimeError(f"{name}: a view of a leaf tensor that requires grad is being "
                               "used in an in-place operation; change the leaf under "
                               "`with mg.no_grad():`")
        raise RuntimeError(
            f"{name}: in-place change of a view (made by reshape, transpose, indexing, "
            "...) is not supported while the graph is recorded: the tensor it views "
            "would keep its old gradient rule. Change the base tensor (base[index] = value), "
            "or use the out-of-place op")
    old = wrap(t.array.copy(), t.device)  # t's old value keeps t's old place in the graph
    old.requires_grad, old._backward, old._parents = t.requires_grad, t._backward, t._parents
    if t._backward is not None:
        old._stamp = t._stamp
        if t._grad_fn_name is not None:
            old._grad_fn_name = t._grad_fn_name
    result = op(old, *args)
    _write(t, result.array, name)
    t.requires_grad = result.requires_grad
    t._backward, t._parents = result._backward, result._parents
    t._stamp = clocks.rebase = clocks.now
    history = t._history or []
    history.append((clocks.now, old))
    t._history = history
    return t


def resolve(parent: Tensor, stamp: int) -> Tensor:
    """The identity ``parent`` had for an op recorded at ``stamp``: its value before every
    in-place change made after that op."""
    for changed_at, old in parent._history:  # type: ignore[union-attr]
        if changed_at > stamp:
            return old
    return parent


# --- the in-place ops ---------------------------------------------------------------------

def add_(t: Tensor, other: Any) -> Tensor: return apply_(t, ew.add, "add_", other)
def sub_(t: Tensor, other: Any) -> Tensor: return apply_(t, ew.sub, "sub_", other)
def mul_(t: Tensor, other: Any) -> Tensor: return apply_(t, ew.mul, "mul_", other)
def div_(t: Tensor, other: Any) -> Tensor: return apply_(t, ew.div, "div_", other)
def pow_(t: Tensor, other: Any) -> Tensor: return apply_(t, ew.pow, "pow_", other)
def neg_(t: Tensor) -> Tensor: return apply_(t, ew.neg, "neg_")
def exp_(t: Tensor) -> Tensor: return apply_(t, ew.exp, "exp_")
def sqrt_(t: Tensor) -> Tensor: return apply_(t, ew.sqrt, "sqrt_")
def abs_(t: Tensor) -> Tensor: return apply_(t, ew.abs, "abs_")
def relu_(t: Tensor) -> Tensor: return apply_(t, ew.relu, "relu_")
def sigmoid_(t: Tensor) -> Tensor: return apply_(t, ew.sigmoid, "sigmoid_")
def tanh_(t: Tensor) -> Tensor: return apply_(t, ew.tanh, "tanh_")


def clamp_(t: Tensor, min: Any = None, max: Any = None) -> Tensor:
    return apply_(t, ew.clamp, "clamp_", min, max)


def masked_fill_(t: Tensor, mask: Any, value: Any) -> Tensor:
    return apply_(t, ew.masked_fill, "masked_fill_", mask, value)


def _filled(t: Tensor, value: Any) -> Tensor:
    """A tensor of ``t``'s shape holding ``value``; it depends on ``value`` (if a tensor)
    but not on ``t``, whose gradient it cuts."""
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise ShapeError(f"fill_: value must be a number or a one-element tensor, got shape "
                             f"{value.shape}")
        return ew.mul(value.reshape(()), wrap(backend.xp(t.device).ones_like(t.array), t.device))
    if not isinstance(value, numbers.Number) and \
            getattr(getattr(value, "dtype", None), "kind", "") not in tuple("biufc"):
        raise TypeError(f"fill_: value must be a number or a one-element tensor, got {value!r} "
                        f"({type(value).__name__})")
    return record(backend.xp(t.device).full_like(t.array, value), t.device, (t,),
                  lambda g, out: (None,))


def fill_(t: Tensor, value: Any) -> Tensor:
    return apply_(t, _filled, "fill_", value)


def _copied(t: Tensor, src: Any) -> Tensor:
    """``src`` broadcast to ``t``'s shape, on ``t``'s device and in its dtype."""
    if not isinstance(src, Tensor):
        src = constant(src, t)
    src = src.to(device=t.device, dtype=t.dtype)
    try:
        return src if src.shape == t.shape else src.broadcast_to(t.shape)
    except ShapeError:
        raise ShapeError(f"copy_: source of shape {src.shape} does not broadcast to the "
                         f"destination's shape {t.shape}") from None


def copy_(t: Tensor, src: Any) -> Tensor:
    """Copy ``src``'s values into ``t`` (broadcast, converted to t's dtype and device)."""
    return apply_(t, _copied, "copy_", src)


def _random_fill(t: Tensor, kind: str, name: str, *params: float) -> Tensor:
    check_inplace(t, name)
    if t.array.dtype.kind != "f":
        raise TypeError(f"{name} needs a floating-point tensor, got {t.dtype}")
    gen = backend.generator(t.device)
    sample = getattr(gen, kind)(*params, size=t.shape)
    with grad_mode.set_grad_enabled(False):
        return apply_(t, lambda target: wrap(sample.astype(target.dtype), target.device), name)


def uniform_(t: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    """Fill ``t`` with samples of U(a, b) from minigrad's generator."""
    if not a <= b:  # also NaN
        raise ValueError(f"uniform_: expects from <= to for the range [from, to), got "
                         f"from={a!r}, to={b!r}")
    return _random_fill(t, "uniform", "uniform_", a, b)


def normal_(t: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    """Fill ``t`` with samples of N(mean, std^2) from minigrad's generator."""
    if not std >= 0:  # also NaN
        raise ValueError(f"normal_: std must be >= 0, got std={std!r}")
    return _random_fill(t, "normal", "normal_", mean, std)


# --- t[index] = value ---------------------------------------------------------------------

def index_put(t: Tensor, index: Any, value: Any) -> Tensor:
    """A copy of ``t`` with ``value`` (broadcast) written at ``index``: the gradient goes to
    ``value`` from the written places and to ``t`` from the others."""
    if not isinstance(value, Tensor):
        value = constant(value, t)
    if t.array.dtype.kind in "iub" and value.array.dtype.kind in "fc" and \
            not bool(backend.xp(t.device).isfinite(value.array).all()):
        raise ValueError(f"t[index] = value: NaN or inf can't be written into a tensor of dtype "
                         f"{t.dtype}")
    array = t.array.copy()
    try:
        array[index] = value.array
    except ValueError:
        part = t.array[index].shape
        raise ShapeError(f"t[index] = value: value of shape {value.shape} does not fit the "
                         f"indexed part, of shape {part}") from None
    except IndexError as exc:
        raise IndexError(f"t[index] = value: {describe_index(index)} does not index a tensor of "
                         f"shape {t.shape}: {exc}") from None
    kept = backend.xp(t.device).ones(t.shape, dtype=bool)
    kept[index] = False
    keep = wrap(kept, t.device)

    need_t, need_value = t.requires_grad, value.requires_grad

    def backward(g: Tensor, out: Tensor) -> tuple:
        return (g * keep if need_t else None, getitem(g, index) if need_value else None)
    return record(array, t.device, (t, value), backward)


def setitem(t: Tensor, index: Any, value: Any) -> None:
    """``t[index] = value``."""
    index = host_lists_to_arrays(index_arrays(index), t.device)
    apply_(t, index_put, "t[index] = value", index, value)
