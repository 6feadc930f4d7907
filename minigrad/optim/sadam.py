"""SAdam / SAMSGrad: Adam (or AMSGrad) with a softplus-calibrated denominator."""
from __future__ import annotations

import math
from typing import Any

from minigrad import backend, kernels
from minigrad.optim import fused
from minigrad.optim.checks import BETAS, LR, NONNEGATIVE, POSITIVE, Choice, Real
from minigrad.optim.optimizer import Optimizer, ParamsT, ema_, hyperparameters
from minigrad.tensor import Tensor

#: Above ``beta * x > SOFTPLUS_THRESHOLD`` softplus is taken to be ``x`` (PyTorch's default
#: ``threshold=20``: there ``log1p(exp(beta x)) / beta`` and ``x`` differ by < 3e-9 / beta).
SOFTPLUS_THRESHOLD = 20.0


def softplus_(x: Any, beta: float, threshold: float = SOFTPLUS_THRESHOLD) -> Any:
    """``softplus_beta(x) = log(1 + exp(beta x)) / beta``, in place on the array ``x`` (which
    is returned), as ``torch.nn.functional.softplus(x, beta, threshold)``: entries with
    ``beta x > threshold`` are left as they are.

    This is the calibration of Tong, Liang & Bi 2019 ("Calibrating the Adaptive Learning
    Rate to Improve Convergence of ADAM"): applied to an adaptive denominator (``sqrt(v)``)
    it is ``log(2) / beta`` at 0 instead of 0, so no coordinate gets an enormous step, and
    it is the denominator itself wherever that is large. SAdam and Ranger21 both use it.
    """
    xp = backend.xp(backend.device_of(x))
    scaled = xp.multiply(x, beta, out=xp.empty_like(x))
    large = scaled > threshold
    xp.minimum(scaled, threshold, out=scaled)  # no overflow in exp where x is kept
    xp.exp(scaled, out=scaled)
    xp.log1p(scaled, out=scaled)
    scaled /= beta
    xp.copyto(x, scaled, where=~large)
    return x


# The Padam transformer's step, the NumPy path's operations in its order, for the exponents
# 2 * partial that NumPy takes exactly (``d ** 0.5`` is its sqrt, ``d ** 0`` is 1, ``d ** 1``
# is d); ``square`` is a host flag (grad_transf="square": 1, "abs": 0); the maximum keeps
# NumPy's NaN and tie rules. The softplus transformer (exp and log1p of each entry, which
# CUDA and NumPy round differently) and other exponents keep the array calls.
_PADAM_BODY = """
exp_avg = exp_avg * beta1 + grad * one_minus_beta1;
exp_avg_sq = exp_avg_sq * beta2 + (square != 0 ? grad * grad : fabs(grad)) * one_minus_beta2;
{amsgrad}
const T d = (square != 0 ? sqrt({second}) : {second}) + eps;
param -= exp_avg / {power} * step_size;
"""
_PADAM_SCALARS = "beta1, one_minus_beta1, beta2, one_minus_beta2, square, eps, step_size"
_POWERS = [(0.5, "sqrt", "sqrt(d)"), (0.0, "fixed", "T(1)"), (1.0, "linear", "d")]
PADAM_KERNELS: dict[tuple[bool, float], kernels.ElementwiseKernel] = {}  # (amsgrad, 2 * partial)
for _exponent, _name, _power in _POWERS:
    PADAM_KERNELS[False, _exponent], PADAM_KERNELS[True, _exponent] = fused.with_amsgrad(
        f"sadam_padam_{_name}_step", f"samsgrad_padam_{_name}_step", _PADAM_SCALARS,
        _PADAM_BODY, power=_power)


class SAdam(Optimizer):
    """SAdam and SAMSGrad (Tong, Liang & Bi 2019, "Calibrating the Adaptive Learning Rate
    to Improve Convergence of ADAM"; the paper's arXiv title is "Calibrating the Learning
    Rate for Adaptive Gradient Methods to Improve Generalization Performance"), as the
    authors' ``Sadam`` (neilliang90/Sadam, optimizer/Sadam.py).

    With ``g`` the gradient (negated when ``maximize``) and ``t`` the step count::

        g = g + wd * p                              (L2; none by default)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g^2                 (|g| with grad_transf="abs")
        v_max = max(v_max, v)                       (amsgrad: SAMSGrad; v_max replaces v)
        d = sqrt(v)                                 (v itself with grad_transf="abs")
        d = softplus_smooth(d)                      transformer="softplus"
        d = (d + eps) ** (2 * partial)              transformer="Padam" (Chen & Gu's Padam)
        p = p - lr * sqrt(1 - b2^t) / (1 - b1^t) * m / d

    ``softplus_smooth(x) = log(1 + exp(smooth * x)) / smooth`` (:func:`softplus_`) replaces
    Adam's ``sqrt(v) + eps``: it never falls below ``log(2) / smooth``, which bounds the
    largest step, and is ``sqrt(v)`` wherever that is large. It is applied to the biased
    ``sqrt(v)``; the bias correction is in the step size, as in the authors' code. ``eps``
    and ``partial`` are used only by the Padam transformer.

    Defaults are the authors': ``lr=0.1, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
    amsgrad=True, partial=0.25, transformer="softplus", grad_transf="square", smooth=50``.
    So, as there, ``SAdam(params)`` is SAMSGrad; ``amsgrad=False`` gives SAdam. (The
    authors' class has no separate SAMSGrad name, so neither does minigrad's.) Weight decay
    is L2 (added to the gradient), as there. The authors' ``hist`` option (``step()``
    returning the denominators for plotting) is left out: ``step()`` returns the closure's
    loss, as every optimizer's.

    Valid values: ``lr``, ``eps``, ``weight_decay`` finite and >= 0; each beta in [0, 1);
    ``smooth`` > 0; ``partial`` in [0, 0.5].

    On the GPU the default softplus transformer keeps its array calls (the exp and log1p of
    each entry round differently in CUDA and NumPy, so a kernel could not reproduce the
    NumPy path bit for bit); the Padam transformer is one fused kernel
    (minigrad.optim.fused) for ``partial`` 0.25, 0 and 0.5, the exponents NumPy takes
    exactly.
    """

    elementwise = True
    weight_decay_kind = "l2"
    zero_state = ("exp_avg", "exp_avg_sq", ("max_exp_avg_sq", "amsgrad"))
    hyperparameter_checks = {"lr": LR, "betas": BETAS, "eps": NONNEGATIVE,
                             "weight_decay": NONNEGATIVE, "amsgrad": Choice(True, False),
                             "partial": Real(0, 0.5), "transformer": Choice("softplus", "Padam"),
                             "grad_transf": Choice("square", "abs"), "smooth": POSITIVE}

    def __init__(self, params: ParamsT, lr: float = 1e-1,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = True, partial: float = 0.25,
                 transformer: str = "softplus", grad_transf: str = "square",
                 smooth: float = 50.0, *, maximize: bool = False, on_nonfinite: str = "raise",
                 flat: bool = True) -> None:
        super().__init__(params, hyperparameters(locals()), on_nonfinite=on_nonfinite,
                         flat=flat)

    def _update(self, param: Tensor, grad: Any, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        xp = backend.xp(param.device)
        beta1, beta2 = group["betas"]
        step = state["step"]
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        if group["transformer"] == "Padam" and kernels.usable(param.array):
            kernel = PADAM_KERNELS.get((bool(group["amsgrad"]), group["partial"] * 2))
            if kernel is not None:
                moments = [exp_avg, exp_avg_sq] + ([state["max_exp_avg_sq"]]
                                                   if group["amsgrad"] else [])
                kernel(grad, param.array, *moments, beta1=beta1, one_minus_beta1=1.0 - beta1,
                       beta2=beta2, one_minus_beta2=1.0 - beta2,
                       square=1.0 if group["grad_transf"] == "square" else 0.0,
                       eps=group["eps"],
                       step_size=group["lr"] * math.sqrt(1.0 - beta2 ** step)
                       / (1.0 - beta1 ** step))
                return
        scratch = xp.empty_like(exp_avg)
        ema_(exp_avg, grad, beta1, scratch)
        if group["grad_transf"] == "square":
            xp.multiply(grad, grad, out=scratch)
        else:
            xp.abs(grad, out=scratch)
        ema_(exp_avg_sq, scratch, beta2, scratch)
        second = exp_avg_sq
        if group["amsgrad"]:
            second = state["max_exp_avg_sq"]
            xp.maximum(second, exp_avg_sq, out=second)
        if group["grad_transf"] == "square":
            denom = xp.sqrt(second, out=scratch)
        else:
            denom = scratch
            denom[...] = second
        if group["transformer"] == "softplus":
            softplus_(denom, group["smooth"])
        else:
            denom += group["eps"]
            xp.power(denom, group["partial"] * 2, out=denom)
        step_size = group["lr"] * math.sqrt(1.0 - beta2 ** step) / (1.0 - beta1 ** step)
        update = xp.divide(exp_avg, denom, out=denom)
        update *= step_size
        param.array -= update
