"""NAdam: Adam with Nesterov momentum and a warming-up momentum schedule."""
from __future__ import annotations

from typing import Any

from minigrad import backend, kernels
from minigrad.optim import fused
from minigrad.optim.adam import update_moments_
from minigrad.optim.checks import BETAS, LR, NONNEGATIVE
from minigrad.optim.optimizer import Optimizer, ParamsT, hyperparameters
from minigrad.tensor import Tensor

NADAM_KERNEL = kernels.ElementwiseKernel(
    "nadam_step", reads="grad", writes="param, exp_avg, exp_avg_sq",
    scalars="beta1, one_minus_beta1, beta2, one_minus_beta2, bias_correction2, eps, "
            "grad_coef, momentum_coef",
    body=fused.ADAM_MOMENTS + """const T denom = sqrt(exp_avg_sq / bias_correction2) + eps;
param = param - (grad / denom) * grad_coef;
param = param - (exp_avg / denom) * momentum_coef;
""")


class NAdam(Optimizer):
    """NAdam (Dozat 2016, "Incorporating Nesterov Momentum into Adam"), as ``torch.optim.NAdam``.

    With ``g`` the gradient (negated when ``maximize``), ``t`` the step count and
    ``psi = momentum_decay``::

        g = g + wd * p              (L2, default)   or   p = p * (1 - lr * wd)   (decoupled)
        mu_t = b1 * (1 - 0.5 * 0.96^(t psi)) ;  mu_{t+1} = b1 * (1 - 0.5 * 0.96^((t+1) psi))
        M_t = mu_1 * ... * mu_t                          # state["mu_product"]
        m = b1 * m + (1 - b1) * g ;  v = b2 * v + (1 - b2) * g^2
        d = sqrt(v / (1 - b2^t)) + eps
        p = p - lr * (1 - mu_t) / (1 - M_t) * g / d
              - lr * mu_{t+1} / (1 - M_t mu_{t+1}) * m / d

    Weight decay is L2 (coupled) unless ``decoupled_weight_decay=True`` (AdamW-style, as in
    Loshchilov & Hutter 2019). On the GPU the update is one fused kernel
    (minigrad.optim.fused); ``mu_product`` stays a Python float on the host.
    """

    elementwise = True
    zero_state = ("exp_avg", "exp_avg_sq")
    weight_decay_kind = "l2"
    hyperparameter_checks = {"lr": LR, "betas": BETAS, "eps": NONNEGATIVE,
                             "weight_decay": NONNEGATIVE, "momentum_decay": NONNEGATIVE}

    def __init__(self, params: ParamsT, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, *, maximize: bool = False,
                 on_nonfinite: str = "raise", flat: bool = True) -> None:
        super().__init__(params, hyperparameters(locals()), on_nonfinite=on_nonfinite,
                         flat=flat)

    def _init_state(self, param: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        super()._init_state(param, state, group)
        state["mu_product"] = 1.0

    def _update(self, param: Tensor, grad: Any, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        xp = backend.xp(param.device)
        data = param.array
        lr = group["lr"]
        beta1, beta2 = group["betas"]
        step, psi = state["step"], group["momentum_decay"]
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (step * psi))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * psi))
        mu_product = state["mu_product"] = state["mu_product"] * mu
        if kernels.usable(data):
            NADAM_KERNEL(grad, data, state["exp_avg"], state["exp_avg_sq"],
                         beta1=beta1, one_minus_beta1=1.0 - beta1, beta2=beta2,
                         one_minus_beta2=1.0 - beta2, bias_correction2=1.0 - beta2 ** step,
                         eps=group["eps"], grad_coef=lr * (1.0 - mu) / (1.0 - mu_product),
                         momentum_coef=lr * mu_next / (1.0 - mu_product * mu_next))
            return
        scratch = update_moments_(state, grad, group["betas"], xp)
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        denom = xp.divide(exp_avg_sq, 1.0 - beta2 ** step, out=scratch)
        xp.sqrt(denom, out=denom)
        denom += group["eps"]
        gradient_part = xp.divide(grad, denom, out=xp.empty_like(data))
        gradient_part *= lr * (1.0 - mu) / (1.0 - mu_product)
        data -= gradient_part
        momentum_part = xp.divide(exp_avg, denom, out=denom)
        momentum_part *= lr * mu_next / (1.0 - mu_product * mu_next)
        data -= momentum_part
