"""Loss functions: for classes (cross-entropy, negative log-likelihood, binary cross-entropy
of probabilities or of logits), for regression (L1, mean squared error, smooth L1, Huber),
and the Kullback-Leibler divergence.

``reduction`` is 'mean' (the default), 'sum', or 'none' (one loss per sample or element),
as in PyTorch; kl_div also takes 'batchmean'. Class targets are integer tensors of shape
(N,) for inputs of shape (N, C), () for an unbatched input (C,), and (N, d1, ...) for
(N, C, d1, ...); cross_entropy also takes class probabilities, a floating target of the
input's shape.

PyTorch's deprecated ``size_average`` and ``reduce`` are left out, so the new losses take
their options by keyword only: a positional call written for PyTorch would bind them to the
wrong parameter. huber_loss, which never had them, keeps PyTorch's positional order.

Every loss checks its arguments when it is called. The loss has the input's dtype: a
target or weight of another dtype is converted to it. Weights (``weight``, ``pos_weight``)
are constants: no gradient flows to them, as none does in PyTorch's fused losses, and one
that requires a gradient is refused rather than silently left without one.
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Callable

from minigrad import backend, kernels
from minigrad.autograd import is_grad_enabled
from minigrad.errors import DeviceError, ShapeError
from minigrad.nn.functional.activation import log_softmax_node, softmax_node, softplus
from minigrad.checks import require_floating
from minigrad.ops.movement import to_dtype
from minigrad.tensor import Tensor, record, wrap

_REDUCTIONS = ("mean", "sum", "none")
_KL_REDUCTIONS = _REDUCTIONS + ("batchmean",)
_LOG_FLOOR = -100.0  # binary_cross_entropy clamps its logs to this, as PyTorch does
_BCE_EPS = 1e-12     # and the floor of x (1 - x) in its gradient
_quiet = backend.xp("cpu").errstate  # NumPy's warning switch (CuPy does not warn)
_HOST_COUNT = (int, float, backend.xp("cpu").generic, backend.xp("cpu").ndarray)
_KL_MEAN_WARNING = (
    "kl_div: reduction='mean' divides the total loss by the number of elements (batch size "
    "times support size); reduction='batchmean' divides by the batch size only, which gives "
    "the KL divergence per sample (PyTorch gives the same warning)")


# --- classes ------------------------------------------------------------------------------

def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, *,
                  ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy between softmax(input) and the target, as one fused op.

    The classes lie along dim 1 (dim 0 of an unbatched input (C,)); the target holds class
    indices or class probabilities.

    Class indices. With smoothing e and class weights w (1 without), sample i's loss is
    -sum_c a_ic log p_ic, where p = softmax(input_i) and
    a_ic = w_c ((1 - e) [c = t_i] + e / C); samples whose target is ``ignore_index`` count
    0. 'mean' divides the sum by sum_i w_{t_i} over the counted samples. The gradient
    w.r.t. the logits is s_i p_ic - a_ic with s_i = sum_c a_ic: for plain targets, softmax
    minus one-hot. Softmax is computed once. Inputs (C,) and (N, C, d1, ...) are computed
    as (N d1 ..., C) with the classes last; 'none' gives losses of the target's shape.

    Class probabilities (a floating target t of the input's shape): sample i's loss is
    -sum_c w_c a_ic log p_ic with a_ic = (1 - e) t_ic + e / C; 'mean' divides by the number
    of samples (N d1 ..., weights do not enter it), and ignore_index plays no part, as in
    PyTorch. Gradients: p_i sum_c w_c a_ic - w a_i for the logits, -(1 - e) w log p for the
    target.
    """
    if not _is_class_batch(input, target):
        if isinstance(input, Tensor) and isinstance(target, Tensor) and \
                target.array.dtype.kind == "f" and target.shape == input.shape:
            return _cross_entropy_probabilities(input, target, weight, reduction,
                                                label_smoothing)
        return _over_flattened_samples(cross_entropy, input, target, weight, "cross_entropy",
                                       reduction, ignore_index=ignore_index,
                                       label_smoothing=label_smoothing)
    ignored, w, keep_rows = _check_classification(input, target, weight, ignore_index,
                                                  reduction, "cross_entropy")
    _check_label_smoothing(label_smoothing)
    xp = backend.xp(input.device)
    n, c = input.shape
    rows = xp.arange(n)
    targets = _stand_in_targets(target.array, ignored)
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
        losses *= ~ignored if keep_rows is None else keep_rows
    denominator = _denominator(target_weight, ignored, n)

    def backward(g: Tensor, out: Tensor) -> tuple[Tensor]:
        per_element = g.reshape(n, 1) if reduction == "none" else \
            _per_element(g, reduction, denominator)
        if w is None and not label_smoothing and kernels.usable(exps) and \
                not is_grad_enabled() and per_element.array.dtype == exps.dtype:
            # a plain backward (no graph of the gradient) on the GPU: one pass over (N, C)
            mask = xp.ones((n, 1), exps.dtype) if ignored is None else xp.asarray(
                (~ignored if keep_rows is None else keep_rows)[:, None], dtype=exps.dtype)
            return (wrap(_softmax_minus_onehot(exps, sums, mask, per_element.array, rows,
                                               targets), input.device),)
        probs = softmax_node(input, exps / sums[:, None], 1)
        target_part = xp.zeros(input.shape, dtype=input.dtype)
        target_part[rows, targets] = keep * target_weight
        if label_smoothing:
            target_part += label_smoothing / c * (1.0 if w is None else w)
        if w is not None or label_smoothing:
            probs = probs * wrap(target_part.sum(axis=1, keepdims=True), input.device)
        grad = probs - wrap(target_part, input.device)
        if ignored is not None:
            grad = grad * wrap((~ignored if keep_rows is None else keep_rows)[:, None],
                               input.device)
        return (grad * per_element,)
    return record(_reduce(losses, reduction, denominator), input.device, (input,), backward)


# On the GPU, the gradient of a plain cross-entropy (no class weights, no smoothing) as the
# array path computes it, ((softmax - onehot) * mask) * per_element: one kernel over (N, C)
# for every entry as if its one-hot were 0, then the N target entries again, with the 1.
CROSS_ENTROPY_GRAD = kernels.ElementwiseKernel(
    "cross_entropy_grad", reads="exps, sums, mask, per_element", writes="grad", scalars="",
    body="grad = ((exps / sums) * mask) * per_element;")


def _softmax_minus_onehot(exps: Any, sums: Any, mask: Any, per_element: Any, rows: Any,
                          targets: Any) -> Any:
    grad = backend.xp(backend.device_of(exps)).empty_like(exps)
    CROSS_ENTROPY_GRAD(exps, sums[:, None], mask, per_element, grad)
    picked = per_element if per_element.ndim == 0 else per_element[:, 0]
    grad[rows, targets] = ((exps[rows, targets] / sums - 1.0) * mask[:, 0]) * picked
    return grad


def _cross_entropy_probabilities(input: Tensor, target: Tensor, weight: Tensor | None,
                                 reduction: str, label_smoothing: float) -> Tensor:
    """cross_entropy against class probabilities ``target`` (see there), as one node."""
    name = "cross_entropy"
    _check_reduction(reduction, name)
    require_floating(input, name)
    if input.ndim == 0:
        raise ShapeError(f"{name}: input must have shape (C,), (N, C) or (N, C, d1, ...), got "
                         "a 0-d tensor")
    _check_label_smoothing(label_smoothing)
    _check_same_device(input, target, name, "target")
    dim = 1 if input.ndim > 1 else 0
    c = input.shape[dim]
    w = _class_weight(weight, c, input, name)
    _check_range(target, name, "target (class probabilities)", 0.0, 1.0)
    target = _in_dtype_of(input, target, name)
    xp = backend.xp(input.device)
    keep = 1.0 - label_smoothing
    x = input.array
    shifted = x - x.max(axis=dim, keepdims=True)
    exps = xp.exp(shifted)
    sums = exps.sum(axis=dim, keepdims=True)
    log_probs = shifted - xp.log(sums)
    if w is not None:
        w = w.reshape((c,) + (1,) * (input.ndim - dim - 1))  # broadcasts along dim
    mixed = target.array * keep + label_smoothing / c if label_smoothing else target.array
    losses = -((mixed if w is None else mixed * w) * log_probs).sum(axis=dim)
    samples = x.size // c if c else 0

    def backward(g: Tensor, out: Tensor) -> tuple[Tensor | None, Tensor | None]:
        g = _per_element(g, reduction, samples)
        if reduction == "none":
            g = g.unsqueeze(dim)
        class_weight = None if w is None else wrap(w, input.device)
        grad_input = grad_target = None
        if input.requires_grad:
            a = target * keep + label_smoothing / c if label_smoothing else target
            a = a if class_weight is None else a * class_weight
            probs = softmax_node(input, exps / sums, dim)
            grad_input = (probs * a.sum(dim, keepdim=True) - a) * g
        if target.requires_grad:
            scale = -keep if class_weight is None else class_weight * -keep
            grad_target = log_softmax_node(input, log_probs, dim) * scale * g
        return grad_input, grad_target
    return record(_reduce(losses, reduction, samples), input.device, (input, target), backward)


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, *,
             ignore_index: int = -100, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of the target classes, given log-probabilities ``input``
    (N, C): sample i's loss is -w_{t_i} input[i, t_i] (0 where t_i is ``ignore_index``);
    'mean' divides by the sum of w_{t_i} over the counted samples. Inputs (C,) and
    (N, C, d1, ...) take targets () and (N, d1, ...), as in cross_entropy."""
    if not _is_class_batch(input, target):
        return _over_flattened_samples(nll_loss, input, target, weight, "nll_loss", reduction,
                                       ignore_index=ignore_index)
    ignored, w, keep_rows = _check_classification(input, target, weight, ignore_index,
                                                  reduction, "nll_loss")
    xp = backend.xp(input.device)
    n = input.shape[0]
    targets = _stand_in_targets(target.array, ignored)
    losses = -input[xp.arange(n), targets]
    target_weight = 1.0 if w is None else w[targets]
    if weight is not None or ignored is not None:
        factor = target_weight if ignored is None else \
            target_weight * (~ignored if keep_rows is None else keep_rows)
        losses = losses * wrap(xp.asarray(factor, dtype=input.dtype), input.device)
    return _reduce(losses, reduction, _denominator(target_weight, ignored, n))


def _is_class_batch(input: Any, target: Any) -> bool:
    """True for the common case, which the losses compute directly: input (N, C) with
    integer class targets."""
    return isinstance(input, Tensor) and isinstance(target, Tensor) and \
        input.array.ndim == 2 and target.array.dtype.kind in "iu"


def _over_flattened_samples(loss: Callable[..., Tensor], input: Any, target: Any,
                            weight: Tensor | None, name: str, reduction: str,
                            **options: Any) -> Tensor:
    """``loss`` for input (N, C) applied to input (C,) with target (), or to
    (N, C, d1, ...) with target (N, d1, ...): the classes are moved last and the samples
    flattened, and 'none' gives the losses back in the target's shape."""
    _check_tensors(input, target, name)
    if target.array.dtype.kind not in "iu":
        hint = (f"; floating targets are class probabilities and must have the input's shape "
                f"{input.shape}" if loss is cross_entropy else "")
        raise TypeError(f"{name}: target must hold integer class indices (e.g. mg.int64), got "
                        f"dtype {target.dtype} and shape {target.shape}{hint}")
    if input.ndim == 0:
        raise ShapeError(f"{name}: input must have shape (C,), (N, C) or (N, C, d1, ...), got "
                         "a 0-d tensor")
    expected = () if input.ndim == 1 else (input.shape[0],) + input.shape[2:]
    if target.shape != expected:
        raise ShapeError(f"{name}: target must have shape {expected} for input of shape "
                         f"{input.shape}, got shape {target.shape} (class targets are () for "
                         "input (C,), (N,) for (N, C), (N, d1, ...) for (N, C, d1, ...))")
    if input.ndim == 1:
        flat = input.reshape(1, -1)
    else:
        flat = input.permute(0, *range(2, input.ndim), 1).reshape(-1, input.shape[1])
    losses = loss(flat, target.reshape(-1), weight, reduction=reduction, **options)
    return losses.reshape(expected) if reduction == "none" else losses


def _stand_in_targets(targets: Any, ignored: Any) -> Any:
    """The targets, with class 0 standing in for ignored ones (masked out afterwards)."""
    return targets if ignored is None else targets * ~ignored


def _denominator(target_weight: Any, ignored: Any, n: int) -> Any:
    """What 'mean' divides by: the total weight of the counted samples."""
    if ignored is None:
        return n if isinstance(target_weight, float) else target_weight.sum()
    return (target_weight * ~ignored).sum()


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, *,
                         reduction: str = "mean") -> Tensor:
    """Binary cross-entropy of probabilities x against targets y in [0, 1], elementwise:
    -w [y log x + (1 - y) log(1 - x)], each log clamped to >= -100 as in PyTorch (so x = 0
    or 1 gives a finite loss), then reduced ('mean': over all elements). ``weight``
    broadcasts to the input's shape.

    One node. Its gradients are PyTorch's: w (x - y) / max(x (1 - x), 1e-12) for the input,
    finite at 0 and 1, and w (log(1 - x) - log x) (the clamped logs) for the target. For
    logits, :func:`binary_cross_entropy_with_logits` stays exact where sigmoid saturates.
    """
    name = "binary_cross_entropy"
    target = _check_pointwise(input, target, reduction, name)
    w = _elementwise_weight(weight, input, name, "weight")
    _check_range(input, name, "input (probabilities)", 0.0, 1.0)
    _check_range(target, name, "target", 0.0, 1.0)
    xp = backend.xp(input.device)
    x, y = input.array, target.array
    with _quiet(divide="ignore"):  # log(0) = -inf, clamped to -100
        log_x = xp.maximum(xp.log(x), _LOG_FLOOR)
        log_rest = xp.maximum(xp.log1p(-x), _LOG_FLOOR)
    losses = (y - 1) * log_rest - y * log_x
    if w is not None:
        losses *= w
    n = x.size

    def backward(g: Tensor, out: Tensor) -> tuple[Tensor | None, Tensor | None]:
        g = _per_element(g, reduction, n)
        if w is not None:
            g = g * wrap(w, input.device)
        grad_input = grad_target = None
        if input.requires_grad:
            grad_input = g * (input - target) / (input * (1.0 - input)).clip(_BCE_EPS)
        if target.requires_grad:
            grad_target = g * _negative_logit_node(input, log_rest - log_x)
        return grad_input, grad_target
    return record(_reduce(losses, reduction, n), input.device, (input, target), backward)


def _negative_logit_node(input: Tensor, data: Any) -> Tensor:
    """log(1 - x) - log(x), already computed, as a node whose derivative is
    -1 / max(x (1 - x), 1e-12) (which keeps binary_cross_entropy's Hessian symmetric)."""
    return record(data, input.device, (input,),
                  lambda g, out: (-g / (input * (1.0 - input)).clip(_BCE_EPS),))


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor,
                                     weight: Tensor | None = None, *, reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """Binary cross-entropy of sigmoid(x) against targets y in [0, 1], from the logits x:
    -w [p y log sigmoid(x) + (1 - y) log(1 - sigmoid(x))], elementwise, then reduced
    ('mean': over all elements). ``pos_weight`` p (1 without) weighs the positive class;
    like ``weight``, it broadcasts to the input's shape (shape (C,) gives each of C classes
    along the last dimension its own).

    Computed as w [(1 - y) max(x, 0) - p y min(x, 0) + (1 + (p - 1) y) log(1 + exp(-|x|))]:
    no exp can overflow, for any |x|, and every term is >= 0, so none cancels another. One
    node; gradients: w ((1 + (p - 1) y) sigmoid(x) - p y) for the logits,
    w ((p - 1) softplus(-x) - x) for the target.
    """
    name = "binary_cross_entropy_with_logits"
    target = _check_pointwise(input, target, reduction, name)
    w = _elementwise_weight(weight, input, name, "weight")
    p = _elementwise_weight(pos_weight, input, name, "pos_weight")
    _check_range(target, name, "target", 0.0, 1.0)
    xp = backend.xp(input.device)
    x, y = input.array, target.array
    log_term = xp.log1p(xp.exp(-xp.abs(x)))
    negative_part = y * xp.minimum(x, 0)
    if p is None:
        losses = (1 - y) * xp.maximum(x, 0) - negative_part + log_term
    else:
        losses = (1 - y) * xp.maximum(x, 0) - p * negative_part + (1 + (p - 1) * y) * log_term
    if w is not None:
        losses *= w
    n = x.size

    def backward(g: Tensor, out: Tensor) -> tuple[Tensor | None, Tensor | None]:
        g = _per_element(g, reduction, n)
        if w is not None:
            g = g * wrap(w, input.device)
        positive_weight = None if p is None else wrap(p, input.device)
        grad_input = grad_target = None
        if input.requires_grad:
            if positive_weight is None:
                grad_input = g * (input.sigmoid() - target)
            else:
                grad_input = g * ((1.0 + (positive_weight - 1.0) * target) * input.sigmoid()
                                  - positive_weight * target)
        if target.requires_grad:
            if positive_weight is None:
                grad_target = -g * input
            else:
                grad_target = g * ((positive_weight - 1.0) * softplus(-input, 1.0, math.inf)
                                   - input)
        return grad_input, grad_target
    return record(_reduce(losses, reduction, n), input.device, (input, target), backward)


# --- regression ---------------------------------------------------------------------------

def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """(input - target)^2, elementwise, then reduced. Shapes must be equal: broadcasting
    (N, 1) against (N,) would silently compare every sample with every target."""
    target = _check_pointwise(input, target, reduction, "mse_loss")
    diff = input - target
    return _reduce(diff * diff, reduction, diff.numel())


def l1_loss(input: Tensor, target: Tensor, *, reduction: str = "mean") -> Tensor:
    """|input - target|, elementwise, then reduced. The gradient is sign(input - target):
    0 where the two are equal, as in PyTorch."""
    target = _check_pointwise(input, target, reduction, "l1_loss")
    return _reduce((input - target).abs(), reduction, input.numel())


def smooth_l1_loss(input: Tensor, target: Tensor, *, reduction: str = "mean",
                   beta: float = 1.0) -> Tensor:
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta, for d = input - target,
    elementwise, then reduced. That is huber_loss with delta = beta, divided by beta; its
    gradient is clip(d, -beta, beta) / beta. beta = 0 gives the L1 loss, as in PyTorch."""
    name = "smooth_l1_loss"
    target = _check_pointwise(input, target, reduction, name)
    if not beta >= 0:
        raise ValueError(f"{name}: beta must be >= 0, got {beta}")
    diff = input - target
    losses = diff.abs() if beta == 0 else _huber(diff, beta, beta)
    return _reduce(losses, reduction, diff.numel())


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean",
               delta: float = 1.0) -> Tensor:
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta), for d = input - target,
    elementwise, then reduced: quadratic near 0, linear (slope delta) beyond. Its gradient
    is clip(d, -delta, delta). delta must be > 0."""
    name = "huber_loss"
    target = _check_pointwise(input, target, reduction, name)
    if not delta > 0:
        raise ValueError(f"{name}: delta must be > 0, got {delta}")
    diff = input - target
    return _reduce(_huber(diff, delta, 1.0), reduction, diff.numel())


def _huber(diff: Tensor, delta: float, divisor: float) -> Tensor:
    """The Huber loss of ``diff`` divided by ``divisor``, as one node; its derivative
    clip(diff, -delta, delta) / divisor is written with tensor ops."""
    xp = backend.xp(diff.device)
    d = diff.array
    size = xp.abs(d)
    data = xp.where(size < delta, 0.5 * d * d, delta * (size - 0.5 * delta))
    if divisor != 1.0:
        data /= divisor

    def backward(g: Tensor, out: Tensor) -> tuple[Tensor]:
        slope = diff.clip(-delta, delta)
        return (g * (slope if divisor == 1.0 else slope / divisor),)
    return record(data, diff.device, (diff,), backward)


# --- divergence ---------------------------------------------------------------------------

def kl_div(input: Tensor, target: Tensor, *, reduction: str = "mean",
           log_target: bool = False) -> Tensor:
    """The Kullback-Leibler divergence of the distribution q from ``target``, with
    ``input`` = log q (log-probabilities), pointwise: target (log target - input), 0 where
    target = 0 (a target must be >= 0); with ``log_target`` the target is given as
    log-probabilities too: exp(target) (target - input).

    'batchmean' divides the sum by input.shape[0], which gives the KL divergence per sample;
    'mean' divides by the number of elements, as in PyTorch, which warns that this is not
    the divergence, and so does this function. One node; gradients: -target (-exp(target))
    for the input, log target + 1 - input (exp(target) (target - input + 1)) for the target.
    """
    name = "kl_div"
    target = _check_pointwise(input, target, reduction, name, _KL_REDUCTIONS)
    if reduction == "mean":
        warnings.warn(_KL_MEAN_WARNING, UserWarning, stacklevel=2)
    if not log_target:
        _check_range(target, name, "target (probabilities; pass log_target=True for "
                     "log-probabilities)", 0.0)
    xp = backend.xp(input.device)
    x, t = input.array, target.array
    if log_target:
        losses = xp.exp(t) * (t - x)
    else:
        positive = t > 0
        losses = xp.where(positive, t * xp.log(xp.where(positive, t, 1)), 0) - t * x
    if reduction == "batchmean":
        reduction, denominator = "mean", (x.shape[0] if x.ndim else 1)
    else:
        denominator = x.size

    def backward(g: Tensor, out: Tensor) -> tuple[Tensor | None, Tensor | None]:
        g = _per_element(g, reduction, denominator)
        probs = target.exp() if log_target else target
        grad_input = -g * probs if input.requires_grad else None
        grad_target = None
        if target.requires_grad:
            if log_target:
                grad_target = g * probs * (target - input + 1.0)
            else:
                with _quiet(divide="ignore"):  # log 0: the slope of t log t is -inf there
                    grad_target = g * (target.log() + 1.0 - input)
        return grad_input, grad_target
    return record(_reduce(losses, reduction, denominator), input.device, (input, target),
                  backward)


# --- shared -------------------------------------------------------------------------------

def _reduce(losses: Any, reduction: str, denominator: Any) -> Any:
    """Per-sample losses (a tensor or, inside a fused op, an array) reduced as asked."""
    if reduction == "none":
        return losses
    total = losses.sum()
    if reduction != "mean":
        return total
    number = type(denominator) in (int, float)
    if number or (isinstance(denominator, _HOST_COUNT) and
                  "cpu" not in backend.deferring_devices):
        if not denominator:
            # a mean over nothing (an empty batch, every target ignored) is NaN, as in
            # PyTorch; written as total * nan, not 0 / 0, which would leak NumPy's warning
            return total * math.nan if isinstance(total, Tensor) else \
                (total * math.nan).astype(total.dtype, copy=False)
        if number or isinstance(total, Tensor):
            return total / denominator  # a Python number does not widen the dtype
        return (total / denominator).astype(total.dtype, copy=False)  # a NumPy count would
    # a count on the device (CuPy's; NumPy's while checks are deferred) is not looked at,
    # since looking would wait for the GPU: a mean over nothing divides by NaN
    xp = backend.xp(total.device if isinstance(total, Tensor) else backend.device_of(total))
    divisor = xp.where(denominator != 0, denominator, math.nan).astype(total.dtype, copy=False)
    mean = total / divisor
    return mean if isinstance(total, Tensor) else mean.astype(total.dtype, copy=False)


def _per_element(g: Tensor, reduction: str, denominator: Any) -> Tensor:
    """The gradient reaching each element's loss from a loss reduced as asked: g for 'sum'
    and 'none' (where g has one entry per element), g / denominator for 'mean'. A mean over
    nothing (every sample ignored) passes zero gradient, as PyTorch's does, though the loss
    itself is NaN."""
    if reduction != "mean":
        return g
    if g.device not in backend.deferring_devices or type(denominator) in (int, float):
        return g * (1.0 / denominator if denominator else 0.0)
    # a total weight on the device (class weights, ignored samples): not read, since that
    # would wait for the GPU
    xp = backend.xp(g.device)
    nonzero = denominator != 0
    scale = xp.where(nonzero, 1.0 / xp.where(nonzero, denominator, 1), 0)
    return g * wrap(xp.asarray(scale, dtype=g.dtype), g.device)


def _check_reduction(reduction: str, name: str, allowed: tuple[str, ...] = _REDUCTIONS) -> None:
    if reduction not in allowed:
        raise ValueError(f"{name}: reduction must be one of {allowed}, got {reduction!r}")


def _check_tensors(input: Any, target: Any, name: str) -> None:
    if not isinstance(input, Tensor) or not isinstance(target, Tensor):
        raise TypeError(f"{name}: input and target must be Tensors, got "
                        f"{type(input).__name__} and {type(target).__name__}")


def _check_same_device(input: Tensor, other: Tensor, name: str, what: str) -> None:
    if other.device != input.device:
        raise DeviceError(f"{name}: input is on {input.device} but {what} is on "
                          f"{other.device}; move one with .to(device)")


def _check_label_smoothing(label_smoothing: float) -> None:
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")


def _check_range(t: Tensor, name: str, what: str, low: float, high: float | None = None) -> None:
    """Refuse values of ``t`` outside [low, high] (or below low), and NaN."""
    if not t.array.size:
        return
    if t.device in backend.deferring_devices:
        return _defer_range_check(t.array, name, what, low, high)
    lowest, highest = float(t.array.min()), float(t.array.max())
    if not (lowest >= low and (high is None or highest <= high)):
        raise ValueError(_range_message(name, what, low, high, lowest, highest))


def _defer_range_check(a: Any, name: str, what: str, low: float, high: float | None) -> None:
    """_check_range computed on the device, reported at the next synchronisation."""
    lowest, highest = a.min(), a.max()
    inside = lowest >= low if high is None else (lowest >= low) & (highest <= high)
    backend.defer_check(~inside, ValueError, lambda: _range_message(
        name, what, low, high, float(lowest), float(highest)))


def _range_message(name: str, what: str, low: float, high: float | None, lowest: float,
                   highest: float) -> str:
    bounds = f"in [{low:g}, {high:g}]" if high is not None else f">= {low:g}"
    return f"{name}: {what} must be {bounds}, got values from {lowest:g} to {highest:g}"


def _check_constant(t: Tensor, name: str, what: str) -> None:
    if t.requires_grad and is_grad_enabled():
        raise NotImplementedError(f"{name}: no gradient flows to {what} (as in PyTorch), but it "
                                  f"requires one; pass {what}.detach()")


def _in_dtype_of(input: Tensor, target: Tensor, name: str) -> Tensor:
    """``target`` converted (differentiably) to the input's dtype, so the loss keeps it."""
    if target.array.dtype.kind not in "biuf":
        raise TypeError(f"{name}: target must hold real numbers, got dtype {target.dtype}")
    return target if target.array.dtype == input.array.dtype else to_dtype(target, input.dtype)


def _check_pointwise(input: Tensor, target: Tensor, reduction: str, name: str,
                     reductions: tuple[str, ...] = _REDUCTIONS) -> Tensor:
    """Check an elementwise loss's arguments: input floating, target of the same shape
    (broadcasting (N, 1) against (N,) would silently compare every sample with every
    target) and device. Returns the target in the input's dtype."""
    _check_reduction(reduction, name, reductions)
    _check_tensors(input, target, name)
    require_floating(input, name)
    if input.shape != target.shape:
        raise ShapeError(f"{name}: input shape {input.shape} and target shape {target.shape} "
                         "differ; reshape one so that they match")
    _check_same_device(input, target, name, "target")
    return _in_dtype_of(input, target, name)


def _elementwise_weight(weight: Tensor | None, input: Tensor, name: str, what: str) -> Any:
    """``weight`` (or ``pos_weight``) as an array in the input's dtype, or None, checked: a
    floating tensor on the input's device that broadcasts to the input's shape and needs no
    gradient."""
    if weight is None:
        return None
    if not isinstance(weight, Tensor) or weight.array.dtype.kind != "f":
        raise TypeError(f"{name}: {what} must be a floating-point Tensor, got "
                        f"{getattr(weight, 'dtype', type(weight).__name__)}")
    shape, full = weight.shape, input.shape
    if len(shape) > len(full) or any(n not in (1, m) for n, m in zip(shape[::-1], full[::-1])):
        raise ShapeError(f"{name}: {what} of shape {shape} does not broadcast to the input's "
                         f"shape {full}")
    _check_same_device(input, weight, name, what)
    _check_constant(weight, name, what)
    return weight.array.astype(input.array.dtype, copy=False)


def _class_weight(weight: Tensor | None, c: int, input: Tensor, name: str) -> Any:
    """The class weights as an array in the input's dtype, or None, checked: a floating
    tensor of shape (C,) on the input's device that needs no gradient."""
    if weight is None:
        return None
    if not isinstance(weight, Tensor) or weight.shape != (c,) or weight.array.dtype.kind != "f":
        raise ShapeError(f"{name}: weight must be a floating-point Tensor of shape ({c},), "
                         f"got {weight!r}")
    _check_same_device(input, weight, name, "weight")
    _check_constant(weight, name, "weight")
    return weight.array.astype(input.array.dtype, copy=False)


def _check_classification(input: Tensor, target: Tensor, weight: Tensor | None,
                          ignore_index: int, reduction: str,
                          name: str) -> tuple[Any, Any, Any]:
    """Check input (N, C) floating, target (N,) integer classes in 0..C-1 (or ignore_index),
    weight (C,). Returns the mask of ignored samples, or None when no sample is ignored (found
    without a scan when ignore_index lies outside the targets' range, as -100 does), the
    class weights as an array in the input's dtype (or None), and None.

    Where reading the targets would wait for the GPU (``backend.defers_checks``), the class
    range is checked on the device and reported at the next synchronisation instead; then the
    mask covers the out-of-range samples too, and the third value is each sample's factor
    in the input's dtype: 1 counted, 0 ignored, NaN out of range (see
    :func:`_classes_on_device`)."""
    _check_reduction(reduction, name)
    require_floating(input, name)
    n, c = input.shape
    if target.shape != (n,):
        raise ShapeError(f"{name}: target must have shape ({n},) for input of shape "
                         f"{input.shape}, got shape {target.shape}")
    _check_same_device(input, target, name, "target")
    w = _class_weight(weight, c, input, name)
    if not n:
        return None, w, None
    t = target.array
    if input.device in backend.deferring_devices:
        skip, keep = _classes_on_device(t, c, ignore_index, input.array.dtype, name)
        return skip, w, keep
    low, high = int(t.min()), int(t.max())
    ignored = t == ignore_index if low <= ignore_index <= high else None
    if ignored is not None and not ignored.any():
        ignored = None
    if low < 0 or high >= c:
        bad = t[((t < 0) | (t >= c)) & (t != ignore_index)]
        if bad.size:
            raise ValueError(_bad_class_message(name, int(bad[0]), c))
    return ignored, w, None


def _bad_class_message(name: str, found: int, c: int) -> str:
    return f"{name}: target contains class {found} but input has {c} classes (valid: 0..{c - 1})"


def _classes_on_device(t: Any, c: int, ignore_index: int, dtype: Any,
                       name: str) -> tuple[Any, Any]:
    """The class-range check of targets ``t`` without reading them on the host: a deferred
    check (``backend.defer_check``) raises at the next synchronisation, naming the first
    target out of range. Returns the mask of samples that are not counted (ignored or out of
    range, whose class 0 then stands in, so the indexing stays in bounds) and each sample's
    factor in ``dtype``: 1, 0 where ignored, NaN where out of range, so that a bad target
    cannot go unnoticed even before the check is examined (its loss and gradient are NaN,
    which the optimizers' non-finite guard refuses)."""
    xp = backend.xp(backend.device_of(t))
    if t.dtype.kind == "u":
        outside = t >= c
    elif c <= 2 ** (8 * t.dtype.itemsize - 1):
        # seen as unsigned, a negative class is at least c: one comparison finds both ends
        outside = t.view(f"u{t.dtype.itemsize}") >= c
    else:  # more classes than the (narrow) target dtype holds: only negatives are outside
        outside = t < 0
    ignored = t == ignore_index
    if 0 <= ignore_index < c:
        bad, skip = outside, outside | ignored
    else:  # the ignored samples are outside the range too
        bad, skip = outside & ~ignored, outside

    def message() -> str:  # runs only once the check failed, so it may read the targets
        found = backend.to_numpy(t[bad])
        if not found.size:  # the targets were changed in place since
            return f"{name}: target contained a class outside 0..{c - 1}"
        return _bad_class_message(name, int(found[0]), c)
    backend.defer_check(bad.any(), ValueError, message)
    keep = xp.where(bad, dtype.type("nan"), (~skip).astype(dtype))
    return skip, keep
