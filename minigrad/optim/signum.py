"""signSGD and Signum: steps of a fixed size in the direction of the sign of the gradient (or
of its momentum)."""
from __future__ import annotations

from typing import Any

from minigrad import backend, kernels
from minigrad.optim.checks import BETA, LR, NONNEGATIVE
from minigrad.optim.optimizer import Optimizer, ParamsT, ema_, hyperparameters
from minigrad.tensor import Tensor

# np.sign of x: +0 for either zero, NaN for NaN
_SIGN = "({x} > 0 ? T(1) : ({x} < 0 ? T(-1) : ({x} == 0 ? T(0) : {x})))"
SIGNSGD_KERNEL = kernels.ElementwiseKernel(
    "signsgd_step", reads="grad", writes="param", scalars="lr",
    body=f"param = param - {_SIGN.format(x='grad')} * lr;")
SIGNUM_KERNEL = kernels.ElementwiseKernel(
    "signum_step", reads="grad", writes="param, momentum_buffer",
    scalars="momentum, one_minus_momentum, lr",
    body=f"""
momentum_buffer = momentum_buffer * momentum + grad * one_minus_momentum;
param = param - {_SIGN.format(x='momentum_buffer')} * lr;
""")


class SignSGD(Optimizer):
    """signSGD (Bernstein, Wang, Azizzadenesheli & Anandkumar 2018, "signSGD: Compressed
    Optimisation for Non-Convex Problems"), as ``optax.sign_sgd``.

    With ``g`` the gradient (negated when ``maximize``)::

        p = p * (1 - lr * wd)              # decoupled weight decay (none by default)
        p = p - lr * sign(g)               # sign(0) = 0

    Every coordinate moves by exactly ``lr`` (or stays where it is). Weight decay is
    decoupled, as in Lion: added inside the sign it would be lost for every coordinate whose
    gradient is larger than ``wd * |p|``. Neither the paper nor optax has one; default 0.
    ``lr=1e-3`` is this library's default (optax has none). No state but the step count.

    Valid values: ``lr`` and ``weight_decay`` finite and >= 0. On the GPU the update is one
    fused kernel (minigrad.optim.fused).
    """

    elementwise = True
    weight_decay_kind = "decoupled"
    hyperparameter_checks = {"lr": LR, "weight_decay": NONNEGATIVE}

    def __init__(self, params: ParamsT, lr: float = 1e-3, weight_decay: float = 0.0, *,
                 maximize: bool = False, on_nonfinite: str = "raise", flat: bool = True) -> None:
        super().__init__(params, hyperparameters(locals()), on_nonfinite=on_nonfinite,
                         flat=flat)

    def _update(self, param: Tensor, grad: Any, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        xp = backend.xp(param.device)
        if kernels.usable(param.array):
            SIGNSGD_KERNEL(grad, param.array, lr=group["lr"])
            return
        direction = xp.sign(grad)
        direction *= group["lr"]
        param.array -= direction


class Signum(Optimizer):
    """Signum, signSGD with momentum (Bernstein et al. 2018, "signSGD: Compressed
    Optimisation for Non-Convex Problems"), as ``optax.signum``.

    With ``g`` the gradient (negated when ``maximize``) and ``m`` zero at the start::

        p = p * (1 - lr * wd)              # decoupled weight decay (none by default)
        m = b * m + (1 - b) * g            # b = momentum; no bias correction (the sign
        p = p - lr * sign(m)               #  would not change)

    ``momentum=0`` is signSGD. Weight decay is decoupled (see :class:`SignSGD`; neither the
    paper nor optax has one). Defaults: ``momentum=0.9`` (optax's ``beta``); ``lr=1e-3``
    is this library's (optax has none).

    Valid values: ``lr`` and ``weight_decay`` finite and >= 0; ``momentum`` in [0, 1). On
    the GPU the update is one fused kernel (minigrad.optim.fused).
    """

    elementwise = True
    zero_state = ("momentum_buffer",)
    weight_decay_kind = "decoupled"
    hyperparameter_checks = {"lr": LR, "momentum": BETA, "weight_decay": NONNEGATIVE}

    def __init__(self, params: ParamsT, lr: float = 1e-3, momentum: float = 0.9,
                 weight_decay: float = 0.0, *, maximize: bool = False,
                 on_nonfinite: str = "raise", flat: bool = True) -> None:
        super().__init__(params, hyperparameters(locals()), on_nonfinite=on_nonfinite,
                         flat=flat)

    def _update(self, param: Tensor, grad: Any, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        xp = backend.xp(param.device)
        buf = state["momentum_buffer"]
        if kernels.usable(param.array):
            momentum = group["momentum"]
            SIGNUM_KERNEL(grad, param.array, buf, momentum=momentum,
                          one_minus_momentum=1.0 - momentum, lr=group["lr"])
            return
        scratch = xp.empty_like(buf)
        ema_(buf, grad, group["momentum"], scratch)
        direction = xp.sign(buf, out=scratch)
        direction *= group["lr"]
        param.array -= direction
