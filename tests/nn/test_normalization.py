import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.autograd import grad, gradcheck, gradgradcheck
from minigrad.errors import ShapeError
import minigrad.nn.functional as F


def _normalize_np(x, axes, eps):
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(var + eps)


def _composite(x, axes, eps, w, b):
    """The same normalisation as a chain of engine primitives (the reference for the
    fused backward)."""
    centred = x - x.mean(axes, keepdims=True)
    var = (centred * centred).mean(axes, keepdims=True)
    return centred / (var + eps).sqrt() * w + b


def _params(c, device, rng):
    w = mg.tensor(rng.random(c) + 0.5, requires_grad=True, device=device)
    b = mg.tensor(rng.standard_normal(c), requires_grad=True, device=device)
    return w, b


# --- BatchNorm1d ----------------------------------------------------------------------------

def test_batchnorm_train_output_and_running_stats_follow_the_formulas(device):
    rng = np.random.default_rng(0)
    bn = nn.BatchNorm1d(3, momentum=0.2).to(device=device, dtype=mg.float64)
    batches = [rng.standard_normal((6, 3)) * [1, 2, 3] + [0, 1, -1] for _ in range(3)]
    running_mean, running_var = np.zeros(3), np.ones(3)
    for x in batches:
        out = bn(mg.tensor(x, device=device))
        np.testing.assert_allclose(out.numpy(), _normalize_np(x, 0, 1e-5), atol=1e-12)
        running_mean = 0.8 * running_mean + 0.2 * x.mean(axis=0)
        running_var = 0.8 * running_var + 0.2 * x.var(axis=0, ddof=1)
    np.testing.assert_allclose(bn.running_mean.numpy(), running_mean, rtol=1e-12)
    np.testing.assert_allclose(bn.running_var.numpy(), running_var, rtol=1e-12)
    assert bn.num_batches_tracked.item() == 3 and bn.num_batches_tracked.dtype == mg.int64


def test_batchnorm_momentum_none_is_a_cumulative_average():
    rng = np.random.default_rng(1)
    bn = nn.BatchNorm1d(2, momentum=None).double()
    batches = [rng.standard_normal((4, 2)) + k for k in range(4)]
    for x in batches:
        bn(mg.tensor(x))
    np.testing.assert_allclose(bn.running_mean.numpy(), np.mean([x.mean(0) for x in batches], 0),
                               rtol=1e-12)
    # the initial running_var of 1 is weighted away entirely after the first batch
    np.testing.assert_allclose(bn.running_var.numpy(),
                               np.mean([x.var(0, ddof=1) for x in batches], 0), rtol=1e-12)


def test_batchnorm_eval_uses_running_stats(device):
    bn = nn.BatchNorm1d(3).to(device=device, dtype=mg.float64)
    with mg.no_grad():
        bn.running_mean[...] = mg.tensor([1.0, -2.0, 0.5], dtype=mg.float64, device=device)
        bn.running_var[...] = mg.tensor([4.0, 0.25, 1.0], dtype=mg.float64, device=device)
        bn.weight[...] = mg.tensor([2.0, 1.0, -1.0], dtype=mg.float64, device=device)
        bn.bias[...] = mg.tensor([0.0, 1.0, 3.0], dtype=mg.float64, device=device)
    bn.eval()
    x = np.random.default_rng(2).standard_normal((5, 3))
    expected = (x - [1.0, -2.0, 0.5]) / np.sqrt(np.array([4.0, 0.25, 1.0]) + 1e-5) \
        * [2.0, 1.0, -1.0] + [0.0, 1.0, 3.0]
    np.testing.assert_allclose(bn(mg.tensor(x, device=device)).numpy(), expected, rtol=1e-12)
    assert bn.num_batches_tracked.item() == 0  # evaluation leaves the statistics alone


def test_batchnorm_without_running_stats_or_affine():
    bn = nn.BatchNorm1d(2, affine=False, track_running_stats=False).eval()
    assert bn.weight is None and bn.running_mean is None
    assert list(bn.state_dict()) == [] and list(bn.parameters()) == []
    x = np.random.default_rng(3).standard_normal((4, 2))
    np.testing.assert_allclose(bn(mg.tensor(x)).numpy(), _normalize_np(x, 0, 1e-5), rtol=1e-5,
                               atol=1e-6)


def test_batchnorm_three_dimensional_input():
    x = np.random.default_rng(4).standard_normal((4, 3, 5))
    bn = nn.BatchNorm1d(3).double()
    np.testing.assert_allclose(bn(mg.tensor(x)).numpy(), _normalize_np(x, (0, 2), 1e-5),
                               atol=1e-12)
    np.testing.assert_allclose(bn.running_mean.numpy(), 0.1 * x.mean(axis=(0, 2)), rtol=1e-12)


@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_gradcheck(device, training):
    rng = np.random.default_rng(5)
    x = mg.tensor(rng.standard_normal((5, 3)), requires_grad=True, device=device)
    w, b = _params(3, device, rng)
    rm = mg.tensor(rng.standard_normal(3), device=device)
    rv = mg.tensor(rng.random(3) + 0.5, device=device)
    fn = lambda x, w, b: F.batch_norm(x, rm.detach(), rv.detach(), w, b, training=training)
    assert gradcheck(fn, (x, w, b))
    assert gradgradcheck(fn, (x, w, b))


@pytest.mark.parametrize("shape", [(6, 4), (3, 4, 5)])
def test_batchnorm_fused_gradients_equal_composite(shape):
    """First and second derivatives of the fused op agree with the primitive chain."""
    rng = np.random.default_rng(6)
    x = mg.tensor(rng.standard_normal(shape), requires_grad=True)
    w, b = _params(shape[1], "cpu", rng)
    axes = (0,) if len(shape) == 2 else (0, 2)
    stat = (shape[1],) if len(shape) == 2 else (shape[1], 1)
    fused = F.batch_norm(x, None, None, w, b, training=True)
    composite = _composite(x, axes, 1e-5, w.reshape(stat), b.reshape(stat))
    _assert_same_derivatives(fused, composite, [x, w, b], rng)


def test_batchnorm_bad_inputs():
    bn = nn.BatchNorm1d(3)
    with pytest.raises(ShapeError, match=r"\(N, 3\)"):
        bn(mg.randn(4, 5))
    with pytest.raises(ShapeError, match=r"\(N, 3\)"):
        bn(mg.randn(3))
    with pytest.raises(ValueError, match="more than one value per channel"):
        bn(mg.randn(1, 3))
    bn.eval()
    assert bn(mg.randn(1, 3)).shape == (1, 3)  # evaluation works for a single sample


def test_batchnorm_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    ours, theirs = nn.BatchNorm1d(4).double(), torch.nn.BatchNorm1d(4).double()
    for _ in range(2):
        x = rng.standard_normal((8, 4)) * 3 + 1
        mx, tx = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        out, tout = ours(mx), theirs(tx)
        np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), atol=1e-12)
        (out * out).sum().backward()
        (tout * tout).sum().backward()
        np.testing.assert_allclose(mx.grad.numpy(), tx.grad.numpy(), atol=1e-10)
    np.testing.assert_allclose(ours.running_var.numpy(), theirs.running_var.numpy(), rtol=1e-12)
    ours.eval(), theirs.eval()
    x = rng.standard_normal((3, 4))
    np.testing.assert_allclose(ours(mg.tensor(x)).numpy(),
                               theirs(torch.tensor(x)).detach().numpy(), atol=1e-12)


# --- LayerNorm ------------------------------------------------------------------------------

@pytest.mark.parametrize("normalized_shape", [4, (3, 4)])
def test_layernorm_output(device, normalized_shape):
    x = np.random.default_rng(8).standard_normal((2, 3, 4))
    ln = nn.LayerNorm(normalized_shape).to(device=device, dtype=mg.float64)
    axes = (-1,) if normalized_shape == 4 else (-2, -1)
    np.testing.assert_allclose(ln(mg.tensor(x, device=device)).numpy(),
                               _normalize_np(x, axes, 1e-5), atol=1e-12)
    assert ln.weight.shape == ((4,) if normalized_shape == 4 else (3, 4))


def test_layernorm_gradcheck_and_gradgradcheck(device):
    rng = np.random.default_rng(9)
    x = mg.tensor(rng.standard_normal((3, 4)), requires_grad=True, device=device)
    w, b = _params(4, device, rng)
    fn = lambda x, w, b: F.layer_norm(x, 4, w, b)
    assert gradcheck(fn, (x, w, b))
    assert gradgradcheck(fn, (x, w, b))


def test_layernorm_fused_gradients_equal_composite():
    rng = np.random.default_rng(10)
    x = mg.tensor(rng.standard_normal((2, 3, 4)), requires_grad=True)
    w = mg.tensor(rng.random((3, 4)) + 0.5, requires_grad=True)
    b = mg.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    fused = F.layer_norm(x, (3, 4), w, b)
    _assert_same_derivatives(fused, _composite(x, (1, 2), 1e-5, w, b), [x, w, b], rng)


def test_layernorm_options_and_errors():
    ln = nn.LayerNorm(4, bias=False)
    assert ln.bias is None and [n for n, _ in ln.named_parameters()] == ["weight"]
    assert nn.LayerNorm(4, elementwise_affine=False).weight is None
    with pytest.raises(ShapeError, match=r"trailing dimensions must be \(4,\)"):
        ln(mg.randn(4, 3))


def test_layernorm_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    x, w, b = rng.standard_normal((5, 6)), rng.random(6), rng.standard_normal(6)
    mx, mw, mb = (mg.tensor(a, requires_grad=True) for a in (x, w, b))
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    out = F.layer_norm(mx, 6, mw, mb)
    tout = torch.nn.functional.layer_norm(tx, (6,), tw, tb)
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), atol=1e-12)
    (out * out * out).sum().backward()
    (tout ** 3).sum().backward()
    for ours, theirs in ((mx, tx), (mw, tw), (mb, tb)):
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), atol=1e-10)


def _assert_same_derivatives(fused, composite, inputs, rng):
    v = mg.tensor(rng.standard_normal(fused.shape))
    np.testing.assert_allclose(fused.numpy(), composite.numpy(), atol=1e-12)
    first_f = grad((fused * v).sum(), inputs, create_graph=True)
    first_c = grad((composite * v).sum(), inputs, create_graph=True)
    for a, b in zip(first_f, first_c):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-10)
    # second derivatives: of a random projection of the first ones
    us = [mg.tensor(rng.standard_normal(t.shape)) for t in inputs]
    second_f = grad(sum((g * u).sum() for g, u in zip(first_f, us)), inputs, allow_unused=True)
    second_c = grad(sum((g * u).sum() for g, u in zip(first_c, us)), inputs, allow_unused=True)
    for t, a, b in zip(inputs, second_f, second_c):
        np.testing.assert_allclose(_dense(a, t), _dense(b, t), atol=1e-10)


def _dense(gradient, like):
    """A gradient as an array, None (the input was not used) as zeros."""
    return np.zeros(like.shape) if gradient is None else gradient.numpy()


def test_normalization_layers_check_their_arguments():
    with pytest.raises(ValueError, match=r"BatchNorm1d: eps must be a finite number in \[0, inf\]"):
        mg.nn.BatchNorm1d(3, eps=-1)
    with pytest.raises(ValueError, match="BatchNorm1d: momentum"):
        mg.nn.BatchNorm1d(3, momentum=2.0)
    with pytest.raises(ValueError, match="LayerNorm: eps"):
        mg.nn.LayerNorm(3, eps=float("nan"))
    with pytest.raises(TypeError, match="BatchNorm1d: input must be a Tensor, got list"):
        mg.nn.BatchNorm1d(3)([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    with pytest.raises(TypeError, match="layer_norm: input must be a Tensor, got list"):
        mg.nn.LayerNorm(3)([[1.0, 2.0, 3.0]])
    assert mg.nn.LayerNorm([3])(mg.randn(2, 3)).shape == (2, 3)  # a list shape, as PyTorch
