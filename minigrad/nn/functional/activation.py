"""Activation functions and (log-)softmax.

Ops that the engine already has (relu, tanh, sigmoid) are used as they are. The others
are single graph nodes whose backward rules are written with tensor ops, so they can be
differentiated again.
"""
from __future__ import annotations

import math
from typing import Any

from minigrad import backend
from minigrad.ops import relu, sigmoid, tanh
from minigrad.ops.movement import normalize_axis
from minigrad.ops.special import erf_array
from minigrad.tensor import Tensor, wrap, record

__all__ = ["relu", "relu6", "leaky_relu", "gelu", "tanh", "sigmoid", "softmax", "log_softmax"]

_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def _piecewise_linear(input: Tensor, data: Any, slope: Any) -> Tensor:
    """A node whose output is ``data`` and whose derivative is the constant ``slope``."""
    slope = wrap(slope, input.device)
    return record(data, input.device, (input,), lambda g, out: (g * slope,))


def relu6(input: Tensor) -> Tensor:
    """min(max(x, 0), 6); the gradient is 1 strictly between 0 and 6 (as in PyTorch)."""
    x = input.array
    slope = ((x > 0) & (x < 6)).astype(x.dtype)
    return _piecewise_linear(input, backend.xp(input.device).clip(x, 0, 6), slope)


def leaky_relu(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    """x for x > 0, else negative_slope * x."""
    x = input.array
    slope = backend.xp(input.device).where(x > 0, 1.0, negative_slope).astype(x.dtype)
    return _piecewise_linear(input, x * slope, slope)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit x * Phi(x), Phi the standard normal CDF (Hendrycks & Gimpel,
    2016).

    ``approximate='none'``: Phi(x) = (1 + erf(x / sqrt 2)) / 2, exactly (erf to ~1e-15);
    its derivative is Phi(x) + x phi(x). ``approximate='tanh'``:
    x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
    """
    if approximate == "tanh":
        inner = (input + input * input * input * 0.044715) * _SQRT_2_OVER_PI
        return input * 0.5 * (tanh(inner) + 1.0)
    if approximate != "none":
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    if input.array.dtype.kind != "f":
        raise TypeError(f"gelu needs a floating-point tensor, got {input.dtype}")
    cdf_data = 0.5 + 0.5 * erf_array(input.array * _SQRT_HALF, backend.xp(input.device))

    def backward(g: Tensor, out: Tensor) -> tuple[Tensor]:
        cdf = _normal_cdf_node(input, cdf_data)
        return (g * (cdf + input * _normal_pdf(input)),)
    return record(input.array * cdf_data, input.device, (input,), backward)


def _normal_pdf(x: Tensor) -> Tensor:
    return (x * x * -0.5).exp() * _INV_SQRT_2PI


def _normal_cdf_node(input: Tensor, cdf_data: Any) -> Tensor:
    """Phi(input), already computed, as a node whose derivative is phi(input)."""
    return record(cdf_data, input.device, (input,),
                  lambda g, out: (g * _normal_pdf(input),))


def softmax(input: Tensor, dim: int) -> Tensor:
    """exp(x) / sum(exp(x)) along ``dim``, computed after subtracting the maximum so that
    large logits cannot overflow."""
    dim = normalize_axis(dim, input.ndim)
    xp = backend.xp(input.device)
    probs = xp.exp(input.array - input.array.max(axis=dim, keepdims=True))
    probs /= probs.sum(axis=dim, keepdims=True)
    return softmax_node(input, probs, dim)


def softmax_node(input: Tensor, probs: Any, dim: int) -> Tensor:
    """``probs`` = softmax(input) along ``dim``, already computed, as a node of the graph.

    Backward: p * (g - sum(g * p)); it uses the node itself, so it is differentiable again.
    """
    return record(probs, input.device, (input,),
                  lambda g, out: (out * (g - (g * out).sum(dim, keepdims=True)),))


def log_softmax(input: Tensor, dim: int) -> Tensor:
    """x - log(sum(exp(x))) along ``dim``, with the maximum subtracted first (stable for
    logits of any size). Backward: g - softmax(x) * sum(g)."""
    dim = normalize_axis(dim, input.ndim)
    xp = backend.xp(input.device)
    shifted = input.array - input.array.max(axis=dim, keepdims=True)
    data = shifted - xp.log(xp.exp(shifted).sum(axis=dim, keepdims=True))
    return record(data, input.device, (input,),
                  lambda g, out: (g - out.exp() * g.sum(dim, keepdims=True),))
