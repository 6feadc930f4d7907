"""LARS: momentum SGD whose step is rescaled per parameter by a trust ratio."""
from __future__ import annotations

from typing import Any

from minigrad import backend
from minigrad.optim.checks import LR, NONNEGATIVE, UNIT, Choice
from minigrad.optim.lamb import scale_by_trust_ratio
from minigrad.optim.optimizer import Optimizer, ParamsT, _Required, hyperparameters, required
from minigrad.tensor import Tensor

FLAG = Choice(True, False)


class LARS(Optimizer):
    """LARS, Layer-wise Adaptive Rate Scaling (You, Gitman & Ginsburg 2017, "Large Batch
    Training of Convolutional Networks"), as ``optax.lars``.

    Per parameter (one layer's weight or bias), with ``g`` the gradient (negated when
    ``maximize``), ``c`` the ``trust_coefficient`` and the buffer zero at the start::

        u = g + wd * p                                   (L2 weight decay)
        r = c * ||p|| / (||u|| + eps)    (r = 1 when ||p|| = 0 or ||u|| = 0)
        u = lr * r * u                                   (r = 1 when trust_ratio=False)
        buf = momentum * buf + u
        p = p - (u + momentum * buf  if nesterov  else  buf)

    The norms are over the whole parameter (Frobenius for a matrix). The trust ratio makes
    each layer's step (before the momentum) ``lr * c * ||p||`` long, whatever the scale of its gradient, so that a
    large learning rate (large batches) does not blow up the layers whose gradients are large
    next to their weights. It is 1 where a norm is zero, as in optax. The paper writes the
    ratio with the weight decay in the denominator, ``c ||p|| / (||g|| + wd ||p||)``; optax
    (and this) takes the norm of the decayed gradient, ``||g + wd p||``.

    As in optax (and unlike ``torch.optim.SGD``) the learning rate is applied before the
    momentum buffer: ``buf`` sums ``lr``-scaled steps, so changing ``lr`` affects only the
    steps to come. Weight decay is L2 (added to the gradient) and goes through the trust
    ratio.

    optax's two masks are per-group options here, as PyTorch does such things: its
    ``weight_decay_mask`` is a param group with ``weight_decay=0``, its ``trust_ratio_mask``
    a param group with ``trust_ratio=False`` (momentum SGD on the weight-decayed gradient,
    with no trust ratio). Biases and normalisation weights are often put in such a group,
    with ``weight_decay=0, trust_ratio=False``.

    Defaults are optax's: ``momentum=0.9``, ``weight_decay=0``, ``trust_coefficient=1e-3``,
    ``eps=0``, ``nesterov=False``, ``trust_ratio=True`` (optax's masks: everything). ``lr``
    has no default, as in optax; with ``c=1e-3`` it is large (the digits MLP trains well
    with ``lr=10``).

    Valid values: ``lr``, ``weight_decay``, ``trust_coefficient``, ``eps`` finite and >= 0;
    ``momentum`` finite in [0, 1]; ``nesterov`` and ``trust_ratio`` True or False.
    """

    zero_state = ("momentum_buffer",)
    weight_decay_kind = "l2"
    hyperparameter_checks = {"lr": LR, "momentum": UNIT, "weight_decay": NONNEGATIVE,
                             "trust_coefficient": NONNEGATIVE, "eps": NONNEGATIVE,
                             "nesterov": FLAG, "trust_ratio": FLAG}

    def __init__(self, params: ParamsT, lr: float | _Required = required,
                 momentum: float = 0.9, weight_decay: float = 0.0,
                 trust_coefficient: float = 1e-3, eps: float = 0.0, nesterov: bool = False,
                 trust_ratio: bool = True, *, maximize: bool = False,
                 on_nonfinite: str = "raise", flat: bool = True) -> None:
        super().__init__(params, hyperparameters(locals()), on_nonfinite=on_nonfinite,
                         flat=flat)

    def _update(self, param: Tensor, grad: Any, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        xp = backend.xp(param.device)
        data = param.array
        momentum = group["momentum"]
        update = xp.empty_like(data)
        update[...] = grad
        if group["trust_ratio"]:
            scale_by_trust_ratio(xp, update, data, group["trust_coefficient"], group["eps"])
        update *= group["lr"]
        buf = state["momentum_buffer"]
        buf *= momentum
        buf += update
        if group["nesterov"]:
            update += momentum * buf
            data -= update
        else:
            data -= buf
