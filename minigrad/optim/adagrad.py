"""Adagrad: per-coordinate step sizes from the sum of all past squared gradients."""
from __future__ import annotations

from typing import Any

from minigrad import backend, kernels
from minigrad.optim.checks import LR, NONNEGATIVE
from minigrad.optim.optimizer import Optimizer, ParamsT, hyperparameters
from minigrad.tensor import Tensor

ADAGRAD_KERNEL = kernels.ElementwiseKernel(
    "adagrad_step", reads="grad", writes="param, state_sum", scalars="eps, lr",
    body="""
state_sum += grad * grad;
param -= grad / (sqrt(state_sum) + eps) * lr;
""")


class Adagrad(Optimizer):
    """Adagrad (Duchi, Hazan & Singer 2011, "Adaptive Subgradient Methods for Online Learning
    and Stochastic Optimization"), as ``torch.optim.Adagrad``.

    With ``g`` the gradient (negated when ``maximize``) and ``t`` the step count::

        g = g + wd * p                                  # L2 (coupled) weight decay
        lr_t = lr / (1 + (t - 1) * lr_decay)
        s = s + g^2                                     # s starts at initial_accumulator_value
        p = p - lr_t * g / (sqrt(s) + eps)

    Weight decay is L2: added to the gradient, so it is also scaled by ``1 / sqrt(s)``.
    The accumulator ``state["sum"]`` is created at a parameter's first step (PyTorch
    creates it in the constructor; the values are the same).

    On the GPU the update is one fused kernel (minigrad.optim.fused).
    """

    elementwise = True
    weight_decay_kind = "l2"
    hyperparameter_checks = {"lr": LR, "lr_decay": NONNEGATIVE, "weight_decay": NONNEGATIVE,
                             "initial_accumulator_value": NONNEGATIVE, "eps": NONNEGATIVE}

    def __init__(self, params: ParamsT, lr: float = 1e-2, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0,
                 eps: float = 1e-10, *, maximize: bool = False,
                 on_nonfinite: str = "raise", flat: bool = True) -> None:
        super().__init__(params, hyperparameters(locals()), on_nonfinite=on_nonfinite,
                         flat=flat)

    def _init_state(self, param: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        state["sum"] = backend.xp(param.device).full_like(
            param.array, group["initial_accumulator_value"])

    def _update(self, param: Tensor, grad: Any, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        xp = backend.xp(param.device)
        data = param.array
        lr = group["lr"] / (1.0 + (state["step"] - 1) * group["lr_decay"])
        if kernels.usable(data):
            ADAGRAD_KERNEL(grad, data, state["sum"], eps=group["eps"], lr=lr)
            return
        scratch = xp.multiply(grad, grad, out=xp.empty_like(data))
        state["sum"] += scratch
        denom = xp.sqrt(state["sum"], out=scratch)
        denom += group["eps"]
        update = xp.divide(grad, denom, out=scratch)
        update *= lr
        data -= update
