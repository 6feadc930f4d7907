"""AdaBound and AMSBound: Adam whose per-entry step size is clipped into bounds that close
in on an SGD learning rate."""
from __future__ import annotations

import math
from typing import Any

from minigrad import backend, kernels
from minigrad.optim import fused
from minigrad.optim.checks import BETAS, LR, NONNEGATIVE, POSITIVE, Real
from minigrad.optim.optimizer import Optimizer, ParamsT, ema_, hyperparameters
from minigrad.tensor import Tensor

GAMMA = Real(0, 1, low_open=True, high_open=True)

# the NumPy path's operations in its order; max and clip keep NumPy's NaN and tie rules
_BODY = fused.ADAM_MOMENTS + """{amsgrad}
T update = step_size / (sqrt({second}) + eps);
update = update < lower ? lower : (update > upper ? upper : update);
param -= update * exp_avg;
"""
_SCALARS = "beta1, one_minus_beta1, beta2, one_minus_beta2, eps, step_size, lower, upper"
ADABOUND_KERNEL, AMSBOUND_KERNEL = fused.with_amsgrad("adabound_step", "amsbound_step",
                                                      _SCALARS, _BODY)


class AdaBound(Optimizer):
    """AdaBound (Luo, Xiong, Liu & Sun 2019, "Adaptive Gradient Methods with Dynamic Bound
    of Learning Rate"), as ``AdaBound`` of the authors' ``adabound`` package (Luolc/AdaBound).

    With ``g`` the gradient (negated when ``maximize``), ``t`` the parameter's step count,
    ``lr0`` the group's lr when it joined the optimizer and all moments zero at the start::

        g  = g + wd * p                                     (L2; none by default)
        m  = b1 * m + (1 - b1) * g
        v  = b2 * v + (1 - b2) * g^2
        v* = max(v*, v)  and use v* for v                   (amsbound=True only)
        a  = lr * sqrt(1 - b2^t) / (1 - b1^t)               (Adam's bias-corrected lr)
        f  = final_lr * lr / lr0                            (final_lr follows lr's schedule)
        lo = f * (1 - 1 / (gamma * t + 1));   hi = f * (1 + 1 / (gamma * t))
        p  = p - clip(a / (sqrt(v) + eps), lo, hi) * m

    Early on the bounds are wide (``[0, inf)`` at ``t = 0``) and the step is Adam's; as
    ``t`` grows both close in on ``f``, so the method turns into SGD with momentum and
    learning rate ``f``. ``gamma`` sets how fast (the bounds are within 10% of ``f`` after
    about ``10 / gamma`` steps). A learning-rate schedule reaches ``final_lr`` through the
    ratio ``lr / lr0``, as in the reference.

    ``AMSBound`` is this class with ``amsbound=True``: the maximum of the second moments
    seen so far replaces the second moment, as AMSGrad does for Adam.

    Weight decay is L2 (added to the gradient, so it goes through the moments), as in the
    reference. Defaults are the reference's: ``lr=1e-3``, ``betas=(0.9, 0.999)``,
    ``final_lr=0.1``, ``gamma=1e-3``, ``eps=1e-8``, ``weight_decay=0``.

    Where this differs from the reference's code (bugs not reproduced):

    * the reference records the initial lrs of the groups given to the constructor only, so
      a group added later by ``add_param_group`` is never updated (its loop zips the groups
      with that list); here each group records its own lr when it joins (as ``base_lr`` in
      the group, which a checkpoint keeps: the reference takes it from the new optimizer's
      constructor on reload);
    * the reference divides by that initial lr and so fails at the first step when it is
      0; here an initial lr of 0 is refused with a ``ValueError`` (an lr scheduled down to 0
      later is fine: the bounds then close on 0).

    Valid values: ``lr``, ``final_lr``, ``eps``, ``weight_decay`` finite and >= 0 (the lr a
    group starts with > 0); each beta in [0, 1); ``gamma`` in (0, 1) (the reference allows
    0, which divides by zero).

    On the GPU the update is one fused kernel (minigrad.optim.fused).
    """

    elementwise = True
    weight_decay_kind = "l2"
    zero_state = ("exp_avg", "exp_avg_sq", ("max_exp_avg_sq", "amsbound"))
    hyperparameter_checks = {"lr": LR, "betas": BETAS, "final_lr": NONNEGATIVE,
                             "gamma": GAMMA, "eps": NONNEGATIVE, "weight_decay": NONNEGATIVE,
                             "base_lr": POSITIVE}

    def __init__(self, params: ParamsT, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), final_lr: float = 0.1,
                 gamma: float = 1e-3, eps: float = 1e-8, weight_decay: float = 0.0,
                 amsbound: bool = False, *, maximize: bool = False,
                 on_nonfinite: str = "raise", flat: bool = True) -> None:
        super().__init__(params, hyperparameters(locals()), on_nonfinite=on_nonfinite,
                         flat=flat)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group (see :meth:`Optimizer.add_param_group`); its lr now is the ``lr0``
        its bounds are scaled by, and must be > 0."""
        if isinstance(param_group, dict) and "base_lr" not in param_group:
            lr = param_group.get("lr", self.defaults.get("lr"))
            if LR.accepts(lr) and LR.normalize(lr) == 0:
                raise ValueError(f"{self._name()}: invalid lr: {lr!r} in param group "
                                 f"{len(self.param_groups)} (the lr a group starts with must "
                                 "be > 0: final_lr is scaled by lr / that initial lr)")
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        group.setdefault("base_lr", float(group["lr"]))

    def _update(self, param: Tensor, grad: Any, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        xp = backend.xp(param.device)
        lr, gamma, step = group["lr"], group["gamma"], state["step"]
        beta1, beta2 = group["betas"]
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        step_size = lr * math.sqrt(1.0 - beta2 ** step) / (1.0 - beta1 ** step)
        final_lr = group["final_lr"] * lr / group["base_lr"]
        lower = final_lr * (1.0 - 1.0 / (gamma * step + 1.0))
        upper = final_lr * (1.0 + 1.0 / (gamma * step))
        if kernels.usable(param.array):
            scalars = dict(beta1=beta1, one_minus_beta1=1.0 - beta1, beta2=beta2,
                           one_minus_beta2=1.0 - beta2, eps=group["eps"], step_size=step_size,
                           lower=lower, upper=upper)
            if group["amsbound"]:
                AMSBOUND_KERNEL(grad, param.array, exp_avg, exp_avg_sq,
                                state["max_exp_avg_sq"], **scalars)
            else:
                ADABOUND_KERNEL(grad, param.array, exp_avg, exp_avg_sq, **scalars)
            return
        scratch = xp.empty_like(exp_avg)
        ema_(exp_avg, grad, beta1, scratch)
        grad_sq = xp.multiply(grad, grad, out=scratch)
        ema_(exp_avg_sq, grad_sq, beta2, grad_sq)
        second = exp_avg_sq
        if group["amsbound"]:
            second = state["max_exp_avg_sq"]
            xp.maximum(second, exp_avg_sq, out=second)
        denom = xp.sqrt(second, out=scratch)
        denom += group["eps"]
        update = xp.divide(step_size, denom, out=denom)
        xp.clip(update, lower, upper, out=update)
        update *= exp_avg
        param.array -= update


class AMSBound(AdaBound):
    """AMSBound (Luo et al. 2019): :class:`AdaBound` with ``amsbound=True`` by default, the
    reference's flag for it (the bounded step uses the running maximum of the second
    moments)."""

    def __init__(self, params: ParamsT, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), final_lr: float = 0.1,
                 gamma: float = 1e-3, eps: float = 1e-8, weight_decay: float = 0.0,
                 amsbound: bool = True, *, maximize: bool = False,
                 on_nonfinite: str = "raise", flat: bool = True) -> None:
        super().__init__(params, lr, betas, final_lr, gamma, eps, weight_decay, amsbound,
                         maximize=maximize, on_nonfinite=on_nonfinite, flat=flat)
