"""Adafactor: Adam-like steps with a factored (row x column) second-moment estimate."""
from __future__ import annotations

import math
from typing import Any

from minigrad import backend
from minigrad.optim.checks import LR, NONNEGATIVE, Maybe, Real, Tuple
from minigrad.optim.optimizer import Optimizer, ParamsT, ema_, hyperparameters, zeros_state
from minigrad.tensor import Tensor


class Adafactor(Optimizer):
    """Adafactor (Shazeer & Stern 2018, "Adafactor: Adaptive Learning Rates with Sublinear
    Memory Cost"), as ``torch.optim.Adafactor`` (no first moment).

    For a parameter with two or more dimensions the second moment of its last two dimensions
    is kept as a row average ``R`` and a column average ``C`` (memory ``n + m`` instead of
    ``n m``). With ``g`` the gradient (negated when ``maximize``), ``t`` the step count,
    ``eps = (eps1, eps2)`` (``eps1=None``: the dtype's machine epsilon) and
    ``RMS(x) = ||x|| / sqrt(numel)``::

        w_t = t^beta2_decay                       # weight of the new square (1 - beta2_t)
        a_t = max(eps2, RMS(p)) * min(lr, 1 / sqrt(t))      # relative step size
        p = p * (1 - lr * wd)                     # decoupled weight decay
        ndim >= 2:  R = (1 - w_t) R + w_t mean(g^2, last dim)
                    C = (1 - w_t) C + w_t mean(g^2, second-to-last dim)
                    V = R C / max(mean(R), eps1)
        otherwise:  V = (1 - w_t) V + w_t g^2
        U = g / sqrt(max(V, eps1^2))
        p = p - a_t / max(1, RMS(U) / d) * U      # update clipping at threshold d

    Weight decay is decoupled (multiplied by ``lr``). As in PyTorch, the relative step uses
    ``min(lr, 1/sqrt(t))`` where the paper fixes ``min(1e-2, 1/sqrt(t))``, and eps1 clamps
    the estimate instead of being added to ``g^2``.
    """

    hyperparameter_checks = {
        "lr": LR,
        "beta2_decay": Real(high=0),
        "eps": Tuple(Maybe(NONNEGATIVE), NONNEGATIVE,
                     text="a pair (eps1 or None, eps2) of finite numbers >= 0"),
        "d": Real(1),
        "weight_decay": NONNEGATIVE,
    }

    def __init__(self, params: ParamsT, lr: float = 1e-2, beta2_decay: float = -0.8,
                 eps: tuple[float | None, float] = (None, 1e-3), d: float = 1.0,
                 weight_decay: float = 0.0, *, maximize: bool = False,
                 on_nonfinite: str = "raise", flat: bool = True) -> None:
        super().__init__(params, hyperparameters(locals()), on_nonfinite=on_nonfinite,
                         flat=flat)

    def _state_shape(self, param: Tensor, key: str) -> tuple[int, ...] | None:
        shape = tuple(param.shape)
        if key == "row_var":
            return shape[:-1] + (1,)
        if key == "col_var":
            return shape[:-2] + (1, shape[-1])
        return shape

    def _init_state(self, param: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = backend.xp(param.device)
        shape = param.shape
        if len(shape) >= 2:
            state["row_var"] = xp.zeros(shape[:-1] + (1,), dtype=param.dtype)
            state["col_var"] = xp.zeros(shape[:-2] + (1, shape[-1]), dtype=param.dtype)
        else:
            state["variance"] = zeros_state(param)

    def _update(self, param: Tensor, grad: Any, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        xp = backend.xp(param.device)
        data = param.array
        lr, step = group["lr"], state["step"]
        eps1, eps2 = group["eps"]
        if eps1 is None:
            eps1 = float(xp.finfo(data.dtype).eps)
        keep = 1.0 - step ** group["beta2_decay"]  # the weight left on the old estimate
        relative_step = max(eps2, _rms(xp, data)) * min(lr, 1.0 / math.sqrt(step))
        if group["weight_decay"]:
            data *= 1.0 - lr * group["weight_decay"]
        squared = xp.multiply(grad, grad, out=xp.empty_like(data))
        if data.ndim >= 2:
            row_var, col_var = state["row_var"], state["col_var"]
            row_mean = squared.mean(axis=-1, keepdims=True)
            ema_(row_var, row_mean, keep, row_mean)
            col_mean = squared.mean(axis=-2, keepdims=True)
            ema_(col_var, col_mean, keep, col_mean)
            variance = xp.matmul(row_var, col_var, out=squared)
            variance /= xp.maximum(row_var.mean(axis=-2, keepdims=True), eps1)
        else:
            variance = state["variance"]
            ema_(variance, squared, keep, squared)
        update = xp.maximum(variance, eps1 * eps1, out=squared)
        xp.sqrt(update, out=update)
        xp.divide(grad, update, out=update)
        update *= relative_step / max(1.0, _rms(xp, update) / group["d"])
        data -= update


def _rms(xp: Any, array: Any) -> float:
    """Root mean square of all entries, as a Python float."""
    return float(xp.linalg.norm(array.reshape(-1))) / math.sqrt(max(array.size, 1))
