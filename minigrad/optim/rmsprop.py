"""RMSprop: gradients divided by a running root-mean-square of recent gradients."""
from __future__ import annotations

from typing import Any

from minigrad import backend, kernels
from minigrad.optim.checks import LR, NONNEGATIVE, UNIT
from minigrad.optim.optimizer import Optimizer, ParamsT, ema_, hyperparameters, zeros_state
from minigrad.tensor import Tensor

_RMSPROP_BODY = """
square_avg = square_avg * alpha + (grad * grad) * one_minus_alpha;
{denom}
const T update = grad / (denom + eps);
{apply}
"""
_PLAIN_DENOM = "const T denom = sqrt(square_avg);"
_CENTERED_DENOM = """grad_avg = grad_avg * alpha + grad * one_minus_alpha;
const T denom = sqrt(square_avg - grad_avg * grad_avg);"""
_PLAIN_APPLY = "param -= update * lr;"
_MOMENTUM_APPLY = """momentum_buffer = momentum_buffer * momentum + update;
param -= momentum_buffer * lr;"""
_RMSPROP_SCALARS = "alpha, one_minus_alpha, eps, lr"
RMSPROP_KERNEL = kernels.ElementwiseKernel(
    "rmsprop_step", reads="grad", writes="param, square_avg", scalars=_RMSPROP_SCALARS,
    body=_RMSPROP_BODY.format(denom=_PLAIN_DENOM, apply=_PLAIN_APPLY))
RMSPROP_CENTERED_KERNEL = kernels.ElementwiseKernel(
    "rmsprop_centered_step", reads="grad", writes="param, square_avg, grad_avg",
    scalars=_RMSPROP_SCALARS, body=_RMSPROP_BODY.format(denom=_CENTERED_DENOM,
                                                        apply=_PLAIN_APPLY))
RMSPROP_MOMENTUM_KERNEL = kernels.ElementwiseKernel(
    "rmsprop_momentum_step", reads="grad", writes="param, square_avg, momentum_buffer",
    scalars=_RMSPROP_SCALARS + ", momentum",
    body=_RMSPROP_BODY.format(denom=_PLAIN_DENOM, apply=_MOMENTUM_APPLY))
RMSPROP_CENTERED_MOMENTUM_KERNEL = kernels.ElementwiseKernel(
    "rmsprop_centered_momentum_step", reads="grad",
    writes="param, square_avg, grad_avg, momentum_buffer",
    scalars=_RMSPROP_SCALARS + ", momentum",
    body=_RMSPROP_BODY.format(denom=_CENTERED_DENOM, apply=_MOMENTUM_APPLY))


class RMSprop(Optimizer):
    """RMSprop (Hinton, Coursera lecture 6e, 2012; centered form from Graves 2013,
    "Generating Sequences With Recurrent Neural Networks"), as ``torch.optim.RMSprop``.

    With ``g`` the gradient (negated when ``maximize``)::

        g = g + wd * p                                  # L2 (coupled) weight decay
        v = alpha * v + (1 - alpha) * g^2
        centered:  a = alpha * a + (1 - alpha) * g ;  d = sqrt(v - a^2) + eps
        otherwise: d = sqrt(v) + eps
        momentum > 0:  b = momentum * b + g / d ;  p = p - lr * b      (b starts at zero)
        otherwise:     p = p - lr * g / d

    Weight decay is L2: added to the gradient before the squared average.

    On the GPU the update is one fused kernel (minigrad.optim.fused).
    """

    elementwise = True
    zero_state = ("square_avg",)
    weight_decay_kind = "l2"
    hyperparameter_checks = {"lr": LR, "alpha": UNIT, "eps": NONNEGATIVE,
                             "weight_decay": NONNEGATIVE, "momentum": UNIT}

    def __init__(self, params: ParamsT, lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0,
                 centered: bool = False, *, maximize: bool = False,
                 on_nonfinite: str = "raise", flat: bool = True) -> None:
        super().__init__(params, hyperparameters(locals()), on_nonfinite=on_nonfinite,
                         flat=flat)

    def _update(self, param: Tensor, grad: Any, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        xp = backend.xp(param.device)
        data = param.array
        alpha, momentum = group["alpha"], group["momentum"]
        if kernels.usable(data):
            scalars = dict(alpha=alpha, one_minus_alpha=1.0 - alpha, eps=group["eps"],
                           lr=group["lr"])
            arrays = [grad, data, state["square_avg"]]
            if group["centered"]:
                arrays.append(_buffer(state, "grad_avg", param))
            if momentum > 0:
                arrays.append(_buffer(state, "momentum_buffer", param))
                kernel = (RMSPROP_CENTERED_MOMENTUM_KERNEL if group["centered"]
                          else RMSPROP_MOMENTUM_KERNEL)
                kernel(*arrays, momentum=momentum, **scalars)
            else:
                kernel = RMSPROP_CENTERED_KERNEL if group["centered"] else RMSPROP_KERNEL
                kernel(*arrays, **scalars)
            return
        scratch = xp.multiply(grad, grad, out=xp.empty_like(data))
        ema_(state["square_avg"], scratch, alpha, scratch)
        if group["centered"]:
            grad_avg = _buffer(state, "grad_avg", param)
            ema_(grad_avg, grad, alpha, scratch)
            xp.multiply(grad_avg, grad_avg, out=scratch)
            xp.subtract(state["square_avg"], scratch, out=scratch)
            denom = xp.sqrt(scratch, out=scratch)
        else:
            denom = xp.sqrt(state["square_avg"], out=scratch)
        denom += group["eps"]
        update = xp.divide(grad, denom, out=scratch)
        if momentum > 0:
            buf = _buffer(state, "momentum_buffer", param)
            buf *= momentum
            buf += update
            update = xp.multiply(buf, group["lr"], out=scratch)
        else:
            update *= group["lr"]
        data -= update


def _buffer(state: dict[str, Any], key: str, param: Tensor) -> Any:
    """``state[key]``, created as zeros the first time (also when an option is switched on
    mid-training, e.g. momentum set by a cyclic scheduler)."""
    buf = state.get(key)
    if buf is None:
        buf = state[key] = zeros_state(param)
    return buf
