"""SOAP: Adam run in the eigenbasis of Shampoo's preconditioner."""
from __future__ import annotations

import math
from typing import Any

from minigrad import backend
from minigrad.optim.checks import BETAS, LR, NONNEGATIVE, Choice, Integer, Real
from minigrad.optim.optimizer import Optimizer, ParamsT, hyperparameters, zeros_state
from minigrad.tensor import Tensor

DATA_FORMATS = ("channels_first", "channels_last")


def merged_shape(shape: tuple[int, ...], max_precond_dim: int) -> tuple[int, ...]:
    """SOAP's ``merge_dims``: consecutive dimensions multiplied together while their
    product stays <= ``max_precond_dim`` (a dimension larger than it stays on its own)."""
    merged: list[int] = []
    current = 1
    for n in shape:
        if current * n > max_precond_dim:
            if current > 1:
                merged.append(current)
                current = n
            else:
                merged.append(n)
                current = 1
        else:
            current *= n
    if current > 1 or not merged:
        merged.append(current)
    return tuple(merged)


def _linalg_dtype(array: Any) -> Any:
    """``array`` in a dtype the eigen/QR routines take (float16 is computed in float32)."""
    return array if array.dtype.char in "fd" else array.astype(backend.float32)


def _contiguous(array: Any) -> Any:
    """``array`` in C order (copied only if needed; a 0-D array stays 0-D)."""
    return array if array.flags.c_contiguous else array.copy()


class SOAP(Optimizer):
    """SOAP, "ShampoO with Adam in the Preconditioner's eigenbasis" (Vyas, Morwani, Zhao,
    Kwun, Shapira, Brandfonbrener, Janson & Kakade 2024, "SOAP: Improving and Stabilizing
    Shampoo using Adam"), as the authors' code (nikhilvyas/SOAP, ``soap.py``).

    For each dimension ``i`` of a parameter (after ``merge_dims``; skipped where it exceeds
    ``max_precond_dim``, and for 1-D parameters unless ``precondition_1d``) SOAP keeps
    Shampoo's statistic ``GG_i`` (an EMA of ``G_(i) G_(i)^T``, with ``b_s = shampoo_beta``,
    or ``betas[1]`` when it is negative) and an orthogonal basis ``Q_i`` of its
    eigenvectors. Adam runs on the gradient rotated into that basis. With ``g`` the
    gradient (negated when ``maximize``), ``rot(x) = x x_1 Q_1 ... x_k Q_k`` (mode
    products with ``Q_i``; ``unrot`` with ``Q_i^T``) and ``t`` counting Adam steps::

        first step:    GG_i = (1 - b_s) G_(i) G_(i)^T;  Q_i = eigenvectors of GG_i
                       (by decreasing eigenvalue); the parameters do not move
        then:          t = t + 1
                       r = rot(g)
                       m = b1 m + (1 - b1) r;   v = b2 v + (1 - b2) r^2   (in the basis)
                       u = unrot(m / (sqrt(v) + eps))
                       u = u / (1e-30 + RMS(u))                 if normalize_grads
                       p = p - lr * sqrt(1 - b2^t) / (1 - b1^t) * u  (correct_bias; else lr u)
                       p = p - lr * wd * p                      # decoupled, after the step
                       GG_i = b_s GG_i + (1 - b_s) G_(i) G_(i)^T
                       if t % precondition_frequency == 0:     # one power iteration + QR
                           order Q_i's columns by decreasing diag(Q_i^T GG_i Q_i) (v's
                           entries along dimension i with them); Q_i = QR(GG_i Q_i)
                       m is carried over into the new basis: m = rot_new(unrot_old(m))

    Weight decay is decoupled and applied after the update (the reference's "fixed
    version"). ``merge_dims`` merges the dimensions of a tensor of order >= 2 (and of a
    0-D one into a 1 x 1 statistic) as :func:`merged_shape`; ``data_format="channels_last"``
    makes a merged 4-D NHWC kernel be merged as NCHW.

    Defaults (the reference's): ``lr=3e-3``, ``betas=(0.95, 0.95)``, ``shampoo_beta=-1``,
    ``eps=1e-8``, ``weight_decay=0.01``, ``precondition_frequency=10``,
    ``max_precond_dim=10000``, ``merge_dims=False``, ``precondition_1d=False``,
    ``normalize_grads=False``, ``data_format="channels_first"``, ``correct_bias=True``.

    Where this differs from the reference: the eigendecomposition and the QR step are
    computed in the parameter's dtype (the reference always works in float32 there, and
    makes its statistics float32 whatever the parameter's dtype); ``data_format`` is a
    hyper-parameter of each group (the reference's is one per optimizer). The
    per-parameter ``state["step"]`` counts calls of ``step()`` (so it is one more than the
    reference's count of Adam steps).
    """

    hyperparameter_checks = {
        "lr": LR, "betas": BETAS,
        "shampoo_beta": Real(high=1, high_open=True),
        "eps": NONNEGATIVE, "weight_decay": NONNEGATIVE,
        "precondition_frequency": Integer(1), "max_precond_dim": Integer(1),
        "merge_dims": Choice(True, False), "precondition_1d": Choice(True, False),
        "normalize_grads": Choice(True, False), "data_format": Choice(*DATA_FORMATS),
        "correct_bias": Choice(True, False),
    }

    def __init__(self, params: ParamsT, lr: float = 3e-3,
                 betas: tuple[float, float] = (0.95, 0.95), shampoo_beta: float = -1,
                 eps: float = 1e-8, weight_decay: float = 0.01,
                 precondition_frequency: int = 10, max_precond_dim: int = 10000,
                 merge_dims: bool = False, precondition_1d: bool = False,
                 normalize_grads: bool = False, data_format: str = "channels_first",
                 correct_bias: bool = True, *, maximize: bool = False,
                 on_nonfinite: str = "raise", flat: bool = True) -> None:
        super().__init__(params, hyperparameters(locals()), on_nonfinite=on_nonfinite,
                         flat=flat)

    def _state_shape(self, param: Tensor, key: str) -> tuple[int, ...] | None:
        return None if key in ("GG", "Q") else tuple(param.shape)

    # --- shapes ----------------------------------------------------------------------------
    @staticmethod
    def _channels_last(array: Any, group: dict[str, Any]) -> bool:
        return group["data_format"] == "channels_last" and array.ndim == 4

    def _to_work(self, array: Any, group: dict[str, Any]) -> Any:
        """``array`` as the statistics see it: merged (and NHWC made NCHW) if merge_dims."""
        if not group["merge_dims"]:
            return array
        if self._channels_last(array, group):
            array = array.transpose(0, 3, 1, 2)
        return array.reshape(merged_shape(array.shape, group["max_precond_dim"]))

    def _from_work(self, array: Any, shape: tuple[int, ...], group: dict[str, Any]) -> Any:
        if not group["merge_dims"]:
            return array
        if group["data_format"] == "channels_last" and len(shape) == 4:
            n, h, w, c = shape
            return array.reshape(n, c, h, w).transpose(0, 2, 3, 1)
        return array.reshape(shape)

    def _rotate(self, array: Any, bases: list[Any], group: dict[str, Any],
                back: bool = False) -> Any:
        """Mode products of ``array`` with each basis (its transpose when ``back``)."""
        xp = backend.xp(backend.device_of(array))
        shape = array.shape
        work = self._to_work(array, group)
        for q in bases:
            if q is None:
                work = xp.moveaxis(work, 0, -1)
            else:
                work = xp.tensordot(work, q, axes=([0], [1 if back else 0]))
        return _contiguous(self._from_work(work, shape, group))

    # --- state ----------------------------------------------------------------------------
    def _init_state(self, param: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = backend.xp(param.device)
        state["exp_avg"] = zeros_state(param)
        state["exp_avg_sq"] = zeros_state(param)
        limit = group["max_precond_dim"]
        if param.ndim == 1:
            shape = param.shape if group["precondition_1d"] else (limit + 1,)
        elif group["merge_dims"]:
            shape = merged_shape(self._to_work(param.array, group).shape, limit)
        else:
            shape = param.shape
        state["GG"] = [xp.zeros((n, n), dtype=param.dtype) if n <= limit else None
                       for n in shape]
        state["Q"] = None

    def _shampoo_beta(self, group: dict[str, Any]) -> float:
        beta = group["shampoo_beta"]
        return beta if beta >= 0 else group["betas"][1]

    def _update_statistics(self, grad: Any, state: dict[str, Any],
                           group: dict[str, Any]) -> None:
        xp = backend.xp(backend.device_of(grad))
        keep = self._shampoo_beta(group)
        work = grad if grad.ndim == 1 else self._to_work(grad, group)
        if grad.ndim == 1:
            if state["GG"][0] is not None:
                outer = work[:, None] * work[None, :]
                state["GG"][0] += (1.0 - keep) * (outer - state["GG"][0])
            return
        for i, gg in enumerate(state["GG"]):
            if gg is None:
                continue
            others = [k for k in range(work.ndim) if k != i]
            outer = xp.tensordot(work, work, axes=(others, others))
            gg += (1.0 - keep) * (outer - gg)

    def _initial_bases(self, state: dict[str, Any]) -> list[Any]:
        bases: list[Any] = []
        for gg in state["GG"]:
            if gg is None:
                bases.append(None)
                continue
            xp = backend.xp(backend.device_of(gg))
            work = _linalg_dtype(gg)
            _, vectors = xp.linalg.eigh(work + 1e-30 * xp.eye(gg.shape[0], dtype=work.dtype))
            bases.append(_contiguous(vectors[:, ::-1]).astype(gg.dtype, copy=False))
        return bases

    def _refreshed_bases(self, state: dict[str, Any], group: dict[str, Any]) -> list[Any]:
        """One power iteration and a QR decomposition per basis; reorders ``exp_avg_sq``
        along each dimension as its basis's columns are reordered."""
        exp_avg_sq = self._to_work(state["exp_avg_sq"], group)
        bases: list[Any] = []
        for i, (gg, q) in enumerate(zip(state["GG"], state["Q"])):
            if gg is None:
                bases.append(None)
                continue
            xp = backend.xp(backend.device_of(gg))
            estimated = xp.einsum("ji,jk,ki->i", q, gg, q)  # diag(Q^T GG Q)
            order = xp.argsort(-estimated, kind="stable")
            exp_avg_sq = xp.take(exp_avg_sq, order, axis=i)
            new_q, _ = xp.linalg.qr(_linalg_dtype(gg @ q[:, order]))
            bases.append(new_q.astype(gg.dtype, copy=False))
        state["exp_avg_sq"] = _contiguous(
            self._from_work(exp_avg_sq, state["exp_avg_sq"].shape, group))
        return bases

    # --- the step ---------------------------------------------------------------------------
    def _update(self, param: Tensor, grad: Any, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        xp = backend.xp(param.device)
        data = param.array
        if state["Q"] is None:  # the first step only gathers statistics
            self._update_statistics(grad, state, group)
            state["Q"] = self._initial_bases(state)
            return
        t = state["step"] - 1
        beta1, beta2 = group["betas"]
        lr = group["lr"]
        rotated = self._rotate(grad, state["Q"], group)
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        exp_avg *= beta1
        exp_avg += (1.0 - beta1) * rotated
        rotated *= rotated
        rotated *= 1.0 - beta2
        exp_avg_sq *= beta2
        exp_avg_sq += rotated
        denom = xp.sqrt(exp_avg_sq, out=xp.empty_like(exp_avg_sq))
        denom += group["eps"]
        step_size = lr
        if group["correct_bias"]:
            step_size = lr * math.sqrt(1.0 - beta2 ** t) / (1.0 - beta1 ** t)
        update = self._rotate(xp.divide(exp_avg, denom, out=denom), state["Q"], group,
                              back=True)
        if group["normalize_grads"]:  # on the device: no synchronisation
            update /= xp.sqrt(xp.mean(update * update)) + 1e-30
        update *= step_size
        data -= update
        if group["weight_decay"] > 0:
            data -= (lr * group["weight_decay"]) * data
        # the statistics and bases move after the step, so the step never uses g itself
        state["exp_avg"] = self._rotate(exp_avg, state["Q"], group, back=True)
        self._update_statistics(grad, state, group)
        if t % group["precondition_frequency"] == 0:
            state["Q"] = self._refreshed_bases(state, group)
        state["exp_avg"] = self._rotate(state["exp_avg"], state["Q"], group)
