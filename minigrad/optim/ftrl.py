"""FTRL-Proximal: follow the regularized leader, with per-coordinate learning rates."""
from __future__ import annotations

from typing import Any

from minigrad import backend, kernels
from minigrad.optim.checks import NONNEGATIVE, Real
from minigrad.optim.optimizer import Optimizer, ParamsT, hyperparameters, zeros_state
from minigrad.tensor import Tensor

# the NumPy path's operations in its order, for the powers c = -lr_power that NumPy takes
# exactly (``n ** 0.5`` is its sqrt, ``n ** 0`` is 1, ``n ** 1`` is n; CUDA's pow would
# differ from NumPy's by ulps at other powers); the clip keeps NumPy's NaN and tie rules
_BODY = """
const T old_root = {root};
accumulator += grad * grad;
const T new_root = {root};
linear += grad;
if (shrink != 0) linear += shrinkage * param;
linear -= (new_root - old_root) / lr * param;
const T quadratic = (new_root + beta) / lr + l2_twice;
param = ((linear < lower ? lower : (linear > upper ? upper : linear)) - linear) / quadratic;
"""
FTRL_KERNELS = {
    power: kernels.ElementwiseKernel(
        f"ftrl_{name}_step", reads="grad", writes="param, accumulator, linear",
        scalars="shrink, shrinkage, lr, beta, l2_twice, lower, upper",
        body=_BODY.format(root=root))
    for power, name, root in [(0.5, "sqrt", "sqrt(accumulator)"), (0.0, "fixed", "T(1)"),
                              (1.0, "linear", "accumulator")]
}  # c -> kernel


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

    On the GPU the update is one fused kernel (minigrad.optim.fused) for ``lr_power`` -0.5
    (the default), 0 and -1; at other powers it keeps the array calls (the power of each
    entry, which CUDA and NumPy round differently).
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
        kernel = FTRL_KERNELS.get(power)
        if kernel is not None and kernels.usable(data):
            kernel(grad, data, accumulator, linear,
                   shrink=1.0 if group["l2_shrinkage"] else 0.0,
                   shrinkage=2.0 * group["l2_shrinkage"], lr=lr, beta=group["beta"],
                   l2_twice=2.0 * group["l2"], lower=-l1, upper=l1)
            return
        old_root = accumulator ** power
        accumulator += grad * grad
        new_root = accumulator ** power
        linear += grad
        if group["l2_shrinkage"]:
            linear += 2.0 * group["l2_shrinkage"] * data
        linear -= (new_root - old_root) / lr * data
        quadratic = (new_root + group["beta"]) / lr + 2.0 * group["l2"]
        data[...] = (xp.clip(linear, -l1, l1) - linear) / quadratic
