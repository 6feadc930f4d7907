"""Shampoo: one preconditioner per tensor dimension, applied by inverse matrix roots."""
from __future__ import annotations

from typing import Any

from minigrad import backend
from minigrad.optim.checks import LR, NONNEGATIVE, POSITIVE, UNIT, Choice, Integer
from minigrad.optim.optimizer import Optimizer, ParamsT, hyperparameters
from minigrad.tensor import Tensor


def inverse_root(matrix: Any, root: int, floor: float) -> Any:
    """``matrix^(-1/root)`` of a symmetric positive semi-definite 2-D array, by its
    eigendecomposition ``V diag(w) V^T`` (``backend.xp(device).linalg.eigh``).

    Eigenvalues below ``floor`` (which a statistic that starts at ``floor * I`` only has
    through rounding) are raised to it, so the root stays finite. float16 is computed in
    float32; the result has the matrix's dtype."""
    xp = backend.xp(backend.device_of(matrix))
    work = matrix if matrix.dtype.char in "fd" else matrix.astype(backend.float32)
    values, vectors = xp.linalg.eigh(work)
    xp.maximum(values, floor, out=values)
    values **= -1.0 / root
    result = (vectors * values) @ vectors.T
    return result.astype(matrix.dtype, copy=False)


def mode_product(tensor: Any, matrices: list[Any]) -> Any:
    """``tensor`` multiplied along each dimension ``k`` by the symmetric ``matrices[k]``:
    contracting dimension 0 each time and appending the result's axis at the end brings
    the dimensions back to their order after the last one."""
    xp = backend.xp(backend.device_of(tensor))
    for matrix in matrices:
        tensor = xp.tensordot(tensor, matrix, axes=([0], [0]))
    return tensor


class Shampoo(Optimizer):
    """Shampoo (Gupta, Koren & Singer 2018, "Shampoo: Preconditioned Stochastic Tensor
    Optimization"), the paper's algorithm (its Algorithm 2 for a tensor of order ``k``),
    with the momentum and weight decay of pytorch-optimizer's ``Shampoo``.

    A parameter of order ``k`` (``k = ndim``) keeps one statistic ``H_i`` per dimension
    ``i``, of size ``n_i x n_i``, starting at ``epsilon * I``. With ``g`` the gradient
    (negated when ``maximize``), ``G_(i)`` its unfolding along dimension ``i`` (an
    ``n_i x (numel / n_i)`` matrix), ``t`` the step count::

        g = (1 - momentum) * g + momentum * b          # if momentum > 0 (b = g at step 1)
        g = g + wd * p                                 # L2 (default), or p *= 1 - lr * wd
        H_i = H_i + G_(i) G_(i)^T                      # for each dimension i
        if (t - 1) % update_freq == 0:
            R_i = H_i^(-1 / (2k))                      # by eigendecomposition
        u = g x_1 R_1 x_2 R_2 ... x_k R_k              # mode products
        b = u                                          # if momentum > 0
        p = p - lr * u

    For a matrix this is ``u = L^(-1/4) G R^(-1/4)``, for a vector full-matrix AdaGrad
    ``H^(-1/2) g``; a 0-D parameter takes plain (momentum) SGD steps. The momentum is the
    reference's: the gradient is blended with the previous step's preconditioned update
    (the paper has no momentum). The statistics collect the blended, decayed gradient, as
    in the reference.

    Every dimension gets a full ``n x n`` statistic (memory ``n^2``, an ``eigh`` costing
    ``O(n^3)`` at each refresh), so Shampoo is meant for layers whose dimensions are at most
    a few thousand; neither the paper's algorithm nor the reference caps them (SOAP's
    ``max_precond_dim`` does).

    Defaults: pytorch-optimizer's, ``lr=1e-3``, ``momentum=0``, ``weight_decay=0`` (L2;
    ``decoupled_weight_decay=True`` for AdamW's kind), ``epsilon=1e-6`` (its
    ``matrix_eps``) and ``update_freq=1`` (its ``preconditioning_compute_steps``).

    Where this differs from pytorch-optimizer: the inverse roots are recomputed at steps
    ``1, 1 + update_freq, ...``; the reference recomputes them at multiples of
    ``update_freq`` and starts them at zero, so with ``update_freq > 1`` its first
    ``update_freq - 1`` steps do not move the parameters (with the default 1 both agree).
    The reference also overwrites ``p.grad`` with the update, which is not done here. Its
    roots come from an SVD, here from ``eigh`` (the same for these symmetric positive
    definite matrices); ``epsilon`` must be > 0 here (with 0 a rank-deficient statistic has
    no inverse root); its ``fixed_decay`` option is not offered.
    """

    hyperparameter_checks = {
        "lr": LR, "momentum": UNIT, "weight_decay": NONNEGATIVE,
        "decoupled_weight_decay": Choice(True, False), "epsilon": POSITIVE,
        "update_freq": Integer(1),
    }

    def __init__(self, params: ParamsT, lr: float = 1e-3, momentum: float = 0.0,
                 weight_decay: float = 0.0, epsilon: float = 1e-6, update_freq: int = 1, *,
                 decoupled_weight_decay: bool = False, maximize: bool = False,
                 on_nonfinite: str = "raise", flat: bool = True) -> None:
        super().__init__(params, hyperparameters(locals()), on_nonfinite=on_nonfinite,
                         flat=flat)

    def _state_shape(self, param: Tensor, key: str) -> tuple[int, ...] | None:
        if key in ("preconditioners", "inverse_roots"):
            return None  # one square matrix per dimension, checked in _check_loaded_value
        return tuple(param.shape)

    def _check_loaded_value(self, param: Tensor, key: str, value: Any, where: str) -> None:
        if key in ("preconditioners", "inverse_roots"):
            shapes = [(n, n) for n in param.shape]
            got = [tuple(getattr(v, "shape", ())) for v in value] \
                if isinstance(value, (list, tuple)) else None
            if got != shapes:
                raise ValueError(f"{self._name()}: the loaded state {key!r} of {where} must "
                                 f"be a list of matrices of shapes {shapes}, got {got}")
            for matrix in value:  # each one's dtype
                super()._check_loaded_value(param, key, matrix, where)
            return
        super()._check_loaded_value(param, key, value, where)

    def _init_state(self, param: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = backend.xp(param.device)
        eps = group["epsilon"]
        state["preconditioners"] = [xp.eye(n, dtype=param.dtype) * eps for n in param.shape]
        state["inverse_roots"] = [xp.zeros((n, n), dtype=param.dtype) for n in param.shape]

    def _update(self, param: Tensor, grad: Any, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        xp = backend.xp(param.device)
        data = param.array
        lr, momentum, step = group["lr"], group["momentum"], state["step"]
        if momentum > 0:
            buffer = state.get("momentum_buffer")
            if buffer is None:
                buffer = grad
            grad = (1.0 - momentum) * grad + momentum * buffer
        weight_decay = group["weight_decay"]
        if weight_decay:
            if group["decoupled_weight_decay"]:
                data *= 1.0 - lr * weight_decay
            else:
                grad = grad + weight_decay * data
        order = data.ndim
        refresh = (step - 1) % group["update_freq"] == 0
        statistics, roots = state["preconditioners"], state["inverse_roots"]
        for i, n in enumerate(data.shape):
            unfolded = xp.moveaxis(grad, i, 0).reshape(n, -1)
            statistics[i] += unfolded @ unfolded.T
            if refresh:
                roots[i][...] = inverse_root(statistics[i], 2 * order, group["epsilon"])
        update = mode_product(grad, roots) if order else xp.array(grad, copy=True)
        if momentum > 0:
            state["momentum_buffer"] = update.copy()
        update *= lr
        data -= update
