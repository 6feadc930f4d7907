"""Prodigy: Adam whose step size is estimated from the distance travelled (D-Adaptation's
successor)."""
from __future__ import annotations

import math
from typing import Any

from minigrad import backend
from minigrad.optim.checks import BETA, BETAS, LR, NONNEGATIVE, POSITIVE, Integer, Maybe, Real
from minigrad.optim.dadaptation import GROWTH_RATE, _GlobalStep, _Sum, adam_step_size
from minigrad.optim.optimizer import ParamsT, hyperparameters, zeros_state
from minigrad.tensor import Tensor


class Prodigy(_GlobalStep):
    """Prodigy (Mishchenko & Defazio 2023, "Prodigy: An Expeditiously Adaptive
    Parameter-Free Learner"), as ``Prodigy`` of the authors' ``prodigyopt`` package
    (konstmish/prodigy, version 1.1.2).

    Adam with step size ``d * lr``, where ``d`` (starting at ``d0``) is a running estimate
    of the distance from the starting point to a solution, and ``lr`` a multiplier (1 by
    default). With ``g`` the gradient (negated when ``maximize``), ``k`` the optimizer's step
    count (0 first), ``p0`` each parameter at its first step, ``b3 = beta3`` (``sqrt(b2)``
    when None) and sums over every parameter of every group::

        dlr = d * lr * (sqrt(1 - b2^(k+1)) / (1 - b1^(k+1)) if use_bias_correction else 1)
        g   = g + wd * p                                  (L2: decouple=False only)
        r   = b3 * r + (d / d0) * dlr * sum <g, p0 - p>   (before the step)
        m   = b1 * m + d * (1 - b1) * g
        v   = b2 * v + d^2 * (1 - b2) * g^2
        s   = b3 * s + (d / d0) * dlr * g                 ((d / d0) * d if safeguard_warmup)
        d^  = d_coef * r / sum |s|_1
        d   = max(d, d^) if d == d0;   d_max = max(d_max, d^);   d = min(d_max, d * growth_rate)
        p   = p - wd * dlr * p                            (decoupled: decouple=True, default)
        p   = p - dlr * m / (sqrt(v) + d * eps)           (with the new d in the denominator;
                                                           beta1 = 0: d * g in place of m)

    ``safeguard_warmup`` drops ``lr`` from ``s``'s increment (for a warmup schedule
    starting near 0). ``slice_p = n`` estimates ``r`` and ``s`` from every n-th entry of each
    parameter only (``p0`` and ``s`` keep those entries), to save memory; 1 uses all. If
    every ``s`` is zero the step ends after the moments are updated, as in the reference.
    ``d``, ``d_max``, ``r`` (``d_numerator``) and ``k`` are kept in the param groups.

    Weight decay is decoupled by default (``decouple=True``, scaled by ``dlr``), L2 with
    ``decouple=False``. Defaults are the reference's: ``lr=1.0``, ``betas=(0.9, 0.999)``,
    ``beta3=None``, ``eps=1e-8``, ``weight_decay=0``, ``decouple=True``,
    ``use_bias_correction=False``, ``safeguard_warmup=False``, ``d0=1e-6``, ``d_coef=1``,
    ``growth_rate=inf``, ``slice_p=1``. The reference's ``fsdp_in_use`` (sums across the
    processes of a sharded model) has no meaning here and is not an argument.

    ``betas``, ``beta3``, ``d0``, ``d_coef``, ``growth_rate``, ``decouple`` and
    ``use_bias_correction`` must be the same in every group: the reference reads them from
    the first group (``d0`` also per group, which would make ``d / d0`` differ between
    groups). Where this differs from the reference's code:

    * a group whose lr is 0 is left unchanged; the reference stops feeding it gradients but
      still moves it every step, by its old first moment (by its gradient when
      ``beta1 = 0``), and decays it;
    * the reference adds the L2 term into ``p.grad`` itself; here ``p.grad`` is left alone;
    * the reference stores ``p0`` as a 0-d zero when the parameter starts all zero (to save
      memory); here ``p0`` is always a copy, which gives the same numbers.

    Valid values: ``lr``, ``weight_decay`` finite and >= 0; ``eps``, ``d0``, ``d_coef``
    finite and > 0; each beta (and ``beta3`` when given) in [0, 1); ``growth_rate`` >= 1
    (inf allowed); ``slice_p`` an integer >= 1.
    """

    global_hyperparameters = ("betas", "beta3", "d0", "d_coef", "growth_rate", "decouple",
                              "use_bias_correction")
    hyperparameter_checks = {"lr": LR, "betas": BETAS, "beta3": Maybe(BETA), "eps": POSITIVE,
                             "weight_decay": NONNEGATIVE, "d0": POSITIVE, "d_coef": POSITIVE,
                             "growth_rate": GROWTH_RATE, "slice_p": Integer(1),
                             "d": POSITIVE, "d_max": POSITIVE, "d_numerator": Real(),
                             "k": Integer(0)}

    def __init__(self, params: ParamsT, lr: float = 1.0,
                 betas: tuple[float, float] = (0.9, 0.999), beta3: float | None = None,
                 eps: float = 1e-8, weight_decay: float = 0.0, decouple: bool = True,
                 use_bias_correction: bool = False, safeguard_warmup: bool = False,
                 d0: float = 1e-6, d_coef: float = 1.0, growth_rate: float = math.inf,
                 slice_p: int = 1, *, maximize: bool = False, on_nonfinite: str = "raise",
                 flat: bool = True) -> None:
        defaults = dict(hyperparameters(locals()), d=d0, d_max=d0, d_numerator=0.0, k=0)
        super().__init__(params, defaults, on_nonfinite=on_nonfinite, flat=flat)

    def _state_shape(self, param: Tensor, key: str) -> tuple[int, ...] | None:
        if key in ("s", "p0"):
            return None  # every slice_p-th entry, flattened
        return tuple(param.shape)

    def _init_state(self, param: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        slice_p = group["slice_p"]
        if self.param_groups[0]["betas"][0] > 0:
            state["exp_avg"] = zeros_state(param)
        state["exp_avg_sq"] = zeros_state(param)
        sliced = param.array.reshape(-1)[::slice_p]
        state["s"] = backend.xp(param.device).zeros_like(sliced)
        state["p0"] = sliced.copy()

    def _begin(self) -> bool:
        self._dlr = adam_step_size(self)
        first = self.param_groups[0]
        beta2 = first["betas"][1]
        beta3 = first["beta3"]
        self._beta3 = math.sqrt(beta2) if beta3 is None else beta3
        self._numerator = _Sum()
        self._denominator = _Sum()
        return True

    def _update(self, param: Tensor, grad: Any, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        xp = backend.xp(param.device)
        first = self.param_groups[0]
        beta1, beta2 = first["betas"]
        beta3, dlr, d, d0 = self._beta3, self._dlr, first["d"], group["d0"]
        p = param.array
        decay = group["weight_decay"]
        if decay != 0 and not group["decouple"]:
            grad = grad + decay * p
        slice_p = group["slice_p"]
        sliced_grad = grad.reshape(-1)[::slice_p]
        s, p0 = state["s"], state["p0"]
        moved = xp.subtract(p0, p.reshape(-1)[::slice_p])
        self._numerator.add(xp.dot(sliced_grad, moved), (d / d0) * dlr)
        scratch = xp.empty_like(p)
        if beta1 > 0:
            exp_avg = state["exp_avg"]
            exp_avg *= beta1
            exp_avg += xp.multiply(grad, d * (1.0 - beta1), out=scratch)
        exp_avg_sq = state["exp_avg_sq"]
        exp_avg_sq *= beta2
        grad_sq = xp.multiply(grad, grad, out=scratch)
        grad_sq *= d * d * (1.0 - beta2)
        exp_avg_sq += grad_sq
        s *= beta3
        increment = xp.multiply(sliced_grad, (d / d0) * (d if group["safeguard_warmup"] else dlr),
                                out=moved)
        s += increment
        self._denominator.add(xp.abs(s, out=moved).sum())
        self._pending.append((param, grad, state, group))

    def _finish(self, pending: list[tuple[Tensor, Any, dict[str, Any], dict[str, Any]]]
                ) -> None:
        groups = self.param_groups
        first = groups[0]
        d, d_max, lr, dlr = first["d"], first["d_max"], self._lr, self._dlr
        numerator = first["d_numerator"] * self._beta3 + self._numerator.value()
        denominator = self._denominator.value()
        if denominator == 0:
            return
        if lr > 0.0:
            d_hat = first["d_coef"] * numerator / denominator
            if d == first["d0"]:
                d = max(d, d_hat)
            d_max = max(d_max, d_hat)
            d = min(d_max, d * first["growth_rate"])
        beta1 = first["betas"][0]
        for param, grad, state, group in pending:
            xp = backend.xp(param.device)
            p = param.array
            denom = xp.sqrt(state["exp_avg_sq"], out=xp.empty_like(p))
            denom += d * group["eps"]
            if group["weight_decay"] != 0 and group["decouple"]:
                p += p * (-group["weight_decay"] * dlr)
            if beta1 > 0:
                update = xp.divide(state["exp_avg"], denom, out=denom)
                update *= dlr
            else:
                update = xp.divide(grad, denom, out=denom)
                update *= dlr * d
            p -= update
        k = first["k"]
        for group in groups:
            group["d_numerator"] = numerator
            group["d"] = d
            group["d_max"] = d_max
            group["k"] = k + 1
