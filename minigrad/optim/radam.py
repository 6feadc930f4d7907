"""RAdam: Adam whose adaptive step is switched on only once its variance is trustworthy."""
from __future__ import annotations

import math
from typing import Any

from minigrad import backend, kernels
from minigrad.optim import fused
from minigrad.optim.adam import update_moments_
from minigrad.optim.checks import BETAS, LR, NONNEGATIVE
from minigrad.optim.optimizer import Optimizer, ParamsT, hyperparameters
from minigrad.tensor import Tensor


def rectification(beta2: float, step: int, threshold: float = 5.0) -> float | None:
    """RAdam's variance rectification term ``r_t``, or None while ``rho_t <= threshold``.

    ``rho_t`` is the length of the approximated simple moving average behind the second
    moment; while it is short (the first steps) the adaptive learning rate has a large
    variance, and RAdam falls back to a momentum step. Shared with Ranger.
    """
    rho_inf = 2.0 / (1.0 - beta2) - 1.0
    beta2_t = beta2 ** step
    rho_t = rho_inf - 2.0 * step * beta2_t / (1.0 - beta2_t)
    if rho_t <= threshold:
        return None
    return math.sqrt((rho_t - 4.0) * (rho_t - 2.0) * rho_inf
                     / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t))


# rectified (1 while rho_t > 5, decided on the host from the step count): the adaptive step,
# scaled by step_size (negative); otherwise (0) the un-rectified momentum step, lr / (1 - b1^t)
# = momentum_step_size. One kernel for both, so that every step count launches it.
RADAM_KERNEL = kernels.ElementwiseKernel(
    "radam_step", reads="grad", writes="param, exp_avg, exp_avg_sq",
    scalars="beta1, one_minus_beta1, beta2, one_minus_beta2, rectified, eps, step_size, "
            "momentum_step_size",
    body=fused.ADAM_MOMENTS + """if (rectified != 0) {
  param = param + (exp_avg / (sqrt(exp_avg_sq) + eps)) * step_size;
} else {
  param = param - momentum_step_size * exp_avg;
}
""")


class RAdam(Optimizer):
    """Rectified Adam (Liu et al. 2020, "On the Variance of the Adaptive Learning Rate and
    Beyond"), as ``torch.optim.RAdam``.

    With ``g`` the gradient (negated when ``maximize``) and ``t`` the step count::

        g = g + wd * p              (L2, default)   or   p = p * (1 - lr * wd)   (decoupled)
        m = b1 * m + (1 - b1) * g ;   v = b2 * v + (1 - b2) * g^2
        m_hat = m / (1 - b1^t)
        rho_inf = 2 / (1 - b2) - 1 ;   rho_t = rho_inf - 2 t b2^t / (1 - b2^t)
        if rho_t > 5:  r = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
                       p = p - lr * r * m_hat * sqrt(1 - b2^t) / (sqrt(v) + eps)
        else:          p = p - lr * m_hat                      (un-rectified: momentum SGD)

    With the default ``b2 = 0.999`` the first five steps are un-rectified. Weight decay is L2
    (coupled, added to the gradient) unless ``decoupled_weight_decay=True`` (AdamW-style).
    On the GPU the update is one fused kernel (minigrad.optim.fused); the host chooses the
    rectified or the un-rectified step from the step count.
    """

    elementwise = True
    zero_state = ("exp_avg", "exp_avg_sq")
    weight_decay_kind = "l2"
    hyperparameter_checks = {"lr": LR, "betas": BETAS, "eps": NONNEGATIVE,
                             "weight_decay": NONNEGATIVE}

    def __init__(self, params: ParamsT, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0,
                 decoupled_weight_decay: bool = False, *, maximize: bool = False,
                 on_nonfinite: str = "raise", flat: bool = True) -> None:
        super().__init__(params, hyperparameters(locals()), on_nonfinite=on_nonfinite,
                         flat=flat)

    def _update(self, param: Tensor, grad: Any, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        xp = backend.xp(param.device)
        data = param.array
        lr = group["lr"]
        beta1, beta2 = group["betas"]
        step = state["step"]
        if kernels.usable(data):
            step_size = lr / (1.0 - beta1 ** step)
            rect = rectification(beta2, step)
            RADAM_KERNEL(grad, data, state["exp_avg"], state["exp_avg_sq"], beta1=beta1,
                         one_minus_beta1=1.0 - beta1, beta2=beta2, one_minus_beta2=1.0 - beta2,
                         rectified=float(rect is not None), eps=group["eps"],
                         step_size=0.0 if rect is None else
                         -step_size * rect * math.sqrt(1.0 - beta2 ** step),
                         momentum_step_size=step_size)
            return
        scratch = update_moments_(state, grad, group["betas"], xp)
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        step_size = lr / (1.0 - beta1 ** step)
        rect = rectification(beta2, step)
        if rect is None:
            data -= step_size * exp_avg
            return
        denom = xp.sqrt(exp_avg_sq, out=scratch)
        denom += group["eps"]
        update = xp.divide(exp_avg, denom, out=scratch)
        update *= -step_size * rect * math.sqrt(1.0 - beta2 ** step)
        data += update
