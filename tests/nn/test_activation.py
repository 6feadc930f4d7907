import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.autograd import gradcheck, gradgradcheck
import minigrad.nn.functional as F

# values that avoid the kinks of the piecewise-linear functions (finite differences)
POINTS = np.array([-7.5, -3.0, -1.2, -0.4, 0.3, 0.9, 2.5, 5.5, 6.7, 11.0])


def _x(device, values=POINTS):
    return mg.tensor(values, dtype=mg.float64, requires_grad=True, device=device)


REFERENCES = {
    "relu": (F.relu, lambda x: np.maximum(x, 0)),
    "relu6": (F.relu6, lambda x: np.clip(x, 0, 6)),
    "leaky_relu": (lambda t: F.leaky_relu(t, 0.2), lambda x: np.where(x > 0, x, 0.2 * x)),
    "tanh": (F.tanh, np.tanh),
    "sigmoid": (F.sigmoid, lambda x: 1 / (1 + np.exp(-x))),
    "gelu": (F.gelu, lambda x: x * 0.5 * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))),
    "gelu_tanh": (lambda t: F.gelu(t, approximate="tanh"),
                  lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi)
                                                   * (x + 0.044715 * x**3)))),
}


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_activation_values_and_gradients(device, name):
    fn, reference = REFERENCES[name]
    x = _x(device)
    np.testing.assert_allclose(fn(x).numpy(), reference(POINTS), rtol=1e-13, atol=1e-15)
    assert gradcheck(fn, (x,))
    assert gradgradcheck(fn, (x,))


def test_piecewise_gradients_at_the_kinks_follow_pytorch():
    x = mg.tensor([0.0, 6.0, -1.0, 3.0], dtype=mg.float64, requires_grad=True)
    F.relu6(x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 0, 0, 1])
    x.grad = None
    F.leaky_relu(x, 0.1).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.1, 1, 0.1, 1])


def test_erf_is_accurate_everywhere():
    xs = np.concatenate([np.linspace(-8, 8, 4001), [2.5, -2.5, 1e-300, 0.0, 40.0, -1e5]])
    ours = F.erf(mg.tensor(xs)).numpy()
    reference = np.array([math.erf(v) for v in xs])
    np.testing.assert_allclose(ours, reference, rtol=0, atol=3e-15)
    assert F.erf(mg.tensor([0.5], dtype=mg.float32)).dtype == mg.float32


def test_erf_derivatives():
    x = mg.tensor(np.linspace(-3, 3, 7) + 0.1, requires_grad=True)
    assert gradcheck(F.erf, (x,)) and gradgradcheck(F.erf, (x,))


def test_gelu_rejects_unknown_approximation():
    with pytest.raises(ValueError, match="approximate"):
        F.gelu(mg.randn(3), approximate="fast")
    with pytest.raises(ValueError, match="approximate"):
        nn.GELU("erf")


@pytest.mark.parametrize("fn", [F.softmax, F.log_softmax])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_family_against_numpy_and_gradcheck(device, fn, dim):
    values = np.random.default_rng(0).standard_normal((3, 4))
    shifted = values - values.max(axis=dim, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=dim, keepdims=True))
    expected = log_p if fn is F.log_softmax else np.exp(log_p)
    x = mg.tensor(values, requires_grad=True, device=device)
    np.testing.assert_allclose(fn(x, dim).numpy(), expected, rtol=1e-13)
    assert gradcheck(lambda t: fn(t, dim), (x,))
    assert gradgradcheck(lambda t: fn(t, dim), (x,))


def test_softmax_and_log_softmax_are_stable_at_1e4():
    x = mg.tensor([[1e4, 0.0, -1e4], [1e4, 1e4, 1e4]], requires_grad=True)
    p = F.softmax(x, 1).numpy()
    log_p = F.log_softmax(x, 1)
    np.testing.assert_allclose(p, [[1, 0, 0], [1 / 3] * 3], atol=1e-7)
    np.testing.assert_allclose(log_p.numpy(), [[0, -1e4, -2e4], [-np.log(3)] * 3], rtol=1e-6)
    log_p.sum().backward()
    assert np.isfinite(x.grad.numpy()).all()


def test_activation_modules_match_functional():
    x = mg.randn(4, 5)
    pairs = [(nn.ReLU(), F.relu(x)), (nn.ReLU6(), F.relu6(x)),
             (nn.LeakyReLU(0.3), F.leaky_relu(x, 0.3)), (nn.Tanh(), F.tanh(x)),
             (nn.Sigmoid(), F.sigmoid(x)), (nn.GELU("tanh"), F.gelu(x, "tanh")),
             (nn.GELU(), F.gelu(x)), (nn.Softmax(dim=0), F.softmax(x, 0)),
             (nn.LogSoftmax(dim=1), F.log_softmax(x, 1))]
    for module, expected in pairs:
        np.testing.assert_allclose(module(x).numpy(), expected.numpy(), err_msg=repr(module))
    assert repr(nn.LeakyReLU()) == "LeakyReLU(negative_slope=0.01)"
    assert repr(nn.ReLU(inplace=True)) == "ReLU(inplace=True)"


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_matches_torch(approximate):
    torch = pytest.importorskip("torch")
    values = np.linspace(-6, 6, 101)
    x = mg.tensor(values, requires_grad=True)
    tx = torch.tensor(values, requires_grad=True)
    out = F.gelu(x, approximate)
    tout = torch.nn.functional.gelu(tx, approximate=approximate)
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-14, atol=1e-15)
    out.sum().backward()
    tout.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-14)
