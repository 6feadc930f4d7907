"""Activation functions and (log-)softmax.

Ops that the engine already has (relu, tanh, sigmoid, and softmax/log_softmax, which live
with the reductions in :mod:`minigrad.ops.reduce`) are used as they are. The others are
single graph nodes whose backward rules are written with tensor ops, so they can be
differentiated again.
"""
from __future__ import annotations

import math
from typing import Any

from minigrad import backend
from minigrad.checks import require_floating, require_number, require_tensor
from minigrad.ops import relu as relu_op, sigmoid, tanh, where
from minigrad.ops.reduce import log_softmax, log_softmax_node, softmax, softmax_node  # noqa: F401
from minigrad.ops.special import erf_array
from minigrad.tensor import Tensor, wrap, record

__all__ = ["relu", "relu6", "leaky_relu", "gelu", "tanh", "sigmoid", "softplus", "elu", "silu",
           "softmax", "log_softmax"]

_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def _piecewise_linear(input: Tensor, data: Any, slope: Any) -> Tensor:
    """A node whose output is ``data`` and whose derivative is the constant ``slope``."""
    slope = wrap(slope, input.device)
    return record(data, input.device, (input,), lambda g, out: (g * slope,))


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """max(x, 0), with gradient 0 at 0. ``inplace`` is accepted for PyTorch compatibility;
    the result is the same, computed out of place (so a graph never needs rewriting)."""
    return relu_op(require_tensor(input, "relu"))


def relu6(input: Tensor) -> Tensor:
    """min(max(x, 0), 6); the gradient is 1 strictly between 0 and 6 (as in PyTorch)."""
    x = input.array
    slope = ((x > 0) & (x < 6)).astype(x.dtype)
    return _piecewise_linear(input, backend.xp(input.device).clip(x, 0, 6), slope)


def leaky_relu(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    """x for x > 0, else negative_slope * x."""
    if type(negative_slope) is not float:
        require_number(negative_slope, "leaky_relu", "negative_slope")
    x = require_tensor(input, "leaky_relu").array
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


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta x)) / beta, a smooth ReLU; x itself where beta x > threshold, as in
    PyTorch (which calls that reversion to the linear function numerical stability).

    Computed as (max(beta x, 0) + log1p(exp(-|beta x|))) / beta, so that no exp overflows,
    whatever the threshold. Derivative: sigmoid(beta x), and 1 on the linear part.
    """
    require_floating(input, "softplus")
    xp = backend.xp(input.device)
    x = input.array
    scaled = x * beta
    linear = scaled > threshold
    data = xp.where(linear, x, (xp.maximum(scaled, 0) + xp.log1p(xp.exp(-xp.abs(scaled)))) / beta)

    def backward(g: Tensor, out: Tensor) -> tuple[Tensor]:
        return (g * where(wrap(linear, input.device), 1.0, sigmoid(input * beta)),)
    return record(data, input.device, (input,), backward)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x for x > 0, alpha (exp(x) - 1) otherwise (Clevert et al., 2015); exp(x) - 1 by
    expm1, exact near 0. ``inplace`` is accepted for PyTorch compatibility; the result is
    the same, computed out of place.

    Derivative: 1 for x > 0, alpha exp(x) = out + alpha otherwise (alpha at 0, as in
    PyTorch); written with the output itself, so it is differentiable again.
    """
    require_floating(input, "elu")
    xp = backend.xp(input.device)
    x = input.array
    positive = x > 0
    data = xp.where(positive, x, alpha * xp.expm1(xp.minimum(x, 0)))

    def backward(g: Tensor, out: Tensor) -> tuple[Tensor]:
        return (g * where(wrap(positive, input.device), 1.0, out + alpha),)
    return record(data, input.device, (input,), backward)


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """x sigmoid(x), the sigmoid-weighted linear unit (also called swish). ``inplace`` is
    accepted for PyTorch compatibility; the result is computed out of place.

    sigmoid is computed from exp(-|x|), accurate to the last digits for negative x too.
    Derivative: s (1 + x (1 - s)) with s = sigmoid(x).
    """
    require_floating(input, "silu")
    xp = backend.xp(input.device)
    x = input.array
    decay = xp.exp(-xp.abs(x))  # in (0, 1]: no overflow
    s = xp.where(x >= 0, 1.0, decay) / (1.0 + decay)

    def backward(g: Tensor, out: Tensor) -> tuple[Tensor]:
        sig = _sigmoid_node(input, s)
        return (g * sig * (1.0 + input * (1.0 - sig)),)
    return record(x * s, input.device, (input,), backward)


def _sigmoid_node(input: Tensor, s: Any) -> Tensor:
    """sigmoid(input), already computed as ``s``, as a node whose derivative is s (1 - s)."""
    return record(s, input.device, (input,), lambda g, out: (g * out * (1.0 - out),))
