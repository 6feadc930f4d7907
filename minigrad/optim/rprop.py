"""Rprop: per-coordinate step sizes adapted from the sign of successive gradients."""
from __future__ import annotations

from typing import Any

from minigrad import backend, kernels
from minigrad.optim.checks import LR, NONNEGATIVE, Real, Tuple
from minigrad.optim.optimizer import Optimizer, ParamsT, hyperparameters, zeros_state
from minigrad.tensor import Tensor

# the sign is NumPy's: +0 for either zero, NaN for NaN
RPROP_KERNEL = kernels.ElementwiseKernel(
    "rprop_step", reads="grad", writes="param, prev, step_size",
    scalars="eta_minus, eta_plus, step_size_min, step_size_max", body="""
const T agreement = grad * prev;
if (agreement > 0) {
    step_size = step_size * eta_plus;
} else if (agreement < 0) {
    step_size = step_size * eta_minus;
}
step_size = min(max(step_size, step_size_min), step_size_max);
prev = agreement < 0 ? T(0) : grad;
const T sign = prev > 0 ? T(1) : (prev < 0 ? T(-1) : (prev == 0 ? T(0) : prev));
param -= sign * step_size;
""")


class Rprop(Optimizer):
    """Resilient backpropagation (Riedmiller & Braun 1993, "A Direct Adaptive Method for
    Faster Backpropagation Learning: The RPROP Algorithm"), as ``torch.optim.Rprop``.

    Only the sign of the gradient is used. With ``g`` the gradient (negated when
    ``maximize``), ``g_prev`` the one kept from the previous step (zero at first), each
    coordinate's step size ``s`` (``lr`` at first) and ``etas = (eta_minus, eta_plus)``::

        s = clip(s * eta_plus,  *step_sizes)    where g * g_prev > 0   (same sign: speed up)
        s = clip(s * eta_minus, *step_sizes)    where g * g_prev < 0   (sign flip: slow down)
        g = 0                                   where g * g_prev < 0   (and no move there)
        p = p - sign(g) * s ;   g_prev = g

    This is the variant without weight backtracking (Rprop-). There is no weight decay.

    On the GPU the update is one fused kernel (minigrad.optim.fused).
    """

    # a finite maximum step size is required too: with inf, steps could grow to inf
    elementwise = True
    hyperparameter_checks = {
        "lr": LR,
        "etas": Tuple(Real(0, 1, low_open=True, high_open=True), Real(1, low_open=True),
                      text="a pair (eta_minus, eta_plus) of finite numbers with "
                           "0 < eta_minus < 1 < eta_plus"),
        "step_sizes": Tuple(NONNEGATIVE, NONNEGATIVE, relation=lambda low, high: low <= high,
                            text="a pair (min, max) of finite numbers with 0 <= min <= max"),
    }

    def __init__(self, params: ParamsT, lr: float = 1e-2, etas: tuple[float, float] = (0.5, 1.2),
                 step_sizes: tuple[float, float] = (1e-6, 50.0), *,
                 maximize: bool = False, on_nonfinite: str = "raise", flat: bool = True) -> None:
        super().__init__(params, hyperparameters(locals()), on_nonfinite=on_nonfinite,
                         flat=flat)

    def _init_state(self, param: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        state["prev"] = zeros_state(param)
        state["step_size"] = backend.xp(param.device).full_like(param.array, group["lr"])

    def _update(self, param: Tensor, grad: Any, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        xp = backend.xp(param.device)
        eta_minus, eta_plus = group["etas"]
        prev, step_size = state["prev"], state["step_size"]
        if kernels.usable(param.array):
            step_size_min, step_size_max = group["step_sizes"]
            RPROP_KERNEL(grad, param.array, prev, step_size, eta_minus=eta_minus,
                         eta_plus=eta_plus, step_size_min=step_size_min,
                         step_size_max=step_size_max)
            return
        agreement = xp.multiply(grad, prev, out=xp.empty_like(param.array))
        same_sign, flipped = agreement > 0, agreement < 0
        step_size[same_sign] *= eta_plus
        step_size[flipped] *= eta_minus
        xp.clip(step_size, *group["step_sizes"], out=step_size)
        prev[...] = grad
        prev[flipped] = 0
        param.array -= xp.sign(prev, out=agreement) * step_size
