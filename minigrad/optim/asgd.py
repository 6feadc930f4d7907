"""ASGD: stochastic gradient descent that also keeps a running average of its iterates."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

from minigrad import backend, kernels
from minigrad.optim.checks import LR, NONNEGATIVE, Real
from minigrad.optim.optimizer import Optimizer, ParamsT, hyperparameters, zeros_state
from minigrad.tensor import Tensor

# averaging: 1 once averaging has started (mu != 1, decided on the host in double; mu in
# float32 may round to 1); before, ax just follows the parameter
ASGD_KERNEL = kernels.ElementwiseKernel(
    "asgd_step", reads="grad", writes="param, ax", scalars="decay, eta, mu, averaging",
    body="""
param = param * decay - eta * grad;
if (averaging != 0) {
    ax += mu * (param - ax);
} else {
    ax = param;
}
""")


class ASGD(Optimizer):
    """Averaged SGD (Polyak & Juditsky 1992, "Acceleration of Stochastic Approximation by
    Averaging"; the step-size schedule of Bottou 2012 / Xu 2011), as ``torch.optim.ASGD``.

    With ``g`` the gradient (negated when ``maximize``), ``t`` the step count, and ``eta``,
    ``mu`` as left by the previous step (``eta = lr``, ``mu = 1`` at first)::

        g = g + wd * p                                  # L2 (coupled) weight decay
        p = p * (1 - lambd * eta) - eta * g
        ax = p                      if mu == 1   else   ax + mu * (p - ax)
        eta = lr / (1 + lambd * lr * t)^alpha
        mu = 1 / max(1, t - t0)

    The averaged parameters live in ``state[p]["ax"]``; averaging starts after ``t0`` steps
    (before that ``ax`` just follows ``p``). To evaluate the model with them, use
    :meth:`swap_averaged`. Weight decay is L2: added to the gradient.

    On the GPU the update is one fused kernel (minigrad.optim.fused).
    """

    # t0 = inf is meaningful: never start averaging
    elementwise = True
    weight_decay_kind = "l2"
    hyperparameter_checks = {"lr": LR, "lambd": NONNEGATIVE, "alpha": NONNEGATIVE,
                             "t0": Real(0, allow_inf=True), "weight_decay": NONNEGATIVE}

    def __init__(self, params: ParamsT, lr: float = 1e-2, lambd: float = 1e-4,
                 alpha: float = 0.75, t0: float = 1e6, weight_decay: float = 0.0, *,
                 maximize: bool = False, on_nonfinite: str = "raise", flat: bool = True) -> None:
        super().__init__(params, hyperparameters(locals()), on_nonfinite=on_nonfinite,
                         flat=flat)

    def _init_state(self, param: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        state["eta"] = group["lr"]
        state["mu"] = 1.0
        state["ax"] = zeros_state(param)

    def _update(self, param: Tensor, grad: Any, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        data = param.array
        lr, lambd, eta, mu = group["lr"], group["lambd"], state["eta"], state["mu"]
        if kernels.usable(data):
            ASGD_KERNEL(grad, data, state["ax"], decay=1.0 - lambd * eta, eta=eta, mu=mu,
                        averaging=1.0 if mu != 1.0 else 0.0)
        else:
            data *= 1.0 - lambd * eta
            data -= eta * grad
            ax = state["ax"]
            if mu != 1.0:
                ax += mu * (data - ax)
            else:
                ax[...] = data
        step = state["step"]
        state["eta"] = lr / (1.0 + lambd * lr * step) ** group["alpha"]
        state["mu"] = 1.0 / max(1.0, step - group["t0"])

    @contextmanager
    def swap_averaged(self) -> Iterator[None]:
        """Within the ``with`` block the parameters hold their averaged values ``ax``.

        For evaluating (or saving) the averaged model: ``with opt.swap_averaged():
        evaluate(model)``. The training values come back when the block ends, also on an
        exception. Parameters that have not been stepped yet keep their values.
        """
        saved = []
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state.get(p)
                if state and "ax" in state:
                    saved.append((p, backend.xp(p.device).array(p.array)))
                    p.array[...] = state["ax"]
        try:
            yield
        finally:
            for p, training_values in saved:
                p.array[...] = training_values
