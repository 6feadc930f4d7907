"""Gradient centralization: remove the mean of each output unit's gradient."""
from __future__ import annotations

from typing import Any


def centralize_gradient(grad: Any, conv_only: bool = False) -> Any:
    """``grad`` minus its mean over every dimension but the first (Yong et al. 2020,
    "Gradient Centralization: A New Optimization Technique for Deep Neural Networks").

    For a weight of shape ``(out_features, ...)`` each output unit's gradient then sums to
    zero, which constrains the weight to a hyperplane and regularises training. Only
    gradients of weights with more than one dimension are centred (more than three with
    ``conv_only``: convolution filters only); biases and other vectors pass through
    unchanged, as does a 0-d gradient. Returns a new array; ``grad`` is not modified.
    """
    if grad.ndim <= (3 if conv_only else 1):
        return grad
    return grad - grad.mean(axis=tuple(range(1, grad.ndim)), keepdims=True)
