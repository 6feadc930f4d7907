"""Stochastic gradient descent, with optional (Nesterov) momentum."""
from __future__ import annotations

from typing import Any

from minigrad import backend
from minigrad.optim.optimizer import Optimizer, ParamsT
from minigrad.tensor import Tensor


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
    """

    def __init__(self, params: ParamsT, lr: float = 1e-3, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False, *,
                 maximize: bool = False) -> None:
        lr = self._scalar_lr(lr)
        self._validate_nonnegative(momentum=momentum, weight_decay=weight_decay)
        self._validate("dampening", dampening, isinstance(dampening, (int, float)),
                       "a number")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("nesterov momentum needs momentum > 0 and dampening == 0, got "
                             f"momentum={momentum}, dampening={dampening}")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize))

    def _update(self, param: Tensor, grad: Any, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        data = param.array
        weight_decay, momentum = group["weight_decay"], group["momentum"]
        if weight_decay:
            grad = grad + weight_decay * data
        if momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = backend.xp(param.device).array(grad)
            else:
                buf *= momentum
                buf += (1.0 - group["dampening"]) * grad
            grad = grad + momentum * buf if group["nesterov"] else buf
        data -= group["lr"] * grad
