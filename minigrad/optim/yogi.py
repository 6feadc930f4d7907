"""Yogi: Adam with an additive, sign-controlled second-moment update."""
from __future__ import annotations

from typing import Any

from minigrad import backend, kernels
from minigrad.optim.checks import BETAS, LR, NONNEGATIVE
from minigrad.optim.optimizer import Optimizer, ParamsT, ema_, hyperparameters
from minigrad.tensor import Tensor

# the sign is np.sign's (+0 for either zero, NaN for NaN)
YOGI_KERNEL = kernels.ElementwiseKernel(
    "yogi_step", reads="grad", writes="param, exp_avg, exp_avg_sq",
    scalars="beta1, one_minus_beta1, one_minus_beta2, inv_bias_correction2, eps, step_size",
    body="""
exp_avg = exp_avg * beta1 + grad * one_minus_beta1;
const T grad_sq = grad * grad;
const T diff = exp_avg_sq - grad_sq;
const T sign = diff > 0 ? T(1) : (diff < 0 ? T(-1) : (diff == 0 ? T(0) : diff));
exp_avg_sq = exp_avg_sq - (sign * grad_sq) * one_minus_beta2;
param = param - (exp_avg / (sqrt(exp_avg_sq * inv_bias_correction2) + eps)) * step_size;
""")


class Yogi(Optimizer):
    """Yogi (Zaheer, Reddi, Sachan, Kale & Kumar 2018, "Adaptive Methods for Nonconvex
    Optimization"), as ``optax.yogi`` (``optax.scale_by_yogi``).

    With ``g`` the gradient (negated when ``maximize``), ``t`` the step count and both
    moments starting at ``initial_accumulator_value`` (not zero)::

        g = g + wd * p                                  (L2; none by default)
        m = b1 * m + (1 - b1) * g
        v = v - (1 - b2) * sign(v - g^2) * g^2          (sign(0) = 0)
        p = p - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)

    Adam's ``v`` moves towards ``g^2`` by a fraction of their difference, so it can fall fast
    when the gradients shrink and the effective learning rate jumps; Yogi's ``v`` moves by at
    most ``(1 - b2) g^2`` a step, which keeps the effective learning rate from growing
    suddenly. Both moments are bias-corrected and start at 1e-6, as in optax's code.

    Defaults: ``betas=(0.9, 0.999)``, ``eps=1e-3`` (optax's and the paper's: much larger than
    Adam's), ``initial_accumulator_value=1e-6``; ``lr=1e-2`` is the paper's recommendation
    (optax has no default). optax's Yogi has no weight decay; here ``weight_decay`` (default
    0) is L2: added to the gradient, so it goes through the adaptive scaling.

    Valid values: ``lr``, ``eps``, ``weight_decay``, ``initial_accumulator_value`` finite and
    >= 0; each beta finite in [0, 1). On the GPU the update is one fused kernel
    (minigrad.optim.fused).
    """

    elementwise = True
    weight_decay_kind = "l2"
    hyperparameter_checks = {"lr": LR, "betas": BETAS, "eps": NONNEGATIVE,
                             "initial_accumulator_value": NONNEGATIVE,
                             "weight_decay": NONNEGATIVE}

    def __init__(self, params: ParamsT, lr: float = 1e-2, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-3, initial_accumulator_value: float = 1e-6,
                 weight_decay: float = 0.0, *, maximize: bool = False,
                 on_nonfinite: str = "raise", flat: bool = True) -> None:
        super().__init__(params, hyperparameters(locals()), on_nonfinite=on_nonfinite,
                         flat=flat)

    def _init_state(self, param: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = backend.xp(param.device)
        value = group["initial_accumulator_value"]
        state["exp_avg"] = xp.full_like(param.array, value)
        state["exp_avg_sq"] = xp.full_like(param.array, value)

    def _update(self, param: Tensor, grad: Any, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        xp = backend.xp(param.device)
        lr, eps = group["lr"], group["eps"]
        beta1, beta2 = group["betas"]
        step = state["step"]
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        if kernels.usable(param.array):
            YOGI_KERNEL(grad, param.array, exp_avg, exp_avg_sq, beta1=beta1,
                        one_minus_beta1=1.0 - beta1, one_minus_beta2=1.0 - beta2,
                        inv_bias_correction2=1.0 / (1.0 - beta2 ** step), eps=eps,
                        step_size=lr / (1.0 - beta1 ** step))
            return
        scratch = xp.empty_like(exp_avg)
        ema_(exp_avg, grad, beta1, scratch)
        grad_sq = xp.multiply(grad, grad, out=xp.empty_like(exp_avg))
        direction = xp.subtract(exp_avg_sq, grad_sq, out=scratch)
        xp.sign(direction, out=direction)
        direction *= grad_sq
        direction *= 1.0 - beta2
        exp_avg_sq -= direction
        denom = xp.multiply(exp_avg_sq, 1.0 / (1.0 - beta2 ** step), out=scratch)
        xp.sqrt(denom, out=denom)
        denom += eps
        update = xp.divide(exp_avg, denom, out=scratch)
        update *= lr / (1.0 - beta1 ** step)
        param.array -= update
