"""Adam and AdamW: adaptive moment estimation, with L2 or decoupled weight decay."""
from __future__ import annotations

import math
from typing import Any

from minigrad import backend, kernels
from minigrad.optim import fused
from minigrad.optim.checks import BETAS, LR, NONNEGATIVE
from minigrad.optim.optimizer import Optimizer, ParamsT, ema_, hyperparameters
from minigrad.tensor import Tensor


def update_moments_(state: dict[str, Any], grad: Any, betas: tuple[float, float], xp: Any) -> Any:
    """Adam's moment estimates, in place: ``exp_avg`` m = b1 m + (1 - b1) g and ``exp_avg_sq``
    v = b2 v + (1 - b2) g^2 (shared by Adam, NAdam and RAdam). Returns a scratch array shaped
    like ``grad`` that the caller may overwrite."""
    beta1, beta2 = betas
    scratch = xp.empty_like(state["exp_avg"])
    ema_(state["exp_avg"], grad, beta1, scratch)
    ema_(state["exp_avg_sq"], xp.multiply(grad, grad, out=scratch), beta2, scratch)
    return scratch


_ADAM_BODY = fused.ADAM_MOMENTS + """{amsgrad}
param += exp_avg / (sqrt({second}) * inv_sqrt_bias2 + eps) * step_size;
"""
_ADAM_SCALARS = "beta1, one_minus_beta1, beta2, one_minus_beta2, inv_sqrt_bias2, eps, step_size"
# (the AMSGrad variant: NumPy's maximum, NaN and ties included)
ADAM_KERNEL, AMSGRAD_KERNEL = fused.with_amsgrad("adam_step", "amsgrad_step", _ADAM_SCALARS,
                                                 _ADAM_BODY)

class Adam(Optimizer):
    """Adam (Kingma & Ba 2015, "Adam: A Method for Stochastic Optimization"), as
    ``torch.optim.Adam``.

    With ``g`` the gradient (negated when ``maximize``) and ``t`` the parameter's step count::

        g = g + wd * p                 (L2, default)   or   p = p * (1 - lr * wd)   (decoupled)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g^2
        v_max = max(v_max, v)          (amsgrad only; then v_max replaces v below)
        p = p - lr / (1 - b1^t) * m / (sqrt(v / (1 - b2^t)) + eps)

    Weight decay is L2 (coupled: added to the gradient, so it is rescaled by the adaptive
    denominator) unless ``decoupled_weight_decay=True``, which shrinks the parameter directly,
    as in AdamW (Loshchilov & Hutter 2019). ``amsgrad`` is the variant of Reddi et al. 2018,
    "On the Convergence of Adam and Beyond", keeping the running maximum of ``v``.

    Valid values (PyTorch's, plus finiteness): ``lr``, ``eps``, ``weight_decay`` finite and
    >= 0; each beta finite in [0, 1).
    """

    elementwise = True
    zero_state = ("exp_avg", "exp_avg_sq", ("max_exp_avg_sq", "amsgrad"))
    weight_decay_kind = "l2"
    # (decoupled instead when the group says decoupled_weight_decay=True)
    hyperparameter_checks = {"lr": LR, "betas": BETAS, "eps": NONNEGATIVE,
                             "weight_decay": NONNEGATIVE}

    def __init__(self, params: ParamsT, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False, *,
                 maximize: bool = False, decoupled_weight_decay: bool = False,
                 on_nonfinite: str = "raise", flat: bool = True) -> None:
        super().__init__(params, hyperparameters(locals()), on_nonfinite=on_nonfinite,
                         flat=flat)

    def _sliceable(self, state: dict[str, Any], group: dict[str, Any]) -> bool:
        return True  # every buffer exists from the first step and is updated in place

    def _update(self, param: Tensor, grad: Any, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        xp = backend.xp(param.device)
        data = param.array
        lr = group["lr"]
        beta1, beta2 = group["betas"]
        step = state["step"]
        if kernels.usable(data):
            scalars = dict(beta1=beta1, one_minus_beta1=1.0 - beta1, beta2=beta2,
                           one_minus_beta2=1.0 - beta2,
                           inv_sqrt_bias2=1.0 / math.sqrt(1.0 - beta2 ** step),
                           eps=group["eps"], step_size=-lr / (1.0 - beta1 ** step))
            if group["amsgrad"]:
                AMSGRAD_KERNEL(grad, data, state["exp_avg"], state["exp_avg_sq"],
                               state["max_exp_avg_sq"], **scalars)
            else:
                ADAM_KERNEL(grad, data, state["exp_avg"], state["exp_avg_sq"], **scalars)
            return
        scratch = update_moments_(state, grad, group["betas"], xp)
        exp_avg, second_moment = state["exp_avg"], state["exp_avg_sq"]
        if group["amsgrad"]:
            # the maximum is taken over the raw v; the current bias correction applies to it
            second_moment = xp.maximum(state["max_exp_avg_sq"], second_moment,
                                       out=state["max_exp_avg_sq"])
        denom = xp.sqrt(second_moment, out=scratch)
        denom *= 1.0 / math.sqrt(1.0 - beta2 ** step)
        denom += group["eps"]
        update = xp.divide(exp_avg, denom, out=scratch)
        update *= -lr / (1.0 - beta1 ** step)
        data += update


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019, "Decoupled Weight Decay
    Regularization"), as ``torch.optim.AdamW``.

    Identical to ``Adam(..., decoupled_weight_decay=True)``: each step first shrinks the
    parameter, ``p = p * (1 - lr * wd)``, then takes the Adam step (see :class:`Adam`). The
    decay is multiplied by ``lr`` (as in PyTorch), so an lr schedule also schedules the decay.
    Default ``weight_decay=1e-2``.
    """

    def __init__(self, params: ParamsT, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False, on_nonfinite: str = "raise", flat: bool = True) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True, on_nonfinite=on_nonfinite, flat=flat)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        for group in self.param_groups:  # AdamW's decay stays decoupled whatever was saved
            group["decoupled_weight_decay"] = True
