"""Binary cross-entropy (probabilities and logits), L1, smooth L1, Huber, KL divergence,
one_hot, and cross_entropy's other shapes and probability targets: values against NumPy
formulas written here, gradients by finite differences, errors, modules, and PyTorch."""
import warnings

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.autograd import gradcheck, gradgradcheck
from minigrad.errors import DeviceError, ShapeError
import minigrad.nn.functional as F

REDUCTIONS = ["mean", "sum", "none"]


def _reduce_np(losses, reduction, denominator=None):
    if reduction == "none":
        return losses
    total = losses.sum()
    return total if reduction == "sum" else total / (losses.size if denominator is None
                                                     else denominator)


def _t(array, device="cpu", grad=False):
    return mg.tensor(array, requires_grad=grad, device=device)


# --- binary cross-entropy of probabilities ---------------------------------------------------

def _bce_np(x, y, w=1.0):
    return -w * (y * np.maximum(np.log(x), -100) + (1 - y) * np.maximum(np.log(1 - x), -100))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weight_shape", [None, (4,), (3, 1), (3, 4)])
def test_binary_cross_entropy_against_numpy_and_gradcheck(device, reduction, weight_shape):
    rng = np.random.default_rng(0)
    p, y = rng.uniform(0.1, 0.9, (3, 4)), rng.uniform(0.05, 0.95, (3, 4))
    w = None if weight_shape is None else rng.random(weight_shape) + 0.5
    weight = None if w is None else _t(w, device)
    fn = lambda x, t: F.binary_cross_entropy(x, t, weight, reduction=reduction)
    x, t = _t(p, device, grad=True), _t(y, device, grad=True)
    expected = _reduce_np(_bce_np(p, y, 1.0 if w is None else w), reduction)
    np.testing.assert_allclose(fn(x, t).numpy(), expected, rtol=1e-13)
    assert gradcheck(fn, (x, t))
    assert gradgradcheck(fn, (x, t))


def test_binary_cross_entropy_clamps_logs_at_minus_100_with_finite_gradients():
    x = mg.tensor([0.0, 1.0, 0.0, 1.0, 1e-50], dtype=mg.float64, requires_grad=True)
    y = mg.tensor([0.0, 1.0, 1.0, 0.0, 1.0], dtype=mg.float64, requires_grad=True)
    loss = F.binary_cross_entropy(x, y, reduction="none")
    np.testing.assert_array_equal(loss.numpy(), [0, 0, 100, 100, 100])
    loss.sum().backward()
    # PyTorch's input gradient (x - y) / max(x (1 - x), 1e-12)
    np.testing.assert_allclose(x.grad.numpy(), [0, 0, -1e12, 1e12, -1e12], rtol=1e-12)
    # the target gradient log(1 - x) - log(x), from the clamped logs
    np.testing.assert_allclose(y.grad.numpy(), [100, -100, 100, -100, 100], rtol=1e-12)


def test_binary_cross_entropy_keeps_the_input_dtype():
    x = mg.tensor([0.2, 0.7], dtype=mg.float32, requires_grad=True)
    for target in (mg.tensor([0.0, 1.0], dtype=mg.float64), mg.tensor([0, 1])):
        loss = F.binary_cross_entropy(x, target)
        assert loss.dtype == mg.float32
        loss.backward()
        assert x.grad.dtype == mg.float32
        x.grad = None


def test_binary_cross_entropy_errors():
    x, y = mg.tensor([0.2, 0.7]), mg.tensor([0.0, 1.0])
    with pytest.raises(ValueError, match=r"input \(probabilities\) must be in \[0, 1\], got "
                                         r"values from 0.2 to 1.5"):
        F.binary_cross_entropy(mg.tensor([0.2, 1.5]), y)
    with pytest.raises(ValueError, match="input.*nan"):
        F.binary_cross_entropy(mg.tensor([0.2, float("nan")]), y)
    with pytest.raises(ValueError, match=r"target must be in \[0, 1\]"):
        F.binary_cross_entropy(x, mg.tensor([0.0, 2.0]))
    with pytest.raises(ShapeError, match=r"input shape \(2,\) and target shape \(2, 1\)"):
        F.binary_cross_entropy(x, mg.tensor([[0.0], [1.0]]))
    with pytest.raises(ShapeError, match=r"weight of shape \(3,\) does not broadcast"):
        F.binary_cross_entropy(x, y, mg.tensor([1.0, 2.0, 3.0]))
    with pytest.raises(ShapeError, match="does not broadcast"):
        F.binary_cross_entropy(x, y, mg.ones(2, 2))  # would grow the loss
    with pytest.raises(TypeError, match="weight must be a floating-point Tensor"):
        F.binary_cross_entropy(x, y, mg.tensor([1, 2]))
    with pytest.raises(NotImplementedError, match="no gradient flows to weight"):
        F.binary_cross_entropy(x, y, mg.ones(2, requires_grad=True))
    with mg.no_grad():
        F.binary_cross_entropy(x, y, mg.ones(2, requires_grad=True))  # nothing to flow
    with pytest.raises(TypeError, match="floating point"):
        F.binary_cross_entropy(mg.tensor([0, 1]), y)
    with pytest.raises(TypeError, match="Tensors"):
        F.binary_cross_entropy([0.2, 0.7], y)
    with pytest.raises(ValueError, match="reduction"):
        F.binary_cross_entropy(x, y, reduction="batchmean")
    with pytest.raises(TypeError):
        F.binary_cross_entropy(x, y, None, "sum")  # keyword-only: PyTorch's 4th is size_average


def test_binary_cross_entropy_device_mismatch():
    y = mg.tensor([0.0, 1.0])
    y.device = "cuda"  # claims another device: rejected before any array code runs
    with pytest.raises(DeviceError, match="target"):
        F.binary_cross_entropy(mg.tensor([0.2, 0.7]), y)


# --- binary cross-entropy of logits ----------------------------------------------------------

def _bce_logits_np(x, y, w=1.0, p=1.0):
    """The textbook formula, fine for moderate logits."""
    s = 1 / (1 + np.exp(-x))
    return -w * (p * y * np.log(s) + (1 - y) * np.log(1 - s))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("pos_weight_shape", [None, (4,), (3, 4)])
def test_bce_with_logits_against_numpy_and_gradcheck(device, reduction, weighted,
                                                     pos_weight_shape):
    rng = np.random.default_rng(1)
    logits, y = rng.standard_normal((3, 4)) * 3, rng.uniform(0.05, 0.95, (3, 4))
    w = rng.random((1, 4)) + 0.5 if weighted else None
    pw = None if pos_weight_shape is None else rng.random(pos_weight_shape) * 3
    weight = None if w is None else _t(w, device)
    pos_weight = None if pw is None else _t(pw, device)
    fn = lambda x, t: F.binary_cross_entropy_with_logits(x, t, weight, reduction=reduction,
                                                         pos_weight=pos_weight)
    x, t = _t(logits, device, grad=True), _t(y, device, grad=True)
    expected = _reduce_np(_bce_logits_np(logits, y, 1.0 if w is None else w,
                                         1.0 if pw is None else pw), reduction)
    np.testing.assert_allclose(fn(x, t).numpy(), expected, rtol=1e-12)
    assert gradcheck(fn, (x, t))
    assert gradgradcheck(fn, (x, t))


def test_bce_with_logits_equals_bce_of_sigmoid():
    rng = np.random.default_rng(2)
    logits, y = rng.standard_normal(6), rng.random(6)
    np.testing.assert_allclose(
        F.binary_cross_entropy_with_logits(_t(logits), _t(y), reduction="none").numpy(),
        F.binary_cross_entropy(F.sigmoid(_t(logits)), _t(y), reduction="none").numpy(),
        rtol=1e-12)


def test_bce_with_logits_is_exact_at_huge_logits():
    x = mg.tensor([1e4, -1e4, 1e4, -1e4, 30.0, -30.0, 800.0], dtype=mg.float64,
                  requires_grad=True)
    y = mg.tensor([1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.5], dtype=mg.float64)
    loss = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    tail = np.log1p(np.exp(-30.0))  # a sum of non-negative terms: no cancellation
    np.testing.assert_allclose(loss.numpy(), [0, 0, 1e4, 1e4, tail, tail, 400], rtol=1e-14)
    loss.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0, 0, 1, -1, -1 / (1 + np.exp(30.0)),
                                                1 / (1 + np.exp(30.0)), 0.5], atol=1e-16)
    pos = F.binary_cross_entropy_with_logits(x, y, reduction="none",
                                             pos_weight=mg.full((7,), 2.0, dtype=mg.float64))
    np.testing.assert_allclose(pos.numpy()[:4], [0, 0, 1e4, 2e4], rtol=1e-14)


def test_bce_with_logits_errors():
    x, y = mg.tensor([0.2, -3.0]), mg.tensor([0.0, 1.0])
    with pytest.raises(ValueError, match=r"target must be in \[0, 1\], got values from -1 to 1"):
        F.binary_cross_entropy_with_logits(x, mg.tensor([-1.0, 1.0]))
    with pytest.raises(ShapeError, match=r"pos_weight of shape \(3,\)"):
        F.binary_cross_entropy_with_logits(x, y, pos_weight=mg.tensor([1.0, 2.0, 3.0]))
    with pytest.raises(NotImplementedError, match="pos_weight"):
        F.binary_cross_entropy_with_logits(x, y, pos_weight=mg.ones(2, requires_grad=True))
    with pytest.raises(ShapeError, match="differ"):
        F.binary_cross_entropy_with_logits(x, mg.tensor([1.0]))
    with pytest.raises(ValueError, match="reduction"):
        F.binary_cross_entropy_with_logits(x, y, reduction="avg")


# --- L1, smooth L1, Huber ----------------------------------------------------------------

def _huber_np(d, delta):
    return np.where(np.abs(d) < delta, 0.5 * d * d, delta * (np.abs(d) - 0.5 * delta))


def _smooth_l1_np(d, beta):
    if beta == 0:
        return np.abs(d)
    return np.where(np.abs(d) < beta, 0.5 * d * d / beta, np.abs(d) - 0.5 * beta)


# differences chosen away from the kinks (0, and +-beta or +-delta)
DIFFS = np.array([[-3.1, -1.7, -0.8, -0.3], [0.2, 0.45, 0.7, 1.3], [2.2, -0.05, 4.0, -0.6]])

REGRESSION = {
    "l1": (lambda x, t, r: F.l1_loss(x, t, reduction=r), np.abs),
    **{f"smooth_l1_beta{b}": ((lambda b: lambda x, t, r: F.smooth_l1_loss(x, t, reduction=r,
                                                                          beta=b))(b),
                              (lambda b: lambda d: _smooth_l1_np(d, b))(b))
       for b in (0.0, 0.5, 1.0, 2.0)},
    **{f"huber_delta{d}": ((lambda d: lambda x, t, r: F.huber_loss(x, t, r, d))(d),
                           (lambda d: lambda diff: _huber_np(diff, d))(d))
       for d in (0.5, 1.0, 2.5)},
}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", sorted(REGRESSION))
def test_regression_losses_against_numpy_and_gradcheck(device, name, reduction):
    fn, reference = REGRESSION[name]
    target = np.random.default_rng(3).standard_normal(DIFFS.shape)
    x, t = _t(target + DIFFS, device, grad=True), _t(target, device, grad=True)
    np.testing.assert_allclose(fn(x, t, reduction).numpy(),
                               _reduce_np(reference(DIFFS), reduction), rtol=1e-12, atol=1e-15)
    assert gradcheck(lambda x, t: fn(x, t, reduction), (x, t))
    assert gradgradcheck(lambda x, t: fn(x, t, reduction), (x, t))


def test_huber_is_delta_times_smooth_l1_and_gradients_at_kinks_follow_pytorch():
    x = mg.tensor([0.0, 1.0, -1.0, 3.0], dtype=mg.float64, requires_grad=True)
    t = mg.zeros(4, dtype=mg.float64)
    np.testing.assert_allclose(F.huber_loss(x, t, "none", 2.0).numpy(),
                               2.0 * F.smooth_l1_loss(x, t, reduction="none", beta=2.0).numpy(),
                               rtol=1e-15)
    F.l1_loss(x, t, reduction="sum").backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 1, -1, 1])  # sign, 0 at 0
    x.grad = None
    F.huber_loss(x, t, "sum", 1.0).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 1, -1, 1])


def test_regression_losses_keep_dtype_and_refuse_bad_arguments():
    x = mg.tensor([0.5, -1.0], dtype=mg.float32)
    target = mg.tensor([0.0, 2.0], dtype=mg.float64)
    for fn in (F.l1_loss, F.smooth_l1_loss, F.huber_loss, F.mse_loss):
        assert fn(x, target).dtype == mg.float32
        with pytest.raises(ShapeError, match=r"\(2,\).*\(2, 1\)"):
            fn(x, target.reshape(2, 1))
    with pytest.raises(ValueError, match="beta must be >= 0, got -0.5"):
        F.smooth_l1_loss(x, target, beta=-0.5)
    with pytest.raises(ValueError, match="delta must be > 0, got 0"):
        F.huber_loss(x, target, delta=0)
    with pytest.raises(TypeError, match="floating point"):
        F.l1_loss(mg.tensor([1, 2]), mg.tensor([1, 2]))
    with pytest.raises(TypeError, match="real numbers"):
        F.l1_loss(x, mg.tensor([1 + 1j, 2]))


# --- KL divergence -----------------------------------------------------------------------

def _kl_np(log_q, target, log_target):
    if log_target:
        return np.exp(target) * (target - log_q)
    safe = np.where(target > 0, target, 1.0)
    return np.where(target > 0, target * np.log(safe), 0.0) - target * log_q


@pytest.mark.parametrize("reduction", REDUCTIONS + ["batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_against_numpy_and_gradcheck(device, reduction, log_target):
    rng = np.random.default_rng(4)
    log_q = np.log(rng.dirichlet(np.ones(5), size=3))
    p = rng.dirichlet(np.ones(5), size=3)
    target = np.log(p) if log_target else p
    x, t = _t(log_q, device, grad=True), _t(target, device, grad=True)
    fn = lambda x, t: F.kl_div(x, t, reduction=reduction, log_target=log_target)
    losses = _kl_np(log_q, target, log_target)
    expected = losses.sum() / 3 if reduction == "batchmean" else _reduce_np(losses, reduction)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_allclose(fn(x, t).numpy(), expected, rtol=1e-12)
        assert gradcheck(fn, (x, t))
        assert gradgradcheck(fn, (x, t))


def test_kl_div_batchmean_is_the_divergence_and_zero_targets_count_nothing():
    p = np.array([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])
    q = np.array([[0.25, 0.25, 0.5], [0.2, 0.3, 0.5]])
    loss = F.kl_div(mg.tensor(np.log(q)), mg.tensor(p), reduction="batchmean")
    np.testing.assert_allclose(loss.item(), (np.log(2.0) + 0.0) / 2, rtol=1e-14)
    # a 0-d input: 'batchmean' is the sum
    assert F.kl_div(mg.tensor(-1.0), mg.tensor(0.5), reduction="batchmean").item() == \
        pytest.approx(0.5 * (np.log(0.5) + 1.0))


def test_kl_div_warns_for_mean_as_pytorch_does():
    x, t = mg.tensor([[-1.0, -0.5]]), mg.tensor([[0.3, 0.7]])
    with pytest.warns(UserWarning, match="batchmean"):
        F.kl_div(x, t)
    with pytest.warns(UserWarning, match="batchmean"):
        nn.KLDivLoss()(x, t)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.kl_div(x, t, reduction="batchmean")
        F.kl_div(x, t, reduction="sum")


def test_kl_div_errors():
    x = mg.tensor([[-1.0, -0.5]])
    with pytest.raises(ValueError, match=r"target \(probabilities; pass log_target=True"):
        F.kl_div(x, mg.tensor([[-0.3, 0.7]]), reduction="sum")
    F.kl_div(x, mg.tensor([[-0.3, -0.7]]), reduction="sum", log_target=True)  # log-probs: fine
    with pytest.raises(ValueError, match="reduction"):
        F.kl_div(x, mg.tensor([[0.3, 0.7]]), reduction="avg")
    with pytest.raises(ValueError, match="batchmean"):
        nn.L1Loss(reduction="batchmean")  # only kl_div takes it
    with pytest.raises(ShapeError):
        F.kl_div(x, mg.tensor([0.3, 0.7]), reduction="sum")


# --- one_hot -----------------------------------------------------------------------------

def test_one_hot_against_numpy():
    indices = np.array([[0, 3, 1], [2, 2, 0]])
    out = F.one_hot(mg.tensor(indices))
    assert out.dtype == mg.int64 and out.shape == (2, 3, 4) and not out.requires_grad
    np.testing.assert_array_equal(out.numpy(), np.eye(4, dtype=np.int64)[indices])
    np.testing.assert_array_equal(F.one_hot(mg.tensor(indices, dtype=mg.int32), 6).numpy(),
                                  np.eye(6, dtype=np.int64)[indices])
    np.testing.assert_array_equal(F.one_hot(mg.tensor(2), 3).numpy(), [0, 0, 1])
    assert F.one_hot(mg.zeros(0, dtype=mg.int64), 5).shape == (0, 5)


def test_one_hot_errors():
    with pytest.raises(ValueError, match="non-negative, got -1"):
        F.one_hot(mg.tensor([0, -1, 2]))
    with pytest.raises(ValueError, match=r"smaller than num_classes \(3\), got 3"):
        F.one_hot(mg.tensor([0, 3]), 3)
    with pytest.raises(ValueError, match="empty tensor"):
        F.one_hot(mg.zeros(0, dtype=mg.int64))
    with pytest.raises(TypeError, match="integer class indices"):
        F.one_hot(mg.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="num_classes"):
        F.one_hot(mg.tensor([0, 1]), -2)


# --- cross_entropy: other shapes, probability targets -----------------------------------

def _log_softmax_np(x, axis):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def _cross_entropy_np(logits, target, weight=None, reduction="mean", smoothing=0.0,
                      ignore_index=-100):
    """PyTorch's definition for classes along axis 1 (axis 0 unbatched), transcribed."""
    axis = 1 if logits.ndim > 1 else 0
    c = logits.shape[axis]
    w = np.ones(c) if weight is None else weight
    w_b = w.reshape((c,) + (1,) * (logits.ndim - axis - 1))
    logp = _log_softmax_np(logits, axis)
    if target.dtype.kind == "f":  # class probabilities
        a = w_b * ((1 - smoothing) * target + smoothing / c)
        losses = -(a * logp).sum(axis=axis)
        return _reduce_np(losses, reduction, losses.size)
    counted = target != ignore_index
    safe = np.where(counted, target, 0)
    onehot = np.moveaxis(np.eye(c)[safe], -1, axis)
    a = w_b * ((1 - smoothing) * onehot + smoothing / c) * np.expand_dims(counted, axis)
    losses = -(a * logp).sum(axis=axis)
    return _reduce_np(losses, reduction, (w[safe] * counted).sum())


CE_CASES = [dict(), dict(label_smoothing=0.2), dict(weighted=True),
            dict(weighted=True, label_smoothing=0.15, ignore_index=2)]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", CE_CASES)
@pytest.mark.parametrize("shape", [(4,), (2, 4, 3), (2, 4, 3, 2)])
def test_cross_entropy_class_indices_other_shapes(device, shape, case, reduction):
    rng = np.random.default_rng(5)
    logits = rng.standard_normal(shape)
    target_shape = () if len(shape) == 1 else (shape[0],) + shape[2:]
    target = rng.integers(0, 4, target_shape)
    if len(shape) > 1:
        target.flat[0] = 2  # at least one ignored where ignore_index = 2
    weight = rng.random(4) + 0.5 if case.get("weighted") else None
    options = dict(ignore_index=case.get("ignore_index", -100), reduction=reduction,
                   label_smoothing=case.get("label_smoothing", 0.0))
    w, t = None if weight is None else _t(weight, device), _t(target, device)
    fn = lambda x: F.cross_entropy(x, t, w, **options)
    x = _t(logits, device, grad=True)
    out = fn(x)
    assert out.shape == (target_shape if reduction == "none" else ())
    expected = _cross_entropy_np(logits, target, weight, reduction,
                                 options["label_smoothing"], options["ignore_index"])
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)
    assert gradcheck(fn, (x,))
    assert gradgradcheck(fn, (x,))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", [dict(), dict(label_smoothing=0.3), dict(weighted=True),
                                  dict(weighted=True, label_smoothing=0.1)])
@pytest.mark.parametrize("shape", [(5,), (3, 5), (2, 5, 3)])
def test_cross_entropy_class_probabilities(device, shape, case, reduction):
    rng = np.random.default_rng(6)
    logits = rng.standard_normal(shape)
    axis = 1 if len(shape) > 1 else 0
    probs = np.ascontiguousarray(np.moveaxis(rng.dirichlet(np.ones(5), size=shape[:axis]
                                                           + shape[axis + 1:]), -1, axis))
    weight = rng.random(5) + 0.5 if case.get("weighted") else None
    smoothing = case.get("label_smoothing", 0.0)
    w = None if weight is None else _t(weight, device)
    fn = lambda x, p: F.cross_entropy(x, p, w, reduction=reduction, label_smoothing=smoothing)
    x, p = _t(logits, device, grad=True), _t(probs, device, grad=True)
    np.testing.assert_allclose(fn(x, p).numpy(),
                               _cross_entropy_np(logits, probs, weight, reduction, smoothing),
                               rtol=1e-12)
    assert gradcheck(fn, (x, p))
    assert gradgradcheck(fn, (x, p))


def test_one_hot_probabilities_give_the_class_index_loss():
    rng = np.random.default_rng(7)
    logits, target = rng.standard_normal((6, 4)), np.array([0, 3, 1, 1, 2, 3])
    probs = F.one_hot(mg.tensor(target), 4).to(mg.float64)
    for options in (dict(), dict(label_smoothing=0.2), dict(reduction="none")):
        np.testing.assert_allclose(F.cross_entropy(_t(logits), probs, **options).numpy(),
                                   F.cross_entropy(_t(logits), mg.tensor(target),
                                                   **options).numpy(), rtol=1e-13)
    # with weights 'mean' differs: class indices divide by the weight sum, probabilities by N
    w = mg.tensor([1.0, 2.0, 0.5, 1.5])
    by_index = F.cross_entropy(_t(logits), mg.tensor(target), w, reduction="sum")
    np.testing.assert_allclose(F.cross_entropy(_t(logits), probs, w, reduction="sum").numpy(),
                               by_index.numpy(), rtol=1e-13)
    np.testing.assert_allclose(F.cross_entropy(_t(logits), probs, w).numpy(),
                               by_index.numpy() / 6, rtol=1e-13)


def test_cross_entropy_unbatched_equals_the_batch_of_one():
    logits = mg.tensor([0.3, -1.2, 2.0], dtype=mg.float64)
    batch = F.cross_entropy(logits.reshape(1, 3), mg.tensor([2]), reduction="none")
    single = F.cross_entropy(logits, mg.tensor(2), reduction="none")
    assert single.shape == ()
    np.testing.assert_allclose(single.numpy(), batch.numpy()[0], rtol=1e-15)


def test_cross_entropy_other_shapes_errors():
    with pytest.raises(ShapeError, match=r"target must have shape \(2, 3\) for input of shape "
                                         r"\(2, 4, 3\), got shape \(2,\)"):
        F.cross_entropy(mg.randn(2, 4, 3), mg.tensor([0, 1]))
    with pytest.raises(ShapeError, match=r"target must have shape \(\) for input of shape "
                                         r"\(4,\)"):
        F.cross_entropy(mg.randn(4), mg.tensor([1]))
    with pytest.raises(ShapeError, match="0-d"):
        F.cross_entropy(mg.tensor(1.0), mg.tensor(0))
    with pytest.raises(ValueError, match="class 4 but input has 4 classes"):
        F.cross_entropy(mg.randn(2, 4, 3), mg.tensor([[0, 1, 4], [0, 0, 0]]))
    with pytest.raises(TypeError, match=r"float32 and shape \(2,\).*probabilities.*"
                                        r"\(2, 4, 3\)"):
        F.cross_entropy(mg.randn(2, 4, 3), mg.tensor([0.0, 1.0]))
    with pytest.raises(TypeError, match="bool"):
        F.cross_entropy(mg.randn(2, 4), mg.tensor([True, False]))
    with pytest.raises(ValueError, match=r"target \(class probabilities\) must be in \[0, 1\]"):
        F.cross_entropy(mg.randn(2, 3), mg.tensor([[0.5, 0.5, 1.5], [1.0, 0.0, 0.0]]))
    with pytest.raises(ShapeError, match=r"weight must be a floating-point Tensor of shape "
                                         r"\(3,\)"):
        F.cross_entropy(mg.randn(2, 3), mg.rand(2, 3), mg.ones(4))
    with pytest.raises(NotImplementedError, match="weight"):
        F.cross_entropy(mg.randn(2, 3), mg.tensor([0, 1]), mg.ones(3, requires_grad=True))
    with pytest.raises(ValueError, match="label_smoothing"):
        F.cross_entropy(mg.randn(2, 3), mg.rand(2, 3), label_smoothing=-0.1)
    with pytest.raises(TypeError, match="nll_loss.*integer class indices"):
        F.nll_loss(mg.randn(2, 3), mg.rand(2, 3))


def test_nll_loss_takes_the_same_shapes():
    rng = np.random.default_rng(8)
    log_p = _log_softmax_np(rng.standard_normal((2, 4, 3)), 1)
    target = np.array([[0, 3, 1], [2, 2, 0]])
    loss = F.nll_loss(_t(log_p), mg.tensor(target), reduction="none")
    assert loss.shape == (2, 3)
    np.testing.assert_allclose(loss.numpy(), -np.take_along_axis(log_p, target[:, None], 1)[:, 0],
                               rtol=1e-15)
    np.testing.assert_allclose(F.nll_loss(_t(log_p[0, :, 0]), mg.tensor(0)).numpy(),
                               -log_p[0, 0, 0], rtol=1e-15)


# --- modules -----------------------------------------------------------------------------

def test_loss_modules_match_functional_and_hold_their_weights():
    rng = np.random.default_rng(9)
    p, y = _t(rng.uniform(0.1, 0.9, (3, 4))), _t(rng.random((3, 4)))
    w, pw = _t(rng.random(4) + 0.5), _t(rng.random(4) + 0.5)
    pairs = [
        (nn.BCELoss(w, reduction="sum"), F.binary_cross_entropy(p, y, w, reduction="sum")),
        (nn.BCEWithLogitsLoss(w, pos_weight=pw, reduction="none"),
         F.binary_cross_entropy_with_logits(p, y, w, pos_weight=pw, reduction="none")),
        (nn.L1Loss(), F.l1_loss(p, y)),
        (nn.SmoothL1Loss(beta=0.3, reduction="sum"),
         F.smooth_l1_loss(p, y, beta=0.3, reduction="sum")),
        (nn.HuberLoss("none", 0.2), F.huber_loss(p, y, "none", 0.2)),
        (nn.KLDivLoss(reduction="batchmean", log_target=True),
         F.kl_div(p, y, reduction="batchmean", log_target=True)),
    ]
    for module, expected in pairs:
        np.testing.assert_array_equal(module(p, y).numpy(), expected.numpy(),
                                      err_msg=type(module).__name__)
    state = nn.BCEWithLogitsLoss(w, pos_weight=pw).state_dict()
    assert set(state) == {"weight", "pos_weight"}
    assert "weight" in nn.BCELoss(w).state_dict()
    for cls in (nn.BCELoss, nn.BCEWithLogitsLoss, nn.L1Loss, nn.SmoothL1Loss, nn.HuberLoss,
                nn.KLDivLoss):
        with pytest.raises(ValueError, match="reduction"):
            cls(reduction="average")


def test_cross_entropy_module_takes_probabilities_and_spatial_inputs():
    x = mg.randn(2, 3, 4, dtype=mg.float64)
    t = mg.tensor([[0, 1, 2, 1], [2, 2, 0, 1]])
    module = nn.CrossEntropyLoss(label_smoothing=0.1, reduction="none")
    np.testing.assert_array_equal(module(x, t).numpy(),
                                  F.cross_entropy(x, t, label_smoothing=0.1,
                                                  reduction="none").numpy())
    probs = F.softmax(mg.randn(2, 3, 4, dtype=mg.float64), 1)
    assert nn.CrossEntropyLoss()(x, probs).shape == ()


# --- against PyTorch ---------------------------------------------------------------------

def _compare_with_torch(torch, ours, theirs, arrays, rtol=1e-6, atol=1e-10, wrt=None):
    """Run ``ours`` and ``theirs`` on float64 copies of ``arrays`` (floating ones require
    grad, or those ``wrt`` marks); compare the losses and the gradients of a random
    weighting of them."""
    wrt = [a.dtype.kind == "f" for a in arrays] if wrt is None else wrt
    xs = [mg.tensor(a, requires_grad=w) for a, w in zip(arrays, wrt)]
    ts = [torch.tensor(a, requires_grad=w) for a, w in zip(arrays, wrt)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # kl_div's 'mean' warning, from both
        out, tout = ours(*xs), theirs(*ts)
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=rtol, atol=atol)
    v = np.random.default_rng(0).standard_normal(out.shape)
    (out * mg.tensor(v)).sum().backward()
    (tout * torch.tensor(v)).sum().backward()
    for x, t in zip(xs, ts):
        if x.requires_grad:
            np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=rtol, atol=atol)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropies_match_torch(reduction):
    torch = pytest.importorskip("torch")
    TF = torch.nn.functional
    rng = np.random.default_rng(10)
    p, y = rng.uniform(0.02, 0.98, (4, 3)), rng.random((4, 3))
    logits = rng.standard_normal((4, 3)) * 4
    w, pw = rng.random(3) + 0.5, rng.random(3) * 2
    _compare_with_torch(torch, lambda a, b: F.binary_cross_entropy(a, b, mg.tensor(w),
                                                                   reduction=reduction),
                        lambda a, b: TF.binary_cross_entropy(a, b, torch.tensor(w),
                                                             reduction=reduction), [p, y])
    _compare_with_torch(
        torch, lambda a, b: F.binary_cross_entropy_with_logits(
            a, b, mg.tensor(w), reduction=reduction, pos_weight=mg.tensor(pw)),
        lambda a, b: TF.binary_cross_entropy_with_logits(
            a, b, torch.tensor(w), reduction=reduction, pos_weight=torch.tensor(pw)),
        [logits, y])
    big = np.array([1e4, -1e4, 1e4, -1e4, 25.0])
    _compare_with_torch(torch, lambda a, b: F.binary_cross_entropy_with_logits(a, b),
                        lambda a, b: TF.binary_cross_entropy_with_logits(a, b),
                        [big, np.array([1.0, 0.0, 0.0, 1.0, 0.3])])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_regression_losses_match_torch(reduction):
    torch = pytest.importorskip("torch")
    TF = torch.nn.functional
    rng = np.random.default_rng(11)
    a, b = rng.standard_normal((4, 5)) * 2, rng.standard_normal((4, 5))
    _compare_with_torch(torch, lambda x, t: F.l1_loss(x, t, reduction=reduction),
                        lambda x, t: TF.l1_loss(x, t, reduction=reduction), [a, b])
    for beta in (0.0, 0.4, 1.0, 2.5):
        _compare_with_torch(torch,
                            lambda x, t: F.smooth_l1_loss(x, t, reduction=reduction, beta=beta),
                            lambda x, t: TF.smooth_l1_loss(x, t, reduction=reduction, beta=beta),
                            [a, b])
    for delta in (0.4, 1.0, 2.5):
        _compare_with_torch(torch, lambda x, t: F.huber_loss(x, t, reduction, delta),
                            lambda x, t: TF.huber_loss(x, t, reduction, delta), [a, b])


@pytest.mark.parametrize("reduction", REDUCTIONS + ["batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_matches_torch(reduction, log_target):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(12)
    log_q = np.log(rng.dirichlet(np.ones(4), size=3))
    p = rng.dirichlet(np.ones(4), size=3)
    target = np.log(p) if log_target else p
    ours = lambda x, t: F.kl_div(x, t, reduction=reduction, log_target=log_target)
    theirs = lambda x, t: torch.nn.functional.kl_div(x, t, reduction=reduction,
                                                     log_target=log_target)
    _compare_with_torch(torch, ours, theirs, [log_q, target])
    if not log_target:  # a zero target counts nothing (its own slope is -inf here, nan there)
        p[0, 2] = 0.0
        _compare_with_torch(torch, ours, theirs, [log_q, p], wrt=[True, False])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_shapes_and_probabilities_match_torch(reduction):
    torch = pytest.importorskip("torch")
    TF = torch.nn.functional
    rng = np.random.default_rng(13)
    logits, w = rng.standard_normal((2, 4, 3, 2)), rng.random(4) + 0.5
    target = rng.integers(0, 4, (2, 3, 2))
    target[0, 0, 0] = 1
    options = dict(reduction=reduction, label_smoothing=0.2)
    _compare_with_torch(torch, lambda x: F.cross_entropy(x, mg.tensor(target), mg.tensor(w),
                                                         ignore_index=1, **options),
                        lambda x: TF.cross_entropy(x, torch.tensor(target), torch.tensor(w),
                                                   ignore_index=1, **options), [logits])
    probs = np.ascontiguousarray(np.moveaxis(rng.dirichlet(np.ones(4), size=(2, 3, 2)), -1, 1))
    _compare_with_torch(torch, lambda x, p: F.cross_entropy(x, p, mg.tensor(w), **options),
                        lambda x, p: TF.cross_entropy(x, p, torch.tensor(w), **options),
                        [logits, probs])
    _compare_with_torch(torch, lambda x: F.cross_entropy(x, mg.tensor(3), mg.tensor(w),
                                                         **options),
                        lambda x: TF.cross_entropy(x, torch.tensor(3), torch.tensor(w),
                                                   **options), [logits[0, :, 0, 0]])
    _compare_with_torch(torch, lambda x, p: F.cross_entropy(x, p, **options),
                        lambda x, p: TF.cross_entropy(x, p, **options),
                        [logits[0, :, 0, 0], probs[0, :, 0, 0]])


def test_one_hot_matches_torch():
    torch = pytest.importorskip("torch")
    indices = np.array([[0, 4, 1], [2, 2, 0]])
    np.testing.assert_array_equal(F.one_hot(mg.tensor(indices)).numpy(),
                                  torch.nn.functional.one_hot(torch.tensor(indices)).numpy())
    np.testing.assert_array_equal(F.one_hot(mg.tensor(indices), 7).numpy(),
                                  torch.nn.functional.one_hot(torch.tensor(indices), 7).numpy())


def test_losses_keep_float32_when_samples_are_ignored():
    logits = mg.randn(4, 3)
    target = mg.tensor([0, -100, 2, 1])
    for loss in (F.cross_entropy(logits, target), F.nll_loss(F.log_softmax(logits, 1), target),
                 F.cross_entropy(logits, target, weight=mg.ones(3)),
                 F.cross_entropy(logits, target, label_smoothing=0.1)):
        assert loss.dtype == mg.float32


def test_every_target_ignored_gives_nan_loss_and_zero_gradient():
    logits = mg.randn(3, 4, requires_grad=True)
    loss = F.cross_entropy(logits, mg.tensor([-100, -100, -100]))
    assert np.isnan(loss.item())
    loss.backward()
    assert logits.grad.tolist() == [[0.0] * 4] * 3
