"""Quasi-hyperbolic momentum (QHM) and QHAdam: a weighted average of the momentum step and the
plain gradient step."""
from __future__ import annotations

from typing import Any

from minigrad import backend, kernels
from minigrad.optim.checks import BETAS, LR, NONNEGATIVE, UNIT, Real, Tuple
from minigrad.optim.optimizer import Optimizer, ParamsT, _Required, hyperparameters, required
from minigrad.tensor import Tensor

NU = Real()  # any finite number (the paper uses [0, 1]; the reference checks nothing)
NUS = Tuple(NU, NU, text="a pair (nu1, nu2) of finite numbers")

QHM_KERNEL = kernels.ElementwiseKernel(
    "qhm_step", reads="grad", writes="param, momentum_buffer",
    scalars="momentum, one_minus_momentum, lr_nu, lr_one_minus_nu",
    body="""
momentum_buffer = momentum_buffer * momentum + grad * one_minus_momentum;
param = param - momentum_buffer * lr_nu;
param = param - grad * lr_one_minus_nu;
""")
# mix_grad, mix_grad_sq, add_eps: 1 or 0, the NumPy path's tests nu1 != 1, nu2 != 1, eps != 0
# made on the host (a term it skips is not added as a zero, which could flip a zero's sign)
QHADAM_KERNEL = kernels.ElementwiseKernel(
    "qhadam_step", reads="grad", writes="param, exp_avg, exp_avg_sq",
    scalars="beta1_adj, one_minus_beta1_adj, beta2_adj, one_minus_beta2_adj, nu1, "
            "one_minus_nu1, mix_grad, nu2, one_minus_nu2, mix_grad_sq, eps, add_eps, lr",
    body="""
const T grad_sq = grad * grad;
exp_avg = exp_avg * beta1_adj + grad * one_minus_beta1_adj;
exp_avg_sq = exp_avg_sq * beta2_adj + grad_sq * one_minus_beta2_adj;
T numerator = exp_avg * nu1;
if (mix_grad != 0) numerator = numerator + grad * one_minus_nu1;
T denom = exp_avg_sq * nu2;
if (mix_grad_sq != 0) denom = denom + grad_sq * one_minus_nu2;
denom = sqrt(denom);
if (add_eps != 0) denom = denom + eps;
param = param - (numerator / denom) * lr;
""")


class QHM(Optimizer):
    """Quasi-hyperbolic momentum (Ma & Yarats 2019, "Quasi-hyperbolic momentum and Adam for
    deep learning"), as ``qhoptim.pyt.QHM`` (facebookresearch/qhoptim).

    With ``g`` the gradient (negated when ``maximize``) and the buffer zero at the start::

        g = g + wd * p           (L2, default)   or   p = p * (1 - lr * wd)   (decoupled)
        buf = momentum * buf + (1 - momentum) * g
        p = p - lr * (nu * buf + (1 - nu) * g)

    ``nu = 1`` is momentum SGD with a dampened (EMA) buffer, ``nu = 0`` plain SGD; the paper
    recommends ``nu = 0.7``, ``momentum = 0.999``. ``lr``, ``momentum`` and ``nu`` have no
    defaults, as in the reference. Weight decay is L2 (the reference's
    ``weight_decay_type="grad"``) unless ``decoupled_weight_decay=True`` (its ``"direct"``).
    The reference adds the L2 term to ``p.grad`` in place, so the gradient the user sees after
    the step includes it; here the gradient is left alone.

    Valid values: ``lr``, ``weight_decay`` finite and >= 0; ``momentum`` in [0, 1]; ``nu`` any
    finite number. On the GPU the update is one fused kernel (minigrad.optim.fused).
    """

    elementwise = True
    zero_state = ("momentum_buffer",)
    weight_decay_kind = "l2"
    hyperparameter_checks = {"lr": LR, "momentum": UNIT, "nu": NU, "weight_decay": NONNEGATIVE}

    def __init__(self, params: ParamsT, lr: float | _Required = required,
                 momentum: float | _Required = required, nu: float | _Required = required,
                 weight_decay: float = 0.0, *,
                 decoupled_weight_decay: bool = False, maximize: bool = False,
                 on_nonfinite: str = "raise", flat: bool = True) -> None:
        super().__init__(params, hyperparameters(locals()), on_nonfinite=on_nonfinite,
                         flat=flat)

    def _update(self, param: Tensor, grad: Any, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        xp = backend.xp(param.device)
        lr, momentum, nu = group["lr"], group["momentum"], group["nu"]
        buf = state["momentum_buffer"]
        if kernels.usable(param.array):
            QHM_KERNEL(grad, param.array, buf, momentum=momentum,
                       one_minus_momentum=1.0 - momentum, lr_nu=lr * nu,
                       lr_one_minus_nu=lr * (1.0 - nu))
            return
        buf *= momentum
        scratch = xp.multiply(grad, 1.0 - momentum, out=xp.empty_like(buf))
        buf += scratch
        step = xp.multiply(buf, lr * nu, out=scratch)
        param.array -= step
        xp.multiply(grad, lr * (1.0 - nu), out=scratch)
        param.array -= scratch


class QHAdam(Optimizer):
    """QHAdam (Ma & Yarats 2019, "Quasi-hyperbolic momentum and Adam for deep learning"), as
    ``qhoptim.pyt.QHAdam`` (facebookresearch/qhoptim).

    With ``g`` the gradient (negated when ``maximize``), the buffers zero and the weights
    ``w1 = w2 = 0`` at the start::

        g = g + wd * p           (L2, default)   or   p = p * (1 - lr * wd)   (decoupled)
        w1 = 1 + b1 * w1;  w2 = 1 + b2 * w2         (sum of b^k for k < t)
        m = (1 - 1/w1) * m + (1/w1) * g             (bias-corrected EMA of g)
        v = (1 - 1/w2) * v + (1/w2) * g^2
        p = p - lr * (nu1 * m + (1 - nu1) * g) / (sqrt(nu2 * v + (1 - nu2) * g^2) + eps)

    The averages are debiased as they are formed (``m`` equals Adam's ``m / (1 - b1^t)``
    while ``b1`` is constant). ``nus=(1, 1)`` is Adam; the paper recommends
    ``nus=(0.7, 1.0)`` with ``betas=(0.995, 0.999)``. Defaults are the reference's: ``lr=1e-3,
    betas=(0.9, 0.999), nus=(1.0, 1.0), weight_decay=0, eps=1e-8``. Weight decay is L2 unless
    ``decoupled_weight_decay=True`` (the reference's ``decouple_weight_decay``). The
    reference adds the L2 term to ``p.grad`` in place; here the gradient is left alone.
    ``w1``, ``w2`` are kept in the state as the reference keeps them (``beta1_weight``,
    ``beta2_weight``).

    Valid values: ``lr``, ``eps``, ``weight_decay`` finite and >= 0; each beta in [0, 1);
    each nu any finite number. On the GPU the update is one fused kernel
    (minigrad.optim.fused).
    """

    elementwise = True
    zero_state = ("exp_avg", "exp_avg_sq")
    weight_decay_kind = "l2"
    hyperparameter_checks = {"lr": LR, "betas": BETAS, "nus": NUS, "eps": NONNEGATIVE,
                             "weight_decay": NONNEGATIVE}

    def __init__(self, params: ParamsT, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 nus: tuple[float, float] = (1.0, 1.0), weight_decay: float = 0.0,
                 eps: float = 1e-8, *, decoupled_weight_decay: bool = False,
                 maximize: bool = False, on_nonfinite: str = "raise", flat: bool = True) -> None:
        super().__init__(params, hyperparameters(locals()), on_nonfinite=on_nonfinite,
                         flat=flat)

    def _init_state(self, param: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        super()._init_state(param, state, group)
        state["beta1_weight"] = 0.0
        state["beta2_weight"] = 0.0

    def _update(self, param: Tensor, grad: Any, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        xp = backend.xp(param.device)
        lr, eps = group["lr"], group["eps"]
        beta1, beta2 = group["betas"]
        nu1, nu2 = group["nus"]
        state["beta1_weight"] = 1.0 + beta1 * state["beta1_weight"]
        state["beta2_weight"] = 1.0 + beta2 * state["beta2_weight"]
        beta1_adj = 1.0 - 1.0 / state["beta1_weight"]
        beta2_adj = 1.0 - 1.0 / state["beta2_weight"]
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        if kernels.usable(param.array):
            QHADAM_KERNEL(grad, param.array, exp_avg, exp_avg_sq, beta1_adj=beta1_adj,
                          one_minus_beta1_adj=1.0 - beta1_adj, beta2_adj=beta2_adj,
                          one_minus_beta2_adj=1.0 - beta2_adj, nu1=nu1,
                          one_minus_nu1=1.0 - nu1, mix_grad=float(nu1 != 1.0), nu2=nu2,
                          one_minus_nu2=1.0 - nu2, mix_grad_sq=float(nu2 != 1.0), eps=eps,
                          add_eps=float(eps != 0.0), lr=lr)
            return
        grad_sq = xp.multiply(grad, grad, out=xp.empty_like(exp_avg))
        scratch = xp.multiply(grad, 1.0 - beta1_adj, out=xp.empty_like(exp_avg))
        exp_avg *= beta1_adj
        exp_avg += scratch
        xp.multiply(grad_sq, 1.0 - beta2_adj, out=scratch)
        exp_avg_sq *= beta2_adj
        exp_avg_sq += scratch
        numerator = xp.multiply(exp_avg, nu1, out=scratch)
        if nu1 != 1.0:
            numerator += grad * (1.0 - nu1)
        denom = xp.multiply(exp_avg_sq, nu2, out=xp.empty_like(exp_avg))
        if nu2 != 1.0:
            grad_sq *= 1.0 - nu2
            denom += grad_sq
        xp.sqrt(denom, out=denom)
        if eps != 0.0:
            denom += eps
        numerator /= denom
        numerator *= lr
        param.array -= numerator
