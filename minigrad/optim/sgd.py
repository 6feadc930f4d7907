"""Stochastic gradient descent, with optional (Nesterov) momentum."""
from __future__ import annotations

from typing import Any

from minigrad import backend, kernels
from minigrad.optim.checks import LR, NONNEGATIVE, UNIT, Rule
from minigrad.optim.optimizer import Optimizer, ParamsT, hyperparameters
from minigrad.tensor import Tensor

SGD_KERNEL = kernels.ElementwiseKernel(
    "sgd_step", reads="grad", writes="param", scalars="lr", body="param -= lr * grad;")
# first: 1 at the buffer's first step, where it becomes a copy of the gradient (the host
# allocates it uninitialised); one_minus_dampening is 1.0 without dampening, and 1.0 * grad
# is grad exactly, as the NumPy path's plain ``buf += grad``
_SGD_MOMENTUM_BODY = """
if (first != 0) {{
    momentum_buffer = grad;
}} else {{
    momentum_buffer = momentum_buffer * momentum + one_minus_dampening * grad;
}}
param -= lr * {direction};
"""
_SGD_MOMENTUM_SCALARS = "lr, momentum, one_minus_dampening, first"
SGD_MOMENTUM_KERNEL = kernels.ElementwiseKernel(
    "sgd_momentum_step", reads="grad", writes="param, momentum_buffer",
    scalars=_SGD_MOMENTUM_SCALARS, body=_SGD_MOMENTUM_BODY.format(direction="momentum_buffer"))
SGD_NESTEROV_KERNEL = kernels.ElementwiseKernel(
    "sgd_nesterov_step", reads="grad", writes="param, momentum_buffer",
    scalars=_SGD_MOMENTUM_SCALARS,
    body=_SGD_MOMENTUM_BODY.format(direction="(grad + momentum * momentum_buffer)"))


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, as ``torch.optim.SGD``.

    With ``g`` the gradient (negated when ``maximize``) and ``wd`` the weight decay::

        g = g + wd * p                                  # L2 (coupled) weight decay
        b = g                          at the first step
        b = momentum * b + (1 - dampening) * g          afterwards
        g = g + momentum * b   if nesterov   else   b
        p = p - lr * g

    Weight decay is L2: it is added to the gradient, so it also flows through momentum.
    ``lr`` multiplies the whole buffer when it is used (not each gradient as it enters, as
    in Sutskever et al. 2013, "On the importance of initialization and momentum in deep
    learning"), so changing ``lr`` rescales past gradients too. Nesterov momentum needs
    ``momentum > 0`` and ``dampening == 0``.

    Valid values: ``lr`` and ``weight_decay`` finite and >= 0; ``momentum`` and ``dampening``
    finite in [0, 1] (PyTorch checks only ``momentum >= 0``; a momentum above 1 makes the
    buffer grow geometrically, a dampening outside [0, 1] flips or amplifies the gradient).

    On the GPU the update is one fused kernel (minigrad.optim.fused).
    """

    elementwise = True
    weight_decay_kind = "l2"
    hyperparameter_checks = {"lr": LR, "momentum": UNIT, "dampening": UNIT,
                             "weight_decay": NONNEGATIVE}
    group_checks = (Rule(lambda g: not g.get("nesterov") or (g["momentum"] > 0
                                                             and g["dampening"] == 0),
                         "nesterov momentum needs momentum > 0 and dampening == 0",
                         ("nesterov", "momentum", "dampening")),)

    def __init__(self, params: ParamsT, lr: float = 1e-3, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False, *,
                 maximize: bool = False, on_nonfinite: str = "raise", flat: bool = True) -> None:
        super().__init__(params, hyperparameters(locals()), on_nonfinite=on_nonfinite,
                         flat=flat)

    def _sliceable(self, state: dict[str, Any], group: dict[str, Any]) -> bool:
        # the momentum buffer is made at its first step; after that, updated in place
        return not group["momentum"] or state.get("momentum_buffer") is not None

    def _update(self, param: Tensor, grad: Any, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        data = param.array
        momentum = group["momentum"]
        if kernels.usable(data):
            if not momentum:
                SGD_KERNEL(grad, data, lr=group["lr"])
                return
            buf = state.get("momentum_buffer")
            first = buf is None
            if first:
                buf = state["momentum_buffer"] = backend.xp(param.device).empty_like(grad)
            dampening = group["dampening"]
            kernel = SGD_NESTEROV_KERNEL if group["nesterov"] else SGD_MOMENTUM_KERNEL
            kernel(grad, data, buf, lr=group["lr"], momentum=momentum,
                   one_minus_dampening=1.0 - dampening if dampening else 1.0,
                   first=1.0 if first else 0.0)
            return
        if momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = backend.xp(param.device).array(grad)
            else:
                buf *= momentum
                dampening = group["dampening"]
                # 1.0 * grad is grad exactly: without dampening, no temporary and no pass
                buf += (1.0 - dampening) * grad if dampening else grad
            grad = grad + momentum * buf if group["nesterov"] else buf
        data -= group["lr"] * grad
