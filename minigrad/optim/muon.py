"""Muon: momentum orthogonalised by Newton-Schulz iterations, for 2-D weight matrices."""
from __future__ import annotations

import math
from typing import Any

from minigrad import backend
from minigrad.optim.adam import Adam
from minigrad.optim.checks import (BETA, BETAS, LR, NONNEGATIVE, POSITIVE, Choice, Integer,
                                   Real, Rule, Tuple)
from minigrad.optim.optimizer import (Optimizer, ParamsT, add_zero_state, apply_weight_decay,
                                     ema_, hyperparameters, zeros_state)
from minigrad.tensor import Tensor

# the quintic iteration's coefficients tuned by K. Jordan (as torch.optim.Muon's default)
NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)

_LR_ADJUSTMENTS = {
    # K. Jordan's rule: tall matrices (more outputs than inputs) take larger steps
    "original": lambda rows, cols: math.sqrt(max(1.0, rows / cols)),
    # Liu et al. 2025 ("Muon is Scalable for LLM Training"): NS output has an RMS of
    # 1/sqrt(max(rows, cols)); this makes it 0.2, AdamW's typical update RMS, so AdamW's
    # lr and weight decay can be reused
    "match_rms_adamw": lambda rows, cols: 0.2 * math.sqrt(max(rows, cols)),
    "spectral_unclamped": lambda rows, cols: math.sqrt(rows / cols),
}


class Muon(Optimizer):
    """Muon, "MomentUm Orthogonalized by Newton-Schulz" (K. Jordan et al. 2024, blog post
    "Muon: An optimizer for hidden layers in neural networks"), as ``torch.optim.Muon``, with
    the parameters that are not 2-D handed to AdamW.

    For a 2-D weight ``p`` of shape ``(A, B)``, with ``g`` the gradient (negated when
    ``maximize``) and ``b`` the momentum buffer (zero at start)::

        b = mu * b + (1 - mu) * g
        u = (1 - mu) * g + mu * b        if nesterov   else   b
        O = NS(u)                        # ~ U V^T for u = U S V^T: all singular values ~1
        p = p * (1 - lr * wd)            # decoupled weight decay (with the unadjusted lr)
        p = p - lr * s(A, B) * O

    ``s`` is ``sqrt(max(1, A/B))`` (``adjust_lr_fn=None`` or ``"original"``),
    ``0.2 * sqrt(max(A, B))`` (``"match_rms_adamw"``) or ``sqrt(A/B)``
    (``"spectral_unclamped"``). ``NS`` is :func:`newton_schulz_orthogonalize`, computed here in
    the parameter's dtype (float32/float64; PyTorch uses bfloat16, so its results agree with
    these to about 1e-2).

    Muon is meant for hidden weight matrices. Every other parameter (biases, gains, scalars,
    and 2-D parameters of a group with ``use_muon=False``, as recommended for embeddings and
    output heads) is updated by AdamW (:class:`~minigrad.optim.adam.AdamW`) with
    ``adamw_lr``, ``adamw_betas``, ``adamw_eps`` and ``adamw_weight_decay``.
    """

    # momentum < 1: the buffer is an EMA that would never move; eps > 0 (PyTorch does not
    # check it): with 0, a zero momentum buffer would be normalised by 0
    hyperparameter_checks = {
        "lr": LR, "weight_decay": NONNEGATIVE, "momentum": BETA,
        "ns_coefficients": Tuple(Real(), Real(), Real(), text="three finite numbers (a, b, c)"),
        "eps": POSITIVE, "ns_steps": Integer(1),
        "adjust_lr_fn": Choice(None, *sorted(_LR_ADJUSTMENTS)),
        "use_muon": Choice(None, True, False),
        "adamw_lr": LR, "adamw_betas": BETAS, "adamw_eps": NONNEGATIVE,
        "adamw_weight_decay": NONNEGATIVE,
    }
    group_checks = (Rule(lambda g: g.get("use_muon") is not True
                         or all(p.ndim == 2 for p in g.get("params", ())),
                         "use_muon=True needs 2-D parameters; leave use_muon unset to send "
                         "other shapes to AdamW", ("use_muon",)),)

    def __init__(self, params: ParamsT, lr: float = 1e-3, weight_decay: float = 0.1,
                 momentum: float = 0.95, nesterov: bool = True,
                 ns_coefficients: tuple[float, float, float] = NS_COEFFICIENTS, eps: float = 1e-7,
                 ns_steps: int = 5, adjust_lr_fn: str | None = None, *, adamw_lr: float = 1e-3,
                 adamw_betas: tuple[float, float] = (0.9, 0.999), adamw_eps: float = 1e-8,
                 adamw_weight_decay: float = 0.01, maximize: bool = False,
                 on_nonfinite: str = "raise", flat: bool = True) -> None:
        super().__init__(params, dict(hyperparameters(locals()), use_muon=None),
                         on_nonfinite=on_nonfinite, flat=flat)

    @staticmethod
    def _uses_muon(param: Tensor, group: dict[str, Any]) -> bool:
        return param.ndim == 2 if group["use_muon"] is None else bool(group["use_muon"])

    @staticmethod
    def _adamw_group(group: dict[str, Any]) -> dict[str, Any]:
        """The group's hyper-parameters as AdamW reads them."""
        return dict(lr=group["adamw_lr"], betas=group["adamw_betas"], eps=group["adamw_eps"],
                    weight_decay=group["adamw_weight_decay"], amsgrad=False,
                    decoupled_weight_decay=True)

    # Parameters outside Muon's scope run AdamW's own rule (Adam's methods keep nothing on the
    # instance), reading this group's adamw_* values.
    def _init_state(self, param: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        if self._uses_muon(param, group):
            state["momentum_buffer"] = zeros_state(param)
        else:
            add_zero_state(Adam.zero_state, param, state, self._adamw_group(group))

    def _update(self, param: Tensor, grad: Any, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        if not self._uses_muon(param, group):
            adamw = self._adamw_group(group)
            grad = apply_weight_decay(param.array, grad, adamw["lr"], adamw["weight_decay"], True)
            # Adam's rule reads nothing from the instance, so it runs unbound on this Muon
            Adam._update(self, param, grad, state, adamw)  # type: ignore[arg-type]
            return
        data, buf = param.array, state["momentum_buffer"]
        lr, momentum = group["lr"], group["momentum"]
        ema_(buf, grad, momentum)
        update = grad + momentum * (buf - grad) if group["nesterov"] else buf
        ortho = newton_schulz_orthogonalize(update, group["ns_steps"], group["ns_coefficients"],
                                            group["eps"])
        scale = _LR_ADJUSTMENTS[group["adjust_lr_fn"] or "original"](*data.shape)
        data *= 1.0 - lr * group["weight_decay"]
        data -= (lr * scale) * ortho


def newton_schulz_orthogonalize(matrix: Any, steps: int = 5,
                                coefficients: tuple[float, float, float] = NS_COEFFICIENTS,
                                eps: float = 1e-7) -> Any:
    """An approximation of ``U V^T`` for the 2-D array ``matrix = U S V^T``.

    The matrix is scaled by its Frobenius norm (so every singular value is <= 1), then
    ``steps`` iterations of the odd quintic ``X <- a X + b (X X^T) X + c (X X^T)^2 X`` push
    each singular value towards 1 without a decomposition. The default coefficients trade
    exactness, which Muon does not need, for speed: after 5 steps the singular values lie
    roughly in [0.68, 1.13] instead of at 1. A tall matrix is transposed so that ``X X^T`` is
    the smaller Gram matrix.
    """
    if matrix.ndim != 2:
        raise ValueError(f"Newton-Schulz orthogonalisation needs a 2-D array, got shape "
                         f"{matrix.shape}")
    xp = backend.xp(backend.device_of(matrix))
    a, b, c = coefficients
    tall = matrix.shape[0] > matrix.shape[1]
    x = matrix.T if tall else matrix
    x = x / max(float(xp.linalg.norm(x)), eps)
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * (gram @ gram)) @ x
    return x.T if tall else x
