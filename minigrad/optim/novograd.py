"""NovoGrad: momentum of gradients normalised per layer by a running gradient norm."""
from __future__ import annotations

from typing import Any

from minigrad import backend
from minigrad.optim.checks import BETAS, LR, NONNEGATIVE
from minigrad.optim.optimizer import Optimizer, ParamsT, _Required, hyperparameters, required
from minigrad.tensor import Tensor


class NovoGrad(Optimizer):
    """NovoGrad (Ginsburg, Castonguay, Hrinchuk, Kuchaiev, Lavrukhin, Leary, Li, Nguyen,
    Zhang & Cohen 2019, "Stochastic Gradient Methods with Layer-wise Adaptive Moments for
    Training of Deep Networks"), as ``optax.novograd``.

    Per parameter (one layer), with ``g`` the gradient (negated when ``maximize``) and ``t``
    the step count; ``v`` is one number per parameter, not per entry::

        n = ||g||^2                                     (over the whole parameter)
        v = n                                 at the first step
        v = b2 * v + (1 - b2) * n             afterwards
        u = g / (sqrt(v + eps_root) + eps) + wd * p
        m = u                                 at the first step
        m = b1 * m + u                        afterwards
        p = p - lr * m

    The second moment is that of the layer's gradient norm, so the state is half Adam's and
    every layer's normalised gradient has a norm of about one. Neither moment is
    bias-corrected: the first step initialises them instead, and ``m`` sums its inputs
    without a ``(1 - b1)`` factor (optax's form), so the step settles at about
    ``lr / (1 - b1)`` times the normalised gradient.

    Weight decay as in optax: ``wd * p`` is added to the normalised gradient, after the
    division by the norm, and goes through the momentum (neither L2, which would be
    normalised, nor AdamW's decoupled decay, which would bypass the momentum).

    Defaults are optax's ``novograd``: ``betas=(0.9, 0.25)``, ``eps=1e-6``, ``eps_root=0``,
    ``weight_decay=0``. ``lr`` has no default, as in optax.

    Valid values: ``lr``, ``eps``, ``eps_root``, ``weight_decay`` finite and >= 0; each beta
    finite in [0, 1).
    """

    hyperparameter_checks = {"lr": LR, "betas": BETAS, "eps": NONNEGATIVE,
                             "eps_root": NONNEGATIVE, "weight_decay": NONNEGATIVE}

    def __init__(self, params: ParamsT, lr: float | _Required = required,
                 betas: tuple[float, float] = (0.9, 0.25), eps: float = 1e-6,
                 eps_root: float = 0.0, weight_decay: float = 0.0, *, maximize: bool = False,
                 on_nonfinite: str = "raise", flat: bool = True) -> None:
        super().__init__(params, hyperparameters(locals()), on_nonfinite=on_nonfinite,
                         flat=flat)

    def _state_shape(self, param: Tensor, key: str) -> tuple[int, ...] | None:
        return () if key == "exp_avg_sq" else tuple(param.shape)

    def _init_state(self, param: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = backend.xp(param.device)
        state["exp_avg"] = xp.zeros_like(param.array)
        state["exp_avg_sq"] = xp.zeros((), dtype=param.array.dtype)

    def _update(self, param: Tensor, grad: Any, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        xp = backend.xp(param.device)
        data = param.array
        beta1, beta2 = group["betas"]
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        flat_grad = grad.reshape(-1)
        squared_norm = xp.vdot(flat_grad, flat_grad).real  # stays on the device
        first = state["step"] == 1
        if first:
            exp_avg_sq[...] = squared_norm
        else:
            exp_avg_sq *= beta2
            exp_avg_sq += (1.0 - beta2) * squared_norm
        denom = xp.sqrt(exp_avg_sq + group["eps_root"]) + group["eps"]
        update = xp.divide(grad, denom.astype(data.dtype, copy=False),
                           out=xp.empty_like(data))
        if group["weight_decay"]:
            update += group["weight_decay"] * data
        if first:
            exp_avg[...] = update
        else:
            exp_avg *= beta1
            exp_avg += update
        xp.multiply(exp_avg, group["lr"], out=update)
        data -= update
