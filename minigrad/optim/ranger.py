"""Ranger: RAdam on centralised gradients, wrapped in Lookahead."""
from __future__ import annotations

from typing import Any

from minigrad.optim.gradient_centralization import centralize_gradient
from minigrad.optim.lookahead import Lookahead
from minigrad.optim.optimizer import ParamsT
from minigrad.optim.radam import RAdam
from minigrad.tensor import Tensor


class Ranger(Lookahead):
    """Ranger (L. Wright 2019, "Ranger-Deep-Learning-Optimizer", version 20.4.11 with
    gradient centralization), built from minigrad's own parts::

        g = g - mean(g over all dims but the first)     # gradient centralization, if use_gc
        p = RAdam step on g, with decoupled weight decay p = p * (1 - lr * wd)
        every k steps:  phi = phi + alpha * (p - phi);  p = phi      # Lookahead

    The RAdam step is :class:`~minigrad.optim.radam.RAdam`'s (momentum SGD while the
    rectification threshold ``rho_t > 5`` is not reached, then rectified Adam with ``eps``
    added to ``sqrt(v)``); the Lookahead is :class:`~minigrad.optim.lookahead.Lookahead`'s,
    with slow weights starting at the initial parameters. Gradient centralization
    (:func:`~minigrad.optim.gradient_centralization.centralize_gradient`, Yong et al. 2020)
    applies to gradients with more than one dimension (more than three with
    ``gc_conv_only``: convolution filters only) and can be switched per group
    (``use_gc``, ``gc_conv_only``). Weight decay is decoupled, as in the original.
    Defaults are the original's: ``lr=1e-3, alpha=0.5, k=6, betas=(0.95, 0.999), eps=1e-5``.
    """

    def __init__(self, params: ParamsT, lr: float = 1e-3, alpha: float = 0.5, k: int = 6,
                 betas: tuple[float, float] = (0.95, 0.999), eps: float = 1e-5,
                 weight_decay: float = 0.0, use_gc: bool = True, gc_conv_only: bool = False, *,
                 maximize: bool = False, on_nonfinite: str = "raise", flat: bool = True) -> None:
        inner = _CentralizedRAdam(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                  use_gc=use_gc, gc_conv_only=gc_conv_only, maximize=maximize,
                                  on_nonfinite=on_nonfinite, flat=flat)
        super().__init__(inner, k=k, alpha=alpha)


class _CentralizedRAdam(RAdam):
    """RAdam with decoupled weight decay, stepping on centralised gradients."""

    elementwise = False  # centralising subtracts each parameter's mean

    def __init__(self, params: ParamsT, *, lr: float, betas: tuple[float, float], eps: float,
                 weight_decay: float, use_gc: bool, gc_conv_only: bool, maximize: bool,
                 on_nonfinite: str, flat: bool) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         decoupled_weight_decay=True, maximize=maximize,
                         on_nonfinite=on_nonfinite, flat=flat)
        # added after construction so that groups given by the user keep their own values
        gc_options = dict(use_gc=use_gc, gc_conv_only=gc_conv_only)
        self.defaults.update(gc_options)
        for group in self.param_groups:
            for key, value in gc_options.items():
                group.setdefault(key, value)

    def _name(self) -> str:
        return "Ranger"

    def _update(self, param: Tensor, grad: Any, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        if group["use_gc"]:
            grad = centralize_gradient(grad, group["gc_conv_only"])
        super()._update(param, grad, state, group)
