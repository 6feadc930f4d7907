"""AdaBelief: Adam whose step size follows the belief in the gradient, not its magnitude."""
from __future__ import annotations

import math
from typing import Any

from minigrad import backend, kernels
from minigrad.optim.checks import BETAS, LR, NONNEGATIVE
from minigrad.optim.optimizer import Optimizer, ParamsT, ema_, hyperparameters
from minigrad.optim.radam import rectification
from minigrad.tensor import Tensor

_ADABELIEF_MOMENTS = """
exp_avg = exp_avg * beta1 + grad * one_minus_beta1;
const T residual = grad - exp_avg;
exp_avg_var = exp_avg_var * beta2 + (residual * residual) * one_minus_beta2;
exp_avg_var = exp_avg_var + eps;
"""
_ADABELIEF_AMSGRAD = "max_exp_avg_var = max(max_exp_avg_var, exp_avg_var);"
_ADABELIEF_STEPS = {  # rectify -> (extra scalars, the parameter's update)
    False: (", sqrt_bias_correction2",  # the paper's step
            "param = param - (step_size * exp_avg) / (sqrt({s}) / sqrt_bias_correction2 + eps);"),
    # rectify: the momentum step while rho_t <= 5 (rectified = 0), then the rectified step
    # (rectified = 1), as the host decides from the step count: one kernel for both
    True: (", rectified", """
if (rectified != 0) {{
  param = param - (step_size * exp_avg) / (sqrt({s}) + eps);
}} else {{
  param = param - step_size * exp_avg;
}}"""),
}


def _adabelief_kernel(amsgrad: bool, rectify: bool) -> kernels.ElementwiseKernel:
    scalars, update = _ADABELIEF_STEPS[rectify]
    second = "max_exp_avg_var" if amsgrad else "exp_avg_var"
    return kernels.ElementwiseKernel(
        f"adabelief{'_amsgrad' if amsgrad else ''}{'_rectified' if rectify else ''}_step",
        reads="grad",
        writes="param, exp_avg, exp_avg_var" + (", max_exp_avg_var" if amsgrad else ""),
        scalars="beta1, one_minus_beta1, beta2, one_minus_beta2, eps, step_size" + scalars,
        body=_ADABELIEF_MOMENTS + (_ADABELIEF_AMSGRAD if amsgrad else "") + "\n"
        + update.format(s=second))


# (amsgrad, rectify) -> kernel
ADABELIEF_KERNELS = {(amsgrad, rectify): _adabelief_kernel(amsgrad, rectify)
                     for amsgrad in (False, True) for rectify in (False, True)}


class AdaBelief(Optimizer):
    """AdaBelief (Zhuang et al. 2020, "AdaBelief Optimizer: Adapting Stepsizes by the Belief
    in Observed Gradients").

    Adam's second moment of ``g`` is replaced by the variance of ``g`` around its running
    mean ``m``: the step is large where the gradient is predictable and small where it is
    noisy. With ``g`` the gradient (negated when ``maximize``) and ``t`` the step count::

        p = p * (1 - lr * wd)          (decoupled, default)   or   g = g + wd * p   (L2)
        m = b1 * m + (1 - b1) * g
        s = b2 * s + (1 - b2) * (g - m)^2 + eps            # eps enters the state each step
        s_max = max(s_max, s)          (amsgrad only; then s_max replaces s below)
        p = p - lr / (1 - b1^t) * m / (sqrt(s / (1 - b2^t)) + eps)

    ``rectify=True`` applies RAdam's variance rectification ``r_t`` (Liu et al. 2020, see
    :class:`~minigrad.optim.radam.RAdam`): while the length of the approximated moving average
    ``rho_t`` is at most 5 the step is plain momentum SGD, ``p = p - lr / (1 - b1^t) * m``;
    afterwards it is ``p = p - lr * r_t * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(s) + eps)``.
    (The authors' code switches at ``rho_t >= 5``; the two differ only when it is exactly 5.)

    Defaults are the paper's algorithm (``rectify=False``, decoupled weight decay), as in
    ``pytorch_optimizer``; the authors' ``adabelief_pytorch`` >= 0.2 defaults to
    ``rectify=True``. ``decoupled_weight_decay`` is that package's ``weight_decouple``. Its small
    default ``eps=1e-16`` is intended: eps is also added inside ``s``. On the GPU the update
    is one fused kernel (minigrad.optim.fused); with ``rectify`` the host chooses the
    rectified or the momentum step from the step count.
    """

    elementwise = True
    zero_state = ("exp_avg", "exp_avg_var", ("max_exp_avg_var", "amsgrad"))
    weight_decay_kind = "l2"
    hyperparameter_checks = {"lr": LR, "betas": BETAS, "eps": NONNEGATIVE,
                             "weight_decay": NONNEGATIVE}

    def __init__(self, params: ParamsT, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-16, weight_decay: float = 0.0, amsgrad: bool = False, *,
                 decoupled_weight_decay: bool = True, rectify: bool = False,
                 maximize: bool = False, on_nonfinite: str = "raise", flat: bool = True) -> None:
        super().__init__(params, hyperparameters(locals()), on_nonfinite=on_nonfinite,
                         flat=flat)

    def _update(self, param: Tensor, grad: Any, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        xp = backend.xp(param.device)
        data = param.array
        lr, eps = group["lr"], group["eps"]
        beta1, beta2 = group["betas"]
        step = state["step"]
        exp_avg, belief = state["exp_avg"], state["exp_avg_var"]
        if kernels.usable(data):
            self._fused_update(data, grad, state, group)
            return
        ema_(exp_avg, grad, beta1)
        residual = grad - exp_avg
        ema_(belief, residual * residual, beta2)
        belief += eps
        if group["amsgrad"]:
            belief = xp.maximum(state["max_exp_avg_var"], belief, out=state["max_exp_avg_var"])
        bias_correction1 = 1.0 - beta1 ** step
        bias_correction2 = 1.0 - beta2 ** step
        if not group["rectify"]:
            denom = xp.sqrt(belief) / math.sqrt(bias_correction2) + eps
            data -= lr / bias_correction1 * exp_avg / denom
            return
        rectifier = rectification(beta2, step)
        if rectifier is None:  # too few steps for a trustworthy variance estimate
            data -= lr / bias_correction1 * exp_avg
        else:
            step_size = lr * rectifier * math.sqrt(bias_correction2) / bias_correction1
            data -= step_size * exp_avg / (xp.sqrt(belief) + eps)


    def _fused_update(self, data: Any, grad: Any, state: dict[str, Any],
                      group: dict[str, Any]) -> None:
        """The step of :meth:`_update` as one kernel: the same operations, in its order."""
        lr, eps = group["lr"], group["eps"]
        beta1, beta2 = group["betas"]
        step = state["step"]
        bias_correction1 = 1.0 - beta1 ** step
        bias_correction2 = 1.0 - beta2 ** step
        scalars = dict(beta1=beta1, one_minus_beta1=1.0 - beta1, beta2=beta2,
                       one_minus_beta2=1.0 - beta2, eps=eps)
        if not group["rectify"]:
            scalars.update(step_size=lr / bias_correction1,
                           sqrt_bias_correction2=math.sqrt(bias_correction2))
        else:
            rectifier = rectification(beta2, step)
            if rectifier is None:
                scalars.update(rectified=0.0, step_size=lr / bias_correction1)
            else:
                scalars.update(rectified=1.0, step_size=lr * rectifier
                               * math.sqrt(bias_correction2) / bias_correction1)
        arrays = [grad, data, state["exp_avg"], state["exp_avg_var"]]
        if group["amsgrad"]:
            arrays.append(state["max_exp_avg_var"])
        ADABELIEF_KERNELS[group["amsgrad"], group["rectify"]](*arrays, **scalars)
