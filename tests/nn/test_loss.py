import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.autograd import gradcheck, gradgradcheck
from minigrad.errors import DeviceError, ShapeError
import minigrad.nn.functional as F


def _log_softmax_np(x):
    shifted = x - x.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _cross_entropy_np(logits, target, weight=None, reduction="mean", smoothing=0.0,
                      ignore_index=-100):
    """PyTorch's definition, transcribed: smoothed, weighted target distribution; ignored
    samples count nothing."""
    n, c = logits.shape
    w = np.ones(c) if weight is None else weight
    counted = target != ignore_index
    safe = np.where(counted, target, 0)
    logp = _log_softmax_np(logits)
    onehot = np.eye(c)[safe]
    a = w[None, :] * ((1 - smoothing) * onehot + smoothing / c) * counted[:, None]
    losses = -(a * logp).sum(axis=1)
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    return losses.sum() / (w[safe] * counted).sum()


CASES = [dict(), dict(label_smoothing=0.2), dict(weighted=True),
         dict(weighted=True, label_smoothing=0.1), dict(ignore_index=3),
         dict(weighted=True, label_smoothing=0.1, ignore_index=1)]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("case", CASES)
def test_cross_entropy_value_and_grad_against_numpy(device, reduction, case):
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((6, 4))
    target = np.array([0, 3, 1, 1, 2, 3])
    weight = rng.random(4) + 0.5 if case.get("weighted") else None
    smoothing = case.get("label_smoothing", 0.0)
    ignore = case.get("ignore_index", -100)
    x = mg.tensor(logits, requires_grad=True, device=device)
    w = None if weight is None else mg.tensor(weight, device=device)
    t = mg.tensor(target, device=device)
    fn = lambda x: F.cross_entropy(x, t, w, ignore_index=ignore, reduction=reduction,
                                   label_smoothing=smoothing)
    expected = _cross_entropy_np(logits, target, weight, reduction, smoothing, ignore)
    np.testing.assert_allclose(fn(x).numpy(), expected, rtol=1e-12)
    assert gradcheck(fn, (x,))
    assert gradgradcheck(fn, (x,))


def test_cross_entropy_gradient_is_softmax_minus_onehot():
    logits = np.random.default_rng(0).standard_normal((3, 5))
    x = mg.tensor(logits, requires_grad=True)
    F.cross_entropy(x, mg.tensor([4, 0, 2]), reduction="sum").backward()
    probs = np.exp(_log_softmax_np(logits))
    np.testing.assert_allclose(x.grad.numpy(), probs - np.eye(5)[[4, 0, 2]], atol=1e-14)


def test_cross_entropy_is_stable_for_huge_logits():
    x = mg.tensor([[1e4, 0.0, -1e4], [0.0, 1e4, 1e4]], dtype=mg.float32, requires_grad=True)
    loss = F.cross_entropy(x, mg.tensor([1, 2]), reduction="none")
    np.testing.assert_allclose(loss.numpy(), [1e4, np.log(2)], rtol=1e-6)
    loss.sum().backward()
    assert np.isfinite(x.grad.numpy()).all()


def test_cross_entropy_bad_targets():
    x = mg.randn(4, 10)
    with pytest.raises(ValueError, match=r"target contains class 10 but input has 10 classes "
                                         r"\(valid: 0..9\)"):
        F.cross_entropy(x, mg.tensor([0, 1, 10, 2]))
    with pytest.raises(ValueError, match="class -1"):
        F.cross_entropy(x, mg.tensor([0, 1, -1, 2]))
    F.cross_entropy(x, mg.tensor([0, 1, -100, 2]))  # the default ignore_index is allowed
    with pytest.raises(ValueError, match="class -100"):
        F.cross_entropy(x, mg.tensor([0, 1, -100, 2]), ignore_index=-1)
    with pytest.raises(TypeError, match="float32"):
        F.cross_entropy(x, mg.tensor([0.0, 1.0, 2.0, 3.0]))
    with pytest.raises(ShapeError, match=r"shape \(4,\)"):
        F.cross_entropy(x, mg.tensor([[0], [1], [2], [3]]))
    with pytest.raises(ShapeError, match=r"\(N, C\)"):
        F.cross_entropy(mg.randn(2, 3, 4), mg.tensor([0, 1]))
    with pytest.raises(ValueError, match="reduction"):
        F.cross_entropy(x, mg.tensor([0, 1, 2, 3]), reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing"):
        F.cross_entropy(x, mg.tensor([0, 1, 2, 3]), label_smoothing=1.5)


def test_cross_entropy_device_mismatch():
    t = mg.tensor([0, 1])
    t.device = "cuda"  # claims another device: rejected before any array code runs
    with pytest.raises(DeviceError):
        F.cross_entropy(mg.randn(2, 3), t)


def test_cross_entropy_module_matches_functional():
    x, t = mg.randn(5, 3), mg.tensor([0, 1, 2, 0, 1])
    w = mg.tensor([1.0, 2.0, 0.5])
    module = nn.CrossEntropyLoss(weight=w, label_smoothing=0.1, reduction="sum")
    np.testing.assert_allclose(module(x, t).numpy(),
                               F.cross_entropy(x, t, w, reduction="sum",
                                               label_smoothing=0.1).numpy(), rtol=1e-6)
    assert "weight" in module.state_dict()


@pytest.mark.parametrize("ignore_index", [-100, 2])
def test_cross_entropy_matches_torch(ignore_index):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    logits, weight = rng.standard_normal((7, 5)), rng.random(5)
    target = np.array([0, 2, 1, 3, 2, 4, 1])
    x = mg.tensor(logits, requires_grad=True)
    loss = F.cross_entropy(x, mg.tensor(target), mg.tensor(weight), label_smoothing=0.3,
                           ignore_index=ignore_index)
    loss.backward()
    tx = torch.tensor(logits, requires_grad=True)
    tloss = torch.nn.functional.cross_entropy(tx, torch.tensor(target), torch.tensor(weight),
                                              label_smoothing=0.3, ignore_index=ignore_index)
    tloss.backward()
    np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore_index", [-100, 0])
def test_nll_loss_against_numpy(device, reduction, weighted, ignore_index):
    rng = np.random.default_rng(3)
    log_p = _log_softmax_np(rng.standard_normal((5, 3)))
    target = np.array([2, 0, 1, 2, 2])
    weight = rng.random(3) + 0.5 if weighted else np.ones(3)
    x = mg.tensor(log_p, requires_grad=True, device=device)
    t = mg.tensor(target, device=device)
    w = mg.tensor(weight, device=device) if weighted else None
    sample_weight = weight[target] * (target != ignore_index)
    losses = -sample_weight * log_p[np.arange(5), target]
    expected = {"none": losses, "sum": losses.sum(),
                "mean": losses.sum() / sample_weight.sum()}[reduction]
    fn = lambda x: F.nll_loss(x, t, w, ignore_index=ignore_index, reduction=reduction)
    np.testing.assert_allclose(fn(x).numpy(), expected, rtol=1e-12)
    assert gradcheck(fn, (x,))
    module = nn.NLLLoss(weight=w, ignore_index=ignore_index, reduction=reduction)
    np.testing.assert_allclose(module(x, t).numpy(), expected, rtol=1e-12)


def test_cross_entropy_equals_nll_of_log_softmax():
    x, t = mg.randn(6, 4, dtype=mg.float64), mg.tensor([0, 1, 2, 3, 0, 1])
    np.testing.assert_allclose(F.cross_entropy(x, t).numpy(),
                               F.nll_loss(F.log_softmax(x, 1), t).numpy(), rtol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss(device, reduction):
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    x = mg.tensor(a, requires_grad=True, device=device)
    y = mg.tensor(b, requires_grad=True, device=device)
    squared = (a - b) ** 2
    expected = {"none": squared, "sum": squared.sum(), "mean": squared.mean()}[reduction]
    np.testing.assert_allclose(F.mse_loss(x, y, reduction).numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(nn.MSELoss(reduction)(x, y).numpy(), expected, rtol=1e-12)
    assert gradcheck(lambda x, y: F.mse_loss(x, y, reduction), (x, y))


def test_mse_loss_refuses_broadcasting_shapes():
    with pytest.raises(ShapeError, match=r"\(4, 1\).*\(4,\)"):
        F.mse_loss(mg.randn(4, 1), mg.randn(4))
    with pytest.raises(ValueError, match="reduction"):
        nn.MSELoss("average")


@pytest.mark.parametrize("fn", [F.cross_entropy, lambda x, t: F.nll_loss(F.log_softmax(x, 1), t)])
def test_ignored_samples_are_left_out(fn):
    x = mg.randn(5, 3, dtype=mg.float64, requires_grad=True)
    kept = [0, 2, 3]
    fn(x, mg.tensor([2, -100, 0, 1, -100])).backward()
    subset = mg.tensor(x.numpy()[kept], requires_grad=True)
    expected = fn(subset, mg.tensor([2, 0, 1]))
    np.testing.assert_allclose(fn(x, mg.tensor([2, -100, 0, 1, -100])).numpy(),
                               expected.numpy(), rtol=1e-12)
    expected.backward()
    np.testing.assert_allclose(x.grad.numpy()[kept], subset.grad.numpy(), rtol=1e-12)
    np.testing.assert_array_equal(x.grad.numpy()[[1, 4]], 0.0)
