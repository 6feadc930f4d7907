"""Schedule-Free AdamW: iterate averaging in place of a learning-rate schedule."""
from __future__ import annotations

from typing import Any

from minigrad import backend, kernels
from minigrad.optim.checks import BETA, LR, NONNEGATIVE, Integer, Real, Tuple
from minigrad.optim.optimizer import Optimizer, ParamsT, ema_, hyperparameters, zeros_state
from minigrad.tensor import Tensor

# the NumPy path's operations in its order (y is the parameter; decay is a host flag 0 or 1)
SCHEDULE_FREE_ADAMW_KERNEL = kernels.ElementwiseKernel(
    "schedule_free_adamw_step", reads="grad", writes="param, z, exp_avg_sq",
    scalars="beta2, one_minus_beta2, bias2, eps, decay, weight_decay, c, y_scale, lr",
    body="""
exp_avg_sq = exp_avg_sq * beta2 + (grad * grad) * one_minus_beta2;
T step = grad / (sqrt(exp_avg_sq / bias2) + eps);
if (decay != 0) step = step + weight_decay * param;
param += c * (z - param);
param += y_scale * step;
z -= lr * step;
""")


class ScheduleFreeAdamW(Optimizer):
    """Schedule-Free AdamW (Defazio et al. 2024, "The Road Less Scheduled"), as
    ``AdamWScheduleFree`` of the ``schedulefree`` package.

    Three sequences are kept: ``z`` takes Adam-normalised gradient steps, ``x`` is a weighted
    average of the ``z`` iterates (the weights to evaluate), and the gradient is taken at
    their interpolation ``y = b1 * x + (1 - b1) * z``. With ``k`` the group's step count
    (from 0) and ``g`` the gradient at ``y`` (negated when ``maximize``)::

        lr_k  = lr * min(1, (k + 1) / warmup_steps)          # linear warmup, then constant
        w_k   = (k + 1)^r * max(lr_0..lr_k)^weight_lr_power;   c = w_k / (w_0 + ... + w_k)
        v     = b2 * v + (1 - b2) * g^2
        u     = g / (sqrt(v / (1 - b2^(k+1))) + eps) + wd * y
        z     = z - lr_k * u
        x     = (1 - c) * x + c * z
        y     = b1 * x + (1 - b1) * z

    No schedule is needed: the averaging plays the role of the decay. Weight decay is
    decoupled from the adaptive scaling (added to the normalised step, evaluated at ``y``,
    scaled by ``lr_k``), as in AdamW.

    The parameter tensors hold ``y`` in train mode and ``x`` in eval mode, so call
    :meth:`train` before training steps and :meth:`eval` before evaluating or saving a
    checkpoint (a new optimizer is in eval mode; :meth:`step` refuses to run in it).

    On the GPU the update is one fused kernel (minigrad.optim.fused); switching between
    ``y`` and ``x`` (:meth:`train`, :meth:`eval`) keeps its array calls.
    """

    # betas[0] > 0: eval() recovers x from y and z by dividing by it
    elementwise = True
    hyperparameter_checks = {
        "lr": LR,
        "betas": Tuple(Real(0, 1, low_open=True, high_open=True), BETA,
                       text="a pair (beta1, beta2) of finite numbers with 0 < beta1 < 1 and "
                            "0 <= beta2 < 1"),
        "eps": NONNEGATIVE, "weight_decay": NONNEGATIVE, "warmup_steps": Integer(0),
        "r": NONNEGATIVE, "weight_lr_power": NONNEGATIVE,
    }

    def __init__(self, params: ParamsT, lr: float = 0.0025,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, warmup_steps: int = 0,
                 r: float = 0.0, weight_lr_power: float = 2.0, *, maximize: bool = False,
                 on_nonfinite: str = "raise", flat: bool = True) -> None:
        super().__init__(params, dict(hyperparameters(locals()), k=0, train_mode=False, weight_sum=0.0, lr_max=-1.0, scheduled_lr=0.0),
                         on_nonfinite=on_nonfinite, flat=flat)

    # --- train / eval weights --------------------------------------------------------------
    def train(self) -> None:
        """Put ``y`` (where gradients are taken) in the parameters, for training steps."""
        self._set_mode(train=True)

    def eval(self) -> None:
        """Put the average ``x`` in the parameters, for evaluation and checkpoints."""
        self._set_mode(train=False)

    def _set_mode(self, train: bool) -> None:
        for group in self.param_groups:
            if group["train_mode"] == train:
                continue
            beta1 = group["betas"][0]
            # y = x + (1 - b1)(z - x) and, inverted, x = y + (1 - 1/b1)(z - y)
            weight = 1.0 - beta1 if train else 1.0 - 1.0 / beta1
            for p in group["params"]:
                z = self.state.get(p, {}).get("z")
                if z is not None:
                    p.array += weight * (z - p.array)
            group["train_mode"] = train

    # --- stepping --------------------------------------------------------------------------
    def _step_group(self, group: dict[str, Any]) -> None:
        if not group["train_mode"]:
            raise RuntimeError("ScheduleFreeAdamW.step() was called in eval mode: call "
                               "optimizer.train() before training and optimizer.eval() before "
                               "evaluating or saving")
        k, warmup = group["k"], group["warmup_steps"]
        lr = group["lr"] * min(1.0, (k + 1) / warmup) if warmup else group["lr"]
        group["scheduled_lr"] = lr
        group["lr_max"] = max(group["lr_max"], lr)
        weight = (k + 1) ** group["r"] * group["lr_max"] ** group["weight_lr_power"]
        group["weight_sum"] += weight
        group["k"] = k + 1
        average_weight = weight / group["weight_sum"] if group["weight_sum"] else 0.0
        # the per-step values travel in a view of the group, so they are not checkpointed
        super()._step_group(dict(group, average_weight=average_weight))

    def _init_state(self, param: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        state["z"] = param.array.copy()
        state["exp_avg_sq"] = zeros_state(param)

    def _update(self, param: Tensor, grad: Any, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        xp = backend.xp(param.device)
        y, z, exp_avg_sq = param.array, state["z"], state["exp_avg_sq"]
        lr, c = group["scheduled_lr"], group["average_weight"]
        beta1, beta2 = group["betas"]
        if kernels.usable(y):
            SCHEDULE_FREE_ADAMW_KERNEL(
                grad, y, z, exp_avg_sq, beta2=beta2, one_minus_beta2=1.0 - beta2,
                bias2=1.0 - beta2 ** group["k"], eps=group["eps"],
                decay=1.0 if group["weight_decay"] else 0.0,
                weight_decay=group["weight_decay"], c=c,
                y_scale=lr * (beta1 * (1.0 - c) - 1.0), lr=lr)
            return
        ema_(exp_avg_sq, grad * grad, beta2)
        denom = xp.sqrt(exp_avg_sq / (1.0 - beta2 ** group["k"])) + group["eps"]
        step = grad / denom
        if group["weight_decay"]:
            step = step + group["weight_decay"] * y
        # x and z updates folded into y, so x is never stored
        y += c * (z - y)
        y += lr * (beta1 * (1.0 - c) - 1.0) * step
        z -= lr * step
