"""Batch and layer normalisation, sharing one fused op.

Both compute xhat = (x - mean) / sqrt(var + eps) over some axes (the batch for
BatchNorm, the trailing features for LayerNorm), with the biased variance, then
y = weight * xhat + bias. The fused op's backward is the closed form

    dx = inv_std * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)),   dxhat = dy * weight,

instead of a chain of a dozen primitive ops. It is written with tensor ops on graph nodes
for xhat and inv_std (d inv_std / dx = -inv_std^2 xhat / n), so it is differentiable again.

On the GPU (with a weight and a bias of the input's dtype) the elementwise parts are CUDA
kernels (:mod:`minigrad.kernels`): forward, x - mean and its square in one pass, xhat and
the output in another, instead of five; backward without ``create_graph``, dxhat and
dxhat * xhat in one pass and dx in one, instead of six. They perform the array path's
operations in its order, so the results are the same bit for bit; the reductions stay
CuPy's.
"""
from __future__ import annotations

from typing import Any, Sequence

from minigrad import backend, grad_mode, kernels
from minigrad.autograd import no_grad
from minigrad.errors import DeviceError, ShapeError
from minigrad.creation import size_arg
from minigrad.checks import require_floating
from minigrad.tensor import Tensor, wrap, record


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise each channel of ``input`` (N, C) or (N, C, L) (Ioffe & Szegedy, 2015).

    Training: with the batch's mean and biased variance; the running statistics (if given)
    move towards the batch's, r <- (1 - momentum) r + momentum * batch, the variance entering
    unbiased (times n / (n - 1)). Evaluation: with the running statistics.
    """
    require_floating(input, "batch_norm")
    if input.ndim not in (2, 3):
        raise ShapeError(f"batch_norm expects input of shape (N, C) or (N, C, L), got shape "
                         f"{input.shape}")
    channels = input.shape[1]
    axes = (0,) if input.ndim == 2 else (0, 2)
    stat_shape = (channels,) if input.ndim == 2 else (channels, 1)
    _check_params(input, {"running_mean": running_mean, "running_var": running_var,
                          "weight": weight, "bias": bias}, (channels,), "batch_norm")
    if input.ndim == 3:
        weight = None if weight is None else weight.reshape(stat_shape)
        bias = None if bias is None else bias.reshape(stat_shape)
    if not training:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm in evaluation mode needs running_mean and running_var")
        xp = backend.xp(input.device)
        inv_std = 1.0 / xp.sqrt(running_var.array.reshape(stat_shape) + eps)
        out = (input - wrap(running_mean.array.reshape(stat_shape), input.device)) * \
            wrap(inv_std.astype(input.dtype, copy=False), input.device)
        out = out if weight is None else out * weight
        return out if bias is None else out + bias
    count = input.numel() // channels
    if count < 2:
        raise ValueError(f"batch_norm needs more than one value per channel when training, got "
                         f"input of shape {input.shape}")
    out, mean, var = standardize(input, axes, eps, weight, bias)
    if running_mean is not None and running_var is not None:
        with no_grad():
            _blend(running_mean, mean.reshape(channels), momentum)
            _blend(running_var, var.reshape(channels) * (count / (count - 1)), momentum)
    return out


def layer_norm(input: Tensor, normalized_shape: int | Sequence[int],
               weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """Normalise over the trailing dimensions ``normalized_shape`` of each sample (Ba et
    al., 2016), then scale by ``weight`` and shift by ``bias`` (both of that shape)."""
    require_floating(input, "layer_norm")
    shape = _as_shape(normalized_shape)
    if input.shape[input.ndim - len(shape):] != shape or input.ndim < len(shape):
        raise ShapeError(f"layer_norm: the input's trailing dimensions must be {shape}, got "
                         f"input of shape {input.shape}")
    _check_params(input, {"weight": weight, "bias": bias}, shape, "layer_norm")
    axes = tuple(range(input.ndim - len(shape), input.ndim))
    return standardize(input, axes, eps, weight, bias)[0]


def standardize(input: Tensor, axes: tuple[int, ...], eps: float, weight: Tensor | None = None,
                bias: Tensor | None = None) -> tuple[Tensor, Any, Any]:
    """The fused op: weight * (x - mean) / sqrt(var + eps) + bias over ``axes``.

    Returns the output and the batch mean and biased variance (arrays, kept dimensions).
    """
    if input.array.dtype.kind != "f":
        raise TypeError(f"normalization needs a floating-point input, got {input.dtype}")
    xp = backend.xp(input.device)
    x = input.array
    mean = x.mean(axis=axes, keepdims=True)
    fused = weight is not None and bias is not None and kernels.usable(x) and \
        x.dtype == weight.array.dtype == bias.array.dtype
    if fused:
        xhat, squares = xp.empty_like(x), xp.empty_like(x)
        NORM_CENTER(x, mean, xhat, squares)
    else:
        xhat = x - mean
        squares = xhat * xhat
    var = squares.mean(axis=axes, keepdims=True)
    del squares
    inv_std = 1.0 / xp.sqrt(var + eps)
    count = x.size // max(mean.size, 1)
    fused = fused and inv_std.dtype == x.dtype  # (a kernel's arrays share one dtype)
    if fused:
        assert weight is not None and bias is not None
        data = xp.empty_like(x)
        NORM_AFFINE(inv_std, weight.array, bias.array, xhat, data)  # xhat scaled in place
    else:
        xhat *= inv_std  # in place: each large temporary costs page faults on some systems
        if weight is not None:
            data = xhat * weight.array
            if bias is not None:
                data += bias.array
        else:
            data = xhat if bias is None else xhat + bias.array
    parents = tuple(t for t in (input, weight, bias) if t is not None)

    def backward(g: Tensor, out: Tensor) -> list[Tensor | None]:
        normalized = _normalized_node(input, xhat, inv_std, axes, count)
        grads: list[Tensor | None]
        if fused and input.requires_grad and not grad_mode.is_grad_enabled() and \
                g.array.dtype == x.dtype:  # a plain backward: no graph of the gradient
            assert weight is not None
            grads = [wrap(_input_grad(g.array, weight.array, xhat, inv_std, axes, count),
                          input.device)]
        else:
            grads = [_normalized_vjp(g if weight is None else g * weight, normalized, inv_std,
                                     input, axes, count) if input.requires_grad else None]
        if weight is not None:
            grads.append(g * normalized if weight.requires_grad else None)
        if bias is not None:
            grads.append(g)
        return grads
    return record(data, input.device, parents, backward), mean, var


def _normalized_node(input: Tensor, xhat: Any, inv_std: Any, axes: tuple[int, ...],
                     count: int) -> Tensor:
    """xhat, already computed, as a graph node of ``input`` (for differentiable backwards)."""
    return record(xhat, input.device, (input,),
                  lambda g, out: (_normalized_vjp(g, out, inv_std, input, axes, count),))


def _normalized_vjp(g: Tensor, xhat: Tensor, inv_std: Any, input: Tensor,
                    axes: tuple[int, ...], count: int) -> Tensor:
    """The gradient w.r.t. x of sum(g * xhat(x)), in closed form."""
    scale = record(inv_std, input.device, (input,),
                   lambda g2, s: (g2 * s * s * xhat * (-1.0 / count),))
    return scale * (g - g.mean(axes, keepdims=True)
                    - xhat * (g * xhat).mean(axes, keepdims=True))


# The kernels; each performs the array path's operations in its order (see the module doc).
NORM_CENTER = kernels.ElementwiseKernel(
    "norm_center", reads="x, mean", writes="centered, squares", scalars="",
    body="centered = x - mean;\nsquares = centered * centered;")
NORM_AFFINE = kernels.ElementwiseKernel(
    "norm_affine", reads="inv_std, weight, bias", writes="xhat, out", scalars="",
    body="xhat = xhat * inv_std;\nout = xhat * weight + bias;")
NORM_BACKWARD_PRODUCTS = kernels.ElementwiseKernel(
    "norm_backward_products", reads="g, weight, xhat", writes="gw, gwx", scalars="",
    body="gw = g * weight;\ngwx = gw * xhat;")
NORM_BACKWARD_INPUT = kernels.ElementwiseKernel(
    "norm_backward_input", reads="gw, xhat, mean_gw, mean_gwx, inv_std", writes="dx",
    scalars="", body="dx = inv_std * ((gw - mean_gw) - xhat * mean_gwx);")


def _input_grad(g: Any, weight: Any, xhat: Any, inv_std: Any, axes: tuple[int, ...],
                count: int) -> Any:
    """:func:`_normalized_vjp` of ``g * weight`` on arrays, through the kernels: the same
    operations (the means as Tensor.mean takes them: the sum times 1 / count)."""
    xp = backend.xp(backend.device_of(g))
    gw, gwx = xp.empty_like(g), xp.empty_like(g)
    NORM_BACKWARD_PRODUCTS(g, weight, xhat, gw, gwx)
    scale = g.dtype.type(1.0 / count)
    mean_gw = gw.sum(axis=axes, keepdims=True) * scale
    mean_gwx = gwx.sum(axis=axes, keepdims=True) * scale
    NORM_BACKWARD_INPUT(gw, xhat, mean_gw, mean_gwx, inv_std, gwx)  # dx, into gwx's memory
    return gwx


_NUMBERS = (float, int)


def _blend(running: Tensor, batch: Any, momentum: Any) -> None:
    """running <- (1 - momentum) running + momentum batch, in place (its memory is shared
    with state_dict() views). ``momentum`` is a number, or a 0-d array on the device
    (BatchNorm1d's cumulative average on the GPU), which is not read on the host."""
    if momentum.__class__ not in _NUMBERS:  # each factor in its operand's dtype, as a number
        running.array *= (1.0 - momentum).astype(running.array.dtype)
        momentum = momentum.astype(batch.dtype)
    else:
        running.array *= 1.0 - momentum
    running.array += momentum * batch


def _as_shape(shape: int | Sequence[int], where: str = "layer_norm") -> tuple[int, ...]:
    """``normalized_shape`` as a tuple of non-negative ints, or an error naming it."""
    return size_arg(where, (shape,), "normalized_shape")


def _check_params(input: Tensor, params: dict[str, Tensor | None], shape: tuple[int, ...],
                  name: str) -> None:
    for what, param in params.items():
        if param is None:
            continue
        if param.shape != shape:
            raise ShapeError(f"{name}: {what} must have shape {shape} for input of shape "
                             f"{input.shape}, got shape {param.shape}")
        if param.device != input.device:
            raise DeviceError(f"{name}: input is on {input.device} but {what} is on "
                              f"{param.device}; move one with .to(device)")


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Tensor:
    """``input`` divided by its ``p``-norm along ``dim``, the norm clamped to at least ``eps``
    (PyTorch's ``F.normalize``); differentiable."""
    require_floating(input, "normalize")
    norm = input.norm(p, dim, keepdim=True)
    return input / norm.clamp(min=eps)
