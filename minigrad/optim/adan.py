"""Adan: adaptive Nesterov momentum estimated from gradient differences."""
from __future__ import annotations

from typing import Any

from minigrad import backend, kernels
from minigrad.optim.checks import BETA, LR, NONNEGATIVE, Tuple
from minigrad.optim.optimizer import Optimizer, ParamsT, ema_, hyperparameters
from minigrad.tensor import Tensor

BETAS3 = Tuple(BETA, BETA, BETA,
               text="a triple (beta1, beta2, beta3) of finite numbers in [0, 1)")

# the NumPy path's operations in its order; first != 0 at step 1, where the difference is 0
ADAN_KERNEL = kernels.ElementwiseKernel(
    "adan_step", reads="grad", writes="param, exp_avg, exp_avg_diff, exp_avg_sq, prev_grad",
    scalars="first, beta1, one_minus_beta1, beta2, one_minus_beta2, beta3, one_minus_beta3, "
            "inv_bias3, eps_root, eps, diff_scale, inv_bias1, lr",
    body="""
const T diff = first != 0 ? T(0) : grad - prev_grad;
exp_avg = exp_avg * beta1 + grad * one_minus_beta1;
exp_avg_diff = exp_avg_diff * beta2 + diff * one_minus_beta2;
T nesterov = diff * one_minus_beta2 + grad;
nesterov = nesterov * nesterov;
exp_avg_sq = exp_avg_sq * beta3 + nesterov * one_minus_beta3;
const T denom = sqrt(exp_avg_sq * inv_bias3 + eps_root) + eps;
param -= (exp_avg_diff * diff_scale + exp_avg * inv_bias1) / denom * lr;
prev_grad = grad;
""")


class Adan(Optimizer):
    """Adan, ADAptive Nesterov momentum (Xie, Zhou, Li, Lin & Yan 2022, "Adan: Adaptive
    Nesterov Momentum Algorithm for Faster Optimizing Deep Models"), as ``optax.adan``.

    With ``g`` the gradient (negated when ``maximize``), ``g_prev`` the previous step's,
    ``t`` the step count and every buffer zero at the start::

        d = g - g_prev                                  (d = 0 at the first step)
        m = b1 * m + (1 - b1) * g                       (gradient)
        v = b2 * v + (1 - b2) * d                       (gradient difference)
        n = b3 * n + (1 - b3) * (g + (1 - b2) * d)^2    (squared Nesterov term)
        u = (m / (1 - b1^t) + (1 - b2) * v / (1 - b2^t))
            / (sqrt(n / (1 - b3^t) + eps_root) + eps)
        p = p * (1 - lr * wd) - lr * u

    The betas are decay rates of the averages (optax's convention; the paper writes
    ``1 - beta``), and each average is bias-corrected as in optax's code.

    Weight decay is decoupled, as in optax (``wd * p`` of the parameter before the step is
    added to the scaled update). optax's docstring writes the decayed step as
    ``(p - lr * u) / (1 + lr * wd)``, the paper's proximal form; its code (which this
    follows) subtracts ``lr * wd * p``. Defaults are optax's: ``betas=(0.98, 0.92, 0.99)``,
    ``eps=1e-8``, ``eps_root=1e-8``, ``weight_decay=0``; ``lr=1e-3`` is this library's
    choice (optax has no default).

    Valid values: ``lr``, ``eps``, ``eps_root``, ``weight_decay`` finite and >= 0; each beta
    finite in [0, 1).

    On the GPU the update is one fused kernel (minigrad.optim.fused).
    """

    elementwise = True
    zero_state = ("exp_avg", "exp_avg_diff", "exp_avg_sq", "prev_grad")
    weight_decay_kind = "decoupled"
    hyperparameter_checks = {"lr": LR, "betas": BETAS3, "eps": NONNEGATIVE,
                             "eps_root": NONNEGATIVE, "weight_decay": NONNEGATIVE}

    def __init__(self, params: ParamsT, lr: float = 1e-3,
                 betas: tuple[float, float, float] = (0.98, 0.92, 0.99), eps: float = 1e-8,
                 eps_root: float = 1e-8, weight_decay: float = 0.0, *, maximize: bool = False,
                 on_nonfinite: str = "raise", flat: bool = True) -> None:
        super().__init__(params, hyperparameters(locals()), on_nonfinite=on_nonfinite,
                         flat=flat)

    def _update(self, param: Tensor, grad: Any, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        xp = backend.xp(param.device)
        lr = group["lr"]
        beta1, beta2, beta3 = group["betas"]
        step = state["step"]
        exp_avg, exp_avg_diff = state["exp_avg"], state["exp_avg_diff"]
        exp_avg_sq, prev_grad = state["exp_avg_sq"], state["prev_grad"]
        if kernels.usable(param.array):
            ADAN_KERNEL(grad, param.array, exp_avg, exp_avg_diff, exp_avg_sq, prev_grad,
                        first=1.0 if step == 1 else 0.0, beta1=beta1,
                        one_minus_beta1=1.0 - beta1, beta2=beta2, one_minus_beta2=1.0 - beta2,
                        beta3=beta3, one_minus_beta3=1.0 - beta3,
                        inv_bias3=1.0 / (1.0 - beta3 ** step), eps_root=group["eps_root"],
                        eps=group["eps"], diff_scale=(1.0 - beta2) / (1.0 - beta2 ** step),
                        inv_bias1=1.0 / (1.0 - beta1 ** step), lr=lr)
            return
        scratch = xp.empty_like(exp_avg)
        # the difference, kept in prev_grad (the previous gradient is not needed after it)
        diff = prev_grad
        if step == 1:
            diff.fill(0)
        else:
            xp.subtract(grad, prev_grad, out=diff)
        ema_(exp_avg, grad, beta1, scratch)
        ema_(exp_avg_diff, diff, beta2, scratch)
        nesterov = xp.multiply(diff, 1.0 - beta2, out=scratch)
        nesterov += grad
        nesterov *= nesterov
        ema_(exp_avg_sq, nesterov, beta3, scratch)
        denom = xp.multiply(exp_avg_sq, 1.0 / (1.0 - beta3 ** step), out=diff)
        denom += group["eps_root"]
        xp.sqrt(denom, out=denom)
        denom += group["eps"]
        update = xp.multiply(exp_avg_diff, (1.0 - beta2) / (1.0 - beta2 ** step), out=scratch)
        update += exp_avg * (1.0 / (1.0 - beta1 ** step))
        update /= denom
        update *= lr
        param.array -= update
        prev_grad[...] = grad
