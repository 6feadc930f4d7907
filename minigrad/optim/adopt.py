"""ADOPT: Adam whose second moment is updated after the step, and whose momentum averages the
normalised gradient."""
from __future__ import annotations

from typing import Any, Callable

from minigrad import backend, kernels
from minigrad.optim.checks import BETAS, LR, NONNEGATIVE, Check
from minigrad.optim.optimizer import Optimizer, ParamsT, hyperparameters
from minigrad.tensor import Tensor


def default_clip(step: int) -> float:
    """ADOPT's default clipping bound, ``step ** 0.25`` (``step`` counted from 0 as in the
    reference: 1 at the first update of the parameter)."""
    return step ** 0.25


# the NumPy path's operations in its order; the flags (l2, first, decoupled, clip) are host
# values 0 or 1. max and clip as NumPy's: a NaN propagates, a tie keeps the bound.
ADOPT_KERNEL = kernels.ElementwiseKernel(
    "adopt_step", reads="grad", writes="param, exp_avg, exp_avg_sq",
    scalars="l2, weight_decay, first, decoupled, decay, eps, clip, lower, upper, "
            "one_minus_beta1, lr, beta2, one_minus_beta2",
    body="""
const T g = l2 != 0 ? grad + weight_decay * param : grad;
const T grad_sq = g * g;
if (first != 0) {
    exp_avg_sq += grad_sq;
} else {
    if (decoupled != 0) param *= decay;
    T denom = sqrt(exp_avg_sq);
    denom = (denom > eps || denom != denom) ? denom : eps;
    T normed = g / denom;
    if (clip != 0) normed = normed < lower ? lower : (normed > upper ? upper : normed);
    normed = (normed - exp_avg) * one_minus_beta1;
    exp_avg += normed;
    param -= lr * exp_avg;
    exp_avg_sq = exp_avg_sq * beta2 + grad_sq * one_minus_beta2;
}
""")


class _Clip(Check):
    text = "None or a callable taking the step count and returning the clipping bound"

    def accepts(self, value: Any) -> bool:
        return value is None or callable(value)


class ADOPT(Optimizer):
    """ADOPT, ADaptive gradient method with the OPTimal convergence rate (Taniguchi, Harada,
    Minegishi, Oshima, Jeong, Nagahara, Iiyama, Suzuki, Iwasawa & Matsuo 2024, "ADOPT:
    Modified Adam Can Converge with Any beta2 with the Optimal Rate"), as the authors'
    ``adopt.ADOPT`` (iShohei220/adopt).

    With ``g`` the gradient (negated when ``maximize``), ``m`` and ``v`` zero at the start,
    and ``s`` the reference's step count (0 at the first step)::

        g = g + wd * p                                   (L2, default; at every step)
        s = 0:  v = g^2                                  (the first step only sets v)
        s > 0:  p = p * (1 - lr * wd)                    (decoupled instead, from s = 1)
                u = clip(g / max(sqrt(v), eps), -c, c)   with c = clip_lambda(s)
                m = b1 * m + (1 - b1) * u
                p = p - lr * m
                v = b2 * v + (1 - b2) * g^2

    Unlike Adam, the current gradient is normalised by the second moment of the *previous*
    ones (so the two are independent) and the momentum averages the normalised gradient;
    there is no bias correction, and the first step does not move the parameter. The clip
    (``clip_lambda=None``: none) keeps the early steps stable; the default bound ``s**0.25``
    is the reference's. ``clip_lambda`` is a hyper-parameter of each group here (the
    reference keeps one per optimizer); a lambda makes the state dict unpicklable, a
    module-level function does not.

    Weight decay is L2 unless ``decoupled_weight_decay=True`` (the reference's
    ``decouple``), which, as in the reference, is skipped at the first step. Defaults are the
    reference's: ``lr=1e-3, betas=(0.9, 0.9999), eps=1e-6, weight_decay=0``.

    Valid values: ``lr``, ``eps``, ``weight_decay`` finite and >= 0; each beta in [0, 1);
    ``clip_lambda`` None or a callable.

    On the GPU the update is one fused kernel (minigrad.optim.fused).
    """

    elementwise = True
    zero_state = ("exp_avg", "exp_avg_sq")
    # L2 is applied by the rule (before the first step's v), decoupled from the second step
    weight_decay_kind = None
    hyperparameter_checks = {"lr": LR, "betas": BETAS, "eps": NONNEGATIVE,
                             "clip_lambda": _Clip(), "weight_decay": NONNEGATIVE}

    def __init__(self, params: ParamsT, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.9999),
                 eps: float = 1e-6, clip_lambda: Callable[[int], float] | None = default_clip,
                 weight_decay: float = 0.0, *, decoupled_weight_decay: bool = False,
                 maximize: bool = False, on_nonfinite: str = "raise", flat: bool = True) -> None:
        super().__init__(params, hyperparameters(locals()), on_nonfinite=on_nonfinite,
                         flat=flat)

    def _update(self, param: Tensor, grad: Any, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        xp = backend.xp(param.device)
        data = param.array
        lr, weight_decay = group["lr"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        decoupled = group["decoupled_weight_decay"]
        step = state["step"] - 1  # the reference's count: 0 at the first update
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        if kernels.usable(data):
            clip_lambda = group["clip_lambda"]
            bound = clip_lambda(step) if clip_lambda is not None and step != 0 else 0.0
            ADOPT_KERNEL(grad, data, exp_avg, exp_avg_sq,
                         l2=1.0 if weight_decay and not decoupled else 0.0,
                         weight_decay=weight_decay, first=1.0 if step == 0 else 0.0,
                         decoupled=1.0 if weight_decay and decoupled else 0.0,
                         decay=1.0 - lr * weight_decay, eps=group["eps"],
                         clip=0.0 if clip_lambda is None else 1.0, lower=-bound, upper=bound,
                         one_minus_beta1=1.0 - beta1, lr=lr, beta2=beta2,
                         one_minus_beta2=1.0 - beta2)
            return
        if weight_decay and not decoupled:
            grad = grad + weight_decay * data
        grad_sq = xp.multiply(grad, grad, out=xp.empty_like(exp_avg))
        if step == 0:
            exp_avg_sq += grad_sq
            return
        if weight_decay and decoupled:
            data *= 1.0 - lr * weight_decay
        denom = xp.sqrt(exp_avg_sq, out=xp.empty_like(exp_avg))
        xp.maximum(denom, group["eps"], out=denom)
        normed = xp.divide(grad, denom, out=denom)
        clip_lambda = group["clip_lambda"]
        if clip_lambda is not None:
            bound = clip_lambda(step)
            xp.clip(normed, -bound, bound, out=normed)
        normed -= exp_avg
        normed *= 1.0 - beta1
        exp_avg += normed
        data -= lr * exp_avg
        exp_avg_sq *= beta2
        grad_sq *= 1.0 - beta2
        exp_avg_sq += grad_sq
