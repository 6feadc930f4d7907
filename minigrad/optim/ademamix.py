"""AdEMAMix: Adam with a second, slow EMA of the gradient mixed into the numerator."""
from __future__ import annotations

import math
from typing import Any

from minigrad import backend, kernels
from minigrad.optim.adan import BETAS3
from minigrad.optim.checks import LR, NONNEGATIVE, Integer, Maybe
from minigrad.optim.optimizer import Optimizer, ParamsT, ema_, hyperparameters
from minigrad.tensor import Tensor

WARMUP = Maybe(Integer(0))

# the NumPy path's operations in its order (beta3 and alpha are this step's, from the host)
ADEMAMIX_KERNEL = kernels.ElementwiseKernel(
    "ademamix_step", reads="grad", writes="param, exp_avg_fast, exp_avg_slow, exp_avg_sq",
    scalars="beta1, one_minus_beta1, beta2, one_minus_beta2, beta3, one_minus_beta3, "
            "inv_sqrt_bias2, eps, inv_bias1, alpha, lr",
    body="""
exp_avg_fast = exp_avg_fast * beta1 + grad * one_minus_beta1;
exp_avg_slow = exp_avg_slow * beta3 + grad * one_minus_beta3;
exp_avg_sq = exp_avg_sq * beta2 + (grad * grad) * one_minus_beta2;
const T denom = sqrt(exp_avg_sq) * inv_sqrt_bias2 + eps;
param -= (exp_avg_fast * inv_bias1 + alpha * exp_avg_slow) / denom * lr;
""")


def alpha_at(step: int, alpha: float, warmup: int | None) -> float:
    """The mixing coefficient at ``step``: linear from 0 to ``alpha`` over ``warmup`` steps."""
    if warmup is None or step >= warmup:
        return alpha
    a = step / float(warmup)
    return a * alpha


def beta3_at(step: int, beta1: float, beta3: float, warmup: int | None) -> float:
    """The slow EMA's decay at ``step``: from ``beta1`` to ``beta3`` over ``warmup`` steps,
    linear in the half-life ``ln(0.5) / ln(beta + 1e-8) - 1`` (the authors' code)."""
    if warmup is None or step >= warmup:
        return beta3
    a = step / float(warmup)
    half_life = ((1.0 - a) * (math.log(0.5) / math.log(beta1 + 1e-8) - 1)
                 + a * (math.log(0.5) / math.log(beta3 + 1e-8) - 1))
    return math.pow(0.5, 1.0 / (half_life + 1))


class AdEMAMix(Optimizer):
    """AdEMAMix (Pagliardini, Ablin & Grangier 2024, "The AdEMAMix Optimizer: Better, Faster,
    Older"), the paper's Algorithm 1 as in the authors' PyTorch code (apple/ml-ademamix).

    With ``g`` the gradient (negated when ``maximize``), ``t`` the step count and every
    buffer zero at the start::

        p = p * (1 - lr * wd)                              (decoupled weight decay)
        m1 = b1 * m1 + (1 - b1) * g                        (fast EMA, bias-corrected)
        m2 = b3(t) * m2 + (1 - b3(t)) * g                  (slow EMA, not corrected)
        v = b2 * v + (1 - b2) * g^2
        p = p - lr * (m1 / (1 - b1^t) + alpha(t) * m2) / (sqrt(v / (1 - b2^t)) + eps)

    The slow EMA (``b3 = 0.9999``: a half-life of about 7000 steps) keeps gradients useful
    for tens of thousands of steps. Without warm-up, ``alpha(t) = alpha`` and ``b3(t) =
    b3``. With ``alpha_warmup = T``, ``alpha(t) = alpha * t / T`` for ``t < T``; with
    ``beta3_warmup = T``, ``b3(t)`` goes from ``b1`` to ``b3`` linearly in the half-life
    ``ln(0.5) / ln(b + 1e-8) - 1`` (the authors' code; the paper writes the same schedule
    without the ``1e-8`` and the ``- 1``). The paper advises a warm-up as long as training
    for both.

    Weight decay is decoupled (as in AdamW; the paper's Algorithm 1 adds ``wd * p`` inside
    the step scaled by ``lr``). Defaults are the authors' code's: ``lr=1e-3, betas=(0.9,
    0.999, 0.9999), alpha=2.0, eps=1e-8, weight_decay=0``, no warm-ups (the paper's
    experiments use larger alphas, with warm-ups). The code skips the fast buffer when
    ``b1 = 0`` to save memory; here it is kept (the same numbers).

    Valid values: ``lr``, ``alpha``, ``eps``, ``weight_decay`` finite and >= 0; each beta in
    [0, 1); each warm-up None or an integer >= 0.

    On the GPU the update is one fused kernel (minigrad.optim.fused).
    """

    elementwise = True
    zero_state = ("exp_avg_fast", "exp_avg_slow", "exp_avg_sq")
    weight_decay_kind = "decoupled"
    hyperparameter_checks = {"lr": LR, "betas": BETAS3, "alpha": NONNEGATIVE,
                             "beta3_warmup": WARMUP, "alpha_warmup": WARMUP,
                             "eps": NONNEGATIVE, "weight_decay": NONNEGATIVE}

    def __init__(self, params: ParamsT, lr: float = 1e-3,
                 betas: tuple[float, float, float] = (0.9, 0.999, 0.9999), alpha: float = 2.0,
                 beta3_warmup: int | None = None, alpha_warmup: int | None = None,
                 eps: float = 1e-8, weight_decay: float = 0.0, *, maximize: bool = False,
                 on_nonfinite: str = "raise", flat: bool = True) -> None:
        super().__init__(params, hyperparameters(locals()), on_nonfinite=on_nonfinite,
                         flat=flat)

    def _update(self, param: Tensor, grad: Any, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        xp = backend.xp(param.device)
        lr = group["lr"]
        beta1, beta2, beta3 = group["betas"]
        step = state["step"]
        alpha = alpha_at(step, group["alpha"], group["alpha_warmup"])
        beta3 = beta3_at(step, beta1, beta3, group["beta3_warmup"])
        fast, slow, exp_avg_sq = state["exp_avg_fast"], state["exp_avg_slow"], state["exp_avg_sq"]
        if kernels.usable(param.array):
            ADEMAMIX_KERNEL(grad, param.array, fast, slow, exp_avg_sq, beta1=beta1,
                            one_minus_beta1=1.0 - beta1, beta2=beta2,
                            one_minus_beta2=1.0 - beta2, beta3=beta3,
                            one_minus_beta3=1.0 - beta3,
                            inv_sqrt_bias2=1.0 / math.sqrt(1.0 - beta2 ** step),
                            eps=group["eps"], inv_bias1=1.0 / (1.0 - beta1 ** step),
                            alpha=alpha, lr=lr)
            return
        scratch = xp.empty_like(fast)
        ema_(fast, grad, beta1, scratch)
        ema_(slow, grad, beta3, scratch)
        ema_(exp_avg_sq, xp.multiply(grad, grad, out=scratch), beta2, scratch)
        denom = xp.sqrt(exp_avg_sq, out=xp.empty_like(exp_avg_sq))
        denom *= 1.0 / math.sqrt(1.0 - beta2 ** step)
        denom += group["eps"]
        numerator = xp.multiply(fast, 1.0 / (1.0 - beta1 ** step), out=scratch)
        numerator += alpha * slow
        numerator /= denom
        numerator *= lr
        param.array -= numerator
