"""SophiaH: clipped, diagonally preconditioned momentum with a Hutchinson Hessian estimate."""
from __future__ import annotations

from typing import Any

from minigrad import backend
from minigrad.optim.adahessian import PROBE_DISTRIBUTIONS, HessianOptimizer
from minigrad.optim.checks import BETAS, LR, NONNEGATIVE, Choice, Integer
from minigrad.optim.optimizer import ParamsT, hyperparameters, zeros_state
from minigrad.tensor import Tensor


class SophiaH(HessianOptimizer):
    """SophiaH (Liu, Li, Hall, Liang & Ma 2023, "Sophia: A Scalable Stochastic Second-order
    Optimizer for Language Model Pre-training"), its Hutchinson variant, as
    pytorch-optimizer's ``SophiaH``.

    Call ``loss.backward(create_graph=True)`` before ``step()`` (at least at the steps that
    refresh the Hessian estimate: the first and every ``update_period``-th after it; at the
    others a plain ``backward()`` will do, and the graph is released either way). With ``g``
    the gradient (negated when ``maximize``), ``t`` the parameter's step count and ``z_i``
    ``num_samples`` probes (standard normal, or +-1 for ``"rademacher"``)::

        p = p * (1 - lr * wd)                      # decoupled weight decay (default)
        m = b1 * m + (1 - b1) * g
        if (t - 1) % update_period == 0:
            h_hat = mean_i(z_i * (H z_i))          # Hutchinson: E[z * H z] = diag(H)
            h = b2 * h + (1 - b2) * h_hat
        p = p - lr * clip(m / max(h, eps), -rho, rho)        # rho: the argument ``p``

    This is the paper's update ``clip(m / max(gamma h, eps), 1)`` with ``p = gamma`` and the
    learning rate divided by ``gamma``. Neither moment is bias-corrected, as in the paper
    and the reference. With ``decoupled_weight_decay=False`` the decay is L2 instead
    (``wd * p`` added to the gradient after the Hessian estimate, as the reference does).

    Defaults (pytorch-optimizer's): ``lr=6e-2``, ``betas=(0.96, 0.99)``,
    ``weight_decay=0``, ``p=1e-2``, ``update_period=10``, ``num_samples=1``,
    ``hessian_distribution="gaussian"``, ``eps=1e-12``.

    Where this differs from the reference: ``maximize`` minimises ``-loss`` whole, so the
    Hessian estimate is negated with the gradient (the reference negates the gradient
    only, so a concave objective's estimate is clamped to ``eps`` and every step is
    clipped); the step count deciding when the estimate is refreshed is each parameter's
    own (the reference counts the steps of the first group: the same while every parameter
    gets a gradient at every step); its ``fixed_decay`` option and its ``step(hessian=...)``
    for external estimates are not offered.
    """

    hyperparameter_checks = {
        "lr": LR, "betas": BETAS, "weight_decay": NONNEGATIVE, "p": NONNEGATIVE,
        "update_period": Integer(1), "num_samples": Integer(1),
        "hessian_distribution": Choice(*PROBE_DISTRIBUTIONS), "eps": NONNEGATIVE,
        "decoupled_weight_decay": Choice(True, False),
    }
    weight_decay_kind = "decoupled"

    def __init__(self, params: ParamsT, lr: float = 6e-2,
                 betas: tuple[float, float] = (0.96, 0.99), weight_decay: float = 0.0,
                 p: float = 1e-2, update_period: int = 10, num_samples: int = 1,
                 hessian_distribution: str = "gaussian", eps: float = 1e-12, *,
                 decoupled_weight_decay: bool = True, maximize: bool = False,
                 on_nonfinite: str = "raise", flat: bool = True) -> None:
        super().__init__(params, hyperparameters(locals()), on_nonfinite=on_nonfinite,
                         flat=flat)

    def _needs_hessian(self, param: Tensor, group: dict[str, Any]) -> bool:
        state = self.state.get(param)
        done = state.get("step", 0) if state else 0
        return done % group["update_period"] == 0

    def _samples(self, group: dict[str, Any]) -> int:
        return group["num_samples"]

    def _distribution(self, group: dict[str, Any]) -> str:
        return group["hessian_distribution"]

    def _estimate(self, param: Tensor, probes: list[Any], products: list[Any],
                  group: dict[str, Any]) -> Any:
        total = zeros_state(param)
        scale = 1.0 / len(probes)
        for z, hz in zip(probes, products):
            total += (scale * hz) * z
        if group.get("maximize", False):
            total *= -1.0  # the Hessian of -loss
        return total

    def _init_state(self, param: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        state["momentum"] = zeros_state(param)
        state["hessian_moment"] = zeros_state(param)

    def _update(self, param: Tensor, grad: Any, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        xp = backend.xp(param.device)
        beta1, beta2 = group["betas"]
        momentum, hessian_moment = state["momentum"], state["hessian_moment"]
        momentum *= beta1
        momentum += (1.0 - beta1) * grad
        estimate = self.hessian_estimate(param)
        if estimate is not None:
            hessian_moment *= beta2
            estimate *= 1.0 - beta2
            hessian_moment += estimate
        update = xp.maximum(hessian_moment, group["eps"], out=xp.empty_like(momentum))
        xp.divide(momentum, update, out=update)
        rho = group["p"]
        xp.clip(update, -rho, rho, out=update)
        update *= group["lr"]
        param.array -= update
