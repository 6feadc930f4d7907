"""Ranger21: AdamW (or MADGRAD) with adaptive clipping, gradient centralisation and
normalisation, positive-negative momentum, a softplus-calibrated denominator, stable weight
decay, norm loss, Lookahead and a warm-up / warm-down schedule, all in one optimizer."""
from __future__ import annotations

import math
from typing import Any, Callable

from minigrad import backend
from minigrad.optim.checks import (BETA, BETAS, LR, NONNEGATIVE, POSITIVE, UNIT, Choice, Integer,
                                   Maybe, check_values)
from minigrad.optim.clip_grad import adaptive_clip, unitwise_norm
from minigrad.optim.gradient_centralization import centralize_gradient
from minigrad.optim.lookahead import Lookahead
from minigrad.optim.optimizer import Optimizer, ParamsT, ema_, zeros_state
from minigrad.optim.sadam import softplus_
from minigrad.tensor import Tensor, bump_version

FLAG = Choice(True, False)

#: the fixed epsilon of Ranger21's gradient normalisation (not the optimizer's ``eps``)
_NORMALIZE_EPS = 1e-8


class Ranger21(Lookahead):
    """Ranger21 (Wright & Demeure 2021, "Ranger21: a synergistic deep learning optimizer"),
    as lessw2020/Ranger21 (ranger21/ranger21.py), built on minigrad's parts.

    Every step has two passes. With ``g`` each gradient (negated when ``maximize``), ``t``
    its parameter's step count, ``n`` the number of entries of all parameters with a
    gradient and ``lr_t`` the scheduled learning rate (below)::

        pass 1, every parameter:
          g = adaptive_clip(p, g, agc_clipping_value, agc_eps)   # use_adaptive_gradient_clipping
          g = g - mean(g over all dims but the first)            # centralisation, using_gc
          g = g / (std(g) + 1e-8)                                # normalisation, using_normgc
          v = b2 * v + (1 - b2) * g^2
        s = sqrt(sum over all parameters of sum(v / (1 - b2^t)) / n)    # the cube root: madgrad

        pass 2, each parameter:
          p = p * (1 - weight_decay * lr_t / s)                   # stable weight decay
          p = p * (1 - lr_t * 2 * normloss_factor * (1 - 1 / (|p|_unit + eps)))   # norm loss
          then the AdamW core with positive-negative momentum (or the MADGRAD core)
        every lookahead_mergetime steps:  p = a * p + (1 - a) * phi;  phi = p      # Lookahead

    **Adaptive gradient clipping** is :func:`~minigrad.optim.clip_grad.adaptive_clip` (the
    function behind ``adaptive_clip_grad_``, Brock et al. 2021): a unit's gradient (an
    output row, a filter, a whole vector) is scaled down to ``agc_clipping_value *
    max(|unit of p|, agc_eps)`` where it is larger. **Centralisation** is
    :func:`~minigrad.optim.centralize_gradient` (Yong et al. 2020; tensors of 2+ dimensions,
    4+ with ``gc_conv_only``); **normalisation** divides a gradient with more than 2 entries
    by its (unbiased) standard deviation. ``|p|_unit`` is the unit-wise 2-norm of
    :func:`~minigrad.optim.clip_grad.unitwise_norm`. **Stable weight decay** (Xie et al.
    2020) is decoupled and divided by ``s``, the root-mean of the debiased second moments of
    the whole model, so that it keeps pace with the adaptive step; **norm loss** (Georgiou
    et al. 2021) pulls each unit's norm towards 1.

    The **AdamW core** (default) with **positive-negative momentum** (Xie et al. 2021): two
    momentum buffers, each updated every other step, ``(m, m')`` = ``(grad_ma,
    neg_grad_ma)`` at odd ``t`` and the other way round at even ``t``::

          g2 = normalise(centralise(g))            # as the reference, the momentum's gradient
                                                   # is centralised and normalised once more
          m = b1^2 * m + (1 - b1^2) * g2
          d = sqrt(v) / sqrt(1 - b2^t) + eps
          d = softplus_beta_softplus(d)            # softplus (Tong et al. 2019; sadam.softplus_)
          u = ((1 + b0) * m - b0 * m') / sqrt((1 + b2)^2 + b2^2)     # b0 = pnm_momentum_factor
          p = p - lr_t / (1 - b1^t) * u / d

    (the noise norm uses ``b2``, as the reference's code does.) With ``use_adabelief`` the
    second moment is AdaBelief's (Zhuang et al. 2020): the momentum is updated in pass 1 and
    ``v = b2 * v + (1 - b2) * (g - m)^2`` (with that ``v`` in ``s`` too). The **MADGRAD
    core** (``use_madgrad``; Defazio & Jelassi 2021), with ``lambda = lr_t * sqrt(t)``, the
    weight decay ``p * (1 - weight_decay * lambda / s)`` and the state's ``x0`` taken at the
    first step after the decay::

          g = centralise(g);   S = S + lambda * g^2;   z_sum = z_sum + lambda * g
          r = softplus_beta_softplus(S^(1/3))     (S^(1/3) + eps without softplus)
          x0 = p + z_sum_before / r_before             (momentum 0: no stored x0)
          p = momentum * p + (1 - momentum) * (x0 - z_sum / r)

    **The schedule**, from each group's ``lr`` ``b`` and the run's length ``N =
    num_epochs * num_batches_per_epoch`` (both required, as in the reference)::

        warm-up (use_warmup, t <= W):
            lr_t = b * min(1, t / W)
        warm-down (warmdown_active, t >= K):
            lr_t = max(m, b - (b - m) * min(1, (t + 1 - K) / (N - K + 1)))

    with ``K = int(warmdown_start_pct * num_epochs * num_batches_per_epoch)``, ``m =
    warmdown_min_lr`` and ``W = num_warmup_iterations``, by default ``ceil(2 / (1 - b2))``
    (Ma & Yarats 2019) unless that is over 45% of ``N``, then ``int(warmup_pct_default *
    N)``; the warm-down wins where both apply. (The same schedule as
    :class:`~minigrad.optim.lr_scheduler.Ranger21LR`, which gives it to any optimizer.)
    **Lookahead** (Zhang et al. 2019) is :class:`~minigrad.optim.Lookahead`'s (``k =
    lookahead_mergetime``, ``alpha = lookahead_blending_alpha``), off with
    ``lookahead_active=False``. With ``lookahead_load_at_validation``, the end of every epoch
    (each ``num_batches_per_epoch`` steps) loads the slow weights into the parameters for
    validation (:meth:`backup_and_load_cache`); call :meth:`clear_and_load_backup` before
    training on, as in the reference.

    Keywords and defaults are the reference's: ``lookahead_active=True,
    lookahead_mergetime=5, lookahead_blending_alpha=0.5, use_madgrad=False,
    use_adabelief=False, softplus=True, beta_softplus=50, using_gc=True, using_normgc=True,
    gc_conv_only=False, normloss_active=True, normloss_factor=1e-4,
    use_adaptive_gradient_clipping=True, agc_clipping_value=1e-2, agc_eps=1e-3,
    betas=(0.9, 0.999), momentum_type="pnm", pnm_momentum_factor=1.0, momentum=0.9
    (MADGRAD's), eps=1e-8, use_warmup=True, warmdown_active=True, warmdown_start_pct=0.72,
    warmdown_min_lr=3e-5, weight_decay=1e-4, decay_type="stable", warmup_type="linear"``
    (or None: no warm-up), ``warmup_pct_default=0.22``; ``lr`` has no default. Weight decay
    is decoupled (stable), never L2.

    **Where this differs from the reference** (its known bugs, not reproduced):

    * Weight decay and norm loss apply to every parameter (the upstream fix, as in
      pytorch_optimizer's Ranger21). The reference applies them between its two loops, to
      whichever tensor its loop variable last held: only the last parameter of the last
      group, with that parameter's step count.
    * ``pnm_momentum_factor`` is ``b0`` above; the reference ignores it (it always uses 1,
      the default, so default runs agree).
    * ``use_adabelief``: the reference's belief average is never accumulated (its ``addcmul``
      is not in place) nor used, and its second momentum buffer is never updated; here it is
      AdaBelief's second moment, as described above. ``use_madgrad`` with ``use_adabelief``
      is refused (the reference ignores the latter there).
    * MADGRAD without softplus adds ``eps`` to the cube root, as MADGRAD does; the reference
      divides by the bare cube root (0 / 0 = NaN at the first step with ``momentum=0``).
    * Unit norms of 3-d weights (Conv1d) are taken over every dimension but the first (one
      per filter, as NFNets' AGC); the reference's takes dim 1 only for 3-d tensors.
    * Each group's own lr is warmed down; the reference warms every group down from the lr
      given to its constructor.
    * A model whose second moments are all 0 (every gradient so far exactly 0) gets no weight
      decay at that step; the reference divides by 0 (ZeroDivisionError).
    * The gradients are not changed; the reference overwrites ``p.grad`` with the clipped,
      centralised and normalised gradient. The reference's AMSGrad-style maximum
      (``max_variance_ma``) is not kept: its ``torch.max(..., out=variance_ma)`` leaves
      ``v`` as it is, so it has no effect.
    * Left out: ``use_cheb`` (Chebyshev steps: the reference fails with an AttributeError),
      ``momentum_type`` other than ``"pnm"`` (the reference fails with a NameError),
      ``logging_active`` and the printed settings. ``decay_type`` only takes ``"stable"``.

    Valid values: ``lr``, ``eps``, ``weight_decay``, ``normloss_factor``,
    ``agc_clipping_value``, ``agc_eps``, ``pnm_momentum_factor``, ``warmdown_min_lr``
    finite and >= 0; each beta and ``momentum`` in [0, 1); ``beta_softplus`` > 0;
    ``warmdown_start_pct``, ``warmup_pct_default`` and ``lookahead_blending_alpha`` in
    [0, 1]; ``num_epochs``, ``num_batches_per_epoch``, ``lookahead_mergetime`` integers
    >= 1; ``num_warmup_iterations`` None or an integer >= 0.
    """

    def __init__(self, params: ParamsT, lr: float, lookahead_active: bool = True,
                 lookahead_mergetime: int = 5, lookahead_blending_alpha: float = 0.5,
                 lookahead_load_at_validation: bool = False, use_madgrad: bool = False,
                 use_adabelief: bool = False, softplus: bool = True, beta_softplus: float = 50.0,
                 using_gc: bool = True, using_normgc: bool = True, gc_conv_only: bool = False,
                 normloss_active: bool = True, normloss_factor: float = 1e-4,
                 use_adaptive_gradient_clipping: bool = True, agc_clipping_value: float = 1e-2,
                 agc_eps: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 momentum_type: str = "pnm", pnm_momentum_factor: float = 1.0,
                 momentum: float = 0.9, eps: float = 1e-8,
                 num_batches_per_epoch: int | None = None, num_epochs: int | None = None,
                 use_warmup: bool = True, num_warmup_iterations: int | None = None,
                 warmdown_active: bool = True, warmdown_start_pct: float = 0.72,
                 warmdown_min_lr: float = 3e-5, weight_decay: float = 1e-4,
                 decay_type: str = "stable", warmup_type: str | None = "linear",
                 warmup_pct_default: float = 0.22, *, maximize: bool = False,
                 on_nonfinite: str = "raise", flat: bool = True) -> None:
        if num_epochs is None or num_batches_per_epoch is None:
            raise ValueError("Ranger21 needs num_epochs and num_batches_per_epoch: its warm-up "
                             "and warm-down are laid out over num_epochs * "
                             "num_batches_per_epoch steps")
        options = dict(lookahead_active=lookahead_active, lookahead_mergetime=lookahead_mergetime,
                       lookahead_blending_alpha=lookahead_blending_alpha,
                       lookahead_load_at_validation=lookahead_load_at_validation,
                       use_madgrad=use_madgrad, use_adabelief=use_adabelief,
                       momentum_type=momentum_type, decay_type=decay_type,
                       warmup_pct_default=warmup_pct_default, betas=betas,
                       num_epochs=num_epochs, num_batches_per_epoch=num_batches_per_epoch,
                       num_warmup_iterations=num_warmup_iterations)
        check_values("Ranger21", _OPTION_CHECKS, options)
        if use_madgrad and use_adabelief:
            raise ValueError("Ranger21: use_madgrad and use_adabelief choose two different "
                             "cores; set at most one of them")
        total = num_epochs * num_batches_per_epoch
        if num_warmup_iterations is None:  # the reference's rule
            num_warmup_iterations = math.ceil(2 / (1 - betas[1]))
            if num_warmup_iterations / total > 0.45:
                num_warmup_iterations = int(warmup_pct_default * total)
        self.lookahead_active = bool(lookahead_active)
        self.lookahead_load_at_validation = bool(lookahead_load_at_validation)
        self.current_iter = 0  # steps into the current epoch
        core = _Ranger21Core(
            params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         momentum=momentum, softplus=softplus, beta_softplus=beta_softplus,
                         using_gc=using_gc, using_normgc=using_normgc,
                         gc_conv_only=gc_conv_only, normloss_active=normloss_active,
                         normloss_factor=normloss_factor,
                         use_adaptive_gradient_clipping=use_adaptive_gradient_clipping,
                         agc_clipping_value=agc_clipping_value, agc_eps=agc_eps,
                         pnm_momentum_factor=pnm_momentum_factor, num_epochs=num_epochs,
                         num_batches_per_epoch=num_batches_per_epoch, use_warmup=use_warmup,
                         num_warmup_iterations=num_warmup_iterations,
                         warmdown_active=warmdown_active, warmdown_start_pct=warmdown_start_pct,
                         warmdown_min_lr=warmdown_min_lr, warmup_type=warmup_type,
                         maximize=maximize),
            use_madgrad=bool(use_madgrad), use_adabelief=bool(use_adabelief),
            on_nonfinite=on_nonfinite, flat=flat)
        self._core = core
        super().__init__(core, k=lookahead_mergetime, alpha=lookahead_blending_alpha)

    def _name(self) -> str:
        return "Ranger21"

    @property
    def use_madgrad(self) -> bool:
        """Whether the core is MADGRAD's (else AdamW's with positive-negative momentum)."""
        return self._core.use_madgrad

    @property
    def use_adabelief(self) -> bool:
        """Whether the AdamW core's second moment is AdaBelief's."""
        return self._core.use_adabelief

    def scheduled_lr(self, group: dict[str, Any], step: int) -> float:
        """The learning rate Ranger21 uses for ``group`` at step ``step`` (1 first)."""
        return _scheduled_lr(group, step)

    # --- Lookahead, switched by lookahead_active ---------------------------------------------
    def _group_added(self, group: dict[str, Any]) -> None:
        if self.lookahead_active:
            super()._group_added(group)

    def _after_step(self) -> None:
        if self.lookahead_active:
            super()._after_step()
        self.current_iter += 1
        if self.current_iter % self.defaults["num_batches_per_epoch"] == 0:
            self.current_iter = 0
            if self.lookahead_active and self.lookahead_load_at_validation:
                self.backup_and_load_cache()

    def backup_and_load_cache(self) -> None:
        """Keep the parameters aside and load the Lookahead slow weights into them (to
        validate the slow weights); :meth:`clear_and_load_backup` restores them."""
        if not self.lookahead_active:
            raise RuntimeError("Ranger21.backup_and_load_cache(): Lookahead is off "
                               "(lookahead_active=False), there are no slow weights")
        for p in self._indexed_params():
            state = self.state[p]
            state["backup_param"] = p.array.copy()
            p.array[...] = state["slow_param"]
            bump_version(p)

    def clear_and_load_backup(self) -> None:
        """Put back the parameters kept by :meth:`backup_and_load_cache`."""
        params = self._indexed_params()
        if not all("backup_param" in self.state[p] for p in params):
            raise RuntimeError("Ranger21.clear_and_load_backup(): no backup to load; "
                               "backup_and_load_cache() keeps one")
        for p in params:
            p.array[...] = self.state[p].pop("backup_param")
            bump_version(p)

    def _wrapper_state(self) -> dict[str, Any]:
        state = super()._wrapper_state() if self.lookahead_active else {}
        state["current_iter"] = self.current_iter
        return state

    def _load_wrapper_state(self, entries: dict[str, Any]) -> Callable[[], None]:
        check_values(self._name(), {"current_iter": Integer(0)}, entries,
                     " in the loaded state dict")
        apply_lookahead = (super()._load_wrapper_state(entries) if self.lookahead_active
                           else (lambda: None))

        def apply() -> None:
            apply_lookahead()
            self.current_iter = int(entries["current_iter"])
        return apply


_OPTION_CHECKS = {"lookahead_active": FLAG, "lookahead_mergetime": Integer(1),
                  "lookahead_blending_alpha": UNIT, "lookahead_load_at_validation": FLAG,
                  "use_madgrad": FLAG, "use_adabelief": FLAG, "momentum_type": Choice("pnm"),
                  "decay_type": Choice("stable"), "warmup_pct_default": UNIT, "betas": BETAS,
                  "num_epochs": Integer(1), "num_batches_per_epoch": Integer(1),
                  "num_warmup_iterations": Maybe(Integer(0))}


def _scheduled_lr(group: dict[str, Any], step: int) -> float:
    """Ranger21's warm-up / warm-down of ``group["lr"]`` at ``step`` (see :class:`Ranger21`)."""
    base = lr = group["lr"]
    warmup = group["num_warmup_iterations"]
    if group["use_warmup"] and group["warmup_type"] is not None and step <= warmup:
        lr = base * min(1.0, step / warmup)
    if group["warmdown_active"]:
        epochs, batches = group["num_epochs"], group["num_batches_per_epoch"]
        start = int(group["warmdown_start_pct"] * epochs * batches)
        if step >= start:
            fraction = min(1.0, (step + 1 - start) / (epochs * batches - start + 1))
            lowest = group["warmdown_min_lr"]
            lr = max(lowest, base - (base - lowest) * fraction)
    return lr


def _normalize_gradient(grad: Any) -> Any:
    """``grad / (std(grad) + 1e-8)`` (unbiased std over all entries) when it has more than 2
    entries, as the reference's ``normalize_gradient``; a new array (or ``grad`` itself)."""
    if grad.size <= 2:
        return grad
    return grad / (grad.std(ddof=1) + _NORMALIZE_EPS)


class _Ranger21Core(Optimizer):
    """Ranger21's update without its Lookahead (see :class:`Ranger21`)."""

    hyperparameter_checks = {
        "lr": LR, "betas": BETAS, "eps": NONNEGATIVE, "weight_decay": NONNEGATIVE,
        "momentum": BETA, "softplus": FLAG, "beta_softplus": POSITIVE, "using_gc": FLAG,
        "using_normgc": FLAG, "gc_conv_only": FLAG, "normloss_active": FLAG,
        "normloss_factor": NONNEGATIVE, "use_adaptive_gradient_clipping": FLAG,
        "agc_clipping_value": NONNEGATIVE, "agc_eps": NONNEGATIVE,
        "pnm_momentum_factor": NONNEGATIVE, "num_epochs": Integer(1),
        "num_batches_per_epoch": Integer(1), "use_warmup": FLAG,
        "num_warmup_iterations": Integer(0), "warmdown_active": FLAG,
        "warmdown_start_pct": UNIT, "warmdown_min_lr": NONNEGATIVE,
        "warmup_type": Choice("linear", None), "maximize": FLAG}

    def __init__(self, params: ParamsT, defaults: dict[str, Any], *, use_madgrad: bool,
                 use_adabelief: bool, on_nonfinite: str, flat: bool) -> None:
        self.use_madgrad = use_madgrad
        self.use_adabelief = use_adabelief
        # per step: the processed gradients of pass 1 and the stable-decay normaliser
        self._pending: dict[int, tuple[Any, Any]] = {}
        self._normalizer: Any = None
        super().__init__(params, defaults, on_nonfinite=on_nonfinite, flat=flat)

    def _name(self) -> str:
        return "Ranger21"

    def _init_state(self, param: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        state["variance_ma"] = zeros_state(param)
        if self.use_madgrad:
            state["grad_sum_sq"] = zeros_state(param)
            state["s"] = zeros_state(param)
        else:
            state["grad_ma"] = zeros_state(param)
            state["neg_grad_ma"] = zeros_state(param)

    def _step_group(self, group: dict[str, Any]) -> None:
        groups = self.param_groups
        if group is groups[0]:
            self._first_pass()
        try:
            for p in group["params"]:
                if id(p) in self._pending:
                    self._second_pass(p, group)
                    bump_version(p)
        finally:
            if group is groups[-1]:
                self._pending = {}
                self._normalizer = None

    # --- pass 1: processed gradients, second moments, the stable-decay normaliser -----------
    def _first_pass(self) -> None:
        pending: dict[int, tuple[Any, Any]] = {}
        total: Any = None
        count, device = 0, "cpu"
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad.array
                if group["maximize"]:
                    grad = -grad
                if group["use_adaptive_gradient_clipping"]:
                    grad = adaptive_clip(p.array, grad, group["agc_clipping_value"],
                                         group["agc_eps"])
                if group["using_gc"]:
                    grad = centralize_gradient(grad, group["gc_conv_only"])
                if group["using_normgc"]:
                    grad = _normalize_gradient(grad)
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    self._init_state(p, state, group)
                state["step"] += 1
                step = state["step"]
                variance = state["variance_ma"]
                second = None
                if self.use_adabelief:
                    second = self._momentum_gradient(grad, group)
                    momentum = self._buffers(state)[0]
                    ema_(momentum, second, beta1 ** 2)
                    xp = backend.xp(p.device)
                    residual = xp.subtract(grad, momentum, out=xp.empty_like(p.array))
                    residual *= residual
                    ema_(variance, residual, beta2, residual)
                else:
                    xp = backend.xp(p.device)
                    square = xp.multiply(grad, grad, out=xp.empty_like(p.array))
                    ema_(variance, square, beta2, square)
                pending[id(p)] = (grad, second)
                part = variance.sum() / (1.0 - beta2 ** step)
                if total is None:
                    device, total = p.device, part
                else:
                    total = total + (part if p.device == device
                                     else backend.to_device(part, device))
                count += p.numel()
        self._pending = pending
        if total is not None:
            xp = backend.xp(device)
            mean = xp.asarray(total / count)
            self._normalizer = xp.asarray(mean ** (1 / 3) if self.use_madgrad
                                          else xp.sqrt(mean))

    def _momentum_gradient(self, grad: Any, group: dict[str, Any]) -> Any:
        """The gradient of the momentum: the reference centralises and normalises its
        (already centralised and normalised) gradient once more in its second loop."""
        if group["using_gc"]:
            grad = centralize_gradient(grad, group["gc_conv_only"])
        if group["using_normgc"] and not self.use_madgrad:
            grad = _normalize_gradient(grad)
        return grad

    @staticmethod
    def _buffers(state: dict[str, Any]) -> tuple[Any, Any]:
        """(the momentum of this step, the other one): positive-negative momentum swaps them
        at every step."""
        if state["step"] % 2 == 1:
            return state["grad_ma"], state["neg_grad_ma"]
        return state["neg_grad_ma"], state["grad_ma"]

    # --- pass 2: decay, norm loss, the core ---------------------------------------------------
    def _second_pass(self, p: Tensor, group: dict[str, Any]) -> None:
        xp = backend.xp(p.device)
        state = self.state[p]
        step = state["step"]
        lr = _scheduled_lr(group, step)
        data = p.array
        rate = lr * math.pow(step, 0.5) if self.use_madgrad else lr
        weight_decay = group["weight_decay"]
        if weight_decay:
            s = self._normalizer
            if backend.device_of(s) != p.device:
                s = backend.to_device(s, p.device)
            positive = s > 0
            factor = xp.where(positive, 1.0 - weight_decay * rate / xp.where(positive, s, 1.0),
                              1.0)
            data *= factor.astype(data.dtype)
        if group["normloss_active"]:
            norm = unitwise_norm(data)
            norm += group["eps"]
            correction = (2 * group["normloss_factor"]) * (1.0 - 1.0 / norm)
            data *= 1.0 - lr * correction
        grad, second = self._pending[id(p)]
        if self.use_madgrad:
            self._madgrad(p, grad, state, group, rate, xp)
        else:
            self._adam_pnm(p, grad, second, state, group, lr, xp)

    def _denominator(self, denom: Any, group: dict[str, Any]) -> Any:
        return softplus_(denom, group["beta_softplus"]) if group["softplus"] else denom

    def _adam_pnm(self, p: Tensor, grad: Any, second: Any, state: dict[str, Any],
                  group: dict[str, Any], lr: float, xp: Any) -> None:
        beta1, beta2 = group["betas"]
        step = state["step"]
        momentum, other = self._buffers(state)
        denom = xp.sqrt(state["variance_ma"], out=xp.empty_like(p.array))
        denom /= math.sqrt(1.0 - beta2 ** step)
        denom += group["eps"]
        if second is None:  # AdaBelief updated the momentum in the first pass
            ema_(momentum, self._momentum_gradient(grad, group), beta1 ** 2)
        self._denominator(denom, group)
        factor = group["pnm_momentum_factor"]
        update = xp.multiply(momentum, 1.0 + factor, out=xp.empty_like(p.array))
        update += other * -factor
        update *= 1.0 / math.sqrt((1.0 + beta2) ** 2 + beta2 ** 2)
        update /= denom
        update *= lr / (1.0 - beta1 ** step)
        p.array -= update

    def _madgrad(self, p: Tensor, grad: Any, state: dict[str, Any], group: dict[str, Any],
                 lamb: float, xp: Any) -> None:
        momentum = group["momentum"]
        data = p.array
        grad = self._momentum_gradient(grad, group)
        grad_sum_sq, s = state["grad_sum_sq"], state["s"]
        if momentum == 0:
            x0 = data + s / self._cube_root(grad_sum_sq, group)
        else:
            if "x0" not in state:  # after this step's weight decay, as the reference
                state["x0"] = data.copy()
            x0 = state["x0"]
        grad_sum_sq += lamb * (grad * grad)
        s += lamb * grad
        z = x0 - s / self._cube_root(grad_sum_sq, group)
        if momentum == 0:
            data[...] = z
        else:
            ck = 1.0 - momentum
            data *= 1.0 - ck
            z *= ck
            data += z

    def _cube_root(self, grad_sum_sq: Any, group: dict[str, Any]) -> Any:
        xp = backend.xp(backend.device_of(grad_sum_sq))
        root = xp.power(grad_sum_sq, 1 / 3, out=xp.empty_like(grad_sum_sq))
        if group["softplus"]:
            return softplus_(root, group["beta_softplus"])
        root += group["eps"]
        return root
