"""LAMB: Adam's step rescaled per parameter by a trust ratio ||p|| / ||step||."""
from __future__ import annotations

from typing import Any

from minigrad import backend
from minigrad.optim.checks import BETAS, LR, NONNEGATIVE
from minigrad.optim.optimizer import Optimizer, ParamsT, _Required, ema_, hyperparameters, required
from minigrad.tensor import Tensor


def norm(xp: Any, array: Any) -> Any:
    """The Euclidean (Frobenius) norm of all entries of ``array``, left on its device (a
    NumPy scalar or a 0-d CuPy array: no device synchronisation)."""
    return xp.linalg.norm(array.reshape(-1))


def scale_by_trust_ratio(xp: Any, update: Any, param: Any, coefficient: float,
                         eps: float) -> None:
    """``update *= coefficient * ||param|| / (||update|| + eps)`` in place, or leave
    ``update`` as it is when either norm is zero, as ``optax.scale_by_trust_ratio`` does
    (``min_norm=0``): a parameter at zero (a freshly zeroed bias) still moves, by the plain
    step, and a zero step stays zero instead of becoming 0/0."""
    param_norm, update_norm = norm(xp, param), norm(xp, update)
    usable = xp.logical_and(param_norm > 0, update_norm > 0)
    denominator = xp.where(usable, update_norm + eps, 1.0)
    ratio = xp.where(usable, coefficient * param_norm / denominator, 1.0)
    update *= ratio  # in place: the 0-d ratio does not promote a float32 update


class LAMB(Optimizer):
    """LAMB, Layer-wise Adaptive Moments for Batch training (You, Li, Reddi, Hseu, Kumar,
    Bhojanapalli, Song, Demmel, Keutzer & Hsieh 2020, "Large Batch Optimization for Deep
    Learning: Training BERT in 76 minutes"), as ``optax.lamb``.

    Per parameter (one layer's weight or bias), with ``g`` the gradient (negated when
    ``maximize``), ``t`` the step count and both moments zero at the start::

        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g^2
        u = (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t) + eps_root) + eps)     (Adam's step)
        u = u + wd * p                                  (decoupled weight decay)
        r = ||p|| / ||u||        (r = 1 when ||p|| = 0 or ||u|| = 0)
        p = p - lr * r * u

    The norms are over the whole parameter (Frobenius for a matrix). The trust ratio ``r``
    makes every layer move by ``lr * ||p||``: a fixed fraction of its own size, whatever the
    scale of its gradient, which is what lets LAMB train with very large batches. It is 1
    where a norm is zero, as in optax (a zero-initialised bias moves by the plain step).

    Weight decay is decoupled from the adaptive scaling (added to Adam's step, not to the
    gradient) but goes through the trust ratio, as in optax. optax's ``mask``
    (which parameters are decayed) is a param group with ``weight_decay=0`` here: biases and
    norm layers are usually put in such a group.

    Defaults are optax's: ``betas=(0.9, 0.999)``, ``eps=1e-6``, ``eps_root=0``,
    ``weight_decay=0``. ``lr`` has no default, as in optax.

    Valid values: ``lr``, ``eps``, ``eps_root``, ``weight_decay`` finite and >= 0; each beta
    finite in [0, 1).
    """

    zero_state = ("exp_avg", "exp_avg_sq")
    hyperparameter_checks = {"lr": LR, "betas": BETAS, "eps": NONNEGATIVE,
                             "eps_root": NONNEGATIVE, "weight_decay": NONNEGATIVE}

    def __init__(self, params: ParamsT, lr: float | _Required = required,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-6,
                 eps_root: float = 0.0, weight_decay: float = 0.0, *, maximize: bool = False,
                 on_nonfinite: str = "raise", flat: bool = True) -> None:
        super().__init__(params, hyperparameters(locals()), on_nonfinite=on_nonfinite,
                         flat=flat)

    def _update(self, param: Tensor, grad: Any, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        xp = backend.xp(param.device)
        data = param.array
        beta1, beta2 = group["betas"]
        step = state["step"]
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        update = xp.empty_like(data)
        ema_(exp_avg, grad, beta1, update)
        squared = xp.multiply(grad, grad, out=update)
        ema_(exp_avg_sq, squared, beta2, squared)
        denom = xp.multiply(exp_avg_sq, 1.0 / (1.0 - beta2 ** step), out=update)
        if group["eps_root"]:
            denom += group["eps_root"]
        xp.sqrt(denom, out=denom)
        denom += group["eps"]
        update = xp.divide(exp_avg, denom, out=denom)
        update *= 1.0 / (1.0 - beta1 ** step)
        if group["weight_decay"]:
            update += group["weight_decay"] * data
        scale_by_trust_ratio(xp, update, data, 1.0, 0.0)
        update *= group["lr"]
        data -= update
