"""SM3: Adagrad with one accumulator per row, per column (per slice of every dimension)."""
from __future__ import annotations

from typing import Any

from minigrad import backend
from minigrad.optim.checks import LR, NONNEGATIVE, UNIT
from minigrad.optim.optimizer import Optimizer, ParamsT, _Required, hyperparameters, required
from minigrad.tensor import Tensor


class SM3(Optimizer):
    """SM3, Square-root of Minima of Sums of Maxima of Squared-gradients (Anil, Gupta, Koren &
    Singer 2019, "Memory-Efficient Adaptive Optimization"), as ``optax.sm3``: the SM3-II
    rule with the cover of a tensor by its slices along each dimension.

    A parameter of shape ``(n_1, ..., n_k)`` with ``k >= 2`` keeps ``k`` accumulators
    ``mu_d`` of ``n_d`` entries each (``accumulator_d`` in its state), not one per entry: for
    an ``n x m`` matrix, one per row and one per column (memory ``n + m`` instead of Adagrad's
    ``n m``). With ``g`` the gradient (negated when ``maximize``) and ``mu_d`` broadcast along
    the other dimensions::

        nu = min_d mu_d + g^2               (entrywise: the smallest cover of each entry)
        mu_d = max of nu over every dimension but d
        u = g / sqrt(nu + eps)              (u = 0 where nu = 0)
        m = momentum * m + (1 - momentum) * u
        p = p - lr * m

    A vector (and a scalar) is covered by its single entries: ``accumulator_0`` is shaped
    like it and the rule is Adagrad's, ``nu = mu_0 + g^2``. Since ``min_d mu_d`` bounds
    the sum of the past squared gradients of each entry from above, the step is never larger
    than Adagrad's.

    The momentum is an exponential moving average (with ``1 - momentum`` on the new value,
    not bias-corrected), as in optax; ``momentum=0`` is plain SM3-II. optax's SM3 has no
    weight decay, nor does this one.

    Defaults are optax's: ``momentum=0.9``, ``eps=1e-8`` (``optax.scale_by_sm3``'s; optax.sm3
    does not expose it). ``lr`` has no default, as in optax. optax fails on a scalar
    parameter (its cover has no dimension); here a scalar is treated as a one-entry vector.
    Complex parameters are refused (the maxima and minima need an order), as optax does.

    Valid values: ``lr`` and ``eps`` finite and >= 0; ``momentum`` finite in [0, 1].
    """

    zero_state = ("momentum_buffer",)
    hyperparameter_checks = {"lr": LR, "momentum": UNIT, "eps": NONNEGATIVE}

    def __init__(self, params: ParamsT, lr: float | _Required = required,
                 momentum: float = 0.9, eps: float = 1e-8, *, maximize: bool = False,
                 on_nonfinite: str = "raise", flat: bool = True) -> None:
        super().__init__(params, hyperparameters(locals()), on_nonfinite=on_nonfinite,
                         flat=flat)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        params = param_group.get("params") if isinstance(param_group, dict) else None
        if isinstance(params, Tensor):
            params = [params]
        if isinstance(params, (list, tuple)):
            for index, p in enumerate(params):
                p = p[1] if isinstance(p, tuple) else p
                if isinstance(p, Tensor) and p.dtype.kind == "c":
                    raise TypeError(f"SM3: parameter {index} of param group "
                                    f"{len(self.param_groups)} has dtype {p.dtype}: SM3's "
                                    "accumulators take maxima and minima, so parameters "
                                    "must be real")
        super().add_param_group(param_group)

    def _state_shape(self, param: Tensor, key: str) -> tuple[int, ...] | None:
        shape = tuple(param.shape)
        if key.startswith("accumulator_") and len(shape) >= 2:
            return (shape[int(key[len("accumulator_"):])],)
        return shape

    def _init_state(self, param: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        super()._init_state(param, state, group)
        xp = backend.xp(param.device)
        shape = param.array.shape
        if len(shape) < 2:
            state["accumulator_0"] = xp.zeros_like(param.array)
        else:
            for d, size in enumerate(shape):
                state[f"accumulator_{d}"] = xp.zeros(size, dtype=param.array.dtype)

    def _update(self, param: Tensor, grad: Any, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        xp = backend.xp(param.device)
        data = param.array
        ndim, momentum = data.ndim, group["momentum"]
        nu = xp.multiply(grad, grad, out=xp.empty_like(data))
        if ndim < 2:
            accumulator = state["accumulator_0"]
            nu += accumulator
            accumulator[...] = nu
        else:
            covers = [state[f"accumulator_{d}"] for d in range(ndim)]
            smallest = _along(covers[0], 0, ndim)
            for d in range(1, ndim):
                smallest = xp.minimum(smallest, _along(covers[d], d, ndim))
            nu += smallest
            for d, cover in enumerate(covers):
                xp.max(nu, axis=tuple(a for a in range(ndim) if a != d), out=cover)
        # u = g / sqrt(nu + eps), and u = 0 where nu = 0: there g = 0 too (nu >= g^2), so
        # dividing by 1 instead gives the 0 (with eps = 0 the division would be 0/0)
        if group["eps"]:
            nu += group["eps"]
        else:
            xp.copyto(nu, 1.0, where=nu == 0)
        xp.sqrt(nu, out=nu)
        update = xp.divide(grad, nu, out=nu)
        buf = state["momentum_buffer"]
        buf *= momentum
        update *= 1.0 - momentum
        buf += update
        xp.multiply(buf, group["lr"], out=update)
        data -= update


def _along(vector: Any, axis: int, ndim: int) -> Any:
    """``vector`` as an array of ``ndim`` dimensions that broadcasts along all but ``axis``."""
    shape = [1] * ndim
    shape[axis] = vector.shape[0]
    return vector.reshape(shape)
