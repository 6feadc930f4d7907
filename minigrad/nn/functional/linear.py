"""The affine map of a fully connected layer, as one op."""
from __future__ import annotations

import weakref
from typing import Any

from minigrad import backend, grad_mode
from minigrad.errors import DeviceError, ShapeError
from minigrad.tensor import Tensor, record, take_grad_spare, wrap


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``input @ weight.T + bias`` for input (*, in), weight (out, in), bias (out,).

    One node in the graph instead of three (transpose, matmul, add), which matters for
    small layers, where Python overhead dominates. Backward, with G the output gradient
    and leading dimensions flattened: dinput = G W, dweight = Gᵀ X, dbias = sum of G's rows.
    """
    _check(input, weight, bias)
    try:
        data = input.array @ weight.array.T
    except ValueError:
        raise ShapeError(f"linear: input of shape {input.shape} does not fit weight of shape "
                         f"{weight.shape}: the input's last dimension must be {weight.shape[1]}"
                         ) from None
    # the input's gradient needs only the weight and the weight's only the input
    for_input = weight if input.requires_grad else None
    for_weight = input if weight.requires_grad else None
    has_bias = bias is not None  # the bias itself is not needed: its gradient is g
    # the weight's values are not needed for its gradient: a weak reference finds its spare
    # array (see Optimizer.zero_grad) without making it a tensor the rule saves
    weight_ref = weakref.ref(weight) if for_weight is not None else None

    def backward(g: Tensor, out: Tensor) -> tuple[Tensor | None, ...]:
        grad_input = None if for_input is None else g @ for_input
        grad_weight = None
        if for_weight is not None:
            rows = g if g.array.ndim == 2 else g.reshape(-1, g.shape[-1])
            inputs = for_weight if for_weight.array.ndim == 2 else \
                for_weight.reshape(-1, for_weight.shape[-1])
            assert weight_ref is not None  # made whenever for_weight is
            into = _spare_for(weight_ref(), rows, inputs)
            if into is None:
                grad_weight = rows.T @ inputs
            else:
                grad_weight = wrap(backend.xp(g.device).matmul(rows.array.T, inputs.array,
                                                               out=into), g.device)
        return (grad_input, grad_weight, g) if has_bias else (grad_input, grad_weight)

    if bias is None:
        return record(data, input.device, (input, weight), backward)
    data += bias.array
    return record(data, input.device, (input, weight, bias), backward)


def _spare_for(weight: Tensor | None, rows: Tensor, inputs: Tensor) -> Any:
    """The array to compute ``weight``'s gradient ``rowsᵀ inputs`` into: its spare (see
    :func:`~minigrad.tensor.take_grad_spare`), when this is the only gradient of a plain
    backward (none accumulated yet, no graph wanted) and both operands are arrays of the
    spare's type and dtype (not while mg.compile records: its arrays are of another type);
    else None."""
    if weight is None:
        return None
    a, b = rows.array, inputs.array
    spare = take_grad_spare(weight, type(a), (a.shape[1], b.shape[1]), a.dtype)
    if spare is not None and weight._grad is None and not grad_mode.is_grad_enabled() and \
            type(b) is type(a) and b.dtype == a.dtype:
        return spare
    return None


def _check(input: Tensor, weight: Tensor, bias: Tensor | None) -> None:
    if not isinstance(input, Tensor):
        raise TypeError(f"linear: input must be a Tensor, got {type(input).__name__}")
    if input.device != weight.device:
        raise DeviceError(f"linear: input is on {input.device} but the weight is on "
                          f"{weight.device}; move one with .to(device)")
    dtype = weight.array.dtype
    if input.array.dtype is not dtype and input.array.dtype != dtype:
        raise TypeError(f"linear: input has dtype {input.dtype} but the weight has dtype "
                        f"{weight.dtype}; convert the input with .to({weight.dtype.name}) or the "
                        f"layer with .to(dtype)")
    if input.array.ndim == 0:
        raise ShapeError("linear: input must have at least one dimension, got a 0-d tensor")
    if bias is not None and (bias.array.ndim != 1 or len(bias.array) != len(weight.array)
                             or bias.device != weight.device
                             or (bias.array.dtype is not dtype and bias.array.dtype != dtype)):
        raise ShapeError(f"linear: bias (shape {bias.shape}, {bias.dtype}, {bias.device}) does "
                         f"not match weight (shape {weight.shape}, {weight.dtype}, "
                         f"{weight.device}): expected shape {weight.shape[:1]}")
