"""Loss functions: cross-entropy, negative log-likelihood, mean squared error.

``reduction`` is 'mean' (the default), 'sum', or 'none' (one loss per sample), as in
PyTorch. Class targets are integer tensors of shape (N,) for inputs of shape (N, C).
"""
from __future__ import annotations

from typing import Any

from minigrad import backend
from minigrad.errors import DeviceError, ShapeError
from minigrad.nn.functional.activation import softmax_node
from minigrad.tensor import Tensor, wrap, record

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
    ignored = _check_classification(input, target, weight, ignore_index, reduction,
                                    "cross_entropy")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    xp = backend.xp(input.device)
    n, c = input.shape
    rows = xp.arange(n)
    targets = _stand_in_targets(target.array, ignored)
    w = None if weight is None else weight.array.astype(input.dtype, copy=False)
    target_weight = 1.0 if w is None else w[targets]
    keep = 1.0 - label_smoothing
    shifted = input.array - input.array.max(axis=1, keepdims=True)
    exps = xp.exp(shifted)
    sums = exps.sum(axis=1)
    log_sums = xp.log(sums)
    # -sum_c a_ic log p_ic, with log p_ic = shifted_ic - log_sums_i
    losses = log_sums - shifted[rows, targets]
    if w is not None or label_smoothing:
        losses *= keep * target_weight
    if label_smoothing:
        class_sum = c if w is None else w.sum()
        weighted_shifted = shifted.sum(axis=1) if w is None else shifted @ w
        losses += label_smoothing / c * (class_sum * log_sums - weighted_shifted)
    if ignored is not None:
        losses *= ~ignored
    denominator = _denominator(target_weight, ignored, n)

    def backward(g: Tensor, out: Tensor) -> tuple[Tensor]:
        probs = softmax_node(input, exps / sums[:, None], 1)
        target_part = xp.zeros(input.shape, dtype=input.dtype)
        target_part[rows, targets] = keep * target_weight
        if label_smoothing:
            target_part += label_smoothing / c * (1.0 if w is None else w)
        if w is not None or label_smoothing:
            probs = probs * wrap(target_part.sum(axis=1, keepdims=True), input.device)
        grad = probs - wrap(target_part, input.device)
        if ignored is not None:
            grad = grad * wrap(~ignored[:, None], input.device)
        if reduction == "none":
            return (grad * g.reshape(n, 1),)
        return (grad * (g * (1.0 / denominator) if reduction == "mean" else g),)
    return record(_reduce(losses, reduction, denominator), input.device, (input,), backward)


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, *,
             ignore_index: int = -100, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of the target classes, given log-probabilities ``input``
    (N, C): sample i's loss is -w_{t_i} input[i, t_i] (0 where t_i is ``ignore_index``);
    'mean' divides by the sum of w_{t_i} over the counted samples."""
    ignored = _check_classification(input, target, weight, ignore_index, reduction, "nll_loss")
    xp = backend.xp(input.device)
    n = input.shape[0]
    targets = _stand_in_targets(target.array, ignored)
    losses = -input[xp.arange(n), targets]
    target_weight = 1.0 if weight is None else weight.array.astype(input.dtype)[targets]
    if weight is not None or ignored is not None:
        factor = target_weight if ignored is None else target_weight * ~ignored
        losses = losses * wrap(xp.asarray(factor, dtype=input.dtype), input.device)
    return _reduce(losses, reduction, _denominator(target_weight, ignored, n))


def _stand_in_targets(targets: Any, ignored: Any) -> Any:
    """The targets, with class 0 standing in for ignored ones (masked out afterwards)."""
    return targets if ignored is None else targets * ~ignored


def _denominator(target_weight: Any, ignored: Any, n: int) -> Any:
    """What 'mean' divides by: the total weight of the counted samples."""
    if ignored is None:
        return n if isinstance(target_weight, float) else target_weight.sum()
    return (target_weight * ~ignored).sum()


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
                          ignore_index: int, reduction: str, name: str) -> Any:
    """Check input (N, C) floating, target (N,) integer classes in 0..C-1 (or ignore_index),
    weight (C,). Returns the mask of ignored samples, or None when no sample is ignored (found
    without a scan when ignore_index lies outside the targets' range, as -100 does)."""
    _check_reduction(reduction, name)
    if not isinstance(input, Tensor) or not isinstance(target, Tensor):
        raise TypeError(f"{name}: input and target must be Tensors, got "
                        f"{type(input).__name__} and {type(target).__name__}")
    if input.ndim != 2:
        raise ShapeError(f"{name}: input must have shape (N, C), got shape {input.shape}")
    if input.array.dtype.kind != "f":
        raise TypeError(f"{name}: input must be floating point, got dtype {input.dtype}")
    if target.array.dtype.kind not in "iu":
        raise TypeError(f"{name}: target must hold integer class indices (e.g. mg.int64), got "
                        f"dtype {target.dtype}; class probabilities are not supported")
    n, c = input.shape
    if target.shape != (n,):
        raise ShapeError(f"{name}: target must have shape ({n},) for input of shape "
                         f"{input.shape}, got shape {target.shape}")
    if target.device != input.device:
        raise DeviceError(f"{name}: input is on {input.device} but target is on "
                          f"{target.device}; move one with .to(device)")
    if weight is not None:
        if not isinstance(weight, Tensor) or weight.shape != (c,) or weight.array.dtype.kind != "f":
            raise ShapeError(f"{name}: weight must be a floating-point Tensor of shape ({c},), "
                             f"got {weight!r}")
        if weight.device != input.device:
            raise DeviceError(f"{name}: input is on {input.device} but weight is on "
                              f"{weight.device}")
    if not n:
        return None
    t = target.array
    low, high = int(t.min()), int(t.max())
    ignored = t == ignore_index if low <= ignore_index <= high else None
    if ignored is not None and not ignored.any():
        ignored = None
    if low < 0 or high >= c:
        bad = t[((t < 0) | (t >= c)) & (t != ignore_index)]
        if bad.size:
            raise ValueError(f"{name}: target contains class {int(bad[0])} but input has {c} "
                             f"classes (valid: 0..{c - 1})")
    return ignored
