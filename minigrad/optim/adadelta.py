"""Adadelta: step sizes from the ratio of running RMS of updates to running RMS of gradients."""
from __future__ import annotations

from typing import Any

from minigrad import backend, kernels
from minigrad.optim.checks import LR, NONNEGATIVE, UNIT
from minigrad.optim.optimizer import Optimizer, ParamsT, ema_, hyperparameters
from minigrad.tensor import Tensor

ADADELTA_KERNEL = kernels.ElementwiseKernel(
    "adadelta_step", reads="grad", writes="param, square_avg, acc_delta",
    scalars="rho, one_minus_rho, eps, lr", body="""
square_avg = square_avg * rho + (grad * grad) * one_minus_rho;
const T delta = sqrt(acc_delta + eps) / sqrt(square_avg + eps) * grad;
acc_delta = acc_delta * rho + (delta * delta) * one_minus_rho;
param -= delta * lr;
""")


class Adadelta(Optimizer):
    """Adadelta (Zeiler 2012, "ADADELTA: An Adaptive Learning Rate Method"), as
    ``torch.optim.Adadelta``.

    With ``g`` the gradient (negated when ``maximize``)::

        g = g + wd * p                                  # L2 (coupled) weight decay
        v = rho * v + (1 - rho) * g^2
        delta = sqrt(u + eps) / sqrt(v + eps) * g       # u: running average of delta^2
        u = rho * u + (1 - rho) * delta^2
        p = p - lr * delta

    The paper has no learning rate; ``lr`` (default 1.0) scales the update, as in PyTorch.
    Weight decay is L2: added to the gradient.

    On the GPU the update is one fused kernel (minigrad.optim.fused).
    """

    elementwise = True
    zero_state = ("square_avg", "acc_delta")
    weight_decay_kind = "l2"
    hyperparameter_checks = {"lr": LR, "rho": UNIT, "eps": NONNEGATIVE,
                             "weight_decay": NONNEGATIVE}

    def __init__(self, params: ParamsT, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0.0, *, maximize: bool = False,
                 on_nonfinite: str = "raise", flat: bool = True) -> None:
        super().__init__(params, hyperparameters(locals()), on_nonfinite=on_nonfinite,
                         flat=flat)

    def _update(self, param: Tensor, grad: Any, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        xp = backend.xp(param.device)
        data = param.array
        rho, eps = group["rho"], group["eps"]
        if kernels.usable(data):
            ADADELTA_KERNEL(grad, data, state["square_avg"], state["acc_delta"], rho=rho,
                            one_minus_rho=1.0 - rho, eps=eps, lr=group["lr"])
            return
        scratch = xp.multiply(grad, grad, out=xp.empty_like(data))
        ema_(state["square_avg"], scratch, rho, scratch)
        std = xp.add(state["square_avg"], eps, out=scratch)
        xp.sqrt(std, out=std)
        delta = xp.add(state["acc_delta"], eps, out=xp.empty_like(data))
        xp.sqrt(delta, out=delta)
        delta /= std
        delta *= grad
        ema_(state["acc_delta"], xp.multiply(delta, delta, out=scratch), rho, scratch)
        delta *= group["lr"]
        data -= delta
