"""D-Adaptation: learning-rate-free Adam and SGD (the step size is estimated as training
goes), and the two-pass step they and Prodigy share."""
from __future__ import annotations

import logging
import math
from typing import Any, ClassVar

from minigrad import backend
from minigrad.optim.checks import BETA, BETAS, LR, NONNEGATIVE, POSITIVE, Integer, Maybe, Real
from minigrad.optim.optimizer import Optimizer, ParamsT, hyperparameters, zeros_state
from minigrad.tensor import Tensor

logger = logging.getLogger("minigrad.optim")

GROWTH_RATE = Real(1, allow_inf=True)


class _Sum:
    """A sum over parameters of reductions (each a device scalar, times a Python float),
    turned into one Python float when needed: on a GPU the reductions queue up and the host
    waits once per pass, not once per parameter. On the CPU the terms are added in order,
    as the references add their ``.item()`` values."""

    def __init__(self) -> None:
        self.terms: list[tuple[float, Any]] = []

    def add(self, value: Any, scale: float = 1.0) -> None:
        self.terms.append((scale, value))

    def value(self) -> float:
        total = 0.0
        for scale, value in self.terms:
            total += scale * float(value)
        return total


class _GlobalStep(Optimizer):
    """An optimizer whose step needs sums over every parameter of every group.

    The step runs in two passes: the first (:meth:`_update`, called per parameter by the
    base class) updates the per-parameter buffers and adds to the global sums, then (when
    the last group is done) :meth:`_finish` computes the new estimate of the step size from
    the sums and makes the second pass, which moves the parameters.

    The rules are not :attr:`elementwise`: the sums are taken per parameter and added in
    parameter order, so the result does not depend on whether flat storage is on (a sum over
    a flat buffer would add in another order and change the last bits). The sums reach the
    host once per step (:class:`_Sum`).

    The scalars of the method (``d`` and its running sums, the step count ``k``) live in the
    param groups, as in the references, so ``state_dict()`` keeps them; they are read from
    the first group and written into every group. The hyper-parameters in
    :attr:`global_hyperparameters` enter those global quantities and so must be equal in
    every group; every group's lr must be the largest lr or 0, as the references require.
    A group whose lr is 0 is left as it is (see the subclasses: the references still move
    it).
    """

    _lr: float = 0.0  # during a step: the largest group lr (the references' lr)

    #: hyper-parameters that must have the same value in every group
    global_hyperparameters: ClassVar[tuple[str, ...]] = ()
    _pending: list[tuple[Tensor, Any, dict[str, Any], dict[str, Any]]]

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        if self.param_groups and isinstance(param_group, dict) and "params" in param_group:
            where = f" in param group {len(self.param_groups)}"
            merged = {**self.defaults, **param_group}
            merged.update(self._checked_group(merged, where))
            self._check_across([*self.param_groups, merged])
        super().add_param_group(param_group)

    def _check_hyperparameters(self) -> None:
        super()._check_hyperparameters()
        self._check_across(self.param_groups)

    def _check_across(self, groups: list[dict[str, Any]]) -> None:
        """Raise ``ValueError`` if the groups disagree on a global hyper-parameter, or if an
        lr is neither the largest nor 0."""
        first = groups[0]
        for i, group in enumerate(groups[1:], start=1):
            for name in self.global_hyperparameters:
                if group.get(name) != first.get(name):
                    raise ValueError(f"{self._name()}: invalid {name}: {group.get(name)!r} in "
                                     f"param group {i}: it must be the same in every group "
                                     f"(group 0 has {first.get(name)!r}): it enters the "
                                     "step-size estimate shared by all groups")
        lr = max(group["lr"] for group in groups)
        for i, group in enumerate(groups):
            if group["lr"] not in (lr, 0.0):
                raise ValueError(f"{self._name()}: invalid lr: {group['lr']!r} in param group "
                                 f"{i}: every group's lr must be the largest lr ({lr!r}) or 0 "
                                 "(the step size is estimated for all groups at once); "
                                 "nothing was updated")

    def _step_group(self, group: dict[str, Any]) -> None:
        groups = self.param_groups
        if group is groups[0]:
            self._pending = []
            if not self._begin():
                self._pending = None  # type: ignore[assignment]
        if self._pending is None:
            return
        if group["lr"] > 0.0:
            super()._step_group(group)
        if group is groups[-1]:
            pending, self._pending = self._pending, None  # type: ignore[assignment]
            self._finish(pending)

    def _begin(self) -> bool:
        """Set up the step's global values before the first pass; False skips the step."""
        return True

    def _finish(self, pending: list[tuple[Tensor, Any, dict[str, Any], dict[str, Any]]]
                ) -> None:
        """Update the estimate from the first pass's sums, then move the parameters (each
        ``(param, grad, state, group)`` of ``pending``, in order)."""
        raise NotImplementedError

    def _log(self, message: str) -> None:
        every = self.param_groups[0].get("log_every", 0)
        if every and self.param_groups[0]["k"] % every == 0:
            logger.info("%s: %s", self._name(), message)


def adam_step_size(optimizer: _GlobalStep) -> float:
    """The step size d * lr of the Adam-like D-Adaptation methods (DAdaptAdam, Prodigy) for
    this step, times sqrt(1 - b2^(k+1)) / (1 - b1^(k+1)) with ``use_bias_correction``; ``lr``
    is the largest group lr (kept in ``optimizer._lr``), ``d``, ``k`` and the betas group 0's."""
    first = optimizer.param_groups[0]
    beta1, beta2 = first["betas"]
    k = first["k"]
    optimizer._lr = max(group["lr"] for group in optimizer.param_groups)
    correction = 1.0
    if first["use_bias_correction"]:
        correction = (1.0 - beta2 ** (k + 1)) ** 0.5 / (1.0 - beta1 ** (k + 1))
    return first["d"] * optimizer._lr * correction


class DAdaptAdam(_GlobalStep):
    """Adam with D-Adaptation (Defazio & Mishchenko 2023, "Learning-Rate-Free Learning by
    D-Adaptation"), as ``DAdaptAdam`` of facebookresearch/dadaptation (dadapt_adam.py,
    version 3.2).

    ``d`` estimates the distance from the start to a solution, and the step size is
    ``dlr = d * lr`` (``lr`` is a multiplier, 1 by default). With ``g`` the gradient (negated
    when ``maximize``), ``k`` the optimizer's step count (0 first), ``r`` the group's
    ``layer_scale`` and ``b2' = sqrt(b2)``; sums are over every parameter of every group::

        dlr = d * lr * (sqrt(1 - b2^(k+1)) / (1 - b1^(k+1)) if use_bias_correction else 1)
        g   = g + wd * p                                      (L2, unless decouple)
        N   = sum r * dlr * <g, s / (sqrt(v) + eps)>          (v, s before this step)
        m   = b1 * m + r * dlr * (1 - b1) * g                 (m carries the step size)
        v   = b2 * v + (1 - b2) * g^2
        s   = b2' * s + dlr * (1 - b2') * g
        n   = b2' * n + (1 - b2') * N                         (the weighted numerator)
        d   = max(d, min(n / ((1 - b2') * sum r * |s|_1), d * growth_rate))
        p   = p - wd * dlr * p                                (decouple=True only)
        p   = p - m / (sqrt(v) + eps)

    The new ``d`` serves the next step (this step's ``dlr`` is the old one). If every ``s``
    is zero (all gradients zero so far) the step ends after the moments are updated, as in
    the reference. ``d``, ``n`` (``numerator_weighted``) and ``k`` are kept in the param
    groups.

    Weight decay is L2 by default (added to the gradient), decoupled with ``decouple=True``
    (scaled by ``dlr``, as AdamW's by its lr). Defaults are the reference's: ``lr=1.0``,
    ``betas=(0.9, 0.999)``, ``eps=1e-8``, ``weight_decay=0``, ``decouple=False``,
    ``use_bias_correction=False``, ``d0=1e-6``, ``growth_rate=inf``, ``layer_scale=1``
    (a per-group multiplier of the step size, which the reference takes from a group
    entry). ``log_every=k`` logs ``d`` through the ``logging`` module every k steps (0: never),
    as the reference does. The reference's ``fsdp_in_use`` (sums across processes of a
    sharded model) has no meaning here and is not an argument.

    ``betas``, ``d0``, ``growth_rate``, ``decouple``, ``use_bias_correction`` and
    ``log_every`` must be the same in every group: the reference reads them from the first
    group only. Where this differs from the reference's code:

    * a group whose lr is 0 is left unchanged; the reference stops feeding it gradients but
      still moves it every step by its old first moment (``p -= m / denom``) and decays it;
    * the reference adds the L2 term into ``p.grad`` itself; here ``p.grad`` is left alone.

    Valid values: ``lr``, ``weight_decay``, ``layer_scale`` finite and >= 0; ``eps``,
    ``d0`` finite and > 0; each beta in [0, 1); ``growth_rate`` >= 1 (inf allowed);
    ``log_every`` an integer >= 0.
    """

    global_hyperparameters = ("betas", "d0", "growth_rate", "decouple", "use_bias_correction",
                              "log_every")
    hyperparameter_checks = {"lr": LR, "betas": BETAS, "eps": POSITIVE,
                             "weight_decay": NONNEGATIVE, "d0": POSITIVE,
                             "growth_rate": GROWTH_RATE, "layer_scale": NONNEGATIVE,
                             "log_every": Integer(0), "d": POSITIVE, "k": Integer(0),
                             "numerator_weighted": Real()}

    def __init__(self, params: ParamsT, lr: float = 1.0,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, log_every: int = 0, decouple: bool = False,
                 use_bias_correction: bool = False, d0: float = 1e-6,
                 growth_rate: float = math.inf, layer_scale: float = 1.0, *,
                 maximize: bool = False, on_nonfinite: str = "raise",
                 flat: bool = True) -> None:
        defaults = dict(hyperparameters(locals()), d=d0, k=0, numerator_weighted=0.0)
        super().__init__(params, defaults, on_nonfinite=on_nonfinite, flat=flat)

    def _init_state(self, param: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        state["exp_avg"] = zeros_state(param)
        state["exp_avg_sq"] = zeros_state(param)
        state["s"] = zeros_state(param)

    def _begin(self) -> bool:
        self._dlr = adam_step_size(self)
        self._numerator = _Sum()
        self._s_l1 = _Sum()
        return True

    def _update(self, param: Tensor, grad: Any, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        xp = backend.xp(param.device)
        p = param.array
        beta1, beta2 = self.param_groups[0]["betas"]
        sqrt_beta2 = beta2 ** 0.5
        decay, eps, r, dlr = group["weight_decay"], group["eps"], group["layer_scale"], self._dlr
        if decay != 0 and not group["decouple"]:
            grad = grad + decay * p
        exp_avg, exp_avg_sq, s = state["exp_avg"], state["exp_avg_sq"], state["s"]
        scratch = xp.sqrt(exp_avg_sq, out=xp.empty_like(exp_avg_sq))
        scratch += eps
        ratio = xp.divide(s, scratch, out=scratch)
        self._numerator.add(xp.dot(grad.reshape(-1), ratio.reshape(-1)), r * dlr)
        exp_avg *= beta1
        exp_avg += xp.multiply(grad, r * dlr * (1.0 - beta1), out=scratch)
        exp_avg_sq *= beta2
        grad_sq = xp.multiply(grad, grad, out=scratch)
        grad_sq *= 1.0 - beta2
        exp_avg_sq += grad_sq
        s *= sqrt_beta2
        s += xp.multiply(grad, dlr * (1.0 - sqrt_beta2), out=scratch)
        self._s_l1.add(xp.abs(s, out=scratch).sum(), r)
        self._pending.append((param, grad, state, group))

    def _finish(self, pending: list[tuple[Tensor, Any, dict[str, Any], dict[str, Any]]]
                ) -> None:
        groups = self.param_groups
        first = groups[0]
        beta2 = first["betas"][1]
        sqrt_beta2 = beta2 ** 0.5
        d, lr, dlr = first["d"], self._lr, self._dlr
        numerator = (sqrt_beta2 * first["numerator_weighted"]
                     + (1.0 - sqrt_beta2) * self._numerator.value())
        s_l1 = self._s_l1.value()
        if s_l1 == 0:
            return
        d_hat = d
        if lr > 0.0:
            d_hat = numerator / ((1.0 - sqrt_beta2) * s_l1)
            d = max(d, min(d_hat, d * first["growth_rate"]))
        self._log(f"lr {lr} dlr {dlr} d_hat {d_hat} d {d}")
        for param, _, state, group in pending:
            xp = backend.xp(param.device)
            p = param.array
            denom = xp.sqrt(state["exp_avg_sq"], out=xp.empty_like(p))
            denom += group["eps"]
            if group["weight_decay"] != 0 and group["decouple"]:
                p += p * (-group["weight_decay"] * dlr)
            p -= xp.divide(state["exp_avg"], denom, out=denom)
        k = first["k"]
        for group in groups:
            group["numerator_weighted"] = numerator
            group["d"] = d
            group["k"] = k + 1


class DAdaptSGD(_GlobalStep):
    """SGD with D-Adaptation (Defazio & Mishchenko 2023, "Learning-Rate-Free Learning by
    D-Adaptation"), as ``DAdaptSGD`` of facebookresearch/dadaptation (dadapt_sgd.py,
    version 3.2): dual averaging whose step size ``d * lr / |g_0|`` grows with ``d``, a lower
    bound on the distance to a solution.

    With ``g`` the gradient (negated when ``maximize``), ``g_0`` the first step's gradient
    over every parameter with lr > 0 (before weight decay, as in the reference), ``c = 1 -
    momentum``, ``x0`` each parameter at its first step and sums over every parameter::

        dlr = d * lr / |g_0|_2
        g   = g + wd * p                                  (L2)
        n   = n + dlr * <g, s>                            (s before this step)
        s   = s + dlr * g
        d   = max(d, min(2 * n / |s|_2, d * growth_rate))
        p   = (1 - c) * p + c * (x0 - s)                  (p = x0 - s when momentum = 0)

    The new ``d`` serves the next step. ``d``, ``n`` (``numerator_weighted``), ``|g_0|``
    (``g0_norm``) and the step count ``k`` are kept in the param groups. The reference also
    keeps ``z = x0 - s`` as state; here it is computed when needed.

    Weight decay is L2 (added to the gradient). Defaults are the reference's: ``lr=1.0``
    (a multiplier of the adapted step size), ``momentum=0``, ``weight_decay=0``,
    ``d0=1e-6``, ``growth_rate=inf``; ``log_every`` as in :class:`DAdaptAdam`; the
    reference's ``fsdp_in_use`` has no meaning here.

    ``d0``, ``growth_rate`` and ``log_every`` must be the same in every group. Where this
    differs from the reference's code:

    * the reference uses the first group's ``momentum`` and ``weight_decay`` for every
      group; here each group uses its own;
    * if the first step's gradients are all zero, the reference divides by zero; here that
      step does nothing (and the next step is the first again);
    * a group whose lr is 0 is left unchanged (the reference keeps averaging it towards
      ``x0 - s`` when momentum > 0);
    * the reference adds the L2 term into ``p.grad`` itself; here ``p.grad`` is left alone.

    Valid values: ``lr``, ``weight_decay`` finite and >= 0; ``momentum`` in [0, 1); ``d0``
    finite and > 0; ``growth_rate`` >= 1 (inf allowed); ``log_every`` an integer >= 0.
    """

    global_hyperparameters = ("d0", "growth_rate", "log_every")
    hyperparameter_checks = {"lr": LR, "momentum": BETA, "weight_decay": NONNEGATIVE,
                             "d0": POSITIVE, "growth_rate": GROWTH_RATE,
                             "log_every": Integer(0), "d": POSITIVE, "k": Integer(0),
                             "numerator_weighted": Real(), "g0_norm": Maybe(NONNEGATIVE)}

    def __init__(self, params: ParamsT, lr: float = 1.0, momentum: float = 0.0,
                 weight_decay: float = 0.0, log_every: int = 0, d0: float = 1e-6,
                 growth_rate: float = math.inf, *, maximize: bool = False,
                 on_nonfinite: str = "raise", flat: bool = True) -> None:
        defaults = dict(hyperparameters(locals()), d=d0, k=0, numerator_weighted=0.0,
                        g0_norm=None)
        super().__init__(params, defaults, on_nonfinite=on_nonfinite, flat=flat)

    def _init_state(self, param: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        state["s"] = zeros_state(param)
        state["x0"] = param.array.copy()

    def _begin(self) -> bool:
        first = self.param_groups[0]
        self._lr = max(group["lr"] for group in self.param_groups)
        if first["k"] == 0:
            squares = _Sum()
            for group in self.param_groups:
                if group["lr"] <= 0.0:
                    continue
                for p in group["params"]:
                    if p.grad is not None:
                        g = p.grad.array.reshape(-1)
                        squares.add(backend.xp(p.device).dot(g, g))
            g0_norm = math.sqrt(squares.value())
            if g0_norm == 0:
                return False  # nothing to scale by: the next step is the first again
            for group in self.param_groups:
                group["g0_norm"] = g0_norm
        self._dlr = first["d"] * self._lr / first["g0_norm"]
        self._numerator = _Sum()
        self._s_sq = _Sum()
        return True

    def _update(self, param: Tensor, grad: Any, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        xp = backend.xp(param.device)
        if group["weight_decay"] != 0:
            grad = grad + group["weight_decay"] * param.array
        s = state["s"]
        self._numerator.add(xp.dot(grad.reshape(-1), s.reshape(-1)), self._dlr)
        s += xp.multiply(grad, self._dlr, out=xp.empty_like(s))
        flat_s = s.reshape(-1)
        self._s_sq.add(xp.dot(flat_s, flat_s))
        self._pending.append((param, grad, state, group))

    def _finish(self, pending: list[tuple[Tensor, Any, dict[str, Any], dict[str, Any]]]
                ) -> None:
        groups = self.param_groups
        first = groups[0]
        d, lr = first["d"], self._lr
        numerator = first["numerator_weighted"] + self._numerator.value()
        s_sq = self._s_sq.value()
        if s_sq == 0:
            return
        d_hat = d
        if lr > 0.0:
            d_hat = 2.0 * numerator / math.sqrt(s_sq)
            d = max(d, min(d_hat, d * first["growth_rate"]))
        self._log(f"dlr {self._dlr} d_hat {d_hat} d {d} g0_norm {first['g0_norm']}")
        for param, _, state, group in pending:
            xp = backend.xp(param.device)
            p = param.array
            c = 1.0 - group["momentum"]
            z = xp.subtract(state["x0"], state["s"], out=xp.empty_like(p))
            if c == 1.0:
                p[...] = z
            else:
                p *= 1.0 - c
                z *= c
                p += z
        k = first["k"]
        for group in groups:
            group["numerator_weighted"] = numerator
            group["d"] = d
            group["k"] = k + 1
