"""FTRL-Proximal: follow the regularized leader, with per-coordinate learning rates."""
from __future__ import annotations

from typing import Any

from minigrad import backend
from minigrad.optim.checks import NONNEGATIVE, Real
from minigrad.optim.optimizer import Optimizer, ParamsT, hyperparameters, zeros_state
from minigrad.tensor import Tensor


class FTRL(Optimizer):
    """FTRL-Proximal (McMahan et al. 2013, "Ad Click Prediction: a View from the Trenches"),
    with the semantics and defaults of Keras' ``Ftrl``.

    Per coordinate, with ``g`` the gradient (negated when ``maximize``), ``n`` the accumulator
    (starting at ``initial_accumulator_value``), ``z`` the linear term (starting at 0) and
    ``c = -lr_power`` (1/2 by default)::

        n_new = n + g^2
        z     = z + g + 2 * l2_shrinkage * p - (n_new^c - n^c) / lr * p
        p     = (clip(z, -l1, l1) - z) / (n_new^c / lr + beta / lr + 2 * l2)
        n     = n_new

    so a coordinate is exactly 0 while ``|z| <= l1``: the L1 term produces sparse weights,
    which is why FTRL is used for large sparse linear models. ``l2`` is an L2 penalty folded
    into the closed-form step (Keras' strength, half the paper's lambda_2); ``l2_shrinkage``
    is an L2 penalty that enters only the linear term; neither is AdamW-style decoupled decay.
    ``lr_power = 0`` gives a fixed learning rate.
    """

    # lr > 0: FTRL divides by it; the rest as Keras checks, plus finiteness
    elementwise = True
    hyperparameter_checks = {"lr": Real(0, low_open=True, tensor=True), "lr_power": Real(high=0),
                             "initial_accumulator_value": NONNEGATIVE, "l1": NONNEGATIVE,
                             "l2": NONNEGATIVE, "l2_shrinkage": NONNEGATIVE,
                             "beta": NONNEGATIVE}

    def __init__(self, params: ParamsT, lr: float = 1e-3, lr_power: float = -0.5,
                 initial_accumulator_value: float = 0.1, l1: float = 0.0, l2: float = 0.0,
                 l2_shrinkage: float = 0.0, beta: float = 0.0, *, maximize: bool = False,
                 on_nonfinite: str = "raise", flat: bool = True) -> None:
        super().__init__(params, hyperparameters(locals()), on_nonfinite=on_nonfinite,
                         flat=flat)

    def _init_state(self, param: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        state["accumulator"] = backend.xp(param.device).full_like(
            param.array, group["initial_accumulator_value"])
        state["linear"] = zeros_state(param)

    def _update(self, param: Tensor, grad: Any, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        xp = backend.xp(param.device)
        data, accumulator, linear = param.array, state["accumulator"], state["linear"]
        lr, power, l1 = group["lr"], -group["lr_power"], group["l1"]
        old_root = accumulator ** power
        accumulator += grad * grad
        new_root = accumulator ** power
        linear += grad
        if group["l2_shrinkage"]:
            linear += 2.0 * group["l2_shrinkage"] * data
        linear -= (new_root - old_root) / lr * data
        quadratic = (new_root + group["beta"]) / lr + 2.0 * group["l2"]
        data[...] = (xp.clip(linear, -l1, l1) - linear) / quadratic
