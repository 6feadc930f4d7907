"""Whole derivatives of small functions: Jacobians, Hessians, Hessian-vector products.

All are built from :func:`minigrad.autograd.grad`; the second-order ones differentiate a
gradient computed with ``create_graph=True``.
"""
from __future__ import annotations

from typing import Callable

from minigrad import backend
from minigrad.autograd.engine import grad
from minigrad.grad_mode import enable_grad
from minigrad.tensor import Tensor, wrap


def _fresh_input(x: Tensor) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"the point to differentiate at must be a Tensor, got "
                        f"{type(x).__name__}; convert it with mg.tensor(...)")
    return wrap(x.array, x.device).requires_grad_(True)


def _rows(outputs: Tensor, x: Tensor, create_graph: bool) -> Tensor:
    """The Jacobian of ``outputs`` w.r.t. ``x``, shape ``outputs.shape + x.shape``."""
    xp = backend.xp(x.device)
    rows = []
    flat = outputs.reshape(-1)
    for i in range(flat.shape[0]):
        if not flat.requires_grad:
            rows.append(xp.zeros(x.shape, dtype=x.dtype))
            continue
        (row,) = grad(flat[i], x, retain_graph=True, create_graph=create_graph, allow_unused=True)
        rows.append(xp.zeros(x.shape, dtype=x.dtype) if row is None else row.array)
    data = xp.stack(rows).reshape(outputs.shape + x.shape) if rows else \
        xp.zeros(outputs.shape + x.shape, dtype=x.dtype)
    return wrap(data, x.device)


def jacobian(f: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """d f(x) / dx, of shape ``f(x).shape + x.shape``."""
    x = _fresh_input(x)
    with enable_grad():
        return _rows(f(x), x, create_graph=False)


def _gradient_with_graph(f: Callable[[Tensor], Tensor], x: Tensor,
                         name: str) -> tuple[Tensor, Tensor, Tensor]:
    """``(x, f(x), grad f(x))`` for a scalar ``f``, the gradient kept differentiable."""
    x = _fresh_input(x)
    y = f(x)
    if y.numel() != 1:
        raise ValueError(f"{name} needs a scalar function, but f(x) has shape {y.shape}")
    (g,) = grad(y, x, create_graph=True)
    assert g is not None  # x is y's input: grad() returns its gradient (allow_unused=False)
    return x, y, g


def hessian(f: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """The matrix of second derivatives of a scalar ``f`` at ``x``: shape ``x.shape * 2``."""
    with enable_grad():
        x, _, g = _gradient_with_graph(f, x, "hessian")
        return _rows(g, x, create_graph=False)


def hvp(f: Callable[[Tensor], Tensor], x: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
    """``(f(x), H v)``: the Hessian of a scalar ``f`` at ``x`` times ``v``, in two passes
    and without forming H (the gradient of <grad f(x), v>)."""
    if v.shape != x.shape:
        raise ValueError(f"v has shape {v.shape} but x has shape {x.shape}")
    with enable_grad():
        x, y, g = _gradient_with_graph(f, x, "hvp")
        hv = grad(g, x, grad_outputs=v.detach(), allow_unused=True)[0] if g.requires_grad else None
    if hv is None:  # f is linear in x: H = 0
        hv = wrap(backend.xp(x.device).zeros_like(x.array), x.device)
    return y.detach(), hv
