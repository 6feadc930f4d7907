"""AggMo: the average of several heavy-ball velocities with different damping."""
from __future__ import annotations

import math
import numbers
from typing import Any, Callable

from minigrad import backend, kernels
from minigrad.optim.checks import BETA, LR, NONNEGATIVE, Each, Rule
from minigrad.optim.optimizer import Optimizer, ParamsT, _Required, hyperparameters, required
from minigrad.tensor import Tensor


def _kernel(count: int) -> kernels.ElementwiseKernel:
    """The step with ``count`` velocities, the NumPy path's operations in its order (the sum
    starts from 0, as the NumPy path's zeros)."""
    velocities = [f"momentum_buffer_{i}" for i in range(count)]
    body = "T total = 0;\n" + "".join(f"{v} = {v} * beta_{i} + grad;\ntotal += {v};\n"
                                       for i, v in enumerate(velocities))
    return kernels.ElementwiseKernel(
        f"aggmo_{count}_step", reads="grad", writes=", ".join(["param"] + velocities),
        scalars=", ".join([f"beta_{i}" for i in range(count)] + ["scale"]),
        body=body + "param -= total * scale;\n")


AGGMO_KERNELS = {count: _kernel(count) for count in range(1, 5)}  # number of betas -> kernel


class AggMo(Optimizer):
    """Aggregated Momentum (Lucas, Sun, Zemel & Grosse 2019, "Aggregated Momentum: Stability
    Through Passive Damping"), as the authors' ``aggmo.AggMo`` (AtheMathmo/AggMo).

    ``K = len(betas)`` velocities, all zero at the start, one per damping coefficient; with
    ``g`` the gradient (negated when ``maximize``)::

        g = g + wd * p                                  (L2; none by default)
        v_i = beta_i * v_i + g                          (i = 0, ..., K - 1)
        p = p - (lr / K) * (v_0 + ... + v_{K-1})

    (the paper writes ``v_i = beta_i v_i - g, p = p + (lr / K) sum v_i``, the same steps).
    A velocity with a large beta moves fast along low-curvature directions but oscillates;
    averaging it with faster-decaying ones damps the oscillations (the paper's "passive
    damping"). The velocities are
    ``momentum_buffer_0``, ... in the state.

    Defaults are the authors': ``betas=(0.0, 0.9, 0.99)`` (``beta=0`` is a plain gradient
    step), ``weight_decay=0`` (L2); ``lr`` has no default, as in the authors' code.
    :meth:`from_exp_form` builds the paper's exponential form, ``beta_i = 1 - a^i``.

    Two details of the reference are not reproduced: it adds the weight decay to ``p.grad``
    in place (here the gradient is left alone), and it keys the velocities by beta, so two
    equal betas share one velocity that is updated twice a step (here each beta has its own).

    Valid values: ``lr`` and ``weight_decay`` finite and >= 0; ``betas`` a non-empty list of
    finite numbers in [0, 1). The number of betas may not change once the velocities exist
    (the step refuses it, naming the group).

    On the GPU the update is one fused kernel (minigrad.optim.fused) for up to 4 betas;
    with more it keeps the array calls.
    """

    elementwise = True
    weight_decay_kind = "l2"
    hyperparameter_checks = {"lr": LR, "betas": Each(BETA), "weight_decay": NONNEGATIVE}
    group_checks = (Rule(lambda g: len(g["betas"]) > 0, "betas must hold at least one beta",
                         ("betas",)),)

    def __init__(self, params: ParamsT, lr: float | _Required = required,
                 betas: tuple[float, ...] | list[float] = (0.0, 0.9, 0.99),
                 weight_decay: float = 0.0, *, maximize: bool = False,
                 on_nonfinite: str = "raise", flat: bool = True) -> None:
        super().__init__(params, hyperparameters(locals()), on_nonfinite=on_nonfinite,
                         flat=flat)

    @classmethod
    def from_exp_form(cls, params: ParamsT, lr: float | _Required = required, a: float = 0.1,
                      k: int = 3, weight_decay: float = 0.0, **kwargs: Any) -> "AggMo":
        """AggMo with ``betas = [1 - a^i for i in range(k)]`` (the paper's exponential form;
        ``a=0.1, k=3`` are the defaults' betas 0, 0.9, 0.99), as the reference's
        ``AggMo.from_exp_form``. ``a`` must be in (0, 1], ``k`` an integer >= 1."""
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
            raise ValueError(f"AggMo: invalid k: {k!r} (it must be an integer >= 1)")
        if isinstance(a, bool) or not isinstance(a, numbers.Real) or \
                not (math.isfinite(a) and 0 < a <= 1):
            raise ValueError(f"AggMo: invalid a: {a!r} (it must be a finite number in (0, 1])")
        betas = [1.0 - a ** i for i in range(int(k))]
        return cls(params, lr, betas, weight_decay, **kwargs)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """As :meth:`Optimizer.step`; first refuses a group whose number of betas is not the
        number of velocities its parameters hold (nothing is updated then)."""
        self._check_hyperparameters()
        for index, group in enumerate(self.param_groups):
            count = len(group["betas"])
            if count == 0:
                raise ValueError(f"AggMo: invalid betas: [] in param group {index} (betas "
                                 "must hold at least one beta); nothing was updated")
            for p in group["params"]:
                state = self.state.get(p)
                if state and (f"momentum_buffer_{count - 1}" not in state
                              or f"momentum_buffer_{count}" in state):
                    held = sum(1 for key in state if key.startswith("momentum_buffer_"))
                    raise ValueError(f"AggMo: param group {index} has {count} betas but its "
                                     f"parameters hold {held} velocities; the number of betas "
                                     "cannot change during training (build a new optimizer, "
                                     "or load a state dict made with as many)")
        return super().step(closure)

    def _init_state(self, param: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = backend.xp(param.device)
        for i in range(len(group["betas"])):
            state[f"momentum_buffer_{i}"] = xp.zeros_like(param.array)

    def _update(self, param: Tensor, grad: Any, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        xp = backend.xp(param.device)
        betas = group["betas"]
        kernel = AGGMO_KERNELS.get(len(betas))
        if kernel is not None and kernels.usable(param.array):
            kernel(grad, param.array, *[state[f"momentum_buffer_{i}"] for i in range(len(betas))],
                   **{f"beta_{i}": beta for i, beta in enumerate(betas)},
                   scale=group["lr"] / len(betas))
            return
        total = xp.zeros_like(param.array)
        for i, beta in enumerate(betas):
            velocity = state[f"momentum_buffer_{i}"]
            velocity *= beta
            velocity += grad
            total += velocity
        total *= group["lr"] / len(betas)
        param.array -= total
