"""MADGRAD: momentumized, adaptive, dual-averaged gradient descent."""
from __future__ import annotations

import math
from typing import Any

from minigrad import backend
from minigrad.optim.checks import BETA, LR, NONNEGATIVE
from minigrad.optim.optimizer import Optimizer, ParamsT, hyperparameters, zeros_state
from minigrad.tensor import Tensor


class MADGRAD(Optimizer):
    """MADGRAD (Defazio & Jelassi 2021, "Adaptivity without Compromise: A Momentumized,
    Adaptive, Dual Averaged Gradient Method for Stochastic Optimization", arXiv 2101.11075),
    as ``MADGRAD`` of facebookresearch/madgrad, version 1.3 (its dense path; minigrad has
    no sparse gradients).

    A dual-averaging method: it keeps the weighted sums of the gradients ``s`` and of their
    squares ``nu``, and the point ``z`` they define from the starting point ``x0``; the
    parameter is an exponential average of the ``z`` iterates (the momentum). With ``g`` the
    gradient (negated when ``maximize``), ``t`` the parameter's step count (1 first),
    ``lr' = lr + eps`` (when ``lr`` is not 0, as the reference does "for stability") and
    ``c = 1 - momentum``::

        g   = g + wd * p                                  (L2, the default)
        lam = lr' * sqrt(t)
        nu  = nu + lam * g^2
        s   = s + lam * g
        z   = x0 - s / (nu^(1/3) + eps)                   (a cube root, not Adam's sqrt)
        p   = (1 - c) * p + c * z                         (p = z when momentum = 0)
        p   = p - lr' * wd * p_before                     (decouple_decay=True instead of L2)

    With ``momentum=0`` the reference keeps no ``x0``: it recovers it from the current
    ``p``, ``s`` and ``nu`` (``x0 = p + s / (nu^(1/3) + eps)``), which is the same point.
    Where ``nu^(1/3) + eps`` is 0 (``eps=0`` and no gradient there yet) the quotient is
    taken as 0, as in the reference.

    Weight decay is L2 by default (the reference's ``weight_decay``); ``decouple_decay=True``
    makes it decoupled (AdamW-style, the reference's experimental option: the parameter
    before the step, times ``lr' * wd``, is subtracted after it). Defaults are the
    reference's: ``lr=1e-2``, ``momentum=0.9``, ``weight_decay=0``, ``eps=1e-6``.

    Where this differs from the reference's code:

    * the step count ``t`` is the parameter's (how many steps it had a gradient), the
      reference's is the optimizer's (one counter for all): they agree whenever every
      parameter has a gradient at every step;
    * the reference adds the L2 term into ``p.grad`` itself (the caller's gradient changes);
      here ``p.grad`` is left alone;
    * with ``momentum=0`` and ``eps=0`` the reference's first step recovers ``x0`` as
      ``p + 0 / 0`` and writes NaN into every parameter (the zero guard above is applied
      only after that division); here the guard is applied to both divisions.

    Valid values: ``lr``, ``weight_decay``, ``eps`` finite and >= 0; ``momentum`` in [0, 1).

    On the GPU the update keeps its array calls (no fused kernel, minigrad.optim.fused): the
    cube root of each entry of ``nu`` rounds differently in CUDA and in NumPy, so a kernel
    could not reproduce the NumPy path bit for bit.
    """

    elementwise = True
    hyperparameter_checks = {"lr": LR, "momentum": BETA, "weight_decay": NONNEGATIVE,
                             "eps": NONNEGATIVE}

    def __init__(self, params: ParamsT, lr: float = 1e-2, momentum: float = 0.9,
                 weight_decay: float = 0.0, eps: float = 1e-6, decouple_decay: bool = False,
                 *, maximize: bool = False, on_nonfinite: str = "raise",
                 flat: bool = True) -> None:
        super().__init__(params, hyperparameters(locals()), on_nonfinite=on_nonfinite,
                         flat=flat)

    def _init_state(self, param: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        state["grad_sum_sq"] = zeros_state(param)
        state["s"] = zeros_state(param)
        if group["momentum"] != 0:
            state["x0"] = param.array.copy()

    def _update(self, param: Tensor, grad: Any, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        xp = backend.xp(param.device)
        p = param.array
        eps, momentum, decay = group["eps"], group["momentum"], group["weight_decay"]
        decouple = group["decouple_decay"]
        lr = group["lr"]
        if lr != 0.0:
            lr = lr + eps
        lamb = lr * math.sqrt(state["step"])
        grad_sum_sq, s = state["grad_sum_sq"], state["s"]
        if decay != 0 and not decouple:
            grad = grad + decay * p
        rms = xp.empty_like(p)
        x0 = state.get("x0")
        if momentum == 0 or x0 is None:
            x0 = p + xp.divide(s, self._rms(xp, grad_sum_sq, eps, rms), out=rms)
            if momentum != 0:  # momentum switched on after the first step
                state["x0"] = x0
        grad_sq = xp.multiply(grad, grad, out=rms)
        grad_sq *= lamb
        grad_sum_sq += grad_sq
        rms = self._rms(xp, grad_sum_sq, eps, rms)
        s += grad * lamb
        p_before = p.copy() if decay != 0 and decouple else None
        z = xp.divide(s, rms, out=rms)
        xp.subtract(x0, z, out=z)
        if momentum == 0:
            p[...] = z
        else:
            c = 1.0 - momentum
            p *= 1.0 - c
            z *= c
            p += z
        if p_before is not None:
            p_before *= -lr * decay
            p += p_before

    @staticmethod
    def _rms(xp: Any, grad_sum_sq: Any, eps: float, out: Any) -> Any:
        """``grad_sum_sq^(1/3) + eps`` into ``out``, with inf where it is 0 (so that the
        quotient of the sum of gradients by it is 0 there)."""
        rms = xp.power(grad_sum_sq, 1.0 / 3.0, out=out)
        rms += eps
        if eps == 0:
            rms[rms == 0] = math.inf
        return rms
