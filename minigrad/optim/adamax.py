"""Adamax: Adam with the infinity norm of past gradients in the denominator."""
from __future__ import annotations

from typing import Any

from minigrad import backend, kernels
from minigrad.optim.checks import BETAS, LR, NONNEGATIVE
from minigrad.optim.optimizer import Optimizer, ParamsT, ema_, hyperparameters
from minigrad.tensor import Tensor

ADAMAX_KERNEL = kernels.ElementwiseKernel(
    "adamax_step", reads="grad", writes="param, exp_avg, exp_inf",
    scalars="beta1, one_minus_beta1, beta2, eps, step_size", body="""
exp_avg = exp_avg * beta1 + grad * one_minus_beta1;
exp_inf = max(exp_inf * beta2, fabs(grad) + eps);
param -= exp_avg / exp_inf * step_size;
""")


class Adamax(Optimizer):
    """Adamax (Kingma & Ba 2015, "Adam: A Method for Stochastic Optimization", section 7.1),
    as ``torch.optim.Adamax``.

    With ``g`` the gradient (negated when ``maximize``) and ``t`` the step count::

        g = g + wd * p                                  # L2 (coupled) weight decay
        m = b1 * m + (1 - b1) * g
        u = max(b2 * u, |g| + eps)
        p = p - lr / (1 - b1^t) * m / u

    Weight decay is L2: added to the gradient.

    On the GPU the update is one fused kernel (minigrad.optim.fused).
    """

    elementwise = True
    zero_state = ("exp_avg", "exp_inf")
    weight_decay_kind = "l2"
    hyperparameter_checks = {"lr": LR, "betas": BETAS, "eps": NONNEGATIVE,
                             "weight_decay": NONNEGATIVE}

    def __init__(self, params: ParamsT, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, *, maximize: bool = False,
                 on_nonfinite: str = "raise", flat: bool = True) -> None:
        super().__init__(params, hyperparameters(locals()), on_nonfinite=on_nonfinite,
                         flat=flat)

    def _update(self, param: Tensor, grad: Any, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        xp = backend.xp(param.device)
        data = param.array
        beta1, beta2 = group["betas"]
        exp_avg, exp_inf = state["exp_avg"], state["exp_inf"]
        if kernels.usable(data):
            ADAMAX_KERNEL(grad, data, exp_avg, exp_inf, beta1=beta1, one_minus_beta1=1.0 - beta1,
                          beta2=beta2, eps=group["eps"],
                          step_size=group["lr"] / (1.0 - beta1 ** state["step"]))
            return
        scratch = xp.empty_like(data)
        ema_(exp_avg, grad, beta1, scratch)
        xp.abs(grad, out=scratch)
        scratch += group["eps"]
        exp_inf *= beta2
        xp.maximum(exp_inf, scratch, out=exp_inf)
        update = xp.divide(exp_avg, exp_inf, out=scratch)
        update *= group["lr"] / (1.0 - beta1 ** state["step"])
        data -= update
