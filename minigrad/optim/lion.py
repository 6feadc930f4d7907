"""Lion: the sign of an interpolated momentum as the update."""
from __future__ import annotations

from typing import Any

from minigrad import backend, kernels
from minigrad.optim.checks import BETAS, LR, NONNEGATIVE
from minigrad.optim.optimizer import Optimizer, ParamsT, ema_, hyperparameters
from minigrad.tensor import Tensor

# np.sign's: +0 for either zero, NaN for NaN
LION_KERNEL = kernels.ElementwiseKernel(
    "lion_step", reads="grad", writes="param, exp_avg",
    scalars="beta1, one_minus_beta1, beta2, one_minus_beta2, lr",
    body="""
const T c = exp_avg * beta1 + grad * one_minus_beta1;
const T direction = c > 0 ? T(1) : (c < 0 ? T(-1) : (c == 0 ? T(0) : c));
param = param - lr * direction;
exp_avg = exp_avg * beta2 + grad * one_minus_beta2;
""")


class Lion(Optimizer):
    """Lion, "EvoLved Sign Momentum" (Chen et al. 2023, "Symbolic Discovery of Optimization
    Algorithms"), with the defaults of the ``lion-pytorch`` package.

    With ``g`` the gradient (negated when ``maximize``) and ``m`` the momentum (zero at start)::

        p = p * (1 - lr * wd)                              # decoupled weight decay
        p = p - lr * sign(b1 * m + (1 - b1) * g)           # sign(0) = 0
        m = b2 * m + (1 - b2) * g

    Every coordinate moves by exactly ``lr`` (or not at all), so updates are larger than
    Adam's for the same ``lr``: the paper suggests an ``lr`` 3-10x smaller and a weight decay
    3-10x larger than for AdamW. Weight decay is decoupled (applied to the parameter, scaled
    by ``lr``). Only one buffer is kept, half of Adam's memory. On the GPU the update is one
    fused kernel (minigrad.optim.fused).
    """

    elementwise = True
    zero_state = ("exp_avg",)
    weight_decay_kind = "decoupled"
    hyperparameter_checks = {"lr": LR, "betas": BETAS, "weight_decay": NONNEGATIVE}

    def __init__(self, params: ParamsT, lr: float = 1e-4, betas: tuple[float, float] = (0.9, 0.99),
                 weight_decay: float = 0.0, *, maximize: bool = False,
                 on_nonfinite: str = "raise", flat: bool = True) -> None:
        super().__init__(params, hyperparameters(locals()), on_nonfinite=on_nonfinite,
                         flat=flat)

    def _update(self, param: Tensor, grad: Any, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        xp = backend.xp(param.device)
        data, exp_avg = param.array, state["exp_avg"]
        lr = group["lr"]
        beta1, beta2 = group["betas"]
        if kernels.usable(data):
            LION_KERNEL(grad, data, exp_avg, beta1=beta1, one_minus_beta1=1.0 - beta1,
                        beta2=beta2, one_minus_beta2=1.0 - beta2, lr=lr)
            return
        direction = xp.sign(beta1 * exp_avg + (1.0 - beta1) * grad)
        data -= lr * direction
        ema_(exp_avg, grad, beta2)
