"""Loss functions: cross-entropy, negative log-likelihood, mean squared error.

``reduction`` is 'mean' (the default), 'sum', or 'none' (one loss per sample), as in
PyTorch. Class targets are integer tensors of shape (N,) for inputs of shape (N, C).
"""
from __future__ import annotations

from typing import Any

from minigrad import backend
from minigrad.errors import DeviceError, ShapeError
from minigrad.nn.functional.activation import softmax_node
from minigrad.tensor import Tensor, _make, record

_REDUCTIONS = ("mean", "sum", "none")


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, *,
                  ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy between softmax(input) and the target classes, as one fused op.

    With smoothing e and class weights w (1 without), sample i's loss is
    -sum_c a_ic log p_ic, where p = softmax(input_i) and
    a_ic = w_c ((1 - e) [c = t_i] + e / C); samples whose target is ``ignore_index`` count
    0. 'mean' divides the sum by sum_i w_{t_i} over the counted samples. The gradient
    w.r.t. the logits is s_i p_ic - a_ic with s_i = sum_c a_ic: for plain targets, softmax
    minus one-hot. Softmax is computed once.
    """
    _check_classification(input, target, weight, ignore_index, reduction, "cross_entropy")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    xp = backend.xp(input.device)
    n, c = input.shape
    rows = xp.arange(n)
    w = None if weight is None else weight.data.astype(input.dtype, copy=False)
    targets, counted, sample_weight = _target_weights(target.data, w, ignore_index, input.dtype)
    shifted = input.data - input.data.max(axis=1, keepdims=True)
    exps = xp.exp(shifted)
    sums = exps.sum(axis=1)
    log_sums = xp.log(sums)
    keep = 1.0 - label_smoothing
    # -sum_c a_ic log p_ic, with log p_ic = shifted_ic - log_sums_i
    losses = (log_sums - shifted[rows, targets]) * (keep * sample_weight)
    if label_smoothing:
        class_sum = c if w is None else w.sum()
        weighted_shifted = shifted.sum(axis=1) if w is None else shifted @ w
        losses += label_smoothing / c * counted * (class_sum * log_sums - weighted_shifted)
    one_hot = w is None and not label_smoothing and bool(counted.all())
    denominator = sample_weight.sum()

    def backward(g: Tensor, out: Tensor) -> tuple[Tensor]:
        probs = softmax_node(input, exps / sums[:, None], 1)
        target_part = xp.zeros(input.shape, dtype=input.dtype)
        target_part[rows, targets] = keep * sample_weight
        if label_smoothing:
            target_part += label_smoothing / c * counted[:, None] * (1.0 if w is None else w)
        if not one_hot:
            probs = probs * _make(target_part.sum(axis=1, keepdims=True), input.device)
        grad = probs - _make(target_part, input.device)
        if reduction == "none":
            return (grad * g.reshape(n, 1),)
        return (grad * (g * (1.0 / denominator) if reduction == "mean" else g),)
    return record(_reduce(losses, reduction, denominator), input.device, (input,), backward)


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, *,
             ignore_index: int = -100, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of the target classes, given log-probabilities ``input``
    (N, C): sample i's loss is -w_{t_i} input[i, t_i] (0 where t_i is ``ignore_index``);
    'mean' divides by the sum of w_{t_i} over the counted samples."""
    _check_classification(input, target, weight, ignore_index, reduction, "nll_loss")
    w = None if weight is None else weight.data.astype(input.dtype, copy=False)
    targets, _, sample_weight = _target_weights(target.data, w, ignore_index, input.dtype)
    rows = backend.xp(input.device).arange(input.shape[0])
    losses = input[rows, targets] * _make(-sample_weight, input.device)
    return _reduce(losses, reduction, sample_weight.sum())


def _target_weights(targets: Any, w: Any, ignore_index: int, dtype: Any) -> tuple[Any, Any, Any]:
    """Targets safe to index with (ignored ones replaced by 0), the mask of counted samples
    (as 0/1 in ``dtype``) and each sample's weight w[t_i] (0 where ignored)."""
    ignored = targets == ignore_index
    counted = (~ignored).astype(dtype)
    if ignored.any():
        targets = targets * ~ignored
    return targets, counted, counted if w is None else w[targets] * counted


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """(input - target)^2, elementwise, then reduced. Shapes must be equal: broadcasting
    (N, 1) against (N,) would silently compare every sample with every target."""
    _check_reduction(reduction, "mse_loss")
    if not isinstance(input, Tensor) or not isinstance(target, Tensor):
        raise TypeError("mse_loss: input and target must be Tensors")
    if input.shape != target.shape:
        raise ShapeError(f"mse_loss: input shape {input.shape} and target shape {target.shape} "
                         "differ; reshape one so that they match")
    diff = input - target
    return _reduce(diff * diff, reduction, diff.numel())


def _reduce(losses: Any, reduction: str, denominator: Any) -> Any:
    """Per-sample losses (a tensor or, inside a fused op, an array) reduced as asked."""
    if reduction == "none":
        return losses
    total = losses.sum()
    return total / denominator if reduction == "mean" else total


def _check_reduction(reduction: str, name: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{name}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _check_classification(input: Tensor, target: Tensor, weight: Tensor | None,
                          ignore_index: int, reduction: str, name: str) -> None:
    """Input (N, C) floating, target (N,) integer classes in 0..C-1 (or ignore_index),
    weight (C,)."""
    _check_reduction(reduction, name)
    if not isinstance(input, Tensor) or not isinstance(target, Tensor):
        raise TypeError(f"{name}: input and target must be Tensors, got "
                        f"{type(input).__name__} and {type(target).__name__}")
    if input.ndim != 2:
        raise ShapeError(f"{name}: input must have shape (N, C), got shape {input.shape}")
    if input.data.dtype.kind != "f":
        raise TypeError(f"{name}: input must be floating point, got dtype {input.dtype}")
    if target.data.dtype.kind not in "iu":
        raise TypeError(f"{name}: target must hold integer class indices (e.g. mg.int64), got "
                        f"dtype {target.dtype}; class probabilities are not supported")
    n, c = input.shape
    if target.shape != (n,):
        raise ShapeError(f"{name}: target must have shape ({n},) for input of shape "
                         f"{input.shape}, got shape {target.shape}")
    if target.device != input.device:
        raise DeviceError(f"{name}: input is on {input.device} but target is on "
                          f"{target.device}; move one with .to(device)")
    t = target.data
    if n and (int(t.min()) < 0 or int(t.max()) >= c):
        bad = t[((t < 0) | (t >= c)) & (t != ignore_index)]
        if bad.size:
            raise ValueError(f"{name}: target contains class {int(bad[0])} but input has {c} "
                             f"classes (valid: 0..{c - 1})")
    if weight is not None:
        if not isinstance(weight, Tensor) or weight.shape != (c,) or weight.data.dtype.kind != "f":
            raise ShapeError(f"{name}: weight must be a floating-point Tensor of shape ({c},), "
                             f"got {weight!r}")
        if weight.device != input.device:
            raise DeviceError(f"{name}: input is on {input.device} but weight is on "
                              f"{weight.device}")
